//! The wire format of the request-response protocol peers answer each
//! other on: anti-entropy sync of chains (heads, ranges), the swarm
//! document's Automerge sync, and module fetch by hash. One protocol, one
//! set of size limits and timeouts in the mesh; each concern has its own
//! module (`sync::ledger`, `sync::doc`, `skills`) and `responder` serves
//! them all.
//!
//! Encoding: the canonical bincode of `docs/ledger-format.md`.
//! `SyncRequest::Heads | Range { actor, from, limit } | Doc(msg) | Module(sha256) | VotedHeads { epoch, digest } | MintSignature { owner, tranche, cycle } | Ranges([(actor, from, limit)])` →
//! `SyncResponse::Heads([(actor, head seq)]) | Entries([signed entry bytes]) | Doc(msg?) | Error(text) | Module(wasm?) | VotedHeads([head]?) | MintSignature(signature or refusal) | Ranges([[signed entry bytes]])`.
//! New variants are only ever appended, so the tags of the old stay.

use bincode::{Decode, Encode};
use ippoc_economy::{NodeId, encoding};
use ippoc_mesh::{MeshClient, MeshError, PeerId};

/// Most entries one range response carries.
pub const SYNC_BATCH_ENTRIES_MAX: u64 = 256;
/// Most chains one [`SyncRequest::Ranges`] names; a longer one is refused.
pub const SYNC_RANGES_CHAINS_MAX: usize = 64;
/// Most entries one [`SyncResponse::Ranges`] carries over all its chains:
/// the chains past it get none (the asker asks again).
pub const SYNC_RANGES_ENTRIES_MAX: u64 = 1024;

/// A request.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub enum SyncRequest {
    /// Every chain head the peer holds.
    Heads,
    /// Up to `limit` entries of `actor` from seq `from`.
    Range {
        /// Chain.
        actor: NodeId,
        /// First seq.
        from: u64,
        /// Most entries.
        limit: u64,
    },
    /// An Automerge sync message for the swarm document (empty: none to send).
    Doc(Vec<u8>),
    /// The skill module with this SHA-256 (the evolution flow's fetch by hash).
    Module([u8; 32]),
    /// The heads the peer voted for as the chains cut at the end of `epoch`,
    /// if their digest is `digest` (a node that did not vote for the cut the
    /// swarm agreed on asks for it, docs/integrity.md).
    VotedHeads {
        /// The epoch.
        epoch: u64,
        /// The digest the majority voted.
        digest: [u8; 32],
    },
    /// A sentinel's signature on the mint of `owner`'s sealed tranche
    /// citing closed `cycle` (docs/issuance.md, "The ceremony").
    MintSignature {
        /// Whose tranche.
        owner: NodeId,
        /// Its sequence.
        tranche: u64,
        /// The closed cycle the mint cites.
        cycle: u64,
    },
    /// Several chains' ranges in one request, `(actor, from, limit)` each
    /// (at most [`SYNC_RANGES_CHAINS_MAX`]): what a round needs of a peer
    /// after a partition, in one round trip instead of one per chain.
    Ranges(Vec<(NodeId, u64, u64)>),
}

/// A response.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub enum SyncResponse {
    /// `(actor, head seq)` of every chain.
    Heads(Vec<(NodeId, u64)>),
    /// Canonical bytes of consecutive entries.
    Entries(Vec<Vec<u8>>),
    /// The answering Automerge sync message, if the responder has one.
    Doc(Option<Vec<u8>>),
    /// The request could not be served.
    Error(String),
    /// The module asked for, if the responder holds it.
    Module(Option<Vec<u8>>),
    /// The voted heads asked for, if the responder recorded them.
    VotedHeads(Option<Vec<ippoc_economy::store::Head>>),
    /// The sentinel's signature, or why it does not sign.
    MintSignature(Result<ippoc_economy::entry::SentinelSignature, String>),
    /// Per chain of a [`SyncRequest::Ranges`], in its order: canonical
    /// bytes of consecutive entries (at most [`SYNC_RANGES_ENTRIES_MAX`] in all).
    Ranges(Vec<Vec<Vec<u8>>>),
}

/// Why an exchange with a peer failed.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// The request did not reach the peer or no answer came back.
    #[error(transparent)]
    Mesh(#[from] MeshError),
    /// The answer does not decode.
    #[error("undecodable answer from {peer}: {reason}")]
    Undecodable {
        /// The peer.
        peer: PeerId,
        /// The decoder's complaint.
        reason: String,
    },
}

/// Sends `request` to `peer`; the answer and its size on the wire.
pub async fn ask(
    client: &MeshClient,
    peer: PeerId,
    request: &SyncRequest,
) -> Result<(SyncResponse, u64), ExchangeError> {
    let bytes = client.request(peer, encoding::encode(request)).await?;
    let response = encoding::decode(&bytes).map_err(|e| ExchangeError::Undecodable {
        peer,
        reason: e.to_string(),
    })?;
    Ok((response, bytes.len() as u64))
}
