//! Issuance (seed 001, DESIGN.md §7): what a closed cycle earns each member
//! (reward accounting), the non-circulating reserve it accrues to, the
//! 50.00-unit tranches (seals) the reserve forms, and the swarm's mint gate
//! (bands, sustain, tripwires). "IPPC is not emitted because activity
//! happened; it is issued because integrity was proven."
//!
//! Pure functions and integer arithmetic only, like the GI: every node that
//! closed the same cycles from the same GI tables holds the same
//! [`Issuance`] record, byte for byte, and a mint entry is judged against it
//! (docs/issuance.md).

use std::collections::{BTreeMap, BTreeSet};

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::integrity::{Band, PPM};
use crate::{NodeId, SwarmId, encoding};

/// Reserve units are counted in hundredths: 1.00 unit = 100.
pub const HUNDREDTHS: u64 = 100;
/// Reserve a tranche seals: 50.00 units (Vault v2's Seal).
pub const TRANCHE_UNITS: u64 = 50 * HUNDREDTHS;
/// IPPC one reserve unit mints: 1.
pub const IPPC_PER_UNIT: u64 = 1;
/// Sentinel signatures a seal's mint needs when the Critical tier provides
/// the sentinels (the genesis set keeps its own threshold).
pub const SEAL_QUORUM: u32 = 5;
/// Tranches one node may hold sealed and not yet minted: past it, its
/// reward still accrues to the reserve, but no further seal forms until it
/// mints (a reserve the swarm cannot mint is not allowed to grow a backlog
/// of seals without bound).
pub const OPEN_TRANCHES_MAX: u64 = 16;

/// Reward per work item, in hundredths of a unit (the agreeing vote's is
/// governed: [`IssuanceRules::vote_pay`]).
pub mod pay {
    /// Human intent: per whole IPPC charged for work that succeeded (0.10).
    pub const PER_USEFUL_IPPC: u64 = 10;
    /// Human intent at most per cycle (2.00).
    pub const HUMAN_INTENT_MAX: u64 = 200;
    /// Coordination value: one distinct member vouching (0.25).
    pub const VOUCHER: u64 = 25;
    /// Resilience work: one evolution simulation passed (0.50).
    pub const SIM_PASSED: u64 = 50;
    /// Resilience work at most per cycle (1.00).
    pub const RESILIENCE_MAX: u64 = 100;
}

/// The issuance thresholds the DAO governs (`issuance.*` Parameters
/// entries), with seed 001's values as defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuanceRules {
    /// Swarm GI from which a cycle counts toward the mint (0.95).
    pub mint_gi: u32,
    /// Swarm GI from which the reserve accrues without repair (0.90).
    pub reserve_gi: u32,
    /// Swarm GI under which the swarm is in lockdown (0.80).
    pub repair_gi: u32,
    /// Consecutive cycles at `mint_gi` with no tripwire before a mint (5).
    pub sustain_cycles: u64,
    /// A fall of the swarm GI by this much in one cycle trips (0.10). With
    /// the default bands such a fall also leaves the mint band; it matters
    /// when the DAO lowers the mint threshold. (0.05 tripped on the
    /// community component alone, a quiet cycle after a busy one.)
    pub gi_drop: u32,
    /// A share of rewarded members claiming novelty above this trips (0.5).
    pub novelty_share: u32,
    /// A share of counted members committing offences at or above this trips (1/3).
    pub offender_share: u32,
    /// A share of counted members silent through the cycle at or above
    /// this trips (1/4): no new money while a quarter of the swarm is down.
    #[serde(default = "default_failure_share")]
    pub failure_share: u32,
    /// Integrity work's pay: hundredths of a unit per checkpoint vote
    /// agreeing with the quorum (1.00). The simulator raises it so that a
    /// run of a few dozen cycles seals tranches.
    #[serde(default = "default_vote_pay")]
    pub vote_pay: u64,
}

fn default_vote_pay() -> u64 {
    IssuanceRules::DEFAULT.vote_pay
}

fn default_failure_share() -> u32 {
    IssuanceRules::DEFAULT.failure_share
}

impl Default for IssuanceRules {
    fn default() -> Self {
        IssuanceRules::DEFAULT
    }
}

impl IssuanceRules {
    /// Seed 001's thresholds.
    pub const DEFAULT: IssuanceRules = IssuanceRules {
        mint_gi: 950_000,
        reserve_gi: 900_000,
        repair_gi: 800_000,
        sustain_cycles: 5,
        gi_drop: 100_000,
        novelty_share: 500_000,
        offender_share: 333_334,
        failure_share: 250_000,
        vote_pay: 100,
    };

    /// The band of a swarm GI under these thresholds.
    pub fn band(&self, swarm_gi: u32) -> Band {
        if swarm_gi >= self.mint_gi {
            Band::MintEligible
        } else if swarm_gi >= self.reserve_gi {
            Band::ReserveOnly
        } else if swarm_gi >= self.repair_gi {
            Band::Repair
        } else {
            Band::Lockdown
        }
    }
}

/// The work a member's chain shows in one cycle, the four non-negative
/// dimensions' inputs (docs/issuance.md, "Reward accounting").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Work {
    /// Checkpoint votes agreeing with the quorum root (integrity work).
    pub agreeing_votes: u64,
    /// IPPC base units charged for work that succeeded (human intent).
    pub useful_base: u128,
    /// Distinct members vouching, up to the number that counts as full
    /// (coordination value).
    pub vouchers: u64,
    /// Evolution simulations passed (resilience work; novelty too).
    pub sims_passed: u64,
    /// Sentinels among the vouchers (the consensus multiplier).
    pub sentinel_vouchers: u64,
}

/// The four dimensions, in hundredths of a unit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Base {
    /// Agreeing checkpoint votes.
    pub integrity: u64,
    /// Successful work charged.
    pub human_intent: u64,
    /// Members vouching.
    pub coordination: u64,
    /// Evolution simulations passed.
    pub resilience: u64,
}

impl Base {
    /// The sum of the four.
    pub fn total(&self) -> u64 {
        self.integrity + self.human_intent + self.coordination + self.resilience
    }
}

/// The base a cycle's work earns, with `vote_pay` hundredths per agreeing vote.
pub fn base(w: &Work, vote_pay: u64) -> Base {
    let whole_ippc = w.useful_base / u128::from(crate::amount::UNIT);
    Base {
        integrity: w.agreeing_votes.saturating_mul(vote_pay),
        human_intent: u64::try_from(whole_ippc.saturating_mul(u128::from(pay::PER_USEFUL_IPPC)))
            .unwrap_or(u64::MAX)
            .min(pay::HUMAN_INTENT_MAX),
        coordination: w.vouchers.saturating_mul(pay::VOUCHER),
        resilience: w.sims_passed.saturating_mul(pay::SIM_PASSED).min(pay::RESILIENCE_MAX),
    }
}

/// The four multipliers, in parts per million.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Multipliers {
    /// 0 below GI 0.90, else (GI − 0.90) / 0.10.
    pub gi: u32,
    /// 1.0, 1.5 with 2 sentinels vouching, 2.0 with 3 or more.
    pub consensus: u32,
    /// 1.4 when the node passed an evolution simulation (new knowledge).
    pub novelty: u32,
    /// 3.0 when the node held the mint threshold while the swarm was in repair.
    pub drift: u32,
}

/// The GI multiplier of seed 001's `multipliers.ts`, in ppm.
pub fn gi_multiplier(gi: u32) -> u32 {
    if gi < 900_000 { 0 } else { (gi.min(PPM) - 900_000) * 10 }
}

/// The consensus multiplier for `sentinels` attesting sentinels, in ppm.
pub fn consensus_multiplier(sentinels: u64) -> u32 {
    match sentinels {
        0 | 1 => PPM,
        2 => 1_500_000,
        _ => 2_000_000,
    }
}

/// The reward, in hundredths: the base times the four multipliers, floored once.
pub fn reward(base: &Base, m: &Multipliers) -> u64 {
    let product = u128::from(base.total())
        * u128::from(m.gi)
        * u128::from(m.consensus)
        * u128::from(m.novelty)
        * u128::from(m.drift);
    let ppm4 = u128::from(PPM).pow(4);
    u64::try_from(product / ppm4).unwrap_or(u64::MAX)
}

/// A tripwire that stops the mint and restarts the sustain count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tripwire {
    /// The swarm GI fell by [`IssuanceRules::gi_drop`] or more since the cycle before.
    GiDrop,
    /// More than [`IssuanceRules::novelty_share`] of the rewarded members
    /// claimed novelty: a sign of synthetic farming.
    NoveltyPressure,
    /// At least [`IssuanceRules::offender_share`] of the counted members
    /// committed an offence (compliance under the offence line): replay,
    /// spam or bounced entries on a scale a minority cannot reach.
    OffencePressure,
    /// At least [`IssuanceRules::failure_share`] of the counted members were
    /// silent through the cycle (cast no vote): a failure episode. The
    /// swarm's GI, a median, does not move until half fail; the mint stops
    /// from a quarter.
    FailurePressure,
}

/// What the cycle's close knows about one member, read from the GI table,
/// the standings before the cycle and the chains up to the agreed cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberInput {
    /// The member.
    pub node: NodeId,
    /// Its GI in the cycle, ppm.
    pub gi: u32,
    /// Its compliance in the cycle, ppm.
    pub compliance: u32,
    /// Expected to vote in the cycle and cast no vote.
    pub silent: bool,
    /// Counted by the ladder (not shadow, suspended or removed): only
    /// counted members are rewarded.
    pub counted: bool,
    /// Its work in the cycle.
    pub work: Work,
    /// Mint entries of its chain dated in the cycle that were applied.
    pub mints: u64,
}

/// Everything one cycle's issuance step reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CycleInput {
    /// The swarm.
    pub swarm_id: SwarmId,
    /// The cycle.
    pub cycle: u64,
    /// The GI table's swarm GI (`None`: nobody counted).
    pub swarm_gi: Option<u32>,
    /// The GI table's digest: each accrual names it as its evidence.
    pub table_digest: [u8; 32],
    /// Every member of the table.
    pub members: Vec<MemberInput>,
    /// The sentinels for the cycle and the signatures a mint needs.
    pub sentinels: BTreeSet<NodeId>,
    /// Signatures a mint authorized by this cycle needs.
    pub quorum: u32,
    /// Compliance under which a cycle is an offence (the ladder's line).
    pub offence_compliance: u32,
}

/// One member's reward for one cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Accrual {
    /// The member.
    pub node: NodeId,
    /// The work counted.
    pub work: Work,
    /// The base, per dimension.
    pub base: Base,
    /// The multipliers applied.
    pub multipliers: Multipliers,
    /// The reward, hundredths: what accrued to its reserve (0 in lockdown).
    pub units: u64,
}

/// One node's reserve: everything it has accrued, and how much is sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Reserve {
    /// The node.
    pub node: NodeId,
    /// Units accrued since the genesis, hundredths.
    pub accrued: u64,
    /// Tranches sealed from it (each [`TRANCHE_UNITS`]).
    pub sealed: u64,
    /// Of those, tranches its chain minted (applied mint entries dated up
    /// to the cycle's end).
    pub minted: u64,
}

impl Reserve {
    /// Units accrued and not yet sealed, hundredths.
    pub fn unsealed(&self) -> u64 {
        self.accrued - self.sealed * TRANCHE_UNITS
    }
}

/// A tranche sealed at a cycle's close.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Tranche {
    /// Whose reserve it came from: only this node's chain may mint it.
    pub owner: NodeId,
    /// Its sequence in the owner's reserve, from 0.
    pub seq: u64,
    /// Its seal id ([`seal_id`]).
    #[serde(with = "hex32")]
    pub seal: [u8; 32],
    /// The cycle that sealed it.
    pub cycle: u64,
}

/// A tranche's seal id: unique per (swarm, owner, sequence), so a seal
/// cannot be claimed by two chains or counted twice.
pub fn seal_id(swarm: &SwarmId, owner: &NodeId, seq: u64) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"ippoc-seal-v1\0");
    h.update(swarm.0);
    h.update(owner.as_bytes());
    h.update(seq.to_be_bytes());
    h.finalize().into()
}

/// The issuance record after one closed cycle: kept by every node, equal
/// byte for byte at every node that closed the same cycles.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Issuance {
    /// The cycle it is the record after; `None` before the first.
    pub cycle: Option<u64>,
    /// The cycle's swarm GI.
    pub swarm_gi: Option<u32>,
    /// The cycle's band.
    pub band: BandCode,
    /// Consecutive cycles up to this one at the mint threshold with no tripwire.
    pub sustained: u64,
    /// Tripwires the cycle set off.
    pub tripwires: Vec<Tripwire>,
    /// A mint may cite this cycle: band mint-eligible, sustained for the
    /// governed number of cycles, no tripwire.
    pub mint_open: bool,
    /// The sentinels a mint citing this cycle must be signed by.
    pub sentinels: Vec<NodeId>,
    /// Distinct sentinel signatures it needs.
    pub quorum: u32,
    /// The GI table the accruals were computed from.
    #[serde(with = "hex32")]
    pub table_digest: [u8; 32],
    /// This cycle's rewards, one per rewarded member, sorted by node.
    pub accruals: Vec<Accrual>,
    /// Every reserve, sorted by node.
    pub reserves: Vec<Reserve>,
    /// Tranches this cycle sealed.
    pub tranches: Vec<Tranche>,
    /// SHA-256 of the canonical encoding of everything above.
    #[serde(with = "hex32")]
    pub digest: [u8; 32],
}

/// [`Band`] in the canonical encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct BandCode(pub u8);

impl BandCode {
    /// The band's code: 0 mint-eligible, 1 reserve only, 2 repair, 3 lockdown.
    pub fn of(band: Band) -> BandCode {
        BandCode(match band {
            Band::MintEligible => 0,
            Band::ReserveOnly => 1,
            Band::Repair => 2,
            Band::Lockdown => 3,
        })
    }

    /// The band (an unknown code reads as lockdown).
    pub fn band(self) -> Band {
        match self.0 {
            0 => Band::MintEligible,
            1 => Band::ReserveOnly,
            2 => Band::Repair,
            _ => Band::Lockdown,
        }
    }
}

impl Issuance {
    /// Before the first cycle: no reserve, no tranche; the band of a swarm
    /// nobody has scored yet is lockdown, so nothing mints before a cycle
    /// proved otherwise.
    pub fn genesis() -> Issuance {
        Issuance::sealed(Issuance {
            cycle: None,
            swarm_gi: None,
            band: BandCode::of(Band::Lockdown),
            sustained: 0,
            tripwires: Vec::new(),
            mint_open: false,
            sentinels: Vec::new(),
            quorum: 0,
            table_digest: [0; 32],
            accruals: Vec::new(),
            reserves: Vec::new(),
            tranches: Vec::new(),
            digest: [0; 32],
        })
    }

    fn sealed(mut i: Issuance) -> Issuance {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(b"ippoc-issuance-v1\0");
        h.update(encoding::encode(&(
            i.cycle,
            i.swarm_gi,
            i.band,
            i.sustained,
            i.tripwires.clone(),
            i.mint_open,
            i.sentinels.clone(),
            i.quorum,
            i.table_digest,
        )));
        h.update(encoding::encode(&(
            i.accruals.clone(),
            i.reserves.clone(),
            i.tranches.clone(),
        )));
        i.digest = h.finalize().into();
        i
    }

    /// The band.
    pub fn band(&self) -> Band {
        self.band.band()
    }

    /// `node`'s reserve, if it ever accrued.
    pub fn reserve_of(&self, node: &NodeId) -> Option<&Reserve> {
        self.reserves
            .binary_search_by(|r| r.node.cmp(node))
            .ok()
            .map(|i| &self.reserves[i])
    }

    /// The record after `input`'s cycle, from this one (the record after
    /// the cycle before).
    pub fn step(&self, input: &CycleInput, rules: &IssuanceRules) -> Issuance {
        let band = input.swarm_gi.map_or(Band::Lockdown, |g| rules.band(g));
        let mut tripwires = Vec::new();
        if let (Some(before), Some(now)) = (self.swarm_gi, input.swarm_gi)
            && before.saturating_sub(now) >= rules.gi_drop
        {
            tripwires.push(Tripwire::GiDrop);
        }
        let drift_band = matches!(band, Band::Repair);
        let mut accruals = Vec::new();
        for m in input.members.iter().filter(|m| m.counted) {
            let b = base(&m.work, rules.vote_pay);
            let multipliers = Multipliers {
                gi: gi_multiplier(m.gi),
                consensus: consensus_multiplier(m.work.sentinel_vouchers),
                novelty: if m.work.sims_passed > 0 { 1_400_000 } else { PPM },
                drift: if drift_band && m.gi >= rules.mint_gi {
                    3_000_000
                } else {
                    PPM
                },
            };
            let units = if band == Band::Lockdown {
                0
            } else {
                reward(&b, &multipliers)
            };
            if units > 0 || b.total() > 0 {
                accruals.push(Accrual {
                    node: m.node,
                    work: m.work,
                    base: b,
                    multipliers,
                    units,
                });
            }
        }
        let rewarded: Vec<&Accrual> = accruals.iter().filter(|a| a.units > 0).collect();
        let novel = rewarded.iter().filter(|a| a.multipliers.novelty > PPM).count() as u64;
        if !rewarded.is_empty() && share_over(novel, rewarded.len() as u64, rules.novelty_share) {
            tripwires.push(Tripwire::NoveltyPressure);
        }
        let counted: Vec<&MemberInput> = input.members.iter().filter(|m| m.counted).collect();
        let offenders = counted
            .iter()
            .filter(|m| m.compliance < input.offence_compliance)
            .count() as u64;
        if !counted.is_empty() && share_at_least(offenders, counted.len() as u64, rules.offender_share) {
            tripwires.push(Tripwire::OffencePressure);
        }
        let silent = counted.iter().filter(|m| m.silent).count() as u64;
        if !counted.is_empty() && share_at_least(silent, counted.len() as u64, rules.failure_share) {
            tripwires.push(Tripwire::FailurePressure);
        }
        let sustained = if band == Band::MintEligible && tripwires.is_empty() {
            self.sustained.saturating_add(1)
        } else {
            0
        };
        let mint_open = band == Band::MintEligible && tripwires.is_empty() && sustained >= rules.sustain_cycles;
        // Reserves accrue; seals form except in lockdown.
        let mut reserves: BTreeMap<NodeId, Reserve> = self.reserves.iter().map(|r| (r.node, *r)).collect();
        let mut tranches = Vec::new();
        for a in &accruals {
            if a.units == 0 {
                continue;
            }
            let r = reserve(&mut reserves, a.node);
            r.accrued = r.accrued.saturating_add(a.units);
        }
        for m in input.members.iter().filter(|m| m.mints > 0) {
            let r = reserve(&mut reserves, m.node);
            r.minted = r.minted.saturating_add(m.mints).min(r.sealed);
        }
        if band != Band::Lockdown {
            for r in reserves.values_mut() {
                while r.unsealed() >= TRANCHE_UNITS && r.sealed < r.minted.saturating_add(OPEN_TRANCHES_MAX) {
                    tranches.push(Tranche {
                        owner: r.node,
                        seq: r.sealed,
                        seal: seal_id(&input.swarm_id, &r.node, r.sealed),
                        cycle: input.cycle,
                    });
                    r.sealed += 1;
                }
            }
        }
        Issuance::sealed(Issuance {
            cycle: Some(input.cycle),
            swarm_gi: input.swarm_gi,
            band: BandCode::of(band),
            sustained,
            tripwires,
            mint_open,
            sentinels: input.sentinels.iter().copied().collect(),
            quorum: input.quorum,
            table_digest: input.table_digest,
            accruals,
            reserves: reserves.into_values().collect(),
            tranches,
            digest: [0; 32],
        })
    }
}

/// The IPPC one tranche mints.
pub fn tranche_amount() -> crate::Amount {
    crate::Amount::from_base(TRANCHE_UNITS / HUNDREDTHS * IPPC_PER_UNIT * crate::amount::UNIT)
}

/// Closed cycles after the authorizing one during which a mint may cite it:
/// a mint is dated from the tick that closes its cycle up to the tick that
/// closes the cycle two later, so a tripwire or a band change stops new
/// mints within two cycles, whatever the minter's clock says about older ones.
pub const MINT_WINDOW_CYCLES: u64 = 2;

/// What a mint entry is judged against at every node: the authorizing
/// cycle's gate, kept for good (a few dozen bytes a cycle) so that a
/// rebuild years later judges an old mint the same way.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct MintGate {
    /// The cycle.
    pub cycle: u64,
    /// The cycle's epoch length (ms): the mint's date is judged in it.
    pub epoch_ms: u64,
    /// Whether the cycle opens the mint ([`Issuance::mint_open`]).
    pub open: bool,
    /// The band, for the refusal's reason.
    pub band: BandCode,
    /// Sustained cycles, for the refusal's reason.
    pub sustained: u64,
    /// Tripwires, for the refusal's reason.
    pub tripwires: Vec<Tripwire>,
    /// Distinct sentinel signatures needed.
    pub quorum: u32,
    /// The digest of the sentinel set ([`sentinels_digest`]), kept apart
    /// (it changes rarely).
    pub sentinels: [u8; 32],
}

/// The digest a sentinel set is kept under.
pub fn sentinels_digest(sentinels: &[NodeId]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"ippoc-sentinels-v1\0");
    h.update(encoding::encode(&sentinels.to_vec()));
    h.finalize().into()
}

impl MintGate {
    /// The gate of a cycle's record.
    pub fn of(record: &Issuance, epoch_ms: u64) -> Option<MintGate> {
        Some(MintGate {
            cycle: record.cycle?,
            epoch_ms,
            open: record.mint_open,
            band: record.band,
            sustained: record.sustained,
            tripwires: record.tripwires.clone(),
            quorum: record.quorum,
            sentinels: sentinels_digest(&record.sentinels),
        })
    }

    /// Why a mint dated `at_ms`, of a tranche sealed at `sealed_at` (if
    /// ever), signed by `signers`, does not pass this gate; `None` if it
    /// does. `sentinels` is the set the gate names.
    pub fn refuses(
        &self,
        at_ms: u64,
        sealed_at: Option<u64>,
        signers: &BTreeSet<NodeId>,
        sentinels: &[NodeId],
    ) -> Option<String> {
        self.refuses_tranche(at_ms, sealed_at)
            .or_else(|| self.refuses_signers(signers, sentinels))
    }

    /// [`MintGate::refuses`] without the signatures: the date, the mint
    /// open, the tranche sealed by the cycle (what a sentinel checks before
    /// it signs).
    pub fn refuses_tranche(&self, at_ms: u64, sealed_at: Option<u64>) -> Option<String> {
        let cycle = self.cycle;
        let epoch = self.epoch_ms.max(1);
        let from = cycle
            .saturating_add(crate::store::GI_CLOSE_EPOCHS)
            .saturating_mul(epoch);
        let until = cycle
            .saturating_add(crate::store::GI_CLOSE_EPOCHS + MINT_WINDOW_CYCLES)
            .saturating_mul(epoch);
        if !(from..until).contains(&at_ms) {
            return Some(format!(
                "a mint citing cycle {cycle} must be dated from {from} to {until} ms, this one is {at_ms}"
            ));
        }
        if !self.open {
            return Some(format!(
                "cycle {cycle} does not open the mint: band {:?}, {} sustained cycles, tripwires {:?}",
                self.band.band(),
                self.sustained,
                self.tripwires
            ));
        }
        match sealed_at {
            Some(s) if s <= cycle => None,
            Some(s) => Some(format!("the tranche was sealed at cycle {s}, after cycle {cycle}")),
            None => Some(format!("no such tranche was sealed by cycle {cycle}")),
        }
    }

    /// Why `signers` are not a quorum of this gate's `sentinels`.
    pub fn refuses_signers(&self, signers: &BTreeSet<NodeId>, sentinels: &[NodeId]) -> Option<String> {
        let cycle = self.cycle;
        if let Some(outsider) = signers.iter().find(|s| sentinels.binary_search(s).is_err()) {
            return Some(format!("{} is not a sentinel of cycle {cycle}", outsider.short()));
        }
        if (signers.len() as u64) < u64::from(self.quorum) {
            return Some(format!(
                "{} distinct sentinel signatures, cycle {cycle}'s quorum is {}",
                signers.len(),
                self.quorum
            ));
        }
        None
    }
}

/// The one transfer a mint of `owner`'s tranche makes.
pub fn mint_transfers(owner: &NodeId) -> Vec<crate::Transfer> {
    vec![crate::Transfer {
        from: crate::AccountId::Mint,
        to: crate::AccountId::Wallet(*owner),
        currency: crate::Currency::Ippc,
        amount: tranche_amount(),
    }]
}

fn reserve(reserves: &mut BTreeMap<NodeId, Reserve>, node: NodeId) -> &mut Reserve {
    reserves.entry(node).or_insert(Reserve {
        node,
        accrued: 0,
        sealed: 0,
        minted: 0,
    })
}

fn share_over(part: u64, whole: u64, share_ppm: u32) -> bool {
    u128::from(part) * u128::from(PPM) > u128::from(whole) * u128::from(share_ppm)
}

fn share_at_least(part: u64, whole: u64, share_ppm: u32) -> bool {
    u128::from(part) * u128::from(PPM) >= u128::from(whole) * u128::from(share_ppm)
}

mod hex32 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let s = String::deserialize(d)?;
        let v = hex::decode(&s).map_err(serde::de::Error::custom)?;
        v.try_into().map_err(|_| serde::de::Error::custom("expected 32 bytes"))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn id(b: u8) -> NodeId {
        NodeId::from_bytes([b; 32])
    }

    fn member(b: u8, gi: u32, work: Work) -> MemberInput {
        MemberInput {
            node: id(b),
            gi,
            compliance: PPM,
            silent: false,
            counted: true,
            work,
            mints: 0,
        }
    }

    fn voter() -> Work {
        Work {
            agreeing_votes: 1,
            ..Work::default()
        }
    }

    fn input(cycle: u64, swarm_gi: u32, members: Vec<MemberInput>) -> CycleInput {
        CycleInput {
            swarm_id: SwarmId([7; 32]),
            cycle,
            swarm_gi: Some(swarm_gi),
            table_digest: [cycle as u8; 32],
            members,
            sentinels: [id(1), id(2), id(3)].into_iter().collect(),
            quorum: 2,
            offence_compliance: 950_000,
        }
    }

    /// docs/issuance.md's worked vector, to the last hundredth.
    #[test]
    fn the_worked_vector_of_the_docs() {
        let w = Work {
            agreeing_votes: 1,
            useful_base: 12_500_000, // 12.5 IPPC of successful work: 12 whole
            vouchers: 3,
            sims_passed: 1,
            sentinel_vouchers: 2,
        };
        let b = base(&w, 100);
        assert_eq!(
            b,
            Base {
                integrity: 100,
                human_intent: 120,
                coordination: 75,
                resilience: 50
            }
        );
        let m = Multipliers {
            gi: gi_multiplier(980_000),
            consensus: consensus_multiplier(2),
            novelty: 1_400_000,
            drift: PPM,
        };
        assert_eq!(m.gi, 800_000);
        // 3.45 × 0.8 × 1.5 × 1.4 = 5.796 → 5.79 (floored once).
        assert_eq!(reward(&b, &m), 579);
        assert_eq!(gi_multiplier(899_999), 0);
        assert_eq!(gi_multiplier(PPM), PPM);
        assert_eq!(consensus_multiplier(1), PPM);
        assert_eq!(consensus_multiplier(7), 2_000_000);
        // Caps: human intent 2.00, resilience 1.00.
        let big = base(
            &Work {
                useful_base: u128::MAX,
                sims_passed: u64::MAX,
                ..Work::default()
            },
            100,
        );
        assert_eq!((big.human_intent, big.resilience), (200, 100));
    }

    #[test]
    fn the_mint_opens_after_the_sustained_cycles_and_a_tripwire_restarts_the_count() {
        let rules = IssuanceRules::default();
        let honest = || (1..=4).map(|b| member(b, PPM, voter())).collect::<Vec<_>>();
        let mut r = Issuance::genesis();
        for c in 0..5 {
            r = r.step(&input(c, 960_000, honest()), &rules);
            assert_eq!((r.sustained, r.mint_open), (c + 1, c == 4), "cycle {c}");
        }
        // A fall of 0.10 in one cycle trips; a quiet cycle's 0.05 does not.
        let dropped = r.step(&input(5, 955_000, honest()), &rules);
        assert!(!dropped.tripwires.contains(&Tripwire::GiDrop));
        let dropped = dropped.step(&input(6, 950_000, honest()), &rules);
        assert!(dropped.tripwires.is_empty() && dropped.mint_open);
        let r2 = r.step(&input(5, 860_000, honest()), &rules);
        assert_eq!(r2.band(), Band::Repair);
        assert_eq!(r2.tripwires, vec![Tripwire::GiDrop]);
        assert_eq!((r2.sustained, r2.mint_open), (0, false));
        let back = r2.step(&input(6, 960_000, honest()), &rules);
        assert_eq!((back.sustained, back.mint_open), (1, false));
        // Novelty claimed by more than half the rewarded members.
        let mut novel = honest();
        for m in &mut novel[..3] {
            m.work.sims_passed = 1;
        }
        assert_eq!(
            r.step(&input(5, 960_000, novel), &rules).tripwires,
            vec![Tripwire::NoveltyPressure]
        );
        // A third of the counted members committing offences.
        let mut offending = honest();
        offending[0].compliance = 900_000;
        assert!(
            r.step(&input(5, 960_000, offending.clone()), &rules)
                .tripwires
                .is_empty()
        );
        offending[1].compliance = 0;
        assert_eq!(
            r.step(&input(5, 960_000, offending), &rules).tripwires,
            vec![Tripwire::OffencePressure]
        );
        // A quarter of the counted members silent: a failure episode.
        let mut failing = honest();
        failing[0].silent = true;
        assert_eq!(
            r.step(&input(5, 960_000, failing), &rules).tripwires,
            vec![Tripwire::FailurePressure]
        );
    }

    #[test]
    fn bands_decide_what_accrues_seals_and_who_gets_the_drift_multiplier() {
        let rules = IssuanceRules::default();
        let members = vec![
            member(1, PPM, voter()),
            member(2, 940_000, voter()),
            member(3, 850_000, voter()),
        ];
        // Repair: members holding the mint threshold earn 3.0×; a member
        // under 0.90 earns nothing whatever the band.
        let repair = Issuance::genesis().step(&input(0, 850_000, members.clone()), &rules);
        assert_eq!(repair.band(), Band::Repair);
        let units: Vec<u64> = repair.accruals.iter().map(|a| a.units).collect();
        assert_eq!(units, vec![300, 40, 0]);
        // Lockdown: the accounting is shown, nothing accrues or seals.
        let lockdown = Issuance::genesis().step(&input(0, 700_000, members.clone()), &rules);
        assert_eq!(lockdown.band(), Band::Lockdown);
        assert!(lockdown.accruals.iter().all(|a| a.units == 0) && lockdown.reserves.is_empty());
        // Shadow or suspended members (not counted) are not rewarded.
        let mut shadow = members;
        for m in &mut shadow {
            m.counted = false;
        }
        assert!(
            Issuance::genesis()
                .step(&input(0, 960_000, shadow), &rules)
                .accruals
                .is_empty()
        );
    }

    #[test]
    fn a_reserve_seals_tranches_up_to_the_open_bound_and_minting_makes_room() {
        let rules = IssuanceRules::default();
        // 1.00 × 1.0 × 2.0 (three sentinels vouch) × 1.4 × 1.0 with the caps
        // reached: 4.75 base → 13.30 a cycle.
        let rich = Work {
            agreeing_votes: 1,
            useful_base: u128::MAX,
            vouchers: 3,
            sims_passed: 2,
            sentinel_vouchers: 3,
        };
        let mut r = Issuance::genesis();
        let mut sealed = Vec::new();
        for c in 0..200 {
            let mut m = vec![member(1, PPM, rich), member(2, PPM, voter())];
            m[1].work.sims_passed = 0;
            r = r.step(&input(c, 960_000, m), &rules);
            sealed.extend(r.tranches.iter().map(|t| (t.owner, t.seq)));
        }
        let rich_reserve = *r.reserve_of(&id(1)).unwrap();
        assert_eq!(rich_reserve.sealed, OPEN_TRANCHES_MAX, "no seal past the bound");
        assert!(rich_reserve.unsealed() >= TRANCHE_UNITS, "the reward still accrues");
        // Seals are numbered from 0 without gaps, each id its own.
        let mine: Vec<u64> = sealed.iter().filter(|(o, _)| *o == id(1)).map(|(_, s)| *s).collect();
        assert_eq!(mine, (0..OPEN_TRANCHES_MAX).collect::<Vec<_>>());
        // Two mints in a cycle make room for two more seals.
        let mut m = vec![member(1, PPM, rich)];
        m[0].mints = 2;
        let next = r.step(&input(200, 960_000, m), &rules);
        assert_eq!(next.reserve_of(&id(1)).unwrap().sealed, OPEN_TRANCHES_MAX + 2);
        assert_ne!(
            seal_id(&SwarmId([7; 32]), &id(1), 0),
            seal_id(&SwarmId([7; 32]), &id(1), 1)
        );
        assert_ne!(
            seal_id(&SwarmId([7; 32]), &id(1), 0),
            seal_id(&SwarmId([7; 32]), &id(2), 0)
        );
    }

    fn gate(open: bool) -> MintGate {
        MintGate {
            cycle: 10,
            epoch_ms: 1000,
            open,
            band: BandCode::of(Band::MintEligible),
            sustained: 5,
            tripwires: Vec::new(),
            quorum: 2,
            sentinels: [0; 32],
        }
    }

    #[test]
    fn the_gate_refuses_each_failed_condition_and_passes_only_all_of_them() {
        let sentinels = vec![id(1), id(2), id(3)];
        let two: BTreeSet<NodeId> = [id(1), id(2)].into_iter().collect();
        let at = 15_000;
        assert_eq!(gate(true).refuses(at, Some(10), &two, &sentinels), None);
        let refused = |g: MintGate, at: u64, sealed: Option<u64>, signers: &BTreeSet<NodeId>, why: &str| {
            let r = g.refuses(at, sealed, signers, &sentinels);
            assert!(r.as_deref().is_some_and(|r| r.contains(why)), "{why}: {r:?}");
        };
        refused(gate(false), at, Some(10), &two, "does not open the mint");
        refused(gate(true), 14_999, Some(10), &two, "must be dated");
        refused(gate(true), 17_000, Some(10), &two, "must be dated");
        refused(gate(true), at, Some(11), &two, "sealed at cycle 11");
        refused(gate(true), at, None, &two, "no such tranche");
        refused(gate(true), at, Some(9), &[id(1)].into_iter().collect(), "quorum is 2");
        refused(
            gate(true),
            at,
            Some(9),
            &[id(1), id(9)].into_iter().collect(),
            "not a sentinel",
        );
    }

    fn work() -> impl Strategy<Value = Work> {
        (0u64..3, 0u128..100_000_000, 0u64..4, 0u64..3, 0u64..5).prop_map(|(v, u, c, s, t)| Work {
            agreeing_votes: v,
            useful_base: u,
            vouchers: c,
            sims_passed: s,
            sentinel_vouchers: t,
        })
    }

    proptest! {
        /// Whatever the cycles, the record is a function of them alone (two
        /// runs give the same digest), every reserve equals the sum of its
        /// accruals, seals never exceed what accrued, and no cycle opens the
        /// mint without the band, the sustain and no tripwire.
        #[test]
        fn records_are_deterministic_conserve_the_reserve_and_open_the_mint_only_through_every_gate(
            cycles in proptest::collection::vec(
                (700_000u32..=PPM, proptest::collection::vec((1u8..6, 850_000u32..=PPM, work()), 1..6)),
                1..30,
            )
        ) {
            let rules = IssuanceRules::default();
            let run = || {
                let mut r = Issuance::genesis();
                let mut records = Vec::new();
                for (c, (swarm_gi, ms)) in cycles.iter().enumerate() {
                    let mut members: BTreeMap<NodeId, MemberInput> = BTreeMap::new();
                    for (b, gi, w) in ms {
                        members.insert(id(*b), member(*b, *gi, *w));
                    }
                    r = r.step(&input(c as u64, *swarm_gi, members.into_values().collect()), &rules);
                    records.push(r.clone());
                }
                records
            };
            let (a, b) = (run(), run());
            prop_assert_eq!(a.iter().map(|r| r.digest).collect::<Vec<_>>(), b.iter().map(|r| r.digest).collect::<Vec<_>>());
            let mut accrued: BTreeMap<NodeId, u64> = BTreeMap::new();
            let mut streak = 0u64;
            for r in &a {
                for acc in &r.accruals {
                    *accrued.entry(acc.node).or_default() += acc.units;
                }
                for res in &r.reserves {
                    prop_assert_eq!(res.accrued, accrued[&res.node]);
                    prop_assert!(res.sealed * TRANCHE_UNITS <= res.accrued);
                }
                streak = if r.band() == Band::MintEligible && r.tripwires.is_empty() { streak + 1 } else { 0 };
                prop_assert_eq!(r.mint_open, streak >= rules.sustain_cycles);
                if r.mint_open {
                    prop_assert!(r.swarm_gi.unwrap() >= rules.mint_gi && r.tripwires.is_empty());
                }
            }
        }
    }
}
