//! Tiers and penalties over cycles: every node's standing after a closed
//! cycle, a pure function of the standings before it, the cycle's GI table
//! and the DAO's decisions executed in it. Every node that holds the same
//! tables and decisions holds the same standings, byte for byte
//! (docs/integrity.md, "Standing").

use std::collections::BTreeMap;

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::NodeId;
use crate::integrity::Tier;
use crate::issuance::IssuanceRules;
use crate::store::{GiRow, GiTable};

/// Cycles from the newest anchored epoch when the DAO decides to the cycle
/// whose close applies the decision (the Anchor contract stamps its events
/// with `latestEpoch + DECISION_LAG_CYCLES`). A node that has read the chain
/// to a block whose newest anchored epoch is `e` knows every decision of
/// every cycle up to `e + DECISION_LAG_CYCLES - 1`: a later one lands later.
pub const DECISION_LAG_CYCLES: u64 = 2;
/// Decisions a [`DecisionBook`] keeps; past it, those of the oldest cycles
/// are dropped (cycles long closed: only a node catching up that far back
/// would miss them, and it stops for want of them rather than guess).
pub const DECISIONS_KEPT: usize = 4096;
/// Steps kept in a node's record (older ones are dropped first).
pub const RECORD_KEPT: usize = 16;
/// Offences that remove a node, or demote it when it has a tier to lose.
pub const OFFENCES_TO_DEMOTE: usize = 3;

/// The ladder's governed knobs. Durations are in cycles; the defaults are
/// the guide's durations at the default ten-minute cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LadderRules {
    /// Cycles a new node spends in shadow before Research (the guide's week
    /// of shadow mode: 1 008).
    pub shadow_cycles: u64,
    /// Consecutive qualifying cycles at Research before Standard (a day: 144).
    pub research_cycles: u64,
    /// Consecutive cycles under its tier's floor before the tier lapses one
    /// step (a day: 144).
    pub lapse_cycles: u64,
    /// How long a suspension lasts (the guide's 24–72 h; 24 h: 144).
    pub suspension_cycles: u64,
    /// How long an offence counts toward the ladder (30 days: 4 320).
    pub offence_window_cycles: u64,
    /// Compliance under which a cycle is an offence, ppm (the guide's 95%).
    pub offence_compliance: u32,
    /// Compliance a cycle needs to count toward promotion, ppm (95%).
    pub promotion_compliance: u32,
    /// The issuance thresholds, stepped at the same close and governed the
    /// same way (`issuance.*` names).
    #[serde(default)]
    pub issuance: IssuanceRules,
}

impl Default for LadderRules {
    fn default() -> Self {
        LadderRules {
            shadow_cycles: 1_008,
            research_cycles: 144,
            lapse_cycles: 144,
            suspension_cycles: 144,
            offence_window_cycles: 4_320,
            offence_compliance: 950_000,
            promotion_compliance: 950_000,
            issuance: IssuanceRules::DEFAULT,
        }
    }
}

impl LadderRules {
    /// The knobs the DAO governs, by their Parameters contract names
    /// (`keccak256(name)` keys): an executed change applies from the cycle
    /// the anchors settle for it ([`DecisionBook::change_rule`]).
    pub const GOVERNED: [&'static str; 16] = [
        "integrity.shadow_cycles",
        "integrity.research_cycles",
        "integrity.lapse_cycles",
        "integrity.suspension_cycles",
        "integrity.offence_window_cycles",
        "integrity.offence_compliance_ppm",
        "integrity.promotion_compliance_ppm",
        "issuance.mint_gi_ppm",
        "issuance.reserve_gi_ppm",
        "issuance.repair_gi_ppm",
        "issuance.sustain_cycles",
        "issuance.gi_drop_ppm",
        "issuance.novelty_share_ppm",
        "issuance.offender_share_ppm",
        "issuance.failure_share_ppm",
        "issuance.vote_pay_hundredths",
    ];

    /// These rules with the governed knob `name` set to `value`; an unknown
    /// name, a duration outside 1..=1 000 000 cycles or a share above
    /// 1 000 000 ppm is refused.
    pub fn with(&self, name: &str, value: u64) -> Result<LadderRules, String> {
        let mut next = *self;
        let cycles = || {
            if (1..=1_000_000).contains(&value) {
                Ok(value)
            } else {
                Err(format!("{name} = {value}: a duration must be 1..=1000000 cycles"))
            }
        };
        let ppm = || {
            u32::try_from(value)
                .ok()
                .filter(|p| *p <= 1_000_000)
                .ok_or_else(|| format!("{name} = {value}: a share must be at most 1000000 ppm"))
        };
        match name {
            "integrity.shadow_cycles" => next.shadow_cycles = cycles()?,
            "integrity.research_cycles" => next.research_cycles = cycles()?,
            "integrity.lapse_cycles" => next.lapse_cycles = cycles()?,
            "integrity.suspension_cycles" => next.suspension_cycles = cycles()?,
            "integrity.offence_window_cycles" => next.offence_window_cycles = cycles()?,
            "integrity.offence_compliance_ppm" => next.offence_compliance = ppm()?,
            "integrity.promotion_compliance_ppm" => next.promotion_compliance = ppm()?,
            "issuance.mint_gi_ppm" => next.issuance.mint_gi = ppm()?,
            "issuance.reserve_gi_ppm" => next.issuance.reserve_gi = ppm()?,
            "issuance.repair_gi_ppm" => next.issuance.repair_gi = ppm()?,
            "issuance.sustain_cycles" => next.issuance.sustain_cycles = cycles()?,
            "issuance.gi_drop_ppm" => next.issuance.gi_drop = ppm()?,
            "issuance.novelty_share_ppm" => next.issuance.novelty_share = ppm()?,
            "issuance.offender_share_ppm" => next.issuance.offender_share = ppm()?,
            "issuance.failure_share_ppm" => next.issuance.failure_share = ppm()?,
            "issuance.vote_pay_hundredths" => {
                next.issuance.vote_pay = if value <= 1_000_000 {
                    value
                } else {
                    return Err(format!(
                        "{name} = {value}: at most 1000000 hundredths (10000.00 units) a vote"
                    ));
                }
            }
            _ => return Err(format!("{name}: not a governed ladder or issuance rule")),
        }
        let i = next.issuance;
        if !(i.repair_gi <= i.reserve_gi && i.reserve_gi <= i.mint_gi) {
            return Err(format!(
                "{name} = {value}: the bands must keep repair ({}) <= reserve ({}) <= mint ({})",
                i.repair_gi, i.reserve_gi, i.mint_gi
            ));
        }
        Ok(next)
    }
}

/// What happened to a node at one cycle's close.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum StepKind {
    /// Moved up to this tier (automatically, or by an executed DAO proposal).
    Promoted {
        /// The new tier.
        tier: TierCode,
    },
    /// GI stayed under its floor for `lapse_cycles`: down to this tier.
    Lapsed {
        /// The new tier.
        tier: TierCode,
    },
    /// First offence in the window: recorded, nothing taken.
    Warned,
    /// Second offence: no vote and no quorum through this cycle.
    Suspended {
        /// The last cycle of the suspension.
        through: u64,
    },
    /// Third offence: down to this tier.
    Demoted {
        /// The new tier.
        tier: TierCode,
    },
    /// Forgery or equivocation, or a third offence with no tier to lose.
    Removed,
    /// A DAO proposal reversed its penalties (an appeal): the tier from before them.
    Reinstated {
        /// The tier given back.
        tier: TierCode,
    },
    /// A DAO promotion refused: the node's GI in the cycle was under the
    /// tier's floor.
    PromotionRefused {
        /// The tier asked for.
        tier: TierCode,
    },
}

/// [`Tier`] as a byte in the canonical encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Encode, Decode, Serialize, Deserialize)]
pub struct TierCode(pub u8);

impl From<Tier> for TierCode {
    fn from(t: Tier) -> TierCode {
        TierCode(t as u8)
    }
}

impl TierCode {
    /// The tier (an unknown code reads as Shadow: no vote).
    pub fn tier(self) -> Tier {
        match self.0 {
            1 => Tier::Research,
            2 => Tier::Standard,
            3 => Tier::High,
            4 => Tier::Critical,
            _ => Tier::Shadow,
        }
    }
}

/// One step of a node's record, with the figures it was decided on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Step {
    /// The cycle at whose close it happened.
    pub cycle: u64,
    /// What happened.
    pub kind: StepKind,
    /// The node's GI in that cycle, ppm.
    pub gi: u32,
    /// Its compliance in that cycle, ppm.
    pub compliance: u32,
}

/// One node's standing after a cycle.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Standing {
    /// The node.
    pub node: NodeId,
    /// Its tier (while not removed).
    pub tier: TierCode,
    /// The cycle it entered that tier.
    pub since: u64,
    /// Consecutive cycles meeting the promotion criteria at its tier.
    pub qualifying: u64,
    /// Consecutive cycles under its tier's floor.
    pub under_floor: u64,
    /// Cycles of its offences still inside the window, oldest first.
    pub offences: Vec<u64>,
    /// Suspended through this cycle (inclusive).
    pub suspended_through: Option<u64>,
    /// Removed at this cycle.
    pub removed: Option<u64>,
    /// Its recent steps, oldest first, at most [`RECORD_KEPT`].
    pub record: Vec<Step>,
    /// The tier it held before the first of its demotions, lapses and
    /// removals since it last held that tier again or appealed: what an
    /// appeal gives back (a node that lapsed twice in one absence gets its
    /// tier from before the absence).
    pub before_penalty: Option<TierCode>,
}

impl Standing {
    fn new(node: NodeId, tier: Tier, since: u64) -> Standing {
        Standing {
            node,
            tier: tier.into(),
            since,
            qualifying: 0,
            under_floor: 0,
            offences: Vec::new(),
            suspended_through: None,
            removed: None,
            record: Vec::new(),
            before_penalty: None,
        }
    }

    /// Whether its vote counts in the cycle after `cycle`: not removed, not
    /// suspended, and a tier that votes.
    pub fn votes_after(&self, cycle: u64) -> bool {
        self.vote_weight_after(cycle) > 0
    }

    /// Whether its checkpoint vote counts toward the quorum, and its GI
    /// toward the swarm's, in the cycle after `cycle`: past shadow, not
    /// suspended, not removed (Research counts here; it has no governance
    /// vote).
    pub fn counts_after(&self, cycle: u64) -> bool {
        self.removed.is_none() && self.suspended_through.is_none_or(|t| t <= cycle) && self.tier.tier() > Tier::Shadow
    }

    /// Its governance vote weight in the cycle after `cycle`, ppm.
    pub fn vote_weight_after(&self, cycle: u64) -> u32 {
        if self.removed.is_some() || self.suspended_through.is_some_and(|t| t > cycle) {
            return 0;
        }
        self.tier.tier().vote_weight()
    }

    fn push(&mut self, row: &GiRow, cycle: u64, kind: StepKind) {
        self.record.push(Step {
            cycle,
            kind,
            gi: row.gi,
            compliance: row.components.0[0],
        });
        let excess = self.record.len().saturating_sub(RECORD_KEPT);
        self.record.drain(..excess);
    }

    fn set_tier(&mut self, tier: Tier, cycle: u64) {
        self.tier = tier.into();
        self.since = cycle;
        self.qualifying = 0;
        self.under_floor = 0;
    }

    /// Up to `tier`: back at (or past) the tier its penalties took, the
    /// node has outgrown them, so an appeal has nothing left to give back.
    fn promote(&mut self, tier: Tier, cycle: u64) {
        self.set_tier(tier, cycle);
        if self.before_penalty.is_some_and(|b| tier >= b.tier()) {
            self.before_penalty = None;
        }
    }
}

/// Every known node's standing after one cycle, sorted by node.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Standings {
    /// The cycle they are the standings after; `None` before the first.
    pub cycle: Option<u64>,
    /// One per node seen in a table (or a founder), sorted by node.
    pub rows: Vec<Standing>,
    /// SHA-256 of the canonical encoding of `cycle` and `rows`.
    pub digest: [u8; 32],
}

/// A DAO decision that the ladder applies at a cycle's close.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Decision {
    /// Promote a node to High or Critical; refused unless its GI in the
    /// cycle meets the tier's floor.
    Promote {
        /// The node.
        node: NodeId,
        /// The tier.
        tier: Tier,
    },
    /// Reverse the node's penalties: lift a suspension or removal, give back
    /// the tier held before the first penalty since it last held it, clear its offences.
    Appeal {
        /// The node.
        node: NodeId,
    },
}

/// Where the ladder learns the DAO decisions that apply at a cycle's close.
pub trait Decisions: Send + Sync {
    /// The decisions applied at `cycle`'s close, in chain order; `None`
    /// while they cannot all be known yet (the chain not read far enough),
    /// so the ladder waits instead of moving without them.
    fn at(&self, cycle: u64) -> Option<Vec<Decision>>;

    /// The ladder's rules at `cycle`: `base` (the swarm's starting rules)
    /// with every governed change that applies at or before it. Asked only
    /// for a cycle [`Decisions::at`] answers.
    fn rules_at(&self, _cycle: u64, base: &LadderRules) -> LadderRules {
        *base
    }
}

/// A node that follows no DAO: no decision ever applies.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoDao;

impl Decisions for NoDao {
    fn at(&self, _: u64) -> Option<Vec<Decision>> {
        Some(Vec::new())
    }
}

/// A node that follows a DAO but is not reading it now (the CLI without a
/// daemon): nothing can be known, so no new standings are computed.
#[derive(Debug, Default, Clone, Copy)]
pub struct Unread;

impl Decisions for Unread {
    fn at(&self, _: u64) -> Option<Vec<Decision>> {
        None
    }
}

/// The DAO's ladder decisions as read from the chain, by the cycle that
/// applies them, and how far the reading settles.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionBook {
    /// Decisions by the cycle whose close applies them, in chain order.
    decided: BTreeMap<u64, Vec<Decision>>,
    /// How many decisions `decided` holds.
    held: usize,
    /// The newest anchored epoch as of the newest block read.
    anchored: Option<u64>,
    /// Governed changes of the ladder's rules by the cycle they apply from,
    /// in chain order; at most [`DECISIONS_KEPT`], the oldest folded into
    /// `folded` past it.
    rules: BTreeMap<u64, Vec<(String, u64)>>,
    /// Changes older than those kept, the newest value per rule: they apply
    /// to every cycle (only a node catching up that far back would see a
    /// cycle they did not yet apply to).
    folded: BTreeMap<String, u64>,
}

impl DecisionBook {
    /// Records a decision the chain applies at `cycle` (its events, in order).
    pub fn record(&mut self, cycle: u64, decision: Decision) {
        self.decided.entry(cycle).or_default().push(decision);
        self.held += 1;
        while self.held > DECISIONS_KEPT {
            let Some((_, dropped)) = self.decided.pop_first() else {
                break;
            };
            self.held -= dropped.len();
        }
    }

    /// Records an executed change of the governed rule `name` (one of
    /// [`LadderRules::GOVERNED`]) read from a block in which the newest
    /// anchored epoch before it was the book's: it applies from that epoch
    /// plus [`DECISION_LAG_CYCLES`] (from the start when nothing was
    /// anchored yet), as the contract stamps a decision. A change the rules
    /// refuse is not recorded.
    pub fn change_rule(&mut self, name: &str, value: u64) -> Result<u64, String> {
        LadderRules::default().with(name, value)?;
        let from = self.anchored.map_or(0, |e| e.saturating_add(DECISION_LAG_CYCLES));
        self.rules.entry(from).or_default().push((name.to_string(), value));
        while self.rules.values().map(Vec::len).sum::<usize>() > DECISIONS_KEPT {
            let Some((_, oldest)) = self.rules.pop_first() else {
                break;
            };
            for (n, v) in oldest {
                self.folded.insert(n, v);
            }
        }
        Ok(from)
    }

    /// The chain has been read to a block whose newest anchored epoch is `epoch`.
    pub fn anchored(&mut self, epoch: u64) {
        self.anchored = Some(self.anchored.map_or(epoch, |a| a.max(epoch)));
    }

    /// Every cycle up to this one has all its decisions known.
    pub fn settled_through(&self) -> Option<u64> {
        self.anchored.map(|e| e.saturating_add(DECISION_LAG_CYCLES - 1))
    }

    /// The decisions recorded, by cycle.
    pub fn decided(&self) -> &BTreeMap<u64, Vec<Decision>> {
        &self.decided
    }
}

impl Decisions for DecisionBook {
    fn at(&self, cycle: u64) -> Option<Vec<Decision>> {
        if self.settled_through()? < cycle {
            return None;
        }
        Some(self.decided.get(&cycle).cloned().unwrap_or_default())
    }

    fn rules_at(&self, cycle: u64, base: &LadderRules) -> LadderRules {
        let folded = self.folded.iter();
        let kept = self
            .rules
            .range(..=cycle)
            .flat_map(|(_, c)| c.iter().map(|(n, v)| (n, v)));
        folded
            .chain(kept)
            .fold(*base, |rules, (name, value)| rules.with(name, *value).unwrap_or(rules))
    }
}

impl<D: Decisions> Decisions for std::sync::RwLock<D> {
    fn at(&self, cycle: u64) -> Option<Vec<Decision>> {
        self.read().unwrap_or_else(|p| p.into_inner()).at(cycle)
    }

    fn rules_at(&self, cycle: u64, base: &LadderRules) -> LadderRules {
        self.read().unwrap_or_else(|p| p.into_inner()).rules_at(cycle, base)
    }
}

impl Standings {
    /// Before the first cycle: the genesis founders at Standard (the
    /// swarm's trusted start, as its genesis sentinels), nobody else.
    pub fn genesis(founders: &[NodeId]) -> Standings {
        let rows = founders
            .iter()
            .map(|f| (*f, Standing::new(*f, Tier::Standard, 0)))
            .collect::<BTreeMap<_, _>>();
        Standings::sealed(None, rows)
    }

    fn sealed(cycle: Option<u64>, rows: BTreeMap<NodeId, Standing>) -> Standings {
        let rows: Vec<Standing> = rows.into_values().collect();
        let digest = digest(cycle, &rows);
        Standings { cycle, rows, digest }
    }

    /// The members whose votes and scores count in the cycle after these
    /// standings ([`Standing::counts_after`]).
    pub fn counted(&self) -> std::collections::BTreeSet<NodeId> {
        let after = self.cycle.unwrap_or(0);
        self.rows
            .iter()
            .filter(|s| s.counts_after(after))
            .map(|s| s.node)
            .collect()
    }

    /// The standing of `node`, if it has one.
    pub fn of(&self, node: &NodeId) -> Option<&Standing> {
        self.rows
            .binary_search_by(|s| s.node.cmp(node))
            .ok()
            .map(|i| &self.rows[i])
    }

    /// The standings after `table`'s cycle: these standings moved by its
    /// rows under `rules`, then the DAO's `decisions` executed in it.
    pub fn step(&self, table: &GiTable, rules: &LadderRules, decisions: &[Decision]) -> Standings {
        let c = table.cycle;
        let mut rows: BTreeMap<NodeId, Standing> = self.rows.iter().map(|s| (s.node, s.clone())).collect();
        for row in &table.rows {
            let s = rows
                .entry(row.node)
                .or_insert_with(|| Standing::new(row.node, Tier::Shadow, c));
            advance(s, row, c, rules);
        }
        let by_node: BTreeMap<NodeId, &GiRow> = table.rows.iter().map(|r| (r.node, r)).collect();
        for d in decisions {
            match *d {
                Decision::Promote { node, tier } => {
                    let (Some(s), Some(row)) = (rows.get_mut(&node), by_node.get(&node)) else {
                        continue;
                    };
                    if s.removed.is_some() || tier <= s.tier.tier() {
                        continue;
                    }
                    // One tier at a time, in good standing, at the new floor:
                    // what the contract checked against the anchored cycle,
                    // checked again in the cycle that applies it.
                    let next = higher(s.tier.tier());
                    let suspended = s.suspended_through.is_some_and(|t| t >= c);
                    if Some(tier) == next && !suspended && row.gi >= tier.floor() {
                        s.promote(tier, c);
                        s.push(row, c, StepKind::Promoted { tier: tier.into() });
                    } else {
                        s.push(row, c, StepKind::PromotionRefused { tier: tier.into() });
                    }
                }
                Decision::Appeal { node } => {
                    let (Some(s), Some(row)) = (rows.get_mut(&node), by_node.get(&node)) else {
                        continue;
                    };
                    let tier = s.before_penalty.take().map_or(s.tier.tier(), TierCode::tier);
                    s.removed = None;
                    s.suspended_through = None;
                    s.offences.clear();
                    s.set_tier(tier, c);
                    s.push(row, c, StepKind::Reinstated { tier: tier.into() });
                }
            }
        }
        Standings::sealed(Some(c), rows)
    }
}

/// One node's row of a closed cycle applied to its standing: forks remove,
/// offences climb the ladder, GI under the floor lapses, clean cycles promote.
fn advance(s: &mut Standing, row: &GiRow, c: u64, rules: &LadderRules) {
    if s.removed.is_some() {
        return;
    }
    let tier = s.tier.tier();
    let forked = row.evidence.0[4] != 0;
    if forked {
        s.before_penalty.get_or_insert(tier.into());
        s.removed = Some(c);
        s.push(row, c, StepKind::Removed);
        return;
    }
    let compliance = row.components.0[0];
    s.offences.retain(|o| o.saturating_add(rules.offence_window_cycles) > c);
    if s.suspended_through.is_some_and(|t| t < c) {
        s.suspended_through = None;
    }
    let offence = compliance < rules.offence_compliance;
    if offence {
        s.offences.push(c);
        match s.offences.len() {
            1 => s.push(row, c, StepKind::Warned),
            2 => {
                let through = c.saturating_add(rules.suspension_cycles);
                s.suspended_through = Some(through);
                s.push(row, c, StepKind::Suspended { through });
            }
            _ => {
                s.offences.clear();
                s.before_penalty.get_or_insert(tier.into());
                match lower(tier) {
                    Some(t) if tier != Tier::Research => {
                        s.set_tier(t, c);
                        s.push(row, c, StepKind::Demoted { tier: t.into() });
                    }
                    _ => {
                        s.removed = Some(c);
                        s.push(row, c, StepKind::Removed);
                    }
                }
                return;
            }
        }
    }
    // Shadow has no floor; every tier above it lapses under its floor.
    if tier > Tier::Shadow && row.gi < tier.floor() {
        s.under_floor += 1;
        if s.under_floor >= rules.lapse_cycles.max(1) {
            let to = lower(tier).unwrap_or(Tier::Shadow);
            s.before_penalty.get_or_insert(tier.into());
            s.set_tier(to, c);
            s.push(row, c, StepKind::Lapsed { tier: to.into() });
            return;
        }
    } else {
        s.under_floor = 0;
    }
    if offence || s.suspended_through.is_some() {
        s.qualifying = 0;
        return;
    }
    match tier {
        // Graduation from shadow: time without a critical failure (a fork
        // removes) and, at the end, a score Research can hold; a node silent
        // in shadow stays there.
        Tier::Shadow => {
            if c.saturating_sub(s.since).saturating_add(1) >= rules.shadow_cycles && row.gi >= Tier::Research.floor() {
                s.promote(Tier::Research, c);
                s.push(
                    row,
                    c,
                    StepKind::Promoted {
                        tier: Tier::Research.into(),
                    },
                );
            }
        }
        Tier::Research => {
            if compliance >= rules.promotion_compliance && row.gi >= Tier::Standard.floor() {
                s.qualifying += 1;
            } else {
                s.qualifying = 0;
            }
            if s.qualifying >= rules.research_cycles.max(1) {
                s.promote(Tier::Standard, c);
                s.push(
                    row,
                    c,
                    StepKind::Promoted {
                        tier: Tier::Standard.into(),
                    },
                );
            }
        }
        // High and Critical come only by DAO proposal.
        Tier::Standard | Tier::High | Tier::Critical => {}
    }
}

/// The tier one step up (Critical has none).
fn higher(t: Tier) -> Option<Tier> {
    match t {
        Tier::Shadow => Some(Tier::Research),
        Tier::Research => Some(Tier::Standard),
        Tier::Standard => Some(Tier::High),
        Tier::High => Some(Tier::Critical),
        Tier::Critical => None,
    }
}

/// The tier one step down (Shadow has none).
fn lower(t: Tier) -> Option<Tier> {
    match t {
        Tier::Shadow => None,
        Tier::Research => Some(Tier::Shadow),
        Tier::Standard => Some(Tier::Research),
        Tier::High => Some(Tier::Standard),
        Tier::Critical => Some(Tier::High),
    }
}

fn digest(cycle: Option<u64>, rows: &[Standing]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"ippoc-standings-v1\0");
    h.update(crate::encoding::encode(&(cycle, rows.to_vec())));
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Evidence, Parts};

    const RULES: LadderRules = LadderRules {
        shadow_cycles: 2,
        research_cycles: 2,
        lapse_cycles: 2,
        suspension_cycles: 2,
        offence_window_cycles: 10,
        offence_compliance: 950_000,
        promotion_compliance: 950_000,
        issuance: IssuanceRules::DEFAULT,
    };

    fn id(b: u8) -> NodeId {
        NodeId::from_bytes([b; 32])
    }

    /// A row with this compliance and GI (and a fork flag); the rest is not read.
    fn row(node: NodeId, compliance: u32, gi: u32, forked: bool) -> GiRow {
        let mut evidence = [0u64; 10];
        evidence[4] = u64::from(forked);
        GiRow {
            node,
            evidence: Evidence(evidence, [0, 0]),
            components: Parts([compliance, 1_000_000, 1_000_000, 1_000_000, 1_000_000]),
            gi,
        }
    }

    fn table(cycle: u64, rows: Vec<GiRow>) -> GiTable {
        GiTable {
            cycle,
            rows,
            swarm_gi: None,
            digest: [0; 32],
        }
    }

    fn good(node: NodeId) -> GiRow {
        row(node, 1_000_000, 960_000, false)
    }

    fn tier(s: &Standings, node: NodeId) -> Tier {
        s.of(&node).unwrap().tier.tier()
    }

    fn kinds(s: &Standings, node: NodeId) -> Vec<StepKind> {
        s.of(&node).unwrap().record.iter().map(|r| r.kind).collect()
    }

    #[test]
    fn founders_start_at_standard_and_a_newcomer_climbs_from_shadow_through_research() {
        let (f, n) = (id(1), id(2));
        let mut s = Standings::genesis(&[f]);
        assert_eq!(tier(&s, f), Tier::Standard);
        assert!(s.of(&n).is_none());
        s = s.step(&table(10, vec![good(f), good(n)]), &RULES, &[]);
        assert_eq!(tier(&s, n), Tier::Shadow);
        assert!(!s.of(&n).unwrap().votes_after(10), "shadow counts in no vote");
        s = s.step(&table(11, vec![good(f), good(n)]), &RULES, &[]);
        assert_eq!(tier(&s, n), Tier::Research, "after shadow_cycles = 2");
        assert!(!s.of(&n).unwrap().votes_after(11), "Research has no governance vote");
        s = s.step(&table(12, vec![good(f), good(n)]), &RULES, &[]);
        assert_eq!(tier(&s, n), Tier::Research);
        s = s.step(&table(13, vec![good(f), good(n)]), &RULES, &[]);
        assert_eq!(tier(&s, n), Tier::Standard, "two qualifying cycles at Research");
        assert_eq!(s.of(&n).unwrap().vote_weight_after(13), 750_000);
        assert_eq!(tier(&s, f), Tier::Standard, "no automatic promotion past Standard");
        assert_eq!(
            kinds(&s, n),
            vec![
                StepKind::Promoted {
                    tier: Tier::Research.into()
                },
                StepKind::Promoted {
                    tier: Tier::Standard.into()
                }
            ]
        );
    }

    #[test]
    fn a_node_silent_in_shadow_stays_there() {
        let n = id(2);
        let silent = |c| table(c, vec![row(n, 1_000_000, 500_000, false)]);
        let mut s = Standings::genesis(&[]);
        for c in 0..5 {
            s = s.step(&silent(c), &RULES, &[]);
        }
        assert_eq!(tier(&s, n), Tier::Shadow);
        s = s.step(&table(5, vec![good(n)]), &RULES, &[]);
        assert_eq!(tier(&s, n), Tier::Research, "graduates once it scores");
    }

    #[test]
    fn a_cycle_short_of_the_criteria_restarts_the_qualifying_count() {
        let n = id(2);
        let mut s = Standings::genesis(&[]);
        for c in 0..2 {
            s = s.step(&table(c, vec![good(n)]), &RULES, &[]);
        }
        assert_eq!(tier(&s, n), Tier::Research);
        s = s.step(&table(2, vec![good(n)]), &RULES, &[]);
        // GI 0.89: under Standard's floor, over Research's: no offence, no count.
        s = s.step(&table(3, vec![row(n, 1_000_000, 890_000, false)]), &RULES, &[]);
        s = s.step(&table(4, vec![good(n)]), &RULES, &[]);
        assert_eq!(tier(&s, n), Tier::Research);
        s = s.step(&table(5, vec![good(n)]), &RULES, &[]);
        assert_eq!(tier(&s, n), Tier::Standard);
    }

    #[test]
    fn offences_climb_the_guides_ladder_warning_suspension_demotion() {
        let f = id(1);
        let bad = |c| table(c, vec![row(f, 900_000, 940_000, false)]);
        let mut s = Standings::genesis(&[f]);
        s = s.step(&bad(0), &RULES, &[]);
        assert_eq!(kinds(&s, f), vec![StepKind::Warned]);
        assert!(s.of(&f).unwrap().votes_after(0), "a warning takes nothing");
        s = s.step(&table(1, vec![good(f)]), &RULES, &[]);
        s = s.step(&bad(2), &RULES, &[]);
        assert_eq!(kinds(&s, f)[1], StepKind::Suspended { through: 4 });
        for c in 2..4 {
            assert!(!s.of(&f).unwrap().votes_after(c), "suspended through cycle 4");
            s = s.step(&table(c + 1, vec![good(f)]), &RULES, &[]);
        }
        assert!(s.of(&f).unwrap().votes_after(4), "the vote is back after cycle 4");
        s = s.step(&bad(5), &RULES, &[]);
        assert_eq!(tier(&s, f), Tier::Research);
        assert_eq!(
            kinds(&s, f)[2],
            StepKind::Demoted {
                tier: Tier::Research.into()
            }
        );
        // The ladder starts again after a demotion; three more at Research remove.
        for c in 6..9 {
            s = s.step(&bad(c), &RULES, &[]);
        }
        assert_eq!(s.of(&f).unwrap().removed, Some(8));
        assert_eq!(s.of(&f).unwrap().vote_weight_after(100), 0);
    }

    #[test]
    fn offences_older_than_the_window_are_forgotten() {
        let f = id(1);
        let bad = |c| table(c, vec![row(f, 900_000, 940_000, false)]);
        let mut s = Standings::genesis(&[f]);
        s = s.step(&bad(0), &RULES, &[]);
        s = s.step(&bad(10), &RULES, &[]);
        // The first offence left the window at cycle 10: a second warning.
        assert_eq!(kinds(&s, f), vec![StepKind::Warned, StepKind::Warned]);
    }

    #[test]
    fn a_fork_removes_at_once_and_an_appeal_gives_the_tier_back() {
        let (f, g) = (id(1), id(2));
        let mut s = Standings::genesis(&[f, g]);
        s = s.step(&table(0, vec![row(f, 0, 600_000, true), good(g)]), &RULES, &[]);
        assert_eq!(s.of(&f).unwrap().removed, Some(0));
        assert_eq!(kinds(&s, f), vec![StepKind::Removed]);
        // Removed stays removed, whatever it scores.
        s = s.step(&table(1, vec![good(f), good(g)]), &RULES, &[]);
        assert_eq!(s.of(&f).unwrap().removed, Some(0));
        s = s.step(
            &table(2, vec![good(f), good(g)]),
            &RULES,
            &[Decision::Appeal { node: f }],
        );
        let st = s.of(&f).unwrap();
        assert_eq!((st.removed, st.tier.tier()), (None, Tier::Standard));
        assert_eq!(
            st.record.last().unwrap().kind,
            StepKind::Reinstated {
                tier: Tier::Standard.into()
            }
        );
        assert!(st.votes_after(2));
    }

    #[test]
    fn a_tier_lapses_after_its_floor_is_missed_for_lapse_cycles_in_a_row() {
        let f = id(1);
        let low = |c| table(c, vec![row(f, 1_000_000, 880_000, false)]);
        let mut s = Standings::genesis(&[f]);
        s = s.step(&low(0), &RULES, &[]);
        s = s.step(&table(1, vec![good(f)]), &RULES, &[]);
        s = s.step(&low(2), &RULES, &[]);
        assert_eq!(tier(&s, f), Tier::Standard, "not two in a row");
        s = s.step(&low(3), &RULES, &[]);
        assert_eq!(tier(&s, f), Tier::Research);
        assert_eq!(
            kinds(&s, f),
            vec![StepKind::Lapsed {
                tier: Tier::Research.into()
            }]
        );
        // An appeal gives back what lapsed.
        s = s.step(&table(4, vec![good(f)]), &RULES, &[Decision::Appeal { node: f }]);
        assert_eq!(tier(&s, f), Tier::Standard);
    }

    #[test]
    fn a_dao_promotion_is_refused_under_the_tiers_floor() {
        let f = id(1);
        let promote = |tier| [Decision::Promote { node: f, tier }];
        let mut s = Standings::genesis(&[f]);
        s = s.step(
            &table(0, vec![row(f, 1_000_000, 919_999, false)]),
            &RULES,
            &promote(Tier::High),
        );
        assert_eq!(tier(&s, f), Tier::Standard);
        assert_eq!(
            kinds(&s, f),
            vec![StepKind::PromotionRefused {
                tier: Tier::High.into()
            }]
        );
        s = s.step(
            &table(1, vec![row(f, 1_000_000, 920_000, false)]),
            &RULES,
            &promote(Tier::High),
        );
        assert_eq!(tier(&s, f), Tier::High);
        assert_eq!(s.of(&f).unwrap().vote_weight_after(1), 900_000);
        // A promotion to a tier it already holds or is above is ignored.
        let before = s.clone();
        let after = s.step(&table(2, vec![good(f)]), &RULES, &promote(Tier::Standard));
        assert_eq!(after.of(&f).unwrap().record, before.of(&f).unwrap().record);
    }

    #[test]
    fn an_appeal_gives_back_the_tier_from_before_the_first_penalty_since_the_last_promotion() {
        let f = id(1);
        let low = |c| table(c, vec![row(f, 1_000_000, 500_000, false)]);
        let mut s = Standings::genesis(&[f]);
        for c in 0..4 {
            s = s.step(&low(c), &RULES, &[]);
        }
        // Two lapses of one absence: Standard, Research, Shadow.
        assert_eq!(tier(&s, f), Tier::Shadow);
        s = s.step(&table(4, vec![good(f)]), &RULES, &[Decision::Appeal { node: f }]);
        assert_eq!(tier(&s, f), Tier::Standard);
        assert_eq!(s.of(&f).unwrap().before_penalty, None);
    }

    #[test]
    fn a_dao_promotion_climbs_one_tier_at_a_time_and_never_while_suspended() {
        let f = id(1);
        let mut s = Standings::genesis(&[f]);
        s = s.step(
            &table(0, vec![good(f)]),
            &RULES,
            &[Decision::Promote {
                node: f,
                tier: Tier::Critical,
            }],
        );
        assert_eq!(tier(&s, f), Tier::Standard, "Standard to Critical skips High");
        // Two offences suspend; a promotion in the suspension is refused.
        s = s.step(&table(1, vec![row(f, 900_000, 960_000, false)]), &RULES, &[]);
        s = s.step(
            &table(2, vec![row(f, 900_000, 960_000, false)]),
            &RULES,
            &[Decision::Promote {
                node: f,
                tier: Tier::High,
            }],
        );
        assert!(s.of(&f).unwrap().suspended_through.is_some());
        assert_eq!(tier(&s, f), Tier::Standard);
        assert_eq!(
            s.of(&f).unwrap().record.last().unwrap().kind,
            StepKind::PromotionRefused {
                tier: Tier::High.into()
            }
        );
    }

    #[test]
    fn governed_rules_change_from_the_cycle_the_anchors_settle_and_refuse_nonsense() {
        let base = LadderRules::default();
        assert_eq!(base.with("integrity.lapse_cycles", 6).unwrap().lapse_cycles, 6);
        assert!(base.with("integrity.lapse_cycles", 0).is_err());
        assert!(base.with("integrity.offence_compliance_ppm", 1_000_001).is_err());
        assert!(base.with("metabolism.inference_base", 1).is_err());
        let mut book = DecisionBook::default();
        // Before any anchor: from the start.
        assert_eq!(book.change_rule("integrity.suspension_cycles", 10), Ok(0));
        book.anchored(20);
        assert_eq!(
            book.change_rule("integrity.lapse_cycles", 6),
            Ok(20 + DECISION_LAG_CYCLES)
        );
        assert!(book.change_rule("integrity.lapse_cycles", 0).is_err());
        assert_eq!(book.rules_at(21, &base).lapse_cycles, base.lapse_cycles);
        assert_eq!(book.rules_at(22, &base).lapse_cycles, 6);
        assert_eq!(book.rules_at(5, &base).suspension_cycles, 10);
        assert_eq!(NoDao.rules_at(22, &base), base);
        // Issuance's thresholds travel the same way, and keep the bands in order.
        assert_eq!(
            base.with("issuance.sustain_cycles", 7).unwrap().issuance.sustain_cycles,
            7
        );
        assert_eq!(
            base.with("issuance.vote_pay_hundredths", 250)
                .unwrap()
                .issuance
                .vote_pay,
            250
        );
        let reason = base.with("issuance.reserve_gi_ppm", 960_000).unwrap_err();
        assert!(reason.contains("repair"), "{reason}");
        assert!(base.with("issuance.failure_share_ppm", 1_000_001).is_err());
        assert!(base.with("issuance.vote_pay_hundredths", 1_000_001).is_err());
        assert_eq!(
            book.change_rule("issuance.mint_gi_ppm", 970_000),
            Ok(20 + DECISION_LAG_CYCLES)
        );
        assert_eq!(book.rules_at(21, &base).issuance.mint_gi, 950_000);
        assert_eq!(book.rules_at(22, &base).issuance.mint_gi, 970_000);
        assert_eq!(
            LadderRules::GOVERNED
                .iter()
                .filter(|n| n.starts_with("issuance."))
                .count(),
            9
        );
    }

    #[test]
    fn a_decision_book_answers_only_for_settled_cycles_and_keeps_a_bounded_number() {
        let mut book = DecisionBook::default();
        assert_eq!(book.at(0), None, "nothing read yet");
        book.anchored(10);
        book.anchored(7); // an older anchor read later does not move it back
        assert_eq!(book.settled_through(), Some(10 + DECISION_LAG_CYCLES - 1));
        book.record(11, Decision::Appeal { node: id(1) });
        assert_eq!(book.at(11), Some(vec![Decision::Appeal { node: id(1) }]));
        assert_eq!(book.at(5), Some(vec![]));
        assert_eq!(book.at(12), None, "a decision may still land at 12");
        for c in 0..DECISIONS_KEPT as u64 {
            book.record(100 + c, Decision::Appeal { node: id(2) });
        }
        assert_eq!(book.decided().values().map(Vec::len).sum::<usize>(), DECISIONS_KEPT);
        assert!(!book.decided().contains_key(&11), "the oldest cycle went first");
    }

    #[test]
    fn equal_inputs_give_equal_bytes_and_a_different_input_another_digest() {
        let (f, n) = (id(1), id(2));
        let t = table(5, vec![good(f), row(n, 900_000, 700_000, false)]);
        let a = Standings::genesis(&[f]).step(&t, &RULES, &[]);
        let b = Standings::genesis(&[f]).step(&t, &RULES, &[]);
        assert_eq!(crate::encoding::encode(&a), crate::encoding::encode(&b));
        assert_eq!(a.digest, b.digest);
        let c = Standings::genesis(&[f]).step(&table(5, vec![good(f), good(n)]), &RULES, &[]);
        assert_ne!(a.digest, c.digest);
    }
}
