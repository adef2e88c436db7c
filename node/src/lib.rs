//! IPPOC node: the composition root of the swarm node and the library behind the
//! `ippoc` binary.
//!
//! This crate owns everything that makes one machine a node: the hardware-bound
//! identity, the on-disk layout under `data/nodes/<NodeID>/`, the atomic boot
//! sequence, configuration, logging, the admin API and the daemon's lifecycle
//! under systemd. It is the only crate that may depend on the leaf crates
//! (`ippoc-mesh`, `ippoc-economy`, `ippoc-sandbox`, `ippoc-governance-bridge`);
//! it wires them together through the small traits they export. Nothing in the
//! leaf crates may depend on this crate.

pub mod anchor;
pub mod api;
pub mod boot;
pub mod bounty;
pub mod cli;
pub mod client;
pub mod config;
pub mod daemon;
pub mod error;
pub mod fsutil;
pub mod governance;
pub mod hardware;
pub mod identity;
pub mod ledger;
pub mod local;
pub mod lock;
pub mod logging;
pub mod paths;
pub mod sandbox;
pub mod skills;
pub mod swarm;
pub mod swarm_doc;
pub mod sync;

pub use error::{ExitStatus, NodeError};
