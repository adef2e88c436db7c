//! The integrity score (GI): pure functions from one cycle's evidence about
//! a node to its five components and its score, the swarm's score, the
//! tiers' floors and weights, and the issuance bands (docs/integrity.md).
//!
//! Everything is integer arithmetic in parts per million, so every node that
//! holds the same evidence computes the same bytes: a GI table is compared,
//! hashed and anchored, and a float's last bit must not depend on the CPU.
//! The evidence itself is read from the chains up to the cycle's agreed cut
//! (docs/integrity.md, "Evidence"); nothing here reads the ledger.

use serde::{Deserialize, Serialize};

/// One whole, in parts per million.
pub const PPM: u32 = 1_000_000;

/// The guide's weights in percent: compliance 40, consensus 25, reliability
/// 20, efficiency 10, community 5 (seed 003, "Performance Standards").
pub const WEIGHTS: Components = Components {
    compliance: 40,
    consensus: 25,
    reliability: 20,
    efficiency: 10,
    community: 5,
};

/// What one node did in one cycle, as the chains cut at the cycle's end show
/// it. Counts only; who computes them is docs/integrity.md's "Evidence".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CycleEvidence {
    /// Entries of its chain timestamped in the cycle.
    pub entries: u64,
    /// Of those, entries the ledger bounced (stored, no effect: an overdraft,
    /// a stale parameter table).
    pub bounced: u64,
    /// Of those, evolution simulations that failed (a skill that broke).
    pub failed_sims: u64,
    /// Of those, entries beyond what the actor rate allows by the chain's own
    /// timestamps ([`over_rate`]): spam that was valid one entry at a time.
    pub over_rate: u64,
    /// Its chain forked (equivocation) at or before the cycle's end.
    pub forked: bool,
    /// Epochs of the cycle the node was a member for: its checkpoint votes
    /// are expected in each.
    pub epochs: u64,
    /// Checkpoint votes it cast for those epochs (one per epoch counted).
    pub votes: u64,
    /// Of those, votes equal to the epoch's quorum root.
    pub votes_agreeing: u64,
    /// IPPC base units it was charged for work (inference, sandbox,
    /// evolution) in the cycle.
    pub charged: u128,
    /// Of those, the charges of work whose outcome was a success.
    pub charged_useful: u128,
    /// Distinct other members whose entries in the cycle paid it or depend
    /// on its chain.
    pub vouchers: u64,
    /// Vouchers that count as a full score (the smaller of the governed
    /// number and the other members there are).
    pub vouchers_full: u64,
}

/// The five components, each in parts per million (or, as [`WEIGHTS`], in percent).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Components {
    /// Entries that kept the rules, of all it made.
    pub compliance: u32,
    /// Votes agreeing with the quorum, of the votes expected.
    pub consensus: u32,
    /// Epochs it was heard from (voted), of the epochs expected.
    pub reliability: u32,
    /// IPPC spent on work that succeeded, of all it spent on work.
    pub efficiency: u32,
    /// Members vouching for it, of the number that counts as full.
    pub community: u32,
}

/// `num / den` in parts per million, floored and at most one whole; `empty`
/// when there is nothing to count.
fn ratio(num: u128, den: u128, empty: u32) -> u32 {
    if den == 0 {
        return empty;
    }
    // num ≤ den in every use, but a bad count must not score above one.
    (num.min(den) * u128::from(PPM) / den) as u32
}

/// The components a node's evidence earns. Edge cases (docs/integrity.md):
/// a chain that forked scores 0 compliance whatever else it did; a node
/// that made no entries broke no rule (compliance 1) and spent nothing
/// (efficiency 1); a node expected in no epoch (not yet a member) scores 1
/// in consensus and reliability, and is in shadow anyway.
pub fn components(e: &CycleEvidence) -> Components {
    let broke = u128::from(e.bounced) + u128::from(e.failed_sims) + u128::from(e.over_rate);
    let compliance = if e.forked {
        0
    } else {
        let entries = u128::from(e.entries);
        ratio(entries.saturating_sub(broke), entries, PPM)
    };
    // A vote beyond one per epoch is not counted twice.
    let votes = e.votes.min(e.epochs);
    Components {
        compliance,
        consensus: ratio(u128::from(e.votes_agreeing.min(votes)), u128::from(e.epochs), PPM),
        reliability: ratio(u128::from(votes), u128::from(e.epochs), PPM),
        efficiency: ratio(e.charged_useful, e.charged, PPM),
        community: ratio(u128::from(e.vouchers), u128::from(e.vouchers_full), PPM),
    }
}

/// GI in parts per million: the weighted sum of the components, floored.
pub fn gi(c: &Components) -> u32 {
    let w = WEIGHTS;
    let sum = u64::from(w.compliance) * u64::from(c.compliance)
        + u64::from(w.consensus) * u64::from(c.consensus)
        + u64::from(w.reliability) * u64::from(c.reliability)
        + u64::from(w.efficiency) * u64::from(c.efficiency)
        + u64::from(w.community) * u64::from(c.community);
    (sum / 100) as u32
}

/// The swarm's GI for a cycle: the lower median of its scored members' GIs
/// (shadow nodes are not among them). A minority of faulty members, however
/// they score, cannot move it outside the range of the honest majority's
/// scores; `None` with no member scored.
pub fn swarm_gi(scores: &[u32]) -> Option<u32> {
    if scores.is_empty() {
        return None;
    }
    let mut s = scores.to_vec();
    s.sort_unstable();
    Some(s[(s.len() - 1) / 2])
}

/// Entries of one chain beyond what `per_second` with bursts of `burst`
/// allows, by the chain's own timestamps (in order; a timestamp earlier
/// than the one before counts as equal to it). The bucket starts full at
/// the first entry. Deterministic: every node replays the same timestamps.
pub fn over_rate(timestamps_ms: &[u64], per_second: u32, burst: u32) -> u64 {
    over_rate_marks(timestamps_ms, per_second, burst)
        .into_iter()
        .filter(|over| *over)
        .count() as u64
}

/// [`over_rate`] entry by entry: true for each entry over the rate.
pub fn over_rate_marks(timestamps_ms: &[u64], per_second: u32, burst: u32) -> Vec<bool> {
    // Tokens in thousandths, refilled per millisecond: integer throughout.
    let cap = u128::from(burst) * 1000;
    let mut tokens = cap;
    let mut last: Option<u64> = None;
    let mut marks = Vec::with_capacity(timestamps_ms.len());
    for &t in timestamps_ms {
        let t = last.map_or(t, |l| t.max(l));
        if let Some(l) = last {
            tokens = (tokens + u128::from(t - l) * u128::from(per_second)).min(cap);
        }
        last = Some(t);
        let over = tokens < 1000;
        if !over {
            tokens -= 1000;
        }
        marks.push(over);
    }
    marks
}

/// The guide's tiers (seed 003, "Safety Tiers & Permissions"), and shadow
/// before them: a new node is observed and scored but counts in no vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// Observed and scored; no vote, no quorum.
    Shadow,
    /// Trial: scored, no governance vote.
    Research,
    /// Where a node starts after shadow.
    Standard,
    /// By DAO proposal, against the anchored GI.
    High,
    /// Sentinels: by DAO proposal, against the anchored GI.
    Critical,
}

impl Tier {
    /// The GI a node of this tier must hold, in parts per million: 0.85,
    /// 0.90, 0.92, 0.95 (shadow: none).
    pub fn floor(self) -> u32 {
        match self {
            Tier::Shadow => 0,
            Tier::Research => 850_000,
            Tier::Standard => 900_000,
            Tier::High => 920_000,
            Tier::Critical => 950_000,
        }
    }

    /// Governance vote weight in parts per million: 0, 0 (the guide's
    /// Research tier "cannot participate in governance votes"; its 0.5 is
    /// its weight in consensus deliberation), 0.75 (the guide gives
    /// 0.7–0.8), 0.9, 1.0.
    pub fn vote_weight(self) -> u32 {
        match self {
            Tier::Shadow | Tier::Research => 0,
            Tier::Standard => 750_000,
            Tier::High => 900_000,
            Tier::Critical => PPM,
        }
    }
}

/// What the swarm's GI allows issuance to do (DESIGN.md §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Band {
    /// ≥ 0.95: minting allowed (with its other conditions).
    MintEligible,
    /// 0.90 up to 0.95: rewards go to the reserve only.
    ReserveOnly,
    /// 0.80 up to 0.90: repair mode, minting frozen.
    Repair,
    /// Below 0.80: lockdown.
    Lockdown,
}

/// The band of a swarm GI in parts per million.
pub fn band(swarm_gi: u32) -> Band {
    match swarm_gi {
        950_000.. => Band::MintEligible,
        900_000.. => Band::ReserveOnly,
        800_000.. => Band::Repair,
        _ => Band::Lockdown,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// A node that did everything asked of it: 12 epochs, every vote cast
    /// and agreeing, 40 entries none broken, work all successful, 3 vouchers.
    fn exemplary() -> CycleEvidence {
        CycleEvidence {
            entries: 40,
            epochs: 12,
            votes: 12,
            votes_agreeing: 12,
            charged: 5_000,
            charged_useful: 5_000,
            vouchers: 3,
            vouchers_full: 3,
            ..CycleEvidence::default()
        }
    }

    /// docs/integrity.md's worked vector, to the last part per million.
    #[test]
    fn the_worked_test_vector_of_the_docs() {
        let a = exemplary();
        let b = CycleEvidence {
            entries: 50,
            bounced: 2,
            failed_sims: 1,
            votes: 11,
            votes_agreeing: 10,
            charged: 3_000,
            charged_useful: 2_000,
            vouchers: 2,
            ..exemplary()
        };
        let silent = CycleEvidence {
            entries: 0,
            votes: 0,
            votes_agreeing: 0,
            charged: 0,
            charged_useful: 0,
            vouchers: 0,
            ..exemplary()
        };
        let forger = CycleEvidence {
            forked: true,
            ..exemplary()
        };
        let spammer = CycleEvidence {
            entries: 1_040,
            over_rate: 1_000,
            ..exemplary()
        };
        let table: Vec<(Components, u32)> = [a, b, silent, forger, spammer]
            .iter()
            .map(|e| (components(e), gi(&components(e))))
            .collect();
        assert_eq!(
            table[0],
            (
                Components {
                    compliance: PPM,
                    consensus: PPM,
                    reliability: PPM,
                    efficiency: PPM,
                    community: PPM
                },
                PPM
            )
        );
        assert_eq!(
            table[1],
            (
                Components {
                    compliance: 940_000,
                    consensus: 833_333,
                    reliability: 916_666,
                    efficiency: 666_666,
                    community: 666_666
                },
                867_666
            )
        );
        assert_eq!(
            table[2],
            (
                Components {
                    compliance: PPM,
                    consensus: 0,
                    reliability: 0,
                    efficiency: PPM,
                    community: 0
                },
                500_000
            )
        );
        assert_eq!(table[3].1, 600_000);
        assert_eq!(
            table[4],
            (
                Components {
                    compliance: 38_461,
                    ..table[0].0
                },
                615_384
            )
        );
        let scores: Vec<u32> = table.iter().map(|t| t.1).collect();
        assert_eq!(swarm_gi(&scores), Some(615_384));
        assert_eq!(band(867_666), Band::Repair);
    }

    #[test]
    fn over_rate_counts_what_a_token_bucket_over_the_chains_timestamps_refuses() {
        // 2 a second, bursts of 3: three at once pass, the fourth is over;
        // half a second later one more has refilled.
        assert_eq!(over_rate(&[0, 0, 0, 0], 2, 3), 1);
        assert_eq!(over_rate(&[0, 0, 0, 0, 500], 2, 3), 1);
        assert_eq!(over_rate(&[0, 0, 0, 0, 499], 2, 3), 2);
        // A timestamp going back refills nothing.
        assert_eq!(over_rate(&[10_000, 0, 0, 0], 2, 3), 1);
        // Honest pace: never over.
        let paced: Vec<u64> = (0..1000).map(|i| i * 600).collect();
        assert_eq!(over_rate(&paced, 2, 3), 0);
        assert_eq!(over_rate(&[], 2, 3), 0);
    }

    #[test]
    fn tiers_and_bands_follow_the_guide() {
        assert!(Tier::Shadow < Tier::Research && Tier::High < Tier::Critical);
        assert_eq!(
            [Tier::Research, Tier::Standard, Tier::High, Tier::Critical].map(Tier::floor),
            [850_000, 900_000, 920_000, 950_000]
        );
        assert_eq!(Tier::Research.vote_weight(), 0);
        assert_eq!(band(950_000), Band::MintEligible);
        assert_eq!(band(949_999), Band::ReserveOnly);
        assert_eq!(band(899_999), Band::Repair);
        assert_eq!(band(799_999), Band::Lockdown);
        assert_eq!(swarm_gi(&[]), None);
        assert_eq!(swarm_gi(&[5, 1, 3, 2]), Some(2), "the lower median");
    }

    fn evidence() -> impl Strategy<Value = CycleEvidence> {
        (
            (0u64..10_000, 0u64..10_000, 0u64..100, 0u64..10_000, any::<bool>()),
            (0u64..100, 0u64..200, 0u64..200),
            (0u128..1_000_000, 0u128..1_000_000, 0u64..50, 0u64..50),
        )
            .prop_map(
                |(
                    (entries, bounced, failed_sims, over_rate, forked),
                    (epochs, votes, votes_agreeing),
                    (charged, charged_useful, vouchers, vouchers_full),
                )| CycleEvidence {
                    entries,
                    bounced,
                    failed_sims,
                    over_rate,
                    forked,
                    epochs,
                    votes,
                    votes_agreeing,
                    charged,
                    charged_useful,
                    vouchers,
                    vouchers_full,
                },
            )
    }

    proptest! {
        /// Whatever the counts (even inconsistent ones a faulty reader might
        /// produce), every component and GI stay within one whole.
        #[test]
        fn every_score_is_within_zero_and_one(e in evidence()) {
            let c = components(&e);
            for v in [c.compliance, c.consensus, c.reliability, c.efficiency, c.community, gi(&c)] {
                prop_assert!(v <= PPM);
            }
        }

        /// Doing more wrong never scores more: one more bounced entry, one
        /// vote less, a fork.
        #[test]
        fn more_wrongdoing_never_scores_higher(e in evidence()) {
            let base = gi(&components(&e));
            let worse = [
                CycleEvidence { bounced: e.bounced + 1, ..e },
                CycleEvidence { votes: e.votes.saturating_sub(1), votes_agreeing: e.votes_agreeing.min(e.votes.saturating_sub(1)), ..e },
                CycleEvidence { forked: true, ..e },
            ];
            for w in worse {
                prop_assert!(gi(&components(&w)) <= base);
            }
        }

        /// A forger or equivocator is under the lowest floor in the cycle it
        /// is caught, whatever else it did; so is a member silent a whole
        /// cycle.
        #[test]
        fn a_fork_or_a_silent_cycle_is_under_the_research_floor(e in evidence()) {
            let forked = CycleEvidence { forked: true, ..e };
            prop_assert!(gi(&components(&forked)) < Tier::Research.floor());
            let silent = CycleEvidence {
                entries: 0,
                votes: 0,
                votes_agreeing: 0,
                epochs: e.epochs.max(1),
                vouchers: 0,
                ..e
            };
            prop_assert!(gi(&components(&silent)) < Tier::Research.floor());
        }

        /// The swarm GI lies within the range of any majority's scores: a
        /// minority cannot drag it outside what the majority earned.
        #[test]
        fn a_minority_cannot_move_the_swarm_gi_outside_the_majoritys_range(
            honest in proptest::collection::vec(0u32..=PPM, 3..40),
            faulty_seed in proptest::collection::vec(0u32..=PPM, 0..40),
        ) {
            let faulty: Vec<u32> = faulty_seed.into_iter().take((honest.len() - 1) / 2).collect();
            let all: Vec<u32> = honest.iter().chain(&faulty).copied().collect();
            let g = swarm_gi(&all).unwrap();
            prop_assert!(g >= *honest.iter().min().unwrap() && g <= *honest.iter().max().unwrap());
        }
    }
}
