//! Mesh benchmarks (issue 5): delivery latency and throughput on a 10-node
//! in-process mesh, and anti-entropy catch-up of 100 000 entries. Each number
//! comes with a baseline measured in the same run on the same machine:
//! the bare mesh (no ledger) for delivery, a direct ledger ingest (no
//! network) for catch-up, and the nodes without their Prometheus metrics
//! for the cost of metrics (issue 23: recorded on every event and scraped
//! every second, 15 times Prometheus's default rate). Run: `cargo bench -p
//! ippoc-swarm --bench mesh`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use ippoc_economy::genesis::Genesis;
use ippoc_economy::store::{Draft, Intent, Ledger};
use ippoc_economy::{Amount, Currency, NodeId, SignedEntry, TxId};
use ippoc_mesh::{Keypair, Mesh, MeshConfig, MeshEvent, PeerId, Topic, Transport, Verdict};
use ippoc_swarm::local::{LocalConfig, LocalNode, memory_addr};

const NODES: usize = 10;

/// How much one run does: the benchmark's sizes under `cargo bench`, small
/// ones when `cargo test` runs it as a smoke test (so a broken benchmark
/// fails CI instead of waiting for the next person who measures).
#[derive(Clone, Copy)]
struct Size {
    messages: usize,
    catch_up: u64,
}

const BENCH: Size = Size {
    messages: 400,
    catch_up: 100_000,
};
const SMOKE: Size = Size {
    messages: 40,
    catch_up: 2_000,
};
const IPPC: u64 = 1_000_000;

fn key(i: usize) -> SigningKey {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&(i as u64 + 1).to_be_bytes());
    SigningKey::from_bytes(&seed)
}

fn id(k: &SigningKey) -> NodeId {
    NodeId::from_bytes(k.verifying_key().to_bytes())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn report(name: &str, mut lat: Vec<Duration>, wall: Duration) -> (Duration, Duration, f64) {
    lat.sort();
    let (p50, p99) = (percentile(&lat, 0.5), percentile(&lat, 0.99));
    let rate = lat.len() as f64 / wall.as_secs_f64();
    println!(
        "{name:<28} deliveries {:>6}  p50 {:>9.3?}  p99 {:>9.3?}  {:>8.0} deliveries/s",
        lat.len(),
        p50,
        p99,
        rate
    );
    (p50, p99, rate)
}

/// Baseline: the bare mesh with an accept-all validator, same topology and payloads.
async fn bare_mesh(payloads: &[Vec<u8>]) -> (Vec<Duration>, Duration) {
    let accept = || Arc::new(|_: Topic, _: &[u8], _: &PeerId| Verdict::Accept) as Arc<dyn ippoc_mesh::Validator>;
    let mut meshes = Vec::new();
    let mut addrs = Vec::new();
    for i in 0..NODES {
        let mut c = MeshConfig::new([3; 32], Transport::Memory);
        c.listen = vec![memory_addr()];
        c.bootstrap = addrs.first().cloned().into_iter().collect();
        c.heartbeat_ms = 100;
        addrs.push(c.listen[0].clone());
        let mut m = Mesh::start(Keypair::generate_ed25519(), c, accept(), Arc::new(ippoc_mesh::NoSync)).unwrap();
        while !matches!(m.events.recv().await, Some(MeshEvent::Listening(_))) {}
        meshes.push((i, m));
    }
    // Everyone subscribed to everyone it is connected to, and gossip formed a mesh.
    let sent_at: Arc<std::sync::Mutex<HashMap<Vec<u8>, Instant>>> = Default::default();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut clients = Vec::new();
    let ready = Arc::new(AtomicU64::new(0));
    for (i, mut m) in meshes {
        clients.push(m.client());
        let (tx, sent_at, ready) = (tx.clone(), sent_at.clone(), ready.clone());
        tokio::spawn(async move {
            let mut subs = 0;
            while let Some(e) = m.events.recv().await {
                match e {
                    MeshEvent::Subscribed {
                        topic: Topic::Entries, ..
                    } => {
                        subs += 1;
                        if subs == 1 {
                            ready.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    MeshEvent::Delivered { data, .. } => {
                        let t0 = sent_at.lock().unwrap().get(&data).copied();
                        if let Some(t0) = t0 {
                            let _ = tx.send((i, data, t0.elapsed()));
                        }
                    }
                    _ => {}
                }
            }
            drop(m);
        });
    }
    while ready.load(Ordering::SeqCst) < NODES as u64 {
        tokio::task::yield_now().await;
    }
    // Gossipsub grafts its mesh on heartbeats: measure once a warm-up message reaches everyone.
    let warm = b"warm-up".to_vec();
    sent_at.lock().unwrap().insert(warm.clone(), Instant::now());
    clients[0].publish(Topic::Entries, warm.clone()).await.unwrap();
    let mut warmed = 0;
    while warmed < NODES - 1 {
        let (_, data, _) = rx.recv().await.unwrap();
        warmed += usize::from(data == warm);
    }
    let start = Instant::now();
    let mut lat = Vec::new();
    for (n, p) in payloads.iter().enumerate() {
        sent_at.lock().unwrap().insert(p.clone(), Instant::now());
        clients[n % NODES].publish(Topic::Entries, p.clone()).await.unwrap();
    }
    let want = payloads.len() * (NODES - 1);
    while lat.len() < want {
        match tokio::time::timeout(Duration::from_secs(30), rx.recv()).await {
            Ok(Some((_, _, d))) => lat.push(d),
            _ => break,
        }
    }
    (lat, start.elapsed())
}

/// The node: ledger validation and ingest on every hop.
async fn node_mesh(
    dir: &std::path::Path,
    size: Size,
    metrics: bool,
    durable: bool,
) -> (Vec<Duration>, Duration, Vec<Vec<u8>>) {
    let keys: Vec<SigningKey> = (0..NODES).map(key).collect();
    let founders: Vec<NodeId> = keys.iter().map(id).collect();
    let genesis = Genesis::new(
        "bench",
        1,
        &founders,
        Amount::from_base(100_000 * IPPC),
        Amount::from_base(IPPC),
    );
    let mut nodes: Vec<LocalNode> = Vec::new();
    for (i, k) in keys.into_iter().enumerate() {
        let boot = nodes.first().map(|n| vec![n.addr.clone()]).unwrap_or_default();
        let mut c = LocalConfig::new(&dir.join(i.to_string()), genesis.clone(), k, boot);
        c.cadence.attest_interval = Duration::from_millis(300);
        c.metrics = metrics;
        c.durable = durable;
        nodes.push(LocalNode::start(c).await.unwrap());
    }
    for n in &nodes {
        n.view.wait_until(|v| v.heard.len() == NODES - 1).await;
    }
    // Unloaded: one entry at a time, each waited for on every node.
    let mut idle = Vec::new();
    for m in 0..20 {
        let from = &nodes[m % NODES];
        let tx = from
            .transfer(nodes[(m + 1) % NODES].id, Amount::from_base(IPPC))
            .unwrap();
        let t0 = Instant::now();
        for n in nodes.iter().filter(|n| n.id != from.id) {
            let ledger = n.ledger.clone();
            n.view
                .wait_until(|_| matches!(ledger.entry_by_tx(&tx), Ok(Some(_))))
                .await;
        }
        idle.push(t0.elapsed());
    }
    idle.sort();
    println!(
        "unloaded: one entry to all {} other nodes, p50 {:.3?}  max {:.3?} (20 entries, one at a time)",
        NODES - 1,
        percentile(&idle, 0.5),
        idle[idle.len() - 1]
    );
    let start = Instant::now();
    let mut sent: Vec<(TxId, Instant)> = Vec::new();
    let mut payloads = Vec::new();
    for m in 0..size.messages {
        let from = &nodes[m % NODES];
        let to = nodes[(m + 1) % NODES].id;
        let tx = from.transfer(to, Amount::from_base(IPPC)).unwrap();
        sent.push((tx, Instant::now()));
        payloads.push(from.ledger.entry_by_tx(&tx).unwrap().unwrap().0.to_bytes());
    }
    // Each node is watched by its own task: on every change, note the entries it now holds.
    let mut watchers = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        let (ledger, view, sent) = (n.ledger.clone(), n.view.clone(), sent.clone());
        let origin = |m: usize| m % NODES;
        watchers.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut open: Vec<usize> = (0..sent.len()).filter(|m| origin(*m) != i).collect();
            let mut changes = view.subscribe();
            let deadline = Instant::now() + Duration::from_secs(60);
            while !open.is_empty() && Instant::now() < deadline {
                open.retain(|m| {
                    let held = matches!(ledger.entry_by_tx(&sent[*m].0), Ok(Some(_)));
                    if held {
                        lat.push(sent[*m].1.elapsed());
                    }
                    !held
                });
                let _ = tokio::time::timeout(Duration::from_millis(200), changes.changed()).await;
            }
            lat
        }));
    }
    // With metrics, every node is scraped each second while deliveries run.
    let all = futures::future::join_all(watchers);
    tokio::pin!(all);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut scraped = 0usize;
    let done = loop {
        tokio::select! {
            done = &mut all => break done,
            _ = tick.tick(), if metrics => {
                scraped += nodes.iter().filter_map(|n| n.metrics()).map(|t| t.len()).sum::<usize>();
            }
        }
    };
    let mut lat = Vec::new();
    for w in done {
        lat.extend(w.unwrap());
    }
    let wall = start.elapsed();
    if metrics {
        assert!(scraped > 0, "the nodes were scraped");
    }
    for n in nodes {
        n.stop().await;
    }
    (lat, wall, payloads)
}

/// CPU time this process has used (user + system), from /proc/self/stat
/// (in USER_HZ = 100 ticks a second on Linux).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name (which may hold spaces), from field 3.
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or_default().split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// The cost of metrics: the node mesh with them off and on, in alternating
/// order, five runs each; the medians' ratio of deliveries per second and
/// of CPU time per delivery. Ledgers are not flushed here: with a flush
/// per entry the run measures the disk (on these machines its noise alone
/// moved throughput by ±40% between identical runs), not the work metrics add.
async fn metrics_cost(dir: &std::path::Path, size: Size) {
    let (mut rate, mut cpu) = ([Vec::new(), Vec::new()], [Vec::new(), Vec::new()]);
    let rounds = if size.catch_up == SMOKE.catch_up { 1 } else { 5 };
    for r in 0..rounds {
        let order = if r % 2 == 0 { [false, true] } else { [true, false] };
        for metrics in order {
            let used = cpu_time();
            let (lat, wall, _) = node_mesh(&dir.join(format!("metrics-{r}-{metrics}")), size, metrics, false).await;
            let used = cpu_time().saturating_sub(used);
            let name = if metrics {
                "metrics on"
            } else {
                "metrics off (baseline)"
            };
            let deliveries = lat.len();
            let (_, _, per_s) = report(name, lat, wall);
            rate[usize::from(metrics)].push(per_s);
            cpu[usize::from(metrics)].push(used.as_secs_f64() * 1e6 / deliveries.max(1) as f64);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (off, on) = (median(&mut rate[0]), median(&mut rate[1]));
    let (cpu_off, cpu_on) = (median(&mut cpu[0]), median(&mut cpu[1]));
    println!(
        "metrics on/off: {on:.0} / {off:.0} deliveries/s (medians of {rounds}) = {:.3}, cost {:+.1}%; \
         CPU per delivery (whole run, setup included) {cpu_on:.0} / {cpu_off:.0} µs = {:.3}",
        on / off,
        (1.0 - on / off) * 100.0,
        cpu_on / cpu_off
    );
}

/// Catch-up: an empty node syncs 100 000 entries from a peer.
async fn catch_up(dir: &std::path::Path, size: Size) {
    let catch_up_entries = size.catch_up;
    let (ka, kb) = (key(100), key(101));
    let genesis = Genesis::new(
        "catch-up",
        1,
        &[id(&ka), id(&kb)],
        Amount::from_base(1_000_000 * IPPC),
        Amount::from_base(IPPC),
    );
    // The history exists before the source's mesh starts, so gossip carries none of it: all by sync.
    {
        // Where the node started on `dir/a` below keeps its ledger.
        let source = Ledger::open(
            &ippoc_swarm::layout::NodePaths::new(dir.join("a")).ledger(),
            genesis.clone(),
            id(&ka),
            Default::default(),
        )
        .unwrap();
        let t = Instant::now();
        let mut done = 0;
        while done < catch_up_entries {
            let n = (catch_up_entries - done).min(1024);
            let drafts = (0..n)
                .map(|_| {
                    Draft::new(
                        Intent::Transfer {
                            to: id(&kb),
                            currency: Currency::Ippc,
                            amount: Amount::from_base(1),
                        },
                        1,
                    )
                })
                .collect();
            source.append_batch(&ka, drafts).unwrap();
            done += n;
        }
        println!(
            "catch-up: {catch_up_entries} entries written on the source in {:.2?}",
            t.elapsed()
        );
    }
    let a = LocalNode::start(LocalConfig::new(&dir.join("a"), genesis.clone(), ka.clone(), vec![]))
        .await
        .unwrap();
    let entries: Vec<SignedEntry> = a
        .ledger
        .range(&id(&ka), 0, catch_up_entries)
        .map(|r| r.unwrap().0)
        .collect();
    let missing_bytes: u64 = entries.iter().map(|e| e.to_bytes().len() as u64).sum();

    // Baseline: the same entries ingested straight into an empty ledger, no network.
    let base_dir = dir.join("baseline");
    let base = Ledger::open(&base_dir, genesis.clone(), id(&kb), Default::default()).unwrap();
    let t = Instant::now();
    for chunk in entries.chunks(256) {
        base.ingest(chunk.to_vec()).unwrap();
    }
    let base_time = t.elapsed();
    drop(base);

    let mut cb = LocalConfig::new(&dir.join("b"), genesis, kb, vec![a.addr.clone()]);
    cb.cadence.sync_interval = Duration::from_secs(3600);
    // This measures sync, not the per-actor rate (100 entries a second by
    // default), which would otherwise set the pace of one chain's catch-up.
    cb.cadence.limits.entries = ippoc_mesh::Rate::new(1_000_000, 1_000_000);
    let t = Instant::now();
    let b = LocalNode::start(cb).await.unwrap();
    let owner = id(&ka);
    let ledger = b.ledger.clone();
    b.view
        .wait_until(|_| matches!(ledger.head(&owner), Ok(Some((s, _))) if s + 1 == catch_up_entries))
        .await;
    let sync_time = t.elapsed();
    // The round's byte counts land in the view when it finishes.
    b.view.wait_until(|v| v.stats.sync_rounds >= 1).await;
    let stats = b.view.get().stats;
    // The caught-up chain, not the state roots: either node may append a
    // checkpoint vote of its own when an epoch ends during the run (one CI
    // run of the suite met that and failed here).
    assert_eq!(a.ledger.head(&owner).unwrap(), b.ledger.head(&owner).unwrap());
    let rate = catch_up_entries as f64 / sync_time.as_secs_f64();
    let base_rate = catch_up_entries as f64 / base_time.as_secs_f64();
    println!(
        "catch-up by sync: {catch_up_entries} entries in {sync_time:.2?} = {rate:.0} entries/s; baseline direct ingest {base_time:.2?} = {base_rate:.0} entries/s; sync/baseline = {:.2}",
        rate / base_rate
    );
    println!(
        "catch-up bytes: moved {} / missing {} (own count {}) = {:.3}; {} sync rounds",
        stats.sync_bytes,
        stats.sync_missing_bytes,
        missing_bytes,
        stats.sync_bytes as f64 / missing_bytes as f64,
        stats.sync_rounds
    );
    a.stop().await;
    b.stop().await;
}

fn main() {
    // `cargo bench` passes --bench and measures; `cargo test` runs a small smoke version.
    let size = if std::env::args().any(|a| a == "--bench") {
        BENCH
    } else {
        SMOKE
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let run = async {
        println!(
            "{NODES}-node in-process mesh, {} entries published round-robin in a burst",
            size.messages
        );
        let (lat, wall, payloads) = node_mesh(&dir.path().join("plain"), size, false, true).await;
        let (np50, np99, nrate) = report("ippoc nodes (ledger)", lat, wall);
        let (blat, bwall) = bare_mesh(&payloads).await;
        let (bp50, bp99, brate) = report("bare mesh (baseline)", blat, bwall);
        println!(
            "ratio node/bare: p50 {:.2}x  p99 {:.2}x  throughput {:.2}x",
            np50.as_secs_f64() / bp50.as_secs_f64(),
            np99.as_secs_f64() / bp99.as_secs_f64(),
            nrate / brate
        );
        metrics_cost(dir.path(), size).await;
        catch_up(dir.path(), size).await;
    };
    rt.block_on(async {
        if size.catch_up == SMOKE.catch_up {
            // A smoke run that hangs is a failure, not a CI timeout.
            tokio::time::timeout(Duration::from_secs(300), run)
                .await
                .expect("the smoke run of the mesh benchmark did not finish in 300 s");
        } else {
            run.await;
        }
    });
}
