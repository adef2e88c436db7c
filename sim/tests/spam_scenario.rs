//! The spam scenario at 10 nodes, in a process of its own: its criterion
//! compares two of its own phases' wall-clock delivery latencies (issue 24),
//! and the other scenarios' nodes, stopping or not, share the same cores
//! when they run in the same process before it.

mod common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spam() {
    common::check("spam").await;
}
