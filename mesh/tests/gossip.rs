//! Gossip with explicit validation, in process over the memory transport:
//! what is accepted reaches every node across several hops; what is rejected
//! stops at the first honest node.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ippoc_mesh::{Keypair, Mesh, MeshConfig, MeshEvent, Multiaddr, PeerId, Topic, Transport, Verdict};

const WAIT: Duration = Duration::from_secs(30);

/// A node and everything it has reported so far.
struct Probe {
    mesh: Mesh,
    seen: Vec<MeshEvent>,
    addr: Multiaddr,
}

impl Probe {
    /// The first event, already seen or still to come, that matches.
    async fn until(&mut self, what: &str, pred: impl Fn(&MeshEvent) -> bool) -> MeshEvent {
        if let Some(e) = self.seen.iter().find(|e| pred(e)) {
            return e.clone();
        }
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let event = tokio::time::timeout_at(deadline, self.mesh.events.recv())
                .await
                .unwrap_or_else(|_| panic!("timed out waiting for {what}; saw {:?}", self.seen))
                .expect("mesh stopped");
            self.seen.push(event.clone());
            if pred(&event) {
                return event;
            }
        }
    }
}

fn unique_memory_addr() -> Multiaddr {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = (u64::from(std::process::id()) << 24) + NEXT.fetch_add(1, Ordering::Relaxed) + 1;
    format!("/memory/{n}").parse().unwrap()
}

/// "forged…" is provably bad (ban); "invalid…" breaks a state-dependent rule (count).
fn validator() -> Arc<dyn ippoc_mesh::Validator> {
    Arc::new(|_: Topic, data: &[u8], _: &PeerId| {
        if data.starts_with(b"forged") {
            Verdict::Forged("bad signature".into())
        } else if data.starts_with(b"invalid") {
            Verdict::Reject("overdraft".into())
        } else {
            Verdict::Accept
        }
    })
}

async fn start(n: usize) -> Vec<Probe> {
    start_on(n, Transport::Memory, unique_memory_addr).await
}

/// `n` nodes on `transport`, each listening on a fresh `listen()` address;
/// each probe's address is the one the node reports listening on.
async fn start_on(n: usize, transport: Transport, listen: impl Fn() -> Multiaddr) -> Vec<Probe> {
    start_with(n, transport, listen, |_| {}).await
}

/// As [`start_on`], each node's configuration adjusted by `tweak`.
async fn start_with(
    n: usize,
    transport: Transport,
    listen: impl Fn() -> Multiaddr,
    tweak: impl Fn(&mut MeshConfig),
) -> Vec<Probe> {
    let mut nodes = Vec::new();
    for _ in 0..n {
        let mut config = MeshConfig::new([7; 32], transport);
        config.listen = vec![listen()];
        config.heartbeat_ms = 100;
        tweak(&mut config);
        let mesh = Mesh::start(
            Keypair::generate_ed25519(),
            config,
            validator(),
            Arc::new(ippoc_mesh::NoSync),
        )
        .unwrap();
        let mut probe = Probe {
            mesh,
            seen: Vec::new(),
            addr: unique_memory_addr(),
        };
        if let MeshEvent::Listening(addr) = probe.until("listening", |e| matches!(e, MeshEvent::Listening(_))).await {
            probe.addr = addr;
        }
        nodes.push(probe);
    }
    nodes
}

/// Connects node i to node i-1 and waits until neighbours see each other's subscriptions.
async fn line(nodes: &mut [Probe]) {
    for i in 1..nodes.len() {
        let addr = nodes[i - 1].addr.clone();
        nodes[i].mesh.dial(addr).await.unwrap();
    }
    for i in 0..nodes.len() {
        let neighbours: Vec<PeerId> = [i.checked_sub(1), Some(i + 1)]
            .into_iter()
            .flatten()
            .filter(|j| *j < nodes.len())
            .map(|j| nodes[j].mesh.peer_id())
            .collect();
        for peer in neighbours {
            nodes[i]
                .until(
                    "neighbour subscription",
                    |e| matches!(e, MeshEvent::Subscribed { peer: p, topic: Topic::Entries } if *p == peer),
                )
                .await;
        }
    }
}

fn delivered(data: &'static [u8]) -> impl Fn(&MeshEvent) -> bool {
    move |e| matches!(e, MeshEvent::Delivered { data: d, topic: Topic::Entries, .. } if d == data)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accepted_message_reaches_every_node_across_four_hops() {
    let mut nodes = start(5).await;
    line(&mut nodes).await;
    nodes[0]
        .mesh
        .publish(Topic::Entries, b"entry 1".to_vec())
        .await
        .unwrap();
    for node in nodes.iter_mut().skip(1) {
        node.until("delivery of entry 1", delivered(b"entry 1")).await;
    }
    for node in nodes {
        node.mesh.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_message_is_not_delivered_or_forwarded() {
    let mut nodes = start(3).await;
    line(&mut nodes).await;
    let sender = nodes[0].mesh.peer_id();
    nodes[0]
        .mesh
        .publish(Topic::Entries, b"invalid entry".to_vec())
        .await
        .unwrap();
    let rejected = nodes[1]
        .until("rejection", |e| matches!(e, MeshEvent::Rejected { .. }))
        .await;
    let expected = MeshEvent::Rejected {
        topic: Topic::Entries,
        from: sender,
        reason: "overdraft".into(),
    };
    assert_eq!(rejected, expected);
    // A good message behind it crosses the same hops; the forged one never did.
    nodes[0]
        .mesh
        .publish(Topic::Entries, b"honest entry".to_vec())
        .await
        .unwrap();
    nodes[2].until("the honest entry", delivered(b"honest entry")).await;
    for node in &nodes[1..] {
        assert!(
            !node.seen.iter().any(delivered(b"invalid entry")),
            "a rejected message was delivered"
        );
    }
    assert!(
        !nodes[2].seen.iter().any(|e| matches!(e, MeshEvent::Rejected { .. })),
        "node 2 never even received the rejected message"
    );
    assert!(
        !nodes[1].seen.iter().any(|e| matches!(e, MeshEvent::Banned { .. })),
        "one state-dependent rejection only counts; it does not ban"
    );
    for node in nodes {
        node.mesh.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forger_is_banned_by_the_first_honest_node_and_cut_off() {
    let mut nodes = start(3).await;
    line(&mut nodes).await;
    let forger = nodes[0].mesh.peer_id();
    nodes[0]
        .mesh
        .publish(Topic::Entries, b"forged entry".to_vec())
        .await
        .unwrap();
    let banned = nodes[1]
        .until("the ban", |e| matches!(e, MeshEvent::Banned { .. }))
        .await;
    assert!(matches!(banned, MeshEvent::Banned { peer, reason } if peer == forger && reason.contains("bad signature")));
    nodes[1]
        .until("the forger disconnected", |e| *e == MeshEvent::Disconnected(forger))
        .await;
    nodes[0]
        .until("cut off", |e| matches!(e, MeshEvent::Disconnected(_)))
        .await;
    // With its only honest neighbour gone, the forger has no one to publish to.
    let err = nodes[0]
        .mesh
        .publish(Topic::Entries, b"anything".to_vec())
        .await
        .unwrap_err();
    assert!(matches!(err, ippoc_mesh::MeshError::Publish { .. }), "{err}");
    assert!(
        !nodes[2]
            .seen
            .iter()
            .any(|e| matches!(e, MeshEvent::Delivered { .. } | MeshEvent::Rejected { .. }))
    );
    for node in nodes {
        node.mesh.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ban_given_at_start_keeps_the_peer_out() {
    let mut nodes = start(1).await;
    let banned_key = Keypair::generate_ed25519();
    let banned_peer = banned_key.public().to_peer_id();
    let addr = unique_memory_addr();
    let mut config = MeshConfig::new([7; 32], Transport::Memory);
    config.listen = vec![addr.clone()];
    config.banned = vec![banned_peer];
    let mut guard = Probe {
        mesh: Mesh::start(
            Keypair::generate_ed25519(),
            config,
            validator(),
            Arc::new(ippoc_mesh::NoSync),
        )
        .unwrap(),
        seen: Vec::new(),
        addr,
    };
    guard.until("listening", |e| matches!(e, MeshEvent::Listening(_))).await;
    // A stranger connects fine; the banned identity cannot.
    nodes[0].mesh.dial(guard.addr.clone()).await.unwrap();
    guard
        .until("the stranger", |e| matches!(e, MeshEvent::Connected(_)))
        .await;
    let mut config = MeshConfig::new([7; 32], Transport::Memory);
    config.listen = vec![unique_memory_addr()];
    let mut outcast = Probe {
        mesh: Mesh::start(banned_key, config, validator(), Arc::new(ippoc_mesh::NoSync)).unwrap(),
        seen: Vec::new(),
        addr: guard.addr.clone(),
    };
    outcast.mesh.dial(guard.addr.clone()).await.unwrap();
    // A barrier: the stranger's message arrives after the outcast's attempt began.
    nodes[0]
        .until("subscription", |e| matches!(e, MeshEvent::Subscribed { .. }))
        .await;
    nodes[0]
        .mesh
        .publish(Topic::Entries, b"barrier".to_vec())
        .await
        .unwrap();
    guard.until("barrier", delivered(b"barrier")).await;
    assert!(
        !guard.seen.iter().any(|e| *e == MeshEvent::Connected(banned_peer)),
        "a banned peer got in"
    );
    let _ = outcast
        .until("listening", |e| matches!(e, MeshEvent::Listening(_)))
        .await;
    for m in [guard.mesh, outcast.mesh] {
        m.stop().await;
    }
    for node in nodes {
        node.mesh.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_of_another_swarm_do_not_share_topics() {
    assert_ne!(Topic::Entries.wire_name(&[1; 32]), Topic::Entries.wire_name(&[2; 32]));
    assert_eq!(
        Topic::Entries.wire_name(&[0xab; 32]),
        format!("/ippoc/{}/entries/1", "ab".repeat(32))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kademlia_finds_a_peer_known_only_to_the_bootstrap_node() {
    let mut nodes = start(3).await;
    let (b, c) = (nodes[1].mesh.peer_id(), nodes[2].mesh.peer_id());
    // B and C know only A; neither has the other's address.
    for i in [1, 2] {
        let a = nodes[0].addr.clone();
        nodes[i].mesh.dial(a).await.unwrap();
        let a = nodes[0].mesh.peer_id();
        nodes[i]
            .until("connected to A", |e| *e == MeshEvent::Connected(a))
            .await;
    }
    // Events queue up, so waiting on one node and then the other misses nothing.
    let b_seen = nodes[1]
        .until("C through the DHT", |e| *e == MeshEvent::Connected(c))
        .await;
    let c_seen = nodes[2]
        .until("B through the DHT", |e| *e == MeshEvent::Connected(b))
        .await;
    assert_eq!((b_seen, c_seen), (MeshEvent::Connected(c), MeshEvent::Connected(b)));
    for node in nodes {
        node.mesh.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_cuts_links_until_it_is_healed() {
    let mut nodes = start(2).await;
    line(&mut nodes).await;
    let (a, b) = (nodes[0].mesh.peer_id(), nodes[1].mesh.peer_id());
    nodes[0].mesh.client().partition(vec![b], true).await.unwrap();
    nodes[0].until("B cut off", |e| *e == MeshEvent::Disconnected(b)).await;
    nodes[1].until("A cut off", |e| *e == MeshEvent::Disconnected(a)).await;
    nodes[0].seen.clear();
    nodes[1].seen.clear();
    // Healed: B can come back, and gossip flows again.
    nodes[0].mesh.client().partition(vec![b], false).await.unwrap();
    let addr = nodes[0].addr.clone();
    nodes[1].mesh.dial(addr).await.unwrap();
    nodes[0].until("B back", |e| *e == MeshEvent::Connected(b)).await;
    nodes[1]
        .until(
            "A's topics",
            |e| matches!(e, MeshEvent::Subscribed { peer, topic: Topic::Entries } if *peer == a),
        )
        .await;
    nodes[1]
        .mesh
        .publish(Topic::Entries, b"after heal".to_vec())
        .await
        .unwrap();
    nodes[0].until("gossip after heal", delivered(b"after heal")).await;
    for node in nodes {
        node.mesh.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gossip_flows_over_quic_on_loopback() {
    let quic = || "/ip4/127.0.0.1/udp/0/quic-v1".parse().unwrap();
    let mut nodes = start_on(2, Transport::Tcp, quic).await;
    for n in &nodes {
        assert!(n.addr.to_string().contains("/quic-v1"), "{}", n.addr);
    }
    line(&mut nodes).await;
    nodes[0]
        .mesh
        .publish(Topic::Entries, b"over quic".to_vec())
        .await
        .unwrap();
    nodes[1].until("delivery over QUIC", delivered(b"over quic")).await;
    for node in nodes {
        node.mesh.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulated_link_delays_every_message_by_its_latency() {
    const LATENCY: Duration = Duration::from_millis(400);
    let links: ippoc_mesh::SharedLinks = Arc::new(ippoc_mesh::LinksFn(|_: &Multiaddr| ippoc_mesh::Link {
        latency: LATENCY,
        loss: 0.0,
        seed: 1,
    }));
    let mut nodes = start_with(2, Transport::Memory, unique_memory_addr, |c| {
        c.links = Some(links.clone())
    })
    .await;
    line(&mut nodes).await;
    for (from, to, data) in [
        (1, 0, b"over the link, dialer first" as &'static [u8]),
        (0, 1, b"and back"),
    ] {
        let sent = tokio::time::Instant::now();
        nodes[from].mesh.publish(Topic::Entries, data.to_vec()).await.unwrap();
        nodes[to].until("delivery over the link", delivered(data)).await;
        // A lower bound only: the link must have held the message that long.
        assert!(sent.elapsed() >= LATENCY, "delivered after {:?}", sent.elapsed());
    }
    for node in nodes {
        node.mesh.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_identify_as_ippoc_with_its_version() {
    let mut nodes = start(2).await;
    line(&mut nodes).await;
    let agent = format!("ippoc/{}", env!("CARGO_PKG_VERSION"));
    let heard = nodes[1]
        .until("the other node's identify", |e| {
            matches!(e, MeshEvent::Identified { .. })
        })
        .await;
    match heard {
        MeshEvent::Identified { agent_version, .. } => assert_eq!(agent_version, agent),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_at_the_limit_sent_back_to_back_all_arrive() {
    const LIMIT: usize = 64 * 1024;
    let mut nodes = start_with(2, Transport::Memory, unique_memory_addr, |c| {
        c.gossip_message_bytes_max = LIMIT;
    })
    .await;
    line(&mut nodes).await;
    // Eight messages of exactly the limit, published without waiting: the
    // library reads several in one frame (before its headroom, 4 in 23
    // trials cut the sender off silently).
    let messages: Vec<Vec<u8>> = (0..8u8).map(|i| vec![b'a' + i; LIMIT]).collect();
    for m in &messages {
        nodes[0].mesh.publish(Topic::Entries, m.clone()).await.unwrap();
    }
    for m in &messages {
        let want = m.clone();
        nodes[1]
            .until(
                "every message at the limit",
                move |e| matches!(e, MeshEvent::Delivered { data, .. } if *data == want),
            )
            .await;
    }
    // One byte over is refused at the publisher.
    assert!(
        nodes[0]
            .mesh
            .publish(Topic::Entries, vec![b'z'; LIMIT + 1])
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_over_the_limit_is_refused_and_counted_and_the_sender_is_not_cut_off() {
    const LIMIT: usize = 16 * 1024;
    // The sender allows more than the receiver (another version, another implementation).
    let mut nodes = start_with(1, Transport::Memory, unique_memory_addr, |c| {
        c.gossip_message_bytes_max = 2 * LIMIT;
    })
    .await;
    nodes.extend(
        start_with(1, Transport::Memory, unique_memory_addr, |c| {
            c.gossip_message_bytes_max = LIMIT;
        })
        .await,
    );
    line(&mut nodes).await;
    nodes[0]
        .mesh
        .publish(Topic::Entries, vec![b'o'; LIMIT + 1])
        .await
        .unwrap();
    let rejected = nodes[1]
        .until("the oversize message refused", |e| {
            matches!(e, MeshEvent::Rejected { .. })
        })
        .await;
    assert!(
        matches!(&rejected, MeshEvent::Rejected { reason, .. } if reason.contains("over the limit")),
        "{rejected:?}"
    );
    // The sender is still heard.
    nodes[0].mesh.publish(Topic::Entries, b"after".to_vec()).await.unwrap();
    nodes[1].until("a later message", delivered(b"after")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_reported_for_invalid_sync_responses_is_banned_at_the_limit() {
    let mut nodes = start_with(2, Transport::Memory, unique_memory_addr, |c| c.invalid_messages_max = 3).await;
    line(&mut nodes).await;
    let peer = nodes[0].mesh.peer_id();
    let client = nodes[1].mesh.client();
    for i in 0..3 {
        client
            .report(peer, format!("served entry {i} that every node refuses"))
            .await
            .unwrap();
    }
    let banned = nodes[1]
        .until("the ban", |e| matches!(e, MeshEvent::Banned { .. }))
        .await;
    assert!(
        matches!(&banned, MeshEvent::Banned { peer: p, reason } if *p == peer && reason.contains("entry 2")),
        "{banned:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_over_its_message_rate_has_the_excess_dropped_unjudged_and_reported_sparsely() {
    // Bursts of 5 and no refill: exactly five of fifteen pass.
    let mut nodes = start_with(2, Transport::Memory, unique_memory_addr, |c| {
        c.peer_messages = ippoc_mesh::Rate::new(0, 5);
    })
    .await;
    line(&mut nodes).await;
    let sender = nodes[0].mesh.peer_id();
    for i in 0..15 {
        nodes[0]
            .mesh
            .publish(Topic::Entries, format!("message {i}").into_bytes())
            .await
            .unwrap();
    }
    let tenth = nodes[1]
        .until("the tenth refusal reported", |e| {
            matches!(e, MeshEvent::Throttled { refused: 10, .. })
        })
        .await;
    assert!(matches!(tenth, MeshEvent::Throttled { peer, what: "gossip", .. } if peer == sender));
    let delivered = nodes[1]
        .seen
        .iter()
        .filter(|e| matches!(e, MeshEvent::Delivered { .. }))
        .count();
    assert_eq!(delivered, 5);
    let reports: Vec<u64> = nodes[1]
        .seen
        .iter()
        .filter_map(|e| match e {
            MeshEvent::Throttled { refused, .. } => Some(*refused),
            _ => None,
        })
        .collect();
    assert_eq!(reports, vec![1, 10], "one event per power of ten");
    // Ten refused is two bursts of five: its connection is closed.
    assert!(matches!(tenth, MeshEvent::Throttled { disconnect: true, .. }));
    nodes[1]
        .until("the flooder disconnected", |e| *e == MeshEvent::Disconnected(sender))
        .await;
    // Nobody was blamed: no rejection, no ban.
    assert!(
        !nodes[1]
            .seen
            .iter()
            .any(|e| matches!(e, MeshEvent::Rejected { .. } | MeshEvent::Banned { .. }))
    );
    for node in nodes {
        node.mesh.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_bound_on_bans_the_oldest_is_lifted() {
    let mut nodes = start_with(1, Transport::Memory, unique_memory_addr, |c| c.bans_max = 2).await;
    let old_key = Keypair::generate_ed25519();
    let old = old_key.public().to_peer_id();
    let client = nodes[0].mesh.client();
    for peer in [old, PeerId::random(), PeerId::random()] {
        client.ban(peer, "a test ban".into()).await.unwrap();
    }
    for _ in 0..3 {
        nodes[0].until("a ban", |e| matches!(e, MeshEvent::Banned { .. })).await;
    }
    // The first ban was lifted to keep two: that peer gets in again.
    let mut config = MeshConfig::new([7; 32], Transport::Memory);
    config.listen = vec![unique_memory_addr()];
    let returning = Mesh::start(old_key, config, validator(), Arc::new(ippoc_mesh::NoSync)).unwrap();
    returning.dial(nodes[0].addr.clone()).await.unwrap();
    nodes[0]
        .until("the lifted peer connects", |e| *e == MeshEvent::Connected(old))
        .await;
    returning.stop().await;
    for node in nodes {
        node.mesh.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_are_served_while_nobody_reads_the_events_and_no_event_is_lost() {
    // A queue of one event: the node's reader (its pump) is "busy". The
    // pump awaits the mesh (a publish) while events wait; a mesh task that
    // blocked on the full queue waited on the pump, and the pump on it, for
    // ever (100 simulated nodes under spam froze so).
    let mut nodes = start_with(2, Transport::Memory, unique_memory_addr, |c| c.events_queue_max = 1).await;
    line(&mut nodes).await;
    let sent: Vec<Vec<u8>> = (0..50u32).map(|i| format!("message {i}").into_bytes()).collect();
    for m in &sent {
        tokio::time::timeout(WAIT, nodes[0].mesh.publish(Topic::Entries, m.clone()))
            .await
            .expect("a publish answered while the sender's own events wait too")
            .unwrap();
    }
    let mut got = Vec::new();
    for i in 0..10u32 {
        // One event taken out, one command in while the rest wait.
        let e = tokio::time::timeout(WAIT, nodes[1].mesh.events.recv())
            .await
            .expect("an event")
            .expect("mesh running");
        if let MeshEvent::Delivered { data, .. } = e {
            got.push(data);
        }
        tokio::time::timeout(
            WAIT,
            nodes[1].mesh.publish(Topic::Entries, format!("reply {i}").into_bytes()),
        )
        .await
        .expect("the publish was answered while events waited")
        .unwrap();
    }
    while got.len() < sent.len() {
        let e = tokio::time::timeout(WAIT, nodes[1].mesh.events.recv())
            .await
            .unwrap_or_else(|_| panic!("only {} of {} delivered", got.len(), sent.len()))
            .expect("mesh running");
        if let MeshEvent::Delivered { data, .. } = e {
            got.push(data);
        }
    }
    got.sort();
    let mut want = sent.clone();
    want.sort();
    assert_eq!(got, want, "every message delivered once");
}
