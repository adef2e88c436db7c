//! What the node knows of the DAO's decisions, as its governance watcher
//! read them from the chain: a plain record that the skills (may this one
//! run?), the admin API and `ippoc status` read, and only the watcher writes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// A skill the DAO deployed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    /// The proposal that deployed it.
    pub proposal: u64,
    /// The block it happened in.
    pub block: u64,
}

/// What the node knows of the DAO's decisions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GovView {
    /// Whether a chain is configured.
    pub connected: bool,
    /// The chain's latest block the view covers.
    pub block: u64,
    /// When the watcher last read the chain up to its head (Unix ms; 0 = never).
    #[serde(default)]
    pub read_at_ms: u64,
    /// Deployed skills by module hash (hex).
    pub deployed: BTreeMap<String, Deployment>,
    /// Revoked skills (hex).
    pub revoked: BTreeSet<String>,
    /// Deployed skills this node holds a verified copy of (hex).
    pub held: BTreeSet<String>,
    /// Governed parameters as executed: name (or hex key, for a key that is
    /// not a ledger parameter) → value (decimal).
    pub parameters: BTreeMap<String, String>,
    /// Version of the newest parameter table the ledger adopted (0 = genesis).
    pub params_version: u32,
    /// The last error talking to the chain or fetching a module, if the last round had one.
    pub last_error: Option<String>,
}

/// The view, shared; every change wakes its subscribers.
pub type SharedGovView = Arc<watch::Sender<GovView>>;

/// A fresh, unconnected view.
pub fn new_view() -> SharedGovView {
    Arc::new(watch::Sender::new(GovView::default()))
}
