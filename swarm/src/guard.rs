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
//! `data/signing.guard` (`docs/ledger-format.md`) holds the highest position
//! this identity signed and, in full, the entries of the last append. The
//! ledger calls [`SigningGuard`] through [`ippoc_economy::store::SigningRecord`]
//! after signing and before storing, and the record is on disk (fdatasync)
//! before the ledger stores anything — so no signature that could leave the
//! process (every stored own entry can be gossiped) is missing from it. The
//! file has two fixed-size slots written in turn, each with a checksum: one
//! write and one data sync per append, and a write torn by a crash leaves the
//! other slot (whose append never reached the ledger, so nothing was lost).
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

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ippoc_economy::entry::VerifiedEntry;
use ippoc_economy::genesis::Genesis;
use ippoc_economy::store::{Ledger, SigningRecord};
use ippoc_economy::{AccountId, NodeId, SignedEntry, SwarmId, TxId};
use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::{Error, fsutil};

/// Format tag of the guard record.
pub const GUARD_FORMAT: &str = "ippoc-signing-guard-v1";

/// Bytes of one slot; the file holds two. A record whose last append does
/// not fit keeps its position and drops the entries (a crash then needs peers).
pub const SLOT_BYTES: usize = 64 * 1024;
/// First bytes of a written slot.
const SLOT_MAGIC: &[u8; 8] = b"IPPOCGD1";
/// magic, generation (u64), payload length (u32).
const SLOT_HEADER: usize = 8 + 8 + 4;

/// The guard record (the JSON payload of a slot).
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
    /// The first entry of an append whose write was answered as failed
    /// (the record was rolled back to before it). Should the store hold it
    /// at the next start — the process stopped before it could withdraw it —
    /// it is withdrawn then, so an answer of "failed" stays true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withdrawn: Option<Withdrawn>,
}

/// An entry whose write was answered as failed: its position and tx_id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Withdrawn {
    /// Its seq.
    pub seq: u64,
    /// Its tx_id.
    pub tx_id: TxId,
}

/// Writes the guard of an identity that signed nothing in `swarm_id` (a
/// node that leaves its empty solo swarm for the genesis it was made for).
pub fn start_fresh(path: &Path, swarm_id: SwarmId, node_id: NodeId) -> Result<(), Error> {
    Slots::new(path, true).create(&GuardFile {
        format: GUARD_FORMAT.into(),
        swarm_id,
        node_id,
        seq: None,
        tx_id: None,
        entries: Vec::new(),
        withdrawn: None,
    })
}

/// One slot's bytes: header, JSON payload, SHA-256 of both, zero padding.
fn encode_slot(generation: u64, record: &GuardFile) -> Vec<u8> {
    let mut json = serde_json::to_vec(record).expect("a guard record serializes");
    if SLOT_HEADER + json.len() + 32 > SLOT_BYTES {
        let slim = GuardFile {
            entries: Vec::new(),
            ..record.clone()
        };
        json = serde_json::to_vec(&slim).expect("a guard record serializes");
    }
    let mut slot = Vec::with_capacity(SLOT_BYTES);
    slot.extend_from_slice(SLOT_MAGIC);
    slot.extend_from_slice(&generation.to_be_bytes());
    slot.extend_from_slice(&(json.len() as u32).to_be_bytes());
    slot.extend_from_slice(&json);
    let digest = sha2::Sha256::digest(&slot);
    slot.extend_from_slice(&digest);
    slot.resize(SLOT_BYTES, 0);
    slot
}

/// A slot's generation and record, if it holds a whole one.
fn decode_slot(slot: &[u8]) -> Option<(u64, GuardFile)> {
    if slot.len() < SLOT_HEADER + 32 || &slot[..8] != SLOT_MAGIC {
        return None;
    }
    let generation = u64::from_be_bytes(slot[8..16].try_into().ok()?);
    let len = u32::from_be_bytes(slot[16..20].try_into().ok()?) as usize;
    let end = SLOT_HEADER.checked_add(len)?;
    if end + 32 > slot.len() || sha2::Sha256::digest(&slot[..end]).as_slice() != &slot[end..end + 32] {
        return None;
    }
    Some((generation, serde_json::from_slice(&slot[SLOT_HEADER..end]).ok()?))
}

/// The guard file: two slots, the newer whole one counts.
#[derive(Debug)]
struct Slots {
    path: PathBuf,
    durable: bool,
    /// Open for writing once the file exists.
    handle: Option<File>,
    /// Generation of the newest slot.
    generation: u64,
}

impl Slots {
    fn new(path: &Path, durable: bool) -> Slots {
        Slots {
            path: path.to_path_buf(),
            durable,
            handle: None,
            generation: 0,
        }
    }

    /// The newest whole record in the file; `None` if there is no file.
    fn read(&mut self) -> Result<Option<GuardFile>, Error> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("cannot read", &self.path, e)),
        };
        let newest = bytes
            .chunks(SLOT_BYTES)
            .take(2)
            .filter_map(decode_slot)
            .max_by_key(|(generation, _)| *generation);
        let Some((generation, record)) = newest else {
            return Err(Error::CorruptSecret {
                path: self.path.clone(),
                reason: "no whole signing guard record in it".into(),
            });
        };
        self.generation = generation;
        self.handle = Some(self.open_for_writing()?);
        Ok(Some(record))
    }

    fn open_for_writing(&self) -> Result<File, Error> {
        std::fs::OpenOptions::new()
            .write(true)
            .open(&self.path)
            .map_err(|e| Error::io("cannot open", &self.path, e))
    }

    /// A new file holding `record` (both slots allocated), put in place atomically.
    fn create(&mut self, record: &GuardFile) -> Result<(), Error> {
        // Generation g lives in slot g % 2: the first record in slot 1, so
        // the next write (generation 2) goes to the empty slot 0 and never
        // over the only whole record.
        let mut bytes = vec![0u8; SLOT_BYTES];
        bytes.extend(encode_slot(1, record));
        let dir = fsutil::parent_dir(&self.path);
        let tmp = dir.join(format!(".signing.guard.tmp-{}", fsutil::random_hex(8)));
        let written = (|| {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(fsutil::SECRET_FILE_MODE)
                .open(&tmp)
                .map_err(|e| Error::io("cannot create", &tmp, e))?;
            f.write_all(&bytes).map_err(|e| Error::io("cannot write", &tmp, e))?;
            if self.durable {
                f.sync_all().map_err(|e| Error::io("cannot fsync", &tmp, e))?;
            }
            std::fs::rename(&tmp, &self.path).map_err(|e| Error::io("cannot rename into place", &self.path, e))?;
            if self.durable {
                fsutil::sync_dir(dir)?;
            }
            Ok(())
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written?;
        self.generation = 1;
        self.handle = Some(self.open_for_writing()?);
        Ok(())
    }

    /// Writes `record` over the older slot and syncs it to the disk.
    fn write(&mut self, record: &GuardFile) -> Result<(), Error> {
        let Some(handle) = &self.handle else {
            return self.create(record);
        };
        let generation = self.generation + 1;
        let offset = (generation % 2) * SLOT_BYTES as u64;
        handle
            .write_all_at(&encode_slot(generation, record), offset)
            .map_err(|e| Error::io("cannot write", &self.path, e))?;
        if self.durable {
            handle
                .sync_data()
                .map_err(|e| Error::io("cannot fsync", &self.path, e))?;
        }
        self.generation = generation;
        Ok(())
    }
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
    swarm_id: SwarmId,
    node_id: NodeId,
    /// The record as last written (or read), the state it gives, and the file.
    state: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    file: GuardFile,
    state: GuardState,
    /// Syncs each write (the daemon); the simulator's nodes, whose ledgers
    /// do not fsync either, share one page cache that survives their crashes.
    slots: Slots,
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
            withdrawn: None,
        };
        let mut slots = Slots::new(path, durable);
        let head = own_head(ledger)?;
        let read = slots.read()?;
        let guard = |file: GuardFile, state: GuardState, slots: Slots| SigningGuard {
            swarm_id,
            node_id,
            state: Mutex::new(Inner { file, state, slots }),
        };
        let Some(file) = read else {
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
                slots.create(&file)?;
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
            return Ok(guard(file, state, slots));
        };
        if file.format != GUARD_FORMAT || file.node_id != node_id || file.swarm_id != swarm_id {
            return Err(Error::CorruptSecret {
                path: path.to_path_buf(),
                reason: format!(
                    "a signing guard of {} in swarm {} ({}), not of {node_id} in swarm {swarm_id}",
                    file.node_id, file.swarm_id, file.format
                ),
            });
        }
        // A write answered as failed whose entries reached the disk after
        // all, and a process that stopped before withdrawing them: withdrawn
        // now (they never left the node: the owner's chain is served only up
        // to its acknowledged head).
        if let Some(w) = &file.withdrawn {
            let n = ledger
                .withdraw_failed_write(w.seq, &w.tx_id)
                .map_err(crate::ledger::ledger_error)?;
            if n > 0 {
                tracing::warn!(
                    event = "ledger_write_withdrawn",
                    from_seq = w.seq,
                    entries = n,
                    "own entries whose write was answered as failed were found on disk and withdrawn"
                );
            }
        }
        let g = guard(file.clone(), GuardState::Ready { signed: file.seq }, slots);
        // A crash between the guard's write and the ledger's: the entries it
        // holds and the ledger lacks are stored now, exactly as signed.
        g.restore_tail(ledger)?;
        g.refresh(ledger)?;
        Ok(g)
    }

    /// Stores the guarded entries the ledger lacks, if they continue its
    /// chain where it stops (a crash between the two writes).
    fn restore_tail(&self, ledger: &Ledger) -> Result<(), Error> {
        let file = self.lock().file.clone();
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
        let file = st.file.clone();
        let state = match (&st.state, file.seq, file.tx_id) {
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
            st.slots.write(&newer)?;
            st.file = newer;
        }
        if st.state != state {
            tracing::info!(event = "signing_guard", state = %state.describe(), "signing guard");
        }
        st.state = state.clone();
        Ok(state)
    }

    /// One sync round with a peer finished: an unknown guard now takes the
    /// ledger's head as the highest seq signed.
    pub fn peer_synced(&self, ledger: &Ledger) -> Result<GuardState, Error> {
        {
            let mut st = self.lock();
            if let GuardState::Unknown { .. } = st.state {
                let head = own_head(ledger)?;
                let file = GuardFile {
                    seq: head.map(|(s, _)| s),
                    tx_id: head.map(|(_, t)| t),
                    entries: Vec::new(),
                    ..st.file.clone()
                };
                st.slots.write(&file)?;
                tracing::info!(event = "signing_guard_learned", seq = ?file.seq, "the signing guard learned this node's head after a sync round with a peer");
                st.state = GuardState::Ready { signed: file.seq };
                st.file = file;
            }
        }
        self.refresh(ledger)
    }

    /// The state now (as of the last refresh or append).
    pub fn state(&self) -> GuardState {
        self.lock().state.clone()
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
        self.lock().file.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl SigningRecord for SigningGuard {
    fn signed(&self, entries: &[VerifiedEntry]) -> Result<(), String> {
        let Some(last) = entries.last() else {
            return Ok(());
        };
        let mut st = self.lock();
        if !matches!(st.state, GuardState::Ready { .. }) {
            return Err(st.state.describe());
        }
        if let Some(s) = st.file.seq
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
            withdrawn: None,
        };
        st.slots.write(&file).map_err(|e| e.to_string())?;
        st.state = GuardState::Ready { signed: file.seq };
        st.file = file;
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
            withdrawn: Some(Withdrawn {
                seq: first.body().seq,
                tx_id: first.tx_id(),
            }),
            ..st.file.clone()
        };
        match st.slots.write(&before) {
            Ok(()) => {
                st.state = GuardState::Ready { signed: before.seq };
                st.file = before;
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
    fn an_append_answered_as_failed_that_reached_the_disk_is_withdrawn_at_the_next_start() {
        let dir = tempfile::tempdir().unwrap();
        let genesis = pair();
        let guard_path = dir.path().join("signing.guard");
        let ledger = open_ledger(dir.path(), &genesis);
        let c = chain(&ledger, SigningGuard::open(&guard_path, &ledger, true, true).unwrap());
        let kept = c.append(pay()).unwrap();
        let root = ledger.state_root().unwrap();
        drop(c);
        // The append of seq 1 as the ledger does it when its flush reports a
        // failure and the store cannot be opened again: the guard records the
        // entry, then is rolled back, and the caller is told it failed. Yet
        // the entry reached the disk, and the process stopped right then.
        let guard = SigningGuard::open(&guard_path, &ledger, false, true).unwrap();
        let (a, _) = keys();
        let failed = ledger.append_recorded(&a, pay(), &guard).unwrap();
        guard.unsigned(std::slice::from_ref(&failed));
        assert_eq!(
            guard.file().withdrawn,
            Some(Withdrawn {
                seq: 1,
                tx_id: failed.tx_id()
            })
        );
        drop(guard);
        drop(ledger);

        // The next start withdraws it: the answer "failed" stays true.
        let ledger = open_ledger(dir.path(), &genesis);
        let guard = SigningGuard::open(&guard_path, &ledger, false, true).unwrap();
        assert_eq!(ledger.head(&id(&a)).unwrap(), Some((0, kept.tx_id())));
        assert_eq!(ledger.state_root().unwrap(), root, "no trace left");
        assert_eq!(guard.state(), GuardState::Ready { signed: Some(0) });
        // Seq 1 is free: the withdrawn entry never left this node.
        let c = chain(&ledger, guard);
        let mut other = pay();
        other.timestamp_ms = 2;
        let next = c.append(other).unwrap();
        assert_eq!(next.body().seq, 1);
        assert_ne!(next.tx_id(), failed.tx_id());
        // And a later start does not touch the new entry at seq 1.
        drop(c);
        let guard = SigningGuard::open(&guard_path, &ledger, false, true).unwrap();
        assert_eq!(ledger.head(&id(&a)).unwrap(), Some((1, next.tx_id())));
        assert_eq!(guard.state(), GuardState::Ready { signed: Some(1) });
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
    fn a_torn_slot_leaves_the_other_one_and_two_torn_slots_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let genesis = pair();
        let guard_path = dir.path().join("signing.guard");
        let ledger = open_ledger(dir.path(), &genesis);
        let c = chain(&ledger, SigningGuard::open(&guard_path, &ledger, true, true).unwrap());
        c.append(pay()).unwrap();
        c.append(pay()).unwrap();
        drop(c);
        let mut bytes = std::fs::read(&guard_path).unwrap();
        assert_eq!(bytes.len(), 2 * SLOT_BYTES, "two slots, allocated once");
        // Created as generation 1 (slot 1); the appends wrote generations 2
        // (slot 0) and 3 (slot 1): tear the newest.
        bytes[SLOT_BYTES + 40] ^= 0xff;
        std::fs::write(&guard_path, &bytes).unwrap();
        let g = SigningGuard::open(&guard_path, &ledger, false, true).unwrap();
        assert_eq!(g.file().seq, Some(1), "the older slot, then the ledger's head");
        drop(g);
        let mut bytes = std::fs::read(&guard_path).unwrap();
        bytes[40] ^= 0xff;
        bytes[SLOT_BYTES + 40] ^= 0xff;
        std::fs::write(&guard_path, &bytes).unwrap();
        assert!(matches!(
            SigningGuard::open(&guard_path, &ledger, false, true),
            Err(Error::CorruptSecret { .. })
        ));
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
