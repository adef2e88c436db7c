//! The simulation run: real nodes ([`LocalNode`], the daemon's own ledger,
//! validator, sync and mesh pump) in one process on the memory transport, the
//! scenario's actions applied phase by phase, and every number read back from
//! the nodes' own state.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use ippoc_economy::entry::{ENTRY_VERSION, EntryBody, Outcome};
use ippoc_economy::genesis::Genesis;
use ippoc_economy::standing::StepKind;
use ippoc_economy::store::Mode;
use ippoc_economy::{AccountId, Action, Amount, Currency, NodeId, SignedEntry, TxId};
use ippoc_mesh::multiaddr::Protocol;
use ippoc_mesh::{Link, Links, Multiaddr, PeerId, Topic};
use ippoc_sandbox::{ModuleCache, Sandbox, SandboxConfig};
use ippoc_swarm::bounty::Task;
use ippoc_swarm::local::{LocalConfig, LocalNode, until_paced};
use ippoc_swarm::pump::Cadence;
use ippoc_swarm::skills::SkillPackage;
use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha256};

use crate::report::{Diverged, PhaseReport, Sample};
use crate::scenario::{Network, Phase};

const IPPC: u64 = 1_000_000;
/// How often the state is sampled while a phase settles (the plots' resolution).
const SAMPLE_EVERY: Duration = Duration::from_secs(1);
/// Every node's genesis stipend.
pub const STIPEND_IPPC: u64 = 1000;
/// What a bankrupt node pays away (leaving it below the Worker Mode threshold).
const DRAIN_IPPC: u64 = 950;
/// A bounty's reward: enough to lift a drained node back above the solvency threshold.
const BOUNTY_REWARD_IPPC: u64 = 500;
const ECHO: &str = include_str!("../../examples/skills/echo.wat");
const TOXIC: [(&str, &str); 3] = [
    ("loop", include_str!("../../examples/skills/toxic/loop.wat")),
    ("memory", include_str!("../../examples/skills/toxic/memory.wat")),
    ("recursion", include_str!("../../examples/skills/toxic/recursion.wat")),
];

/// The default settle budget, in sync rounds of the median node. Measured
/// need on the idle 2-core machine at 100 nodes (docs/benchmarks.md): 0–4
/// rounds for every phase but a heal, 14–17 for a 50/50 heal; the budget
/// leaves more than twice that, so only a swarm that stops converging
/// spends it.
pub const SETTLE_ROUNDS_DEFAULT: u64 = 40;

/// The paced load's delivery check: the resolution of its latencies.
pub const PACED_RESOLUTION: Duration = Duration::from_millis(5);
/// How long a paced phase watches its transfers after the last is issued;
/// what is still undelivered then is counted late and left to the settle.
pub const PACED_WAIT_AFTER: Duration = Duration::from_secs(10);
/// The quiet window before a paced phase in which the swarm's own CPU load is measured.
pub const PACED_BACKGROUND_WINDOW: Duration = Duration::from_secs(3);
/// Verifications timed for the per-hop processing of the lower bound.
const VERIFY_SAMPLES: usize = 200;

/// Adjacency lists of positions, each edge `(to, weight ms)`.
type Graph = Vec<Vec<(usize, f64)>>;

/// The shortest time, ms, from `from` to the farthest of `to` over
/// `graph` (Dijkstra; an unreachable node counts as 0: it bounds nothing).
fn farthest_ms(graph: &Graph, index: &HashMap<usize, usize>, from: usize, to: &[usize]) -> f64 {
    let Some(&start) = index.get(&from) else { return 0.0 };
    let mut dist = vec![f64::INFINITY; graph.len()];
    let mut done = vec![false; graph.len()];
    dist[start] = 0.0;
    // O(V²) without a heap: a few hundred nodes at most per transfer.
    for _ in 0..graph.len() {
        let Some(u) = (0..graph.len())
            .filter(|k| !done[*k] && dist[*k].is_finite())
            .min_by(|a, b| dist[*a].total_cmp(&dist[*b]))
        else {
            break;
        };
        done[u] = true;
        for &(v, w) in &graph[u] {
            if dist[u] + w < dist[v] {
                dist[v] = dist[u] + w;
            }
        }
    }
    to.iter()
        .filter_map(|i| index.get(i))
        .map(|k| dist[*k])
        .filter(|d| d.is_finite())
        .fold(0.0, f64::max)
}

/// A paced phase's delivery, beside what the topology allows.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PacedLoad {
    /// Mean transfers a second (Poisson arrivals).
    pub rate: f64,
    /// Transfers issued.
    pub transfers: u32,
    /// Delivered to every live honest node of their side while watched.
    pub delivered: u32,
    /// Not delivered within `PACED_WAIT_AFTER` of the last issue.
    pub late: u32,
    /// Delivery latency p50 and p99, ms (at `resolution_ms`).
    pub latency_p50_ms: f64,
    /// See `latency_p50_ms`.
    pub latency_p99_ms: f64,
    /// The transfers' lower bounds, p50 and p99, ms.
    pub bound_p50_ms: f64,
    /// See `bound_p50_ms`.
    pub bound_p99_ms: f64,
    /// Each transfer's latency over its own bound: p50 and p99.
    pub ratio_p50: f64,
    /// See `ratio_p50`.
    pub ratio_p99: f64,
    /// Per-hop processing in the bound: one entry's verification here, ms.
    pub hop_ms: f64,
    /// How often deliveries were checked, ms.
    pub resolution_ms: u64,
    /// Cores the swarm kept busy on its own (heartbeats, receipts, sync)
    /// in the quiet window before the first transfer.
    pub background_cores: f64,
    /// CPU the transfers cost beyond that background, ms per transfer.
    pub cpu_ms_per_transfer: f64,
    /// The rate the cores left over carry at that cost, transfers a second:
    /// the CPU bound on the paced rate.
    pub rate_max: f64,
    /// Wall time of the paced phase, s.
    pub wall_s: f64,
}

/// How a phase's settle ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Settle {
    /// The swarm converged.
    Converged,
    /// The round budget was spent first: the protocol did not converge.
    BudgetSpent,
    /// The wall-clock cap came first: no verdict on the protocol.
    CutOff,
}

/// Sync rounds node `n` has finished since it started.
fn sync_rounds(n: &LocalNode) -> u64 {
    n.view.read(|v| v.stats.sync_rounds)
}

/// The median over `nodes` of the sync rounds each finished since `at` (its count then).
fn median_rounds(nodes: &[&LocalNode], at: &[u64]) -> u64 {
    let mut done: Vec<u64> = nodes
        .iter()
        .zip(at)
        .map(|(n, r)| sync_rounds(n).saturating_sub(*r))
        .collect();
    if done.is_empty() {
        return 0;
    }
    done.sort_unstable();
    done[done.len() / 2]
}

/// How to run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Options {
    /// Nodes.
    pub nodes: usize,
    /// Seed of every random choice (keys, topology, who fails, transfers).
    pub seed: u64,
    /// The settle budget, in anti-entropy rounds: a phase that has not
    /// converged when the median live honest node has finished this many
    /// sync rounds since the phase's actions ended did not settle. Counted
    /// in the protocol's own steps, so a slower or busier host stretches
    /// the wall time it takes, not the verdict.
    pub settle_rounds: u64,
    /// The wall-clock cap on one phase's settle: the cost bound of the run,
    /// not a verdict. A phase cut off by it before its round budget was
    /// spent is reported inconclusive (the host could not give the protocol
    /// its rounds), never as a failure of the protocol.
    pub settle_timeout_ms: u64,
    /// The checkpoint epoch (the integrity cycle), ms, when the scenario
    /// sets one; otherwise [`sim_cadence`]'s.
    pub epoch_ms: Option<u64>,
    /// Every node follows a live DAO on an embedded EVM (the scenario's `dao`).
    #[serde(default)]
    pub dao: bool,
    /// The ladder's `lapse_cycles`, when the scenario sets it.
    #[serde(default)]
    pub lapse_cycles: Option<u64>,
    /// Issuance's pay per agreeing vote, hundredths, when the scenario sets it.
    #[serde(default)]
    pub vote_pay: Option<u64>,
    /// The issuance criteria apply (the scenario's `economy`).
    #[serde(default)]
    pub economy: bool,
    /// Every node keeps its Prometheus metrics, written to `metrics.prom`.
    #[serde(default)]
    pub metrics: bool,
}

/// The simulated WAN: where each node listens, and every pair's link.
#[derive(Debug)]
struct Wan {
    network: Network,
    seed: u64,
    /// Memory port → node index (a restarted node listens on a new port).
    at: RwLock<HashMap<u64, usize>>,
}

impl Wan {
    /// The link between nodes `a` and `b`, the same both ways and in every run with this seed.
    fn link(&self, a: usize, b: usize) -> Link {
        let mut h = Sha256::new();
        h.update(b"ippoc-sim-link\0");
        h.update(self.seed.to_be_bytes());
        h.update((a.min(b) as u64).to_be_bytes());
        h.update((a.max(b) as u64).to_be_bytes());
        let r = u64::from_be_bytes(h.finalize()[..8].try_into().expect("8 bytes"));
        let [lo, hi] = self.network.latency_ms;
        Link {
            latency: Duration::from_millis(lo + r % (hi - lo + 1)),
            loss: self.network.loss,
            seed: r,
        }
    }
}

fn memory_port(addr: &Multiaddr) -> Option<u64> {
    addr.iter().find_map(|p| match p {
        Protocol::Memory(port) => Some(port),
        _ => None,
    })
}

/// Makes every dial at once (a dial only starts one; its outcome is the
/// mesh's), so a partition's cut or heal reaches every node together.
async fn dial_all(dials: Vec<(ippoc_mesh::MeshClient, Multiaddr)>) {
    futures::future::join_all(dials.into_iter().map(|(client, addr)| async move {
        let _ = client.dial(addr).await;
    }))
    .await;
}

/// Node `me`'s view of the WAN, as its mesh asks for it on every dial.
#[derive(Debug)]
struct NodeLinks {
    wan: Arc<Wan>,
    me: usize,
}

impl Links for NodeLinks {
    fn link(&self, dialed: &Multiaddr) -> Link {
        let at = self.wan.at.read().expect("not poisoned");
        match memory_port(dialed).and_then(|port| at.get(&port)) {
            Some(other) => self.wan.link(self.me, *other),
            None => Link::PERFECT,
        }
    }
}

/// A transfer not yet held everywhere: (tx, issued at, group).
type OpenTransfer = (TxId, Instant, u8);

struct SimNode {
    key: SigningKey,
    id: NodeId,
    peer: PeerId,
    dir: PathBuf,
    live: Option<LocalNode>,
    forger: bool,
    /// Times stopped and started again by a crash-restart phase.
    restarts: u32,
    /// Where it listened when it last ran: a restart listens there again, as
    /// a daemon comes back on its configured port, so the peers that dialed
    /// it find it by redialling (on a fresh address, a node whose every peer
    /// restarted was left with none: `wan` seed 6 at 100 nodes).
    addr: Option<Multiaddr>,
    /// Signed two entries at one position of its chain.
    equivocator: bool,
    /// Stopped for good by a silence phase.
    silenced: bool,
    /// The cycle it turned faulty in (spam, equivocation, silence).
    faulty_since: Option<u64>,
    /// Floods valid entries of its own chain and outsiders' entries (a spam phase).
    spammer: bool,
    bankrupt: bool,
    group: u8,
    /// Stopped by a lapse phase until the ladder lapsed it (then started again).
    lapsed: bool,
    /// The DAO upheld its appeal.
    appealed: bool,
    /// Idle from an `idle` phase on: votes, sends and receives no transfers.
    idle: bool,
    /// Stopped by a failure episode (`down_cycles`) at some point.
    failed: bool,
}

impl SimNode {
    /// Neither a forger, a spammer nor an equivocator.
    fn honest(&self) -> bool {
        !self.forger && !self.spammer && !self.equivocator
    }

    /// Faulty as the integrity score sees it: misbehaving, or silent.
    fn faulty(&self) -> bool {
        !self.honest() || self.silenced
    }
}

/// The per-actor entry rate of the simulated nodes: a fifth of a daemon's
/// (20 a second, bursts of 50), as the simulator runs every node on one
/// machine; still above what an honest simulated node makes in a phase (at
/// 10 nodes, 200 transfers are about 22 per node). What one spammer's chain
/// may put into each ledger is what [`SimSpam`] checks against.
pub const SIM_ACTOR_ENTRIES: ippoc_mesh::Rate = ippoc_mesh::Rate::new(20, 50);

/// The outsiders' task of a spam phase: (member entries made, outsider
/// entries gossiped, the outside peers that got enough out to be banned).
type SpamTask = tokio::task::JoinHandle<Result<(u64, u64, Vec<PeerId>), String>>;

/// What a spam phase did, and what it was allowed to do.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SimSpam {
    /// Spammers (members of the swarm).
    pub spammers: usize,
    /// Valid entries of their own chains they made.
    pub member_entries: u64,
    /// Entries of outside keys they gossiped.
    pub outsider_entries: u64,
    /// Most spam entries any honest node held at the end of the phase.
    pub held_max: u64,
    /// What the rate limits allow a node to take of the spammers' chains in
    /// the phase: (burst + rate × phase seconds) × spammers.
    pub allowed: u64,
    /// Entries honest nodes dropped over their actor's rate (all nodes).
    pub throttled: u64,
    /// Spammers banned by at least one honest node.
    pub banned: usize,
    /// The outside peers that got at least enough entries out to be banned
    /// for them (16).
    pub outsider_peers: Vec<String>,
    /// Outside peers banned by every honest node they reached (at least one).
    pub outsiders_banned: usize,
    /// Outsider entries stored by any honest node.
    pub outsiders_stored: u64,
}

/// A running simulation.
pub struct Sim {
    options: Options,
    genesis: Genesis,
    sandbox: Arc<Sandbox>,
    rng: StdRng,
    dir: tempfile::TempDir,
    nodes: Vec<SimNode>,
    /// The links between nodes; `None` on a perfect network.
    wan: Option<Arc<Wan>>,
    partitioned: bool,
    started: Instant,
    /// Whether a phase waited for integrity cycles (the GI criteria apply).
    scored: bool,
    /// Nodes stopped during phases (crashes, silences), and those whose
    /// stop returned while something still held their ledger.
    stops: (u32, u32),
    /// The cut of the last settle: the end of its phase's actions (ms since
    /// the Unix epoch); states are compared over the chains cut there.
    cut_ms: u64,
    /// Transfers not yet seen everywhere.
    open: Vec<OpenTransfer>,
    /// Delivery latencies (issue → held by every live honest node of the group).
    pub latencies_ms: Vec<f64>,
    /// State over time.
    pub samples: Vec<Sample>,
    /// Clone attempts and how many were refused.
    pub clones: (u32, u32),
    /// What the DAO did with the evolution proposals (class D only).
    pub evolution: Option<crate::dao::EvolutionOutcome>,
    /// Nodes drained into Worker Mode, over the run.
    pub bankrupt_total: usize,
    /// Transfers issued.
    pub transfers: u64,
    /// Forged entries sent.
    pub forged_sent: u64,
    /// The spam phases, merged.
    pub spam: Option<SimSpam>,
    /// The DAO every node follows (a scenario with `dao = true`).
    live_dao: Option<Arc<crate::dao::LiveDao>>,
    /// The lapses and appeals of the run.
    appeals: SimAppeals,
    /// The paced phases' deliveries, in order.
    pub paced: Vec<PacedLoad>,
    /// The wall-clock cap cut off the wait for one state before the final
    /// anchoring (the run is then inconclusive).
    pub anchor_cut_off: bool,
    /// Each phase's name, the cycles it spanned (from the one in progress
    /// at its start to the one in progress at its end), and whether it was
    /// a failure episode (`down_cycles`).
    phase_cycles: Vec<(String, u64, u64, bool)>,
}

fn key_of(seed: u64, i: usize) -> SigningKey {
    let mut h = Sha256::new();
    h.update(b"ippoc-sim-key\0");
    h.update(seed.to_be_bytes());
    h.update((i as u64).to_be_bytes());
    SigningKey::from_bytes(&h.finalize().into())
}

fn id_of(key: &SigningKey) -> NodeId {
    NodeId::from_bytes(key.verifying_key().to_bytes())
}

impl Sim {
    /// Creates the swarm's genesis and starts every node.
    pub async fn start(options: Options, network: &Network) -> Result<Sim, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let keys: Vec<SigningKey> = (0..options.nodes).map(|i| key_of(options.seed, i)).collect();
        let founders: Vec<NodeId> = keys.iter().map(id_of).collect();
        // Made now, as a real swarm's is: the integrity ladder starts at the
        // genesis cycle, and every cycle before the nodes run would score its
        // founders silent (and take 32 cycles a tick to catch up).
        let genesis = Genesis::new(
            "ippoc-sim",
            ippoc_swarm::ledger::now_ms(),
            &founders,
            Amount::from_base(STIPEND_IPPC * IPPC),
            Amount::from_base(1_000_000 * IPPC),
        );
        // One sandbox serves every node: an engine per node would reserve far
        // more address space than 1000 nodes may have.
        let config = SandboxConfig {
            concurrent_runs_max: 8,
            memory_bytes_max: 16 << 20,
            ..SandboxConfig::default()
        };
        let sandbox = Sandbox::new(config, ModuleCache::new(None, [0x5a; 32])).map_err(|e| e.to_string())?;
        let wan = (*network != Network::default()).then(|| {
            Arc::new(Wan {
                network: network.clone(),
                seed: options.seed,
                at: RwLock::default(),
            })
        });
        let mut sim = Sim {
            rng: StdRng::seed_from_u64(options.seed),
            options,
            genesis,
            sandbox: Arc::new(sandbox),
            dir,
            nodes: Vec::new(),
            wan,
            partitioned: false,
            started: Instant::now(),
            cut_ms: 0,
            scored: false,
            stops: (0, 0),
            open: Vec::new(),
            latencies_ms: Vec::new(),
            samples: Vec::new(),
            clones: (0, 0),
            evolution: None,
            bankrupt_total: 0,
            transfers: 0,
            forged_sent: 0,
            spam: None,
            live_dao: None,
            appeals: SimAppeals::default(),
            paced: Vec::new(),
            anchor_cut_off: false,
            phase_cycles: Vec::new(),
        };
        if sim.options.dao {
            let seed = sim.options.seed;
            let dao = crate::dao::LiveDao::deploy(seed, &founders).await?;
            sim.live_dao = Some(Arc::new(dao));
        }
        // Nodes already booted are stopped before their directories go
        // when the swarm fails to form.
        if let Err(e) = sim.boot_all(keys).await {
            sim.stop().await;
            return Err(e);
        }
        Ok(sim)
    }

    /// Boots a node per key and waits until every live honest node has
    /// heard every other.
    async fn boot_all(&mut self, keys: Vec<SigningKey>) -> Result<(), String> {
        for (i, key) in keys.into_iter().enumerate() {
            let id = id_of(&key);
            let peer = ippoc_mesh::peer_id_of_ed25519(id.as_bytes()).expect("a valid key");
            let dir = self.dir.path().join(format!("node-{i:04}"));
            self.nodes.push(SimNode {
                key,
                id,
                peer,
                dir,
                live: None,
                forger: false,
                restarts: 0,
                addr: None,
                equivocator: false,
                silenced: false,
                faulty_since: None,
                spammer: false,
                bankrupt: false,
                group: 0,
                lapsed: false,
                appealed: false,
                idle: false,
                failed: false,
            });
            self.boot(i).await?;
        }
        let timeout = self.timeout();
        let n = self.nodes.len();
        let live = self.live_honest();
        let gap = self.gap();
        if !until_paced(&live, timeout, gap, || {
            live.iter().all(|l| l.view.read(|v| v.heard.len()) + 1 >= n)
        })
        .await
        {
            let heard: Vec<usize> = live.iter().map(|l| l.view.get().heard.len()).collect();
            let peers: Vec<usize> = live.iter().map(|l| l.view.get().peers.len()).collect();
            return Err(format!(
                "the swarm did not form: not every node heard every other (heard min {:?}, peers min {:?} max {:?})",
                heard.iter().min(),
                peers.iter().min(),
                peers.iter().max()
            ));
        }
        Ok(())
    }

    /// How often the observer looks at the swarm: bounded, so observing 1000
    /// nodes costs them little CPU. It is also the latency measurement's resolution.
    fn gap(&self) -> Duration {
        Duration::from_millis((self.options.nodes as u64).clamp(10, 200))
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(self.options.settle_timeout_ms)
    }

    /// Starts node `i` from its data dir, bootstrapping to a few live nodes of its group.
    async fn boot(&mut self, i: usize) -> Result<(), String> {
        let group = self.nodes[i].group;
        let candidates: Vec<Multiaddr> = self
            .nodes
            .iter()
            .filter(|n| n.group == group)
            .filter_map(|n| n.live.as_ref().map(|l| l.addr.clone()))
            .collect();
        let bootstrap: Vec<Multiaddr> = candidates.choose_multiple(&mut self.rng, 3).cloned().collect();
        let n = &self.nodes[i];
        let mut config = LocalConfig::new(&n.dir, self.genesis.clone(), n.key.clone(), bootstrap);
        if let Some(addr) = &n.addr {
            config.mesh.listen = vec![addr.clone()];
        }
        config.mesh.heartbeat_ms = 300;
        // One machine runs every node, so each is slow by the swarm's size:
        // a forward still queued after a minute is still worth sending.
        config.mesh.send_queue_ms = 60_000;
        if let (Some(wan), Some(port)) = (&self.wan, config.mesh.listen.first().and_then(memory_port)) {
            wan.at.write().expect("not poisoned").insert(port, i);
            config.mesh.links = Some(Arc::new(NodeLinks {
                wan: wan.clone(),
                me: i,
            }));
        }
        // A sparse random graph (each node dials three others): Kademlia's
        // queries would connect most of the simulated swarm to itself, and
        // every connection costs a sync round and a document sync.
        config.mesh.kademlia = false;
        config.cadence = self.cadence();
        config.cadence.limits.entries = SIM_ACTOR_ENTRIES;
        config.sandbox = Some(self.sandbox.clone());
        config.metrics = self.options.metrics;
        // All nodes share one disk and crash inside one process: flushing each
        // acknowledgement would measure the disk, not the swarm.
        config.durable = false;
        config.ledger_cache_bytes = 4 << 20;
        if let Some(d) = &self.live_dao {
            config.eth_key = Some(d.eth[i].clone());
            config.governance = Some(ippoc_swarm::governance::GovLink {
                dao: Arc::new(d.dao()),
                poll: Duration::from_millis(500),
            });
        }
        let node = LocalNode::start(config).await.map_err(|e| e.to_string())?;
        if self.partitioned {
            // A node restarted during a partition stays on its side.
            let other: Vec<PeerId> = self.nodes.iter().filter(|m| m.group != group).map(|m| m.peer).collect();
            node.client().partition(other, true).await.map_err(|e| e.to_string())?;
        }
        self.nodes[i].addr = Some(node.addr.clone());
        self.nodes[i].live = Some(node);
        Ok(())
    }

    /// The live honest nodes off the most common state root of their side,
    /// with the chains in which they differ from a node on it.
    fn diverged(&self) -> Vec<Diverged> {
        let mut out = Vec::new();
        for g in [0u8, 1] {
            let side: Vec<(usize, &LocalNode)> = self
                .nodes
                .iter()
                .enumerate()
                .filter(|(_, n)| n.honest() && n.group == g)
                .filter_map(|(i, n)| Some((i, n.live.as_ref()?)))
                .collect();
            let mut by_root: BTreeMap<[u8; 32], Vec<(usize, &LocalNode)>> = BTreeMap::new();
            for (i, n) in &side {
                if let Ok(root) = n.state_root() {
                    by_root.entry(root).or_default().push((*i, n));
                }
            }
            let Some((common, reference)) = by_root.iter().max_by_key(|(_, v)| v.len()).map(|(r, v)| (*r, v[0].1))
            else {
                continue;
            };
            let reference = head_seqs(reference);
            for (root, members) in &by_root {
                if *root == common {
                    continue;
                }
                for (i, n) in members {
                    if out.len() >= crate::report::DIVERGED_SHOWN {
                        return out;
                    }
                    let here = head_seqs(n);
                    let actors: BTreeSet<&NodeId> = reference.keys().chain(here.keys()).collect();
                    let differing: Vec<(String, Option<u64>, Option<u64>)> = actors
                        .into_iter()
                        .map(|a| (a, reference.get(a).copied(), here.get(a).copied()))
                        .filter(|(_, c, h)| c != h)
                        .map(|(a, c, h)| (self.name_of(a), c, h))
                        .collect();
                    out.push(Diverged {
                        node: self.name_of(&self.nodes[*i].id),
                        root: hex::encode(&root[..8]),
                        pending: n.ledger.pending_count().unwrap_or(0),
                        peers: n.view.read(|v| v.peers.iter().map(|p| self.name_of_peer(p)).collect()),
                        sync: n
                            .view
                            .read(|v| (v.stats.sync_rounds, v.stats.sync_failed, v.sync_last_error.clone())),
                        awaited: n
                            .ledger
                            .awaited(crate::report::DIFFS_SHOWN)
                            .unwrap_or_default()
                            .into_iter()
                            .map(|a| crate::report::AwaitedEntry {
                                chain: self.name_of(&a.actor),
                                seq: a.seq,
                                waiting: a.waiting,
                                head: a.head,
                                holds_another: a.held.is_some(),
                            })
                            .collect(),
                        sync_recent: n.view.read(|v| {
                            v.sync_recent
                                .iter()
                                .map(|a| ippoc_swarm::view::SyncAttempt {
                                    peer: self.name_of_peer(&a.peer),
                                    ..a.clone()
                                })
                                .collect()
                        }),
                        chains_differing: differing.len(),
                        chains: differing.into_iter().take(crate::report::DIFFS_SHOWN).collect(),
                    });
                }
            }
        }
        out
    }

    /// The simulator's name of the node with libp2p PeerId `peer` (as text),
    /// or `peer` itself for a peer outside the simulated swarm.
    fn name_of_peer(&self, peer: &str) -> String {
        match self.nodes.iter().find(|n| n.peer.to_string() == peer) {
            Some(n) => self.name_of(&n.id),
            None => peer.to_string(),
        }
    }

    /// The simulator's name of a node (`node-0006`, with its role when not
    /// honest), or its NodeID when it is not one of the simulated nodes.
    fn name_of(&self, id: &NodeId) -> String {
        match self.nodes.iter().position(|n| n.id == *id) {
            Some(i) => {
                let n = &self.nodes[i];
                let role = if n.forger {
                    " (forger)"
                } else if n.spammer {
                    " (spammer)"
                } else if n.bankrupt {
                    " (bankrupt)"
                } else if n.restarts > 0 {
                    " (restarted)"
                } else {
                    ""
                };
                format!("node-{i:04}{role}")
            }
            None => id.to_string(),
        }
    }

    /// The nodes' periods: the simulator's for this many nodes, with the
    /// scenario's epoch if it sets one.
    pub fn cadence(&self) -> Cadence {
        let mut c = sim_cadence(self.options.nodes);
        if let Some(e) = self.options.epoch_ms {
            c.epoch_ms = e;
        }
        if let Some(l) = self.options.lapse_cycles {
            c.ladder.lapse_cycles = l;
        }
        if let Some(v) = self.options.vote_pay {
            c.ladder.issuance.vote_pay = v;
        }
        c
    }

    fn live_honest(&self) -> Vec<&LocalNode> {
        self.nodes
            .iter()
            .filter(|n| n.honest())
            .filter_map(|n| n.live.as_ref())
            .collect()
    }

    fn pick(&mut self, fraction: f64, eligible: impl Fn(&SimNode) -> bool) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..self.nodes.len()).filter(|i| eligible(&self.nodes[*i])).collect();
        idx.shuffle(&mut self.rng);
        let k = ((self.nodes.len() as f64) * fraction).round() as usize;
        idx.truncate(k);
        idx.sort();
        idx
    }

    /// Stops node `i` if it runs (false if it did not), counting a stop that
    /// returned while its ledger was still held: a restart would then meet
    /// its previous instance.
    async fn take_down(&mut self, i: usize) -> bool {
        let Some(node) = self.nodes[i].live.take() else {
            return false;
        };
        self.stops.0 += 1;
        if !node.stop().await {
            self.stops.1 += 1;
        }
        true
    }

    /// Runs one phase: its actions, then waits for the swarm to settle.
    pub async fn phase(&mut self, phase: &Phase) -> Result<PhaseReport, String> {
        let begun = Instant::now();
        let first_cycle = self.cycle_now();
        for i in self.pick(phase.idle, |n| n.honest() && !n.idle && n.live.is_some()) {
            self.nodes[i].idle = true;
        }
        let crashed = self.pick(phase.crash_restart, |n| n.honest() && n.live.is_some());
        for &i in &crashed {
            if self.take_down(i).await {
                self.nodes[i].restarts += 1;
                self.nodes[i].failed |= phase.down_cycles > 0;
            }
        }
        for i in self.pick(phase.silence, |n| n.honest() && n.live.is_some()) {
            if self.take_down(i).await {
                self.nodes[i].silenced = true;
                self.nodes[i].faulty_since = Some(self.cycle_now());
            }
        }
        let lapsing = self.pick(phase.lapse, |n| n.honest() && !n.lapsed && n.live.is_some());
        for &i in &lapsing {
            if self.take_down(i).await {
                self.nodes[i].lapsed = true;
            }
        }
        if phase.appeal {
            self.appeal().await?;
        }
        for i in self.pick(phase.equivocators, |n| n.honest() && !n.bankrupt && n.live.is_some()) {
            self.nodes[i].faulty_since = Some(self.cycle_now());
            self.equivocate(i).await?;
        }
        if phase.partition > 0.0 {
            self.split(phase.partition).await?;
        }
        if phase.heal {
            self.heal().await?;
        }
        if phase.forgers > 0.0 {
            for i in self.pick(phase.forgers, |n| n.honest() && !n.bankrupt && n.live.is_some()) {
                self.nodes[i].forger = true;
            }
        }
        self.forge().await;
        let bankrupt = if phase.bankrupt > 0.0 {
            self.bankrupt(phase.bankrupt)?
        } else {
            Vec::new()
        };
        for i in 0..phase.clones {
            self.clones.0 += 1;
            let dir = self.dir.path().join(format!("clone-{}", self.clones.0));
            let refused = tokio::task::spawn_blocking(move || crate::attacks::clone_attempt(&dir, i))
                .await
                .map_err(|e| e.to_string())??;
            self.clones.1 += u32::from(refused);
        }
        if phase.toxic_skills {
            self.evolve().await?;
        }
        let spam = if phase.spammers > 0.0 || phase.outsiders > 0 {
            let spammers = self.pick(phase.spammers, |n| n.honest() && !n.bankrupt && n.live.is_some());
            for &i in &spammers {
                self.nodes[i].spammer = true;
                self.nodes[i].faulty_since = Some(self.cycle_now());
            }
            // Their chains before the flood: what honest nodes hold beyond it is spam.
            let before: u64 = spammers
                .iter()
                .filter_map(|i| {
                    let n = &self.nodes[*i];
                    n.live.as_ref().and_then(|l| l.ledger.head(&n.id).ok().flatten())
                })
                .map(|(seq, _)| seq + 1)
                .sum();
            Some((
                before,
                spammers.clone(),
                self.spam(&spammers, phase.outsiders, phase.spam_entries)?,
            ))
        } else {
            None
        };
        let latencies_before = self.latencies_ms.len();
        if phase.rate > 0.0 {
            self.paced(phase.transfers, phase.rate).await?;
        } else {
            self.transfer(phase.transfers)?;
        }
        self.work(phase.inference)?;
        if phase.down_cycles > 0 {
            // A failure episode: the rest of the swarm runs on without them
            // while that many cycles close.
            self.await_cycles(phase.down_cycles).await?;
            self.scored = true;
        }
        for &i in &crashed {
            self.boot(i).await?;
        }
        if !lapsing.is_empty() {
            self.await_lapse(&lapsing).await;
            for &i in &lapsing {
                self.boot(i).await?;
            }
        }
        // The outside peers gossip while the swarm settles: the observer
        // must watch deliveries from the start, not after their flood.
        let settle_begun = Instant::now();
        let (settle, settle_rounds) = self.settle(&bankrupt).await;
        let converge_ms = settle_begun.elapsed().as_millis() as u64;
        let settled = settle == Settle::Converged;
        let spam_sent = match spam {
            Some((before, spammers, task)) => {
                Some((before, spammers, task.await.map_err(|e| format!("spam task: {e}"))??))
            }
            None => None,
        };
        let phase_latencies = &self.latencies_ms[latencies_before..];
        let latency_p99_ms = crate::report::percentile(phase_latencies, 0.99);
        if let Some((before, spammers, (member_entries, outsider_entries, outsider_peers))) = spam_sent {
            let rate = SIM_ACTOR_ENTRIES;
            let seconds = begun.elapsed().as_secs();
            let allowed = (u64::from(rate.burst) + u64::from(rate.per_second) * (seconds + 1)) * spammers.len() as u64;
            let observed = self.spam_held(&spammers, before);
            let s = self.spam.get_or_insert_with(SimSpam::default);
            s.spammers += spammers.len();
            s.outsider_peers.extend(outsider_peers.iter().map(|p| p.to_string()));
            s.member_entries += member_entries;
            s.outsider_entries += outsider_entries;
            s.allowed += allowed;
            s.held_max = s.held_max.max(observed.0);
            s.outsiders_stored += observed.1;
        }
        if phase.cycles > 0 && phase.steady {
            // The phase's transfers again at every cycle: a steady load.
            for _ in 1..phase.cycles {
                self.await_next_table().await?;
                self.transfer_tracked(phase.transfers, false)?;
                self.work(phase.inference)?;
            }
            self.await_cycles(1).await?;
            self.scored = true;
        } else if phase.cycles > 0 {
            self.await_cycles(phase.cycles).await?;
            self.scored = true;
        }
        let settle_ms = begun.elapsed().as_millis() as u64;
        self.phase_cycles
            .push((phase.name.clone(), first_cycle, self.cycle_now(), phase.down_cycles > 0));
        self.sample();
        Ok(PhaseReport {
            name: phase.name.clone(),
            settled,
            cut_off: settle == Settle::CutOff,
            settle_rounds,
            converge_ms,
            duration_ms: settle_ms,
            crashed: crashed.len(),
            bankrupt: bankrupt.len(),
            forgers: self.nodes.iter().filter(|n| n.forger).count(),
            partitioned: self.partitioned,
            transfers: phase.transfers,
            spammers: self.nodes.iter().filter(|n| n.spammer).count(),
            outsiders: phase.outsiders,
            latency_p99_ms,
            diverged: if settled { Vec::new() } else { self.diverged() },
        })
    }

    /// Starts the spam: each spammer appends `entries` valid transfers of
    /// one base unit (and its one-unit fee) to its own chain at once, which
    /// its node then gossips as fast as the mesh takes them; `outsiders`
    /// peers outside the swarm each join three honest nodes and gossip
    /// `entries` validly signed first entries of outside keys. The signing
    /// happens before the honest load starts: on a real network it costs the
    /// spammers' CPU, not the swarm's. Returns the outsiders' task: (member
    /// entries, outsider entries gossiped, outsider peers).
    fn spam(&mut self, spammers: &[usize], outsiders: u32, entries: u32) -> Result<SpamTask, String> {
        let honest: Vec<NodeId> = self.nodes.iter().filter(|n| n.honest()).map(|n| n.id).collect();
        let swarm = self.genesis.swarm_id();
        let seed = self.options.seed;
        let mut member = 0u64;
        for &i in spammers {
            let Some(node) = self.nodes[i].live.as_ref() else {
                continue;
            };
            let to = *honest.choose(&mut self.rng).expect("honest nodes");
            let drafts = (0..entries)
                .map(|k| {
                    ippoc_economy::store::Draft::new(
                        ippoc_economy::store::Intent::Transfer {
                            to,
                            currency: Currency::Ippc,
                            amount: Amount::from_base(1),
                        },
                        u64::from(k) + 1,
                    )
                })
                .collect();
            member += node
                .chain()
                .append_batch(drafts)
                .map_err(|e| format!("spammer {i}: {e}"))?
                .len() as u64;
        }
        let addrs: Vec<Multiaddr> = self
            .nodes
            .iter()
            .filter(|n| n.honest())
            .filter_map(|n| n.live.as_ref().map(|l| l.addr.clone()))
            .collect();
        let mut peers = Vec::new();
        for o in 0..outsiders {
            let key = outsider_key(seed, usize::MAX, o);
            let keypair = ippoc_mesh::Keypair::ed25519_from_bytes(key.to_bytes()).map_err(|e| e.to_string())?;
            let to = *honest.choose(&mut self.rng).expect("honest nodes");
            // Up to five times the spam, until banned: publishing only queues
            // a message, and a connection that closes loses what it queued.
            let published: Vec<Vec<u8>> = (0..entries.saturating_mul(5))
                .map(|k| outsider_entry(&outsider_key(seed, o as usize, k), swarm, to).to_bytes())
                .collect();
            let dial: Vec<Multiaddr> = addrs.choose_multiple(&mut self.rng, 3).cloned().collect();
            peers.push((keypair, dial, published));
        }
        let swarm_id = swarm.0;
        Ok(tokio::spawn(async move {
            let (mut outsider, mut ids) = (0u64, Vec::new());
            for (keypair, dial, published) in peers {
                let peer = keypair.public().to_peer_id();
                let sent = outside_peer(keypair, swarm_id, dial, published).await?;
                // A peer that got fewer out than it takes to be banned (it
                // never reached a node in time) proves nothing either way.
                if sent
                    >= u64::from(
                        ippoc_mesh::MeshConfig::new([0; 32], ippoc_mesh::Transport::Memory).invalid_messages_max,
                    )
                {
                    ids.push(peer);
                }
                outsider += sent;
            }
            Ok((member, outsider, ids))
        }))
    }

    /// The most entries of the spammers' chains beyond `before` (their
    /// length before the flood) any honest node holds, and the outsider
    /// chains honest nodes stored.
    fn spam_held(&self, spammers: &[usize], before: u64) -> (u64, u64) {
        let spam_ids: BTreeSet<NodeId> = spammers.iter().map(|i| self.nodes[*i].id).collect();
        let members: BTreeSet<NodeId> = self.nodes.iter().map(|n| n.id).collect();
        let mut held_max = 0;
        let mut outsiders = 0;
        for n in self.live_honest() {
            let Ok(heads) = n.ledger.heads() else { continue };
            let mut held = 0;
            for (actor, seq, _) in heads {
                if spam_ids.contains(&actor) {
                    held += seq + 1;
                } else if !members.contains(&actor) {
                    outsiders += 1;
                }
            }
            held_max = held_max.max(held.saturating_sub(before));
        }
        (held_max, outsiders)
    }

    async fn split(&mut self, fraction: f64) -> Result<(), String> {
        for i in self.pick(fraction, |_| true) {
            self.nodes[i].group = 1;
        }
        self.partitioned = true;
        // The cut falls everywhere at once (each node's part concurrently);
        // then each side must hold together on its own: every node dials
        // three of its side, drawn in node order from the seed.
        let cuts = self.nodes.iter().filter_map(|n| {
            let other: Vec<PeerId> = self
                .nodes
                .iter()
                .filter(|m| m.group != n.group)
                .map(|m| m.peer)
                .collect();
            n.live.as_ref().map(|l| l.client().partition(other, true))
        });
        for r in futures::future::join_all(cuts).await {
            r.map_err(|e| e.to_string())?;
        }
        let mut dials = Vec::new();
        for side in [0u8, 1] {
            let own: Vec<Multiaddr> = self
                .nodes
                .iter()
                .filter(|n| n.group == side)
                .filter_map(|n| n.live.as_ref().map(|l| l.addr.clone()))
                .collect();
            for n in self.nodes.iter().filter(|n| n.group == side) {
                if let Some(l) = &n.live {
                    for addr in own.choose_multiple(&mut self.rng, 3) {
                        dials.push((l.client().clone(), addr.clone()));
                    }
                }
            }
        }
        dial_all(dials).await;
        Ok(())
    }

    async fn heal(&mut self) -> Result<(), String> {
        let everyone: Vec<PeerId> = self.nodes.iter().map(|n| n.peer).collect();
        let addrs: Vec<Multiaddr> = self
            .nodes
            .iter()
            .filter_map(|n| n.live.as_ref().map(|l| l.addr.clone()))
            .collect();
        // The network comes back for everyone at once: every cut is lifted
        // (concurrently) before anyone dials (a node that dialled one still
        // cut off would have its connection refused, and no round would
        // run over it).
        let lifts = self
            .nodes
            .iter()
            .filter_map(|n| n.live.as_ref().map(|l| l.client().partition(everyone.clone(), false)));
        for r in futures::future::join_all(lifts).await {
            r.map_err(|e| e.to_string())?;
        }
        let mut dials = Vec::new();
        for l in self.nodes.iter().filter_map(|n| n.live.as_ref()) {
            for addr in addrs.choose_multiple(&mut self.rng, 3) {
                dials.push((l.client().clone(), addr.clone()));
            }
        }
        dial_all(dials).await;
        for n in &mut self.nodes {
            n.group = 0;
        }
        self.partitioned = false;
        Ok(())
    }

    /// Node `i` signs two different entries at the next position of its
    /// chain: one its node appends and gossips, a twin it gossips itself.
    async fn equivocate(&mut self, i: usize) -> Result<(), String> {
        let n = &mut self.nodes[i];
        let Some(l) = &n.live else { return Ok(()) };
        let (seq, prev) = match l.ledger.head(&n.id) {
            Ok(Some((s, tx))) => (s + 1, tx),
            _ => (0, TxId::ZERO),
        };
        let twin = EntryBody {
            version: ENTRY_VERSION,
            swarm_id: self.genesis.swarm_id(),
            actor: n.id,
            seq,
            prev,
            timestamp_ms: ippoc_swarm::ledger::now_ms(),
            params: l.ledger.parameters().0,
            action: Action::Checkpoint {
                epoch: 0,
                heads: [0xEE; 32],
            },
            transfers: vec![],
            deps: vec![],
            outcome: Outcome::Success,
            proof: None,
            memo: b"equivocation".to_vec(),
        }
        .sign(&n.key);
        let own = ippoc_economy::store::Draft::new(
            ippoc_economy::store::Intent::Raw {
                action: Action::Checkpoint {
                    epoch: 0,
                    heads: [0xAA; 32],
                },
                transfers: vec![],
                proof: None,
            },
            ippoc_swarm::ledger::now_ms(),
        );
        l.chain()
            .append(own)
            .map_err(|e| format!("equivocator's own entry: {e}"))?;
        l.client()
            .publish(Topic::Entries, twin.to_bytes())
            .await
            .map_err(|e| format!("equivocator's twin: {e}"))?;
        n.equivocator = true;
        Ok(())
    }

    /// The integrity cycle (checkpoint epoch) of now.
    fn cycle_now(&self) -> u64 {
        ippoc_swarm::ledger::now_ms() / self.cadence().epoch_ms.max(1)
    }

    /// What the integrity scores showed: the tables compared across the
    /// live honest nodes, and the faulty nodes' fall, read from one honest
    /// node's chains (every honest node computes the same).
    fn measure_gi(&self) -> Option<SimGi> {
        if !self.scored {
            return None;
        }
        let honest = self.live_honest();
        let mut by_cycle: BTreeMap<u64, BTreeSet<String>> = BTreeMap::new();
        let mut held: BTreeMap<u64, usize> = BTreeMap::new();
        for n in &honest {
            for (cycle, digest) in n.view.read(|v| v.gi_digests.clone()) {
                by_cycle.entry(cycle).or_default().insert(digest);
                *held.entry(cycle).or_default() += 1;
            }
        }
        let compared: Vec<u64> = held.iter().filter(|(_, k)| **k >= 2).map(|(c, _)| *c).collect();
        let differing = compared.iter().filter(|c| by_cycle[c].len() > 1).count();
        let reference = honest.first()?;
        let epoch_ms = self.cadence().epoch_ms;
        let faulty: Vec<&SimNode> = self
            .nodes
            .iter()
            .filter(|n| n.faulty_since.is_some() && (n.spammer || n.equivocator || n.silenced))
            .collect();
        let honest_ids: BTreeSet<NodeId> = self
            .nodes
            .iter()
            .filter(|n| !n.faulty() && n.live.is_some())
            .map(|n| n.id)
            .collect();
        let lapsed_ids: BTreeSet<NodeId> = self.nodes.iter().filter(|n| n.lapsed).map(|n| n.id).collect();
        let mut per_cycle = Vec::new();
        let mut fell: BTreeMap<NodeId, u64> = BTreeMap::new();
        for &c in &compared {
            let rules = self.cadence().ladder;
            let decisions = reference.decisions().clone();
            let Ok(Some(table)) = reference.ledger.scored_table(c, epoch_ms, &rules, decisions.as_ref()) else {
                continue;
            };
            let mut h: Vec<u32> = table
                .rows
                .iter()
                .filter(|r| honest_ids.contains(&r.node))
                .map(|r| r.gi)
                .collect();
            h.sort_unstable();
            let f: Vec<u32> = table
                .rows
                .iter()
                .filter(|r| faulty.iter().any(|n| n.id == r.node))
                .map(|r| r.gi)
                .collect();
            per_cycle.push(GiCycle {
                cycle: c,
                honest_min: h.first().copied(),
                honest_median: h.get(h.len().saturating_sub(1) / 2).copied(),
                faulty_max: f.iter().max().copied(),
                swarm_gi: table.swarm_gi,
            });
        }
        // Each faulty node's first cycle under the Research floor since its
        // fault, read from the chains (the views keep only the newest
        // tables, and a long run's faults are older than those).
        let newest = compared.last().copied().unwrap_or(0);
        for n in &faulty {
            let Some(since) = n.faulty_since else { continue };
            for c in since..=newest.min(since + 8) {
                let rules = self.cadence().ladder;
                let decisions = reference.decisions().clone();
                let Ok(Some(table)) = reference.ledger.scored_table(c, epoch_ms, &rules, decisions.as_ref()) else {
                    continue;
                };
                if table
                    .rows
                    .iter()
                    .any(|r| r.node == n.id && r.gi < ippoc_economy::integrity::Tier::Research.floor())
                {
                    fell.insert(n.id, c - since);
                    break;
                }
            }
        }
        let penalised = reference.view.read(|v| {
            v.standings.as_ref().map_or(0, |s| {
                s.rows
                    .iter()
                    // A node a lapse phase stopped is penalised on purpose.
                    .filter(|r| honest_ids.contains(&r.node) && !lapsed_ids.contains(&r.node))
                    .filter(|r| {
                        r.removed.is_some()
                            || r.record.iter().any(|st| {
                                matches!(
                                    st.kind,
                                    StepKind::Suspended { .. }
                                        | StepKind::Demoted { .. }
                                        | StepKind::Lapsed { .. }
                                        | StepKind::Removed
                                )
                            })
                    })
                    .count()
            })
        });
        Some(SimGi {
            cycles_compared: compared.len(),
            cycles_differing: differing,
            faulty: faulty.len(),
            faulty_fallen: fell.len(),
            cycles_to_fall_max: fell.values().max().copied(),
            honest_penalised: penalised,
            per_cycle,
        })
    }

    /// What issuance did: the records compared across the live honest nodes,
    /// the bands, rewards by class, seals and mints, the supply.
    fn measure_issuance(&self) -> Option<SimIssuance> {
        use ippoc_economy::{AccountId, Action, Currency, store::Effect};
        if !self.scored {
            return None;
        }
        let honest = self.live_honest();
        let reference = honest.first()?;
        let newest = reference.ledger.newest_issuance().ok()??.cycle?;
        let oldest = newest.saturating_sub(ippoc_economy::store::ISSUANCE_KEPT - 1);
        let epoch_ms = self.cadence().epoch_ms.max(1);
        let mut m = SimIssuance {
            judged: self.options.economy,
            phases: self.phase_cycles.clone(),
            ..SimIssuance::default()
        };
        // The chains: mints, burns and fees by the cycle they are dated in.
        let mut by_cycle: BTreeMap<u64, [f64; 3]> = BTreeMap::new();
        let mut seals: BTreeMap<[u8; 32], u64> = BTreeMap::new();
        let ippc = |t: &ippoc_economy::Transfer| t.amount.base() as f64 / IPPC as f64;
        for (actor, head, _) in reference.ledger.heads().ok()? {
            for item in reference.ledger.range(&actor, 0, head + 1) {
                let Ok((e, effect)) = item else { continue };
                let cycle = e.body.timestamp_ms / epoch_ms;
                if let Action::Mint { .. } = e.body.action {
                    if effect == Effect::Bounced {
                        m.mints_bounced += 1;
                        continue;
                    }
                    m.mints += 1;
                    if let Some(ippoc_economy::Proof::Mint(cert)) = &e.body.proof {
                        *seals.entry(cert.seal_id).or_default() += 1;
                    }
                }
                if effect != Effect::Applied {
                    continue;
                }
                let row = by_cycle.entry(cycle).or_default();
                for t in e.body.transfers.iter().filter(|t| t.currency == Currency::Ippc) {
                    match (t.from, t.to) {
                        (AccountId::Mint, _) => row[0] += ippc(t),
                        (_, AccountId::MetabolismSink) => row[1] += ippc(t),
                        (_, AccountId::PublicGoodsPool) => row[2] += ippc(t),
                        _ => {}
                    }
                }
            }
        }
        m.replays = seals.values().map(|n| n.saturating_sub(1)).sum();
        let mut reward: BTreeMap<NodeId, u64> = BTreeMap::new();
        let mut byzantine_after = 0u64;
        let byzantine: BTreeMap<NodeId, u64> = self
            .nodes
            .iter()
            .filter(|n| n.equivocator || n.spammer)
            .filter_map(|n| Some((n.id, n.faulty_since?)))
            .collect();
        // The failure episode: the phase that took nodes down for cycles.
        let episode = self
            .phase_cycles
            .iter()
            .find(|p| p.3)
            .map(|(_, from, to, _)| (*from, *to));
        m.failure_from = episode.map(|e| e.0);
        let mut sums = [0f64; 3];
        for row in by_cycle.range(..oldest).map(|(_, r)| r) {
            for k in 0..3 {
                sums[k] += row[k];
            }
        }
        for c in oldest..=newest {
            let digests: Vec<[u8; 32]> = honest
                .iter()
                .filter_map(|n| n.ledger.issuance_kept(c).ok().flatten().map(|r| r.digest))
                .collect();
            if digests.len() >= 2 {
                m.cycles_compared += 1;
                if digests.iter().any(|d| *d != digests[0]) {
                    m.cycles_differing += 1;
                }
            }
            if let Some(row) = by_cycle.get(&c) {
                for k in 0..3 {
                    sums[k] += row[k];
                }
            }
            let Some(r) = reference.ledger.issuance_kept(c).ok().flatten() else {
                continue;
            };
            for a in &r.accruals {
                *reward.entry(a.node).or_default() += a.units;
                if byzantine.get(&a.node).is_some_and(|since| c >= *since) {
                    byzantine_after += a.units;
                }
            }
            if let Some((from, to)) = episode {
                // The cycles the nodes were down in (a cycle's record is
                // for the cycle itself, whenever it closed).
                if (from..=to).contains(&c) && r.mint_open {
                    m.open_in_failure += 1;
                }
                if c > to && r.mint_open && m.reopened_at.is_none() {
                    m.reopened_at = Some(c);
                }
            }
            m.tranches += r.tranches.len() as u64;
            m.per_cycle.push(IssuanceCycle {
                cycle: c,
                band: r.band(),
                swarm_gi: r.swarm_gi,
                sustained: r.sustained,
                mint_open: r.mint_open,
                tripwires: r.tripwires.clone(),
                accrued: r.accruals.iter().map(|a| a.units).sum::<u64>() as f64 / 100.0,
                sealed: r.tranches.len(),
                issued_ippc: sums[0],
                burned_ippc: sums[1],
                pooled_ippc: sums[2],
            });
        }
        m.byzantine_after_fault = byzantine_after as f64 / 100.0;
        let class = |n: &SimNode| {
            if n.equivocator || n.spammer || n.forger {
                "byzantine"
            } else if n.failed {
                "failure episode"
            } else if n.idle {
                "idle"
            } else {
                "honest, active"
            }
        };
        let mut classes: BTreeMap<&str, (usize, u64)> = BTreeMap::new();
        for n in &self.nodes {
            let e = classes.entry(class(n)).or_default();
            e.0 += 1;
            e.1 += reward.get(&n.id).copied().unwrap_or(0);
        }
        m.reward_by_class = classes
            .into_iter()
            .map(|(k, (nodes, units))| {
                let total = units as f64 / 100.0;
                (k.to_string(), nodes, total, total / nodes.max(1) as f64)
            })
            .collect();
        Some(m)
    }

    /// Waits (bounded) until every live honest node's ladder shows each of
    /// `lapsing` (stopped) lapsed.
    async fn await_lapse(&mut self, lapsing: &[usize]) {
        let ids: Vec<NodeId> = lapsing.iter().map(|&i| self.nodes[i].id).collect();
        let everyone = self.live_honest();
        let cadence = self.cadence();
        let wait = Duration::from_millis(
            cadence.epoch_ms * (cadence.ladder.lapse_cycles + ippoc_economy::store::GI_CLOSE_EPOCHS + 6),
        );
        let lapsed = |n: &LocalNode| {
            n.view.read(|v| {
                v.standings.as_ref().is_some_and(|s| {
                    ids.iter().all(|id| {
                        s.of(id).is_some_and(|st| {
                            st.record
                                .iter()
                                .any(|step| matches!(step.kind, StepKind::Lapsed { .. }))
                        })
                    })
                })
            })
        };
        let seen = until_paced(&everyone, wait.max(self.timeout()), self.gap(), || {
            everyone.iter().all(|n| lapsed(n))
        })
        .await;
        self.appeals.lapsed += lapsing.len();
        if seen {
            self.appeals.lapsed_seen += lapsing.len();
        }
    }

    /// The DAO upholds an appeal of every node that lapsed and has not appealed yet.
    async fn appeal(&mut self) -> Result<(), String> {
        let Some(dao) = self.live_dao.clone() else {
            return Err("an appeal phase needs dao = true".into());
        };
        let who: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].lapsed && !self.nodes[i].appealed)
            .collect();
        if who.is_empty() {
            return Ok(());
        }
        let ids: Vec<NodeId> = who.iter().map(|&i| self.nodes[i].id).collect();
        crate::dao::off_workers(move || async move { dao.appeal(&ids).await }).await?;
        for &i in &who {
            self.nodes[i].appealed = true;
        }
        self.appeals.appealed += who.len();
        Ok(())
    }

    /// What became of the lapses and appeals, read from the live honest
    /// nodes' standings; `None` when the run had none.
    fn measure_appeals(&self) -> Option<SimAppeals> {
        if self.appeals.lapsed == 0 && self.appeals.appealed == 0 {
            return None;
        }
        let mut a = self.appeals.clone();
        let everyone = self.live_honest();
        for n in self.nodes.iter().filter(|n| n.appealed) {
            let cycles: Vec<Option<u64>> = everyone
                .iter()
                .map(|l| {
                    l.view.read(|v| {
                        let s = v.standings.as_ref()?.of(&n.id)?;
                        s.record.iter().rev().find_map(|st| match st.kind {
                            StepKind::Reinstated { .. } => Some(st.cycle),
                            _ => None,
                        })
                    })
                })
                .collect();
            if cycles.iter().all(Option::is_some) && cycles.windows(2).all(|w| w[0] == w[1]) {
                a.reinstated += 1;
            }
        }
        let newest = everyone
            .iter()
            .map(|l| l.ledger.newest_standings().ok().flatten().and_then(|s| s.cycle))
            .collect::<Option<Vec<u64>>>()
            .and_then(|c| c.into_iter().min());
        a.standings_cycle = newest;
        a.standings_equal = newest.is_some_and(|c| {
            let digests: Vec<Option<[u8; 32]>> = everyone
                .iter()
                .map(|l| l.ledger.standings_kept(c).ok().flatten().map(|s| s.digest))
                .collect();
            digests.iter().all(Option::is_some) && digests.windows(2).all(|w| w[0] == w[1])
        });
        Some(a)
    }

    /// Waits until every live honest node has built the GI tables of
    /// `cycles` more closed cycles than the newest any of them had.
    async fn await_cycles(&mut self, cycles: u32) -> Result<(), String> {
        let everyone = self.live_honest();
        let newest = |n: &LocalNode| n.view.read(|v| v.gi.as_ref().map(|t| t.cycle));
        let epoch_ms = self.cadence().epoch_ms;
        // Counted from the cycle now in progress (its table is built
        // GI_CLOSE_EPOCHS later), so the cycles of the phase's faults are
        // among those waited for, however far the tables lag behind.
        let now_cycle = ippoc_swarm::ledger::now_ms() / epoch_ms;
        let from = everyone
            .iter()
            .filter_map(|n| newest(n))
            .max()
            .unwrap_or(0)
            .max(now_cycle.saturating_sub(1));
        drop(everyone);
        self.await_table(from + u64::from(cycles), cycles).await
    }

    /// Waits (bounded: `cycles` epochs and the close's lag) until every live
    /// honest node has built the GI table of cycle `target`.
    async fn await_table(&self, target: u64, cycles: u32) -> Result<(), String> {
        let everyone = self.live_honest();
        let newest = |n: &LocalNode| n.view.read(|v| v.gi.as_ref().map(|t| t.cycle));
        let epoch_ms = self.cadence().epoch_ms;
        let wait = Duration::from_millis(epoch_ms * (u64::from(cycles) + ippoc_economy::store::GI_CLOSE_EPOCHS + 2));
        let done = until_paced(&everyone, wait.max(self.timeout()), self.gap(), || {
            everyone.iter().all(|n| newest(n).is_some_and(|c| c >= target))
        })
        .await;
        if done {
            Ok(())
        } else {
            Err(format!("the nodes did not build the GI tables up to cycle {target}"))
        }
    }

    /// Waits until every live honest node has built one more GI table than
    /// the newest any of them holds now: about one epoch, the pace of a
    /// steady load.
    async fn await_next_table(&mut self) -> Result<(), String> {
        let newest = |n: &LocalNode| n.view.read(|v| v.gi.as_ref().map(|t| t.cycle));
        let next = self.live_honest().iter().filter_map(|n| newest(n)).max().map(|c| c + 1);
        match next {
            Some(target) => self.await_table(target, 1).await,
            None => self.await_cycles(1).await,
        }
    }

    /// Every forger gossips a few entries it signed for someone else.
    async fn forge(&mut self) {
        let victims: Vec<NodeId> = self.nodes.iter().filter(|n| n.honest()).map(|n| n.id).collect();
        let swarm = self.genesis.swarm_id();
        for n in self.nodes.iter().filter(|n| n.forger) {
            let Some(l) = &n.live else { continue };
            for k in 0..3u64 {
                let Some(victim) = victims.choose(&mut self.rng) else {
                    return;
                };
                let forged = EntryBody {
                    version: ENTRY_VERSION,
                    swarm_id: swarm,
                    actor: n.id,
                    seq: 1_000_000 + self.forged_sent + k,
                    prev: TxId::ZERO,
                    timestamp_ms: 1,
                    params: 0,
                    action: Action::Transfer,
                    transfers: vec![],
                    deps: vec![],
                    outcome: Outcome::Success,
                    proof: None,
                    memo: b"forged".to_vec(),
                };
                // Signed with the forger's key, claimed as the victim's: a bad signature.
                let mut entry = forged.sign(&n.key);
                entry.body.actor = *victim;
                if l.client().publish(Topic::Entries, entry.to_bytes()).await.is_ok() {
                    self.forged_sent += 1;
                }
            }
        }
    }

    /// Drains `fraction` of the honest nodes into Worker Mode; solvent nodes
    /// post three bounties per drained node.
    fn bankrupt(&mut self, fraction: f64) -> Result<Vec<usize>, String> {
        let drained = self.pick(fraction, |n| n.honest() && !n.bankrupt && n.live.is_some());
        let solvent: Vec<usize> = (0..self.nodes.len())
            .filter(|i| !drained.contains(i))
            .filter(|i| self.nodes[*i].honest() && !self.nodes[*i].bankrupt && self.nodes[*i].live.is_some())
            .collect();
        if solvent.is_empty() {
            return Err("no solvent node left to post bounties".into());
        }
        for &i in &drained {
            let to = self.nodes[*solvent.choose(&mut self.rng).expect("non-empty")].id;
            let node = self.nodes[i].live.as_ref().expect("live");
            node.transfer(to, Amount::from_base(DRAIN_IPPC * IPPC))
                .map_err(|e| e.to_string())?;
            if node.ledger.mode().map_err(|e| e.to_string())? != Mode::Worker {
                return Err(format!("node {i} is not in Worker Mode after the drain"));
            }
            self.nodes[i].bankrupt = true;
            self.bankrupt_total += 1;
        }
        for b in 0..drained.len() * 3 {
            // The richest solvent node posts: a poster never overdraws for a bounty.
            let richest = solvent
                .iter()
                .copied()
                .max_by_key(|i| {
                    let n = &self.nodes[*i];
                    let l = n.live.as_ref().expect("live");
                    l.ledger
                        .balance(&AccountId::Wallet(n.id), Currency::Ippc)
                        .map_or(0, |b| b.0)
                })
                .expect("non-empty");
            let poster = &self.nodes[richest];
            let node = poster.live.as_ref().expect("live");
            let task = Task {
                module: ECHO.as_bytes().to_vec(),
                input: format!("bounty {b} of {}", poster.id).into_bytes(),
            };
            node.post_bounty(task, Amount::from_base(BOUNTY_REWARD_IPPC * IPPC), u64::MAX)
                .map_err(|e| e.to_string())?;
        }
        Ok(drained)
    }

    /// Class D: each skill is simulated in the sandbox (the toxic ones must
    /// fail), then put to the DAO on an embedded chain (`crate::dao`): the good
    /// one is deployed, the toxic ones are vetoed. Deployment is read from the
    /// registry.
    async fn evolve(&mut self) -> Result<(), String> {
        // The node's own simulation: the package's test vectors in the
        // sandbox, and its deterministic risk score. Every candidate claims
        // to echo its input; only the echo skill does.
        let simulate = |module: &str, toxic: bool| -> Result<crate::dao::Candidate, String> {
            let tests = vec![(b"probe".to_vec(), b"probe".to_vec()), (Vec::new(), Vec::new())];
            let package =
                SkillPackage::new(module.as_bytes(), 50_000_000, Vec::new(), tests).map_err(|e| e.to_string())?;
            let simulation = ippoc_swarm::skills::simulate(&self.sandbox, &package);
            Ok(crate::dao::Candidate {
                hash: package.hash,
                toxic,
                simulated_ok: simulation.ok,
                risk: simulation.risk_bps,
            })
        };
        let good = simulate(ECHO, false)?;
        if !good.simulated_ok {
            return Err("the reference skill failed its simulation".into());
        }
        let mut candidates = vec![good];
        for (_, module) in TOXIC {
            candidates.push(simulate(module, true)?);
        }
        let seed = self.options.seed;
        let outcome =
            crate::dao::off_workers(move || async move { crate::dao::evolve(seed, &candidates).await }).await?;
        self.evolution = Some(self.evolution.unwrap_or_default().merge(outcome));
        Ok(())
    }

    /// Anchors the final checkpoint of the live honest nodes (`crate::dao::anchor_final`).
    pub async fn anchor_final(&mut self) -> Result<crate::dao::AnchorOutcome, String> {
        // Nodes keep recording their checkpoint votes after the last phase:
        // anchor once the newest have reached every live honest node.
        let everyone = self.live_honest();
        // Bounded like a phase's settle: by rounds, with the wall clock as
        // the cost cap (cut off, the run is inconclusive).
        let budget = self.options.settle_rounds;
        let rounds_at: Vec<u64> = everyone.iter().map(|n| sync_rounds(n)).collect();
        let agreed = std::cell::Cell::new(false);
        let done = until_paced(&everyone, self.timeout(), self.gap(), || {
            agreed.set(distinct_roots(&everyone) <= 1);
            agreed.get() || median_rounds(&everyone, &rounds_at) >= budget
        })
        .await;
        self.anchor_cut_off = !agreed.get() && !done;
        let registered: Vec<NodeId> = self.nodes.iter().map(|n| n.id).collect();
        let voters = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.honest())
            .filter_map(|(i, n)| n.live.as_ref().map(|l| (i, l.ledger.clone())))
            .collect();
        // The current epoch: it ends after every entry of the settled swarm,
        // so its cut covers them all, and the run need not wait out the
        // epoch of grace the daemons leave for entries still in flight.
        let epoch_ms = self.cadence().epoch_ms;
        let at = (ippoc_swarm::ledger::now_ms() / epoch_ms, epoch_ms);
        let (seed, rng) = (self.options.seed, StdRng::seed_from_u64(self.rng.random()));
        crate::dao::off_workers(move || async move {
            crate::dao::anchor_final(seed, &registered, voters, at, ANCHOR_PROOFS, rng).await
        })
        .await
    }

    /// `count` transfers of 1 IPPC between random live solvent honest nodes of one group.
    fn transfer(&mut self, count: u32) -> Result<(), String> {
        self.transfer_tracked(count, true)
    }

    /// Each active honest node (live, solvent, not idle) pays for `calls`
    /// inference calls of 100 tokens: metabolism burns their price, and
    /// issuance counts their success as human intent.
    fn work(&mut self, calls: u32) -> Result<(), String> {
        use ippoc_economy::store::{Charge, Draft, Intent};
        if calls == 0 {
            return Ok(());
        }
        for n in self.nodes.iter().filter(|n| n.honest() && !n.idle) {
            let Some(live) = n.live.as_ref() else { continue };
            if live.ledger.mode().ok() != Some(Mode::Normal) {
                continue;
            }
            let drafts = (0..calls)
                .map(|_| {
                    Draft::new(
                        Intent::Charge {
                            charge: Charge::Inference { tokens: 100 },
                            bounty: None,
                        },
                        ippoc_swarm::ledger::now_ms(),
                    )
                })
                .collect();
            live.chain().append_batch(drafts).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// [`Sim::transfer`]; with `track` false, the transfers' deliveries are
    /// not timed (a steady load between settles: its latency would count
    /// the wait for the next settle).
    fn transfer_tracked(&mut self, count: u32, track: bool) -> Result<(), String> {
        let senders = self.senders();
        for _ in 0..count {
            let Some((tx, _, group)) = self.transfer_one(&senders)? else {
                if senders.is_empty() {
                    break;
                }
                continue;
            };
            if track {
                self.open.push((tx, Instant::now(), group));
            }
        }
        Ok(())
    }

    /// The nodes that may send a transfer now: live, honest, active, solvent.
    fn senders(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|i| {
                let n = &self.nodes[*i];
                n.honest()
                    && !n.idle
                    && n.live
                        .as_ref()
                        .is_some_and(|l| l.ledger.mode().ok() == Some(Mode::Normal))
            })
            .collect()
    }

    /// One transfer from a random one of `senders` to a random active honest
    /// node of its side: its tx id, sender and side (none when no sender or
    /// no receiver was left).
    fn transfer_one(&mut self, senders: &[usize]) -> Result<Option<(TxId, usize, u8)>, String> {
        let Some(&from) = senders.choose(&mut self.rng) else {
            return Ok(None);
        };
        let group = self.nodes[from].group;
        let receivers: Vec<usize> = (0..self.nodes.len())
            .filter(|i| {
                let n = &self.nodes[*i];
                *i != from && n.group == group && n.honest() && !n.idle
            })
            .collect();
        let Some(&to) = receivers.choose(&mut self.rng) else {
            return Ok(None);
        };
        let amount = Amount::from_base(self.rng.random_range(1..=5) * IPPC);
        let node = self.nodes[from].live.as_ref().expect("live");
        let tx = node.transfer(self.nodes[to].id, amount).map_err(|e| e.to_string())?;
        self.transfers += 1;
        Ok(Some((tx, from, group)))
    }

    /// Issues `count` transfers at a mean `rate` a second with Poisson
    /// arrivals, and measures each one's delivery (issue → held by every
    /// live honest node of its side) at [`PACED_RESOLUTION`] beside its
    /// lower bound: the shortest path over the connections from its sender
    /// to its farthest receiver, each hop its link's latency plus one
    /// entry's verification (a node verifies before it forwards). Those not
    /// delivered within [`PACED_WAIT_AFTER`] of the last issue are left to
    /// the settle and counted late.
    async fn paced(&mut self, count: u32, rate: f64) -> Result<(), String> {
        let hop_ms = self.verification_ms()?;
        // The swarm's own load (heartbeats, receipts, sync) before the
        // first transfer: what the transfers cost is measured beyond it.
        let (quiet_cpu, quiet_at) = (crate::report::process_cpu_s(), Instant::now());
        tokio::time::sleep(PACED_BACKGROUND_WINDOW).await;
        let background_cores = (crate::report::process_cpu_s() - quiet_cpu) / quiet_at.elapsed().as_secs_f64();
        let cpu_before = crate::report::process_cpu_s();
        let begun = tokio::time::Instant::now();
        let mut next = begun;
        let mut issued = 0;
        // Each open transfer: its tx, when issued, its bound, and the nodes that still lack it.
        let mut open: Vec<(TxId, tokio::time::Instant, f64, Vec<usize>, u8)> = Vec::new();
        let mut out = PacedLoad {
            rate,
            transfers: count,
            hop_ms,
            resolution_ms: PACED_RESOLUTION.as_millis() as u64,
            ..PacedLoad::default()
        };
        let (mut latencies, mut bounds) = (Vec::new(), Vec::new());
        let mut last_issue = begun;
        loop {
            let now = tokio::time::Instant::now();
            if issued < count && now >= next {
                let senders = self.senders();
                let (graph, index) = self.connection_graph(hop_ms);
                issued += 1;
                last_issue = now;
                // Exponential gaps: -ln(U) / rate, U in (0, 1].
                let u = 1.0 - self.rng.random::<f64>();
                next += Duration::from_secs_f64(-u.ln() / rate);
                if let Some((tx, from, group)) = self.transfer_one(&senders)? {
                    let members: Vec<usize> = (0..self.nodes.len())
                        .filter(|i| {
                            let n = &self.nodes[*i];
                            n.honest() && n.group == group && n.live.is_some()
                        })
                        .collect();
                    let bound = farthest_ms(&graph, &index, from, &members);
                    open.push((tx, now, bound, members, group));
                }
                continue;
            }
            for (tx, at, bound, missing, _) in &mut open {
                missing.retain(|i| {
                    self.nodes[*i]
                        .live
                        .as_ref()
                        .is_some_and(|l| !matches!(l.ledger.entry_by_tx(tx), Ok(Some(_))))
                });
                if missing.is_empty() {
                    latencies.push(at.elapsed().as_secs_f64() * 1000.0);
                    bounds.push(*bound);
                }
            }
            open.retain(|(.., missing, _)| !missing.is_empty());
            if issued >= count && (open.is_empty() || now >= last_issue + PACED_WAIT_AFTER) {
                break;
            }
            let wake = if issued < count {
                next.min(now + PACED_RESOLUTION)
            } else {
                now + PACED_RESOLUTION
            };
            tokio::time::sleep_until(wake).await;
        }
        out.wall_s = begun.elapsed().as_secs_f64();
        out.background_cores = background_cores;
        let spent = crate::report::process_cpu_s() - cpu_before - background_cores * out.wall_s;
        out.cpu_ms_per_transfer = spent.max(0.0) * 1000.0 / f64::from(count.max(1));
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        out.rate_max = (cores - background_cores).max(0.0) * 1000.0 / out.cpu_ms_per_transfer.max(0.001);
        out.delivered = latencies.len() as u32;
        out.late = open.len() as u32;
        // The late ones are still measured by the settle, at its resolution.
        for (tx, at, _, _, group) in open {
            self.open.push((tx, at.into_std(), group));
        }
        out.latency_p50_ms = crate::report::percentile(&latencies, 0.5);
        out.latency_p99_ms = crate::report::percentile(&latencies, 0.99);
        out.bound_p50_ms = crate::report::percentile(&bounds, 0.5);
        out.bound_p99_ms = crate::report::percentile(&bounds, 0.99);
        let ratios: Vec<f64> = latencies.iter().zip(&bounds).map(|(l, b)| l / b.max(0.001)).collect();
        out.ratio_p50 = crate::report::percentile(&ratios, 0.5);
        out.ratio_p99 = crate::report::percentile(&ratios, 0.99);
        self.paced.push(out);
        Ok(())
    }

    /// One entry's signature verification on this host, ms: the median of
    /// [`VERIFY_SAMPLES`] verifications of a transfer entry.
    fn verification_ms(&self) -> Result<f64, String> {
        let key = outsider_key(self.options.seed, usize::MAX - 1, 0);
        let entry = outsider_entry(&key, self.genesis.swarm_id(), self.nodes[0].id);
        let mut times = Vec::with_capacity(VERIFY_SAMPLES);
        for _ in 0..VERIFY_SAMPLES {
            let begun = Instant::now();
            let ok = SignedEntry::verify_each(vec![entry.clone()])
                .into_iter()
                .all(|r| r.is_ok());
            times.push(begun.elapsed().as_secs_f64() * 1000.0);
            if !ok {
                return Err("a node's own entry did not verify".into());
            }
        }
        Ok(crate::report::percentile(&times, 0.5))
    }

    /// The live nodes' connections now, as an adjacency list of node
    /// indices, each edge weighted by its link's one-way latency plus
    /// `hop_ms`; and node index → position in it.
    fn connection_graph(&self, hop_ms: f64) -> (Graph, HashMap<usize, usize>) {
        let live: Vec<usize> = (0..self.nodes.len())
            .filter(|i| self.nodes[*i].live.is_some())
            .collect();
        let index: HashMap<usize, usize> = live.iter().enumerate().map(|(k, i)| (*i, k)).collect();
        let by_peer: HashMap<String, usize> = live.iter().map(|i| (self.nodes[*i].peer.to_string(), *i)).collect();
        let graph = live
            .iter()
            .map(|&a| {
                let peers = self.nodes[a].live.as_ref().map_or(Vec::new(), |l| l.view.get().peers);
                peers
                    .iter()
                    .filter_map(|p| by_peer.get(p))
                    .filter_map(|&b| {
                        let latency = self
                            .wan
                            .as_ref()
                            .map_or(0.0, |w| w.link(a, b).latency.as_secs_f64() * 1000.0);
                        index.get(&b).map(|k| (*k, latency + hop_ms))
                    })
                    .collect()
            })
            .collect();
        (graph, index)
    }

    /// Waits until, in each group, every live honest node holds every transfer
    /// of its group and all agree on one state root, and drained nodes have
    /// recovered; records delivery latencies as transfers complete. Returns
    /// how it ended and the sync rounds the median live honest node
    /// finished meanwhile.
    async fn settle(&mut self, bankrupt: &[usize]) -> (Settle, u64) {
        // The phase's actions are done: everything it made is timestamped
        // before now. Entries made later (a checkpoint vote at the next
        // epoch, a spammer's backlog) are the swarm's own traffic, still
        // travelling while the phase's own is compared.
        let cut = ippoc_swarm::ledger::now_ms();
        self.cut_ms = cut;
        let timeout = self.timeout();
        let groups: Vec<(u8, Vec<&LocalNode>)> = [0u8, 1]
            .into_iter()
            .map(|g| {
                let members = self
                    .nodes
                    .iter()
                    .filter(|n| n.honest() && n.group == g)
                    .filter_map(|n| n.live.as_ref())
                    .collect();
                (g, members)
            })
            .collect();
        // Each open transfer with the members of its side that still lack it:
        // a node is asked once more only while it lacks the transfer, so a pass
        // costs what is still undelivered, not transfers × nodes.
        let open: Vec<(OpenTransfer, Vec<&LocalNode>)> = std::mem::take(&mut self.open)
            .into_iter()
            .map(|(tx, at, g)| {
                let members = groups
                    .iter()
                    .find(|(gg, _)| *gg == g)
                    .map_or(Vec::new(), |(_, m)| m.clone());
                ((tx, at, g), members)
            })
            .collect();
        let open = RefCell::new(open);
        let recovering: Vec<&LocalNode> = bankrupt.iter().filter_map(|i| self.nodes[*i].live.as_ref()).collect();
        let everyone = self.live_honest();
        // Spammers' chains trickle in at their actors' rate: the swarm has
        // settled once every honest node holds all of them (equal roots on
        // the way are only a moment between two batches). At least: a
        // spammer keeps recording its checkpoint votes after the flood.
        let spam_heads: Vec<(NodeId, u64)> = self
            .nodes
            .iter()
            .filter(|n| n.spammer)
            .filter_map(|n| {
                let head = n.live.as_ref()?.ledger.head(&n.id).ok().flatten()?;
                Some((n.id, head.0))
            })
            .collect();
        let latencies = RefCell::new(Vec::new());
        let samples = RefCell::new(Vec::new());
        let started = self.started;
        let last_sample = std::cell::Cell::new(Instant::now());
        let budget = self.options.settle_rounds;
        let rounds_at: Vec<u64> = everyone.iter().map(|n| sync_rounds(n)).collect();
        let rounds = || median_rounds(&everyone, &rounds_at);
        let converged = std::cell::Cell::new(false);
        let done = until_paced(&everyone, timeout, self.gap(), || {
            if last_sample.get().elapsed() >= SAMPLE_EVERY {
                last_sample.set(Instant::now());
                samples.borrow_mut().push(snapshot(&everyone, started, cut));
            }
            open.borrow_mut().retain_mut(|((tx, at, _), missing)| {
                missing.retain(|n| !matches!(n.ledger.entry_by_tx(tx), Ok(Some(_))));
                if missing.is_empty() {
                    latencies.borrow_mut().push(at.elapsed().as_secs_f64() * 1000.0);
                }
                !missing.is_empty()
            });
            let now = open.borrow().is_empty()
                && spam_heads.iter().all(|(id, head)| {
                    everyone
                        .iter()
                        .all(|n| matches!(n.ledger.head(id), Ok(Some((h, _))) if h >= *head))
                })
                && groups
                    .iter()
                    .all(|(_, members)| distinct_roots(members) <= 1 || agree_before(members, cut))
                && recovering.iter().all(|n| n.ledger.mode().ok() == Some(Mode::Normal));
            converged.set(now);
            now || rounds() >= budget
        })
        .await;
        let spent = rounds();
        self.latencies_ms.extend(latencies.into_inner());
        self.samples.extend(samples.into_inner());
        self.open = open.into_inner().into_iter().map(|(t, _)| t).collect();
        let outcome = if converged.get() {
            Settle::Converged
        } else if done {
            Settle::BudgetSpent
        } else {
            Settle::CutOff
        };
        (outcome, spent)
    }

    /// Records the state now (for the report's time series).
    pub fn sample(&mut self) {
        let sample = snapshot(&self.live_honest(), self.started, self.cut_ms);
        self.samples.push(sample);
    }

    /// The metrics of the run, read from the nodes.
    pub fn measure(&self) -> Measured {
        let honest = self.live_honest();
        let honest_peers: BTreeSet<String> = self
            .nodes
            .iter()
            .filter(|n| n.honest())
            .map(|n| n.peer.to_string())
            .collect();
        let forger_peers: BTreeSet<String> = self
            .nodes
            .iter()
            .filter(|n| n.forger)
            .map(|n| n.peer.to_string())
            .collect();
        let spammer_peers: BTreeSet<String> = self
            .nodes
            .iter()
            .filter(|n| n.spammer)
            .map(|n| n.peer.to_string())
            .collect();
        let mut spammers_banned = BTreeSet::new();
        let outsider_peers: BTreeSet<String> = self
            .spam
            .as_ref()
            .map(|s| s.outsider_peers.iter().cloned().collect())
            .unwrap_or_default();
        let mut outsiders_banned = BTreeSet::new();
        let mut throttled = 0u64;
        let mut banned_honest = BTreeSet::new();
        let mut forgers_banned = BTreeSet::new();
        let mut unauthorized = 0u64;
        let mut messages = Vec::new();
        let mut bytes = Vec::new();
        let mut by_gossip = Vec::new();
        let mut by_sync = Vec::new();
        for n in &honest {
            let view = n.view.get();
            for b in &view.banned {
                if honest_peers.contains(&b.peer) {
                    banned_honest.insert(b.peer.clone());
                }
                if forger_peers.contains(&b.peer) {
                    forgers_banned.insert(b.peer.clone());
                }
                if spammer_peers.contains(&b.peer) {
                    spammers_banned.insert(b.peer.clone());
                }
                if outsider_peers.contains(&b.peer) {
                    outsiders_banned.insert(b.peer.clone());
                }
            }
            throttled += view.stats.entries_throttled + view.stats.sync_throttled;
            // Unauthorized spend, from the node's own books: a chain that does not
            // verify, or an account other than the mint below zero.
            if !matches!(n.ledger.verify_chains(None), Ok(Ok(_))) {
                unauthorized += 1;
            }
            if let Ok(balances) = n.ledger.balances() {
                unauthorized += balances
                    .iter()
                    .filter(|(a, _, b)| *a != AccountId::Mint && b.0 < 0)
                    .count() as u64;
            }
            let s = view.stats;
            messages.push((s.entries_ingested + s.attestations_received + s.sync_entries) as f64);
            bytes.push(s.sync_bytes as f64);
            by_gossip.push(s.entries_ingested as f64);
            by_sync.push(s.sync_entries as f64);
        }
        let honest_total = self.nodes.iter().filter(|n| n.honest()).count().max(1);
        let bankrupt_recovered = self
            .nodes
            .iter()
            .filter(|n| n.bankrupt)
            .filter(|n| {
                n.live
                    .as_ref()
                    .is_some_and(|l| l.ledger.mode().ok() == Some(Mode::Normal))
            })
            .count();
        let balances: Vec<f64> = honest
            .first()
            .map(|n| {
                self.nodes
                    .iter()
                    .filter_map(|m| n.ledger.balance(&AccountId::Wallet(m.id), Currency::Ippc).ok())
                    .map(|b| b.0 as f64 / IPPC as f64)
                    .collect()
            })
            .unwrap_or_default();
        Measured {
            stops: self.stops.0,
            stops_unclean: self.stops.1,
            divergence: if agree_before(&honest, self.cut_ms) {
                0
            } else {
                distinct_roots(&honest).saturating_sub(1)
            },
            unauthorized_spend: unauthorized,
            trust_collapse_pct: 100.0 * banned_honest.len() as f64 / honest_total as f64,
            forgers: forger_peers.len(),
            forgers_banned: forgers_banned.len(),
            spam: self.spam.clone().map(|s| SimSpam {
                throttled,
                banned: spammers_banned.len(),
                outsiders_banned: outsiders_banned.len(),
                ..s
            }),
            bankrupt: self.nodes.iter().filter(|n| n.bankrupt).count(),
            bankrupt_recovered,
            gi: self.measure_gi(),
            appeals: self.measure_appeals(),
            issuance: self.measure_issuance(),
            messages_per_node: mean(&messages),
            sync_bytes_per_node: mean(&bytes),
            gossip_entries_per_node: mean(&by_gossip),
            sync_entries_per_node: mean(&by_sync),
            balances,
        }
    }

    /// Every live node's metrics now, with the shared sandbox's, as one
    /// exposition (`metrics.prom`).
    pub fn metrics(&self) -> String {
        let nodes: Vec<(String, String)> = self
            .nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| Some((format!("node-{i:04}"), n.live.as_ref()?.metrics()?)))
            .collect();
        let mut sandbox = prometheus_client::registry::Registry::default();
        self.sandbox.metrics().register(&mut sandbox);
        let mut shared = String::new();
        // Encoding into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut shared, &sandbox);
        crate::metrics::merge(&nodes, &shared)
    }

    /// Stops every node.
    pub async fn stop(mut self) {
        // All at once: one by one, each stop would wait on a CPU the rest of
        // the swarm still keeps busy (100 nodes under spam took minutes).
        futures::future::join_all(self.nodes.iter_mut().filter_map(|n| n.live.take()).map(|l| l.stop())).await;
    }
}

/// A peer outside the swarm: joins through `dial`, gossips `entries`, and
/// stops once they are out or every peer cut it off; returns how many it got out.
async fn outside_peer(
    keypair: ippoc_mesh::Keypair,
    swarm_id: [u8; 32],
    dial: Vec<Multiaddr>,
    entries: Vec<Vec<u8>>,
) -> Result<u64, String> {
    let mut config = ippoc_mesh::MeshConfig::new(swarm_id, ippoc_mesh::Transport::Memory);
    config.listen = vec![ippoc_swarm::local::memory_addr()];
    config.bootstrap = dial;
    config.kademlia = false;
    let ignore: Arc<dyn ippoc_mesh::Validator> = Arc::new(|_: Topic, _: &[u8], _: &PeerId| ippoc_mesh::Verdict::Ignore);
    let mut mesh =
        ippoc_mesh::Mesh::start(keypair, config, ignore, Arc::new(ippoc_mesh::NoSync)).map_err(|e| e.to_string())?;
    // Its events are read all along (a mesh whose events nobody reads stops
    // once their queue is full, publishing included); what the flood needs
    // of them is how many times a peer subscribed to the entries topic.
    let (subscribed_tx, mut subscribed) = tokio::sync::watch::channel(0u64);
    let mut events = std::mem::replace(&mut mesh.events, tokio::sync::mpsc::channel(1).1);
    let reader = tokio::spawn(async move {
        while let Some(e) = events.recv().await {
            if matches!(
                e,
                ippoc_mesh::MeshEvent::Subscribed {
                    topic: Topic::Entries,
                    ..
                }
            ) {
                subscribed_tx.send_modify(|n| *n += 1);
            }
        }
    });
    let mut sent = 0;
    let mut entries = entries.into_iter().peekable();
    // A persistent attacker: whenever no peer is left to publish to, it
    // waits for one to take it back (its mesh redials) and goes on; it gives
    // up when none does for a few seconds (banned by everyone it reached).
    let mut seen = 0;
    while entries.peek().is_some() {
        let came = tokio::time::timeout(Duration::from_secs(5), subscribed.wait_for(|n| *n > seen))
            .await
            .ok()
            .and_then(|r| r.ok().map(|n| *n));
        let Some(count) = came else { break };
        seen = count;
        while let Some(bytes) = entries.peek() {
            if mesh.publish(Topic::Entries, bytes.clone()).await.is_err() {
                break;
            }
            sent += 1;
            entries.next();
        }
    }
    reader.abort();
    mesh.stop().await;
    Ok(sent)
}

/// The `k`-th outside key of `i`: not in the genesis, never paid.
fn outsider_key(seed: u64, i: usize, k: u32) -> SigningKey {
    let mut h = Sha256::new();
    h.update(b"ippoc-sim-outsider\0");
    h.update(seed.to_be_bytes());
    h.update((i as u64).to_be_bytes());
    h.update(k.to_be_bytes());
    SigningKey::from_bytes(&h.finalize().into())
}

/// A validly signed, well-formed first entry of an outside key paying `to`:
/// everything right but membership.
fn outsider_entry(key: &SigningKey, swarm: ippoc_economy::SwarmId, to: NodeId) -> ippoc_economy::SignedEntry {
    let actor = id_of(key);
    let leg = |to, amount| ippoc_economy::Transfer {
        from: AccountId::Wallet(actor),
        to,
        currency: Currency::Ippc,
        amount: Amount::from_base(amount),
    };
    EntryBody {
        version: ENTRY_VERSION,
        swarm_id: swarm,
        actor,
        seq: 0,
        prev: TxId::ZERO,
        timestamp_ms: 1,
        params: 0,
        action: Action::Transfer,
        transfers: vec![
            leg(AccountId::Wallet(to), IPPC),
            leg(AccountId::PublicGoodsPool, IPPC / 1000),
        ],
        deps: vec![],
        outcome: Outcome::Success,
        proof: None,
        memo: vec![],
    }
    .sign(key)
}

/// The nodes' attestation, sync and epoch periods in a swarm of `n`.
///
/// Entries proven against the final anchored checkpoint.
const ANCHOR_PROOFS: u32 = 20;

/// Every node's heartbeat reaches every other, so a swarm delivers
/// 2n²/interval attestations a second; in production each node verifies its
/// own n of them, here one machine verifies them all. The intervals grow with
/// n² so the simulated swarm's total load stays what 100 nodes cost at a 4 s
/// interval (5000 deliveries a second), whatever its size.
pub fn sim_cadence(n: usize) -> Cadence {
    let n2 = (n as u64).pow(2);
    let attest_interval = Duration::from_millis((n2 * 2 / 5).max(2000));
    let sync_interval = Duration::from_millis((n2 * 3 / 5).max(3000));
    Cadence {
        attest_interval,
        sync_interval,
        // One checkpoint vote per node per epoch, recorded in its chain: n²
        // deliveries and ingests an epoch. The daemon's defaults leave 20
        // sync rounds in an epoch (30 s, 10 min); so does the simulator, so
        // an epoch's entries have as many rounds to reach every node before
        // they are voted on.
        epoch_ms: (sync_interval.as_millis() as u64 * 20).max(60_000),
        limits: Default::default(),
        ladder: Default::default(),
    }
}

/// Lapses and appeals through the live DAO (docs/integrity.md, "DAO
/// decisions reaching the ladder").
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SimAppeals {
    /// Nodes a lapse phase stopped.
    pub lapsed: usize,
    /// Of those, the ones every live honest node's ladder showed lapsed
    /// before they were started again.
    pub lapsed_seen: usize,
    /// Nodes whose appeal the DAO upheld.
    pub appealed: usize,
    /// Of those, the ones every live honest node reinstated, at one cycle.
    pub reinstated: usize,
    /// The newest cycle whose kept standings every live honest node holds.
    pub standings_cycle: Option<u64>,
    /// Whether those standings are the same bytes at every live honest node.
    pub standings_equal: bool,
}

/// Issuance over a run (docs/issuance.md), read from one live honest
/// node's records and chains, and its records compared with every other's.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SimIssuance {
    /// Whether the scenario's issuance criteria apply.
    pub judged: bool,
    /// Closed cycles whose records two or more live honest nodes keep.
    pub cycles_compared: usize,
    /// Of those, cycles whose record digests differ between them.
    pub cycles_differing: usize,
    /// Per kept cycle, oldest first.
    pub per_cycle: Vec<IssuanceCycle>,
    /// Reward accrued per node class over the kept cycles, units
    /// (hundredths / 100): (class, nodes, total, per node).
    pub reward_by_class: Vec<(String, usize, f64, f64)>,
    /// Units the byzantine members accrued in or after their fault's cycle.
    pub byzantine_after_fault: f64,
    /// Tranches sealed, over every reserve.
    pub tranches: u64,
    /// Mint entries applied in the chains.
    pub mints: u64,
    /// Seals minted more than once (must be 0).
    pub replays: u64,
    /// Mint entries the ledger bounced (a gate refused).
    pub mints_bounced: u64,
    /// Phases and their cycles: (name, first, last, a failure episode).
    pub phases: Vec<(String, u64, u64, bool)>,
    /// Cycles inside the failure episode (a phase with `down_cycles`)
    /// whose record opens the mint (must be 0).
    pub open_in_failure: usize,
    /// The first cycle after the failure whose record opens the mint.
    pub reopened_at: Option<u64>,
    /// The cycle the failure episode's phase began in.
    pub failure_from: Option<u64>,
}

/// One cycle's issuance, from the record every node keeps and the chains.
#[derive(Debug, Clone, serde::Serialize)]
pub struct IssuanceCycle {
    /// The cycle.
    pub cycle: u64,
    /// Its band.
    pub band: ippoc_economy::integrity::Band,
    /// The swarm's GI, ppm.
    pub swarm_gi: Option<u32>,
    /// Sustained cycles.
    pub sustained: u64,
    /// Whether a mint may cite it.
    pub mint_open: bool,
    /// Tripwires.
    pub tripwires: Vec<ippoc_economy::issuance::Tripwire>,
    /// Units accrued to reserves in it.
    pub accrued: f64,
    /// Tranches it sealed.
    pub sealed: usize,
    /// IPPC minted by entries dated up to its end (cumulative).
    pub issued_ippc: f64,
    /// IPPC burned by metabolism up to its end (cumulative).
    pub burned_ippc: f64,
    /// IPPC paid into the public goods pool up to its end (cumulative).
    pub pooled_ippc: f64,
}

/// The integrity scores over a run (docs/integrity.md).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SimGi {
    /// Closed cycles whose tables two or more live honest nodes built.
    pub cycles_compared: usize,
    /// Of those, cycles whose table digests differ between them.
    pub cycles_differing: usize,
    /// Nodes that turned faulty in a way the chains show: spammers,
    /// equivocators, silenced nodes (a forger's forgeries never enter a
    /// chain: it is banned, not scored).
    pub faulty: usize,
    /// Of those, the ones scored under 0.85 in a cycle since their fault.
    pub faulty_fallen: usize,
    /// The most cycles from a fault to its node's first cycle under 0.85.
    pub cycles_to_fall_max: Option<u64>,
    /// Live honest nodes the ladder suspended, demoted, lapsed or removed.
    pub honest_penalised: usize,
    /// GI per compared cycle, ppm.
    pub per_cycle: Vec<GiCycle>,
}

/// One cycle's scores, ppm.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GiCycle {
    /// The cycle.
    pub cycle: u64,
    /// The lowest live honest node's GI.
    pub honest_min: Option<u32>,
    /// The live honest nodes' lower median.
    pub honest_median: Option<u32>,
    /// The highest GI among the nodes that turn faulty in the run (before
    /// their fault too).
    pub faulty_max: Option<u32>,
    /// The swarm's GI.
    pub swarm_gi: Option<u32>,
}

/// What the metrics read from the nodes say.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Measured {
    /// Nodes stopped during phases (crashed or silenced).
    pub stops: u32,
    /// Of those, stops that returned while something of the node still held
    /// its ledger (`LocalNode::stop`).
    pub stops_unclean: u32,
    /// Distinct states among live honest nodes, beyond one: their state
    /// roots, or their chains cut at the end of the last phase's actions
    /// when those agree (entries made later, such as the next epoch's
    /// checkpoint votes, may still be travelling).
    pub divergence: usize,
    /// Chains that fail verification plus non-mint accounts below zero, over all honest nodes.
    pub unauthorized_spend: u64,
    /// Honest nodes banned by any honest node, in % of the honest nodes.
    pub trust_collapse_pct: f64,
    /// Forgers.
    pub forgers: usize,
    /// Forgers banned by at least one honest node.
    pub forgers_banned: usize,
    /// What the spam phases did (none without one).
    pub spam: Option<SimSpam>,
    /// What the integrity scores showed (none unless a phase waited for cycles).
    pub gi: Option<SimGi>,
    /// Lapses and appeals through the live DAO (none unless the scenario had them).
    pub appeals: Option<SimAppeals>,
    /// Issuance over the run (none unless a phase waited for cycles).
    pub issuance: Option<SimIssuance>,
    /// Nodes drained into Worker Mode.
    pub bankrupt: usize,
    /// Of those, back in normal mode at the end.
    pub bankrupt_recovered: usize,
    /// Mean messages handled per honest node (entries, attestations, synced entries).
    pub messages_per_node: f64,
    /// Mean sync bytes received per honest node.
    pub sync_bytes_per_node: f64,
    /// Mean entries a node stored from gossip.
    pub gossip_entries_per_node: f64,
    /// Mean entries a node stored from sync (what gossip did not bring).
    pub sync_entries_per_node: f64,
    /// Every wallet's balance as one honest node sees it, IPPC.
    pub balances: Vec<f64>,
}

/// The state of `honest` now.
fn snapshot(honest: &[&LocalNode], started: Instant, cut_ms: u64) -> Sample {
    let banned: BTreeSet<String> = honest
        .iter()
        .flat_map(|n| {
            n.view
                .read(|v| v.banned.iter().map(|b| b.peer.clone()).collect::<Vec<_>>())
        })
        .collect();
    Sample {
        at_ms: started.elapsed().as_millis() as u64,
        distinct_roots: distinct_roots(honest),
        behind_cut: behind_cut(honest, cut_ms),
        pending: honest.iter().map(|n| n.ledger.pending_count().unwrap_or(0)).sum(),
        bans: banned.len(),
        live: honest.len(),
    }
}

/// Entries beyond the slowest node's head that [`agree_before`] reads per
/// chain, at most; a gap wider than this is not a moment's difference.
const CUT_GAP_MAX: u64 = 64;

/// A node's chain heads: actor → seq (none if its ledger cannot be read).
fn head_seqs(n: &LocalNode) -> BTreeMap<NodeId, u64> {
    n.ledger
        .heads()
        .unwrap_or_default()
        .into_iter()
        .map(|(a, s, _)| (a, s))
        .collect()
}

/// How many nodes lack an entry made before `cut_ms` that another node
/// holds: the ones still to catch up on what the phase made, whatever
/// happened after it.
fn behind_cut(nodes: &[&LocalNode], cut_ms: u64) -> usize {
    let heads: Vec<BTreeMap<NodeId, u64>> = nodes.iter().map(|n| head_seqs(n)).collect();
    let mut behind = vec![false; nodes.len()];
    let actors: BTreeSet<NodeId> = heads.iter().flat_map(|h| h.keys().copied()).collect();
    for actor in actors {
        let Some((top, most)) = heads
            .iter()
            .enumerate()
            .filter_map(|(i, h)| Some((i, *h.get(&actor)?)))
            .max_by_key(|(_, s)| *s)
        else {
            continue;
        };
        // The newest entry made before the cut, counting back (few reads:
        // only what was made since).
        let mut last = None;
        for seq in (most.saturating_sub(CUT_GAP_MAX)..=most).rev() {
            match nodes[top].ledger.entry(&actor, seq) {
                Ok(Some((e, _))) if e.body.timestamp_ms >= cut_ms => continue,
                Ok(Some(_)) => {
                    last = Some(seq);
                    break;
                }
                _ => break,
            }
        }
        let Some(last) = last else { continue };
        for (i, h) in heads.iter().enumerate() {
            if h.get(&actor).is_none_or(|s| *s < last) {
                behind[i] = true;
            }
        }
    }
    behind.iter().filter(|b| **b).count()
}

/// Whether the nodes hold the same entries of every chain up to `cut_ms`,
/// whatever they hold after it. Cheap enough to ask often: one read of each
/// node's heads, and entries only where heads differ (a full walk of every
/// chain to the cut, [`ippoc_economy::store::Ledger::heads_before`], costs
/// the nodes' own ingestion too much at 100 nodes).
fn agree_before(nodes: &[&LocalNode], cut_ms: u64) -> bool {
    let mut heads: Vec<BTreeMap<NodeId, (u64, TxId)>> = Vec::with_capacity(nodes.len());
    for n in nodes {
        match n.ledger.heads() {
            Ok(h) => heads.push(h.into_iter().map(|(a, s, t)| (a, (s, t))).collect()),
            Err(_) => return false,
        }
    }
    let actors: BTreeSet<NodeId> = heads.iter().flat_map(|h| h.keys().copied()).collect();
    for actor in actors {
        let held: Vec<Option<(u64, TxId)>> = heads.iter().map(|h| h.get(&actor).copied()).collect();
        let Some((top, most)) = held
            .iter()
            .enumerate()
            .filter_map(|(i, h)| Some((i, (*h)?.0)))
            .max_by_key(|(_, s)| *s)
        else {
            continue;
        };
        let first_missing = |h: &Option<(u64, TxId)>| h.map_or(0, |(s, _)| s + 1);
        let from = held.iter().map(first_missing).min().unwrap_or(0);
        if most + 1 - from > CUT_GAP_MAX {
            return false;
        }
        // Every entry some node lacks must be made after the cut, and every
        // node's head must be the entry the most advanced node holds there.
        let reference = &nodes[top].ledger;
        for seq in from..=most {
            match reference.entry(&actor, seq) {
                Ok(Some((e, _))) if e.body.timestamp_ms >= cut_ms => {}
                _ => return false,
            }
        }
        for (s, tx) in held.iter().flatten() {
            if !matches!(reference.entry(&actor, *s), Ok(Some((e, _))) if e.tx_id() == *tx) {
                return false;
            }
        }
    }
    true
}

fn distinct_roots(nodes: &[&LocalNode]) -> usize {
    nodes
        .iter()
        .filter_map(|n| n.state_root().ok())
        .collect::<BTreeSet<_>>()
        .len()
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}
