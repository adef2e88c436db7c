//! Attestations: small signed statements a node makes about the swarm, gossiped
//! next to ledger entries (DESIGN.md §9).
//!
//! `signing bytes = "ippoc-attestation-v1" ‖ 0x00 ‖ encode(body)`;
//! `id = SHA-256(signing bytes)`; `signature = Ed25519(signing bytes)` by
//! `body.issuer`, checked with the same predicate as entries
//! ([`crate::signature::verify`]). The encoding is the canonical one of
//! [`crate::encoding`]; docs/attestation-format.md spells out every field and
//! pins a test vector.
//!
//! A [`Claim::Warrant`] is the one claim that asks peers to *act*: it carries
//! its own evidence, so a receiver checks the evidence and never has to trust
//! the issuer. Everything else is an observation that feeds integrity scores.

use bincode::{Decode, Encode};
use ed25519_dalek::{Signer, SigningKey};
use sha2::{Digest, Sha256};

use crate::encoding::{self, DecodeError};
use crate::entry::SignedEntry;
use crate::ids::{EscrowId, NodeId, SwarmId, TxId};
use crate::signature::{self, PublicKey, SignatureError};

/// Version of the attestation format this code writes and accepts.
pub const ATTESTATION_VERSION: u8 = 1;
/// Domain separator of attestation signing bytes.
pub const ATTESTATION_DOMAIN: &[u8] = b"ippoc-attestation-v1\0";
/// Most tx_ids one receipt covers.
pub const RECEIPT_TX_MAX: usize = 256;

/// What an attestation says.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub enum Claim {
    /// "I validated and stored these entries" (validation receipt).
    Receipt {
        /// Entries, at most [`RECEIPT_TX_MAX`].
        tx_ids: Vec<TxId>,
    },
    /// "At the end of `epoch` my ledger's state root was `state_root`"
    /// (checkpoint vote; a quorum of equal votes is what gets anchored).
    Checkpoint {
        /// Epoch number (`issued_ms / epoch length`).
        epoch: u64,
        /// [`crate::store::Ledger::state_root`].
        state_root: [u8; 32],
        /// Entries the issuer held.
        entries: u64,
    },
    /// "I am alive" (liveness), with where the issuer's ledger stands.
    Heartbeat {
        /// Counts up from 0 at each start of the issuer.
        beat: u64,
        /// The issuer's state root now.
        state_root: [u8; 32],
        /// Entries the issuer held.
        entries: u64,
    },
    /// "`warrant.subject` broke a rule; here is the proof."
    Warrant(Box<Warrant>),
    /// The bounty board: "the task of my bounty `escrow` is this skill run on
    /// this input". Only the poster may offer; the task hash in the poster's
    /// `BountyPost` entry is [`task_hash`] of the two.
    BountyOffer {
        /// The bounty.
        escrow: EscrowId,
        /// The skill (WebAssembly), at most [`BOUNTY_MODULE_BYTES_MAX`].
        module: Vec<u8>,
        /// Its input, at most [`BOUNTY_INPUT_BYTES_MAX`].
        input: Vec<u8>,
    },
    /// The bounty board: "I ran the task of `escrow`; the output hashes to this".
    BountyResult {
        /// The bounty.
        escrow: EscrowId,
        /// SHA-256 of the output.
        output_hash: [u8; 32],
    },
    /// "At the end of `epoch` the Merkle root of my chain heads was `root`,
    /// and I co-sign it for the L2 Anchor contract with my EVM key" (anchor
    /// vote; a registered quorum of equal ones is submitted on chain).
    AnchorVote {
        /// Epoch number, as in [`Claim::Checkpoint`].
        epoch: u64,
        /// Merkle root of the issuer's chain heads (governance bridge `head_leaf`).
        root: [u8; 32],
        /// The EVM address that signed.
        signer: [u8; 20],
        /// ECDSA signature (r ‖ s ‖ v) of `Anchor.checkpointDigest(epoch, root)`.
        signature: [u8; 65],
    },
}

/// Largest skill a bounty offer carries.
pub const BOUNTY_MODULE_BYTES_MAX: usize = 128 * 1024;
/// Largest input a bounty offer carries.
pub const BOUNTY_INPUT_BYTES_MAX: usize = 16 * 1024;
/// Domain separator of bounty task hashes.
pub const BOUNTY_TASK_DOMAIN: &[u8] = b"ippoc-bounty-task-v1\0";

/// The task hash a `BountyPost` entry names for a skill and its input:
/// `SHA-256("ippoc-bounty-task-v1" ‖ 0x00 ‖ u64 BE len(module) ‖ module ‖ input)`.
pub fn task_hash(module: &[u8], input: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(BOUNTY_TASK_DOMAIN);
    h.update((module.len() as u64).to_be_bytes());
    h.update(module);
    h.update(input);
    h.finalize().into()
}

/// Proof that a node broke a rule, checkable by anyone who knows the format.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Warrant {
    /// The offender.
    pub subject: NodeId,
    /// The proof.
    pub evidence: Evidence,
}

/// Kinds of proof.
///
/// Only misbehaviour that the offender's own signature proves can be a
/// warrant. A forged signature cannot: by definition nobody signed it, so
/// bytes that fail verification name no one, and only the peer that handed
/// them over knows who sent them. Forgers are therefore banned first-hand by
/// every neighbour they send to, and honest nodes never relay their bytes.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub enum Evidence {
    /// Two different entries, both validly signed by the subject, at one seq.
    Equivocation {
        /// One version.
        a: SignedEntry,
        /// The other.
        b: SignedEntry,
    },
}

/// Why a warrant's evidence does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvidenceError {
    /// An entry of the evidence is not validly signed.
    #[error("evidence entry does not verify: {0}")]
    Entry(String),
    /// The entries are not by the subject.
    #[error("evidence entries are by {found}, the warrant names {subject}")]
    WrongSubject {
        /// Named.
        subject: NodeId,
        /// Found.
        found: NodeId,
    },
    /// The entries are not two versions of one position.
    #[error("evidence entries are not two different versions of one seq ({0})")]
    NotAFork(String),
    /// The entries belong to another swarm.
    #[error("evidence from swarm {0}")]
    OtherSwarm(SwarmId),
}

impl Warrant {
    /// Checks the evidence against the subject in swarm `swarm_id`.
    pub fn check(&self, swarm_id: SwarmId) -> Result<(), EvidenceError> {
        match &self.evidence {
            Evidence::Equivocation { a, b } => {
                for e in [a, b] {
                    if e.body.actor != self.subject {
                        return Err(EvidenceError::WrongSubject {
                            subject: self.subject,
                            found: e.body.actor,
                        });
                    }
                    if e.body.swarm_id != swarm_id {
                        return Err(EvidenceError::OtherSwarm(e.body.swarm_id));
                    }
                }
                if a.body.seq != b.body.seq {
                    return Err(EvidenceError::NotAFork(format!(
                        "seq {} and {}",
                        a.body.seq, b.body.seq
                    )));
                }
                if a.tx_id() == b.tx_id() {
                    return Err(EvidenceError::NotAFork("the same entry twice".into()));
                }
                for e in [a, b] {
                    e.clone().verify().map_err(|e| EvidenceError::Entry(e.to_string()))?;
                }
                Ok(())
            }
        }
    }

    /// A short name of the offence, for logs and ban lists.
    pub fn offence(&self) -> String {
        match &self.evidence {
            Evidence::Equivocation { a, .. } => format!("equivocation at seq {}", a.body.seq),
        }
    }
}

/// What an issuer signs.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct AttestationBody {
    /// Format version ([`ATTESTATION_VERSION`]).
    pub version: u8,
    /// The swarm it is about.
    pub swarm_id: SwarmId,
    /// Who says it (and signs it).
    pub issuer: NodeId,
    /// Issuer's clock, Unix ms.
    pub issued_ms: u64,
    /// What is said.
    pub claim: Claim,
}

impl AttestationBody {
    /// The bytes that are hashed and signed.
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut bytes = ATTESTATION_DOMAIN.to_vec();
        bytes.extend_from_slice(&encoding::encode(self));
        bytes
    }

    /// Signs the body; the key must be the issuer's.
    pub fn sign(self, key: &SigningKey) -> Attestation {
        assert_eq!(
            key.verifying_key().to_bytes(),
            *self.issuer.as_bytes(),
            "signer must be the issuer"
        );
        let signature = key.sign(&self.signing_bytes()).to_bytes();
        Attestation { body: self, signature }
    }
}

/// An attestation as it travels.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Attestation {
    /// The body.
    pub body: AttestationBody,
    /// Ed25519 signature of the body's signing bytes by the issuer.
    pub signature: [u8; 64],
}

/// Why an attestation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttestationError {
    /// Bytes did not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// Unknown format version.
    #[error("attestation version {0} is not supported (this node knows {ATTESTATION_VERSION})")]
    Version(u8),
    /// The signature is not the issuer's.
    #[error("signature of {issuer}: {error}")]
    Signature {
        /// Claimed issuer.
        issuer: NodeId,
        /// Why.
        error: SignatureError,
    },
    /// The attestation is about another swarm.
    #[error("attestation of swarm {0}")]
    OtherSwarm(SwarmId),
    /// A receipt over more than [`RECEIPT_TX_MAX`] entries.
    #[error("a receipt covers {0} entries (at most {RECEIPT_TX_MAX})")]
    ReceiptTooLarge(usize),
    /// A bounty offer by someone else than the poster, or over the bounds.
    #[error("bounty offer: {0}")]
    BadOffer(String),
    /// A warrant whose evidence does not hold.
    #[error("warrant against {subject}: {error}")]
    Evidence {
        /// Named offender.
        subject: NodeId,
        /// Why the proof fails.
        error: EvidenceError,
    },
}

impl Attestation {
    /// Canonical bytes (wire form).
    pub fn to_bytes(&self) -> Vec<u8> {
        encoding::encode(self)
    }

    /// The attestation's id: SHA-256 of its signing bytes.
    pub fn id(&self) -> [u8; 32] {
        Sha256::digest(self.body.signing_bytes()).into()
    }

    /// Decodes `bytes` and checks version, signature and (for warrants) the
    /// evidence, for swarm `swarm_id`.
    pub fn decode_verified(bytes: &[u8], swarm_id: SwarmId) -> Result<Attestation, AttestationError> {
        let a = Attestation::decode(bytes)?;
        a.verify(swarm_id)?;
        Ok(a)
    }

    /// Decodes an attestation without checking it: for the cheap checks
    /// that come before its signature (who issued it); [`Attestation::verify`]
    /// must follow before it is trusted.
    pub fn decode(bytes: &[u8]) -> Result<Attestation, AttestationError> {
        Ok(encoding::decode(bytes)?)
    }

    /// Checks version, signature, bounds and (for warrants) the evidence.
    pub fn verify(&self, swarm_id: SwarmId) -> Result<(), AttestationError> {
        let body = &self.body;
        if body.version != ATTESTATION_VERSION {
            return Err(AttestationError::Version(body.version));
        }
        if body.swarm_id != swarm_id {
            return Err(AttestationError::OtherSwarm(body.swarm_id));
        }
        let sig_error = |error| AttestationError::Signature {
            issuer: body.issuer,
            error,
        };
        let key = PublicKey::parse(body.issuer.as_bytes()).map_err(sig_error)?;
        signature::verify(&key, &body.signing_bytes(), &self.signature).map_err(sig_error)?;
        match &body.claim {
            Claim::Receipt { tx_ids } if tx_ids.len() > RECEIPT_TX_MAX => {
                Err(AttestationError::ReceiptTooLarge(tx_ids.len()))
            }
            Claim::Warrant(w) => w.check(swarm_id).map_err(|error| AttestationError::Evidence {
                subject: w.subject,
                error,
            }),
            Claim::BountyOffer { escrow, module, input } => {
                if escrow.poster != body.issuer {
                    Err(AttestationError::BadOffer(format!(
                        "{} offers the bounty of {}",
                        body.issuer, escrow.poster
                    )))
                } else if module.len() > BOUNTY_MODULE_BYTES_MAX || input.len() > BOUNTY_INPUT_BYTES_MAX {
                    Err(AttestationError::BadOffer("module or input over the bound".into()))
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }
}
