//! The pump: the node's side of the mesh, a small dispatcher over one
//! handler per concern. Mesh events, appends to the own chain, finished sync
//! rounds and the timers (attestation, sync, chase, document unload) go to the handlers
//! they concern; handlers keep their own state, each collection with a
//! bound written beside it.
//!
//! | handler       | file             | concern |
//! |---------------|------------------|---------|
//! | `Entries`     | `entries.rs`     | publishing the own chain, storing peers' entries in batches |
//! | `Attest`      | `attest.rs`      | heartbeats, receipts, heartbeats heard |
//! | `Checkpoints` | `checkpoints.rs` | checkpoint votes and tallies, anchor co-signatures |
//! | `Bounties`    | `bounties.rs`    | the bounty market |
//! | `Warrants`    | `warrants.rs`    | forks to warrants, warrants heard, bans |
//! | `Document`    | `document.rs`    | this node's writes to the swarm document |
//! | `Syncing`     | `sync.rs`        | when anti-entropy runs, and with whom |
//! | (mint)        | `mint.rs`        | minting the own sealed tranches when a closed cycle opens the mint |

mod attest;
mod bounties;
mod checkpoints;
mod ctx;
mod document;
mod entries;
mod mint;
mod sync;
mod warrants;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use ippoc_economy::{Attestation, Claim};
use ippoc_mesh::{Keypair, Mesh, MeshClient, MeshConfig, MeshEvent, PeerId, Topic};
use tokio::sync::{mpsc, oneshot};
use tokio_util::task::TaskTracker;

use crate::Error;
use crate::bounded::FifoSet;
use crate::doc::SharedSwarmDoc;
use crate::limits::{ActorLimits, ActorRates};
use crate::validator::{LedgerValidator, VerifiedEntries};
use crate::view::{SharedMeshView, read_bans};

use attest::Attest;
use bounties::Bounties;
use checkpoints::Checkpoints;
use ctx::Ctx;
use document::Document;
use entries::Entries;
use sync::Syncing;
use warrants::Warrants;

/// How often the node attests and syncs on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cadence {
    /// Heartbeat and receipt period.
    pub attest_interval: Duration,
    /// Periodic anti-entropy sync period (one peer per tick, in turn).
    pub sync_interval: Duration,
    /// Checkpoint epoch length, ms.
    pub epoch_ms: u64,
    /// What one actor may put through this node per second.
    pub limits: ActorRates,
    /// The ladder's durations and thresholds (docs/integrity.md,
    /// "Standing"). Every node of a swarm must use the same: the daemon
    /// takes the defaults; tests and the simulator shorten them.
    pub ladder: ippoc_economy::standing::LadderRules,
}

/// What the mesh side of a node works with (filled by `NodeBuilder`).
pub(crate) struct MeshParts {
    /// The node's own chain: its ledger, and the key that signs attestations
    /// and is its libp2p identity; appends through it wake the pump.
    pub chain: crate::OwnChain,
    /// Where bans are kept across restarts.
    pub bans_path: PathBuf,
    /// The view to keep up to date.
    pub view: SharedMeshView,
    /// The swarm document (membership, bans, observations, parameters).
    pub doc: SharedSwarmDoc,
    /// This machine's fingerprint hash (hex) for the directory; empty in process.
    pub fingerprint: String,
    /// The sandbox bounty work runs in (none: the node neither works nor checks results).
    pub sandbox: Option<Arc<ippoc_sandbox::Sandbox>>,
    /// The node's own open bounty offers.
    pub board: crate::bounty::SharedBoard,
    /// Take bounties even when solvent (a node in Worker Mode always does).
    pub work_bounties: bool,
    /// The skill modules this node serves to peers that fetch them by hash.
    pub skills: crate::skills::SkillStore,
    /// Per-epoch anchoring on the L2 (only a node that follows the DAO).
    pub anchoring: Option<crate::anchor::Anchoring>,
    /// The DAO's ladder decisions (promotions, appeals) as far as read:
    /// [`ippoc_economy::standing::NoDao`] for a node that follows none.
    pub decisions: Arc<dyn ippoc_economy::standing::Decisions>,
}

/// The running mesh of a node.
pub(crate) struct MeshRuntime {
    /// This node's libp2p PeerId (from the same Ed25519 key as its NodeID).
    pub peer_id: PeerId,
    /// A handle on the mesh (dial, partition control).
    pub client: MeshClient,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl MeshRuntime {
    /// Stops the pump and the mesh, and waits for both and for every task
    /// the pump started: when this returns, nothing of them holds the ledger.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

/// The libp2p key of a node: its identity key.
fn libp2p_key(key: &SigningKey) -> Result<Keypair, Error> {
    let mut secret = key.to_bytes();
    Keypair::ed25519_from_bytes(&mut secret).map_err(|e| Error::Mesh(e.to_string()))
}

/// Starts the mesh and its pump on the current tokio runtime. Bans recorded
/// in `parts.bans_path` are applied before the first connection.
pub(crate) fn start(parts: MeshParts, mut config: MeshConfig, cadence: Cadence) -> Result<MeshRuntime, Error> {
    let key = libp2p_key(parts.chain.key())?;
    let bans = read_bans(&parts.bans_path)?;
    config.banned = bans.iter().filter_map(|b| b.peer.parse().ok()).collect();
    tracing::info!(event = "bans_loaded", bans = config.banned.len(), "ban list loaded");
    parts.view.update(|v| {
        v.enabled = true;
        v.banned = bans;
    });
    let ledger = parts.chain.ledger().clone();
    let verified = Arc::new(VerifiedEntries::default());
    let limits = Arc::new(ActorLimits::new(cadence.limits));
    let validator = Arc::new(LedgerValidator {
        ledger: ledger.clone(),
        verified: verified.clone(),
        limits: limits.clone(),
    });
    let responder = Arc::new(crate::responder::Responder {
        ledger,
        doc: parts.doc.clone(),
        skills: parts.skills.clone(),
        chain: parts.chain.clone(),
    });
    let mesh = Mesh::start(key, config, validator, responder).map_err(|e| Error::Mesh(e.to_string()))?;
    let (peer_id, client) = (mesh.peer_id(), mesh.client());
    parts.view.update(|v| v.peer_id = Some(peer_id.to_string()));
    let (stop, stopped) = oneshot::channel();
    let task = tokio::spawn(run(mesh, parts, verified, limits, cadence, stopped));
    Ok(MeshRuntime {
        peer_id,
        client,
        stop: Some(stop),
        task: Some(task),
    })
}

/// The dispatcher and its handlers.
struct Pump {
    ctx: Ctx,
    entries: Entries,
    attest: Attest,
    checkpoints: Checkpoints,
    bounties: Bounties,
    warrants: Warrants,
    document: Document,
    sync: Syncing,
    /// Peers whose rejected gossip was logged at warn, at most
    /// [`REJECTED_PEERS_LOGGED`] (the oldest forgotten: warned about again).
    rejected_peers: FifoSet<PeerId>,
}

/// Mesh events the pump handles in one turn of its loop, at most, before it
/// looks at its ticks and its stop signal again.
pub const EVENTS_PER_TURN_MAX: usize = 1024;

/// Peers remembered as warned about for rejected gossip.
pub const REJECTED_PEERS_LOGGED: usize = 1024;

async fn run(
    mut mesh: Mesh,
    parts: MeshParts,
    verified: Arc<VerifiedEntries>,
    limits: Arc<ActorLimits>,
    cadence: Cadence,
    mut stopped: oneshot::Receiver<()>,
) {
    let (_, idle) = mpsc::channel(1);
    let mut events = std::mem::replace(&mut mesh.events, idle);
    // Finished rounds, at most one per connected peer in flight.
    let (sync_done, mut sync_results) = mpsc::channel(64);
    // A finished chase: one runs at a time.
    let (chase_done, mut chase_results) = mpsc::channel(1);
    let ledger = parts.chain.ledger().clone();
    let ctx = Ctx {
        client: mesh.client(),
        peer_id: mesh.peer_id(),
        owner: ledger.owner(),
        chain: parts.chain.clone(),
        ledger,
        view: parts.view,
        limits,
        cadence,
        tasks: TaskTracker::new(),
        decisions: parts.decisions,
    };
    // Gossip carries what is new from now on; history travels by sync.
    let published = ctx
        .blocking(|l| l.head(&l.owner()).ok().flatten().map_or(0, |(s, _)| s + 1))
        .await
        .unwrap_or(0);
    let mut pump = Pump {
        entries: Entries::new(published, verified),
        attest: Attest::new(),
        checkpoints: Checkpoints::new(&ctx, parts.anchoring),
        bounties: Bounties::new(parts.sandbox, parts.board, parts.work_bounties),
        warrants: Warrants::new(parts.bans_path),
        document: Document::new(parts.doc, parts.fingerprint),
        sync: Syncing::new(sync_done, chase_done),
        rejected_peers: FifoSet::new(REJECTED_PEERS_LOGGED),
        ctx,
    };
    let appended = parts.chain.appended().clone();
    let mut attest = tokio::time::interval(cadence.attest_interval);
    let mut sync = tokio::time::interval(cadence.sync_interval);
    let mut chase = tokio::time::interval(self::sync::CHASE_INTERVAL);
    let mut unload = tokio::time::interval(crate::doc::DOC_IDLE);
    for t in [&mut attest, &mut sync, &mut chase, &mut unload] {
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    }
    // Forks found before a restart are warranted again (bans persist anyway).
    pump.warrants.sweep(&pump.ctx).await;
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            _ = appended.notified() => pump.flush().await,
            _ = attest.tick() => pump.attest_tick().await,
            _ = sync.tick() => pump.sync_tick().await,
            Some((peer, result)) = sync_results.recv() => pump.synced(peer, result).await,
            _ = chase.tick() => pump.sync.chase(&pump.ctx),
            _ = unload.tick() => pump.document.unload_if_idle(),
            Some(report) = chase_results.recv() => {
                pump.show_throttled();
                if pump.sync.chased(&pump.ctx, report) {
                    pump.warrants.sweep(&pump.ctx).await;
                }
            }
            event = events.recv() => match event {
                None => break,
                Some(e) => {
                    let mut full = pump.on_event(e).await;
                    // Whatever else is already queued joins the same ledger
                    // batch, up to a bound: a mesh that never runs dry (a
                    // flood) must not keep the loop from its ticks and from
                    // a stop, which the next turn of the select sees.
                    let mut drained = 0;
                    while drained < EVENTS_PER_TURN_MAX
                        && let Ok(e) = events.try_recv()
                    {
                        drained += 1;
                        full |= pump.on_event(e).await;
                        if full {
                            pump.store_entries().await;
                            full = false;
                        }
                    }
                    pump.store_entries().await;
                }
            },
        }
    }
    // Stopped in this order: the mesh first, so the tasks' requests fail at
    // once instead of waiting for peers; the channels they report on closed,
    // so none waits for a pump that no longer reads; then every task is
    // waited for (each awaits its own ledger work), and only then is the
    // document saved, with whatever the last rounds merged into it.
    mesh.stop().await;
    drop((sync_results, chase_results, events));
    pump.ctx.tasks.close();
    pump.ctx.tasks.wait().await;
    pump.document.save(&pump.ctx, true);
}

impl Pump {
    /// The own chain grew (or a peer subscribed): publish it, and any new offer.
    async fn flush(&mut self) {
        self.entries.flush(&self.ctx).await;
        // Offers posted since the last look go out at once; the attestation
        // tick republishes the rest, so an append does not re-gossip them all.
        self.bounties.publish_offers(&self.ctx, false).await;
    }

    /// A sync round finished: warrant what it revealed, and let the signing
    /// guard look at the own chain it may have brought back.
    async fn synced(&mut self, peer: PeerId, result: Result<crate::sync::SyncReport, crate::sync::SyncError>) {
        let ok = result.is_ok();
        if self.sync.finished(&self.ctx, peer, result) {
            self.warrants.sweep(&self.ctx).await;
        }
        if ok {
            let chain = self.ctx.chain.clone();
            match self.ctx.tasks.spawn_blocking(move || chain.synced_with_peer()).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::error!("signing guard: {e}"),
                Err(e) => tracing::error!("signing guard task: {e}"),
            }
        }
    }

    /// The periodic sync tick: the next peer's round, and the waiting
    /// entries that waited too long go (sync brings them again).
    async fn sync_tick(&mut self) {
        self.sync.next(&self.ctx, self.document.shared());
        let now = crate::ledger::now_ms();
        match self.ctx.blocking(move |l| l.expire_pending(now)).await {
            Some(Ok(0)) | None => {}
            Some(Ok(n)) => {
                tracing::info!(
                    event = "pending_expired",
                    expired = n,
                    "entries that waited too long dropped"
                );
                self.ctx.view.update(|v| v.stats.pending_expired += n);
            }
            Some(Err(e)) => tracing::warn!("could not expire waiting entries: {e}"),
        }
        self.show_throttled();
    }

    /// Copies the validator's throttle counts into the view (the validator
    /// runs on the mesh task and counts in atomics, not in the view).
    fn show_throttled(&self) {
        let limits = &self.ctx.limits;
        let (entries, attestations) = (
            limits.entries_throttled.load(std::sync::atomic::Ordering::Relaxed),
            limits.attestations_throttled.load(std::sync::atomic::Ordering::Relaxed),
        );
        self.ctx.view.update(|v| {
            v.stats.entries_throttled = entries;
            v.stats.attestations_throttled = attestations;
        });
    }

    /// Stores the queued entries; receipts and warrants follow from what happened.
    async fn store_entries(&mut self) {
        let stored = self.entries.store(&self.ctx).await;
        self.attest.stored(stored.tx_ids);
        if stored.forked {
            self.warrants.sweep(&self.ctx).await;
        }
    }

    /// The attestation tick.
    async fn attest_tick(&mut self) {
        let state = self
            .ctx
            .blocking(|l| -> Result<_, crate::Error> {
                let entries = l.entries_held().map_err(crate::ledger::ledger_error)?;
                let root = l.state_root().map_err(crate::ledger::ledger_error)?;
                Ok((root, entries))
            })
            .await;
        let Some(Ok((state_root, entries))) = state else {
            return;
        };
        self.attest.tick(&self.ctx, state_root, entries).await;
        for observation in self.checkpoints.tick(&self.ctx, state_root, entries).await {
            self.document.observe(&self.ctx, &observation);
            self.ctx.view.update(|v| v.checkpoint_tally = Some(observation));
        }
        // Sync rounds store forks without telling the pump which; look here too.
        self.warrants.sweep(&self.ctx).await;
        self.document.tick(&self.ctx);
        self.bounties.publish_offers(&self.ctx, true).await;
    }

    /// One mesh event; true when the entry inbox is full and should be stored.
    async fn on_event(&mut self, event: MeshEvent) -> bool {
        let ctx = &self.ctx;
        match event {
            MeshEvent::Listening(addr) => self.document.listening(ctx, addr),
            MeshEvent::Connected(peer) => self.sync.connected(ctx, self.document.shared(), peer),
            MeshEvent::Disconnected(peer) => {
                tracing::info!(event = "peer_disconnected", %peer, "peer disconnected");
                self.sync.gone(ctx, peer);
                self.document.peer_gone(&peer);
            }
            MeshEvent::Subscribed {
                topic: Topic::Entries, ..
            } => self.flush().await,
            MeshEvent::Subscribed { .. } => {}
            MeshEvent::Delivered {
                topic: Topic::Entries,
                data,
                from,
                ..
            } => return self.entries.queue(&data, from),
            MeshEvent::Delivered {
                topic: Topic::Attestations | Topic::Warrants | Topic::Bounties,
                data,
                from,
                ..
            } => self.heard(&data, from).await,
            MeshEvent::Delivered { .. } => {}
            MeshEvent::Banned { peer, reason } => {
                let evidence = self.warrants.banned(ctx, peer, &reason);
                self.sync.gone(ctx, peer);
                self.document.banned(ctx, peer, reason, evidence);
            }
            MeshEvent::Rejected { from, reason, topic } => {
                // One warning per peer (its ban, if it comes, is logged too);
                // the rest at debug, so a flood cannot fill the disk with logs.
                if self.rejected_peers.insert(from) {
                    tracing::warn!(event = "gossip_rejected", %from, %topic, %reason, "rejected gossip (further rejections of this peer are logged at debug)");
                } else {
                    tracing::debug!(event = "gossip_rejected", %from, %topic, %reason, "rejected gossip");
                }
            }
            MeshEvent::Throttled {
                peer,
                what,
                refused,
                disconnect,
            } => {
                if refused == 1 {
                    ctx.view.update(|v| v.stats.peers_throttled += 1);
                }
                if disconnect {
                    tracing::warn!(event = "peer_throttled", %peer, what, refused, "a peer far over its rate: disconnected (not banned)");
                } else {
                    tracing::warn!(event = "peer_throttled", %peer, what, refused, "a peer over its rate: the excess is dropped unjudged");
                }
            }
            MeshEvent::Identified { peer, agent_version } => {
                tracing::debug!(event = "peer_identified", %peer, %agent_version, "peer identified");
            }
        }
        false
    }

    /// An attestation or warrant the validator accepted, to its handler.
    async fn heard(&mut self, data: &[u8], from: PeerId) {
        // Verified by the validator already; decoding cannot fail here.
        let Ok(a) = ippoc_economy::encoding::decode::<Attestation>(data) else {
            return;
        };
        let issuer = a.body.issuer;
        let ctx = &self.ctx;
        ctx.view.update(|v| v.stats.attestations_received += 1);
        match a.body.claim {
            Claim::Heartbeat {
                beat,
                state_root,
                entries,
            } => {
                if self.attest.heard(ctx, issuer, beat, state_root, entries) {
                    // From the issuer if it is a peer, else from whoever
                    // relayed its heartbeat (a peer, and nearer to it).
                    let issuer_peer = ippoc_mesh::peer_id_of_ed25519(issuer.as_bytes());
                    self.sync.behind(ctx, self.document.shared(), issuer_peer, from);
                }
            }
            Claim::Checkpoint { epoch, state_root, .. } => self.checkpoints.heard_vote(issuer, epoch, state_root),
            Claim::AnchorVote {
                epoch,
                root,
                signer,
                signature,
            } => self
                .checkpoints
                .heard_anchor_vote(issuer, epoch, root, signer, &signature),
            Claim::Receipt { .. } => {}
            Claim::BountyOffer { escrow, module, input } => {
                let task = crate::bounty::Task { module, input };
                self.bounties.offer_heard(ctx, escrow, task).await
            }
            Claim::BountyResult { escrow, output_hash } => {
                self.bounties.result_heard(ctx, escrow, output_hash, issuer).await
            }
            Claim::Warrant(w) => self.warrants.received(ctx, *w, issuer, from).await,
        }
    }
}
