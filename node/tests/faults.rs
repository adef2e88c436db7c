//! Bytes changed inside the store, found and mended, with the real `ippoc`
//! binary. sled checks its own pages, so these tests change records the way
//! a fault sled does not notice would (a flip in a value written back whole):
//! through sled's API, while no node runs. Each case asserts the documented
//! outcome, that no acknowledged entry is lost, and that no position is
//! signed twice. docs/faults.md lists every fault the suite covers and where.

mod common;

use common::{Env, code, founders, json, stderr, stdout};

/// Pays `to` one IPPC `n` times directly (no daemon); returns the tx_ids.
fn pay(env: &Env, to: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            let out = env.run(&["--json", "transfer", to, "1"]);
            assert_eq!(code(&out), 0, "{}", stderr(&out));
            json(&out)["tx_id"].as_str().unwrap().to_string()
        })
        .collect()
}

/// Applies `change` to the stored value under `key` in `env`'s ledger.
fn change_record(env: &Env, key: &[u8], change: impl FnOnce(&mut Vec<u8>)) {
    let db = sled::open(env.node_dir().join("economy/ledger")).unwrap();
    let tree = db.open_tree("ledger").unwrap();
    let mut v = tree.get(key).unwrap().expect("the record exists").to_vec();
    change(&mut v);
    tree.insert(key, v).unwrap();
    db.flush().unwrap();
}

/// The key of `actor`'s entry record at `seq`.
fn entry_key(actor: &str, seq: u64) -> Vec<u8> {
    let mut k = vec![b'E'];
    k.extend(hex::decode(actor).unwrap());
    k.extend(seq.to_be_bytes());
    k
}

/// The own chain's counted tx_ids, in seq order.
fn own_chain(env: &Env, id: &str) -> Vec<String> {
    let shown = json(&env.run(&["--json", "ledger", "show", "--actor", id]));
    shown
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["tx_id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_changed_signature_is_named_by_verify_put_back_from_an_export_and_signing_goes_on() {
    let mut f = founders(2);
    let (_, id_b) = f.pop().unwrap();
    let (a, id_a) = f.pop().unwrap();
    let acked = pay(&a, &id_b, 3);
    let export = a.dir.path().join("backup.export");
    assert_eq!(
        code(&a.run(&["ledger", "export", "--out", export.to_str().unwrap()])),
        0
    );
    let root = json(&a.run(&["--json", "wallet"]))["state_root"].clone();

    // The record's last byte is the signature's: reads, which check the
    // body's hash, do not notice; the scrub in `ledger verify` does.
    change_record(&a, &entry_key(&id_a, 1), |v| *v.last_mut().unwrap() ^= 1);
    let found = a.run(&["ledger", "verify"]);
    assert_eq!(code(&found), 16, "{}", stderr(&found));
    assert!(stderr(&found).contains("seq 1"), "names the entry: {}", stderr(&found));
    assert!(stderr(&found).contains("ledger repair"), "{}", stderr(&found));
    // The daemon boots (its head is intact) and its boot-time scrub says so.
    let daemon = a.start_daemon();
    let line = daemon.wait_for_line("the scrub's report", |l| l.contains("ledger_damaged"));
    assert!(line.contains("ledger repair"), "{line}");
    daemon.stop();

    let repaired = a.run(&["--json", "ledger", "repair", "--from", export.to_str().unwrap()]);
    assert_eq!(code(&repaired), 0, "{}", stderr(&repaired));
    let view = json(&repaired);
    assert_eq!(
        (view["replaced"].as_u64(), view["dropped"].as_u64()),
        (Some(1), Some(0))
    );
    let verified = a.run(&["ledger", "verify"]);
    assert_eq!(code(&verified), 0, "{}", stderr(&verified));
    assert_eq!(json(&a.run(&["--json", "wallet"]))["state_root"], root, "nothing lost");
    assert_eq!(own_chain(&a, &id_a), acked);

    // Signing goes on after the old head: seq 3, nothing signed twice.
    let next = json(&a.run(&["--json", "transfer", &id_b, "1"]));
    assert_eq!(next["entry"]["body"]["seq"], 3);
}

#[test]
fn a_dropped_own_entry_comes_back_before_the_node_signs_again() {
    let mut f = founders(2);
    let (_, id_b) = f.pop().unwrap();
    let (a, id_a) = f.pop().unwrap();
    let mut acked = pay(&a, &id_b, 3);
    let export = a.dir.path().join("backup.export");
    assert_eq!(
        code(&a.run(&["ledger", "export", "--out", export.to_str().unwrap()])),
        0
    );

    // The head damaged: every command that boots the node checks its head
    // and says what to do.
    change_record(&a, &entry_key(&id_a, 2), |v| *v.last_mut().unwrap() ^= 1);
    let wallet = a.run(&["wallet"]);
    assert_eq!(code(&wallet), 16, "{}", stderr(&wallet));
    assert!(stderr(&wallet).contains("ledger repair"), "{}", stderr(&wallet));
    // Repaired without a copy, it is dropped; the signing guard still holds
    // the last append's signed entries and the next boot stores that very
    // entry again (the same signature, not a new one): signing goes on at 3.
    let repaired = json(&a.run(&["--json", "ledger", "repair"]));
    assert_eq!(repaired["dropped"], 1, "{repaired}");
    let next = a.run(&["--json", "transfer", &id_b, "1"]);
    assert_eq!(code(&next), 0, "{}", stderr(&next));
    assert!(stderr(&next).contains("signing_guard_restored"), "{}", stderr(&next));
    assert_eq!(json(&next)["entry"]["body"]["seq"], 3);
    acked.push(json(&next)["tx_id"].as_str().unwrap().to_string());
    assert_eq!(own_chain(&a, &id_a), acked);

    // A middle entry dropped (the guard holds only the last append): its
    // successors wait for it, and the guard, which knows seq 3 was signed,
    // refuses every signature (exit 17) rather than sign at seq 2 again.
    change_record(&a, &entry_key(&id_a, 1), |v| *v.last_mut().unwrap() ^= 1);
    let repaired = json(&a.run(&["--json", "ledger", "repair"]));
    assert_eq!(repaired["dropped"], 1, "{repaired}");
    let refused = a.run(&["transfer", &id_b, "1"]);
    assert_eq!(code(&refused), 17, "{}", stderr(&refused));
    assert!(stderr(&refused).contains("seq 3"), "{}", stderr(&refused));

    // The entry comes back (from an export here; from peers by sync when
    // the daemon runs): the node signs on at seq 4, nothing lost.
    let imported = json(&a.run(&["--json", "ledger", "import", "--file", export.to_str().unwrap()]));
    assert_eq!(imported["applied"], 1, "{imported}");
    assert_eq!(own_chain(&a, &id_a), acked);
    let next = a.run(&["--json", "transfer", &id_b, "1"]);
    assert_eq!(code(&next), 0, "{}", stderr(&next));
    assert_eq!(json(&next)["entry"]["body"]["seq"], 4);
}

#[test]
fn a_changed_balance_is_found_by_verify_and_rebuilt_from_the_entries_by_repair() {
    let mut f = founders(2);
    let (_, id_b) = f.pop().unwrap();
    let (a, id_a) = f.pop().unwrap();
    pay(&a, &id_b, 2);
    let before = json(&a.run(&["--json", "wallet"]));
    // The balance record of A's IPPC wallet: 'B', currency 0, Wallet (variant 0), NodeID.
    let mut key = vec![b'B', 0, 0, 0, 0, 0];
    key.extend(hex::decode(&id_a).unwrap());
    change_record(&a, &key, |v| {
        let last = v.len() - 1;
        v[last] ^= 0x40;
    });
    assert_ne!(json(&a.run(&["--json", "wallet"]))["state_root"], before["state_root"]);
    let found = a.run(&["ledger", "verify"]);
    assert_eq!(code(&found), 16, "{}", stderr(&found));
    assert!(stderr(&found).contains("derived state"), "{}", stderr(&found));

    let repaired = a.run(&["ledger", "repair"]);
    assert_eq!(code(&repaired), 0, "{}", stderr(&repaired));
    assert!(
        stdout(&repaired).contains("0 damaged records dropped"),
        "{}",
        stdout(&repaired)
    );
    assert_eq!(json(&a.run(&["--json", "wallet"])), before);
    assert_eq!(code(&a.run(&["ledger", "verify"])), 0);
}

#[test]
fn a_repair_waits_for_a_running_daemon_to_stop() {
    let a = Env::new();
    assert_eq!(code(&a.run(&["init"])), 0);
    let daemon = a.start_daemon();
    let refused = a.run(&["ledger", "repair"]);
    assert_eq!(code(&refused), 11, "{}", stderr(&refused));
    daemon.stop();
    assert_eq!(code(&a.run(&["ledger", "repair"])), 0);
}
