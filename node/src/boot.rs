//! The atomic boot sequence (DESIGN.md §3).
//!
//! Each step either succeeds or the boot stops with a [`BootError`] naming the
//! step. A node directory created during a boot that then fails is removed
//! again, so a failed first boot leaves the data dir as it found it; an
//! existing node is never modified by a failed boot.
//!
//! | # | step          | what it does                                              |
//! |---|---------------|-----------------------------------------------------------|
//! | 1 | `config`      | read and validate the configuration                        |
//! | 2 | `lock`        | take the data-dir lock (one process per data dir)          |
//! | 3 | `identity`    | load the node's key, or create the node                    |
//! | 4 | `fingerprint` | the hardware must be the hardware the node was bound to    |
//! | 5 | `permissions` | key files must be 0600 (refused, never silently fixed)     |
//! | 6 | `logs`        | open the rotated JSON log in the node's `logs/`            |
//! | 7 | `ledger`      | install the genesis, open the ledger, verify its own head  |
//! | 8 | `sandbox`     | build the wasmtime engine and open the module cache        |
//! | 9 | `admin-api`   | listen on 127.0.0.1 and publish `data/api.endpoint`        |
//! |10 | `mesh`        | start the node in the swarm (`ippoc_swarm::node::NodeBuilder`): listen, dial, gossip, and with `[governance] rpc` the DAO watcher |
//! |11 | `ready`       | tell systemd READY=1                                       |
//!
//! Steps 1–7 are [`boot_node`] (shared by `ippoc init`, the daemon and the
//! CLI's direct access to a stopped node); steps 8–11 belong to the daemon
//! module.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use ippoc_economy::store::Ledger;
use ippoc_swarm::guard::SigningGuard;

use crate::config::Config;
use crate::error::NodeError;
use crate::hardware::{Fingerprint, HardwareProbe};
use crate::identity::{self, Identity};
use crate::ledger as node_ledger;
use crate::lock::DataDirLock;
use crate::logging::Logging;
use crate::paths::DataDir;
use ippoc_swarm::fsutil;

/// A step of the boot sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootStep {
    /// Read and validate the configuration.
    Config,
    /// Take the data-dir lock.
    Lock,
    /// Load or create the identity.
    Identity,
    /// Verify the hardware fingerprint.
    Fingerprint,
    /// Check key file permissions.
    Permissions,
    /// Open the JSON log.
    Logs,
    /// Install the genesis and open the ledger.
    Ledger,
    /// Build the sandbox.
    Sandbox,
    /// Start the admin API.
    AdminApi,
    /// Start the mesh.
    Mesh,
    /// Notify systemd.
    Ready,
}

impl BootStep {
    /// All steps, in order.
    pub const ALL: [BootStep; 11] = [
        BootStep::Config,
        BootStep::Lock,
        BootStep::Identity,
        BootStep::Fingerprint,
        BootStep::Permissions,
        BootStep::Logs,
        BootStep::Ledger,
        BootStep::Sandbox,
        BootStep::AdminApi,
        BootStep::Mesh,
        BootStep::Ready,
    ];

    /// The step's name as printed.
    pub fn name(self) -> &'static str {
        match self {
            BootStep::Config => "config",
            BootStep::Lock => "lock",
            BootStep::Identity => "identity",
            BootStep::Fingerprint => "fingerprint",
            BootStep::Permissions => "permissions",
            BootStep::Logs => "logs",
            BootStep::Ledger => "ledger",
            BootStep::Sandbox => "sandbox",
            BootStep::AdminApi => "admin-api",
            BootStep::Mesh => "mesh",
            BootStep::Ready => "ready",
        }
    }

    /// 1-based position.
    pub fn number(self) -> usize {
        Self::ALL.iter().position(|s| *s == self).expect("every step is listed") + 1
    }
}

/// A boot step failed.
#[derive(Debug)]
pub struct BootError {
    /// Which step.
    pub step: BootStep,
    /// Why.
    pub error: NodeError,
}

impl BootError {
    /// Tags `error` with `step`.
    pub fn at<E: Into<NodeError>>(step: BootStep) -> impl FnOnce(E) -> BootError {
        move |error| BootError {
            step,
            error: error.into(),
        }
    }
}

impl fmt::Display for BootError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "boot step {}/{} ({}) failed: {}",
            self.step.number(),
            BootStep::ALL.len(),
            self.step.name(),
            self.error
        )
    }
}

impl std::error::Error for BootError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// What a boot may do beyond loading an existing node.
#[derive(Debug, Clone, Default)]
pub struct BootOptions {
    /// Create the node if the data dir has none (`init`, `daemon`); otherwise
    /// a missing node is an error (CLI access to a stopped node).
    pub create: bool,
    /// Genesis file to join (installed on first use, checked afterwards).
    pub genesis: Option<PathBuf>,
}

/// A node that passed boot steps 2–7, holding the data-dir lock.
#[derive(Debug)]
pub struct BootedNode {
    /// The data dir.
    pub data_dir: DataDir,
    /// The identity.
    pub identity: Identity,
    /// True when this boot created the node.
    pub created: bool,
    /// The verified hardware fingerprint.
    pub fingerprint: Fingerprint,
    /// The open ledger.
    pub ledger: Arc<Ledger>,
    /// The signing guard of the node's identity, reconciled with the ledger.
    pub guard: Arc<SigningGuard>,
    /// Held for the node's lifetime; released on drop.
    _lock: DataDirLock,
}

impl BootedNode {
    /// The node's own chain for a command that works on its files while no
    /// daemon runs (nothing listens for its appends: the next daemon publishes
    /// from its head).
    pub fn own_chain(&self) -> ippoc_swarm::OwnChain {
        ippoc_swarm::OwnChain::detached(
            self.ledger.clone(),
            self.identity.signing_key().clone(),
            self.guard.clone(),
        )
    }

    /// Undoes what this boot made: removes the node directory if this boot
    /// created it (an existing node is left as it was), then releases the lock.
    pub fn abandon(self, logging: &Logging) {
        // The ledger must be closed before its directory can go.
        drop(self.guard);
        drop(self.ledger);
        undo_creation(&self.identity, self.created, logging);
    }
}

fn undo_creation(identity: &Identity, created: bool, logging: &Logging) {
    if created {
        logging.detach_file();
        if let Err(e) = identity::remove_created_node(identity) {
            tracing::error!("could not remove the node directory this failed boot created: {e}");
        }
    }
}

/// Boot steps 2–7: lock, identity, fingerprint, permissions, logs, ledger.
pub fn boot_node(
    data_dir: &DataDir,
    config: &Config,
    probe: &dyn HardwareProbe,
    logging: &Logging,
    options: &BootOptions,
) -> Result<BootedNode, BootError> {
    let lock = DataDirLock::acquire(data_dir).map_err(BootError::at(BootStep::Lock))?;
    let (identity, created) = if options.create {
        let loaded = identity::load_or_create_identity(data_dir, probe).map_err(BootError::at(BootStep::Identity))?;
        (loaded.identity, loaded.created)
    } else {
        let existing = identity::load_existing_identity(data_dir).map_err(BootError::at(BootStep::Identity))?;
        (existing, false)
    };
    let checks = (|| {
        let fingerprint = verify_fingerprint(&identity, probe).map_err(BootError::at(BootStep::Fingerprint))?;
        check_permissions(&identity).map_err(BootError::at(BootStep::Permissions))?;
        logging
            .attach_file(&identity.paths().logs(), &config.log)
            .map_err(BootError::at(BootStep::Logs))?;
        let opened = node_ledger::install_genesis(
            identity.paths(),
            options.genesis.as_deref(),
            identity.node_id(),
            created,
        )
        .and_then(|genesis| {
            node_ledger::open_ledger(
                identity.paths(),
                genesis,
                identity.node_id(),
                config.storage.reserve_bytes,
            )
        })
        .map_err(BootError::at(BootStep::Ledger))?;
        // The signing guard is read against the ledger it guards (and may
        // restore entries signed just before a crash into it).
        let guard = SigningGuard::open(&identity.paths().signing_guard(), &opened, created, true)
            .map_err(BootError::at(BootStep::Ledger))?;
        Ok((fingerprint, opened, guard))
    })();
    match checks {
        Ok((fingerprint, opened, guard)) => {
            tracing::info!(
                node_id = %identity.node_id(),
                created,
                node_dir = %identity.paths().root().display(),
                "node identity loaded and bound to this hardware"
            );
            Ok(BootedNode {
                data_dir: data_dir.clone(),
                identity,
                created,
                fingerprint,
                ledger: Arc::new(opened),
                guard: Arc::new(guard),
                _lock: lock,
            })
        }
        Err(e) => {
            undo_creation(&identity, created, logging);
            Err(e)
        }
    }
}

/// Checks the node's recorded fingerprint against `probe`'s hardware.
pub fn verify_fingerprint(identity: &Identity, probe: &dyn HardwareProbe) -> Result<Fingerprint, NodeError> {
    let recorded = Fingerprint::read(&identity.paths().fingerprint())?;
    recorded.verify(&probe.probe()?)?;
    Ok(recorded)
}

/// Refuses to run with key files that group or others can access.
pub fn check_permissions(identity: &Identity) -> Result<(), NodeError> {
    for path in identity.paths().secret_files() {
        if path.exists() {
            fsutil::ensure_private_file(&path)?;
        }
    }
    Ok(())
}
