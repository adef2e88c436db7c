//! Crash safety with a real process: an entry acknowledged to its caller
//! survives kill -9, whenever it lands.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;

use common::{Env, WAIT, code, stderr};
use ippoc_economy::store::{Ledger, LedgerOptions};
use ippoc_economy::{AccountId, NodeId, TxId};

/// Kill -9 rounds; each kills the daemon while a transfer is in flight.
const KILLS: usize = 50;

/// POSTs one transfer; the HTTP 200 answer is the acknowledgement.
fn transfer(addr: &str, token: &str, to: &NodeId) -> Option<TxId> {
    let body = format!(r#"{{"to":"{to}","amount":"0.001","currency":"IPPC"}}"#);
    let mut stream = TcpStream::connect(addr).ok()?;
    write!(
        stream,
        "POST /v1/transfer HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let (head, json) = answer.split_once("\r\n\r\n")?;
    if !head.starts_with("HTTP/1.1 200") {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    v["tx_id"].as_str()?.parse().ok()
}

#[test]
fn acknowledged_entries_survive_kill_9_at_random_moments() {
    let env = Env::new();
    assert_eq!(code(&env.run(&["init"])), 0);
    let to = NodeId::from_bytes(
        ed25519_dalek::SigningKey::from_bytes(&[42; 32])
            .verifying_key()
            .to_bytes(),
    );
    let node = env.node_dir();
    let token = std::fs::read_to_string(node.join("data/api.token"))
        .unwrap()
        .trim()
        .to_string();
    let mut acked: Vec<TxId> = Vec::new();
    let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..KILLS {
        let mut daemon = env.start_daemon();
        let addr = std::fs::read_to_string(node.join("data/api.endpoint"))
            .unwrap()
            .trim()
            .to_string();
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let kill_after = 1 + (rng % 6) as usize;
        let (tx, rx) = mpsc::channel();
        let client = {
            let (addr, token) = (addr.clone(), token.clone());
            std::thread::spawn(move || {
                while let Some(id) = transfer(&addr, &token, &to) {
                    if tx.send(id).is_err() {
                        break;
                    }
                }
            })
        };
        for _ in 0..kill_after {
            acked.push(rx.recv_timeout(WAIT).expect("the daemon stopped acknowledging"));
        }
        // The client is already sending the next transfer: kill mid-flight.
        daemon.signal("KILL");
        let (exit, _) = daemon.wait();
        assert_eq!(exit.code(), None, "killed by SIGKILL");
        client.join().unwrap();
        acked.extend(rx.try_iter());
    }

    let genesis = ippoc_node::ledger::read_genesis(&node.join("data/genesis.json")).unwrap();
    let owner: NodeId = node.file_name().unwrap().to_str().unwrap().parse().unwrap();
    let ledger = Ledger::open(&node.join("economy/ledger"), genesis, owner, LedgerOptions::default()).unwrap();
    for id in &acked {
        assert!(
            ledger.entry_by_tx(id).unwrap().is_some(),
            "acknowledged entry {id} was lost"
        );
    }
    let (head, _) = ledger.head(&owner).unwrap().unwrap();
    assert!(head + 1 >= acked.len() as u64);
    assert!(
        ledger.verify_chains(None).unwrap().is_ok(),
        "the chain verifies after {KILLS} kills"
    );
    let mut sum = 0i128;
    for (account, _, b) in ledger.balances().unwrap() {
        sum += b.0;
        assert!(account == AccountId::Mint || b.0 >= 0, "{account} negative");
    }
    assert_eq!(sum, 0, "the books balance");
    drop(ledger);
    let verified = env.run(&["ledger", "verify"]);
    assert_eq!(code(&verified), 0, "{}", stderr(&verified));
    eprintln!(
        "{} acknowledged transfers across {KILLS} kill -9, none lost",
        acked.len()
    );
}
