//! Chain verification and the export file.
//!
//! Export format v2 (docs/ledger-format.md): the 24-byte magic
//! `"IPPOC-LEDGER-EXPORT-v2\n\0"`, the 32-byte swarm id, the genesis (a u32
//! big-endian length and its JSON document), the parameter tables the
//! exporter adopted after genesis (a u32 count, then each as a u32 length and
//! its canonical bytes), then for each entry a u32 length and the entry's
//! canonical bytes, grouped by actor in seq order, and last a trailer: the
//! mark `0xFFFF_FFFF`, the commitment (scope, every chain's head, the entry
//! count, the exporter's state root) and the exporter's signature over the
//! SHA-256 of every byte before the signature. A cut, a dropped chain or an
//! edited byte breaks the commitment; v1 files (no genesis, no trailer) are
//! still read, with that said.
//!
//! [`verify_export`] checks what needs no ledger: the commitment, hash
//! links, seq continuity, swarm id, signatures, forks. [`check_export`]
//! also replays the file into a scratch ledger, so every rule a node
//! applies on import (authorization, fees, parameter tables, deps,
//! overdrafts as bounced) is applied.

use ed25519_dalek::{Signer, SigningKey};
use sha2::{Digest, Sha256};

use crate::encoding;
use crate::entry::{SignedEntry, VerifiedEntry, VerifyError};
use crate::genesis::Genesis;
use crate::ids::{NodeId, SwarmId, TxId};
use crate::params::Parameters;
use crate::signature::{self, PublicKey};

use super::{Effect, IngestOutcome, Ledger, LedgerError, LedgerOptions};

/// Magic at the start of an export this version writes.
pub const EXPORT_MAGIC: &[u8; 24] = b"IPPOC-LEDGER-EXPORT-v2\n\0";
/// Magic of the first format (no genesis, no commitment), still read.
pub const EXPORT_MAGIC_V1: &[u8; 24] = b"IPPOC-LEDGER-EXPORT-v1\n\0";
/// Entries verified per signature batch.
pub const VERIFY_BATCH_ENTRIES: usize = 256;
/// The length word that starts the trailer instead of an entry.
const TRAILER_MARK: u32 = u32::MAX;
/// Domain of the exporter's signature.
pub const COMMITMENT_DOMAIN: &[u8] = b"ippoc-export-commitment-v2\0";
/// Most parameter tables an export may carry (the DAO adopts a handful a year).
pub const EXPORT_TABLES_MAX: u32 = 65_536;
/// Largest genesis document an export may carry.
pub const EXPORT_GENESIS_BYTES_MAX: u32 = 64 << 20;
/// Most chains a commitment may list.
pub const EXPORT_CHAINS_MAX: u32 = 10_000_000;

/// The first thing wrong with a chain or an export.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// The file is not an export.
    #[error("not an IPPOC ledger export: {0}")]
    Format(String),
    /// The file does not hold what its trailer commits to: cut, edited, or
    /// with a chain dropped.
    #[error("the export does not match its commitment: {0}")]
    Commitment(String),
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
    /// A well-signed entry that a node refuses on import (a static rule:
    /// authorization, fee, parameter table, legs).
    #[error("{actor} seq {seq}: refused by the ledger's rules: {reason}")]
    Rule {
        /// Actor.
        actor: NodeId,
        /// Seq.
        seq: u64,
        /// The rule broken.
        reason: String,
    },
    /// In an export of every chain, an entry waits for something the file
    /// does not hold: the file is incomplete.
    #[error("{actor} seq {seq}: waits for {waits}, which the export of every chain does not hold")]
    Unresolved {
        /// Actor.
        actor: NodeId,
        /// Seq.
        seq: u64,
        /// What it waits for.
        waits: String,
    },
}

/// What a successful verification covered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
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
    verify_entries_kept(swarm_id, entries).map(|(summary, _)| summary)
}

/// [`verify_entries`], keeping the verified entries.
fn verify_entries_kept(
    swarm_id: SwarmId,
    entries: &[SignedEntry],
) -> Result<(VerifiedSummary, Vec<VerifiedEntry>), ChainError> {
    let mut verified = Vec::with_capacity(entries.len());
    for chunk in entries.chunks(VERIFY_BATCH_ENTRIES) {
        verified.extend(
            SignedEntry::verify_batch(chunk.to_vec()).map_err(|(i, error)| ChainError::Entry {
                actor: chunk[i].body.actor,
                seq: chunk[i].body.seq,
                error,
            })?,
        );
    }
    let mut summary = VerifiedSummary::default();
    let mut expected: Option<(NodeId, u64, TxId)> = None;
    // Every chain's tx_ids by seq (32 bytes per entry): what a second run of
    // the same actor is compared with.
    let mut chains: std::collections::HashMap<NodeId, Vec<TxId>> = std::collections::HashMap::new();
    // Inside a run of entries at positions already given (a chain again):
    // scanned to its end for a second version before it is reported.
    let mut repeat: Option<NodeId> = None;
    for e in &verified {
        let b = e.body();
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
    Ok((summary, verified))
}

/// What an export's trailer commits to, signed by the exporting node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commitment {
    /// The file holds every chain the exporter counted (not one actor's).
    pub complete: bool,
    /// Each run of one actor's entries, in file order: actor, last seq, last tx_id.
    pub heads: Vec<(NodeId, u64, TxId)>,
    /// Entries in the file.
    pub entries: u64,
    /// The exporter's [`Ledger::state_root`] when it wrote the file.
    pub state_root: [u8; 32],
    /// The node that signed the trailer.
    pub exporter: NodeId,
}

/// A parsed export file.
#[derive(Debug, Clone)]
pub struct ExportFile {
    /// Format version: 1 or 2.
    pub version: u8,
    /// The swarm.
    pub swarm_id: SwarmId,
    /// The swarm's genesis (v2; its hash is the swarm id).
    pub genesis: Option<Genesis>,
    /// Parameter tables 1, 2, … the exporter had adopted from the DAO (v2).
    pub tables: Vec<Parameters>,
    /// The entries, grouped by actor in seq order.
    pub entries: Vec<SignedEntry>,
    /// The signed trailer (v2), already checked against the entries.
    pub commitment: Option<Commitment>,
}

/// Each run of one actor's entries in order: actor, last seq, last tx_id.
fn runs(entries: &[SignedEntry]) -> Vec<(NodeId, u64, TxId)> {
    let mut out: Vec<(NodeId, u64, TxId)> = Vec::new();
    for e in entries {
        match out.last_mut() {
            Some(last) if last.0 == e.body.actor => *last = (e.body.actor, e.body.seq, e.tx_id()),
            _ => out.push((e.body.actor, e.body.seq, e.tx_id())),
        }
    }
    out
}

fn put_blob(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// Writes a v2 export: header, genesis, tables, entries, and the trailer
/// signed by `key`. [`Ledger::export`] is the way to export a ledger; this
/// writes any content (tests and tools build files with it).
pub fn write_export(
    genesis: &Genesis,
    tables: &[Parameters],
    entries: &[SignedEntry],
    complete: bool,
    state_root: [u8; 32],
    key: &SigningKey,
) -> Vec<u8> {
    let mut out = EXPORT_MAGIC.to_vec();
    out.extend_from_slice(&genesis.swarm_id().0);
    put_blob(&mut out, genesis.to_json().as_bytes());
    out.extend_from_slice(&(tables.len() as u32).to_be_bytes());
    for t in tables {
        put_blob(&mut out, &encoding::encode(t));
    }
    for e in entries {
        put_blob(&mut out, &e.to_bytes());
    }
    out.extend_from_slice(&TRAILER_MARK.to_be_bytes());
    out.push(u8::from(complete));
    let heads = runs(entries);
    out.extend_from_slice(&(heads.len() as u32).to_be_bytes());
    for (actor, seq, tx) in &heads {
        out.extend_from_slice(actor.as_bytes());
        out.extend_from_slice(&seq.to_be_bytes());
        out.extend_from_slice(&tx.0);
    }
    out.extend_from_slice(&(entries.len() as u64).to_be_bytes());
    out.extend_from_slice(&state_root);
    out.extend_from_slice(&key.verifying_key().to_bytes());
    let signature = key.sign(&commitment_message(&out));
    out.extend_from_slice(&signature.to_bytes());
    out
}

/// What the exporter signs: the domain and the SHA-256 of every byte before the signature.
fn commitment_message(signed: &[u8]) -> Vec<u8> {
    let mut m = COMMITMENT_DOMAIN.to_vec();
    m.extend_from_slice(&Sha256::digest(signed));
    m
}

/// A cursor over the file's bytes.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], ChainError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| ChainError::Format(format!("truncated in {what} at byte {}", self.at)))?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u32(&mut self, what: &str) -> Result<u32, ChainError> {
        Ok(u32::from_be_bytes(self.take(4, what)?.try_into().expect("4 bytes")))
    }
    fn u64(&mut self, what: &str) -> Result<u64, ChainError> {
        Ok(u64::from_be_bytes(self.take(8, what)?.try_into().expect("8 bytes")))
    }
    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], ChainError> {
        Ok(self.take(N, what)?.try_into().expect("N bytes"))
    }
    fn done(&self) -> bool {
        self.at == self.bytes.len()
    }
}

/// Parses an export file (v1 or v2). A v2 file's genesis must hash to its
/// swarm id, and its trailer must be signed and match the entries: what
/// the file holds is what its exporter wrote.
pub fn parse_export(bytes: &[u8]) -> Result<ExportFile, ChainError> {
    let bad = |m: String| ChainError::Format(m);
    let version = if bytes.starts_with(EXPORT_MAGIC) {
        2
    } else if bytes.starts_with(EXPORT_MAGIC_V1) {
        1
    } else {
        return Err(bad("missing magic header".into()));
    };
    let mut r = Reader { bytes, at: 24 };
    let swarm_id = SwarmId(r.array("the swarm id")?);
    let mut file = ExportFile {
        version,
        swarm_id,
        genesis: None,
        tables: Vec::new(),
        entries: Vec::new(),
        commitment: None,
    };
    if version == 2 {
        let len = r.u32("the genesis length")?;
        if len > EXPORT_GENESIS_BYTES_MAX {
            return Err(bad(format!(
                "a genesis of {len} bytes (at most {EXPORT_GENESIS_BYTES_MAX})"
            )));
        }
        let text = std::str::from_utf8(r.take(len as usize, "the genesis")?)
            .map_err(|_| bad("the genesis is not UTF-8".into()))?;
        let genesis = Genesis::from_json(text).map_err(|e| bad(e.to_string()))?;
        if genesis.swarm_id() != swarm_id {
            return Err(bad(format!(
                "the genesis is of swarm {}, the header says {swarm_id}",
                genesis.swarm_id()
            )));
        }
        file.genesis = Some(genesis);
        let count = r.u32("the table count")?;
        if count > EXPORT_TABLES_MAX {
            return Err(bad(format!("{count} parameter tables (at most {EXPORT_TABLES_MAX})")));
        }
        for i in 1..=count {
            let len = r.u32("a table length")? as usize;
            let table: Parameters = encoding::decode(r.take(len, "a parameter table")?)
                .map_err(|e| bad(format!("parameter table {i}: {e}")))?;
            file.tables.push(table);
        }
    }
    let mut trailer = false;
    while !r.done() {
        let len = r.u32(&format!("the length of entry {}", file.entries.len()))?;
        if len == TRAILER_MARK && version == 2 {
            trailer = true;
            break;
        }
        let body = r.take(len as usize, &format!("entry {}", file.entries.len()))?;
        let entry = SignedEntry::from_bytes(body).map_err(|e| bad(format!("entry {}: {e}", file.entries.len())))?;
        file.entries.push(entry);
    }
    if version == 2 {
        if !trailer {
            return Err(ChainError::Commitment(format!(
                "the file ends after {} entries without its trailer: it was cut",
                file.entries.len()
            )));
        }
        match read_trailer(&mut r, &file.entries) {
            Ok(c) => file.commitment = Some(c),
            // A changed byte breaks the signature over the whole file; if
            // it is inside an entry, name that entry instead.
            Err(e @ ChainError::Commitment(_)) => {
                verify_entries(file.swarm_id, &file.entries)?;
                return Err(e);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(file)
}

/// Reads the trailer (after its mark) and checks it against the entries.
fn read_trailer(r: &mut Reader<'_>, entries: &[SignedEntry]) -> Result<Commitment, ChainError> {
    let cut = |_| ChainError::Commitment("the trailer is cut short".into());
    let complete = match r.take(1, "the trailer").map_err(cut)?[0] {
        0 => false,
        1 => true,
        other => return Err(ChainError::Format(format!("trailer scope {other}"))),
    };
    let count = r.u32("the trailer").map_err(cut)?;
    if count > EXPORT_CHAINS_MAX {
        return Err(ChainError::Format(format!("{count} chains in the trailer")));
    }
    let mut heads = Vec::with_capacity(count.min(1 << 16) as usize);
    for _ in 0..count {
        let actor = NodeId::from_bytes(r.array("the trailer").map_err(cut)?);
        let seq = r.u64("the trailer").map_err(cut)?;
        let tx = TxId(r.array("the trailer").map_err(cut)?);
        heads.push((actor, seq, tx));
    }
    let total = r.u64("the trailer").map_err(cut)?;
    let state_root = r.array("the trailer").map_err(cut)?;
    let exporter = NodeId::from_bytes(r.array("the trailer").map_err(cut)?);
    let signed_end = r.at;
    let sig: [u8; 64] = r.array("the trailer").map_err(cut)?;
    if !r.done() {
        return Err(ChainError::Format(format!(
            "{} bytes after the trailer",
            r.bytes.len() - r.at
        )));
    }
    let key = PublicKey::parse(exporter.as_bytes())
        .map_err(|e| ChainError::Commitment(format!("the exporter key {exporter}: {e}")))?;
    signature::verify(&key, &commitment_message(&r.bytes[..signed_end]), &sig).map_err(|e| {
        ChainError::Commitment(format!(
            "the signature of exporter {exporter} over the file: {e} (a byte was changed, or the trailer is another file's)"
        ))
    })?;
    let found = runs(entries);
    if total != entries.len() as u64 || found != heads {
        let first_difference = heads
            .iter()
            .zip(found.iter())
            .find(|(a, b)| a != b)
            .map(|((actor, seq, _), (_, got, _))| {
                format!("; {actor} committed up to seq {seq}, the file holds up to {got}")
            })
            .unwrap_or_default();
        return Err(ChainError::Commitment(format!(
            "the trailer commits to {} chains and {total} entries, the file holds {} chains and {} entries{first_difference}",
            heads.len(),
            found.len(),
            entries.len()
        )));
    }
    Ok(Commitment {
        complete,
        heads,
        entries: total,
        state_root,
        exporter,
    })
}

/// Verifies an export file offline without a ledger: commitment, links,
/// swarm id, signatures, forks ([`check_export`] adds the ledger's rules).
pub fn verify_export(bytes: &[u8]) -> Result<(ExportFile, VerifiedSummary), ChainError> {
    let file = parse_export(bytes)?;
    let summary = verify_entries(file.swarm_id, &file.entries)?;
    Ok((file, summary))
}

/// What [`check_export`] found in a file that verifies.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ExportReport {
    /// Format version of the file.
    pub version: u8,
    /// The swarm.
    pub swarm_id: SwarmId,
    /// Chains and entries.
    #[serde(flatten)]
    pub summary: VerifiedSummary,
    /// Who signed the file's commitment (v2).
    pub exporter: Option<NodeId>,
    /// Whether the file holds every chain its exporter counted (v2).
    pub complete: Option<bool>,
    /// Whether the ledger's rules were applied (they need the genesis: in a
    /// v2 file, or given for a v1 file).
    pub rules_checked: bool,
    /// Entries that applied.
    pub applied: u64,
    /// Entries stored as bounced (a dynamic rule: an overdraft, an escrow
    /// released twice, a seal minted twice, …):
    /// valid, without effect, as on every node.
    pub bounced: u64,
    /// Entries of a one-chain export that wait for entries of chains the
    /// file does not hold: their dynamic rules could not be applied.
    pub unresolved: u64,
    /// The first of them and what it waits for.
    pub first_unresolved: Option<String>,
    /// For a complete export: whether replaying it gives the exporter's
    /// state root. `false` means the exporter's derived state (balances,
    /// heads) differs from what its entries give, or it holds fork evidence
    /// the file leaves out.
    pub state_root_matches: Option<bool>,
}

/// Verifies an export like [`verify_export`], then replays it into a
/// scratch ledger in the system's temporary directory, applying every
/// rule a node applies on import. `genesis` is used for a v1 file, which
/// does not carry its own; without one a v1 file gets the structural check
/// only (`rules_checked: false`). Names the first entry a node would refuse.
pub fn check_export(bytes: &[u8], genesis: Option<&Genesis>) -> Result<ExportReport, ChainError> {
    let file = parse_export(bytes)?;
    let (summary, verified) = verify_entries_kept(file.swarm_id, &file.entries)?;
    let mut report = ExportReport {
        version: file.version,
        swarm_id: file.swarm_id,
        summary,
        exporter: file.commitment.as_ref().map(|c| c.exporter),
        complete: file.commitment.as_ref().map(|c| c.complete),
        rules_checked: false,
        applied: 0,
        bounced: 0,
        unresolved: 0,
        first_unresolved: None,
        state_root_matches: None,
    };
    let genesis = match (&file.genesis, genesis) {
        (Some(g), _) => g.clone(),
        (None, Some(g)) if g.swarm_id() == file.swarm_id => g.clone(),
        (None, Some(g)) => {
            return Err(ChainError::Format(format!(
                "the export is of swarm {}, the genesis given is of swarm {}",
                file.swarm_id,
                g.swarm_id()
            )));
        }
        (None, None) => return Ok(report),
    };
    let scratch_fault = |e: LedgerError| ChainError::Format(format!("the scratch ledger failed: {e}"));
    let (_dir, ledger) = scratch_ledger(genesis, &file.tables, file.entries.len() as u64 + 1).map_err(|e| match e {
        LedgerError::Parameters(why) => ChainError::Format(why),
        other => scratch_fault(other),
    })?;
    ledger.ingest_verified(verified).map_err(scratch_fault)?;
    report.rules_checked = true;
    let mut missing = Vec::new();
    for e in &file.entries {
        match ledger.entry(&e.body.actor, e.body.seq).map_err(scratch_fault)? {
            Some((stored, effect)) if stored.tx_id() == e.tx_id() => match effect {
                Effect::Applied => report.applied += 1,
                Effect::Bounced => report.bounced += 1,
            },
            _ => missing.push(e.clone()),
        }
    }
    // Entries neither stored nor held were refused (maybe when a
    // predecessor woke them); offering them again names the rule.
    let outcomes = ledger.ingest(missing.clone()).map_err(scratch_fault)?;
    let mut first_waiting = None;
    for (e, outcome) in missing.iter().zip(outcomes) {
        let (actor, seq) = (e.body.actor, e.body.seq);
        let waits = match outcome {
            IngestOutcome::Rejected(reason) | IngestOutcome::Dropped(reason) => {
                return Err(ChainError::Rule { actor, seq, reason });
            }
            IngestOutcome::Pending { actor: a, seq: s } => format!("{a} seq {s}"),
            IngestOutcome::AwaitingParameters { version } => format!(
                "parameter table {version} (the file carries tables up to {})",
                file.tables.len()
            ),
            other => format!("{other:?}"),
        };
        report.unresolved += 1;
        first_waiting.get_or_insert((actor, seq, waits));
    }
    if let Some((actor, seq, waits)) = first_waiting {
        if report.complete == Some(true) {
            return Err(ChainError::Unresolved { actor, seq, waits });
        }
        report.first_unresolved = Some(format!("{actor} seq {seq} waits for {waits}"));
    }
    if let Some(c) = file.commitment.as_ref().filter(|c| c.complete) {
        report.state_root_matches = Some(ledger.state_root().map_err(scratch_fault)? == c.state_root);
    }
    Ok(report)
}

/// An empty ledger of `genesis` in a fresh directory under the system's
/// temporary directory (removed with the returned handle), with `tables`
/// adopted as tables 1, 2, …: where exports and stores are replayed.
pub(super) fn scratch_ledger(
    genesis: Genesis,
    tables: &[Parameters],
    pending_entries_max: u64,
) -> Result<(tempfile::TempDir, Ledger), LedgerError> {
    let dir = tempfile::Builder::new()
        .prefix("ippoc-replay-")
        .tempdir()
        .map_err(|e| LedgerError::Storage(sled::Error::Io(e)))?;
    let options = LedgerOptions {
        pending_entries_max,
        // A replay holds whatever the file holds, in any order, for as long as it runs.
        pending_per_actor_max: pending_entries_max,
        pending_ttl_ms: u64::MAX,
        durable: false,
        cache_bytes: 16 << 20,
        reserve_bytes: 0,
        ..LedgerOptions::default()
    };
    // An owner with no chain anywhere: the replay signs nothing.
    let nobody = NodeId::from_bytes([0; 32]);
    let ledger = Ledger::open(&dir.path().join("ledger"), genesis, nobody, options)?;
    for (i, table) in tables.iter().enumerate() {
        ledger
            .adopt_parameters(i as u32 + 1, table.clone())
            .map_err(|e| LedgerError::Parameters(format!("parameter table {}: {e}", i + 1)))?;
    }
    Ok((dir, ledger))
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

    /// Writes the export of `actor`'s chain (or of every chain), its
    /// commitment signed by `key` (the node's identity: an export is
    /// attributable, and nothing in it is a ledger position).
    pub fn export(&self, actor: Option<&NodeId>, key: &SigningKey) -> Result<Vec<u8>, LedgerError> {
        // No write between the entries read and the state root.
        let _guard = self.write.lock().unwrap_or_else(|p| p.into_inner());
        let entries = self.chain_entries(actor)?;
        let state_root = self.state_root()?;
        let schedule = self.schedule();
        Ok(write_export(
            &self.genesis,
            &schedule[1..],
            &entries,
            actor.is_none(),
            state_root,
            key,
        ))
    }
}
