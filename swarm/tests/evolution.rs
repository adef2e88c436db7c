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
use ippoc_economy::integrity::Tier;
use ippoc_economy::standing::{LadderRules, StepKind};
use ippoc_economy::{Amount, NodeId};
use ippoc_governance_bridge::dao::{DEVNET_STAKE, DEVNET_VOTING_PERIOD, GenesisNode, tokens};
use ippoc_governance_bridge::{
    AnyChain, B256, Chain, Dao, DeployConfig, EmbeddedChain, PrivateKeySigner, ProposalState, U256, keccak256,
};
use ippoc_sandbox::{ModuleCache, Sandbox, SandboxConfig};
use ippoc_swarm::gov_view::GovView;
use ippoc_swarm::governance::GovLink;
use ippoc_swarm::local::{LocalConfig, LocalNode};
use ippoc_swarm::skills::{self, SkillPackage, hash_hex};

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

/// Three nodes following one DAO on an embedded EVM.
struct Devnet {
    _dir: tempfile::TempDir,
    chain: Arc<EmbeddedChain>,
    dao: Dao<AnyChain>,
    vetoer: PrivateKeySigner,
    humans: Vec<PrivateKeySigner>,
    node_eth: Vec<PrivateKeySigner>,
    sandbox: Arc<Sandbox>,
    nodes: Vec<LocalNode>,
    keys: Vec<SigningKey>,
    genesis: Genesis,
    epoch_ms: u64,
    ladder: LadderRules,
}

impl Devnet {
    /// Starts the DAO and three nodes whose checkpoint epochs last `epoch_ms`.
    async fn start(epoch_ms: u64) -> Devnet {
        Devnet::start_with(epoch_ms, 1, LadderRules::default()).await
    }

    /// [`Devnet::start`] with a genesis made at `created_at_ms` (the ladder
    /// scores from its cycle on) and the ladder's rules.
    async fn start_with(epoch_ms: u64, created_at_ms: u64, ladder: LadderRules) -> Devnet {
        let dir = tempfile::tempdir().unwrap();
        let keys: Vec<SigningKey> = (0..3).map(|i| SigningKey::from_bytes(&[i as u8 + 40; 32])).collect();
        let ids: Vec<NodeId> = keys
            .iter()
            .map(|k| NodeId::from_bytes(k.verifying_key().to_bytes()))
            .collect();
        let genesis = Genesis::new(
            "evolution",
            created_at_ms,
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
        // Two of the three co-sign a checkpoint: the swarm keeps anchoring,
        // and its ladder moving, while one node is down.
        let config = DeployConfig {
            anchor_quorum_bps: 6_000,
            ..DeployConfig::devnet(vetoer.address(), &holders, registered)
        };
        let chain = Arc::new(EmbeddedChain::new(31_337, 1_800_000_000, &[]));
        let dao = Dao::deploy(AnyChain::Embedded(chain.clone()), &deployer, &config)
            .await
            .unwrap();
        for h in &humans {
            dao.stake(h, tokens(DEVNET_STAKE)).await.unwrap();
        }

        let sandbox = Arc::new(Sandbox::new(SandboxConfig::default(), ModuleCache::new(None, [0; 32])).unwrap());
        let mut net = Devnet {
            _dir: dir,
            chain,
            dao,
            vetoer,
            humans,
            node_eth,
            sandbox,
            nodes: Vec::new(),
            keys,
            genesis,
            epoch_ms,
            ladder,
        };
        // Three nodes following that DAO, node i > 0 bootstrapping to node 0.
        for i in 0..3 {
            let bootstrap = net.nodes.first().map(|n| vec![n.addr.clone()]).unwrap_or_default();
            let node = LocalNode::start(net.config(i, bootstrap)).await.unwrap();
            net.nodes.push(node);
        }
        let all: Vec<&LocalNode> = net.nodes.iter().collect();
        assert!(
            ippoc_swarm::local::until(&all, WAIT, || all.iter().all(|n| n.view.get().peers.len() == 2)).await,
            "the three nodes never connected"
        );
        net
    }

    /// Node `i`'s configuration (its directory, key and DAO link).
    fn config(&self, i: usize, bootstrap: Vec<ippoc_mesh::Multiaddr>) -> LocalConfig {
        let dir = self._dir.path().join(i.to_string());
        let mut c = LocalConfig::new(&dir, self.genesis.clone(), self.keys[i].clone(), bootstrap);
        c.sandbox = Some(self.sandbox.clone());
        c.cadence.epoch_ms = self.epoch_ms;
        c.cadence.ladder = self.ladder;
        c.eth_key = Some(self.node_eth[i].clone());
        c.governance = Some(GovLink {
            dao: Arc::new(Dao::at(AnyChain::Embedded(self.chain.clone()), self.dao.addresses())),
            poll: Duration::from_millis(100),
        });
        c
    }

    /// Every human votes yes with a quarter of its stake and every node
    /// votes yes; the vote closes, the proposal is queued, the timelock is
    /// checked and passes, and the proposal is executed.
    async fn pass(&self, id: u64) {
        let dao = &self.dao;
        for h in &self.humans {
            let stake = dao.stake_of(h.address()).await.unwrap();
            dao.vote(h, id, true, stake / U256::from(4u64)).await.unwrap();
        }
        for k in &self.node_eth {
            dao.vote_as_node(k, id, true).await.unwrap();
        }
        self.chain.advance_time(VOTING_PERIOD).await.unwrap();
        dao.queue(&self.humans[0], id).await.unwrap();
        // Queued is not executed: the timelock holds.
        assert!(
            dao.execute(&self.humans[0], id).await.is_err(),
            "executed inside the timelock"
        );
        self.chain.advance_time(TIMELOCK).await.unwrap();
        dao.execute(&self.humans[0], id).await.unwrap();
    }

    async fn stop(self) {
        for n in self.nodes {
            n.stop().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployed_skill_runs_on_all_three_nodes_and_a_toxic_one_never_runs() {
    let net = Devnet::start(60_000).await;
    let Devnet {
        chain,
        dao,
        vetoer,
        humans,
        node_eth,
        sandbox,
        nodes,
        ..
    } = &net;
    // Simulate: the good skill passes its tests with a deterministic risk score.
    let good = SkillPackage::load(&examples().join("upper.toml")).unwrap();
    let simulation = skills::simulate(sandbox, &good);
    assert!(simulation.ok, "{simulation:?}");
    assert_eq!(simulation.tests, 3);
    assert_eq!(
        skills::simulate(sandbox, &good),
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
    net.pass(id).await;

    // Every node learns of the deployment from the chain, fetches the module
    // from a peer by its hash, and runs it; each run is charged to its wallet.
    let good_key = hash_hex(&good.hash);
    for n in nodes {
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
    let failed = skills::simulate(sandbox, &toxic);
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
    for h in humans {
        let stake = dao.stake_of(h.address()).await.unwrap();
        dao.vote(h, bad, true, stake / U256::from(4u64)).await.unwrap();
    }
    dao.veto(vetoer, bad).await.unwrap();
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
    for n in nodes {
        until_gov(n, "the chain past the veto", |v| v.block >= head).await;
        assert!(!n.gov.borrow().deployed.contains_key(&toxic_key));
        let err = n.run_skill(&toxic.hash, b"hi", &[]).unwrap_err().to_string();
        assert!(err.contains("not deployed"), "{err}");
    }
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_executed_parameter_change_reprices_every_node_and_nothing_else_changes_it() {
    let net = Devnet::start(60_000).await;
    let genesis_table = net.nodes[0].ledger.genesis().parameters.clone();
    for n in &net.nodes {
        assert_eq!(n.ledger.parameters(), (0, genesis_table.clone()));
    }

    // The DAO raises the transfer fee from 0.1% to 1%.
    let id = net
        .dao
        .propose(
            &net.humans[0],
            &[net.dao.set_parameter("metabolism.transfer_fee_bps", U256::from(100u64))],
            "fee to 1%",
        )
        .await
        .unwrap();
    // Before execution nothing changes: a proposal is not a decision.
    let head = net.chain.block_number().await.unwrap();
    for n in &net.nodes {
        until_gov(n, "the chain past the proposal", |v| v.block >= head).await;
        assert_eq!(n.ledger.parameters().0, 0);
    }
    net.pass(id).await;

    let dearer = genesis_table.with("metabolism.transfer_fee_bps", 100).unwrap();
    for n in &net.nodes {
        until_gov(n, "parameter table 1", |v| v.params_version == 1).await;
        assert_eq!(n.ledger.parameters(), (1, dearer.clone()));
        assert_eq!(n.gov.borrow().parameters["metabolism.transfer_fee_bps"], "100");
    }
    // Each node mirrors the table it prices under into the swarm document,
    // and every node comes to see all three on the same table.
    let all: Vec<&LocalNode> = net.nodes.iter().collect();
    let on_table_1 = |n: &LocalNode| match n.view.get().tables.as_slice() {
        [t] => t.version == 1 && t.nodes == 3,
        _ => false,
    };
    assert!(
        ippoc_swarm::local::until(&all, WAIT, || all.iter().all(|n| on_table_1(n))).await,
        "the swarm document did not come to show every node on table 1: {:?}",
        net.nodes[0].view.get().tables
    );
    let sha = |n: &LocalNode| n.view.get().tables[0].sha256.clone();
    assert!(net.nodes.iter().all(|n| sha(n) == sha(&net.nodes[0])));

    // Node 0 pays 100 IPPC: the fee is 1 IPPC under table 1, and the other
    // nodes, checking the entry against the table it names, apply it.
    let (payer, payee) = (&net.nodes[0], &net.nodes[1]);
    let tx = payer.transfer(payee.id, Amount::from_base(100 * IPPC)).unwrap();
    let (entry, _) = payer.ledger.entry_by_tx(&tx).unwrap().unwrap();
    assert_eq!(entry.body.params, 1);
    assert_eq!(entry.body.transfers[1].amount, Amount::from_base(IPPC));
    assert!(
        ippoc_swarm::local::until(&all, WAIT, || all.iter().all(|n| n
            .ledger
            .entry_by_tx(&tx)
            .unwrap()
            .is_some()))
        .await,
        "the repriced transfer did not reach every node"
    );
    let wallet = ippoc_economy::AccountId::Wallet(payer.id);
    for n in &net.nodes {
        let b = n.ledger.balance(&wallet, ippoc_economy::Currency::Ippc).unwrap();
        assert_eq!(b.0, i128::from((1000 - 101) * IPPC), "on {}", n.id.short());
    }
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_swarm_anchors_its_chain_heads_and_an_entry_proves_against_the_anchored_root() {
    use ippoc_swarm::anchor::prove;
    let net = Devnet::start(1_000).await;
    let (payer, payee) = (&net.nodes[0], &net.nodes[1]);
    let tx = payer.transfer(payee.id, Amount::from_base(5 * IPPC)).unwrap();
    let all: Vec<&LocalNode> = net.nodes.iter().collect();

    // The swarm never goes quiet: nodes 0 and 2 keep paying (one payment per
    // change the nodes see, at most one per 20 ms), so at any moment the
    // three hold different tips. The votes still agree, since each is on
    // the chains cut at the end of an epoch: the three co-signatures (the
    // registered quorum) are submitted on chain and every node marks its
    // snapshot anchored.
    let last = std::cell::Cell::new(std::time::Instant::now());
    let payments = std::cell::Cell::new(0u32);
    let busy = || {
        if last.get().elapsed() >= Duration::from_millis(20) {
            let (from, to) = if payments.get().is_multiple_of(2) {
                (0, 1)
            } else {
                (2, 0)
            };
            net.nodes[from]
                .transfer(net.nodes[to].id, Amount::from_base(1_000))
                .unwrap();
            payments.set(payments.get() + 1);
            last.set(std::time::Instant::now());
        }
    };
    assert!(
        ippoc_swarm::local::until(&all, WAIT, || {
            busy();
            all.iter().all(|n| prove(&n.ledger, &tx, None).is_ok())
        })
        .await,
        "no anchored epoch includes the transfer; anchor_vote/checkpoint_anchored in the log tell why"
    );
    let proof = prove(&net.nodes[2].ledger, &tx, None).unwrap();
    // It was anchored while busy: the payer's chain had grown past its anchored head.
    let snapshot = net.nodes[2].ledger.snapshot(proof.epoch).unwrap().unwrap();
    let anchored = snapshot.heads.iter().find(|h| h.actor == payer.id).unwrap().seq;
    let now = payer.ledger.head(&payer.id).unwrap().unwrap().0;
    assert!(
        anchored < now,
        "{} payments, none by node 0 after the anchored cut",
        payments.get()
    );
    let proven = proof.check().unwrap();
    // Its seq: the payer's checkpoint votes may come before it in its chain.
    let seq = payer.ledger.entry_by_tx(&tx).unwrap().unwrap().0.body.seq;
    assert_eq!((proven.tx_id, proven.actor, proven.seq), (tx, payer.id, seq));
    assert_eq!(
        net.dao.root_of(proof.epoch).await.unwrap(),
        Some(proof.root),
        "the chain holds the root the node's snapshot gives"
    );
    assert!(
        net.dao
            .verify_inclusion(proof.epoch, &proof.merkle().unwrap())
            .await
            .unwrap()
    );
    // Every node proves the same: they anchored one root, not three.
    for n in &net.nodes {
        let p = prove(&n.ledger, &tx, Some(proof.epoch)).unwrap();
        assert_eq!(p.root, proof.root);
    }
    assert_eq!(net.dao.conflict_count().await.unwrap(), 0);

    // A proof of a head the snapshot does not hold fails on chain as well as offline.
    let mut forged = proof.merkle().unwrap();
    forged.leaf = B256::repeat_byte(7);
    assert!(!net.dao.verify_inclusion(proof.epoch, &forged).await.unwrap());
    net.stop().await;
}

/// Answers every sync request with a "module" that is not the one asked for.
struct ForgedModules;

impl ippoc_mesh::SyncResponder for ForgedModules {
    fn respond(&self, _: &ippoc_mesh::PeerId, _: &[u8]) -> Vec<u8> {
        ippoc_economy::encoding::encode(&ippoc_swarm::protocol::SyncResponse::Module(Some(
            b"\0asm forged".to_vec(),
        )))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_answers_a_module_fetch_with_other_bytes_is_banned_and_nothing_is_kept() {
    use ippoc_mesh::{Keypair, Mesh, MeshConfig, Topic, Transport, Verdict};
    let net = Devnet::start(60_000).await;
    let genesis = net.nodes[0].ledger.genesis().clone();

    // A hostile peer, and a fourth node following the DAO whose only peer it is.
    let mut config = MeshConfig::new(genesis.swarm_id().0, Transport::Memory);
    let hostile_addr = ippoc_swarm::local::memory_addr();
    config.listen = vec![hostile_addr.clone()];
    let accept_all = Arc::new(|_: Topic, _: &[u8], _: &ippoc_mesh::PeerId| Verdict::Accept);
    let hostile = Mesh::start(Keypair::generate_ed25519(), config, accept_all, Arc::new(ForgedModules)).unwrap();
    let hostile_id = hostile.peer_id().to_string();
    let dir = tempfile::tempdir().unwrap();
    let mut c = LocalConfig::new(
        dir.path(),
        genesis,
        SigningKey::from_bytes(&[99; 32]),
        vec![hostile_addr],
    );
    c.sandbox = Some(net.sandbox.clone());
    c.governance = Some(GovLink {
        dao: Arc::new(Dao::at(AnyChain::Embedded(net.chain.clone()), net.dao.addresses())),
        poll: Duration::from_millis(100),
    });
    let fourth = LocalNode::start(c).await.unwrap();
    assert!(
        ippoc_swarm::local::until(&[&fourth], WAIT, || fourth.view.get().peers.contains(&hostile_id)).await,
        "the fourth node never connected to the hostile peer"
    );

    // The DAO deploys a skill only node 0 holds.
    let good = SkillPackage::load(&examples().join("upper.toml")).unwrap();
    net.nodes[0].skills.put(&good.wasm).unwrap();
    let risk = skills::simulate(&net.sandbox, &good).risk_bps;
    let id = net
        .dao
        .propose(
            &net.node_eth[0],
            &[net.dao.deploy_module(B256::from(good.hash), risk)],
            "deploy upper",
        )
        .await
        .unwrap();
    net.pass(id).await;

    // The fourth node asks its only peer, gets other bytes, bans it, keeps nothing.
    assert!(
        ippoc_swarm::local::until(&[&fourth], WAIT, || fourth
            .view
            .get()
            .banned
            .iter()
            .any(|b| b.peer == hostile_id && b.reason.contains("does not hash to")))
        .await,
        "the peer that sent a forged module was not banned; view {:?}",
        fourth.view.get().banned
    );
    assert!(!fourth.skills.has(&good.hash));
    assert!(!fourth.gov.borrow().held.contains(&hash_hex(&good.hash)));
    let err = fourth.run_skill(&good.hash, b"hi", &[]).unwrap_err().to_string();
    assert!(err.contains("not fetched"), "{err}");
    fourth.stop().await;
    net.stop().await;
}

/// The tier `node` holds in the newest standings `n` shows, and the digest of those standings.
fn standing_at(n: &LocalNode, node: &NodeId) -> Option<(Tier, u64, [u8; 32])> {
    n.view.read(|v| {
        let s = v.standings.as_ref()?;
        Some((s.of(node)?.tier.tier(), s.cycle?, s.digest))
    })
}

/// Issue 21 end to end on three nodes and the real contracts: the swarm
/// anchors each closed cycle's GI rows with its checkpoint; the DAO promotes
/// a node on a proof of its anchored GI and every node's ladder applies it;
/// a node stopped long enough lapses at every node, and an upheld appeal
/// gives its tier back, at the same cycle everywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promotion_proven_on_chain_and_an_appeal_of_a_lapse_reach_every_nodes_ladder() {
    use ippoc_swarm::anchor::gi_proof;
    let ladder = LadderRules {
        lapse_cycles: 3,
        ..LadderRules::default()
    };
    let mut net = Devnet::start_with(1_000, ippoc_swarm::ledger::now_ms(), ladder).await;
    let ids: Vec<NodeId> = net.nodes.iter().map(|n| n.id).collect();

    // 1. A proof of node 1's anchored GI, from node 0's files.
    let all: Vec<&LocalNode> = net.nodes.iter().collect();
    assert!(
        ippoc_swarm::local::until(&all, WAIT, || gi_proof(&net.nodes[0].ledger, &ids[1], None).is_ok()).await,
        "no anchored checkpoint of node 0 commits to a GI table"
    );
    let proof = gi_proof(&net.nodes[0].ledger, &ids[1], None).unwrap();
    assert_eq!(
        (proof.tier, proof.status),
        (2, 0),
        "node 1 stands at Standard: {proof:?}"
    );
    assert!(proof.gi >= Tier::High.floor(), "GI {} under High's floor", proof.gi);
    assert!(net.dao.verify_gi(B256::from(*ids[1].as_bytes()), &proof).await.unwrap());

    // 2. The DAO promotes node 1 to High on that proof; every ladder follows.
    let promote = net.dao.promote(net.node_eth[1].address(), 3, &proof);
    let id = net
        .dao
        .propose(&net.humans[0], &[promote], "node 1 to High")
        .await
        .unwrap();
    net.pass(id).await;
    assert_eq!(net.dao.tier_of(net.node_eth[1].address()).await.unwrap(), Some(3));
    assert!(
        ippoc_swarm::local::until(&all, WAIT, || all
            .iter()
            .all(|n| standing_at(n, &ids[1]).is_some_and(|(t, _, _)| t == Tier::High)))
        .await,
        "node 1 never stood at High everywhere: {:?}",
        all.iter().map(|n| standing_at(n, &ids[1])).collect::<Vec<_>>()
    );

    // The DAO shortens the lapse to two cycles: every node's ladder takes
    // the governed rule from the cycle the anchors settle for it.
    let rule = net.dao.set_parameter("integrity.lapse_cycles", U256::from(2u64));
    let id = net
        .dao
        .propose(&net.humans[0], &[rule], "lapse after two cycles")
        .await
        .unwrap();
    net.pass(id).await;
    let far = u64::MAX / 2;
    assert!(
        ippoc_swarm::local::until(&all, WAIT, || all.iter().all(|n| n
            .decisions()
            .rules_at(far, &ladder)
            .lapse_cycles
            == 2))
        .await,
        "the governed lapse never reached every node"
    );

    // 3. Node 2 stops; cycles under Standard's floor lapse it at the others.
    let stopped = net.nodes.pop().unwrap();
    assert!(stopped.stop().await);
    let live: Vec<&LocalNode> = net.nodes.iter().collect();
    assert!(
        ippoc_swarm::local::until(&live, WAIT, || live
            .iter()
            .all(|n| standing_at(n, &ids[2]).is_some_and(|(t, _, _)| t == Tier::Research)))
        .await,
        "node 2 never lapsed: {:?}",
        live.iter().map(|n| standing_at(n, &ids[2])).collect::<Vec<_>>()
    );

    // 4. It comes back, and the DAO upholds its appeal: Standard again, at
    // the cycle the decision names, with the same standings at every node.
    let back = LocalNode::start(net.config(2, vec![net.nodes[0].addr.clone()]))
        .await
        .unwrap();
    net.nodes.push(back);
    let appeal = net.dao.appeal(B256::from(*ids[2].as_bytes()));
    let id = net
        .dao
        .propose(&net.humans[0], &[appeal], "node 2's appeal")
        .await
        .unwrap();
    net.pass(id).await;
    let all: Vec<&LocalNode> = net.nodes.iter().collect();
    let reinstated = |n: &LocalNode| -> Option<u64> {
        n.view.read(|v| {
            let s = v.standings.as_ref()?.of(&ids[2])?;
            s.record.iter().rev().find_map(|st| match st.kind {
                StepKind::Reinstated { tier } if tier.tier() == Tier::Standard => Some(st.cycle),
                _ => None,
            })
        })
    };
    assert!(
        ippoc_swarm::local::until(&all, WAIT, || all.iter().all(|n| reinstated(n).is_some())).await,
        "node 2 never reinstated everywhere: {:?}; standings of node 2 {:?}; decisions {:?}",
        all.iter().map(|n| reinstated(n)).collect::<Vec<_>>(),
        all.iter()
            .map(|n| n.view.read(|v| v
                .standings
                .as_ref()
                .map(|s| (s.cycle, s.of(&ids[2]).map(|x| x.record.clone())))))
            .collect::<Vec<_>>(),
        {
            let newest = all[0]
                .view
                .read(|v| v.standings.as_ref().and_then(|s| s.cycle))
                .unwrap_or(0);
            let voters: std::collections::BTreeSet<NodeId> = ids.iter().copied().collect();
            (newest + 1..newest + 6)
                .map(|c| {
                    (
                        c,
                        match all[0].ledger.agreed_cut(c, 1_000, &voters).unwrap() {
                            ippoc_economy::store::AgreedCut::Agreed(_) => "agreed".to_string(),
                            other => format!("{other:?}"),
                        },
                        all[0].decisions().at(c).is_some(),
                    )
                })
                .collect::<Vec<_>>()
        }
    );
    let cycles: Vec<_> = all.iter().map(|n| reinstated(n)).collect();
    assert!(
        cycles.windows(2).all(|w| w[0] == w[1]),
        "reinstated at different cycles: {cycles:?}"
    );
    // The standings of that cycle are the same bytes at every node.
    let at = cycles[0].unwrap();
    let digests: Vec<_> = all
        .iter()
        .map(|n| n.ledger.standings_kept(at).unwrap().map(|s| s.digest))
        .collect();
    assert!(
        digests[0].is_some() && digests.windows(2).all(|w| w[0] == w[1]),
        "{digests:?}"
    );
    net.stop().await;
}
