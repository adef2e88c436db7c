//! The evolution flow of DESIGN §8 end to end, with three real in-process
//! nodes (ledger, mesh, sandbox) and the real DAO contracts on one embedded
//! EVM: simulate → propose → vote → timelock → execute → registry event →
//! every node fetches the module by hash from a peer, checks it, and runs it.
//! A toxic skill fails its simulation; proposed anyway by a byzantine node,
//! it is vetoed, and no node will run it even when it holds the bytes.
//! Every wait is on the nodes' own state; none sleeps.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use ippoc_economy::genesis::Genesis;
use ippoc_economy::{Amount, NodeId};
use ippoc_governance_bridge::dao::{DEVNET_STAKE, DEVNET_VOTING_PERIOD, GenesisNode, tokens};
use ippoc_governance_bridge::{
    AnyChain, B256, Chain, Dao, DeployConfig, EmbeddedChain, PrivateKeySigner, ProposalState, U256, keccak256,
};
use ippoc_node::governance::{GovLink, GovView};
use ippoc_node::local::{LocalConfig, LocalNode};
use ippoc_node::skills::{self, SkillPackage, hash_hex};
use ippoc_sandbox::{ModuleCache, Sandbox, SandboxConfig};

const WAIT: Duration = Duration::from_secs(60);
const IPPC: u64 = 1_000_000;
const VOTING_PERIOD: u64 = DEVNET_VOTING_PERIOD;
const TIMELOCK: u64 = 48 * 3_600;

fn examples() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/skills"))
}

fn eth(role: &str, i: usize) -> PrivateKeySigner {
    PrivateKeySigner::from_bytes(&keccak256(format!("evolution test {role} {i}"))).unwrap()
}

/// Waits until a node's view of the DAO satisfies `done`.
async fn until_gov(node: &LocalNode, what: &str, done: impl Fn(&GovView) -> bool) {
    let mut rx = node.gov.subscribe();
    if tokio::time::timeout(WAIT, rx.wait_for(|v| done(v))).await.is_err() {
        panic!("timed out waiting for {what}; view {:?}", *node.gov.borrow());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployed_skill_runs_on_all_three_nodes_and_a_toxic_one_never_runs() {
    let dir = tempfile::tempdir().unwrap();
    let keys: Vec<SigningKey> = (0..3).map(|i| SigningKey::from_bytes(&[i as u8 + 40; 32])).collect();
    let ids: Vec<NodeId> = keys
        .iter()
        .map(|k| NodeId::from_bytes(k.verifying_key().to_bytes()))
        .collect();
    let genesis = Genesis::new(
        "evolution",
        1,
        &ids,
        Amount::from_base(1000 * IPPC),
        Amount::from_base(IPPC),
    );

    // The DAO: ten humans holding stake, the three nodes registered by tier, a veto key.
    let (deployer, vetoer) = (eth("deployer", 0), eth("vetoer", 0));
    let humans: Vec<PrivateKeySigner> = (0..10).map(|i| eth("human", i)).collect();
    let node_eth: Vec<PrivateKeySigner> = (0..3).map(|i| eth("node", i)).collect();
    let registered = node_eth
        .iter()
        .zip(&ids)
        .map(|(k, id)| GenesisNode {
            address: k.address(),
            node_id: *id.as_bytes(),
            tier: 2,
        })
        .collect();
    let holders: Vec<_> = humans.iter().map(|h| h.address()).collect();
    let config = DeployConfig::devnet(vetoer.address(), &holders, registered);
    let chain = Arc::new(EmbeddedChain::new(31_337, 1_800_000_000, &[]));
    let dao = Dao::deploy(AnyChain::Embedded(chain.clone()), &deployer, &config)
        .await
        .unwrap();
    for h in &humans {
        dao.stake(h, tokens(DEVNET_STAKE)).await.unwrap();
    }

    // Three nodes following that DAO, node i > 0 bootstrapping to node 0.
    let sandbox = Arc::new(Sandbox::new(SandboxConfig::default(), ModuleCache::new(None, [0; 32])).unwrap());
    let mut nodes: Vec<LocalNode> = Vec::new();
    for (i, key) in keys.into_iter().enumerate() {
        let bootstrap = nodes.first().map(|n| vec![n.addr.clone()]).unwrap_or_default();
        let mut c = LocalConfig::new(&dir.path().join(i.to_string()), genesis.clone(), key, bootstrap);
        c.sandbox = Some(sandbox.clone());
        c.governance = Some(GovLink {
            dao: Arc::new(Dao::at(AnyChain::Embedded(chain.clone()), dao.addresses())),
            poll: Duration::from_millis(100),
        });
        nodes.push(LocalNode::start(c).await.unwrap());
    }
    let all: Vec<&LocalNode> = nodes.iter().collect();
    assert!(
        ippoc_node::local::until(&all, WAIT, || all.iter().all(|n| n.view.get().peers.len() == 2)).await,
        "the three nodes never connected"
    );

    // Simulate: the good skill passes its tests with a deterministic risk score.
    let good = SkillPackage::load(&examples().join("upper.toml")).unwrap();
    let simulation = skills::simulate(&sandbox, &good);
    assert!(simulation.ok, "{simulation:?}");
    assert_eq!(simulation.tests, 3);
    assert_eq!(
        skills::simulate(&sandbox, &good),
        simulation,
        "the risk score is deterministic"
    );
    let caps = vec!["log".to_string()];

    // Node 0 keeps the module and proposes it; before the DAO decides, not even node 0 runs it.
    nodes[0].skills.put(&good.wasm).unwrap();
    let err = nodes[0].run_skill(&good.hash, b"early", &caps).unwrap_err().to_string();
    assert!(err.contains("not deployed"), "{err}");
    let id = dao
        .propose(
            &node_eth[0],
            &[dao.deploy_module(B256::from(good.hash), simulation.risk_bps)],
            "deploy upper",
        )
        .await
        .unwrap();
    for h in &humans {
        let stake = dao.stake_of(h.address()).await.unwrap();
        dao.vote(h, id, true, stake / U256::from(4u64)).await.unwrap();
    }
    for k in &node_eth {
        dao.vote_as_node(k, id, true).await.unwrap();
    }
    chain.advance_time(VOTING_PERIOD).await.unwrap();
    dao.queue(&humans[0], id).await.unwrap();
    // Queued is not executed: the timelock holds, and no node runs it yet.
    assert!(
        dao.execute(&humans[0], id).await.is_err(),
        "executed inside the timelock"
    );
    chain.advance_time(TIMELOCK).await.unwrap();
    dao.execute(&humans[0], id).await.unwrap();

    // Every node learns of the deployment from the chain, fetches the module
    // from a peer by its hash, and runs it; each run is charged to its wallet.
    let good_key = hash_hex(&good.hash);
    for n in &nodes {
        until_gov(n, "the deployed skill to be held", |v| v.held.contains(&good_key)).await;
        assert_eq!(n.gov.borrow().deployed[&good_key].proposal, id);
        let run = n.run_skill(&good.hash, b"hello, swarm", &caps).unwrap();
        assert!(run.ok, "{run:?}");
        assert_eq!(hex::decode(&run.output_hex).unwrap(), b"HELLO, SWARM");
        assert!(run.charge_tx.is_some(), "a production run is paid");
        assert_eq!(n.skills.get(&good.hash).unwrap(), good.wasm);
    }

    // A toxic skill fails its simulation: an honest node would not propose it.
    let toxic = SkillPackage::load(&examples().join("toxic/loop.toml")).unwrap();
    let failed = skills::simulate(&sandbox, &toxic);
    assert!(!failed.ok && failed.risk_bps == 10_000, "{failed:?}");
    assert!(failed.failures[0].contains("out of fuel"), "{failed:?}");
    // A byzantine node holds it and proposes it anyway; the humans are fooled, the veto key is not.
    nodes[2].skills.put(&toxic.wasm).unwrap();
    let bad = dao
        .propose(
            &node_eth[2],
            &[dao.deploy_module(B256::from(toxic.hash), 0)],
            "totally safe",
        )
        .await
        .unwrap();
    for h in &humans {
        let stake = dao.stake_of(h.address()).await.unwrap();
        dao.vote(h, bad, true, stake / U256::from(4u64)).await.unwrap();
    }
    dao.veto(&vetoer, bad).await.unwrap();
    chain.advance_time(VOTING_PERIOD).await.unwrap();
    assert!(
        dao.queue(&humans[0], bad).await.is_err(),
        "a vetoed proposal was queued"
    );
    assert_eq!(dao.status(bad).await.unwrap().state, ProposalState::Vetoed);
    assert!(!dao.is_deployed(B256::from(toxic.hash)).await.unwrap());

    // Once every node has read the chain past the veto, none runs the toxic
    // skill, the one that holds its bytes included.
    let head = chain.block_number().await.unwrap();
    let toxic_key = hash_hex(&toxic.hash);
    for n in &nodes {
        until_gov(n, "the chain past the veto", |v| v.block >= head).await;
        assert!(!n.gov.borrow().deployed.contains_key(&toxic_key));
        let err = n.run_skill(&toxic.hash, b"hi", &[]).unwrap_err().to_string();
        assert!(err.contains("not deployed"), "{err}");
    }
    for n in nodes {
        n.stop().await;
    }
}
