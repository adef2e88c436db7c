//! The one place a node is put together. The daemon (`ippoc-node`), the
//! in-process `LocalNode` of tests and the simulator (`local`), and the
//! benchmarks all fill a [`NodeBuilder`] and start it, so what runs in a test
//! is what runs in production, and the two cannot drift apart.
//!
//! Start order: the swarm document and the ban list are read, the mesh
//! starts listening with its validator and responder, the pump that
//! dispatches its events starts, and — for a node that follows a DAO — the
//! governance watcher with per-epoch anchoring.

use std::sync::Arc;

use ed25519_dalek::SigningKey;
use ippoc_economy::NodeId;
use ippoc_economy::standing::{DecisionBook, Decisions, NoDao};
use ippoc_economy::store::Ledger;
use ippoc_governance_bridge::PrivateKeySigner;
use ippoc_mesh::{MeshClient, MeshConfig, PeerId};
use ippoc_sandbox::Sandbox;
use tokio::sync::Notify;

use crate::anchor::Anchoring;
use crate::bounty::SharedBoard;
use crate::doc::{SharedSwarmDoc, SwarmDoc};
use crate::gov_view::{SharedGovView, new_view};
use crate::governance::{GovLink, Watcher, WatcherHandle};
use crate::guard::SigningGuard;
use crate::layout::NodePaths;
use crate::metrics::{AnchorMetrics, NodeCollector};
use crate::pump::{Cadence, MeshParts, MeshRuntime};
use crate::skills::SkillStore;
use crate::view::SharedMeshView;
use crate::{Error, OwnChain};

/// How a node follows its DAO.
pub struct FollowDao {
    /// The contracts on their chain.
    pub link: GovLink,
    /// The node's EVM key: with it the node co-signs and anchors each
    /// epoch's checkpoint; without it, it only follows.
    pub eth_key: Option<PrivateKeySigner>,
    /// Watcher rounds each co-signer leaves the one before it to get an
    /// anchor mined (`[governance] anchor_turn_ms` over `poll_ms`).
    pub anchor_turn_rounds: u64,
}

/// Everything a node needs to start in the swarm.
pub struct NodeBuilder {
    chain: OwnChain,
    paths: NodePaths,
    mesh: MeshConfig,
    cadence: Cadence,
    fingerprint: String,
    sandbox: Option<Arc<Sandbox>>,
    work_bounties: bool,
    dao: Option<FollowDao>,
    view: SharedMeshView,
    gov: SharedGovView,
    anchor_metrics: Option<AnchorMetrics>,
}

impl NodeBuilder {
    /// A node with identity `key` over its opened `ledger` and the signing
    /// `guard` opened for it, its files laid out under `paths`, on the mesh
    /// `mesh`, attesting and syncing at `cadence`.
    pub fn new(
        key: SigningKey,
        ledger: Arc<Ledger>,
        guard: Arc<SigningGuard>,
        paths: NodePaths,
        mesh: MeshConfig,
        cadence: Cadence,
    ) -> Self {
        NodeBuilder {
            chain: OwnChain::new(ledger, key, guard, Arc::new(Notify::new())),
            paths,
            mesh,
            cadence,
            fingerprint: String::new(),
            sandbox: None,
            work_bounties: false,
            dao: None,
            view: SharedMeshView::default(),
            gov: new_view(),
            anchor_metrics: None,
        }
    }

    /// Registers the node's metrics in `registry` (docs/metrics.md): the
    /// state it keeps, read at each scrape, and the mesh's, the sandbox's
    /// (if [`Self::sandbox`] was given first) and anchoring's counters.
    pub fn metrics(mut self, registry: &mut prometheus_client::registry::Registry) -> Self {
        self.mesh.metrics = Some(Arc::new(ippoc_mesh::MeshMetrics::new(registry)));
        if let Some(s) = &self.sandbox {
            s.metrics().register(registry);
        }
        self.anchor_metrics = Some(AnchorMetrics::new(registry));
        registry.register_collector(Box::new(NodeCollector {
            ledger: self.chain.ledger().clone(),
            view: self.view.clone(),
            gov: self.gov.clone(),
            epoch_ms: self.cadence.epoch_ms,
        }));
        self
    }

    /// The machine's fingerprint hash (hex) for the directory entry.
    pub fn fingerprint(mut self, hash_hex: String) -> Self {
        self.fingerprint = hash_hex;
        self
    }

    /// The sandbox bounty work and skill runs use (without one the node
    /// neither works bounties nor checks their results).
    pub fn sandbox(mut self, sandbox: Arc<Sandbox>) -> Self {
        self.sandbox = Some(sandbox);
        self
    }

    /// Take bounties even when solvent (a node in Worker Mode always does).
    pub fn work_bounties(mut self, yes: bool) -> Self {
        self.work_bounties = yes;
        self
    }

    /// Follow a DAO: skills it deploys, parameter tables it sets, anchoring.
    pub fn follow_dao(mut self, dao: FollowDao) -> Self {
        self.dao = Some(dao);
        self
    }

    /// The own chain the running node will append through (available before
    /// start, for a host that wires its API first).
    pub fn chain(&self) -> &OwnChain {
        &self.chain
    }

    /// Starts the node on the current tokio runtime; returns once the mesh
    /// listens (if it was given addresses to listen on).
    pub async fn start(self) -> Result<RunningNode, Error> {
        let NodeBuilder {
            chain,
            paths,
            mesh,
            cadence,
            fingerprint,
            sandbox,
            work_bounties,
            dao,
            view,
            gov,
            anchor_metrics,
        } = self;
        let ledger = chain.ledger().clone();
        let id = ledger.owner();
        let doc = SwarmDoc::open(&paths.swarm_doc(), ledger.genesis(), id)?;
        let doc: SharedSwarmDoc = Arc::new(std::sync::Mutex::new(doc));
        let board = SharedBoard::default();
        let skills = SkillStore::new(paths.skills());
        let anchoring = dao.as_ref().and_then(|d| {
            d.eth_key.clone().map(|k| {
                Anchoring::new(k)
                    .with_turn_rounds(d.anchor_turn_rounds)
                    .with_metrics(anchor_metrics.clone())
            })
        });
        // The watcher reads the DAO's ladder decisions into the book the
        // pump's ladder reads; a node that follows no DAO has none to wait for.
        let book: Option<Arc<std::sync::RwLock<DecisionBook>>> = dao.as_ref().map(|_| Arc::default());
        let decisions: Arc<dyn Decisions> = match &book {
            Some(b) => b.clone(),
            None => Arc::new(NoDao),
        };
        let ladder = decisions.clone();
        let parts = MeshParts {
            chain: chain.clone(),
            bans_path: paths.bans(),
            view: view.clone(),
            doc: doc.clone(),
            fingerprint,
            sandbox: sandbox.clone(),
            board: board.clone(),
            work_bounties,
            skills: skills.clone(),
            anchoring: anchoring.clone(),
            decisions,
        };
        let listens = !mesh.listen.is_empty();
        let mesh = crate::pump::start(parts, mesh, cadence)?;
        // A bind failure is an error of `start`; what remains is the event.
        if listens {
            view.wait_until(|v| !v.listening.is_empty()).await;
        }
        let watcher = dao.map(|d| {
            Watcher {
                link: d.link,
                store: skills.clone(),
                client: mesh.client.clone(),
                mesh: view.clone(),
                view: gov.clone(),
                ledger: ledger.clone(),
                anchoring,
                decisions: book.clone().unwrap_or_default(),
            }
            .spawn()
        });
        Ok(RunningNode {
            id,
            peer_id: mesh.peer_id,
            chain,
            view,
            doc,
            board,
            skills,
            gov,
            decisions: ladder,
            sandbox,
            mesh,
            watcher,
        })
    }
}

/// A node running in the swarm.
pub struct RunningNode {
    /// Its NodeId.
    pub id: NodeId,
    /// Its libp2p PeerId (from the same key).
    pub peer_id: PeerId,
    /// Its own chain: the way to append, which tells gossip by construction.
    pub chain: OwnChain,
    /// Its mesh as it sees it; changes wake waiters.
    pub view: SharedMeshView,
    /// Its swarm document.
    pub doc: SharedSwarmDoc,
    /// Its own open bounty offers.
    pub board: SharedBoard,
    /// Its skill modules.
    pub skills: SkillStore,
    /// What it knows of the DAO's decisions.
    pub gov: SharedGovView,
    /// The DAO's ladder decisions as far as read (what its ladder moves by).
    pub decisions: Arc<dyn Decisions>,
    /// The sandbox it runs skills in, if any.
    pub sandbox: Option<Arc<Sandbox>>,
    mesh: MeshRuntime,
    watcher: Option<WatcherHandle>,
}

impl RunningNode {
    /// Its ledger (reads; appends go through [`Self::chain`]).
    pub fn ledger(&self) -> &Arc<Ledger> {
        self.chain.ledger()
    }

    /// The mesh handle (dial, partition control).
    pub fn client(&self) -> &MeshClient {
        &self.mesh.client
    }

    /// Stops the governance watcher, then the pump and the mesh, and waits
    /// for each: when this returns, nothing of the node runs any more.
    pub async fn stop(self) {
        if let Some(w) = self.watcher {
            w.stop().await;
        }
        self.mesh.stop().await;
    }
}
