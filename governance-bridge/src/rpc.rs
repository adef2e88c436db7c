//! The RPC backend: an alloy HTTP provider, signing locally with each
//! caller's key. anvil in tests, a real L2 in production.

use std::collections::HashMap;
use std::sync::Mutex;

use alloy::eips::BlockNumberOrTag;
use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, Bytes, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::types::{Filter, TransactionRequest};
use alloy::signers::local::PrivateKeySigner;
use alloy::transports::{RpcError, TransportErrorKind};

use crate::chain::{Chain, ChainError, ChainLog, Receipt};

/// A chain reached over JSON-RPC (HTTP).
pub struct RpcChain {
    url: reqwest::Url,
    reader: DynProvider,
    /// One provider per signing key: its wallet filler signs with that key
    /// (nonces are asked of the chain, see `writer`).
    writers: Mutex<HashMap<Address, DynProvider>>,
}

impl std::fmt::Debug for RpcChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcChain").field("url", &self.url.as_str()).finish()
    }
}

impl RpcChain {
    /// A chain at `url` (for example `http://127.0.0.1:8545`).
    pub fn new(url: &str) -> Result<Self, ChainError> {
        let url: reqwest::Url = url
            .parse()
            .map_err(|e| ChainError::Transport(format!("bad RPC URL {url:?}: {e}")))?;
        let reader = ProviderBuilder::new().connect_http(url.clone()).erased();
        Ok(Self {
            url,
            reader,
            writers: Mutex::new(HashMap::new()),
        })
    }

    fn writer(&self, signer: &PrivateKeySigner) -> DynProvider {
        let mut writers = self.writers.lock().expect("writers lock");
        writers
            .entry(signer.address())
            .or_insert_with(|| {
                // The recommended fillers cache nonces: a transaction refused at
                // gas estimation (a revert) would leave a gap and every later
                // transaction of that key would wait forever. Ask the chain.
                ProviderBuilder::new()
                    .disable_recommended_fillers()
                    .with_gas_estimation()
                    .with_simple_nonce_management()
                    .fetch_chain_id()
                    .wallet(signer.clone())
                    .connect_http(self.url.clone())
                    .erased()
            })
            .clone()
    }

    async fn submit(&self, from: &PrivateKeySigner, tx: TransactionRequest) -> Result<Receipt, ChainError> {
        let provider = self.writer(from);
        let pending = provider
            .send_transaction(tx.with_from(from.address()))
            .await
            .map_err(rpc_error)?;
        let receipt = pending
            .get_receipt()
            .await
            .map_err(|e| ChainError::Transport(e.to_string()))?;
        if !receipt.status() {
            // Gas estimation runs the call first, so a revert normally surfaces
            // above with its reason; this is a revert that only happened in
            // the block (the state moved in between).
            return Err(ChainError::Reverted {
                reason: "reverted when mined (state changed after estimation)".to_owned(),
                data: Bytes::new(),
            });
        }
        Ok(Receipt {
            block: receipt.block_number.unwrap_or_default(),
            gas_used: receipt.gas_used,
            logs: receipt.inner.logs().iter().map(|l| l.inner.clone()).collect(),
            contract_address: receipt.contract_address,
        })
    }
}

/// Turn a provider error into a revert (with decoded reason) or a transport error.
fn rpc_error(e: RpcError<TransportErrorKind>) -> ChainError {
    if let Some(data) = e.as_error_resp().and_then(|p| p.as_revert_data()) {
        return ChainError::reverted(data);
    }
    ChainError::Transport(e.to_string())
}

impl Chain for RpcChain {
    async fn chain_id(&self) -> Result<u64, ChainError> {
        self.reader.get_chain_id().await.map_err(rpc_error)
    }

    async fn deploy(&self, from: &PrivateKeySigner, initcode: Bytes) -> Result<Address, ChainError> {
        let receipt = self
            .submit(from, TransactionRequest::default().with_deploy_code(initcode))
            .await?;
        receipt
            .contract_address
            .ok_or_else(|| ChainError::Decode("deployment receipt without an address".into()))
    }

    async fn send(
        &self,
        from: &PrivateKeySigner,
        to: Address,
        value: U256,
        data: Bytes,
    ) -> Result<Receipt, ChainError> {
        self.submit(
            from,
            TransactionRequest::default()
                .with_to(to)
                .with_value(value)
                .with_input(data),
        )
        .await
    }

    async fn call(&self, to: Address, data: Bytes) -> Result<Bytes, ChainError> {
        self.reader
            .call(TransactionRequest::default().with_to(to).with_input(data))
            .await
            .map_err(rpc_error)
    }

    async fn logs(&self, address: Address, from_block: u64) -> Result<Vec<ChainLog>, ChainError> {
        let filter = Filter::new().address(address).from_block(from_block);
        let logs = self.reader.get_logs(&filter).await.map_err(rpc_error)?;
        Ok(logs
            .into_iter()
            .map(|l| ChainLog {
                block: l.block_number.unwrap_or_default(),
                log: l.inner,
            })
            .collect())
    }

    async fn block_number(&self) -> Result<u64, ChainError> {
        self.reader.get_block_number().await.map_err(rpc_error)
    }

    async fn timestamp(&self) -> Result<u64, ChainError> {
        let block = self
            .reader
            .get_block_by_number(BlockNumberOrTag::Latest)
            .await
            .map_err(rpc_error)?
            .ok_or_else(|| ChainError::Decode("no latest block".into()))?;
        Ok(block.header.timestamp)
    }

    async fn balance(&self, who: Address) -> Result<U256, ChainError> {
        self.reader.get_balance(who).await.map_err(rpc_error)
    }

    async fn advance_time(&self, seconds: u64) -> Result<(), ChainError> {
        let _: serde_json::Value = self
            .reader
            .raw_request("evm_increaseTime".into(), (seconds,))
            .await
            .map_err(|_| ChainError::NotDevnet("advancing time"))?;
        let _: serde_json::Value = self
            .reader
            .raw_request("evm_mine".into(), ())
            .await
            .map_err(|_| ChainError::NotDevnet("mining"))?;
        Ok(())
    }
}
