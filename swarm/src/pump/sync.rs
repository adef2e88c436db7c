//! When anti-entropy runs: with every peer that connects (first contact, a
//! restart, a healed partition) and every sync interval with one connected
//! peer in turn; one round per peer at a time. The rounds themselves are
//! `crate::sync`: chains, then the swarm document.

use std::collections::HashMap;

use ippoc_mesh::PeerId;
use tokio::sync::mpsc;

use super::ctx::Ctx;
use crate::bounded::{ClaimSet, FifoSet};
use crate::doc::SharedSwarmDoc;
use crate::sync::{SyncError, SyncReport};

/// A finished round, sent back to the pump.
pub(crate) type Finished = (PeerId, Result<SyncReport, SyncError>);

/// The sync scheduler.
pub(crate) struct Syncing {
    /// Connected peers, in connection order; bounded by the mesh's
    /// connection limit (`connections_max`).
    connected: Vec<PeerId>,
    /// Whose turn the next periodic round is.
    turn: usize,
    /// Peers with a round running, and why it runs: a subset of those ever
    /// connected, each removed when its round reports back.
    running: HashMap<PeerId, &'static str>,
    /// When the last round started because a heartbeat showed this node
    /// behind ([`Self::behind`]): one such round per attestation interval.
    behind_at: Option<tokio::time::Instant>,
    /// Where rounds report.
    done: mpsc::Sender<Finished>,
    /// Whether a chase (chains gossip showed ahead) runs; one at a time.
    chasing: bool,
    /// Where a chase reports.
    chased: mpsc::Sender<SyncReport>,
    /// Peers with a document sync running. A round reports back when its
    /// chains are done and leaves the document to a sync of its own: the
    /// document took most of a round's time after a heal (p50 10.6 s of
    /// 11.9 s in `all` at 100 nodes), and while it ran no new round could
    /// start with that peer, so chains gossip had missed waited for it. At
    /// most one per peer (Automerge keeps one sync state per peer), so
    /// bounded by the connected peers.
    doc_running: ClaimSet<PeerId>,
    /// Peers that do not speak the sync protocol (other implementations):
    /// not asked again, and warned about once. At most
    /// [`SYNC_UNSUPPORTED_REMEMBERED`], the oldest forgotten first (then
    /// asked once more).
    unsupported: FifoSet<PeerId>,
}

/// Peers without the sync protocol remembered, at most.
pub const SYNC_UNSUPPORTED_REMEMBERED: usize = 1024;

/// How often chains gossip showed to be ahead are fetched: often enough that
/// a chain dropped over its actor's rate moves at that rate, hop by hop.
pub const CHASE_INTERVAL: std::time::Duration = std::time::Duration::from_millis(500);

/// Chains fetched in one chase, at most (in turn, one peer each).
pub const CHASES_PER_TURN: usize = 32;

/// How long one chain's chase may take: far below the request timeout, so
/// a peer that never answers holds a chase up for this long per chain only.
pub const CHASE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

impl Syncing {
    /// A scheduler whose rounds report on `done`, and chases on `chased`.
    pub fn new(done: mpsc::Sender<Finished>, chased: mpsc::Sender<SyncReport>) -> Syncing {
        Syncing {
            connected: Vec::new(),
            turn: 0,
            running: HashMap::new(),
            behind_at: None,
            done,
            chasing: false,
            chased,
            doc_running: ClaimSet::new(usize::MAX),
            unsupported: FifoSet::new(SYNC_UNSUPPORTED_REMEMBERED),
        }
    }

    /// A peer connected: show it and sync with it.
    pub fn connected(&mut self, ctx: &Ctx, doc: &SharedSwarmDoc, peer: PeerId) {
        tracing::info!(event = "peer_connected", %peer, "peer connected");
        self.connected.push(peer);
        ctx.view.update(|v| {
            v.peers.push(peer.to_string());
            v.peers.sort();
            v.peers.dedup();
        });
        self.start(ctx, doc, peer, "connect");
    }

    /// A peer went (disconnected or banned).
    pub fn gone(&mut self, ctx: &Ctx, peer: PeerId) {
        self.connected.retain(|p| *p != peer);
        ctx.view.update(|v| v.peers.retain(|p| *p != peer.to_string()));
    }

    /// The periodic round: the next connected peer, in turn.
    pub fn next(&mut self, ctx: &Ctx, doc: &SharedSwarmDoc) {
        if self.connected.is_empty() {
            return;
        }
        self.turn = (self.turn + 1) % self.connected.len();
        let peer = self.connected[self.turn];
        self.start(ctx, doc, peer, "turn");
    }

    /// A heartbeat showed this node behind its issuer: a round now with the
    /// issuer if connected, else with `relay`, the peer that passed the
    /// heartbeat on, instead of waiting for the periodic turn (which in a
    /// swarm of many peers comes to each every few intervals). At most one
    /// such round per attestation interval, so heartbeats cannot make a
    /// node sync without pause; a node still behind is pulled again at the
    /// next heartbeat, until it has caught up.
    pub fn behind(&mut self, ctx: &Ctx, doc: &SharedSwarmDoc, issuer: Option<PeerId>, relay: PeerId) {
        let now = tokio::time::Instant::now();
        if self.behind_at.is_some_and(|at| now < at + ctx.cadence.attest_interval) {
            return;
        }
        let peer = issuer.filter(|p| self.connected.contains(p)).unwrap_or(relay);
        if !self.connected.contains(&peer) {
            return;
        }
        if self.start(ctx, doc, peer, "behind") {
            self.behind_at = Some(now);
            ctx.view.update(|v| v.stats.sync_behind += 1);
        }
    }

    /// Starts a round with `peer` unless one runs; true if it started.
    fn start(&mut self, ctx: &Ctx, doc: &SharedSwarmDoc, peer: PeerId, why: &'static str) -> bool {
        if self.unsupported.contains(&peer) || self.running.contains_key(&peer) {
            return false;
        }
        self.running.insert(peer, why);
        let (client, ledger, done, doc) = (ctx.client.clone(), ctx.ledger.clone(), self.done.clone(), doc.clone());
        let (limits, doc_running) = (ctx.limits.clone(), self.doc_running.clone());
        ctx.spawn(async move {
            let begun = tokio::time::Instant::now();
            let result = crate::sync::ledger::sync_with(&client, &ledger, &limits, peer).await;
            let chains_ms = begun.elapsed().as_millis() as u64;
            // A peer that lacks the protocol lacks it for the document too.
            let unsupported = result.as_ref().is_err_and(SyncError::unsupported);
            let _ = done.send((peer, result)).await;
            if unsupported {
                return;
            }
            let Some(_running) = doc_running.claim(peer) else {
                return;
            };
            let doc_begun = tokio::time::Instant::now();
            if let Err(e) = crate::sync::doc::doc_sync_with(&client, &doc, peer).await {
                tracing::warn!(event = "doc_sync_failed", %peer, "swarm document sync failed: {e}");
            }
            tracing::debug!(
                event = "sync_timing", %peer, why, chains_ms, doc_ms = doc_begun.elapsed().as_millis() as u64,
                "a sync round's time: its chains, then the swarm document"
            );
        });
        true
    }

    /// Fetches the chains gossip showed to be ahead of this node, each from
    /// the peer that showed it, as their actors' rates allow: the periodic
    /// round reaches one peer per interval, so in a large swarm a chain
    /// that gossip dropped over its rate would take that many intervals to
    /// come; chased, it comes at its rate.
    pub fn chase(&mut self, ctx: &Ctx) {
        if self.chasing {
            return;
        }
        let due = ctx.limits.chases(CHASES_PER_TURN);
        if due.is_empty() {
            return;
        }
        self.chasing = true;
        let (client, ledger, limits, chased) = (
            ctx.client.clone(),
            ctx.ledger.clone(),
            ctx.limits.clone(),
            self.chased.clone(),
        );
        ctx.spawn(async move {
            // In turn (all at once made 60 simulated nodes' honest latency
            // twice as bad), each bounded: a peer that never answers holds
            // a chase up for this long, not for a request timeout.
            let mut report = SyncReport::default();
            for chain in due {
                let before = report.entries;
                let fetch = crate::sync::ledger::chase(&client, &ledger, &limits, chain, &mut report);
                match tokio::time::timeout(CHASE_TIMEOUT, fetch).await {
                    Ok(Ok(true)) => limits.behind(chain.0, chain.1, chain.2),
                    Ok(Ok(false)) => {}
                    // The peer went or answered badly (counted there): the
                    // periodic rounds take the chain from others.
                    Ok(Err(e)) => tracing::debug!(peer = %chain.1, actor = %chain.0, "chase stopped: {e}"),
                    // Slow but bringing entries (a busy peer): again next
                    // turn; silent (a peer that never answers): forgotten.
                    Err(_) if report.entries > before => limits.behind(chain.0, chain.1, chain.2),
                    Err(_) => tracing::debug!(peer = %chain.1, actor = %chain.0, "chase timed out"),
                }
            }
            let _ = chased.send(report).await;
        });
    }

    /// A chase reported back; true if it fetched entries that revealed a fork.
    pub fn chased(&mut self, ctx: &Ctx, r: SyncReport) -> bool {
        self.chasing = false;
        ctx.view.update(|v| {
            v.stats.chased_entries += r.entries;
            count_fetched(&mut v.stats, &r);
        });
        r.forks > 0
    }

    /// A round reported back; true if it fetched entries that revealed a fork.
    pub fn finished(&mut self, ctx: &Ctx, peer: PeerId, result: Result<SyncReport, SyncError>) -> bool {
        let why = self.running.remove(&peer).unwrap_or("turn");
        let attempt = crate::view::SyncAttempt {
            peer: peer.to_string(),
            why: why.into(),
            at_ms: crate::ledger::now_ms(),
            entries: result.as_ref().map_or(0, |r| r.entries),
            error: result.as_ref().err().map(ToString::to_string),
        };
        ctx.view.update(|v| {
            v.sync_recent.push_back(attempt);
            while v.sync_recent.len() > crate::view::SYNC_RECENT_KEPT {
                v.sync_recent.pop_front();
            }
        });
        match result {
            Ok(r) => {
                tracing::info!(
                    event = "sync_done", %peer, why, entries = r.entries, bytes = r.bytes, missing_bytes = r.missing_bytes,
                    requests = r.requests, throttled = r.throttled, slowest_ms = r.slowest_ms, "anti-entropy sync finished"
                );
                ctx.view.update(|v| {
                    v.stats.sync_rounds += 1;
                    count_fetched(&mut v.stats, &r);
                });
                r.forks > 0
            }
            Err(e) if e.unsupported() => {
                if self.unsupported.insert(peer) {
                    tracing::warn!(
                        event = "sync_unsupported", %peer,
                        "the peer does not speak the sync protocol: gossip only, not asked again"
                    );
                }
                false
            }
            Err(e) => {
                tracing::warn!(event = "sync_failed", %peer, "anti-entropy sync failed: {e}");
                ctx.view.update(|v| {
                    v.stats.sync_failed += 1;
                    v.sync_last_error = Some(format!("{peer}: {e}"));
                });
                false
            }
        }
    }
}

/// Adds what a round or a chase fetched to the sync counters (a chase is
/// sync too, from the peer that showed the chain).
fn count_fetched(stats: &mut crate::view::MeshStats, r: &SyncReport) {
    stats.sync_entries += r.entries;
    stats.sync_bytes += r.bytes;
    stats.sync_missing_bytes += r.missing_bytes;
    stats.sync_throttled += r.throttled;
}
