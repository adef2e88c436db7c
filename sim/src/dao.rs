//! Class D on the DAO: the evolution flow of DESIGN §8 on an embedded EVM
//! (revm) running the real contracts. A skill that passed its sandbox
//! simulation is proposed by a node, voted through by the humans, waits out
//! the timelock and is executed into the EvolutionRegistry. A toxic skill
//! fails its simulation, so no honest node proposes it; a byzantine node
//! proposes it anyway, the humans are fooled into voting for it, and the
//! veto key, holding the failed simulation, cancels it. What counts is the
//! registry's state afterwards, read from the chain.

use ippoc_governance_bridge::dao::{DEVNET_STAKE, DEVNET_VOTING_PERIOD, GenesisNode, GenesisParameter, tokens};
use ippoc_governance_bridge::{
    B256, Chain, Dao, DeployConfig, EmbeddedChain, PrivateKeySigner, ProposalState, U256, keccak256,
};
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
