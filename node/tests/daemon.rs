//! The daemon as systemd and an operator drive it: readiness, status, tokens,
//! the lock, the watchdog, and a clean stop.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;

use common::{Env, WAIT, code, stderr, stdout};

fn http_status(addr: &str, token: Option<&str>) -> u16 {
    let mut stream = TcpStream::connect(addr).unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET /v1/status HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn daemon_answers_status_rejects_bad_tokens_and_stops_cleanly_on_sigterm() {
    let env = Env::new();
    let mut daemon = env.start_daemon();

    let out = env.run(&["--json", "status"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["pid"], daemon.pid());
    let id = stdout(&env.run(&["id"])).trim().to_string();
    assert_eq!(status["node_id"], id.as_str());
    let text = env.run(&["status"]);
    assert!(stdout(&text).contains("running"), "{}", stdout(&text));
    // Without [governance] the node prices under the genesis table and anchors nothing.
    let gov = &status["governance"];
    assert_eq!(gov["following"], false);
    assert_eq!(gov["parameters_version"], 0);
    assert_eq!(gov["newest_anchored_epoch"], serde_json::Value::Null);
    assert!(gov["parameters"]["transfer_fee_bps"].is_u64(), "{gov}");
    assert!(stdout(&text).contains("not followed"), "{}", stdout(&text));

    let node = env.node_dir();
    let addr = std::fs::read_to_string(node.join("data/api.endpoint"))
        .unwrap()
        .trim()
        .to_string();
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    let token = std::fs::read_to_string(node.join("data/api.token"))
        .unwrap()
        .trim()
        .to_string();
    assert_eq!(http_status(&addr, Some(&token)), 200);
    assert_eq!(http_status(&addr, None), 401);
    assert_eq!(http_status(&addr, Some("0".repeat(64).as_str())), 401);

    // The CLI with a token the daemon does not know gets its own exit code.
    std::fs::write(node.join("data/api.token"), format!("{}\n", "1".repeat(64))).unwrap();
    let out = env.run(&["status"]);
    assert_eq!(code(&out), 5, "{}", stderr(&out));
    assert!(stderr(&out).contains("401"), "{}", stderr(&out));

    daemon.signal("TERM");
    assert!(daemon.notify.wait_for("STOPPING=1", WAIT).is_some(), "STOPPING=1 sent");
    let (exit, err) = daemon.wait();
    assert_eq!(exit.code(), Some(0), "{err}");
    assert!(!node.join("data/api.endpoint").exists(), "endpoint withdrawn on stop");
    let out = env.run(&["status"]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
}

#[test]
fn sigint_also_stops_cleanly() {
    let env = Env::new();
    let mut daemon = env.start_daemon();
    daemon.signal("INT");
    let (exit, err) = daemon.wait();
    assert_eq!(exit.code(), Some(0), "{err}");
}

#[test]
fn second_daemon_on_the_same_data_dir_refuses_to_start() {
    let env = Env::new();
    let first = env.start_daemon();
    let out = env.run(&["daemon"]);
    assert_eq!(code(&out), 11, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("boot step 2/11 (lock) failed"), "{err}");
    assert!(err.contains(&format!("pid {}", first.pid())), "names the holder: {err}");
    // The running daemon is unaffected.
    assert_eq!(code(&env.run(&["status"])), 0);
    first.stop();
}

#[test]
fn watchdog_is_pinged_when_systemd_asks_for_it() {
    let env = Env::new();
    let daemon = env.start_daemon_with(&[("WATCHDOG_USEC", "200000")]);
    assert!(daemon.notify.wait_for("WATCHDOG=1", WAIT).is_some());
    assert!(daemon.notify.wait_for("WATCHDOG=1", WAIT).is_some(), "pings repeat");
    daemon.stop();
}

#[test]
fn after_kill_9_the_stale_endpoint_is_reported_and_the_node_restarts() {
    let env = Env::new();
    let mut daemon = env.start_daemon();
    daemon.signal("KILL");
    let (exit, _) = daemon.wait();
    assert_eq!(exit.code(), None, "killed by the signal");
    let out = env.run(&["status"]);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(stderr(&out).contains("stale"), "{}", stderr(&out));
    // The kernel released the lock; the node boots again with the same identity.
    let id = stdout(&env.run(&["id"]));
    let again = env.start_daemon();
    assert_eq!(code(&env.run(&["status"])), 0);
    assert_eq!(stdout(&env.run(&["id"])), id);
    again.stop();
}
