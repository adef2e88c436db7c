//! A full disk, with real daemons on a small disk of their own (a tmpfs in a
//! private mount namespace). What is promised: every write is either
//! acknowledged and durable, or refused (HTTP 507, exit 18) and leaves no
//! trace — never answered as failed yet kept; writes work again as soon as
//! space is freed, without a restart; a boot on a full disk fails with its
//! exit code and leaves nothing that blocks the next boot; no position is
//! ever signed twice.

mod common;

use common::{Env, SmallDisk, code, json, stderr};

/// The small disk: above the default reserve (64 MiB), so a node boots on it.
const DISK: u64 = 96 << 20;

/// A payee outside the swarm (a transfer to any NodeID is valid).
fn payee() -> String {
    "11".repeat(32)
}

/// A node on a small disk of its own; `config` is appended to the test config.
fn node_on_small_disk(config: &str) -> (Env, SmallDisk) {
    let mut env = Env::new();
    std::fs::write(env.config(), format!("{}{config}", Env::CONFIG)).unwrap();
    let disk = SmallDisk::mount(&env.data(), DISK);
    env.prefix = disk.prefix();
    let init = env.run(&["init"]);
    assert_eq!(code(&init), 0, "{}", stderr(&init));
    (env, disk)
}

/// The own chain's tx_ids, oldest first.
fn chain(env: &Env) -> Vec<String> {
    let shown = json(&env.run(&["--json", "ledger", "show", "--limit", "100000"]));
    shown
        .as_array()
        .expect("ledger show --json prints an array")
        .iter()
        .map(|e| e["tx_id"].as_str().unwrap().to_string())
        .collect()
}

/// Pays once: `Ok(tx_id)` if acknowledged, `Err(stderr)` if refused for a
/// full disk. Any other outcome fails the test.
fn pay(env: &Env) -> Result<String, String> {
    let out = env.run(&["--json", "transfer", &payee(), "1"]);
    match code(&out) {
        0 => Ok(json(&out)["tx_id"].as_str().unwrap().to_string()),
        18 => Err(stderr(&out)),
        other => panic!("transfer on a full disk: exit {other}: {}", stderr(&out)),
    }
}

#[test]
fn a_write_inside_the_free_space_reserve_is_refused_before_it_is_signed_and_works_again_once_space_is_freed() {
    let (env, disk) = node_on_small_disk("");
    let daemon = env.start_daemon();
    let first = pay(&env).expect("room to pay");

    let free = disk.fill("filler", 16 << 20);
    assert!(free < 64 << 20, "below the default reserve: {free}");
    let refused = pay(&env).expect_err("refused inside the reserve");
    assert!(
        refused.contains("disk holding the ledger is full") && refused.contains("nothing was written"),
        "{refused}"
    );
    assert_eq!(chain(&env), vec![first.clone()], "the refused write left no entry");
    let signing = json(&env.run(&["--json", "status"]))["signing"].clone();
    assert_eq!(signing["state"], "ready", "{signing}");

    // Space freed: the same daemon writes again, at the next position.
    std::fs::remove_file(disk.path("filler")).unwrap();
    let second = pay(&env).expect("writes work again once space is freed");
    assert_eq!(chain(&env), vec![first, second]);
    daemon.stop();
}

#[test]
fn the_store_meeting_a_full_disk_keeps_exactly_the_acknowledged_writes_and_heals_without_a_restart() {
    // No reserve: the store itself meets ENOSPC.
    let (env, disk) = node_on_small_disk("[storage]\nreserve_bytes = 0\n");
    let daemon = env.start_daemon();
    let mut acknowledged: Vec<String> = (0..3).map(|_| pay(&env).expect("room to pay")).collect();

    disk.fill("filler", 0);
    // sled writes into space its files already hold until that runs out too:
    // keep paying until a write is refused; each one acknowledged before is kept.
    let mut refusals = 0;
    for _ in 0..500 {
        match pay(&env) {
            Ok(tx) => acknowledged.push(tx),
            Err(why) => {
                assert!(why.contains("full") || why.contains("unavailable"), "{why}");
                refusals += 1;
                if refusals == 3 {
                    break;
                }
            }
        }
    }
    assert_eq!(refusals, 3, "the store never met the full disk");

    std::fs::remove_file(disk.path("filler")).unwrap();
    // The same daemon, no restart: the refused writes left no entry, and the
    // next one takes the next position (nothing signed twice, nothing skipped).
    assert_eq!(chain(&env), acknowledged, "exactly the acknowledged entries");
    acknowledged.push(pay(&env).expect("writes work again once space is freed"));
    assert_eq!(chain(&env), acknowledged);

    // And they are durable: a crash right now loses none of them.
    daemon.signal("KILL");
    let mut daemon = daemon;
    let _ = daemon.wait();
    let daemon = env.start_daemon();
    assert_eq!(chain(&env), acknowledged);
    let status = json(&env.run(&["--json", "status"]));
    assert_eq!(status["signing"]["state"], "ready", "{status}");
    daemon.stop();
}

#[test]
fn a_boot_on_a_full_disk_fails_with_its_code_and_the_next_boot_after_freeing_space_works() {
    let (env, disk) = node_on_small_disk("[storage]\nreserve_bytes = 0\n");
    let daemon = env.start_daemon();
    let paid: Vec<String> = (0..3).map(|_| pay(&env).expect("room to pay")).collect();
    daemon.stop();

    disk.fill("filler", 0);
    let boot = env.run(&["daemon"]);
    assert_eq!(code(&boot), 18, "{}", stderr(&boot));
    assert!(
        stderr(&boot).contains("the disk holding the ledger is full"),
        "{}",
        stderr(&boot)
    );

    std::fs::remove_file(disk.path("filler")).unwrap();
    let daemon = env.start_daemon();
    assert_eq!(chain(&env), paid, "nothing lost, nothing blocking");
    let mut after = paid.clone();
    after.push(pay(&env).expect("writes after the boot"));
    assert_eq!(chain(&env), after);
    daemon.stop();
}
