//! Helpers the in-process swarm tests share (`bounty.rs`, `mesh_local.rs`,
//! `restart.rs`).

// Each test binary uses some of these helpers.
#![allow(dead_code)]

use std::time::Duration;

use ed25519_dalek::SigningKey;
use ippoc_economy::{NodeId, TxId};
use ippoc_swarm::local::LocalNode;

/// Generous bound for anything a test waits for; reached only on a real hang.
pub const WAIT: Duration = Duration::from_secs(60);
/// One IPPC in base units.
pub const IPPC: u64 = 1_000_000;

/// The NodeId of a key.
pub fn id(k: &SigningKey) -> NodeId {
    NodeId::from_bytes(k.verifying_key().to_bytes())
}

/// Waits until `done` holds (woken by the nodes' changes, no polling), or
/// fails naming `what`.
pub async fn until(nodes: &[&LocalNode], what: &str, done: impl Fn() -> bool) {
    assert!(
        ippoc_swarm::local::until(nodes, WAIT, done).await,
        "timed out waiting for {what}"
    );
}

/// Whether `node` stores the entry `tx`.
pub fn holds(node: &LocalNode, tx: &TxId) -> bool {
    matches!(node.ledger.entry_by_tx(tx), Ok(Some(_)))
}
