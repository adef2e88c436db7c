//! A node's Prometheus metrics (docs/metrics.md): the state it keeps, read
//! at each scrape by [`NodeCollector`] (ledger, mesh, governance, integrity,
//! issuance), and the events only counted as they happen ([`AnchorMetrics`];
//! the mesh's and the sandbox's live in their crates).
//!
//! Cardinality is bounded by construction: every label value comes from a
//! fixed set named here (account kinds, currencies, outcomes, tiers, bands,
//! ban reasons), never from a peer, a node id or an amount. Per-node figures
//! are the simulator's business (it labels each node's registry with `node`).

use std::fmt;
use std::sync::Arc;

use ippoc_economy::amount::UNIT;
use ippoc_economy::store::{Ledger, Mode};
use ippoc_economy::{AccountId, Currency};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::{Registry, Unit};

use crate::gov_view::SharedGovView;
use crate::view::SharedMeshView;

type Labels<const N: usize> = [(&'static str, &'static str); N];

/// Anchoring's events: submissions to the Anchor contract by outcome, and
/// epochs the chain anchored with another root than this node's.
#[derive(Debug, Clone, Default)]
pub struct AnchorMetrics {
    submissions: Family<Labels<1>, Counter>,
    conflicts: Counter,
}

impl AnchorMetrics {
    /// Registers them in `registry`.
    pub fn new(registry: &mut Registry) -> AnchorMetrics {
        let m = AnchorMetrics::default();
        registry.register(
            "ippoc_anchor_submissions",
            "Checkpoint anchors this node submitted to the L2, by outcome (ok, failed)",
            m.submissions.clone(),
        );
        registry.register(
            "ippoc_anchor_conflicts",
            "Epochs this node voted on that the chain anchored with another root",
            m.conflicts.clone(),
        );
        m
    }

    pub(crate) fn submitted(&self, ok: bool) {
        let outcome = if ok { "ok" } else { "failed" };
        self.submissions.get_or_create(&[("outcome", outcome)]).inc();
    }

    pub(crate) fn conflict(&self) {
        self.conflicts.inc();
    }
}

/// Reads a node's state at each scrape. Reads only what the node keeps (no
/// GI table or standings are computed for a scrape), so a scrape costs a few
/// store reads, the balance scan and one copy of the mesh view.
pub struct NodeCollector {
    /// The node's ledger.
    pub ledger: Arc<Ledger>,
    /// Its mesh view.
    pub view: SharedMeshView,
    /// What it knows of the DAO.
    pub gov: SharedGovView,
    /// The checkpoint epoch, ms.
    pub epoch_ms: u64,
}

impl fmt::Debug for NodeCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeCollector")
            .field("node", &self.ledger.owner())
            .finish()
    }
}

/// Writes one scrape's metrics.
struct Out<'a>(DescriptorEncoder<'a>);

impl Out<'_> {
    fn gauge(&mut self, name: &str, help: &str, unit: Option<Unit>, value: f64) -> fmt::Result {
        let g = ConstGauge::new(value);
        g.encode(self.0.encode_descriptor(name, help, unit.as_ref(), g.metric_type())?)
    }

    fn counter(&mut self, name: &str, help: &str, unit: Option<Unit>, value: u64) -> fmt::Result {
        let c = ConstCounter::new(value);
        c.encode(self.0.encode_descriptor(name, help, unit.as_ref(), c.metric_type())?)
    }

    fn gauges<const N: usize>(&mut self, name: &str, help: &str, rows: &[(Labels<N>, f64)]) -> fmt::Result {
        let mut m = self.0.encode_descriptor(name, help, None, MetricType::Gauge)?;
        for (labels, value) in rows {
            ConstGauge::new(*value).encode(m.encode_family(labels)?)?;
        }
        Ok(())
    }

    fn counters<const N: usize>(
        &mut self,
        name: &str,
        help: &str,
        unit: Option<Unit>,
        rows: &[(Labels<N>, u64)],
    ) -> fmt::Result {
        let mut m = self
            .0
            .encode_descriptor(name, help, unit.as_ref(), MetricType::Counter)?;
        for (labels, value) in rows {
            ConstCounter::new(*value).encode(m.encode_family(labels)?)?;
        }
        Ok(())
    }
}

fn flag(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

/// The label of an account's kind, from a fixed set.
fn account_kind(account: &AccountId) -> &'static str {
    match account {
        AccountId::Wallet(_) => "wallet",
        AccountId::Reserve(_) => "reserve",
        AccountId::Escrow(_) => "escrow",
        AccountId::Mint => "mint",
        AccountId::MetabolismSink => "metabolism_sink",
        AccountId::Treasury => "treasury",
        AccountId::PublicGoodsPool => "public_goods_pool",
    }
}

fn currency(c: Currency) -> &'static str {
    match c {
        Currency::Ippc => "IPPC",
        Currency::Iusd => "iUSD",
    }
}

/// The class of a ban's reason (the reason text itself is unbounded).
pub fn ban_reason(reason: &str) -> &'static str {
    if reason.starts_with("forged") {
        "forged"
    } else if reason.starts_with("too many invalid") {
        "invalid"
    } else if reason.contains("equivocat") || reason.contains("fork") {
        "equivocation"
    } else {
        "other"
    }
}

/// Ban reason classes, in output order.
const BAN_REASONS: [&str; 4] = ["forged", "invalid", "equivocation", "other"];

/// Tiers, in ladder order.
const TIERS: [(ippoc_economy::integrity::Tier, &str); 5] = {
    use ippoc_economy::integrity::Tier;
    [
        (Tier::Shadow, "shadow"),
        (Tier::Research, "research"),
        (Tier::Standard, "standard"),
        (Tier::High, "high"),
        (Tier::Critical, "critical"),
    ]
};

/// Bands, best first.
const BANDS: [(ippoc_economy::integrity::Band, &str); 4] = {
    use ippoc_economy::integrity::Band;
    [
        (Band::MintEligible, "mint_eligible"),
        (Band::ReserveOnly, "reserve_only"),
        (Band::Repair, "repair"),
        (Band::Lockdown, "lockdown"),
    ]
};

const PPM: f64 = 1e6;
const HUNDREDTHS: f64 = 100.0;

impl Collector for NodeCollector {
    fn encode(&self, encoder: DescriptorEncoder) -> fmt::Result {
        let mut out = Out(encoder);
        // A store read that fails leaves its metrics out of this scrape (the
        // store's own error is logged where it is used); the rest is shown.
        let read = |r: Result<(), ReadError>| match r {
            Err(ReadError::Fmt) => Err(fmt::Error),
            Err(ReadError::Ledger(e)) => {
                tracing::debug!("metrics: a store read failed: {e}");
                Ok(())
            }
            Ok(()) => Ok(()),
        };
        read(self.ledger_metrics(&mut out))?;
        self.mesh_metrics(&mut out)?;
        self.governance_metrics(&mut out)?;
        read(self.issuance_metrics(&mut out))
    }
}

/// A store read failed, or the encoder did.
#[derive(Debug)]
enum ReadError {
    Ledger(ippoc_economy::store::LedgerError),
    Fmt,
}

impl From<ippoc_economy::store::LedgerError> for ReadError {
    fn from(e: ippoc_economy::store::LedgerError) -> Self {
        ReadError::Ledger(e)
    }
}

impl From<fmt::Error> for ReadError {
    fn from(_: fmt::Error) -> Self {
        ReadError::Fmt
    }
}

impl NodeCollector {
    fn ledger_metrics(&self, out: &mut Out<'_>) -> Result<(), ReadError> {
        let l = &self.ledger;
        let me = l.owner();
        // Read everything first: a failed read then emits nothing half-way.
        let head = l.head(&me)?.map(|(s, _)| s);
        let held = l.entries_held()?;
        let pending = l.pending_count()?;
        let forks = l.forks()?.len();
        let worker = l.mode()? == Mode::Worker;
        let mut balances: Vec<(Labels<2>, f64)> = Vec::new();
        for (account, cur, b) in l.balances()? {
            let keep = match account {
                AccountId::Wallet(n) | AccountId::Reserve(n) => n == me,
                AccountId::Escrow(e) => e.poster == me,
                AccountId::Mint | AccountId::MetabolismSink | AccountId::Treasury | AccountId::PublicGoodsPool => true,
            };
            if !keep {
                continue;
            }
            let labels = [("account", account_kind(&account)), ("currency", currency(cur))];
            let value = b.0 as f64 / UNIT as f64;
            match balances.iter_mut().find(|(l, _)| *l == labels) {
                Some((_, v)) => *v += value,
                None => balances.push((labels, value)),
            }
        }
        balances.sort_by(|a, b| a.0.cmp(&b.0));
        if let Some(seq) = head {
            out.gauge(
                "ippoc_ledger_head_seq",
                "Seq of the newest entry of this node's own chain",
                None,
                seq as f64,
            )?;
        }
        out.counter(
            "ippoc_ledger_own_entries",
            "Entries this node signed into its own chain (its head seq + 1)",
            None,
            head.map_or(0, |s| s + 1),
        )?;
        out.gauge(
            "ippoc_ledger_entries_held",
            "Entries held across every chain",
            None,
            held as f64,
        )?;
        out.gauge(
            "ippoc_ledger_pending_entries",
            "Entries waiting for predecessors or for a parameter table not yet seen",
            None,
            pending as f64,
        )?;
        out.gauge("ippoc_ledger_forks", "Forks held as evidence", None, forks as f64)?;
        out.gauge(
            "ippoc_ledger_worker_mode",
            "1 while the node is in Worker Mode (insolvent)",
            None,
            flag(worker),
        )?;
        out.gauges(
            "ippoc_ledger_balance",
            "Balances in whole currency units: this node's accounts by kind, and the swarm's (mint, metabolism sink, treasury, public goods pool)",
            &balances,
        )?;
        if let Ok((free, reserve)) = l.free_space() {
            out.gauge(
                "ippoc_storage_free",
                "Free bytes on the filesystem of the ledger",
                Some(Unit::Bytes),
                free as f64,
            )?;
            out.gauge(
                "ippoc_storage_reserve",
                "Free bytes the ledger leaves: writes below them are refused (0 = no check)",
                Some(Unit::Bytes),
                reserve as f64,
            )?;
        }
        Ok(())
    }

    fn mesh_metrics(&self, out: &mut Out<'_>) -> fmt::Result {
        let (peers, bans, heard, s, tally, gi, standings) = self.view.read(|v| {
            let mut bans = [0u64; BAN_REASONS.len()];
            for b in &v.banned {
                let class = ban_reason(&b.reason);
                bans[BAN_REASONS
                    .iter()
                    .position(|r| *r == class)
                    .unwrap_or(BAN_REASONS.len() - 1)] += 1;
            }
            let me = self.ledger.owner();
            let gi =
                v.gi.as_ref()
                    .map(|t| (t.cycle, t.rows.iter().find(|r| r.node == me).map(|r| r.gi), t.swarm_gi));
            let standing = v.standings.as_ref().and_then(|s| s.of(&me).cloned());
            (
                v.peers.len(),
                bans,
                v.heard.len(),
                v.stats,
                v.checkpoint_tally.as_ref().map(|t| (t.epoch, t.agree, t.disagree)),
                gi,
                standing,
            )
        });
        out.gauge("ippoc_mesh_peers", "Connected peers", None, peers as f64)?;
        let bans: Vec<(Labels<1>, f64)> = BAN_REASONS
            .iter()
            .zip(bans)
            .map(|(r, n)| ([("reason", *r)], n as f64))
            .collect();
        out.gauges("ippoc_mesh_bans", "Peers banned now, by reason", &bans)?;
        out.gauge(
            "ippoc_mesh_heard_nodes",
            "Nodes whose heartbeat this node has heard",
            None,
            heard as f64,
        )?;
        out.gauge(
            "ippoc_swarm_members",
            "Nodes in the swarm document's directory",
            None,
            s.doc_members as f64,
        )?;
        out.counter(
            "ippoc_ledger_entries_published",
            "Own entries published by gossip",
            None,
            s.entries_published,
        )?;
        out.counters(
            "ippoc_ledger_entries_received",
            "Peers' entries gossip delivered, by what the node did with them",
            None,
            &[
                ([("outcome", "ingested")], s.entries_ingested),
                ([("outcome", "bounced")], s.entries_bounced),
                ([("outcome", "refused")], s.entries_refused),
                ([("outcome", "throttled")], s.entries_throttled),
                ([("outcome", "reverified")], s.entries_reverified),
            ],
        )?;
        out.counter(
            "ippoc_ledger_pending_expired",
            "Waiting entries dropped after waiting too long",
            None,
            s.pending_expired,
        )?;
        out.counters(
            "ippoc_mesh_attestations",
            "Attestations (heartbeats, receipts, votes, warrants) by direction",
            None,
            &[
                ([("direction", "sent")], s.attestations_sent),
                ([("direction", "received")], s.attestations_received),
                ([("direction", "throttled")], s.attestations_throttled),
            ],
        )?;
        out.counters(
            "ippoc_mesh_warrants",
            "Warrants against equivocators, by direction",
            None,
            &[
                ([("direction", "sent")], s.warrants_sent),
                ([("direction", "received")], s.warrants_received),
            ],
        )?;
        out.counter(
            "ippoc_mesh_peers_throttled",
            "Times a peer went over its per-peer rate",
            None,
            s.peers_throttled,
        )?;
        out.counters(
            "ippoc_sync_rounds",
            "Anti-entropy rounds, by outcome",
            None,
            &[
                ([("outcome", "ok")], s.sync_rounds),
                ([("outcome", "failed")], s.sync_failed),
            ],
        )?;
        out.counter(
            "ippoc_sync_behind_rounds",
            "Rounds started because a heartbeat showed this node behind",
            None,
            s.sync_behind,
        )?;
        out.counter("ippoc_sync_entries", "Entries fetched by sync", None, s.sync_entries)?;
        out.counter(
            "ippoc_sync_received",
            "Bytes sync received",
            Some(Unit::Bytes),
            s.sync_bytes,
        )?;
        out.counter(
            "ippoc_sync_missing",
            "Of the bytes sync received, canonical bytes of entries this node was missing",
            Some(Unit::Bytes),
            s.sync_missing_bytes,
        )?;
        out.counter(
            "ippoc_sync_throttled_entries",
            "Entries sync rounds left for later, over their actor's rate",
            None,
            s.sync_throttled,
        )?;
        out.counters(
            "ippoc_bounties",
            "Bounties this node worked, and bounties of its own it paid",
            None,
            &[
                ([("role", "worked")], s.bounties_worked),
                ([("role", "paid")], s.bounties_paid),
            ],
        )?;
        if let Some((epoch, agree, disagree)) = tally {
            out.gauge(
                "ippoc_checkpoint_tally_epoch",
                "The newest epoch whose checkpoint votes were tallied",
                None,
                epoch as f64,
            )?;
            out.gauges(
                "ippoc_checkpoint_tally_votes",
                "Votes heard for the newest tallied epoch, by whether they agreed with this node's state root",
                &[
                    ([("agreement", "agree")], f64::from(agree)),
                    ([("agreement", "disagree")], f64::from(disagree)),
                ],
            )?;
        }
        if let Some((cycle, own, swarm)) = gi {
            out.gauge(
                "ippoc_gi_cycle",
                "The newest closed integrity cycle",
                None,
                cycle as f64,
            )?;
            if let Some(own) = own {
                out.gauge(
                    "ippoc_gi",
                    "This node's global integrity score in the newest closed cycle, 0 to 1",
                    None,
                    f64::from(own) / PPM,
                )?;
            }
            if let Some(swarm) = swarm {
                out.gauge(
                    "ippoc_gi_swarm",
                    "The swarm's GI (lower median) in the newest closed cycle, 0 to 1",
                    None,
                    f64::from(swarm) / PPM,
                )?;
            }
        }
        if let Some(s) = standings {
            let tier = s.tier.tier();
            let tiers: Vec<(Labels<1>, f64)> = TIERS.iter().map(|(t, n)| ([("tier", *n)], flag(*t == tier))).collect();
            out.gauges(
                "ippoc_integrity_tier",
                "1 for this node's tier on the ladder, 0 for the others",
                &tiers,
            )?;
            out.gauge(
                "ippoc_integrity_tier_floor",
                "The GI this node's tier requires, 0 to 1",
                None,
                f64::from(tier.floor()) / PPM,
            )?;
            out.gauge(
                "ippoc_integrity_suspended",
                "1 while this node is suspended or removed",
                None,
                flag(s.suspended_through.is_some() || s.removed.is_some()),
            )?;
        }
        Ok(())
    }

    fn governance_metrics(&self, out: &mut Out<'_>) -> fmt::Result {
        let g = self.gov.borrow().clone();
        let (version, _) = self.ledger.parameters();
        out.gauge(
            "ippoc_governance_following",
            "1 if the node follows a DAO",
            None,
            flag(g.connected),
        )?;
        out.gauge(
            "ippoc_governance_parameters_version",
            "Version of the parameter table in force (0 = genesis)",
            None,
            f64::from(version),
        )?;
        let now_ms = crate::ledger::now_ms();
        out.gauge(
            "ippoc_checkpoint_epoch",
            "The checkpoint epoch now",
            None,
            (now_ms / self.epoch_ms.max(1)) as f64,
        )?;
        if let Ok((voted, anchored)) = self.ledger.anchoring_progress() {
            if let Some(v) = voted {
                out.gauge(
                    "ippoc_checkpoint_voted_epoch",
                    "The newest epoch this node co-signed",
                    None,
                    v as f64,
                )?;
            }
            if let Some(a) = anchored {
                out.gauge(
                    "ippoc_checkpoint_anchored_epoch",
                    "The newest epoch this node saw anchored on the L2",
                    None,
                    a as f64,
                )?;
            }
        }
        if !g.connected {
            return Ok(());
        }
        out.gauge(
            "ippoc_governance_chain_block",
            "The L2 block the node has read up to",
            None,
            g.block as f64,
        )?;
        out.gauge(
            "ippoc_governance_last_read_timestamp",
            "When the node last read the L2 up to its head, Unix time (0 = never)",
            Some(Unit::Seconds),
            g.read_at_ms as f64 / 1000.0,
        )?;
        out.gauge(
            "ippoc_governance_error",
            "1 if the newest round talking to the L2 or fetching a skill failed",
            None,
            flag(g.last_error.is_some()),
        )?;
        out.gauges(
            "ippoc_governance_skills",
            "Skills by state: deployed by the DAO, held verified here, revoked",
            &[
                ([("state", "deployed")], g.deployed.len() as f64),
                ([("state", "held")], g.held.len() as f64),
                ([("state", "revoked")], g.revoked.len() as f64),
            ],
        )
    }

    fn issuance_metrics(&self, out: &mut Out<'_>) -> Result<(), ReadError> {
        let Some(record) = self.ledger.newest_issuance()? else {
            return Ok(());
        };
        let Some(cycle) = record.cycle else {
            return Ok(());
        };
        let band = record.band();
        let bands: Vec<(Labels<1>, f64)> = BANDS.iter().map(|(b, n)| ([("band", *n)], flag(*b == band))).collect();
        out.gauge(
            "ippoc_issuance_cycle",
            "The newest cycle with an issuance record",
            None,
            cycle as f64,
        )?;
        out.gauges(
            "ippoc_issuance_band",
            "1 for the swarm's issuance band after the newest cycle",
            &bands,
        )?;
        out.gauge(
            "ippoc_issuance_mint_open",
            "1 if a mint may cite the newest cycle (band, sustain, no tripwire)",
            None,
            flag(record.mint_open),
        )?;
        out.gauge(
            "ippoc_issuance_tripwires",
            "Tripwires the newest cycle set off",
            None,
            record.tripwires.len() as f64,
        )?;
        let r = record.reserve_of(&self.ledger.owner()).copied();
        out.gauge(
            "ippoc_issuance_reserve_accrued",
            "Reserve units this node accrued since the genesis (non-circulating)",
            None,
            r.map_or(0.0, |r| r.accrued as f64 / HUNDREDTHS),
        )?;
        out.gauge(
            "ippoc_issuance_reserve_unsealed",
            "Reserve units accrued and not yet sealed into a tranche",
            None,
            r.map_or(0.0, |r| r.unsealed() as f64 / HUNDREDTHS),
        )?;
        out.gauges(
            "ippoc_issuance_tranches",
            "This node's tranches: sealed, and of those minted",
            &[
                ([("state", "sealed")], r.map_or(0.0, |r| r.sealed as f64)),
                ([("state", "minted")], r.map_or(0.0, |r| r.minted as f64)),
            ],
        )?;
        Ok(())
    }
}
