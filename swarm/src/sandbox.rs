//! The node's side of the sandbox: the ledger-backed [`Meter`], the node's
//! module cache, and the run view the API serves and the CLI prints.

use ippoc_economy::store::{Charge, Draft, Intent, Mode};
use ippoc_economy::{AccountId, Currency, EscrowId, Outcome, TxId};
use ippoc_sandbox::{Capabilities, Capability, Meter, MeterError, ModuleCache, RunLimits, Sandbox, SandboxConfig};
use serde::{Deserialize, Serialize};

use crate::fsutil;
use crate::ledger::now_ms;
use crate::{Error, OwnChain};
use std::path::Path;

/// Pays for runs from the node's wallet through its ledger: the budget is what
/// the wallet can pay at the governed price, and each run's fuel is recorded as
/// a `SandboxExec` charge (failed runs with outcome `fail`).
pub struct LedgerMeter<'a> {
    /// The node's own chain, which pays.
    pub chain: &'a OwnChain,
    /// The bounty this work serves (allowed in Worker Mode).
    pub bounty: Option<EscrowId>,
}

impl Meter for LedgerMeter<'_> {
    type Receipt = Option<TxId>;

    fn fuel_budget(&self) -> Result<u64, MeterError> {
        let err = |e: ippoc_economy::store::LedgerError| MeterError(e.to_string());
        let ledger = self.chain.ledger();
        if self.bounty.is_none() && ledger.mode().map_err(err)? == Mode::Worker {
            return Err(MeterError(
                "the node is in Worker Mode: only bounty work may be charged".into(),
            ));
        }
        let wallet = ledger
            .balance(&AccountId::Wallet(ledger.owner()), Currency::Ippc)
            .map_err(err)?;
        let p = &ledger.parameters().1;
        let wallet = u128::try_from(wallet.0).unwrap_or(0);
        // The largest fuel whose (rounded-up) cost the wallet still covers.
        let fuel = wallet * u128::from(p.sandbox_fuel_per_second) / u128::from(p.sandbox_per_second.base().max(1));
        Ok(u64::try_from(fuel).unwrap_or(u64::MAX))
    }

    fn charge(&self, fuel: u64, failed: bool) -> Result<Option<TxId>, MeterError> {
        let cost = Charge::Sandbox { fuel }.cost(&self.chain.ledger().parameters().1);
        if cost.is_none_or(|c| c.is_zero()) {
            return Ok(None);
        }
        let mut draft = Draft::new(
            Intent::Charge {
                charge: Charge::Sandbox { fuel },
                bounty: self.bounty,
            },
            now_ms(),
        );
        if failed {
            draft.outcome = Outcome::Fail;
        }
        let entry = self.chain.append(draft).map_err(|e| MeterError(e.to_string()))?;
        Ok(Some(entry.tx_id()))
    }
}

/// The node's sandbox: its compiled-module cache in `modules_dir`,
/// authenticated with the secret in `key_path` (0600, created on first use).
pub fn open_sandbox(modules_dir: &Path, key_path: &Path) -> Result<Sandbox, Error> {
    let key_path = key_path.to_path_buf();
    fsutil::create_private_dir(fsutil::parent_dir(&key_path))?;
    let key = match std::fs::read(&key_path) {
        Ok(bytes) if bytes.len() == 32 => bytes,
        Ok(_) => {
            return Err(Error::CorruptSecret {
                path: key_path,
                reason: "the module cache key must be 32 bytes (delete it to start a new cache)".into(),
            });
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let fresh = fsutil::random_bytes(32);
            fsutil::write_atomic(&key_path, &fresh, fsutil::SECRET_FILE_MODE)?;
            fresh
        }
        Err(e) => return Err(Error::io("cannot read", &key_path, e)),
    };
    let cache = ModuleCache::new(Some(modules_dir.to_path_buf()), key.try_into().expect("32 bytes"));
    Sandbox::new(SandboxConfig::default(), cache).map_err(|e| Error::Sandbox(e.to_string()))
}

/// `POST /v1/sandbox/run`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxRunRequest {
    /// The module, WebAssembly binary or text, hex-encoded.
    pub module_hex: String,
    /// The input bytes, hex-encoded.
    #[serde(default)]
    pub input_hex: String,
    /// Fuel limit [default: the sandbox's].
    #[serde(default)]
    pub fuel: Option<u64>,
    /// Capabilities granted (`log`, `clock_ms`).
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// The bounty this work serves (`escrow:<NodeID>:<seq>`).
    #[serde(default)]
    pub bounty: Option<AccountId>,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxRunView {
    /// The module's SHA-256, if it got that far.
    pub module: Option<String>,
    /// Whether the run succeeded.
    pub ok: bool,
    /// The failure, if any.
    pub error: Option<String>,
    /// Output bytes, hex-encoded.
    pub output_hex: String,
    /// What the skill logged, hex-encoded.
    pub log_hex: String,
    /// Fuel burnt.
    pub fuel_used: u64,
    /// IPPC charged (decimal).
    pub charged: String,
    /// The charge's ledger entry (none for dry runs or zero cost).
    pub charge_tx: Option<TxId>,
}

/// A meter for dry runs: the given budget, nothing recorded.
pub struct Unmetered(pub u64);

impl Meter for Unmetered {
    type Receipt = Option<TxId>;
    fn fuel_budget(&self) -> Result<u64, MeterError> {
        Ok(self.0)
    }
    fn charge(&self, _fuel: u64, _failed: bool) -> Result<Option<TxId>, MeterError> {
        Ok(None)
    }
}

/// Parses capability names.
pub fn capabilities(names: &[String]) -> Result<Capabilities, Error> {
    names
        .iter()
        .map(|n| {
            n.parse::<Capability>()
                .map_err(|e| Error::BadInput(format!("capabilities: {e}")))
        })
        .collect()
}

/// Runs a request against the node's sandbox, paid from its wallet.
pub fn run_request(sandbox: &Sandbox, chain: &OwnChain, request: &SandboxRunRequest) -> Result<SandboxRunView, Error> {
    let module = hex::decode(&request.module_hex).map_err(|e| Error::BadInput(format!("module_hex: {e}")))?;
    let input = hex::decode(&request.input_hex).map_err(|e| Error::BadInput(format!("input_hex: {e}")))?;
    let bounty = crate::bounty::claim(chain.ledger(), request.bounty)?;
    let meter = LedgerMeter { chain, bounty };
    let caps = capabilities(&request.capabilities)?;
    Ok(run(
        sandbox,
        &module,
        &input,
        request.fuel,
        &caps,
        &meter,
        &chain.ledger().parameters().1,
    ))
}

/// Runs a module and reports, charging through `meter`.
pub fn run<M: Meter<Receipt = Option<TxId>>>(
    sandbox: &Sandbox,
    module: &[u8],
    input: &[u8],
    fuel: Option<u64>,
    capabilities: &Capabilities,
    meter: &M,
    price: &ippoc_economy::params::Parameters,
) -> SandboxRunView {
    let limits = RunLimits {
        fuel: fuel.unwrap_or(RunLimits::default().fuel),
        ..RunLimits::default()
    };
    let charged = |fuel: u64| price.sandbox_cost(fuel).unwrap_or_default().to_string();
    match sandbox.run_module(module, capabilities, input, &limits, meter) {
        Ok(r) => SandboxRunView {
            module: Some(r.module.to_string()),
            ok: true,
            error: None,
            output_hex: hex::encode(&r.output),
            log_hex: hex::encode(&r.log),
            fuel_used: r.fuel_used,
            charged: charged(r.fuel_used),
            charge_tx: r.receipt,
        },
        Err(f) => SandboxRunView {
            module: f.module.map(|m| m.to_string()),
            ok: false,
            error: Some(f.kind.to_string()),
            output_hex: String::new(),
            log_hex: String::new(),
            fuel_used: f.fuel_used,
            charged: if f.receipt.is_some() {
                charged(f.fuel_used)
            } else {
                "0.000000".into()
            },
            charge_tx: f.receipt.flatten(),
        },
    }
}
