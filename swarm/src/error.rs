//! What can go wrong on the swarm side of a node, as values. The operator
//! host (`ippoc-node`) maps each to its documented exit code and HTTP status.

use std::path::PathBuf;

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
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
    /// A secret file has permissions wider than 0600.
    #[error("{path} has mode {mode:04o}; key files must be 0600 (fix with: chmod 600 {path})")]
    InsecurePermissions {
        /// The offending file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A secret file of the node is damaged.
    #[error("{path} is unusable: {reason}")]
    CorruptSecret {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A genesis file is invalid or of another swarm.
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
    /// The request itself is wrong (a field out of range, not hex, unknown):
    /// the message names the field. Nothing was done.
    #[error("{0}")]
    BadInput(String),
    /// The request was well-formed but refused: by the ledger's rules given
    /// the node's state (overdraft, Worker Mode), the sandbox, or the DAO's
    /// decisions (a skill not deployed).
    #[error("{0}")]
    Refused(String),
    /// The node may not sign now (its signing guard: recovering its own
    /// chain from peers, unknown, or in conflict with the ledger).
    #[error("this node may not sign now: {0}")]
    SigningBlocked(String),
    /// The disk holding the node's data is (nearly) full: nothing of the
    /// request was kept; it works again once space is freed.
    #[error("{0}")]
    StorageFull(String),
    /// The sandbox engine could not be built.
    #[error("sandbox: {0}")]
    Sandbox(String),
    /// The mesh could not start or answer.
    #[error("mesh: {0}")]
    Mesh(String),
}

impl Error {
    /// Shorthand for [`Error::Io`].
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
