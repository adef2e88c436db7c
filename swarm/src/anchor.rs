//! Per-epoch anchoring of the ledger on the L2, and inclusion proofs against
//! an anchored root.
//!
//! At the end of each epoch a node that follows the DAO records the chain
//! heads it holds (the ledger keeps that snapshot), builds their Merkle tree
//! (governance bridge `head_leaf`), co-signs the root with its EVM key and
//! gossips the co-signature as an `AnchorVote`. Every node collects the votes
//! of registered nodes (a vote counts only if its issuer's NodeID is
//! registered in the Anchor contract under the EVM address that signed it, so
//! nobody can fill the book with throwaway keys); the first that holds co-signatures of the registered quorum for its own
//! root submits `Anchor.anchor`. Later, anyone holding the snapshot can prove
//! that an entry is in the ledger the swarm anchored: the entry, the signed
//! entries that link it to the anchored head of its chain, and the Merkle
//! proof of that head.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};

use ippoc_economy::store::{AnchoredGi, GiCommitment, Head, Ledger};
use ippoc_economy::{NodeId, SignedEntry, SwarmId, TxId};
use ippoc_governance_bridge::dao::{
    CheckpointSignature, GiProof, NodeEvent, recover_checkpoint_signer, sign_checkpoint,
};
use ippoc_governance_bridge::merkle::{gi_commitment_leaf, gi_tree, head_leaf};
use ippoc_governance_bridge::{
    Address, AnyChain, B256, Bytes, Chain, ChainError, Dao, MerkleProof, MerkleTree, PrivateKeySigner,
};
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::fsutil;

/// Epochs whose votes are kept, counting back from the newest heard or cast.
pub const EPOCHS_KEPT: u64 = 16;
/// Votes kept for one epoch, at most (one per signer).
const VOTES_PER_EPOCH_MAX: usize = 4096;
/// Format tag of an inclusion proof file.
pub const PROOF_FORMAT: &str = "ippoc-inclusion-proof-v1";

/// Why a co-signature heard is not counted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VoteRefused {
    /// The watcher has not read the chain id and Anchor address yet.
    #[error("not yet following a chain")]
    NoTarget,
    /// The signer is not the address the registry holds for the issuer.
    #[error("{signer} is not the address the Anchor contract registers for {issuer}")]
    NotRegistered {
        /// Who signed.
        signer: Address,
        /// The node that gossiped the vote.
        issuer: NodeId,
    },
    /// The epoch is in the future or too old to keep.
    #[error("vote for epoch {epoch}, current is {current}")]
    OutOfWindow {
        /// The vote's epoch.
        epoch: u64,
        /// This node's epoch.
        current: u64,
    },
    /// The signature does not recover to an address.
    #[error("unreadable signature: {0}")]
    BadSignature(String),
    /// The signature recovers to another address than the one claimed.
    #[error("signature is by {recovered}, not by {signer}")]
    WrongSigner {
        /// Who really signed.
        recovered: Address,
        /// Who the vote says signed.
        signer: Address,
    },
}

/// Why an anchoring step failed.
#[derive(Debug, thiserror::Error)]
pub enum AnchorError {
    /// Reading the chain failed.
    #[error("chain: {0}")]
    Chain(#[from] ChainError),
    /// Submitting the anchor failed.
    #[error("anchoring epoch {epoch} from {signer}: {source}")]
    Submit {
        /// The epoch.
        epoch: u64,
        /// This node's EVM address.
        signer: Address,
        /// The chain's answer.
        #[source]
        source: ChainError,
    },
    /// The local ledger failed.
    #[error("ledger: {0}")]
    Ledger(#[from] ippoc_economy::store::LedgerError),
    /// A snapshot recorded a moment ago cannot be read back.
    #[error("the heads snapshot of epoch {0} just recorded is gone")]
    SnapshotGone(u64),
    /// The checkpoint could not be signed.
    #[error("cannot sign the checkpoint: {0}")]
    Sign(String),
    /// A blocking task died.
    #[error("task: {0}")]
    Task(String),
}

/// Why an inclusion proof does not hold (before the chain is asked).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// Not a proof of this format.
    #[error("format {found:?}, expected {PROOF_FORMAT:?}")]
    Format {
        /// The format the file names.
        found: String,
    },
    /// The proof carries no entry.
    #[error("the proof has no entries")]
    NoEntries,
    /// An entry is not hex or does not decode.
    #[error("entry {index}: {reason}")]
    Undecodable {
        /// Its position in the proof.
        index: usize,
        /// Why.
        reason: String,
    },
    /// An entry's signature does not verify.
    #[error("entry {index} ({tx}): {reason}")]
    Unsigned {
        /// Its position.
        index: usize,
        /// Its tx_id.
        tx: TxId,
        /// The verifier's complaint.
        reason: String,
    },
    /// An entry of another swarm.
    #[error("entry {index} is of swarm {swarm}")]
    OtherSwarm {
        /// Its position.
        index: usize,
        /// Its swarm.
        swarm: SwarmId,
    },
    /// The entries are not consecutive entries of one chain.
    #[error("seq {seq} does not follow seq {after} of the same chain")]
    Broken {
        /// The entry that does not follow.
        seq: u64,
        /// The one before it.
        after: u64,
    },
    /// The head's Merkle proof leads elsewhere.
    #[error("the head's Merkle proof does not lead to the root")]
    WrongRoot,
}

/// Epochs from a GI table's cycle to the checkpoint that commits to it
/// (`Anchor.GI_LAG_EPOCHS`): cycle c is closed as epoch c + 5 starts
/// (`GI_CLOSE_EPOCHS`) and the heads of epoch c + 4 are co-signed as epoch
/// c + 6 starts, one epoch later.
pub const GI_LAG_EPOCHS: u64 = 4;

/// The checkpoint tree of a snapshot: a leaf per chain head (sorted by
/// actor), then the leaf that commits to a GI table, if any (`None` for no
/// chains: nothing to anchor).
pub fn heads_tree(heads: &[Head], gi: Option<&GiCommitment>) -> Option<MerkleTree> {
    if heads.is_empty() {
        return None;
    }
    let commitment = gi.map(|g| gi_commitment_leaf(g.cycle, B256::from(g.root)));
    MerkleTree::new(
        heads
            .iter()
            .map(|h| head_leaf(*h.actor.as_bytes(), h.seq, h.tx_id.0))
            .chain(commitment)
            .collect(),
    )
}

/// The tree of a closed cycle's GI rows as the L2 anchors them.
pub fn gi_rows_tree(cycle: u64, rows: &[AnchoredGi]) -> Option<MerkleTree> {
    gi_tree(
        cycle,
        rows.iter().map(|r| (*r.node.as_bytes(), r.gi, r.tier.0, r.status)),
    )
}

/// The GI commitment a checkpoint of `epoch` carries: the rows this node
/// kept for cycle `epoch - GI_LAG_EPOCHS`, if it closed that cycle.
pub fn gi_commitment(ledger: &Ledger, epoch: u64) -> Result<Option<GiCommitment>, AnchorError> {
    let Some(cycle) = epoch.checked_sub(GI_LAG_EPOCHS) else {
        return Ok(None);
    };
    let Some(rows) = ledger.anchored_gi(cycle)? else {
        return Ok(None);
    };
    Ok(gi_rows_tree(cycle, &rows).map(|t| GiCommitment {
        cycle,
        root: t.root().0,
    }))
}

/// The proof `Anchor.promote` takes that `node` scored its GI in `cycle`
/// (by default the newest cycle whose table an anchored checkpoint of this
/// node commits to), from this node's kept rows and its anchored snapshot
/// of epoch `cycle + GI_LAG_EPOCHS`.
pub fn gi_proof(ledger: &Ledger, node: &NodeId, cycle: Option<u64>) -> Result<GiProof, Error> {
    let cycle = match cycle {
        Some(c) => c,
        None => ledger
            .snapshots()
            .map_err(crate::ledger::ledger_error)?
            .iter()
            .rev()
            .filter(|s| s.anchored)
            .find_map(|s| s.gi.map(|g| g.cycle))
            .ok_or_else(|| Error::Refused("no anchored checkpoint of this node commits to a GI table yet".into()))?,
    };
    let refused = Error::Refused;
    let ledger_err = crate::ledger::ledger_error;
    let rows = ledger.anchored_gi(cycle).map_err(ledger_err)?.ok_or_else(|| {
        refused(format!(
            "this node keeps no GI rows of cycle {cycle} (it keeps the newest closed ones)"
        ))
    })?;
    let index = rows
        .iter()
        .position(|r| r.node == *node)
        .ok_or_else(|| refused(format!("{node} is not scored in cycle {cycle}")))?;
    let epoch = cycle.saturating_add(GI_LAG_EPOCHS);
    let snapshot = ledger
        .snapshot(epoch)
        .map_err(ledger_err)?
        .ok_or_else(|| refused(format!("this node keeps no heads snapshot of epoch {epoch}")))?;
    let gi_tree = gi_rows_tree(cycle, &rows).expect("rows hold the node");
    let commitment = snapshot
        .gi
        .filter(|g| g.cycle == cycle && g.root == gi_tree.root().0)
        .ok_or_else(|| {
            refused(format!(
                "the checkpoint of epoch {epoch} this node co-signed does not commit to its GI rows of cycle {cycle}"
            ))
        })?;
    if !snapshot.anchored {
        return Err(refused(format!("epoch {epoch} is not anchored yet")));
    }
    let checkpoint = heads_tree(&snapshot.heads, Some(&commitment)).expect("an anchored snapshot has heads");
    let root_proof = checkpoint
        .proof(checkpoint.len() - 1)
        .expect("the commitment is the last leaf");
    let row = rows[index];
    Ok(GiProof {
        cycle,
        gi_root: gi_tree.root(),
        root_proof: root_proof.siblings,
        gi: row.gi,
        tier: row.tier.0,
        status: row.status,
        leaf_proof: gi_tree.proof(index).expect("in range").siblings,
    })
}

/// Reads the node's EVM key, creating it (mode 0600) on first use.
pub fn load_or_create_eth_key(path: &Path) -> Result<PrivateKeySigner, Error> {
    if !path.exists() {
        let key = PrivateKeySigner::from_slice(&fsutil::random_bytes(32))
            .map_err(|e| Error::Refused(format!("cannot make an EVM key: {e}")))?;
        fsutil::write_atomic(path, format!("0x{}\n", hex::encode(key.to_bytes())).as_bytes(), 0o600)?;
        tracing::info!(event = "eth_key_created", address = %key.address(), path = %path.display(), "created the node's EVM key");
        return Ok(key);
    }
    read_eth_key(path)
}

/// Reads an Ethereum key file: hex (optional `0x`), mode 0600.
pub fn read_eth_key(path: &Path) -> Result<PrivateKeySigner, Error> {
    fsutil::ensure_private_file(path)?;
    let text = String::from_utf8(fsutil::read(path)?)
        .map_err(|_| Error::Refused(format!("{}: not a hex key", path.display())))?;
    text.trim()
        .trim_start_matches("0x")
        .parse::<PrivateKeySigner>()
        .map_err(|e| Error::Refused(format!("{}: not a secp256k1 private key in hex: {e}", path.display())))
}

/// Votes of one epoch.
#[derive(Debug, Default)]
struct EpochVotes {
    /// This node's root, once it voted.
    own: Option<B256>,
    /// Co-signatures heard (and this node's own), by signer.
    votes: BTreeMap<Address, (B256, Bytes)>,
    /// The chain has a root for the epoch (or the epoch was given up).
    settled: bool,
    /// The watcher round in which this node first held the quorum.
    quorum_round: Option<u64>,
}

#[derive(Debug, Default)]
struct BookState {
    /// Chain id and Anchor address, once the watcher has read them.
    target: Option<(u64, Address)>,
    /// The Anchor contract's registered nodes, as of the watcher's last read.
    registry: BTreeMap<NodeId, Address>,
    /// The first block the registry has not been read for.
    registry_from: u64,
    epochs: BTreeMap<u64, EpochVotes>,
    /// Watcher rounds so far (the clock of [`submit_turn`]).
    rounds: u64,
}

/// Anchor votes, shared by the swarm task (which casts and hears them) and
/// the governance watcher (which submits).
#[derive(Debug, Default)]
pub struct AnchorBook {
    state: Mutex<BookState>,
}

/// An epoch whose root this node voted on and the chain does not hold yet.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The epoch.
    pub epoch: u64,
    /// This node's root.
    pub root: B256,
    /// Co-signatures of that root heard so far.
    pub signatures: Vec<CheckpointSignature>,
}

impl AnchorBook {
    fn lock(&self) -> std::sync::MutexGuard<'_, BookState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Chain id and Anchor address the votes are for.
    pub fn target(&self) -> Option<(u64, Address)> {
        self.lock().target
    }

    /// Sets the chain id and Anchor address (the watcher reads them once).
    pub fn set_target(&self, chain_id: u64, anchor: Address) {
        self.lock().target = Some((chain_id, anchor));
    }

    fn prune(state: &mut BookState) {
        let Some(&newest) = state.epochs.keys().next_back() else {
            return;
        };
        while let Some(entry) = state.epochs.first_entry() {
            if *entry.key() + EPOCHS_KEPT > newest {
                break;
            }
            entry.remove();
        }
    }

    /// Records this node's own vote.
    pub fn cast(&self, epoch: u64, root: B256, signature: CheckpointSignature) {
        let mut state = self.lock();
        let e = state.epochs.entry(epoch).or_default();
        e.own = Some(root);
        e.votes.insert(signature.signer, (root, signature.signature));
        Self::prune(&mut state);
    }

    /// Applies registrations read from the chain up to block `to`.
    pub fn apply_registry(&self, events: &[NodeEvent], to: u64) {
        let mut state = self.lock();
        for e in events {
            let id = NodeId::from_bytes(e.node_id.0);
            if e.registered {
                state.registry.insert(id, e.address);
            } else {
                state.registry.remove(&id);
            }
        }
        state.registry_from = to + 1;
    }

    /// The first block whose registrations have not been read.
    pub fn registry_from(&self) -> u64 {
        self.lock().registry_from
    }

    /// The EVM addresses of the registered nodes.
    pub fn registered(&self) -> BTreeSet<Address> {
        self.lock().registry.values().copied().collect()
    }

    /// Records the vote `issuer` gossiped if `signer` is the address the
    /// Anchor contract registers for `issuer` and the signature recovers to
    /// it for this chain and contract; `current` is the node's current epoch.
    pub fn heard(
        &self,
        issuer: NodeId,
        epoch: u64,
        root: B256,
        signer: Address,
        signature: &[u8],
        current: u64,
    ) -> Result<(), VoteRefused> {
        let mut state = self.lock();
        let Some((chain_id, anchor)) = state.target else {
            return Err(VoteRefused::NoTarget);
        };
        if state.registry.get(&issuer) != Some(&signer) {
            return Err(VoteRefused::NotRegistered { signer, issuer });
        }
        if epoch > current || epoch + EPOCHS_KEPT <= current {
            return Err(VoteRefused::OutOfWindow { epoch, current });
        }
        let recovered = recover_checkpoint_signer(chain_id, anchor, epoch, root, signature)
            .map_err(|e| VoteRefused::BadSignature(e.to_string()))?;
        if recovered != signer {
            return Err(VoteRefused::WrongSigner { recovered, signer });
        }
        let e = state.epochs.entry(epoch).or_default();
        if e.votes.len() < VOTES_PER_EPOCH_MAX || e.votes.contains_key(&signer) {
            e.votes.insert(signer, (root, Bytes::copy_from_slice(signature)));
        }
        Self::prune(&mut state);
        Ok(())
    }

    /// Epochs to try to anchor, oldest first.
    pub fn candidates(&self) -> Vec<Candidate> {
        self.lock()
            .epochs
            .iter()
            .filter(|(_, e)| !e.settled)
            .filter_map(|(&epoch, e)| {
                let root = e.own?;
                let signatures = e
                    .votes
                    .iter()
                    .filter(|(_, (r, _))| *r == root)
                    .map(|(signer, (_, sig))| CheckpointSignature {
                        signer: *signer,
                        signature: sig.clone(),
                    })
                    .collect();
                Some(Candidate {
                    epoch,
                    root,
                    signatures,
                })
            })
            .collect()
    }

    /// Starts a watcher round; returns its number.
    fn next_round(&self) -> u64 {
        let mut state = self.lock();
        state.rounds += 1;
        state.rounds
    }

    /// How many watcher rounds ago this node first held the quorum for
    /// `epoch`, counting `round` as the first if it had not before.
    fn rounds_with_quorum(&self, epoch: u64, round: u64) -> u64 {
        let mut state = self.lock();
        let e = state.epochs.entry(epoch).or_default();
        round - *e.quorum_round.get_or_insert(round)
    }

    /// Marks an epoch as done with.
    pub fn settle(&self, epoch: u64) {
        if let Some(e) = self.lock().epochs.get_mut(&epoch) {
            e.settled = true;
        }
    }
}

/// When `me` submits `epoch`'s anchor: the number of turns it waits after it
/// first holds the quorum, its rank among the registered nodes by
/// `keccak256(epoch ‖ address)`. Every node reads the same registry from the
/// chain and ranks it alike, so one node submits and the others find the
/// root on the chain, instead of every co-signer sending the same transaction
/// at once (all but the first of one block revert and still pay their gas).
/// Ranking the signatures a node holds instead would not do: two nodes that
/// heard different votes would each rank themselves first. The order changes
/// each epoch, so no node pays for every anchor, and a registered node that
/// is down (or did not sign this root) costs the next one a turn.
pub fn submit_turn(epoch: u64, me: Address, registered: &BTreeSet<Address>) -> u64 {
    let rank = |a: &Address| {
        let mut preimage = [0u8; 28];
        preimage[..8].copy_from_slice(&epoch.to_be_bytes());
        preimage[8..].copy_from_slice(a.as_slice());
        ippoc_governance_bridge::keccak256(preimage)
    };
    let mine = rank(&me);
    registered.iter().filter(|a| **a != me && rank(a) < mine).count() as u64
}

/// Where epoch `epoch`'s heads are cut: its end. The root of an epoch
/// covers every entry timestamped before the epoch ended, whenever it
/// arrived; the swarm votes on it one epoch later, so that the entries have
/// that long to reach every node (docs/anchoring.md).
pub fn cut_ms(epoch: u64, epoch_ms: u64) -> u64 {
    epoch.saturating_add(1).saturating_mul(epoch_ms)
}

/// A node's part in anchoring: its EVM key and the vote book.
#[derive(Debug, Clone)]
pub struct Anchoring {
    /// Signs co-signatures and anchor transactions.
    pub key: PrivateKeySigner,
    /// Votes cast and heard.
    pub book: Arc<AnchorBook>,
    /// Watcher rounds per turn.
    turn_rounds: u64,
    /// Where submissions are counted.
    metrics: Option<crate::metrics::AnchorMetrics>,
}

impl Anchoring {
    /// Anchoring with `key` and an empty book.
    pub fn new(key: PrivateKeySigner) -> Anchoring {
        Anchoring {
            key,
            book: Arc::new(AnchorBook::default()),
            turn_rounds: 1,
            metrics: None,
        }
    }

    /// Counts submissions and conflicting roots in `metrics`.
    pub fn with_metrics(mut self, metrics: Option<crate::metrics::AnchorMetrics>) -> Anchoring {
        self.metrics = metrics;
        self
    }

    /// Each co-signer's turn to submit lasts `rounds` watcher rounds (one by
    /// default; 0 = all submit at once).
    pub fn with_turn_rounds(mut self, rounds: u64) -> Anchoring {
        self.turn_rounds = rounds;
        self
    }

    /// Records the heads of `ledger` for `epoch` (every chain cut at the
    /// epoch's end, [`cut_ms`]) and co-signs their root. `None` when there is
    /// nothing to vote on yet: no chain target read, or no chains. The first
    /// snapshot of an epoch stands (after a restart the vote is cast again on
    /// the same heads).
    pub fn vote(
        &self,
        ledger: &Ledger,
        epoch: u64,
        epoch_ms: u64,
    ) -> Result<Option<(B256, CheckpointSignature)>, AnchorError> {
        let Some((chain_id, anchor)) = self.book.target() else {
            return Ok(None);
        };
        let heads = ledger.heads_before(cut_ms(epoch, epoch_ms))?;
        if heads.is_empty() {
            return Ok(None);
        }
        ledger.record_snapshot(epoch, heads, gi_commitment(ledger, epoch)?)?;
        let snapshot = ledger.snapshot(epoch)?.ok_or(AnchorError::SnapshotGone(epoch))?;
        let Some(tree) = heads_tree(&snapshot.heads, snapshot.gi.as_ref()) else {
            return Ok(None);
        };
        let root = tree.root();
        let signature =
            sign_checkpoint(&self.key, chain_id, anchor, epoch, root).map_err(|e| AnchorError::Sign(e.to_string()))?;
        self.book.cast(epoch, root, signature.clone());
        Ok(Some((root, signature)))
    }

    /// One round: read new registrations; then for each epoch this node
    /// voted on, settle it if the chain has a root, or submit it if the
    /// registered co-signatures of this node's root reach the quorum.
    /// Returns the last error, if any.
    pub async fn round(&self, dao: &Dao<AnyChain>, ledger: &Arc<Ledger>) -> Option<AnchorError> {
        let round = self.book.next_round();
        if self.book.target().is_none() {
            match dao.chain().chain_id().await {
                Ok(id) => self.book.set_target(id, dao.addresses().anchor),
                Err(e) => return Some(e.into()),
            }
        }
        if let Err(e) = self.read_registry(dao).await {
            return Some(e);
        }
        let mut error = None;
        let registered = self.book.registered();
        for c in self.book.candidates() {
            if let Err(e) = self.settle_or_submit(dao, ledger, &c, &registered, round).await {
                tracing::debug!(epoch = c.epoch, error = %e, "anchoring round");
                error = Some(e);
            }
        }
        error
    }

    /// Applies the Anchor contract's registrations up to the head read first.
    async fn read_registry(&self, dao: &Dao<AnyChain>) -> Result<(), AnchorError> {
        let from = self.book.registry_from();
        let head = dao.chain().block_number().await?;
        if head < from {
            return Ok(());
        }
        let events: Vec<NodeEvent> = dao
            .node_events(from)
            .await?
            .into_iter()
            .filter(|e| e.block <= head)
            .collect();
        self.book.apply_registry(&events, head);
        Ok(())
    }

    async fn settle_or_submit(
        &self,
        dao: &Dao<AnyChain>,
        ledger: &Arc<Ledger>,
        c: &Candidate,
        registered: &BTreeSet<Address>,
        round: u64,
    ) -> Result<(), AnchorError> {
        match dao.root_of(c.epoch).await? {
            Some(root) if root == c.root => return self.anchored(ledger, c, false).await,
            Some(root) => {
                if let Some(m) = &self.metrics {
                    m.conflict();
                }
                tracing::warn!(event = "checkpoint_differs", epoch = c.epoch, ours = %c.root, anchored = %root, "the chain anchored another root for an epoch this node voted on");
                self.book.settle(c.epoch);
                return Ok(());
            }
            None => {}
        }
        let me = self.key.address();
        if !registered.contains(&me) {
            // Only a registered node may submit; another will, and the chain's
            // root settles the epoch here too.
            return Ok(());
        }
        // Fewer votes than seats needed fill no certificate: the committee
        // need not be read.
        let required = dao.required_signers().await?;
        if (c.signatures.len() as u64) < required {
            return Ok(());
        }
        // The committee is read as the chain stands now: registrations may
        // have changed since the votes were heard, and only seat holders count.
        let certificate = dao.certificate(c.epoch, &c.signatures).await?;
        if certificate.signed() < required {
            return Ok(());
        }
        let turn = submit_turn(c.epoch, me, registered);
        if self.book.rounds_with_quorum(c.epoch, round) < turn.saturating_mul(self.turn_rounds) {
            return Ok(());
        }
        let submitted = dao.anchor_certificate(&self.key, c.epoch, c.root, certificate).await;
        if let Some(m) = &self.metrics {
            m.submitted(submitted.is_ok());
        }
        submitted.map_err(|source| AnchorError::Submit {
            epoch: c.epoch,
            signer: me,
            source,
        })?;
        self.anchored(ledger, c, true).await
    }

    async fn anchored(&self, ledger: &Arc<Ledger>, c: &Candidate, submitted: bool) -> Result<(), AnchorError> {
        let l = ledger.clone();
        let epoch = c.epoch;
        tokio::task::spawn_blocking(move || l.mark_anchored(epoch))
            .await
            .map_err(|e| AnchorError::Task(e.to_string()))??;
        self.book.settle(epoch);
        tracing::info!(event = "checkpoint_anchored", epoch, root = %c.root, submitted, "checkpoint anchored on the L2");
        Ok(())
    }
}

/// Proof that an entry is in the ledger the swarm anchored for an epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InclusionProof {
    /// [`PROOF_FORMAT`].
    pub format: String,
    /// The swarm.
    pub swarm_id: SwarmId,
    /// The anchored epoch.
    pub epoch: u64,
    /// The root the prover's snapshot gives (checked against the chain's).
    pub root: B256,
    /// The entry, then each following entry of its chain up to the chain's
    /// head in the snapshot (wire form, hex).
    pub entries: Vec<String>,
    /// Merkle siblings of the head's leaf.
    pub siblings: Vec<B256>,
}

/// What a proof establishes, once checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvenEntry {
    /// The entry's tx_id.
    pub tx_id: TxId,
    /// Its chain.
    pub actor: NodeId,
    /// Its seq.
    pub seq: u64,
    /// The chain head the snapshot holds.
    pub head_seq: u64,
    /// That head's tx_id.
    pub head_tx_id: TxId,
    /// The epoch.
    pub epoch: u64,
    /// The root the proof leads to.
    pub root: B256,
}

/// Builds the proof of `tx` against the snapshot of `epoch`, or of the
/// earliest anchored snapshot whose heads include it when `epoch` is `None`.
pub fn prove(ledger: &Ledger, tx: &TxId, epoch: Option<u64>) -> Result<InclusionProof, Error> {
    let refused = Error::Refused;
    let ledger_err = crate::ledger::ledger_error;
    let (entry, _) = ledger
        .entry_by_tx(tx)
        .map_err(ledger_err)?
        .ok_or_else(|| refused(format!("no counted entry {tx} in this ledger")))?;
    let (actor, seq) = (entry.body.actor, entry.body.seq);
    let covers = |s: &ippoc_economy::store::HeadsSnapshot| {
        s.heads
            .iter()
            .find(|h| h.actor == actor)
            .filter(|h| h.seq >= seq)
            .copied()
    };
    let snapshot = match epoch {
        Some(e) => ledger
            .snapshot(e)
            .map_err(ledger_err)?
            .ok_or_else(|| refused(format!("this node keeps no heads snapshot of epoch {e}")))?,
        None => ledger
            .snapshots()
            .map_err(ledger_err)?
            .into_iter()
            .find(|s| s.anchored && covers(s).is_some())
            .ok_or_else(|| refused(format!("no anchored epoch includes {tx} yet")))?,
    };
    let head = covers(&snapshot).ok_or_else(|| {
        refused(format!(
            "the snapshot of epoch {} does not include seq {seq} of {actor}",
            snapshot.epoch
        ))
    })?;
    let mut entries = Vec::new();
    for item in ledger.range(&actor, seq, head.seq + 1) {
        entries.push(hex::encode(item.map_err(ledger_err)?.0.to_bytes()));
    }
    let tree = heads_tree(&snapshot.heads, snapshot.gi.as_ref()).expect("a snapshot that covers an entry has heads");
    let leaf = head_leaf(*actor.as_bytes(), head.seq, head.tx_id.0);
    let proof = tree.proof_of(leaf).expect("the head is a leaf of its own snapshot");
    Ok(InclusionProof {
        format: PROOF_FORMAT.into(),
        swarm_id: ledger.swarm_id(),
        epoch: snapshot.epoch,
        root: tree.root(),
        entries,
        siblings: proof.siblings,
    })
}

impl InclusionProof {
    /// The Merkle proof of the head leaf the entries lead to.
    pub fn merkle(&self) -> Result<MerkleProof, ProofError> {
        let last = self.entries.last().ok_or(ProofError::NoEntries)?;
        let head = decode_entry(self.entries.len() - 1, last)?;
        Ok(MerkleProof {
            leaf: head_leaf(*head.body.actor.as_bytes(), head.body.seq, head.tx_id().0),
            siblings: self.siblings.clone(),
        })
    }

    /// Checks everything but the chain: every entry is validly signed, of
    /// this swarm, and links to the next (`prev`, consecutive seqs) up to the
    /// head, and the head's leaf with the siblings gives `self.root`.
    pub fn check(&self) -> Result<ProvenEntry, ProofError> {
        if self.format != PROOF_FORMAT {
            return Err(ProofError::Format {
                found: self.format.clone(),
            });
        }
        let mut entries = Vec::with_capacity(self.entries.len());
        for (index, text) in self.entries.iter().enumerate() {
            let e = decode_entry(index, text)?;
            let tx = e.tx_id();
            let body = e.clone().verify().map_err(|err| ProofError::Unsigned {
                index,
                tx,
                reason: err.to_string(),
            })?;
            if body.body().swarm_id != self.swarm_id {
                return Err(ProofError::OtherSwarm {
                    index,
                    swarm: body.body().swarm_id,
                });
            }
            entries.push(e);
        }
        let first = entries.first().ok_or(ProofError::NoEntries)?;
        for pair in entries.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            if b.body.actor != a.body.actor || b.body.seq != a.body.seq + 1 || b.body.prev != a.tx_id() {
                return Err(ProofError::Broken {
                    seq: b.body.seq,
                    after: a.body.seq,
                });
            }
        }
        let head = entries.last().expect("not empty");
        let merkle = self.merkle()?;
        if !merkle.verify(self.root) {
            return Err(ProofError::WrongRoot);
        }
        Ok(ProvenEntry {
            tx_id: first.tx_id(),
            actor: first.body.actor,
            seq: first.body.seq,
            head_seq: head.body.seq,
            head_tx_id: head.tx_id(),
            epoch: self.epoch,
            root: self.root,
        })
    }
}

fn decode_entry(index: usize, text: &str) -> Result<SignedEntry, ProofError> {
    let undecodable = |reason: String| ProofError::Undecodable { index, reason };
    let bytes = hex::decode(text).map_err(|e| undecodable(format!("not hex: {e}")))?;
    SignedEntry::from_bytes(&bytes).map_err(|e| undecodable(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;
    use ippoc_economy::genesis::Genesis;
    use ippoc_economy::store::{Draft, Intent, LedgerOptions};
    use ippoc_economy::{Amount, Currency};

    fn eth(i: u8) -> PrivateKeySigner {
        PrivateKeySigner::from_slice(&[i + 1; 32]).unwrap()
    }

    /// A ledger whose owner made `n` transfers to a second founder.
    fn ledger(dir: &tempfile::TempDir, n: u64) -> (Ledger, Vec<TxId>) {
        let keys: Vec<SigningKey> = (1..=2u8).map(|i| SigningKey::from_bytes(&[i; 32])).collect();
        let ids: Vec<NodeId> = keys
            .iter()
            .map(|k| NodeId::from_bytes(k.verifying_key().to_bytes()))
            .collect();
        let genesis = Genesis::new(
            "anchor",
            1,
            &ids,
            Amount::from_base(1_000_000_000),
            Amount::from_base(1),
        );
        let l = Ledger::open(&dir.path().join("l"), genesis, ids[0], LedgerOptions::default()).unwrap();
        let txs = (0..n)
            .map(|_| {
                let draft = Draft::new(
                    Intent::Transfer {
                        to: ids[1],
                        currency: Currency::Ippc,
                        amount: Amount::from_base(1_000),
                    },
                    1,
                );
                l.append(&keys[0], draft).unwrap().tx_id()
            })
            .collect();
        (l, txs)
    }

    fn registration(i: u8, registered: bool) -> NodeEvent {
        NodeEvent {
            block: 1,
            address: eth(i).address(),
            node_id: B256::repeat_byte(i),
            registered,
        }
    }

    #[test]
    fn a_vote_counts_only_from_a_registered_node_signing_for_this_chain() {
        let book = AnchorBook::default();
        let anchor = Address::repeat_byte(0xaa);
        let root = B256::repeat_byte(1);
        let node = |i: u8| NodeId::from_bytes([i; 32]);
        let sig = sign_checkpoint(&eth(1), 5, anchor, 10, root).unwrap();
        let hear = |issuer: u8, root: B256, signer: u8, signature: &[u8], current: u64| {
            book.heard(node(issuer), 10, root, eth(signer).address(), signature, current)
        };
        assert!(hear(1, root, 1, &sig.signature, 10).is_err(), "no target yet");
        book.set_target(5, anchor);
        assert!(
            hear(1, root, 1, &sig.signature, 10).is_err(),
            "node 1 is not registered yet"
        );
        book.apply_registry(&[registration(1, true), registration(2, true)], 7);
        assert_eq!(book.registry_from(), 8);
        hear(1, root, 1, &sig.signature, 10).unwrap();
        // Another node claiming the signature, a signer registered for
        // another node, another root, chain or epoch, a cut signature: refused.
        assert!(hear(2, root, 1, &sig.signature, 10).is_err());
        assert!(hear(1, root, 2, &sig.signature, 10).is_err());
        assert!(hear(1, B256::repeat_byte(2), 1, &sig.signature, 10).is_err());
        let other_chain = sign_checkpoint(&eth(2), 6, anchor, 10, root).unwrap();
        assert!(hear(2, root, 2, &other_chain.signature, 10).is_err());
        assert!(hear(1, root, 1, &sig.signature, 10 + EPOCHS_KEPT).is_err());
        assert!(hear(1, root, 1, &sig.signature[..64], 10).is_err());
        // A deregistered node's votes stop counting.
        book.apply_registry(&[registration(2, false)], 9);
        let sig2 = sign_checkpoint(&eth(2), 5, anchor, 10, root).unwrap();
        assert!(hear(2, root, 2, &sig2.signature, 10).is_err());
        assert_eq!(book.registered(), BTreeSet::from([eth(1).address()]));
        // Only epochs this node voted on are candidates, with the votes for its own root.
        assert!(book.candidates().is_empty());
        book.cast(10, root, sign_checkpoint(&eth(3), 5, anchor, 10, root).unwrap());
        let c = book.candidates();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].signatures.len(), 2);
        book.settle(10);
        assert!(book.candidates().is_empty());
    }

    #[test]
    fn registered_nodes_take_turns_to_submit_one_a_turn_and_the_first_changes_by_epoch() {
        let registered: BTreeSet<Address> = (1..=5u8).map(|i| eth(i).address()).collect();
        let mut firsts = BTreeSet::new();
        for epoch in 0..20 {
            let mut turns: Vec<u64> = registered.iter().map(|a| submit_turn(epoch, *a, &registered)).collect();
            firsts.insert(turns.iter().position(|&t| t == 0).unwrap());
            turns.sort();
            assert_eq!(turns, vec![0, 1, 2, 3, 4], "epoch {epoch}: one node per turn");
        }
        assert!(firsts.len() > 1, "the same node submitted every epoch");

        let book = AnchorBook::default();
        assert_eq!((book.next_round(), book.next_round()), (1, 2));
        assert_eq!(book.rounds_with_quorum(9, 40), 0, "the round it first holds the quorum");
        assert_eq!(book.rounds_with_quorum(9, 42), 2);
        assert_eq!(book.rounds_with_quorum(10, 42), 0, "counted per epoch");
    }

    #[test]
    fn nodes_holding_different_tips_agree_on_the_root_of_an_ended_epoch() {
        let dir = tempfile::tempdir().unwrap();
        let (owner, _) = ledger(&dir, 4);
        let other_dir = tempfile::tempdir().unwrap();
        let other = Ledger::open(
            &other_dir.path().join("l"),
            owner.genesis().clone(),
            NodeId::from_bytes(SigningKey::from_bytes(&[2; 32]).verifying_key().to_bytes()),
            LedgerOptions::default(),
        )
        .unwrap();
        let held: Vec<_> = owner.range(&owner.owner(), 0, 4).map(|r| r.unwrap().0).collect();
        other.ingest(held).unwrap();
        // The owner goes on paying after epoch 7 (1 s epochs) ended; the other has not heard yet.
        ledger_append(&owner, 8_000);
        ledger_append(&owner, 10_500);
        let (a, b) = (Anchoring::new(eth(1)), Anchoring::new(eth(2)));
        for x in [&a, &b] {
            x.book.set_target(5, Address::repeat_byte(0xaa));
        }
        let root = |x: &Anchoring, l: &Ledger, epoch| x.vote(l, epoch, 1_000).unwrap().unwrap().0;
        assert_eq!(
            root(&a, &owner, 7),
            root(&b, &other, 7),
            "both cut epoch 7 at the fourth payment"
        );
        assert_eq!(owner.snapshot(7).unwrap().unwrap().heads[0].seq, 3);
        assert_ne!(
            root(&a, &owner, 10),
            root(&b, &other, 10),
            "the payment of epoch 10 is only in the owner's cut"
        );
    }

    #[test]
    fn a_proof_links_the_entry_to_the_anchored_head_and_any_tampering_fails() {
        let dir = tempfile::tempdir().unwrap();
        let (l, txs) = ledger(&dir, 4);
        let a = Anchoring::new(eth(1));
        assert!(a.vote(&l, 7, 1_000).unwrap().is_none(), "no target, no vote");
        a.book.set_target(5, Address::repeat_byte(0xaa));
        let (root, _) = a.vote(&l, 7, 1_000).unwrap().unwrap();

        // Not anchored yet: only an explicit epoch gives a proof.
        assert!(prove(&l, &txs[1], None).is_err());
        let proof = prove(&l, &txs[1], Some(7)).unwrap();
        assert_eq!(proof.root, root);
        assert_eq!(proof.entries.len(), 3, "seq 1, 2 and the head, seq 3");
        let proven = proof.check().unwrap();
        assert_eq!((proven.tx_id, proven.seq, proven.head_seq), (txs[1], 1, 3));
        l.mark_anchored(7).unwrap();
        assert_eq!(prove(&l, &txs[1], None).unwrap(), proof);

        // An entry after the snapshot is not in it.
        let late = ledger_append(&l, 1);
        assert!(
            prove(&l, &late, Some(7))
                .unwrap_err()
                .to_string()
                .contains("does not include")
        );

        let mut bad = proof.clone();
        bad.entries.remove(1);
        assert!(matches!(bad.check(), Err(ProofError::Broken { .. })));
        let mut bad = proof.clone();
        let mut bytes = hex::decode(&bad.entries[0]).unwrap();
        let at = bytes.len() - 70;
        bytes[at] ^= 1;
        bad.entries[0] = hex::encode(bytes);
        assert!(bad.check().is_err(), "a changed entry");
        let mut bad = proof.clone();
        bad.root = B256::repeat_byte(9);
        assert_eq!(bad.check(), Err(ProofError::WrongRoot));
        let mut bad = proof.clone();
        bad.siblings.push(B256::repeat_byte(3));
        assert!(bad.check().is_err(), "an extra sibling");
        let mut bad = proof;
        bad.swarm_id = SwarmId([0; 32]);
        assert!(matches!(bad.check(), Err(ProofError::OtherSwarm { .. })));
    }

    fn ledger_append(l: &Ledger, timestamp_ms: u64) -> TxId {
        let key = SigningKey::from_bytes(&[1; 32]);
        let to = NodeId::from_bytes(SigningKey::from_bytes(&[2; 32]).verifying_key().to_bytes());
        let draft = Draft::new(
            Intent::Transfer {
                to,
                currency: Currency::Ippc,
                amount: Amount::from_base(1_000),
            },
            timestamp_ms,
        );
        l.append(&key, draft).unwrap().tx_id()
    }

    #[test]
    fn the_eth_key_is_created_once_private_and_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("eth.key");
        let a = load_or_create_eth_key(&path).unwrap();
        let b = load_or_create_eth_key(&path).unwrap();
        assert_eq!(a.address(), b.address());
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
}
