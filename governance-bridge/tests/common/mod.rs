//! The DAO flows every chain backend must pass: the anvil test runs them
//! against a real anvil, the embedded test against revm in process.
#![allow(dead_code)]

use alloy::primitives::{Address, B256, U256, keccak256};
use ippoc_governance_bridge::dao::{
    DEVNET_VOTING_PERIOD, GenesisNode, GenesisParameter, GiProof, LadderDecision, LadderEvent, sign_checkpoint, tokens,
};
use ippoc_governance_bridge::merkle::{gi_commitment_leaf, gi_tree, head_leaf};
use ippoc_governance_bridge::{Chain, ChainError, Dao, DeployConfig, MerkleTree, PrivateKeySigner, ProposalState};

pub const VOTING_PERIOD: u64 = DEVNET_VOTING_PERIOD;

/// A deployed DAO with its actors.
pub struct World<C> {
    pub dao: Dao<C>,
    pub vetoer: PrivateKeySigner,
    pub humans: Vec<PrivateKeySigner>,
    pub nodes: Vec<PrivateKeySigner>,
}

/// The actors: ten humans (the 5% cap needs at least eight to reach a 40%
/// quorum), three nodes of tiers 1..=3.
pub fn actors() -> (Vec<PrivateKeySigner>, Vec<PrivateKeySigner>) {
    (
        (0..10).map(|_| PrivateKeySigner::random()).collect(),
        (0..3).map(|_| PrivateKeySigner::random()).collect(),
    )
}

/// Deploy on `chain` and stake every human's tokens.
pub async fn world<C: Chain>(
    chain: C,
    deployer: &PrivateKeySigner,
    vetoer: PrivateKeySigner,
    humans: Vec<PrivateKeySigner>,
    nodes: Vec<PrivateKeySigner>,
) -> World<C> {
    let registered = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| GenesisNode {
            address: n.address(),
            node_id: [i as u8 + 1; 32],
            tier: i as u8 + 1,
        })
        .collect();
    let holders: Vec<Address> = humans.iter().map(|h| h.address()).collect();
    let config = DeployConfig {
        parameters: vec![
            GenesisParameter {
                name: "metabolism.transfer_fee_bps".into(),
                value: U256::from(10),
                invariant: false,
            },
            GenesisParameter {
                name: "integrity.min_score".into(),
                value: U256::from(8_000),
                invariant: true,
            },
        ],
        ..DeployConfig::devnet(vetoer.address(), &holders, registered)
    };
    let dao = Dao::deploy(chain, deployer, &config).await.expect("deploy");
    for h in &humans {
        dao.stake(h, tokens(100)).await.expect("stake");
    }
    World {
        dao,
        vetoer,
        humans,
        nodes,
    }
}

pub async fn all_humans_vote<C: Chain>(w: &World<C>, id: u64, support: bool) {
    for h in &w.humans {
        let stake = w.dao.stake_of(h.address()).await.expect("stake");
        w.dao.vote(h, id, support, stake).await.expect("vote");
    }
}

/// Proposes `actions`, every human votes for them, the voting period and
/// the timelock pass: ready to execute.
pub async fn pass_until_execution<C: Chain>(
    w: &World<C>,
    actions: &[ippoc_governance_bridge::Action],
    what: &str,
) -> u64 {
    let id = w.dao.propose(&w.humans[0], actions, what).await.expect("propose");
    all_humans_vote(w, id, true).await;
    w.dao.chain().advance_time(VOTING_PERIOD).await.expect("time");
    w.dao.queue(&w.humans[0], id).await.expect("queue");
    w.dao.chain().advance_time(48 * 3_600).await.expect("time");
    id
}

pub fn reason(e: ChainError) -> String {
    match e {
        ChainError::Reverted { reason, .. } => reason,
        other => panic!("expected a revert, got {other}"),
    }
}

pub async fn a_parameter_change_passes_waits_out_the_timelock_and_executes<C: Chain>(w: World<C>) {
    let dao = &w.dao;
    let action = dao.set_parameter("metabolism.transfer_fee_bps", U256::from(25));
    let id = dao
        .propose(&w.humans[0], &[action], "raise the transfer fee")
        .await
        .expect("propose");
    assert_eq!(dao.status(id).await.expect("status").state, ProposalState::Active);

    all_humans_vote(&w, id, true).await;
    // Half of each committed stake is burned.
    assert_eq!(dao.stake_of(w.humans[3].address()).await.expect("stake"), tokens(50));
    let err = dao.queue(&w.humans[0], id).await.expect_err("voting still open");
    assert!(reason(err).contains("WrongState"));

    dao.chain().advance_time(VOTING_PERIOD).await.expect("time");
    let status = dao.status(id).await.expect("status");
    assert_eq!(status.state, ProposalState::Succeeded, "{status:?}");
    assert!(!status.invariant_class);

    dao.queue(&w.humans[0], id).await.expect("queue");
    let err = dao.execute(&w.humans[0], id).await.expect_err("timelock");
    assert!(reason(err).contains("TimelockNotOver"));
    assert_eq!(
        dao.parameter("metabolism.transfer_fee_bps").await.expect("read"),
        U256::from(10)
    );

    dao.chain().advance_time(48 * 3_600).await.expect("time");
    dao.execute(&w.humans[5], id).await.expect("execute");
    assert_eq!(dao.status(id).await.expect("status").state, ProposalState::Executed);
    assert_eq!(
        dao.parameter("metabolism.transfer_fee_bps").await.expect("read"),
        U256::from(25)
    );
    let changes = dao.parameter_changes(0).await.expect("events");
    let last = changes.last().expect("a change");
    assert_eq!((last.value, last.proposal), (U256::from(25), id));
}

pub async fn a_vetoed_evolution_never_deploys_and_nodes_alone_pass_nothing<C: Chain>(w: World<C>) {
    let dao = &w.dao;
    let module = keccak256(b"toxic skill");
    let id = dao
        .propose(&w.nodes[0], &[dao.deploy_module(module, 9_000)], "evolution")
        .await
        .expect("propose");
    all_humans_vote(&w, id, true).await;
    dao.veto(&w.vetoer, id).await.expect("veto");
    dao.chain().advance_time(VOTING_PERIOD).await.expect("time");
    assert_eq!(dao.status(id).await.expect("status").state, ProposalState::Vetoed);
    assert!(reason(dao.queue(&w.humans[0], id).await.expect_err("vetoed")).contains("WrongState"));
    assert!(!dao.is_deployed(module).await.expect("read"));

    // Every node votes yes, no human votes: nothing passes.
    let good = keccak256(b"good skill");
    let id = dao
        .propose(&w.nodes[1], &[dao.deploy_module(good, 100)], "evolution")
        .await
        .expect("propose");
    for n in &w.nodes {
        dao.vote_as_node(n, id, true).await.expect("node vote");
    }
    dao.chain().advance_time(VOTING_PERIOD).await.expect("time");
    assert_eq!(dao.status(id).await.expect("status").state, ProposalState::Defeated);

    // A stranger cannot veto.
    let id = dao
        .propose(&w.humans[1], &[dao.deploy_module(good, 100)], "again")
        .await
        .expect("propose");
    assert!(reason(dao.veto(&w.humans[2], id).await.expect_err("not vetoer")).contains("NotVetoer"));

    // With the humans behind it, the good skill is deployed, and the registry
    // says by which proposal.
    all_humans_vote(&w, id, true).await;
    dao.chain().advance_time(VOTING_PERIOD).await.expect("time");
    dao.queue(&w.humans[1], id).await.expect("queue");
    dao.chain().advance_time(48 * 3_600).await.expect("time");
    dao.execute(&w.humans[1], id).await.expect("execute");
    assert!(dao.is_deployed(good).await.expect("read"));
    assert!(!dao.is_deployed(module).await.expect("read"));
    let events = dao.module_events(0).await.expect("events");
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        (events[0].module_hash, events[0].proposal, events[0].deployed),
        (good, id, true)
    );
}

pub async fn a_checkpoint_is_anchored_once_and_proves_inclusion<C: Chain>(w: World<C>) {
    let dao = &w.dao;
    let leaves: Vec<B256> = (0..5u8)
        .map(|i| head_leaf([i; 32], u64::from(i) * 7, [0xee; 32]))
        .collect();
    let tree = MerkleTree::new(leaves.clone()).expect("leaves");
    let chain_id = dao.chain().chain_id().await.expect("chain id");
    let anchor = dao.addresses().anchor;
    let sigs: Vec<_> = w
        .nodes
        .iter()
        .map(|n| sign_checkpoint(n, chain_id, anchor, 1, tree.root()).expect("sign"))
        .collect();

    // The locally computed digest is the contract's.
    let local = dao.checkpoint_message(1, tree.root()).await.expect("digest");
    let sig = alloy::signers::Signature::from_raw(&sigs[0].signature).expect("65 bytes");
    assert_eq!(
        sig.recover_address_from_prehash(&local).expect("recover"),
        w.nodes[0].address()
    );

    // Two signatures of three are below the 2/3 quorum.
    let err = dao
        .anchor(&w.nodes[0], 1, tree.root(), sigs[..2].to_vec())
        .await
        .expect_err("no quorum");
    assert!(reason(err).contains("NoQuorum"));
    // A human cannot submit, even with a valid certificate.
    let err = dao
        .anchor(&w.humans[0], 1, tree.root(), sigs.clone())
        .await
        .expect_err("not a node");
    assert!(reason(err).contains("NotRegistered"));
    // A certificate signed by someone outside the registry is refused.
    let outsider = PrivateKeySigner::random();
    let mut forged = sigs[..2].to_vec();
    forged.push(sign_checkpoint(&outsider, chain_id, anchor, 1, tree.root()).expect("sign"));
    assert!(dao.anchor(&w.nodes[0], 1, tree.root(), forged).await.is_err());

    dao.anchor(&w.nodes[1], 1, tree.root(), sigs).await.expect("anchor");
    assert_eq!(dao.root_of(1).await.expect("root"), Some(tree.root()));

    for (i, leaf) in leaves.iter().enumerate() {
        let proof = tree.proof(i).expect("proof");
        assert_eq!(proof.leaf, *leaf);
        assert!(proof.verify(tree.root()));
        assert!(
            dao.verify_inclusion(1, &proof).await.expect("call"),
            "leaf {i} proves on chain"
        );
    }
    let mut bad = tree.proof(2).expect("proof");
    bad.leaf = head_leaf([2; 32], 15, [0xee; 32]);
    assert!(!dao.verify_inclusion(1, &bad).await.expect("call"));

    // A second root for the same epoch is evidence, not an overwrite.
    let other = keccak256(b"equivocating root");
    let sigs: Vec<_> = w
        .nodes
        .iter()
        .map(|n| sign_checkpoint(n, chain_id, anchor, 1, other).expect("sign"))
        .collect();
    dao.anchor(&w.nodes[2], 1, other, sigs)
        .await
        .expect("conflict recorded");
    assert_eq!(dao.root_of(1).await.expect("root"), Some(tree.root()));
    assert_eq!(dao.conflict_count().await.expect("count"), 1);
}

/// A GI table committed in an anchored checkpoint proves a node's row on
/// chain; the DAO promotes on that proof and upholds an appeal, and both
/// decisions read back with the cycle that applies them.
pub async fn a_promotion_is_proven_against_the_anchored_gi_and_decisions_read_back<C: Chain>(w: World<C>) {
    let dao = &w.dao;
    // The nodes are Research, Standard and High ([1; 32], [2; 32], [3; 32]).
    let cycle = 10;
    let rows = [
        ([1u8; 32], 880_000, 1, 0),
        ([2; 32], 930_000, 2, 0),
        ([3; 32], 990_000, 3, 0),
    ];
    let gi = gi_tree(cycle, rows).expect("rows");
    let commitment = gi_commitment_leaf(cycle, gi.root());
    let mut leaves: Vec<B256> = (0..3u8).map(|i| head_leaf([i + 1; 32], 4, [0xee; 32])).collect();
    leaves.push(commitment);
    let checkpoint = MerkleTree::new(leaves).expect("leaves");
    let epoch = cycle + 4;
    let chain_id = dao.chain().chain_id().await.expect("chain id");
    let anchor = dao.addresses().anchor;
    let sigs: Vec<_> = w
        .nodes
        .iter()
        .map(|n| sign_checkpoint(n, chain_id, anchor, epoch, checkpoint.root()).expect("sign"))
        .collect();
    dao.anchor(&w.nodes[0], epoch, checkpoint.root(), sigs)
        .await
        .expect("anchor");

    let proof = GiProof {
        cycle,
        gi_root: gi.root(),
        root_proof: checkpoint.proof(3).expect("commitment").siblings,
        gi: 930_000,
        tier: 2,
        status: 0,
        leaf_proof: gi.proof(1).expect("row").siblings,
    };
    let standard = B256::from([2; 32]);
    assert!(
        dao.verify_gi(standard, &proof).await.expect("call"),
        "the contract reads the same leaves"
    );
    let claimed = GiProof {
        gi: 990_000,
        ..proof.clone()
    };
    assert!(!dao.verify_gi(standard, &claimed).await.expect("call"));
    assert!(!dao.verify_gi(B256::from([3; 32]), &proof).await.expect("call"));

    let promote = dao.promote(w.nodes[1].address(), 3, &proof);
    let appeal = dao.appeal(B256::from([1; 32]));
    let id = pass_until_execution(&w, &[promote, appeal], "promote node 2, uphold node 1's appeal").await;
    dao.execute(&w.humans[0], id).await.expect("execute");
    assert_eq!(dao.tier_of(w.nodes[1].address()).await.expect("tier"), Some(3));

    let events = dao.ladder_events(0).await.expect("events");
    let decided: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            LadderEvent::Decided {
                applies_at,
                proposal,
                decision,
                ..
            } => Some((*applies_at, *proposal, *decision)),
            LadderEvent::Anchored { .. } => None,
        })
        .collect();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, LadderEvent::Anchored { epoch: 14, .. }))
    );
    assert_eq!(
        decided,
        vec![
            (
                16,
                id,
                LadderDecision::Promote {
                    node_id: standard,
                    tier: 3
                }
            ),
            (
                16,
                id,
                LadderDecision::Appeal {
                    node_id: B256::from([1; 32])
                }
            ),
        ]
    );

    // Under the floor, the proposal's execution fails and nothing changes.
    let low = GiProof {
        gi: 880_000,
        tier: 1,
        leaf_proof: gi.proof(0).expect("row").siblings,
        ..proof
    };
    assert!(dao.verify_gi(B256::from([1; 32]), &low).await.expect("call"));
    let refused = dao.promote(w.nodes[0].address(), 2, &low);
    let id = pass_until_execution(&w, &[refused], "promote node 1").await;
    let err = dao.execute(&w.humans[0], id).await.expect_err("not a promotion");
    assert!(reason(err).contains("ActionFailed"));
    assert_eq!(dao.tier_of(w.nodes[0].address()).await.expect("tier"), Some(1));
}

/// 300 registered nodes (five genesis batches), more than the committee's
/// 192 seats: an epoch's committee is drawn from all of them, a certificate
/// of its seats' holders anchors, one seat short of the quorum does not, and
/// a registered node's signature put on a seat it does not hold is refused.
/// `deployer` pays for everything; `nodes[0]` must hold ETH to submit.
pub async fn a_swarm_past_its_committee_anchors_with_the_drawn_seats<C: Chain>(
    chain: C,
    deployer: &PrivateKeySigner,
    nodes: &[PrivateKeySigner],
) {
    use ippoc_governance_bridge::dao::{ANCHOR_COMMITTEE, Certificate};
    assert!(nodes.len() > usize::from(ANCHOR_COMMITTEE));
    let registered = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| GenesisNode {
            address: n.address(),
            node_id: keccak256((i as u64).to_be_bytes()).0,
            tier: 2,
        })
        .collect();
    let config = DeployConfig::devnet(PrivateKeySigner::random().address(), &[], registered);
    let dao = Dao::deploy(chain, deployer, &config).await.expect("deploy in batches");
    let epoch = 5;
    let root = keccak256("the root of epoch 5");
    let holders = dao.committee(epoch).await.expect("committee");
    assert_eq!(holders.len(), usize::from(ANCHOR_COMMITTEE));
    let required = dao.required_signers().await.expect("required");
    assert_eq!(required, 129, "6667 bps of 192 seats, rounded up");
    let chain_id = dao.chain().chain_id().await.expect("chain id");
    let anchor = dao.addresses().anchor;
    let sigs: Vec<_> = nodes
        .iter()
        .map(|n| sign_checkpoint(n, chain_id, anchor, epoch, root).expect("sign"))
        .collect();
    let full = Certificate::of(&holders, &sigs);
    assert_eq!(
        full.signed(),
        u64::from(ANCHOR_COMMITTEE),
        "everyone signed: every seat"
    );

    // The holders of the first 128 seats: one short.
    let seated: std::collections::BTreeSet<Address> = holders.iter().copied().collect();
    let short = Certificate::of(&holders[..128], &sigs);
    let err = dao
        .anchor_certificate(&nodes[0], epoch, root, short.clone())
        .await
        .expect_err("one seat short");
    assert!(reason(err).contains("NoQuorum"), "{short:?}");

    // A registered node outside the committee signing in a seat's place.
    let outsider = nodes
        .iter()
        .find(|n| !seated.contains(&n.address()))
        .expect("300 > 192 seats");
    let mut forged = Certificate::of(&holders[..129], &sigs);
    forged.signatures[128] = sign_checkpoint(outsider, chain_id, anchor, epoch, root)
        .expect("sign")
        .signature;
    let err = dao
        .anchor_certificate(&nodes[0], epoch, root, forged)
        .await
        .expect_err("not the seat's holder");
    assert!(reason(err).contains("NotSeatHolder"));

    dao.anchor(&nodes[0], epoch, root, sigs)
        .await
        .expect("anchor with the drawn seats");
    assert_eq!(dao.root_of(epoch).await.expect("root"), Some(root));
}
