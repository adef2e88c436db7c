//! What the signing guard costs an own append: sequential durable appends
//! through `OwnChain` (ledger + guard, each fsynced) against the same appends
//! straight into a ledger (the baseline), in the same run on the same disk.
//! Run: `cargo bench -p ippoc-swarm --bench append` (`cargo test` runs a
//! small smoke version).

use std::sync::Arc;
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use ippoc_economy::genesis::Genesis;
use ippoc_economy::store::{Draft, Intent, Ledger, LedgerOptions};
use ippoc_economy::{Amount, Currency, NodeId};
use ippoc_swarm::OwnChain;
use ippoc_swarm::guard::SigningGuard;

fn id(k: &SigningKey) -> NodeId {
    NodeId::from_bytes(k.verifying_key().to_bytes())
}

fn pay(to: NodeId) -> Draft {
    Draft::new(
        Intent::Transfer {
            to,
            currency: Currency::Ippc,
            amount: Amount::from_base(1),
        },
        1,
    )
}

fn main() {
    let n: usize = if std::env::args().any(|a| a == "--bench") {
        2_000
    } else {
        50
    };
    let (a, b) = (SigningKey::from_bytes(&[1; 32]), SigningKey::from_bytes(&[2; 32]));
    let genesis = Genesis::new(
        "append",
        1,
        &[id(&a), id(&b)],
        Amount::from_base(1_000_000_000_000),
        Amount::from_base(1),
    );
    let dir = tempfile::tempdir().unwrap();
    let open = |name: &str| {
        Arc::new(
            Ledger::open(
                &dir.path().join(name),
                genesis.clone(),
                id(&a),
                LedgerOptions::default(),
            )
            .unwrap(),
        )
    };
    let time = |f: &mut dyn FnMut()| {
        let t = Instant::now();
        for _ in 0..n {
            f();
        }
        t.elapsed()
    };
    let plain = open("plain");
    let base = time(&mut || {
        plain.append(&a, pay(id(&b))).unwrap();
    });
    let guarded = open("guarded");
    let guard = SigningGuard::open(&dir.path().join("signing.guard"), &guarded, true, true).unwrap();
    let chain = OwnChain::detached(guarded.clone(), a.clone(), Arc::new(guard));
    let with_guard = time(&mut || {
        chain.append(pay(id(&b))).unwrap();
    });
    let per = |d: Duration| d / n as u32;
    println!(
        "{n} durable appends: ledger alone {:.3?} each; with the signing guard {:.3?} each; ratio {:.2}",
        per(base),
        per(with_guard),
        with_guard.as_secs_f64() / base.as_secs_f64()
    );
    assert_eq!(guarded.head(&id(&a)).unwrap().map(|(s, _)| s), Some(n as u64 - 1));
}
