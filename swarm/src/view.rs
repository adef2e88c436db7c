//! What the mesh looks like from this node (`ippoc peers`, `ippoc status`),
//! and the persisted ban list.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use ippoc_mesh::PeerId;
use tokio::sync::watch;

use crate::Error;

/// What the mesh looks like from this node.
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
    /// The last heartbeat heard from each node (NodeId hex → what it said).
    #[serde(default)]
    pub heard: BTreeMap<String, Heard>,
    /// Counters since start.
    #[serde(default)]
    pub stats: MeshStats,
    /// The parameter tables the swarm document says nodes price under, most
    /// nodes first: more than one line is a DAO change still spreading, or a
    /// node following another DAO.
    #[serde(default)]
    pub tables: Vec<TableCount>,
    /// The integrity scores of the newest closed cycle (docs/integrity.md).
    #[serde(default)]
    pub gi: Option<ippoc_economy::store::GiTable>,
    /// The digests of the recent cycles' GI tables (cycle, hex), oldest
    /// first, at most `GI_DIGESTS_KEPT`: equal at every node that holds the
    /// same chains.
    #[serde(default)]
    pub gi_digests: Vec<(u64, String)>,
    /// Every known node's tier and penalties after the newest closed cycle
    /// (docs/integrity.md, "Standing").
    #[serde(default)]
    pub standings: Option<ippoc_economy::standing::Standings>,
    /// The newest epoch's checkpoint tally: how many votes heard agreed with
    /// this node's state root at its end, and how many did not.
    #[serde(default)]
    pub checkpoint_tally: Option<crate::doc::Observation>,
    /// The newest failed anti-entropy round: its peer and why.
    #[serde(default)]
    pub sync_last_error: Option<String>,
    /// The newest anti-entropy rounds, oldest first, at most
    /// [`SYNC_RECENT_KEPT`]: with whom, why, what they brought or why they failed.
    #[serde(default)]
    pub sync_recent: std::collections::VecDeque<SyncAttempt>,
}

/// Anti-entropy rounds the view keeps ([`MeshView::sync_recent`]).
pub const SYNC_RECENT_KEPT: usize = 8;

/// One finished anti-entropy round, for people diagnosing a node that lags.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SyncAttempt {
    /// The peer asked.
    pub peer: String,
    /// Why the round ran: `connect`, `turn` (the periodic round) or
    /// `behind` (a heartbeat showed this node behind).
    pub why: String,
    /// When it ended, Unix ms.
    pub at_ms: u64,
    /// Entries it fetched.
    pub entries: u64,
    /// Why it failed, if it did.
    pub error: Option<String>,
}

/// How many nodes record one parameter table in the swarm document.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TableCount {
    /// The table's version.
    pub version: u32,
    /// SHA-256 (hex) of its canonical encoding.
    pub sha256: String,
    /// Nodes that record it.
    pub nodes: u64,
}

/// A node's last heartbeat, as heard.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Heard {
    /// Heartbeat number since that node started.
    pub beat: u64,
    /// Its state root then (hex).
    pub state_root: String,
    /// Entries it held.
    pub entries: u64,
    /// When this node heard it, Unix ms.
    pub at_ms: u64,
}

/// What the mesh did since the node started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MeshStats {
    /// Own entries published.
    pub entries_published: u64,
    /// Peers' entries received by gossip and stored.
    pub entries_ingested: u64,
    /// Of the entries gossip delivered, those verified a second time because
    /// the validator's verified copy was gone (see `validator::VERIFIED_WAITING_MAX`);
    /// 0 while the pump keeps up.
    #[serde(default)]
    pub entries_reverified: u64,
    /// Attestations this node issued (heartbeats, receipts, checkpoint votes, warrants).
    pub attestations_sent: u64,
    /// Valid attestations received.
    pub attestations_received: u64,
    /// Warrants this node issued.
    pub warrants_sent: u64,
    /// Valid warrants received.
    pub warrants_received: u64,
    /// Finished sync rounds.
    pub sync_rounds: u64,
    /// Anti-entropy rounds that failed (the peer went, timed out, or served
    /// something wrong).
    #[serde(default)]
    pub sync_failed: u64,
    /// Rounds started because a peer's heartbeat showed it had held more
    /// entries an attestation interval ago than this node holds now.
    #[serde(default)]
    pub sync_behind: u64,
    /// Entries fetched by sync.
    pub sync_entries: u64,
    /// Of those, entries of chains gossip showed ahead, fetched from the
    /// peer that showed them (a chase) rather than by the periodic round.
    #[serde(default)]
    pub chased_entries: u64,
    /// Bytes sync received.
    pub sync_bytes: u64,
    /// Of those, canonical bytes of entries this node was missing.
    pub sync_missing_bytes: u64,
    /// Nodes in the swarm document's directory.
    pub doc_members: u64,
    /// Ban records in the swarm document.
    pub doc_ban_records: u64,
    /// Bounty results this node produced and gossiped.
    pub bounties_worked: u64,
    /// Bounties of this node paid to a worker whose result checked out.
    pub bounties_paid: u64,
    /// Peers' gossiped entries dropped over their actor's rate.
    #[serde(default)]
    pub entries_throttled: u64,
    /// Entries sync rounds left for later, over their actor's rate (an
    /// entry asked for again counts again).
    #[serde(default)]
    pub sync_throttled: u64,
    /// Attestations dropped over their issuer's rate.
    #[serde(default)]
    pub attestations_throttled: u64,
    /// Peers that went over their per-peer rate (gossip or sync requests).
    #[serde(default)]
    pub peers_throttled: u64,
    /// Waiting entries dropped after waiting too long.
    #[serde(default)]
    pub pending_expired: u64,
    /// Gossiped entries the ledger refused after the validator let them
    /// through (counted against the peer that sent them).
    #[serde(default)]
    pub entries_refused: u64,
    /// Gossiped entries the ledger stored as bounced (charged to their author's rate).
    #[serde(default)]
    pub entries_bounced: u64,
}

/// The view, shared between the mesh pump, the admin API and whoever waits
/// for the mesh to reach a state (tests, the simulator).
#[derive(Clone)]
pub struct SharedMeshView {
    view: Arc<Mutex<MeshView>>,
    changed: Arc<watch::Sender<u64>>,
}

impl Default for SharedMeshView {
    fn default() -> Self {
        SharedMeshView {
            view: Default::default(),
            changed: Arc::new(watch::Sender::new(0)),
        }
    }
}

impl SharedMeshView {
    /// A copy of the view now.
    pub fn get(&self) -> MeshView {
        self.view.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Reads the view in place, without copying it.
    pub fn read<T>(&self, f: impl FnOnce(&MeshView) -> T) -> T {
        f(&self.view.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Changes the view and wakes whoever waits on it.
    pub fn update(&self, change: impl FnOnce(&mut MeshView)) {
        change(&mut self.view.lock().unwrap_or_else(|p| p.into_inner()));
        self.changed.send_modify(|n| *n += 1);
    }

    /// A receiver woken by every change from now on.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Waits until `done` holds. `done` is re-checked after every change of
    /// the view (every ingest, sync round, ban and heartbeat changes it), so it
    /// may also look at state the mesh changes alongside, such as the ledger.
    pub async fn wait_until(&self, mut done: impl FnMut(&MeshView) -> bool) {
        let mut changes = self.changed.subscribe();
        loop {
            if done(&self.get()) {
                return;
            }
            if changes.changed().await.is_err() {
                return;
            }
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
pub fn read_bans(path: &std::path::Path) -> Result<Vec<Ban>, Error> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::Mesh(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(Error::io("cannot read", path, e)),
    }
}

/// Records a ban; the file keeps the newest [`ippoc_mesh::mesh::BANS_MAX`]
/// (the mesh lifts older ones too), so fresh keys cannot grow it without end.
pub(crate) fn record_ban(path: &std::path::Path, peer: PeerId, reason: &str) -> Result<(), Error> {
    let mut bans = read_bans(path)?;
    bans.push(Ban {
        peer: peer.to_string(),
        reason: reason.to_string(),
        at_ms: crate::ledger::now_ms(),
    });
    let excess = bans.len().saturating_sub(ippoc_mesh::mesh::BANS_MAX);
    bans.drain(..excess);
    let json = serde_json::to_vec_pretty(&bans).expect("bans serialize");
    crate::fsutil::write_atomic(path, &json, 0o644)
}
