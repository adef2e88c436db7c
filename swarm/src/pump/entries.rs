//! Entry gossip: the own chain published from a cursor, peers' entries
//! stored in batches.
//!
//! Publishing follows the own chain's head: a cursor of the next seq to
//! publish, advanced whenever the node appends (every append wakes the pump)
//! or a peer subscribes. An entry that could not be published (no peer yet)
//! is retried then, so entries made while alone reach the swarm when it
//! forms. Gossip carries what is new from the start of the pump on; history
//! travels by sync.
//!
//! Storing: the validator already verified every delivered entry; its
//! verified copy is taken by tx_id ([`VerifiedEntries`]) and the batch goes
//! to the ledger without a second signature check (one flush per batch).

use std::sync::Arc;

use ippoc_economy::entry::VerifiedEntry;
use ippoc_economy::store::IngestOutcome;
use ippoc_economy::{NodeId, SignedEntry, TxId};
use ippoc_mesh::{PeerId, Topic};

use super::ctx::Ctx;
use crate::validator::VerifiedEntries;

/// Most gossiped entries stored in one ledger batch; the inbox never holds more.
pub(crate) const INBOX_BATCH_MAX: usize = 256;

/// What one stored batch did.
#[derive(Debug, Default)]
pub(crate) struct Stored {
    /// Peers' entries now held (applied or bounced): the receipts to give.
    pub tx_ids: Vec<TxId>,
    /// A fork came to light.
    pub forked: bool,
}

/// An entry waiting in the inbox: verified by the validator, or (its copy
/// evicted before the pump came to it) still to verify.
enum Waiting {
    Verified(VerifiedEntry),
    Unverified(SignedEntry),
}

/// The entry gossip handler.
pub(crate) struct Entries {
    /// Next own seq to publish.
    published: u64,
    /// Peers' entries received and not yet stored, with who sent them; at
    /// most [`INBOX_BATCH_MAX`] (the pump stores the batch when it is full).
    inbox: Vec<(Waiting, PeerId)>,
    /// What the validator verified, by tx_id.
    verified: Arc<VerifiedEntries>,
}

impl Entries {
    /// Starts publishing at `published` (the own head + 1 when the pump starts).
    pub fn new(published: u64, verified: Arc<VerifiedEntries>) -> Entries {
        Entries {
            published,
            inbox: Vec::new(),
            verified,
        }
    }

    /// Publishes own entries from the cursor up to the head.
    pub async fn flush(&mut self, ctx: &Ctx) {
        let from = self.published;
        let entries = ctx
            .blocking(move |l| -> Vec<SignedEntry> {
                let Ok(Some((head, _))) = l.head(&l.owner()) else {
                    return Vec::new();
                };
                l.range(&l.owner(), from, head + 1)
                    .filter_map(|r| r.ok().map(|(e, _)| e))
                    .collect()
            })
            .await
            .unwrap_or_default();
        let mut sent = 0;
        for entry in entries {
            match ctx.publish_bytes(Topic::Entries, entry.to_bytes()).await {
                Ok(true) => sent += 1,
                // Already in the network's recent history: nothing to do.
                Ok(false) => {}
                Err(e) => {
                    tracing::debug!(seq = entry.body.seq, "not published yet: {e}");
                    break;
                }
            }
            self.published = entry.body.seq + 1;
        }
        if sent > 0 {
            ctx.view.update(|v| v.stats.entries_published += sent);
        }
    }

    /// Queues a delivered entry; true when the inbox is full and should be stored.
    pub fn queue(&mut self, data: &[u8], from: PeerId) -> bool {
        // The validator accepted these bytes, so they decode; decoding is
        // cheap next to a signature check, and gives the tx_id to look up.
        if let Ok(entry) = SignedEntry::from_bytes(data) {
            let waiting = match self.verified.take(&entry.tx_id()) {
                Some(v) => Waiting::Verified(v),
                None => Waiting::Unverified(entry),
            };
            self.inbox.push((waiting, from));
        }
        self.inbox.len() >= INBOX_BATCH_MAX
    }

    /// Stores every queued entry with one ledger call: one flush for the
    /// batch (group commit), one signature check per entry in all.
    pub async fn store(&mut self, ctx: &Ctx) -> Stored {
        if self.inbox.is_empty() {
            return Stored::default();
        }
        let inbox = std::mem::take(&mut self.inbox);
        let batch = ctx
            .blocking(move |l| {
                let mut checked: Vec<VerifiedEntry> = Vec::with_capacity(inbox.len());
                let mut senders: Vec<PeerId> = Vec::with_capacity(inbox.len());
                let (mut late, mut late_senders) = (Vec::new(), Vec::new());
                for (waiting, from) in inbox {
                    match waiting {
                        Waiting::Verified(v) => {
                            checked.push(v);
                            senders.push(from);
                        }
                        Waiting::Unverified(e) => {
                            late.push(e);
                            late_senders.push(from);
                        }
                    }
                }
                // The validator verified these too; only its copy was gone.
                let reverified = late.len() as u64;
                let mut refused = Vec::new();
                for (r, from) in SignedEntry::verify_each(late).into_iter().zip(late_senders) {
                    match r {
                        Ok(v) => {
                            checked.push(v);
                            senders.push(from);
                        }
                        Err(e) => refused.push((e, from)),
                    }
                }
                // What the log and the receipts need is taken before the
                // entries move to the ledger, so they are not copied.
                let seen: Vec<(NodeId, u64, TxId, PeerId)> = checked
                    .iter()
                    .zip(senders)
                    .map(|(v, from)| (v.body().actor, v.body().seq, v.tx_id(), from))
                    .collect();
                (l.ingest_verified(checked), seen, refused, reverified)
            })
            .await;
        let mut out = Stored::default();
        let Some((outcomes, seen, refused, reverified)) = batch else {
            tracing::error!("ingest task failed");
            return out;
        };
        if reverified > 0 {
            ctx.view.update(|v| v.stats.entries_reverified += reverified);
        }
        for (e, from) in refused {
            tracing::warn!(event = "entry_refused", %from, "a delivered entry did not verify: {e}");
        }
        match outcomes {
            Ok(outcomes) => {
                let (mut bounced, mut refused) = (0, 0);
                for ((actor, seq, tx, from), outcome) in seen.into_iter().zip(&outcomes) {
                    tracing::info!(event = "entry_ingested", %from, actor = %actor, seq, tx = %tx, ?outcome, "entry from peer");
                    // What the validator let through and the ledger then
                    // bounced or refused broke a rule that needs the chain's
                    // state (an overdraft, a table older than the chain's):
                    // a relay without that state could not know, so its
                    // author pays, in its rate, and the sender is counted
                    // only when it is the author itself.
                    let blame = |why: &str| {
                        ctx.limits.bounced(actor);
                        let author = ippoc_mesh::peer_id_of_ed25519(actor.as_bytes()) == Some(from);
                        author.then(|| format!("sent its own entry seq {seq}, which the ledger {why}"))
                    };
                    let report = match outcome {
                        IngestOutcome::Applied => {
                            out.tx_ids.push(tx);
                            None
                        }
                        IngestOutcome::Bounced(reason) => {
                            out.tx_ids.push(tx);
                            bounced += 1;
                            blame(&format!("bounced: {reason}"))
                        }
                        IngestOutcome::Rejected(reason) => {
                            refused += 1;
                            blame(&format!("refused: {reason}"))
                        }
                        IngestOutcome::Fork { .. } => {
                            out.forked = true;
                            None
                        }
                        _ => None,
                    };
                    if let Some(reason) = report {
                        let _ = ctx.client.report(from, reason).await;
                    }
                }
                let stored = out.tx_ids.len() as u64;
                ctx.view.update(|v| {
                    v.stats.entries_ingested += stored;
                    v.stats.entries_bounced += bounced;
                    v.stats.entries_refused += refused;
                });
            }
            Err(e) => tracing::error!(entries = seen.len(), "ledger error ingesting peers' entries: {e}"),
        }
        out
    }
}
