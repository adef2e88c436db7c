//! The spam scenario at 10 nodes, in a process of its own: its flood is the
//! heaviest load of any scenario, and its settle bound is wall-clock (issue
//! 24), so it does not share the cores with other scenarios' nodes still
//! stopping in the same process.

mod common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spam() {
    common::check("spam").await;
}
