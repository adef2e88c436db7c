//! Checkpoints: at each epoch's end the node gossips a vote with its state
//! root, tallies the votes it heard for the epoch before against its own
//! root (one observation per epoch, written to the swarm document), records
//! its vote on the heads cut at the end of the epoch before that in its own
//! chain (what the integrity score reads), builds the GI table of the newest
//! closed cycle, and — following a DAO — co-signs the Merkle root of those
//! heads and hears the others' co-signatures for the governance watcher to
//! submit.

use std::collections::{BTreeMap, HashMap};

use ippoc_economy::store::{Draft, GI_CLOSE_EPOCHS, Intent, heads_digest};
use ippoc_economy::{Action, Claim, NodeId};
use ippoc_mesh::Topic;

use super::ctx::Ctx;
use crate::anchor::Anchoring;
use crate::doc::{OBSERVED_DISSENTERS_MAX, Observation};

/// Cycles whose GI table digests the view keeps (the newest table is kept whole).
pub const GI_DIGESTS_KEPT: usize = 16;

/// Records this node's vote on `epoch` in its own chain: the digest of the
/// heads cut at the epoch's end. The integrity score reads votes from the
/// chains, which every node agrees on up to a cut, not from gossip.
async fn chain_vote(ctx: &Ctx, epoch: u64) {
    let epoch_ms = ctx.cadence.epoch_ms.max(1);
    let chain = ctx.chain.clone();
    let appended = ctx
        .tasks
        .spawn_blocking(move || -> Result<[u8; 32], String> {
            let cut = epoch.saturating_add(1).saturating_mul(epoch_ms);
            let heads = chain.ledger().heads_before(cut).map_err(|e| e.to_string())?;
            let digest = heads_digest(&heads);
            // Kept: the ladder reads the cycle's table from the heads the
            // majority voted for, whatever reaches this node below the cut later.
            chain
                .ledger()
                .record_voted_heads(epoch, &heads)
                .map_err(|e| e.to_string())?;
            let intent = Intent::Raw {
                action: Action::Checkpoint { epoch, heads: digest },
                transfers: Vec::new(),
                proof: None,
            };
            chain
                .append(Draft::new(intent, crate::ledger::now_ms()))
                .map_err(|e| e.to_string())?;
            Ok(digest)
        })
        .await;
    match appended {
        Ok(Ok(digest)) => {
            tracing::info!(event = "chain_vote", epoch, heads = %hex::encode(digest), "checkpoint vote recorded in the own chain");
        }
        Ok(Err(e)) => tracing::warn!(epoch, "cannot record the checkpoint vote in the own chain: {e}"),
        Err(e) => tracing::error!(epoch, "checkpoint vote task: {e}"),
    }
}

/// Moves the ladder by the closed `cycle` and shows its GI table (the one
/// the ladder read) and the standings in the view.
async fn score(ctx: &Ctx, cycle: u64) {
    let epoch_ms = ctx.cadence.epoch_ms.max(1);
    // The ladder moves once per closed cycle; a node behind (new, or back
    // after a stop) catches up a bounded number of cycles per epoch, and
    // shows nothing new until it has.
    let rules = ctx.cadence.ladder;
    let decisions = ctx.decisions.clone();
    let scored = ctx
        .blocking(move |l| -> Result<Option<_>, ippoc_economy::store::LedgerError> {
            // Cycles before the genesis have no members to score.
            if cycle < l.first_cycle(epoch_ms) {
                return Ok(None);
            }
            l.close_cycle(cycle, epoch_ms, &rules, decisions.as_ref())
        })
        .await;
    let (table, standings) = match scored {
        Some(Ok(Some(s))) => s,
        Some(Ok(None)) => {
            if let Some((epoch, digest)) = ctx.ledger.take_wanted_cut() {
                fetch_voted_heads(ctx, epoch, digest);
            }
            return;
        }
        None => return,
        Some(Err(e)) => {
            tracing::warn!(cycle, "cannot score the closed cycle: {e}");
            return;
        }
    };
    let own = table.rows.iter().find(|r| r.node == ctx.owner).map(|r| r.gi);
    tracing::info!(
        event = "gi_table", cycle, members = table.rows.len(), swarm_gi = ?table.swarm_gi, own = ?own,
        digest = %hex::encode(table.digest), "integrity scores of a closed cycle"
    );
    if let Some(own) = standings.of(&ctx.owner)
        && let Some(step) = own.record.last().filter(|st| st.cycle == cycle)
    {
        tracing::warn!(event = "standing_step", cycle, step = ?step.kind, gi = step.gi, "this node's standing changed");
    }
    super::mint::after_close(ctx, cycle);
    ctx.view.update(|v| {
        v.gi_digests.push((cycle, hex::encode(table.digest)));
        let excess = v.gi_digests.len().saturating_sub(GI_DIGESTS_KEPT);
        v.gi_digests.drain(..excess);
        v.gi = Some(table);
        v.standings = Some(standings);
    });
}

/// Asks the connected peers, one after another, for the heads a majority
/// voted for as the cut of `epoch` (`digest`), which this node cannot name,
/// and keeps the first that hold (the ledger checks the digest and that it
/// holds every entry up to them). The next epoch tick scores with them.
fn fetch_voted_heads(ctx: &Ctx, epoch: u64, digest: [u8; 32]) {
    let peers: Vec<ippoc_mesh::PeerId> = ctx
        .view
        .read(|v| v.peers.iter().filter_map(|p| p.parse().ok()).collect());
    let (client, ledger) = (ctx.client.clone(), ctx.ledger.clone());
    ctx.spawn(async move {
        for peer in peers {
            let request = crate::protocol::SyncRequest::VotedHeads { epoch, digest };
            let Ok((crate::protocol::SyncResponse::VotedHeads(Some(heads)), _)) =
                crate::protocol::ask(&client, peer, &request).await
            else {
                continue;
            };
            let l = ledger.clone();
            let adopted = tokio::task::spawn_blocking(move || l.adopt_voted_heads(epoch, &heads, digest)).await;
            if let Ok(Ok(true)) = adopted {
                tracing::info!(event = "agreed_cut_fetched", epoch, %peer, "took the cut the swarm voted for from a peer");
                return;
            }
        }
        tracing::debug!(epoch, digest = %hex::encode(digest), "no peer sent the agreed cut this node lacks");
    });
}

/// Epochs whose checkpoint votes are kept for the tally (the current one and two before).
const VOTE_EPOCHS_KEPT: u64 = 3;
/// Votes kept for one epoch, at most (one per issuer).
const VOTES_PER_EPOCH_MAX: usize = 1 << 16;
/// Own roots kept, one per recent epoch.
const ROOTS_KEPT: usize = 16;

/// The checkpoint and anchor-vote handler.
pub(crate) struct Checkpoints {
    /// The epoch the node is in (as of its last tick).
    epoch: u64,
    /// This node's state root at the end of each recent epoch; at most
    /// [`ROOTS_KEPT`], oldest dropped.
    roots: BTreeMap<u64, [u8; 32]>,
    /// Votes heard by epoch, until the epoch's tally is written: at most
    /// [`VOTE_EPOCHS_KEPT`] epochs of at most [`VOTES_PER_EPOCH_MAX`] votes
    /// (one per issuer); votes for other epochs are not kept.
    votes: BTreeMap<u64, HashMap<NodeId, [u8; 32]>>,
    /// Per-epoch anchoring (a node that follows a DAO with an EVM key).
    anchoring: Option<Anchoring>,
}

impl Checkpoints {
    /// Starting in the epoch of now.
    pub fn new(ctx: &Ctx, anchoring: Option<Anchoring>) -> Checkpoints {
        Checkpoints {
            epoch: ctx.epoch_of(crate::ledger::now_ms()),
            roots: BTreeMap::new(),
            votes: BTreeMap::new(),
            anchoring,
        }
    }

    /// The epoch tick: if an epoch ended, vote on it, tally the epoch before
    /// (the observations to write) and cast the anchor vote of the epoch
    /// before that.
    pub async fn tick(&mut self, ctx: &Ctx, state_root: [u8; 32], entries: u64) -> Vec<Observation> {
        let epoch = ctx.epoch_of(crate::ledger::now_ms());
        if epoch <= self.epoch {
            return Vec::new();
        }
        let ended = epoch - 1;
        self.roots.insert(ended, state_root);
        while self.roots.len() > ROOTS_KEPT {
            self.roots.pop_first();
        }
        // Votes for an epoch arrive during the next one: tally the epoch before.
        let observations = self.tally(ended);
        let vote = Claim::Checkpoint {
            epoch: ended,
            state_root,
            entries,
        };
        if ctx.publish(Topic::Attestations, vote).await {
            tracing::info!(event = "checkpoint_vote", epoch = ended, root = %hex::encode(state_root), "checkpoint vote");
        }
        // The heads of an epoch are voted one epoch after it ended: its
        // entries have had that long to reach every node.
        if let Some(covered) = ended.checked_sub(1) {
            self.anchor_vote(ctx, covered).await;
            chain_vote(ctx, covered).await;
        }
        // A cycle's votes are in the chains cut at the end of the epoch two
        // after it; that cut has had one epoch to reach every node, and the
        // votes on the cut one more (the ladder scores it only once a
        // majority voted for the heads this node holds).
        if let Some(cycle) = epoch.checked_sub(GI_CLOSE_EPOCHS) {
            score(ctx, cycle).await;
        }
        self.epoch = epoch;
        observations
    }

    /// The tally of every epoch before `current` whose votes were heard;
    /// those votes are forgotten.
    fn tally(&mut self, current: u64) -> Vec<Observation> {
        let mut out = Vec::new();
        while let Some(entry) = self.votes.first_entry() {
            if *entry.key() >= current {
                break;
            }
            let (epoch, votes) = entry.remove_entry();
            let Some(own) = self.roots.get(&epoch) else {
                continue;
            };
            let mut dissenters: Vec<String> = votes
                .iter()
                .filter(|(_, root)| *root != own)
                .map(|(node, _)| node.to_string())
                .collect();
            dissenters.sort();
            out.push(Observation {
                epoch,
                state_root: hex::encode(own),
                agree: (votes.len() - dissenters.len()) as u32,
                disagree: dissenters.len() as u32,
                dissenters: dissenters.into_iter().take(OBSERVED_DISSENTERS_MAX).collect(),
            });
        }
        out
    }

    /// Records the heads of `epoch` (cut at its end), co-signs their Merkle
    /// root for the L2 and gossips the co-signature.
    async fn anchor_vote(&mut self, ctx: &Ctx, epoch: u64) {
        let Some(anchoring) = self.anchoring.clone() else {
            return;
        };
        let epoch_ms = ctx.cadence.epoch_ms.max(1);
        match ctx.blocking(move |l| anchoring.vote(l, epoch, epoch_ms)).await {
            Some(Ok(Some((root, sig)))) => {
                let Ok(signature) = <[u8; 65]>::try_from(sig.signature.as_ref()) else {
                    tracing::error!("a checkpoint co-signature is not 65 bytes");
                    return;
                };
                let claim = Claim::AnchorVote {
                    epoch,
                    root: root.0,
                    signer: sig.signer.into_array(),
                    signature,
                };
                if ctx.publish(Topic::Attestations, claim).await {
                    tracing::info!(event = "anchor_vote", epoch, %root, signer = %sig.signer, "co-signed the heads root");
                }
            }
            Some(Ok(None)) | None => {}
            Some(Err(e)) => tracing::warn!(epoch, error = %e, "cannot cast the anchor vote"),
        }
    }

    /// A checkpoint vote heard.
    pub fn heard_vote(&mut self, issuer: NodeId, epoch: u64, state_root: [u8; 32]) {
        // Only recent epochs, one vote per issuer: memory stays bounded
        // whatever epochs a peer claims.
        if epoch + VOTE_EPOCHS_KEPT > self.epoch && epoch <= self.epoch {
            let votes = self.votes.entry(epoch).or_default();
            if votes.len() < VOTES_PER_EPOCH_MAX {
                votes.insert(issuer, state_root);
            }
        }
    }

    /// An anchor co-signature heard; the anchor book judges it.
    pub fn heard_anchor_vote(
        &self,
        issuer: NodeId,
        epoch: u64,
        root: [u8; 32],
        signer: [u8; 20],
        signature: &[u8; 65],
    ) {
        if let Some(a) = &self.anchoring {
            let signer = ippoc_governance_bridge::Address::from(signer);
            if let Err(e) = a.book.heard(issuer, epoch, root.into(), signer, signature, self.epoch) {
                tracing::debug!(issuer = %issuer, epoch, error = %e, "anchor vote not counted");
            }
        }
    }
}
