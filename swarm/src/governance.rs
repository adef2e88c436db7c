//! The node's link to the DAO: which chain and contracts, and a watcher that
//! follows what executed proposals decided — skills the EvolutionRegistry
//! deployed or revoked, parameters the Parameters contract changed — and
//! fetches every deployed module from peers by hash. Each executed
//! parameter change becomes the ledger's next parameter table.
//!
//! The chain is the only source of these facts: nothing the node is told over
//! the mesh or the admin API marks a skill deployed.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use std::sync::RwLock;

use ippoc_economy::NodeId;
use ippoc_economy::params::Parameters;
use ippoc_economy::standing::{Decision, DecisionBook, TierCode};
use ippoc_economy::store::Ledger;
use ippoc_governance_bridge::dao::{LadderDecision, LadderEvent, ParameterChange, parameter_key};
use ippoc_governance_bridge::{AnyChain, B256, Dao, DaoAddresses, RpcChain};
use ippoc_mesh::{MeshClient, PeerId};
use tokio::sync::oneshot;

use crate::Error;
use crate::fsutil;
use crate::gov_view::{Deployment, SharedGovView};
use crate::skills::{SkillStore, hash_hex};
use crate::view::SharedMeshView;

/// How the node reaches the DAO.
#[derive(Debug, Clone)]
pub struct GovLink {
    /// The contracts on their chain.
    pub dao: Arc<Dao<AnyChain>>,
    /// How often the watcher asks the chain for news.
    pub poll: Duration,
}

impl GovLink {
    /// A link over JSON-RPC to the contracts listed in `dao_file` (written by `ippoc gov deploy`).
    pub fn rpc(url: &str, dao_file: &Path, poll: Duration) -> Result<GovLink, Error> {
        let addresses = read_addresses(dao_file)?;
        let chain = RpcChain::new(url).map_err(|e| Error::Refused(format!("governance.rpc {url:?}: {e}")))?;
        Ok(GovLink {
            dao: Arc::new(Dao::at(AnyChain::Rpc(Arc::new(chain)), addresses)),
            poll,
        })
    }
}

/// Reads a DAO address file.
pub fn read_addresses(path: &Path) -> Result<DaoAddresses, Error> {
    serde_json::from_slice(&fsutil::read(path)?)
        .map_err(|e| Error::Refused(format!("{}: not a DAO address file: {e}", path.display())))
}

/// Why a round of following the chain failed (it is read again whole next time).
#[derive(Debug, thiserror::Error)]
enum FollowError {
    /// The chain could not be read.
    #[error("chain: {0}")]
    Chain(#[from] ippoc_governance_bridge::ChainError),
    /// The ledger refused the table.
    #[error("ledger: {0}")]
    Ledger(#[from] ippoc_economy::store::LedgerError),
    /// A blocking task died.
    #[error("task: {0}")]
    Task(String),
}

/// What the watcher needs.
pub struct Watcher {
    /// The DAO.
    pub link: GovLink,
    /// Where fetched modules go.
    pub store: SkillStore,
    /// The mesh, to fetch modules from peers.
    pub client: MeshClient,
    /// The mesh view, for the connected peers.
    pub mesh: SharedMeshView,
    /// The view to keep up to date.
    pub view: SharedGovView,
    /// The ledger whose parameter tables follow the DAO.
    pub ledger: Arc<Ledger>,
    /// Submits anchor checkpoints (a node without an EVM key does not).
    pub anchoring: Option<crate::anchor::Anchoring>,
    /// Where the DAO's ladder decisions go, for the pump's ladder.
    pub decisions: Arc<RwLock<DecisionBook>>,
}

/// The ladder rule name whose key this is.
pub fn ladder_rule_name(key: &B256) -> Option<&'static str> {
    ippoc_economy::standing::LadderRules::GOVERNED
        .into_iter()
        .find(|n| parameter_key(n) == *key)
}

/// What the watcher feeds the ladder's book, in chain order.
enum Ladder<'a> {
    /// An anchor or a decision of the Anchor contract.
    Event(&'a LadderEvent),
    /// A change of a governed ladder rule (Parameters contract).
    Rule(&'static str, &'a ParameterChange),
}

/// The ladder's form of a decision the Anchor contract recorded.
pub fn ladder_decision(d: &LadderDecision) -> Decision {
    match *d {
        LadderDecision::Promote { node_id, tier } => Decision::Promote {
            node: NodeId::from_bytes(node_id.0),
            tier: TierCode(tier).tier(),
        },
        LadderDecision::Appeal { node_id } => Decision::Appeal {
            node: NodeId::from_bytes(node_id.0),
        },
    }
}

/// The ledger parameter name whose key this is.
pub fn governed_name(key: &B256) -> Option<&'static str> {
    Parameters::GOVERNED.into_iter().find(|n| parameter_key(n) == *key)
}

/// The parameter tables executed changes define: table n is table n − 1
/// with the n-th `ParameterChanged` event (in chain order) applied. An event
/// that is not a ledger parameter, or whose value would make the table
/// invalid, still counts as a version with the table unchanged, so every
/// node numbers the same events alike.
#[derive(Debug, Clone)]
struct Schedule {
    version: u32,
    table: Parameters,
}

impl Schedule {
    fn apply(&mut self, change: &ParameterChange) {
        self.version += 1;
        let Some(name) = governed_name(&change.key) else {
            return;
        };
        let next = u64::try_from(change.value)
            .map_err(|_| "above 2^64".to_string())
            .and_then(|v| self.table.with(name, v).map_err(|e| e.to_string()));
        match next {
            Ok(table) => self.table = table,
            Err(reason) => tracing::warn!(
                event = "parameter_ignored",
                name,
                value = %change.value,
                proposal = change.proposal,
                %reason,
                "an executed parameter change the ledger cannot use; the table stays as it was"
            ),
        }
    }
}

/// A running watcher.
pub struct WatcherHandle {
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl WatcherHandle {
    /// Stops the watcher.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Watcher {
    /// Starts following the chain on the current runtime.
    pub fn spawn(self) -> WatcherHandle {
        self.view.send_modify(|v| v.connected = true);
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let mut from = 0;
            let mut schedule = Schedule {
                version: 0,
                table: self.ledger.genesis().parameters.clone(),
            };
            let mut tick = tokio::time::interval(self.link.poll);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = tick.tick() => {}
                }
                let error = match self.follow(from, &schedule).await {
                    Ok((next, adopted)) => {
                        from = next;
                        schedule = adopted;
                        let fetched = self.fetch_missing().await;
                        let anchored = match &self.anchoring {
                            Some(a) => a.round(&self.link.dao, &self.ledger).await.map(|e| e.to_string()),
                            None => None,
                        };
                        anchored.or(fetched)
                    }
                    Err(e) => Some(e.to_string()),
                };
                if let Some(e) = &error {
                    tracing::warn!(event = "governance_error", error = %e, "governance round failed");
                }
                self.view.send_if_modified(|v| {
                    let changed = v.last_error != error;
                    v.last_error = error;
                    changed
                });
            }
        });
        WatcherHandle {
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Applies the registry's and the parameters' events of blocks
    /// `from..=head`; the next block to read and the schedule after them.
    /// Events after the head read first are left for the next round, so each
    /// is applied once, in order. A round that fails is read again whole.
    async fn follow(&self, from: u64, schedule: &Schedule) -> Result<(u64, Schedule), FollowError> {
        let dao = &self.link.dao;
        let head = ippoc_governance_bridge::Chain::block_number(dao.chain()).await?;
        if head < from {
            return Ok((from, schedule.clone()));
        }
        let modules = dao.module_events(from).await?;
        let ladder: Vec<LadderEvent> = dao
            .ladder_events(from)
            .await?
            .into_iter()
            .filter(|e| match e {
                LadderEvent::Anchored { block, .. } | LadderEvent::Decided { block, .. } => *block <= head,
            })
            .collect();
        let parameters: Vec<ParameterChange> = dao
            .parameter_changes(from)
            .await?
            .into_iter()
            .filter(|p| p.block <= head)
            .collect();
        let mut next = schedule.clone();
        for change in &parameters {
            next.apply(change);
            let (ledger, version, table) = (self.ledger.clone(), next.version, next.table.clone());
            let adopted = tokio::task::spawn_blocking(move || ledger.adopt_parameters(version, table))
                .await
                .map_err(|e| FollowError::Task(e.to_string()))??;
            if adopted {
                tracing::info!(
                    event = "parameters_adopted",
                    version,
                    proposal = change.proposal,
                    "adopted the DAO's parameter table"
                );
            }
        }
        // Every event up to `head` is read before the anchors settle any
        // cycle: a decision in a later block lands after the cycles they
        // settle (docs/integrity.md, "DAO decisions"). A rule change is
        // stamped with the anchors of the blocks before its own, so within
        // a block it goes before the anchors.
        let rule_changes = parameters.iter().filter_map(|p| {
            let name = ladder_rule_name(&p.key)?;
            Some((p.block, 0u8, Ladder::Rule(name, p)))
        });
        let mut events: Vec<(u64, u8, Ladder<'_>)> = rule_changes
            .chain(ladder.iter().map(|e| match e {
                LadderEvent::Anchored { block, .. } | LadderEvent::Decided { block, .. } => {
                    (*block, 1, Ladder::Event(e))
                }
            }))
            .collect();
        events.sort_by_key(|(block, order, _)| (*block, *order));
        {
            let mut book = self.decisions.write().unwrap_or_else(|p| p.into_inner());
            for (_, _, e) in &events {
                match e {
                    Ladder::Event(LadderEvent::Anchored { epoch, .. }) => book.anchored(*epoch),
                    Ladder::Event(LadderEvent::Decided {
                        applies_at,
                        proposal,
                        decision,
                        ..
                    }) => {
                        let decision = ladder_decision(decision);
                        tracing::info!(
                            event = "ladder_decision",
                            proposal,
                            applies_at,
                            ?decision,
                            "the DAO decided on a node's standing"
                        );
                        book.record(*applies_at, decision);
                    }
                    Ladder::Rule(name, change) => {
                        let value = u64::try_from(change.value).unwrap_or(u64::MAX);
                        match book.change_rule(name, value) {
                            Ok(from) => tracing::info!(
                                event = "ladder_rule_changed",
                                name,
                                value,
                                from_cycle = from,
                                proposal = change.proposal,
                                "the DAO changed a rule of the ladder"
                            ),
                            Err(reason) => tracing::warn!(
                                event = "parameter_ignored", name, value = %change.value, proposal = change.proposal, %reason,
                                "an executed ladder rule change out of range; the rule stays as it was"
                            ),
                        }
                    }
                }
            }
        }
        self.view.send_if_modified(|v| {
            let before = v.clone();
            for m in modules.iter().filter(|m| m.block <= head) {
                let key = hash_hex(&m.module_hash.0);
                if m.deployed {
                    tracing::info!(event = "skill_deployed", module = %key, proposal = m.proposal, "the DAO deployed a skill");
                    v.revoked.remove(&key);
                    v.deployed.insert(
                        key,
                        Deployment {
                            proposal: m.proposal,
                            block: m.block,
                        },
                    );
                } else {
                    tracing::info!(event = "skill_revoked", module = %key, proposal = m.proposal, "the DAO revoked a skill");
                    v.deployed.remove(&key);
                    v.held.remove(&key);
                    v.revoked.insert(key);
                }
            }
            for p in &parameters {
                let name = governed_name(&p.key)
                    .or_else(|| ladder_rule_name(&p.key))
                    .map_or_else(|| hash_hex(&p.key.0), str::to_string);
                v.parameters.insert(name, p.value.to_string());
            }
            v.params_version = next.version;
            v.block = head;
            // A read alone wakes nobody: subscribers wait for decisions.
            v.read_at_ms = crate::ledger::now_ms();
            let mut before = before;
            before.read_at_ms = v.read_at_ms;
            *v != before
        });
        Ok((head + 1, next))
    }

    fn mark_held(&self, key: &str) {
        let newly = self
            .view
            .send_if_modified(|v| v.deployed.contains_key(key) && v.held.insert(key.to_string()));
        if newly {
            tracing::info!(event = "skill_ready", module = %key, "deployed skill ready to run");
        }
    }

    /// Fetches every deployed module the store lacks from the connected
    /// peers, one peer after another until one sends bytes with the right
    /// hash. Returns the last failure if some module is still missing.
    async fn fetch_missing(&self) -> Option<String> {
        let deployed: Vec<String> = self.view.borrow().deployed.keys().cloned().collect();
        let mut error = None;
        for key in deployed {
            let Ok(hash) = crate::skills::parse_hash(&key) else {
                continue;
            };
            if self.store.has(&hash) {
                self.mark_held(&key);
                continue;
            }
            let peers: Vec<PeerId> = self
                .mesh
                .read(|v| v.peers.iter().filter_map(|p| p.parse().ok()).collect());
            let mut got = false;
            for peer in peers {
                match crate::skills::fetch_from(&self.client, peer, &hash).await {
                    Ok(wasm) => match self.store.put(&wasm) {
                        Ok(_) => {
                            tracing::info!(event = "skill_fetched", module = %key, %peer, "fetched a deployed skill");
                            got = true;
                            break;
                        }
                        Err(e) => error = Some(e.to_string()),
                    },
                    Err(crate::skills::FetchError::Misbehaved(reason)) => {
                        let reason = format!("module fetch: {reason}");
                        tracing::warn!(event = "module_forged", module = %key, %peer, %reason, "a peer sent a forged module");
                        if let Err(e) = self.client.ban(peer, reason.clone()).await {
                            tracing::error!("could not ban {peer}: {e}");
                        }
                        error = Some(format!("peer {peer} {reason}"));
                    }
                    Err(crate::skills::FetchError::Unavailable(e)) => {
                        tracing::debug!(module = %key, error = %e, "module fetch failed");
                        error = Some(e);
                    }
                }
            }
            if got {
                self.mark_held(&key);
            } else if error.is_none() {
                error = Some(format!("no connected peer holds skill {key} yet"));
            }
        }
        error
    }
}
