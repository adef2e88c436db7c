//! IPPOC protocol core: what one node does in the swarm.
//!
//! The leaf crates each know one subsystem (`ippoc-economy` the ledger,
//! `ippoc-mesh` the network, `ippoc-sandbox` the WASM engine,
//! `ippoc-governance-bridge` the DAO's contracts); this crate is where they
//! meet to make a swarm node: gossip validated with the ledger's rules,
//! anti-entropy sync, the Automerge swarm document, attestations, warrants,
//! the bounty board, skills fetched by hash and run when the DAO deployed
//! them, the governance watcher and per-epoch anchoring. [`node::NodeBuilder`]
//! is the one place a node is put together: the daemon (`ippoc-node`), the
//! in-process [`local::LocalNode`] of tests and the simulator, and the
//! benchmarks all start through it.
//!
//! It knows nothing of processes, data-dir layouts, configuration files,
//! the admin API or exit codes: that is the operator host, `ippoc-node`,
//! which depends on this crate and never the other way round.

pub mod anchor;
mod bounded;
pub mod bounty;
pub mod doc;
mod error;
pub mod fsutil;
pub mod gov_view;
pub mod governance;
pub mod guard;
pub mod integrity;
pub mod issuance;
pub mod layout;
pub mod ledger;
pub mod limits;
pub mod local;
pub mod metrics;
pub mod node;
mod own_chain;
pub mod protocol;
pub mod pump;
mod responder;
pub mod sandbox;
pub mod skills;
mod sync;
mod validator;
pub mod view;

pub use error::Error;
pub use own_chain::OwnChain;
