//! Never sign twice: the signing guard.
//!
//! A storage fault must not turn an honest node into a forker. An identity
//! that signed entry `s` of its chain, lost its ledger (a dead disk, a
//! restored backup, an operator's mistake) and signed a new entry at `s`
//! would be banned for equivocation by every peer that saw both, and its
//! chain would count only below `s` for good. Ethereum validator clients
//! meet the same danger with a slashing-protection record kept apart from
//! the chain data (EIP-3076); this is that record for a swarm node.
//!
//! `data/signing.guard` (JSON, `docs/ledger-format.md`) holds the highest
//! position this identity signed and, in full, the entries of the last
//! append. The ledger calls [`SigningGuard`] through
//! [`ippoc_economy::store::SigningRecord`] after signing and before storing,
//! and the file is replaced atomically and fsynced before the ledger stores
//! anything — so no signature that could leave the process (every stored own
//! entry can be gossiped) is missing from it.
//!
//! On open, the guard is compared with the ledger:
//! - the ledger holds the guarded position with the guarded tx_id (or is
//!   ahead: an older guard file): **ready**;
//! - the ledger stops just short, and the guard holds the missing entries
//!   (a crash between the guard's write and the ledger's): they are stored
//!   from the guard — the same signed entries, not new signatures: **ready**;
//! - the ledger is further behind (lost, older, damaged): **recovering** —
//!   the node refuses to sign until sync has brought its own chain back from
//!   peers, up to the guarded position;
//! - the ledger holds another entry at the guarded position: **conflict** —
//!   the node never signs again on its own; the operator decides;
//! - the file is missing and the node has history (deleted, or a node from
//!   before the guard existed): **unknown** — the node signs again once one
//!   sync round with a peer has brought it whatever they hold of its chain.
//!   A node of a solo swarm (no other member to have seen its chain) and a
//!   node created by this boot start ready.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ippoc_economy::entry::VerifiedEntry;
use ippoc_economy::genesis::Genesis;
use ippoc_economy::store::{Ledger, SigningRecord};
use ippoc_economy::{AccountId, NodeId, SignedEntry, SwarmId, TxId};
use serde::{Deserialize, Serialize};

use crate::{Error, fsutil};

/// Format tag of the guard file.
pub const GUARD_FORMAT: &str = "ippoc-signing-guard-v1";

/// The guard file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardFile {
    /// [`GUARD_FORMAT`].
    pub format: String,
    /// The swarm.
    pub swarm_id: SwarmId,
    /// The identity whose signatures this guards.
    pub node_id: NodeId,
    /// The highest seq this identity signed, if any.
    pub seq: Option<u64>,
    /// The tx_id of the entry at `seq`.
    pub tx_id: Option<TxId>,
    /// The entries of the last append, in wire form (hex), oldest first; the
    /// last is the one at `seq`.
    pub entries: Vec<String>,
}

/// Writes the guard of an identity that signed nothing in `swarm_id` (a
/// node that leaves its empty solo swarm for the genesis it was made for).
pub fn start_fresh(path: &Path, swarm_id: SwarmId, node_id: NodeId) -> Result<(), Error> {
    write(
        path,
        &GuardFile {
            format: GUARD_FORMAT.into(),
            swarm_id,
            node_id,
            seq: None,
            tx_id: None,
            entries: Vec::new(),
        },
        true,
    )
}

/// Whether the node may sign now, and if not, why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum GuardState {
    /// Signing: the ledger holds everything this identity signed.
    Ready {
        /// The highest seq signed, if any.
        signed: Option<u64>,
    },
    /// The ledger is behind what this identity signed: its own chain comes
    /// back from peers by sync before it signs again.
    Recovering {
        /// The ledger's head of the own chain, if any.
        have: Option<u64>,
        /// The highest seq signed.
        signed: u64,
    },
    /// The guard file is missing and the node has history: one sync round
    /// with a peer first.
    Unknown {
        /// The ledger's head of the own chain, if any.
        have: Option<u64>,
    },
    /// The ledger holds another entry than the one signed at a position.
    Conflict {
        /// The position.
        seq: u64,
        /// What the guard says was signed there.
        signed: TxId,
        /// What the ledger holds there.
        stored: TxId,
    },
}

impl GuardState {
    /// A sentence for people (`ippoc status`, refusals).
    pub fn describe(&self) -> String {
        let seq = |s: Option<u64>| s.map_or("none".to_string(), |s| s.to_string());
        match self {
            GuardState::Ready { signed } => format!("ready (signed up to seq {})", seq(*signed)),
            GuardState::Recovering { have, signed } => format!(
                "recovering: this identity signed up to seq {signed} but the ledger holds its chain only up to seq {}; it signs again once sync has brought its chain back from peers",
                seq(*have)
            ),
            GuardState::Unknown { have } => format!(
                "unknown: the signing guard (data/signing.guard) is missing and the ledger holds this node's chain up to seq {}; it signs again after one sync round with a peer",
                seq(*have)
            ),
            GuardState::Conflict { seq, signed, stored } => format!(
                "conflict: this identity signed {signed} at seq {seq} but the ledger holds {stored} there; it will not sign again until an operator resolves it (docs/ledger-format.md, signing guard)"
            ),
        }
    }
}

/// The signing guard of one identity.
#[derive(Debug)]
pub struct SigningGuard {
    path: PathBuf,
    /// Fsync each write (the daemon); the simulator's nodes, whose ledgers
    /// do not fsync either, share one page cache that survives their crashes.
    durable: bool,
    swarm_id: SwarmId,
    node_id: NodeId,
    /// The file as last written (or read), and the state it gives.
    state: Mutex<(GuardFile, GuardState)>,
}

/// The own chain's head in `ledger`.
fn own_head(ledger: &Ledger) -> Result<Option<(u64, TxId)>, Error> {
    ledger.head(&ledger.owner()).map_err(crate::ledger::ledger_error)
}

/// True if no other node could hold this node's chain: every founder's
/// wallet and every sentinel is this node.
fn solo(genesis: &Genesis, me: NodeId) -> bool {
    genesis.sentinels.members.iter().all(|m| *m == me)
        && genesis
            .allocations
            .iter()
            .all(|a| !matches!(a.account, AccountId::Wallet(w) if w != me))
}

fn decode(text: &str) -> Option<SignedEntry> {
    SignedEntry::from_bytes(&hex::decode(text).ok()?).ok()
}

impl SigningGuard {
    /// Opens the guard at `path` for `ledger`'s owner and reconciles it with
    /// the ledger (see the module doc). `created`: the node was created by
    /// this boot, so a missing file means nothing was ever signed.
    pub fn open(path: &Path, ledger: &Ledger, created: bool, durable: bool) -> Result<SigningGuard, Error> {
        let (swarm_id, node_id) = (ledger.swarm_id(), ledger.owner());
        let empty = GuardFile {
            format: GUARD_FORMAT.into(),
            swarm_id,
            node_id,
            seq: None,
            tx_id: None,
            entries: Vec::new(),
        };
        let guard = |file: GuardFile, state: GuardState| SigningGuard {
            path: path.to_path_buf(),
            durable,
            swarm_id,
            node_id,
            state: Mutex::new((file, state)),
        };
        let head = own_head(ledger)?;
        let bytes = match std::fs::read(path) {
            Ok(b) => Some(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io("cannot read", path, e)),
        };
        let Some(bytes) = bytes else {
            // No record. A node made by this boot signed nothing yet; a solo
            // swarm's chain was never seen by anyone else, so its ledger is
            // the whole truth. Otherwise peers must be heard first.
            let seeded = head.is_none() && created || solo(ledger.genesis(), node_id);
            let (file, state) = if seeded {
                let file = GuardFile {
                    seq: head.map(|(s, _)| s),
                    tx_id: head.map(|(_, t)| t),
                    ..empty
                };
                write(path, &file, durable)?;
                let state = GuardState::Ready { signed: file.seq };
                (file, state)
            } else {
                tracing::warn!(
                    event = "signing_guard_missing",
                    path = %path.display(),
                    "the signing guard is missing: this node signs again after one sync round with a peer"
                );
                (
                    empty,
                    GuardState::Unknown {
                        have: head.map(|(s, _)| s),
                    },
                )
            };
            return Ok(guard(file, state));
        };
        let file: GuardFile = serde_json::from_slice(&bytes).map_err(|e| Error::CorruptSecret {
            path: path.to_path_buf(),
            reason: format!("not a signing guard: {e}"),
        })?;
        if file.format != GUARD_FORMAT || file.node_id != node_id || file.swarm_id != swarm_id {
            return Err(Error::CorruptSecret {
                path: path.to_path_buf(),
                reason: format!(
                    "a signing guard of {} in swarm {} ({}), not of {node_id} in swarm {swarm_id}",
                    file.node_id, file.swarm_id, file.format
                ),
            });
        }
        let g = guard(file.clone(), GuardState::Ready { signed: file.seq });
        // A crash between the guard's write and the ledger's: the entries it
        // holds and the ledger lacks are stored now, exactly as signed.
        g.restore_tail(ledger)?;
        g.refresh(ledger)?;
        Ok(g)
    }

    /// Stores the guarded entries the ledger lacks, if they continue its
    /// chain where it stops (a crash between the two writes).
    fn restore_tail(&self, ledger: &Ledger) -> Result<(), Error> {
        let file = self.lock().0.clone();
        let Some(signed) = file.seq else {
            return Ok(());
        };
        let have = own_head(ledger)?.map(|(s, _)| s);
        if have.is_some_and(|h| h >= signed) {
            return Ok(());
        }
        let entries: Vec<SignedEntry> = file.entries.iter().filter_map(|t| decode(t)).collect();
        let next = have.map_or(0, |h| h + 1);
        let Some(start) = entries.iter().position(|e| e.body.seq == next) else {
            return Ok(());
        };
        let missing = entries[start..].to_vec();
        if missing.last().map(|e| e.body.seq) != Some(signed) {
            return Ok(());
        }
        let outcomes = ledger.ingest(missing).map_err(crate::ledger::ledger_error)?;
        tracing::warn!(
            event = "signing_guard_restored",
            entries = outcomes.len(),
            "entries signed just before a crash were stored from the signing guard"
        );
        Ok(())
    }

    /// Re-reads the ledger's head and updates the state; returns it.
    pub fn refresh(&self, ledger: &Ledger) -> Result<GuardState, Error> {
        let head = own_head(ledger)?;
        let mut st = self.lock();
        let file = st.0.clone();
        let state = match (&st.1, file.seq, file.tx_id) {
            (GuardState::Unknown { .. }, ..) => GuardState::Unknown {
                have: head.map(|(s, _)| s),
            },
            (_, None, _) => GuardState::Ready {
                signed: head.map(|(s, _)| s),
            },
            (_, Some(signed), tx) => match head {
                Some((h, _)) if h > signed => GuardState::Ready { signed: Some(h) },
                Some((h, stored)) if h == signed => match tx {
                    Some(t) if t != stored => GuardState::Conflict {
                        seq: signed,
                        signed: t,
                        stored,
                    },
                    _ => GuardState::Ready { signed: Some(signed) },
                },
                _ => GuardState::Recovering {
                    have: head.map(|(s, _)| s),
                    signed,
                },
            },
        };
        // The ledger ahead of the file (an older guard copy): the ledger's own
        // entries are this identity's signatures; record them.
        if let (GuardState::Ready { signed: Some(h) }, Some((_, tx))) = (&state, head)
            && file.seq.is_none_or(|s| *h > s)
        {
            let newer = GuardFile {
                seq: Some(*h),
                tx_id: Some(tx),
                entries: Vec::new(),
                ..file
            };
            write(&self.path, &newer, self.durable)?;
            st.0 = newer;
        }
        if st.1 != state {
            tracing::info!(event = "signing_guard", state = %state.describe(), "signing guard");
        }
        st.1 = state.clone();
        Ok(state)
    }

    /// One sync round with a peer finished: an unknown guard now takes the
    /// ledger's head as the highest seq signed.
    pub fn peer_synced(&self, ledger: &Ledger) -> Result<GuardState, Error> {
        {
            let mut st = self.lock();
            if let GuardState::Unknown { .. } = st.1 {
                let head = own_head(ledger)?;
                let file = GuardFile {
                    seq: head.map(|(s, _)| s),
                    tx_id: head.map(|(_, t)| t),
                    entries: Vec::new(),
                    ..st.0.clone()
                };
                write(&self.path, &file, self.durable)?;
                tracing::info!(event = "signing_guard_learned", seq = ?file.seq, "the signing guard learned this node's head after a sync round with a peer");
                st.1 = GuardState::Ready { signed: file.seq };
                st.0 = file;
            }
        }
        self.refresh(ledger)
    }

    /// The state now (as of the last refresh or append).
    pub fn state(&self) -> GuardState {
        self.lock().1.clone()
    }

    /// Whether the node may sign now; the refusal names why.
    pub fn may_sign(&self, ledger: &Ledger) -> Result<(), Error> {
        let state = match self.state() {
            ready @ GuardState::Ready { .. } => ready,
            // Sync may have brought the chain back since: look again.
            _ => self.refresh(ledger)?,
        };
        match state {
            GuardState::Ready { .. } => Ok(()),
            other => Err(Error::SigningBlocked(other.describe())),
        }
    }

    /// The file, for `ippoc guard export`.
    pub fn file(&self) -> GuardFile {
        self.lock().0.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (GuardFile, GuardState)> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn write(path: &Path, file: &GuardFile, durable: bool) -> Result<(), Error> {
    let json = serde_json::to_vec_pretty(file).expect("a guard file serializes");
    if durable {
        return fsutil::write_atomic(path, &json, fsutil::SECRET_FILE_MODE);
    }
    // Still never half-written (rename), only not forced to the disk.
    let tmp = path.with_extension("guard.tmp");
    std::fs::write(&tmp, &json).map_err(|e| Error::io("cannot write", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io("cannot rename into place", path, e))
}

impl SigningRecord for SigningGuard {
    fn signed(&self, entries: &[VerifiedEntry]) -> Result<(), String> {
        let Some(last) = entries.last() else {
            return Ok(());
        };
        let mut st = self.lock();
        if !matches!(st.1, GuardState::Ready { .. }) {
            return Err(st.1.describe());
        }
        if let Some(s) = st.0.seq
            && entries.first().is_some_and(|e| e.body().seq <= s)
        {
            // The ledger would sign at a position at or below the mark.
            return Err(format!(
                "seq {} is at or below seq {s}, which this identity already signed",
                entries[0].body().seq
            ));
        }
        let file = GuardFile {
            format: GUARD_FORMAT.into(),
            swarm_id: self.swarm_id,
            node_id: self.node_id,
            seq: Some(last.body().seq),
            tx_id: Some(last.tx_id()),
            entries: entries.iter().map(|e| hex::encode(e.signed().to_bytes())).collect(),
        };
        write(&self.path, &file, self.durable).map_err(|e| e.to_string())?;
        st.1 = GuardState::Ready { signed: file.seq };
        st.0 = file;
        Ok(())
    }

    fn unsigned(&self, entries: &[VerifiedEntry]) {
        let mut st = self.lock();
        let Some(first) = entries.first() else {
            return;
        };
        // Back to the position before this append: the entries were never stored.
        let before = GuardFile {
            seq: first.body().seq.checked_sub(1),
            tx_id: first.body().seq.checked_sub(1).map(|_| first.body().prev),
            entries: Vec::new(),
            ..st.0.clone()
        };
        match write(&self.path, &before, self.durable) {
            Ok(()) => {
                st.1 = GuardState::Ready { signed: before.seq };
                st.0 = before;
            }
            Err(e) => {
                // The guard keeps entries the ledger did not store; they are
                // stored from it at the next start (never signed anew).
                tracing::error!(
                    event = "signing_guard_stuck",
                    "could not roll the signing guard back: {e}"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ed25519_dalek::SigningKey;
    use ippoc_economy::store::{Draft, Intent, LedgerOptions};
    use ippoc_economy::{Amount, Currency};

    use super::*;
    use crate::OwnChain;

    fn keys() -> (SigningKey, SigningKey) {
        (SigningKey::from_bytes(&[7; 32]), SigningKey::from_bytes(&[8; 32]))
    }

    fn id(k: &SigningKey) -> NodeId {
        NodeId::from_bytes(k.verifying_key().to_bytes())
    }

    /// A swarm of two founders: a node's chain may be held by the other.
    fn pair() -> Genesis {
        let (a, b) = keys();
        Genesis::new(
            "guard",
            1,
            &[id(&a), id(&b)],
            Amount::from_base(1_000_000_000),
            Amount::from_base(1),
        )
    }

    fn open_ledger(dir: &Path, genesis: &Genesis) -> Arc<Ledger> {
        let (a, _) = keys();
        Arc::new(Ledger::open(&dir.join("ledger"), genesis.clone(), id(&a), LedgerOptions::default()).unwrap())
    }

    fn pay() -> Draft {
        let (_, b) = keys();
        Draft::new(
            Intent::Transfer {
                to: id(&b),
                currency: Currency::Ippc,
                amount: Amount::from_base(1_000),
            },
            1,
        )
    }

    fn chain(ledger: &Arc<Ledger>, guard: SigningGuard) -> OwnChain {
        OwnChain::detached(ledger.clone(), keys().0, Arc::new(guard))
    }

    fn blocked(r: Result<VerifiedEntry, Error>) -> String {
        match r {
            Err(Error::SigningBlocked(why)) => why,
            other => panic!("expected a signing refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_lost_ledger_never_signs_again_below_the_guard_and_signs_on_once_its_chain_is_back() {
        let dir = tempfile::tempdir().unwrap();
        let genesis = pair();
        let guard_path = dir.path().join("signing.guard");
        let first = open_ledger(dir.path(), &genesis);
        let c = chain(&first, SigningGuard::open(&guard_path, &first, true, true).unwrap());
        let signed: Vec<SignedEntry> = (0..5).map(|_| c.append(pay()).unwrap().into_signed()).collect();
        assert_eq!(c.signing(), GuardState::Ready { signed: Some(4) });
        drop(c);
        drop(first);

        // The ledger is lost; the guard is not.
        std::fs::remove_dir_all(dir.path().join("ledger")).unwrap();
        let empty = open_ledger(dir.path(), &genesis);
        let c = chain(&empty, SigningGuard::open(&guard_path, &empty, false, true).unwrap());
        assert_eq!(c.signing(), GuardState::Recovering { have: None, signed: 4 });
        assert!(blocked(c.append(pay())).contains("signed up to seq 4"));
        assert!(
            empty.head(&empty.owner()).unwrap().is_none(),
            "nothing was signed at seq 0 again"
        );

        // Sync brings part of the chain back: still recovering.
        empty.ingest(signed[..3].to_vec()).unwrap();
        blocked(c.append(pay()));
        // The rest: the node signs again, after its old head.
        empty.ingest(signed[3..].to_vec()).unwrap();
        let next = c.append(pay()).unwrap();
        assert_eq!(next.body().seq, 5);
        assert_eq!(next.body().prev, signed[4].tx_id());
    }

    #[test]
    fn entries_signed_just_before_a_crash_are_stored_from_the_guard_not_signed_again() {
        let dir = tempfile::tempdir().unwrap();
        let genesis = pair();
        let guard_path = dir.path().join("signing.guard");
        let ledger = open_ledger(dir.path(), &genesis);
        let guard = SigningGuard::open(&guard_path, &ledger, true, true).unwrap();
        // Sign seq 0 and record it, as the ledger does, but "crash" before
        // the ledger stores it: the entry exists only in the guard.
        let (a, _) = keys();
        let scratch = tempfile::tempdir().unwrap();
        let other = Ledger::open(
            &scratch.path().join("l"),
            genesis.clone(),
            id(&a),
            LedgerOptions::default(),
        )
        .unwrap();
        let entry = other.append(&a, pay()).unwrap();
        guard.signed(std::slice::from_ref(&entry)).unwrap();
        drop(guard);
        assert!(ledger.head(&id(&a)).unwrap().is_none());

        let reopened = SigningGuard::open(&guard_path, &ledger, false, true).unwrap();
        assert_eq!(reopened.state(), GuardState::Ready { signed: Some(0) });
        assert_eq!(
            ledger.head(&id(&a)).unwrap(),
            Some((0, entry.tx_id())),
            "the same entry, not a new one"
        );
    }

    #[test]
    fn a_missing_guard_waits_for_a_peer_unless_the_swarm_is_solo() {
        let dir = tempfile::tempdir().unwrap();
        let genesis = pair();
        let guard_path = dir.path().join("signing.guard");
        let ledger = open_ledger(dir.path(), &genesis);
        let c = chain(&ledger, SigningGuard::open(&guard_path, &ledger, true, true).unwrap());
        c.append(pay()).unwrap();
        drop(c);
        std::fs::remove_file(&guard_path).unwrap();

        let guard = Arc::new(SigningGuard::open(&guard_path, &ledger, false, true).unwrap());
        let c = OwnChain::detached(ledger.clone(), keys().0, guard.clone());
        assert_eq!(c.signing(), GuardState::Unknown { have: Some(0) });
        assert!(blocked(c.append(pay())).contains("missing"));
        // One sync round with a peer (which had nothing newer of this chain).
        guard.peer_synced(&ledger).unwrap();
        assert_eq!(c.append(pay()).unwrap().body().seq, 1);

        // A solo swarm: nobody else can hold the chain, the ledger is the truth.
        let solo_dir = tempfile::tempdir().unwrap();
        let (a, _) = keys();
        let solo = Arc::new(
            Ledger::open(
                &solo_dir.path().join("l"),
                Genesis::solo(id(&a), 1),
                id(&a),
                LedgerOptions::default(),
            )
            .unwrap(),
        );
        solo.append(&a, pay()).unwrap();
        let g = SigningGuard::open(&solo_dir.path().join("signing.guard"), &solo, false, true).unwrap();
        assert_eq!(g.state(), GuardState::Ready { signed: Some(0) });
    }

    #[test]
    fn another_entry_at_the_guarded_position_is_a_conflict_and_never_signed_past() {
        let dir = tempfile::tempdir().unwrap();
        let genesis = pair();
        let guard_path = dir.path().join("signing.guard");
        let ledger = open_ledger(dir.path(), &genesis);
        let c = chain(&ledger, SigningGuard::open(&guard_path, &ledger, true, true).unwrap());
        c.append(pay()).unwrap();
        drop(c);
        // Another ledger of the same identity signed a different seq 0 (a
        // restored copy of another history).
        let (a, _) = keys();
        let elsewhere = tempfile::tempdir().unwrap();
        let other = Ledger::open(
            &elsewhere.path().join("l"),
            genesis.clone(),
            id(&a),
            LedgerOptions::default(),
        )
        .unwrap();
        let mut draft = pay();
        draft.timestamp_ms = 2;
        other.append(&a, draft).unwrap();
        drop(other);
        let moved =
            Arc::new(Ledger::open(&elsewhere.path().join("l"), genesis, id(&a), LedgerOptions::default()).unwrap());
        let g = SigningGuard::open(&guard_path, &moved, false, true).unwrap();
        assert!(
            matches!(g.state(), GuardState::Conflict { seq: 0, .. }),
            "{:?}",
            g.state()
        );
        let c = OwnChain::detached(moved, keys().0, Arc::new(g));
        assert!(blocked(c.append(pay())).contains("conflict"));
    }

    #[test]
    fn a_guard_of_another_identity_is_refused_and_the_record_refuses_positions_already_signed() {
        let dir = tempfile::tempdir().unwrap();
        let genesis = pair();
        let guard_path = dir.path().join("signing.guard");
        let ledger = open_ledger(dir.path(), &genesis);
        let guard = SigningGuard::open(&guard_path, &ledger, true, true).unwrap();
        let c = OwnChain::detached(ledger.clone(), keys().0, Arc::new(guard));
        let first = c.append(pay()).unwrap();
        // The record itself, whatever asks it, refuses a position at or below its mark.
        let g = SigningGuard::open(&guard_path, &ledger, false, true).unwrap();
        assert!(
            g.signed(std::slice::from_ref(&first))
                .unwrap_err()
                .contains("already signed")
        );

        let (_, b) = keys();
        let theirs = Ledger::open(&dir.path().join("b"), genesis, id(&b), LedgerOptions::default()).unwrap();
        assert!(matches!(
            SigningGuard::open(&guard_path, &theirs, false, true),
            Err(Error::CorruptSecret { .. })
        ));
    }
}
