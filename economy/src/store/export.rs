//! Chain verification and the export file.
//!
//! Export format (docs/ledger-format.md): the 24-byte magic
//! `"IPPOC-LEDGER-EXPORT-v1\n"` followed by a 0x00, the 32-byte swarm id,
//! then for each entry a u32 big-endian length and the entry's canonical
//! bytes. Entries are grouped by actor in seq order. Anyone who knows the
//! encoding can verify an export: hash links, seq continuity, swarm id and
//! signatures — [`verify_export`] does exactly that and nothing more.

use crate::entry::{SignedEntry, VerifyError};
use crate::ids::{NodeId, SwarmId, TxId};

use super::{Ledger, LedgerError};

/// Magic at the start of an export.
pub const EXPORT_MAGIC: &[u8; 24] = b"IPPOC-LEDGER-EXPORT-v1\n\0";
/// Entries verified per signature batch.
pub const VERIFY_BATCH_ENTRIES: usize = 256;

/// The first thing wrong with a chain or an export.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// The file is not an export.
    #[error("not an IPPOC ledger export: {0}")]
    Format(String),
    /// An entry of another swarm.
    #[error("{actor} seq {seq}: belongs to swarm {found}, the export is of swarm {expected}")]
    Swarm {
        /// Actor.
        actor: NodeId,
        /// Seq.
        seq: u64,
        /// Export's swarm.
        expected: SwarmId,
        /// Entry's swarm.
        found: SwarmId,
    },
    /// A seq or prev does not continue the chain.
    #[error(
        "{actor} seq {seq}: does not follow the previous entry (expected seq {expected_seq} with prev {expected_prev})"
    )]
    Link {
        /// Actor.
        actor: NodeId,
        /// Seq found.
        seq: u64,
        /// Seq expected.
        expected_seq: u64,
        /// Prev expected.
        expected_prev: TxId,
    },
    /// Two different entries for one `(actor, seq)`: the actor forked its
    /// chain (both are named; the ledger keeps both as evidence).
    #[error("{actor} seq {seq}: a fork, two different entries {first} and {second}")]
    Fork {
        /// The forker.
        actor: NodeId,
        /// Seq with two versions.
        seq: u64,
        /// tx_id of the version met first.
        first: TxId,
        /// tx_id of the other.
        second: TxId,
    },
    /// One chain appears twice (the same entries again).
    #[error("{actor}: its chain appears twice in the export")]
    Repeated {
        /// Actor.
        actor: NodeId,
    },
    /// A signature or version check failed.
    #[error("{actor} seq {seq}: {error}")]
    Entry {
        /// Actor.
        actor: NodeId,
        /// Seq.
        seq: u64,
        /// Why.
        error: VerifyError,
    },
}

/// What a successful verification covered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VerifiedSummary {
    /// Chains verified.
    pub chains: u64,
    /// Entries verified.
    pub entries: u64,
}

/// Verifies entries grouped by actor in seq order, each chain starting at
/// seq 0: (batched) signatures, swarm id, links, and that no chain appears
/// twice — two versions of one `(actor, seq)` are reported as a fork with
/// both tx_ids. Names the first bad entry: signatures are checked before
/// links, so an entry changed after signing is named itself, not its
/// successor whose `prev` no longer matches.
pub fn verify_entries(swarm_id: SwarmId, entries: &[SignedEntry]) -> Result<VerifiedSummary, ChainError> {
    for chunk in entries.chunks(VERIFY_BATCH_ENTRIES) {
        SignedEntry::verify_batch(chunk.to_vec()).map_err(|(i, error)| ChainError::Entry {
            actor: chunk[i].body.actor,
            seq: chunk[i].body.seq,
            error,
        })?;
    }
    let mut summary = VerifiedSummary::default();
    let mut expected: Option<(NodeId, u64, TxId)> = None;
    // Every chain's tx_ids by seq (32 bytes per entry): what a second run of
    // the same actor is compared with.
    let mut chains: std::collections::HashMap<NodeId, Vec<TxId>> = std::collections::HashMap::new();
    // Inside a run of entries at positions already given (a chain again):
    // scanned to its end for a second version before it is reported.
    let mut repeat: Option<NodeId> = None;
    for e in entries {
        let b = &e.body;
        if b.swarm_id != swarm_id {
            return Err(ChainError::Swarm {
                actor: b.actor,
                seq: b.seq,
                expected: swarm_id,
                found: b.swarm_id,
            });
        }
        if let Some(first) = chains.get(&b.actor).and_then(|c| c.get(b.seq as usize)) {
            if *first != e.tx_id() {
                return Err(ChainError::Fork {
                    actor: b.actor,
                    seq: b.seq,
                    first: *first,
                    second: e.tx_id(),
                });
            }
            repeat = Some(b.actor);
            continue;
        }
        if let Some(actor) = repeat.take() {
            return Err(ChainError::Repeated { actor });
        }
        let (expected_seq, expected_prev) = match expected {
            Some((actor, seq, prev)) if actor == b.actor => (seq, prev),
            _ => {
                summary.chains += 1;
                (0, TxId::ZERO)
            }
        };
        if b.seq != expected_seq || b.prev != expected_prev {
            return Err(ChainError::Link {
                actor: b.actor,
                seq: b.seq,
                expected_seq,
                expected_prev,
            });
        }
        expected = Some((b.actor, b.seq + 1, e.tx_id()));
        chains.entry(b.actor).or_default().push(e.tx_id());
        summary.entries += 1;
    }
    if let Some(actor) = repeat {
        return Err(ChainError::Repeated { actor });
    }
    Ok(summary)
}

/// Parses an export file into its swarm id and entries.
pub fn parse_export(bytes: &[u8]) -> Result<(SwarmId, Vec<SignedEntry>), ChainError> {
    let bad = |m: String| ChainError::Format(m);
    let rest = bytes
        .strip_prefix(EXPORT_MAGIC.as_slice())
        .ok_or_else(|| bad("missing magic header".into()))?;
    if rest.len() < 32 {
        return Err(bad("truncated swarm id".into()));
    }
    let swarm_id = SwarmId(rest[..32].try_into().expect("32 bytes"));
    let mut at = &rest[32..];
    let mut entries = Vec::new();
    while !at.is_empty() {
        if at.len() < 4 {
            return Err(bad(format!("truncated length after entry {}", entries.len())));
        }
        let len = u32::from_be_bytes(at[..4].try_into().expect("4 bytes")) as usize;
        let body = at
            .get(4..4 + len)
            .ok_or_else(|| bad(format!("entry {} is truncated", entries.len())))?;
        let entry = SignedEntry::from_bytes(body).map_err(|e| bad(format!("entry {}: {e}", entries.len())))?;
        entries.push(entry);
        at = &at[4 + len..];
    }
    Ok((swarm_id, entries))
}

/// Verifies an export file offline.
pub fn verify_export(bytes: &[u8]) -> Result<(SwarmId, VerifiedSummary), ChainError> {
    let (swarm_id, entries) = parse_export(bytes)?;
    Ok((swarm_id, verify_entries(swarm_id, &entries)?))
}

impl Ledger {
    /// The counted entries of `actor` (or of every chain), grouped by actor in seq order.
    pub fn chain_entries(&self, actor: Option<&NodeId>) -> Result<Vec<SignedEntry>, LedgerError> {
        let heads = match actor {
            Some(a) => self.head(a)?.map(|(s, t)| vec![(*a, s, t)]).unwrap_or_default(),
            None => self.heads()?,
        };
        let mut out = Vec::new();
        for (a, head, _) in heads {
            for item in self.range(&a, 0, head + 1) {
                out.push(item?.0);
            }
        }
        Ok(out)
    }

    /// Verifies the stored chains of `actor` (or all): links and signatures.
    pub fn verify_chains(&self, actor: Option<&NodeId>) -> Result<Result<VerifiedSummary, ChainError>, LedgerError> {
        Ok(verify_entries(self.swarm_id, &self.chain_entries(actor)?))
    }

    /// Writes the export of `actor`'s chain (or of all chains).
    pub fn export(&self, actor: Option<&NodeId>) -> Result<Vec<u8>, LedgerError> {
        let mut out = EXPORT_MAGIC.to_vec();
        out.extend_from_slice(&self.swarm_id.0);
        for e in self.chain_entries(actor)? {
            let bytes = e.to_bytes();
            out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
            out.extend_from_slice(&bytes);
        }
        Ok(out)
    }
}
