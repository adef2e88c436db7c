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
            Topic::Attestations | Topic::Warrants | Topic::Bounties => self.attestation(topic, data),
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
        let home = match a.body.claim {
            Claim::Warrant(_) => Topic::Warrants,
            Claim::BountyOffer { .. } | Claim::BountyResult { .. } => Topic::Bounties,
            Claim::Receipt { .. } | Claim::Checkpoint { .. } | Claim::Heartbeat { .. } | Claim::AnchorVote { .. } => {
                Topic::Attestations
            }
        };
        if home != topic {
            return Verdict::Reject(format!("a {home} claim on the {topic} topic"));
        }
        Verdict::Accept
    }
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;
    use ippoc_economy::attestation::{ATTESTATION_VERSION, Evidence};
    use ippoc_economy::genesis::Genesis;
    use ippoc_economy::{AttestationBody, NodeId, SwarmId, Warrant};

    use super::*;

    fn attestation(key: &SigningKey, swarm_id: SwarmId, claim: Claim) -> Vec<u8> {
        AttestationBody {
            version: ATTESTATION_VERSION,
            swarm_id,
            issuer: NodeId::from_bytes(key.verifying_key().to_bytes()),
            issued_ms: 1,
            claim,
        }
        .sign(key)
        .to_bytes()
    }

    #[test]
    fn attestations_are_judged_by_what_every_node_can_check() {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::from_bytes(&[1; 32]);
        let me = NodeId::from_bytes(key.verifying_key().to_bytes());
        let ledger = Ledger::open(dir.path(), Genesis::solo(me, 1), me, Default::default()).unwrap();
        let swarm = ledger.swarm_id();
        let v = LedgerValidator {
            ledger: Arc::new(ledger),
        };
        let peer = PeerId::random();
        let beat = Claim::Heartbeat {
            beat: 0,
            state_root: [0; 32],
            entries: 0,
        };
        let good = attestation(&key, swarm, beat.clone());
        assert_eq!(v.validate(Topic::Attestations, &good, &peer), Verdict::Accept);
        // On the warrants topic a heartbeat is out of place, not forged.
        assert!(matches!(v.validate(Topic::Warrants, &good, &peer), Verdict::Reject(_)));
        let mut tampered = good.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(matches!(
            v.validate(Topic::Attestations, &tampered, &peer),
            Verdict::Forged(_)
        ));
        assert!(matches!(
            v.validate(Topic::Attestations, b"junk", &peer),
            Verdict::Forged(_)
        ));
        let other_swarm = attestation(&key, SwarmId([9; 32]), beat);
        assert!(matches!(
            v.validate(Topic::Attestations, &other_swarm, &peer),
            Verdict::Reject(_)
        ));
        // A validly signed warrant whose evidence does not hold is forged evidence.
        let e = ippoc_economy::entry::EntryBody {
            version: ippoc_economy::entry::ENTRY_VERSION,
            swarm_id: swarm,
            actor: me,
            seq: 0,
            prev: ippoc_economy::TxId::ZERO,
            timestamp_ms: 1,
            params: 0,
            action: ippoc_economy::Action::Transfer,
            transfers: vec![],
            deps: vec![],
            outcome: ippoc_economy::Outcome::Success,
            proof: None,
            memo: vec![],
        }
        .sign(&key);
        let same_twice = Claim::Warrant(Box::new(Warrant {
            subject: me,
            evidence: Evidence::Equivocation { a: e.clone(), b: e },
        }));
        let bogus = attestation(&key, swarm, same_twice);
        assert!(matches!(v.validate(Topic::Warrants, &bogus, &peer), Verdict::Forged(_)));
    }
}
