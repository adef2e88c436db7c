//! Never sign twice, with real daemons on 127.0.0.1: a node that lost its
//! ledger (deleted, replaced by an older copy) or its signing guard does not
//! sign at a position its identity may have used; it fetches its own chain
//! back from a peer first, then signs on after its old head. Its peer sees no
//! fork and bans nobody.

mod common;

use common::{Daemon, Env, code, founders, json, mesh_address, stderr};

/// Starts `env`'s daemon with `address` as its bootstrap peer.
fn start_bootstrapped(env: &Env, address: &str) -> Daemon {
    let config = Env::CONFIG.replace("[mesh]\n", &format!("[mesh]\nbootstrap = [\"{address}\"]\n"));
    std::fs::write(env.config(), config).unwrap();
    env.start_daemon()
}

/// B runs; A (bootstrapping to B) pays B `n` times and B holds every entry.
fn paid(n: usize) -> (Env, Env, Daemon, Daemon, String, String) {
    let mut f = founders(2);
    let (b, id_b) = f.pop().unwrap();
    let (a, _) = f.pop().unwrap();
    let db = b.start_daemon();
    let addr_b = mesh_address(&db);
    let da = start_bootstrapped(&a, &addr_b);
    da.wait_for_line("A connected to B", |l| l.contains("peer connected"));
    for _ in 0..n {
        pay(&a, &id_b, &db);
    }
    (a, b, da, db, addr_b, id_b)
}

/// A pays B one IPPC; waits until B stored it; returns its seq.
fn pay(a: &Env, id_b: &str, db: &Daemon) -> u64 {
    let entry = json(&a.run(&["--json", "transfer", id_b, "1"]));
    let tx = entry["tx_id"].as_str().unwrap().to_string();
    db.wait_for_line("B storing A's entry", |l| {
        l.contains("entry_ingested") && l.contains(&tx) && l.contains("Applied")
    });
    entry["entry"]["body"]["seq"].as_u64().unwrap()
}

/// The daemon's status: signing state and the own chain's head.
fn signing(env: &Env) -> serde_json::Value {
    json(&env.run(&["--json", "status"]))["signing"].clone()
}

/// B saw no fork and banned nobody; both hold the same ledger.
fn no_harm(a: &Env, b: &Env) {
    let status_b = json(&b.run(&["--json", "status"]));
    assert_eq!(status_b["ledger"]["forks"], 0, "{status_b}");
    assert_eq!(status_b["mesh"]["banned"].as_array().unwrap().len(), 0, "{status_b}");
    let root = |e: &Env| json(&e.run(&["--json", "wallet"]))["state_root"].clone();
    assert_eq!(root(a), root(b));
}

#[test]
fn a_node_that_lost_its_ledger_fetches_its_chain_back_before_it_signs_again() {
    let (a, b, da, db, addr_b, id_b) = paid(5);
    da.stop();
    // The disk that held A's ledger is gone; its guard is not.
    std::fs::remove_dir_all(a.node_dir().join("economy/ledger")).unwrap();

    // Without a daemon, the CLI refuses to sign, with its own exit code.
    let refused = a.run(&["transfer", &id_b, "1"]);
    assert_eq!(code(&refused), 17, "{}", stderr(&refused));
    assert!(stderr(&refused).contains("signed up to seq 4"), "{}", stderr(&refused));

    // The daemon starts recovering, syncs A's chain back from B, then signs on.
    let da = start_bootstrapped(&a, &addr_b);
    da.wait_for_line("A's guard ready again", |l| {
        l.contains("signing guard") && l.contains("ready (signed up to seq 4)")
    });
    assert_eq!(signing(&a)["state"], "ready");
    assert_eq!(pay(&a, &id_b, &db), 5, "the next entry follows the old head");
    no_harm(&a, &b);
    da.stop();
    db.stop();
}

#[test]
fn a_ledger_restored_from_an_older_copy_catches_up_before_it_signs() {
    let (a, b, da, db, addr_b, id_b) = paid(2);
    da.stop();
    let ledger = a.node_dir().join("economy/ledger");
    let backup = a.dir.path().join("ledger-backup");
    copy_dir(&ledger, &backup);
    let da = start_bootstrapped(&a, &addr_b);
    for _ in 0..3 {
        pay(&a, &id_b, &db);
    }
    da.stop();
    // The operator restores last week's backup: seq 0..=1 of 0..=4.
    std::fs::remove_dir_all(&ledger).unwrap();
    copy_dir(&backup, &ledger);

    let da = start_bootstrapped(&a, &addr_b);
    da.wait_for_line("A's guard ready again", |l| {
        l.contains("signing guard") && l.contains("ready (signed up to seq 4)")
    });
    assert_eq!(pay(&a, &id_b, &db), 5);
    no_harm(&a, &b);
    da.stop();
    db.stop();
}

#[test]
fn a_node_whose_guard_was_deleted_signs_again_only_after_hearing_a_peer() {
    let (a, b, da, db, addr_b, id_b) = paid(2);
    da.stop();
    std::fs::remove_file(a.node_dir().join("data/signing.guard")).unwrap();

    let refused = a.run(&["transfer", &id_b, "1"]);
    assert_eq!(code(&refused), 17, "{}", stderr(&refused));
    assert!(stderr(&refused).contains("signing guard"), "{}", stderr(&refused));

    let da = start_bootstrapped(&a, &addr_b);
    da.wait_for_line("A's guard learned from B", |l| l.contains("signing_guard_learned"));
    assert_eq!(signing(&a)["state"], "ready");
    assert_eq!(pay(&a, &id_b, &db), 2);
    assert!(a.node_dir().join("data/signing.guard").is_file(), "written again");
    no_harm(&a, &b);
    da.stop();
    db.stop();
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}
