//! What every built-in scenario's test checks (shared by `scenarios.rs`,
//! `spam_scenario.rs` and `wan_seeds.rs`).

// Each test binary uses some of these helpers.
#![allow(dead_code)]

use ippoc_sim::{Options, Scenario};

/// One scenario at a time: each runs its nodes on both cores, and every
/// settle bound is wall-clock (issue 24), which a scenario running beside
/// it would eat into.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Runs scenario `name` at 10 nodes and checks every criterion and the run directory.
pub async fn check(name: &str) {
    check_at(name, 10, 7).await;
}

/// Runs scenario `name` with `nodes` nodes and `seed`, and checks every
/// criterion and the run directory.
pub async fn check_at(name: &str, nodes: usize, seed: u64) {
    let _alone = ONE_AT_A_TIME.lock().await;
    let scenario = Scenario::load(name).unwrap();
    let options = Options {
        nodes,
        seed,
        settle_rounds: ippoc_sim::run::SETTLE_ROUNDS_DEFAULT,
        settle_timeout_ms: 600_000,
        epoch_ms: None,
        dao: false,
        lapse_cycles: None,
        vote_pay: None,
        economy: false,
        metrics: true,
    };
    let report = ippoc_sim::run(&scenario, options, |_| {}).await.unwrap();
    let failed: Vec<String> = report
        .criteria
        .iter()
        .filter(|c| !c.ok)
        .map(|c| format!("{}: {} (target {})", c.name, c.value, c.target))
        .collect();
    assert!(report.ok, "{name}: {failed:?}\n{}", report.markdown());
    // The run directory: JSON, Markdown and every plot, each a real PNG.
    let dir = tempfile::tempdir().unwrap();
    report.write(dir.path()).unwrap();
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("report.json")).unwrap()).unwrap();
    assert_eq!(json["options"]["seed"], seed);
    // Every node's final metrics, labelled with the node, in the
    // exposition format promtool accepts.
    let metrics = std::fs::read_to_string(dir.path().join("metrics.prom")).unwrap();
    for series in [
        "ippoc_ledger_own_entries_total{node=\"node-0000\"}",
        "ippoc_mesh_peers{node=\"node-0001\"}",
        "ippoc_sync_rounds_total{node=\"node-0003\",outcome=\"ok\"}",
        "libp2p_swarm_connections_established_total{node=\"node-0004\"",
        "ippoc_sandbox_fuel_total ",
    ] {
        assert!(metrics.contains(series), "{series} not in metrics.prom");
    }
    // Any node's: a node the churn restarted near the end has a fresh
    // registry, and a series appears only with its first count (node-0002
    // of `wan` seeds 3 and 5 at 20 nodes had accepted no heartbeat yet).
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("ippoc_mesh_gossip_messages_total{node=\"node-")
                && l.contains("topic=\"attestations\",verdict=\"accepted\"}")),
        "no node's accepted attestations in metrics.prom"
    );
    promtool_check(&metrics);
    assert_eq!(json["config"]["name"], name);
    let cadence = ippoc_sim::run::sim_cadence(nodes);
    assert_eq!(json["cadence"]["attest_ms"], cadence.attest_interval.as_millis() as u64);
    assert_eq!(
        json["cadence"]["epoch_ms"],
        scenario.epoch_ms.unwrap_or(cadence.epoch_ms)
    );
    // Class D goes through the DAO on the embedded chain: the good skill is
    // deployed, every toxic one failed simulation and its bypass was vetoed.
    if scenario.phases.iter().any(|p| p.toxic_skills) {
        let e = report.evolution.expect("class D reports the DAO outcome");
        assert_eq!((e.good_deployed, e.good_total), (1, 1), "{e:?}");
        assert_eq!(
            (e.bypass_proposed, e.bypass_vetoed, e.toxic_deployed),
            (3, 3, 0),
            "{e:?}"
        );
        assert_eq!(report.toxic, (3, 0));
    } else {
        assert!(report.evolution.is_none());
    }
    // Every scenario anchors its final checkpoint: one root, co-signed by
    // every live honest node, and every sampled entry proves against it.
    let a = report.anchoring;
    assert!(a.anchored && a.roots == 1 && a.signers == a.voters, "{a:?}");
    assert!(a.signers >= a.required, "{a:?}");
    assert_eq!((a.proofs, a.proofs_verified), (20, 20), "{a:?}");
    assert_eq!(json["anchoring"]["anchored"], true);
    // A scenario that waits for integrity cycles is judged on them too:
    // equal tables everywhere, the faulty under 0.85, no honest penalty.
    if scenario.phases.iter().any(|p| p.cycles > 0) {
        let g = report.measured.gi.as_ref().expect("a scored run reports GI");
        assert!(g.cycles_compared >= 4 && g.cycles_differing == 0, "{g:?}");
        // One faulty node per kind of fault the scenario has (at 10 nodes,
        // a tenth is one node).
        let kinds = [
            scenario.phases.iter().any(|p| p.equivocators > 0.0),
            scenario.phases.iter().any(|p| p.silence > 0.0),
        ];
        let expected = kinds.iter().filter(|k| **k).count();
        if expected > 0 {
            assert!(g.faulty >= expected && g.faulty_fallen == g.faulty, "{g:?}");
        }
        assert_eq!(g.honest_penalised, 0, "{g:?}");
        let (file, _) = ippoc_sim::report::GI_PLOT;
        let png = std::fs::read(dir.path().join(file)).unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 1000, "{file}");
        let summary = std::fs::read_to_string(dir.path().join("summary.md")).unwrap();
        assert!(summary.contains(file), "the summary does not show {file}");
    }
    // Issuance: equal records everywhere, no replay; the economy scenario
    // also mints, freezes in its failure episode and opens again.
    if scenario.phases.iter().any(|p| p.cycles > 0) {
        let i = report
            .measured
            .issuance
            .as_ref()
            .expect("a scored run reports issuance");
        assert!(i.cycles_compared >= 4 && i.cycles_differing == 0, "{i:?}");
        assert_eq!((i.replays, i.byzantine_after_fault), (0, 0.0), "{i:?}");
        let (file, _) = ippoc_sim::report::SUPPLY_PLOT;
        let png = std::fs::read(dir.path().join(file)).unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 1000, "{file}");
        if scenario.economy {
            assert!(i.judged && i.mints >= 1 && i.tranches >= i.mints, "{i:?}");
            assert!(i.failure_from.is_some() && i.open_in_failure == 0, "{i:?}");
            assert!(i.reopened_at.is_some(), "{i:?}");
        }
    }
    // A scenario with appeals goes through the live DAO: every lapsed node
    // seen lapsed, every appeal upheld and applied at one cycle everywhere.
    if scenario.phases.iter().any(|p| p.appeal) {
        let a = report
            .measured
            .appeals
            .as_ref()
            .expect("a run with appeals reports them");
        assert!(a.lapsed >= 1 && a.lapsed_seen == a.lapsed, "{a:?}");
        assert!(a.appealed == a.lapsed && a.reinstated == a.appealed, "{a:?}");
        assert!(a.standings_equal, "{a:?}");
    } else {
        assert!(report.measured.appeals.is_none());
    }
    // A paced phase measures every transfer against the topology's lower
    // bound, which no delivery can beat: the median ratio is at least 1.
    let paced = scenario.phases.iter().filter(|p| p.rate > 0.0).count();
    assert_eq!(report.paced.len(), paced);
    for p in &report.paced {
        assert!(p.delivered > 0 && p.delivered + p.late <= p.transfers, "{p:?}");
        assert!(p.bound_p50_ms > 0.0 && p.hop_ms > 0.0, "{p:?}");
        assert!(p.ratio_p50 >= 1.0, "a delivery beat the lower bound: {p:?}");
        assert!(p.latency_p99_ms >= p.latency_p50_ms, "{p:?}");
    }
    // What is deterministic from the seed is written apart, and says so.
    let reproducible: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("reproducible.json")).unwrap()).unwrap();
    assert_eq!(reproducible, report.reproducible());
    assert_eq!(reproducible["verdict"], "PASS");
    assert_eq!(
        reproducible["schedule"].as_array().unwrap().len(),
        scenario.phases.len()
    );
    let summary = std::fs::read_to_string(dir.path().join("summary.md")).unwrap();
    assert!(summary.contains("Deterministic from the seed"), "{summary}");
    for (file, _) in ippoc_sim::report::PLOTS {
        let png = std::fs::read(dir.path().join(file)).unwrap();
        assert!(
            png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 1000,
            "{file} is not a drawn PNG"
        );
        assert!(summary.contains(file), "the summary does not show {file}");
    }
}

/// `promtool check metrics` on an exposition.
pub fn promtool_check(exposition: &str) {
    use std::io::Write;
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool is needed (Debian: apt install prometheus; .ci/run installs it)");
    child.stdin.take().unwrap().write_all(exposition.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
