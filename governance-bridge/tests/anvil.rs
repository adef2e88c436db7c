//! The bridge against a real anvil (started by each test on 127.0.0.1):
//! deploy the DAO, run proposals through vote, timelock, veto and
//! execution, and anchor a checkpoint with a quorum certificate.

mod common;

use std::path::PathBuf;

use alloy::node_bindings::{Anvil, AnvilInstance};
use common::World;
use ippoc_governance_bridge::{Chain, PrivateKeySigner, RpcChain};

fn anvil() -> AnvilInstance {
    let path = std::env::var_os("IPPOC_ANVIL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../contracts/node_modules/.bin/anvil"));
    assert!(
        path.exists(),
        "anvil not found at {}: run contracts/check.sh (or `npm ci` in contracts/) first, or set IPPOC_ANVIL",
        path.display()
    );
    Anvil::at(path)
        .host("127.0.0.1")
        .try_spawn()
        .expect("anvil starts on 127.0.0.1")
}

/// Keeps anvil alive as long as the world.
async fn world() -> (AnvilInstance, World<RpcChain>) {
    let anvil = anvil();
    let chain = RpcChain::new(&anvil.endpoint()).expect("url");
    let deployer: PrivateKeySigner = anvil.keys()[0].clone().into();
    let vetoer: PrivateKeySigner = anvil.keys()[1].clone().into();
    let (humans, nodes) = common::actors();
    for who in humans.iter().chain(nodes.iter()) {
        chain
            .send(
                &deployer,
                who.address(),
                alloy::primitives::utils::parse_ether("10").expect("ether"),
                Default::default(),
            )
            .await
            .expect("fund");
    }
    let world = common::world(chain, &deployer, vetoer, humans, nodes).await;
    (anvil, world)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parameter_change_passes_waits_out_the_timelock_and_executes() {
    let (_anvil, w) = world().await;
    common::a_parameter_change_passes_waits_out_the_timelock_and_executes(w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vetoed_evolution_never_deploys_and_nodes_alone_pass_nothing() {
    let (_anvil, w) = world().await;
    common::a_vetoed_evolution_never_deploys_and_nodes_alone_pass_nothing(w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_is_anchored_once_and_proves_inclusion() {
    let (_anvil, w) = world().await;
    common::a_checkpoint_is_anchored_once_and_proves_inclusion(w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promotion_is_proven_against_the_anchored_gi_and_decisions_read_back() {
    let (_anvil, w) = world().await;
    common::a_promotion_is_proven_against_the_anchored_gi_and_decisions_read_back(w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swarm_past_its_committee_anchors_with_the_drawn_seats() {
    let anvil = anvil();
    let chain = RpcChain::new(&anvil.endpoint()).expect("url");
    let deployer: PrivateKeySigner = anvil.keys()[0].clone().into();
    let nodes: Vec<PrivateKeySigner> = (0..300).map(|_| PrivateKeySigner::random()).collect();
    let ether = alloy::primitives::utils::parse_ether("10").expect("ether");
    chain
        .send(&deployer, nodes[0].address(), ether, Default::default())
        .await
        .expect("fund the submitter");
    common::a_swarm_past_its_committee_anchors_with_the_drawn_seats(chain, &deployer, &nodes).await;
}
