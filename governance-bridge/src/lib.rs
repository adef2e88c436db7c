//! IPPOC governance bridge: the node's link to the DAO contracts on an
//! Ethereum L2.
//!
//! This crate will deploy and call the contracts in `contracts/` through alloy,
//! behind one `Chain` trait with an RPC backend (anvil, a real L2) and an
//! embedded revm backend; it anchors checkpoint roots, submits and votes on
//! proposals, and reports executed proposals to the node (DESIGN.md §10).
//!
//! It must not depend on `ippoc-economy`, `ippoc-mesh`, `ippoc-sandbox` or
//! `ippoc-node`: what it anchors arrives as plain hashes and bytes.
//!
//! Status: the crate exists so that the workspace has its final shape; the
//! bridge lands with the governance issue.
