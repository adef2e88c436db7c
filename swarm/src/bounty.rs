//! The bounty board over gossip: how a node in Worker Mode finds paid work.
//!
//! 1. The poster escrows the reward with a `BountyPost` entry whose task hash
//!    is [`task_hash`]`(skill, input)`, and gossips a `BountyOffer` carrying
//!    the skill and the input (topic `bounties`), again every attestation
//!    interval while the bounty is open.
//! 2. A worker (a node in Worker Mode, or one configured to take bounties)
//!    checks the offer against the poster's entry (open escrow, same task
//!    hash), runs the skill in its sandbox — charged to itself as bounty work,
//!    which Worker Mode allows — and gossips a `BountyResult` with the
//!    output's hash.
//! 3. The poster re-runs the skill locally (a dry run: skills are
//!    deterministic) and pays the escrow to the first worker whose hash
//!    matches, with a `BountyPayout` entry. A wrong result is never paid.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use ippoc_economy::attestation::task_hash;
use ippoc_economy::store::{Draft, Effect, Intent, Ledger};
use ippoc_economy::{AccountId, Action, Amount, Currency, EscrowId};
use ippoc_sandbox::{Capabilities, FailureKind, Sandbox};
use sha2::{Digest, Sha256};

use crate::ledger::{ledger_error, now_ms};
use crate::sandbox::{LedgerMeter, Unmetered};
use crate::{Error, OwnChain};

/// A skill and its input: what a bounty asks to be run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// The skill (WebAssembly binary or text).
    pub module: Vec<u8>,
    /// Its input.
    pub input: Vec<u8>,
}

/// The node's own open offers, shared by whoever posts and the mesh pump;
/// at most [`OPEN_OFFERS_MAX`] (posting more is refused).
pub type SharedBoard = Arc<Mutex<BTreeMap<EscrowId, Task>>>;

/// Open offers one node keeps on its board at most: each is re-gossiped
/// every attestation interval, so the bound is also one on that traffic.
pub const OPEN_OFFERS_MAX: usize = 4096;

/// An open bounty as the ledger shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenBounty {
    /// Task hash of the post.
    pub task: [u8; 32],
    /// Reward still in escrow.
    pub reward: Amount,
    /// When the poster may take it back.
    pub expires_at_ms: u64,
}

/// The bounty `escrow` if its post is held, applied, and its escrow not yet spent.
pub fn open_bounty(ledger: &Ledger, escrow: &EscrowId) -> Result<Option<OpenBounty>, Error> {
    let Some((entry, effect)) = ledger.entry(&escrow.poster, escrow.seq).map_err(ledger_error)? else {
        return Ok(None);
    };
    let Action::BountyPost { task, expires_at_ms } = entry.body.action else {
        return Ok(None);
    };
    if effect != Effect::Applied {
        return Ok(None);
    }
    let held = ledger
        .balance(&AccountId::Escrow(*escrow), Currency::Ippc)
        .map_err(ledger_error)?;
    Ok(u64::try_from(held.0).ok().filter(|v| *v > 0).map(|v| OpenBounty {
        task,
        reward: Amount::from_base(v),
        expires_at_ms,
    }))
}

/// The escrow a request's `bounty` field claims work for, if any: it must
/// name an escrow account (400 otherwise) of an open bounty of another node
/// that has not expired (409 otherwise). What a charge or a sandbox run
/// claiming bounty work (which Worker Mode allows) is checked against before
/// anything runs; the entry then records the claim, and every peer judges
/// it again.
pub fn claim(ledger: &Ledger, bounty: Option<AccountId>) -> Result<Option<EscrowId>, Error> {
    let escrow = match bounty {
        None => return Ok(None),
        Some(AccountId::Escrow(e)) => e,
        Some(other) => return Err(Error::BadInput(format!("bounty: {other} is not a bounty escrow"))),
    };
    check_claim(ledger, &escrow)?;
    Ok(Some(escrow))
}

/// Refuses work "for" `escrow` unless it is an open, unexpired bounty of another node.
fn check_claim(ledger: &Ledger, escrow: &EscrowId) -> Result<(), Error> {
    let name = format!("escrow:{}:{}", escrow.poster, escrow.seq);
    if escrow.poster == ledger.owner() {
        return Err(Error::Refused(format!(
            "bounty: {name} is this node's own bounty; a node cannot work its own"
        )));
    }
    match open_bounty(ledger, escrow)? {
        None => Err(Error::Refused(format!(
            "bounty: {name}: no such post is open here (not posted, paid out, refunded, or not yet synced)"
        ))),
        Some(open) if open.expires_at_ms < now_ms() => Err(Error::Refused(format!(
            "bounty: {name} expired at {} ms",
            open.expires_at_ms
        ))),
        Some(_) => Ok(()),
    }
}

/// Posts a bounty: escrows `reward` for running `task`, and puts the offer
/// on the board for the mesh to gossip.
pub fn post(
    chain: &OwnChain,
    board: &SharedBoard,
    task: Task,
    reward: Amount,
    expires_at_ms: u64,
) -> Result<EscrowId, Error> {
    if task.module.len() > ippoc_economy::attestation::BOUNTY_MODULE_BYTES_MAX
        || task.input.len() > ippoc_economy::attestation::BOUNTY_INPUT_BYTES_MAX
    {
        return Err(Error::Refused(
            "the skill or its input is too large for the bounty board".into(),
        ));
    }
    if board.lock().unwrap_or_else(|p| p.into_inner()).len() >= OPEN_OFFERS_MAX {
        return Err(Error::Refused(format!(
            "this node already has {OPEN_OFFERS_MAX} open bounty offers on its board"
        )));
    }
    let intent = Intent::PostBounty {
        reward,
        task: task_hash(&task.module, &task.input),
        expires_at_ms,
    };
    let entry = chain.append(Draft::new(intent, now_ms()))?;
    let escrow = EscrowId {
        poster: chain.owner(),
        seq: entry.body().seq,
    };
    board.lock().unwrap_or_else(|p| p.into_inner()).insert(escrow, task);
    Ok(escrow)
}

/// Fuel a bounty run may burn.
pub const BOUNTY_FUEL_MAX: u64 = 1_000_000_000;

/// Runs a bounty's task as its worker, charged to this node as bounty work;
/// the output's hash, or why the run failed.
pub fn work(sandbox: &Sandbox, chain: &OwnChain, escrow: EscrowId, task: &Task) -> Result<[u8; 32], FailureKind> {
    let meter = LedgerMeter {
        chain,
        bounty: Some(escrow),
    };
    let limits = ippoc_sandbox::RunLimits {
        fuel: BOUNTY_FUEL_MAX,
        ..Default::default()
    };
    let run = sandbox
        .run_module(&task.module, &Capabilities::default(), &task.input, &limits, &meter)
        .map_err(|f| f.kind)?;
    Ok(Sha256::digest(&run.output).into())
}

/// The poster's check of a result: the output hash of a local dry run.
pub fn expected(sandbox: &Sandbox, task: &Task) -> Result<[u8; 32], FailureKind> {
    let limits = ippoc_sandbox::RunLimits {
        fuel: BOUNTY_FUEL_MAX,
        ..Default::default()
    };
    let run = sandbox
        .run_module(
            &task.module,
            &Capabilities::default(),
            &task.input,
            &limits,
            &Unmetered(BOUNTY_FUEL_MAX),
        )
        .map_err(|f| f.kind)?;
    Ok(Sha256::digest(&run.output).into())
}
