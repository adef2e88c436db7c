//! The GI table read from real chains (docs/integrity.md): what each kind of
//! entry counts for, the quorum of the votes in the chains, and the same
//! table, byte for byte, at a node that received the entries in another order.

mod common;

use common::*;
use ippoc_economy::entry::Outcome;
use ippoc_economy::genesis::Genesis;
use ippoc_economy::standing::NoDao;
use ippoc_economy::store::{Charge, Draft, Intent, Ledger};
use ippoc_economy::{Action, SignedEntry, TxId};

const EPOCH_MS: u64 = 1000;
const CYCLE: u64 = 5;

fn vote(heads: u8) -> Action {
    Action::Checkpoint {
        epoch: CYCLE,
        heads: [heads; 32],
    }
}

#[test]
fn each_kind_of_entry_counts_as_documented_and_another_order_gives_the_same_table() {
    let (n, g) = swarm(5);
    let a = ledger(&g, &n[0]);
    // n0, the owner: pays n1 (n1's voucher), runs a simulation that fails
    // (a broken rule for compliance, wasted IPPC for efficiency), votes X.
    a.ledger
        .append(&n[0].key, Draft::new(pay_intent(&n[1]), 5_100))
        .unwrap();
    let failed = Draft {
        intent: Intent::Charge {
            charge: Charge::EvolutionSim,
            bounty: None,
        },
        outcome: Outcome::Fail,
        memo: vec![],
        timestamp_ms: 5_200,
    };
    a.ledger.append(&n[0].key, failed).unwrap();
    let raw_vote = |heads| Intent::Raw {
        action: vote(heads),
        transfers: vec![],
        proof: None,
    };
    a.ledger.append(&n[0].key, Draft::new(raw_vote(b'X'), 7_000)).unwrap();
    // n1 overdraws (bounced) and votes X; n2 votes Y; n3 votes X; n4 is silent.
    let overdraft = signed(
        &n[1],
        &g,
        0,
        TxId::ZERO,
        5_300,
        Action::Transfer,
        transfer_body(&n[1], &n[2], ippc(5_000), &g),
    );
    let n1_vote = signed(&n[1], &g, 1, overdraft.tx_id(), 7_100, vote(b'X'), vec![]);
    let n2_vote = signed(&n[2], &g, 0, TxId::ZERO, 7_200, vote(b'Y'), vec![]);
    let n3_vote = signed(&n[3], &g, 0, TxId::ZERO, 7_300, vote(b'X'), vec![]);
    // After the cut (8 000): not evidence of this cycle.
    let late = signed(&n[4], &g, 0, TxId::ZERO, 8_000, vote(b'X'), vec![]);
    let others = vec![overdraft, n1_vote, n2_vote, n3_vote, late];
    a.ledger.ingest(others.clone()).unwrap();

    let table = a.ledger.gi_table(CYCLE, EPOCH_MS).unwrap();
    let gi: Vec<(ippoc_economy::NodeId, u32)> = table.rows.iter().map(|r| (r.node, r.gi)).collect();
    let of = |i: usize| gi.iter().find(|(id, _)| *id == n[i].id).unwrap().1;
    // docs/integrity.md, "Evidence": 0.4·½ + 0.25 + 0.2 (a failed sim of
    // two entries, its IPPC wasted, nobody vouching).
    assert_eq!(of(0), 650_000);
    // A bounced entry of one: compliance 0; one voucher of three.
    assert_eq!(of(1), 566_666);
    // Voted against the quorum (the overdraft to it, bounced, vouches for nothing).
    assert_eq!(of(2), 700_000);
    // Voted with it, nothing else: all but community.
    assert_eq!(of(3), 950_000);
    // Silent in the cycle (its vote came after the cut).
    assert_eq!(of(4), 500_000);
    assert_eq!(table.rows.len(), 5);
    assert_eq!(table.swarm_gi, Some(650_000));
    let row = |i: usize| table.rows.iter().find(|r| r.node == n[i].id).unwrap();
    assert_eq!(
        row(0).evidence.0[..4],
        [2, 0, 1, 0],
        "entries, bounced, failed sims, over rate"
    );
    assert_eq!(row(1).evidence.0[..2], [1, 1]);

    // Another node, the entries in another order: the same bytes.
    let b = ledger(&g, &n[1]);
    let mut all: Vec<SignedEntry> = all_entries(&a.ledger);
    all.reverse();
    b.ledger.ingest(all).unwrap();
    let again = b.ledger.gi_table(CYCLE, EPOCH_MS).unwrap();
    assert_eq!(again, table);
    assert_eq!(again.digest, table.digest);
}

#[test]
fn without_a_strict_majority_for_one_heads_digest_no_vote_agrees() {
    let (n, g) = swarm(2);
    let a = ledger(&g, &n[0]);
    let v0 = signed(&n[0], &g, 0, TxId::ZERO, 7_000, vote(b'X'), vec![]);
    let v1 = signed(&n[1], &g, 0, TxId::ZERO, 7_100, vote(b'Y'), vec![]);
    a.ledger.ingest(vec![v1]).unwrap();
    // The owner's own vote comes by ingest too: a chain is a chain.
    assert!(matches!(
        Ledger::ingest(&a.ledger, vec![v0]).unwrap()[0],
        ippoc_economy::store::IngestOutcome::Applied
    ));
    let t = a.ledger.gi_table(CYCLE, EPOCH_MS).unwrap();
    // One vote each for X and Y: no strict majority, no consensus for anyone.
    assert!(
        t.rows
            .iter()
            .all(|r| r.components.0[1] == 0 && r.components.0[2] == 1_000_000),
        "{t:?}"
    );
}

fn pay_intent(to: &Node) -> Intent {
    pay(to, ippc(10)).intent
}

#[test]
fn entries_beyond_the_swarms_rate_by_their_own_timestamps_count_against_compliance() {
    let (n, g) = swarm(2);
    let a = ledger(&g, &n[0]);
    // 1 100 entries stamped in the same millisecond: a burst of 1 000 passes.
    let mut prev = TxId::ZERO;
    let mut spam = Vec::new();
    for seq in 0..1_100 {
        let e = signed(
            &n[1],
            &g,
            seq,
            prev,
            5_500,
            Action::Checkpoint {
                epoch: 999,
                heads: [0; 32],
            },
            vec![],
        );
        prev = e.tx_id();
        spam.push(e);
    }
    a.ledger.ingest(spam).unwrap();
    let t = a.ledger.gi_table(CYCLE, EPOCH_MS).unwrap();
    let row = t.rows.iter().find(|r| r.node == n[1].id).unwrap();
    assert_eq!(row.evidence.0[0], 1_100);
    assert_eq!(
        row.evidence.0[3],
        100,
        "over the rate: {:?}",
        ippoc_economy::store::GI_RATE
    );
    assert_eq!(row.components.0[0], 909_090, "1 000 of 1 100 kept the rules");
}

/// Each of `voters` votes on every epoch in `epochs` as its node would, at
/// the tick two epochs later: the digest of the heads `l` holds cut at the
/// epoch's end (`l` is an observer's ledger holding every chain).
fn vote_through(l: &Ledger, voters: &[&Node], g: &Genesis, epochs: std::ops::Range<u64>) {
    common::vote_through(l, voters, g, epochs, EPOCH_MS);
}

/// A second observer holding the same chains as `l`.
fn copy_of(l: &Ledger, g: &Genesis, seed: u8) -> Store {
    let c = ledger(g, &node(seed));
    c.ledger.ingest(all_entries(l)).unwrap();
    c
}

#[test]
fn a_cycle_is_scored_on_the_heads_a_majority_voted_for_and_a_node_without_them_waits() {
    use ippoc_economy::standing::LadderRules;
    use ippoc_economy::store::{AgreedCut, heads_digest};

    let (n, mut g) = swarm(3);
    g.created_at_ms = 10 * EPOCH_MS;
    let a = ledger(&g, &node(90));
    let first = a.ledger.first_cycle(EPOCH_MS);
    let founders: std::collections::BTreeSet<_> = n.iter().map(|x| x.id).collect();
    // A payment inside the cut, then the three vote on every epoch.
    let body = transfer_body(&n[0], &n[1], ippc(1), &g);
    let pay = signed(&n[0], &g, 0, TxId::ZERO, first * EPOCH_MS + 100, Action::Transfer, body);
    a.ledger.ingest(vec![pay]).unwrap();
    let rules = LadderRules::default();
    assert_eq!(
        a.ledger.agreed_cut(first, EPOCH_MS, &founders).unwrap(),
        AgreedCut::Pending
    );
    assert!(
        a.ledger
            .standings_after(first, EPOCH_MS, &rules, &NoDao)
            .unwrap()
            .is_none(),
        "no votes, no score"
    );
    vote_through(&a.ledger, &[&n[0], &n[1], &n[2]], &g, first..first + 3);
    let voted = a.ledger.heads_before((first + 3) * EPOCH_MS).unwrap();
    assert_eq!(
        a.ledger.agreed_cut(first, EPOCH_MS, &founders).unwrap(),
        AgreedCut::Agreed(voted.clone())
    );
    // A node that lacks n0's chain holds other heads at the cut: the
    // majority's votes (n1's and n2's) say so, and it does not score.
    let behind = ledger(&g, &node(91));
    let others: Vec<SignedEntry> = all_entries(&a.ledger)
        .into_iter()
        .filter(|e| e.body.actor != n[0].id)
        .collect();
    behind.ledger.ingest(others).unwrap();
    let digest = heads_digest(&voted);
    assert_eq!(
        behind.ledger.agreed_cut(first, EPOCH_MS, &founders).unwrap(),
        AgreedCut::Missing {
            epoch: first + 2,
            digest
        }
    );
    assert!(
        behind
            .ledger
            .standings_after(first, EPOCH_MS, &rules, &NoDao)
            .unwrap()
            .is_none()
    );
    assert_eq!(behind.ledger.take_wanted_cut(), Some((first + 2, digest)));
    // Heads it does not hold, or of another digest, are refused from a peer.
    assert!(!behind.ledger.adopt_voted_heads(first + 2, &voted, digest).unwrap());
    // Synced, it scores the same bytes as the others.
    behind.ledger.ingest(all_entries(&a.ledger)).unwrap();
    assert!(!behind.ledger.adopt_voted_heads(first + 2, &voted, [7; 32]).unwrap());
    assert!(behind.ledger.adopt_voted_heads(first + 2, &voted, digest).unwrap());
    assert_eq!(behind.ledger.voted_heads(first + 2).unwrap(), Some(voted));
    let s = a
        .ledger
        .standings_after(first, EPOCH_MS, &rules, &NoDao)
        .unwrap()
        .unwrap();
    let t = behind
        .ledger
        .standings_after(first, EPOCH_MS, &rules, &NoDao)
        .unwrap()
        .unwrap();
    assert_eq!(s.digest, t.digest);
}

#[test]
fn standings_are_computed_once_per_cycle_kept_and_caught_up_in_bounded_steps() {
    use ippoc_economy::integrity::Tier;
    use ippoc_economy::standing::LadderRules;
    use ippoc_economy::store::STANDINGS_CATCH_UP_MAX;

    let (n, mut g) = swarm(3);
    g.created_at_ms = 10 * EPOCH_MS;
    let a = ledger(&g, &node(90));
    let rules = LadderRules::default();
    let first = a.ledger.first_cycle(EPOCH_MS);
    assert_eq!(first, 10);
    let target = first + STANDINGS_CATCH_UP_MAX + 5;
    vote_through(&a.ledger, &[&n[0], &n[1], &n[2]], &g, first..target + 3);
    let b = copy_of(&a.ledger, &g, 91);
    // Before the genesis cycle: the founders at Standard, nothing computed.
    let before = a
        .ledger
        .standings_after(first - 1, EPOCH_MS, &rules, &NoDao)
        .unwrap()
        .unwrap();
    assert_eq!(before.cycle, None);
    assert!(a.ledger.newest_standings().unwrap().is_none());
    // More cycles than one call computes: the first call stops short, keeping
    // what it computed; the second finishes.
    assert!(
        a.ledger
            .standings_after(target, EPOCH_MS, &rules, &NoDao)
            .unwrap()
            .is_none()
    );
    assert_eq!(
        a.ledger.newest_standings().unwrap().and_then(|s| s.cycle),
        Some(first + STANDINGS_CATCH_UP_MAX - 1)
    );
    let s = a
        .ledger
        .standings_after(target, EPOCH_MS, &rules, &NoDao)
        .unwrap()
        .unwrap();
    assert_eq!(s.cycle, Some(target));
    assert_eq!(a.ledger.standings_kept(target).unwrap(), Some(s.clone()));
    // Founders that vote and do nothing else (GI 0.95) keep Standard.
    assert!(s.rows.iter().all(|r| r.tier.tier() == Tier::Standard), "{s:?}");
    // Another node with the same chains holds the same bytes.
    let mut other = None;
    while other.is_none() {
        other = b.ledger.standings_after(target, EPOCH_MS, &rules, &NoDao).unwrap();
    }
    assert_eq!(other.unwrap().digest, s.digest);
    // The table the ladder read, at the genesis cycle and after it.
    for c in [first, first + 1, target] {
        let t = a.ledger.scored_table(c, EPOCH_MS, &rules, &NoDao).unwrap().unwrap();
        assert_eq!((t.cycle, t.rows.len()), (c, 3));
    }
}

#[test]
fn the_ladder_waits_for_the_daos_decisions_applies_each_at_its_cycle_and_keeps_the_anchored_rows() {
    use ippoc_economy::integrity::Tier;
    use ippoc_economy::standing::{Decision, DecisionBook, LadderRules, StepKind, TierCode, Unread};
    use ippoc_economy::store::STATUS_GOOD;

    let (n, mut g) = swarm(3);
    g.created_at_ms = 10 * EPOCH_MS;
    let a = ledger(&g, &node(90));
    let rules = LadderRules {
        lapse_cycles: 3,
        ..LadderRules::default()
    };
    let first = a.ledger.first_cycle(EPOCH_MS);
    let (x, y) = (n[0].id, n[1].id);
    // x is silent; y and z vote on every epoch (a majority of the founders).
    vote_through(&a.ledger, &[&n[1], &n[2]], &g, first..first + 10);
    // Nothing read from the chain yet: the ladder does not move, and keeps nothing.
    let mut book = DecisionBook::default();
    assert!(
        a.ledger
            .standings_after(first, EPOCH_MS, &rules, &book)
            .unwrap()
            .is_none()
    );
    assert!(
        a.ledger
            .standings_after(first, EPOCH_MS, &rules, &Unread)
            .unwrap()
            .is_none()
    );
    assert!(a.ledger.newest_standings().unwrap().is_none());
    // Read to a block whose newest anchor is first + 4: decisions up to
    // first + 5 are known. The DAO upheld x's appeal, applied at first + 3.
    book.anchored(first + 4);
    book.record(first + 3, Decision::Appeal { node: x });
    assert!(
        a.ledger
            .standings_after(first + 6, EPOCH_MS, &rules, &book)
            .unwrap()
            .is_none()
    );
    let s = a
        .ledger
        .standings_after(first + 3, EPOCH_MS, &rules, &book)
        .unwrap()
        .unwrap();
    // Silent x (GI 0.50) lapses to Research after three cycles; the appeal
    // gives it back Standard. y, voting, never left Standard.
    let (sx, sy) = (s.of(&x).unwrap(), s.of(&y).unwrap());
    assert_eq!((sx.tier.tier(), sy.tier.tier()), (Tier::Standard, Tier::Standard));
    assert!(sx.record.iter().any(|st| matches!(st.kind, StepKind::Lapsed { .. })));
    assert_eq!(
        sx.record.last().unwrap().kind,
        StepKind::Reinstated {
            tier: Tier::Standard.into()
        }
    );
    assert_eq!(sx.record.last().unwrap().cycle, first + 3);
    // What the L2 will anchor for that cycle: each member's GI and standing.
    let rows = a.ledger.anchored_gi(first + 3).unwrap().unwrap();
    assert_eq!(rows.len(), 3);
    let rx = rows.iter().find(|r| r.node == x).unwrap();
    assert_eq!((rx.gi, rx.tier, rx.status), (500_000, TierCode(2), STATUS_GOOD));
    assert_eq!(rows.iter().find(|r| r.node == y).unwrap().tier, TierCode(2));
    // Without the appeal, another node reading the same chains ends elsewhere:
    // the decisions are part of what every node must hold alike.
    let b = copy_of(&a.ledger, &g, 91);
    let mut plain = None;
    while plain.is_none() {
        plain = b.ledger.standings_after(first + 3, EPOCH_MS, &rules, &NoDao).unwrap();
    }
    assert_ne!(plain.unwrap().digest, s.digest);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

    /// The adversary of docs/integrity.md, "Robustness": fewer than a third
    /// of the members colluding (2 of 7), free in what their own chains say.
    /// They cannot push an honest node under the highest floor (0.95), nor
    /// earn consensus without agreeing with the honest majority, nor vouch
    /// themselves past what their own number allows, nor move the swarm's GI.
    #[test]
    fn a_coalition_under_a_third_cannot_lower_an_honest_node_or_buy_itself_credit(
        // Per coalition member: its vote (0 none, 1 with the honest
        // majority, 2 another digest), whether it vouches for the other
        // member (an entry depending on its chain), and how many more
        // entries it makes (all within the rate).
        plays in proptest::collection::vec((0u8..3, proptest::prelude::any::<bool>(), 0u64..40), 2)
    ) {
        let (n, g) = swarm(7);
        let a = ledger(&g, &n[0]);
        let (honest, coalition) = n.split_at(5);
        let mut entries = Vec::new();
        let mut heads: Vec<(u64, TxId)> = Vec::new();
        for (k, m) in coalition.iter().enumerate() {
            let (mut seq, mut prev) = (0, TxId::ZERO);
            for _ in 0..=plays[k].2 {
                let e = signed(m, &g, seq, prev, 5_100 + k as u64, vote_on(999, b'0'), vec![]);
                prev = e.tx_id();
                seq += 1;
                entries.push(e);
            }
            heads.push((seq, prev));
        }
        for (k, m) in coalition.iter().enumerate() {
            let (seq, prev) = heads[k];
            let mut next = seq;
            let mut last = prev;
            if plays[k].1 {
                let other = 1 - k;
                let mut body = signed(m, &g, next, last, 5_800, vote_on(999, b'0'), vec![]).body;
                body.deps = vec![ippoc_economy::entry::Dep {
                    actor: coalition[other].id,
                    seq: heads[other].0 - 1,
                    tx_id: heads[other].1,
                }];
                let e = body.sign(&m.key);
                last = e.tx_id();
                next += 1;
                entries.push(e);
            }
            match plays[k].0 {
                1 => entries.push(signed(m, &g, next, last, 7_000, vote_on(CYCLE, b'H'), vec![])),
                2 => entries.push(signed(m, &g, next, last, 7_000, vote_on(CYCLE, b'L'), vec![])),
                _ => {}
            }
        }
        for h in honest {
            entries.push(signed(h, &g, 0, TxId::ZERO, 7_000, vote_on(CYCLE, b'H'), vec![]));
        }
        a.ledger.ingest(entries).unwrap();
        let t = a.ledger.gi_table(CYCLE, EPOCH_MS).unwrap();
        let row = |id| t.rows.iter().find(|r| r.node == id).unwrap();
        for h in honest {
            let r = row(h.id);
            proptest::prop_assert!(r.gi >= 950_000, "{r:?}");
            proptest::prop_assert_eq!(r.components.0[1], 1_000_000);
        }
        for (k, m) in coalition.iter().enumerate() {
            let r = row(m.id);
            if plays[k].0 != 1 {
                proptest::prop_assert_eq!(r.components.0[1], 0, "consensus without the majority: {:?}", r);
            }
            // One other member to vouch for it, of the three a full score needs.
            proptest::prop_assert!(r.components.0[4] <= 333_333, "{r:?}");
        }
        proptest::prop_assert!(t.swarm_gi.unwrap() >= 950_000, "{t:?}");
    }
}

fn vote_on(epoch: u64, heads: u8) -> Action {
    Action::Checkpoint {
        epoch,
        heads: [heads; 32],
    }
}

#[test]
fn only_the_members_the_ladder_counts_make_the_quorum_and_the_swarms_gi() {
    use std::collections::BTreeSet;
    // Five members for the whole cycle: three the ladder counts, two it
    // does not (in shadow, say). Two counted vote X, one counted and both
    // uncounted vote Y: among all five Y has the majority, among the
    // counted X has.
    let (n, g) = swarm(5);
    let a = ledger(&g, &n[0]);
    let votes: Vec<_> = [b'X', b'X', b'Y', b'Y', b'Y']
        .iter()
        .zip(&n)
        .map(|(d, m)| signed(m, &g, 0, TxId::ZERO, 7_000, vote(*d), vec![]))
        .collect();
    a.ledger.ingest(votes).unwrap();
    let consensus = |t: &ippoc_economy::store::GiTable, i: usize| {
        t.rows.iter().find(|r| r.node == n[i].id).unwrap().components.0[1]
    };
    let all = a.ledger.gi_table(CYCLE, EPOCH_MS).unwrap();
    assert_eq!((consensus(&all, 0), consensus(&all, 4)), (0, 1_000_000));
    let counted: BTreeSet<_> = n[..3].iter().map(|m| m.id).collect();
    let among = a.ledger.gi_table_among(CYCLE, EPOCH_MS, Some(&counted)).unwrap();
    assert_eq!((consensus(&among, 0), consensus(&among, 4)), (1_000_000, 0));
    // Every member is still scored; the swarm's GI is the counted ones'.
    assert_eq!(among.rows.len(), 5);
    let mut counted_gi: Vec<u32> = among
        .rows
        .iter()
        .filter(|r| counted.contains(&r.node))
        .map(|r| r.gi)
        .collect();
    counted_gi.sort_unstable();
    assert_eq!(among.swarm_gi, Some(counted_gi[1]));
    assert_ne!(among.digest, all.digest);
}

#[test]
fn a_checkpoint_vote_claims_no_credit_and_the_next_spending_entry_does() {
    let (n, g) = swarm(2);
    let a = ledger(&g, &n[0]);
    let b = ledger(&g, &n[1]);
    b.ledger.append(&n[1].key, pay(&n[0], ippc(5))).unwrap();
    let (payment, _) = b.ledger.entry(&n[1].id, 0).unwrap().unwrap();
    a.ledger.ingest(vec![payment]).unwrap();
    let raw_vote = Intent::Raw {
        action: vote(b'X'),
        transfers: vec![],
        proof: None,
    };
    let voted = a.ledger.append(&n[0].key, Draft::new(raw_vote, 7_000)).unwrap();
    assert!(voted.body().deps.is_empty(), "{:?}", voted.body().deps);
    let spent = a.ledger.append(&n[0].key, pay(&n[1], ippc(1))).unwrap();
    assert_eq!(
        spent.body().deps.iter().map(|d| d.actor).collect::<Vec<_>>(),
        vec![n[1].id],
        "the first spending entry claims the credit"
    );
}
