//! Anti-entropy between two nodes over the request-response protocol
//! (`crate::protocol`): chains by heads and ranges ([`ledger`]), the swarm
//! document by Automerge's sync protocol ([`doc`]). Both run whenever a peer
//! connects — first contact, restarts, healed partitions — and periodically
//! with one peer in turn.

pub mod doc;
pub mod ledger;

use ippoc_economy::store::LedgerError;
use ippoc_mesh::PeerId;

use crate::protocol::{ExchangeError, SyncResponse};

/// What one sync round moved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Entries fetched.
    pub entries: u64,
    /// Response bytes received (everything that crossed the wire to us).
    pub bytes: u64,
    /// Canonical bytes of the fetched entries this node did not hold: what
    /// was missing. `bytes / missing_bytes` is sync's overhead.
    pub missing_bytes: u64,
    /// Requests made.
    pub requests: u64,
    /// Fetched entries that revealed a fork.
    pub forks: u64,
    /// Entries left for a later round: over their actor's rate.
    pub throttled: u64,
    /// The slowest request's round trip, ms (a slow peer or a busy mesh shows here).
    pub slowest_ms: u64,
}

/// Why a sync round stopped before its end.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The exchange with the peer failed.
    #[error(transparent)]
    Exchange(#[from] ExchangeError),
    /// The peer answered the wrong kind of response.
    #[error("{peer} answered {got} where {expected} was asked for")]
    Unexpected {
        /// The peer.
        peer: PeerId,
        /// What was asked for.
        expected: &'static str,
        /// What came back (its kind, or the peer's error text).
        got: String,
    },
    /// An entry from the peer does not decode.
    #[error("undecodable entry from {peer}: {reason}")]
    BadEntry {
        /// The peer.
        peer: PeerId,
        /// The decoder's complaint.
        reason: String,
    },
    /// The local ledger failed.
    #[error("ledger: {0}")]
    Ledger(#[from] LedgerError),
    /// The swarm document refused the peer's message.
    #[error("swarm document: {0}")]
    Doc(String),
    /// A blocking task of the round died.
    #[error("sync task: {0}")]
    Task(String),
}

impl SyncError {
    /// The peer does not speak the sync protocol at all.
    pub fn unsupported(&self) -> bool {
        matches!(
            self,
            SyncError::Exchange(ExchangeError::Mesh(ippoc_mesh::MeshError::Unsupported { .. }))
        )
    }
}

/// The kind of a response, for messages.
fn kind(r: &SyncResponse) -> String {
    match r {
        SyncResponse::Heads(_) => "heads".into(),
        SyncResponse::Entries(_) => "entries".into(),
        SyncResponse::Doc(_) => "a document message".into(),
        SyncResponse::Module(_) => "a module".into(),
        SyncResponse::VotedHeads(_) => "voted heads".into(),
        SyncResponse::MintSignature(_) => "a mint signature".into(),
        SyncResponse::Ranges(_) => "ranges".into(),
        SyncResponse::Error(e) => format!("an error ({e})"),
    }
}

impl SyncError {
    fn unexpected(peer: PeerId, expected: &'static str, got: &SyncResponse) -> SyncError {
        SyncError::Unexpected {
            peer,
            expected,
            got: kind(got),
        }
    }
}
