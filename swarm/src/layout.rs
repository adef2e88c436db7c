//! The on-disk layout of one node directory (DESIGN.md §3), the same for a
//! daemon (`<data-dir>/nodes/<NodeID>/`) and an in-process node of a test or
//! the simulator.
//!
//! ```text
//! <node dir>/
//! ├── data/             identity.key, eth.key, api.token (0600), fingerprint.json, api.endpoint,
//! │                     genesis.json, bans.json, swarm.automerge, signing.guard
//! ├── memory/           agent memory (reserved)
//! ├── sandbox/          modules/ (compiled-module cache), cache.key, skills/
//! ├── economy/ledger/   the ledger (sled)
//! └── logs/             JSON logs
//! ```

use std::path::{Path, PathBuf};

/// Subdirectories every node directory has.
pub const NODE_SUBDIRS: [&str; 5] = ["data", "memory", "sandbox", "economy", "logs"];

/// Paths inside one node directory.
#[derive(Debug, Clone)]
pub struct NodePaths {
    root: PathBuf,
}

impl NodePaths {
    /// Wraps a node directory path.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        NodePaths { root: root.into() }
    }
    /// The node directory.
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// `data/`: secrets and small state files.
    pub fn data(&self) -> PathBuf {
        self.root.join("data")
    }
    /// `data/identity.key`: the Ed25519 secret key, PKCS#8 PEM.
    pub fn identity_key(&self) -> PathBuf {
        self.data().join("identity.key")
    }
    /// `data/fingerprint.json`: the hardware this node is bound to.
    pub fn fingerprint(&self) -> PathBuf {
        self.data().join("fingerprint.json")
    }
    /// `data/api.token`: bearer token of the admin API.
    pub fn api_token(&self) -> PathBuf {
        self.data().join("api.token")
    }
    /// `data/api.endpoint`: address the running daemon's admin API listens on.
    pub fn api_endpoint(&self) -> PathBuf {
        self.data().join("api.endpoint")
    }
    /// `data/metrics.endpoint`: where the metrics listener listens (while it runs).
    pub fn metrics_endpoint(&self) -> PathBuf {
        self.data().join("metrics.endpoint")
    }
    /// `data/genesis.json`: the swarm this node belongs to.
    pub fn genesis(&self) -> PathBuf {
        self.data().join("genesis.json")
    }
    /// `data/bans.json`: peers this node banned, kept across restarts.
    pub fn bans(&self) -> PathBuf {
        self.data().join("bans.json")
    }
    /// `data/swarm.automerge`: the swarm document (membership, bans, observations, parameters).
    pub fn swarm_doc(&self) -> PathBuf {
        self.data().join("swarm.automerge")
    }
    /// `economy/ledger`: the sled database of the ledger.
    pub fn ledger(&self) -> PathBuf {
        self.root.join("economy").join("ledger")
    }
    /// `sandbox/modules`: the compiled-module cache.
    pub fn sandbox_modules(&self) -> PathBuf {
        self.root.join("sandbox").join("modules")
    }
    /// `sandbox/cache.key`: secret that authenticates the module cache (0600).
    pub fn sandbox_cache_key(&self) -> PathBuf {
        self.root.join("sandbox").join("cache.key")
    }
    /// `sandbox/skills`: skill modules by content hash (deployed or proposed by this node).
    pub fn skills(&self) -> PathBuf {
        self.root.join("sandbox").join("skills")
    }
    /// `data/signing.guard`: the highest position this identity signed (`guard`).
    pub fn signing_guard(&self) -> PathBuf {
        self.data().join("signing.guard")
    }
    /// `data/eth.key`: the node's Ethereum key (checkpoint co-signatures, node votes), 0600.
    pub fn eth_key(&self) -> PathBuf {
        self.data().join("eth.key")
    }
    /// `logs/`: rotated JSON logs.
    pub fn logs(&self) -> PathBuf {
        self.root.join("logs")
    }
    /// Every secret file that must stay 0600 (those that exist are checked).
    pub fn secret_files(&self) -> [PathBuf; 4] {
        [
            self.identity_key(),
            self.api_token(),
            self.eth_key(),
            self.sandbox_cache_key(),
        ]
    }
}
