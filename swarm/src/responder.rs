//! What a node answers on the request-response protocol: each request goes
//! to the module of its concern (chain ranges, the swarm document, modules
//! by hash). The mesh carries the bytes and calls this.

use std::sync::Arc;

use ippoc_economy::encoding;
use ippoc_economy::store::Ledger;
use ippoc_mesh::{PeerId, SyncResponder};

use crate::doc::SharedSwarmDoc;
use crate::protocol::{SyncRequest, SyncResponse};
use crate::skills::SkillStore;
use crate::sync;

/// Serves heads and ranges from the ledger, the swarm document, and skill modules.
pub struct Responder {
    /// The ledger.
    pub ledger: Arc<Ledger>,
    /// The swarm document.
    pub doc: SharedSwarmDoc,
    /// The skill modules this node holds.
    pub skills: SkillStore,
    /// The own chain, whose key signs mint authorizations as a sentinel.
    pub chain: crate::OwnChain,
}

impl SyncResponder for Responder {
    fn respond(&self, peer: &PeerId, request: &[u8]) -> Vec<u8> {
        let response = match encoding::decode::<SyncRequest>(request) {
            Err(e) => SyncResponse::Error(format!("bad request: {e}")),
            Ok(SyncRequest::Heads) => sync::ledger::serve_heads(&self.ledger),
            Ok(SyncRequest::Range { actor, from, limit }) => {
                sync::ledger::serve_range(&self.ledger, &actor, from, limit)
            }
            Ok(SyncRequest::Ranges(ranges)) => sync::ledger::serve_ranges(&self.ledger, &ranges),
            Ok(SyncRequest::Doc(message)) => sync::doc::serve(&self.doc, peer, &message),
            // Content addressing makes serving any held module risk-free.
            Ok(SyncRequest::Module(hash)) => SyncResponse::Module(self.skills.get(&hash)),
            // Only heads of the digest asked for: the asker checks them again.
            Ok(SyncRequest::VotedHeads { epoch, digest }) => match self.ledger.voted_heads(epoch) {
                Ok(heads) => {
                    SyncResponse::VotedHeads(heads.filter(|h| ippoc_economy::store::heads_digest(h) == digest))
                }
                Err(e) => SyncResponse::Error(e.to_string()),
            },
            // A sentinel signs only what its own records let through.
            Ok(SyncRequest::MintSignature { owner, tranche, cycle }) => SyncResponse::MintSignature(
                self.chain
                    .authorize_mint(&owner, tranche, cycle, crate::ledger::now_ms())
                    .map_err(|e| e.to_string()),
            ),
        };
        encoding::encode(&response)
    }
}
