//! Interop with another libp2p implementation: a js-libp2p peer (libp2p
//! 2.10, @chainsafe/libp2p-gossipsub 14.1, Noise, Yamux; interop/js, pinned
//! by its package-lock.json and installed by this test from npm when
//! missing) against a live `ippoc daemon` over TCP on 127.0.0.1. It connects,
//! identifies the daemon as `ippoc/<version>`, receives the daemon's gossip
//! byte for byte, is noted once as a peer without the sync protocol, and is
//! banned and cut off for a forged entry.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Instant;

use common::{WAIT, founders, json, mesh_address};
use ippoc_economy::SignedEntry;

/// interop/js, with its packages installed (`npm ci` on first use).
fn js_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../interop/js");
    if !dir.join("node_modules/libp2p").exists() {
        let out = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir)
            .output()
            .expect("npm runs (Node 20 or later is needed for the interop test)");
        assert!(
            out.status.success(),
            "npm ci in interop/js failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    dir
}

/// The js peer: its JSON events as they come, and its command line.
struct JsPeer {
    child: Child,
    stdin: ChildStdin,
    events: mpsc::Receiver<serde_json::Value>,
    seen: Vec<serde_json::Value>,
}

impl JsPeer {
    fn start(node: &str, swarm: &str) -> JsPeer {
        let dir = js_dir();
        let mut child = Command::new("node")
            .arg(dir.join("peer.mjs"))
            .args([node, swarm])
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node runs");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, events) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str(&line)
                    && tx.send(v).is_err()
                {
                    break;
                }
            }
        });
        JsPeer {
            child,
            stdin,
            events,
            seen: Vec::new(),
        }
    }

    /// The first event (already seen or still to come) that `pred` accepts.
    fn until(&mut self, what: &str, pred: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        if let Some(v) = self.seen.iter().find(|v| pred(v)) {
            return v.clone();
        }
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline
                .checked_duration_since(Instant::now())
                .unwrap_or_else(|| panic!("the js peer never reported {what}; it said:\n{:#?}", self.seen));
            match self.events.recv_timeout(left) {
                Ok(v) => {
                    self.seen.push(v.clone());
                    if pred(&v) {
                        return v;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    panic!("the js peer exited before {what}; it said:\n{:#?}", self.seen)
                }
            }
        }
    }

    fn command(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
    }
}

impl Drop for JsPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn event(name: &'static str) -> impl Fn(&serde_json::Value) -> bool {
    move |v| v["event"] == name
}

#[test]
fn a_js_libp2p_peer_connects_receives_the_gossip_and_is_banned_for_a_forged_entry() {
    let mut f = founders(2);
    let (b, id_b) = f.pop().unwrap();
    let (a, _) = f.pop().unwrap();
    drop(b);
    let daemon = a.start_daemon();
    let address = mesh_address(&daemon);
    let status = json(&a.run(&["--json", "status"]));
    let swarm = status["ledger"]["swarm_id"].as_str().unwrap().to_string();
    let daemon_peer = status["mesh"]["peer_id"].as_str().unwrap().to_string();

    let mut js = JsPeer::start(&address, &swarm);
    let js_peer = js.until("its start", event("started"))["peer"]
        .as_str()
        .unwrap()
        .to_string();
    js.until("the connection", event("connected"));
    let identified = js.until("the daemon's identify", event("identified"));
    assert_eq!(identified["peer"], daemon_peer.as_str());
    assert_eq!(
        identified["agent"],
        format!("ippoc/{}", env!("CARGO_PKG_VERSION")).as_str()
    );
    let entries_topic = format!("/ippoc/{swarm}/entries/1");
    js.until("the daemon's subscription to entries", |v| {
        v["event"] == "subscription" && v["topic"] == entries_topic.as_str() && v["subscribe"] == true
    });
    // The daemon tries to sync with every new peer; this one has no sync
    // protocol, which is said once and not asked again.
    daemon.wait_for_line("the js peer noted as gossip-only", |l| {
        l.contains("sync_unsupported") && l.contains(&js_peer)
    });

    // An entry made on the daemon reaches the js peer as the daemon signed it.
    let paid = json(&a.run(&["--json", "transfer", &id_b, "3"]));
    let tx = paid["tx_id"].as_str().unwrap().to_string();
    let message = js.until("the transfer's gossip", |v| {
        v["event"] == "message"
            && v["topic"] == entries_topic.as_str()
            && SignedEntry::from_bytes(&hex::decode(v["data"].as_str().unwrap()).unwrap())
                .is_ok_and(|e| e.tx_id().to_string() == tx)
    });
    let entry = SignedEntry::from_bytes(&hex::decode(message["data"].as_str().unwrap()).unwrap()).unwrap();
    entry.clone().verify().expect("the daemon's own signature");

    // The same entry with another memo and the old signature: forged.
    let mut forged = entry;
    forged.body.memo = b"not what was signed".to_vec();
    js.command(&format!("publish entries {}", hex::encode(forged.to_bytes())));
    let published = js.until("its publish", |v| {
        v["event"] == "published" || v["event"] == "publish_failed"
    });
    assert_eq!(published["event"], "published", "{published}");
    let banned = daemon.wait_for_line("the js peer banned", |l| {
        l.contains("peer_banned") && l.contains(&js_peer)
    });
    assert!(banned.contains("forged"), "{banned}");
    js.until("being cut off", event("disconnected"));
    let banned_list = json(&a.run(&["--json", "peers"]));
    assert!(
        banned_list.to_string().contains(&js_peer),
        "the ban is listed: {banned_list}"
    );
    assert_eq!(
        daemon
            .all_lines()
            .iter()
            .filter(|l| l.contains("sync_unsupported"))
            .count(),
        1,
        "one warning for the peer without sync"
    );
    js.command("quit");
    daemon.stop();
}
