//! The node's say over what the mesh delivers and forwards.

use libp2p::PeerId;

use crate::topic::Topic;

/// A validator's verdict on one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Deliver it and forward it.
    Accept,
    /// Drop it, do not forward it, and count it against the sender: it breaks
    /// a rule that may depend on the node's state, so an honest relay could
    /// have forwarded it in good faith.
    Reject(String),
    /// Provably invalid whatever anyone's state (a forged signature, bytes that
    /// do not decode): an honest peer validates before forwarding and never
    /// relays such a message, so the peer that sent it is banned at once.
    Forged(String),
    /// Drop it without blame (for example: already known, or not for us).
    Ignore,
}

/// Judges gossip before it is delivered or forwarded. `ippoc-node`
/// implements it with the ledger's verification.
pub trait Validator: Send + Sync + 'static {
    /// The verdict on `data`, received on `topic` from `source` (the peer that
    /// forwarded it to us).
    fn validate(&self, topic: Topic, data: &[u8], source: &PeerId) -> Verdict;
}

impl<F> Validator for F
where
    F: Fn(Topic, &[u8], &PeerId) -> Verdict + Send + Sync + 'static,
{
    fn validate(&self, topic: Topic, data: &[u8], source: &PeerId) -> Verdict {
        self(topic, data, source)
    }
}

/// Answers anti-entropy sync requests. The mesh carries the bytes; the node
/// decides what they mean (`ippoc-node` serves chain heads and entry ranges).
pub trait SyncResponder: Send + Sync + 'static {
    /// The response to `request` from `peer`.
    fn respond(&self, peer: &PeerId, request: &[u8]) -> Vec<u8>;
}

/// A responder for nodes that serve nothing (tests, light peers).
pub struct NoSync;

impl SyncResponder for NoSync {
    fn respond(&self, _: &PeerId, _: &[u8]) -> Vec<u8> {
        Vec::new()
    }
}
