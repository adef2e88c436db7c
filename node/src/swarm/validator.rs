//! Gossip validation with the ledger's own checks.

use std::sync::Arc;

use ippoc_economy::attestation::AttestationError;
use ippoc_economy::store::Ledger;
use ippoc_economy::{Attestation, Claim, SignedEntry};
use ippoc_mesh::{PeerId, Topic, Validator, Verdict};

/// Gossip validation with the ledger: entries must decode, belong to this
/// swarm and carry a valid signature before they are delivered or forwarded;
/// attestations must verify, and a warrant's evidence must hold. What is
/// already held, and entries of a chain past its fork, are ignored (not
/// forwarded again, not blamed).
pub struct LedgerValidator {
    /// The ledger.
    pub ledger: Arc<Ledger>,
}

impl Validator for LedgerValidator {
    fn validate(&self, topic: Topic, data: &[u8], _source: &PeerId) -> Verdict {
        match topic {
            Topic::Entries => self.entry(data),
            Topic::Attestations | Topic::Warrants => self.attestation(topic, data),
            // The governance relay comes with the L2 bridge; nothing is relayed before.
            Topic::Governance => Verdict::Ignore,
        }
    }
}

impl LedgerValidator {
    fn entry(&self, data: &[u8]) -> Verdict {
        let entry = match SignedEntry::from_bytes(data) {
            Ok(e) => e,
            // Honest peers decode before forwarding: junk is never relayed in good faith.
            Err(e) => return Verdict::Forged(format!("undecodable entry: {e}")),
        };
        if entry.body.swarm_id != self.ledger.swarm_id() {
            return Verdict::Reject(format!("entry of swarm {}", entry.body.swarm_id));
        }
        if matches!(self.ledger.entry_by_tx(&entry.tx_id()), Ok(Some(_))) {
            return Verdict::Ignore;
        }
        // A chain past its fork counts for nothing: stop spreading it.
        if matches!(self.ledger.fork_of(&entry.body.actor), Ok(Some(f)) if entry.body.seq >= f) {
            return Verdict::Ignore;
        }
        match entry.verify() {
            Ok(_) => Verdict::Accept,
            // A bad signature is bad for every validator, whatever its ledger holds.
            Err(e) => Verdict::Forged(e.to_string()),
        }
    }

    fn attestation(&self, topic: Topic, data: &[u8]) -> Verdict {
        let a = match Attestation::decode_verified(data, self.ledger.swarm_id()) {
            Ok(a) => a,
            Err(e @ AttestationError::OtherSwarm(_)) => return Verdict::Reject(e.to_string()),
            // Signatures, bounds and evidence are the same for every validator.
            Err(e) => return Verdict::Forged(e.to_string()),
        };
        let is_warrant = matches!(a.body.claim, Claim::Warrant(_));
        if is_warrant != (topic == Topic::Warrants) {
            return Verdict::Reject(format!(
                "a {} on the {topic} topic",
                if is_warrant { "warrant" } else { "claim" }
            ));
        }
        Verdict::Accept
    }
}
