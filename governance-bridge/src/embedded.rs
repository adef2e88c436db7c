//! The embedded backend: revm in process, running the same committed
//! bytecode as an L2 would. The default for the simulator and for a
//! single-machine devnet: no external service, deterministic, and time is
//! under the caller's control.
//!
//! Every transaction is mined in its own block. Gas is metered but costs
//! nothing (base fee and gas price zero), so node keys need no funding; value
//! transfers still need a balance, given at construction.

use std::sync::Mutex;

use alloy::primitives::{Address, Bytes, TxKind, U256};
use alloy::signers::local::PrivateKeySigner;
use revm::context::result::{ExecutionResult, Output};
use revm::context::{Context, TxEnv};
use revm::database::{CacheDB, EmptyDB};
use revm::database_interface::DatabaseRef;
use revm::handler::{MainBuilder, MainContext};
use revm::primitives::hardfork::SpecId;
use revm::state::AccountInfo;
use revm::{ExecuteCommitEvm, ExecuteEvm};

use crate::chain::{Chain, ChainError, ChainLog, Receipt};

/// Gas limit of every block and transaction: far above what any DAO call
/// needs, and within the 2^24 per-transaction cap of recent forks.
const GAS_LIMIT: u64 = 16_000_000;
/// Seconds between consecutive blocks.
const BLOCK_TIME: u64 = 2;

struct State {
    /// The world state. revm's EVM is not `Send`, so one is built around the
    /// database for each transaction, inside the lock, and never held across
    /// an await.
    db: CacheDB<EmptyDB>,
    block: u64,
    timestamp: u64,
    logs: Vec<ChainLog>,
}

/// An in-process EVM chain.
pub struct EmbeddedChain {
    chain_id: u64,
    state: Mutex<State>,
}

impl std::fmt::Debug for EmbeddedChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.lock();
        f.debug_struct("EmbeddedChain")
            .field("chain_id", &self.chain_id)
            .field("block", &s.block)
            .finish()
    }
}

/// What a transaction or call ended with.
enum Outcome {
    Success {
        gas_used: u64,
        logs: Vec<alloy::primitives::Log>,
        output: Output,
    },
    Failed(ChainError),
}

impl EmbeddedChain {
    /// A fresh chain with `chain_id`, its clock at `genesis_time` (unix
    /// seconds), and `funded` accounts holding ETH.
    pub fn new(chain_id: u64, genesis_time: u64, funded: &[(Address, U256)]) -> Self {
        let mut db = CacheDB::<EmptyDB>::default();
        for (who, balance) in funded {
            db.insert_account_info(
                *who,
                AccountInfo {
                    balance: *balance,
                    ..Default::default()
                },
            );
        }
        Self {
            chain_id,
            state: Mutex::new(State {
                db,
                block: 0,
                timestamp: genesis_time,
                logs: Vec::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic inside revm while holding the lock leaves the state as the
        // last committed transaction left it; keep serving.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Run `tx` from `from` against the state; commit it when `commit`.
    fn run(
        &self,
        s: &mut State,
        from: Address,
        kind: TxKind,
        value: U256,
        data: Bytes,
        commit: bool,
    ) -> Result<Outcome, ChainError> {
        let nonce = s.db.basic_ref(from).ok().flatten().map_or(0, |a| a.nonce);
        let tx = TxEnv::builder()
            .caller(from)
            .kind(kind)
            .value(value)
            .data(data)
            .gas_limit(GAS_LIMIT)
            .gas_price(0)
            .nonce(nonce)
            .chain_id(Some(self.chain_id))
            .build()
            .map_err(|e| ChainError::Decode(format!("transaction: {e:?}")))?;
        let (number, timestamp, chain_id) = (s.block, s.timestamp, self.chain_id);
        let mut evm = Context::mainnet()
            .modify_cfg_chained(|cfg| {
                cfg.chain_id = chain_id;
                // The contracts are compiled for Cancun, as L2s run it.
                cfg.set_spec_and_mainnet_gas_params(SpecId::CANCUN);
            })
            .modify_block_chained(|b| {
                b.number = U256::from(number);
                b.timestamp = U256::from(timestamp);
                b.gas_limit = GAS_LIMIT;
                b.basefee = 0;
            })
            .with_db(&mut s.db)
            .build_mainnet();
        let result = if commit {
            evm.transact_commit(tx)
                .map_err(|e| ChainError::Transport(format!("EVM: {e}")))?
        } else {
            // A read leaves no trace: run without committing.
            evm.transact(tx)
                .map_err(|e| ChainError::Transport(format!("EVM: {e}")))?
                .result
        };
        Ok(match result {
            ExecutionResult::Success { gas, logs, output, .. } => Outcome::Success {
                gas_used: gas.tx_gas_used(),
                logs,
                output,
            },
            ExecutionResult::Revert { output, .. } => Outcome::Failed(ChainError::reverted(output)),
            ExecutionResult::Halt { reason, .. } => Outcome::Failed(ChainError::Reverted {
                reason: format!("halted: {reason:?}"),
                data: Bytes::new(),
            }),
        })
    }

    fn transact(&self, from: Address, kind: TxKind, value: U256, data: Bytes) -> Result<Receipt, ChainError> {
        let mut s = self.lock();
        s.block += 1;
        s.timestamp += BLOCK_TIME;
        let block = s.block;
        match self.run(&mut s, from, kind, value, data, true)? {
            Outcome::Success { gas_used, logs, output } => {
                s.logs.extend(logs.iter().cloned().map(|log| ChainLog { block, log }));
                let contract_address = match output {
                    Output::Create(_, address) => address,
                    Output::Call(_) => None,
                };
                Ok(Receipt {
                    block,
                    gas_used,
                    logs,
                    contract_address,
                })
            }
            Outcome::Failed(e) => Err(e),
        }
    }
}

impl Chain for EmbeddedChain {
    async fn chain_id(&self) -> Result<u64, ChainError> {
        Ok(self.chain_id)
    }

    async fn deploy(&self, from: &PrivateKeySigner, initcode: Bytes) -> Result<Address, ChainError> {
        let receipt = self.transact(from.address(), TxKind::Create, U256::ZERO, initcode)?;
        receipt
            .contract_address
            .ok_or_else(|| ChainError::Decode("deployment created no contract".into()))
    }

    async fn send(
        &self,
        from: &PrivateKeySigner,
        to: Address,
        value: U256,
        data: Bytes,
    ) -> Result<Receipt, ChainError> {
        self.transact(from.address(), TxKind::Call(to), value, data)
    }

    async fn call(&self, to: Address, data: Bytes) -> Result<Bytes, ChainError> {
        let mut s = self.lock();
        match self.run(&mut s, Address::ZERO, TxKind::Call(to), U256::ZERO, data, false)? {
            Outcome::Success { output, .. } => Ok(output.into_data()),
            Outcome::Failed(e) => Err(e),
        }
    }

    async fn logs(&self, address: Address, from_block: u64) -> Result<Vec<ChainLog>, ChainError> {
        let s = self.lock();
        Ok(s.logs
            .iter()
            .filter(|l| l.block >= from_block && l.log.address == address)
            .cloned()
            .collect())
    }

    async fn block_number(&self) -> Result<u64, ChainError> {
        Ok(self.lock().block)
    }

    async fn timestamp(&self) -> Result<u64, ChainError> {
        Ok(self.lock().timestamp)
    }

    async fn balance(&self, who: Address) -> Result<U256, ChainError> {
        let s = self.lock();
        Ok(s.db.basic_ref(who).ok().flatten().map_or(U256::ZERO, |a| a.balance))
    }

    async fn advance_time(&self, seconds: u64) -> Result<(), ChainError> {
        let mut s = self.lock();
        s.block += 1;
        s.timestamp += seconds;
        Ok(())
    }
}
