//! Heartbeats and receipts: every attestation interval the node gossips a
//! signed heartbeat with its state root, and receipts naming the peers'
//! entries it stored since (batched, not one per entry: an O(n²) storm
//! otherwise); heartbeats heard are what `ippoc peers` shows.

use std::collections::VecDeque;

use ippoc_economy::attestation::RECEIPT_TX_MAX;
use ippoc_economy::{Claim, NodeId, TxId};
use ippoc_mesh::Topic;

use super::ctx::Ctx;
use crate::view::Heard;

/// Receipts waiting to be gossiped, at most: while the node cannot publish
/// (no peer yet) the oldest are dropped. A receipt is a courtesy to the
/// entry's author, never needed for correctness.
pub(crate) const RECEIPTS_WAITING_MAX: usize = 16 * RECEIPT_TX_MAX;

/// Nodes whose last heartbeat the view keeps, at most; past it the one heard
/// longest ago is forgotten (any key can sign a heartbeat).
pub(crate) const HEARD_MAX: usize = 4096;

/// The heartbeat and receipt handler.
pub(crate) struct Attest {
    /// Heartbeats sent since the pump started.
    beat: u64,
    /// Peers' entries stored since the last receipt; at most
    /// [`RECEIPTS_WAITING_MAX`], oldest dropped.
    receipts: VecDeque<TxId>,
    /// Entries this node held at its last heartbeat (none before the first).
    held: Option<u64>,
    /// Its state root then, hex.
    root: Option<String>,
}

impl Attest {
    /// Nothing sent yet.
    pub fn new() -> Attest {
        Attest {
            beat: 0,
            receipts: VecDeque::new(),
            held: None,
            root: None,
        }
    }

    /// Peers' entries just stored: receipts to give at the next tick.
    pub fn stored(&mut self, tx_ids: Vec<TxId>) {
        self.receipts.extend(tx_ids);
        while self.receipts.len() > RECEIPTS_WAITING_MAX {
            self.receipts.pop_front();
        }
    }

    /// The heartbeat with the node's state, then the receipts.
    pub async fn tick(&mut self, ctx: &Ctx, state_root: [u8; 32], entries: u64) {
        self.held = Some(entries);
        self.root = Some(hex::encode(state_root));
        let beat = Claim::Heartbeat {
            beat: self.beat,
            state_root,
            entries,
        };
        if ctx.publish(Topic::Attestations, beat).await {
            self.beat += 1;
        }
        while !self.receipts.is_empty() {
            let n = self.receipts.len().min(RECEIPT_TX_MAX);
            let tx_ids: Vec<TxId> = self.receipts.iter().take(n).copied().collect();
            if !ctx.publish(Topic::Attestations, Claim::Receipt { tx_ids }).await {
                break;
            }
            self.receipts.drain(..n);
        }
    }

    /// A heartbeat heard from `issuer`; true when this node is behind it, or
    /// the two may each lack something of the other:
    /// - the issuer's previous heartbeat, an attestation interval old or
    ///   more, held more entries than this node held at its own last one
    ///   (gossip in flight explains a difference between two current
    ///   counts, not that one); or
    /// - the issuer stood still between its two heartbeats (same root, same
    ///   count) and this node's last root is another: a quiet swarm whose
    ///   nodes each missed some gossip has equal counts and no traffic to
    ///   reveal it, and would wait for the periodic rounds.
    pub fn heard(&self, ctx: &Ctx, issuer: NodeId, beat: u64, state_root: [u8; 32], entries: u64) -> bool {
        let mut behind = false;
        let root = hex::encode(state_root);
        ctx.view.update(|v| {
            let key = issuer.to_string();
            if let Some(before) = v.heard.get(&key) {
                // A newer beat of the same run, or the first of a restart.
                let newer = before.beat < beat || beat == 0;
                let ahead = self.held.is_some_and(|held| before.entries > held);
                let quiet = before.state_root == root && before.entries == entries;
                let elsewhere = self.root.as_ref().is_some_and(|mine| *mine != root);
                behind = newer && (ahead || (quiet && elsewhere));
            }
            v.heard.insert(
                key,
                Heard {
                    beat,
                    state_root: root.clone(),
                    entries,
                    at_ms: crate::ledger::now_ms(),
                },
            );
            while v.heard.len() > HEARD_MAX {
                let Some(oldest) = v.heard.iter().min_by_key(|(_, h)| h.at_ms).map(|(k, _)| k.clone()) else {
                    break;
                };
                v.heard.remove(&oldest);
            }
        });
        behind
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipts_waiting_for_a_peer_stay_bounded_keeping_the_newest() {
        let mut a = Attest::new();
        for chunk in 0..40u8 {
            let ids: Vec<TxId> = (0..RECEIPT_TX_MAX as u16)
                .map(|i| {
                    let mut id = [chunk; 32];
                    id[30..].copy_from_slice(&i.to_be_bytes());
                    TxId(id)
                })
                .collect();
            a.stored(ids);
        }
        assert_eq!(a.receipts.len(), RECEIPTS_WAITING_MAX);
        assert_eq!(a.receipts.back().map(|t| t.0[0]), Some(39), "the newest stay");
    }
}
