//! Scrubbing and repair of the store.
//!
//! Every read already checks the hash of the entry it decodes, so a byte
//! changed on disk inside an entry's body is never served. What a read does
//! not notice: a changed signature (the tx_id is the hash of the body
//! alone), a damaged entry nobody has read yet, and changed derived state
//! (balances, heads). [`Ledger::scrub`] checks every stored record — hash,
//! signature, position — in signature batches; [`Ledger::derived_state_matches`]
//! replays the stored entries into a scratch ledger and compares state roots;
//! [`Ledger::repair`] puts back verified copies of damaged entries (from an
//! export), drops what has no provable copy (sync brings it back from peers),
//! and rebuilds every derived index from the entries.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::entry::SignedEntry;
use crate::ids::{NodeId, TxId};

use super::export::scratch_ledger;
use super::process::{Effect, Record, stored_entry};
use super::txn::Txn;
use super::{Ledger, LedgerError, keys};

/// Damaged records a report lists by name (the count is always exact).
pub const DAMAGED_LISTED_MAX: usize = 1_000;
/// Records checked per signature batch.
const SCRUB_BATCH: usize = 256;

/// A record that decoded: its key, the position its key names, its entry.
type Decoded = (Vec<u8>, Option<(NodeId, u64)>, SignedEntry);

/// One stored record that does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DamagedRecord {
    /// What it is: `entry`, `evidence`, `pending` or `awaiting`.
    pub kind: &'static str,
    /// The chain and position its key names (an entry or evidence record).
    pub position: Option<(NodeId, u64)>,
    /// What is wrong.
    pub reason: String,
    /// The store key, for the repair.
    key: Vec<u8>,
}

/// What [`Ledger::scrub`] found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScrubReport {
    /// Records checked.
    pub records: u64,
    /// Damaged records found.
    pub damaged_total: u64,
    /// The first [`DAMAGED_LISTED_MAX`] of them.
    pub damaged: Vec<DamagedRecord>,
    /// Every record was checked (a stopped scrub is not complete).
    pub complete: bool,
}

/// What [`Ledger::repair`] did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RepairReport {
    /// Damaged entries replaced by a verified copy of the same entry.
    pub replaced: u64,
    /// Damaged records removed (no provable copy): entries come back from
    /// peers by sync; the own chain's through the signing guard's recovery.
    pub dropped: u64,
    /// The first dropped positions.
    pub dropped_positions: Vec<(NodeId, u64)>,
}

/// The record families that hold signed entries, with their names.
const FAMILIES: [(u8, &str); 5] = [
    (keys::ENTRY, "entry"),
    (keys::EVIDENCE, "evidence"),
    (keys::PENDING, "pending"),
    (keys::AWAITING, "awaiting"),
    (keys::AWAIT_CYCLE, "awaiting a cycle"),
];

impl Ledger {
    /// Checks every stored signed record: an entry record's hash, position
    /// and signature; evidence and waiting entries' encoding and signature.
    /// Reads the whole store once; signatures are verified in batches.
    pub fn scrub(&self) -> Result<ScrubReport, LedgerError> {
        self.scrub_until(&AtomicBool::new(false))
    }

    /// [`Ledger::scrub`], ending early (with `complete: false`) once `stop`
    /// is set: checked between batches, so a background scrub stops within
    /// one batch (about 10 ms) of a shutdown.
    pub fn scrub_until(&self, stop: &AtomicBool) -> Result<ScrubReport, LedgerError> {
        let tree = self.tree_unchecked()?;
        let mut report = ScrubReport::default();
        let damage = |report: &mut ScrubReport, d: DamagedRecord| {
            report.damaged_total += 1;
            if report.damaged.len() < DAMAGED_LISTED_MAX {
                report.damaged.push(d);
            }
        };
        for (prefix, kind) in FAMILIES {
            let mut batch: Vec<Decoded> = Vec::new();
            let mut items = tree.scan_prefix([prefix]);
            loop {
                let next = items.next().transpose()?;
                if let Some((k, v)) = &next {
                    report.records += 1;
                    let position = (prefix == keys::ENTRY || prefix == keys::EVIDENCE)
                        .then(|| (k.len() >= 41).then(|| (keys::node_at(k, 1), keys::u64_at(k, 33))))
                        .flatten();
                    match stored_entry(prefix, v) {
                        Ok(entry)
                            if position
                                .is_none_or(|(actor, seq)| entry.body.actor == actor && entry.body.seq == seq) =>
                        {
                            batch.push((k.to_vec(), position, entry));
                        }
                        Ok(entry) => damage(
                            &mut report,
                            DamagedRecord {
                                kind,
                                position,
                                reason: format!(
                                    "holds {} seq {} under another position's key",
                                    entry.body.actor, entry.body.seq
                                ),
                                key: k.to_vec(),
                            },
                        ),
                        Err(e) => damage(
                            &mut report,
                            DamagedRecord {
                                kind,
                                position,
                                reason: e.to_string(),
                                key: k.to_vec(),
                            },
                        ),
                    }
                }
                if batch.len() >= SCRUB_BATCH || (next.is_none() && !batch.is_empty()) {
                    for bad in bad_signatures(std::mem::take(&mut batch)) {
                        damage(&mut report, DamagedRecord { kind, ..bad });
                    }
                }
                if next.is_none() {
                    break;
                }
                if batch.is_empty() && stop.load(Ordering::Relaxed) {
                    return Ok(report);
                }
            }
        }
        report.complete = true;
        Ok(report)
    }

    /// Whether the derived state (heads, fork marks, balances: the
    /// [`Ledger::state_root`]) is what the stored entries give: they are
    /// replayed into a scratch ledger in the temporary directory and the
    /// roots compared. `None` when a stored record is damaged (scrub first).
    pub fn derived_state_matches(&self) -> Result<Option<bool>, LedgerError> {
        let (stored, root, schedule) = {
            // No write between the entries read and the root; the replay
            // itself runs after the lock is released.
            let _guard = self.write.lock().unwrap_or_else(|p| p.into_inner());
            let tree = self.tree_unchecked()?;
            let mut stored = Vec::new();
            for (prefix, _) in FAMILIES {
                for item in tree.scan_prefix([prefix]) {
                    let (_, v) = item?;
                    match stored_entry(prefix, &v) {
                        Ok(e) => stored.push(e),
                        Err(_) => return Ok(None),
                    }
                }
            }
            (stored, self.state_root()?, self.schedule())
        };
        let mut verified = Vec::with_capacity(stored.len());
        for chunk in stored.chunks(SCRUB_BATCH) {
            match SignedEntry::verify_batch(chunk.to_vec()) {
                Ok(v) => verified.extend(v),
                Err(_) => return Ok(None),
            }
        }
        let (_dir, scratch) = scratch_ledger(self.genesis.clone(), &schedule[1..], verified.len() as u64 + 1)?;
        scratch.ingest_verified(verified)?;
        Ok(Some(scratch.state_root()? == root))
    }

    /// Repairs the store: each damaged entry record is replaced by a copy
    /// from `copies` that verifies and is provably the same entry (its
    /// tx_id is the one the record's header, the successor's `prev` or the
    /// chain's head names); damaged records without one are removed; then
    /// every derived index is rebuilt from the entries. Entries removed come
    /// back from peers by sync (the node's own through the signing guard's
    /// recovery, which keeps it from signing until then).
    pub fn repair(&self, copies: &[SignedEntry]) -> Result<RepairReport, LedgerError> {
        let scrub = self.scrub()?;
        if scrub.damaged_total as usize > scrub.damaged.len() {
            return Err(LedgerError::Corrupt(format!(
                "{} damaged records, more than a repair lists ({DAMAGED_LISTED_MAX}): move the ledger aside and let the node recover from its peers",
                scrub.damaged_total
            )));
        }
        let _guard = self.write.lock().unwrap_or_else(|p| p.into_inner());
        let tree = self.before_write()?;
        let mut by_position: HashMap<(NodeId, u64), Vec<&SignedEntry>> = HashMap::new();
        for c in copies {
            by_position.entry((c.body.actor, c.body.seq)).or_default().push(c);
        }
        let mut report = RepairReport::default();
        let mut txn = Txn::new(&tree);
        for d in &scrub.damaged {
            let copy = match (d.kind, d.position) {
                ("entry", Some((actor, seq))) => {
                    let anchors = self.anchors(&txn, &d.key, &actor, seq)?;
                    by_position.get(&(actor, seq)).and_then(|cs| {
                        cs.iter()
                            .find(|c| anchors.contains(&c.tx_id()) && SignedEntry::clone(c).verify().is_ok())
                    })
                }
                _ => None,
            };
            match copy {
                Some(c) => {
                    // The effect is recomputed by the rebuild below.
                    txn.put(
                        d.key.clone(),
                        Record::encode(Effect::Applied, &c.tx_id(), &c.to_bytes()),
                    );
                    report.replaced += 1;
                }
                None => {
                    txn.del(d.key.clone());
                    report.dropped += 1;
                    if let Some(p) = d.position
                        && report.dropped_positions.len() < DAMAGED_LISTED_MAX
                    {
                        report.dropped_positions.push(p);
                    }
                }
            }
        }
        txn.commit(&self.writes)?;
        let rebuilt = (|| {
            while self.rebuild_locked(&tree)? {}
            tree.flush()?;
            self.acknowledge(&tree)
        })();
        drop(tree);
        self.settle(rebuilt)?;
        tracing::warn!(
            replaced = report.replaced,
            dropped = report.dropped,
            "ledger repaired; derived state rebuilt from the entries"
        );
        Ok(report)
    }

    /// The tx_ids the entry at `(actor, seq)` is known to have from
    /// elsewhere in the store: its record's header, its successor's `prev`,
    /// the chain's head.
    fn anchors(&self, txn: &Txn<'_>, key: &[u8], actor: &NodeId, seq: u64) -> Result<Vec<TxId>, LedgerError> {
        let mut out = Vec::new();
        if let Some(v) = txn.get(key)?
            && let Ok(tx) = Record::tx_id_of(&v)
        {
            out.push(tx);
        }
        if let Some(v) = txn.get(&keys::entry(actor, seq + 1))?
            && let Ok(next) = Record::decode(&v)
        {
            out.push(next.entry.body.prev);
        }
        if let Some(v) = txn.get(&keys::head(actor))?
            && v.len() >= 40
            && keys::u64_at(&v, 0) == seq
        {
            out.push(TxId(v[8..40].try_into().expect("32 bytes")));
        }
        Ok(out)
    }
}

/// The entries of `batch` whose signature (or version) fails: one batch
/// check, then single checks only where the batch says something is wrong.
fn bad_signatures(batch: Vec<Decoded>) -> Vec<DamagedRecord> {
    let entries: Vec<SignedEntry> = batch.iter().map(|(_, _, e)| e.clone()).collect();
    if SignedEntry::verify_batch(entries).is_ok() {
        return Vec::new();
    }
    batch
        .into_iter()
        .filter_map(|(key, position, e)| {
            e.verify().err().map(|err| DamagedRecord {
                kind: "",
                position,
                reason: err.to_string(),
                key,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amount::Currency;
    use crate::ids::AccountId;
    use crate::store::tests::{ledger_with, pay};

    /// Rewrites the stored record of `key` with `change` applied to its bytes.
    fn damage(ledger: &Ledger, key: &[u8], change: impl FnOnce(&mut Vec<u8>)) {
        let tree = ledger.tree().unwrap();
        let mut v = tree.get(key).unwrap().unwrap().to_vec();
        change(&mut v);
        tree.insert(key, v).unwrap();
    }

    #[test]
    fn a_changed_signature_is_found_by_the_scrub_and_put_back_from_an_export() {
        let dir = tempfile::tempdir().unwrap();
        let (ledger, key) = ledger_with(&dir, 5);
        let me = ledger.owner();
        let copies = ledger.chain_entries(None).unwrap();
        assert_eq!(ledger.scrub().unwrap().damaged_total, 0);
        assert_eq!(ledger.derived_state_matches().unwrap(), Some(true));

        // The last byte of the record is the signature's: the body, and so
        // the hash every read checks, is unchanged.
        damage(&ledger, &keys::entry(&me, 2), |v| *v.last_mut().unwrap() ^= 1);
        assert!(ledger.entry(&me, 2).unwrap().is_some(), "a read does not notice");
        let scrub = ledger.scrub().unwrap();
        assert_eq!(scrub.damaged_total, 1);
        assert_eq!(scrub.damaged[0].position, Some((me, 2)));
        assert!(scrub.damaged[0].reason.contains("signature"), "{:?}", scrub.damaged[0]);
        assert_eq!(ledger.derived_state_matches().unwrap(), None);

        let root = ledger.state_root().unwrap();
        let repaired = ledger.repair(&copies).unwrap();
        assert_eq!((repaired.replaced, repaired.dropped), (1, 0));
        assert_eq!(ledger.scrub().unwrap().damaged_total, 0);
        assert_eq!(ledger.state_root().unwrap(), root);
        assert_eq!(ledger.derived_state_matches().unwrap(), Some(true));
        // The node goes on signing where it was.
        assert_eq!(ledger.append(&key, pay(1)).unwrap().body().seq, 5);
    }

    #[test]
    fn a_changed_balance_is_found_by_the_replay_and_rebuilt_by_the_repair() {
        let dir = tempfile::tempdir().unwrap();
        let (ledger, _) = ledger_with(&dir, 3);
        let me = AccountId::Wallet(ledger.owner());
        let before = ledger.balance(&me, Currency::Ippc).unwrap();
        damage(&ledger, &keys::balance(&me, Currency::Ippc), |v| {
            let last = v.len() - 1;
            v[last] ^= 0x40;
        });
        assert_ne!(ledger.balance(&me, Currency::Ippc).unwrap(), before);
        assert_eq!(ledger.scrub().unwrap().damaged_total, 0, "no signed record changed");
        assert_eq!(ledger.derived_state_matches().unwrap(), Some(false));
        let repaired = ledger.repair(&[]).unwrap();
        assert_eq!((repaired.replaced, repaired.dropped), (0, 0));
        assert_eq!(ledger.balance(&me, Currency::Ippc).unwrap(), before);
        assert_eq!(ledger.derived_state_matches().unwrap(), Some(true));
    }

    #[test]
    fn a_damaged_entry_without_a_copy_is_dropped_and_comes_back_when_a_peer_sends_it() {
        let dir = tempfile::tempdir().unwrap();
        let (ledger, _) = ledger_with(&dir, 5);
        let me = ledger.owner();
        let copies = ledger.chain_entries(None).unwrap();
        let root = ledger.state_root().unwrap();
        damage(&ledger, &keys::entry(&me, 1), |v| v.truncate(40));
        assert_eq!(ledger.scrub().unwrap().damaged_total, 1);

        // A copy of another entry at that position (a fork's other version,
        // say) is not taken: nothing proves it is the same entry.
        let mut other = copies[1].clone();
        other.body.memo = b"not the same".to_vec();
        let repaired = ledger.repair(&[other]).unwrap();
        assert_eq!((repaired.replaced, repaired.dropped), (0, 1));
        assert_eq!(repaired.dropped_positions, vec![(me, 1)]);
        assert_eq!(ledger.scrub().unwrap().damaged_total, 0);
        // Its successors wait for it, as entries from a peer would.
        assert_eq!(ledger.pending_count().unwrap(), 3);

        // Sync brings it back: everything counts again.
        ledger.ingest(vec![copies[1].clone()]).unwrap();
        assert_eq!(ledger.pending_count().unwrap(), 0);
        assert_eq!(ledger.state_root().unwrap(), root);
    }
}
