//! A hostile peer for measurements: joins a node's mesh over TCP with a key
//! of its own and publishes, as fast as the mesh takes them for `seconds`,
//! validly signed, well-formed transfers of keys outside the swarm (each the
//! first entry of its chain), then says how many it sent. The issue of open
//! networks (docs/benchmarks.md, "Flood") measures a daemon with it.
//!
//! `cargo run -p ippoc-node --example flood -- <node multiaddr> <genesis.json> <seconds>`

use std::sync::Arc;
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use ippoc_economy::entry::{ENTRY_VERSION, EntryBody, Outcome};
use ippoc_economy::genesis::Genesis;
use ippoc_economy::{AccountId, Action, Amount, Currency, NodeId, Transfer, TxId};
use ippoc_mesh::{Keypair, Mesh, MeshConfig, MeshEvent, Multiaddr, Topic, Transport, Verdict};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [node, genesis, seconds] = args.as_slice() else {
        eprintln!("usage: flood <node multiaddr> <genesis.json> <seconds>");
        std::process::exit(2);
    };
    let node: Multiaddr = node.parse().expect("a multiaddr");
    let genesis = Genesis::from_json(&std::fs::read_to_string(genesis).expect("genesis readable")).expect("a genesis");
    let seconds: u64 = seconds.parse().expect("seconds");
    let swarm = genesis.swarm_id();
    let mut config = MeshConfig::new(swarm.0, Transport::Tcp);
    config.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
    config.bootstrap = vec![node];
    config.kademlia = false;
    let accept: Arc<dyn ippoc_mesh::Validator> = Arc::new(|_: Topic, _: &[u8], _: &ippoc_mesh::PeerId| Verdict::Ignore);
    let mut mesh = Mesh::start(
        Keypair::generate_ed25519(),
        config,
        accept,
        Arc::new(ippoc_mesh::NoSync),
    )
    .unwrap();
    // Wait until the node subscribed to the entries topic, so publishing reaches it.
    loop {
        match mesh.events.recv().await {
            Some(MeshEvent::Subscribed {
                topic: Topic::Entries, ..
            }) => break,
            Some(_) => {}
            None => panic!("mesh stopped"),
        }
    }
    let payee = genesis.founders().into_iter().next().expect("a founder");
    let started = Instant::now();
    let (mut sent, mut refused) = (0u64, 0u64);
    let mut i: u64 = 0;
    while started.elapsed() < Duration::from_secs(seconds) {
        i += 1;
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&i.to_be_bytes());
        seed[8..16].copy_from_slice(&(std::process::id() as u64).to_be_bytes());
        let key = SigningKey::from_bytes(&seed);
        let actor = NodeId::from_bytes(key.verifying_key().to_bytes());
        let leg = |to, amount| Transfer {
            from: AccountId::Wallet(actor),
            to,
            currency: Currency::Ippc,
            amount: Amount::from_base(amount),
        };
        let entry = EntryBody {
            version: ENTRY_VERSION,
            swarm_id: swarm,
            actor,
            seq: 0,
            prev: TxId::ZERO,
            timestamp_ms: i,
            params: 0,
            action: Action::Transfer,
            transfers: vec![
                leg(AccountId::Wallet(payee), 1_000_000),
                leg(AccountId::PublicGoodsPool, 1_000),
            ],
            deps: vec![],
            outcome: Outcome::Success,
            proof: None,
            memo: vec![],
        }
        .sign(&key);
        match mesh.publish(Topic::Entries, entry.to_bytes()).await {
            Ok(()) => sent += 1,
            Err(_) => {
                refused += 1;
                // No peer left to publish to (banned): keep the rate honest.
                tokio::task::yield_now().await;
            }
        }
        while let Ok(e) = mesh.events.try_recv() {
            if let MeshEvent::Disconnected(peer) = e {
                println!(
                    "disconnected by {peer} after {sent} sent, {:.1} s",
                    started.elapsed().as_secs_f64()
                );
            }
        }
    }
    println!(
        "sent {sent} entries in {:.1} s ({refused} publishes refused: no peer)",
        started.elapsed().as_secs_f64()
    );
    mesh.stop().await;
}
