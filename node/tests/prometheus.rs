//! The metrics as an operator's Prometheus sees them: a real daemon scraped
//! by a real `prometheus` server (Debian's package; .ci/run installs it),
//! checked through Prometheus's HTTP query API. Also: `promtool check
//! metrics` on the exposition, `promtool check rules` and `promtool test
//! rules` on packaging/prometheus, every query of the Grafana dashboard
//! accepted by the server, and every alert rule evaluated without error.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Env, code, stderr};

const ECHO: &str = include_str!("../../examples/skills/echo.wat");

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn tool(name: &str) -> PathBuf {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .unwrap();
    assert!(
        found.status.success(),
        "`{name}` is not installed: this test needs a real Prometheus (Debian: apt install prometheus; .ci/run installs it)"
    );
    PathBuf::from(String::from_utf8(found.stdout).unwrap().trim())
}

/// A Prometheus server on a free loopback port, stopped (and its data
/// removed) when dropped.
struct Prometheus {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    fn start(target: &str) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let rules = repo()
            .join("packaging/prometheus/ippoc.rules.yml")
            .canonicalize()
            .unwrap();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\nscrape_configs:\n  - job_name: ippoc\n    static_configs:\n      - targets: [\"{target}\"]\n",
            rules.display()
        );
        std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = Command::new(tool("prometheus"))
            .arg(format!("--config.file={}", dir.path().join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("tsdb").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        Prometheus {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// `GET path` of the HTTP API; `None` while the server is not up yet.
    fn api(&self, path: &str, query: &[(&str, &str)]) -> Option<serde_json::Value> {
        let url = reqwest::Url::parse_with_params(&format!("{}{path}", self.url), query).unwrap();
        serde_json::from_str(&get(url.as_str())?).ok()
    }

    /// An instant query's samples (metric labels, value).
    fn query(&self, promql: &str) -> Vec<(serde_json::Value, f64)> {
        let Some(v) = self.api("/api/v1/query", &[("query", promql)]) else {
            return Vec::new();
        };
        assert_eq!(v["status"], "success", "{promql}: {v}");
        v["data"]["result"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|s| (s["metric"].clone(), s["value"][1].as_str().unwrap().parse().unwrap()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Polls `promql` until a sample satisfies `ok` (a scrape a second;
    /// bounded by a generous deadline reached only on a real failure).
    /// Polling is the only way to wait here: Prometheus is another process
    /// and its HTTP API tells nobody when a scrape or a rule evaluation lands.
    fn wait_for(&self, promql: &str, ok: impl Fn(f64) -> bool) -> f64 {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Some(v) = self.query(promql).iter().map(|(_, v)| *v).find(|v| ok(*v)) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "{promql} never reached the expected value: {:?}\nprometheus log:\n{}",
                self.query(promql),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

fn promtool(args: &[&str], stdin: Option<&str>) -> (bool, String) {
    let mut child = Command::new(tool("promtool"))
        .args(args)
        .current_dir(repo().join("packaging/prometheus"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The body of `GET url`; `None` if the server does not answer.
fn get(url: &str) -> Option<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        client.get(url).send().await.ok()?.text().await.ok()
    })
}

fn scrape(addr: &str) -> String {
    get(&format!("http://{addr}/metrics")).expect("the metrics listener answers")
}

#[test]
fn the_alert_rules_pass_their_unit_tests_and_promtool_checks() {
    let (ok, out) = promtool(&["check", "rules", "ippoc.rules.yml"], None);
    assert!(ok, "{out}");
    let (ok, out) = promtool(&["test", "rules", "ippoc.rules.test.yml"], None);
    assert!(ok, "{out}");
    let (ok, out) = promtool(&["check", "config", "prometheus.yml"], None);
    assert!(ok, "{out}");
}

#[test]
fn a_real_prometheus_scrapes_the_node_and_sees_a_transfer_and_a_sandbox_run() {
    let env = Env::new();
    assert_eq!(code(&env.run(&["init"])), 0);
    let _daemon = env.start_daemon();
    let addr = std::fs::read_to_string(env.node_dir().join("data/metrics.endpoint"))
        .unwrap()
        .trim()
        .to_string();

    // The exposition passes promtool's lint (names, units, help, types).
    let exposition = scrape(&addr);
    let (ok, out) = promtool(&["check", "metrics"], Some(&exposition));
    assert!(ok, "promtool check metrics: {out}\n{exposition}");

    let prometheus = Prometheus::start(&addr);
    prometheus.wait_for(r#"up{job="ippoc"}"#, |v| v == 1.0);
    for series in [
        "ippoc_build_info",
        "ippoc_ledger_own_entries_total",
        r#"ippoc_ledger_balance{account="wallet", currency="IPPC"}"#,
        "ippoc_ledger_pending_entries",
        "ippoc_mesh_peers",
        r#"ippoc_mesh_bans{reason="forged"}"#,
        r#"ippoc_sync_rounds_total{outcome="ok"}"#,
        "ippoc_sandbox_fuel_total",
        "ippoc_governance_parameters_version",
        "ippoc_checkpoint_epoch",
        "ippoc_storage_free_bytes",
        "process_resident_memory_bytes",
        "process_open_fds",
        "libp2p_identify_errors_total",
    ] {
        assert!(!prometheus.query(series).is_empty(), "{series} is not in Prometheus");
    }
    let funds = prometheus.query(r#"ippoc_ledger_balance{account="wallet", currency="IPPC"}"#)[0].1;
    assert_eq!(prometheus.query("ippoc_ledger_own_entries_total")[0].1, 0.0);

    // A transfer and a paid sandbox run move the series.
    let other = hex::encode(
        ed25519_dalek::SigningKey::from_bytes(&[2; 32])
            .verifying_key()
            .to_bytes(),
    );
    let paid = env.run(&["transfer", &other, "25"]);
    assert_eq!(code(&paid), 0, "{}", stderr(&paid));
    let echo = env.dir.path().join("echo.wat");
    std::fs::write(&echo, ECHO).unwrap();
    let ran = env.run(&["sandbox", "run", echo.to_str().unwrap(), "--input", "/dev/null"]);
    assert_eq!(code(&ran), 0, "{}", stderr(&ran));
    prometheus.wait_for("ippoc_ledger_own_entries_total", |v| v == 2.0);
    prometheus.wait_for(r#"ippoc_sandbox_runs_total{outcome="ok"}"#, |v| v == 1.0);
    prometheus.wait_for("ippoc_sandbox_run_duration_seconds_count", |v| v == 1.0);
    prometheus.wait_for("ippoc_ledger_head_seq", |v| v == 1.0);
    prometheus.wait_for(r#"ippoc_ledger_balance{account="wallet", currency="IPPC"}"#, |v| {
        v < funds - 25.0
    });

    // Every query of the dashboard is one the server accepts.
    let dashboard: serde_json::Value =
        serde_json::from_slice(&std::fs::read(repo().join("packaging/grafana/ippoc.json")).unwrap()).unwrap();
    let mut queries = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"]
                .as_str()
                .unwrap()
                .replace("$job", ".*")
                .replace("$instance", ".*");
            let v = prometheus.api("/api/v1/query", &[("query", &expr)]).unwrap();
            assert_eq!(v["status"], "success", "{}: {expr}: {v}", panel["title"]);
            queries += 1;
        }
    }
    assert!(queries > 30, "{queries} dashboard queries");
    // The wallet panel shows this node.
    let wallet =
        prometheus.query(r#"ippoc_ledger_balance{job=~".*", instance=~".*", account="wallet", currency="IPPC"}"#);
    assert_eq!(wallet.len(), 1);

    // The server loaded every alert rule and evaluated each without error;
    // a healthy solo node fires none of them.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let rules = prometheus.api("/api/v1/rules", &[]).unwrap();
        let all: Vec<&serde_json::Value> = rules["data"]["groups"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|g| g["rules"].as_array().unwrap())
            .collect();
        assert_eq!(all.len(), 13, "{rules}");
        if all.iter().all(|r| r["health"] == "ok") {
            let firing: Vec<_> = all.iter().filter(|r| r["state"] != "inactive").collect();
            assert!(firing.is_empty(), "alerts on a healthy node: {firing:?}");
            break;
        }
        assert!(Instant::now() < deadline, "rules not evaluated cleanly: {rules}");
        std::thread::sleep(Duration::from_millis(250));
    }
}
