//! Heads snapshots: the chain heads this node voted on at the end of an
//! epoch. The swarm anchors the Merkle root of such a set on the L2; to prove
//! later that an entry is under an anchored root, the node needs the whole
//! set the root was built from, so it keeps every anchored snapshot and only
//! the most recent unanchored ones.

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use super::process::Record;
use super::txn::Txn;
use super::{Ledger, LedgerError, keys};
use crate::encoding;
use crate::ids::{NodeId, TxId};

/// Unanchored snapshots kept, counting back from the newest epoch recorded.
pub const UNANCHORED_SNAPSHOTS_KEPT: u64 = 64;
/// Epochs whose voted heads are kept, counting back from the newest recorded.
pub const VOTED_HEADS_KEPT: u64 = 64;

/// One chain's head in a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Head {
    /// The chain's actor.
    pub actor: NodeId,
    /// Seq of its head entry.
    pub seq: u64,
    /// The head entry's tx_id.
    pub tx_id: TxId,
}

/// The chain heads this node held at the end of an epoch.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct HeadsSnapshot {
    /// The epoch.
    pub epoch: u64,
    /// Every counted chain head, sorted by actor.
    pub heads: Vec<Head>,
    /// Whether the chain confirmed the root of these heads for the epoch.
    pub anchored: bool,
    /// The GI table the checkpoint commits to beside the heads, if any: its
    /// cycle and the root of its anchored rows (docs/integrity.md, "On chain").
    pub gi: Option<GiCommitment>,
}

/// A cycle's GI table as a checkpoint commits to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct GiCommitment {
    /// The cycle.
    pub cycle: u64,
    /// The Merkle root of its rows (keccak, as the contract checks them).
    pub root: [u8; 32],
}

/// A snapshot as nodes before the GI commitment stored it: read so an
/// upgraded node keeps its anchored snapshots (and their proofs).
#[derive(Decode)]
struct HeadsSnapshotV1 {
    epoch: u64,
    heads: Vec<Head>,
    anchored: bool,
}

/// The digest a checkpoint vote carries: SHA-256 over the canonical
/// encoding of the heads (sorted by actor, as [`Ledger::heads_before`]
/// returns them), under a domain tag.
pub fn heads_digest(heads: &[Head]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"ippoc-heads-v1\0");
    h.update(encoding::encode(&heads.to_vec()));
    h.finalize().into()
}

impl Ledger {
    /// Every counted chain cut at `cut_ms`: its last entry timestamped
    /// before the cut, counting back from its head. A chain with no such
    /// entry is left out.
    ///
    /// Why a cut and not the heads as they are: nodes vote at slightly
    /// different moments and entries keep arriving, so the heads at each
    /// node's moment differ whenever the swarm is busy. Entries made before
    /// the cut reach every node within the grace the caller leaves after it,
    /// so nodes agree on the cut heads while the chains keep growing.
    pub fn heads_before(&self, cut_ms: u64) -> Result<Vec<Head>, LedgerError> {
        // Under the write lock: a fork rebuild cannot take entries away mid-walk.
        let _guard = self.write.lock().unwrap_or_else(|p| p.into_inner());
        let tree = self.tree_unchecked()?;
        let mut out = Vec::new();
        for (actor, head, _) in self.heads()? {
            // Only the entries made since the cut are read.
            for item in tree.range(keys::entry(&actor, 0)..=keys::entry(&actor, head)).rev() {
                let record = Record::decode(&item?.1)?;
                if record.entry.body.timestamp_ms < cut_ms {
                    out.push(Head {
                        actor,
                        seq: record.entry.body.seq,
                        tx_id: record.tx_id,
                    });
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Records the heads this node voted on for `epoch` (the first record of
    /// an epoch stands: a vote once signed is not changed), and forgets
    /// unanchored snapshots older than [`UNANCHORED_SNAPSHOTS_KEPT`] epochs.
    pub fn record_snapshot(&self, epoch: u64, heads: Vec<Head>, gi: Option<GiCommitment>) -> Result<(), LedgerError> {
        let _guard = self.write.lock().unwrap_or_else(|p| p.into_inner());
        let tree = self.before_write()?;
        let mut txn = Txn::new(&tree);
        if txn.get(&keys::snapshot(epoch))?.is_none() {
            let snapshot = HeadsSnapshot {
                epoch,
                heads,
                anchored: false,
                gi,
            };
            txn.put(keys::snapshot(epoch), encoding::encode(&snapshot));
        }
        let horizon = epoch.saturating_sub(UNANCHORED_SNAPSHOTS_KEPT);
        for (k, v) in txn.range(&keys::snapshot(0), &keys::snapshot(horizon))? {
            if !decode(&v)?.anchored {
                txn.del(k);
            }
        }
        let written = txn.commit(&self.writes).and_then(|()| self.flush_if_durable(&tree));
        drop(tree);
        self.settle(written)
    }

    /// Records the heads this node voted for as the chains cut at the end of
    /// `epoch` (its checkpoint vote carries their digest): the first record
    /// of an epoch stands, unless [`Ledger::adopt_voted_heads`] replaces it
    /// with the heads the swarm agreed on. Forgets those more than
    /// [`VOTED_HEADS_KEPT`] epochs older.
    pub fn record_voted_heads(&self, epoch: u64, heads: &[Head]) -> Result<(), LedgerError> {
        self.put_voted_heads(epoch, heads, false)
    }

    /// The heads recorded for `epoch`, if still kept.
    pub fn voted_heads(&self, epoch: u64) -> Result<Option<Vec<Head>>, LedgerError> {
        self.tree()?
            .get(keys::voted(epoch))?
            .map(|v| encoding::decode(&v).map_err(|e| LedgerError::Corrupt(format!("voted heads: {e}"))))
            .transpose()
    }

    /// Takes `heads` as the cut of `epoch` that the swarm agreed on, sent by
    /// a peer: refused unless their digest is `digest` and this node holds
    /// every entry up to them (the same tx_ids). Returns whether they are
    /// now the recorded ones.
    pub fn adopt_voted_heads(&self, epoch: u64, heads: &[Head], digest: [u8; 32]) -> Result<bool, LedgerError> {
        if heads_digest(heads) != digest || !heads.is_sorted_by_key(|h| h.actor) || !self.holds_heads(heads)? {
            return Ok(false);
        }
        self.put_voted_heads(epoch, heads, true)?;
        Ok(true)
    }

    /// Whether this node holds each head's entry (seq and tx_id) in its chain.
    pub fn holds_heads(&self, heads: &[Head]) -> Result<bool, LedgerError> {
        let tree = self.tree()?;
        for h in heads {
            match tree.get(keys::entry(&h.actor, h.seq))? {
                Some(v) if Record::decode(&v)?.tx_id == h.tx_id => {}
                _ => return Ok(false),
            }
        }
        Ok(true)
    }

    fn put_voted_heads(&self, epoch: u64, heads: &[Head], replace: bool) -> Result<(), LedgerError> {
        let _guard = self.write.lock().unwrap_or_else(|p| p.into_inner());
        let tree = self.before_write()?;
        let mut txn = Txn::new(&tree);
        if replace || txn.get(&keys::voted(epoch))?.is_none() {
            txn.put(keys::voted(epoch), encoding::encode(&heads.to_vec()));
        }
        let horizon = epoch.saturating_sub(VOTED_HEADS_KEPT);
        for (k, _) in txn.range(&keys::voted(0), &keys::voted(horizon))? {
            txn.del(k);
        }
        // Not flushed: heads lost in a crash are the heads held at the cut,
        // or a peer's (`adopt_voted_heads`); an fsync per epoch buys nothing.
        let written = txn.commit(&self.writes);
        drop(tree);
        self.settle(written)
    }

    /// The snapshot of `epoch`, if this node recorded one and still keeps it.
    pub fn snapshot(&self, epoch: u64) -> Result<Option<HeadsSnapshot>, LedgerError> {
        self.tree()?.get(keys::snapshot(epoch))?.map(|v| decode(&v)).transpose()
    }

    /// Every snapshot kept, oldest first.
    pub fn snapshots(&self) -> Result<Vec<HeadsSnapshot>, LedgerError> {
        self.tree()?
            .scan_prefix([keys::SNAPSHOT])
            .map(|item| decode(&item?.1))
            .collect()
    }

    /// The newest epoch this node voted on and the newest one anchored, as
    /// its kept snapshots record them. Reads back from the newest snapshot to
    /// the newest anchored one: at most the unanchored ones kept, plus one.
    pub fn anchoring_progress(&self) -> Result<(Option<u64>, Option<u64>), LedgerError> {
        let mut newest_vote = None;
        for item in self.tree()?.scan_prefix([keys::SNAPSHOT]).rev() {
            let snapshot = decode(&item?.1)?;
            newest_vote.get_or_insert(snapshot.epoch);
            if snapshot.anchored {
                return Ok((newest_vote, Some(snapshot.epoch)));
            }
        }
        Ok((newest_vote, None))
    }

    /// Marks the snapshot of `epoch` anchored (kept for good). Returns
    /// whether there was one to mark.
    pub fn mark_anchored(&self, epoch: u64) -> Result<bool, LedgerError> {
        let _guard = self.write.lock().unwrap_or_else(|p| p.into_inner());
        let tree = self.before_write()?;
        let Some(mut snapshot) = tree.get(keys::snapshot(epoch))?.map(|v| decode(&v)).transpose()? else {
            return Ok(false);
        };
        if !snapshot.anchored {
            snapshot.anchored = true;
            let written = tree
                .insert(keys::snapshot(epoch), encoding::encode(&snapshot))
                .map_err(LedgerError::from)
                .and_then(|_| self.flush_if_durable(&tree));
            drop(tree);
            self.settle(written)?;
        }
        Ok(true)
    }
}

fn decode(bytes: &[u8]) -> Result<HeadsSnapshot, LedgerError> {
    encoding::decode(bytes).or_else(|e| match encoding::decode::<HeadsSnapshotV1>(bytes) {
        Ok(v1) => Ok(HeadsSnapshot {
            epoch: v1.epoch,
            heads: v1.heads,
            anchored: v1.anchored,
            gi: None,
        }),
        Err(_) => Err(LedgerError::Corrupt(format!("heads snapshot: {e}"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::genesis::Genesis;
    use crate::store::LedgerOptions;

    fn ledger(dir: &tempfile::TempDir) -> Ledger {
        let id = NodeId::from_bytes([7; 32]);
        let genesis = Genesis::new(
            "snapshots",
            1,
            &[id],
            crate::Amount::from_base(1),
            crate::Amount::from_base(1),
        );
        Ledger::open(&dir.path().join("l"), genesis, id, LedgerOptions::default()).unwrap()
    }

    fn head(b: u8) -> Head {
        Head {
            actor: NodeId::from_bytes([b; 32]),
            seq: u64::from(b),
            tx_id: TxId([b; 32]),
        }
    }

    #[test]
    fn a_cut_takes_each_chain_at_its_last_entry_before_it_whatever_came_after() {
        use crate::store::{Draft, Intent};
        let key = ed25519_dalek::SigningKey::from_bytes(&[1; 32]);
        let (payer, payee) = (
            NodeId::from_bytes(key.verifying_key().to_bytes()),
            NodeId::from_bytes([7; 32]),
        );
        let genesis = Genesis::new(
            "cut",
            1,
            &[payer, payee],
            crate::Amount::from_base(1_000_000),
            crate::Amount::from_base(1),
        );
        let open = |dir: &tempfile::TempDir, owner| {
            Ledger::open(&dir.path().join("l"), genesis.clone(), owner, LedgerOptions::default()).unwrap()
        };
        let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (a, b) = (open(&dir_a, payer), open(&dir_b, payee));
        // A pays at t = 10, 20 and 30 ms; B has heard of the first two only.
        let signed = [10, 20, 30].map(|t| {
            let pay = Intent::Transfer {
                to: payee,
                currency: crate::Currency::Ippc,
                amount: crate::Amount::from_base(1_000),
            };
            a.append(&key, Draft::new(pay, t)).unwrap().signed().clone()
        });
        b.ingest(signed[..2].to_vec()).unwrap();

        let head = |seq: usize| Head {
            actor: payer,
            seq: seq as u64,
            tx_id: signed[seq].tx_id(),
        };
        assert_eq!(
            a.heads_before(5).unwrap(),
            vec![],
            "a chain begun after the cut is left out"
        );
        assert_eq!(a.heads_before(20).unwrap(), vec![head(0)], "the cut is strict");
        assert_eq!(a.heads_before(25).unwrap(), vec![head(1)]);
        assert_eq!(
            b.heads_before(25).unwrap(),
            a.heads_before(25).unwrap(),
            "the lagging node agrees"
        );
        assert_eq!(a.heads_before(31).unwrap(), vec![head(2)]);
        assert_eq!(
            b.heads_before(31).unwrap(),
            vec![head(1)],
            "past what it holds, it cannot"
        );
    }

    #[test]
    fn a_vote_once_recorded_stands_and_anchored_snapshots_outlive_the_horizon() {
        let dir = tempfile::tempdir().unwrap();
        let l = ledger(&dir);
        assert_eq!(l.anchoring_progress().unwrap(), (None, None));
        l.record_snapshot(1, vec![head(1)], None).unwrap();
        assert_eq!(l.anchoring_progress().unwrap(), (Some(1), None));
        l.record_snapshot(1, vec![head(2)], None).unwrap();
        assert_eq!(l.snapshot(1).unwrap().unwrap().heads, vec![head(1)]);
        l.record_snapshot(2, vec![head(2)], None).unwrap();
        assert!(l.mark_anchored(2).unwrap());
        assert!(!l.mark_anchored(3).unwrap(), "nothing to mark");
        l.record_snapshot(2 + UNANCHORED_SNAPSHOTS_KEPT, vec![head(3)], None)
            .unwrap();
        let kept: Vec<(u64, bool)> = l.snapshots().unwrap().iter().map(|s| (s.epoch, s.anchored)).collect();
        assert_eq!(kept, vec![(2, true), (2 + UNANCHORED_SNAPSHOTS_KEPT, false)]);
        assert_eq!(
            l.anchoring_progress().unwrap(),
            (Some(2 + UNANCHORED_SNAPSHOTS_KEPT), Some(2))
        );
        drop(l);
        let l = ledger(&dir);
        assert!(l.snapshot(2).unwrap().unwrap().anchored, "durable across a reopen");
    }

    #[test]
    fn a_snapshot_stored_before_the_gi_commitment_still_reads() {
        #[derive(bincode::Encode)]
        struct V1 {
            epoch: u64,
            heads: Vec<Head>,
            anchored: bool,
        }
        let old = encoding::encode(&V1 {
            epoch: 9,
            heads: vec![head(1)],
            anchored: true,
        });
        let read = super::decode(&old).unwrap();
        assert_eq!(
            (read.epoch, read.heads, read.anchored, read.gi),
            (9, vec![head(1)], true, None)
        );
        assert!(
            super::decode(&old[..old.len() - 1]).is_err(),
            "a cut record is still corrupt"
        );
    }
}
