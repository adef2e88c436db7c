//! Property tests: the ledger's invariants hold under random operations, and
//! its state is a function of the set of entries, not of their order.

mod common;

use common::*;
use ippoc_economy::store::{Charge, Draft, IngestOutcome, Intent};
use ippoc_economy::{AccountId, Action, EscrowId, SignedEntry, TxId};
use proptest::prelude::*;

const NODES: usize = 4;

#[derive(Debug, Clone)]
enum Op {
    Pay {
        from: usize,
        to: usize,
        whole: u64,
    },
    Charge {
        node: usize,
        tokens: u64,
    },
    Post {
        node: usize,
        whole: u64,
        expires: u64,
    },
    Release {
        node: usize,
        pick: usize,
        worker: usize,
        refund: bool,
        at: u64,
    },
    Sync {
        into: usize,
        from: usize,
    },
    Theft {
        thief: usize,
        victim: usize,
        into: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let n = 0..NODES;
    prop_oneof![
        4 => (n.clone(), n.clone(), 1..1500u64).prop_map(|(from, to, whole)| Op::Pay { from, to, whole }),
        2 => (n.clone(), 0..20_000u64).prop_map(|(node, tokens)| Op::Charge { node, tokens }),
        1 => (n.clone(), 1..300u64, 0..100u64).prop_map(|(node, whole, expires)| Op::Post { node, whole, expires }),
        1 => (n.clone(), 0..8usize, n.clone(), any::<bool>(), 0..200u64)
            .prop_map(|(node, pick, worker, refund, at)| Op::Release { node, pick, worker, refund, at }),
        3 => (n.clone(), n.clone()).prop_map(|(into, from)| Op::Sync { into, from }),
        1 => (n.clone(), n.clone(), n.clone()).prop_map(|(thief, victim, into)| Op::Theft { thief, victim, into }),
    ]
}

struct World {
    nodes: Vec<Node>,
    genesis: ippoc_economy::genesis::Genesis,
    stores: Vec<Store>,
    escrows: Vec<Vec<EscrowId>>,
}

impl World {
    fn new() -> World {
        let (nodes, genesis) = swarm(NODES as u8);
        let stores = nodes.iter().map(|n| ledger(&genesis, n)).collect();
        World {
            nodes,
            genesis,
            stores,
            escrows: vec![Vec::new(); NODES],
        }
    }

    fn run(&mut self, op: &Op) {
        fn l(w: &World, i: usize) -> &ippoc_economy::store::Ledger {
            &w.stores[i].ledger
        }
        match *op {
            Op::Pay { from, to, whole } if from != to => {
                let _ = l(self, from).append(&self.nodes[from].key, pay(&self.nodes[to], ippc(whole)));
            }
            Op::Pay { .. } => {}
            Op::Charge { node, tokens } => {
                let d = Draft::new(
                    Intent::Charge {
                        charge: Charge::Inference { tokens },
                        bounty: None,
                    },
                    10,
                );
                let _ = l(self, node).append(&self.nodes[node].key, d);
            }
            Op::Post { node, whole, expires } => {
                let d = Draft::new(
                    Intent::PostBounty {
                        reward: ippc(whole),
                        task: [1; 32],
                        expires_at_ms: expires,
                    },
                    10,
                );
                if let Ok(e) = l(self, node).append(&self.nodes[node].key, d) {
                    self.escrows[node].push(EscrowId {
                        poster: self.nodes[node].id,
                        seq: e.body().seq,
                    });
                }
            }
            Op::Release {
                node,
                pick,
                worker,
                refund,
                at,
            } => {
                let Some(escrow) = self.escrows[node].get(pick % self.escrows[node].len().max(1)).copied() else {
                    return;
                };
                let intent = if refund || worker == node {
                    Intent::RefundBounty { escrow }
                } else {
                    Intent::PayBounty {
                        escrow,
                        worker: self.nodes[worker].id,
                    }
                };
                let _ = l(self, node).append(&self.nodes[node].key, Draft::new(intent, at));
            }
            Op::Sync { into, from } => {
                let entries = all_entries(l(self, from));
                l(self, into).ingest(entries).unwrap();
            }
            Op::Theft { thief, victim, into } if thief != victim => {
                let head = l(self, into).head(&self.nodes[thief].id).unwrap();
                let (seq, prev) = head.map_or((0, TxId::ZERO), |(s, t)| (s + 1, t));
                let e = raw_entry(
                    &self.nodes[thief],
                    &self.genesis,
                    seq,
                    prev,
                    Action::Transfer,
                    transfer_body(&self.nodes[victim], &self.nodes[thief], ippc(1), &self.genesis),
                    vec![],
                );
                let out = l(self, into).ingest(vec![e]).unwrap();
                assert!(matches!(out[0], IngestOutcome::Rejected(_)), "theft accepted: {out:?}");
            }
            Op::Theft { .. } => {}
        }
    }

    fn sync_all(&self) {
        let union: Vec<SignedEntry> = self.stores.iter().flat_map(|s| all_entries(&s.ledger)).collect();
        for s in &self.stores {
            s.ledger.ingest(union.clone()).unwrap();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn random_operations_keep_every_invariant(ops in prop::collection::vec(op(), 1..40)) {
        let mut w = World::new();
        for op in &ops {
            w.run(op);
            for s in &w.stores {
                assert_books_balance(&s.ledger);
            }
        }
        w.sync_all();
        let roots: Vec<_> = w.stores.iter().map(|s| s.ledger.state_root().unwrap()).collect();
        prop_assert!(roots.windows(2).all(|r| r[0] == r[1]), "nodes diverge after a full sync");
        for s in &w.stores {
            assert_books_balance(&s.ledger);
            prop_assert!(s.ledger.verify_chains(None).unwrap().is_ok());
            prop_assert_eq!(s.ledger.pending_count().unwrap(), 0);
            for (account, _, b) in s.ledger.balances().unwrap() {
                if let AccountId::Wallet(_) | AccountId::Escrow(_) = account {
                    prop_assert!(b.0 >= 0);
                }
            }
        }
    }

    #[test]
    fn any_arrival_order_gives_the_same_state(
        ops in prop::collection::vec(op(), 5..40),
        seed in any::<u64>(),
        chunk in 1..8usize,
    ) {
        let mut w = World::new();
        for op in &ops {
            w.run(op);
        }
        let mut union: Vec<SignedEntry> = w.stores.iter().flat_map(|s| all_entries(&s.ledger)).collect();
        union.sort_by_key(|e| e.tx_id());
        union.dedup_by_key(|e| e.tx_id());
        let in_order = ledger(&w.genesis, &w.nodes[0]);
        let mut sorted = union.clone();
        sorted.sort_by_key(|e| (e.body.actor, e.body.seq));
        in_order.ledger.ingest(sorted).unwrap();

        // A deterministic shuffle from the seed (proptest shrinks the seed).
        let mut shuffled = union;
        let mut state = seed | 1;
        for i in (1..shuffled.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            shuffled.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let any_order = ledger(&w.genesis, &w.nodes[1]);
        for c in shuffled.chunks(chunk) {
            any_order.ledger.ingest(c.to_vec()).unwrap();
        }
        prop_assert_eq!(any_order.ledger.pending_count().unwrap(), 0);
        prop_assert_eq!(in_order.ledger.balances().unwrap(), any_order.ledger.balances().unwrap());
        prop_assert_eq!(in_order.ledger.state_root().unwrap(), any_order.ledger.state_root().unwrap());
    }
}
