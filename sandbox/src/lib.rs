//! IPPOC sandbox: metered execution of untrusted WASM skills with wasmtime.
//!
//! This crate will run modules with fuel metering (a deterministic cost every
//! node computes identically), epoch interruption as the wall-clock backstop,
//! memory/table/stack limits, no ambient authority, and a content-addressed
//! module cache (DESIGN.md §8). Charging happens through a `Meter` trait that
//! `ippoc-node` implements with the ledger.
//!
//! It must not depend on `ippoc-economy`, `ippoc-mesh`,
//! `ippoc-governance-bridge` or `ippoc-node`.
//!
//! Status: the crate exists so that the workspace has its final shape; the
//! sandbox lands with the sandbox issue.
