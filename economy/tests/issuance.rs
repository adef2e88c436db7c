//! Issuance read from real chains (docs/issuance.md): rewards accrue to the
//! reserve cycle by cycle, a reserve of 50.00 seals a tranche, and a mint of
//! it is applied only through every gate, once, and alike at a node that
//! received the entries in another order.

mod common;

use common::*;
use ippoc_economy::entry::{MintCertificate, Proof, SentinelSignature};
use ippoc_economy::genesis::Genesis;
use ippoc_economy::integrity::Band;
use ippoc_economy::issuance::{Issuance, seal_id, tranche_amount};
use ippoc_economy::rules::mint_message;
use ippoc_economy::standing::{LadderRules, NoDao};
use ippoc_economy::store::{IngestOutcome, Ledger};
use ippoc_economy::{AccountId, Action, Currency, SignedEntry, Transfer, TxId};

const EPOCH_MS: u64 = 1000;
/// The genesis's cycle (created at 10 epochs).
const FIRST: u64 = 10;
/// Honest voters with nobody vouching score GI 0.95: a GI multiplier of
/// 0.5 on 1.00 unit per agreeing vote, 0.50 a cycle, so the hundredth
/// cycle seals the first tranche.
const SEALING: u64 = FIRST + 99;

fn close_through(l: &Ledger, cycle: u64) {
    for _ in 0..16 {
        if l.standings_after(cycle, EPOCH_MS, &LadderRules::default(), &NoDao)
            .unwrap()
            .is_some()
        {
            return;
        }
    }
    panic!("cycle {cycle} did not close");
}

fn record(l: &Ledger, cycle: u64) -> Issuance {
    l.issuance_kept(cycle).unwrap().expect("kept")
}

/// A mint by `by` of its tranche `tranche`, citing `cycle`, dated `ts`,
/// signed by `signers`.
fn mint(g: &Genesis, l: &Ledger, by: &Node, cycle: u64, tranche: u64, ts: u64, signers: &[&Node]) -> SignedEntry {
    let transfers = vec![Transfer {
        from: AccountId::Mint,
        to: AccountId::Wallet(by.id),
        currency: Currency::Ippc,
        amount: tranche_amount(),
    }];
    let seal = seal_id(&g.swarm_id(), &by.id, tranche);
    let message = mint_message(&g.swarm_id(), &seal, &transfers);
    let signatures = signers
        .iter()
        .map(|s| SentinelSignature {
            sentinel: s.id,
            signature: ed25519_dalek::Signer::sign(&s.key, &message).to_bytes(),
        })
        .collect();
    let (seq, prev) = l.head(&by.id).unwrap().map_or((0, TxId::ZERO), |(s, tx)| (s + 1, tx));
    let mut body = signed(by, g, seq, prev, ts, Action::Mint { cycle, tranche }, transfers).body;
    body.proof = Some(Proof::Mint(MintCertificate {
        seal_id: seal,
        signatures,
    }));
    body.sign(&by.key)
}

fn one(l: &Ledger, e: SignedEntry) -> IngestOutcome {
    l.ingest(vec![e]).unwrap().remove(0)
}

fn bounced(l: &Ledger, e: SignedEntry, why: &str) {
    let out = one(l, e);
    assert!(
        matches!(&out, IngestOutcome::Bounced(r) if r.contains(why)),
        "{why}: {out:?}"
    );
}

#[test]
fn rewards_accrue_seal_a_tranche_and_its_mint_passes_only_through_every_gate_once_in_any_order() {
    let (n, mut g) = swarm(5);
    g.created_at_ms = FIRST * EPOCH_MS;
    let a = ledger(&g, &node(90));
    let all: Vec<&Node> = n.iter().collect();
    common::vote_through(&a.ledger, &all, &g, FIRST..SEALING + 6, EPOCH_MS);
    close_through(&a.ledger, FIRST + 4);

    // Reward accounting: every founder, every cycle, the documented figure.
    let first = record(&a.ledger, FIRST);
    assert_eq!(first.band(), Band::MintEligible);
    assert_eq!(first.swarm_gi, Some(950_000));
    assert_eq!((first.sustained, first.mint_open), (1, false));
    assert_eq!(first.accruals.len(), 5);
    for acc in &first.accruals {
        assert_eq!((acc.base.integrity, acc.multipliers.gi, acc.units), (100, 500_000, 50));
    }
    assert!(!record(&a.ledger, FIRST + 3).mint_open);
    assert!(
        record(&a.ledger, FIRST + 4).mint_open,
        "five sustained cycles open the mint"
    );
    close_through(&a.ledger, SEALING);
    assert!(
        a.ledger.issuance_kept(FIRST).unwrap().is_none(),
        "whole records are kept 64 cycles"
    );
    assert!(a.ledger.mint_gate(FIRST).unwrap().is_some(), "gates are kept for good");
    assert!(record(&a.ledger, SEALING - 1).tranches.is_empty());
    let sealing = record(&a.ledger, SEALING);
    assert_eq!(sealing.tranches.len(), 5, "each founder's 100th cycle seals 50.00");
    for (t, f) in sealing.tranches.iter().zip(&sealing.reserves) {
        assert_eq!(
            (t.owner, t.seq, t.seal),
            (f.node, 0, seal_id(&g.swarm_id(), &f.node, 0))
        );
        assert_eq!((f.accrued, f.sealed, f.unsealed()), (5_000, 1, 0));
    }

    // The mint window of the sealing cycle: from its close to two closes later.
    let at = (SEALING + 5) * EPOCH_MS + 100;
    let sentinels = [&n[1], &n[2], &n[3]];
    let outsider = node(91);
    let before = wallet(&a.ledger, &n[0]);
    let mut minted = Vec::new();
    let good = mint(&g, &a.ledger, &n[0], SEALING, 0, at, &sentinels);
    minted.push(good.clone());
    assert_eq!(one(&a.ledger, good), IngestOutcome::Applied);
    assert_eq!(wallet(&a.ledger, &n[0]) - before, i128::from(tranche_amount().base()));
    // Replay: the same seal again, even with a new certificate, moves nothing.
    let replay = mint(&g, &a.ledger, &n[0], SEALING, 0, at + 1, &[&n[2], &n[3], &n[4]]);
    minted.push(replay.clone());
    bounced(&a.ledger, replay, "already minted");
    // Each gate on its own, in n1's chain.
    let late = (SEALING + 7) * EPOCH_MS;
    let three = &sentinels[..];
    // (A closed cycle that does not open the mint is refused too: the unit
    // tests of `MintGate` show it; here a mint dated back into such a cycle
    // would change the heads below cuts the swarm already voted on.)
    let cases: [(u64, u64, u64, Vec<&Node>, &str); 5] = [
        (SEALING, 0, at, vec![&n[0], &n[2], &outsider], "not a sentinel"),
        (SEALING, 0, at, vec![&n[0], &n[2]], "quorum is 3"),
        (SEALING, 0, late, three.to_vec(), "must be dated"),
        (SEALING - 1, 0, at - EPOCH_MS, three.to_vec(), "sealed at cycle"),
        (SEALING, 1, at, three.to_vec(), "no such tranche"),
    ];
    for (cycle, tranche, ts, signers, why) in cases {
        let e = mint(&g, &a.ledger, &n[1], cycle, tranche, ts, &signers);
        minted.push(e.clone());
        bounced(&a.ledger, e, why);
    }
    // A sentinel signs only what its own records let through.
    let now = at + 50;
    let sig = a.ledger.authorize_mint(&n[4].key, &n[3].id, 0, SEALING, now).unwrap();
    assert_eq!(sig.sentinel, n[4].id);
    for (key, owner, tranche, cycle, at, why) in [
        (&outsider.key, n[3].id, 0, SEALING, now, "not a sentinel"),
        (&n[4].key, n[0].id, 0, SEALING, now, "was minted"),
        (&n[4].key, n[3].id, 1, SEALING, now, "no such tranche"),
        (&n[4].key, n[3].id, 0, SEALING, at + 2 * EPOCH_MS, "must be dated"),
        (&n[4].key, n[3].id, 0, SEALING + 3, now, "not closed at this node"),
    ] {
        let r = a.ledger.authorize_mint(key, &owner, tranche, cycle, at);
        assert!(
            matches!(&r, Err(ippoc_economy::store::LedgerError::Denied(m)) if m.contains(why)),
            "{why}: {r:?}"
        );
    }
    // A mint citing a cycle this node has not closed waits for it, and the
    // close applies it.
    let later = mint(&g, &a.ledger, &n[2], SEALING + 1, 0, at + EPOCH_MS, &sentinels[..]);
    minted.push(later.clone());
    assert_eq!(
        one(&a.ledger, later),
        IngestOutcome::AwaitingCycle { cycle: SEALING + 1 }
    );
    let w2 = wallet(&a.ledger, &n[2]);
    close_through(&a.ledger, SEALING + 1);
    assert_eq!(wallet(&a.ledger, &n[2]) - w2, i128::from(tranche_amount().base()));
    assert_books_balance(&a.ledger);
    // Two tranches issued in all: the mint holds minus the genesis and them.
    let issued = a.ledger.balance(&AccountId::Mint, Currency::Ippc).unwrap();
    let genesis: i128 = g.allocations.iter().map(|x| i128::from(x.amount.base())).sum();
    assert_eq!(issued.0, -genesis - 2 * i128::from(tranche_amount().base()));

    // Another node, the same entries in another order (the mints first):
    // they wait for their cycles, and the closes judge them alike.
    let b = ledger(&g, &node(92));
    let mut entries = all_entries(&a.ledger);
    entries.sort_by_key(|e| {
        (
            !matches!(e.body.action, Action::Mint { .. }),
            std::cmp::Reverse(e.body.seq),
        )
    });
    for e in entries {
        b.ledger.ingest(vec![e]).unwrap();
    }
    close_through(&b.ledger, SEALING + 1);
    assert_eq!(b.ledger.state_root().unwrap(), a.ledger.state_root().unwrap());
    for c in [SEALING - 60, SEALING, SEALING + 1] {
        assert_eq!(record(&b.ledger, c).digest, record(&a.ledger, c).digest, "cycle {c}");
    }
    assert_eq!(b.ledger.pending_count().unwrap(), 0);
}

/// A swarm's history with mints in it, built once: five founders voting
/// through the sealing cycle and after; n0 mints its tranche and tries it
/// again, n1 signs short of the quorum, n2 mints citing the cycle after;
/// with the state root and the issuance records a node that closed through
/// that cycle holds.
struct History {
    genesis: Genesis,
    entries: Vec<SignedEntry>,
    root: [u8; 32],
    records: Vec<[u8; 32]>,
}

fn history() -> &'static History {
    static HISTORY: std::sync::OnceLock<History> = std::sync::OnceLock::new();
    HISTORY.get_or_init(|| {
        let (n, mut g) = swarm(5);
        g.created_at_ms = FIRST * EPOCH_MS;
        let a = ledger(&g, &node(90));
        let all: Vec<&Node> = n.iter().collect();
        common::vote_through(&a.ledger, &all, &g, FIRST..SEALING + 6, EPOCH_MS);
        close_through(&a.ledger, SEALING + 1);
        let at = (SEALING + 5) * EPOCH_MS + 100;
        let three = [&n[1], &n[2], &n[3]];
        for (by, cycle, ts, signers) in [
            (&n[0], SEALING, at, &three[..]),
            (&n[0], SEALING, at + 1, &three[..]),
            (&n[1], SEALING, at, &three[..2]),
            (&n[2], SEALING + 1, at + EPOCH_MS, &three[..]),
        ] {
            let e = mint(&g, &a.ledger, by, cycle, 0, ts, signers);
            a.ledger.ingest(vec![e]).unwrap();
        }
        let records = [SEALING, SEALING + 1]
            .iter()
            .map(|c| record(&a.ledger, *c).digest)
            .collect();
        History {
            entries: all_entries(&a.ledger),
            root: a.ledger.state_root().unwrap(),
            records,
            genesis: g,
        }
    })
}

use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    /// In any arrival order, in any batches, a node that closes the same
    /// cycles holds the same balances, the same issuance records and the
    /// same verdicts on every mint (two applied, a replay and a short
    /// quorum bounced); every currency's balances sum to zero, and the mint
    /// holds minus the genesis and exactly the two tranches issued.
    #[test]
    fn any_arrival_order_gives_the_same_mints_records_and_books(
        order in Just((0..history().entries.len()).collect::<Vec<usize>>()).prop_shuffle(),
        batch in 1usize..80,
    ) {
        let h = history();
        let b = ledger(&h.genesis, &node(93));
        let shuffled: Vec<SignedEntry> = order.iter().map(|i| h.entries[*i].clone()).collect();
        for chunk in shuffled.chunks(batch) {
            b.ledger.ingest(chunk.to_vec()).unwrap();
        }
        close_through(&b.ledger, SEALING + 1);
        prop_assert_eq!(b.ledger.pending_count().unwrap(), 0);
        prop_assert_eq!(b.ledger.state_root().unwrap(), h.root);
        let records: Vec<[u8; 32]> = [SEALING, SEALING + 1].iter().map(|c| record(&b.ledger, *c).digest).collect();
        prop_assert_eq!(&records, &h.records);
        assert_books_balance(&b.ledger);
        let issued = b.ledger.balance(&AccountId::Mint, Currency::Ippc).unwrap();
        let genesis: i128 = h.genesis.allocations.iter().map(|x| i128::from(x.amount.base())).sum();
        prop_assert_eq!(issued.0, -genesis - 2 * i128::from(tranche_amount().base()));
    }
}
