//! One cycle's integrity evidence read from the chains up to the cycle's
//! cut, and the GI table built from it (docs/integrity.md). Every node that
//! holds the same chains up to the cut reads the same evidence and builds
//! the same table, byte for byte; the table's digest says so in one value.

use std::collections::{BTreeMap, BTreeSet};

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use super::process::{Effect, Record, fork_of};
use super::txn::Txn;
use super::{Ledger, LedgerError, keys};
use crate::entry::{Action, Outcome};
use crate::ids::{AccountId, NodeId};
use crate::integrity::{self, Components, CycleEvidence};
use crate::{Currency, encoding};

/// Epochs from a cycle's start to its cut: a cycle's checkpoint votes are
/// cast two epochs after it (the heads of an epoch are voted one epoch after
/// it ended, at the next epoch tick), so its evidence is complete in the
/// chains cut at the end of the epoch after that.
pub const GI_CUT_EPOCHS: u64 = 3;

/// Epochs from a cycle's start to the tick that closes it: the votes on its
/// cut (the heads at the end of epoch `cycle + GI_CUT_EPOCHS - 1`) are cast
/// as epoch `cycle + GI_CUT_EPOCHS + 1` starts, and reach every node during
/// it; the cycle closes as the next starts, once a strict majority of the
/// counted members voted for the heads this node holds
/// ([`Ledger::cut_agreement`]).
pub const GI_CLOSE_EPOCHS: u64 = GI_CUT_EPOCHS + 2;

/// Epochs after a cut in which a vote on it still counts (a vote is cast
/// one epoch after; a node slower than this is not waited for).
pub const CUT_VOTE_EPOCHS: u64 = 3;

/// The heads a cycle's table is read from, as the swarm agreed on them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgreedCut {
    /// A strict majority of the counted members voted for these heads, and
    /// this node holds every entry up to them.
    Agreed(Vec<super::Head>),
    /// A strict majority voted for the heads of `epoch` with this digest, and
    /// this node cannot name them: it did not vote for them, and the heads it
    /// holds cut there differ (an entry below the cut reached it late, or it
    /// lacks some). A peer that voted for them can send them
    /// ([`Ledger::adopt_voted_heads`]).
    Missing {
        /// The epoch whose end is the cut.
        epoch: u64,
        /// The digest the majority voted.
        digest: [u8; 32],
    },
    /// No heads have a strict majority of votes (yet, or as this node holds them).
    Pending,
}

/// The rate spam is counted against: 100 entries a second, bursts of 1000
/// (the daemon's default actor rate; one value for the whole swarm, so the
/// count is the same at every node whatever each node's mesh limits are).
pub const GI_RATE: (u32, u32) = (100, 1000);

/// Vouchers that count as a full community score (or all other members, if fewer).
pub const GI_VOUCHERS_FULL: u64 = 3;

/// One node's row of a GI table.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct GiRow {
    /// The node.
    pub node: NodeId,
    /// Its evidence.
    pub evidence: Evidence,
    /// Its components, in parts per million.
    pub components: Parts,
    /// Its GI, in parts per million.
    pub gi: u32,
}

/// [`CycleEvidence`] in the canonical encoding (bincode needs its own derive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Evidence(
    /// entries, bounced, failed_sims, over_rate, forked, epochs, votes,
    /// votes_agreeing, vouchers, vouchers_full.
    pub [u64; 10],
    /// charged, charged_useful.
    pub [u128; 2],
);

/// [`Components`] in the canonical encoding: compliance, consensus,
/// reliability, efficiency, community.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Parts(pub [u32; 5]);

impl From<&CycleEvidence> for Evidence {
    fn from(e: &CycleEvidence) -> Evidence {
        Evidence(
            [
                e.entries,
                e.bounced,
                e.failed_sims,
                e.over_rate,
                u64::from(e.forked),
                e.epochs,
                e.votes,
                e.votes_agreeing,
                e.vouchers,
                e.vouchers_full,
            ],
            [e.charged, e.charged_useful],
        )
    }
}

impl From<&Components> for Parts {
    fn from(c: &Components) -> Parts {
        Parts([c.compliance, c.consensus, c.reliability, c.efficiency, c.community])
    }
}

/// Every member's GI for one cycle (one epoch), and the swarm's.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct GiTable {
    /// The cycle (the epoch it spans).
    pub cycle: u64,
    /// One row per member, sorted by node.
    pub rows: Vec<GiRow>,
    /// The lower median of the rows' GIs.
    pub swarm_gi: Option<u32>,
    /// SHA-256 of the canonical encoding of `cycle`, `rows` and `swarm_gi`:
    /// equal at every node that read the same chains.
    pub digest: [u8; 32],
}

/// What one member's chain shows in a cycle beyond its GI evidence: the
/// inputs of issuance's reward accounting (docs/issuance.md).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberWork {
    /// Evolution simulations that succeeded and were applied.
    pub sims_passed: u64,
    /// Mint entries applied.
    pub mints: u64,
    /// The other members whose entries in the cycle paid it or depend on
    /// its chain (at most the members there are).
    pub vouched_by: BTreeSet<NodeId>,
}

/// [`MemberWork`] of every chain with any, for one cycle.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CycleWork {
    /// By member.
    pub members: BTreeMap<NodeId, MemberWork>,
}

/// What one chain shows in the window that matters.
#[derive(Default)]
struct ChainRead {
    first_ms: Option<u64>,
    evidence: CycleEvidence,
    /// The heads digest of its first vote for the cycle, cast after the cycle ended.
    vote: Option<[u8; 32]>,
}

impl Ledger {
    /// The heads the table of `cycle` is read from: those a strict majority
    /// of `voters` voted for as the chains cut at the end of epoch
    /// `cycle + GI_CUT_EPOCHS - 1` (each voter's first checkpoint vote on
    /// that epoch, stamped after the cut and within [`CUT_VOTE_EPOCHS`]).
    /// Not the heads this node holds cut there now: an entry below the cut
    /// that reached it after the votes (a restarted node's last entries, a
    /// healed partition's) would make its table differ from those of the
    /// nodes that closed the cycle before. So every node reads the same
    /// heads, or waits.
    pub fn agreed_cut(&self, cycle: u64, epoch_ms: u64, voters: &BTreeSet<NodeId>) -> Result<AgreedCut, LedgerError> {
        let epoch_ms = epoch_ms.max(1);
        let cut_epoch = cycle.saturating_add(GI_CUT_EPOCHS - 1);
        let cut = cycle.saturating_add(GI_CUT_EPOCHS).saturating_mul(epoch_ms);
        let horizon = cut.saturating_add(CUT_VOTE_EPOCHS.saturating_mul(epoch_ms));
        let held = self.heads_before(cut)?;
        let at_cut: BTreeMap<NodeId, u64> = held.iter().map(|h| (h.actor, h.seq)).collect();
        let mut tally: BTreeMap<[u8; 32], usize> = BTreeMap::new();
        {
            let tree = self.tree_unchecked()?;
            for voter in voters {
                // Its entries after the cut, oldest first, up to the horizon.
                let from = at_cut.get(voter).map_or(0, |s| s.saturating_add(1));
                for item in tree.range(keys::entry(voter, from)..=keys::entry(voter, u64::MAX)) {
                    let record = Record::decode(&item?.1)?;
                    let body = &record.entry.body;
                    if body.timestamp_ms >= horizon {
                        break;
                    }
                    if let Action::Checkpoint { epoch, heads } = body.action
                        && epoch == cut_epoch
                        && body.timestamp_ms >= cut
                    {
                        *tally.entry(heads).or_default() += 1;
                        break;
                    }
                }
            }
        }
        let majority = voters.len() / 2 + 1;
        let Some(digest) = tally.iter().find(|(_, n)| **n >= majority).map(|(d, _)| *d) else {
            return Ok(AgreedCut::Pending);
        };
        if let Some(voted) = self.voted_heads(cut_epoch)?
            && super::heads_digest(&voted) == digest
            && self.holds_heads(&voted)?
        {
            return Ok(AgreedCut::Agreed(voted));
        }
        if super::heads_digest(&held) == digest {
            return Ok(AgreedCut::Agreed(held));
        }
        Ok(AgreedCut::Missing {
            epoch: cut_epoch,
            digest,
        })
    }

    /// The GI table of `cycle` (epochs of `epoch_ms`), from the chains cut at
    /// the end of epoch `cycle + GI_CUT_EPOCHS - 1`. Members are the genesis
    /// founders and every chain in the cut that began before the cycle's
    /// end; a member whose chain began inside the cycle is not yet expected
    /// to vote in it.
    pub fn gi_table(&self, cycle: u64, epoch_ms: u64) -> Result<GiTable, LedgerError> {
        self.gi_table_among(cycle, epoch_ms, None)
    }

    /// [`Ledger::gi_table`] with the quorum and the swarm's GI taken among
    /// `voters` only (the members the ladder counts: not in shadow, not
    /// suspended, not removed); `None` counts every member expected for the
    /// whole cycle. Every member is still scored.
    pub fn gi_table_among(
        &self,
        cycle: u64,
        epoch_ms: u64,
        voters: Option<&BTreeSet<NodeId>>,
    ) -> Result<GiTable, LedgerError> {
        let cut = cycle.saturating_add(GI_CUT_EPOCHS).saturating_mul(epoch_ms.max(1));
        let heads = self.heads_before(cut)?;
        self.gi_table_on(cycle, epoch_ms, voters, &heads)
    }

    /// [`Ledger::gi_table_among`] read from the chains up to `heads` (the
    /// cut the swarm agreed on, [`Ledger::agreed_cut`]).
    pub fn gi_table_on(
        &self,
        cycle: u64,
        epoch_ms: u64,
        voters: Option<&BTreeSet<NodeId>>,
        heads: &[super::Head],
    ) -> Result<GiTable, LedgerError> {
        Ok(self.read_cycle_on(cycle, epoch_ms, voters, heads)?.0)
    }

    /// [`Ledger::gi_table_on`] with the work issuance rewards, read in the
    /// same walk over the same chains (docs/issuance.md).
    pub fn read_cycle_on(
        &self,
        cycle: u64,
        epoch_ms: u64,
        voters: Option<&BTreeSet<NodeId>>,
        heads: &[super::Head],
    ) -> Result<(GiTable, CycleWork), LedgerError> {
        let epoch_ms = epoch_ms.max(1);
        let start = cycle.saturating_mul(epoch_ms);
        let end = start.saturating_add(epoch_ms);
        let (per_second, burst) = GI_RATE;
        // The bucket is replayed from a burst's refill time before the
        // window, full there: the same start at every node, bounded reads.
        let replay_from = start.saturating_sub(u64::from(burst) * 1000 / u64::from(per_second.max(1)));
        let _guard = self.write.lock().unwrap_or_else(|p| p.into_inner());
        let tree = self.tree_unchecked()?;
        let mut chains: BTreeMap<NodeId, ChainRead> = BTreeMap::new();
        let mut vouched: BTreeMap<NodeId, BTreeSet<NodeId>> = BTreeMap::new();
        let mut work: BTreeMap<NodeId, MemberWork> = BTreeMap::new();
        for head in heads {
            let actor = head.actor;
            let read = chains.entry(actor).or_default();
            if let Some(first) = tree.get(keys::entry(&actor, 0))? {
                read.first_ms = Some(Record::decode(&first)?.entry.body.timestamp_ms);
            }
            // Newest first, back to the replay's start: (timestamp, in the window).
            let mut stamps = Vec::new();
            for item in tree.range(keys::entry(&actor, 0)..=keys::entry(&actor, head.seq)).rev() {
                let record = Record::decode(&item?.1)?;
                let body = &record.entry.body;
                if body.timestamp_ms < replay_from {
                    break;
                }
                if let Action::Checkpoint { epoch, heads } = body.action
                    && epoch == cycle
                    && body.timestamp_ms >= end
                {
                    // Walking back, the earliest vote is the last one seen.
                    read.vote = Some(heads);
                }
                let inside = (start..end).contains(&body.timestamp_ms);
                stamps.push((body.timestamp_ms, inside));
                if !inside {
                    continue;
                }
                let e = &mut read.evidence;
                e.entries += 1;
                if record.effect == Effect::Bounced {
                    e.bounced += 1;
                }
                if matches!(body.action, Action::EvolutionSim) && body.outcome == Outcome::Fail {
                    e.failed_sims += 1;
                }
                if record.effect == Effect::Applied {
                    let w = work.entry(actor).or_default();
                    match body.action {
                        Action::EvolutionSim if body.outcome == Outcome::Success => w.sims_passed += 1,
                        Action::Mint { .. } => w.mints += 1,
                        _ => {}
                    }
                }
                let work = matches!(
                    body.action,
                    Action::LlmInference { .. } | Action::SandboxExec { .. } | Action::EvolutionSim
                );
                if work && record.effect == Effect::Applied {
                    let charged: u128 = body
                        .transfers
                        .iter()
                        .filter(|t| t.currency == Currency::Ippc)
                        .map(|t| u128::from(t.amount.base()))
                        .sum();
                    e.charged += charged;
                    if body.outcome == Outcome::Success {
                        e.charged_useful += charged;
                    }
                }
                // A bounced payment moved nothing and vouches for nobody.
                let paid = body.transfers.iter().filter_map(|t| match t.to {
                    AccountId::Wallet(to) if record.effect == Effect::Applied => Some(to),
                    _ => None,
                });
                for other in paid.chain(body.deps.iter().map(|d| d.actor)) {
                    if other != actor {
                        vouched.entry(other).or_default().insert(actor);
                    }
                }
            }
            // Oldest first for the bucket.
            stamps.reverse();
            let times: Vec<u64> = stamps.iter().map(|(t, _)| *t).collect();
            let marks = integrity::over_rate_marks(&times, per_second, burst);
            read.evidence.over_rate = marks
                .iter()
                .zip(&stamps)
                .filter(|(over, (_, inside))| **over && *inside)
                .count() as u64;
            read.evidence.forked = matches!(fork_of(&Txn::new(&tree), &actor)?, Some(f) if f <= head.seq);
        }
        for founder in &self.founders {
            chains.entry(*founder).or_default();
        }
        // Members for the whole cycle: founders, and chains begun before it.
        let expected: BTreeSet<NodeId> = chains
            .iter()
            .filter(|(id, r)| self.founders.contains(id) || r.first_ms.is_some_and(|t| t < start))
            .map(|(id, _)| *id)
            .collect();
        // The quorum's heads: what a strict majority of the expected voters
        // the ladder counts voted.
        let counted: BTreeSet<NodeId> = expected
            .iter()
            .filter(|id| voters.is_none_or(|v| v.contains(id)))
            .copied()
            .collect();
        let mut tally: BTreeMap<[u8; 32], u64> = BTreeMap::new();
        for id in &counted {
            if let Some(v) = chains[id].vote {
                *tally.entry(v).or_default() += 1;
            }
        }
        let quorum = tally
            .iter()
            .find(|(_, n)| **n * 2 > counted.len() as u64)
            .map(|(root, _)| *root);
        // Chains begun after the cycle are not members of it.
        chains.retain(|id, r| expected.contains(id) || r.first_ms.is_some_and(|t| t < end));
        let members = chains.len() as u64;
        let mut rows = Vec::with_capacity(chains.len());
        for (id, read) in chains {
            let mut e = read.evidence;
            if expected.contains(&id) {
                e.epochs = 1;
                e.votes = u64::from(read.vote.is_some());
                e.votes_agreeing = u64::from(read.vote.is_some() && read.vote == quorum);
            }
            e.vouchers = vouched.get(&id).map_or(0, |v| v.len() as u64);
            e.vouchers_full = GI_VOUCHERS_FULL.min(members.saturating_sub(1));
            let c = integrity::components(&e);
            rows.push(GiRow {
                node: id,
                evidence: Evidence::from(&e),
                components: Parts::from(&c),
                gi: integrity::gi(&c),
            });
        }
        let swarm_gi = integrity::swarm_gi(
            &rows
                .iter()
                .filter(|r| voters.is_none_or(|v| v.contains(&r.node)))
                .map(|r| r.gi)
                .collect::<Vec<_>>(),
        );
        let digest = {
            use sha2::{Digest, Sha256};
            let mut h = Sha256::new();
            h.update(b"ippoc-gi-table-v1\0");
            h.update(encoding::encode(&(cycle, rows.clone(), swarm_gi)));
            h.finalize().into()
        };
        for (id, by) in vouched {
            work.entry(id).or_default().vouched_by = by;
        }
        Ok((
            GiTable {
                cycle,
                rows,
                swarm_gi,
                digest,
            },
            CycleWork { members: work },
        ))
    }
}
