//! The one interface the bridge needs from an EVM chain. Every backend runs
//! the same committed bytecode; [`crate::rpc::RpcChain`] reaches anvil in
//! tests and a real L2 in production.

use std::future::Future;

use alloy::primitives::{Address, Bytes, Log, U256};
use alloy::signers::local::PrivateKeySigner;

/// What went wrong talking to a chain.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The EVM reverted the call or transaction; `reason` is decoded from the
    /// contracts' errors where possible.
    #[error("reverted: {reason}")]
    Reverted {
        /// Human-readable reason.
        reason: String,
        /// The raw revert data.
        data: Bytes,
    },
    /// The chain could not be reached or answered with an error.
    #[error("chain: {0}")]
    Transport(String),
    /// The chain answered something the bridge cannot read.
    #[error("unexpected answer from the chain: {0}")]
    Decode(String),
    /// The operation needs a development chain (time travel).
    #[error("{0} works only on a development chain")]
    NotDevnet(&'static str),
}

impl ChainError {
    /// A revert with its reason decoded from the contracts' errors.
    pub fn reverted(data: Bytes) -> Self {
        Self::Reverted {
            reason: crate::bindings::decode_revert(&data),
            data,
        }
    }
}

/// A mined transaction's outcome.
#[derive(Debug, Clone)]
pub struct Receipt {
    /// Block it was mined in.
    pub block: u64,
    /// Gas it used.
    pub gas_used: u64,
    /// Logs it emitted.
    pub logs: Vec<Log>,
    /// The created contract, for a deployment.
    pub contract_address: Option<Address>,
}

/// A log with the block it is in.
#[derive(Debug, Clone)]
pub struct ChainLog {
    /// Block number.
    pub block: u64,
    /// The log.
    pub log: Log,
}

/// An EVM chain the bridge can deploy to, transact with and read from.
pub trait Chain: Send + Sync {
    /// The chain id (part of every signed checkpoint digest).
    fn chain_id(&self) -> impl Future<Output = Result<u64, ChainError>> + Send;

    /// Deploy `initcode` (bytecode plus encoded constructor arguments) from
    /// `from`; the new contract's address.
    fn deploy(
        &self,
        from: &PrivateKeySigner,
        initcode: Bytes,
    ) -> impl Future<Output = Result<Address, ChainError>> + Send;

    /// Send a transaction and wait until it is mined. A reverting transaction
    /// is an error and changes nothing.
    fn send(
        &self,
        from: &PrivateKeySigner,
        to: Address,
        value: U256,
        data: Bytes,
    ) -> impl Future<Output = Result<Receipt, ChainError>> + Send;

    /// Run a read-only call against the latest state.
    fn call(&self, to: Address, data: Bytes) -> impl Future<Output = Result<Bytes, ChainError>> + Send;

    /// Logs emitted by `address` in blocks `from_block..`.
    fn logs(&self, address: Address, from_block: u64)
    -> impl Future<Output = Result<Vec<ChainLog>, ChainError>> + Send;

    /// The latest block number.
    fn block_number(&self) -> impl Future<Output = Result<u64, ChainError>> + Send;

    /// The latest block's timestamp (seconds).
    fn timestamp(&self) -> impl Future<Output = Result<u64, ChainError>> + Send;

    /// An account's ETH balance.
    fn balance(&self, who: Address) -> impl Future<Output = Result<U256, ChainError>> + Send;

    /// Move the chain's clock forward (development chains only: anvil, the
    /// embedded EVM), so timelocks can be tested without waiting 48 h.
    fn advance_time(&self, seconds: u64) -> impl Future<Output = Result<(), ChainError>> + Send;
}
