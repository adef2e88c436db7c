//! `ippoc sandbox run` from the operator's seat: dry runs, paid runs through
//! the daemon, failed runs still charged.

mod common;

use common::{Env, code, stderr, stdout};

const ECHO: &str = include_str!("../../examples/skills/echo.wat");

const SPIN: &str = r#"(module
  (memory (export "memory") 1)
  (func (export "alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "run") (param i32 i32) (result i64) (loop (br 0)) (i64.const 0)))"#;

fn wallet_head(env: &Env) -> serde_json::Value {
    let out = env.run(&["--json", "wallet"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["head_seq"].clone()
}

#[test]
fn skills_run_dry_or_paid_and_failures_are_charged_too() {
    let env = Env::new();
    let echo = env.dir.path().join("echo.wat");
    let spin = env.dir.path().join("spin.wat");
    let input = env.dir.path().join("input.txt");
    std::fs::write(&echo, ECHO).unwrap();
    std::fs::write(&spin, SPIN).unwrap();
    std::fs::write(&input, "hello sandbox").unwrap();

    // Dry run: no node at all.
    let dry = env.run(&[
        "sandbox",
        "run",
        echo.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--dry-run",
    ]);
    assert_eq!(code(&dry), 0, "{}", stderr(&dry));
    assert_eq!(stdout(&dry), "hello sandbox");
    assert!(stderr(&dry).contains("dry run, nothing charged"), "{}", stderr(&dry));

    assert_eq!(code(&env.run(&["init"])), 0);
    let daemon = env.start_daemon();
    let paid = env.run(&[
        "--json",
        "sandbox",
        "run",
        echo.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
    ]);
    let view: serde_json::Value = serde_json::from_slice(&paid.stdout).unwrap();
    assert_eq!(view["ok"], true, "{view}");
    assert_eq!(
        hex::decode(view["output_hex"].as_str().unwrap()).unwrap(),
        b"hello sandbox"
    );
    assert!(
        view["charge_tx"].is_string(),
        "the run was charged to the ledger: {view}"
    );
    assert_eq!(wallet_head(&env), 0);

    let spun = env.run(&["sandbox", "run", spin.to_str().unwrap(), "--fuel", "1000000"]);
    assert_eq!(code(&spun), 6, "{}", stderr(&spun));
    assert!(stderr(&spun).contains("out of fuel"), "{}", stderr(&spun));
    assert!(
        stderr(&spun).contains("fuel used 1000000, charged"),
        "{}",
        stderr(&spun)
    );
    assert_eq!(wallet_head(&env), 1, "the failed run was charged too");

    let junk = env.dir.path().join("junk.wasm");
    std::fs::write(&junk, b"not a module").unwrap();
    let refused = env.run(&["sandbox", "run", junk.to_str().unwrap()]);
    assert_eq!(code(&refused), 6);
    assert!(stderr(&refused).contains("malformed"), "{}", stderr(&refused));
    daemon.stop();

    // Directly on the stopped node, the cache survives and the charge lands.
    let direct = env.run(&[
        "sandbox",
        "run",
        echo.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
    ]);
    assert_eq!(code(&direct), 0, "{}", stderr(&direct));
    assert_eq!(wallet_head(&env), 3);
    let bad_cap = env.run(&["sandbox", "run", echo.to_str().unwrap(), "--cap", "network"]);
    assert_eq!(code(&bad_cap), 6, "{}", stderr(&bad_cap));
}
