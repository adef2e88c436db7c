//! Typed errors of the node and the documented process exit codes they map to.

use std::path::PathBuf;

/// Process exit codes of `ippoc`; README.md documents the same table.
///
/// The codes are part of the operator interface: systemd's
/// `RestartPreventExitStatus` and scripts key on them, so a number never changes
/// meaning once released.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitStatus {
    /// The command did what was asked.
    Success = 0,
    /// An error not covered by a more specific code (I/O, unexpected state).
    Failure = 1,
    /// Wrong command-line arguments (clap's own code).
    Usage = 2,
    /// The data dir holds no node yet: run `ippoc init` or `ippoc daemon`.
    NotInitialized = 3,
    /// No daemon is answering on this data dir.
    DaemonUnreachable = 4,
    /// The daemon refused the admin token (HTTP 401).
    Unauthorized = 5,
    /// The ledger refused the request (insufficient funds, Worker Mode, bad input).
    Refused = 6,
    /// The hardware fingerprint does not match: the data dir was copied from
    /// other hardware (a clone) or the hardware changed; see `ippoc rebind`.
    CloneDetected = 10,
    /// Another `ippoc` process holds the data dir's lock.
    Locked = 11,
    /// A key file is readable or writable by group or others.
    InsecurePermissions = 12,
    /// The identity on disk is missing pieces, corrupt or ambiguous.
    IdentityInvalid = 13,
    /// The configuration file cannot be read or is invalid.
    ConfigInvalid = 14,
    /// A later boot step (admin API, service start) failed.
    ServiceFailed = 15,
    /// The ledger cannot be opened or verified, or the genesis is invalid or
    /// belongs to another swarm.
    LedgerInvalid = 16,
    /// The node may not sign now: it is recovering its own chain from peers
    /// (its ledger is behind its signing guard), its guard is missing, or the
    /// guard and the ledger disagree. `ippoc status` says which.
    SigningBlocked = 17,
    /// The disk holding the data dir is (nearly) full: nothing of the request
    /// was written. Free space; the daemon needs no restart.
    StorageFull = 18,
}

impl ExitStatus {
    /// The numeric code handed to the operating system.
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// Everything that can go wrong in the node library, as a value.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// A filesystem operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done, for example "cannot write".
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The data dir has no node identity.
    #[error("no node in {data_dir} (run `ippoc init` first)")]
    NotInitialized {
        /// The data dir that was searched.
        data_dir: PathBuf,
    },
    /// The identity key or the node directory is damaged.
    #[error("identity at {path} is unusable: {reason}")]
    IdentityCorrupt {
        /// The file or directory that is damaged.
        path: PathBuf,
        /// What exactly is wrong.
        reason: String,
    },
    /// Several node identities live in one data dir; which one to run is ambiguous.
    #[error(
        "{count} node identities in {nodes_dir} ({ids}); one data dir holds one node: move the others to their own data dirs"
    )]
    MultipleIdentities {
        /// `data/nodes`.
        nodes_dir: PathBuf,
        /// How many were found.
        count: usize,
        /// Their NodeIDs, comma-separated.
        ids: String,
    },
    /// The fingerprint of this machine differs from the one recorded at creation.
    #[error(
        "hardware fingerprint check failed: this node was created on other hardware ({changes}); refusing to boot a possible clone. If the hardware genuinely changed, run `ippoc rebind --confirm`"
    )]
    CloneDetected {
        /// Human-readable list of what differs, e.g. `hostname "a" -> "b"`.
        changes: String,
    },
    /// The fingerprint file is unreadable or internally inconsistent.
    #[error("fingerprint file {path} is invalid: {reason}")]
    FingerprintCorrupt {
        /// Path of fingerprint.json.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The hardware could not be probed.
    #[error("cannot read hardware facts: {0}")]
    HardwareProbe(String),
    /// A secret file has permissions wider than 0600.
    #[error("{path} has mode {mode:04o}; key files must be 0600 (fix with: chmod 600 {path})")]
    InsecurePermissions {
        /// The offending file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// Another process holds the data dir lock.
    #[error("{path} is locked by {holder}: another ippoc process is using this data dir")]
    Locked {
        /// The lock file.
        path: PathBuf,
        /// Who holds it, as far as the lock file says (e.g. "pid 1234").
        holder: String,
    },
    /// The configuration is invalid.
    #[error("config {path}: {reason}")]
    Config {
        /// The config file (or "<defaults>").
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The admin API could not listen.
    #[error("cannot listen on {addr}: {source}")]
    ApiBind {
        /// The address asked for.
        addr: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// No daemon answers on this data dir.
    #[error("no daemon is running on {data_dir} ({reason}); start it with `ippoc daemon`")]
    DaemonUnreachable {
        /// The data dir.
        data_dir: PathBuf,
        /// Why we think so.
        reason: String,
    },
    /// The daemon rejected our token.
    #[error(
        "the daemon rejected the admin token in {token_path} (HTTP 401); was the token file replaced while it ran?"
    )]
    Unauthorized {
        /// The token file used.
        token_path: PathBuf,
    },
    /// The genesis file is invalid or of another swarm.
    #[error("genesis {path}: {reason}")]
    Genesis {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The ledger cannot be opened or is damaged.
    #[error("ledger {path}: {reason}")]
    Ledger {
        /// The ledger directory.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The request itself is wrong; the message names the field.
    #[error("{0}")]
    BadInput(String),
    /// The ledger refused the request.
    #[error("{0}")]
    Refused(String),
    /// The sandbox engine could not be built.
    #[error("sandbox: {0}")]
    Sandbox(String),
    /// The mesh could not start.
    #[error("mesh: {0}")]
    Mesh(String),
    /// The node may not sign now: its signing guard says its ledger is
    /// behind what its identity signed, or does not know.
    #[error("this node may not sign now: {0}")]
    SigningBlocked(String),
    /// The disk holding the data dir is (nearly) full; nothing was written.
    #[error("{0}")]
    StorageFull(String),
    /// The daemon answered something we do not understand.
    #[error("unexpected answer from the daemon: {0}")]
    Protocol(String),
}

impl From<ippoc_swarm::integrity::GiError> for NodeError {
    fn from(e: ippoc_swarm::integrity::GiError) -> Self {
        use ippoc_swarm::integrity::GiError;
        match e {
            GiError::Ledger(e) => NodeError::Ledger {
                path: PathBuf::from("ledger"),
                reason: e.to_string(),
            },
            other => NodeError::BadInput(other.to_string()),
        }
    }
}

impl From<ippoc_swarm::Error> for NodeError {
    /// The swarm side's errors keep their meaning (and so their exit code).
    fn from(e: ippoc_swarm::Error) -> Self {
        use ippoc_swarm::Error as S;
        match e {
            S::Io { action, path, source } => NodeError::Io { action, path, source },
            S::InsecurePermissions { path, mode } => NodeError::InsecurePermissions { path, mode },
            S::CorruptSecret { path, reason } => NodeError::IdentityCorrupt { path, reason },
            S::Genesis { path, reason } => NodeError::Genesis { path, reason },
            S::Ledger { path, reason } => NodeError::Ledger { path, reason },
            S::BadInput(reason) => NodeError::BadInput(reason),
            S::Refused(reason) => NodeError::Refused(reason),
            S::Sandbox(reason) => NodeError::Sandbox(reason),
            S::Mesh(reason) => NodeError::Mesh(reason),
            S::SigningBlocked(reason) => NodeError::SigningBlocked(reason),
            S::StorageFull(reason) => NodeError::StorageFull(reason),
        }
    }
}

impl NodeError {
    /// The exit code this error ends the process with.
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            NodeError::Io { .. } | NodeError::Protocol(_) | NodeError::HardwareProbe(_) => ExitStatus::Failure,
            NodeError::NotInitialized { .. } => ExitStatus::NotInitialized,
            NodeError::IdentityCorrupt { .. }
            | NodeError::MultipleIdentities { .. }
            | NodeError::FingerprintCorrupt { .. } => ExitStatus::IdentityInvalid,
            NodeError::CloneDetected { .. } => ExitStatus::CloneDetected,
            NodeError::InsecurePermissions { .. } => ExitStatus::InsecurePermissions,
            NodeError::Locked { .. } => ExitStatus::Locked,
            NodeError::Config { .. } => ExitStatus::ConfigInvalid,
            NodeError::ApiBind { .. } | NodeError::Sandbox(_) | NodeError::Mesh(_) => ExitStatus::ServiceFailed,
            NodeError::DaemonUnreachable { .. } => ExitStatus::DaemonUnreachable,
            NodeError::Unauthorized { .. } => ExitStatus::Unauthorized,
            NodeError::Refused(_) | NodeError::BadInput(_) => ExitStatus::Refused,
            NodeError::SigningBlocked(_) => ExitStatus::SigningBlocked,
            NodeError::StorageFull(_) => ExitStatus::StorageFull,
            NodeError::Genesis { .. } | NodeError::Ledger { .. } => ExitStatus::LedgerInvalid,
        }
    }

    /// Shorthand for [`NodeError::Io`].
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        NodeError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
