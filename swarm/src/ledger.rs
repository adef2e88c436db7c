//! The node's side of the ledger: the views the admin API serves and the
//! CLI prints (one set of types for both, so the two can never disagree),
//! and the operations behind them.

use std::time::{SystemTime, UNIX_EPOCH};

use ippoc_economy::store::{ChainError, Charge, Draft, Effect, Intent, Ledger, LedgerError, Mode, VerifiedSummary};
use ippoc_economy::{AccountId, Amount, Currency, NodeId, SignedEntry, TxId};
use serde::{Deserialize, Serialize};

use crate::{Error, OwnChain};

/// Largest page of entries one request returns.
pub const PAGE_ENTRIES_MAX: u64 = 1000;

/// Unix time in milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
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
#[serde(deny_unknown_fields)]
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
pub fn quote(ledger: &Ledger, kind: ChargeKind) -> Result<QuoteView, Error> {
    let cost = Charge::from(kind)
        .cost(&ledger.parameters().1)
        .ok_or_else(|| Error::BadInput("the cost overflows: tokens or fuel too large".into()))?;
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
pub fn charge(chain: &OwnChain, request: &ChargeRequest) -> Result<EntryView, Error> {
    let bounty = crate::bounty::claim(chain.ledger(), request.bounty)?;
    let cost = Charge::from(request.charge)
        .cost(&chain.ledger().parameters().1)
        .ok_or_else(|| Error::BadInput("charge: the cost overflows (tokens or fuel too large)".into()))?;
    if cost.is_zero() {
        return Err(Error::BadInput(
            "charge: it costs nothing (tokens or fuel 0), so there is nothing to record".into(),
        ));
    }
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
    let entry = chain.append(draft)?;
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
    /// Stored records scrubbed (entries, evidence, waiting entries).
    #[serde(default)]
    pub records: u64,
    /// Damaged records found.
    #[serde(default)]
    pub damaged: u64,
    /// The first bad entry, if any.
    pub error: Option<String>,
}

/// A ledger failure as this crate's error: a refusal by the rules, or a fault of the store.
pub fn ledger_error(e: LedgerError) -> Error {
    match e {
        LedgerError::Denied(_) | LedgerError::WorkerMode | LedgerError::ActorForked { .. } => {
            Error::Refused(e.to_string())
        }
        // A static rule broken by the node's own draft: what was asked is wrong.
        LedgerError::Rule(_) => Error::BadInput(e.to_string()),
        // The signing guard could not record the signature: nothing was stored.
        LedgerError::Unrecorded(reason) => Error::SigningBlocked(reason),
        LedgerError::DiskFull(_) | LedgerError::Unavailable(_) => Error::StorageFull(e.to_string()),
        other => Error::Ledger {
            path: "ledger".into(),
            reason: other.to_string(),
        },
    }
}

/// The owner's wallet.
pub fn wallet_view(ledger: &Ledger) -> Result<WalletView, Error> {
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
pub fn ledger_page(ledger: &Ledger, actor: NodeId, from: u64, limit: u64) -> Result<Vec<EntryView>, Error> {
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
pub fn transfer(chain: &OwnChain, request: &TransferRequest) -> Result<EntryView, Error> {
    if request.to == chain.owner() {
        return Err(Error::BadInput("to: a node cannot pay itself".into()));
    }
    if request.amount.is_zero() {
        return Err(Error::BadInput("amount: must be more than 0".into()));
    }
    let draft = Draft::new(
        Intent::Transfer {
            to: request.to,
            currency: request.currency,
            amount: request.amount,
        },
        now_ms(),
    );
    let entry = chain.append(draft)?;
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
                records: 0,
                damaged: 0,
                error: None,
            },
            Err(e) => VerifyView {
                chains: 0,
                entries: 0,
                records: 0,
                damaged: 0,
                error: Some(e.to_string()),
            },
        }
    }
}

/// Verifies the store: every stored record (hash, position, signature:
/// [`Ledger::scrub`]), every counted chain's links, and that the derived
/// state is what the entries give (a replay into a scratch ledger).
pub fn verify(ledger: &Ledger) -> Result<VerifyView, Error> {
    let scrub = ledger.scrub().map_err(ledger_error)?;
    if let Some(first) = scrub.damaged.first() {
        let at = first
            .position
            .map(|(actor, seq)| format!("{actor} seq {seq}"))
            .unwrap_or_else(|| "(a waiting entry)".into());
        return Ok(VerifyView {
            chains: 0,
            entries: 0,
            records: scrub.records,
            damaged: scrub.damaged_total,
            error: Some(format!(
                "{} damaged records; the first, {} {at}: {}. Stop the node and run `ippoc ledger repair` (with `--from` an export that holds them, if you have one)",
                scrub.damaged_total, first.kind, first.reason
            )),
        });
    }
    let mut view = VerifyView::of(ledger.verify_chains(None).map_err(ledger_error)?);
    view.records = scrub.records;
    if view.error.is_none() && ledger.derived_state_matches().map_err(ledger_error)? == Some(false) {
        view.error = Some(
            "the derived state (balances, heads, fork marks) is not what the stored entries give: stop the node and run `ippoc ledger repair` to rebuild it".into(),
        );
    }
    Ok(view)
}

/// `ippoc ledger repair`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepairView {
    /// Records checked after the repair.
    pub records: u64,
    /// Damaged entries replaced by a verified copy of the same entry.
    pub replaced: u64,
    /// Damaged records removed: they come back from peers.
    pub dropped: u64,
    /// The first removed positions, `<actor> seq <n>`.
    pub dropped_positions: Vec<String>,
    /// After the repair, the derived state is what the entries give.
    pub derived_state_matches: bool,
}

/// Repairs the store with `copies` (an export's entries, or none): see
/// [`Ledger::repair`]; then checks the result as [`verify`] does.
pub fn repair(ledger: &Ledger, copies: &[SignedEntry]) -> Result<RepairView, Error> {
    let report = ledger.repair(copies).map_err(ledger_error)?;
    let records = ledger.scrub().map_err(ledger_error)?.records;
    Ok(RepairView {
        records,
        replaced: report.replaced,
        dropped: report.dropped,
        dropped_positions: report
            .dropped_positions
            .iter()
            .map(|(actor, seq)| format!("{actor} seq {seq}"))
            .collect(),
        derived_state_matches: ledger.derived_state_matches().map_err(ledger_error)? == Some(true),
    })
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
pub fn import(ledger: &Ledger, bytes: &[u8]) -> Result<ImportView, Error> {
    use ippoc_economy::store::{IngestOutcome, parse_export};
    let file = parse_export(bytes).map_err(|e| Error::BadInput(format!("not an export file: {e}")))?;
    let (swarm, entries) = (file.swarm_id, file.entries);
    if swarm != ledger.swarm_id() {
        return Err(Error::Refused(format!(
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
            IngestOutcome::Pending { .. }
            | IngestOutcome::AwaitingParameters { .. }
            | IngestOutcome::AwaitingCycle { .. } => view.pending += 1,
            IngestOutcome::Fork { .. } => view.forks += 1,
            IngestOutcome::Rejected(reason) | IngestOutcome::Dropped(reason) => {
                view.rejected += 1;
                view.first_rejection.get_or_insert(reason);
            }
        }
    }
    Ok(view)
}

/// The export file of `actor`'s chain, or of every chain, signed by this node.
pub fn export(chain: &crate::own_chain::OwnChain, actor: Option<NodeId>) -> Result<Vec<u8>, Error> {
    chain.export(actor.as_ref())
}
