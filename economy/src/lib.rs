//! IPPOC economy: the signed, hash-chained double-entry ledger and the rules
//! that move value.
//!
//! This crate will hold the ledger on sled (one append-only chain of signed
//! entries per node, balances derived from the union of chains), the integer
//! `Amount` and currency types, metabolism (the cost of every computation and
//! the budget check before it), bounties, integrity scores and
//! integrity-gated issuance (DESIGN.md §4, §6, §7).
//!
//! It must not depend on `ippoc-mesh`, `ippoc-sandbox`,
//! `ippoc-governance-bridge` or `ippoc-node`, and it does no networking: other
//! nodes' entries arrive through `ippoc-node`, which calls this crate's
//! validation.
//!
//! Status: the crate exists so that the workspace has its final shape; the
//! ledger lands with the economy issue.
