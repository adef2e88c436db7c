//! A hostile peer for measurements: joins a node's mesh over TCP and
//! publishes, as fast as the mesh takes them for `seconds`, validly signed,
//! well-formed transfers, then says how many it sent. The issue of open
//! networks (docs/benchmarks.md, "Flood") measures a daemon with it.
//!
//! - Outsider: keys outside the swarm, each entry the first of its chain.
//! - Member (`--member <seed>`): one founder's chain, entry after entry, each
//!   paying 1 base unit and its 1 base unit fee (the cheapest valid entry),
//!   sent from the member's own libp2p identity.
//!
//! `cargo run -p ippoc-node --example flood -- <node multiaddr> <genesis.json> <seconds> [--member <seed hex>]`
//! `cargo run -p ippoc-node --example flood -- --id <seed hex>` prints the member's NodeID.

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
    let seed_of = |hex_seed: &str| -> SigningKey {
        let bytes: [u8; 32] = hex::decode(hex_seed)
            .ok()
            .and_then(|b| b.try_into().ok())
            .expect("a seed of 32 bytes in hex");
        SigningKey::from_bytes(&bytes)
    };
    if let [flag, seed] = args.as_slice()
        && flag == "--id"
    {
        println!("{}", NodeId::from_bytes(seed_of(seed).verifying_key().to_bytes()));
        return;
    }
    let (node, genesis, seconds, member) = match args.as_slice() {
        [node, genesis, seconds] => (node, genesis, seconds, None),
        [node, genesis, seconds, flag, seed] if flag == "--member" => (node, genesis, seconds, Some(seed_of(seed))),
        _ => {
            eprintln!(
                "usage: flood <node multiaddr> <genesis.json> <seconds> [--member <seed hex>] | flood --id <seed hex>"
            );
            std::process::exit(2);
        }
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
    let libp2p_key = match &member {
        Some(key) => Keypair::ed25519_from_bytes(key.to_bytes()).expect("an ed25519 key"),
        None => Keypair::generate_ed25519(),
    };
    let mut mesh = Mesh::start(libp2p_key, config, accept, Arc::new(ippoc_mesh::NoSync)).unwrap();
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
    let me = member
        .as_ref()
        .map(|k| NodeId::from_bytes(k.verifying_key().to_bytes()));
    let payee = genesis
        .founders()
        .into_iter()
        .find(|f| Some(*f) != me)
        .expect("a founder to pay");
    let started = Instant::now();
    let (mut sent, mut refused) = (0u64, 0u64);
    let mut i: u64 = 0;
    let mut prev = TxId::ZERO;
    while started.elapsed() < Duration::from_secs(seconds) {
        i += 1;
        let (key, seq, amount, fee) = match &member {
            Some(key) => (key.clone(), i - 1, 1, 1),
            None => {
                let mut seed = [0u8; 32];
                seed[..8].copy_from_slice(&i.to_be_bytes());
                seed[8..16].copy_from_slice(&(std::process::id() as u64).to_be_bytes());
                (SigningKey::from_bytes(&seed), 0, 1_000_000, 1_000)
            }
        };
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
            seq,
            prev: if seq == 0 { TxId::ZERO } else { prev },
            timestamp_ms: i,
            params: 0,
            action: Action::Transfer,
            transfers: vec![
                leg(AccountId::Wallet(payee), amount),
                leg(AccountId::PublicGoodsPool, fee),
            ],
            deps: vec![],
            outcome: Outcome::Success,
            proof: None,
            memo: vec![],
        }
        .sign(&key);
        prev = entry.tx_id();
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
