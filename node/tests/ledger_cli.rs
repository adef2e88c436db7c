//! The ledger from the operator's seat: real `ippoc` processes, a two-founder
//! swarm, transfers through the daemon and directly, export, import, verify.

mod common;

use std::fs;

use common::{Env, code, json, stderr, stdout};

fn ippc(view: &serde_json::Value, account_prefix: &str) -> String {
    view["balances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["account"].as_str().unwrap().starts_with(account_prefix) && b["currency"] == "IPPC")
        .map(|b| b["balance"].as_str().unwrap().to_string())
        .unwrap_or_default()
}

#[test]
fn two_founders_join_a_genesis_pay_each_other_and_verify_exports() {
    let (a, b) = (Env::new(), Env::new());
    let id_a = json(&a.run(&["--json", "init"]))["node_id"]
        .as_str()
        .unwrap()
        .to_string();
    let id_b = json(&b.run(&["--json", "init"]))["node_id"]
        .as_str()
        .unwrap()
        .to_string();
    let genesis = a.dir.path().join("genesis.json");
    let made = a.run(&[
        "genesis",
        "new",
        "--name",
        "pair",
        "--founder",
        &id_a,
        "--founder",
        &id_b,
        "--stipend",
        "500",
        "--out",
        genesis.to_str().unwrap(),
    ]);
    assert_eq!(code(&made), 0, "{}", stderr(&made));
    // Both nodes are empty, so they may leave their solo swarms for this one.
    let swarm = json(&a.run(&["--json", "init", "--genesis", genesis.to_str().unwrap()]))["swarm_id"].clone();
    assert_eq!(
        json(&b.run(&["--json", "init", "--genesis", genesis.to_str().unwrap()]))["swarm_id"],
        swarm
    );

    // Through the daemon: the CLI talks to the admin API.
    let daemon = a.start_daemon();
    let paid = a.run(&["--json", "transfer", &id_b, "120.5"]);
    let entry = json(&paid);
    assert_eq!(entry["entry"]["body"]["seq"], 0);
    let wallet = json(&a.run(&["--json", "wallet"]));
    assert_eq!(ippc(&wallet, "wallet:"), "379.379500", "500 − 120.5 − 0.1205 fee");
    let too_much = a.run(&["transfer", &id_b, "10000"]);
    assert_eq!(code(&too_much), 6, "{}", stderr(&too_much));
    assert!(stderr(&too_much).contains("overdraft"), "{}", stderr(&too_much));
    // Bad input is exit 6 with the field named, through the daemon and without it.
    let nothing = a.run(&["transfer", &id_b, "0"]);
    assert_eq!(code(&nothing), 6, "{}", stderr(&nothing));
    assert!(
        stderr(&nothing).contains("amount: must be more than 0"),
        "{}",
        stderr(&nothing)
    );
    let export = a.dir.path().join("a.export");
    let wrote = a.run(&["ledger", "export", "--out", export.to_str().unwrap()]);
    assert_eq!(code(&wrote), 0, "{}", stderr(&wrote));
    daemon.stop();
    let nothing = a.run(&["transfer", &id_b, "0"]);
    assert_eq!(code(&nothing), 6, "directly, too: {}", stderr(&nothing));

    // Offline: the export verifies without any node, and a damaged one names the entry.
    let ok = a.run(&["ledger", "verify", "--file", export.to_str().unwrap()]);
    assert_eq!(code(&ok), 0, "{}", stderr(&ok));
    assert!(stdout(&ok).contains("1 chains, 1 entries"), "{}", stdout(&ok));
    assert!(stdout(&ok).contains("1 applied, 0 bounced"), "{}", stdout(&ok));
    // A byte of the entry's signature: the entry is named, not just the file's commitment.
    let mut bytes = fs::read(&export).unwrap();
    let trailer = 1 + 4 + 72 + 8 + 32 + 32 + 64;
    let in_signature = bytes.len() - trailer - 4 - 3;
    bytes[in_signature] ^= 1;
    let damaged = a.dir.path().join("damaged.export");
    fs::write(&damaged, &bytes).unwrap();
    let bad = a.run(&["ledger", "verify", "--file", damaged.to_str().unwrap()]);
    assert_eq!(code(&bad), 16, "{}", stderr(&bad));
    assert!(stderr(&bad).contains("seq 0"), "names the entry: {}", stderr(&bad));
    // Cut after its last whole entry (the trailer gone): the cut is seen.
    let whole = fs::read(&export).unwrap();
    fs::write(&damaged, &whole[..whole.len() - trailer - 4]).unwrap();
    let cut = a.run(&["ledger", "verify", "--file", damaged.to_str().unwrap()]);
    assert_eq!(code(&cut), 16, "{}", stderr(&cut));
    assert!(stderr(&cut).contains("it was cut"), "{}", stderr(&cut));

    // Directly on B's stopped node: import A's chain, then spend what arrived.
    let imported = json(&b.run(&["--json", "ledger", "import", "--file", export.to_str().unwrap()]));
    assert_eq!(imported["applied"], 1);
    let again = json(&b.run(&["--json", "ledger", "import", "--file", export.to_str().unwrap()]));
    assert_eq!(again["duplicate"], 1, "imports are idempotent");
    let wallet_b = json(&b.run(&["--json", "wallet"]));
    assert_eq!(ippc(&wallet_b, "wallet:"), "620.500000");
    let spend = b.run(&["transfer", &id_a, "600"]);
    assert_eq!(code(&spend), 0, "B can spend what A paid it: {}", stderr(&spend));
    let verified = b.run(&["ledger", "verify"]);
    assert_eq!(code(&verified), 0, "{}", stderr(&verified));
    assert!(
        stdout(&verified).contains("2 chains, 2 entries"),
        "{}",
        stdout(&verified)
    );
    let shown = b.run(&["ledger", "show", "--actor", &id_a]);
    assert!(stdout(&shown).contains("applied"), "{}", stdout(&shown));

    // A node that recorded something never switches swarms.
    let other = a.dir.path().join("other.json");
    a.run(&[
        "genesis",
        "new",
        "--name",
        "x",
        "--founder",
        &id_a,
        "--out",
        other.to_str().unwrap(),
    ]);
    let refused = a.run(&["init", "--genesis", other.to_str().unwrap()]);
    assert_eq!(code(&refused), 16, "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("already recorded entries"),
        "{}",
        stderr(&refused)
    );
}

#[test]
fn a_fresh_node_runs_on_a_solo_swarm_with_its_stipend() {
    let env = Env::new();
    let wallet = json(&{
        env.run(&["init"]);
        env.run(&["--json", "wallet"])
    });
    assert_eq!(ippc(&wallet, "wallet:"), "10000.000000");
    assert_eq!(wallet["mode"], "normal");
    let status_before = env.run(&["status"]);
    assert_eq!(code(&status_before), 4);
}

#[test]
fn genesis_new_rejects_bad_arguments() {
    let env = Env::new();
    let out = env.run(&["genesis", "new", "--name", "x"]);
    assert_eq!(code(&out), 2, "a founder is required");
    let out = env.run(&["genesis", "new", "--name", "x", "--founder", "nothex"]);
    assert_eq!(code(&out), 2);
    let out = env.run(&["transfer", "abc", "1"]);
    assert_eq!(code(&out), 2);
}

#[test]
fn a_node_that_joins_later_writes_once_a_member_has_paid_it() {
    let mut f = common::founders(2);
    let (a, id_a) = f.remove(0);
    let genesis = a.dir.path().join("genesis.json");
    let c = Env::new();
    let id_c = json(&c.run(&["--json", "init", "--genesis", genesis.to_str().unwrap()]))["node_id"]
        .as_str()
        .unwrap()
        .to_string();
    // In the swarm, not a member: its writes are refused, nothing is signed.
    let refused = c.run(&["transfer", &id_a, "1"]);
    assert_eq!(code(&refused), 6, "{}", stderr(&refused));
    assert!(stderr(&refused).contains("not a member"), "{}", stderr(&refused));

    // A member pays it; the payment reaches it (an export here, gossip or
    // sync when the daemons run); its first entry declares it.
    assert_eq!(code(&a.run(&["transfer", &id_c, "10"])), 0);
    let export = a.dir.path().join("a.export");
    assert_eq!(
        code(&a.run(&["ledger", "export", "--out", export.to_str().unwrap()])),
        0
    );
    assert_eq!(
        json(&c.run(&["--json", "ledger", "import", "--file", export.to_str().unwrap()]))["applied"],
        1
    );
    let paid = c.run(&["--json", "transfer", &id_a, "1"]);
    assert_eq!(code(&paid), 0, "{}", stderr(&paid));
    let entry = json(&paid);
    assert_eq!(entry["entry"]["body"]["seq"], 0);
    assert_eq!(entry["entry"]["body"]["deps"][0]["actor"], id_a.as_str());

    // Every founder's node accepts its chain.
    let out = c.dir.path().join("c.export");
    assert_eq!(code(&c.run(&["ledger", "export", "--out", out.to_str().unwrap()])), 0);
    let imported = json(&a.run(&["--json", "ledger", "import", "--file", out.to_str().unwrap()]));
    assert_eq!(imported["applied"], 1, "{imported}");
    assert_eq!(imported["rejected"], 0, "{imported}");
}

#[test]
fn gi_reports_a_founders_score_tier_and_components_and_refuses_what_it_cannot_score() {
    let env = Env::new();
    // One-minute epochs, and a genesis an hour old: about 55 closed cycles.
    std::fs::write(
        env.config(),
        Env::CONFIG.replace("[mesh]\n", "[mesh]\nepoch_ms = 60000\n"),
    )
    .unwrap();
    let id = json(&env.run(&["--json", "init"]))["node_id"]
        .as_str()
        .unwrap()
        .to_string();
    let genesis = env.dir.path().join("genesis.json");
    let g = genesis.to_str().unwrap();
    assert_eq!(
        code(&env.run(&["genesis", "new", "--name", "gi", "--founder", &id, "--out", g])),
        0
    );
    let mut doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&genesis).unwrap()).unwrap();
    let an_hour_ago = doc["created_at_ms"].as_u64().unwrap() - 3_600_000;
    doc["created_at_ms"] = an_hour_ago.into();
    std::fs::write(&genesis, serde_json::to_vec(&doc).unwrap()).unwrap();
    assert_eq!(code(&env.run(&["init", "--genesis", g])), 0);

    // Without a daemon: read from the node's own files. A silent founder:
    // nothing broken, no vote cast, nobody else to vouch.
    let out = env.run(&["--json", "gi"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let r = json(&out);
    assert_eq!(r["node"], id.as_str());
    assert_eq!(r["breakdown"]["compliance"], 1.0);
    assert_eq!(r["breakdown"]["consensus"], 0.0);
    assert_eq!(r["breakdown"]["reliability"], 0.0);
    assert_eq!(r["score_ppm"], 550_000, "{r}");
    // Nobody voted, so no cut was agreed and the ladder has not moved: the
    // table is read from the heads this node holds, and no tier is given.
    assert_eq!(r["tier"], serde_json::Value::Null, "no agreed cut, no standing: {r}");
    assert_eq!(r["trend"], "steady");
    let cycle = r["cycle"].as_u64().unwrap();
    assert_eq!(r["next_review_ms"], (cycle + 6) * 60_000);
    // The text form names the same figures.
    let text = stdout(&env.run(&["gi", "--cycle", &(cycle - 1).to_string()]));
    assert!(
        text.contains("score       0.5500") && text.contains("tier        -"),
        "{text}"
    );
    // No anchored checkpoint commits to its GI: no proof, and why.
    let proof = env.run(&["gi", "--proof"]);
    assert_eq!(code(&proof), 6, "{}", stderr(&proof));
    assert!(stderr(&proof).contains("commits to a GI table"), "{}", stderr(&proof));
    assert_eq!(code(&env.run(&["gi", "--out", "x.json"])), 2, "--out needs --proof");

    // What cannot be answered is refused with the reason, exit code 6.
    let open = env.run(&["gi", "--cycle", &(cycle + 1).to_string()]);
    assert_eq!(code(&open), 6);
    assert!(stderr(&open).contains("is not closed yet"), "{}", stderr(&open));
    let early = env.run(&["gi", "--cycle", "3"]);
    assert_eq!(code(&early), 6);
    assert!(
        stderr(&early).contains("before the swarm's genesis"),
        "{}",
        stderr(&early)
    );
    let other = Env::new();
    let outsider = json(&other.run(&["--json", "init"]))["node_id"]
        .as_str()
        .unwrap()
        .to_string();
    let stranger = env.run(&["gi", &outsider]);
    assert_eq!(code(&stranger), 6);
    assert!(
        stderr(&stranger).contains("not a member scored"),
        "{}",
        stderr(&stranger)
    );
    assert_eq!(code(&env.run(&["gi", "--cycle", "soon"])), 2);
}
