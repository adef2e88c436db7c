//! The key schema of the ledger's one sled tree. One tree, so that one
//! `apply_batch` updates every index atomically.
//!
//! | prefix | key                         | value                                   |
//! |--------|-----------------------------|-----------------------------------------|
//! | `E`    | actor ‖ seq                 | effect (1) ‖ tx_id (32) ‖ signed entry   |
//! | `T`    | tx_id                       | actor ‖ seq                             |
//! | `H`    | actor                       | head seq ‖ head tx_id ‖ head params version (u32) |
//! | `F`    | actor ‖ other               | entries of `other` the actor has declared (count) |
//! | `A`    | currency ‖ account          | balance as the controller's declared history sees it |
//! | `B`    | currency ‖ account          | balance over all counted entries        |
//! | `C`    | controller ‖ other ‖ seq    | credits to the controller not yet declared |
//! | `P`    | awaited actor ‖ seq ‖ tx_id | signed entry waiting for that entry     |
//! | `Q`    | params version ‖ tx_id      | signed entry waiting for that parameter table |
//! | `W`    | a `P` or `Q` key            | when it started waiting (Unix ms)       |
//! | `Y`    | actor                       | entries of the actor waiting (count)    |
//! | `V`    | params version (u32)        | governed parameter table (version ≥ 1)  |
//! | `K`    | actor ‖ seq ‖ tx_id         | signed entry: fork evidence             |
//! | `N`    | epoch                       | heads snapshot the node voted on        |
//! | `G`    | cycle                       | standings after the cycle (the newest 64) |
//! | `L`    | cycle                       | the cycle's GI rows as anchored (the newest 64) |
//! | `U`    | epoch                       | the heads this node voted for, cut at the epoch's end (the newest 64) |
//! | `X`    | actor                       | seq of the actor's lowest known fork    |
//! | `S`    | seal id                     | actor ‖ seq of the mint that used it    |
//! | `I`    | cycle                       | issuance record after the cycle (the newest 64) |
//! | `J`    | cycle                       | the cycle's mint gate (kept for good)   |
//! | `O`    | sentinel-set digest         | the sentinel set a gate names           |
//! | `R`    | seal id                     | owner ‖ tranche seq ‖ cycle that sealed it (kept for good) |
//! | `Z`    | cycle ‖ tx_id               | signed mint entry waiting for that cycle's gate |
//! | `M`    | name                        | metadata (genesis, swarm id, counters)  |
//!
//! Integers are big-endian so that keys sort numerically.

use crate::amount::Currency;
use crate::ids::{AccountId, NodeId, TxId};

pub const ENTRY: u8 = b'E';
pub const TX: u8 = b'T';
pub const HEAD: u8 = b'H';
pub const FRONTIER: u8 = b'F';
pub const AVAILABLE: u8 = b'A';
pub const BALANCE: u8 = b'B';
pub const CREDIT: u8 = b'C';
pub const PENDING: u8 = b'P';
pub const AWAITING: u8 = b'Q';
pub const HELD: u8 = b'W';
pub const HELD_BY: u8 = b'Y';
pub const PARAMS: u8 = b'V';
pub const EVIDENCE: u8 = b'K';
pub const SNAPSHOT: u8 = b'N';
pub const STANDING: u8 = b'G';
pub const ANCHORED_GI: u8 = b'L';
pub const VOTED: u8 = b'U';
pub const FORK: u8 = b'X';
pub const SEAL: u8 = b'S';
pub const ISSUANCE: u8 = b'I';
pub const GATE: u8 = b'J';
pub const SENTINEL_SET: u8 = b'O';
pub const TRANCHE: u8 = b'R';
pub const AWAIT_CYCLE: u8 = b'Z';
pub const META: u8 = b'M';

/// Prefixes rebuilt from the stored entries after a fork.
pub const DERIVED: [u8; 8] = [ENTRY, TX, HEAD, FRONTIER, AVAILABLE, BALANCE, CREDIT, SEAL];

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

pub fn entry(actor: &NodeId, seq: u64) -> Vec<u8> {
    cat(&[&[ENTRY], actor.as_bytes(), &seq.to_be_bytes()])
}
pub fn tx(id: &TxId) -> Vec<u8> {
    cat(&[&[TX], &id.0])
}
pub fn head(actor: &NodeId) -> Vec<u8> {
    cat(&[&[HEAD], actor.as_bytes()])
}
pub fn frontier(actor: &NodeId, other: &NodeId) -> Vec<u8> {
    cat(&[&[FRONTIER], actor.as_bytes(), other.as_bytes()])
}
pub fn available(account: &AccountId, currency: Currency) -> Vec<u8> {
    cat(&[&[AVAILABLE, currency.tag()], &account.key_bytes()])
}
pub fn balance(account: &AccountId, currency: Currency) -> Vec<u8> {
    cat(&[&[BALANCE, currency.tag()], &account.key_bytes()])
}
pub fn credit(controller: &NodeId, other: &NodeId, seq: u64) -> Vec<u8> {
    cat(&[&[CREDIT], controller.as_bytes(), other.as_bytes(), &seq.to_be_bytes()])
}
pub fn credit_prefix(controller: &NodeId) -> Vec<u8> {
    cat(&[&[CREDIT], controller.as_bytes()])
}
pub fn credit_chain_prefix(controller: &NodeId, other: &NodeId) -> Vec<u8> {
    cat(&[&[CREDIT], controller.as_bytes(), other.as_bytes()])
}
pub fn pending(awaited: &NodeId, seq: u64, waiting: &TxId) -> Vec<u8> {
    cat(&[&[PENDING], awaited.as_bytes(), &seq.to_be_bytes(), &waiting.0])
}
pub fn pending_prefix(awaited: &NodeId, seq: u64) -> Vec<u8> {
    cat(&[&[PENDING], awaited.as_bytes(), &seq.to_be_bytes()])
}
pub fn awaiting(version: u32, waiting: &TxId) -> Vec<u8> {
    cat(&[&[AWAITING], &version.to_be_bytes(), &waiting.0])
}
pub fn awaiting_prefix(version: u32) -> Vec<u8> {
    cat(&[&[AWAITING], &version.to_be_bytes()])
}
pub fn held(waiting_key: &[u8]) -> Vec<u8> {
    cat(&[&[HELD], waiting_key])
}
pub fn held_by(actor: &NodeId) -> Vec<u8> {
    cat(&[&[HELD_BY], actor.as_bytes()])
}
pub fn params(version: u32) -> Vec<u8> {
    cat(&[&[PARAMS], &version.to_be_bytes()])
}
pub fn snapshot(epoch: u64) -> Vec<u8> {
    cat(&[&[SNAPSHOT], &epoch.to_be_bytes()])
}
pub fn standing(cycle: u64) -> Vec<u8> {
    cat(&[&[STANDING], &cycle.to_be_bytes()])
}
pub fn voted(epoch: u64) -> Vec<u8> {
    cat(&[&[VOTED], &epoch.to_be_bytes()])
}
pub fn anchored_gi(cycle: u64) -> Vec<u8> {
    cat(&[&[ANCHORED_GI], &cycle.to_be_bytes()])
}
pub fn evidence(actor: &NodeId, seq: u64, id: &TxId) -> Vec<u8> {
    cat(&[&[EVIDENCE], actor.as_bytes(), &seq.to_be_bytes(), &id.0])
}
pub fn fork(actor: &NodeId) -> Vec<u8> {
    cat(&[&[FORK], actor.as_bytes()])
}
pub fn seal(id: &[u8; 32]) -> Vec<u8> {
    cat(&[&[SEAL], id])
}
pub fn issuance(cycle: u64) -> Vec<u8> {
    cat(&[&[ISSUANCE], &cycle.to_be_bytes()])
}
pub fn gate(cycle: u64) -> Vec<u8> {
    cat(&[&[GATE], &cycle.to_be_bytes()])
}
pub fn sentinel_set(digest: &[u8; 32]) -> Vec<u8> {
    cat(&[&[SENTINEL_SET], digest])
}
pub fn tranche(seal: &[u8; 32]) -> Vec<u8> {
    cat(&[&[TRANCHE], seal])
}
pub fn await_cycle(cycle: u64, waiting: &TxId) -> Vec<u8> {
    cat(&[&[AWAIT_CYCLE], &cycle.to_be_bytes(), &waiting.0])
}
pub fn meta(name: &str) -> Vec<u8> {
    cat(&[&[META], name.as_bytes()])
}

/// The smallest key greater than every key starting with `prefix`.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0xff; prefix.len() + 1]
}

/// Reads the node id at `offset` of a key.
pub fn node_at(key: &[u8], offset: usize) -> NodeId {
    NodeId::from_bytes(key[offset..offset + 32].try_into().expect("keys have fixed layouts"))
}

/// Reads the big-endian u64 at `offset` of a key or value.
pub fn u64_at(bytes: &[u8], offset: usize) -> u64 {
    u64::from_be_bytes(bytes[offset..offset + 8].try_into().expect("keys have fixed layouts"))
}
