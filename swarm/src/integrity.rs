//! A node's integrity score as an operator asks for it (`ippoc gi`, the
//! admin API): one cycle's GI, components, tier and trend, in the shape of
//! the onboarding guide's `gi-score` response (docs/integrity.md).

use ippoc_economy::NodeId;
use ippoc_economy::integrity::Tier;
use ippoc_economy::standing::{Decisions, LadderRules, Standing, Step};
use ippoc_economy::store::{GI_CLOSE_EPOCHS, Ledger, LedgerError};
use serde::{Deserialize, Serialize};

/// Cycles before the asked one whose GI the trend compares against.
pub const TREND_CYCLES: u64 = 3;
/// Catch-ups of the standings one question makes at most (each computes
/// up to `STANDINGS_CATCH_UP_MAX` cycles): past that, `tier` is left out.
pub const STANDINGS_CALLS_MAX: usize = 64;
/// How far the GI must move from the earlier cycles' mean to be a trend, ppm.
pub const TREND_STEP_PPM: u32 = 10_000;

/// The newest cycle whose table is built: its votes are in the chains cut
/// `GI_CUT_EPOCHS` epochs after its start, and the votes on that cut have
/// had an epoch to reach every node ([`GI_CLOSE_EPOCHS`]).
pub fn newest_closed(now_ms: u64, epoch_ms: u64) -> Option<u64> {
    (now_ms / epoch_ms.max(1)).checked_sub(GI_CLOSE_EPOCHS)
}

/// When the table of `cycle` is built (unix ms).
pub fn built_at_ms(cycle: u64, epoch_ms: u64) -> u64 {
    cycle.saturating_add(GI_CLOSE_EPOCHS).saturating_mul(epoch_ms)
}

/// The five components, each in [0, 1].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Breakdown {
    /// 40%: entries that kept every rule.
    pub compliance: f64,
    /// 25%: votes with the quorum.
    pub consensus: f64,
    /// 20%: votes cast when expected.
    pub reliability: f64,
    /// 10%: IPPC spent on work that succeeded.
    pub efficiency: f64,
    /// 5%: distinct members vouching.
    pub community: f64,
}

/// Whether the GI is rising, falling or flat against the cycles before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trend {
    /// Above the earlier cycles' mean by [`TREND_STEP_PPM`] or more.
    Improving,
    /// Below it by as much.
    Declining,
    /// Within it.
    Steady,
    /// No earlier cycle to compare with.
    New,
}

/// One node's integrity in one cycle (`GET /v1/gi`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GiReport {
    /// The node.
    pub node: NodeId,
    /// The cycle.
    pub cycle: u64,
    /// Its GI in [0, 1].
    pub score: f64,
    /// Its GI in parts per million, as the table holds it.
    pub score_ppm: u32,
    /// Its tier after the cycle (`None` if no standings are kept for it).
    pub tier: Option<Tier>,
    /// Its GI floor, for the tier.
    pub floor: Option<f64>,
    /// Suspended through this cycle, if suspended.
    pub suspended_through: Option<u64>,
    /// Removed at this cycle, if removed.
    pub removed: Option<u64>,
    /// The five components.
    pub breakdown: Breakdown,
    /// Against the cycles before.
    pub trend: Trend,
    /// Its GI in the cycles before (cycle, ppm), oldest first.
    pub history: Vec<(u64, u32)>,
    /// The swarm's GI in the cycle (the lower median).
    pub swarm_gi: Option<f64>,
    /// Members scored in the cycle.
    pub members: usize,
    /// The table's digest (hex): equal at every node holding the same chains.
    pub table_digest: String,
    /// The next cycle's table is built at this time (unix ms).
    pub next_review_ms: u64,
    /// Its recent steps on the ladder (promotions, penalties, appeals).
    pub record: Vec<Step>,
}

/// Why a GI question has no answer.
#[derive(Debug, thiserror::Error)]
pub enum GiError {
    /// The cycle's table is not built yet.
    #[error("cycle {cycle} is not closed yet (the newest closed cycle is {newest})")]
    NotClosed {
        /// Asked.
        cycle: u64,
        /// The newest closed one, or none yet.
        newest: String,
    },
    /// The cycle ended before the swarm began.
    #[error("cycle {cycle} is before the swarm's genesis (its first cycle is {first})")]
    BeforeGenesis {
        /// Asked.
        cycle: u64,
        /// The genesis cycle.
        first: u64,
    },
    /// The node has no row in the cycle.
    #[error("{node} is not a member scored in cycle {cycle}")]
    NotScored {
        /// The node.
        node: NodeId,
        /// The cycle.
        cycle: u64,
    },
    /// The ledger could not be read.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

fn ppm(v: u32) -> f64 {
    f64::from(v) / 1e6
}

/// The report of `node` for `cycle` (the newest closed one by default),
/// computed from this node's chains as of `now_ms`.
pub fn report(
    ledger: &Ledger,
    epoch_ms: u64,
    node: NodeId,
    cycle: Option<u64>,
    now_ms: u64,
    decisions: &dyn Decisions,
) -> Result<GiReport, GiError> {
    let newest = newest_closed(now_ms, epoch_ms);
    let cycle = match (cycle, newest) {
        (Some(c), Some(n)) if c <= n => c,
        (None, Some(n)) => n,
        (c, n) => {
            return Err(GiError::NotClosed {
                cycle: c.unwrap_or(0),
                newest: n.map_or("none".into(), |n| n.to_string()),
            });
        }
    };
    let first = ledger.first_cycle(epoch_ms);
    if cycle < first {
        return Err(GiError::BeforeGenesis { cycle, first });
    }
    // The table as the ladder reads it, and the standings after the cycle;
    // computed here if the pump has not yet (a stopped node asked, or a
    // cycle it skipped), in bounded catch-ups. Past them, every member
    // counts and no tier is shown.
    let rules = LadderRules::default();
    let mut closed = None;
    for _ in 0..STANDINGS_CALLS_MAX {
        closed = ledger.close_cycle(cycle, epoch_ms, &rules, decisions)?;
        if closed.is_some() {
            break;
        }
    }
    let (table, standings) = match closed {
        Some((t, s)) => (t, Some(s)),
        None => (ledger.gi_table(cycle, epoch_ms)?, None),
    };
    let row = table
        .rows
        .iter()
        .find(|r| r.node == node)
        .ok_or(GiError::NotScored { node, cycle })?;
    let mut history = Vec::new();
    for c in cycle.saturating_sub(TREND_CYCLES)..cycle {
        if c < first {
            continue;
        }
        let t = match ledger.scored_table(c, epoch_ms, &rules, decisions)? {
            Some(t) => t,
            None => ledger.gi_table(c, epoch_ms)?,
        };
        if let Some(r) = t.rows.into_iter().find(|r| r.node == node) {
            history.push((c, r.gi));
        }
    }
    let trend = if history.is_empty() {
        Trend::New
    } else {
        let mean = history.iter().map(|(_, g)| u64::from(*g)).sum::<u64>() / history.len() as u64;
        let gi = u64::from(row.gi);
        if gi >= mean + u64::from(TREND_STEP_PPM) {
            Trend::Improving
        } else if gi + u64::from(TREND_STEP_PPM) <= mean {
            Trend::Declining
        } else {
            Trend::Steady
        }
    };
    let standing: Option<&Standing> = standings.as_ref().and_then(|s| s.of(&node));
    let [compliance, consensus, reliability, efficiency, community] = row.components.0;
    Ok(GiReport {
        node,
        cycle,
        score: ppm(row.gi),
        score_ppm: row.gi,
        tier: standing.map(|s| s.tier.tier()),
        floor: standing.map(|s| ppm(s.tier.tier().floor())),
        suspended_through: standing.and_then(|s| s.suspended_through),
        removed: standing.and_then(|s| s.removed),
        breakdown: Breakdown {
            compliance: ppm(compliance),
            consensus: ppm(consensus),
            reliability: ppm(reliability),
            efficiency: ppm(efficiency),
            community: ppm(community),
        },
        trend,
        history,
        swarm_gi: table.swarm_gi.map(ppm),
        members: table.rows.len(),
        table_digest: hex::encode(table.digest),
        next_review_ms: built_at_ms(cycle + 1, epoch_ms),
        record: standing.map(|s| s.record.clone()).unwrap_or_default(),
    })
}
