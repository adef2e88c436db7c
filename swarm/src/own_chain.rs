//! The node's own chain: the one way to sign and append an entry. Every
//! append is recorded by the signing guard before the ledger stores it (so
//! the identity never signs twice at one position, `guard`) and wakes the
//! gossip side, which publishes from its cursor up to the head, so no caller
//! can forget to tell it (the daemon's API, the CLI, the sandbox meter, the
//! bounty board and skill runs all append through here).

use std::sync::Arc;

use ed25519_dalek::SigningKey;
use ippoc_economy::entry::VerifiedEntry;
use ippoc_economy::store::{Draft, Ledger};
use ippoc_economy::{Attestation, AttestationBody, Claim, NodeId};
use tokio::sync::Notify;

use crate::Error;
use crate::guard::{GuardState, SigningGuard};

/// The node's ledger with the key that signs its chain, the guard that
/// records every signature, and the signal the gossip side waits on.
#[derive(Clone)]
pub struct OwnChain {
    ledger: Arc<Ledger>,
    key: SigningKey,
    guard: Arc<SigningGuard>,
    appended: Arc<Notify>,
}

impl OwnChain {
    /// The chain of `key`'s node in `ledger`, wired to `appended`.
    pub(crate) fn new(
        ledger: Arc<Ledger>,
        key: SigningKey,
        guard: Arc<SigningGuard>,
        appended: Arc<Notify>,
    ) -> OwnChain {
        debug_assert_eq!(ledger.owner(), NodeId::from_bytes(key.verifying_key().to_bytes()));
        OwnChain {
            ledger,
            key,
            guard,
            appended,
        }
    }

    /// The chain with no gossip side listening: the CLI working on a node's
    /// files while no daemon runs (the daemon publishes from its head when it
    /// starts, and history travels by sync).
    pub fn detached(ledger: Arc<Ledger>, key: SigningKey, guard: Arc<SigningGuard>) -> OwnChain {
        OwnChain::new(ledger, key, guard, Arc::new(Notify::new()))
    }

    /// Signs and appends one entry (durable when this returns, and recorded
    /// by the signing guard before it was stored), then wakes the gossip
    /// side. Refused while the guard says the node may not sign.
    pub fn append(&self, draft: Draft) -> Result<VerifiedEntry, Error> {
        Ok(self.append_batch(vec![draft])?.remove(0))
    }

    /// Signs and appends several entries in order, all or none, with one
    /// flush and one guard record for all (a batch of work, a simulated flood).
    pub fn append_batch(&self, drafts: Vec<Draft>) -> Result<Vec<VerifiedEntry>, Error> {
        self.guard.may_sign(&self.ledger)?;
        let entries = self
            .ledger
            .append_batch_recorded(&self.key, drafts, self.guard.as_ref())
            .map_err(crate::ledger::ledger_error)?;
        self.appended.notify_one();
        Ok(entries)
    }

    /// Whether the node may sign, and why not.
    pub fn signing(&self) -> GuardState {
        self.guard.state()
    }

    /// A sync round with a peer finished: the guard re-reads the ledger (an
    /// unknown guard learns the head; a recovering one may be done).
    pub(crate) fn synced_with_peer(&self) -> Result<GuardState, Error> {
        self.guard.peer_synced(&self.ledger)
    }

    /// The ledger, for reading (appends to the own chain go through [`Self::append`]).
    pub fn ledger(&self) -> &Arc<Ledger> {
        &self.ledger
    }

    /// The export file of `actor`'s chain (or of every chain), its
    /// commitment signed by this node.
    pub fn export(&self, actor: Option<&NodeId>) -> Result<Vec<u8>, Error> {
        self.ledger
            .export(actor, &self.key)
            .map_err(crate::ledger::ledger_error)
    }

    /// Signs, as a sentinel, the mint of `owner`'s tranche citing closed
    /// `cycle`, if this node's own records let it through
    /// ([`Ledger::authorize_mint`]). Signing a mint authorization is not an
    /// entry of the own chain: the signing guard has nothing to record.
    pub fn authorize_mint(
        &self,
        owner: &NodeId,
        tranche: u64,
        cycle: u64,
        now_ms: u64,
    ) -> Result<ippoc_economy::entry::SentinelSignature, Error> {
        self.ledger
            .authorize_mint(&self.key, owner, tranche, cycle, now_ms)
            .map_err(crate::ledger::ledger_error)
    }

    /// This node.
    pub fn owner(&self) -> NodeId {
        self.ledger.owner()
    }

    /// Signs a claim as this node, issued now.
    pub fn attest(&self, claim: Claim) -> Attestation {
        AttestationBody {
            version: ippoc_economy::attestation::ATTESTATION_VERSION,
            swarm_id: self.ledger.swarm_id(),
            issuer: self.ledger.owner(),
            issued_ms: crate::ledger::now_ms(),
            claim,
        }
        .sign(&self.key)
    }

    /// The signal appends raise (the gossip side waits on it).
    pub(crate) fn appended(&self) -> &Arc<Notify> {
        &self.appended
    }

    /// The identity key (the mesh's libp2p identity is derived from it).
    pub(crate) fn key(&self) -> &SigningKey {
        &self.key
    }
}
