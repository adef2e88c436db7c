//! IPPOC mesh: the node's peer-to-peer networking.
//!
//! rust-libp2p on tokio: TCP + Noise + Yamux and QUIC (and an in-memory
//! transport for in-process tests and the simulator), Identify, Ping,
//! Kademlia and mDNS discovery (each switchable), connection limits, and
//! gossipsub with versioned per-swarm topics, content-hash message ids and
//! *explicit validation*: a message is delivered to the node, and forwarded to
//! other peers, only after the node's [`Validator`] accepted it; a rejected
//! message goes no further and counts against the peer that sent it
//! (DESIGN.md §9). Request-response carries anti-entropy sync.
//!
//! It carries opaque bytes: it must not depend on `ippoc-economy`,
//! `ippoc-sandbox`, `ippoc-governance-bridge` or `ippoc-node`. The ledger's
//! rules reach it only through the validator `ippoc-node` supplies.

pub mod link;
pub mod mesh;
pub mod metrics;
pub mod rate;
pub mod redial;
pub mod topic;
pub mod validator;

pub use link::{Link, Links, LinksFn, SharedLinks};
pub use mesh::{
    KAD_PROTOCOL, Mesh, MeshClient, MeshConfig, MeshError, MeshEvent, RECONNECT_STALE_AFTER, SYNC_PROTOCOL, Transport,
};
pub use metrics::{GossipVerdict, MeshMetrics};
pub use rate::{Buckets, Rate};
pub use topic::Topic;
pub use validator::{NoSync, SyncResponder, Validator, Verdict};

pub use libp2p::{Multiaddr, PeerId, identity::Keypair, multiaddr};

/// The PeerId of the node whose Ed25519 public key is `public`: nodes use
/// their identity key for libp2p, so a NodeId names a peer with no directory.
pub fn peer_id_of_ed25519(public: &[u8; 32]) -> Option<PeerId> {
    let key = libp2p::identity::ed25519::PublicKey::try_from_bytes(public).ok()?;
    Some(libp2p::identity::PublicKey::from(key).to_peer_id())
}
