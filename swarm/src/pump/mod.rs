//! The node's side of the mesh: gossip is validated with the ledger's own
//! checks, the node's entries are published, peers' entries are ingested,
//! attestations are issued and heard, forks become warrants, and
//! anti-entropy sync runs on connect and periodically.
//!
//! Publishing follows the own chain's head: a cursor of the last seq the mesh
//! accepted, advanced whenever the node appends (the API signals it) or a
//! peer subscribes. An entry that could not be published (no peer yet) is
//! retried then, so entries made while alone reach the swarm when it forms.
//!
//! Equivocation: whenever the ledger holds fork evidence this node has not
//! warranted yet (found by gossip, by sync, or at start), the node gossips a
//! warrant carrying both signed versions and bans the forker. A node that
//! receives a warrant checks the evidence itself (the validator), stores both
//! versions in its ledger, where the fork rule applies, and bans the forker
//! too: it never has to trust the reporter, and an honest node cannot be
//! framed because entries it did not sign do not verify.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use ippoc_economy::attestation::{Evidence, RECEIPT_TX_MAX};
use ippoc_economy::store::{IngestOutcome, Ledger};
use ippoc_economy::{Attestation, Claim, NodeId, SignedEntry, TxId, Warrant};
use ippoc_mesh::{Keypair, Mesh, MeshClient, MeshConfig, MeshEvent, PeerId, Topic};
use sha2::Digest;
use tokio::sync::{mpsc, oneshot};

use crate::Error;
use crate::doc::{BanRecord, Member, OBSERVED_DISSENTERS_MAX, Observation, SharedSwarmDoc, lock as lock_doc};
use crate::sync::{SyncError, SyncReport};

use crate::validator::LedgerValidator;
use crate::view::{self, Ban, Heard, SharedMeshView, read_bans};

/// How often the node attests and syncs on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cadence {
    /// Heartbeat and receipt period.
    pub attest_interval: Duration,
    /// Periodic anti-entropy sync period (one peer per tick, in turn).
    pub sync_interval: Duration,
    /// Checkpoint epoch length, ms.
    pub epoch_ms: u64,
}

/// What the mesh side of a node works with.
pub struct MeshParts {
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
}

/// The running mesh of a node.
pub struct MeshRuntime {
    /// This node's libp2p PeerId (from the same Ed25519 key as its NodeID).
    pub peer_id: PeerId,
    /// A handle on the mesh (dial, partition control).
    pub client: MeshClient,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl MeshRuntime {
    /// Stops the pump and the mesh.
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
pub fn libp2p_key(key: &SigningKey) -> Result<Keypair, Error> {
    let mut secret = key.to_bytes();
    Keypair::ed25519_from_bytes(&mut secret).map_err(|e| Error::Mesh(e.to_string()))
}

/// Starts the mesh and its pump on the current tokio runtime. Bans recorded
/// in `parts.bans_path` are applied before the first connection.
pub fn start(parts: MeshParts, mut config: MeshConfig, cadence: Cadence) -> Result<MeshRuntime, Error> {
    let key = libp2p_key(parts.chain.key())?;
    let bans = read_bans(&parts.bans_path)?;
    config.banned = bans.iter().filter_map(|b| b.peer.parse().ok()).collect();
    tracing::info!(event = "bans_loaded", bans = config.banned.len(), "ban list loaded");
    parts.view.update(|v| {
        v.enabled = true;
        v.banned = bans;
    });
    let ledger = parts.chain.ledger().clone();
    let validator = Arc::new(LedgerValidator { ledger: ledger.clone() });
    let responder = Arc::new(crate::responder::Responder {
        ledger: ledger.clone(),
        doc: parts.doc.clone(),
        skills: parts.skills.clone(),
    });
    let mesh = Mesh::start(key, config, validator, responder).map_err(|e| Error::Mesh(e.to_string()))?;
    let (peer_id, client) = (mesh.peer_id(), mesh.client());
    parts.view.update(|v| v.peer_id = Some(peer_id.to_string()));
    let (stop, stopped) = oneshot::channel();
    let task = tokio::spawn(run(mesh, parts, cadence, stopped));
    Ok(MeshRuntime {
        peer_id,
        client,
        stop: Some(stop),
        task: Some(task),
    })
}

/// Everything the pump keeps between events.
struct Pump {
    mesh: Mesh,
    chain: crate::OwnChain,
    owner: NodeId,
    ledger: Arc<Ledger>,
    view: SharedMeshView,
    bans_path: PathBuf,
    cadence: Cadence,
    /// Next own seq to publish.
    published: u64,
    connected: Vec<PeerId>,
    sync_turn: usize,
    syncing: HashSet<PeerId>,
    sync_done: mpsc::Sender<(PeerId, Result<SyncReport, SyncError>)>,
    /// Forks already warranted (by this node or by a warrant it received).
    warranted: HashSet<(NodeId, u64)>,
    /// Peers' entries stored since the last receipt.
    receipts: Vec<TxId>,
    beat: u64,
    epoch: u64,
    doc: SharedSwarmDoc,
    fingerprint: String,
    listening: Vec<String>,
    /// Warrant ids behind bans this node asked for, by peer.
    ban_evidence: std::collections::HashMap<PeerId, String>,
    /// This node's state root at the end of each recent epoch.
    roots: std::collections::BTreeMap<u64, [u8; 32]>,
    /// Checkpoint votes heard, by epoch, until the epoch's tally is written.
    votes: std::collections::BTreeMap<u64, HashMap<NodeId, [u8; 32]>>,
    sandbox: Option<Arc<ippoc_sandbox::Sandbox>>,
    board: crate::bounty::SharedBoard,
    work_bounties: bool,
    /// Bounties this node has worked on (each at most once).
    attempted: HashSet<ippoc_economy::EscrowId>,
    /// Own offers gossiped at least once.
    offered: HashSet<ippoc_economy::EscrowId>,
    /// The bounty whose payout this node awaits, if any, and since when.
    working: Option<(ippoc_economy::EscrowId, std::time::Instant)>,
    /// When the swarm document was last written.
    doc_saved: std::time::Instant,
    /// Peers' entries received and not yet stored.
    inbox: Vec<(SignedEntry, PeerId)>,
    anchoring: Option<crate::anchor::Anchoring>,
    /// The parameter table version last mirrored into the swarm document.
    table_recorded: Option<u32>,
}

/// Epochs whose checkpoint votes are kept for the tally (the current one and two before).
const VOTE_EPOCHS_KEPT: u64 = 3;
/// Votes kept for one epoch, at most (one per issuer).
const VOTES_PER_EPOCH_MAX: usize = 1 << 16;

/// How long a worker waits for a bounty's payout before it takes another.
const BOUNTY_WAIT: Duration = Duration::from_secs(60);

/// How often the swarm document is written to disk, at most.
const DOC_SAVE_INTERVAL: Duration = Duration::from_secs(30);

/// Most gossiped entries stored in one ledger batch.
const INBOX_BATCH_MAX: usize = 256;

async fn run(mut mesh: Mesh, parts: MeshParts, cadence: Cadence, mut stopped: oneshot::Receiver<()>) {
    let (_, idle) = mpsc::channel(1);
    let mut events = std::mem::replace(&mut mesh.events, idle);
    let (sync_done, mut sync_results) = mpsc::channel(64);
    let ledger = parts.chain.ledger().clone();
    // Gossip carries what is new from now on; history travels by sync.
    let published = blocking(&ledger, |l| l.head(&l.owner()).ok().flatten().map_or(0, |(s, _)| s + 1))
        .await
        .unwrap_or(0);
    let mut pump = Pump {
        mesh,
        owner: ledger.owner(),
        chain: parts.chain.clone(),
        ledger,
        view: parts.view,
        bans_path: parts.bans_path,
        cadence,
        published,
        connected: Vec::new(),
        sync_turn: 0,
        syncing: HashSet::new(),
        sync_done,
        warranted: HashSet::new(),
        receipts: Vec::new(),
        beat: 0,
        epoch: crate::ledger::now_ms() / cadence.epoch_ms.max(1),
        doc: parts.doc,
        fingerprint: parts.fingerprint,
        listening: Vec::new(),
        ban_evidence: Default::default(),
        roots: Default::default(),
        votes: Default::default(),
        sandbox: parts.sandbox,
        board: parts.board,
        work_bounties: parts.work_bounties,
        attempted: HashSet::new(),
        offered: HashSet::new(),
        working: None,
        doc_saved: std::time::Instant::now(),
        inbox: Vec::new(),
        anchoring: parts.anchoring,
        table_recorded: None,
    };
    let appended = parts.chain.appended().clone();
    let mut attest = tokio::time::interval(cadence.attest_interval);
    let mut sync = tokio::time::interval(cadence.sync_interval);
    for t in [&mut attest, &mut sync] {
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    }
    // Forks found before a restart are warranted again (bans persist anyway).
    pump.warrant_new_forks().await;
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            _ = appended.notified() => pump.flush().await,
            _ = attest.tick() => pump.attest().await,
            _ = sync.tick() => pump.sync_next(),
            Some((peer, result)) = sync_results.recv() => pump.sync_finished(peer, result).await,
            event = events.recv() => match event {
                None => break,
                Some(e) => {
                    pump.on_event(e).await;
                    // Whatever else is already queued joins the same ledger batch.
                    while let Ok(e) = events.try_recv() {
                        pump.on_event(e).await;
                        if pump.inbox.len() >= INBOX_BATCH_MAX {
                            pump.ingest_inbox().await;
                        }
                    }
                    pump.ingest_inbox().await;
                }
            },
        }
    }
    pump.save_doc(true);
    pump.mesh.stop().await;
}

/// The tables nodes record in `doc`, counted, most nodes first.
fn table_counts(doc: &crate::doc::SwarmDoc) -> Vec<view::TableCount> {
    let mut counts: std::collections::BTreeMap<(u32, String), u64> = Default::default();
    for t in doc.adopted_tables().into_values() {
        *counts.entry((t.version, t.sha256)).or_default() += 1;
    }
    let mut out: Vec<view::TableCount> = counts
        .into_iter()
        .map(|((version, sha256), nodes)| view::TableCount { version, sha256, nodes })
        .collect();
    out.sort_by(|a, b| b.nodes.cmp(&a.nodes).then(b.version.cmp(&a.version)));
    out
}

/// Runs ledger work off the async threads.
async fn blocking<T: Send + 'static>(ledger: &Arc<Ledger>, f: impl FnOnce(&Ledger) -> T + Send + 'static) -> Option<T> {
    let l = ledger.clone();
    tokio::task::spawn_blocking(move || f(&l)).await.ok()
}

impl Pump {
    async fn on_event(&mut self, event: MeshEvent) {
        match event {
            MeshEvent::Listening(addr) => {
                let full = format!("{addr}/p2p/{}", self.mesh.peer_id());
                tracing::info!(event = "mesh_listening", address = %full, "mesh listening");
                self.listening.push(full.clone());
                self.view.update(|v| v.listening.push(full));
                self.write_member();
            }
            MeshEvent::Connected(peer) => {
                tracing::info!(event = "peer_connected", %peer, "peer connected");
                self.connected.push(peer);
                self.view.update(|v| {
                    v.peers.push(peer.to_string());
                    v.peers.sort();
                    v.peers.dedup();
                });
                self.sync(peer);
            }
            MeshEvent::Disconnected(peer) => {
                tracing::info!(event = "peer_disconnected", %peer, "peer disconnected");
                self.connected.retain(|p| *p != peer);
                self.view.update(|v| v.peers.retain(|p| *p != peer.to_string()));
                lock_doc(&self.doc).forget(&peer.to_string());
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
            } => self.ingest(data, from),
            MeshEvent::Delivered {
                topic: Topic::Attestations | Topic::Warrants | Topic::Bounties,
                data,
                from,
                ..
            } => self.heard(data, from).await,
            MeshEvent::Delivered { .. } => {}
            MeshEvent::Banned { peer, reason } => {
                // Persist first: the log line announces a ban that survives a restart.
                if let Err(e) = view::record_ban(&self.bans_path, peer, &reason) {
                    tracing::error!("could not persist the ban of {peer}: {e}");
                }
                self.connected.retain(|p| *p != peer);
                self.view.update(|v| {
                    v.peers.retain(|p| *p != peer.to_string());
                    v.banned.push(Ban {
                        peer: peer.to_string(),
                        reason: reason.clone(),
                        at_ms: crate::ledger::now_ms(),
                    });
                });
                tracing::warn!(event = "peer_banned", %peer, %reason, "peer banned");
                let record = BanRecord {
                    reason,
                    evidence: self.ban_evidence.remove(&peer).unwrap_or_default(),
                    at_ms: crate::ledger::now_ms(),
                };
                if let Err(e) = lock_doc(&self.doc).record_ban(&peer.to_string(), self.owner, &record) {
                    tracing::error!("could not record the ban of {peer} in the swarm document: {e}");
                }
            }
            MeshEvent::Rejected { from, reason, topic } => {
                tracing::warn!(event = "gossip_rejected", %from, %topic, %reason, "rejected gossip");
            }
        }
    }

    /// Publishes own entries from the cursor up to the head.
    async fn flush(&mut self) {
        let from = self.published;
        let entries = blocking(&self.ledger, move |l| -> Vec<SignedEntry> {
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
            match self.mesh.publish(Topic::Entries, entry.to_bytes()).await {
                Ok(()) => sent += 1,
                // Already in the network's recent history: nothing to do.
                Err(e) if e.to_string().contains("Duplicate") => {}
                Err(e) => {
                    tracing::debug!(seq = entry.body.seq, "not published yet: {e}");
                    break;
                }
            }
            self.published = entry.body.seq + 1;
        }
        if sent > 0 {
            self.view.update(|v| v.stats.entries_published += sent);
        }
        // Offers posted since the last look go out at once; the attestation
        // tick republishes the rest, so an append does not re-gossip them all.
        self.publish_offers(false).await;
    }

    /// Gossips this node's open bounty offers (`all`, or only those not
    /// gossiped yet); forgets closed ones.
    async fn publish_offers(&mut self, all: bool) {
        let offers: Vec<(ippoc_economy::EscrowId, crate::bounty::Task)> = self
            .board
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(escrow, _)| all || !self.offered.contains(*escrow))
            .map(|(escrow, task)| (*escrow, task.clone()))
            .collect();
        for (escrow, task) in offers {
            self.offered.insert(escrow);
            match blocking(&self.ledger, move |l| crate::bounty::open_bounty(l, &escrow)).await {
                Some(Ok(Some(_))) => {
                    let claim = Claim::BountyOffer {
                        escrow,
                        module: task.module,
                        input: task.input,
                    };
                    self.publish(Topic::Bounties, claim).await;
                }
                Some(Ok(None)) => {
                    self.board.lock().unwrap_or_else(|p| p.into_inner()).remove(&escrow);
                    self.offered.remove(&escrow);
                }
                _ => {}
            }
        }
    }

    /// A bounty offer heard: work on it if this node takes bounties and the
    /// offer matches the poster's entry.
    async fn offer_heard(&mut self, escrow: ippoc_economy::EscrowId, task: crate::bounty::Task) {
        if escrow.poster == self.owner || self.attempted.contains(&escrow) {
            return;
        }
        let Some(sandbox) = self.sandbox.clone() else {
            return;
        };
        let hash = ippoc_economy::attestation::task_hash(&task.module, &task.input);
        // A poster that never pays (gone, partitioned) holds a worker only so long.
        let current = self
            .working
            .filter(|(_, at)| at.elapsed() < BOUNTY_WAIT)
            .map(|(e, _)| e);
        let ready = blocking(&self.ledger, move |l| -> Result<(bool, bool, bool), Error> {
            let worker = l.mode().map_err(crate::ledger::ledger_error)? == ippoc_economy::store::Mode::Worker;
            let open = crate::bounty::open_bounty(l, &escrow)?;
            let busy = match current {
                Some(c) => crate::bounty::open_bounty(l, &c)?.is_some(),
                None => false,
            };
            Ok((worker, open.is_some_and(|b| b.task == hash), busy))
        })
        .await;
        let Some(Ok((worker_mode, open, busy))) = ready else {
            return;
        };
        // The offer must match the poster's entry; a solvent node works only if
        // configured to; and one bounty at a time, so that one fast worker does
        // not take every bounty on the board while others starve.
        if !open || !(worker_mode || self.work_bounties) || busy {
            return;
        }
        self.attempted.insert(escrow);
        self.working = Some((escrow, std::time::Instant::now()));
        tracing::info!(event = "bounty_taken", poster = %escrow.poster, seq = escrow.seq, "working on a bounty");
        let (chain, client, view) = (self.chain.clone(), self.mesh.client(), self.view.clone());
        tokio::spawn(async move {
            // The run's charge is an entry of the own chain: appending it wakes the pump.
            let c = chain.clone();
            let done = tokio::task::spawn_blocking(move || crate::bounty::work(&sandbox, &c, escrow, &task)).await;
            match done {
                Ok(Ok(output_hash)) => {
                    let a = chain.attest(Claim::BountyResult { escrow, output_hash });
                    match client.publish(Topic::Bounties, a.to_bytes()).await {
                        Ok(()) => view.update(|v| v.stats.bounties_worked += 1),
                        Err(e) => tracing::warn!("bounty result not published: {e}"),
                    }
                }
                Ok(Err(e)) => tracing::warn!(event = "bounty_failed", "bounty task failed: {e}"),
                Err(e) => tracing::error!("bounty task panicked: {e}"),
            }
        });
    }

    /// A result for one of this node's bounties: pay the worker if a local
    /// run gives the same output.
    async fn result_heard(&mut self, escrow: ippoc_economy::EscrowId, output_hash: [u8; 32], worker: NodeId) {
        if escrow.poster != self.owner {
            return;
        }
        let task = self
            .board
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&escrow)
            .cloned();
        let (Some(task), Some(sandbox)) = (task, self.sandbox.clone()) else {
            return;
        };
        let expected = tokio::task::spawn_blocking(move || crate::bounty::expected(&sandbox, &task)).await;
        if !matches!(&expected, Ok(Ok(h)) if *h == output_hash) {
            tracing::warn!(event = "bounty_result_wrong", worker = %worker, seq = escrow.seq, "a bounty result did not check out: not paid");
            return;
        }
        let chain = self.chain.clone();
        let paid = tokio::task::spawn_blocking(move || {
            let draft = ippoc_economy::store::Draft::new(
                ippoc_economy::store::Intent::PayBounty { escrow, worker },
                crate::ledger::now_ms(),
            );
            chain.append(draft)
        })
        .await
        .ok();
        match paid {
            Some(Ok(_)) => {
                self.board.lock().unwrap_or_else(|p| p.into_inner()).remove(&escrow);
                self.offered.remove(&escrow);
                tracing::info!(event = "bounty_paid", worker = %worker, seq = escrow.seq, "bounty paid");
                self.view.update(|v| v.stats.bounties_paid += 1);
                self.flush().await;
            }
            Some(Err(e)) => tracing::info!(worker = %worker, "bounty not paid: {e}"),
            None => {}
        }
    }

    /// Queues a peer's entry; [`Pump::ingest_inbox`] stores the queue in one batch.
    fn ingest(&mut self, data: Vec<u8>, from: PeerId) {
        if let Ok(entry) = SignedEntry::from_bytes(&data) {
            self.inbox.push((entry, from));
        }
    }

    /// Stores every queued entry with one ledger call: one flush for the
    /// batch (group commit), instead of one per gossiped entry.
    async fn ingest_inbox(&mut self) {
        if self.inbox.is_empty() {
            return;
        }
        // What the log and the receipts need is taken before the entries move
        // to the ledger, so they are not copied.
        let (entries, seen): (Vec<SignedEntry>, Vec<_>) = std::mem::take(&mut self.inbox)
            .into_iter()
            .map(|(e, from)| {
                let seen = (e.body.actor, e.body.seq, e.tx_id(), from);
                (e, seen)
            })
            .unzip();
        match blocking(&self.ledger, move |l| l.ingest(entries)).await {
            Some(Ok(outcomes)) => {
                let mut stored = 0;
                let mut forked = false;
                for ((actor, seq, tx, from), outcome) in seen.into_iter().zip(&outcomes) {
                    tracing::info!(event = "entry_ingested", %from, actor = %actor, seq, tx = %tx, ?outcome, "entry from peer");
                    if matches!(outcome, IngestOutcome::Applied | IngestOutcome::Bounced(_)) {
                        self.receipts.push(tx);
                        stored += 1;
                    }
                    forked |= matches!(outcome, IngestOutcome::Fork { .. });
                }
                self.view.update(|v| v.stats.entries_ingested += stored);
                if forked {
                    self.warrant_new_forks().await;
                }
            }
            Some(Err(e)) => tracing::error!(entries = seen.len(), "ledger error ingesting peers' entries: {e}"),
            None => tracing::error!("ingest task failed"),
        }
    }

    /// Signs and gossips a claim; false if it could not be published.
    async fn publish(&mut self, topic: Topic, claim: Claim) -> bool {
        let attestation = self.chain.attest(claim);
        match self.mesh.publish(topic, attestation.to_bytes()).await {
            Ok(()) => {
                self.view.update(|v| v.stats.attestations_sent += 1);
                true
            }
            Err(e) => {
                tracing::debug!(%topic, "attestation not published: {e}");
                false
            }
        }
    }

    /// Heartbeat, receipts for what was stored since, and a checkpoint vote
    /// when an epoch ended.
    async fn attest(&mut self) {
        let Some(Ok((state_root, entries))) = blocking(&self.ledger, |l| -> Result<_, Error> {
            let entries = l.entries_held().map_err(crate::ledger::ledger_error)?;
            let root = l.state_root().map_err(crate::ledger::ledger_error)?;
            Ok((root, entries))
        })
        .await
        else {
            return;
        };
        let beat = self.beat;
        if self
            .publish(
                Topic::Attestations,
                Claim::Heartbeat {
                    beat,
                    state_root,
                    entries,
                },
            )
            .await
        {
            self.beat += 1;
        }
        while !self.receipts.is_empty() {
            let n = self.receipts.len().min(RECEIPT_TX_MAX);
            let tx_ids: Vec<TxId> = self.receipts[..n].to_vec();
            if !self.publish(Topic::Attestations, Claim::Receipt { tx_ids }).await {
                break;
            }
            self.receipts.drain(..n);
        }
        let epoch = crate::ledger::now_ms() / self.cadence.epoch_ms.max(1);
        if epoch > self.epoch {
            let ended = epoch - 1;
            let claim = Claim::Checkpoint {
                epoch: ended,
                state_root,
                entries,
            };
            self.roots.insert(ended, state_root);
            while self.roots.len() > 16 {
                self.roots.pop_first();
            }
            // Votes for an epoch arrive during the next one: tally the epoch before.
            self.write_observations(ended);
            if self.publish(Topic::Attestations, claim).await {
                tracing::info!(event = "checkpoint_vote", epoch = ended, root = %hex::encode(state_root), "checkpoint vote");
            }
            // The heads of an epoch are voted one epoch after it ended: its
            // entries have had that long to reach every node.
            if let Some(covered) = ended.checked_sub(1) {
                self.anchor_vote(covered).await;
            }
            self.epoch = epoch;
        }
        // Sync rounds store forks without telling the pump which; look here too.
        self.warrant_new_forks().await;
        self.record_table();
        self.save_doc(false);
        self.publish_offers(true).await;
    }

    /// Records the heads of `epoch` (cut at its end), co-signs their Merkle
    /// root for the L2 and gossips the co-signature.
    async fn anchor_vote(&mut self, epoch: u64) {
        let Some(anchoring) = self.anchoring.clone() else {
            return;
        };
        let epoch_ms = self.cadence.epoch_ms.max(1);
        let vote = blocking(&self.ledger, move |l| anchoring.vote(l, epoch, epoch_ms)).await;
        match vote {
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
                if self.publish(Topic::Attestations, claim).await {
                    tracing::info!(event = "anchor_vote", epoch, %root, signer = %sig.signer, "co-signed the heads root");
                }
            }
            Some(Ok(None)) | None => {}
            Some(Err(e)) => tracing::warn!(epoch, error = %e, "cannot cast the anchor vote"),
        }
    }

    /// Writes the tally of every epoch before `current` whose votes were heard, and forgets them.
    fn write_observations(&mut self, current: u64) {
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
            let observation = Observation {
                epoch,
                state_root: hex::encode(own),
                agree: (votes.len() - dissenters.len()) as u32,
                disagree: dissenters.len() as u32,
                dissenters: dissenters.into_iter().take(OBSERVED_DISSENTERS_MAX).collect(),
            };
            if let Err(e) = lock_doc(&self.doc).observe(self.owner, &observation) {
                tracing::error!("could not record an observation: {e}");
            }
        }
    }

    /// Mirrors the parameter table this node prices under into the swarm
    /// document when it changed (the watcher adopts tables from the chain).
    fn record_table(&mut self) {
        let (version, table) = self.ledger.parameters();
        if self.table_recorded == Some(version) {
            return;
        }
        let sha256 = hex::encode(sha2::Sha256::digest(ippoc_economy::encoding::encode(&table)));
        let adopted = crate::doc::AdoptedTable { version, sha256 };
        match lock_doc(&self.doc).record_table(self.owner, &adopted) {
            Ok(_) => self.table_recorded = Some(version),
            Err(e) => tracing::error!("could not record the parameter table: {e}"),
        }
    }

    /// Writes this node's directory entry in the swarm document.
    fn write_member(&mut self) {
        let member = Member {
            peer_id: self.mesh.peer_id().to_string(),
            addresses: self.listening.clone(),
            fingerprint: self.fingerprint.clone(),
            status: "active".into(),
            updated_ms: crate::ledger::now_ms(),
        };
        if let Err(e) = lock_doc(&self.doc).set_member(self.owner, &member) {
            tracing::error!("could not write the directory entry: {e}");
        }
    }

    /// Persists the swarm document if it changed, and shows its size.
    fn save_doc(&mut self, force: bool) {
        // A save compresses the whole document: at most every DOC_SAVE_INTERVAL
        // (and at stop). What is lost in a crash comes back from peers by sync.
        let due = force || self.doc_saved.elapsed() >= DOC_SAVE_INTERVAL;
        let (members, bans, tables) = {
            let mut doc = lock_doc(&self.doc);
            if due {
                if let Err(e) = doc.save() {
                    tracing::error!("could not save the swarm document: {e}");
                }
                self.doc_saved = std::time::Instant::now();
            }
            let (members, bans) = doc.counts();
            (members as u64, bans as u64, table_counts(&doc))
        };
        self.view.update(|v| {
            v.stats.doc_members = members;
            v.stats.doc_ban_records = bans;
            v.tables = tables;
        });
    }

    /// An attestation or warrant the validator accepted.
    async fn heard(&mut self, data: Vec<u8>, from: PeerId) {
        // Verified by the validator already; decoding cannot fail here.
        let Ok(a) = ippoc_economy::encoding::decode::<Attestation>(&data) else {
            return;
        };
        let issuer = a.body.issuer;
        self.view.update(|v| v.stats.attestations_received += 1);
        match a.body.claim {
            Claim::Heartbeat {
                beat,
                state_root,
                entries,
            } => self.view.update(|v| {
                v.heard.insert(
                    issuer.to_string(),
                    Heard {
                        beat,
                        state_root: hex::encode(state_root),
                        entries,
                        at_ms: crate::ledger::now_ms(),
                    },
                );
            }),
            Claim::Checkpoint { epoch, state_root, .. } => {
                // Only recent epochs, one vote per issuer: memory stays bounded
                // whatever epochs a peer claims.
                if epoch + VOTE_EPOCHS_KEPT > self.epoch && epoch <= self.epoch {
                    let votes = self.votes.entry(epoch).or_default();
                    if votes.len() < VOTES_PER_EPOCH_MAX {
                        votes.insert(issuer, state_root);
                    }
                }
            }
            Claim::AnchorVote {
                epoch,
                root,
                signer,
                signature,
            } => {
                if let Some(a) = &self.anchoring {
                    let signer = ippoc_governance_bridge::Address::from(signer);
                    if let Err(e) = a.book.heard(issuer, epoch, root.into(), signer, &signature, self.epoch) {
                        tracing::debug!(issuer = %issuer, epoch, error = %e, "anchor vote not counted");
                    }
                }
            }
            Claim::Receipt { .. } => {}
            Claim::BountyOffer { escrow, module, input } => {
                self.offer_heard(escrow, crate::bounty::Task { module, input }).await
            }
            Claim::BountyResult { escrow, output_hash } => self.result_heard(escrow, output_hash, issuer).await,
            Claim::Warrant(w) => self.warrant_received(*w, issuer, from).await,
        }
    }

    async fn warrant_received(&mut self, warrant: Warrant, issuer: NodeId, from: PeerId) {
        let Evidence::Equivocation { a, b } = warrant.evidence.clone();
        let (subject, seq) = (warrant.subject, a.body.seq);
        tracing::warn!(event = "warrant_received", subject = %subject, seq, issuer = %issuer, %from, "warrant received");
        self.view.update(|v| v.stats.warrants_received += 1);
        self.warranted.insert((subject, seq));
        // The evidence goes into the ledger, where the fork rule decides what counts.
        match blocking(&self.ledger, move |l| l.ingest(vec![a, b])).await {
            Some(Ok(outcomes)) => tracing::info!(subject = %subject, ?outcomes, "warrant evidence stored"),
            Some(Err(e)) => tracing::error!(subject = %subject, "could not store warrant evidence: {e}"),
            None => {}
        }
        self.ban_forker(&warrant).await;
    }

    /// Warrants every fork in the ledger not warranted yet.
    async fn warrant_new_forks(&mut self) {
        let Some(Ok(forks)) = blocking(&self.ledger, |l| l.forks()).await else {
            return;
        };
        for fork in forks {
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
            tracing::warn!(event = "warrant_issued", subject = %fork.actor, seq = fork.seq, "fork found: warrant gossiped");
            if self
                .publish(Topic::Warrants, Claim::Warrant(Box::new(warrant.clone())))
                .await
            {
                self.view.update(|v| v.stats.warrants_sent += 1);
            }
            self.ban_forker(&warrant).await;
        }
    }

    async fn ban_forker(&mut self, warrant: &Warrant) {
        if warrant.subject == self.owner {
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
        self.ban_evidence.insert(peer, hex::encode(evidence));
        if let Err(e) = self.mesh.client().ban(peer, warrant.offence()).await {
            tracing::warn!(%peer, "could not ban: {e}");
        }
    }

    /// Starts a sync round with `peer` unless one runs.
    fn sync(&mut self, peer: PeerId) {
        if !self.syncing.insert(peer) {
            return;
        }
        let (client, ledger, done) = (self.mesh.client(), self.ledger.clone(), self.sync_done.clone());
        let doc = self.doc.clone();
        tokio::spawn(async move {
            let result = crate::sync::ledger::sync_with(&client, &ledger, peer).await;
            if let Err(e) = crate::sync::doc::doc_sync_with(&client, &doc, peer).await {
                tracing::warn!(event = "doc_sync_failed", %peer, "swarm document sync failed: {e}");
            }
            let _ = done.send((peer, result)).await;
        });
    }

    /// The periodic round: the next connected peer, in turn.
    fn sync_next(&mut self) {
        if self.connected.is_empty() {
            return;
        }
        self.sync_turn = (self.sync_turn + 1) % self.connected.len();
        let peer = self.connected[self.sync_turn];
        self.sync(peer);
    }

    async fn sync_finished(&mut self, peer: PeerId, result: Result<SyncReport, SyncError>) {
        self.syncing.remove(&peer);
        match result {
            Ok(r) => {
                tracing::info!(
                    event = "sync_done", %peer, entries = r.entries, bytes = r.bytes, missing_bytes = r.missing_bytes,
                    requests = r.requests, "anti-entropy sync finished"
                );
                self.view.update(|v| {
                    v.stats.sync_rounds += 1;
                    v.stats.sync_entries += r.entries;
                    v.stats.sync_bytes += r.bytes;
                    v.stats.sync_missing_bytes += r.missing_bytes;
                });
                if r.forks > 0 {
                    self.warrant_new_forks().await;
                }
            }
            Err(e) => tracing::warn!(event = "sync_failed", %peer, "anti-entropy sync failed: {e}"),
        }
    }
}
