//! IPPOC governance bridge: the node's link to the DAO contracts on an
//! Ethereum L2 (DESIGN.md §10).
//!
//! [`chain::Chain`] is the one interface to an EVM chain, with two backends
//! running the same bytecode: [`rpc::RpcChain`] (anvil in tests, a real L2 in
//! production) and [`embedded::EmbeddedChain`] (revm in process: the
//! simulator and a single-machine devnet). [`dao::Dao`]
//! deploys and drives the contracts in `contracts/` through it: stake,
//! propose, vote, veto, queue, execute, status, governed parameters, deployed
//! skills, and checkpoint anchors with their quorum certificates.
//! [`merkle`] builds the checkpoint root of the swarm's chain heads and the
//! inclusion proofs checked against an anchored root.
//!
//! It must not depend on `ippoc-economy`, `ippoc-mesh`, `ippoc-sandbox` or
//! `ippoc-node`: what it anchors arrives as plain hashes and bytes.

pub mod any;
pub mod bindings;
pub mod chain;
pub mod dao;
pub mod embedded;
pub mod merkle;
pub mod rpc;

pub use alloy::primitives::{Address, B256, Bytes, U256, keccak256};
pub use alloy::signers::local::PrivateKeySigner;
pub use any::AnyChain;
pub use chain::{Chain, ChainError, ChainLog, Receipt};
pub use dao::{Action, CheckpointSignature, Dao, DaoAddresses, DeployConfig, ProposalState, ProposalStatus};
pub use embedded::EmbeddedChain;
pub use merkle::{MerkleProof, MerkleTree};
pub use rpc::RpcChain;
