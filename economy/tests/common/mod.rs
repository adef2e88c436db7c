//! Shared fixtures: nodes with keys, a swarm genesis, ledgers in temp dirs.
#![allow(dead_code)]

use ed25519_dalek::SigningKey;
use ippoc_economy::amount::UNIT;
use ippoc_economy::entry::{ENTRY_VERSION, EntryBody, Outcome};
use ippoc_economy::genesis::Genesis;
use ippoc_economy::store::{Draft, Intent, Ledger, LedgerOptions};
use ippoc_economy::{AccountId, Action, Amount, Currency, Dep, NodeId, SignedEntry, Transfer, TxId};

pub struct Node {
    pub key: SigningKey,
    pub id: NodeId,
}

pub fn node(seed: u8) -> Node {
    let key = SigningKey::from_bytes(&[seed; 32]);
    let id = NodeId::from_bytes(key.verifying_key().to_bytes());
    Node { key, id }
}

pub fn ippc(whole: u64) -> Amount {
    Amount::from_base(whole * UNIT)
}

/// Founders 1..=n, stipend 1000 IPPC each.
pub fn swarm(n: u8) -> (Vec<Node>, Genesis) {
    let nodes: Vec<Node> = (1..=n).map(node).collect();
    let ids: Vec<NodeId> = nodes.iter().map(|n| n.id).collect();
    let genesis = Genesis::new("test", 1, &ids, ippc(1000), ippc(1_000_000));
    (nodes, genesis)
}

pub struct Store {
    pub dir: tempfile::TempDir,
    pub ledger: Ledger,
}

pub fn ledger(genesis: &Genesis, owner: &Node) -> Store {
    ledger_with(genesis, owner, LedgerOptions::default())
}

pub fn ledger_with(genesis: &Genesis, owner: &Node, options: LedgerOptions) -> Store {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(&dir.path().join("ledger"), genesis.clone(), owner.id, options).unwrap();
    Store { dir, ledger }
}

pub fn pay(to: &Node, amount: Amount) -> Draft {
    Draft::new(
        Intent::Transfer {
            to: to.id,
            currency: Currency::Ippc,
            amount,
        },
        10,
    )
}

pub fn wallet(l: &Ledger, n: &Node) -> i128 {
    l.balance(&AccountId::Wallet(n.id), Currency::Ippc).unwrap().0
}

/// Every entry of every chain in `l`, in (actor, seq) order.
pub fn all_entries(l: &Ledger) -> Vec<SignedEntry> {
    let mut out = Vec::new();
    for (actor, head, _) in l.heads().unwrap() {
        for e in l.range(&actor, 0, head + 1) {
            out.push(e.unwrap().0);
        }
    }
    out
}

/// Books balance: all balances of a currency sum to zero (the mint holds
/// minus everything issued) and no account but the mint is negative.
pub fn assert_books_balance(l: &Ledger) {
    let mut sums = [0i128; 2];
    for (account, currency, b) in l.balances().unwrap() {
        sums[usize::from(currency.tag())] += b.0;
        if account != AccountId::Mint {
            assert!(b.0 >= 0, "{account} is negative: {b}");
        }
    }
    assert_eq!(sums, [0, 0], "balances do not sum to zero");
}

/// A hand-built entry, signed by `by`: for entries a correct ledger would refuse to make.
pub fn raw_entry(
    by: &Node,
    genesis: &Genesis,
    seq: u64,
    prev: TxId,
    action: Action,
    transfers: Vec<Transfer>,
    deps: Vec<Dep>,
) -> SignedEntry {
    EntryBody {
        version: ENTRY_VERSION,
        swarm_id: genesis.swarm_id(),
        actor: by.id,
        seq,
        prev,
        timestamp_ms: 10,
        params: 0,
        action,
        transfers,
        deps,
        outcome: Outcome::Success,
        proof: None,
        memo: vec![],
    }
    .sign(&by.key)
}

/// A correct wallet-to-wallet transfer with its fee.
pub fn transfer_body(from: &Node, to: &Node, amount: Amount, genesis: &Genesis) -> Vec<Transfer> {
    vec![
        Transfer {
            from: AccountId::Wallet(from.id),
            to: AccountId::Wallet(to.id),
            currency: Currency::Ippc,
            amount,
        },
        Transfer {
            from: AccountId::Wallet(from.id),
            to: AccountId::PublicGoodsPool,
            currency: Currency::Ippc,
            amount: genesis.parameters.transfer_fee(amount).unwrap(),
        },
    ]
}

/// An entry of `by`'s chain at `seq` after `prev`, dated `ts`, with no deps.
pub fn signed(
    by: &Node,
    g: &Genesis,
    seq: u64,
    prev: TxId,
    ts: u64,
    action: Action,
    transfers: Vec<Transfer>,
) -> SignedEntry {
    EntryBody {
        version: ENTRY_VERSION,
        swarm_id: g.swarm_id(),
        actor: by.id,
        seq,
        prev,
        timestamp_ms: ts,
        params: 0,
        action,
        transfers,
        deps: vec![],
        outcome: Outcome::Success,
        proof: None,
        memo: vec![],
    }
    .sign(&by.key)
}

/// Each of `voters` votes, in its own chain, on the heads `l` holds cut at
/// the end of each of `epochs`, two epochs after it (as the daemon does).
pub fn vote_through(l: &Ledger, voters: &[&Node], g: &Genesis, epochs: std::ops::Range<u64>, epoch_ms: u64) {
    use ippoc_economy::store::heads_digest;
    for e in epochs {
        let digest = heads_digest(&l.heads_before((e + 1) * epoch_ms).unwrap());
        let votes: Vec<SignedEntry> = voters
            .iter()
            .map(|n| {
                let (seq, prev) = l.head(&n.id).unwrap().map_or((0, TxId::ZERO), |(s, tx)| (s + 1, tx));
                let action = Action::Checkpoint {
                    epoch: e,
                    heads: digest,
                };
                signed(n, g, seq, prev, (e + 2) * epoch_ms, action, vec![])
            })
            .collect();
        l.ingest(votes).unwrap();
    }
}
