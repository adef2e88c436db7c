//! Anti-entropy sync between two nodes, over the mesh's request-response
//! protocol: exchange chain heads, then fetch only the missing ranges in
//! bounded batches, ingesting (and so verifying) every entry before asking
//! for more. It runs whenever a peer connects, which covers first contact,
//! restarts and healed partitions, and periodically with one peer in turn.
//! It is resumable by construction: each round starts from this node's own
//! heads, so an interrupted round only leaves less to fetch next time.
//!
//! Wire format (the canonical bincode encoding of `docs/ledger-format.md`):
//! `SyncRequest::Heads | Range { actor, from, limit } | Doc(msg) | Module(sha256)` →
//! `SyncResponse::Heads([(actor, head seq)]) | Entries([signed entry bytes]) | Doc(msg?) | Error(text) | Module(wasm?)`.

use std::sync::Arc;

use bincode::{Decode, Encode};
use ippoc_economy::store::{IngestOutcome, Ledger};
use ippoc_economy::{NodeId, SignedEntry, encoding};
use ippoc_mesh::{MeshClient, PeerId, SyncResponder};

use crate::skills::SkillStore;
use crate::swarm_doc::{SharedSwarmDoc, lock};

/// Most entries one range response carries.
pub const SYNC_BATCH_ENTRIES_MAX: u64 = 256;
/// Most chains one sync round fetches from one peer.
pub const SYNC_CHAINS_MAX: usize = 10_000;

/// A sync request.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub enum SyncRequest {
    /// Every chain head the peer holds.
    Heads,
    /// Up to `limit` entries of `actor` from seq `from`.
    Range {
        /// Chain.
        actor: NodeId,
        /// First seq.
        from: u64,
        /// Most entries.
        limit: u64,
    },
    /// An Automerge sync message for the swarm document (empty: none to send).
    Doc(Vec<u8>),
    /// The skill module with this SHA-256 (the evolution flow's fetch by hash).
    Module([u8; 32]),
}

/// A sync response.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub enum SyncResponse {
    /// `(actor, head seq)` of every chain.
    Heads(Vec<(NodeId, u64)>),
    /// Canonical bytes of consecutive entries.
    Entries(Vec<Vec<u8>>),
    /// The answering Automerge sync message, if the responder has one.
    Doc(Option<Vec<u8>>),
    /// The request could not be served.
    Error(String),
    /// The module asked for, if the responder holds it.
    Module(Option<Vec<u8>>),
}

/// Serves heads and ranges from the ledger, and the swarm document.
pub struct LedgerResponder {
    /// The ledger.
    pub ledger: Arc<Ledger>,
    /// The swarm document.
    pub doc: SharedSwarmDoc,
    /// The skill modules this node holds.
    pub skills: SkillStore,
}

impl SyncResponder for LedgerResponder {
    fn respond(&self, peer: &PeerId, request: &[u8]) -> Vec<u8> {
        let response = match encoding::decode::<SyncRequest>(request) {
            Err(e) => SyncResponse::Error(format!("bad request: {e}")),
            Ok(SyncRequest::Heads) => match self.ledger.heads() {
                Ok(heads) => SyncResponse::Heads(heads.into_iter().map(|(a, s, _)| (a, s)).collect()),
                Err(e) => SyncResponse::Error(e.to_string()),
            },
            Ok(SyncRequest::Range { actor, from, limit }) => {
                let to = from.saturating_add(limit.min(SYNC_BATCH_ENTRIES_MAX));
                match self.ledger.range(&actor, from, to).collect::<Result<Vec<_>, _>>() {
                    Ok(entries) => SyncResponse::Entries(entries.into_iter().map(|(e, _)| e.to_bytes()).collect()),
                    Err(e) => SyncResponse::Error(e.to_string()),
                }
            }
            Ok(SyncRequest::Module(hash)) => SyncResponse::Module(self.skills.get(&hash)),
            Ok(SyncRequest::Doc(message)) => {
                let mut doc = lock(&self.doc);
                let peer = peer.to_string();
                match message.is_empty() {
                    true => SyncResponse::Doc(doc.sync_message(&peer)),
                    false => match doc.receive(&peer, &message) {
                        Ok(()) => SyncResponse::Doc(doc.sync_message(&peer)),
                        Err(e) => SyncResponse::Error(e.to_string()),
                    },
                }
            }
        };
        encoding::encode(&response)
    }
}

/// What one sync round moved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Entries fetched.
    pub entries: u64,
    /// Response bytes received (everything that crossed the wire to us).
    pub bytes: u64,
    /// Canonical bytes of the fetched entries this node did not hold: what
    /// was missing. `bytes / missing_bytes` is sync's overhead.
    pub missing_bytes: u64,
    /// Requests made.
    pub requests: u64,
    /// Fetched entries that revealed a fork.
    pub forks: u64,
}

async fn ask(
    client: &MeshClient,
    peer: PeerId,
    request: SyncRequest,
    report: &mut SyncReport,
) -> Result<SyncResponse, String> {
    let bytes = client
        .request(peer, encoding::encode(&request))
        .await
        .map_err(|e| e.to_string())?;
    report.requests += 1;
    report.bytes += bytes.len() as u64;
    encoding::decode(&bytes).map_err(|e| format!("bad response: {e}"))
}

/// Fetches from `peer` every entry it has beyond this node's heads.
pub async fn sync_with(client: &MeshClient, ledger: &Arc<Ledger>, peer: PeerId) -> Result<SyncReport, String> {
    let mut report = SyncReport::default();
    let heads = match ask(client, peer, SyncRequest::Heads, &mut report).await? {
        SyncResponse::Heads(h) => h,
        other => return Err(format!("expected heads, got {other:?}")),
    };
    for (actor, their_head) in heads.into_iter().take(SYNC_CHAINS_MAX) {
        loop {
            let l = ledger.clone();
            let next = tokio::task::spawn_blocking(move || l.head(&actor).map(|h| h.map_or(0, |(s, _)| s + 1)))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
            if next > their_head {
                break;
            }
            let request = SyncRequest::Range {
                actor,
                from: next,
                limit: SYNC_BATCH_ENTRIES_MAX,
            };
            let raw = match ask(client, peer, request, &mut report).await? {
                SyncResponse::Entries(e) => e,
                other => return Err(format!("expected entries, got {other:?}")),
            };
            if raw.is_empty() {
                break;
            }
            let entries: Vec<SignedEntry> = raw
                .iter()
                .map(|b| SignedEntry::from_bytes(b))
                .collect::<Result<_, _>>()
                .map_err(|e| format!("undecodable entry from {peer}: {e}"))?;
            report.entries += entries.len() as u64;
            let l = ledger.clone();
            let outcomes = tokio::task::spawn_blocking(move || l.ingest(entries))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
            for (bytes, outcome) in raw.iter().zip(&outcomes) {
                match outcome {
                    IngestOutcome::Duplicate | IngestOutcome::Rejected(_) => {}
                    IngestOutcome::Fork { .. } => {
                        report.forks += 1;
                        report.missing_bytes += bytes.len() as u64;
                    }
                    _ => report.missing_bytes += bytes.len() as u64,
                }
            }
            // Entries that could not be stored (pending, rejected) stop this chain's round.
            let l = ledger.clone();
            let advanced = tokio::task::spawn_blocking(move || l.head(&actor).map(|h| h.map_or(0, |(s, _)| s + 1)))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
            if advanced <= next {
                tracing::debug!(%peer, actor = %actor, ?outcomes, "sync made no progress on this chain");
                break;
            }
        }
    }
    Ok(report)
}

/// Most request-response rounds of one swarm-document sync.
pub const DOC_SYNC_ROUNDS_MAX: usize = 32;

/// Runs Automerge's sync protocol with `peer` until neither side has
/// anything to send; returns the rounds it took.
pub async fn doc_sync_with(client: &MeshClient, doc: &SharedSwarmDoc, peer: PeerId) -> Result<usize, String> {
    let name = peer.to_string();
    let mut report = SyncReport::default();
    for round in 1..=DOC_SYNC_ROUNDS_MAX {
        let out = lock(doc).sync_message(&name);
        let sent = out.is_some();
        let reply = match ask(client, peer, SyncRequest::Doc(out.unwrap_or_default()), &mut report).await? {
            SyncResponse::Doc(r) => r,
            other => return Err(format!("expected a document message, got {other:?}")),
        };
        let received = reply.is_some();
        if let Some(message) = reply {
            lock(doc).receive(&name, &message).map_err(|e| e.to_string())?;
        }
        if !sent && !received {
            return Ok(round);
        }
    }
    Ok(DOC_SYNC_ROUNDS_MAX)
}
