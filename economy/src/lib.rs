//! IPPOC economy: the signed, hash-chained double-entry ledger and the rules
//! that move value.
//!
//! Every node owns one append-only chain of signed entries; every node stores
//! the chains it hears about; the union is the swarm ledger, and balances are
//! a deterministic function of that set (DESIGN.md §4, §5). This crate holds
//! the entry format and its one signature predicate, the validation rules
//! (authorization, no overdraft against declared history, forks), the sled
//! store, genesis, metabolism and bounties.
//!
//! It must not depend on `ippoc-mesh`, `ippoc-sandbox`,
//! `ippoc-governance-bridge` or `ippoc-node`, and it does no networking:
//! other nodes' entries arrive through `ippoc-node`, which hands them to
//! [`store::Ledger::ingest`]. Checks that need the outside world (an executed
//! DAO proposal) come in through the [`rules::ProposalVerifier`] trait.

pub mod amount;
pub mod attestation;
pub mod encoding;
pub mod entry;
pub mod ids;
pub mod signature;

pub use amount::{Amount, Balance, Currency};
pub use attestation::{Attestation, AttestationBody, Claim, Evidence, Warrant};
pub use entry::{Action, Dep, EntryBody, Outcome, Proof, SignedEntry, Transfer, VerifiedEntry};
pub use ids::{AccountId, EscrowId, NodeId, SwarmId, TxId};
pub mod genesis;
pub mod integrity;
pub mod issuance;
pub mod params;
pub mod rules;
pub mod standing;
pub mod store;
