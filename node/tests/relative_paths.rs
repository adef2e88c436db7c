//! Every command that takes a path, run from a fresh working directory with
//! bare file names, as people type them (`--out genesis.json`, not
//! `--out /tmp/x/genesis.json`). A bare name's directory is the current one;
//! before this test, writing one fsynced the empty path and failed after the
//! file was already written.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use alloy::node_bindings::Anvil;
use common::{code, stderr, stdout};

/// `ippoc <args>` in `dir`, with a clean environment.
fn ippoc(dir: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ippoc"));
    cmd.current_dir(dir).args(args);
    common::without_host_env(&mut cmd);
    cmd.output().unwrap()
}

/// Runs and asserts exit 0; returns stdout.
fn ok(dir: &Path, args: &[&str]) -> String {
    let out = ippoc(dir, args);
    assert_eq!(code(&out), 0, "ippoc {args:?}: {}", stderr(&out));
    stdout(&out)
}

#[test]
fn node_and_ledger_commands_take_bare_file_names() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // --config and --data-dir relative; a config with free ports only.
    std::fs::write(dir.join("test.toml"), common::Env::CONFIG).unwrap();
    let a = ["--data-dir", "a", "--config", "test.toml"];
    let b = ["--data-dir", "b", "--config", "test.toml"];
    let id_a = ok(dir, &[&a[..], &["init"], &["--json"]].concat());
    let id_a: serde_json::Value = serde_json::from_str(&id_a).unwrap();
    let id_a = id_a["node_id"].as_str().unwrap().to_string();
    ok(dir, &[&b[..], &["init"]].concat());
    let id_b = ok(dir, &[&b[..], &["id"]].concat()).trim().to_string();

    ok(
        dir,
        &[
            "genesis",
            "new",
            "--name",
            "bare",
            "--founder",
            &id_a,
            "--founder",
            &id_b,
            "--out",
            "genesis.json",
        ],
    );
    assert!(dir.join("genesis.json").is_file());
    ok(dir, &[&a[..], &["init", "--genesis", "genesis.json"]].concat());
    ok(dir, &[&b[..], &["init", "--genesis", "genesis.json"]].concat());

    // Direct access (no daemon): pay, export, verify, import.
    ok(dir, &[&a[..], &["transfer", &id_b, "3"]].concat());
    ok(dir, &[&a[..], &["ledger", "export", "--out", "a.export"]].concat());
    assert!(dir.join("a.export").is_file());
    assert!(ok(dir, &["ledger", "verify", "--file", "a.export"]).contains("1 chains, 1 entries verified"));
    assert!(ok(dir, &[&b[..], &["ledger", "import", "--file", "a.export"]].concat()).contains("1 applied"));

    // Modules and packages by relative path; input from a bare file name.
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/skills");
    for f in ["upper.wat", "upper.toml"] {
        std::fs::copy(examples.join(f), dir.join(f)).unwrap();
    }
    std::fs::write(dir.join("in.txt"), "bare").unwrap();
    let run = ok(
        dir,
        &[
            &a[..],
            &["sandbox", "run", "upper.wat", "--cap", "log", "--input", "in.txt"],
        ]
        .concat(),
    );
    assert_eq!(run, "BARE");
    assert!(ok(dir, &["evolve", "simulate", "upper.toml"]).contains("3/3 passed"));

    // No temporary file was left behind beside the bare names.
    let stray: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
}

#[test]
fn gov_commands_take_bare_file_names() {
    let anvil = Anvil::at(common::anvil_path())
        .host("127.0.0.1")
        .try_spawn()
        .expect("anvil");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let rpc = anvil.endpoint();

    // `gov key` writes a bare name and prints its address; a second time refuses.
    let address = ok(dir, &["gov", "key", "veto.key"]);
    assert!(
        address.trim().starts_with("0x") && address.trim().len() == 42,
        "{address}"
    );
    let again = ippoc(dir, &["gov", "key", "veto.key"]);
    assert_eq!(code(&again), 2, "{}", stderr(&again));

    // anvil's funded first account deploys; --key-file and the default --dao are bare names.
    common::write_key(dir, "deployer.key", &anvil.keys()[0].clone().into());
    let sentinels: Vec<String> = (0..8).map(|i| format!("\"0x{:040x}\"", 0xa0 + i)).collect();
    std::fs::write(
        dir.join("plan.toml"),
        format!(
            "vetoer = \"{}\"\nsentinels = [{}]\n",
            address.trim(),
            sentinels.join(", ")
        ),
    )
    .unwrap();
    ok(
        dir,
        &[
            "gov",
            "deploy",
            "plan.toml",
            "--rpc",
            &rpc,
            "--key-file",
            "deployer.key",
        ],
    );
    assert!(
        dir.join("dao.json").is_file(),
        "the default --dao is dao.json in the working directory"
    );
    // ... and read back from the same bare name.
    let none = ippoc(dir, &["gov", "status", "--rpc", &rpc]);
    assert_eq!(code(&none), 1, "{}", stderr(&none));
    assert!(stderr(&none).contains("no proposals yet"), "{}", stderr(&none));
}
