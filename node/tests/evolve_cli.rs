//! `ippoc evolve` with the real binary: simulate packages (exit codes), and
//! the daemon following a DAO on a real anvil — propose a skill from the
//! CLI, let the DAO deploy it, see the daemon pick it up, and run it.

mod common;

use std::path::{Path, PathBuf};

use alloy::node_bindings::Anvil;
use alloy::signers::local::PrivateKeySigner;
use common::{Env, anvil_path, code, stderr, stdout, write_key};
use ippoc_governance_bridge::dao::{DEVNET_STAKE, DEVNET_VOTING_PERIOD, GenesisNode, tokens};
use ippoc_governance_bridge::{Chain, Dao, DeployConfig, RpcChain};

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/skills")
}

#[test]
fn simulate_passes_good_packages_and_refuses_toxic_and_malformed_ones() {
    let env = Env::new();
    let upper = examples().join("upper.toml");
    let out = env.run(&["evolve", "simulate", upper.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("3/3 passed"), "{}", stdout(&out));
    let json: serde_json::Value = serde_json::from_slice(
        &env.run(&["--json", "evolve", "simulate", upper.to_str().unwrap()])
            .stdout,
    )
    .unwrap();
    assert_eq!(json["ok"], true);
    let risk = json["risk_bps"].as_u64().unwrap();
    assert!(risk > 0 && risk < 10_000, "{json}");

    for toxic in ["loop", "memory", "recursion"] {
        let path = examples().join(format!("toxic/{toxic}.toml"));
        let out = env.run(&["evolve", "simulate", path.to_str().unwrap()]);
        assert_eq!(code(&out), 6, "{toxic}: {}", stderr(&out));
        assert!(stderr(&out).contains("failed its simulation"), "{}", stderr(&out));
        assert!(stdout(&out).contains("risk      10000 bps"), "{}", stdout(&out));
    }

    let bad = env.dir.path().join("bad.toml");
    std::fs::write(&bad, "module = \"upper.wat\"\nfuel = \"lots\"\n").unwrap();
    let out = env.run(&["evolve", "simulate", bad.to_str().unwrap()]);
    assert_eq!(code(&out), 6, "{}", stderr(&out));
    assert!(stderr(&out).contains("bad.toml"), "{}", stderr(&out));
    let out = env.run(&["evolve", "run", "not-a-hash"]);
    assert_eq!(code(&out), 6, "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_runs_a_skill_only_after_the_dao_deployed_it() {
    let anvil = Anvil::at(anvil_path())
        .host("127.0.0.1")
        .arg("--accounts")
        .arg("13")
        .try_spawn()
        .expect("anvil (run contracts/check.sh first, or set IPPOC_ANVIL)");
    let env = Env::new();
    let keys: Vec<PrivateKeySigner> = anvil.keys().iter().map(|k| k.clone().into()).collect();
    // Ten humans: with the 5% whale cap, fewer could not reach the 40% quorum.
    let humans = &keys[2..12];
    let holders: Vec<_> = humans.iter().map(|h| h.address()).collect();
    let node = GenesisNode {
        address: keys[12].address(),
        node_id: [7; 32],
        tier: 2,
    };
    let config = DeployConfig::devnet(keys[1].address(), &holders, vec![node]);
    let chain = RpcChain::new(&anvil.endpoint()).unwrap();
    let dao = Dao::deploy(chain, &keys[0], &config).await.unwrap();
    for h in humans {
        dao.stake(h, tokens(DEVNET_STAKE)).await.unwrap();
    }
    std::fs::create_dir_all(env.data()).unwrap();
    std::fs::write(
        env.data().join("dao.json"),
        serde_json::to_vec(&dao.addresses()).unwrap(),
    )
    .unwrap();
    std::fs::write(
        env.config(),
        format!(
            "{}[governance]\nrpc = \"{}\"\npoll_ms = 200\n",
            Env::CONFIG,
            anvil.endpoint()
        ),
    )
    .unwrap();
    let daemon = env.start_daemon();

    // Propose from the CLI: the package is simulated, kept by the node, proposed.
    let human_key = write_key(env.dir.path(), "human.key", &humans[0]);
    let upper = examples().join("upper.toml");
    let propose = |package: &Path| {
        env.cmd(&["evolve", "propose", package.to_str().unwrap()])
            .env("IPPOC_RPC", anvil.endpoint())
            .env("IPPOC_DAO", env.data().join("dao.json"))
            .env("IPPOC_ETH_KEY", &human_key)
            .output()
            .unwrap()
    };
    let toxic = propose(&examples().join("toxic/loop.toml"));
    assert_eq!(code(&toxic), 6, "{}", stderr(&toxic));
    assert_eq!(
        dao.proposal_count().await.unwrap(),
        0,
        "a failed simulation was proposed"
    );
    let out = propose(&upper);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let module = stdout(&out)
        .lines()
        .find_map(|l| l.strip_prefix("module    "))
        .unwrap()
        .trim()
        .to_string();
    let id: u64 = stdout(&out)
        .lines()
        .find_map(|l| l.strip_prefix("proposal  "))
        .unwrap()
        .trim()
        .parse()
        .unwrap();

    // Held but not deployed: refused.
    let input = env.dir.path().join("input");
    std::fs::write(&input, b"hello, swarm").unwrap();
    let run = |caps: &[&str]| {
        let mut args = vec!["evolve", "run", module.as_str(), "--input", input.to_str().unwrap()];
        for c in caps {
            args.extend(["--cap", c]);
        }
        env.run(&args)
    };
    let early = run(&["log"]);
    assert_eq!(code(&early), 6, "{}", stderr(&early));
    assert!(stderr(&early).contains("not deployed"), "{}", stderr(&early));

    for h in humans {
        dao.vote(h, id, true, tokens(DEVNET_STAKE / 4)).await.unwrap();
    }
    dao.chain().advance_time(DEVNET_VOTING_PERIOD).await.unwrap();
    dao.queue(&humans[0], id).await.unwrap();
    dao.chain().advance_time(48 * 3_600).await.unwrap();
    dao.execute(&humans[0], id).await.unwrap();

    daemon.wait_for_line("the skill to be ready", |l| {
        l.contains("skill_ready") || l.contains("ready to run")
    });
    let listed: serde_json::Value = serde_json::from_slice(&env.run(&["--json", "evolve", "list"]).stdout).unwrap();
    assert_eq!(listed["deployed"][&module]["proposal"], id);
    let status: serde_json::Value = serde_json::from_slice(&env.run(&["--json", "status"]).stdout).unwrap();
    assert_eq!(
        (
            &status["governance"]["deployed_skills"],
            &status["governance"]["held_skills"]
        ),
        (&1.into(), &1.into())
    );
    let out = run(&["log"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(out.stdout, b"HELLO, SWARM");
    assert!(stderr(&out).contains("charged"), "{}", stderr(&out));
    // Capabilities are still the operator's to grant.
    let out = run(&[]);
    assert_eq!(code(&out), 6, "{}", stderr(&out));
    assert!(stderr(&out).contains("not granted"), "{}", stderr(&out));
    daemon.stop();
}
