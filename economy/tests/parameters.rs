//! Governed parameter tables: what the ledger promises when the DAO changes
//! the metabolism table. Every entry names the table it was priced under;
//! peers check it against that table, wait for a table they lack, and a
//! chain never moves back to an older one.

mod common;

use common::*;
use ippoc_economy::store::{Charge, Draft, IngestOutcome, Intent, Ledger, LedgerOptions};
use ippoc_economy::{AccountId, Action, Amount, Currency, SignedEntry, Transfer, TxId};

fn inference(tokens: u64) -> Draft {
    Draft::new(
        Intent::Charge {
            charge: Charge::Inference { tokens },
            bounty: None,
        },
        10,
    )
}

/// The genesis table with inference twenty times dearer: the DAO's change
/// these tests adopt as table 1.
fn dearer(g: &ippoc_economy::genesis::Genesis) -> ippoc_economy::params::Parameters {
    g.parameters
        .with("metabolism.inference_base", 20 * ippc(1).base())
        .unwrap()
}

/// A hand-made inference charge of `amount` naming table `params`.
fn charge_entry(
    by: &Node,
    g: &ippoc_economy::genesis::Genesis,
    seq: u64,
    prev: TxId,
    params: u32,
    amount: Amount,
) -> SignedEntry {
    let transfers = vec![Transfer {
        from: AccountId::Wallet(by.id),
        to: AccountId::MetabolismSink,
        currency: Currency::Ippc,
        amount,
    }];
    let mut body = raw_entry(
        by,
        g,
        seq,
        prev,
        Action::LlmInference { tokens: 1000 },
        transfers,
        vec![],
    )
    .body;
    body.params = params;
    body.sign(&by.key)
}

#[test]
fn a_new_table_prices_the_owners_entries_and_a_peer_waits_for_it_before_judging() {
    let (n, g) = swarm(2);
    let a = ledger(&g, &n[0]);
    let b = ledger(&g, &n[1]);
    let dearer = dearer(&g);

    assert_eq!(a.ledger.parameters(), (0, g.parameters.clone()));
    assert!(a.ledger.adopt_parameters(1, dearer.clone()).unwrap());
    assert!(
        !a.ledger.adopt_parameters(1, dearer.clone()).unwrap(),
        "adopting again is a no-op"
    );
    assert_eq!(a.ledger.parameters(), (1, dearer.clone()));

    let entry = a.ledger.append(&n[0].key, inference(1000)).unwrap();
    assert_eq!(entry.body().params, 1);
    // 20 IPPC base + 0.02 × 1000 tokens under the new table (genesis: 30 IPPC).
    assert_eq!(entry.body().transfers[0].amount, ippc(40));
    assert_eq!(wallet(&a.ledger, &n[0]), ippc(960).base() as i128);

    // The peer has not adopted table 1: the entry waits, nothing moves.
    let out = b.ledger.ingest(vec![entry.signed().clone()]).unwrap();
    assert_eq!(out, vec![IngestOutcome::AwaitingParameters { version: 1 }]);
    assert_eq!(b.ledger.pending_count().unwrap(), 1);
    assert_eq!(b.ledger.head(&n[0].id).unwrap(), None);
    assert_eq!(wallet(&b.ledger, &n[0]), ippc(1000).base() as i128);

    // Adopting the table applies it; both nodes agree on everything.
    assert!(b.ledger.adopt_parameters(1, dearer).unwrap());
    assert_eq!(b.ledger.pending_count().unwrap(), 0);
    assert_eq!(b.ledger.head(&n[0].id).unwrap(), Some((0, entry.tx_id())));
    assert_eq!(b.ledger.state_root().unwrap(), a.ledger.state_root().unwrap());
    assert_books_balance(&b.ledger);
}

#[test]
fn charges_are_checked_against_the_table_the_entry_names() {
    let (n, g) = swarm(2);
    let b = ledger(&g, &n[1]);
    let dearer = dearer(&g);
    b.ledger.adopt_parameters(1, dearer).unwrap();

    // Naming table 1 but paying the genesis price: rejected.
    let cheap = charge_entry(&n[0], &g, 0, TxId::ZERO, 1, ippc(30));
    assert!(matches!(
        &b.ledger.ingest(vec![cheap]).unwrap()[0],
        IngestOutcome::Rejected(r) if r.contains("parameters say 40")
    ));
    // Naming table 0 at its price is valid: a node that has not learned of
    // the change yet may still sign under the genesis table.
    let old = charge_entry(&n[0], &g, 0, TxId::ZERO, 0, ippc(30));
    let old_id = old.tx_id();
    assert_eq!(b.ledger.ingest(vec![old]).unwrap(), vec![IngestOutcome::Applied]);
    // Then table 1 at its price.
    let new = charge_entry(&n[0], &g, 1, old_id, 1, ippc(40));
    let new_id = new.tx_id();
    assert_eq!(b.ledger.ingest(vec![new]).unwrap(), vec![IngestOutcome::Applied]);
    // But never back to table 0 once the chain has used table 1.
    let back = charge_entry(&n[0], &g, 2, new_id, 0, ippc(30));
    assert!(matches!(
        &b.ledger.ingest(vec![back]).unwrap()[0],
        IngestOutcome::Rejected(r) if r.contains("already uses table 1")
    ));
    assert_eq!(wallet(&b.ledger, &n[0]), ippc(1000 - 70).base() as i128);
}

#[test]
fn tables_are_adopted_in_order_and_a_conflicting_table_is_refused() {
    let (n, g) = swarm(1);
    let a = ledger(&g, &n[0]);
    let one = g.parameters.with("metabolism.transfer_fee_bps", 20).unwrap();
    let other = g.parameters.with("metabolism.transfer_fee_bps", 30).unwrap();
    assert!(
        !a.ledger.adopt_parameters(0, g.parameters.clone()).unwrap(),
        "table 0 is the genesis"
    );
    let err = a.ledger.adopt_parameters(0, one.clone()).unwrap_err().to_string();
    assert!(err.contains("another DAO"), "{err}");
    let err = a.ledger.adopt_parameters(2, one.clone()).unwrap_err().to_string();
    assert!(err.contains("newest adopted is 0"), "{err}");
    let mut invalid = one.clone();
    invalid.transfer_fee_bps = 20_000;
    assert!(a.ledger.adopt_parameters(1, invalid).is_err());
    assert_eq!(a.ledger.parameters().0, 0, "refusals adopt nothing");
    a.ledger.adopt_parameters(1, one.clone()).unwrap();
    assert!(a.ledger.adopt_parameters(1, other).is_err());
    assert_eq!(a.ledger.parameters(), (1, one));
}

#[test]
fn adopted_tables_and_waiting_entries_survive_a_restart() {
    let (n, g) = swarm(2);
    let dearer = dearer(&g);
    let a = ledger(&g, &n[0]);
    a.ledger.adopt_parameters(1, dearer.clone()).unwrap();
    let entry = a.ledger.append(&n[0].key, inference(10)).unwrap();

    let b = ledger(&g, &n[1]);
    b.ledger.ingest(vec![entry.signed().clone()]).unwrap();
    let (dir_a, dir_b) = (a.dir, b.dir);
    drop((a.ledger, b.ledger));

    let reopen = |dir: &tempfile::TempDir, owner: &Node| {
        Ledger::open(
            &dir.path().join("ledger"),
            g.clone(),
            owner.id,
            LedgerOptions::default(),
        )
        .unwrap()
    };
    let a = reopen(&dir_a, &n[0]);
    assert_eq!(a.parameters(), (1, dearer.clone()));
    let b = reopen(&dir_b, &n[1]);
    assert_eq!(b.pending_count().unwrap(), 1);
    b.adopt_parameters(1, dearer).unwrap();
    assert_eq!(b.head(&n[0].id).unwrap(), Some((0, entry.tx_id())));
    assert_eq!(b.state_root().unwrap(), a.state_root().unwrap());
}

#[test]
fn an_entry_waiting_for_a_table_survives_the_rebuild_a_fork_causes() {
    let (n, g) = swarm(3);
    let dearer = dearer(&g);
    let b = ledger(&g, &n[1]);
    let waiting = charge_entry(&n[0], &g, 0, TxId::ZERO, 1, ippc(40));
    let waiting_id = waiting.tx_id();
    assert_eq!(
        b.ledger.ingest(vec![waiting]).unwrap(),
        vec![IngestOutcome::AwaitingParameters { version: 1 }]
    );
    // Node 2 equivocates at seq 0: the evidence makes the ledger rebuild its state.
    let one = charge_entry(&n[2], &g, 0, TxId::ZERO, 0, ippc(30));
    let mut other = one.body.clone();
    other.memo = b"other".to_vec();
    let other = other.sign(&n[2].key);
    b.ledger.ingest(vec![one, other]).unwrap();
    assert_eq!(b.ledger.fork_of(&n[2].id).unwrap(), Some(0));
    assert_eq!(b.ledger.pending_count().unwrap(), 1, "still waiting after the rebuild");
    b.ledger.adopt_parameters(1, dearer).unwrap();
    assert_eq!(b.ledger.head(&n[0].id).unwrap(), Some((0, waiting_id)));
    assert_books_balance(&b.ledger);
}

#[test]
fn an_entry_that_declares_entries_of_a_newer_table_cannot_price_itself_under_an_older_one() {
    let (n, g) = swarm(2);
    let dearer = dearer(&g);
    let a = ledger(&g, &n[0]);
    a.ledger.adopt_parameters(1, dearer.clone()).unwrap();
    // Node 0, on table 1, pays node 1.
    let paid = a.ledger.append(&n[0].key, pay(&n[1], ippc(100))).unwrap();
    assert_eq!(paid.body().params, 1);
    let dep = ippoc_economy::Dep {
        actor: n[0].id,
        seq: 0,
        tx_id: paid.tx_id(),
    };
    let b = ledger(&g, &n[1]);
    b.ledger.adopt_parameters(1, dearer.clone()).unwrap();
    b.ledger.ingest(vec![paid.signed().clone()]).unwrap();
    // Node 1 claims that credit but prices its charge under the genesis table: it bounces.
    let charge = |params: u32, amount: Amount| {
        let transfers = vec![Transfer {
            from: AccountId::Wallet(n[1].id),
            to: AccountId::MetabolismSink,
            currency: Currency::Ippc,
            amount,
        }];
        let mut body = raw_entry(
            &n[1],
            &g,
            0,
            TxId::ZERO,
            Action::LlmInference { tokens: 1000 },
            transfers,
            vec![dep],
        )
        .body;
        body.params = params;
        body.sign(&n[1].key)
    };
    let cheap = b.ledger.ingest(vec![charge(0, ippc(30))]).unwrap();
    assert!(
        matches!(&cheap[0], IngestOutcome::Bounced(r) if r.contains("declares entries priced under table 1")),
        "{cheap:?}"
    );
    assert_eq!(
        wallet(&b.ledger, &n[1]),
        ippc(1100).base() as i128,
        "the bounced charge moved nothing"
    );
    // The same charge under table 1 (another node's view of the same seq) is a fork, so check on a fresh ledger.
    let c = ledger(&g, &n[1]);
    c.ledger.adopt_parameters(1, dearer).unwrap();
    c.ledger.ingest(vec![paid.signed().clone()]).unwrap();
    assert_eq!(
        c.ledger.ingest(vec![charge(1, ippc(40))]).unwrap(),
        vec![IngestOutcome::Applied]
    );
}
