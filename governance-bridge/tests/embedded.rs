//! The same DAO flows as the anvil test, on the embedded EVM (revm in
//! process): the backend the simulator and a single-machine devnet use.

mod common;

use common::World;
use ippoc_governance_bridge::{EmbeddedChain, PrivateKeySigner};

async fn world() -> World<EmbeddedChain> {
    let chain = EmbeddedChain::new(31_337, 1_800_000_000, &[]);
    let deployer = PrivateKeySigner::random();
    let vetoer = PrivateKeySigner::random();
    let (humans, nodes) = common::actors();
    common::world(chain, &deployer, vetoer, humans, nodes).await
}

#[tokio::test]
async fn a_parameter_change_passes_waits_out_the_timelock_and_executes() {
    common::a_parameter_change_passes_waits_out_the_timelock_and_executes(world().await).await;
}

#[tokio::test]
async fn a_vetoed_evolution_never_deploys_and_nodes_alone_pass_nothing() {
    common::a_vetoed_evolution_never_deploys_and_nodes_alone_pass_nothing(world().await).await;
}

#[tokio::test]
async fn a_checkpoint_is_anchored_once_and_proves_inclusion() {
    common::a_checkpoint_is_anchored_once_and_proves_inclusion(world().await).await;
}

#[tokio::test]
async fn a_promotion_is_proven_against_the_anchored_gi_and_decisions_read_back() {
    common::a_promotion_is_proven_against_the_anchored_gi_and_decisions_read_back(world().await).await;
}

#[tokio::test]
async fn a_swarm_past_its_committee_anchors_with_the_drawn_seats() {
    let chain = EmbeddedChain::new(31_337, 1_800_000_000, &[]);
    let nodes: Vec<PrivateKeySigner> = (0..300).map(|_| PrivateKeySigner::random()).collect();
    common::a_swarm_past_its_committee_anchors_with_the_drawn_seats(chain, &PrivateKeySigner::random(), &nodes).await;
}
