//! The boot sequence, run as a real `ippoc` process: what an operator sees.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use common::{Env, code, json, snapshot, stderr, stdout};
use ippoc_node::hardware::{Fingerprint, HardwareInfo};

#[test]
fn first_boot_creates_a_0600_key_and_the_layout_and_second_boot_reuses_it() {
    let env = Env::new();
    let first = env.run(&["--json", "init"]);
    assert_eq!(code(&first), 0, "{}", stderr(&first));
    let made: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    assert_eq!(made["created"], true);
    let node_id = made["node_id"].as_str().unwrap().to_string();
    assert_eq!(node_id.len(), 64);

    let node = env.node_dir();
    assert_eq!(node.file_name().unwrap().to_str().unwrap(), node_id);
    for sub in ["data", "memory", "sandbox", "economy", "logs"] {
        assert!(node.join(sub).is_dir(), "{sub}/ missing");
    }
    for secret in ["identity.key", "api.token"] {
        let mode = fs::metadata(node.join("data").join(secret))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{secret}");
    }
    let pem = fs::read_to_string(node.join("data/identity.key")).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "PKCS#8 PEM expected");
    // docs/identity.md promises a file OpenSSL reads: its public key is the NodeID.
    let public = std::process::Command::new("openssl")
        .args(["pkey", "-pubout", "-outform", "DER", "-in"])
        .arg(node.join("data/identity.key"))
        .output()
        .expect("openssl runs");
    assert!(public.status.success(), "openssl refused the key: {}", stderr(&public));
    assert_eq!(hex::encode(&public.stdout[public.stdout.len() - 32..]), node_id);
    let fingerprint: serde_json::Value =
        serde_json::from_slice(&fs::read(node.join("data/fingerprint.json")).unwrap()).unwrap();
    assert_eq!(fingerprint["hash"].as_str().unwrap().len(), 64);
    assert!(node.join("logs/ippoc.jsonl").is_file(), "JSON log written");

    let key_before = fs::read(node.join("data/identity.key")).unwrap();
    let second = env.run(&["--json", "init"]);
    assert_eq!(code(&second), 0, "{}", stderr(&second));
    let again: serde_json::Value = serde_json::from_slice(&second.stdout).unwrap();
    assert_eq!(again["created"], false);
    assert_eq!(again["node_id"], node_id.as_str());
    assert_eq!(fs::read(node.join("data/identity.key")).unwrap(), key_before);

    let daemon = env.start_daemon();
    let id = env.run(&["id"]);
    assert_eq!(stdout(&id).trim(), node_id, "the daemon booted the same identity");
    daemon.stop();
}

#[test]
fn data_dir_copied_to_other_hardware_refuses_to_boot_with_the_clone_exit_code() {
    let env = Env::new();
    assert_eq!(code(&env.run(&["init"])), 0);
    // The copy carries the fingerprint of the machine it came from.
    let elsewhere = HardwareInfo {
        cpu_brand: "Some Other CPU @ 3.0GHz".into(),
        mem_gb: 512,
        hostname: "original-host".into(),
    };
    let fp_path = env.node_dir().join("data/fingerprint.json");
    Fingerprint::of(&elsewhere).write(&fp_path).unwrap();
    let before = snapshot(&env.node_dir().join("data"));

    for args in [&["daemon"][..], &["init"][..]] {
        let out = env.run(args);
        assert_eq!(code(&out), 10, "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("boot step 4/11 (fingerprint) failed"), "{err}");
        assert!(err.contains("hardware fingerprint check failed"), "{err}");
        assert!(err.contains(r#"hostname "original-host""#), "names what changed: {err}");
        assert_eq!(
            err.lines().filter(|l| l.starts_with("ippoc:")).count(),
            1,
            "one line: {err}"
        );
    }
    assert_eq!(
        snapshot(&env.node_dir().join("data")),
        before,
        "a refused boot changes nothing"
    );

    // Re-binding is deliberate: without --confirm it explains and does nothing.
    let unconfirmed = env.run(&["rebind"]);
    assert_eq!(code(&unconfirmed), 2, "{}", stderr(&unconfirmed));
    assert!(stderr(&unconfirmed).contains("--confirm"));
    assert_eq!(snapshot(&env.node_dir().join("data")), before);

    let confirmed = env.run(&["rebind", "--confirm"]);
    assert_eq!(code(&confirmed), 0, "{}", stderr(&confirmed));
    let log = fs::read_to_string(env.node_dir().join("logs/ippoc.jsonl")).unwrap();
    let event = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["event"] == "hardware_rebind")
        .expect("rebind recorded in the JSON log");
    assert_eq!(event["old_fingerprint"], Fingerprint::of(&elsewhere).hash.as_str());
    assert_eq!(code(&env.run(&["init"])), 0, "boots after the rebind");
}

#[test]
fn corrupt_or_truncated_identity_key_is_a_clear_error_and_is_left_alone() {
    let env = Env::new();
    assert_eq!(code(&env.run(&["init"])), 0);
    let key = env.node_dir().join("data/identity.key");
    let good = fs::read(&key).unwrap();
    let mut flipped = good.clone();
    flipped[40] ^= 0x01;
    for (what, bytes) in [
        ("truncated", good[..good.len() / 2].to_vec()),
        ("empty", Vec::new()),
        ("bit flipped", flipped),
        ("garbage", vec![0xff; 64]),
    ] {
        fs::write(&key, &bytes).unwrap();
        let out = env.run(&["daemon"]);
        assert_eq!(code(&out), 13, "{what}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("boot step 3/11 (identity) failed"), "{what}: {err}");
        assert!(err.contains("identity.key"), "{what}: names the file: {err}");
        assert_eq!(fs::read(&key).unwrap(), bytes, "{what}: never overwritten");
    }
}

#[test]
fn key_file_readable_by_others_refuses_to_boot() {
    let env = Env::new();
    assert_eq!(code(&env.run(&["init"])), 0);
    let key = env.node_dir().join("data/identity.key");
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
    let out = env.run(&["daemon"]);
    assert_eq!(code(&out), 12, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("boot step 5/11 (permissions) failed"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("chmod 600"), "says how to fix: {}", stderr(&out));
    assert_eq!(
        fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o644,
        "refused, not silently repaired"
    );
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(code(&env.run(&["init"])), 0);
}

#[test]
fn failure_in_a_late_boot_step_leaves_nothing_half_made() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let env = Env::new();
    fs::write(
        env.config(),
        format!("[api]\nport = {port}\n[metrics]\nlisten = \"127.0.0.1:0\"\n"),
    )
    .unwrap();

    // First boot: the node created in step 3 is removed again.
    let out = env.run(&["daemon"]);
    assert_eq!(code(&out), 15, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("boot step 9/11 (admin-api) failed"),
        "{}",
        stderr(&out)
    );
    let nodes: Vec<_> = fs::read_dir(env.data().join("nodes")).unwrap().collect();
    assert!(nodes.is_empty(), "no half-made node left: {nodes:?}");

    // Existing node: its data is untouched and no endpoint is published.
    fs::write(env.config(), "[api]\nport = 0\n[metrics]\nlisten = \"127.0.0.1:0\"\n").unwrap();
    assert_eq!(code(&env.run(&["init"])), 0);
    let data = env.node_dir().join("data");
    let before = snapshot(&data);
    fs::write(
        env.config(),
        format!("[api]\nport = {port}\n[metrics]\nlisten = \"127.0.0.1:0\"\n"),
    )
    .unwrap();
    let out = env.run(&["daemon"]);
    assert_eq!(code(&out), 15, "{}", stderr(&out));
    assert_eq!(snapshot(&data), before);
    drop(busy);
}

#[test]
fn a_taken_metrics_port_fails_boot_and_names_the_setting() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap();
    let env = Env::new();
    let taken = Env::CONFIG.replace("127.0.0.1:0", &addr.to_string());
    fs::write(env.config(), &taken).unwrap();
    assert_eq!(code(&env.run(&["init"])), 0);
    let out = env.run(&["daemon"]);
    assert_eq!(code(&out), 15, "{}", stderr(&out));
    assert!(stderr(&out).contains("metrics.listen"), "{}", stderr(&out));
    let data = env.node_dir().join("data");
    assert!(!data.join("metrics.endpoint").exists() && !data.join("api.endpoint").exists());
    // Off: the daemon needs no port for it.
    fs::write(
        env.config(),
        taken.replace("[metrics]\n", "[metrics]\nenabled = false\n"),
    )
    .unwrap();
    let daemon = env.start_daemon();
    let status = env.run(&["--json", "status"]);
    assert_eq!(json(&status)["metrics_addr"], serde_json::Value::Null);
    daemon.stop();
    drop(busy);
}

#[test]
fn bad_config_and_bad_arguments_fail_with_their_codes() {
    let env = Env::new();
    fs::write(env.config(), "[api]\nprot = 1\n").unwrap();
    let out = env.run(&["daemon"]);
    assert_eq!(code(&out), 14, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("boot step 1/11 (config) failed"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("test.toml"), "names the file: {}", stderr(&out));
    assert!(
        !env.data().join("nodes").exists(),
        "nothing created before the config is valid"
    );

    let out = env.run(&["no-such-command"]);
    assert_eq!(code(&out), 2);
    let out = env.run(&["status", "--bogus"]);
    assert_eq!(code(&out), 2);
}

#[test]
fn config_default_prints_a_file_the_daemon_accepts() {
    let env = Env::new();
    let out = env.run(&["config", "default"]);
    assert_eq!(code(&out), 0);
    let text = stdout(&out);
    assert!(text.contains("# "), "commented");
    fs::write(
        env.config(),
        text.replace("port = 7733", "port = 0")
            .replace("127.0.0.1:7735", "127.0.0.1:0"),
    )
    .unwrap();
    let shown = env.run(&["--json", "config", "show"]);
    assert_eq!(code(&shown), 0, "{}", stderr(&shown));
    let v: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(v["api"]["port"], 0);
    assert_eq!(v["log"]["files_kept"], 4);
}

#[test]
fn id_and_status_on_an_empty_data_dir_say_what_to_do() {
    let env = Env::new();
    let out = env.run(&["id"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("ippoc init"), "{}", stderr(&out));
    let out = env.run(&["status"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
}

#[test]
fn a_closed_pipe_ends_a_cli_command_quietly() {
    use std::io::Read;
    let env = Env::new();
    // Far more output than a pipe buffers (64 KiB), so a write must hit the closed pipe.
    let founders: Vec<String> = (1..=1200u32).map(|i| format!("{i:064x}")).collect();
    let mut args = vec!["genesis", "new", "--name", "big"];
    for f in &founders {
        args.extend(["--founder", f.as_str()]);
    }
    let mut child = env
        .cmd(&args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 1];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    // stdout is dropped: the reader is gone.
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        out.status.signal(),
        Some(libc_sigpipe()),
        "ended by SIGPIPE like any Unix tool"
    );
}

/// SIGPIPE's number on Linux.
fn libc_sigpipe() -> i32 {
    13
}

#[test]
fn a_node_whose_genesis_file_is_gone_refuses_to_boot_and_writes_nothing() {
    let env = Env::new();
    assert_eq!(code(&env.run(&["init"])), 0);
    let id = stdout(&env.run(&["id"])).trim().to_string();
    // Something on its chain, so the ledger belongs to its swarm for good.
    let paid = env.run(&["transfer", &"11".repeat(32), "1"]);
    assert_eq!(code(&paid), 0, "{}", stderr(&paid));
    fs::remove_file(env.node_dir().join("data/genesis.json")).unwrap();
    let before = snapshot(&env.node_dir().join("data"));

    for args in [&["daemon"][..], &["wallet"][..], &["init"][..]] {
        let out = env.run(args);
        assert_eq!(code(&out), 16, "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("genesis.json: missing"), "{}", stderr(&out));
    }
    assert_eq!(
        snapshot(&env.node_dir().join("data")),
        before,
        "no new genesis.json (or anything else) written by the failed boots"
    );
    assert_eq!(stdout(&env.run(&["id"])).trim(), id);
}

#[test]
fn a_truncated_ledger_is_one_clear_boot_failure_never_a_panic_and_moving_it_aside_is_the_way_out() {
    use ed25519_dalek::SigningKey;
    use ippoc_economy::store::{Draft, Intent, Ledger};
    use ippoc_economy::{Amount, Currency, NodeId};

    // A founder whose key the test holds writes a long chain; the node
    // imports it, so its store is big enough for sled's damaged-file panics.
    let env = Env::new();
    let id = json(&env.run(&["--json", "init"]))["node_id"]
        .as_str()
        .unwrap()
        .to_string();
    let writer = SigningKey::from_bytes(&[9; 32]);
    let writer_id = NodeId::from_bytes(writer.verifying_key().to_bytes());
    let genesis = env.dir.path().join("genesis.json");
    let made = env.run(&[
        "genesis",
        "new",
        "--name",
        "big",
        "--founder",
        &id,
        "--founder",
        &writer_id.to_string(),
        "--out",
        genesis.to_str().unwrap(),
    ]);
    assert_eq!(code(&made), 0, "{}", stderr(&made));
    assert_eq!(code(&env.run(&["init", "--genesis", genesis.to_str().unwrap()])), 0);
    let export = {
        let g = ippoc_economy::genesis::Genesis::from_json(&fs::read_to_string(&genesis).unwrap()).unwrap();
        let scratch = tempfile::tempdir().unwrap();
        let l = Ledger::open(&scratch.path().join("l"), g, writer_id, Default::default()).unwrap();
        let to = id.parse::<NodeId>().unwrap();
        for _ in 0..100 {
            let drafts = (0..100)
                .map(|_| {
                    Draft::new(
                        Intent::Transfer {
                            to,
                            currency: Currency::Ippc,
                            amount: Amount::from_base(1_000),
                        },
                        1,
                    )
                })
                .collect();
            l.append_batch(&writer, drafts).unwrap();
        }
        let path = env.dir.path().join("big.export");
        fs::write(&path, l.export(None, &writer).unwrap()).unwrap();
        path
    };
    let imported = env.run(&["ledger", "import", "--file", export.to_str().unwrap()]);
    assert_eq!(code(&imported), 0, "{}", stderr(&imported));
    let paid = env.run(&["transfer", &writer_id.to_string(), "1"]);
    assert_eq!(code(&paid), 0, "{}", stderr(&paid));

    let ledger = env.node_dir().join("economy/ledger");
    let db = ledger.join("db");
    let whole = fs::read(&db).unwrap();
    let mut refused = 0;
    for tenth in 1..10 {
        let keep = whole.len() * tenth / 10;
        fs::write(&db, &whole[..keep]).unwrap();
        let out = env.run(&["wallet"]);
        let err = stderr(&out);
        assert!(!err.contains("panicked"), "kept {keep} of {} bytes: {err}", whole.len());
        // Some cuts leave a store sled still opens (it recovers to a prefix).
        if code(&out) != 0 {
            assert_eq!(code(&out), 16, "kept {keep}: {err}");
            assert_eq!(
                err.lines().filter(|l| !l.trim().is_empty()).count(),
                1,
                "one line: {err}"
            );
            assert!(
                err.contains("boot step 7/11 (ledger) failed") && err.contains("aside"),
                "{err}"
            );
            refused += 1;
        }
        fs::write(&db, &whole).unwrap();
    }
    assert!(refused > 0, "no cut was refused: the test proves nothing");

    // The way out: the damaged store moved aside, the node boots, and its
    // signing guard keeps it from signing over what it already signed.
    fs::write(&db, &whole[..whole.len() / 3]).unwrap();
    fs::rename(&ledger, env.node_dir().join("economy/ledger.damaged")).unwrap();
    let wallet = env.run(&["wallet"]);
    assert_eq!(code(&wallet), 0, "{}", stderr(&wallet));
    let pay = env.run(&["transfer", &writer_id.to_string(), "1"]);
    assert_eq!(code(&pay), 17, "{}", stderr(&pay));
    assert!(stderr(&pay).contains("signed up to seq 0"), "{}", stderr(&pay));
}
