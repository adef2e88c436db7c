//! IPPOC node, the operator host: the `ippoc` binary and the library behind
//! it.
//!
//! This crate owns what makes one machine run a node for an operator: the
//! hardware-bound identity, the data dir and its lock, the atomic boot
//! sequence, configuration, logging, the admin API and its client, the
//! daemon's lifecycle under systemd, and the CLI. What the node does in the
//! swarm lives in `ippoc-swarm`; the daemon starts it through
//! `ippoc_swarm::node::NodeBuilder`, the same builder tests and the
//! simulator use. Nothing else depends on this crate but the simulator (for
//! the boot path of its clone attack).

mod api;
pub mod boot;
pub mod cli;
mod client;
pub mod config;
mod daemon;
mod error;
pub mod hardware;
mod identity;
pub mod ledger;
mod lock;
pub mod logging;
pub mod metrics;
mod panics;
pub mod paths;
mod routes;

pub use error::{ExitStatus, NodeError};
