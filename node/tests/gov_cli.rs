//! `ippoc gov` end to end against a real anvil (started by the test on
//! 127.0.0.1): deploy from a plan, stake, propose, vote, wait out the vote
//! and the timelock, execute, and the refusals in between.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use alloy::node_bindings::Anvil;
use alloy::signers::local::PrivateKeySigner;
use common::{anvil_path, write_key};
use ippoc_governance_bridge::{Chain, Dao, DaoAddresses, RpcChain, U256};

struct Gov {
    rpc: String,
    dao: PathBuf,
}

impl Gov {
    fn run(&self, key: Option<&Path>, args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ippoc"));
        cmd.arg("gov")
            .args(args)
            .env("IPPOC_RPC", &self.rpc)
            .env("IPPOC_DAO", &self.dao)
            .env_remove("IPPOC_ETH_KEY");
        if let Some(key) = key {
            cmd.env("IPPOC_ETH_KEY", key);
        }
        cmd.output().expect("run ippoc")
    }

    fn ok(&self, key: Option<&Path>, args: &[&str]) -> String {
        let out = self.run(key, args);
        assert!(
            out.status.success(),
            "ippoc gov {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf8")
    }

    fn fails(&self, key: Option<&Path>, args: &[&str], code: i32, needle: &str) {
        let out = self.run(key, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "ippoc gov {args:?}: {stderr}");
        assert!(
            stderr.contains(needle),
            "ippoc gov {args:?}: expected {needle:?} in {stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parameter_change_goes_through_the_cli_from_deploy_to_execution() {
    let anvil = Anvil::at(anvil_path())
        .host("127.0.0.1")
        .arg("--accounts")
        .arg("14")
        .try_spawn()
        .expect("anvil");
    let dir = tempfile::tempdir().expect("tempdir");
    let keys: Vec<PrivateKeySigner> = anvil.keys().iter().map(|k| k.clone().into()).collect();
    let deployer = write_key(dir.path(), "deployer.key", &keys[0]);
    let vetoer = write_key(dir.path(), "vetoer.key", &keys[1]);
    let humans: Vec<PathBuf> = (2..12)
        .map(|i| write_key(dir.path(), &format!("human{i}.key"), &keys[i]))
        .collect();
    let node = write_key(dir.path(), "node.key", &keys[12]);
    let gov = Gov {
        rpc: anvil.endpoint(),
        dao: dir.path().join("dao.json"),
    };

    // `gov key` makes a private key file and refuses to overwrite one.
    let fresh = dir.path().join("fresh.key");
    let address = gov.ok(None, &["key", fresh.to_str().expect("path")]);
    assert!(
        address.trim().starts_with("0x") && address.trim().len() == 42,
        "{address}"
    );
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&fresh).expect("stat").permissions().mode() & 0o777,
            0o600
        );
    }
    gov.fails(
        None,
        &["key", fresh.to_str().expect("path")],
        2,
        "refusing to overwrite",
    );

    let holders: String = (2..12)
        .map(|i| {
            format!(
                "[[holders]]\naddress = \"{}\"\namount = \"100000000000000000000\"\n",
                keys[i].address()
            )
        })
        .collect();
    let sentinels: Vec<String> = (0..8).map(|i| format!("\"0x{:040x}\"", 0xa0 + i)).collect();
    let plan = format!(
        "vetoer = \"{}\"\nvoting_period_secs = 3600\nsentinels = [{}]\n{holders}\n[[nodes]]\naddress = \"{}\"\nnode_id = \"0x{}\"\ntier = 2\n\n[[parameters]]\nname = \"metabolism.transfer_fee_bps\"\nvalue = \"10\"\n",
        keys[1].address(),
        sentinels.join(", "),
        keys[12].address(),
        "11".repeat(32),
    );
    let plan_path = dir.path().join("plan.toml");
    // A committee of no seats (or more than a certificate's 256) is refused
    // before anything is deployed.
    std::fs::write(&plan_path, format!("anchor_committee = 0\n{plan}")).expect("plan");
    gov.fails(
        Some(&deployer),
        &["deploy", plan_path.to_str().expect("path")],
        2,
        "anchor_committee must be 1..=256",
    );
    std::fs::write(&plan_path, plan).expect("plan");
    gov.ok(Some(&deployer), &["deploy", plan_path.to_str().expect("path")]);
    let addresses: DaoAddresses = serde_json::from_slice(&std::fs::read(&gov.dao).expect("dao.json")).expect("json");

    for h in &humans {
        gov.ok(Some(h), &["stake", "100000000000000000000"]);
    }
    // Nothing to do is a usage error, not an empty proposal.
    gov.fails(Some(&humans[0]), &["propose"], 2, "at least one action");
    gov.fails(
        Some(&humans[0]),
        &["propose", "--set-parameter", "no-equals-sign"],
        2,
        "separated by '='",
    );
    // The ladder's actions: a promotion needs its proof, a tier is named,
    // an appeal names a node.
    let node_addr = keys[12].address().to_string();
    gov.fails(
        Some(&humans[0]),
        &["propose", "--promote", &format!("{node_addr}=high")],
        2,
        "needs its --gi-proof",
    );
    gov.fails(
        Some(&humans[0]),
        &["propose", "--set-tier", &format!("{node_addr}=elite")],
        2,
        "one of shadow, research, standard, high, critical",
    );
    gov.fails(Some(&humans[0]), &["propose", "--appeal", "zz"], 2, "not a NodeID");
    let junk = dir.path().join("junk.json");
    std::fs::write(&junk, "{}").expect("junk");
    gov.fails(
        Some(&humans[0]),
        &[
            "propose",
            "--promote",
            &format!("{node_addr}=high"),
            "--gi-proof",
            junk.to_str().expect("path"),
        ],
        2,
        "not a GI proof",
    );
    let id = gov.ok(
        Some(&humans[0]),
        &[
            "propose",
            "--set-parameter",
            "metabolism.transfer_fee_bps=25",
            "--description",
            "raise the fee",
        ],
    );
    assert_eq!(id.trim(), "1");

    gov.fails(Some(&humans[0]), &["vote", "1"], 2, "--yes");
    for h in &humans {
        gov.ok(Some(h), &["vote", "1", "--yes"]);
    }
    gov.ok(Some(&node), &["vote", "1", "--no", "--as-node"]);
    gov.fails(
        Some(&humans[0]),
        &["vote", "1", "--yes"],
        6,
        &format!("{} has already voted on proposal 1", keys[2].address()),
    );

    let status: serde_json::Value =
        serde_json::from_str(&gov.ok(None, &["--json", "status", "1"])).expect("status json");
    assert_eq!(status["state"], "active");
    // People read dates and what comes next, not Unix times.
    let text = gov.ok(None, &["status", "1"]);
    assert!(
        text.contains("voting    ends 20") && (text.contains("UTC, in 59 min") || text.contains("UTC, in 1 h")),
        "{text}"
    );
    assert!(text.contains("next      vote with `ippoc gov vote 1"), "{text}");
    // Queueing during the vote names the state and when it ends, in one sentence.
    gov.fails(
        Some(&humans[3]),
        &["queue", "1"],
        6,
        "proposal 1 is still active: voting ends 20",
    );
    // --json keeps the raw revert: the contract's error and its bytes.
    let raw = gov.run(Some(&humans[3]), &["--json", "queue", "1"]);
    assert_eq!(raw.status.code(), Some(6));
    let raw: serde_json::Value = serde_json::from_slice(&raw.stdout).expect("revert json");
    assert_eq!(raw["error"], "reverted");
    assert_eq!(raw["reason"], "Governance: WrongState(WrongState { id: 1, state: 0 })");
    assert!(raw["data"].as_str().unwrap().starts_with("0x"), "{raw}");
    gov.fails(
        None,
        &["status", "7"],
        6,
        "there is no proposal 7: proposals are numbered 1 to 1",
    );

    let chain = RpcChain::new(&anvil.endpoint()).expect("rpc");
    chain.advance_time(3_600).await.expect("time");
    assert!(gov.ok(None, &["status"]).contains("succeeded"));
    let queued = gov.ok(Some(&humans[3]), &["queue", "1"]);
    assert!(
        queued.contains("proposal 1 queued: executable from 20") && queued.contains("in 2 d"),
        "{queued}"
    );
    gov.fails(
        Some(&humans[3]),
        &["execute", "1"],
        6,
        "proposal 1 is in its timelock until 20",
    );
    chain.advance_time(48 * 3_600).await.expect("time");
    gov.ok(Some(&humans[3]), &["execute", "1"]);
    gov.fails(Some(&vetoer), &["veto", "1"], 6, "proposal 1 was already executed");

    let dao = Dao::at(chain, addresses);
    assert_eq!(
        dao.parameter("metabolism.transfer_fee_bps").await.expect("read"),
        U256::from(25)
    );

    // A key file others can read is refused before anything is signed.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&humans[4], std::fs::Permissions::from_mode(0o644)).expect("chmod");
    }
    gov.fails(Some(&humans[4]), &["stake", "1"], 12, "");
}
