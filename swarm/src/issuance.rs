//! Issuance as an operator asks for it (`ippoc mic`, `/v1/mic/...`, the
//! band in `ippoc status`): a node's reserve and tranches, the swarm's band,
//! and a mint's preview, gate by gate (docs/issuance.md).

use ippoc_economy::NodeId;
use ippoc_economy::entry::SentinelSignature;
use ippoc_economy::integrity::Band;
use ippoc_economy::issuance::{Accrual, HUNDREDTHS, Issuance, Tripwire, seal_id, tranche_amount};
use ippoc_economy::store::{Ledger, TrancheView, mint_draft};
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::ledger::ledger_error;

/// Accruals [`reserve`] shows at most (the newest kept cycles).
pub const RECENT_ACCRUALS_MAX: usize = 8;

/// Reserve units as text: hundredths to "12.34".
pub fn units(hundredths: u64) -> String {
    format!("{}.{:02}", hundredths / HUNDREDTHS, hundredths % HUNDREDTHS)
}

/// The swarm's issuance state after the newest closed cycle (`ippoc status`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BandView {
    /// The newest closed cycle with a record.
    pub cycle: u64,
    /// Its band.
    pub band: Band,
    /// The swarm's GI in it, ppm.
    pub swarm_gi_ppm: Option<u32>,
    /// Consecutive cycles at the mint threshold with no tripwire.
    pub sustained: u64,
    /// Whether a mint may cite it.
    pub mint_open: bool,
    /// Tripwires it set off.
    pub tripwires: Vec<Tripwire>,
    /// The record's digest (hex): equal at every node that closed the same cycles.
    pub digest: String,
}

impl BandView {
    /// The view of a record (none before the first cycle closes).
    pub fn of(record: &Issuance) -> Option<BandView> {
        Some(BandView {
            cycle: record.cycle?,
            band: record.band(),
            swarm_gi_ppm: record.swarm_gi,
            sustained: record.sustained,
            mint_open: record.mint_open,
            tripwires: record.tripwires.clone(),
            digest: hex::encode(record.digest),
        })
    }
}

/// The band after the newest closed cycle this node keeps.
pub fn band(ledger: &Ledger) -> Result<Option<BandView>, Error> {
    Ok(ledger
        .newest_issuance()
        .map_err(ledger_error)?
        .as_ref()
        .and_then(BandView::of))
}

/// One cycle's accrual to a reserve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccrualView {
    /// The cycle.
    pub cycle: u64,
    /// Units accrued ("1.23").
    pub units: String,
    /// The GI table the accrual was computed from (hex).
    pub evidence: String,
    /// The work, base and multipliers.
    pub detail: Accrual,
}

/// What `GET /v1/mic/reserve` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReserveReport {
    /// The node.
    pub node: NodeId,
    /// The swarm's band after the newest closed cycle.
    pub band: Option<BandView>,
    /// Units accrued since the genesis ("123.45"), non-circulating.
    pub accrued: String,
    /// Units accrued and not yet sealed.
    pub unsealed: String,
    /// Tranches sealed (50.00 each).
    pub sealed: u64,
    /// Of those, tranches minted in the chains up to the newest closed cycle.
    pub minted: u64,
    /// IPPC one tranche mints.
    pub tranche_ippc: String,
    /// Its newest accruals, newest first.
    pub recent: Vec<AccrualView>,
}

/// `node`'s reserve as of the newest closed cycle, with its recent accruals.
pub fn reserve(ledger: &Ledger, node: NodeId) -> Result<ReserveReport, Error> {
    let newest = ledger.newest_issuance().map_err(ledger_error)?;
    let r = newest.as_ref().and_then(|i| i.reserve_of(&node).copied());
    let mut recent = Vec::new();
    if let Some(cycle) = newest.as_ref().and_then(|i| i.cycle) {
        let oldest = cycle.saturating_sub(ippoc_economy::store::ISSUANCE_KEPT);
        let mut c = cycle;
        while recent.len() < RECENT_ACCRUALS_MAX && c >= oldest {
            let Some(record) = ledger.issuance_kept(c).map_err(ledger_error)? else {
                break;
            };
            if let Some(a) = record.accruals.iter().find(|a| a.node == node) {
                recent.push(AccrualView {
                    cycle: c,
                    units: units(a.units),
                    evidence: hex::encode(record.table_digest),
                    detail: *a,
                });
            }
            let Some(before) = c.checked_sub(1) else { break };
            c = before;
        }
    }
    Ok(ReserveReport {
        node,
        band: newest.as_ref().and_then(BandView::of),
        accrued: units(r.map_or(0, |r| r.accrued)),
        unsealed: units(r.map_or(0, |r| r.unsealed())),
        sealed: r.map_or(0, |r| r.sealed),
        minted: r.map_or(0, |r| r.minted),
        tranche_ippc: tranche_amount().to_string(),
        recent,
    })
}

/// `node`'s newest sealed tranches, minted or not.
pub fn tranches(ledger: &Ledger, node: NodeId) -> Result<Vec<TrancheView>, Error> {
    ledger.tranches_of(&node).map_err(ledger_error)
}

/// One gate of a mint, as a preview judges it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateCheck {
    /// The gate.
    pub gate: String,
    /// Whether it holds now.
    pub passed: bool,
    /// Why not, or what it found.
    pub detail: String,
}

/// What `POST /v1/mic/mint/preview` answers: whether this node could mint
/// its tranche now citing the newest closed cycle, gate by gate, and what
/// the sentinels would sign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MintPreview {
    /// The tranche (the oldest open one by default).
    pub tranche: Option<u64>,
    /// Its seal (hex).
    pub seal: Option<String>,
    /// The cycle a mint now would cite.
    pub cycle: Option<u64>,
    /// IPPC it would mint.
    pub amount: String,
    /// Every gate but the signatures, as this node's records judge them.
    pub gates: Vec<GateCheck>,
    /// The sentinels who may sign, and how many must.
    pub sentinels: Vec<NodeId>,
    /// Distinct signatures needed.
    pub quorum: u32,
    /// Whether every gate but the signatures holds.
    pub ready: bool,
}

/// Request of `POST /v1/mic/mint/preview`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    /// The tranche; the oldest open one by default.
    #[serde(default)]
    pub tranche: Option<u64>,
}

/// A preview of the owner's mint at `now_ms`.
pub fn preview(ledger: &Ledger, tranche: Option<u64>, now_ms: u64) -> Result<MintPreview, Error> {
    let owner = ledger.owner();
    let record = ledger.newest_issuance().map_err(ledger_error)?;
    let open: Vec<TrancheView> = tranches(ledger, owner)?
        .into_iter()
        .filter(|t| t.minted.is_none())
        .collect();
    let tranche = tranche.or_else(|| open.first().map(|t| t.seq));
    let mut gates = Vec::new();
    let mut check = |gate: &str, refusal: Option<String>, found: String| {
        gates.push(GateCheck {
            gate: gate.into(),
            passed: refusal.is_none(),
            detail: refusal.unwrap_or(found),
        })
    };
    let cycle = record.as_ref().and_then(|r| r.cycle);
    let gate = match cycle {
        Some(c) => ledger.mint_gate(c).map_err(ledger_error)?,
        None => None,
    };
    match (&gate, tranche) {
        (None, _) => check("cycle", Some("no cycle closed yet".into()), String::new()),
        (Some(g), None) => {
            check("cycle", None, format!("cycle {}", g.cycle));
            check(
                "tranche",
                Some("no sealed tranche of this node is open".into()),
                String::new(),
            );
        }
        (Some(g), Some(t)) => {
            check("cycle", None, format!("cycle {}", g.cycle));
            let seal = seal_id(&ledger.swarm_id(), &owner, t);
            let minted = ledger.minted_at(&seal).map_err(ledger_error)?;
            check(
                "replay",
                minted.map(|(a, s)| format!("tranche {t} was minted at {a} seq {s}")),
                "never minted".into(),
            );
            let sealed_at = ledger.tranche(&seal).map_err(ledger_error)?.map(|x| x.2);
            check(
                "gate",
                g.refuses_tranche(now_ms, sealed_at),
                format!(
                    "band {:?}, {} sustained cycles, no tripwire, tranche sealed at cycle {}",
                    g.band.band(),
                    g.sustained,
                    sealed_at.map_or("?".into(), |s| s.to_string())
                ),
            );
        }
    }
    let ready = gates.iter().all(|g| g.passed);
    Ok(MintPreview {
        tranche,
        seal: tranche.map(|t| hex::encode(seal_id(&ledger.swarm_id(), &owner, t))),
        cycle,
        amount: tranche_amount().to_string(),
        gates,
        sentinels: record.as_ref().map(|r| r.sentinels.clone()).unwrap_or_default(),
        quorum: record.as_ref().map_or(0, |r| r.quorum),
        ready,
    })
}

/// Request of `POST /v1/mic/mint/authorize`: a sentinel is asked to sign.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizeRequest {
    /// Whose tranche.
    pub owner: NodeId,
    /// Its sequence.
    pub tranche: u64,
    /// The closed cycle the mint cites.
    pub cycle: u64,
}

/// Request of `POST /v1/mic/mint/commit`: the owner's mint with the
/// sentinels' signatures.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitRequest {
    /// The tranche.
    pub tranche: u64,
    /// The closed cycle it cites.
    pub cycle: u64,
    /// The sentinels' signatures (from `authorize`).
    pub signatures: Vec<SentinelSignature>,
}

/// What a committed mint answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Committed {
    /// Its position in the own chain.
    pub seq: u64,
    /// Its tx id (hex).
    pub tx: String,
    /// IPPC minted.
    pub amount: String,
}

/// Appends the owner's mint; refused (with the gate's reason) unless every
/// gate holds at this node, as at every peer.
pub fn commit(chain: &crate::OwnChain, request: CommitRequest, now_ms: u64) -> Result<Committed, Error> {
    if request.signatures.len() > ippoc_economy::entry::CERTIFICATE_SIGNATURES_MAX {
        return Err(Error::BadInput(format!(
            "{} signatures; a certificate holds at most {}",
            request.signatures.len(),
            ippoc_economy::entry::CERTIFICATE_SIGNATURES_MAX
        )));
    }
    let ledger = chain.ledger();
    let draft = mint_draft(
        &ledger.swarm_id(),
        &ledger.owner(),
        request.tranche,
        request.cycle,
        request.signatures,
        now_ms,
    );
    let entry = chain.append(draft)?;
    Ok(Committed {
        seq: entry.body().seq,
        tx: entry.tx_id().to_string(),
        amount: tranche_amount().to_string(),
    })
}
