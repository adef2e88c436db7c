//! Scenarios: TOML data naming phases, each a set of actions on the swarm.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// A scenario file (`sim/scenarios/*.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name, used for the run directory.
    pub name: String,
    /// What it shows, for the report.
    #[serde(default)]
    pub description: String,
    /// Nodes, unless `--nodes` says otherwise.
    #[serde(default = "default_nodes")]
    pub nodes: usize,
    /// The simulated network between the nodes.
    #[serde(default)]
    pub network: Network,
    /// The checkpoint epoch, which is also the integrity cycle, ms; by
    /// default the simulator's (20 sync rounds, at least a minute). Short
    /// epochs close integrity cycles within a run.
    #[serde(default)]
    pub epoch_ms: Option<u64>,
    /// Every node follows one DAO on an embedded EVM from the start: it is
    /// registered there, co-signs and anchors each epoch's checkpoint, and
    /// its ladder applies the DAO's promotions and appeals (`appeal`).
    #[serde(default)]
    pub dao: bool,
    /// Cycles under a tier's floor before it lapses (the ladder's
    /// `lapse_cycles`; the daemon's is a day of cycles).
    #[serde(default)]
    pub lapse_cycles: Option<u64>,
    /// The issuance criteria apply (docs/issuance.md): tranches sealed and
    /// minted with no replay, the mint frozen during a failure episode and
    /// open again after it, byzantine members earning nothing.
    #[serde(default)]
    pub economy: bool,
    /// Integrity work's pay, hundredths of a unit per agreeing vote (the
    /// swarm's default is 100): raised so a run of a few dozen cycles
    /// seals tranches.
    #[serde(default)]
    pub vote_pay: Option<u64>,
    /// Phases, in order.
    pub phases: Vec<Phase>,
}

/// The links between nodes: each link's one-way latency is drawn from
/// `latency_ms` (seeded by `--seed`, the same both ways), and every link
/// loses `loss` of its segments, each retransmitted after a timeout.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Network {
    /// Smallest and largest one-way latency of a link, ms.
    pub latency_ms: [u64; 2],
    /// Fraction (0..=0.5) of segments lost on every link.
    pub loss: f64,
}

fn default_nodes() -> usize {
    100
}

/// One phase: its actions happen in the order of the fields below, then the
/// simulator waits for the swarm to settle and measures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Phase {
    /// Name, shown in the progress bar and the report.
    pub name: String,
    /// Fraction of the nodes that start sending forged entries (class B, Byzantine).
    pub forgers: f64,
    /// Fraction of honest nodes drained of IPPC into Worker Mode; solvent
    /// nodes post bounties for them (class A, Bankruptcy).
    pub bankrupt: f64,
    /// Fraction of honest nodes stopped at the start of the phase and
    /// restarted from their data at its end (churn).
    pub crash_restart: f64,
    /// Keep the `crash_restart` nodes down while this many integrity cycles
    /// close (a failure episode), then restart them.
    pub down_cycles: u32,
    /// Fraction of the honest nodes that go idle for the rest of the run:
    /// they still vote, but send and receive no transfers.
    pub idle: f64,
    /// Issue the phase's `transfers` again at every one of its `cycles`
    /// (steady load), instead of once at its start.
    pub steady: bool,
    /// Inference calls each active honest node pays for (metabolism: 100
    /// tokens, 12 IPPC each) with the phase's transfers, every time they
    /// are issued.
    pub inference: u32,
    /// Split the swarm: this fraction of the nodes goes to a second group,
    /// and no link crosses between the groups (class E, Partition).
    pub partition: f64,
    /// Remove the partition.
    pub heal: bool,
    /// Copy node data onto new simulated hardware this many times and try to
    /// boot it (class C, Clone attack).
    pub clones: u32,
    /// Try to evolve the swarm with toxic skills: each must fail its sandbox
    /// simulation and never be deployed (class D, Bad evolution).
    pub toxic_skills: bool,
    /// Transfers between random live honest nodes.
    pub transfers: u32,
    /// Issue the phase's transfers at this mean rate, per second, with
    /// Poisson arrivals (exponential gaps drawn from the seed), instead of
    /// all at once; each one's delivery latency is measured beside the
    /// lower bound the topology allows it (0: a burst).
    pub rate: f64,
    /// Fraction of the nodes (members) that flood during the phase: each
    /// makes `spam_entries` valid entries of its own chain at once, which
    /// its node gossips as fast as the mesh takes them.
    pub spammers: f64,
    /// Peers outside the swarm that join during the phase and gossip
    /// validly signed entries of outside keys, each until banned by every
    /// node it reached (at most five times `spam_entries`).
    pub outsiders: u32,
    /// Entries each spammer and each outsider makes (default 200).
    #[serde(default = "default_spam_entries")]
    pub spam_entries: u32,
    /// Fraction of the honest nodes that equivocate: each signs a second,
    /// different entry at the position of its next one and gossips both.
    pub equivocators: f64,
    /// Fraction of the honest nodes stopped for good (silent from then on).
    pub silence: f64,
    /// Fraction of the honest nodes stopped until every live honest node's
    /// ladder shows them lapsed, then started again.
    pub lapse: f64,
    /// The DAO upholds an appeal for every node that lapsed in an earlier
    /// phase (proposal, human votes, voting period, timelock, execution on
    /// the embedded EVM); needs `dao = true`.
    pub appeal: bool,
    /// After settling, wait until every live honest node has built the GI
    /// tables of this many cycles after the one before the cycle in
    /// progress (each is built `GI_CLOSE_EPOCHS` epochs after it starts;
    /// docs/integrity.md).
    pub cycles: u32,
}

fn default_spam_entries() -> u32 {
    200
}

impl Scenario {
    /// Parses a scenario.
    pub fn from_toml(text: &str, origin: &str) -> Result<Scenario, String> {
        let s: Scenario = toml::from_str(text).map_err(|e| format!("{origin}: {}", e.to_string().trim()))?;
        s.check().map_err(|e| format!("{origin}: {e}"))?;
        Ok(s)
    }

    /// Loads `name_or_path`: a file, or the name of a built-in scenario.
    pub fn load(name_or_path: &str) -> Result<Scenario, String> {
        if let Some((_, text)) = BUILT_IN.iter().find(|(n, _)| *n == name_or_path) {
            return Scenario::from_toml(text, name_or_path);
        }
        let path = Path::new(name_or_path);
        let text = std::fs::read_to_string(path).map_err(|e| {
            let names: Vec<&str> = BUILT_IN.iter().map(|(n, _)| *n).collect();
            format!("{name_or_path}: {e} (built-in scenarios: {})", names.join(", "))
        })?;
        Scenario::from_toml(&text, name_or_path)
    }

    fn check(&self) -> Result<(), String> {
        if self.phases.is_empty() {
            return Err("a scenario needs at least one phase".into());
        }
        if self.nodes < 2 {
            return Err("a scenario needs at least 2 nodes".into());
        }
        let [lo, hi] = self.network.latency_ms;
        if lo > hi || hi > 10_000 {
            return Err(format!(
                "network.latency_ms must be [min, max] with min <= max <= 10000, not [{lo}, {hi}]"
            ));
        }
        if !(0.0..=0.5).contains(&self.network.loss) {
            return Err("network.loss must be in 0..=0.5".into());
        }
        if let Some(e) = self.epoch_ms
            && !(1_000..=3_600_000).contains(&e)
        {
            return Err(format!("epoch_ms must be in 1000..=3600000, not {e}"));
        }
        if let Some(v) = self.vote_pay
            && v > 1_000_000
        {
            return Err(format!("vote_pay must be at most 1000000 hundredths, not {v}"));
        }
        if let Some(l) = self.lapse_cycles
            && !(1..=1_000).contains(&l)
        {
            return Err(format!("lapse_cycles must be in 1..=1000, not {l}"));
        }
        for p in &self.phases {
            if p.appeal && !self.dao {
                return Err(format!("phase {:?}: appeal needs dao = true", p.name));
            }
            if p.cycles > 64 || p.down_cycles > 64 {
                return Err(format!("phase {:?}: cycles and down_cycles must be at most 64", p.name));
            }
            if !(0.0..=1_000.0).contains(&p.rate) {
                return Err(format!(
                    "phase {:?}: rate must be in 0..=1000 transfers a second",
                    p.name
                ));
            }
            if p.inference > 10 {
                return Err(format!("phase {:?}: inference must be at most 10", p.name));
            }
            if p.down_cycles > 0 && p.crash_restart == 0.0 {
                return Err(format!("phase {:?}: down_cycles needs crash_restart", p.name));
            }
            for (what, f) in [
                ("forgers", p.forgers),
                ("bankrupt", p.bankrupt),
                ("crash_restart", p.crash_restart),
                ("partition", p.partition),
                ("spammers", p.spammers),
                ("equivocators", p.equivocators),
                ("silence", p.silence),
                ("lapse", p.lapse),
                ("idle", p.idle),
            ] {
                if !(0.0..=0.5).contains(&f) {
                    return Err(format!("phase {:?}: {what} must be in 0..=0.5", p.name));
                }
            }
        }
        Ok(())
    }
}

/// The scenarios shipped in `sim/scenarios/`, by name.
pub const BUILT_IN: [(&str, &str); 13] = [
    ("baseline", include_str!("../scenarios/baseline.toml")),
    ("bankruptcy", include_str!("../scenarios/bankruptcy.toml")),
    ("byzantine", include_str!("../scenarios/byzantine.toml")),
    ("clone", include_str!("../scenarios/clone.toml")),
    ("bad-evolution", include_str!("../scenarios/bad-evolution.toml")),
    ("partition", include_str!("../scenarios/partition.toml")),
    ("churn", include_str!("../scenarios/churn.toml")),
    ("wan", include_str!("../scenarios/wan.toml")),
    ("spam", include_str!("../scenarios/spam.toml")),
    ("integrity", include_str!("../scenarios/integrity.toml")),
    ("appeal", include_str!("../scenarios/appeal.toml")),
    ("economy", include_str!("../scenarios/economy.toml")),
    ("all", include_str!("../scenarios/all.toml")),
];
