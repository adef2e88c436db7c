//! Anti-entropy of chains: exchange heads, then fetch only the missing
//! ranges in bounded batches, ingesting (and so verifying, batched) every
//! entry before asking for more. Resumable by construction: each round
//! starts from this node's own heads, so an interrupted round only leaves
//! less to fetch next time.

use std::sync::Arc;

use ippoc_economy::store::{IngestOutcome, Ledger};
use ippoc_economy::{NodeId, SignedEntry};
use ippoc_mesh::{MeshClient, PeerId};

use super::{SyncError, SyncReport};
use crate::protocol::{SYNC_BATCH_ENTRIES_MAX, SyncRequest, SyncResponse, ask};

/// Most chains one sync round fetches from one peer.
pub const SYNC_CHAINS_MAX: usize = 10_000;

/// Runs ledger work off the async threads.
async fn blocking<T: Send + 'static>(
    ledger: &Arc<Ledger>,
    f: impl FnOnce(&Ledger) -> T + Send + 'static,
) -> Result<T, SyncError> {
    let l = ledger.clone();
    tokio::task::spawn_blocking(move || f(&l))
        .await
        .map_err(|e| SyncError::Task(e.to_string()))
}

/// The next seq this node lacks of `actor`'s chain.
async fn next_seq(ledger: &Arc<Ledger>, actor: NodeId) -> Result<u64, SyncError> {
    Ok(blocking(ledger, move |l| l.head(&actor))
        .await??
        .map_or(0, |(s, _)| s + 1))
}

/// Fetches from `peer` every entry it has beyond this node's heads.
pub async fn sync_with(client: &MeshClient, ledger: &Arc<Ledger>, peer: PeerId) -> Result<SyncReport, SyncError> {
    let mut report = SyncReport::default();
    let exchange = async |request: SyncRequest, report: &mut SyncReport| -> Result<SyncResponse, SyncError> {
        let (response, bytes) = ask(client, peer, &request).await?;
        report.requests += 1;
        report.bytes += bytes;
        Ok(response)
    };
    let heads = match exchange(SyncRequest::Heads, &mut report).await? {
        SyncResponse::Heads(h) => h,
        other => return Err(SyncError::unexpected(peer, "heads", &other)),
    };
    for (actor, their_head) in heads.into_iter().take(SYNC_CHAINS_MAX) {
        loop {
            let next = next_seq(ledger, actor).await?;
            if next > their_head {
                break;
            }
            let request = SyncRequest::Range {
                actor,
                from: next,
                limit: SYNC_BATCH_ENTRIES_MAX,
            };
            let raw = match exchange(request, &mut report).await? {
                SyncResponse::Entries(e) => e,
                other => return Err(SyncError::unexpected(peer, "entries", &other)),
            };
            if raw.is_empty() {
                break;
            }
            let entries: Vec<SignedEntry> = raw
                .iter()
                .map(|b| SignedEntry::from_bytes(b))
                .collect::<Result<_, _>>()
                .map_err(|e| SyncError::BadEntry {
                    peer,
                    reason: e.to_string(),
                })?;
            report.entries += entries.len() as u64;
            let outcomes = blocking(ledger, move |l| l.ingest(entries)).await??;
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
            if next_seq(ledger, actor).await? <= next {
                tracing::debug!(%peer, actor = %actor, ?outcomes, "sync made no progress on this chain");
                break;
            }
        }
    }
    Ok(report)
}

/// Every chain head this node holds.
pub fn serve_heads(ledger: &Ledger) -> SyncResponse {
    match ledger.heads() {
        Ok(heads) => SyncResponse::Heads(heads.into_iter().map(|(a, s, _)| (a, s)).collect()),
        Err(e) => SyncResponse::Error(e.to_string()),
    }
}

/// At most [`SYNC_BATCH_ENTRIES_MAX`] entries of `actor` from `from`.
pub fn serve_range(ledger: &Ledger, actor: &NodeId, from: u64, limit: u64) -> SyncResponse {
    let to = from.saturating_add(limit.min(SYNC_BATCH_ENTRIES_MAX));
    match ledger.range(actor, from, to).collect::<Result<Vec<_>, _>>() {
        Ok(entries) => SyncResponse::Entries(entries.into_iter().map(|(e, _)| e.to_bytes()).collect()),
        Err(e) => SyncResponse::Error(e.to_string()),
    }
}
