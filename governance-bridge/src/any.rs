//! One chain type for callers that pick the backend at run time: the node
//! reads an RPC URL from its config, tests and the simulator share an
//! embedded EVM between in-process nodes.

use std::sync::Arc;

use alloy::primitives::{Address, Bytes, U256};
use alloy::signers::local::PrivateKeySigner;

use crate::chain::{Chain, ChainError, ChainLog, Receipt};
use crate::embedded::EmbeddedChain;
use crate::rpc::RpcChain;

/// An RPC chain or a shared embedded one.
#[derive(Debug, Clone)]
pub enum AnyChain {
    /// A JSON-RPC endpoint (anvil, an L2).
    Rpc(Arc<RpcChain>),
    /// An in-process EVM, shared by every node of the process.
    Embedded(Arc<EmbeddedChain>),
}

/// Runs the same call on whichever backend `self` is.
macro_rules! either {
    ($self:ident, $c:ident => $body:expr) => {
        match $self {
            AnyChain::Rpc($c) => $body.await,
            AnyChain::Embedded($c) => $body.await,
        }
    };
}

impl Chain for AnyChain {
    async fn chain_id(&self) -> Result<u64, ChainError> {
        either!(self, c => c.chain_id())
    }

    async fn deploy(&self, from: &PrivateKeySigner, initcode: Bytes) -> Result<Address, ChainError> {
        either!(self, c => c.deploy(from, initcode))
    }

    async fn send(
        &self,
        from: &PrivateKeySigner,
        to: Address,
        value: U256,
        data: Bytes,
    ) -> Result<Receipt, ChainError> {
        either!(self, c => c.send(from, to, value, data))
    }

    async fn call(&self, to: Address, data: Bytes) -> Result<Bytes, ChainError> {
        either!(self, c => c.call(to, data))
    }

    async fn logs(&self, address: Address, from_block: u64) -> Result<Vec<ChainLog>, ChainError> {
        either!(self, c => c.logs(address, from_block))
    }

    async fn block_number(&self) -> Result<u64, ChainError> {
        either!(self, c => c.block_number())
    }

    async fn timestamp(&self) -> Result<u64, ChainError> {
        either!(self, c => c.timestamp())
    }

    async fn balance(&self, who: Address) -> Result<U256, ChainError> {
        either!(self, c => c.balance(who))
    }

    async fn advance_time(&self, seconds: u64) -> Result<(), ChainError> {
        either!(self, c => c.advance_time(seconds))
    }
}
