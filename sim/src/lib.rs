//! IPPOC simulator: many real nodes in one process, with failure classes
//! injected, measured from the nodes' own state.
//!
//! This crate will build N nodes from `ippoc-node` (the same code as the
//! daemon) with simulated hardware (`ippoc_node::hardware::StaticProbe`), a
//! controllable in-memory network, and scenarios as TOML data (bankruptcy,
//! byzantine, clone attack, bad evolution, partition, churn), and write JSON,
//! Markdown and PNG reports (DESIGN.md §11).
//!
//! It may depend on `ippoc-node` and, through it, on every leaf crate; nothing
//! depends on it.
//!
//! Status: the crate exists so that the workspace has its final shape; the
//! harness lands with the simulator issue.
