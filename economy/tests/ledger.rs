//! The ledger's promises (DESIGN.md §4), each as a test.

mod common;

use common::*;
use ippoc_economy::SignedEntry;
use ippoc_economy::entry::{EntryBody, ExecutedProposal, MintCertificate, Proof, SentinelSignature, Transfer};
use ippoc_economy::rules::RuleError;
use ippoc_economy::rules::mint_message;
use ippoc_economy::store::{Charge, Draft, IngestOutcome, Intent, Ledger, LedgerError, LedgerOptions, Mode};
use ippoc_economy::{AccountId, Action, Amount, Currency, Dep, EscrowId, TxId};

#[test]
fn a_transfer_moves_value_pays_the_fee_and_keeps_the_books_balanced() {
    let (n, g) = swarm(2);
    let a = ledger(&g, &n[0]);
    let pgp_before = a.ledger.balance(&AccountId::PublicGoodsPool, Currency::Ippc).unwrap().0;
    a.ledger.append(&n[0].key, pay(&n[1], ippc(100))).unwrap();
    assert_eq!(wallet(&a.ledger, &n[0]), (900 * 1_000_000) - 100_000);
    assert_eq!(wallet(&a.ledger, &n[1]), 1100 * 1_000_000);
    let pgp = a.ledger.balance(&AccountId::PublicGoodsPool, Currency::Ippc).unwrap().0;
    assert_eq!(pgp - pgp_before, 100_000, "0.1% of 100 IPPC");
    assert_books_balance(&a.ledger);
}

#[test]
fn another_node_ingesting_the_chain_reaches_the_same_state_root() {
    let (n, g) = swarm(2);
    let a = ledger(&g, &n[0]);
    let b = ledger(&g, &n[1]);
    for i in 1..=5 {
        a.ledger.append(&n[0].key, pay(&n[1], ippc(i))).unwrap();
    }
    // Asked before the ingest, so a root cached across it would show.
    let empty = b.ledger.state_root().unwrap();
    let outcomes = b.ledger.ingest(all_entries(&a.ledger)).unwrap();
    assert_ne!(b.ledger.state_root().unwrap(), empty);
    assert!(outcomes.iter().all(|o| *o == IngestOutcome::Applied), "{outcomes:?}");
    assert_eq!(a.ledger.state_root().unwrap(), b.ledger.state_root().unwrap());
    let again = b.ledger.ingest(all_entries(&a.ledger)).unwrap();
    assert!(
        again.iter().all(|o| *o == IngestOutcome::Duplicate),
        "duplicates are idempotent"
    );
    assert_eq!(a.ledger.state_root().unwrap(), b.ledger.state_root().unwrap());
}

#[test]
fn received_credit_is_spendable_once_declared_and_third_parties_agree_in_any_order() {
    let (n, g) = swarm(3);
    let a = ledger(&g, &n[0]);
    let b = ledger(&g, &n[1]);
    a.ledger.append(&n[0].key, pay(&n[1], ippc(500))).unwrap();
    // Before B hears of it, B cannot spend more than its own stipend.
    assert!(matches!(
        b.ledger.append(&n[1].key, pay(&n[2], ippc(1200))),
        Err(LedgerError::Denied(_))
    ));
    b.ledger.ingest(all_entries(&a.ledger)).unwrap();
    let spent = b.ledger.append(&n[1].key, pay(&n[2], ippc(1200))).unwrap();
    assert_eq!(spent.body().deps.len(), 1, "the spend declares A's chain");

    // C hears B's spend first: it waits for A's entry, then both apply.
    let c = ledger(&g, &n[2]);
    let b_chain: Vec<_> = all_entries(&b.ledger)
        .into_iter()
        .filter(|e| e.body.actor == n[1].id)
        .collect();
    let first = c.ledger.ingest(b_chain.clone()).unwrap();
    assert!(matches!(first[0], IngestOutcome::Pending { .. }), "{first:?}");
    assert_eq!(c.ledger.pending_count().unwrap(), 1);
    c.ledger.ingest(all_entries(&a.ledger)).unwrap();
    assert_eq!(c.ledger.pending_count().unwrap(), 0);
    assert_eq!(c.ledger.state_root().unwrap(), b.ledger.state_root().unwrap());
    assert_books_balance(&c.ledger);
}

#[test]
fn an_overdraft_is_refused_locally_and_bounces_identically_on_every_node() {
    let (n, g) = swarm(2);
    let a = ledger(&g, &n[0]);
    assert!(matches!(
        a.ledger.append(&n[0].key, pay(&n[1], ippc(5000))),
        Err(LedgerError::Denied(_))
    ));
    assert_eq!(a.ledger.head(&n[0].id).unwrap(), None, "nothing was written");

    // A dishonest node signs the overdraft anyway.
    let bad = raw_entry(
        &n[0],
        &g,
        0,
        TxId::ZERO,
        Action::Transfer,
        transfer_body(&n[0], &n[1], ippc(5000), &g),
        vec![],
    );
    let x = ledger(&g, &n[1]);
    let y = ledger(&g, &n[1]);
    assert!(matches!(
        x.ledger.ingest(vec![bad.clone()]).unwrap()[0],
        IngestOutcome::Bounced(_)
    ));
    assert!(matches!(
        y.ledger.ingest(vec![bad]).unwrap()[0],
        IngestOutcome::Bounced(_)
    ));
    assert_eq!(
        wallet(&x.ledger, &n[1]),
        1000 * 1_000_000,
        "a bounced entry moves nothing"
    );
    assert_eq!(x.ledger.state_root().unwrap(), y.ledger.state_root().unwrap());
    assert_books_balance(&x.ledger);
}

#[test]
fn debiting_another_nodes_account_is_rejected() {
    let (n, g) = swarm(2);
    let x = ledger(&g, &n[1]);
    let theft = raw_entry(
        &n[0],
        &g,
        0,
        TxId::ZERO,
        Action::Transfer,
        transfer_body(&n[1], &n[0], ippc(10), &g),
        vec![],
    );
    let out = x.ledger.ingest(vec![theft]).unwrap();
    assert!(
        matches!(&out[0], IngestOutcome::Rejected(r) if r.contains("not the actor's")),
        "{out:?}"
    );
    assert_eq!(x.ledger.head(&n[0].id).unwrap(), None);
}

#[test]
fn system_accounts_need_their_proofs() {
    let (n, g) = swarm(3);
    let x = ledger(&g, &n[0]);
    let grant = vec![ippoc_economy::Transfer {
        from: AccountId::Treasury,
        to: AccountId::Wallet(n[0].id),
        currency: Currency::Ippc,
        amount: ippc(10),
    }];
    let no_proof = raw_entry(&n[0], &g, 0, TxId::ZERO, Action::Grant, grant.clone(), vec![]);
    let out = x.ledger.ingest(vec![no_proof]).unwrap();
    assert!(
        matches!(&out[0], IngestOutcome::Rejected(r) if r.contains("executed DAO proposal")),
        "{out:?}"
    );

    let mut with_proof = raw_entry(&n[0], &g, 0, TxId::ZERO, Action::Grant, grant, vec![]).body;
    with_proof.proof = Some(Proof::Proposal(ExecutedProposal {
        chain_id: 1,
        governance: [0; 20],
        proposal_id: [1; 32],
        execution_tx: [2; 32],
    }));
    let out = x.ledger.ingest(vec![with_proof.sign(&n[0].key)]).unwrap();
    assert!(
        matches!(&out[0], IngestOutcome::Rejected(r) if r.contains("no governance backend")),
        "{out:?}"
    );

    // A mint moves one tranche of the actor's own reserve (its seal is
    // (swarm, actor, tranche)), signed once per sentinel; whether the cycle
    // it cites opens the mint is judged against that cycle's gate, which
    // this node has not closed: it waits (tests/issuance.rs goes further).
    let mint = vec![ippoc_economy::Transfer {
        from: AccountId::Mint,
        to: AccountId::Wallet(n[0].id),
        currency: Currency::Ippc,
        amount: ippoc_economy::issuance::tranche_amount(),
    }];
    let seal = ippoc_economy::issuance::seal_id(&g.swarm_id(), &n[0].id, 0);
    let mint_entry = |transfers: Vec<ippoc_economy::Transfer>, seal: [u8; 32], signers: &[usize]| {
        let message = mint_message(&g.swarm_id(), &seal, &transfers);
        let signatures = signers
            .iter()
            .map(|i| SentinelSignature {
                sentinel: n[*i].id,
                signature: ed25519_dalek::Signer::sign(&n[*i].key, &message).to_bytes(),
            })
            .collect();
        let action = Action::Mint { cycle: 7, tranche: 0 };
        let mut b = raw_entry(&n[0], &g, 0, TxId::ZERO, action, transfers, vec![]).body;
        b.proof = Some(Proof::Mint(MintCertificate {
            seal_id: seal,
            signatures,
        }));
        b.sign(&n[0].key)
    };
    let rejected = |e: SignedEntry, why: &str| {
        let out = x.ledger.ingest(vec![e]).unwrap();
        assert!(
            matches!(&out[0], IngestOutcome::Rejected(r) if r.contains(why)),
            "{why}: {out:?}"
        );
    };
    rejected(mint_entry(mint.clone(), seal, &[0, 0]), "signed twice");
    rejected(mint_entry(mint.clone(), [9; 32], &[0, 2]), "has the seal");
    let mut more = mint.clone();
    more[0].amount = ippc(51);
    rejected(mint_entry(more, seal, &[0, 2]), "moves one tranche");
    let good = mint_entry(mint.clone(), seal, &[0, 2]);
    assert_eq!(
        x.ledger.ingest(vec![good]).unwrap()[0],
        IngestOutcome::AwaitingCycle { cycle: 7 }
    );
    assert_eq!(wallet(&x.ledger, &n[0]), 1000 * 1_000_000);
    assert_books_balance(&x.ledger);
}

#[test]
fn a_seq_gap_waits_in_pending_until_the_missing_entry_arrives() {
    let (n, g) = swarm(2);
    let a = ledger(&g, &n[0]);
    for i in 1..=4 {
        a.ledger.append(&n[0].key, pay(&n[1], ippc(i))).unwrap();
    }
    let mut chain = all_entries(&a.ledger);
    chain.reverse();
    let x = ledger(&g, &n[1]);
    for e in &chain[..3] {
        assert!(matches!(
            x.ledger.ingest(vec![e.clone()]).unwrap()[0],
            IngestOutcome::Pending { .. }
        ));
    }
    assert_eq!(x.ledger.pending_count().unwrap(), 3);
    assert_eq!(
        x.ledger.ingest(vec![chain[3].clone()]).unwrap()[0],
        IngestOutcome::Applied
    );
    assert_eq!(x.ledger.pending_count().unwrap(), 0);
    assert_eq!(x.ledger.head(&n[0].id).unwrap().unwrap().0, 3);
    assert_eq!(x.ledger.state_root().unwrap(), a.ledger.state_root().unwrap());
}

#[test]
fn the_pending_buffer_is_bounded() {
    let (n, g) = swarm(2);
    let a = ledger(&g, &n[0]);
    for i in 1..=4 {
        a.ledger.append(&n[0].key, pay(&n[1], ippc(i))).unwrap();
    }
    let chain = all_entries(&a.ledger);
    let x = ledger_with(
        &g,
        &n[1],
        LedgerOptions {
            pending_entries_max: 2,
            ..LedgerOptions::default()
        },
    );
    let out = x.ledger.ingest(chain[1..].to_vec()).unwrap();
    assert!(
        matches!(out[2], IngestOutcome::Dropped(ref r) if r.contains("wait")),
        "{out:?}"
    );
    assert_eq!(x.ledger.pending_count().unwrap(), 2);
}

#[test]
fn one_actor_holds_at_most_its_share_of_the_waiting_set_and_waiting_entries_expire() {
    let (n, g) = swarm(3);
    let (a, b) = (ledger(&g, &n[0]), ledger(&g, &n[1]));
    for i in 1..=4 {
        a.ledger.append(&n[0].key, pay(&n[2], ippc(i))).unwrap();
        b.ledger.append(&n[1].key, pay(&n[2], ippc(i))).unwrap();
    }
    let (chain_a, chain_b) = (all_entries(&a.ledger), all_entries(&b.ledger));
    let x = ledger_with(
        &g,
        &n[2],
        LedgerOptions {
            pending_per_actor_max: 2,
            pending_ttl_ms: 60_000,
            ..LedgerOptions::default()
        },
    );
    // A's seq 1..3 without its seq 0: two wait, the third is dropped, and
    // nobody is blamed for it (not `Rejected`).
    let out = x.ledger.ingest(chain_a[1..].to_vec()).unwrap();
    assert!(matches!(out[0], IngestOutcome::Pending { .. }), "{out:?}");
    assert!(
        matches!(out[2], IngestOutcome::Dropped(ref r) if r.contains(&n[0].id.to_string())),
        "{out:?}"
    );
    // Another actor still has its own share.
    let out = x.ledger.ingest(chain_b[1..3].to_vec()).unwrap();
    assert!(
        out.iter().all(|o| matches!(o, IngestOutcome::Pending { .. })),
        "{out:?}"
    );
    assert_eq!(x.ledger.pending_count().unwrap(), 4);
    // Nothing has waited a minute yet; past it, all four go, and the
    // counts with them: A's entries may wait again.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert_eq!(x.ledger.expire_pending(now).unwrap(), 0);
    assert_eq!(x.ledger.expire_pending(now + 61_000).unwrap(), 4);
    assert_eq!(x.ledger.pending_count().unwrap(), 0);
    let out = x.ledger.ingest(chain_a[1..3].to_vec()).unwrap();
    assert!(
        out.iter().all(|o| matches!(o, IngestOutcome::Pending { .. })),
        "{out:?}"
    );
    // Waking releases them and their count: the chain completes.
    let out = x.ledger.ingest(vec![chain_a[0].clone(), chain_a[3].clone()]).unwrap();
    assert_eq!(out, vec![IngestOutcome::Applied, IngestOutcome::Applied]);
    assert_eq!(x.ledger.head(&n[0].id).unwrap().unwrap().0, 3);
    assert_eq!(x.ledger.pending_count().unwrap(), 0);
    assert_eq!(x.ledger.expire_pending(now + 1_000_000).unwrap(), 0);
    assert!(x.ledger.scrub().unwrap().damaged.is_empty());
}

#[test]
fn equivocation_is_kept_as_evidence_and_the_chain_counts_only_below_the_fork_in_any_order() {
    let (n, g) = swarm(3);
    let a = ledger(&g, &n[0]);
    let first = a.ledger.append(&n[0].key, pay(&n[1], ippc(10))).unwrap();
    // Two versions of seq 1: A pays B in one and C in the other.
    let to_b = raw_entry(
        &n[0],
        &g,
        1,
        first.tx_id(),
        Action::Transfer,
        transfer_body(&n[0], &n[1], ippc(600), &g),
        vec![],
    );
    let to_c = raw_entry(
        &n[0],
        &g,
        1,
        first.tx_id(),
        Action::Transfer,
        transfer_body(&n[0], &n[2], ippc(600), &g),
        vec![],
    );
    let after = raw_entry(
        &n[0],
        &g,
        2,
        to_b.tx_id(),
        Action::Transfer,
        transfer_body(&n[0], &n[1], ippc(1), &g),
        vec![],
    );
    // B spends the 600 it got from the to_b branch.
    let b_spends = raw_entry(
        &n[1],
        &g,
        0,
        TxId::ZERO,
        Action::Transfer,
        transfer_body(&n[1], &n[2], ippc(1500), &g),
        vec![Dep {
            actor: n[0].id,
            seq: 1,
            tx_id: to_b.tx_id(),
        }],
    );
    let base = first.clone().into_signed();
    let orders = [
        vec![
            base.clone(),
            to_b.clone(),
            after.clone(),
            b_spends.clone(),
            to_c.clone(),
        ],
        vec![
            to_c.clone(),
            base.clone(),
            b_spends.clone(),
            to_b.clone(),
            after.clone(),
        ],
        vec![
            b_spends.clone(),
            after.clone(),
            to_b.clone(),
            to_c.clone(),
            base.clone(),
        ],
    ];
    let mut roots = Vec::new();
    for order in orders {
        let x = ledger(&g, &n[2]);
        for e in order {
            x.ledger.ingest(vec![e]).unwrap();
        }
        let forks = x.ledger.forks().unwrap();
        assert_eq!(forks.len(), 1);
        assert_eq!(
            (forks[0].actor, forks[0].seq, forks[0].entries.len()),
            (n[0].id, 1, 2),
            "both versions kept"
        );
        assert_eq!(
            x.ledger.head(&n[0].id).unwrap().unwrap().0,
            0,
            "A counts only below the fork"
        );
        assert_eq!(
            wallet(&x.ledger, &n[1]),
            1010 * 1_000_000,
            "B keeps what came before the fork only"
        );
        let (_, effect) = x.ledger.entry(&n[1].id, 0).unwrap().unwrap();
        assert_eq!(
            effect,
            ippoc_economy::store::Effect::Bounced,
            "B's spend of forked money bounces"
        );
        assert_books_balance(&x.ledger);
        roots.push(x.ledger.state_root().unwrap());
        let late = raw_entry(
            &n[0],
            &g,
            3,
            after.tx_id(),
            Action::Transfer,
            transfer_body(&n[0], &n[1], ippc(1), &g),
            vec![],
        );
        assert!(
            matches!(x.ledger.ingest(vec![late]).unwrap()[0], IngestOutcome::Dropped(ref r) if r.contains("forked"))
        );
    }
    assert!(
        roots.windows(2).all(|w| w[0] == w[1]),
        "same verdict in any arrival order"
    );
}

#[test]
fn entries_of_another_swarm_are_rejected_and_a_ledger_refuses_another_genesis() {
    let (n, g) = swarm(2);
    let (_, other) = {
        let ids = [n[0].id, n[1].id];
        (
            0,
            ippoc_economy::genesis::Genesis::new("other", 2, &ids, ippc(1000), ippc(1)),
        )
    };
    let foreign = raw_entry(
        &n[0],
        &other,
        0,
        TxId::ZERO,
        Action::Transfer,
        transfer_body(&n[0], &n[1], ippc(1), &other),
        vec![],
    );
    let x = ledger(&g, &n[1]);
    assert!(
        matches!(x.ledger.ingest(vec![foreign]).unwrap()[0], IngestOutcome::Rejected(ref r) if r.contains("swarm"))
    );
    let path = x.dir.path().join("ledger");
    drop(x.ledger);
    assert!(matches!(
        Ledger::open(&path, other, n[1].id, LedgerOptions::default()),
        Err(LedgerError::WrongSwarm { .. })
    ));
}

#[test]
fn a_forged_signature_is_rejected() {
    let (n, g) = swarm(2);
    let mut e = raw_entry(
        &n[0],
        &g,
        0,
        TxId::ZERO,
        Action::Transfer,
        transfer_body(&n[0], &n[1], ippc(1), &g),
        vec![],
    );
    e.signature[10] ^= 1;
    let x = ledger(&g, &n[1]);
    assert!(matches!(x.ledger.ingest(vec![e]).unwrap()[0], IngestOutcome::Rejected(ref r) if r.contains("signature")));
}

#[test]
fn bounties_escrow_pay_the_worker_or_refund_after_expiry() {
    let (n, g) = swarm(2);
    let a = ledger(&g, &n[0]);
    let post = |expires| {
        Draft::new(
            Intent::PostBounty {
                reward: ippc(100),
                task: [7; 32],
                expires_at_ms: expires,
            },
            10,
        )
    };
    let p1 = a.ledger.append(&n[0].key, post(1_000)).unwrap();
    let escrow = EscrowId {
        poster: n[0].id,
        seq: p1.body().seq,
    };
    assert_eq!(
        a.ledger.balance(&AccountId::Escrow(escrow), Currency::Ippc).unwrap().0,
        100 * 1_000_000
    );
    // Not expired yet: a refund is refused.
    let early = Draft::new(Intent::RefundBounty { escrow }, 999);
    assert!(matches!(a.ledger.append(&n[0].key, early), Err(LedgerError::Denied(r)) if r.contains("expires")));
    a.ledger
        .append(
            &n[0].key,
            Draft::new(
                Intent::PayBounty {
                    escrow,
                    worker: n[1].id,
                },
                20,
            ),
        )
        .unwrap();
    assert_eq!(wallet(&a.ledger, &n[1]), 1100 * 1_000_000);
    let twice = Draft::new(
        Intent::PayBounty {
            escrow,
            worker: n[1].id,
        },
        21,
    );
    assert!(
        matches!(a.ledger.append(&n[0].key, twice), Err(LedgerError::Denied(_))),
        "an escrow pays once"
    );

    let p2 = a.ledger.append(&n[0].key, post(2_000)).unwrap();
    let escrow2 = EscrowId {
        poster: n[0].id,
        seq: p2.body().seq,
    };
    a.ledger
        .append(&n[0].key, Draft::new(Intent::RefundBounty { escrow: escrow2 }, 2_000))
        .unwrap();
    assert_eq!(wallet(&a.ledger, &n[0]), 900 * 1_000_000, "post, pay, post, refund");
    assert_books_balance(&a.ledger);
    let x = ledger(&g, &n[1]);
    x.ledger.ingest(all_entries(&a.ledger)).unwrap();
    assert_eq!(x.ledger.state_root().unwrap(), a.ledger.state_root().unwrap());
}

#[test]
fn metabolism_charges_by_the_table_and_worker_mode_has_hysteresis() {
    let (n, g) = swarm(2);
    let a = ledger(&g, &n[0]);
    let b = ledger(&g, &n[1]);
    let charge = |tokens| {
        Draft::new(
            Intent::Charge {
                charge: Charge::Inference { tokens },
                bounty: None,
            },
            10,
        )
    };
    a.ledger.append(&n[0].key, charge(1000)).unwrap();
    assert_eq!(wallet(&a.ledger, &n[0]), 970 * 1_000_000, "10 + 0.02 × 1000 = 30 IPPC");
    assert_eq!(a.ledger.mode().unwrap(), Mode::Normal);
    // Spend down to below the bankruptcy threshold (100 IPPC).
    a.ledger.append(&n[0].key, pay(&n[1], ippc(880))).unwrap();
    assert_eq!(a.ledger.mode().unwrap(), Mode::Worker);
    assert!(matches!(
        a.ledger.append(&n[0].key, charge(10)),
        Err(LedgerError::WorkerMode)
    ));
    // Bounty work may still be charged: B posts a bounty, A works it.
    let post = Draft::new(
        Intent::PostBounty {
            reward: ippc(1),
            task: [7; 32],
            expires_at_ms: 1_000,
        },
        10,
    );
    let posted = b.ledger.append(&n[1].key, post).unwrap();
    a.ledger.ingest(all_entries(&b.ledger)).unwrap();
    let bounty_work = Draft::new(
        Intent::Charge {
            charge: Charge::Inference { tokens: 10 },
            bounty: Some(EscrowId {
                poster: n[1].id,
                seq: posted.body().seq,
            }),
        },
        10,
    );
    a.ledger.append(&n[0].key, bounty_work).unwrap();
    // B pays 300: A is above the bankruptcy threshold but below solvency (500): still Worker.
    b.ledger.ingest(all_entries(&a.ledger)).unwrap();
    b.ledger.append(&n[1].key, pay(&n[0], ippc(300))).unwrap();
    a.ledger.ingest(all_entries(&b.ledger)).unwrap();
    assert_eq!(a.ledger.mode().unwrap(), Mode::Worker, "hysteresis: not yet solvent");
    b.ledger.append(&n[1].key, pay(&n[0], ippc(200))).unwrap();
    a.ledger.ingest(all_entries(&b.ledger)).unwrap();
    assert_eq!(a.ledger.mode().unwrap(), Mode::Normal);
    a.ledger.append(&n[0].key, charge(10)).unwrap();
    assert_books_balance(&a.ledger);
}

/// Worker Mode allows charges for bounty work only; the claim is in the
/// entry (its proof names the escrow, its deps reach the post) and every
/// node judges it the same way: no made-up escrow, no own bounty, no work
/// dated after the expiry, nothing that is not a post.
#[test]
fn a_claim_of_bounty_work_names_a_real_post_of_another_node_and_every_node_checks_it() {
    let (n, g) = swarm(3);
    let (a, b, c) = (ledger(&g, &n[0]), ledger(&g, &n[1]), ledger(&g, &n[2]));
    let work = |poster: &Node, seq: u64, at_ms: u64| {
        Draft::new(
            Intent::Charge {
                charge: Charge::Inference { tokens: 10 },
                bounty: Some(EscrowId { poster: poster.id, seq }),
            },
            at_ms,
        )
    };
    // A made-up escrow: refused before it is signed.
    match a.ledger.append(&n[0].key, work(&n[1], 7, 10)) {
        Err(LedgerError::Denied(why)) => assert!(why.contains("holds no such post"), "{why}"),
        other => panic!("{other:?}"),
    }
    // B posts; a transfer of B's is no post.
    let post = Draft::new(
        Intent::PostBounty {
            reward: ippc(1),
            task: [7; 32],
            expires_at_ms: 100,
        },
        10,
    );
    let posted = b.ledger.append(&n[1].key, post).unwrap().body().seq;
    let paid = b.ledger.append(&n[1].key, pay(&n[2], ippc(1))).unwrap().body().seq;
    a.ledger.ingest(all_entries(&b.ledger)).unwrap();
    match a.ledger.append(&n[0].key, work(&n[1], paid, 10)) {
        Err(LedgerError::Denied(why)) => assert!(why.contains("not an applied bounty post"), "{why}"),
        other => panic!("{other:?}"),
    }
    match a.ledger.append(&n[0].key, work(&n[1], posted, 101)) {
        Err(LedgerError::Denied(why)) => assert!(why.contains("expired"), "{why}"),
        other => panic!("{other:?}"),
    }
    // B cannot work its own bounty.
    assert!(matches!(
        b.ledger.append(&n[1].key, work(&n[1], posted, 10)),
        Err(LedgerError::Rule(RuleError::BadWorkClaim { .. }))
    ));
    // The real thing: recorded, with the dep on B's chain.
    let done = a.ledger.append(&n[0].key, work(&n[1], posted, 50)).unwrap();
    assert_eq!(
        done.body().proof,
        Some(Proof::Work(EscrowId {
            poster: n[1].id,
            seq: posted
        }))
    );
    assert!(done.body().deps.iter().any(|d| d.actor == n[1].id && d.seq >= posted));

    // What every peer checks: C holds B's chain and receives A's entries,
    // including a hand-made claim on B's transfer (signed by A, so only the
    // rule stands in its way).
    c.ledger.ingest(all_entries(&b.ledger)).unwrap();
    let head = a.ledger.head(&n[0].id).unwrap().unwrap();
    let b_head = b.ledger.head(&n[1].id).unwrap().unwrap();
    let mut forged = EntryBody {
        proof: Some(Proof::Work(EscrowId {
            poster: n[1].id,
            seq: paid,
        })),
        ..raw_entry(
            &n[0],
            &g,
            head.0 + 1,
            head.1,
            Action::LlmInference { tokens: 10 },
            vec![Transfer {
                from: AccountId::Wallet(n[0].id),
                to: AccountId::MetabolismSink,
                currency: Currency::Ippc,
                amount: Charge::Inference { tokens: 10 }.cost(&g.parameters).unwrap(),
            }],
            vec![Dep {
                actor: n[1].id,
                seq: b_head.0,
                tx_id: b_head.1,
            }],
        )
        .body
    };
    let mut entries = all_entries(&a.ledger);
    entries.push(forged.clone().sign(&n[0].key));
    let outcomes = c.ledger.ingest(entries).unwrap();
    assert!(
        matches!(outcomes.last(), Some(IngestOutcome::Bounced(why)) if why.contains("not an applied bounty post")),
        "{outcomes:?}"
    );
    assert!(
        outcomes[..outcomes.len() - 1]
            .iter()
            .all(|o| matches!(o, IngestOutcome::Applied | IngestOutcome::Duplicate)),
        "A's real work counts on C too: {outcomes:?}"
    );
    // Without the dep on the post, the claim is refused outright.
    forged.deps.clear();
    forged.seq += 1;
    assert!(matches!(
        &c.ledger.ingest(vec![forged.sign(&n[0].key)]).unwrap()[0],
        IngestOutcome::Rejected(why) if why.contains("deps do not reach")
    ));
}

#[test]
fn a_charge_that_does_not_match_the_table_is_rejected() {
    let (n, g) = swarm(2);
    let cheap = vec![ippoc_economy::Transfer {
        from: AccountId::Wallet(n[0].id),
        to: AccountId::MetabolismSink,
        currency: Currency::Ippc,
        amount: Amount::from_base(1),
    }];
    let e = raw_entry(
        &n[0],
        &g,
        0,
        TxId::ZERO,
        Action::LlmInference { tokens: 1000 },
        cheap,
        vec![],
    );
    let x = ledger(&g, &n[1]);
    assert!(
        matches!(x.ledger.ingest(vec![e]).unwrap()[0], IngestOutcome::Rejected(ref r) if r.contains("parameters say"))
    );
}

#[test]
fn an_export_verifies_offline_and_names_the_first_bad_entry() {
    use ippoc_economy::store::{ChainError, verify_entries, verify_export, write_export};
    let (n, g) = swarm(2);
    let a = ledger(&g, &n[0]);
    for i in 1..=10 {
        a.ledger.append(&n[0].key, pay(&n[1], ippc(i))).unwrap();
    }
    let export = a.ledger.export(None, &n[0].key).unwrap();
    let (file, summary) = verify_export(&export).unwrap();
    assert_eq!(file.swarm_id, g.swarm_id());
    assert_eq!((summary.chains, summary.entries), (1, 10));
    assert_eq!(a.ledger.verify_chains(None).unwrap().unwrap(), summary);
    let entries = file.entries;

    // Flip one byte inside entry 6's signature, in a file whose commitment
    // is re-signed (as a forger would): the entry itself is named.
    let mut resigned = entries.clone();
    resigned[6].signature[40] ^= 0x20;
    let damaged = write_export(&g, &[], &resigned, true, [0; 32], &n[0].key);
    match verify_export(&damaged) {
        Err(ChainError::Entry { seq, .. }) => assert_eq!(seq, 6),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        verify_export(&export[..export.len() - 3]),
        Err(ChainError::Commitment(_))
    ));
    assert!(matches!(verify_export(b"not an export"), Err(ChainError::Format(_))));

    // An amount changed after signing (in entry 3's body) is blamed on entry
    // 3, not on entry 4 whose prev no longer matches.
    let mut changed = entries.clone();
    changed[3].body.transfers[0].amount = ippc(999);
    match verify_entries(g.swarm_id(), &changed) {
        Err(ChainError::Entry { seq, .. }) => assert_eq!(seq, 3),
        other => panic!("{other:?}"),
    }

    // One chain twice, the second time with another (correctly signed) entry
    // at seq 5: a fork, with both versions named; the same chain twice
    // unchanged: a repetition, not a second chain.
    let head = &entries[4];
    let other = EntryBody {
        memo: b"the other version".to_vec(),
        ..entries[5].body.clone()
    }
    .sign(&n[0].key);
    assert_eq!(other.body.prev, head.tx_id());
    let mut forked = entries.clone();
    forked.extend(entries[..5].iter().cloned());
    forked.push(other.clone());
    match verify_entries(g.swarm_id(), &forked) {
        Err(ChainError::Fork {
            actor,
            seq,
            first,
            second,
        }) => {
            assert_eq!((actor, seq), (n[0].id, 5));
            assert_eq!((first, second), (entries[5].tx_id(), other.tx_id()));
        }
        other => panic!("{other:?}"),
    }
    let mut twice = entries.clone();
    twice.extend(entries.iter().cloned());
    assert_eq!(
        verify_entries(g.swarm_id(), &twice),
        Err(ChainError::Repeated { actor: n[0].id })
    );
}

/// A record that refuses, or remembers what it was told.
struct Record {
    refuse: bool,
    told: std::sync::Mutex<Vec<(bool, u64)>>,
}

impl ippoc_economy::store::SigningRecord for Record {
    fn signed(&self, entries: &[ippoc_economy::VerifiedEntry]) -> Result<(), String> {
        self.told
            .lock()
            .unwrap()
            .extend(entries.iter().map(|e| (true, e.body().seq)));
        if self.refuse {
            Err("no room to record".into())
        } else {
            Ok(())
        }
    }
    fn unsigned(&self, entries: &[ippoc_economy::VerifiedEntry]) {
        self.told
            .lock()
            .unwrap()
            .extend(entries.iter().map(|e| (false, e.body().seq)));
    }
}

#[test]
fn the_signing_record_hears_of_every_own_entry_before_it_is_stored_and_a_refusal_stores_nothing() {
    let (n, g) = swarm(2);
    let a = ledger(&g, &n[0]);
    let record = Record {
        refuse: false,
        told: Default::default(),
    };
    a.ledger
        .append_batch_recorded(&n[0].key, vec![pay(&n[1], ippc(1)), pay(&n[1], ippc(2))], &record)
        .unwrap();
    assert_eq!(*record.told.lock().unwrap(), vec![(true, 0), (true, 1)]);

    let root = a.ledger.state_root().unwrap();
    let refusing = Record {
        refuse: true,
        told: Default::default(),
    };
    let refused = a.ledger.append_recorded(&n[0].key, pay(&n[1], ippc(3)), &refusing);
    assert!(matches!(refused, Err(LedgerError::Unrecorded(_))), "{refused:?}");
    assert_eq!(
        a.ledger.head(&n[0].id).unwrap().map(|(s, _)| s),
        Some(1),
        "nothing stored"
    );
    assert_eq!(a.ledger.state_root().unwrap(), root);
}

#[test]
fn an_export_check_applies_the_ledgers_rules_and_its_commitment_catches_cuts_and_splices() {
    use ippoc_economy::store::{ChainError, check_export, parse_export, write_export};
    let (n, g) = swarm(2);
    let a = ledger(&g, &n[0]);
    for i in 1..=4 {
        a.ledger.append(&n[0].key, pay(&n[1], ippc(i))).unwrap();
    }
    // One overdraft, signed by its actor but bounced by the rules: valid.
    let overdraft = raw_entry(
        &n[0],
        &g,
        4,
        a.ledger.head(&n[0].id).unwrap().unwrap().1,
        Action::Transfer,
        transfer_body(&n[0], &n[1], ippc(5000), &g),
        vec![],
    );
    assert!(matches!(
        a.ledger.ingest(vec![overdraft]).unwrap()[0],
        IngestOutcome::Bounced(_)
    ));
    let export = a.ledger.export(None, &n[0].key).unwrap();
    let report = check_export(&export, None).unwrap();
    assert!(report.rules_checked);
    assert_eq!((report.applied, report.bounced, report.unresolved), (4, 1, 0));
    assert_eq!(report.exporter, Some(n[0].id));
    assert_eq!(report.complete, Some(true));
    assert_eq!(
        report.state_root_matches,
        Some(true),
        "a replay gives the exporter's state"
    );

    // Entries a node refuses on import, each correctly signed by its actor
    // at seq 2 of an otherwise good chain in a re-signed file: each is
    // named, with the rule it breaks.
    let entries = parse_export(&export).unwrap().entries;
    let prev = entries[1].tx_id();
    let leg = |from: AccountId, to: AccountId| ippoc_economy::Transfer {
        from,
        to,
        currency: Currency::Ippc,
        amount: ippc(3),
    };
    let me = AccountId::Wallet(n[0].id);
    let no_fee = vec![leg(me, AccountId::Wallet(n[1].id))];
    let cases: Vec<(&str, Action, Vec<ippoc_economy::Transfer>)> = vec![
        (
            "debits the treasury",
            Action::Transfer,
            vec![leg(AccountId::Treasury, me)],
        ),
        ("debits the mint", Action::Transfer, vec![leg(AccountId::Mint, me)]),
        (
            "debits the metabolism sink",
            Action::Transfer,
            vec![leg(AccountId::MetabolismSink, me)],
        ),
        (
            "debits another node's wallet",
            Action::Transfer,
            transfer_body(&n[1], &n[0], ippc(3), &g),
        ),
        ("pays no fee", Action::Transfer, no_fee),
    ];
    for (what, action, transfers) in cases {
        let bad = raw_entry(&n[0], &g, 2, prev, action, transfers, vec![]);
        let mut file = entries[..2].to_vec();
        file.push(bad);
        let bytes = write_export(&g, &[], &file, true, [0; 32], &n[0].key);
        match check_export(&bytes, None) {
            Err(ChainError::Rule { actor, seq, .. }) => assert_eq!((actor, seq), (n[0].id, 2), "{what}"),
            other => panic!("an entry that {what} was not refused: {other:?}"),
        }
    }

    // A chain that lowers its parameter table: table 1 adopted, an entry
    // made under it, then one naming table 0 again.
    let b = ledger(&g, &n[0]);
    let mut table = g.parameters.clone();
    table.transfer_fee_bps += 1;
    b.ledger.adopt_parameters(1, table.clone()).unwrap();
    let first = b.ledger.append(&n[0].key, pay(&n[1], ippc(1))).unwrap();
    assert_eq!(first.body().params, 1);
    let lowered = raw_entry(
        &n[0],
        &g,
        1,
        first.tx_id(),
        Action::Transfer,
        transfer_body(&n[0], &n[1], ippc(1), &g),
        vec![],
    );
    let bytes = write_export(
        &g,
        &[table],
        &[first.signed().clone(), lowered],
        true,
        [0; 32],
        &n[0].key,
    );
    match check_export(&bytes, None) {
        Err(ChainError::Rule { seq, reason, .. }) => assert_eq!(seq, 1, "{reason}"),
        other => panic!("a lowered parameter table was not refused: {other:?}"),
    }

    // Cut anywhere (at every entry boundary and inside the trailer), the
    // file no longer verifies; neither does one with a chain spliced out.
    for cut in (1..export.len()).step_by(7).chain([export.len() - 1]) {
        assert!(
            check_export(&export[..cut], None).is_err(),
            "a file cut to {cut} of {} bytes verified",
            export.len()
        );
    }
    let c = ledger(&g, &n[1]);
    c.ledger.ingest(entries.clone()).unwrap();
    // More than its stipend: spends the credit n[0] paid it, a dep on n[0]'s chain.
    c.ledger.append(&n[1].key, pay(&n[0], ippc(1005))).unwrap();
    let both = c.ledger.export(None, &n[1].key).unwrap();
    let start = 24 + 32;
    let parsed = parse_export(&both).unwrap();
    assert_eq!(parsed.commitment.as_ref().unwrap().heads.len(), 2);
    let genesis_len = u32::from_be_bytes(both[start..start + 4].try_into().unwrap()) as usize;
    let entries_at = start + 4 + genesis_len + 4;
    let first_chain: usize = parsed
        .entries
        .iter()
        .take_while(|e| e.body.actor == parsed.entries[0].body.actor)
        .map(|e| 4 + e.to_bytes().len())
        .sum();
    let mut spliced = both[..entries_at].to_vec();
    spliced.extend_from_slice(&both[entries_at + first_chain..]);
    assert!(matches!(check_export(&spliced, None), Err(ChainError::Commitment(_))));

    // A one-chain export of a chain that received credit: entries that
    // depend on the other chain cannot be judged and are counted as such.
    let only = c.ledger.export(Some(&n[1].id), &n[1].key).unwrap();
    let report = check_export(&only, None).unwrap();
    assert_eq!(report.complete, Some(false));
    assert_eq!(report.state_root_matches, None);
    assert_eq!((report.applied, report.unresolved), (0, 1));
    assert!(report.first_unresolved.unwrap().contains(&n[0].id.to_string()));
}

#[test]
fn a_chain_starts_only_for_a_founder_or_a_node_a_member_paid_and_every_node_agrees_in_any_order() {
    use ippoc_economy::store::Precheck;
    let (n, g) = swarm(2);
    let outsider = node(9);
    let a = ledger(&g, &n[0]);
    // An outside key's first entry, whatever it moves: not a member.
    let spam = raw_entry(
        &outsider,
        &g,
        0,
        TxId::ZERO,
        Action::Transfer,
        transfer_body(&outsider, &n[1], ippc(1), &g),
        vec![],
    );
    assert!(matches!(a.ledger.precheck(&spam.body).unwrap(), Precheck::Refused(ref r) if r.contains("not a member")));
    let out = a.ledger.ingest(vec![spam]).unwrap();
    assert!(
        matches!(&out[0], IngestOutcome::Rejected(r) if r.contains("not a member")),
        "{out:?}"
    );
    assert_eq!(a.ledger.head(&outsider.id).unwrap(), None, "nothing stored");

    // A member pays the newcomer: its first entry declaring that payment
    // starts its chain; one that does not declare it is refused.
    let paid = a.ledger.append(&n[0].key, pay(&outsider, ippc(50))).unwrap();
    let spend = |deps: Vec<Dep>| {
        raw_entry(
            &outsider,
            &g,
            0,
            TxId::ZERO,
            Action::Transfer,
            transfer_body(&outsider, &n[1], ippc(10), &g),
            deps,
        )
    };
    let undeclared = spend(vec![]);
    assert!(matches!(
        a.ledger.precheck(&undeclared.body).unwrap(),
        Precheck::Refused(_)
    ));
    let dep = Dep {
        actor: n[0].id,
        seq: paid.body().seq,
        tx_id: paid.tx_id(),
    };
    let declared = spend(vec![dep]);
    assert_eq!(a.ledger.precheck(&declared.body).unwrap(), Precheck::Pass);
    assert_eq!(
        a.ledger.ingest(vec![declared.clone()]).unwrap()[0],
        IngestOutcome::Applied
    );

    // A node that has not seen the payment yet cannot judge: it waits
    // (gossip ignores it, the ledger holds it), then applies it like A.
    let b = ledger(&g, &n[1]);
    assert!(matches!(
        b.ledger.precheck(&declared.body).unwrap(),
        Precheck::Unknown(_)
    ));
    assert!(matches!(
        b.ledger.ingest(vec![declared.clone()]).unwrap()[0],
        IngestOutcome::Pending { .. }
    ));
    b.ledger.ingest(vec![paid.signed().clone()]).unwrap();
    assert_eq!(b.ledger.pending_count().unwrap(), 0);
    assert_eq!(b.ledger.state_root().unwrap(), a.ledger.state_root().unwrap());

    // Later entries of an admitted chain need no further proof.
    let next = raw_entry(
        &outsider,
        &g,
        1,
        declared.tx_id(),
        Action::Transfer,
        transfer_body(&outsider, &n[1], ippc(1), &g),
        vec![],
    );
    assert_eq!(a.ledger.precheck(&next.body).unwrap(), Precheck::Pass);
    // A static rule broken is refused before any signature is checked.
    let mut loud = next.body.clone();
    loud.memo = vec![0; 300];
    assert!(matches!(a.ledger.precheck(&loud).unwrap(), Precheck::Refused(ref r) if r.contains("memo")));
}

#[test]
fn awaited_names_the_entries_at_the_root_of_the_waiting_set_and_a_version_held_of_another() {
    let (n, g) = swarm(3);
    let a = ledger(&g, &n[0]);
    for i in 1..=3 {
        a.ledger.append(&n[0].key, pay(&n[1], ippc(i))).unwrap();
    }
    let chain = all_entries(&a.ledger);
    // Seqs 1 and 2 without seq 0: seq 2 waits for 1, which waits (itself
    // held) for 0, the only entry to fetch.
    let c = ledger(&g, &n[2]);
    c.ledger.ingest(chain[1..].to_vec()).unwrap();
    assert_eq!(c.ledger.pending_count().unwrap(), 2);
    let roots = c.ledger.awaited(10).unwrap();
    assert_eq!(roots.len(), 1, "{roots:?}");
    assert_eq!((roots[0].actor, roots[0].seq, roots[0].waiting), (n[0].id, 0, 1));
    assert_eq!((roots[0].head, roots[0].held), (None, None));
    c.ledger.ingest(chain[..1].to_vec()).unwrap();
    assert!(c.ledger.awaited(10).unwrap().is_empty());

    // Another version of seq 0 (the same key in a second store): its seq 1
    // waits on a position this node holds in the first version.
    let other = ledger(&g, &n[0]);
    other.ledger.append(&n[0].key, pay(&n[1], ippc(7))).unwrap();
    other.ledger.append(&n[0].key, pay(&n[1], ippc(8))).unwrap();
    let forked = all_entries(&other.ledger);
    let d = ledger(&g, &n[2]);
    d.ledger.ingest(vec![chain[0].clone(), forked[1].clone()]).unwrap();
    let roots = d.ledger.awaited(10).unwrap();
    assert_eq!(roots.len(), 1, "{roots:?}");
    assert_eq!((roots[0].seq, roots[0].head), (0, Some(0)));
    assert_eq!(
        roots[0].held,
        Some(chain[0].tx_id()),
        "the version held, not the one named"
    );
}
