//! The node's side of the ledger: the genesis file, opening the ledger at
//! boot, and the views the admin API serves and the CLI prints (one set of
//! types for both, so the two can never disagree).

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use ed25519_dalek::SigningKey;
use ippoc_economy::genesis::Genesis;
use ippoc_economy::store::{
    ChainError, Charge, Draft, Effect, Intent, Ledger, LedgerError, LedgerOptions, Mode, VerifiedSummary,
};
use ippoc_economy::{AccountId, Amount, Currency, NodeId, SignedEntry, TxId};
use serde::{Deserialize, Serialize};

use crate::error::NodeError;
use crate::fsutil;
use crate::paths::NodePaths;

/// Largest page of entries one request returns.
pub const PAGE_ENTRIES_MAX: u64 = 1000;

/// Unix time in milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Reads `file` as a genesis, with the file named in errors.
pub fn read_genesis(file: &Path) -> Result<Genesis, NodeError> {
    let text = std::fs::read_to_string(file).map_err(|e| NodeError::io("cannot read genesis", file, e))?;
    Genesis::from_json(&text).map_err(|e| NodeError::Genesis {
        path: file.to_path_buf(),
        reason: e.to_string(),
    })
}

/// True if the ledger at `paths` holds no entry at all (own or heard).
fn ledger_is_pristine(paths: &NodePaths, genesis: &Genesis, node: NodeId) -> Result<bool, NodeError> {
    let ledger = open_ledger(paths, genesis.clone(), node)?;
    let err = |e: LedgerError| NodeError::Ledger {
        path: paths.ledger(),
        reason: e.to_string(),
    };
    Ok(ledger.heads().map_err(err)?.is_empty() && ledger.pending_count().map_err(err)? == 0)
}

/// The node's genesis: `explicit` is installed on first use (and must match
/// the installed one later); without one, the installed genesis is used, or
/// a solo development swarm is created for this node.
///
/// A node whose ledger holds no entry may switch to another swarm's genesis:
/// that is how founders first create their nodes (to learn their NodeIDs),
/// then join the genesis that names them. A node that recorded anything never
/// switches.
pub fn install_genesis(paths: &NodePaths, explicit: Option<&Path>, node: NodeId) -> Result<Genesis, NodeError> {
    let installed_path = paths.genesis();
    let installed = installed_path
        .exists()
        .then(|| read_genesis(&installed_path))
        .transpose()?;
    match (explicit.map(read_genesis).transpose()?, installed) {
        (Some(given), Some(have)) if given.swarm_id() != have.swarm_id() => {
            if !ledger_is_pristine(paths, &have, node)? {
                return Err(NodeError::Genesis {
                    path: explicit.expect("given").to_path_buf(),
                    reason: format!(
                        "this node already recorded entries in swarm {} ({}); the file is swarm {}",
                        have.swarm_id(),
                        have.name,
                        given.swarm_id()
                    ),
                });
            }
            let ledger_dir = paths.ledger();
            std::fs::remove_dir_all(&ledger_dir).map_err(|e| NodeError::io("cannot remove", &ledger_dir, e))?;
            fsutil::write_atomic(&installed_path, given.to_json().as_bytes(), 0o644)?;
            tracing::info!(from = %have.swarm_id(), to = %given.swarm_id(), name = %given.name, "empty node switched swarms");
            Ok(given)
        }
        (_, Some(have)) => Ok(have),
        (Some(given), None) => {
            fsutil::write_atomic(&installed_path, given.to_json().as_bytes(), 0o644)?;
            tracing::info!(swarm_id = %given.swarm_id(), name = %given.name, "joined swarm from genesis file");
            Ok(given)
        }
        (None, None) => {
            let solo = Genesis::solo(node, now_ms());
            fsutil::write_atomic(&installed_path, solo.to_json().as_bytes(), 0o644)?;
            tracing::info!(swarm_id = %solo.swarm_id(), "no genesis given: created a solo development swarm");
            Ok(solo)
        }
    }
}

/// Opens the node's ledger and checks the head of its own chain: the stored
/// head entry must decode, be signed by this node and hash to the head's tx_id.
pub fn open_ledger(paths: &NodePaths, genesis: Genesis, node: NodeId) -> Result<Ledger, NodeError> {
    let path = paths.ledger();
    let ledger_err = |e: LedgerError| NodeError::Ledger {
        path: path.clone(),
        reason: e.to_string(),
    };
    let ledger = Ledger::open(&path, genesis, node, LedgerOptions::default()).map_err(ledger_err)?;
    if let Some((seq, tx_id)) = ledger.head(&node).map_err(ledger_err)? {
        let (entry, _) = ledger
            .entry(&node, seq)
            .map_err(ledger_err)?
            .ok_or_else(|| ledger_err(LedgerError::Corrupt(format!("head seq {seq} has no entry"))))?;
        let verified = entry.verify().map_err(|e| ledger_err(e.into()))?;
        if verified.tx_id() != tx_id {
            return Err(ledger_err(LedgerError::Corrupt(format!(
                "head seq {seq} does not hash to its tx_id"
            ))));
        }
    }
    Ok(ledger)
}

/// One balance line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalanceLine {
    /// Account.
    pub account: AccountId,
    /// Currency.
    pub currency: Currency,
    /// Signed decimal.
    pub balance: String,
}

/// `ippoc wallet`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletView {
    /// This node.
    pub node_id: NodeId,
    /// Swarm.
    pub swarm_id: String,
    /// Normal or Worker Mode.
    pub mode: Mode,
    /// Head seq of the own chain.
    pub head_seq: Option<u64>,
    /// Balances of the node's accounts (wallet, reserve, escrows).
    pub balances: Vec<BalanceLine>,
    /// Entries waiting for predecessors or for a parameter table the DAO has not yet shown this node.
    pub pending: u64,
    /// Forks held as evidence.
    pub forks: usize,
    /// Hash over everything that counts.
    pub state_root: String,
}

/// One stored entry, as shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryView {
    /// tx_id.
    pub tx_id: TxId,
    /// `applied` or `bounced`.
    pub effect: String,
    /// The signed entry.
    pub entry: SignedEntry,
}

/// `POST /v1/transfer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferRequest {
    /// Recipient.
    pub to: NodeId,
    /// Amount the recipient receives (the fee comes on top).
    pub amount: Amount,
    /// Currency.
    pub currency: Currency,
}

/// A metered computation, as agents name it over the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ChargeKind {
    /// LLM inference over `tokens` tokens.
    Inference {
        /// Tokens.
        tokens: u64,
    },
    /// A sandbox run that used `fuel`.
    Sandbox {
        /// Fuel.
        fuel: u64,
    },
    /// One evolution simulation.
    EvolutionSim,
}

impl From<ChargeKind> for Charge {
    fn from(k: ChargeKind) -> Charge {
        match k {
            ChargeKind::Inference { tokens } => Charge::Inference { tokens },
            ChargeKind::Sandbox { fuel } => Charge::Sandbox { fuel },
            ChargeKind::EvolutionSim => Charge::EvolutionSim,
        }
    }
}

/// `POST /v1/metabolism/charge`: pay for a computation before it runs (or as it ends).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChargeRequest {
    /// What to pay for.
    pub charge: ChargeKind,
    /// The bounty this work serves (allowed in Worker Mode), as `escrow:<NodeID>:<seq>`.
    #[serde(default)]
    pub bounty: Option<AccountId>,
    /// Whether the computation failed (its charge stands either way).
    #[serde(default)]
    pub failed: bool,
}

/// What a computation costs and whether the node would pay for it now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuoteView {
    /// Cost in IPPC.
    pub cost: Amount,
    /// The node's current mode.
    pub mode: Mode,
    /// IPPC in the wallet.
    pub wallet: String,
    /// Whether a charge without a bounty would be allowed right now.
    pub allowed: bool,
}

/// Prices a computation against the governed parameters and the wallet.
pub fn quote(ledger: &Ledger, kind: ChargeKind) -> Result<QuoteView, NodeError> {
    let cost = Charge::from(kind)
        .cost(&ledger.parameters().1)
        .ok_or_else(|| NodeError::Refused("the cost overflows".into()))?;
    let mode = ledger.mode().map_err(ledger_error)?;
    let wallet = ledger
        .balance(&AccountId::Wallet(ledger.owner()), Currency::Ippc)
        .map_err(ledger_error)?;
    Ok(QuoteView {
        cost,
        mode,
        wallet: wallet.to_string(),
        allowed: mode == Mode::Normal && wallet.0 >= i128::from(cost.base()),
    })
}

/// The budget check: records the charge durably if the node can and may pay,
/// refuses otherwise. Nothing runs unpaid.
pub fn charge(ledger: &Ledger, key: &SigningKey, request: &ChargeRequest) -> Result<EntryView, NodeError> {
    let bounty = match request.bounty {
        None => None,
        Some(AccountId::Escrow(e)) => Some(e),
        Some(other) => return Err(NodeError::Refused(format!("{other} is not a bounty escrow"))),
    };
    let mut draft = Draft::new(
        Intent::Charge {
            charge: request.charge.into(),
            bounty,
        },
        now_ms(),
    );
    if request.failed {
        draft.outcome = ippoc_economy::Outcome::Fail;
    }
    let entry = ledger.append(key, draft).map_err(ledger_error)?;
    Ok(EntryView {
        tx_id: entry.tx_id(),
        effect: "applied".into(),
        entry: entry.into_signed(),
    })
}

/// `ippoc ledger verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyView {
    /// Chains checked.
    pub chains: u64,
    /// Entries checked.
    pub entries: u64,
    /// The first bad entry, if any.
    pub error: Option<String>,
}

pub(crate) fn ledger_error(e: LedgerError) -> NodeError {
    match e {
        LedgerError::Denied(_) | LedgerError::WorkerMode => NodeError::Refused(e.to_string()),
        other => NodeError::Ledger {
            path: "ledger".into(),
            reason: other.to_string(),
        },
    }
}

/// The owner's wallet.
pub fn wallet_view(ledger: &Ledger) -> Result<WalletView, NodeError> {
    let me = ledger.owner();
    let mine = |a: &AccountId| a.controller() == Some(me) || *a == AccountId::Reserve(me);
    let mut balances: Vec<BalanceLine> = ledger
        .balances()
        .map_err(ledger_error)?
        .into_iter()
        .filter(|(a, _, _)| mine(a))
        .map(|(account, currency, b)| BalanceLine {
            account,
            currency,
            balance: b.to_string(),
        })
        .collect();
    if !balances
        .iter()
        .any(|b| b.account == AccountId::Wallet(me) && b.currency == Currency::Ippc)
    {
        balances.insert(
            0,
            BalanceLine {
                account: AccountId::Wallet(me),
                currency: Currency::Ippc,
                balance: "0.000000".into(),
            },
        );
    }
    Ok(WalletView {
        node_id: me,
        swarm_id: ledger.swarm_id().to_string(),
        mode: ledger.mode().map_err(ledger_error)?,
        head_seq: ledger.head(&me).map_err(ledger_error)?.map(|(s, _)| s),
        balances,
        pending: ledger.pending_count().map_err(ledger_error)?,
        forks: ledger.forks().map_err(ledger_error)?.len(),
        state_root: hex::encode(ledger.state_root().map_err(ledger_error)?),
    })
}

/// Up to `limit` counted entries of `actor` from seq `from`.
pub fn ledger_page(ledger: &Ledger, actor: NodeId, from: u64, limit: u64) -> Result<Vec<EntryView>, NodeError> {
    let to = from.saturating_add(limit.min(PAGE_ENTRIES_MAX));
    ledger
        .range(&actor, from, to)
        .map(|item| {
            let (entry, effect) = item.map_err(ledger_error)?;
            Ok(EntryView {
                tx_id: entry.tx_id(),
                effect: match effect {
                    Effect::Applied => "applied".into(),
                    Effect::Bounced => "bounced".into(),
                },
                entry,
            })
        })
        .collect()
}

/// Pays `request.amount` from the owner's wallet; returns the durable entry.
pub fn transfer(ledger: &Ledger, key: &SigningKey, request: &TransferRequest) -> Result<EntryView, NodeError> {
    if request.to == ledger.owner() {
        return Err(NodeError::Refused("a node cannot pay itself".into()));
    }
    let draft = Draft::new(
        Intent::Transfer {
            to: request.to,
            currency: request.currency,
            amount: request.amount,
        },
        now_ms(),
    );
    let entry = ledger.append(key, draft).map_err(ledger_error)?;
    Ok(EntryView {
        tx_id: entry.tx_id(),
        effect: "applied".into(),
        entry: entry.into_signed(),
    })
}

impl VerifyView {
    /// The view of a chain verification's result.
    pub fn of(result: Result<VerifiedSummary, ChainError>) -> VerifyView {
        match result {
            Ok(s) => VerifyView {
                chains: s.chains,
                entries: s.entries,
                error: None,
            },
            Err(e) => VerifyView {
                chains: 0,
                entries: 0,
                error: Some(e.to_string()),
            },
        }
    }
}

/// Verifies every stored chain with batched signature checks.
pub fn verify(ledger: &Ledger) -> Result<VerifyView, NodeError> {
    Ok(VerifyView::of(ledger.verify_chains(None).map_err(ledger_error)?))
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportView {
    /// Entries applied.
    pub applied: u64,
    /// Entries stored as bounced.
    pub bounced: u64,
    /// Entries already held.
    pub duplicate: u64,
    /// Entries waiting for predecessors or for a parameter table the DAO has not yet shown this node.
    pub pending: u64,
    /// Entries refused, with the first reason.
    pub rejected: u64,
    /// First rejection reason.
    pub first_rejection: Option<String>,
    /// Forks revealed.
    pub forks: u64,
}

/// Ingests an export file's entries through the ledger's full validation.
pub fn import(ledger: &Ledger, bytes: &[u8]) -> Result<ImportView, NodeError> {
    use ippoc_economy::store::{IngestOutcome, parse_export};
    let (swarm, entries) = parse_export(bytes).map_err(|e| NodeError::Refused(e.to_string()))?;
    if swarm != ledger.swarm_id() {
        return Err(NodeError::Refused(format!(
            "the export is of swarm {swarm}, this node is in swarm {}",
            ledger.swarm_id()
        )));
    }
    let mut view = ImportView::default();
    for outcome in ledger.ingest(entries).map_err(ledger_error)? {
        match outcome {
            IngestOutcome::Applied => view.applied += 1,
            IngestOutcome::Bounced(_) => view.bounced += 1,
            IngestOutcome::Duplicate => view.duplicate += 1,
            IngestOutcome::Pending { .. } | IngestOutcome::AwaitingParameters { .. } => view.pending += 1,
            IngestOutcome::Fork { .. } => view.forks += 1,
            IngestOutcome::Rejected(reason) => {
                view.rejected += 1;
                view.first_rejection.get_or_insert(reason);
            }
        }
    }
    Ok(view)
}

/// The export file of `actor`'s chain, or of every chain.
pub fn export(ledger: &Ledger, actor: Option<NodeId>) -> Result<Vec<u8>, NodeError> {
    ledger.export(actor.as_ref()).map_err(ledger_error)
}
