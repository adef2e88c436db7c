//! The node's side of the mesh: gossip is validated with the ledger's own
//! checks, the node's entries are published, peers' entries are ingested.
//!
//! Publishing follows the own chain's head: a cursor of the last seq the mesh
//! accepted, advanced whenever the node appends (the API signals it) or a
//! peer subscribes. An entry that could not be published (no peer yet) is
//! retried then, so entries made while alone reach the swarm when it forms.

use std::sync::Arc;

use ippoc_economy::SignedEntry;
use ippoc_economy::store::Ledger;
use ippoc_mesh::{Keypair, Mesh, MeshConfig, MeshEvent, PeerId, Topic, Transport, Validator, Verdict};
use tokio::sync::{Notify, oneshot};

use crate::config::MeshSettings;
use crate::error::NodeError;

/// Gossip validation with the ledger: entries must decode, belong to this
/// swarm and carry a valid signature before they are delivered or forwarded.
/// Entries already held are ignored (not forwarded again, not blamed).
pub struct LedgerValidator {
    /// The ledger.
    pub ledger: Arc<Ledger>,
}

impl Validator for LedgerValidator {
    fn validate(&self, topic: Topic, data: &[u8], _source: &PeerId) -> Verdict {
        if topic != Topic::Entries {
            // Attestations, warrants and governance come with the rest of the mesh issue.
            return Verdict::Ignore;
        }
        let entry = match SignedEntry::from_bytes(data) {
            Ok(e) => e,
            // Honest peers decode before forwarding: junk is never relayed in good faith.
            Err(e) => return Verdict::Forged(format!("undecodable entry: {e}")),
        };
        if entry.body.swarm_id != self.ledger.swarm_id() {
            return Verdict::Reject(format!("entry of swarm {}", entry.body.swarm_id));
        }
        if matches!(self.ledger.entry_by_tx(&entry.tx_id()), Ok(Some(_))) {
            return Verdict::Ignore;
        }
        match entry.verify() {
            Ok(_) => Verdict::Accept,
            // A bad signature is bad for every validator, whatever its ledger holds.
            Err(e) => Verdict::Forged(e.to_string()),
        }
    }
}

/// What the mesh looks like from this node: `ippoc peers` and `ippoc status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MeshView {
    /// Whether the mesh runs.
    pub enabled: bool,
    /// This node's PeerId.
    pub peer_id: Option<String>,
    /// Addresses it listens on (with `/p2p/<PeerId>`: give them to peers as bootstrap).
    pub listening: Vec<String>,
    /// Connected peers.
    pub peers: Vec<String>,
    /// Banned peers, with why and when.
    pub banned: Vec<Ban>,
}

/// The view, shared between the mesh pump and the admin API.
pub type SharedMeshView = Arc<std::sync::Mutex<MeshView>>;

fn update(view: &SharedMeshView, change: impl FnOnce(&mut MeshView)) {
    change(&mut view.lock().unwrap_or_else(|p| p.into_inner()));
}

/// The running mesh of a daemon.
pub struct MeshRuntime {
    /// This node's libp2p PeerId (from the same Ed25519 key as its NodeID).
    pub peer_id: PeerId,
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

/// One ban, as kept in `data/bans.json`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Ban {
    /// The banned libp2p peer.
    pub peer: String,
    /// Why.
    pub reason: String,
    /// When, Unix ms.
    pub at_ms: u64,
}

/// Reads the ban list (empty if none yet).
pub fn read_bans(path: &std::path::Path) -> Result<Vec<Ban>, NodeError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| NodeError::Mesh(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(NodeError::io("cannot read", path, e)),
    }
}

fn record_ban(path: &std::path::Path, peer: PeerId, reason: &str) -> Result<(), NodeError> {
    let mut bans = read_bans(path)?;
    bans.push(Ban {
        peer: peer.to_string(),
        reason: reason.to_string(),
        at_ms: crate::ledger::now_ms(),
    });
    let json = serde_json::to_vec_pretty(&bans).expect("bans serialize");
    crate::fsutil::write_atomic(path, &json, 0o644)
}

/// Starts the mesh with the node's key. `appended` is signalled whenever the
/// node appends to its own chain; bans are read from and recorded in `bans_path`.
pub fn start(
    secret: [u8; 32],
    settings: &MeshSettings,
    ledger: Arc<Ledger>,
    appended: Arc<Notify>,
    bans_path: std::path::PathBuf,
    view: SharedMeshView,
) -> Result<MeshRuntime, NodeError> {
    let mut secret = secret;
    let key = Keypair::ed25519_from_bytes(&mut secret).map_err(|e| NodeError::Mesh(e.to_string()))?;
    let mut config = MeshConfig::new(ledger.swarm_id().0, Transport::Tcp);
    let parse = |a: &String| {
        a.parse()
            .map_err(|_| NodeError::Mesh(format!("{a:?} is not a multiaddress")))
    };
    config.listen = settings.listen.iter().map(parse).collect::<Result<_, _>>()?;
    config.bootstrap = settings.bootstrap.iter().map(parse).collect::<Result<_, _>>()?;
    config.gossip_message_bytes_max = settings.gossip_message_bytes_max;
    config.banned = read_bans(&bans_path)?
        .iter()
        .filter_map(|b| b.peer.parse().ok())
        .collect();
    tracing::info!(event = "bans_loaded", bans = config.banned.len(), "ban list loaded");
    let bans = read_bans(&bans_path)?;
    update(&view, |v| {
        v.enabled = true;
        v.banned = bans;
    });
    let validator = Arc::new(LedgerValidator { ledger: ledger.clone() });
    let responder = Arc::new(crate::sync::LedgerResponder { ledger: ledger.clone() });
    let mesh = Mesh::start(key, config, validator, responder).map_err(|e| NodeError::Mesh(e.to_string()))?;
    let peer_id = mesh.peer_id();
    update(&view, |v| v.peer_id = Some(peer_id.to_string()));
    let (stop, stopped) = oneshot::channel();
    let task = tokio::spawn(pump(mesh, ledger, appended, stopped, bans_path, view));
    Ok(MeshRuntime {
        peer_id,
        stop: Some(stop),
        task: Some(task),
    })
}

async fn pump(
    mut mesh: Mesh,
    ledger: Arc<Ledger>,
    appended: Arc<Notify>,
    mut stopped: oneshot::Receiver<()>,
    bans_path: std::path::PathBuf,
    view: SharedMeshView,
) {
    // Gossip carries what is new from now on; history travels by sync.
    let mut published: u64 = {
        let l = ledger.clone();
        tokio::task::spawn_blocking(move || l.head(&l.owner()).ok().flatten().map_or(0, |(s, _)| s + 1))
            .await
            .unwrap_or(0)
    };
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            _ = appended.notified() => published = flush(&mesh, &ledger, published).await,
            event = mesh.events.recv() => match event {
                None => break,
                Some(MeshEvent::Listening(addr)) => {
                    let full = format!("{addr}/p2p/{}", mesh.peer_id());
                    tracing::info!(event = "mesh_listening", address = %full, "mesh listening");
                    update(&view, |v| v.listening.push(full));
                }
                Some(MeshEvent::Connected(peer)) => {
                    tracing::info!(event = "peer_connected", %peer, "peer connected");
                    update(&view, |v| {
                        v.peers.push(peer.to_string());
                        v.peers.sort();
                        v.peers.dedup();
                    });
                    let (client, ledger) = (mesh.client(), ledger.clone());
                    tokio::spawn(async move {
                        match crate::sync::sync_with(&client, &ledger, peer).await {
                            Ok(r) => tracing::info!(
                                event = "sync_done", %peer, entries = r.entries, bytes = r.bytes, requests = r.requests,
                                "anti-entropy sync finished"
                            ),
                            Err(e) => tracing::warn!(event = "sync_failed", %peer, "anti-entropy sync failed: {e}"),
                        }
                    });
                }
                Some(MeshEvent::Disconnected(peer)) => {
                    tracing::info!(event = "peer_disconnected", %peer, "peer disconnected");
                    update(&view, |v| v.peers.retain(|p| *p != peer.to_string()));
                }
                Some(MeshEvent::Subscribed { topic: Topic::Entries, .. }) => published = flush(&mesh, &ledger, published).await,
                Some(MeshEvent::Subscribed { .. }) => {}
                Some(MeshEvent::Delivered { topic: Topic::Entries, data, from, .. }) => ingest(&ledger, data, from).await,
                Some(MeshEvent::Delivered { .. }) => {}
                Some(MeshEvent::Banned { peer, reason }) => {
                    // Persist first: the log line announces a ban that survives a restart.
                    if let Err(e) = record_ban(&bans_path, peer, &reason) {
                        tracing::error!("could not persist the ban of {peer}: {e}");
                    }
                    update(&view, |v| {
                        v.peers.retain(|p| *p != peer.to_string());
                        v.banned.push(Ban { peer: peer.to_string(), reason: reason.clone(), at_ms: crate::ledger::now_ms() });
                    });
                    tracing::warn!(event = "peer_banned", %peer, %reason, "peer banned");
                }
                Some(MeshEvent::Rejected { from, reason, topic }) => {
                    tracing::warn!(event = "gossip_rejected", %from, %topic, %reason, "rejected gossip");
                }
            },
        }
    }
    mesh.stop().await;
}

/// Publishes own entries from seq `from` up to the head; returns the next seq to publish.
async fn flush(mesh: &Mesh, ledger: &Arc<Ledger>, from: u64) -> u64 {
    let l = ledger.clone();
    let entries = tokio::task::spawn_blocking(move || -> Vec<SignedEntry> {
        let Ok(Some((head, _))) = l.head(&l.owner()) else {
            return Vec::new();
        };
        l.range(&l.owner(), from, head + 1)
            .filter_map(|r| r.ok().map(|(e, _)| e))
            .collect()
    })
    .await
    .unwrap_or_default();
    let mut next = from;
    for entry in entries {
        match mesh.publish(Topic::Entries, entry.to_bytes()).await {
            Ok(()) => {}
            // Already in the network's recent history: nothing to do.
            Err(e) if e.to_string().contains("Duplicate") => {}
            Err(e) => {
                tracing::debug!(seq = entry.body.seq, "not published yet: {e}");
                break;
            }
        }
        next = entry.body.seq + 1;
    }
    next
}

async fn ingest(ledger: &Arc<Ledger>, data: Vec<u8>, from: PeerId) {
    let Ok(entry) = SignedEntry::from_bytes(&data) else {
        return;
    };
    let (actor, seq, tx) = (entry.body.actor, entry.body.seq, entry.tx_id());
    let l = ledger.clone();
    match tokio::task::spawn_blocking(move || l.ingest(vec![entry])).await {
        Ok(Ok(outcomes)) => {
            let outcome = format!("{:?}", outcomes.first());
            tracing::info!(event = "entry_ingested", %from, actor = %actor, seq, tx = %tx, %outcome, "entry from peer");
        }
        Ok(Err(e)) => tracing::error!(tx = %tx, "ledger error ingesting a peer's entry: {e}"),
        Err(e) => tracing::error!("ingest task failed: {e}"),
    }
}
