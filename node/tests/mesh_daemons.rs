//! Real `ippoc daemon` processes on 127.0.0.1 forming a swarm: an entry made
//! on one node reaches the other through the mesh, is validated and ingested,
//! and both ledgers agree.

mod common;

use common::{Env, code, founders, json, mesh_address, stderr, stdout, wallet_ippc};

/// Two founders: their envs and NodeIDs.
fn duo() -> (Env, Env, String, String) {
    let mut f = founders(2);
    let (b, id_b) = f.pop().unwrap();
    let (a, id_a) = f.pop().unwrap();
    (a, b, id_a, id_b)
}

/// Starts `env`'s daemon with `address` as its bootstrap peer.
fn start_bootstrapped(env: &Env, address: &str) -> common::Daemon {
    let config = Env::CONFIG.replace("[mesh]\n", &format!("[mesh]\nbootstrap = [\"{address}\"]\n"));
    std::fs::write(env.config(), config).unwrap();
    env.start_daemon()
}

#[test]
fn a_transfer_made_on_one_daemon_is_gossiped_validated_and_ingested_by_the_other() {
    let (a, b, _, id_b) = duo();
    let da = a.start_daemon();
    let db = start_bootstrapped(&b, &mesh_address(&da));
    db.wait_for_line("B connected to A", |l| l.contains("peer connected"));

    let paid = json(&a.run(&["--json", "transfer", &id_b, "12"]));
    let tx = paid["tx_id"].as_str().unwrap().to_string();
    let ingested = db.wait_for_line("B ingesting A's transfer", |l| {
        l.contains("entry_ingested") && l.contains(&tx)
    });
    assert!(ingested.contains("Applied"), "{ingested}");

    let (ippc_b, root_b) = wallet_ippc(&b);
    assert_eq!(ippc_b, "512.000000", "B holds what A paid it");
    let peers_a = json(&a.run(&["--json", "peers"]));
    assert_eq!(peers_a["peers"].as_array().unwrap().len(), 1, "{peers_a}");
    assert!(
        peers_a["listening"][0].as_str().unwrap().starts_with("/ip4/127.0.0.1/"),
        "{peers_a}"
    );
    let status_b = b.run(&["status"]);
    assert!(
        common::stdout(&status_b).contains("1 connected, 0 banned"),
        "{}",
        common::stdout(&status_b)
    );
    assert_eq!(
        root_b,
        wallet_ippc(&a).1,
        "both ledgers hold the same entries and balances"
    );
    da.stop();
    db.stop();
}

#[test]
fn a_peer_gossiping_a_forged_entry_is_banned_and_stays_banned_after_a_restart() {
    use std::sync::Arc;

    use ippoc_mesh::{Keypair, Mesh, MeshConfig, MeshEvent, PeerId, Topic, Transport, Verdict};

    let a = Env::new();
    assert_eq!(code(&a.run(&["init"])), 0);
    let swarm_hex = json(&a.run(&["--json", "wallet"]))["swarm_id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut swarm_id = [0u8; 32];
    hex::decode_to_slice(&swarm_hex, &mut swarm_id).unwrap();
    let da = a.start_daemon();
    let line = da.wait_for_line("A's mesh address", |l| {
        l.contains("mesh listening") && l.contains("/ip4/127.0.0.1/")
    });
    let address = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("address="))
        .unwrap()
        .to_string();

    // A hand-made peer that gossips bytes that are not a signed entry.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let forger: PeerId = runtime.block_on(async {
        let mut config = MeshConfig::new(swarm_id, Transport::Tcp);
        config.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
        config.bootstrap = vec![address.parse().unwrap()];
        let accept_all = Arc::new(|_: Topic, _: &[u8], _: &PeerId| Verdict::Accept);
        let mut mesh = Mesh::start(
            Keypair::generate_ed25519(),
            config,
            accept_all,
            Arc::new(ippoc_mesh::NoSync),
        )
        .unwrap();
        loop {
            match mesh.events.recv().await.expect("mesh running") {
                MeshEvent::Subscribed {
                    topic: Topic::Entries, ..
                } => break,
                _ => continue,
            }
        }
        mesh.publish(Topic::Entries, b"not a signed entry".to_vec())
            .await
            .unwrap();
        let me = mesh.peer_id();
        // Keep the mesh running until the daemon has reacted.
        std::mem::forget(mesh);
        me
    });
    let banned = da.wait_for_line("the ban", |l| {
        l.contains("peer_banned") && l.contains(&forger.to_string())
    });
    assert!(banned.contains("undecodable entry"), "{banned}");
    let bans = std::fs::read_to_string(a.node_dir().join("data/bans.json")).unwrap();
    assert!(bans.contains(&forger.to_string()), "the ban is persisted: {bans}");
    let peers = json(&a.run(&["--json", "peers"]));
    assert_eq!(peers["banned"][0]["peer"], forger.to_string(), "{peers}");
    da.stop();

    let again = a.start_daemon();
    again.wait_for_line("bans reloaded", |l| l.contains("bans_loaded") && l.contains("bans=1"));
    again.stop();
    drop(runtime);
}

#[test]
fn a_node_that_was_offline_catches_up_by_sync_when_it_connects() {
    let (a, b, _, id_b) = duo();
    // Recorded while no daemon runs: nothing of this is ever gossiped.
    for amount in ["1", "2", "3", "4", "5"] {
        let paid = a.run(&["transfer", &id_b, amount]);
        assert_eq!(code(&paid), 0, "{}", stderr(&paid));
    }
    let da = a.start_daemon();
    let db = start_bootstrapped(&b, &mesh_address(&da));
    let done = db.wait_for_line("B's sync with A", |l| {
        l.contains("sync_done") && !l.contains("entries=0")
    });
    assert!(done.contains("entries=5"), "B fetched exactly what it lacked: {done}");
    let (ippc_b, root_b) = wallet_ippc(&b);
    assert_eq!(ippc_b, "515.000000");
    assert_eq!(root_b, wallet_ippc(&a).1, "one state after catching up");
    // `ippoc peers` names the round: at the connection, with A, 5 entries.
    let text = stdout(&b.run(&["peers"]));
    assert!(text.lines().any(|l| l.contains("  connect  5 entries  (at ")), "{text}");
    let view = json(&b.run(&["--json", "peers"]));
    let rounds = view["sync_recent"].as_array().unwrap();
    assert!(
        rounds
            .iter()
            .any(|r| r["why"] == "connect" && r["entries"] == 5 && r["error"].is_null()),
        "{view}"
    );
    da.stop();
    db.stop();
}

#[test]
fn three_daemons_keep_going_while_one_is_killed_and_it_catches_up_after_restart() {
    let mut f = founders(3);
    let (c, _) = f.pop().unwrap();
    let (b, id_b) = f.pop().unwrap();
    let (a, _) = f.pop().unwrap();
    let da = a.start_daemon();
    let hub = mesh_address(&da);
    let db = start_bootstrapped(&b, &hub);
    let dc = start_bootstrapped(&c, &hub);
    db.wait_for_line("B connected", |l| l.contains("peer connected"));
    dc.wait_for_line("C connected", |l| l.contains("peer connected"));

    dc.signal("KILL");
    drop(dc);
    // The others keep going: A's payments reach B while C is down.
    let mut txs = Vec::new();
    for amount in ["7", "8", "9"] {
        let paid = json(&a.run(&["--json", "transfer", &id_b, amount]));
        txs.push(paid["tx_id"].as_str().unwrap().to_string());
    }
    for tx in &txs {
        db.wait_for_line("B ingesting", |l| {
            l.contains("entry_ingested") && l.contains(tx.as_str())
        });
    }

    // C comes back and catches up by sync.
    let dc = start_bootstrapped(&c, &hub);
    let done = dc.wait_for_line("C's sync", |l| l.contains("sync_done") && !l.contains("entries=0"));
    assert!(done.contains("entries=3"), "{done}");
    let roots: Vec<_> = [&a, &b, &c].iter().map(|e| wallet_ippc(e).1).collect();
    assert!(roots.windows(2).all(|w| w[0] == w[1]), "all three agree: {roots:?}");
    assert_eq!(wallet_ippc(&c).0, "500.000000", "C's own balance is untouched");
    assert_eq!(wallet_ippc(&b).0, "524.000000");
    for d in [da, db, dc] {
        d.stop();
    }
}

#[test]
fn a_node_redials_its_bootstrap_peer_after_that_peer_restarts() {
    let (a, b, _, _) = duo();
    // B listens on a fixed loopback port, so it comes back at the same address.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("/ip4/127.0.0.1/tcp/{port}");
    let config = Env::CONFIG.replace("/ip4/127.0.0.1/tcp/0", &listen);
    std::fs::write(b.config(), config).unwrap();
    let db = b.start_daemon();
    let da = start_bootstrapped(&a, &listen);
    da.wait_for_line("A connected to B", |l| l.contains("peer connected"));

    db.signal("KILL");
    drop(db);
    da.wait_for_line("A noticing B gone", |l| l.contains("peer_disconnected"));
    let restarted = std::time::Instant::now();
    let db = b.start_daemon();
    // A dials B again on its own (B does not know A's address): a second
    // connection line. Without the redial it came after minutes, or never.
    da.wait_for_nth_line("A reconnected to B", 2, |l| l.contains("peer_connected"));
    eprintln!("A reconnected {:?} after B's restart began", restarted.elapsed());
    da.stop();
    db.stop();
}
