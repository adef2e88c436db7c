//! Warrants and bans.
//!
//! Equivocation: whenever the ledger holds fork evidence this node has not
//! warranted yet (found by gossip, by sync, or at start), the node gossips a
//! warrant carrying both signed versions and bans the forker. A node that
//! receives a warrant checks the evidence itself (the validator), stores both
//! versions in its ledger, where the fork rule applies, and bans the forker
//! too: it never has to trust the reporter, and an honest node cannot be
//! framed because entries it did not sign do not verify.
//!
//! Bans — from the mesh's Trust Manager (forgeries, repeated invalid
//! messages) or asked for on a warrant's evidence — are persisted before
//! they are announced, so they survive a restart.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;

use ippoc_economy::attestation::Evidence;
use ippoc_economy::{Claim, NodeId, Warrant};
use ippoc_mesh::{PeerId, Topic};
use sha2::Digest;

use super::ctx::Ctx;
use crate::bounded::FifoSet;
use crate::view::{self, Ban};

/// Forks remembered as warranted, at most. Past it the oldest is forgotten
/// and may be warranted once more; a sweep issues at most
/// [`WARRANTS_PER_SWEEP_MAX`], so a flood of forks cannot flood the mesh.
pub(crate) const WARRANTED_MAX: usize = 65_536;
/// New warrants one sweep issues, at most; the rest wait for the next sweep.
pub(crate) const WARRANTS_PER_SWEEP_MAX: usize = 64;
/// Evidence hashes of bans asked for and not yet reported done, at most
/// (the oldest goes: its ban record then carries no evidence hash).
pub(crate) const BAN_EVIDENCE_MAX: usize = 1024;

/// The warrant and ban handler.
pub(crate) struct Warrants {
    /// Where bans are kept across restarts.
    bans_path: PathBuf,
    /// Forks already warranted, by this node or by a warrant it received;
    /// at most [`WARRANTED_MAX`], oldest forgotten.
    warranted: FifoSet<(NodeId, u64)>,
    /// Hash of the warrant behind each ban this node asked for, until the
    /// mesh reports the ban; at most [`BAN_EVIDENCE_MAX`], oldest dropped.
    evidence: HashMap<PeerId, String>,
    evidence_order: VecDeque<PeerId>,
}

impl Warrants {
    /// The handler persisting bans at `bans_path`.
    pub fn new(bans_path: PathBuf) -> Warrants {
        Warrants {
            bans_path,
            warranted: FifoSet::new(WARRANTED_MAX),
            evidence: HashMap::new(),
            evidence_order: VecDeque::new(),
        }
    }

    /// Warrants forks in the ledger not warranted yet (at most
    /// [`WARRANTS_PER_SWEEP_MAX`] per sweep).
    pub async fn sweep(&mut self, ctx: &Ctx) {
        let Some(Ok(forks)) = ctx.blocking(|l| l.forks()).await else {
            return;
        };
        let mut issued = 0;
        for fork in forks {
            if issued == WARRANTS_PER_SWEEP_MAX {
                break;
            }
            if fork.entries.len() < 2 || self.warranted.contains(&(fork.actor, fork.seq)) {
                continue;
            }
            let mut versions = fork.entries.into_iter();
            let (Some(a), Some(b)) = (versions.next(), versions.next()) else {
                continue;
            };
            let warrant = Warrant {
                subject: fork.actor,
                evidence: Evidence::Equivocation { a, b },
            };
            self.warranted.insert((fork.actor, fork.seq));
            issued += 1;
            tracing::warn!(event = "warrant_issued", subject = %fork.actor, seq = fork.seq, "fork found: warrant gossiped");
            if ctx
                .publish(Topic::Warrants, Claim::Warrant(Box::new(warrant.clone())))
                .await
            {
                ctx.view.update(|v| v.stats.warrants_sent += 1);
            }
            self.ban_forker(ctx, &warrant).await;
        }
    }

    /// A warrant the validator accepted (its evidence holds).
    pub async fn received(&mut self, ctx: &Ctx, warrant: Warrant, issuer: NodeId, from: PeerId) {
        let Evidence::Equivocation { a, b } = warrant.evidence.clone();
        let (subject, seq) = (warrant.subject, a.body.seq);
        tracing::warn!(event = "warrant_received", subject = %subject, seq, issuer = %issuer, %from, "warrant received");
        ctx.view.update(|v| v.stats.warrants_received += 1);
        self.warranted.insert((subject, seq));
        // The evidence goes into the ledger, where the fork rule decides what counts.
        match ctx.blocking(move |l| l.ingest(vec![a, b])).await {
            Some(Ok(outcomes)) => tracing::info!(subject = %subject, ?outcomes, "warrant evidence stored"),
            Some(Err(e)) => tracing::error!(subject = %subject, "could not store warrant evidence: {e}"),
            None => {}
        }
        self.ban_forker(ctx, &warrant).await;
    }

    async fn ban_forker(&mut self, ctx: &Ctx, warrant: &Warrant) {
        if warrant.subject == ctx.owner {
            // Evidence signed with this node's key that it did not make: the key leaked.
            tracing::error!(
                event = "own_key_equivocation",
                "a valid warrant names this node: its key is compromised"
            );
            return;
        }
        let Some(peer) = ippoc_mesh::peer_id_of_ed25519(warrant.subject.as_bytes()) else {
            return;
        };
        // The evidence's fingerprint: the same on every node that holds it.
        let evidence = sha2::Sha256::digest(ippoc_economy::encoding::encode(warrant));
        if self.evidence.insert(peer, hex::encode(evidence)).is_none() {
            self.evidence_order.push_back(peer);
        }
        while self.evidence_order.len() > BAN_EVIDENCE_MAX {
            if let Some(oldest) = self.evidence_order.pop_front() {
                self.evidence.remove(&oldest);
            }
        }
        if let Err(e) = ctx.client.ban(peer, warrant.offence()).await {
            tracing::warn!(%peer, "could not ban: {e}");
        }
    }

    /// The mesh banned `peer`: persist the ban, show it, and give back the
    /// hash of the warrant behind it, if this node asked for it.
    pub fn banned(&mut self, ctx: &Ctx, peer: PeerId, reason: &str) -> String {
        // Persist first: the log line announces a ban that survives a restart.
        if let Err(e) = view::record_ban(&self.bans_path, peer, reason) {
            tracing::error!("could not persist the ban of {peer}: {e}");
        }
        ctx.view.update(|v| {
            v.peers.retain(|p| *p != peer.to_string());
            v.banned.push(Ban {
                peer: peer.to_string(),
                reason: reason.to_string(),
                at_ms: crate::ledger::now_ms(),
            });
            let excess = v.banned.len().saturating_sub(ippoc_mesh::mesh::BANS_MAX);
            v.banned.drain(..excess);
        });
        tracing::warn!(event = "peer_banned", %peer, %reason, "peer banned");
        self.evidence_order.retain(|p| *p != peer);
        self.evidence.remove(&peer).unwrap_or_default()
    }
}
