//! An in-process node: what the daemon runs — started through the same
//! [`NodeBuilder`], over the same node directory layout — without the
//! process around it (no data-dir lock, no admin API, no systemd), on the
//! mesh's memory transport. Tests and the simulator run many of them in one
//! process.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ed25519_dalek::SigningKey;
use ippoc_economy::genesis::Genesis;
use ippoc_economy::store::{Ledger, LedgerOptions};
use ippoc_economy::{Amount, Currency, NodeId, TxId};
use ippoc_mesh::{MeshClient, MeshConfig, Multiaddr, PeerId, Transport};
use ippoc_sandbox::Sandbox;

use crate::bounty::{SharedBoard, Task};
use crate::doc::SharedSwarmDoc;
use crate::gov_view::SharedGovView;
use crate::governance::GovLink;
use crate::guard::SigningGuard;
use crate::layout::NodePaths;
use crate::ledger::{TransferRequest, ledger_error};
use crate::node::{FollowDao, NodeBuilder, RunningNode};
use crate::pump::Cadence;
use crate::sandbox::SandboxRunView;
use crate::skills::SkillStore;
use crate::view::SharedMeshView;
use crate::{Error, OwnChain};

/// A memory-transport address no other node of this process uses.
pub fn memory_addr() -> Multiaddr {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    // The process id keeps concurrent test binaries apart in debug output only:
    // memory addresses are per process anyway.
    let n = (u64::from(std::process::id()) << 24) + NEXT.fetch_add(1, Ordering::Relaxed);
    format!("/memory/{n}").parse().expect("a valid multiaddress")
}

/// How to start a [`LocalNode`].
#[derive(Clone)]
pub struct LocalConfig {
    /// Its node directory, laid out as a daemon's (`layout::NodePaths`).
    pub dir: PathBuf,
    /// The swarm's genesis.
    pub genesis: Genesis,
    /// Its identity key.
    pub key: SigningKey,
    /// Mesh settings; `listen` defaults to a fresh memory address.
    pub mesh: MeshConfig,
    /// Attestation and sync cadence.
    pub cadence: Cadence,
    /// The sandbox for bounty work (one can serve every node of a process).
    pub sandbox: Option<Arc<Sandbox>>,
    /// Take bounties even when solvent.
    pub work_bounties: bool,
    /// Flush the ledger before acknowledging (see `LedgerOptions::durable`).
    pub durable: bool,
    /// The ledger's page cache, in bytes.
    pub ledger_cache_bytes: u64,
    /// The DAO to follow (none: no skill is ever deployed here).
    pub governance: Option<GovLink>,
    /// The node's EVM key: with `governance`, it co-signs and anchors checkpoints.
    pub eth_key: Option<ippoc_governance_bridge::PrivateKeySigner>,
    /// Watcher rounds each co-signer leaves the one before it to get an anchor mined.
    pub anchor_turn_rounds: u64,
    /// Keep the node's metrics in a registry of its own ([`LocalNode::metrics`]).
    /// A sandbox given here is shared, so its metrics are not in it.
    pub metrics: bool,
}

impl LocalConfig {
    /// A node of `genesis` with key `key` in `dir`, on the memory transport,
    /// dialing `bootstrap`; heartbeats, gossip and sync run at test speed.
    pub fn new(dir: &Path, genesis: Genesis, key: SigningKey, bootstrap: Vec<Multiaddr>) -> LocalConfig {
        let mut mesh = MeshConfig::new(genesis.swarm_id().0, Transport::Memory);
        mesh.listen = vec![memory_addr()];
        mesh.bootstrap = bootstrap;
        mesh.heartbeat_ms = 100;
        LocalConfig {
            dir: dir.to_path_buf(),
            genesis,
            key,
            mesh,
            cadence: Cadence {
                attest_interval: std::time::Duration::from_millis(500),
                sync_interval: std::time::Duration::from_millis(1000),
                epoch_ms: 60_000,
                limits: Default::default(),
                ladder: Default::default(),
            },
            sandbox: None,
            work_bounties: false,
            durable: true,
            ledger_cache_bytes: LedgerOptions::default().cache_bytes,
            governance: None,
            eth_key: None,
            anchor_turn_rounds: 1,
            metrics: false,
        }
    }
}

/// A running in-process node: a [`RunningNode`] started through the same
/// [`NodeBuilder`] as the daemon, with the handles tests and the simulator use.
pub struct LocalNode {
    /// Its NodeId.
    pub id: NodeId,
    /// Its identity key (tests and the simulator sign adversarial entries with
    /// it; the node itself appends only through its own chain).
    pub key: SigningKey,
    /// Its ledger.
    pub ledger: Arc<Ledger>,
    /// Its mesh as it sees it; changes wake waiters.
    pub view: SharedMeshView,
    /// Where it listens.
    pub addr: Multiaddr,
    /// Its swarm document.
    pub doc: SharedSwarmDoc,
    /// Its own open bounty offers.
    pub board: SharedBoard,
    /// Its libp2p PeerId.
    pub peer_id: PeerId,
    /// Its skill modules.
    pub skills: SkillStore,
    /// What it knows of the DAO's decisions.
    pub gov: SharedGovView,
    registry: Option<prometheus_client::registry::Registry>,
    node: RunningNode,
}

impl LocalNode {
    /// Opens the ledger and starts the node; returns once it listens.
    pub async fn start(config: LocalConfig) -> Result<LocalNode, Error> {
        let id = NodeId::from_bytes(config.key.verifying_key().to_bytes());
        let paths = NodePaths::new(&config.dir);
        for sub in crate::layout::NODE_SUBDIRS {
            let dir = paths.root().join(sub);
            std::fs::create_dir_all(&dir).map_err(|e| Error::io("cannot create", &dir, e))?;
        }
        let path = paths.ledger();
        let options = LedgerOptions {
            durable: config.durable,
            cache_bytes: config.ledger_cache_bytes,
            // The simulator's nodes share one disk and never meet a full one.
            reserve_bytes: if config.durable {
                LedgerOptions::default().reserve_bytes
            } else {
                0
            },
            ..LedgerOptions::default()
        };
        let ledger = Ledger::open(&path, config.genesis, id, options).map_err(|e| Error::Ledger {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let ledger = Arc::new(ledger);
        let guard = Arc::new(SigningGuard::open(
            &paths.signing_guard(),
            &ledger,
            true,
            config.durable,
        )?);
        let addr = config.mesh.listen.first().cloned().unwrap_or_else(memory_addr);
        let mut mesh = config.mesh;
        mesh.listen = vec![addr.clone()];
        let mut builder = NodeBuilder::new(config.key.clone(), ledger.clone(), guard, paths, mesh, config.cadence)
            .work_bounties(config.work_bounties);
        // Before the sandbox: a shared sandbox's counts are not this node's.
        let mut registry = config.metrics.then(prometheus_client::registry::Registry::default);
        if let Some(r) = registry.as_mut() {
            builder = builder.metrics(r);
        }
        if let Some(sandbox) = config.sandbox {
            builder = builder.sandbox(sandbox);
        }
        if let Some(link) = config.governance {
            builder = builder.follow_dao(FollowDao {
                link,
                eth_key: config.eth_key,
                anchor_turn_rounds: config.anchor_turn_rounds,
            });
        }
        let node = builder.start().await?;
        Ok(LocalNode {
            id,
            key: config.key,
            ledger,
            view: node.view.clone(),
            addr,
            doc: node.doc.clone(),
            board: node.board.clone(),
            peer_id: node.peer_id,
            skills: node.skills.clone(),
            gov: node.gov.clone(),
            registry,
            node,
        })
    }

    /// The node's metrics now, in OpenMetrics text (none unless
    /// [`LocalConfig::metrics`]): counters since this start, state as kept.
    pub fn metrics(&self) -> Option<String> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, self.registry.as_ref()?).ok()?;
        Some(out)
    }

    /// The DAO's ladder decisions as far as the node has read them.
    pub fn decisions(&self) -> &Arc<dyn ippoc_economy::standing::Decisions> {
        &self.node.decisions
    }

    /// The node's mesh handle (dial, partition control).
    pub fn client(&self) -> &MeshClient {
        self.node.client()
    }

    /// Whether the node may sign now (its signing guard), and why not.
    pub fn signing(&self) -> crate::guard::GuardState {
        self.node.chain.signing()
    }

    /// The node's own chain (appends reach gossip by construction).
    pub fn chain(&self) -> &OwnChain {
        &self.node.chain
    }

    /// Pays `amount` IPPC to `to`, as `ippoc transfer` does; the entry is
    /// durable and on its way to the swarm when this returns.
    pub fn transfer(&self, to: NodeId, amount: Amount) -> Result<TxId, Error> {
        let request = TransferRequest {
            to,
            amount,
            currency: Currency::Ippc,
        };
        Ok(crate::ledger::transfer(&self.node.chain, &request)?.tx_id)
    }

    /// Posts a bounty for running `task`; the mesh gossips the offer.
    pub fn post_bounty(
        &self,
        task: Task,
        reward: Amount,
        expires_at_ms: u64,
    ) -> Result<ippoc_economy::EscrowId, Error> {
        crate::bounty::post(&self.node.chain, &self.node.board, task, reward, expires_at_ms)
    }

    /// The ledger's state root.
    pub fn state_root(&self) -> Result<[u8; 32], Error> {
        self.ledger.state_root().map_err(ledger_error)
    }

    /// Entries held, over every chain.
    pub fn entries(&self) -> Result<u64, Error> {
        self.ledger.entries_held().map_err(ledger_error)
    }

    /// Runs the DAO-deployed skill `hash` on `input`, paid from the wallet,
    /// as `ippoc evolve run` does; refused unless the chain deployed it and
    /// the node holds a copy that matches the hash.
    pub fn run_skill(&self, hash: &[u8; 32], input: &[u8], capabilities: &[String]) -> Result<SandboxRunView, Error> {
        let sandbox = self
            .node
            .sandbox
            .as_ref()
            .ok_or_else(|| Error::Refused("this node has no sandbox".into()))?;
        let view = self.gov.borrow().clone();
        crate::skills::run_deployed(
            sandbox,
            &self.node.chain,
            &view,
            &self.skills,
            hash,
            input,
            None,
            capabilities,
        )
    }

    /// Stops the node and waits until nothing of it runs, then closes its
    /// ledger here. True when it did; false when something outside the node
    /// still holds the ledger (a caller's clone of [`Self::ledger`]), which
    /// is logged: the store then closes when that last handle goes, and a
    /// restart before that would wait for its lock.
    pub async fn stop(self) -> bool {
        let LocalNode {
            id,
            ledger,
            node,
            registry,
            ..
        } = self;
        node.stop().await;
        // Its collector holds the ledger too.
        drop(registry);
        match Arc::into_inner(ledger) {
            // Closing flushes: off the async threads, and done before this returns.
            Some(ledger) => tokio::task::spawn_blocking(move || drop(ledger)).await.is_ok(),
            None => {
                tracing::error!(node = %id, "stopped, but its ledger is still held outside the node");
                false
            }
        }
    }
}

/// Waits until `done` holds, re-checking whenever any of `nodes` changes
/// (every ingest, sync round, ban and heartbeat changes a node's view), for
/// at most `timeout`; false if it timed out. No polling, no sleeps.
pub async fn until(nodes: &[&LocalNode], timeout: Duration, done: impl Fn() -> bool) -> bool {
    until_paced(nodes, timeout, Duration::ZERO, done).await
}

/// [`until`], re-checking at most once per `gap`, and never spending more
/// than a fifth of the time checking: with many nodes the views change
/// thousands of times a second, and an observer that re-checks on every
/// change would take the CPU from the nodes it observes. It still waits for a
/// change; the pacing only bounds how often it looks.
pub async fn until_paced(nodes: &[&LocalNode], timeout: Duration, gap: Duration, done: impl Fn() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let checked = tokio::time::Instant::now();
        let mut changes: Vec<_> = nodes.iter().map(|n| n.view.subscribe()).collect();
        if done() {
            return true;
        }
        let gap = if gap.is_zero() {
            gap
        } else {
            gap.max(checked.elapsed() * 4)
        };
        if changes.is_empty() {
            return false;
        }
        let any = futures::future::select_all(changes.iter_mut().map(|c| Box::pin(c.changed())));
        if tokio::time::timeout_at(deadline, any).await.is_err() {
            return false;
        }
        if !gap.is_zero() {
            tokio::time::sleep_until((checked + gap).min(deadline)).await;
        }
    }
}
