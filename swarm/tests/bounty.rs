//! The bounty board over gossip, with real in-process nodes: a node in Worker
//! Mode finds a bounty, runs it in its sandbox, and is paid by the poster, who
//! checked the result by running the skill itself; a wrong result is not paid.

mod common;

use common::{IPPC, id, until};

use std::sync::Arc;

use ed25519_dalek::SigningKey;
use ippoc_economy::attestation::ATTESTATION_VERSION;
use ippoc_economy::genesis::Genesis;
use ippoc_economy::store::Mode;
use ippoc_economy::{AccountId, Action, Amount, AttestationBody, Claim, Currency, NodeId};
use ippoc_mesh::Topic;
use ippoc_sandbox::{ModuleCache, Sandbox, SandboxConfig};
use ippoc_swarm::bounty::Task;
use ippoc_swarm::local::{LocalConfig, LocalNode};

fn wallet(n: &LocalNode, of: NodeId) -> i128 {
    n.ledger.balance(&AccountId::Wallet(of), Currency::Ippc).unwrap().0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_in_worker_mode_earns_its_way_back_through_the_bounty_board() {
    let dir = tempfile::tempdir().unwrap();
    let keys: Vec<SigningKey> = (1..=3u8).map(|i| SigningKey::from_bytes(&[i; 32])).collect();
    let founders: Vec<NodeId> = keys.iter().map(id).collect();
    let genesis = Genesis::new(
        "bounty-test",
        1,
        &founders,
        Amount::from_base(1000 * IPPC),
        Amount::from_base(IPPC),
    );
    // One sandbox serves every node of the process.
    let sandbox = Arc::new(Sandbox::new(SandboxConfig::default(), ModuleCache::new(None, [7; 32])).unwrap());
    let mut nodes: Vec<LocalNode> = Vec::new();
    for (i, key) in keys.into_iter().enumerate() {
        let boot = nodes.first().map(|n| vec![n.addr.clone()]).unwrap_or_default();
        let mut config = LocalConfig::new(&dir.path().join(i.to_string()), genesis.clone(), key, boot);
        config.sandbox = Some(sandbox.clone());
        nodes.push(LocalNode::start(config).await.unwrap());
    }
    let (poster, worker, liar) = (&nodes[0], &nodes[1], &nodes[2]);
    let all: Vec<&LocalNode> = nodes.iter().collect();
    until(&all, "a full mesh", || {
        all.iter().all(|n| n.view.get().heard.len() == 2)
    })
    .await;

    // The worker goes bankrupt: it pays away nearly everything and enters Worker Mode.
    worker.transfer(liar.id, Amount::from_base(950 * IPPC)).unwrap();
    assert_eq!(worker.ledger.mode().unwrap(), Mode::Worker);

    let module = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/skills/echo.wat")).unwrap();
    let task = Task {
        module,
        input: b"hello, bounty".to_vec(),
    };
    let escrow = poster
        .post_bounty(task, Amount::from_base(600 * IPPC), u64::MAX)
        .unwrap();
    // A solvent node that does not work for bounties lies about a result: it is not paid.
    let lie = AttestationBody {
        version: ATTESTATION_VERSION,
        swarm_id: liar.ledger.swarm_id(),
        issuer: liar.id,
        issued_ms: 1,
        claim: Claim::BountyResult {
            escrow,
            output_hash: [0xee; 32],
        },
    }
    .sign(&liar.key);
    liar.client().publish(Topic::Bounties, lie.to_bytes()).await.unwrap();

    let w = worker.id;
    until(&all, "the worker paid, on every node", || {
        all.iter().all(|n| wallet(n, w) > 600 * IPPC as i128)
    })
    .await;
    // Paid exactly once, to the worker, out of the escrow.
    let payouts: Vec<_> = poster
        .ledger
        .range(&poster.id, 0, u64::MAX)
        .map(|r| r.unwrap().0)
        .filter(|e| matches!(e.body.action, Action::BountyPayout { .. }))
        .collect();
    assert_eq!(payouts.len(), 1);
    assert!(matches!(payouts[0].body.action, Action::BountyPayout { worker: paid, .. } if paid == w));
    assert_eq!(
        poster
            .ledger
            .balance(&AccountId::Escrow(escrow), Currency::Ippc)
            .unwrap()
            .0,
        0
    );
    assert_eq!(poster.view.get().stats.bounties_paid, 1);
    assert_eq!(worker.view.get().stats.bounties_worked, 1);
    // Back above the solvency threshold: out of Worker Mode, as every node sees it.
    assert_eq!(worker.ledger.mode().unwrap(), Mode::Normal);
    // The worker paid for its compute as bounty work (a SandboxExec entry), the liar nothing.
    let worker_runs = worker
        .ledger
        .range(&w, 0, u64::MAX)
        .filter(|r| matches!(r.as_ref().unwrap().0.body.action, Action::SandboxExec { .. }))
        .count();
    assert_eq!(worker_runs, 1);
    assert_eq!(wallet(poster, liar.id), (1000 + 950) as i128 * IPPC as i128);
    for n in nodes {
        n.stop().await;
    }
}
