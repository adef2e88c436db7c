//! Restarting a node in one process (issue 28): a stopped node is fully
//! stopped. Every task that held its ledger (sync rounds, chases, ledger work
//! off the async threads) is joined before `stop` returns, so `stop` closes
//! the ledger itself, and the next start opens it at once.

mod common;

use common::{IPPC, holds, id, until};

use std::time::Duration;

use ed25519_dalek::SigningKey;
use ippoc_economy::genesis::Genesis;
use ippoc_economy::{Amount, NodeId};
use ippoc_swarm::local::{LocalConfig, LocalNode};

const RESTARTS: usize = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_restarted_fifty_times_under_load_closes_its_ledger_at_each_stop_and_converges() {
    let dir = tempfile::tempdir().unwrap();
    let keys: Vec<SigningKey> = (0..3).map(|i| SigningKey::from_bytes(&[i as u8 + 1; 32])).collect();
    let founders: Vec<NodeId> = keys.iter().map(id).collect();
    let genesis = Genesis::new(
        "restart-test",
        1,
        &founders,
        Amount::from_base(1000 * IPPC),
        Amount::from_base(IPPC),
    );
    let config = |i: usize, bootstrap: Vec<_>| {
        let mut c = LocalConfig::new(
            &dir.path().join(i.to_string()),
            genesis.clone(),
            keys[i].clone(),
            bootstrap,
        );
        // A sync round every 100 ms: rounds are in flight at most stops.
        c.cadence.sync_interval = Duration::from_millis(100);
        c
    };
    let a = LocalNode::start(config(1, vec![])).await.unwrap();
    let b = LocalNode::start(config(2, vec![a.addr.clone()])).await.unwrap();
    let mut restarted = LocalNode::start(config(0, vec![a.addr.clone()])).await.unwrap();
    let mut txs = Vec::new();
    for round in 0..RESTARTS {
        // Load: the two others pay it and each other, it pays them; then it
        // is stopped as soon as it holds the newest of the others' entries
        // (brought by gossip or by the sync round its connection started).
        let (x, y) = (
            a.transfer(b.id, Amount::from_base(IPPC)).unwrap(),
            b.transfer(restarted.id, Amount::from_base(IPPC)).unwrap(),
        );
        txs.extend([x, y, restarted.transfer(a.id, Amount::from_base(IPPC)).unwrap()]);
        until(
            &[&restarted],
            "the restarted node to hold the others' newest entries",
            || holds(&restarted, &x) && holds(&restarted, &y),
        )
        .await;
        let rounds = restarted.view.get().stats.sync_rounds;
        assert!(
            restarted.stop().await,
            "restart {round}: stop returned while something of the node still held its ledger (after {rounds} sync rounds)"
        );
        // Opens at once: nothing of the previous instance holds the store's lock.
        restarted = LocalNode::start(config(0, vec![a.addr.clone()]))
            .await
            .unwrap_or_else(|e| panic!("restart {round}: {e}"));
    }
    let all = [&restarted, &a, &b];
    until(&all, "every entry everywhere, one state root", || {
        all.iter().all(|n| txs.iter().all(|t| holds(n, t)))
            && all.iter().all(|n| n.state_root().unwrap() == a.state_root().unwrap())
    })
    .await;
    // Its own chain: at least one entry per round (checkpoint votes may add
    // more), the same head everywhere, and no seq signed twice.
    let head = restarted.ledger.head(&restarted.id).unwrap();
    assert!(head.is_some_and(|(s, _)| s + 1 >= RESTARTS as u64), "{head:?}");
    for n in [&a, &b] {
        assert_eq!(n.ledger.head(&restarted.id).unwrap(), head);
    }
    for n in all {
        assert!(n.ledger.forks().unwrap().is_empty(), "{}", n.id);
    }
    for n in [restarted, a, b] {
        assert!(n.stop().await);
    }
}
