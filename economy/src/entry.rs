//! Ledger entries: the body a node signs, the signed entry that travels, and
//! the verified entry that alone may reach the ledger.
//!
//! `signing bytes = "ippoc-entry-v1" ‖ 0x00 ‖ encode(body)`;
//! `tx_id = SHA-256(signing bytes)`; `signature = Ed25519(signing bytes)` by
//! `body.actor`. The body carries `prev` (the tx_id of the actor's previous
//! entry), so the tx_id hashes the chain: `tx_id = H(prev ‖ rest of body)` in
//! substance. docs/ledger-format.md has the full format and test vectors.

use bincode::{Decode, Encode};
use ed25519_dalek::{Signer, SigningKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::amount::{Amount, Currency};
use crate::encoding::{self, DecodeError};
use crate::ids::{AccountId, EscrowId, NodeId, SwarmId, TxId};
use crate::signature::{self, KeyCache, SignatureError};

/// Version of the entry format this code writes and accepts.
/// Version 2 added `params`, the price table the entry was priced under.
pub const ENTRY_VERSION: u8 = 2;
/// Domain separator of entry signing bytes.
pub const ENTRY_DOMAIN: &[u8] = b"ippoc-entry-v1\0";
/// Most transfers in one entry.
pub const TRANSFERS_MAX: usize = 32;
/// Most deps in one entry.
pub const DEPS_MAX: usize = 64;
/// Longest memo, in bytes.
pub const MEMO_BYTES_MAX: usize = 256;
/// Most signatures in a mint certificate.
pub const CERTIFICATE_SIGNATURES_MAX: usize = 64;

/// What an entry records.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Action {
    /// A payment from the actor's wallet to another wallet, with the fee to the
    /// public goods pool.
    Transfer,
    /// An LLM inference the actor paid for.
    LlmInference {
        /// Tokens processed.
        tokens: u64,
    },
    /// A sandbox run the actor paid for.
    SandboxExec {
        /// Fuel consumed.
        fuel: u64,
    },
    /// An evolution simulation the actor paid for.
    EvolutionSim,
    /// A bounty posted: the reward moves into the escrow `Escrow{actor, seq}`.
    BountyPost {
        /// Hash of the task description.
        task: [u8; 32],
        /// Unix ms after which the poster may take the reward back.
        expires_at_ms: u64,
    },
    /// A bounty paid to its worker on the poster's approval.
    BountyPayout {
        /// The bounty's escrow.
        escrow: EscrowId,
        /// Who did the work.
        worker: NodeId,
    },
    /// An expired bounty's reward returned to its poster.
    BountyRefund {
        /// The bounty's escrow.
        escrow: EscrowId,
    },
    /// A fee paid to the DAO.
    DaoFee,
    /// One sealed tranche of the actor's reserve minted into its wallet
    /// under a sentinel certificate, authorized by a closed cycle whose
    /// issuance record opens the mint (docs/issuance.md).
    Mint {
        /// The closed cycle whose issuance record authorizes it.
        cycle: u64,
        /// The tranche's sequence in the actor's reserve.
        tranche: u64,
    },
    /// A treasury or pool grant under an executed proposal.
    Grant,
    /// This node's checkpoint vote in its own chain: the digest of the
    /// chain heads it holds cut at the end of `epoch`
    /// ([`crate::store::heads_digest`]). It moves nothing; the integrity
    /// score reads it (consensus and liveness, docs/integrity.md), so it is
    /// in the chains every node agrees on, not only gossiped.
    Checkpoint {
        /// The epoch voted on.
        epoch: u64,
        /// Digest of the heads cut at its end.
        heads: [u8; 32],
    },
}

/// One movement of value: debit `from`, credit `to`. Every transfer is its own
/// balanced pair, so an entry's debits equal its credits per currency by
/// construction: there is no way to encode an unbalanced entry.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Transfer {
    /// Debited account.
    pub from: AccountId,
    /// Credited account.
    pub to: AccountId,
    /// Currency.
    pub currency: Currency,
    /// Amount (> 0).
    pub amount: Amount,
}

/// A reference to another chain's entry: "my entry relies on that chain up to here".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode, Serialize, Deserialize)]
pub struct Dep {
    /// The other chain's actor.
    pub actor: NodeId,
    /// Seq of the referenced entry.
    pub seq: u64,
    /// Its tx_id.
    pub tx_id: TxId,
}

/// Whether the recorded action succeeded (charges are due either way).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The action succeeded.
    Success,
    /// The action failed (trap, timeout, error); its charge still stands.
    Fail,
}

/// A sentinel quorum's attestation that a sealed tranche may be minted.
///
/// Each signature is over `"ippoc-mint-v1\0" ‖ swarm_id ‖ seal_id ‖ encode(transfers)`
/// by a sentinel of the authorizing cycle (its issuance record names them
/// and the quorum). A seal id is usable once in the swarm's history.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct MintCertificate {
    /// The tranche's seal id.
    pub seal_id: [u8; 32],
    /// Sentinel signatures.
    pub signatures: Vec<SentinelSignature>,
}

/// One sentinel's signature in a [`MintCertificate`].
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct SentinelSignature {
    /// The sentinel.
    pub sentinel: NodeId,
    /// Ed25519 signature.
    #[serde(with = "hex_sig")]
    pub signature: [u8; 64],
}

/// A reference to a DAO proposal executed on the L2, the proof that releases
/// treasury or pool funds. Checked by a [`crate::rules::ProposalVerifier`].
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct ExecutedProposal {
    /// EVM chain id of the L2.
    pub chain_id: u64,
    /// Governance contract address.
    pub governance: [u8; 20],
    /// Proposal id.
    pub proposal_id: [u8; 32],
    /// Hash of the executing transaction.
    pub execution_tx: [u8; 32],
}

/// The proof a system-account debit needs.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Proof {
    /// For debits of the mint or a reserve.
    Mint(MintCertificate),
    /// For debits of the treasury or the public goods pool.
    Proposal(ExecutedProposal),
    /// For a charge that serves a bounty (which Worker Mode allows): the
    /// escrow of the work it pays for. It is posted by another node, and the
    /// entry's deps reach the posting entry, so every peer judges the claim
    /// against the same post.
    Work(EscrowId),
}

/// What a node signs.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct EntryBody {
    /// Format version ([`ENTRY_VERSION`]).
    pub version: u8,
    /// The swarm this entry belongs to.
    pub swarm_id: SwarmId,
    /// Author and signer.
    pub actor: NodeId,
    /// Position in the actor's chain, from 0.
    pub seq: u64,
    /// tx_id of the actor's entry `seq − 1`; [`TxId::ZERO`] for seq 0.
    pub prev: TxId,
    /// Author's clock, Unix ms (informational, except for bounty expiry).
    pub timestamp_ms: u64,
    /// Version of the governed parameter table the entry's charges and fees
    /// follow: 0 is the genesis table, n the table after the DAO's n-th
    /// executed parameter change. Never decreases along a chain.
    pub params: u32,
    /// What happened.
    pub action: Action,
    /// Value moved.
    pub transfers: Vec<Transfer>,
    /// Other chains' entries this one relies on.
    pub deps: Vec<Dep>,
    /// Success or failure of the action.
    pub outcome: Outcome,
    /// Proof for system-account debits.
    pub proof: Option<Proof>,
    /// Free bytes (≤ [`MEMO_BYTES_MAX`]).
    pub memo: Vec<u8>,
}

impl EntryBody {
    /// The bytes that are hashed and signed.
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut bytes = ENTRY_DOMAIN.to_vec();
        bytes.extend_from_slice(&encoding::encode(self));
        bytes
    }

    /// Signs the body as a [`VerifiedEntry`]: an entry this node signs with the
    /// actor's own key is valid by construction, so the ledger's append path
    /// does not pay for a verification of its own signature.
    pub fn sign_verified(self, key: &SigningKey) -> VerifiedEntry {
        assert_eq!(
            key.verifying_key().to_bytes(),
            *self.actor.as_bytes(),
            "signer must be the actor"
        );
        let signing = self.signing_bytes();
        let signature = key.sign(&signing).to_bytes();
        VerifiedEntry {
            tx_id: TxId(Sha256::digest(&signing).into()),
            entry: SignedEntry { body: self, signature },
        }
    }

    /// Signs the body. The key must be the actor's.
    pub fn sign(self, key: &SigningKey) -> SignedEntry {
        debug_assert_eq!(
            key.verifying_key().to_bytes(),
            *self.actor.as_bytes(),
            "signer must be the actor"
        );
        let signature = key.sign(&self.signing_bytes()).to_bytes();
        SignedEntry { body: self, signature }
    }
}

/// An entry as it travels: body and signature, not yet checked.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct SignedEntry {
    /// The body.
    pub body: EntryBody,
    /// Ed25519 signature of the body's signing bytes by the actor.
    #[serde(with = "hex_sig")]
    pub signature: [u8; 64],
}

/// Why an entry failed verification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// Bytes did not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// Unknown format version.
    #[error("entry version {0} is not supported (this node knows {ENTRY_VERSION})")]
    Version(u8),
    /// The signature is not the actor's.
    #[error("signature of {actor} seq {seq}: {error}")]
    Signature {
        /// Claimed actor.
        actor: NodeId,
        /// Seq.
        seq: u64,
        /// Why.
        error: SignatureError,
    },
}

impl SignedEntry {
    /// Canonical bytes of the whole signed entry (wire and storage form).
    pub fn to_bytes(&self) -> Vec<u8> {
        encoding::encode(self)
    }

    /// Parses canonical bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<SignedEntry, DecodeError> {
        encoding::decode(bytes)
    }

    /// The entry's tx_id (whether or not the signature is good).
    pub fn tx_id(&self) -> TxId {
        TxId(Sha256::digest(self.body.signing_bytes()).into())
    }

    /// Checks version and signature; the only way to a [`VerifiedEntry`].
    pub fn verify(self) -> Result<VerifiedEntry, VerifyError> {
        self.verify_with(&mut KeyCache::default())
    }

    /// [`SignedEntry::verify`] reusing parsed keys.
    pub fn verify_with(self, keys: &mut KeyCache) -> Result<VerifiedEntry, VerifyError> {
        if self.body.version != ENTRY_VERSION {
            return Err(VerifyError::Version(self.body.version));
        }
        let signing = self.body.signing_bytes();
        let sig_error = |error| VerifyError::Signature {
            actor: self.body.actor,
            seq: self.body.seq,
            error,
        };
        let key = keys.get(self.body.actor.as_bytes()).map_err(sig_error)?;
        signature::verify(&key, &signing, &self.signature).map_err(sig_error)?;
        let tx_id = TxId(Sha256::digest(&signing).into());
        Ok(VerifiedEntry { entry: self, tx_id })
    }

    /// Verifies many entries with the batched path; same verdicts as
    /// [`SignedEntry::verify`] one by one. On failure names the index of the
    /// first bad entry.
    pub fn verify_batch(entries: Vec<SignedEntry>) -> Result<Vec<VerifiedEntry>, (usize, VerifyError)> {
        let mut keys = KeyCache::default();
        let mut parsed = Vec::with_capacity(entries.len());
        let mut signing = Vec::with_capacity(entries.len());
        for (i, e) in entries.iter().enumerate() {
            if e.body.version != ENTRY_VERSION {
                return Err((i, VerifyError::Version(e.body.version)));
            }
            let key = keys.get(e.body.actor.as_bytes()).map_err(|error| {
                (
                    i,
                    VerifyError::Signature {
                        actor: e.body.actor,
                        seq: e.body.seq,
                        error,
                    },
                )
            })?;
            parsed.push(key);
            signing.push(e.body.signing_bytes());
        }
        let items: Vec<signature::BatchItem<'_>> = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (&parsed[i], signing[i].as_slice(), &e.signature))
            .collect();
        signature::verify_batch(&items).map_err(|(i, error)| {
            (
                i,
                VerifyError::Signature {
                    actor: entries[i].body.actor,
                    seq: entries[i].body.seq,
                    error,
                },
            )
        })?;
        Ok(entries
            .into_iter()
            .zip(signing)
            .map(|(entry, bytes)| VerifiedEntry {
                entry,
                tx_id: TxId(Sha256::digest(&bytes).into()),
            })
            .collect())
    }
}

impl SignedEntry {
    /// Verifies each entry, batched when every one of them is good, one by
    /// one otherwise (so a bad entry costs its own verdict, not its batch's).
    pub fn verify_each(entries: Vec<SignedEntry>) -> Vec<Result<VerifiedEntry, VerifyError>> {
        match SignedEntry::verify_batch(entries.clone()) {
            Ok(all) => all.into_iter().map(Ok).collect(),
            Err(_) => {
                let mut keys = KeyCache::default();
                entries.into_iter().map(|e| e.verify_with(&mut keys)).collect()
            }
        }
    }
}

/// An entry whose signature and version were checked. Only
/// [`SignedEntry::verify`] and [`SignedEntry::verify_batch`] make one, so
/// unchecked data cannot reach the ledger by accident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedEntry {
    entry: SignedEntry,
    tx_id: TxId,
}

impl VerifiedEntry {
    /// The body.
    pub fn body(&self) -> &EntryBody {
        &self.entry.body
    }
    /// The signed entry.
    pub fn signed(&self) -> &SignedEntry {
        &self.entry
    }
    /// The tx_id.
    pub fn tx_id(&self) -> TxId {
        self.tx_id
    }
    /// Gives back the signed entry.
    pub fn into_signed(self) -> SignedEntry {
        self.entry
    }
}

mod hex_sig {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(sig: &[u8; 64], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(sig))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 64], D::Error> {
        let text = String::deserialize(d)?;
        let mut out = [0u8; 64];
        hex::decode_to_slice(&text, &mut out).map_err(serde::de::Error::custom)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(key: &SigningKey) -> EntryBody {
        let me = NodeId::from_bytes(key.verifying_key().to_bytes());
        EntryBody {
            version: ENTRY_VERSION,
            swarm_id: SwarmId([1; 32]),
            actor: me,
            seq: 0,
            prev: TxId::ZERO,
            timestamp_ms: 1,
            params: 0,
            action: Action::Transfer,
            transfers: vec![Transfer {
                from: AccountId::Wallet(me),
                to: AccountId::Wallet(NodeId::from_bytes([2; 32])),
                currency: Currency::Ippc,
                amount: Amount::from_base(5),
            }],
            deps: vec![],
            outcome: Outcome::Success,
            proof: None,
            memo: vec![],
        }
    }

    #[test]
    fn signed_entries_round_trip_and_verify() {
        let key = SigningKey::from_bytes(&[1; 32]);
        let signed = body(&key).sign(&key);
        let bytes = signed.to_bytes();
        let back = SignedEntry::from_bytes(&bytes).unwrap();
        assert_eq!(back, signed);
        let verified = back.verify().unwrap();
        assert_eq!(verified.tx_id(), signed.tx_id());
    }

    #[test]
    fn a_changed_body_or_a_foreign_signer_fails_verification() {
        let key = SigningKey::from_bytes(&[1; 32]);
        let mut signed = body(&key).sign(&key);
        signed.body.transfers[0].amount = Amount::from_base(6);
        assert!(matches!(signed.clone().verify(), Err(VerifyError::Signature { .. })));
        let other = SigningKey::from_bytes(&[2; 32]);
        let forged = SignedEntry {
            body: body(&key),
            signature: other.sign(&body(&key).signing_bytes()).to_bytes(),
        };
        assert!(forged.verify().is_err());
    }

    #[test]
    fn trailing_or_truncated_bytes_are_rejected() {
        let key = SigningKey::from_bytes(&[1; 32]);
        let mut bytes = body(&key).sign(&key).to_bytes();
        bytes.push(0);
        assert!(matches!(SignedEntry::from_bytes(&bytes), Err(DecodeError::Trailing(1))));
        bytes.truncate(bytes.len() - 10);
        assert!(matches!(
            SignedEntry::from_bytes(&bytes),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn batch_and_single_verification_agree_and_batch_names_the_bad_entry() {
        let key = SigningKey::from_bytes(&[1; 32]);
        let mut entries: Vec<SignedEntry> = (0..20)
            .map(|i| {
                let mut b = body(&key);
                b.seq = i;
                b.sign(&key)
            })
            .collect();
        assert_eq!(SignedEntry::verify_batch(entries.clone()).unwrap().len(), 20);
        entries[13].signature[3] ^= 4;
        assert_eq!(SignedEntry::verify_batch(entries.clone()).unwrap_err().0, 13);
        assert!(entries[13].clone().verify().is_err());
    }
}
