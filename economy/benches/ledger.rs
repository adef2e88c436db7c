//! Ledger benchmarks, each with its baseline in the same run:
//! - `ed25519`: raw signing and single verification of an entry-sized message
//!   (the baselines);
//! - `append`: durable appends (flushed) in batches of 1, 64 and 1024,
//!   compared with raw signing throughput;
//! - `verify_chain`: a 1024-entry chain verified one by one vs batched;
//! - `export_check`: a 10 000-entry export checked structurally
//!   (`verify_export`, the baseline) vs with the ledger's rules replayed into
//!   a scratch ledger (`check_export`, what `ippoc ledger verify --file` runs);
//! - `store_check`: a 10 000-entry store: its counted chains verified
//!   (`verify_chains`, the baseline), every record scrubbed (`scrub`, what
//!   the daemon runs at boot), the derived state replayed
//!   (`derived_state_matches`, part of `ippoc ledger verify`).
//!
//! Run: `cargo bench -p ippoc-economy --bench ledger`.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use ed25519_dalek::{Signer, SigningKey};
use ippoc_economy::amount::UNIT;
use ippoc_economy::genesis::Genesis;
use ippoc_economy::signature::{PublicKey, verify};
use ippoc_economy::store::{Draft, Intent, Ledger, LedgerOptions, check_export, verify_entries, verify_export};
use ippoc_economy::{Amount, Currency, NodeId, SignedEntry};

fn key(seed: u8) -> (SigningKey, NodeId) {
    let k = SigningKey::from_bytes(&[seed; 32]);
    let id = NodeId::from_bytes(k.verifying_key().to_bytes());
    (k, id)
}

fn genesis(a: NodeId, b: NodeId) -> Genesis {
    Genesis::new(
        "bench",
        1,
        &[a, b],
        Amount::from_base(1_000_000_000 * UNIT),
        Amount::from_base(UNIT),
    )
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

fn chain(n: usize) -> (Genesis, Vec<SignedEntry>) {
    let (ka, a) = key(1);
    let (_, b) = key(2);
    let g = genesis(a, b);
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path(), g.clone(), a, LedgerOptions::default()).unwrap();
    let entries = ledger
        .append_batch(&ka, (0..n).map(|_| pay(b)).collect())
        .unwrap()
        .into_iter()
        .map(|e| e.into_signed())
        .collect();
    (g, entries)
}

fn ed25519(c: &mut Criterion) {
    let (_, entries) = chain(1);
    let message = entries[0].body.signing_bytes();
    let (k, _) = key(1);
    let public = PublicKey::parse(&k.verifying_key().to_bytes()).unwrap();
    let signature = k.sign(&message).to_bytes();
    let mut g = c.benchmark_group("ed25519");
    g.throughput(Throughput::Elements(1));
    g.bench_function("sign", |b| b.iter(|| k.sign(&message)));
    g.bench_function("verify", |b| b.iter(|| verify(&public, &message, &signature).unwrap()));
    g.finish();
}

fn append(c: &mut Criterion) {
    let (ka, a) = key(1);
    let (_, b) = key(2);
    let mut g = c.benchmark_group("append");
    g.sample_size(10);
    for size in [1usize, 64, 1024] {
        g.throughput(Throughput::Elements(size as u64));
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(dir.path(), genesis(a, b), a, LedgerOptions::default()).unwrap();
        g.bench_function(format!("batch_{size}"), |bench| {
            bench.iter_batched(
                || (0..size).map(|_| pay(b)).collect::<Vec<_>>(),
                |drafts| ledger.append_batch(&ka, drafts).unwrap(),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

fn verify_chain(c: &mut Criterion) {
    let (g_, entries) = chain(1024);
    let swarm = g_.swarm_id();
    let mut g = c.benchmark_group("verify_chain");
    g.sample_size(10);
    g.throughput(Throughput::Elements(entries.len() as u64));
    g.bench_function("single", |b| {
        b.iter(|| {
            for e in &entries {
                e.clone().verify().unwrap();
            }
        })
    });
    g.bench_function("batch", |b| b.iter(|| verify_entries(swarm, &entries).unwrap()));
    g.finish();
}

/// A store in a temp dir holding one chain of 10 000 transfers, and its key.
fn store_of_10k() -> (tempfile::TempDir, Ledger, SigningKey) {
    let (ka, a) = key(1);
    let (_, b) = key(2);
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path(), genesis(a, b), a, LedgerOptions::default()).unwrap();
    for _ in 0..10 {
        ledger.append_batch(&ka, (0..1000).map(|_| pay(b)).collect()).unwrap();
    }
    (dir, ledger, ka)
}

fn export_check(c: &mut Criterion) {
    let (_dir, ledger, ka) = store_of_10k();
    let file = ledger.export(None, &ka).unwrap();
    let mut g = c.benchmark_group("export_check");
    g.sample_size(10);
    g.throughput(Throughput::Elements(10_000));
    g.bench_function("structural", |bench| bench.iter(|| verify_export(&file).unwrap()));
    g.bench_function("with_rules", |bench| {
        bench.iter(|| assert_eq!(check_export(&file, None).unwrap().applied, 10_000))
    });
    g.finish();
}

fn store_check(c: &mut Criterion) {
    let (_dir, ledger, _) = store_of_10k();
    let mut g = c.benchmark_group("store_check");
    g.sample_size(10);
    g.throughput(Throughput::Elements(10_000));
    g.bench_function("verify_chains", |bench| {
        bench.iter(|| ledger.verify_chains(None).unwrap().unwrap())
    });
    g.bench_function("scrub", |bench| {
        bench.iter(|| assert_eq!(ledger.scrub().unwrap().records, 10_000))
    });
    g.bench_function("derived_state", |bench| {
        bench.iter(|| assert_eq!(ledger.derived_state_matches().unwrap(), Some(true)))
    });
    g.finish();
}

criterion_group!(benches, ed25519, append, verify_chain, export_check, store_check);
criterion_main!(benches);
