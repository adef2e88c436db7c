//! Attestations: what a receiver accepts, what it refuses, and the pinned
//! wire format of docs/attestation-format.md.

use ed25519_dalek::SigningKey;
use ippoc_economy::attestation::{ATTESTATION_VERSION, AttestationError, EvidenceError, RECEIPT_TX_MAX};
use ippoc_economy::entry::{ENTRY_VERSION, EntryBody, Outcome};
use ippoc_economy::{
    Action, Attestation, AttestationBody, Claim, Evidence, NodeId, SignedEntry, SwarmId, TxId, Warrant,
};
use sha2::{Digest, Sha256};

const SWARM: SwarmId = SwarmId([0x11; 32]);

fn key(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

fn id(k: &SigningKey) -> NodeId {
    NodeId::from_bytes(k.verifying_key().to_bytes())
}

fn entry(k: &SigningKey, seq: u64, memo: &[u8]) -> SignedEntry {
    EntryBody {
        version: ENTRY_VERSION,
        swarm_id: SWARM,
        actor: id(k),
        seq,
        prev: TxId::ZERO,
        timestamp_ms: 1_700_000_000_000,
        params: 0,
        action: Action::Transfer,
        transfers: vec![],
        deps: vec![],
        outcome: Outcome::Success,
        proof: None,
        memo: memo.to_vec(),
    }
    .sign(k)
}

fn attest(issuer: &SigningKey, claim: Claim) -> Attestation {
    AttestationBody {
        version: ATTESTATION_VERSION,
        swarm_id: SWARM,
        issuer: id(issuer),
        issued_ms: 1_700_000_000_000,
        claim,
    }
    .sign(issuer)
}

fn warrant(subject: &SigningKey, a: SignedEntry, b: SignedEntry) -> Claim {
    Claim::Warrant(Box::new(Warrant {
        subject: id(subject),
        evidence: Evidence::Equivocation { a, b },
    }))
}

fn check(a: &Attestation) -> Result<Attestation, AttestationError> {
    Attestation::decode_verified(&a.to_bytes(), SWARM)
}

#[test]
fn every_claim_round_trips_and_verifies() {
    let k = key(1);
    let claims = [
        Claim::Receipt {
            tx_ids: vec![TxId([1; 32]), TxId([2; 32])],
        },
        Claim::Checkpoint {
            epoch: 9,
            state_root: [3; 32],
            entries: 10,
        },
        Claim::Heartbeat {
            beat: 4,
            state_root: [5; 32],
            entries: 6,
        },
        warrant(&key(2), entry(&key(2), 3, b"a"), entry(&key(2), 3, b"b")),
    ];
    for claim in claims {
        let a = attest(&k, claim);
        assert_eq!(check(&a).unwrap(), a);
    }
}

#[test]
fn a_tampered_attestation_is_refused_as_a_bad_signature() {
    let mut a = attest(
        &key(1),
        Claim::Heartbeat {
            beat: 1,
            state_root: [0; 32],
            entries: 0,
        },
    );
    a.body.claim = Claim::Heartbeat {
        beat: 2,
        state_root: [0; 32],
        entries: 0,
    };
    assert!(
        matches!(check(&a), Err(AttestationError::Signature { .. })),
        "{:?}",
        check(&a)
    );
    // Claiming another issuer does not help either.
    let mut b = attest(
        &key(1),
        Claim::Heartbeat {
            beat: 1,
            state_root: [0; 32],
            entries: 0,
        },
    );
    b.body.issuer = id(&key(2));
    assert!(matches!(check(&b), Err(AttestationError::Signature { .. })));
}

#[test]
fn malformed_bytes_other_swarms_and_unknown_versions_are_refused() {
    let a = attest(&key(1), Claim::Receipt { tx_ids: vec![] });
    let mut bytes = a.to_bytes();
    bytes.push(0);
    assert!(matches!(
        Attestation::decode_verified(&bytes, SWARM),
        Err(AttestationError::Decode(_))
    ));
    assert!(matches!(
        Attestation::decode_verified(&a.to_bytes()[..20], SWARM),
        Err(AttestationError::Decode(_))
    ));
    assert!(matches!(
        Attestation::decode_verified(&a.to_bytes(), SwarmId([0x99; 32])),
        Err(AttestationError::OtherSwarm(_))
    ));
    let mut body = a.body.clone();
    body.version = 2;
    assert!(matches!(check(&body.sign(&key(1))), Err(AttestationError::Version(2))));
}

#[test]
fn a_receipt_is_bounded() {
    let tx_ids = vec![TxId([7; 32]); RECEIPT_TX_MAX + 1];
    let a = attest(&key(1), Claim::Receipt { tx_ids });
    assert!(matches!(check(&a), Err(AttestationError::ReceiptTooLarge(_))));
}

#[test]
fn a_warrant_stands_on_its_evidence_whoever_issues_it() {
    let (evil, reporter) = (key(2), key(3));
    let ok = attest(&reporter, warrant(&evil, entry(&evil, 5, b"x"), entry(&evil, 5, b"y")));
    assert!(check(&ok).is_ok());
    let evidence_error = |a: &Attestation| match check(a) {
        Err(AttestationError::Evidence { error, .. }) => error,
        other => panic!("expected an evidence error, got {other:?}"),
    };
    // The same entry twice is no fork.
    let same = attest(&reporter, warrant(&evil, entry(&evil, 5, b"x"), entry(&evil, 5, b"x")));
    assert!(matches!(evidence_error(&same), EvidenceError::NotAFork(_)));
    // Two seqs are a chain, not a fork.
    let seqs = attest(&reporter, warrant(&evil, entry(&evil, 5, b"x"), entry(&evil, 6, b"y")));
    assert!(matches!(evidence_error(&seqs), EvidenceError::NotAFork(_)));
    // An honest node cannot be framed: entries it did not sign do not verify.
    let honest = key(4);
    let mut framed = entry(&honest, 5, b"y");
    framed.signature = entry(&evil, 5, b"y").signature;
    let frame = attest(&reporter, warrant(&honest, entry(&honest, 5, b"x"), framed));
    assert!(matches!(evidence_error(&frame), EvidenceError::Entry(_)));
    // Entries by someone else than the named subject.
    let wrong = attest(
        &reporter,
        warrant(&honest, entry(&evil, 5, b"x"), entry(&evil, 5, b"y")),
    );
    assert!(matches!(evidence_error(&wrong), EvidenceError::WrongSubject { .. }));
}

/// Hex of the pinned vector in docs/attestation-format.md.
const HEARTBEAT_SIGNING_BYTES: &str = "6970706f632d6174746573746174696f6e2d7631000111111111111111111111111111111111111111111111111111111111111111118a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c0000018bcfe568000000000200000000000000072222222222222222222222222222222222222222222222222222222222222222000000000000012c";
const HEARTBEAT_ID: &str = "b550eaf7070ea01ebce5e832d6cba5bec25e337d64d2cb8c04a84dbd623cde7f";
const HEARTBEAT_SIGNATURE: &str = "1503258e95dec623eb7d06101193f9f7c8a181374ab38aa29e324e228f237671fcf6fd88fc9e5a736b163867252aac342b1568f398cd0fb3548b24a1a79cc90a";

#[test]
fn the_documented_heartbeat_encodes_hashes_and_signs_to_the_documented_bytes() {
    let a = attest(
        &key(1),
        Claim::Heartbeat {
            beat: 7,
            state_root: [0x22; 32],
            entries: 300,
        },
    );
    let signing = a.body.signing_bytes();
    assert_eq!(hex::encode(&signing), HEARTBEAT_SIGNING_BYTES);
    assert_eq!(hex::encode(Sha256::digest(&signing)), HEARTBEAT_ID);
    assert_eq!(hex::encode(a.id()), HEARTBEAT_ID);
    assert_eq!(hex::encode(a.signature), HEARTBEAT_SIGNATURE);
    // Wire form: the body encoding (no domain) followed by the 64 signature bytes.
    let wire = a.to_bytes();
    assert_eq!(hex::encode(&wire[..wire.len() - 64]), &HEARTBEAT_SIGNING_BYTES[42..]);
}
