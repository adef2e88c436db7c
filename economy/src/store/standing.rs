//! Standings kept per cycle: each cycle's standings are computed once, from
//! the newest kept ones and the cycle's GI table, and kept, so a node never
//! replays the ladder from the genesis more than once.

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use std::collections::BTreeSet;

use super::txn::Txn;

use super::{AgreedCut, GiTable, Head};
use super::{Ledger, LedgerError, keys};
use crate::NodeId;
use crate::encoding;
use crate::issuance::Issuance;
use crate::standing::{Decisions, LadderRules, Standings, TierCode};

/// A member in good standing in [`AnchoredGi::status`].
pub const STATUS_GOOD: u8 = 0;
/// A member suspended through the cycle or later.
pub const STATUS_SUSPENDED: u8 = 1;
/// A removed member.
pub const STATUS_REMOVED: u8 = 2;

/// One member's row of a closed cycle as the L2 anchors it (the leaf
/// `Anchor.giLeaf(cycle, node, gi, tier, status)`): its GI in the cycle and
/// where the ladder left it after the cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct AnchoredGi {
    /// The member.
    pub node: NodeId,
    /// Its GI in the cycle, ppm.
    pub gi: u32,
    /// Its tier after the cycle.
    pub tier: TierCode,
    /// [`STATUS_GOOD`], [`STATUS_SUSPENDED`] or [`STATUS_REMOVED`].
    pub status: u8,
}

/// The rows of `table` with the standings after it, sorted by node.
pub fn anchored_rows(table: &GiTable, after: &Standings) -> Vec<AnchoredGi> {
    table
        .rows
        .iter()
        .map(|r| {
            let standing = after.of(&r.node);
            let status = match standing {
                Some(s) if s.removed.is_some() => STATUS_REMOVED,
                Some(s) if s.suspended_through.is_some_and(|t| t >= table.cycle) => STATUS_SUSPENDED,
                _ => STATUS_GOOD,
            };
            AnchoredGi {
                node: r.node,
                gi: r.gi,
                tier: standing.map_or(TierCode(0), |s| s.tier),
                status,
            }
        })
        .collect()
}

/// Cycles whose standings are kept, counting back from the newest.
pub const STANDINGS_KEPT: u64 = 64;
/// Cycles one call computes at most: a node far behind (new, or back after
/// a long stop) catches up over several calls instead of holding its
/// ledger for one long walk.
pub const STANDINGS_CATCH_UP_MAX: u64 = 32;

impl Ledger {
    /// The cycle of the genesis, the first any node is scored in.
    pub fn first_cycle(&self, epoch_ms: u64) -> u64 {
        self.genesis().created_at_ms / epoch_ms.max(1)
    }

    /// The standings after `cycle` (cycles of `epoch_ms`): the newest kept at
    /// or before it, moved forward one GI table a cycle and each one kept.
    /// `Ok(None)` when more than [`STANDINGS_CATCH_UP_MAX`] cycles were left
    /// to compute: call again. A cycle older than every kept one is not
    /// recomputed (`Ok(None)` too).
    pub fn standings_after(
        &self,
        cycle: u64,
        epoch_ms: u64,
        rules: &LadderRules,
        decisions: &dyn Decisions,
    ) -> Result<Option<Standings>, LedgerError> {
        let first = self.first_cycle(epoch_ms);
        let founders: Vec<_> = self.founders.iter().copied().collect();
        if cycle < first {
            return Ok(Some(Standings::genesis(&founders)));
        }
        let kept = self.standings_kept_at_or_before(cycle)?;
        let (mut next, mut standings) = match kept {
            Some(s) => (s.cycle.map_or(first, |c| c + 1), s),
            None if self.newest_standings()?.is_some() => return Ok(None),
            None => (first, Standings::genesis(&founders)),
        };
        let mut done = 0;
        while next <= cycle {
            if done == STANDINGS_CATCH_UP_MAX {
                return Ok(None);
            }
            let Some(decided) = decisions.at(next) else {
                return Ok(None);
            };
            let counted = standings.counted();
            let Some(cut) = self.cut_for(next, epoch_ms, &counted)? else {
                return Ok(None);
            };
            let (table, work) = self.read_cycle_on(next, epoch_ms, Some(&counted), &cut)?;
            let rules_then = decisions.rules_at(next, rules);
            let issuance = self.issuance_step(&table, &work, &standings, &rules_then)?;
            standings = standings.step(&table, &rules_then, &decided);
            self.keep_standings(&table, &standings, &issuance, epoch_ms)?;
            next += 1;
            done += 1;
        }
        Ok(Some(standings))
    }

    /// The GI table of `cycle` as the ladder reads it: the quorum and the
    /// swarm's GI among the members the standings before it count
    /// ([`Standings::counted`]). `Ok(None)` while those standings are still
    /// being caught up ([`Ledger::standings_after`]).
    pub fn scored_table(
        &self,
        cycle: u64,
        epoch_ms: u64,
        rules: &LadderRules,
        decisions: &dyn Decisions,
    ) -> Result<Option<GiTable>, LedgerError> {
        let Some(before) = self.standings_before(cycle, epoch_ms, rules, decisions)? else {
            return Ok(None);
        };
        let counted = before.counted();
        let Some(cut) = self.cut_for(cycle, epoch_ms, &counted)? else {
            return Ok(None);
        };
        self.gi_table_on(cycle, epoch_ms, Some(&counted), &cut).map(Some)
    }

    /// Closes `cycle`: its table as the ladder reads it, built once, and the
    /// standings after it (kept, or moved by that table and kept).
    /// `Ok(None)` while the standings before it are still being caught up,
    /// or the DAO decisions of a cycle on the way are not known yet.
    pub fn close_cycle(
        &self,
        cycle: u64,
        epoch_ms: u64,
        rules: &LadderRules,
        decisions: &dyn Decisions,
    ) -> Result<Option<(GiTable, Standings)>, LedgerError> {
        let Some(before) = self.standings_before(cycle, epoch_ms, rules, decisions)? else {
            return Ok(None);
        };
        let counted = before.counted();
        let Some(cut) = self.cut_for(cycle, epoch_ms, &counted)? else {
            return Ok(None);
        };
        let kept = self.standings_kept(cycle)?;
        let (table, work) = self.read_cycle_on(cycle, epoch_ms, Some(&counted), &cut)?;
        let after = match kept {
            Some(kept) => {
                if self.issuance_kept(cycle)?.is_none() {
                    let issuance = self.issuance_step(&table, &work, &before, &decisions.rules_at(cycle, rules))?;
                    self.keep_standings(&table, &kept, &issuance, epoch_ms)?;
                }
                kept
            }
            None => {
                let Some(decided) = decisions.at(cycle) else {
                    return Ok(None);
                };
                let rules_then = decisions.rules_at(cycle, rules);
                let issuance = self.issuance_step(&table, &work, &before, &rules_then)?;
                let moved = before.step(&table, &rules_then, &decided);
                self.keep_standings(&table, &moved, &issuance, epoch_ms)?;
                moved
            }
        };
        Ok(Some((table, after)))
    }

    /// The standings `cycle` is scored under: the genesis ones for the
    /// genesis cycle (and before), else those after the cycle before.
    fn standings_before(
        &self,
        cycle: u64,
        epoch_ms: u64,
        rules: &LadderRules,
        decisions: &dyn Decisions,
    ) -> Result<Option<Standings>, LedgerError> {
        if cycle <= self.first_cycle(epoch_ms) {
            let founders: Vec<_> = self.founders.iter().copied().collect();
            return Ok(Some(Standings::genesis(&founders)));
        }
        self.standings_after(cycle - 1, epoch_ms, rules, decisions)
    }

    /// The rows of closed `cycle` as the L2 anchors them, if this node
    /// closed it and still keeps them ([`STANDINGS_KEPT`] cycles).
    pub fn anchored_gi(&self, cycle: u64) -> Result<Option<Vec<AnchoredGi>>, LedgerError> {
        self.tree()?
            .get(keys::anchored_gi(cycle))?
            .map(|v| encoding::decode(&v).map_err(|e| LedgerError::Corrupt(format!("anchored GI rows: {e}"))))
            .transpose()
    }

    /// The agreed cut of `cycle`, or `None` (noting a cut to fetch from a
    /// peer, [`Ledger::take_wanted_cut`]).
    fn cut_for(&self, cycle: u64, epoch_ms: u64, voters: &BTreeSet<NodeId>) -> Result<Option<Vec<Head>>, LedgerError> {
        Ok(match self.agreed_cut(cycle, epoch_ms, voters)? {
            AgreedCut::Agreed(heads) => Some(heads),
            AgreedCut::Missing { epoch, digest } => {
                *self.wanted_cut.lock().unwrap_or_else(|p| p.into_inner()) = Some((epoch, digest));
                None
            }
            AgreedCut::Pending => None,
        })
    }

    /// The agreed cut the ladder last waited for and could not name: the
    /// epoch and the digest of heads to ask peers for
    /// ([`Ledger::adopt_voted_heads`]). Taken once.
    pub fn take_wanted_cut(&self) -> Option<(u64, [u8; 32])> {
        self.wanted_cut.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// The kept standings after `cycle`, if any.
    pub fn standings_kept(&self, cycle: u64) -> Result<Option<Standings>, LedgerError> {
        self.tree()?.get(keys::standing(cycle))?.map(|v| decode(&v)).transpose()
    }

    /// The newest kept standings.
    pub fn newest_standings(&self) -> Result<Option<Standings>, LedgerError> {
        let tree = self.tree()?;
        let newest = tree.scan_prefix([keys::STANDING]).next_back().transpose()?;
        newest.map(|(_, v)| decode(&v)).transpose()
    }

    fn standings_kept_at_or_before(&self, cycle: u64) -> Result<Option<Standings>, LedgerError> {
        let tree = self.tree()?;
        let found = tree
            .range(keys::standing(0)..=keys::standing(cycle))
            .next_back()
            .transpose()?;
        found.map(|(_, v)| decode(&v)).transpose()
    }

    /// Keeps `standings`, the anchored rows of `table` and the cycle's
    /// issuance record (the first record of a cycle stands), forgets those
    /// more than [`STANDINGS_KEPT`] cycles older, and ingests the mints that
    /// waited for this cycle's gate, in one write.
    fn keep_standings(
        &self,
        table: &GiTable,
        standings: &Standings,
        issuance: &Issuance,
        epoch_ms: u64,
    ) -> Result<(), LedgerError> {
        let Some(cycle) = standings.cycle else {
            return Ok(());
        };
        let _guard = self.write.lock().unwrap_or_else(|p| p.into_inner());
        let tree = self.before_write()?;
        let mut txn = Txn::new(&tree);
        let waiting = self.keep_issuance(&mut txn, issuance, epoch_ms)?;
        let ctx = self.ctx();
        let mut forked = false;
        for (k, v) in waiting {
            let entry = self.release(&ctx, &mut txn, k, &v)?;
            forked |= self.ingest_one(&ctx, &mut txn, entry)?.1;
        }
        if forked {
            self.update_mode(&mut txn)?;
        }
        if txn.get(&keys::standing(cycle))?.is_none() {
            txn.put(keys::standing(cycle), encoding::encode(standings));
            txn.put(
                keys::anchored_gi(cycle),
                encoding::encode(&anchored_rows(table, standings)),
            );
        }
        let horizon = cycle.saturating_sub(STANDINGS_KEPT);
        for (k, _) in txn.range(&keys::standing(0), &keys::standing(horizon))? {
            txn.del(k);
        }
        for (k, _) in txn.range(&keys::anchored_gi(0), &keys::anchored_gi(horizon))? {
            txn.del(k);
        }
        let written = txn.commit(&self.writes).and_then(|()| {
            while forked {
                forked = self.rebuild_locked(&tree)?;
            }
            self.flush_if_durable(&tree)
        });
        drop(tree);
        self.settle(written)
    }
}

fn decode(bytes: &[u8]) -> Result<Standings, LedgerError> {
    encoding::decode(bytes).map_err(|e| LedgerError::Corrupt(format!("standings: {e}")))
}
