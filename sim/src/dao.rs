//! Class D on the DAO: the evolution flow of DESIGN §8 on an embedded EVM
//! (revm) running the real contracts. A skill that passed its sandbox
//! simulation is proposed by a node, voted through by the humans, waits out
//! the timelock and is executed into the EvolutionRegistry. A toxic skill
//! fails its simulation, so no honest node proposes it; a byzantine node
//! proposes it anyway, the humans are fooled into voting for it, and the
//! veto key, holding the failed simulation, cancels it. What counts is the
//! registry's state afterwards, read from the chain.
//!
//! Every scenario also ends by anchoring its final checkpoint: each live
//! honest node records its chain heads and co-signs their Merkle root with its
//! EVM key, exactly as a daemon does at an epoch's end; the root most of them
//! signed is submitted to the Anchor contract, where every node of the swarm
//! is registered; then sampled entries are proven against the root on chain.

use ippoc_governance_bridge::dao::{DEVNET_STAKE, DEVNET_VOTING_PERIOD, GenesisNode, GenesisParameter, tokens};
use ippoc_governance_bridge::{
    B256, Chain, Dao, DeployConfig, EmbeddedChain, PrivateKeySigner, ProposalState, U256, keccak256,
};
use std::collections::BTreeMap;
use std::sync::Arc;

use ippoc_economy::NodeId;
use ippoc_economy::store::Ledger;
use ippoc_swarm::anchor::{Anchoring, prove};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// A skill put to the DAO.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Content hash of the module.
    pub hash: [u8; 32],
    /// Whether it is one of the toxic skills (known to the scenario, not to the DAO).
    pub toxic: bool,
    /// Whether it passed its sandbox simulation.
    pub simulated_ok: bool,
    /// Deterministic risk score from the simulation, basis points.
    pub risk: u32,
}

/// What the DAO did with the candidates, read back from the registry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvolutionOutcome {
    /// Good skills deployed on chain.
    pub good_deployed: u32,
    /// Good skills put to the DAO.
    pub good_total: u32,
    /// Skills that failed simulation, proposed anyway by a byzantine node.
    pub bypass_proposed: u32,
    /// Of those, the ones Governance reports as vetoed.
    pub bypass_vetoed: u32,
    /// Toxic skills put to the DAO.
    pub toxic_total: u32,
    /// Toxic skills the registry lists as deployed (must be 0).
    pub toxic_deployed: u32,
}

impl EvolutionOutcome {
    /// The outcomes of two evolution phases together.
    pub fn merge(self, other: EvolutionOutcome) -> EvolutionOutcome {
        EvolutionOutcome {
            good_deployed: self.good_deployed + other.good_deployed,
            good_total: self.good_total + other.good_total,
            bypass_proposed: self.bypass_proposed + other.bypass_proposed,
            bypass_vetoed: self.bypass_vetoed + other.bypass_vetoed,
            toxic_total: self.toxic_total + other.toxic_total,
            toxic_deployed: self.toxic_deployed + other.toxic_deployed,
        }
    }
}

const VOTING_PERIOD: u64 = DEVNET_VOTING_PERIOD;
const TIMELOCK: u64 = 48 * 3_600;
const HUMANS: usize = 10;

fn key(seed: u64, role: &str, i: usize) -> Result<PrivateKeySigner, String> {
    let bytes = keccak256(format!("ippoc-sim {seed} {role} {i}").as_bytes());
    PrivateKeySigner::from_bytes(&bytes).map_err(|e| e.to_string())
}

fn e(err: impl std::fmt::Display) -> String {
    format!("DAO: {err}")
}

/// Runs `work` on a thread of its own with a single-threaded runtime: the
/// embedded EVM executes inside its async calls, and on the simulation's
/// workers it would stall the nodes' tasks for as long as each call runs.
pub async fn off_workers<T, F>(work: impl FnOnce() -> F + Send + 'static) -> Result<T, String>
where
    T: Send + 'static,
    F: std::future::Future<Output = Result<T, String>>,
{
    tokio::task::spawn_blocking(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(e)?
            .block_on(work())
    })
    .await
    .map_err(e)?
}

/// Run the candidates through a freshly deployed DAO.
pub async fn evolve(seed: u64, candidates: &[Candidate]) -> Result<EvolutionOutcome, String> {
    let deployer = key(seed, "deployer", 0)?;
    let vetoer = key(seed, "vetoer", 0)?;
    let humans: Vec<PrivateKeySigner> = (0..HUMANS).map(|i| key(seed, "human", i)).collect::<Result<_, _>>()?;
    let honest = key(seed, "node", 0)?;
    let byzantine = key(seed, "node", 1)?;
    let nodes = [&honest, &byzantine]
        .iter()
        .enumerate()
        .map(|(i, k)| GenesisNode {
            address: k.address(),
            node_id: [i as u8 + 1; 32],
            tier: 2,
        })
        .collect();
    let holders: Vec<_> = humans.iter().map(|h| h.address()).collect();
    let config = DeployConfig {
        parameters: vec![GenesisParameter {
            name: "evolution.max_risk".into(),
            value: U256::from(5_000),
            invariant: true,
        }],
        ..DeployConfig::devnet(vetoer.address(), &holders, nodes)
    };
    let chain = EmbeddedChain::new(31_337, 1_800_000_000 + seed, &[]);
    let dao = Dao::deploy(chain, &deployer, &config).await.map_err(e)?;
    for h in &humans {
        dao.stake(h, tokens(DEVNET_STAKE)).await.map_err(e)?;
    }

    let mut outcome = EvolutionOutcome::default();
    for c in candidates {
        let hash = B256::from(c.hash);
        let proposer = if c.simulated_ok { &honest } else { &byzantine };
        let id = dao
            .propose(proposer, &[dao.deploy_module(hash, c.risk)], "evolution")
            .await
            .map_err(e)?;
        // The humans vote for every evolution: the veto key is what stops a toxic one.
        for h in &humans {
            let stake = dao.stake_of(h.address()).await.map_err(e)?;
            dao.vote(h, id, true, stake / U256::from(4u64)).await.map_err(e)?;
        }
        if c.toxic {
            outcome.toxic_total += 1;
        } else {
            outcome.good_total += 1;
        }
        if !c.simulated_ok {
            outcome.bypass_proposed += 1;
            dao.veto(&vetoer, id).await.map_err(e)?;
        }
        dao.chain().advance_time(VOTING_PERIOD).await.map_err(e)?;
        // Queue and execute whatever the contract lets through; a vetoed
        // proposal is refused here by the contract, not by the simulator.
        if dao.queue(&humans[0], id).await.is_ok() {
            dao.chain().advance_time(TIMELOCK).await.map_err(e)?;
            dao.execute(&humans[0], id).await.map_err(e)?;
        }
        if !c.simulated_ok && dao.status(id).await.map_err(e)?.state == ProposalState::Vetoed {
            outcome.bypass_vetoed += 1;
        }
        let deployed = dao.is_deployed(hash).await.map_err(e)?;
        match (c.toxic, deployed) {
            (false, true) => outcome.good_deployed += 1,
            (true, true) => outcome.toxic_deployed += 1,
            _ => {}
        }
    }
    Ok(outcome)
}

/// The final checkpoint on the chain.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnchorOutcome {
    /// Live honest nodes that co-signed their heads root.
    pub voters: u32,
    /// Distinct roots among them (1 when the swarm has converged).
    pub roots: u32,
    /// Nodes registered in the Anchor contract (every node of the swarm).
    pub registered: u32,
    /// Seats of the epoch's committee (every registered node up to 192).
    pub seats: u32,
    /// Seats whose holders co-signed the root submitted.
    pub signers: u32,
    /// Seats the contract requires (⌈seats × 2/3⌉).
    pub required: u32,
    /// Whether the contract holds the root for the epoch.
    pub anchored: bool,
    /// Entries proven against the anchored root.
    pub proofs: u32,
    /// Of those, the proofs that hold offline and that the contract accepts.
    pub proofs_verified: u32,
    /// Time to vote, submit and prove (the DAO's deployment not counted), ms.
    pub wall_ms: u64,
}

/// Anchors the final checkpoint: `registered` are every node of the swarm
/// (index, NodeID), `voters` the live honest ones with their ledgers, voting
/// on `epoch` of `epoch_ms`.
pub async fn anchor_final(
    seed: u64,
    registered: &[NodeId],
    voters: Vec<(usize, Arc<Ledger>)>,
    (epoch, epoch_ms): (u64, u64),
    samples: u32,
    mut rng: impl Rng,
) -> Result<AnchorOutcome, String> {
    let deployer = key(seed, "deployer", 0)?;
    let vetoer = key(seed, "vetoer", 0)?;
    let eth: Vec<PrivateKeySigner> = (0..registered.len())
        .map(|i| key(seed, "anchor", i))
        .collect::<Result<_, _>>()?;
    let config = DeployConfig::devnet(vetoer.address(), &[], at_standard(registered, &eth));
    let chain = EmbeddedChain::new(31_337, 1_800_000_000 + seed, &[]);
    let dao = Dao::deploy(chain, &deployer, &config).await.map_err(e)?;
    let chain_id = dao.chain().chain_id().await.map_err(e)?;
    let anchor = dao.addresses().anchor;
    let started = std::time::Instant::now();

    // Each voter's vote, as its daemon would cast it.
    let votes = voters
        .into_iter()
        .map(|(i, ledger)| {
            let a = Anchoring::new(eth[i].clone());
            a.book.set_target(chain_id, anchor);
            a.vote(&ledger, epoch, epoch_ms)
                .map(|v| v.map(|(root, sig)| (i, ledger, root, sig)))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(e)?;
    let mut by_root: BTreeMap<B256, Vec<(usize, Arc<Ledger>, ippoc_governance_bridge::dao::CheckpointSignature)>> =
        BTreeMap::new();
    for (i, ledger, root, sig) in votes.into_iter().flatten() {
        by_root.entry(root).or_default().push((i, ledger, sig));
    }
    let required = u32::try_from(dao.required_signers().await.map_err(e)?).map_err(e)?;
    let holders = dao.committee(epoch).await.map_err(e)?;
    let mut outcome = AnchorOutcome {
        voters: by_root.values().map(|v| v.len() as u32).sum(),
        roots: by_root.len() as u32,
        registered: registered.len() as u32,
        seats: holders.len() as u32,
        required,
        ..AnchorOutcome::default()
    };
    let Some((root, group)) = by_root.into_iter().max_by_key(|(_, g)| g.len()) else {
        outcome.wall_ms = started.elapsed().as_millis() as u64;
        return Ok(outcome);
    };
    // Only the epoch's committee counts: the seats whose holders signed.
    let signatures: Vec<_> = group.iter().map(|(_, _, s)| s.clone()).collect();
    let certificate = ippoc_governance_bridge::dao::Certificate::of(&holders, &signatures);
    outcome.signers = certificate.signed() as u32;
    if outcome.signers < required {
        outcome.wall_ms = started.elapsed().as_millis() as u64;
        return Ok(outcome);
    }
    dao.anchor_certificate(&eth[group[0].0], epoch, root, certificate)
        .await
        .map_err(e)?;
    outcome.anchored = dao.root_of(epoch).await.map_err(e)? == Some(root);

    // Sampled entries of sampled chains, proven from one signer's snapshot.
    let ledger = group[0].1.clone();
    let snapshot = ledger
        .snapshot(epoch)
        .map_err(e)?
        .ok_or("the voter's snapshot is gone")?;
    for _ in 0..samples {
        let head = snapshot.heads[rng.random_range(0..snapshot.heads.len())];
        let seq = rng.random_range(0..=head.seq);
        let Some((entry, _)) = ledger.entry(&head.actor, seq).map_err(e)? else {
            continue;
        };
        outcome.proofs += 1;
        let Ok(proof) = prove(&ledger, &entry.tx_id(), Some(epoch)) else {
            continue;
        };
        let holds = proof.check().is_ok_and(|p| p.tx_id == entry.tx_id()) && proof.root == root;
        let merkle = proof.merkle().map_err(e)?;
        if holds && outcome.anchored && dao.verify_inclusion(epoch, &merkle).await.map_err(e)? {
            outcome.proofs_verified += 1;
        }
    }
    outcome.wall_ms = started.elapsed().as_millis() as u64;
    Ok(outcome)
}

/// Every node registered at Standard under its EVM key (the ladder starts
/// the genesis founders there too).
fn at_standard(nodes: &[NodeId], eth: &[PrivateKeySigner]) -> Vec<GenesisNode> {
    nodes
        .iter()
        .zip(eth)
        .map(|(id, k)| GenesisNode {
            address: k.address(),
            node_id: *id.as_bytes(),
            tier: 2,
        })
        .collect()
}

/// A DAO every node follows during the run (a scenario with `dao = true`):
/// each node is registered at Standard with its own EVM key, co-signs and
/// anchors each epoch's checkpoint, and its ladder applies what the DAO
/// decides. Ten humans hold the stake that passes proposals.
pub struct LiveDao {
    /// The embedded EVM every node's watcher reads.
    pub chain: Arc<EmbeddedChain>,
    /// The contracts' addresses on it.
    pub addresses: ippoc_governance_bridge::DaoAddresses,
    /// Each node's EVM key, by node index.
    pub eth: Vec<PrivateKeySigner>,
    humans: Vec<PrivateKeySigner>,
}

impl LiveDao {
    /// Deploys the contracts with `nodes` registered, and stakes the humans.
    pub async fn deploy(seed: u64, nodes: &[NodeId]) -> Result<LiveDao, String> {
        let deployer = key(seed, "live deployer", 0)?;
        let vetoer = key(seed, "live vetoer", 0)?;
        let humans: Vec<PrivateKeySigner> = (0..HUMANS)
            .map(|i| key(seed, "live human", i))
            .collect::<Result<_, _>>()?;
        let eth: Vec<PrivateKeySigner> = (0..nodes.len())
            .map(|i| key(seed, "live node", i))
            .collect::<Result<_, _>>()?;
        let holders: Vec<_> = humans.iter().map(|h| h.address()).collect();
        let config = DeployConfig::devnet(vetoer.address(), &holders, at_standard(nodes, &eth));
        let chain = Arc::new(EmbeddedChain::new(31_337, 1_800_000_000 + seed, &[]));
        let dao = Dao::deploy(
            ippoc_governance_bridge::AnyChain::Embedded(chain.clone()),
            &deployer,
            &config,
        )
        .await
        .map_err(e)?;
        for h in &humans {
            dao.stake(h, tokens(DEVNET_STAKE)).await.map_err(e)?;
        }
        Ok(LiveDao {
            chain,
            addresses: dao.addresses(),
            eth,
            humans,
        })
    }

    /// The contracts, for a node's watcher or the simulator.
    pub fn dao(&self) -> Dao<ippoc_governance_bridge::AnyChain> {
        Dao::at(
            ippoc_governance_bridge::AnyChain::Embedded(self.chain.clone()),
            self.addresses,
        )
    }

    /// Upholds an appeal of each of `nodes`: one proposal, every human votes
    /// for it, the voting period and the timelock pass on the chain's clock,
    /// and it is executed. Returns the proposal's id.
    pub async fn appeal(&self, nodes: &[NodeId]) -> Result<u64, String> {
        let dao = self.dao();
        let actions: Vec<_> = nodes.iter().map(|n| dao.appeal(B256::from(*n.as_bytes()))).collect();
        let id = dao.propose(&self.humans[0], &actions, "appeals").await.map_err(e)?;
        for h in &self.humans {
            let stake = dao.stake_of(h.address()).await.map_err(e)?;
            dao.vote(h, id, true, stake / U256::from(4u64)).await.map_err(e)?;
        }
        dao.chain().advance_time(VOTING_PERIOD).await.map_err(e)?;
        dao.queue(&self.humans[0], id).await.map_err(e)?;
        dao.chain().advance_time(TIMELOCK).await.map_err(e)?;
        dao.execute(&self.humans[0], id).await.map_err(e)?;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;
    use ippoc_economy::genesis::Genesis;
    use ippoc_economy::store::{Draft, Intent, LedgerOptions};
    use ippoc_economy::{Amount, Currency};
    use rand::SeedableRng;

    /// The final anchoring of a swarm of 1000 registered nodes that has
    /// converged (every voter holds the same ledger: five chains of four
    /// transfers): the deployment registers them in 16 batches, all 1000
    /// vote, the epoch's 192 seats certify, and 20 sampled entries are
    /// proven against the root on chain. Before committees the deployment
    /// alone ran out of gas above ~235 nodes.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_thousand_registered_nodes_anchor_through_their_committee() {
        let keys: Vec<SigningKey> = (0..1000u32)
            .map(|i| SigningKey::from_bytes(&keccak256(i.to_be_bytes()).0))
            .collect();
        let ids: Vec<NodeId> = keys
            .iter()
            .map(|k| NodeId::from_bytes(k.verifying_key().to_bytes()))
            .collect();
        let genesis = Genesis::new(
            "anchor-1000",
            1,
            &ids,
            Amount::from_base(1_000_000_000),
            Amount::from_base(1),
        );
        let dir = tempfile::tempdir().unwrap();
        let open = |name: &str, owner: NodeId| {
            Ledger::open(&dir.path().join(name), genesis.clone(), owner, LedgerOptions::default()).unwrap()
        };
        let shared = open("converged", ids[0]);
        for a in 0..5 {
            let own = open(&format!("node-{a}"), ids[a]);
            for t in 0..4 {
                let pay = Intent::Transfer {
                    to: ids[a + 1],
                    currency: Currency::Ippc,
                    amount: Amount::from_base(1_000),
                };
                own.append(&keys[a], Draft::new(pay, 1_000 + t)).unwrap();
            }
            let held = own.range(&ids[a], 0, 4).map(|r| r.unwrap().0).collect();
            shared.ingest(held).unwrap();
        }
        let shared = Arc::new(shared);
        let voters = (0..ids.len()).map(|i| (i, shared.clone())).collect();
        let outcome = anchor_final(1, &ids, voters, (10, 1_000), 20, rand::rngs::StdRng::seed_from_u64(1))
            .await
            .unwrap();
        assert_eq!((outcome.registered, outcome.voters, outcome.roots), (1000, 1000, 1));
        assert_eq!((outcome.seats, outcome.required), (192, 129));
        assert_eq!(outcome.signers, 192, "every seat's holder voted");
        assert!(outcome.anchored);
        assert_eq!((outcome.proofs, outcome.proofs_verified), (20, 20));
    }
}
