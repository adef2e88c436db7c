//! The lossy, churning `wan` scenario at 20 nodes over several seeds (issue
//! 28): every restarted node converges, whatever the seed draws. The
//! 100-node sweep over seeds 1–20 is `ippoc-sim --scenario wan --seed N`
//! (docs/benchmarks.md); this is the size CI affords.

mod common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wan_at_20_nodes_passes_for_seeds_1_to_5() {
    for seed in 1..=5 {
        common::check_at("wan", 20, seed).await;
    }
}
