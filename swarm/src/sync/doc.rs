//! The swarm document's anti-entropy: Automerge's sync protocol, one
//! message each way per round, until neither side has anything to send.

use ippoc_mesh::{MeshClient, PeerId};

use super::SyncError;
use crate::doc::{SharedSwarmDoc, lock};
use crate::protocol::{SyncRequest, SyncResponse, ask};

/// Most request-response rounds of one swarm-document sync.
pub const DOC_SYNC_ROUNDS_MAX: usize = 32;

/// Runs Automerge's sync protocol with `peer` until neither side has
/// anything to send; returns the rounds it took.
pub async fn doc_sync_with(client: &MeshClient, doc: &SharedSwarmDoc, peer: PeerId) -> Result<usize, SyncError> {
    let name = peer.to_string();
    for round in 1..=DOC_SYNC_ROUNDS_MAX {
        let out = lock(doc)
            .sync_message(&name)
            .map_err(|e| SyncError::Doc(e.to_string()))?;
        let sent = out.is_some();
        let (response, _) = ask(client, peer, &SyncRequest::Doc(out.unwrap_or_default())).await?;
        let reply = match response {
            SyncResponse::Doc(r) => r,
            other => return Err(SyncError::unexpected(peer, "a document message", &other)),
        };
        let received = reply.is_some();
        if let Some(message) = reply {
            lock(doc)
                .receive(&name, &message)
                .map_err(|e| SyncError::Doc(e.to_string()))?;
        }
        if !sent && !received {
            return Ok(round);
        }
    }
    Ok(DOC_SYNC_ROUNDS_MAX)
}

/// The answer to a peer's document sync message (empty: it has none to send).
pub fn serve(doc: &SharedSwarmDoc, peer: &PeerId, message: &[u8]) -> SyncResponse {
    let mut doc = lock(doc);
    let peer = peer.to_string();
    if !message.is_empty()
        && let Err(e) = doc.receive(&peer, message)
    {
        return SyncResponse::Error(e.to_string());
    }
    match doc.sync_message(&peer) {
        Ok(m) => SyncResponse::Doc(m),
        Err(e) => SyncResponse::Error(e.to_string()),
    }
}
