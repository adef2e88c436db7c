//! Gossip validation with the ledger's own checks, and the hand-off of what
//! it verified: an entry's signature is checked once, here, and the
//! [`VerifiedEntry`] (a type only verification creates) waits in
//! [`VerifiedEntries`] for the pump to store it. The pump never trusts the
//! mesh's bytes for that: it takes the validator's own verified entry by
//! its tx_id, and verifies anything it does not find there.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use ippoc_economy::attestation::AttestationError;
use ippoc_economy::entry::VerifiedEntry;
use ippoc_economy::store::{Ledger, Precheck};
use ippoc_economy::{Attestation, Claim, SignedEntry, TxId};
use ippoc_mesh::{PeerId, Topic, Validator, Verdict};

use crate::limits::ActorLimits;

/// Verified entries waiting for the pump, at most. The mesh delivers each
/// accepted message to the pump moments after validating it; past this bound
/// (a pump far behind) the oldest are dropped and the pump verifies those
/// again itself, so nothing is lost but the saved work.
pub const VERIFIED_WAITING_MAX: usize = 4096;

/// Entries the validator verified and the pump has not taken yet.
#[derive(Default)]
pub struct VerifiedEntries {
    /// By tx_id, with their arrival order for eviction; at most
    /// [`VERIFIED_WAITING_MAX`], oldest dropped.
    waiting: Mutex<(HashMap<TxId, VerifiedEntry>, VecDeque<TxId>)>,
}

impl VerifiedEntries {
    fn put(&self, entry: VerifiedEntry) {
        let mut w = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
        let (map, order) = &mut *w;
        let tx = entry.tx_id();
        if map.insert(tx, entry).is_none() {
            order.push_back(tx);
        }
        // The order holds every arrival, taken or not, so bounding it bounds
        // both: the oldest arrival goes (a no-op for one already taken).
        while order.len() > VERIFIED_WAITING_MAX {
            let Some(oldest) = order.pop_front() else { break };
            map.remove(&oldest);
        }
        debug_assert!(map.len() <= order.len());
    }

    /// The verified entry with `tx`, if the validator verified it and it
    /// still waits here.
    pub fn take(&self, tx: &TxId) -> Option<VerifiedEntry> {
        // Its place in the arrival order is dropped when it reaches the front.
        self.waiting.lock().unwrap_or_else(|p| p.into_inner()).0.remove(tx)
    }

    /// Entries waiting now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner()).0.len()
    }
}

/// Gossip validation with the ledger: entries must decode, belong to this
/// swarm, keep the static rules, come from a member and carry a valid
/// signature before they are delivered or forwarded;
/// attestations must come from a member and verify, and a warrant's
/// evidence must hold. What is already held, entries of a chain past its
/// fork, and whatever is over its author's rate are ignored (not forwarded,
/// not blamed).
pub struct LedgerValidator {
    /// The ledger.
    pub ledger: Arc<Ledger>,
    /// Where verified entries wait for the pump.
    pub verified: Arc<VerifiedEntries>,
    /// Each author's rate.
    pub limits: Arc<ActorLimits>,
}

impl Validator for LedgerValidator {
    fn validate(&self, topic: Topic, data: &[u8], source: &PeerId) -> Verdict {
        match topic {
            Topic::Entries => self.entry(data, source),
            Topic::Attestations | Topic::Warrants | Topic::Bounties => self.attestation(topic, data),
            // The governance relay comes with the L2 bridge; nothing is relayed before.
            Topic::Governance => Verdict::Ignore,
        }
    }
}

impl LedgerValidator {
    fn entry(&self, data: &[u8], source: &PeerId) -> Verdict {
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
        // The cheap checks first: static rules and membership. An honest
        // relay applies the same ones under the same parameter table before
        // forwarding, so a refusal counts against the sender (and a forged
        // signature on top of it bans it at once); what cannot be judged yet
        // is dropped without blame (the chain or its deps come by sync).
        match self.ledger.precheck(&entry.body) {
            Ok(Precheck::Pass) => {}
            Ok(Precheck::Unknown(_)) | Err(_) => return Verdict::Ignore,
            // A member's chain far ahead: dropped, but a forged signature in
            // a member's name still bans the sender.
            Ok(Precheck::Ahead) => {
                return match entry.verify() {
                    Err(e) => Verdict::Forged(e.to_string()),
                    Ok(v) => {
                        self.limits.behind(v.body().actor, *source, v.body().seq);
                        Verdict::Ignore
                    }
                };
            }
            Ok(Precheck::Refused(reason)) => {
                return match entry.verify() {
                    Err(e) => Verdict::Forged(e.to_string()),
                    Ok(_) => Verdict::Reject(reason),
                };
            }
        }
        // Over its author's rate: dropped before the signature check, which
        // is what a flood would cost. Nothing is taken from the bucket here,
        // so a forgery cannot spend a member's tokens.
        if !self.limits.entry_allowed(&entry.body.actor) {
            self.limits.dropped(1);
            self.limits.behind(entry.body.actor, *source, entry.body.seq);
            return Verdict::Ignore;
        }
        match entry.verify() {
            // Only a verified entry spends its author's tokens: a forgery
            // in a member's name must not silence the member.
            Ok(verified) => match self.limits.entries(verified.body().actor, 1) {
                (1, _) => {
                    self.verified.put(verified);
                    Verdict::Accept
                }
                (_, throttled) => {
                    self.limits.dropped(1);
                    self.limits.behind(verified.body().actor, *source, verified.body().seq);
                    if let Some(t) = throttled.filter(|t| t.log) {
                        tracing::warn!(
                            event = "actor_throttled",
                            actor = %verified.body().actor,
                            refused = t.refused,
                            "entries over their author's rate dropped (they come by sync later)"
                        );
                    }
                    Verdict::Ignore
                }
            },
            // A bad signature is bad for every validator, whatever its ledger holds.
            Err(e) => Verdict::Forged(e.to_string()),
        }
    }

    fn attestation(&self, topic: Topic, data: &[u8]) -> Verdict {
        let a = match Attestation::decode(data) {
            Ok(a) => a,
            Err(e) => return Verdict::Forged(e.to_string()),
        };
        // Who issued it, before its signature is checked: an issuer this
        // ledger does not know may be an outsider or a member whose first
        // entry has not arrived yet, so it is dropped without blame.
        match self.ledger.is_member(&a.body.issuer) {
            Ok(true) => {}
            Ok(false) | Err(_) => return Verdict::Ignore,
        }
        match a.verify(self.ledger.swarm_id()) {
            Ok(()) => {}
            Err(e @ AttestationError::OtherSwarm(_)) => return Verdict::Reject(e.to_string()),
            // Signatures, bounds and evidence are the same for every validator.
            Err(e) => return Verdict::Forged(e.to_string()),
        }
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
        if let Err(t) = self.limits.attestation(a.body.issuer) {
            if t.log {
                tracing::warn!(
                    event = "actor_throttled",
                    issuer = %a.body.issuer,
                    refused = t.refused,
                    "attestations over their issuer's rate dropped"
                );
            }
            return Verdict::Ignore;
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

    /// A signed entry of `key` at `seq` that moves nothing.
    fn empty_entry(key: &SigningKey, swarm_id: SwarmId, seq: u64) -> SignedEntry {
        ippoc_economy::entry::EntryBody {
            version: ippoc_economy::entry::ENTRY_VERSION,
            swarm_id,
            actor: NodeId::from_bytes(key.verifying_key().to_bytes()),
            seq,
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
        .sign(key)
    }

    /// A validator over the solo ledger of key `[1; 32]`: its dir, key, NodeID.
    fn solo_validator() -> (tempfile::TempDir, SigningKey, NodeId, LedgerValidator) {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::from_bytes(&[1; 32]);
        let me = NodeId::from_bytes(key.verifying_key().to_bytes());
        let ledger = Ledger::open(dir.path(), Genesis::solo(me, 1), me, Default::default()).unwrap();
        let v = LedgerValidator {
            ledger: Arc::new(ledger),
            verified: Default::default(),
            limits: Arc::new(ActorLimits::new(Default::default())),
        };
        (dir, key, me, v)
    }

    #[test]
    fn verified_entries_wait_for_the_pump_within_their_bound_and_are_taken_once() {
        let key = SigningKey::from_bytes(&[3; 32]);
        let waiting = VerifiedEntries::default();
        let entry = |seq: u64| empty_entry(&key, SwarmId([1; 32]), seq).verify().unwrap();
        let first = entry(0);
        let first_tx = first.tx_id();
        waiting.put(first);
        assert!(waiting.take(&first_tx).is_some());
        assert!(waiting.take(&first_tx).is_none(), "taken once");
        for seq in 1..=(VERIFIED_WAITING_MAX as u64 + 10) {
            waiting.put(entry(seq));
        }
        assert_eq!(waiting.len(), VERIFIED_WAITING_MAX);
        assert!(waiting.take(&entry(1).tx_id()).is_none(), "the oldest went");
        assert!(waiting.take(&entry(VERIFIED_WAITING_MAX as u64 + 10).tx_id()).is_some());
    }

    #[test]
    fn entries_of_non_members_or_breaking_a_static_rule_are_rejected_before_their_signature_is_checked() {
        let (_dir, key, _, v) = solo_validator();
        let swarm = v.ledger.swarm_id();
        let peer = PeerId::random();
        let pay = |key: &SigningKey, memo: usize, params: u32| {
            let actor = NodeId::from_bytes(key.verifying_key().to_bytes());
            let wallet = ippoc_economy::AccountId::Wallet(actor);
            let leg = |to, amount| ippoc_economy::Transfer {
                from: wallet,
                to,
                currency: ippoc_economy::Currency::Ippc,
                amount: ippoc_economy::Amount::from_base(amount),
            };
            let mut e = empty_entry(key, swarm, 0);
            e.body.transfers = vec![
                leg(ippoc_economy::AccountId::Wallet(NodeId::from_bytes([5; 32])), 1_000_000),
                leg(ippoc_economy::AccountId::PublicGoodsPool, 1_000),
            ];
            e.body.memo = vec![b'x'; memo];
            e.body.params = params;
            e.body.sign(key).to_bytes()
        };
        assert_eq!(v.validate(Topic::Entries, &pay(&key, 0, 0), &peer), Verdict::Accept);
        // An outside key, validly signed, well formed: not a member.
        let outsider = SigningKey::from_bytes(&[2; 32]);
        assert!(
            matches!(v.validate(Topic::Entries, &pay(&outsider, 0, 0), &peer), Verdict::Reject(ref r) if r.contains("not a member"))
        );
        // A memo over 256 bytes (the 200 KiB flood of the issue), from a member.
        assert!(
            matches!(v.validate(Topic::Entries, &pay(&key, 300, 0), &peer), Verdict::Reject(ref r) if r.contains("memo"))
        );
        // A table this node has not adopted: not judged, not blamed.
        assert_eq!(v.validate(Topic::Entries, &pay(&key, 0, 7), &peer), Verdict::Ignore);
        // Far ahead of the chain held: dropped (sync brings it in order), and
        // a forged signature there still bans.
        let ahead = |forge: bool| {
            let mut e = SignedEntry::from_bytes(&pay(&key, 0, 0)).unwrap();
            e.body.seq = ippoc_economy::store::PRECHECK_AHEAD_MAX + 1;
            e.body.prev = TxId([1; 32]);
            let mut signed = e.body.sign(&key);
            if forge {
                signed.signature[0] ^= 1;
            }
            signed.to_bytes()
        };
        assert_eq!(v.validate(Topic::Entries, &ahead(false), &peer), Verdict::Ignore);
        assert!(matches!(
            v.validate(Topic::Entries, &ahead(true), &peer),
            Verdict::Forged(_)
        ));
    }

    #[test]
    fn a_members_entries_and_attestations_over_its_rate_are_dropped_unblamed_and_outsiders_attestations_too() {
        use ippoc_mesh::Rate;
        let (dir, key, me, _) = solo_validator();
        let v = LedgerValidator {
            ledger: Arc::new(
                Ledger::open(&dir.path().join("l2"), Genesis::solo(me, 1), me, Default::default()).unwrap(),
            ),
            verified: Default::default(),
            limits: Arc::new(ActorLimits::new(crate::limits::ActorRates {
                entries: Rate::new(1, 3),
                attestations: Rate::new(1, 2),
                bounce_charge: 1,
            })),
        };
        let swarm = v.ledger.swarm_id();
        let peer = PeerId::random();
        // Seqs 0..3 of the member's chain, none held: three pass, the fourth
        // is over the burst (an hour's refill would be needed at once).
        let actor = NodeId::from_bytes(key.verifying_key().to_bytes());
        let leg = |to, amount| ippoc_economy::Transfer {
            from: ippoc_economy::AccountId::Wallet(actor),
            to,
            currency: ippoc_economy::Currency::Ippc,
            amount: ippoc_economy::Amount::from_base(amount),
        };
        let mut prev = TxId::ZERO;
        let mut chain = Vec::new();
        for seq in 0..4 {
            let mut e = empty_entry(&key, swarm, seq);
            e.body.prev = prev;
            e.body.transfers = vec![
                leg(ippoc_economy::AccountId::Wallet(NodeId::from_bytes([5; 32])), 1_000_000),
                leg(ippoc_economy::AccountId::PublicGoodsPool, 1_000),
            ];
            let signed = e.body.sign(&key);
            prev = signed.tx_id();
            chain.push(signed);
        }
        let verdicts: Vec<Verdict> = chain
            .iter()
            .map(|e| v.validate(Topic::Entries, &e.to_bytes(), &peer))
            .collect();
        assert_eq!(
            verdicts,
            vec![Verdict::Accept, Verdict::Accept, Verdict::Accept, Verdict::Ignore]
        );
        // What was dropped is remembered with the peer that had it, to be
        // fetched from it when the bucket refills (not now: it is empty).
        assert_eq!(v.limits.behind_of(&actor), Some((peer, 3)));
        assert_eq!(v.limits.chases(10), vec![]);
        // Over the rate nothing is verified: a forgery in the member's name
        // is dropped unjudged too (under the rate it bans; see the test
        // above), and takes none of the member's tokens.
        let mut forged = chain[3].clone();
        forged.body.memo = b"not signed".to_vec();
        assert_eq!(v.validate(Topic::Entries, &forged.to_bytes(), &peer), Verdict::Ignore);
        let beat = |beat| Claim::Heartbeat {
            beat,
            state_root: [0; 32],
            entries: 0,
        };
        assert_eq!(
            v.validate(Topic::Attestations, &attestation(&key, swarm, beat(0)), &peer),
            Verdict::Accept
        );
        assert_eq!(
            v.validate(Topic::Attestations, &attestation(&key, swarm, beat(1)), &peer),
            Verdict::Accept
        );
        assert_eq!(
            v.validate(Topic::Attestations, &attestation(&key, swarm, beat(2)), &peer),
            Verdict::Ignore
        );
        // An issuer the ledger does not know: not relayed, its signature not
        // even checked (a forged one is ignored as well), nobody blamed.
        let outsider = SigningKey::from_bytes(&[9; 32]);
        let mut theirs = attestation(&outsider, swarm, beat(0));
        assert_eq!(v.validate(Topic::Attestations, &theirs, &peer), Verdict::Ignore);
        let last = theirs.len() - 1;
        theirs[last] ^= 1;
        assert_eq!(v.validate(Topic::Attestations, &theirs, &peer), Verdict::Ignore);
        assert_eq!(v.limits.entries_throttled.load(std::sync::atomic::Ordering::Relaxed), 2);
        assert_eq!(
            v.limits
                .attestations_throttled
                .load(std::sync::atomic::Ordering::Relaxed),
            1
        );
    }

    #[test]
    fn attestations_are_judged_by_what_every_node_can_check() {
        let (_dir, key, me, v) = solo_validator();
        let swarm = v.ledger.swarm_id();
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
        let e = empty_entry(&key, swarm, 0);
        let same_twice = Claim::Warrant(Box::new(Warrant {
            subject: me,
            evidence: Evidence::Equivocation { a: e.clone(), b: e },
        }));
        let bogus = attestation(&key, swarm, same_twice);
        assert!(matches!(v.validate(Topic::Warrants, &bogus, &peer), Verdict::Forged(_)));
    }
}
