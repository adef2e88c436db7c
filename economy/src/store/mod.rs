//! The chain store: every chain this node knows, on sled, with the derived
//! indexes (heads, balances, pending, fork evidence) kept in the same tree and
//! updated by one atomic batch per call.
//!
//! Durability: an entry is acknowledged (the call returns) only after the
//! batch that holds it was applied *and* the database was flushed (fsync);
//! `append_batch` and `ingest` flush once per call (group commit).
//!
//! Balances are a deterministic function of the set of entries stored: any
//! arrival order gives the same heads, balances and [`Ledger::state_root`].
//! The fork rule: when two entries exist for one `(actor, seq)`, both are
//! kept as evidence, and the actor's chain counts only below the lowest such
//! seq — neither version nor anything after it moves value. Derived state is
//! then rebuilt from the stored entries, so credits from the discarded part
//! disappear everywhere alike.

mod export;
mod gi;
mod intent;
mod issuance;
mod keys;
mod process;
mod scrub;
mod snapshot;
mod standing;
mod txn;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use ed25519_dalek::SigningKey;
use sha2::{Digest, Sha256};

use crate::amount::{Balance, Currency};
use crate::encoding;
use crate::entry::{ENTRY_VERSION, EntryBody, SignedEntry, VerifiedEntry, VerifyError};
use crate::genesis::Genesis;
use crate::ids::{AccountId, NodeId, SwarmId, TxId};
use crate::params::Parameters;
use crate::rules::{NoGovernance, ProposalVerifier, RuleContext, RuleError};
use crate::signature::KeyCache;

pub use export::{
    COMMITMENT_DOMAIN, ChainError, Commitment, EXPORT_MAGIC, EXPORT_MAGIC_V1, ExportFile, ExportReport,
    VerifiedSummary, check_export, parse_export, verify_entries, verify_export, write_export,
};
pub use gi::{
    AgreedCut, CUT_VOTE_EPOCHS, CycleWork, Evidence, GI_CLOSE_EPOCHS, GI_CUT_EPOCHS, GI_RATE, GI_VOUCHERS_FULL, GiRow,
    GiTable, MemberWork, Parts,
};
pub use intent::{Charge, Draft, Intent};
pub use issuance::{ISSUANCE_KEPT, TRANCHES_LISTED_MAX, TrancheView, cycle_input, mint_draft, sentinels_for};
pub use process::Effect;
use process::{Processed, Record};
pub use scrub::{DAMAGED_LISTED_MAX, DamagedRecord, RepairReport, ScrubReport};
pub use snapshot::{GiCommitment, Head, HeadsSnapshot, UNANCHORED_SNAPSHOTS_KEPT, VOTED_HEADS_KEPT, heads_digest};
pub use standing::{
    AnchoredGi, STANDINGS_CATCH_UP_MAX, STANDINGS_KEPT, STATUS_GOOD, STATUS_REMOVED, STATUS_SUSPENDED, anchored_rows,
};
use txn::Txn;

/// Bounds and plug-ins of a ledger.
#[derive(Clone)]
pub struct LedgerOptions {
    /// Most entries held while they wait for missing predecessors or deps.
    pub pending_entries_max: u64,
    /// Most of those from one actor: one member's chain cannot take the
    /// whole waiting set.
    pub pending_per_actor_max: u64,
    /// How long an entry may wait, in milliseconds, before
    /// [`Ledger::expire_pending`] drops it (sync offers it again while its
    /// chain is behind).
    pub pending_ttl_ms: u64,
    /// Verifies executed DAO proposals.
    pub proposals: Arc<dyn ProposalVerifier>,
    /// Flush to disk before a mutating call returns (the no-loss promise).
    /// Only the simulator turns it off: its nodes share one disk, and its
    /// crashes happen inside one process, where the page cache survives.
    pub durable: bool,
    /// sled's page cache, in bytes.
    pub cache_bytes: u64,
    /// Free bytes the ledger leaves on its filesystem: a write that would
    /// start below them is refused before anything is signed or stored
    /// ([`LedgerError::DiskFull`]), so the store itself rarely meets a full
    /// disk. 0 turns the check off.
    pub reserve_bytes: u64,
}

impl Default for LedgerOptions {
    fn default() -> Self {
        LedgerOptions {
            pending_entries_max: 10_000,
            pending_per_actor_max: PENDING_PER_ACTOR_MAX,
            pending_ttl_ms: 10 * 60 * 1000,
            proposals: Arc::new(NoGovernance),
            durable: true,
            cache_bytes: 64 << 20,
            reserve_bytes: DEFAULT_RESERVE_BYTES,
        }
    }
}

/// Default [`LedgerOptions::pending_per_actor_max`]: four times what the
/// gossip validator lets one chain put ahead of its head
/// ([`PRECHECK_AHEAD_MAX`]), room for a sync batch's entries that wait on
/// other chains' deps.
pub const PENDING_PER_ACTOR_MAX: u64 = 4 * PRECHECK_AHEAD_MAX;

/// Free space kept by default ([`LedgerOptions::reserve_bytes`]): room for
/// sled's log segments and snapshots to finish what they started.
pub const DEFAULT_RESERVE_BYTES: u64 = 64 << 20;

/// Why a ledger call failed.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// sled failed.
    #[error("ledger storage: {0}")]
    Storage(#[from] sled::Error),
    /// Stored bytes are not what the ledger wrote.
    #[error("ledger data is corrupt: {0}")]
    Corrupt(String),
    /// The filesystem is (nearly) full: nothing of this call was kept.
    #[error("the disk holding the ledger is full: {0}; nothing was written, and writes work again once space is freed")]
    DiskFull(String),
    /// A write failed in the store and it could not be opened again yet
    /// (the next call tries again).
    #[error("the ledger's store is unavailable after a write failure ({0}); it is opened again at the next call")]
    Unavailable(String),
    /// The ledger belongs to another swarm.
    #[error("this ledger belongs to swarm {stored}, not to swarm {given} of the genesis supplied")]
    WrongSwarm {
        /// Swarm id on disk.
        stored: SwarmId,
        /// Swarm id of the genesis given.
        given: SwarmId,
    },
    /// The genesis is invalid.
    #[error(transparent)]
    Genesis(#[from] crate::genesis::GenesisError),
    /// Signature or format.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// A static rule.
    #[error(transparent)]
    Rule(#[from] RuleError),
    /// A dynamic rule refused this node's own entry (budget check).
    #[error("refused: {0}")]
    Denied(String),
    /// The actor equivocated; nothing of its from the fork on is accepted.
    #[error("{actor} forked its chain at seq {fork_seq}; its entries from there on are not accepted")]
    ActorForked {
        /// The forker.
        actor: NodeId,
        /// Lowest fork seq.
        fork_seq: u64,
    },
    /// The signing record refused or failed to record the owner's entries:
    /// nothing was stored.
    #[error("not signed: {0}")]
    Unrecorded(String),
    /// The pending buffer is full.
    #[error("{0} entries already wait for missing predecessors; try again after sync catches up")]
    PendingFull(u64),
    /// The pending buffer holds as many of this actor's entries as one actor may have there.
    #[error("{count} entries of {actor} already wait for missing predecessors; try again after sync catches up")]
    PendingFullFor {
        /// The actor.
        actor: NodeId,
        /// Its entries waiting.
        count: u64,
    },
    /// A parameter table offered for adoption does not fit the schedule.
    #[error("governed parameters: {0}")]
    Parameters(String),
    /// Worker Mode denies spending that is not bounty work.
    #[error(
        "denied: the node is in Worker Mode (IPPC below the bankruptcy threshold); only paid bounty work may be charged"
    )]
    WorkerMode,
}

/// The outcome of ingesting one entry from elsewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IngestOutcome {
    /// Stored and its transfers applied.
    Applied,
    /// Stored, but it broke a dynamic rule: no effect.
    Bounced(String),
    /// Already stored.
    Duplicate,
    /// Waits for `(actor, seq)`.
    Pending {
        /// Awaited chain.
        actor: NodeId,
        /// Awaited seq.
        seq: u64,
    },
    /// Waits until this node adopts parameter table `version` from the DAO.
    AwaitingParameters {
        /// The table the entry names.
        version: u32,
    },
    /// A mint that waits until this node closes the cycle it cites.
    AwaitingCycle {
        /// The cycle.
        cycle: u64,
    },
    /// Not stored: it breaks a rule of the ledger.
    Rejected(String),
    /// Not stored for a reason of this ledger's state, no fault of whoever
    /// sent it: the waiting set is full, or the chain forked below it.
    Dropped(String),
    /// Evidence of a fork by `actor` at `seq`.
    Fork {
        /// The forker.
        actor: NodeId,
        /// Seq with two versions.
        seq: u64,
    },
}

/// How far past the head of the chain held (or past seq 0 of a founder's
/// chain not held yet) an entry may be and still pass [`Ledger::precheck`]:
/// the gossip validator passes on no more than this many entries of one
/// chain into the pending set; the rest come by sync, in order.
pub const PRECHECK_AHEAD_MAX: u64 = 64;

/// What the ledger says of an entry before anyone checks its signature:
/// the gossip validator's cheap checks ([`Ledger::precheck`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precheck {
    /// Nothing cheap to check is wrong.
    Pass,
    /// Cannot be judged yet (a parameter table not adopted, a chain or a dep
    /// this node does not hold): neither accepted nor blamed.
    Unknown(&'static str),
    /// A member's entry more than [`PRECHECK_AHEAD_MAX`] past the chain this
    /// node holds: not passed on (sync brings it in order), not blamed.
    Ahead,
    /// Breaks a static rule or comes from a non-member: every node with the
    /// same parameter table and deps refuses it.
    Refused(String),
}

/// Whether a node may spend freely or only on bounty work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Solvent.
    Normal,
    /// Below the bankruptcy threshold until back at the solvency threshold.
    Worker,
}

/// An entry that waiting entries need and that is not waiting itself: what
/// a lagging node must fetch before they can apply ([`Ledger::awaited`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Awaited {
    /// The chain.
    pub actor: NodeId,
    /// The position awaited.
    pub seq: u64,
    /// Waiting entries that name it (directly).
    pub waiting: u64,
    /// The head this node holds of that chain.
    pub head: Option<u64>,
    /// The entry this node holds at that position, when it holds one: then
    /// the waiting entries name another version of it (a fork not yet seen
    /// here), or a link this node cannot match.
    pub held: Option<TxId>,
}

/// A fork's evidence: the versions held for one `(actor, seq)`.
#[derive(Debug, Clone)]
pub struct ForkEvidence {
    /// The forker.
    pub actor: NodeId,
    /// Seq of the versions.
    pub seq: u64,
    /// Every version held.
    pub entries: Vec<SignedEntry>,
}

/// What the processing code needs besides the transaction.
pub(crate) struct Ctx<'a> {
    genesis: &'a Genesis,
    /// Members from the start.
    founders: &'a BTreeSet<NodeId>,
    /// Parameter tables by version, genesis first.
    schedule: Arc<Vec<Parameters>>,
    swarm_id: SwarmId,
    proposals: &'a dyn ProposalVerifier,
    keys: RefCell<KeyCache>,
}

impl Ctx<'_> {
    fn rules<'p>(&'p self, params: &'p Parameters) -> RuleContext<'p> {
        RuleContext {
            swarm_id: self.swarm_id,
            params,
            sentinels: &self.genesis.sentinels,
            proposals: self.proposals,
        }
    }
}

/// Told of the owner's entries as they are signed, before the ledger stores
/// them: the node's signing guard, so that an identity never signs twice at
/// one position even if the ledger is later lost (DESIGN.md §4).
pub trait SigningRecord {
    /// Durably records that `entries` (consecutive, signed by the owner) are
    /// signed. An error aborts the append: nothing is stored.
    fn signed(&self, entries: &[VerifiedEntry]) -> Result<(), String>;
    /// Storing the entries `signed` was told of failed: forget them if it can.
    fn unsigned(&self, entries: &[VerifiedEntry]);
}

/// No record (tests and tools that append to ledgers of their own).
struct Unrecorded;

impl SigningRecord for Unrecorded {
    fn signed(&self, _: &[VerifiedEntry]) -> Result<(), String> {
        Ok(())
    }
    fn unsigned(&self, _: &[VerifiedEntry]) {}
}

/// The open sled database and the ledger's tree in it.
struct Store {
    /// Held for the life of the store (the tree is what the ledger uses).
    _db: sled::Db,
    tree: sled::Tree,
}

/// The ledger of one node: its own chain and every chain it has heard.
pub struct Ledger {
    path: PathBuf,
    /// `None` while a store that failed a write could not be opened again.
    store: RwLock<Option<Store>>,
    /// A write failed: sled refuses every later write of a database that
    /// met an I/O error, so it is dropped and opened again (from what is on
    /// disk) before the next call uses it.
    faulted: AtomicBool,
    /// The owner's head as of the last write made durable. Readers see the
    /// owner's chain only up to it, so an entry whose write is still being
    /// made durable (or failed to be) is never served to a peer: a write
    /// that fails leaves no trace outside the process.
    acked: RwLock<Option<(u64, TxId)>>,
    genesis: Genesis,
    swarm_id: SwarmId,
    owner: NodeId,
    options: LedgerOptions,
    /// Adopted parameter tables by version; index 0 is the genesis table.
    schedule: RwLock<Arc<Vec<Parameters>>>,
    /// The genesis founders ([`Genesis::founders`]), members from the start.
    founders: BTreeSet<NodeId>,
    /// The newest agreed cut the ladder waited for and could not name
    /// ([`AgreedCut::Missing`]): the epoch and the digest a peer's voted
    /// heads must have ([`Ledger::take_wanted_cut`]).
    wanted_cut: Mutex<Option<(u64, [u8; 32])>>,
    write: Mutex<()>,
    /// Commits so far, counted twice each ([`Txn::commit`]).
    writes: AtomicU64,
    /// The last state root computed and the commit count it was read at: a
    /// swarm's observer asks every node for its root over and over, and a
    /// root is a scan of every chain's head and balance (n² reads for n
    /// nodes), while most nodes have not written since the last ask.
    root: Mutex<Option<(u64, [u8; 32])>>,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("swarm_id", &self.swarm_id)
            .field("owner", &self.owner)
            .finish_non_exhaustive()
    }
}

impl Ledger {
    /// Opens (or creates) the ledger at `path` for the node `owner` in the
    /// swarm of `genesis`. A ledger created for another swarm is refused.
    pub fn open(path: &Path, genesis: Genesis, owner: NodeId, options: LedgerOptions) -> Result<Ledger, LedgerError> {
        genesis.validate()?;
        let store = open_store(path, &options)?;
        let tree = store.tree.clone();
        let swarm_id = genesis.swarm_id();
        let mut schedule = vec![genesis.parameters.clone()];
        for item in tree.scan_prefix([keys::PARAMS]) {
            let (k, v) = item?;
            let table: Parameters =
                encoding::decode(&v).map_err(|e| LedgerError::Corrupt(format!("parameter table: {e}")))?;
            if k.len() != 5 || u32::from_be_bytes(k[1..5].try_into().expect("4 bytes")) as usize != schedule.len() {
                return Err(LedgerError::Corrupt(
                    "parameter tables are not numbered 1, 2, 3, …".into(),
                ));
            }
            schedule.push(table);
        }
        let founders = genesis.founders();
        let ledger = Ledger {
            path: path.to_path_buf(),
            store: RwLock::new(Some(store)),
            faulted: AtomicBool::new(false),
            acked: RwLock::new(None),
            genesis,
            swarm_id,
            owner,
            options,
            schedule: RwLock::new(Arc::new(schedule)),
            founders,
            wanted_cut: Mutex::new(None),
            writes: AtomicU64::new(0),
            root: Mutex::new(None),
            write: Mutex::new(()),
        };
        match tree.get(keys::meta("swarm_id"))? {
            Some(stored) => {
                let stored = SwarmId(
                    stored
                        .as_ref()
                        .try_into()
                        .map_err(|_| LedgerError::Corrupt("swarm id is not 32 bytes".into()))?,
                );
                if stored != swarm_id {
                    return Err(LedgerError::WrongSwarm {
                        stored,
                        given: swarm_id,
                    });
                }
            }
            None => {
                ledger.check_free_space()?;
                let mut txn = Txn::new(&tree);
                ledger.write_genesis(&mut txn)?;
                txn.put(keys::meta("genesis"), encoding::encode(&ledger.genesis));
                txn.put(keys::meta("swarm_id"), swarm_id.0.to_vec());
                txn.commit(&ledger.writes)?;
                tree.flush().map_err(storage_error)?;
            }
        }
        ledger.acknowledge(&tree)?;
        Ok(ledger)
    }

    /// The tree, for one call. Reopens the store first if a write failed
    /// and no write holds the lock (writers reopen it themselves).
    fn tree(&self) -> Result<sled::Tree, LedgerError> {
        if self.faulted.load(Ordering::Acquire)
            && let Ok(_write) = self.write.try_lock()
        {
            self.heal_locked(&[])?;
        }
        self.tree_unchecked()
    }

    fn tree_unchecked(&self) -> Result<sled::Tree, LedgerError> {
        self.store
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|s| s.tree.clone())
            .ok_or_else(|| LedgerError::Unavailable("it could not be opened again yet".into()))
    }

    /// Under the write lock, before a write: the store is opened again if
    /// the last write failed, and the free-space reserve is checked.
    fn before_write(&self) -> Result<sled::Tree, LedgerError> {
        self.heal_locked(&[])?;
        self.check_free_space()?;
        self.tree_unchecked()
    }

    /// Free bytes on the store's filesystem, and the reserve writes leave
    /// (`LedgerOptions::reserve_bytes`; 0 = no check).
    pub fn free_space(&self) -> std::io::Result<(u64, u64)> {
        Ok((fs2::available_space(&self.path)?, self.options.reserve_bytes))
    }

    /// Refuses a write that would start inside the free-space reserve.
    fn check_free_space(&self) -> Result<(), LedgerError> {
        if self.options.reserve_bytes == 0 {
            return Ok(());
        }
        let free = fs2::available_space(&self.path).map_err(|e| storage_error(sled::Error::Io(e)))?;
        if free < self.options.reserve_bytes {
            return Err(LedgerError::DiskFull(format!(
                "{} free on the filesystem of {}, below the {} the ledger keeps in reserve",
                mib(free),
                self.path.display(),
                mib(self.options.reserve_bytes)
            )));
        }
        Ok(())
    }

    /// Under the write lock: drops a store that failed a write and opens it
    /// again from disk. On failure the ledger stays faulted (with no store).
    ///
    /// Own entries the reopened store holds beyond the acknowledged head were
    /// answered as failed (every write that succeeds acknowledges): they are
    /// withdrawn, so a write answered as failed leaves no trace even when
    /// part of it reached the disk — except `keep`, the entries of the very
    /// append that is asking, which then count as durable and are answered so.
    fn heal_locked(&self, keep: &[VerifiedEntry]) -> Result<(), LedgerError> {
        if !self.faulted.load(Ordering::Acquire) {
            return Ok(());
        }
        // sled holds its files' lock until every handle is gone: drop the old
        // store before opening it again.
        drop(self.store.write().unwrap_or_else(|p| p.into_inner()).take());
        let store = open_store(&self.path, &self.options).map_err(|e| match e {
            e @ LedgerError::DiskFull(_) => e,
            other => LedgerError::Unavailable(other.to_string()),
        })?;
        let acked = self.acked();
        let disk = process::head(&Txn::new(&store.tree), &self.owner)?;
        let kept = keep.last().is_some_and(|last| {
            disk == Some((last.body().seq, last.tx_id())) && Self::holds_in(&store.tree, keep).unwrap_or(false)
        });
        if !kept && disk.map(|(s, _)| s) > acked.map(|(s, _)| s) {
            let from = acked.map_or(0, |(s, _)| s + 1);
            let withdrawn = self.withdraw_locked(&store.tree, from).map_err(|e| match e {
                e @ LedgerError::DiskFull(_) => e,
                other => LedgerError::Unavailable(other.to_string()),
            })?;
            tracing::warn!(
                event = "ledger_write_withdrawn",
                from_seq = from,
                entries = withdrawn,
                "own entries whose write was answered as failed were found on disk and withdrawn"
            );
        }
        self.acknowledge(&store.tree)?;
        *self.store.write().unwrap_or_else(|p| p.into_inner()) = Some(store);
        // What is on disk may differ from what the cached root saw.
        self.writes.fetch_add(2, Ordering::AcqRel);
        self.faulted.store(false, Ordering::Release);
        tracing::warn!(event = "ledger_store_reopened", path = %self.path.display(), "the ledger's store was opened again after a write failure");
        Ok(())
    }

    /// The result of a write's commit-and-flush: on success the owner's
    /// acknowledged head moves up; on a failure the store is marked for
    /// reopening (and an I/O error is classified).
    fn settle<T>(&self, result: Result<T, LedgerError>) -> Result<T, LedgerError> {
        match result {
            Ok(v) => {
                self.acknowledge(&self.tree_unchecked()?)?;
                Ok(v)
            }
            Err(e) => {
                if matches!(e, LedgerError::Storage(_) | LedgerError::DiskFull(_)) {
                    self.faulted.store(true, Ordering::Release);
                    tracing::error!(event = "ledger_write_failed", "ledger write failed: {e}");
                }
                Err(match e {
                    LedgerError::Storage(s) => storage_error(s),
                    other => other,
                })
            }
        }
    }

    /// Takes the owner's head in `tree` (all of it durable) as acknowledged.
    fn acknowledge(&self, tree: &sled::Tree) -> Result<(), LedgerError> {
        let head = process::head(&Txn::new(tree), &self.owner)?;
        *self.acked.write().unwrap_or_else(|p| p.into_inner()) = head;
        Ok(())
    }

    /// The owner's head as last made durable (see `acked`).
    fn acked(&self) -> Option<(u64, TxId)> {
        *self.acked.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `(actor, seq)` is past what readers may see of the owner's chain.
    fn unacked(&self, actor: &NodeId, seq: u64) -> bool {
        *actor == self.owner && self.acked().is_none_or(|(head, _)| seq > head)
    }

    fn write_genesis(&self, txn: &mut Txn<'_>) -> Result<(), LedgerError> {
        for a in &self.genesis.allocations {
            let amount = i128::from(a.amount.base());
            process::add_balance(txn, keys::balance(&a.account, a.currency), amount)?;
            process::add_balance(txn, keys::balance(&AccountId::Mint, a.currency), -amount)?;
            if a.account.controller().is_some() {
                process::add_balance(txn, keys::available(&a.account, a.currency), amount)?;
            }
        }
        Ok(())
    }

    fn ctx(&self) -> Ctx<'_> {
        Ctx {
            genesis: &self.genesis,
            founders: &self.founders,
            schedule: self.schedule(),
            swarm_id: self.swarm_id,
            proposals: self.options.proposals.as_ref(),
            keys: RefCell::new(KeyCache::default()),
        }
    }

    /// The checks that need no signature and only what the ledger holds
    /// cheaply: the static rules under the entry's parameter table, and
    /// membership (a founder, a chain this node holds, or a first entry
    /// whose deps include a member's payment to it).
    pub fn precheck(&self, body: &EntryBody) -> Result<Precheck, LedgerError> {
        let ctx = self.ctx();
        let Some(params) = ctx.schedule.get(body.params as usize) else {
            return Ok(Precheck::Unknown("names a parameter table this node has not adopted"));
        };
        if let Err(e) = crate::rules::check_static(&ctx.rules(params), body, &mut ctx.keys.borrow_mut()) {
            return Ok(Precheck::Refused(e.to_string()));
        }
        let tree = self.tree()?;
        let txn = Txn::new(&tree);
        if let Some((head, _)) = process::head(&txn, &body.actor)? {
            // Far ahead of the chain held: it would only wait in the pending
            // set, which one member could fill; sync brings chains in order.
            if body.seq > head.saturating_add(PRECHECK_AHEAD_MAX) {
                return Ok(Precheck::Ahead);
            }
            return Ok(Precheck::Pass);
        }
        if self.founders.contains(&body.actor) {
            return Ok(if body.seq <= PRECHECK_AHEAD_MAX {
                Precheck::Pass
            } else {
                Precheck::Ahead
            });
        }
        if body.seq != 0 {
            return Ok(Precheck::Unknown("a chain this node does not hold yet"));
        }
        if process::paid_by_a_dep(&txn, body)? {
            return Ok(Precheck::Pass);
        }
        for d in &body.deps {
            if txn.get(&keys::entry(&d.actor, d.seq))?.is_none() {
                return Ok(Precheck::Unknown("deps this node does not hold yet"));
            }
        }
        Ok(Precheck::Refused(
            RuleError::NotAMember { actor: body.actor }.to_string(),
        ))
    }

    /// The swarm id.
    pub fn swarm_id(&self) -> SwarmId {
        self.swarm_id
    }
    /// The genesis.
    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }
    /// The node this ledger belongs to.
    pub fn owner(&self) -> NodeId {
        self.owner
    }

    /// Every adopted parameter table by version (0 = genesis).
    pub fn schedule(&self) -> Arc<Vec<Parameters>> {
        self.schedule.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The newest adopted table and its version: what the owner's entries are priced under.
    pub fn parameters(&self) -> (u32, Parameters) {
        let schedule = self.schedule();
        let version = schedule.len() - 1;
        (version as u32, schedule[version].clone())
    }

    /// Adopts parameter table `version`, as the DAO's executed changes define
    /// it, and applies the entries that waited for it. Tables arrive in order:
    /// adopting a known version again is a no-op if it is the same table and
    /// an error if it differs; skipping a version is an error. Returns
    /// whether the table was new. Durable when it returns.
    pub fn adopt_parameters(&self, version: u32, table: Parameters) -> Result<bool, LedgerError> {
        table
            .validate()
            .map_err(|e| LedgerError::Parameters(format!("table {version}: {e}")))?;
        let _guard = self.write.lock().unwrap_or_else(|p| p.into_inner());
        let schedule = self.schedule();
        match (version as usize).cmp(&schedule.len()) {
            std::cmp::Ordering::Less if schedule[version as usize] == table => return Ok(false),
            std::cmp::Ordering::Less => {
                return Err(LedgerError::Parameters(format!(
                    "table {version} was adopted with other values; is this node following another DAO?"
                )));
            }
            std::cmp::Ordering::Greater => {
                return Err(LedgerError::Parameters(format!(
                    "table {version} offered, but the newest adopted is {}",
                    schedule.len() - 1
                )));
            }
            std::cmp::Ordering::Equal => {}
        }
        let mut next = (*schedule).clone();
        next.push(table.clone());
        let ctx = Ctx {
            schedule: Arc::new(next),
            ..self.ctx()
        };
        let tree = self.before_write()?;
        let mut txn = Txn::new(&tree);
        txn.put(keys::params(version), encoding::encode(&table));
        let prefix = keys::awaiting_prefix(version);
        let mut forked = false;
        for (k, v) in txn.range(&prefix, &keys::prefix_end(&prefix))? {
            let entry = self.release(&ctx, &mut txn, k, &v)?;
            forked |= self.ingest_one(&ctx, &mut txn, entry)?.1;
        }
        let adopted = ctx.schedule.clone();
        self.update_mode_with(&mut txn, &table)?;
        let written = txn.commit(&self.writes).and_then(|()| {
            *self.schedule.write().unwrap_or_else(|p| p.into_inner()) = adopted;
            tracing::debug!(version, "adopted a governed parameter table");
            while forked {
                forked = self.rebuild_locked(&tree)?;
            }
            self.flush_if_durable(&tree)
        });
        drop(tree);
        self.settle(written)?;
        Ok(true)
    }

    /// Appends one entry of the owner's. Returns once it is durable.
    pub fn append(&self, key: &SigningKey, draft: Draft) -> Result<VerifiedEntry, LedgerError> {
        Ok(self.append_batch(key, vec![draft])?.remove(0))
    }

    /// Appends several entries of the owner's in order, all or none, with one
    /// flush for all of them (group commit).
    pub fn append_batch(&self, key: &SigningKey, drafts: Vec<Draft>) -> Result<Vec<VerifiedEntry>, LedgerError> {
        self.append_batch_recorded(key, drafts, &Unrecorded)
    }

    /// [`Self::append`] with `record` told of the signed entry before the
    /// ledger stores it (see [`SigningRecord`]).
    pub fn append_recorded(
        &self,
        key: &SigningKey,
        draft: Draft,
        record: &dyn SigningRecord,
    ) -> Result<VerifiedEntry, LedgerError> {
        Ok(self.append_batch_recorded(key, vec![draft], record)?.remove(0))
    }

    /// [`Self::append_batch`] with `record` told of the signed entries after
    /// they are signed and before they are stored: nothing the ledger holds
    /// (and so nothing that could be gossiped) was signed without the record
    /// knowing. If storing then fails, `record` is told to forget them.
    pub fn append_batch_recorded(
        &self,
        key: &SigningKey,
        drafts: Vec<Draft>,
        record: &dyn SigningRecord,
    ) -> Result<Vec<VerifiedEntry>, LedgerError> {
        let actor = NodeId::from_bytes(key.verifying_key().to_bytes());
        assert_eq!(actor, self.owner, "only the owner appends to its chain");
        let _guard = self.write.lock().unwrap_or_else(|p| p.into_inner());
        let tree = self.before_write()?;
        let ctx = self.ctx();
        let mut txn = Txn::new(&tree);
        let mut out = Vec::with_capacity(drafts.len());
        if let Some(f) = process::fork_of(&txn, &actor)? {
            return Err(LedgerError::ActorForked { actor, fork_seq: f });
        }
        for (i, draft) in drafts.into_iter().enumerate() {
            if draft.needs_solvency() && self.mode_in(&txn)? == Mode::Worker {
                return Err(LedgerError::WorkerMode);
            }
            let (seq, prev) = match process::head(&txn, &actor)? {
                Some((s, tx)) => (s + 1, tx),
                None => (0, TxId::ZERO),
            };
            let params_version = ctx.schedule.len() - 1;
            let params = &ctx.schedule[params_version];
            let claims_nothing = draft.claims_nothing();
            let (action, transfers, proof) = draft.intent.resolve(params, actor, seq, |account| {
                process::get_balance(&txn, &keys::available(account, Currency::Ippc))
            })?;
            // The first entry claims every outstanding credit; nothing new
            // can arrive while this batch holds the write lock.
            let mut deps = if i == 0 && !claims_nothing {
                self.auto_deps(&txn, &actor)?
            } else {
                Vec::new()
            };
            if let Some(crate::entry::Proof::Work(escrow)) = &proof
                && escrow.poster != actor
            {
                // (An own bounty is refused by the static rules, by name.)
                work_dep(&txn, &mut deps, escrow)?;
            }
            let body = EntryBody {
                version: ENTRY_VERSION,
                swarm_id: self.swarm_id,
                actor,
                seq,
                prev,
                timestamp_ms: draft.timestamp_ms,
                params: params_version as u32,
                action,
                transfers,
                deps,
                outcome: draft.outcome,
                proof,
                memo: draft.memo,
            };
            let entry = body.sign_verified(key);
            match process::process(&ctx, &mut txn, &entry, true)? {
                Processed::Stored(Effect::Applied, _) => {}
                other => {
                    return Err(LedgerError::Corrupt(format!("own entry processed as {other:?}")));
                }
            }
            if self.wake_pending(&ctx, &mut txn, &actor, seq)? {
                return Err(LedgerError::Corrupt(
                    "an entry waiting for our own chain revealed a fork of it".into(),
                ));
            }
            out.push(entry);
        }
        self.update_mode(&mut txn)?;
        record.signed(&out).map_err(LedgerError::Unrecorded)?;
        let written = txn.commit(&self.writes).and_then(|()| self.flush_if_durable(&tree));
        drop(tree);
        match self.settle(written) {
            Ok(()) => Ok(out),
            Err(e) => {
                // Readers never saw these entries (`acked`). Open the store
                // again: if what reached the disk holds them, they are durable
                // now and acknowledged; if not, the write left no trace.
                if matches!(e, LedgerError::DiskFull(_) | LedgerError::Storage(_))
                    && self.heal_locked(&out).is_ok()
                    && self.holds(&out).unwrap_or(false)
                    && self
                        .settle(self.tree_unchecked().and_then(|t| self.flush_if_durable(&t)))
                        .is_ok()
                {
                    tracing::warn!(
                        event = "ledger_write_recovered",
                        "entries whose write reported a failure were found durable on disk"
                    );
                    return Ok(out);
                }
                record.unsigned(&out);
                Err(e)
            }
        }
    }

    /// Whether the store holds every one of `entries` (the owner's).
    fn holds(&self, entries: &[VerifiedEntry]) -> Result<bool, LedgerError> {
        Self::holds_in(&self.tree_unchecked()?, entries)
    }

    /// Whether `tree` holds every one of `entries`.
    fn holds_in(tree: &sled::Tree, entries: &[VerifiedEntry]) -> Result<bool, LedgerError> {
        for e in entries {
            match tree.get(keys::entry(&e.body().actor, e.body().seq))? {
                Some(v) if Record::tx_id_of(&v)? == e.tx_id() => {}
                _ => return Ok(false),
            }
        }
        Ok(true)
    }

    /// Deps that bring every unclaimed credit to the owner into its declared
    /// history: the head of each chain that has credited it.
    fn auto_deps(&self, txn: &Txn<'_>, actor: &NodeId) -> Result<Vec<crate::entry::Dep>, LedgerError> {
        let prefix = keys::credit_prefix(actor);
        let mut chains = BTreeSet::new();
        let mut cursor = prefix.clone();
        let end = keys::prefix_end(&prefix);
        // One lookup per crediting chain, not per credit.
        while chains.len() < crate::entry::DEPS_MAX {
            let Some((k, _)) = txn.range(&cursor, &end)?.into_iter().next() else {
                break;
            };
            let other = keys::node_at(&k, 33);
            chains.insert(other);
            cursor = keys::prefix_end(&keys::credit_chain_prefix(actor, &other));
        }
        let mut deps = Vec::with_capacity(chains.len());
        for other in chains {
            if let Some((seq, tx_id)) = process::head(txn, &other)? {
                deps.push(crate::entry::Dep {
                    actor: other,
                    seq,
                    tx_id,
                });
            }
        }
        Ok(deps)
    }

    /// Ingests entries from elsewhere (gossip, sync, import): verifies their
    /// signatures in a batch, then applies the same rules as to the owner's
    /// own entries, in any order. Flushed before returning.
    pub fn ingest(&self, entries: Vec<SignedEntry>) -> Result<Vec<IngestOutcome>, LedgerError> {
        self.ingest_checked(SignedEntry::verify_each(entries))
    }

    /// [`Self::ingest`] for entries already verified (by the gossip
    /// validator, say): one signature check per entry, wherever it happened.
    pub fn ingest_verified(&self, entries: Vec<VerifiedEntry>) -> Result<Vec<IngestOutcome>, LedgerError> {
        self.ingest_checked(entries.into_iter().map(Ok).collect())
    }

    /// Stores verification results in one batch; a failed verification is a
    /// `Rejected` outcome in its place.
    fn ingest_checked(
        &self,
        verified: Vec<Result<VerifiedEntry, VerifyError>>,
    ) -> Result<Vec<IngestOutcome>, LedgerError> {
        let _guard = self.write.lock().unwrap_or_else(|p| p.into_inner());
        let tree = self.before_write()?;
        let ctx = self.ctx();
        let mut txn = Txn::new(&tree);
        let mut outcomes = Vec::with_capacity(verified.len());
        let mut forked = false;
        for v in verified {
            let outcome = match v {
                Err(e) => IngestOutcome::Rejected(e.to_string()),
                Ok(entry) => {
                    let (outcome, fork_found) = self.ingest_one(&ctx, &mut txn, entry)?;
                    forked |= fork_found;
                    outcome
                }
            };
            outcomes.push(outcome);
        }
        self.update_mode(&mut txn)?;
        let written = txn.commit(&self.writes).and_then(|()| {
            // A rebuild can itself reveal a lower fork (evidence that was
            // waiting); repeat until the fork marks are stable.
            while forked {
                forked = self.rebuild_locked(&tree)?;
            }
            self.flush_if_durable(&tree)
        });
        drop(tree);
        self.settle(written)?;
        Ok(outcomes)
    }

    /// Ingests one entry and whatever it unblocks; the flag says whether
    /// any of them revealed a fork.
    fn ingest_one(
        &self,
        ctx: &Ctx<'_>,
        txn: &mut Txn<'_>,
        entry: VerifiedEntry,
    ) -> Result<(IngestOutcome, bool), LedgerError> {
        let (actor, seq) = (entry.body().actor, entry.body().seq);
        let outcome = self.ingest_without_waking(ctx, txn, entry)?;
        let mut forked = matches!(outcome, IngestOutcome::Fork { .. });
        if matches!(outcome, IngestOutcome::Applied | IngestOutcome::Bounced(_)) {
            forked |= self.wake_pending(ctx, txn, &actor, seq)?;
        }
        Ok((outcome, forked))
    }

    fn ingest_without_waking(
        &self,
        ctx: &Ctx<'_>,
        txn: &mut Txn<'_>,
        entry: VerifiedEntry,
    ) -> Result<IngestOutcome, LedgerError> {
        match process::process(ctx, txn, &entry, false) {
            Ok(Processed::Stored(effect, reason)) => Ok(match effect {
                Effect::Applied => IngestOutcome::Applied,
                Effect::Bounced => IngestOutcome::Bounced(reason.unwrap_or_default()),
            }),
            Ok(Processed::Duplicate) => Ok(IngestOutcome::Duplicate),
            Ok(Processed::Fork { actor, seq }) => Ok(IngestOutcome::Fork { actor, seq }),
            Ok(Processed::AwaitParams { version }) => self.hold(
                txn,
                keys::awaiting(version, &entry.tx_id()),
                &entry,
                IngestOutcome::AwaitingParameters { version },
            ),
            Ok(Processed::AwaitCycle { cycle }) => self.hold(
                txn,
                keys::await_cycle(cycle, &entry.tx_id()),
                &entry,
                IngestOutcome::AwaitingCycle { cycle },
            ),
            Ok(Processed::Pending {
                actor: awaited,
                seq: awaited_seq,
            }) => self.hold(
                txn,
                keys::pending(&awaited, awaited_seq, &entry.tx_id()),
                &entry,
                IngestOutcome::Pending {
                    actor: awaited,
                    seq: awaited_seq,
                },
            ),
            Err(e @ (LedgerError::Rule(_) | LedgerError::Verify(_))) => Ok(IngestOutcome::Rejected(e.to_string())),
            Err(e @ LedgerError::ActorForked { .. }) => Ok(IngestOutcome::Dropped(e.to_string())),
            Err(e) => Err(e),
        }
    }

    /// Retries entries that waited for `(actor, seq)`, and whatever they
    /// unblock, with an explicit worklist: a long chain arriving backwards
    /// must not recurse once per entry.
    fn wake_pending(&self, ctx: &Ctx<'_>, txn: &mut Txn<'_>, actor: &NodeId, seq: u64) -> Result<bool, LedgerError> {
        let mut forked = false;
        if self.pending_count_in(txn)? == 0 {
            return Ok(false);
        }
        let mut work = vec![(*actor, seq)];
        while let Some((a, s)) = work.pop() {
            let prefix = keys::pending_prefix(&a, s);
            for (k, v) in txn.range(&prefix, &keys::prefix_end(&prefix))? {
                let entry = self.release(ctx, txn, k, &v)?;
                let (ea, es) = (entry.body().actor, entry.body().seq);
                match self.ingest_without_waking(ctx, txn, entry)? {
                    IngestOutcome::Applied | IngestOutcome::Bounced(_) => work.push((ea, es)),
                    IngestOutcome::Fork { .. } => forked = true,
                    _ => {}
                }
            }
        }
        Ok(forked)
    }

    /// Keeps an entry that waits (for a predecessor or a parameter table)
    /// under `key`, within the bound on waiting entries; `waiting` says what for.
    fn hold(
        &self,
        txn: &mut Txn<'_>,
        key: Vec<u8>,
        entry: &VerifiedEntry,
        waiting: IngestOutcome,
    ) -> Result<IngestOutcome, LedgerError> {
        if txn.get(&key)?.is_none() {
            let count = self.pending_count_in(txn)?;
            if count >= self.options.pending_entries_max {
                return Ok(IngestOutcome::Dropped(LedgerError::PendingFull(count).to_string()));
            }
            let actor = entry.body().actor;
            let mine = counter(txn, &keys::held_by(&actor))?;
            if mine >= self.options.pending_per_actor_max {
                return Ok(IngestOutcome::Dropped(
                    LedgerError::PendingFullFor { actor, count: mine }.to_string(),
                ));
            }
            txn.put(keys::meta("pending"), (count + 1).to_be_bytes().to_vec());
            txn.put(keys::held_by(&actor), (mine + 1).to_be_bytes().to_vec());
            txn.put(keys::held(&key), now_ms().to_be_bytes().to_vec());
            txn.put(key, entry.signed().to_bytes());
        }
        Ok(waiting)
    }

    /// Drops the entries that have waited longer than
    /// [`LedgerOptions::pending_ttl_ms`] at `now_ms` (their chains' sync
    /// offers them again); returns how many. Durable when it returns.
    pub fn expire_pending(&self, now_ms: u64) -> Result<u64, LedgerError> {
        let _guard = self.write.lock().unwrap_or_else(|p| p.into_inner());
        let due: Vec<Vec<u8>> = Txn::new(&self.tree()?)
            .range(&[keys::HELD], &[keys::HELD + 1])?
            .into_iter()
            .filter(|(_, v)| {
                // A damaged time counts as long ago: the entry goes, sync brings it again.
                let held_at = v
                    .get(..8)
                    .map_or(0, |b| u64::from_be_bytes(b.try_into().expect("8 bytes")));
                held_at.saturating_add(self.options.pending_ttl_ms) <= now_ms
            })
            .map(|(k, _)| k)
            .collect();
        // Nothing due (the usual case) writes nothing, even on a full disk.
        if due.is_empty() {
            return Ok(0);
        }
        let tree = self.before_write()?;
        let mut txn = Txn::new(&tree);
        let mut expired = 0u64;
        for k in due {
            let waiting_key = k[1..].to_vec();
            txn.del(k);
            if let Some(bytes) = txn.get(&waiting_key)? {
                self.unhold(&mut txn, waiting_key, &bytes)?;
                expired += 1;
            }
        }
        if expired == 0 {
            return Ok(0);
        }
        let written = txn.commit(&self.writes).and_then(|()| self.flush_if_durable(&tree));
        drop(tree);
        self.settle(written)?;
        tracing::debug!(expired, "waiting entries expired");
        Ok(expired)
    }

    /// Removes a waiting entry and its indexes; returns it, undecoded.
    fn unhold(&self, txn: &mut Txn<'_>, key: Vec<u8>, bytes: &[u8]) -> Result<SignedEntry, LedgerError> {
        let signed = SignedEntry::from_bytes(bytes).map_err(|e| LedgerError::Corrupt(format!("waiting entry: {e}")))?;
        txn.del(keys::held(&key));
        txn.del(key);
        let count = self.pending_count_in(txn)?;
        txn.put(keys::meta("pending"), count.saturating_sub(1).to_be_bytes().to_vec());
        let by = keys::held_by(&signed.body.actor);
        match counter(txn, &by)? {
            0 | 1 => txn.del(by),
            n => txn.put(by, (n - 1).to_be_bytes().to_vec()),
        }
        Ok(signed)
    }

    /// Takes a held entry out of the waiting set, verified again.
    fn release(
        &self,
        ctx: &Ctx<'_>,
        txn: &mut Txn<'_>,
        key: Vec<u8>,
        bytes: &[u8],
    ) -> Result<VerifiedEntry, LedgerError> {
        let signed = self.unhold(txn, key, bytes)?;
        Ok(signed.verify_with(&mut ctx.keys.borrow_mut())?)
    }

    fn pending_count_in(&self, txn: &Txn<'_>) -> Result<u64, LedgerError> {
        counter(txn, &keys::meta("pending"))
    }

    /// Removes the owner's entries from `from` on and rebuilds the derived
    /// state; durable when it returns. Only for entries that never left this
    /// node: answered as failed, never served (readers see the owner's chain
    /// only up to its acknowledged head) and forgotten by the signing guard.
    fn withdraw_locked(&self, tree: &sled::Tree, from: u64) -> Result<u64, LedgerError> {
        let mut txn = Txn::new(tree);
        let mut withdrawn = 0;
        let end = keys::prefix_end(&keys::entry(&self.owner, u64::MAX)[..33]);
        for (k, v) in txn.range(&keys::entry(&self.owner, from), &end)? {
            txn.del(keys::tx(&Record::tx_id_of(&v)?));
            txn.del(k);
            withdrawn += 1;
        }
        txn.commit(&self.writes)?;
        while self.rebuild_locked(tree)? {}
        tree.flush()?;
        Ok(withdrawn)
    }

    /// [`Self::withdraw_locked`] at boot, for the signing guard: its record
    /// says the write of the entry at `seq` with `tx_id` was answered as
    /// failed, yet the store holds it (the process stopped before it could
    /// withdraw it). Returns how many entries were withdrawn (none if the
    /// store holds another entry there, or none).
    pub fn withdraw_failed_write(&self, seq: u64, tx_id: &TxId) -> Result<u64, LedgerError> {
        let _guard = self.write.lock().unwrap_or_else(|p| p.into_inner());
        let tree = self.before_write()?;
        match tree.get(keys::entry(&self.owner, seq))? {
            Some(v) if Record::tx_id_of(&v)? == *tx_id => {}
            _ => return Ok(0),
        }
        let withdrawn = self.withdraw_locked(&tree, seq);
        let result = withdrawn.and_then(|n| self.acknowledge(&tree).map(|()| n));
        drop(tree);
        self.settle(result)
    }

    /// Recomputes every derived index from the stored entries, applying the
    /// fork rule. Runs when fork evidence arrives; returns whether the
    /// rebuild found a further fork.
    fn rebuild_locked(&self, tree: &sled::Tree) -> Result<bool, LedgerError> {
        let mut all: Vec<SignedEntry> = Vec::new();
        let mut seen = BTreeSet::new();
        for prefix in [
            keys::ENTRY,
            keys::PENDING,
            keys::AWAITING,
            keys::AWAIT_CYCLE,
            keys::EVIDENCE,
        ] {
            for item in tree.scan_prefix([prefix]) {
                let (_, v) = item?;
                let entry = process::stored_entry(prefix, &v)?;
                if seen.insert(entry.tx_id()) {
                    all.push(entry);
                }
            }
        }
        all.sort_by_key(|e| (e.body.actor, e.body.seq));
        let mut txn = Txn::new(tree);
        for prefix in keys::DERIVED.iter().chain(
            [
                keys::PENDING,
                keys::AWAITING,
                keys::AWAIT_CYCLE,
                keys::HELD,
                keys::HELD_BY,
            ]
            .iter(),
        ) {
            for item in tree.scan_prefix([*prefix]) {
                txn.del(item?.0.to_vec());
            }
        }
        txn.put(keys::meta("pending"), 0u64.to_be_bytes().to_vec());
        self.write_genesis(&mut txn)?;
        let ctx = self.ctx();
        let mut forked = false;
        for signed in all {
            let entry = signed.verify_with(&mut ctx.keys.borrow_mut())?;
            // Versions at or past a fork are rejected here by the fork rule.
            forked |= self.ingest_one(&ctx, &mut txn, entry)?.1;
        }
        self.update_mode(&mut txn)?;
        txn.commit(&self.writes)?;
        tracing::info!("ledger state rebuilt after fork evidence");
        Ok(forked)
    }

    fn mode_in(&self, txn: &Txn<'_>) -> Result<Mode, LedgerError> {
        Ok(match txn.get(&keys::meta("mode"))?.as_deref() {
            Some([1]) => Mode::Worker,
            _ => Mode::Normal,
        })
    }

    /// Worker Mode with hysteresis: enter below the bankruptcy threshold,
    /// leave at or above the solvency threshold.
    fn update_mode(&self, txn: &mut Txn<'_>) -> Result<(), LedgerError> {
        self.update_mode_with(txn, &self.parameters().1)
    }

    fn update_mode_with(&self, txn: &mut Txn<'_>, p: &Parameters) -> Result<(), LedgerError> {
        let wallet = process::get_balance(txn, &keys::balance(&AccountId::Wallet(self.owner), Currency::Ippc))?.0;
        let current = self.mode_in(txn)?;
        let next = match current {
            Mode::Normal if wallet < i128::from(p.bankruptcy_threshold.base()) => Mode::Worker,
            Mode::Worker if wallet >= i128::from(p.solvency_threshold.base()) => Mode::Normal,
            same => same,
        };
        if next != current {
            tracing::info!(mode = ?next, wallet = %Balance(wallet), "metabolism mode changed");
            txn.put(keys::meta("mode"), vec![u8::from(next == Mode::Worker)]);
        }
        Ok(())
    }

    /// The owner's metabolism mode.
    pub fn mode(&self) -> Result<Mode, LedgerError> {
        self.mode_in(&Txn::new(&self.tree()?))
    }

    /// Balance of `account` over all counted entries.
    pub fn balance(&self, account: &AccountId, currency: Currency) -> Result<Balance, LedgerError> {
        process::get_balance(&Txn::new(&self.tree()?), &keys::balance(account, currency))
    }

    /// Every non-zero balance, sorted by currency then account.
    pub fn balances(&self) -> Result<Vec<(AccountId, Currency, Balance)>, LedgerError> {
        let mut out = Vec::new();
        for item in self.tree()?.scan_prefix([keys::BALANCE]) {
            let (k, v) = item?;
            let currency = Currency::ALL
                .into_iter()
                .find(|c| c.tag() == k[1])
                .ok_or_else(|| LedgerError::Corrupt("balance key with unknown currency".into()))?;
            let account: AccountId = encoding::decode(&k[2..]).map_err(|e| LedgerError::Corrupt(e.to_string()))?;
            let b = Balance::from_bytes(&v).ok_or_else(|| LedgerError::Corrupt("balance value".into()))?;
            if b.0 != 0 {
                out.push((account, currency, b));
            }
        }
        Ok(out)
    }

    /// The counted head `(seq, tx_id)` of `actor`'s chain (the owner's: as
    /// last made durable).
    pub fn head(&self, actor: &NodeId) -> Result<Option<(u64, TxId)>, LedgerError> {
        let tree = self.tree()?;
        if *actor == self.owner {
            return Ok(self.acked());
        }
        process::head(&Txn::new(&tree), actor)
    }

    /// Whether `node` belongs to the swarm as far as this ledger knows: a
    /// founder, or an actor whose chain it holds (a chain starts only with
    /// an admitted first entry; see [`Ledger::precheck`]).
    pub fn is_member(&self, node: &NodeId) -> Result<bool, LedgerError> {
        if self.founders.contains(node) || *node == self.owner {
            return Ok(true);
        }
        Ok(process::head(&Txn::new(&self.tree()?), node)?.is_some())
    }

    /// Every chain's counted head, sorted by actor.
    pub fn heads(&self) -> Result<Vec<(NodeId, u64, TxId)>, LedgerError> {
        let mut out = Vec::new();
        for item in self.tree()?.scan_prefix([keys::HEAD]) {
            let (k, v) = item?;
            let actor = keys::node_at(&k, 1);
            if actor == self.owner {
                continue;
            }
            out.push((actor, keys::u64_at(&v, 0), TxId(v[8..40].try_into().expect("32 bytes"))));
        }
        if let Some((seq, tx_id)) = self.acked() {
            let at = out.partition_point(|(a, _, _)| *a < self.owner);
            out.insert(at, (self.owner, seq, tx_id));
        }
        Ok(out)
    }

    /// Entries counted over every chain (each chain's head seq + 1).
    pub fn entries_held(&self) -> Result<u64, LedgerError> {
        Ok(self.heads()?.iter().map(|(_, seq, _)| seq + 1).sum())
    }

    /// The counted entry at `(actor, seq)` and its effect.
    pub fn entry(&self, actor: &NodeId, seq: u64) -> Result<Option<(SignedEntry, Effect)>, LedgerError> {
        let tree = self.tree()?;
        if self.unacked(actor, seq) {
            return Ok(None);
        }
        Ok(match tree.get(keys::entry(actor, seq))? {
            Some(v) => {
                let r = Record::decode(&v)?;
                Some((r.entry, r.effect))
            }
            None => None,
        })
    }

    /// The counted entry with this tx_id.
    pub fn entry_by_tx(&self, tx_id: &TxId) -> Result<Option<(SignedEntry, Effect)>, LedgerError> {
        match self.tree()?.get(keys::tx(tx_id))? {
            Some(pos) => self.entry(&keys::node_at(&pos, 0), keys::u64_at(&pos, 32)),
            None => Ok(None),
        }
    }

    /// `actor`'s counted entries with `from <= seq < to`, in order.
    pub fn range(
        &self,
        actor: &NodeId,
        from: u64,
        to: u64,
    ) -> impl Iterator<Item = Result<(SignedEntry, Effect), LedgerError>> + '_ {
        let tree = match self.tree() {
            Ok(tree) => tree,
            Err(e) => return Box::new(std::iter::once(Err(e))) as Box<dyn Iterator<Item = _>>,
        };
        let to = match (*actor == self.owner, self.acked()) {
            (false, _) => to,
            (true, Some((head, _))) => to.min(head + 1),
            (true, None) => 0,
        };
        if from >= to {
            return Box::new(std::iter::empty());
        }
        Box::new(
            tree.range(keys::entry(actor, from)..keys::entry(actor, to))
                .map(|item| {
                    let (_, v) = item?;
                    let r = Record::decode(&v)?;
                    Ok((r.entry, r.effect))
                }),
        )
    }

    /// What the waiting entries wait for that no waiting entry supplies, at
    /// most `limit`, most awaited first: the entries this node lacks at the
    /// root of its waiting set. The scan is bounded by the waiting set's own
    /// bound ([`LedgerOptions::pending_entries_max`]).
    pub fn awaited(&self, limit: usize) -> Result<Vec<Awaited>, LedgerError> {
        let tree = self.tree()?;
        let txn = Txn::new(&tree);
        let mut awaited: BTreeMap<(NodeId, u64), u64> = BTreeMap::new();
        let mut waiting_at: BTreeSet<(NodeId, u64)> = BTreeSet::new();
        for (k, v) in txn.range(&[keys::PENDING], &[keys::PENDING + 1])? {
            let (Some(actor), Some(seq)) = (k.get(1..33), k.get(33..41)) else {
                continue;
            };
            let actor = NodeId::from_bytes(actor.try_into().expect("32 bytes"));
            let seq = u64::from_be_bytes(seq.try_into().expect("8 bytes"));
            *awaited.entry((actor, seq)).or_default() += 1;
            if let Ok(e) = SignedEntry::from_bytes(&v) {
                waiting_at.insert((e.body.actor, e.body.seq));
            }
        }
        let mut roots: Vec<((NodeId, u64), u64)> =
            awaited.into_iter().filter(|(at, _)| !waiting_at.contains(at)).collect();
        roots.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        roots
            .into_iter()
            .take(limit)
            .map(|((actor, seq), waiting)| {
                Ok(Awaited {
                    actor,
                    seq,
                    waiting,
                    head: process::head(&txn, &actor)?.map(|(s, _)| s),
                    held: match txn.get(&keys::entry(&actor, seq))? {
                        Some(rec) => Some(Record::tx_id_of(&rec)?),
                        None => None,
                    },
                })
            })
            .collect()
    }

    /// Entries waiting for predecessors or for a parameter table.
    pub fn pending_count(&self) -> Result<u64, LedgerError> {
        self.pending_count_in(&Txn::new(&self.tree()?))
    }

    /// The lowest seq at which `actor` forked its chain, if it did.
    pub fn fork_of(&self, actor: &NodeId) -> Result<Option<u64>, LedgerError> {
        process::fork_of(&Txn::new(&self.tree()?), actor)
    }

    /// Every fork held, with all versions.
    pub fn forks(&self) -> Result<Vec<ForkEvidence>, LedgerError> {
        let mut out: Vec<ForkEvidence> = Vec::new();
        for item in self.tree()?.scan_prefix([keys::EVIDENCE]) {
            let (k, v) = item?;
            let (actor, seq) = (keys::node_at(&k, 1), keys::u64_at(&k, 33));
            let entry = SignedEntry::from_bytes(&v).map_err(|e| LedgerError::Corrupt(e.to_string()))?;
            match out.last_mut() {
                Some(last) if last.actor == actor && last.seq == seq => last.entries.push(entry),
                _ => out.push(ForkEvidence {
                    actor,
                    seq,
                    entries: vec![entry],
                }),
            }
        }
        Ok(out)
    }

    /// Hash over everything that counts: chain heads, fork marks and
    /// balances. Two nodes with the same entry set compute the same root.
    ///
    /// `SHA-256("ippoc-state-v1\0" ‖ Σ heads(actor ‖ seq ‖ tx_id ‖ params u32) ‖ "X" ‖
    /// Σ forks(actor ‖ seq) ‖ "B" ‖ Σ balances(key ‖ value))`, each list in key order.
    pub fn state_root(&self) -> Result<[u8; 32], LedgerError> {
        let at = self.writes.load(Ordering::Acquire);
        if let Some((seen, root)) = *self.root.lock().unwrap_or_else(|p| p.into_inner())
            && seen == at
        {
            return Ok(root);
        }
        let root = self.compute_state_root()?;
        *self.root.lock().unwrap_or_else(|p| p.into_inner()) = Some((at, root));
        Ok(root)
    }

    fn compute_state_root(&self) -> Result<[u8; 32], LedgerError> {
        let mut h = Sha256::new();
        h.update(b"ippoc-state-v1\0");
        let tree = self.tree()?;
        for (prefix, marker) in [(keys::HEAD, b"H"), (keys::FORK, b"X"), (keys::BALANCE, b"B")] {
            h.update(marker);
            for item in tree.scan_prefix([prefix]) {
                let (k, v) = item?;
                h.update(&k[1..]);
                h.update(&v);
            }
        }
        Ok(h.finalize().into())
    }

    /// Flushes `tree`'s database (the one every tree of the store shares)
    /// when the ledger promises durability.
    fn flush_if_durable(&self, tree: &sled::Tree) -> Result<(), LedgerError> {
        if self.options.durable {
            tree.flush()?;
        }
        Ok(())
    }

    /// Flushes outstanding writes (every mutating call already does, unless
    /// the ledger was opened with `durable: false`).
    pub fn flush(&self) -> Result<(), LedgerError> {
        let _guard = self.write.lock().unwrap_or_else(|p| p.into_inner());
        let tree = self.tree_unchecked()?;
        let flushed = tree.flush().map(|_| ()).map_err(LedgerError::from);
        drop(tree);
        self.settle(flushed)
    }
}

/// Makes `deps` reach the post of `escrow` (a claim of bounty work must):
/// the poster's head as this node holds it, in its place among the deps.
fn work_dep(
    txn: &Txn<'_>,
    deps: &mut Vec<crate::entry::Dep>,
    escrow: &crate::ids::EscrowId,
) -> Result<(), LedgerError> {
    let Some((seq, tx_id)) = process::head(txn, &escrow.poster)?.filter(|(s, _)| *s >= escrow.seq) else {
        return Err(LedgerError::Denied(format!(
            "bounty work for escrow:{}:{}: this node holds no such post",
            escrow.poster, escrow.seq
        )));
    };
    let dep = crate::entry::Dep {
        actor: escrow.poster,
        seq,
        tx_id,
    };
    match deps.binary_search_by_key(&escrow.poster, |d| d.actor) {
        Ok(at) => deps[at] = dep,
        Err(at) => {
            deps.insert(at, dep);
            if deps.len() > crate::entry::DEPS_MAX {
                // A credit left out is claimed by a later entry; the post is not optional.
                let drop_at = if at == deps.len() - 1 {
                    deps.len() - 2
                } else {
                    deps.len() - 1
                };
                deps.remove(drop_at);
            }
        }
    }
    Ok(())
}

/// Opens sled at `path`. sled 0.34 panics on some damaged files (a truncated
/// segment indexes out of bounds) instead of returning an error: a damaged
/// store is a value here, like every other fault. A snapshot sled left
/// half-written (`snap.*.generating`, say on a full disk) is read by sled as
/// its newest snapshot and fails the open; it is incomplete by construction
/// (sled renames it when whole), so it is removed and the open tried again.
fn open_store(path: &Path, options: &LedgerOptions) -> Result<Store, LedgerError> {
    let attempt = || {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let db = sled::Config::new()
                .path(path)
                .mode(sled::Mode::HighThroughput)
                .cache_capacity(options.cache_bytes)
                .open()?;
            let tree = db.open_tree("ledger")?;
            Ok::<_, sled::Error>(Store { _db: db, tree })
        }))
    };
    let mut retried = false;
    let mut waited = false;
    loop {
        match attempt() {
            Ok(Ok(store)) => return Ok(store),
            // sled's background writers may hold a just-dropped store's file
            // lock for a moment after its last handle is gone (a reopen after
            // a write fault, a restart in one process): wait for its release,
            // for at most a second, and try once more.
            Ok(Err(sled::Error::Io(e))) if e.to_string().contains("could not acquire lock") && !waited => {
                waited = true;
                wait_for_unlock(&path.join("db"), std::time::Duration::from_secs(1));
            }
            Ok(Err(e @ sled::Error::Corruption { .. })) if !retried => {
                retried = true;
                if remove_half_written_snapshots(path)? == 0 {
                    return Err(storage_error(e));
                }
            }
            Ok(Err(e)) => return Err(storage_error(e)),
            Err(panic) => {
                let what = panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("no message");
                return Err(LedgerError::Corrupt(format!(
                    "the store cannot be opened (sled failed: {what})"
                )));
            }
        }
    }
}

/// Waits (at most `limit`) until no one holds the exclusive lock on sled's
/// `db` file: a helper thread blocks on the lock itself and reports when it
/// got it (then lets it go). Past the limit the helper is left waiting; it
/// takes and drops the lock whenever it is released.
fn wait_for_unlock(db_file: &Path, limit: std::time::Duration) {
    use fs2::FileExt;
    let Ok(file) = std::fs::File::open(db_file) else {
        return;
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        if file.lock_exclusive().is_ok() {
            let _ = FileExt::unlock(&file);
        }
        let _ = tx.send(());
    });
    let _ = rx.recv_timeout(limit);
}

/// Removes sled's `snap.*.generating` files under `path`; returns how many.
fn remove_half_written_snapshots(path: &Path) -> Result<usize, LedgerError> {
    let Ok(dir) = std::fs::read_dir(path) else {
        return Ok(0);
    };
    let mut removed = 0;
    for entry in dir.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            std::fs::remove_file(entry.path()).map_err(|e| storage_error(sled::Error::Io(e)))?;
            tracing::warn!(file = %entry.path().display(), "removed a snapshot sled left half-written");
            removed += 1;
        }
    }
    Ok(removed)
}

/// sled's error as the ledger reports it: a full disk is [`LedgerError::DiskFull`].
fn storage_error(e: sled::Error) -> LedgerError {
    match &e {
        sled::Error::Io(io) if io.kind() == std::io::ErrorKind::StorageFull => {
            LedgerError::DiskFull(format!("the store could not write ({io})"))
        }
        _ => LedgerError::Storage(e),
    }
}

/// Bytes as MiB with one decimal, for messages.
fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// A u64 counter stored at `key` (0 when absent).
fn counter(txn: &Txn<'_>, key: &[u8]) -> Result<u64, LedgerError> {
    match txn.get(key)? {
        None => Ok(0),
        Some(v) => v
            .get(..8)
            .map(|b| u64::from_be_bytes(b.try_into().expect("8 bytes")))
            .ok_or_else(|| LedgerError::Corrupt(format!("a counter of {} bytes", v.len()))),
    }
}

/// The wall clock in Unix ms: when an entry started waiting (local
/// bookkeeping only; nothing every node must agree on).
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::Amount;

    /// A transfer of `base` units to an outside node.
    pub(crate) fn pay(base: u64) -> Draft {
        let intent = Intent::Transfer {
            to: NodeId::from_bytes([9; 32]),
            currency: Currency::Ippc,
            amount: Amount::from_base(base),
        };
        Draft::new(intent, 1)
    }

    /// A solo ledger of key `[1; 32]` at `dir/l`, with `n` transfers made.
    pub(crate) fn ledger_with(dir: &tempfile::TempDir, n: usize) -> (Ledger, SigningKey) {
        let key = SigningKey::from_bytes(&[1; 32]);
        let me = NodeId::from_bytes(key.verifying_key().to_bytes());
        let genesis = Genesis::new(
            "store",
            1,
            &[me],
            Amount::from_base(1_000_000_000),
            Amount::from_base(1),
        );
        let ledger = Ledger::open(&dir.path().join("l"), genesis, me, LedgerOptions::default()).unwrap();
        for _ in 0..n {
            ledger.append(&key, pay(1_000)).unwrap();
        }
        (ledger, key)
    }

    #[test]
    fn a_byte_flipped_in_a_stored_entry_is_named_at_the_read_not_served() {
        let dir = tempfile::tempdir().unwrap();
        let (ledger, key) = ledger_with(&dir, 3);
        let me = NodeId::from_bytes(key.verifying_key().to_bytes());
        let tree = ledger.tree().unwrap();
        let k = keys::entry(&me, 1);
        let mut v = tree.get(&k).unwrap().unwrap().to_vec();
        // One byte of the payee's id inside the body: the entry still decodes.
        let at = v
            .windows(32)
            .position(|w| w == [9; 32])
            .expect("the payee is in the body");
        v[at + 5] ^= 0x01;
        tree.insert(k, v).unwrap();
        drop(tree);
        match ledger.entry(&me, 1) {
            Err(LedgerError::Corrupt(why)) => assert!(why.contains("changed on disk"), "{why}"),
            other => panic!("a damaged entry was served: {other:?}"),
        }
        assert!(ledger.entry(&me, 0).unwrap().is_some(), "the others still read");
        assert!(
            ledger.export(None, &key).is_err(),
            "an export never carries the damaged entry"
        );
    }

    #[test]
    fn the_cached_state_root_follows_every_write() {
        let dir = tempfile::tempdir().unwrap();
        let (ledger, key) = ledger_with(&dir, 1);
        let mut roots = vec![ledger.state_root().unwrap()];
        for i in 0..3 {
            ledger.append(&key, pay(10 + i)).unwrap();
            let root = ledger.state_root().unwrap();
            assert_eq!(root, ledger.compute_state_root().unwrap(), "fresh after append {i}");
            assert!(!roots.contains(&root), "a payment moves the root");
            assert_eq!(ledger.state_root().unwrap(), root, "asked again without a write");
            roots.push(root);
        }
    }

    #[test]
    fn own_entries_beyond_the_acknowledged_head_are_withdrawn_when_the_store_is_opened_again() {
        let dir = tempfile::tempdir().unwrap();
        let (ledger, key) = ledger_with(&dir, 2);
        let me = ledger.owner();
        let root = ledger.state_root().unwrap();
        let acked = ledger.acked();
        // An append whose flush reported a failure, though its batch reached
        // the disk, and whose own reopen failed: the ledger stays faulted
        // with the owner's acknowledged head before it.
        let failed = ledger.append(&key, pay(7)).unwrap();
        *ledger.acked.write().unwrap() = acked;
        ledger.faulted.store(true, Ordering::Release);

        // The next call opens the store again and withdraws it.
        assert_eq!(ledger.head(&me).unwrap(), Some((1, acked.unwrap().1)));
        assert_eq!(
            ledger.state_root().unwrap(),
            root,
            "no trace: balances and heads as before"
        );
        assert!(ledger.entry_by_tx(&failed.tx_id()).unwrap().is_none());
        let next = ledger.append(&key, pay(8)).unwrap();
        assert_eq!(next.body().seq, 2);

        // The append that is asking keeps what it finds durable.
        *ledger.acked.write().unwrap() = Some((1, acked.unwrap().1));
        ledger.faulted.store(true, Ordering::Release);
        let _write = ledger.write.lock().unwrap();
        ledger.heal_locked(std::slice::from_ref(&next)).unwrap();
        assert_eq!(ledger.acked(), Some((2, next.tx_id())));
    }

    #[test]
    fn a_half_written_sled_snapshot_does_not_block_the_next_open() {
        let dir = tempfile::tempdir().unwrap();
        let (ledger, key) = ledger_with(&dir, 2);
        let me = NodeId::from_bytes(key.verifying_key().to_bytes());
        let genesis = ledger.genesis().clone();
        let head = ledger.head(&me).unwrap();
        drop(ledger);
        // What a boot on a full disk left: an empty snapshot sled reads as its newest.
        let stray = dir.path().join("l").join("snap.FFFFFFFFFFFFFFFF.generating");
        std::fs::write(&stray, b"").unwrap();
        let again = Ledger::open(&dir.path().join("l"), genesis, me, LedgerOptions::default()).unwrap();
        assert_eq!(again.head(&me).unwrap(), head);
        assert!(!stray.exists());
    }

    #[test]
    fn a_store_that_failed_a_write_is_opened_again_from_disk_by_the_next_call() {
        let dir = tempfile::tempdir().unwrap();
        let (ledger, key) = ledger_with(&dir, 2);
        let me = NodeId::from_bytes(key.verifying_key().to_bytes());
        ledger.faulted.store(true, Ordering::Release);
        assert_eq!(ledger.head(&me).unwrap().map(|(s, _)| s), Some(1), "a read reopens it");
        assert!(!ledger.faulted.load(Ordering::Acquire));
        ledger.faulted.store(true, Ordering::Release);
        let e = ledger.append(&key, pay(1)).unwrap();
        assert_eq!(e.body().seq, 2, "a write reopens it and appends after the durable head");
    }

    #[test]
    fn a_write_inside_the_reserve_is_refused_before_anything_is_signed() {
        let dir = tempfile::tempdir().unwrap();
        let (mut ledger, key) = ledger_with(&dir, 1);
        let me = NodeId::from_bytes(key.verifying_key().to_bytes());
        ledger.options.reserve_bytes = u64::MAX;
        match ledger.append(&key, pay(1)) {
            Err(LedgerError::DiskFull(why)) => assert!(why.contains("reserve"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(ledger.head(&me).unwrap().map(|(s, _)| s), Some(0));
    }
}
