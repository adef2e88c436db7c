//! The mesh with real nodes in one process (issue tests a, c, d): the same
//! ledger, validator, sync and pump as the daemon, on the memory transport.
//! Every wait is on the nodes' own state, woken by their changes; none sleeps.

mod common;

use common::{IPPC, WAIT, holds, id};

use std::time::Duration;

use ed25519_dalek::SigningKey;
use ippoc_economy::genesis::Genesis;
use ippoc_economy::{AccountId, Amount, NodeId, SignedEntry, TxId};
use ippoc_mesh::Topic;
use ippoc_swarm::local::{LocalConfig, LocalNode};

struct Swarm {
    nodes: Vec<LocalNode>,
    _dir: tempfile::TempDir,
}

fn keys(n: usize) -> Vec<SigningKey> {
    (0..n).map(|i| SigningKey::from_bytes(&[i as u8 + 1; 32])).collect()
}

/// `n` founders of one swarm; node i > 0 bootstraps to node 0 (Kademlia does the rest).
async fn swarm(n: usize) -> Swarm {
    swarm_with(n, |_| {}).await
}

/// As [`swarm`], each node's configuration adjusted by `tweak`.
async fn swarm_with(n: usize, tweak: impl Fn(&mut LocalConfig)) -> Swarm {
    swarm_of(n, n, tweak).await
}

/// `founders` founders of one swarm, the first `n` of them started.
async fn swarm_of(n: usize, founders: usize, tweak: impl Fn(&mut LocalConfig)) -> Swarm {
    let dir = tempfile::tempdir().unwrap();
    let mut keys = keys(founders);
    let founders: Vec<NodeId> = keys.iter().map(id).collect();
    keys.truncate(n);
    let genesis = Genesis::new(
        "mesh-test",
        1,
        &founders,
        Amount::from_base(1000 * IPPC),
        Amount::from_base(IPPC),
    );
    let mut nodes: Vec<LocalNode> = Vec::new();
    for (i, key) in keys.into_iter().enumerate() {
        let bootstrap = nodes.first().map(|n| vec![n.addr.clone()]).unwrap_or_default();
        let mut config = LocalConfig::new(&dir.path().join(i.to_string()), genesis.clone(), key, bootstrap);
        tweak(&mut config);
        nodes.push(LocalNode::start(config).await.unwrap());
    }
    Swarm { nodes, _dir: dir }
}

/// Waits until `done` holds (woken by the nodes' changes), or fails with what the nodes hold.
async fn until(nodes: &[&LocalNode], what: &str, done: impl Fn() -> bool) {
    if !ippoc_swarm::local::until(nodes, WAIT, done).await {
        let roots: Vec<String> = nodes
            .iter()
            .map(|n| hex::encode(&n.state_root().unwrap()[..4]))
            .collect();
        let entries: Vec<u64> = nodes.iter().map(|n| n.entries().unwrap()).collect();
        panic!("timed out waiting for {what}; roots {roots:?}, entries {entries:?}");
    }
}

fn same_root(nodes: &[&LocalNode]) -> bool {
    let first = nodes[0].state_root().unwrap();
    nodes.iter().all(|n| n.state_root().unwrap() == first)
}

async fn stop(s: Swarm) {
    for n in s.nodes {
        n.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_entries_reach_all_six_nodes_and_every_state_root_agrees() {
    // No periodic sync (it runs every second in tests, and on a loaded
    // machine it fetched entries before their gossip arrived): what is
    // counted below is what gossip carried; sync still runs at each connection.
    let s = swarm_with(6, |c| c.cadence.sync_interval = Duration::from_secs(3600)).await;
    let all: Vec<&LocalNode> = s.nodes.iter().collect();
    until(&all, "a full mesh of heartbeats", || {
        all.iter().all(|n| n.view.get().heard.len() == 5)
    })
    .await;
    // And of connections: a connection made after the entries would sync
    // them in before their gossip arrives (CI saw 24 of 30 by gossip).
    until(&all, "every node connected to every other", || {
        all.iter().all(|n| n.view.get().peers.len() == 5)
    })
    .await;
    let mut txs = Vec::new();
    for i in 0..6 {
        let to = s.nodes[(i + 1) % 6].id;
        txs.push(s.nodes[i].transfer(to, Amount::from_base(10 * IPPC)).unwrap());
    }
    until(&all, "every entry everywhere, one state root", || {
        all.iter().all(|n| txs.iter().all(|t| holds(n, t))) && same_root(&all)
    })
    .await;
    until(&all, "every node in every swarm document's directory", || {
        all.iter().all(|n| n.doc.lock().unwrap().members().unwrap().len() == 6)
    })
    .await;
    let member = s.nodes[0].doc.lock().unwrap().members().unwrap()[&s.nodes[3].id.to_string()].clone();
    assert_eq!(member.peer_id, s.nodes[3].peer_id.to_string());
    assert_eq!(member.addresses.len(), 1);
    // Every node paid 10 (+ fee) and was paid 10.
    for n in &s.nodes {
        let b = n
            .ledger
            .balance(&AccountId::Wallet(n.id), ippoc_economy::Currency::Ippc)
            .unwrap();
        assert_eq!(b.0, (1000 * IPPC) as i128 - 10_000, "{}", n.id);
    }
    let received: u64 = s.nodes.iter().map(|n| n.view.get().stats.entries_ingested).sum();
    assert!(
        received >= 6 * 5 - 5,
        "gossip carried the entries (sync may carry a few): {received}"
    );
    // Each gossiped entry's signature was checked once, by the validator:
    // the pump stored the validator's verified copy.
    let reverified: u64 = s.nodes.iter().map(|n| n.view.get().stats.entries_reverified).sum();
    assert_eq!(reverified, 0);
    stop(s).await;
}

/// The other version of `entry`: same seq and prev, paying someone else.
fn equivocate(entry: &SignedEntry, key: &SigningKey, other: NodeId) -> SignedEntry {
    let mut body = entry.body.clone();
    body.transfers[0].to = AccountId::Wallet(other);
    body.sign(key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_an_equivocator_is_warranted_banned_everywhere_and_all_honest_nodes_agree() {
    let s = swarm(6).await;
    let (evil, honest) = (&s.nodes[5], &s.nodes[..5]);
    let honest_refs: Vec<&LocalNode> = honest.iter().collect();
    let all: Vec<&LocalNode> = s.nodes.iter().collect();
    until(&all, "a full mesh", || {
        all.iter().all(|n| n.view.get().heard.len() == 5)
    })
    .await;
    // A normal payment first, so the fork is not at the start of the chain.
    let first = evil.transfer(honest[0].id, Amount::from_base(IPPC)).unwrap();
    until(&all, "the honest payment everywhere", || {
        honest.iter().all(|n| holds(n, &first))
    })
    .await;
    // Version a goes out the normal way; version b spends the same money again.
    let a_tx = evil.transfer(honest[1].id, Amount::from_base(500 * IPPC)).unwrap();
    let (a, _) = evil.ledger.entry_by_tx(&a_tx).unwrap().unwrap();
    let b = equivocate(&a, &evil.key, honest[2].id);
    evil.client().publish(Topic::Entries, b.to_bytes()).await.unwrap();

    let evil_peer = evil.peer_id.to_string();
    until(
        &honest_refs,
        "fork evidence, a ban and one state root on every honest node",
        || {
            honest.iter().all(|n| {
                n.ledger.fork_of(&evil.id).unwrap() == Some(a.body.seq)
                    && n.view.get().banned.iter().any(|b| b.peer == evil_peer)
            }) && same_root(&honest_refs)
        },
    )
    .await;
    // The swarm document carries every honest node's ban record, with the evidence's hash.
    until(&honest_refs, "the bans in every swarm document", || {
        honest.iter().all(|n| {
            let bans = n.doc.lock().unwrap().bans().unwrap();
            bans.iter()
                .filter(|(k, b)| k.starts_with(&evil_peer) && b.evidence.len() == 64)
                .count()
                == 5
        })
    })
    .await;
    let warrants: u64 = honest.iter().map(|n| n.view.get().stats.warrants_received).sum();
    assert!(warrants > 0, "warrants were gossiped and checked");
    for n in honest {
        let ban = n.view.get().banned.into_iter().find(|b| b.peer == evil_peer).unwrap();
        assert!(ban.reason.contains("equivocation"), "{}", ban.reason);
        // Neither version of the double spend counts: the fork rule keeps the chain below the fork.
        let paid = |who: &LocalNode| {
            n.ledger
                .balance(&AccountId::Wallet(who.id), ippoc_economy::Currency::Ippc)
                .unwrap()
                .0
        };
        assert_eq!(paid(&honest[1]), (1000 * IPPC) as i128);
        assert_eq!(paid(&honest[2]), (1000 * IPPC) as i128);
        assert!(holds(n, &first), "the entry below the fork still counts");
    }
    // Cut off: the equivocator's next entry reaches no honest node.
    until(&all, "the equivocator disconnected", || {
        evil.view.get().peers.is_empty()
    })
    .await;
    stop(s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d_a_partition_with_traffic_on_both_sides_heals_to_one_state_root_losing_nothing() {
    let s = swarm(6).await;
    let all: Vec<&LocalNode> = s.nodes.iter().collect();
    until(&all, "a full mesh", || {
        all.iter().all(|n| n.view.get().heard.len() == 5)
    })
    .await;
    let (left, right) = s.nodes.split_at(3);
    // Before the split: payments that both sides then rely on.
    let mut txs = vec![
        left[0].transfer(right[0].id, Amount::from_base(100 * IPPC)).unwrap(),
        right[1].transfer(left[1].id, Amount::from_base(100 * IPPC)).unwrap(),
    ];
    until(&all, "pre-split payments everywhere", || {
        all.iter().all(|n| txs.iter().all(|t| holds(n, t)))
    })
    .await;

    let peers = |side: &[LocalNode]| side.iter().map(|n| n.peer_id).collect::<Vec<_>>();
    for (side, other) in [(left, right), (right, left)] {
        for n in side {
            n.client().partition(peers(other), true).await.unwrap();
        }
    }
    // Each side must hold together on its own: the bootstrap star ran through node 0.
    for side in [left, right] {
        for n in &side[1..] {
            n.client().dial(side[0].addr.clone()).await.unwrap();
        }
    }
    let within = |side: &[LocalNode], other: &[LocalNode]| {
        let (mine, theirs) = (peers(side), peers(other));
        side.iter().all(|n| {
            let v = n.view.get().peers;
            let linked = |p: &ippoc_mesh::PeerId| v.contains(&p.to_string());
            !theirs.iter().any(linked) && (n.peer_id == side[0].peer_id || linked(&mine[0]))
        })
    };
    until(&all, "the split", || within(left, right) && within(right, left)).await;
    // Traffic on both sides, spending what arrived before the split, and across it.
    let mut split = Vec::new();
    for (i, n) in s.nodes.iter().enumerate() {
        let to = s.nodes[(i + 3) % 6].id;
        split.push(n.transfer(to, Amount::from_base(1050 * IPPC / 10)).unwrap());
    }
    let (lrefs, rrefs): (Vec<&LocalNode>, Vec<&LocalNode>) = (left.iter().collect(), right.iter().collect());
    until(&all, "each side converged on its own", || {
        same_root(&lrefs)
            && same_root(&rrefs)
            && split[..3].iter().all(|t| lrefs.iter().all(|n| holds(n, t)))
            && split[3..].iter().all(|t| rrefs.iter().all(|n| holds(n, t)))
    })
    .await;
    assert_ne!(
        left[0].state_root().unwrap(),
        right[0].state_root().unwrap(),
        "the sides diverged"
    );
    assert!(!holds(&left[0], &split[3]), "nothing crossed the partition");

    // Heal: allow the links again and reconnect; sync on connect fetches what each side missed.
    for (side, other) in [(left, right), (right, left)] {
        for n in side {
            n.client().partition(peers(other), false).await.unwrap();
        }
    }
    for n in left {
        n.client().dial(right[0].addr.clone()).await.unwrap();
    }
    txs.extend(split);
    until(&all, "one state root with every entry on every node", || {
        all.iter().all(|n| txs.iter().all(|t| holds(n, t))) && same_root(&all)
    })
    .await;
    until(&all, "one swarm document", || {
        let heads = s.nodes[0].doc.lock().unwrap().heads().unwrap();
        all.iter().all(|n| {
            n.doc.lock().unwrap().heads().unwrap() == heads && n.doc.lock().unwrap().members().unwrap().len() == 6
        })
    })
    .await;
    let synced: u64 = s.nodes.iter().map(|n| n.view.get().stats.sync_entries).sum();
    assert!(synced >= 3, "the missing entries came by sync: {synced}");
    for n in &s.nodes {
        assert_eq!(payments(n), 8, "2 before the split + 6 during it, none lost");
        assert_eq!(n.ledger.pending_count().unwrap(), 0);
    }
    stop(s).await;
}

/// Entries `n` holds that are not checkpoint votes: every node records one
/// in its chain when a (wall-clock) epoch ends, which may happen mid-test.
fn payments(n: &LocalNode) -> u64 {
    let mut count = 0;
    for (actor, head, _) in n.ledger.heads().unwrap() {
        for entry in n.ledger.range(&actor, 0, head + 1) {
            let (entry, _) = entry.unwrap();
            count += u64::from(!matches!(
                entry.body.action,
                ippoc_economy::entry::Action::Checkpoint { .. }
            ));
        }
    }
    count
}

fn pay(from: NodeId, to: AccountId, base: u64) -> ippoc_economy::Transfer {
    ippoc_economy::Transfer {
        from: AccountId::Wallet(from),
        to,
        currency: ippoc_economy::Currency::Ippc,
        amount: Amount::from_base(base),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_a_warrant_alone_convinces_a_node_that_never_saw_the_fork() {
    // Node 2 is a founder that never comes online; only its key equivocates.
    let s = swarm_of(2, 3, |_| {}).await;
    let evil_key = keys(3).pop().unwrap();
    let (reporter, listener) = (&s.nodes[0], &s.nodes[1]);
    let all: Vec<&LocalNode> = s.nodes.iter().collect();
    until(&all, "the two nodes hear each other", || {
        all.iter().all(|n| n.view.get().heard.len() == 1)
    })
    .await;
    // The forker's two versions reach the reporter only (as if through a side channel).
    let evil = id(&evil_key);
    let a = ippoc_economy::entry::EntryBody {
        version: ippoc_economy::entry::ENTRY_VERSION,
        swarm_id: reporter.ledger.swarm_id(),
        actor: evil,
        seq: 0,
        prev: TxId::ZERO,
        timestamp_ms: 5,
        params: 0,
        action: ippoc_economy::Action::Transfer,
        transfers: vec![
            pay(evil, AccountId::Wallet(reporter.id), IPPC),
            pay(evil, AccountId::PublicGoodsPool, IPPC / 1000),
        ],
        deps: vec![],
        outcome: ippoc_economy::Outcome::Success,
        proof: None,
        memo: b"one".to_vec(),
    };
    let mut b = a.clone();
    b.memo = b"two".to_vec();
    let outcomes = reporter
        .ledger
        .ingest(vec![a.sign(&evil_key), b.sign(&evil_key)])
        .unwrap();
    assert!(
        matches!(outcomes[1], ippoc_economy::store::IngestOutcome::Fork { .. }),
        "{outcomes:?}"
    );
    assert_eq!(reporter.ledger.fork_of(&evil).unwrap(), Some(0));
    let evil_peer = ippoc_mesh::peer_id_of_ed25519(evil.as_bytes()).unwrap().to_string();
    until(&all, "the listener convinced by the warrant", || {
        listener.ledger.fork_of(&evil).unwrap() == Some(0)
            && listener.view.get().banned.iter().any(|b| b.peer == evil_peer)
    })
    .await;
    assert_eq!(listener.view.get().stats.warrants_received, 1);
    assert_eq!(reporter.view.get().stats.warrants_sent, 1);
    assert!(same_root(&all));
    stop(s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_peers_heartbeats_show_it_behind_pulls_what_it_lacks_without_waiting_for_a_round() {
    // No periodic rounds, and the entries never gossiped: only a pull
    // started by the heartbeats can bring them (issue 28).
    let s = swarm_of(2, 3, |c| c.cadence.sync_interval = Duration::from_secs(3600)).await;
    let (ahead, behind) = (&s.nodes[0], &s.nodes[1]);
    let all: Vec<&LocalNode> = s.nodes.iter().collect();
    until(&all, "the two nodes hear each other", || {
        all.iter().all(|n| n.view.get().heard.len() == 1)
    })
    .await;
    // The founder that never comes online signed a chain that reached
    // `ahead` only (as if through a side channel).
    let key = keys(3).pop().unwrap();
    let actor = id(&key);
    let mut prev = TxId::ZERO;
    let mut chain = Vec::new();
    for seq in 0..5u64 {
        let body = ippoc_economy::entry::EntryBody {
            version: ippoc_economy::entry::ENTRY_VERSION,
            swarm_id: ahead.ledger.swarm_id(),
            actor,
            seq,
            prev,
            timestamp_ms: 5 + seq,
            params: 0,
            action: ippoc_economy::Action::Transfer,
            transfers: vec![
                pay(actor, AccountId::Wallet(behind.id), IPPC),
                pay(actor, AccountId::PublicGoodsPool, IPPC / 1000),
            ],
            deps: vec![],
            outcome: ippoc_economy::Outcome::Success,
            proof: None,
            memo: vec![],
        };
        let signed = body.sign(&key);
        prev = signed.tx_id();
        chain.push(signed);
    }
    let last = chain.last().unwrap().tx_id();
    ahead.ledger.ingest(chain).unwrap();
    // The round's counts land in the view when it reports back, after the
    // entries; other rounds (the connections') may report first, so the
    // wait is for the entries counted, not for a number of rounds.
    until(&all, "the node behind to pull the chain", || {
        holds(behind, &last) && same_root(&all) && behind.view.get().stats.sync_entries >= 5
    })
    .await;
    let stats = behind.view.get().stats;
    assert!(stats.sync_behind >= 1, "{stats:?}");
    assert_eq!(stats.sync_entries, 5, "{stats:?}");
    stop(s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_records_one_checkpoint_tally_per_epoch_and_every_replica_gets_them_all() {
    let s = swarm_with(4, |c| {
        c.cadence.epoch_ms = 400;
        c.cadence.attest_interval = Duration::from_millis(100);
    })
    .await;
    let all: Vec<&LocalNode> = s.nodes.iter().collect();
    let ids: Vec<String> = s.nodes.iter().map(|n| n.id.to_string()).collect();
    // Nobody transfers: the only entries are the nodes' checkpoint votes in
    // their chains. A tally compares roots taken at each node's epoch tick,
    // the moment those votes are made, so a vote still in flight may make a
    // tally disagree (with 400 ms epochs on a loaded machine, often: the
    // tally reports it, which is its job). What must hold: a tally from every
    // node that agreed with someone, in every replica.
    until(&all, "every node's tally in every replica", || {
        all.iter().all(|n| {
            let o = ippoc_swarm::doc::lock(&n.doc).observations().unwrap();
            ids.iter().all(|id| o.get(id).is_some_and(|t| t.agree >= 1))
        })
    })
    .await;
    for n in &all {
        let o = ippoc_swarm::doc::lock(&n.doc).observations().unwrap();
        // Keyed by observer only: one record per node, not one per pair.
        assert_eq!(o.len(), ids.len(), "{o:?}");
        // A dissenter named is a node of the swarm.
        assert!(
            o.values().all(|t| t.dissenters.iter().all(|d| ids.contains(d))),
            "{o:?}"
        );
    }
    stop(s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_validly_signed_entries_from_an_outside_key_is_stored_nowhere_and_its_sender_is_banned() {
    let s = swarm(2).await;
    let (sender, receiver) = (&s.nodes[0], &s.nodes[1]);
    let all: Vec<&LocalNode> = s.nodes.iter().collect();
    until(&all, "the two nodes hear each other", || {
        all.iter().all(|n| n.view.get().heard.len() == 1)
    })
    .await;
    // An outside key's entries, well formed and validly signed, each the
    // first of a new chain (a chain's later entries would only be ignored).
    let mut sent = 0;
    for i in 0..64u8 {
        let outsider = SigningKey::from_bytes(&[200 + (i % 50); 32]);
        let actor = id(&outsider);
        let body = ippoc_economy::entry::EntryBody {
            version: ippoc_economy::entry::ENTRY_VERSION,
            swarm_id: sender.ledger.swarm_id(),
            actor,
            seq: 0,
            prev: TxId::ZERO,
            timestamp_ms: u64::from(i),
            params: 0,
            action: ippoc_economy::Action::Transfer,
            transfers: vec![
                pay(actor, AccountId::Wallet(receiver.id), IPPC),
                pay(actor, AccountId::PublicGoodsPool, IPPC / 1000),
            ],
            deps: vec![],
            outcome: ippoc_economy::Outcome::Success,
            proof: None,
            memo: vec![],
        };
        if sender
            .client()
            .publish(Topic::Entries, body.sign(&outsider).to_bytes())
            .await
            .is_ok()
        {
            sent += 1;
        }
    }
    assert!(sent >= 16, "{sent} published");
    let sender_peer = sender.peer_id.to_string();
    until(&all, "the receiver bans the sender of non-members' entries", || {
        receiver.view.get().banned.iter().any(|b| b.peer == sender_peer)
    })
    .await;
    let ban = receiver
        .view
        .get()
        .banned
        .into_iter()
        .find(|b| b.peer == sender_peer)
        .unwrap();
    assert!(ban.reason.contains("not a member"), "{}", ban.reason);
    // Nothing of it was stored: the receiver holds only the founders' chains.
    for (actor, _, _) in receiver.ledger.heads().unwrap() {
        assert!(actor == sender.id || actor == receiver.id, "{actor} got a chain");
    }
    assert_eq!(receiver.ledger.pending_count().unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_over_its_actors_rate_arrives_paced_by_it_not_cut_off_and_the_excess_is_counted() {
    // Bursts of 25 and 25 a second: 100 entries cannot arrive at once.
    let tweak = |c: &mut LocalConfig| c.cadence.limits.entries = ippoc_mesh::Rate::new(25, 25);
    let mut s = swarm_of(1, 2, tweak).await;
    let source = &s.nodes[0];
    let to = id(&keys(2)[1]);
    for _ in 0..100 {
        source.transfer(to, Amount::from_base(IPPC)).unwrap();
    }
    let head = source.ledger.head(&source.id).unwrap().unwrap();
    // The second founder starts late: everything comes by sync, at the rate.
    let dir = tempfile::tempdir().unwrap();
    let genesis = source.ledger.genesis().clone();
    let mut config = LocalConfig::new(dir.path(), genesis, keys(2)[1].clone(), vec![source.addr.clone()]);
    tweak(&mut config);
    s.nodes.push(LocalNode::start(config).await.unwrap());
    let all: Vec<&LocalNode> = s.nodes.iter().collect();
    let (source, late) = (all[0], all[1]);
    until(&all, "the late node holds the whole chain", || {
        late.ledger.head(&source.id).unwrap() == Some(head)
    })
    .await;
    until(&all, "the excess counted", || late.view.get().stats.sync_throttled > 0).await;
    until(&all, "one state", || same_root(&all)).await;
    stop(s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_gossip_dropped_over_its_rate_is_fetched_from_the_peer_that_had_it_without_waiting_for_a_round() {
    // No periodic round within the test: what gossip dropped over the rate
    // can only come by a chase from the peer whose gossip showed it.
    let tweak = |c: &mut LocalConfig| {
        c.cadence.sync_interval = Duration::from_secs(3600);
        c.cadence.limits.entries = ippoc_mesh::Rate::new(20, 10);
    };
    let s = swarm_with(3, tweak).await;
    let all: Vec<&LocalNode> = s.nodes.iter().collect();
    until(&all, "every node connected to every other", || {
        all.iter().all(|n| n.view.get().peers.len() == 2)
    })
    .await;
    let source = all[0];
    for _ in 0..60 {
        source.transfer(all[1].id, Amount::from_base(IPPC)).unwrap();
    }
    let head = source.ledger.head(&source.id).unwrap().unwrap();
    until(&all, "the whole chain everywhere", || {
        all[1..]
            .iter()
            .all(|n| n.ledger.head(&source.id).unwrap() == Some(head))
    })
    .await;
    for n in &all[1..] {
        let stats = n.view.get().stats;
        assert!(stats.entries_throttled > 0, "gossip dropped some over the rate");
        assert!(stats.chased_entries > 0, "and they were chased: {stats:?}");
    }
    until(&all, "one state", || same_root(&all)).await;
    stop(s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_builds_the_same_gi_table_for_each_closed_cycle_from_the_votes_in_the_chains() {
    // A genesis of now: the ladder starts at the genesis cycle and catches
    // up a bounded number of cycles an epoch.
    let created = ippoc_swarm::ledger::now_ms();
    let s = swarm_with(3, move |c| {
        c.genesis.created_at_ms = created;
        c.cadence.epoch_ms = 400;
        c.cadence.attest_interval = Duration::from_millis(100);
    })
    .await;
    let all: Vec<&LocalNode> = s.nodes.iter().collect();
    // A cycle scored by every node in which every node voted with the
    // quorum: every node's table for it names all three at full consensus.
    let full = |n: &LocalNode| {
        n.view.get().gi.is_some_and(|t| {
            t.rows.len() == 3
                && t.rows
                    .iter()
                    .all(|r| r.components.0[1] == 1_000_000 && r.components.0[2] == 1_000_000)
        })
    };
    until(&all, "a cycle in which all three voted with the quorum", || {
        all.iter().all(|n| full(n))
    })
    .await;
    // Wait for two more cycles everywhere, then compare the digests of the
    // cycles every node scored.
    let newest = |n: &LocalNode| n.view.get().gi_digests.last().map_or(0, |d| d.0);
    let target = all.iter().map(|n| newest(n)).max().unwrap() + 2;
    until(&all, "two more cycles scored", || {
        all.iter().all(|n| newest(n) >= target)
    })
    .await;
    let digests: Vec<std::collections::BTreeMap<u64, String>> = all
        .iter()
        .map(|n| n.view.get().gi_digests.into_iter().collect())
        .collect();
    let common: Vec<u64> = digests[0]
        .keys()
        .filter(|c| digests.iter().all(|d| d.contains_key(c)))
        .copied()
        .collect();
    assert!(common.len() >= 3, "{digests:?}");
    for c in &common {
        let first = &digests[0][c];
        assert!(digests.iter().all(|d| &d[c] == first), "cycle {c}: {digests:?}");
    }
    // Idle honest nodes: nothing broken, nothing wasted, every vote with the
    // quorum; nobody paid anybody, so no community (5%): 0.95.
    let table = all[0].view.get().gi.unwrap();
    assert!(table.rows.iter().all(|r| r.gi == 950_000), "{table:?}");
    assert_eq!(table.swarm_gi, Some(950_000));
    // The ladder moved by the same tables: at the newest cycle every node
    // has moved by, the same standings everywhere, byte for byte, and the
    // founders at Standard with nothing against them.
    let newest_common = all
        .iter()
        .map(|n| n.view.get().standings.and_then(|s| s.cycle).unwrap())
        .min()
        .unwrap();
    let kept: Vec<_> = all
        .iter()
        .map(|n| n.ledger.standings_kept(newest_common).unwrap().unwrap())
        .collect();
    assert!(kept.iter().all(|k| k.digest == kept[0].digest), "{kept:?}");
    for n in &all {
        let row = kept[0].of(&n.id).unwrap();
        assert_eq!(row.tier.tier(), ippoc_economy::integrity::Tier::Standard);
        assert!(row.record.is_empty() && row.offences.is_empty(), "{row:?}");
    }
    stop(s).await;
}
