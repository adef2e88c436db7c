//! The on-disk layout of a data dir (DESIGN.md §3); the layout of one node
//! inside it is `ippoc_swarm::layout::NodePaths`, which the in-process nodes
//! of tests and the simulator use too.
//!
//! ```text
//! <data-dir>/
//! ├── ippoc.lock            held by the one process that owns this data dir
//! ├── config.toml           optional; read when --config is not given
//! └── nodes/<NodeID>/
//!     ├── data/             identity.key, fingerprint.json, api.token (0600), api.endpoint, genesis.json
//!     ├── memory/           agent memory (reserved)
//!     ├── sandbox/          module cache and scratch
//!     ├── economy/ledger/   the ledger (sled)
//!     └── logs/             JSON logs
//! ```

use std::path::{Path, PathBuf};

use ippoc_economy::NodeId;
pub use ippoc_swarm::layout::{NODE_SUBDIRS, NodePaths};

/// Name of the directory under the data dir that holds node directories.
pub const NODES_DIR: &str = "nodes";
/// Prefix of a node directory still being assembled; never a valid node.
pub const STAGING_PREFIX: &str = ".staging-";

/// Paths of the data dir as a whole.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// Wraps a data dir path (it need not exist yet).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DataDir { root: root.into() }
    }
    /// The data dir itself.
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// `<data-dir>/nodes`.
    pub fn nodes(&self) -> PathBuf {
        self.root.join(NODES_DIR)
    }
    /// `<data-dir>/ippoc.lock`.
    pub fn lock_file(&self) -> PathBuf {
        self.root.join("ippoc.lock")
    }
    /// `<data-dir>/config.toml`, the config read when none is named.
    pub fn default_config(&self) -> PathBuf {
        self.root.join("config.toml")
    }
    /// The paths of the node `id` in this data dir.
    pub fn node(&self, id: &NodeId) -> NodePaths {
        NodePaths::new(self.nodes().join(id.to_string()))
    }
}
