//! Processing one verified entry against the store: the part of the ledger
//! where the invariants of DESIGN.md §4 are decided.
//!
//! An entry passes through, in order: duplicate check, static rules, fork
//! detection, chain continuity (`prev` must be the stored head), deps (each
//! must name a stored entry, or the entry waits), then the dynamic rules —
//! judged only against the history the entry declares: its own chain and the
//! prefixes of other chains its deps name. An entry that passes everything is
//! *applied*; one that breaks a dynamic rule is stored as *bounced* (its
//! transfers have no effect) so that every node holds the same chain.

use std::collections::BTreeMap;

use bincode::{Decode, Encode};

use super::keys::{self, u64_at};
use super::txn::Txn;
use super::{Ctx, LedgerError};
use crate::amount::{Amount, Balance, Currency};
use crate::encoding;
use crate::entry::{Action, Proof, SignedEntry, VerifiedEntry};
use crate::ids::{AccountId, EscrowId, NodeId, TxId};
use crate::rules;

/// What a counted entry does to balances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Its transfers moved value.
    Applied,
    /// It broke a dynamic rule; its transfers moved nothing.
    Bounced,
}

impl Effect {
    fn byte(self) -> u8 {
        match self {
            Effect::Applied => 0,
            Effect::Bounced => 1,
        }
    }
}

/// How processing ended.
#[derive(Debug)]
pub enum Processed {
    /// Already stored.
    Duplicate,
    /// Waits for the entry `(actor, seq)`.
    Pending { actor: NodeId, seq: u64 },
    /// Names a parameter table this node has not adopted yet.
    AwaitParams { version: u32 },
    /// A mint citing a cycle whose gate this node has not closed yet.
    AwaitCycle { cycle: u64 },
    /// Stored with this effect (and the broken rule if bounced).
    Stored(Effect, Option<String>),
    /// A second version of `(actor, seq)`: evidence recorded, state must be rebuilt.
    Fork { actor: NodeId, seq: u64 },
}

/// A stored entry.
pub struct Record {
    pub effect: Effect,
    pub tx_id: TxId,
    pub entry: SignedEntry,
}

impl Record {
    pub fn encode(effect: Effect, tx_id: &TxId, entry_bytes: &[u8]) -> Vec<u8> {
        let mut v = Vec::with_capacity(33 + entry_bytes.len());
        v.push(effect.byte());
        v.extend_from_slice(&tx_id.0);
        v.extend_from_slice(entry_bytes);
        v
    }

    pub fn decode(bytes: &[u8]) -> Result<Record, LedgerError> {
        if bytes.len() < 33 {
            return Err(LedgerError::Corrupt("entry record shorter than its header".into()));
        }
        let effect = match bytes[0] {
            0 => Effect::Applied,
            1 => Effect::Bounced,
            b => {
                return Err(LedgerError::Corrupt(format!("entry record with effect byte {b}")));
            }
        };
        let tx_id = TxId(bytes[1..33].try_into().expect("32 bytes"));
        let entry =
            SignedEntry::from_bytes(&bytes[33..]).map_err(|e| LedgerError::Corrupt(format!("stored entry: {e}")))?;
        // A byte flipped on disk inside the entry's body changes its hash:
        // noticed at the read, before the entry is served or counted on
        // (one SHA-256 of a few hundred bytes per read).
        let actual = entry.tx_id();
        if actual != tx_id {
            return Err(LedgerError::Corrupt(format!(
                "the stored entry {tx_id} ({} seq {}) hashes to {actual}: its bytes changed on disk",
                entry.body.actor, entry.body.seq
            )));
        }
        Ok(Record { effect, tx_id, entry })
    }

    /// Only the tx_id, without decoding the entry.
    pub fn tx_id_of(bytes: &[u8]) -> Result<TxId, LedgerError> {
        bytes
            .get(1..33)
            .map(|b| TxId(b.try_into().expect("32 bytes")))
            .ok_or_else(|| LedgerError::Corrupt("entry record shorter than its header".into()))
    }
}

/// The signed entry of a stored record under `prefix`: an entry record
/// (`keys::ENTRY`) is decoded with its hash check ([`Record::decode`]);
/// evidence and waiting entries are stored as bare signed entries.
pub fn stored_entry(prefix: u8, bytes: &[u8]) -> Result<SignedEntry, LedgerError> {
    if prefix == keys::ENTRY {
        Ok(Record::decode(bytes)?.entry)
    } else {
        SignedEntry::from_bytes(bytes).map_err(|e| LedgerError::Corrupt(format!("stored entry: {e}")))
    }
}

/// Credits from one entry to accounts of one other controller.
#[derive(Debug, Clone, Encode, Decode)]
pub struct CreditItem {
    pub account: AccountId,
    pub currency: Currency,
    pub amount: Amount,
}

pub fn get_balance(txn: &Txn<'_>, key: &[u8]) -> Result<Balance, LedgerError> {
    match txn.get(key)? {
        Some(v) => Balance::from_bytes(&v).ok_or_else(|| LedgerError::Corrupt("balance value is not 16 bytes".into())),
        None => Ok(Balance::default()),
    }
}

pub fn add_balance(txn: &mut Txn<'_>, key: Vec<u8>, delta: i128) -> Result<(), LedgerError> {
    let now = Balance(get_balance(txn, &key)?.0 + delta);
    txn.put(key, now.to_bytes().to_vec());
    Ok(())
}

pub fn head(txn: &Txn<'_>, actor: &NodeId) -> Result<Option<(u64, TxId)>, LedgerError> {
    Ok(txn
        .get(&keys::head(actor))?
        .map(|v| (u64_at(&v, 0), TxId(v[8..40].try_into().expect("32 bytes")))))
}

/// `actor`'s counted head with the parameter version it names.
fn head_with_params(txn: &Txn<'_>, actor: &NodeId) -> Result<Option<(u64, TxId, u32)>, LedgerError> {
    txn.get(&keys::head(actor))?
        .map(|v| {
            let params = v
                .get(40..44)
                .ok_or_else(|| LedgerError::Corrupt("head record without its parameter version".into()))?;
            Ok((
                u64_at(&v, 0),
                TxId(v[8..40].try_into().expect("32 bytes")),
                u32::from_be_bytes(params.try_into().expect("4 bytes")),
            ))
        })
        .transpose()
}

pub fn fork_of(txn: &Txn<'_>, actor: &NodeId) -> Result<Option<u64>, LedgerError> {
    Ok(txn.get(&keys::fork(actor))?.map(|v| u64_at(&v, 0)))
}

/// Processes one entry. `local` entries (this node's own) are refused rather
/// than bounced when they break a dynamic rule: a node never signs an entry
/// it knows will bounce.
pub fn process(ctx: &Ctx<'_>, txn: &mut Txn<'_>, e: &VerifiedEntry, local: bool) -> Result<Processed, LedgerError> {
    let body = e.body();
    let (actor, seq) = (body.actor, body.seq);
    if body.swarm_id != ctx.swarm_id {
        return Err(rules::RuleError::WrongSwarm {
            expected: ctx.swarm_id,
            found: body.swarm_id,
        }
        .into());
    }
    // Charges are judged against the table the entry names; a table this
    // node has not adopted yet is a fact it lacks, not a fault of the entry.
    let Some(params) = ctx.schedule.get(body.params as usize) else {
        return Ok(Processed::AwaitParams { version: body.params });
    };
    rules::check_static(&ctx.rules(params), body, &mut ctx.keys.borrow_mut())?;
    // The owner's own entry is built at head + 1 by the ledger itself, under
    // its write lock and after its fork check: it cannot be a duplicate or a
    // second version, so the lookups that decide those are for others' entries.
    if !local {
        if txn.get(&keys::tx(&e.tx_id()))?.is_some() {
            return Ok(Processed::Duplicate);
        }
        if let Some(f) = fork_of(txn, &actor)?
            && seq >= f
        {
            return Err(LedgerError::ActorForked { actor, fork_seq: f });
        }
        if let Some(existing) = txn.get(&keys::entry(&actor, seq))? {
            let rec = Record::decode(&existing)?;
            txn.put(keys::evidence(&actor, seq, &rec.tx_id), rec.entry.to_bytes());
            txn.put(keys::evidence(&actor, seq, &e.tx_id()), e.signed().to_bytes());
            let lowest = fork_of(txn, &actor)?.map_or(seq, |f| f.min(seq));
            txn.put(keys::fork(&actor), lowest.to_be_bytes().to_vec());
            tracing::warn!(actor = %actor, seq, a = %rec.tx_id, b = %e.tx_id(), "equivocation: two entries for one (actor, seq)");
            return Ok(Processed::Fork { actor, seq });
        }
    }
    if seq > 0 {
        match head_with_params(txn, &actor)? {
            Some((h, tx, before)) if h + 1 == seq && tx == body.prev => {
                if body.params < before {
                    return Err(rules::RuleError::ParamsDecreased {
                        before,
                        found: body.params,
                    }
                    .into());
                }
            }
            _ => {
                return Ok(Processed::Pending { actor, seq: seq - 1 });
            }
        }
    }
    for d in &body.deps {
        if matches!(fork_of(txn, &d.actor)?, Some(f) if d.seq >= f) {
            continue;
        }
        match txn.get(&keys::entry(&d.actor, d.seq))? {
            Some(rec) if Record::tx_id_of(&rec)? == d.tx_id => {}
            _ => {
                return Ok(Processed::Pending {
                    actor: d.actor,
                    seq: d.seq,
                });
            }
        }
    }

    // A mint is judged against its cycle's gate; a node that has not
    // closed that cycle lacks a fact, the entry is not at fault.
    if let crate::entry::Action::Mint { cycle, .. } = body.action
        && txn.get(&keys::gate(cycle))?.is_none()
    {
        if local {
            return Err(LedgerError::Denied(format!(
                "cycle {cycle} is not closed at this node: its mint gate is unknown"
            )));
        }
        return Ok(Processed::AwaitCycle { cycle });
    }
    // Membership, judged where every node judges it alike: at a chain's
    // first entry, with its deps present. Later entries need the first.
    if seq == 0 && !ctx.founders.contains(&actor) && !paid_by_a_dep(txn, body)? {
        return Err(rules::RuleError::NotAMember { actor }.into());
    }
    claim_declared_credits(txn, e)?;
    let broken = dynamic_rules(txn, e)?;
    if local && let Some(reason) = broken {
        return Err(LedgerError::Denied(reason));
    }
    let effect = if broken.is_none() {
        Effect::Applied
    } else {
        Effect::Bounced
    };
    if effect == Effect::Applied {
        apply(txn, e)?;
    }
    let entry_bytes = e.signed().to_bytes();
    txn.put(
        keys::entry(&actor, seq),
        Record::encode(effect, &e.tx_id(), &entry_bytes),
    );
    let mut position = actor.as_bytes().to_vec();
    position.extend_from_slice(&seq.to_be_bytes());
    txn.put(keys::tx(&e.tx_id()), position);
    let mut head_value = seq.to_be_bytes().to_vec();
    head_value.extend_from_slice(&e.tx_id().0);
    head_value.extend_from_slice(&body.params.to_be_bytes());
    txn.put(keys::head(&actor), head_value);
    Ok(Processed::Stored(effect, broken))
}

/// Whether one of the entry's deps reaches an applied entry of a member's
/// chain that paid the actor (a credit not yet claimed: at a chain's first
/// entry none is), counting a forked chain only below its fork. Every stored
/// chain is a member's, so that is the admission rule.
pub(crate) fn paid_by_a_dep(txn: &Txn<'_>, body: &crate::entry::EntryBody) -> Result<bool, LedgerError> {
    for d in &body.deps {
        let upto = match fork_of(txn, &d.actor)? {
            Some(f) if d.seq >= f => f,
            _ => d.seq + 1,
        };
        if !txn
            .range(
                &keys::credit(&body.actor, &d.actor, 0),
                &keys::credit(&body.actor, &d.actor, upto),
            )?
            .is_empty()
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Moves credits from the chains the entry's deps name into the actor's
/// declared history. Deps on a forked chain count only up to the fork.
fn claim_declared_credits(txn: &mut Txn<'_>, e: &VerifiedEntry) -> Result<(), LedgerError> {
    let actor = e.body().actor;
    for d in &e.body().deps {
        let declared = match fork_of(txn, &d.actor)? {
            Some(f) if d.seq >= f => f,
            _ => d.seq + 1,
        };
        let frontier_key = keys::frontier(&actor, &d.actor);
        let before = txn.get(&frontier_key)?.map_or(0, |v| u64_at(&v, 0));
        if declared <= before {
            continue;
        }
        let claimed = txn.range(
            &keys::credit(&actor, &d.actor, before),
            &keys::credit(&actor, &d.actor, declared),
        )?;
        for (k, v) in claimed {
            let items: Vec<CreditItem> =
                encoding::decode(&v).map_err(|err| LedgerError::Corrupt(format!("credit record: {err}")))?;
            for it in items {
                add_balance(
                    txn,
                    keys::available(&it.account, it.currency),
                    i128::from(it.amount.base()),
                )?;
            }
            txn.del(k);
        }
        txn.put(frontier_key, declared.to_be_bytes().to_vec());
    }
    Ok(())
}

/// Why a claim of bounty work on `escrow`, dated `at_ms`, does not hold at
/// this point of the poster's chain (the claim's deps reach the post): the
/// post must be an applied `BountyPost` the work is not dated after the
/// expiry of. Whether the escrow was already paid out is not judged: that
/// depends on the order two chains arrive in, and every node must reach the
/// same verdict; the expiry bounds how long one post can be claimed.
pub fn work_claim_broken(txn: &Txn<'_>, at_ms: u64, escrow: &EscrowId) -> Result<Option<String>, LedgerError> {
    let name = format!("escrow:{}:{}", escrow.poster, escrow.seq);
    if matches!(fork_of(txn, &escrow.poster)?, Some(f) if escrow.seq >= f) {
        return Ok(Some(format!(
            "bounty work for {name}: its poster forked its chain at or below the post"
        )));
    }
    let Some(bytes) = txn.get(&keys::entry(&escrow.poster, escrow.seq))? else {
        return Ok(Some(format!("bounty work for {name}: no such post")));
    };
    let post = Record::decode(&bytes)?;
    match (&post.entry.body.action, post.effect) {
        (Action::BountyPost { expires_at_ms, .. }, Effect::Applied) if at_ms <= *expires_at_ms => Ok(None),
        (Action::BountyPost { expires_at_ms, .. }, Effect::Applied) => Ok(Some(format!(
            "bounty work for {name}: the bounty expired at {expires_at_ms} ms, the work is dated {at_ms}"
        ))),
        _ => Ok(Some(format!(
            "bounty work for {name}: that entry is not an applied bounty post"
        ))),
    }
}

/// The first dynamic rule the entry breaks, judged against its declared history.
fn dynamic_rules(txn: &Txn<'_>, e: &VerifiedEntry) -> Result<Option<String>, LedgerError> {
    let body = e.body();
    let actor = body.actor;
    // An entry may not be priced under an older table than the entries it
    // declares: an honest node has adopted every table its deps name (it
    // could not have stored them otherwise), so only a node that prices
    // itself cheaply on purpose breaks this. Judged like the other dynamic
    // rules, so a rebuild after fork evidence judges it again.
    let mut newest = 0;
    for d in &body.deps {
        if matches!(fork_of(txn, &d.actor)?, Some(f) if d.seq >= f) {
            continue;
        }
        if let Some(bytes) = txn.get(&keys::entry(&d.actor, d.seq))? {
            newest = newest.max(Record::decode(&bytes)?.entry.body.params);
        }
    }
    if body.params < newest {
        return Ok(Some(format!(
            "priced under parameter table {}, but it declares entries priced under table {newest}",
            body.params
        )));
    }
    if let Some(Proof::Work(escrow)) = &body.proof
        && let Some(reason) = work_claim_broken(txn, body.timestamp_ms, escrow)?
    {
        return Ok(Some(reason));
    }
    match &body.action {
        Action::BountyPayout { escrow, .. } | Action::BountyRefund { escrow } => {
            let post = match txn.get(&keys::entry(&actor, escrow.seq))? {
                Some(bytes) => Record::decode(&bytes)?,
                None => {
                    return Err(LedgerError::Corrupt(format!(
                        "chain of {actor} lacks seq {}",
                        escrow.seq
                    )));
                }
            };
            let expires_at_ms = match (&post.entry.body.action, post.effect) {
                (Action::BountyPost { expires_at_ms, .. }, Effect::Applied) => *expires_at_ms,
                _ => {
                    return Ok(Some(format!("seq {} is not an applied bounty post", escrow.seq)));
                }
            };
            if matches!(body.action, Action::BountyRefund { .. }) && body.timestamp_ms < expires_at_ms {
                return Ok(Some(format!(
                    "the bounty expires at {expires_at_ms} ms, refund dated {}",
                    body.timestamp_ms
                )));
            }
            let held = get_balance(txn, &keys::available(&AccountId::Escrow(*escrow), Currency::Ippc))?;
            let released = i128::from(body.transfers[0].amount.base());
            if held.0 != released {
                return Ok(Some(format!(
                    "the escrow holds {held} IPPC; a release must take all of it"
                )));
            }
        }
        Action::Mint { cycle, .. } => {
            if let Some(Proof::Mint(cert)) = &body.proof {
                if txn.get(&keys::seal(&cert.seal_id))?.is_some() {
                    return Ok(Some(format!("seal {} was already minted", hex::encode(cert.seal_id))));
                }
                if let Some(reason) = mint_refused(txn, *cycle, body.timestamp_ms, cert)? {
                    return Ok(Some(reason));
                }
            }
        }
        _ => {}
    }
    let mut deltas: BTreeMap<(AccountId, Currency), i128> = BTreeMap::new();
    for t in &body.transfers {
        *deltas.entry((t.from, t.currency)).or_default() -= i128::from(t.amount.base());
        if t.to.controller() == Some(actor) {
            *deltas.entry((t.to, t.currency)).or_default() += i128::from(t.amount.base());
        }
    }
    for ((account, currency), delta) in deltas {
        if delta >= 0 || !account.must_stay_non_negative() {
            continue;
        }
        // The actor's own accounts are judged by its declared history;
        // system accounts (moved only with proofs) by the counted balance.
        let key = if account.controller() == Some(actor) {
            keys::available(&account, currency)
        } else {
            keys::balance(&account, currency)
        };
        let have = get_balance(txn, &key)?;
        if have.0 + delta < 0 {
            return Ok(Some(format!(
                "overdraft: {account} has {have} {currency} in the history this entry declares, the entry takes {}",
                Balance(-delta)
            )));
        }
    }
    Ok(None)
}

/// Why the mint's cycle's gate refuses it, if it does (the gate is held:
/// [`process`] waited for it).
fn mint_refused(
    txn: &Txn<'_>,
    cycle: u64,
    at_ms: u64,
    cert: &crate::entry::MintCertificate,
) -> Result<Option<String>, LedgerError> {
    let corrupt = |what: &str, e: String| LedgerError::Corrupt(format!("{what}: {e}"));
    let Some(gate) = txn.get(&keys::gate(cycle))? else {
        return Err(LedgerError::Corrupt(format!("mint gate of cycle {cycle} vanished")));
    };
    let gate: crate::issuance::MintGate = encoding::decode(&gate).map_err(|e| corrupt("mint gate", e.to_string()))?;
    let sentinels: Vec<NodeId> = match txn.get(&keys::sentinel_set(&gate.sentinels))? {
        Some(v) => encoding::decode(&v).map_err(|e| corrupt("sentinel set", e.to_string()))?,
        None => {
            return Err(LedgerError::Corrupt(format!(
                "the sentinel set of cycle {cycle}'s gate is missing"
            )));
        }
    };
    let sealed_at = txn.get(&keys::tranche(&cert.seal_id))?.map(|v| u64_at(&v, 40));
    let signers = cert.signatures.iter().map(|s| s.sentinel).collect();
    Ok(gate.refuses(at_ms, sealed_at, &signers, &sentinels))
}

fn apply(txn: &mut Txn<'_>, e: &VerifiedEntry) -> Result<(), LedgerError> {
    let body = e.body();
    let actor = body.actor;
    let mut credits: BTreeMap<NodeId, Vec<CreditItem>> = BTreeMap::new();
    for t in &body.transfers {
        let amount = i128::from(t.amount.base());
        add_balance(txn, keys::balance(&t.from, t.currency), -amount)?;
        add_balance(txn, keys::balance(&t.to, t.currency), amount)?;
        if t.from.controller() == Some(actor) {
            add_balance(txn, keys::available(&t.from, t.currency), -amount)?;
        }
        match t.to.controller() {
            Some(c) if c == actor => add_balance(txn, keys::available(&t.to, t.currency), amount)?,
            Some(c) => credits.entry(c).or_default().push(CreditItem {
                account: t.to,
                currency: t.currency,
                amount: t.amount,
            }),
            None => {}
        }
    }
    for (controller, items) in credits {
        txn.put(keys::credit(&controller, &actor, body.seq), encoding::encode(&items));
    }
    if let Some(Proof::Mint(cert)) = &body.proof {
        let mut position = actor.as_bytes().to_vec();
        position.extend_from_slice(&body.seq.to_be_bytes());
        txn.put(keys::seal(&cert.seal_id), position);
    }
    Ok(())
}
