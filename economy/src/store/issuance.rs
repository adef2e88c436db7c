//! Issuance records kept per closed cycle, next to the standings: each is
//! stepped once from the record before, the cycle's GI table, the work read
//! from the same chains and the standings before the cycle; each cycle's
//! mint gate and each sealed tranche are kept for good, so a mint entry is
//! judged the same way at every node and in every rebuild (docs/issuance.md).

use std::collections::BTreeSet;

use super::gi::CycleWork;
use super::txn::Txn;
use super::{GiTable, Ledger, LedgerError, keys};
use crate::encoding;
use crate::integrity::Tier;
use crate::issuance::{CycleInput, Issuance, MemberInput, MintGate, SEAL_QUORUM, Work};
use crate::standing::{LadderRules, Standings};
use crate::{NodeId, SwarmId};

/// Cycles whose whole issuance record is kept (the gates and tranches stay).
pub const ISSUANCE_KEPT: u64 = super::STANDINGS_KEPT;
/// Tranches [`Ledger::tranches_of`] lists at most (the newest).
pub const TRANCHES_LISTED_MAX: u64 = 64;

/// One sealed tranche as an operator sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TrancheView {
    /// Whose reserve sealed it.
    pub owner: NodeId,
    /// Its sequence in that reserve.
    pub seq: u64,
    /// Its seal id (hex).
    pub seal: String,
    /// The cycle that sealed it (`None` if this node no longer knows:
    /// sealed before this node kept records).
    pub sealed_at: Option<u64>,
    /// The mint entry that minted it, `(actor, seq)`, if minted.
    pub minted: Option<(NodeId, u64)>,
}

/// The sentinels of the cycle after `before` and the signatures a mint
/// needs: the Critical-tier members the ladder counts, once there are
/// [`SEAL_QUORUM`] of them; until then the genesis sentinel set with its
/// threshold.
pub fn sentinels_for(before: &Standings, genesis: &crate::genesis::Sentinels) -> (BTreeSet<NodeId>, u32) {
    let counted = before.counted();
    let critical: BTreeSet<NodeId> = before
        .rows
        .iter()
        .filter(|s| s.tier.tier() == Tier::Critical && counted.contains(&s.node))
        .map(|s| s.node)
        .collect();
    if critical.len() as u64 >= u64::from(SEAL_QUORUM) {
        (critical, SEAL_QUORUM)
    } else {
        (genesis.members.iter().copied().collect(), genesis.threshold)
    }
}

/// The issuance step's input for one closed cycle.
pub fn cycle_input(
    swarm_id: SwarmId,
    table: &GiTable,
    work: &CycleWork,
    before: &Standings,
    rules: &LadderRules,
    genesis: &crate::genesis::Sentinels,
) -> CycleInput {
    let counted = before.counted();
    let (sentinels, quorum) = sentinels_for(before, genesis);
    let members = table
        .rows
        .iter()
        .map(|r| {
            let w = work.members.get(&r.node);
            // Evidence layout: docs/ledger-format.md, "GI table".
            let (agreeing, vouchers, vouchers_full) = (r.evidence.0[7], r.evidence.0[8], r.evidence.0[9]);
            MemberInput {
                node: r.node,
                gi: r.gi,
                compliance: r.components.0[0],
                silent: r.evidence.0[5] > 0 && r.evidence.0[6] == 0,
                counted: counted.contains(&r.node),
                work: Work {
                    agreeing_votes: agreeing,
                    useful_base: r.evidence.1[1],
                    vouchers: vouchers.min(vouchers_full),
                    sims_passed: w.map_or(0, |w| w.sims_passed),
                    sentinel_vouchers: w.map_or(0, |w| w.vouched_by.intersection(&sentinels).count() as u64),
                },
                mints: w.map_or(0, |w| w.mints),
            }
        })
        .collect();
    CycleInput {
        swarm_id,
        cycle: table.cycle,
        swarm_gi: table.swarm_gi,
        table_digest: table.digest,
        members,
        sentinels,
        quorum,
        offence_compliance: rules.offence_compliance,
    }
}

impl Ledger {
    /// The record after `cycle`, stepped from the kept record of the cycle
    /// before (the genesis record at the first cycle, or when the record
    /// before was never kept: a store that kept standings before issuance
    /// existed starts issuance from there).
    pub(super) fn issuance_step(
        &self,
        table: &GiTable,
        work: &CycleWork,
        before: &Standings,
        rules: &LadderRules,
    ) -> Result<Issuance, LedgerError> {
        let prev = match table.cycle.checked_sub(1) {
            Some(c) => self.issuance_kept(c)?.unwrap_or_else(Issuance::genesis),
            None => Issuance::genesis(),
        };
        let input = cycle_input(self.swarm_id, table, work, before, rules, &self.genesis.sentinels);
        Ok(prev.step(&input, &rules.issuance))
    }

    /// Writes `record` with its gate, its sentinel set and its tranches into
    /// `txn` (the first record of a cycle stands), forgets whole records
    /// older than [`ISSUANCE_KEPT`] cycles, and takes out the mints that
    /// waited for a gate up to this cycle (the caller ingests them).
    pub(super) fn keep_issuance(
        &self,
        txn: &mut Txn<'_>,
        record: &Issuance,
        epoch_ms: u64,
    ) -> Result<super::txn::Pairs, LedgerError> {
        let (Some(cycle), Some(gate)) = (record.cycle, MintGate::of(record, epoch_ms)) else {
            return Ok(Vec::new());
        };
        if txn.get(&keys::issuance(cycle))?.is_none() {
            txn.put(keys::issuance(cycle), encoding::encode(record));
            txn.put(keys::sentinel_set(&gate.sentinels), encoding::encode(&record.sentinels));
            txn.put(keys::gate(cycle), encoding::encode(&gate));
            for t in &record.tranches {
                let mut v = t.owner.as_bytes().to_vec();
                v.extend_from_slice(&t.seq.to_be_bytes());
                v.extend_from_slice(&t.cycle.to_be_bytes());
                txn.put(keys::tranche(&t.seal), v);
            }
        }
        let horizon = cycle.saturating_sub(ISSUANCE_KEPT);
        for (k, _) in txn.range(&keys::issuance(0), &keys::issuance(horizon))? {
            txn.del(k);
        }
        let waiting_end = keys::prefix_end(&keys::await_cycle(cycle, &crate::TxId([0xff; 32])));
        txn.range(&[keys::AWAIT_CYCLE], &waiting_end)
    }

    /// The kept issuance record after `cycle`, if any.
    pub fn issuance_kept(&self, cycle: u64) -> Result<Option<Issuance>, LedgerError> {
        self.tree()?.get(keys::issuance(cycle))?.map(|v| decode(&v)).transpose()
    }

    /// The newest kept issuance record.
    pub fn newest_issuance(&self) -> Result<Option<Issuance>, LedgerError> {
        let tree = self.tree()?;
        let newest = tree.scan_prefix([keys::ISSUANCE]).next_back().transpose()?;
        newest.map(|(_, v)| decode(&v)).transpose()
    }

    /// The kept mint gate of `cycle`, if this node closed it.
    pub fn mint_gate(&self, cycle: u64) -> Result<Option<MintGate>, LedgerError> {
        self.tree()?
            .get(keys::gate(cycle))?
            .map(|v| encoding::decode(&v).map_err(|e| LedgerError::Corrupt(format!("mint gate: {e}"))))
            .transpose()
    }

    /// The tranche a seal names: its owner, sequence and the cycle that sealed it.
    pub fn tranche(&self, seal: &[u8; 32]) -> Result<Option<(NodeId, u64, u64)>, LedgerError> {
        Ok(self
            .tree()?
            .get(keys::tranche(seal))?
            .map(|v| (keys::node_at(&v, 0), keys::u64_at(&v, 32), keys::u64_at(&v, 40))))
    }

    /// Where the mint of `seal` is in the chains (actor, seq), if it was minted.
    pub fn minted_at(&self, seal: &[u8; 32]) -> Result<Option<(NodeId, u64)>, LedgerError> {
        Ok(self
            .tree()?
            .get(keys::seal(seal))?
            .map(|v| (keys::node_at(&v, 0), keys::u64_at(&v, 32))))
    }
}

impl Ledger {
    /// The newest [`TRANCHES_LISTED_MAX`] tranches `owner`'s reserve sealed
    /// as of the newest kept record, oldest first, minted or not.
    pub fn tranches_of(&self, owner: &NodeId) -> Result<Vec<TrancheView>, LedgerError> {
        let Some(record) = self.newest_issuance()? else {
            return Ok(Vec::new());
        };
        let sealed = record.reserve_of(owner).map_or(0, |r| r.sealed);
        let mut out = Vec::new();
        for seq in sealed.saturating_sub(TRANCHES_LISTED_MAX)..sealed {
            let seal = crate::issuance::seal_id(&self.swarm_id, owner, seq);
            out.push(TrancheView {
                owner: *owner,
                seq,
                seal: hex::encode(seal),
                sealed_at: self.tranche(&seal)?.map(|t| t.2),
                minted: self.minted_at(&seal)?,
            });
        }
        Ok(out)
    }

    /// Signs, as a sentinel, the mint of `owner`'s tranche `tranche` citing
    /// closed `cycle`, at `now_ms`: only if this node (`key`'s) is one of
    /// the cycle's sentinels and, by its own records, the mint could be
    /// dated now, the cycle opens the mint, the tranche was sealed by then
    /// and was not minted. Refusals are [`LedgerError::Denied`] with the
    /// reason.
    pub fn authorize_mint(
        &self,
        key: &ed25519_dalek::SigningKey,
        owner: &NodeId,
        tranche: u64,
        cycle: u64,
        now_ms: u64,
    ) -> Result<crate::entry::SentinelSignature, LedgerError> {
        let me = NodeId::from_bytes(key.verifying_key().to_bytes());
        let denied = |why: String| Err(LedgerError::Denied(why));
        let Some(gate) = self.mint_gate(cycle)? else {
            return denied(format!("cycle {cycle} is not closed at this node"));
        };
        let sentinels: Vec<NodeId> = match self.tree()?.get(keys::sentinel_set(&gate.sentinels))? {
            Some(v) => encoding::decode(&v).map_err(|e| LedgerError::Corrupt(format!("sentinel set: {e}")))?,
            None => return Err(LedgerError::Corrupt(format!("cycle {cycle}'s sentinel set is missing"))),
        };
        if sentinels.binary_search(&me).is_err() {
            return denied(format!("this node is not a sentinel of cycle {cycle}"));
        }
        let seal = crate::issuance::seal_id(&self.swarm_id, owner, tranche);
        if let Some((actor, seq)) = self.minted_at(&seal)? {
            return denied(format!("the tranche was minted at {actor} seq {seq}"));
        }
        if let Some(why) = gate.refuses_tranche(now_ms, self.tranche(&seal)?.map(|t| t.2)) {
            return denied(why);
        }
        let message = crate::rules::mint_message(&self.swarm_id, &seal, &crate::issuance::mint_transfers(owner));
        Ok(crate::entry::SentinelSignature {
            sentinel: me,
            signature: ed25519_dalek::Signer::sign(key, &message).to_bytes(),
        })
    }
}

/// The draft of the owner's mint of its tranche `tranche`, citing `cycle`,
/// with the sentinels' `signatures`.
pub fn mint_draft(
    swarm_id: &SwarmId,
    owner: &NodeId,
    tranche: u64,
    cycle: u64,
    signatures: Vec<crate::entry::SentinelSignature>,
    now_ms: u64,
) -> super::Draft {
    let cert = crate::entry::MintCertificate {
        seal_id: crate::issuance::seal_id(swarm_id, owner, tranche),
        signatures,
    };
    super::Draft::new(
        super::Intent::Raw {
            action: crate::Action::Mint { cycle, tranche },
            transfers: crate::issuance::mint_transfers(owner),
            proof: Some(crate::entry::Proof::Mint(cert)),
        },
        now_ms,
    )
}

fn decode(bytes: &[u8]) -> Result<Issuance, LedgerError> {
    encoding::decode(bytes).map_err(|e| LedgerError::Corrupt(format!("issuance record: {e}")))
}
