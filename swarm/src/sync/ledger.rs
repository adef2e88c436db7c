//! Anti-entropy of chains: exchange heads, then fetch only the missing
//! ranges in bounded batches, ingesting (and so verifying, batched) every
//! entry before asking for more. Resumable by construction: each round
//! starts from this node's own heads, so an interrupted round only leaves
//! less to fetch next time.

use std::sync::Arc;

use ippoc_economy::entry::VerifiedEntry;
use ippoc_economy::store::{IngestOutcome, Ledger, LedgerError, Precheck};
use ippoc_economy::{NodeId, SignedEntry};
use ippoc_mesh::{MeshClient, PeerId};

use super::{SyncError, SyncReport};
use crate::limits::ActorLimits;
use crate::protocol::{
    SYNC_BATCH_ENTRIES_MAX, SYNC_RANGES_CHAINS_MAX, SYNC_RANGES_ENTRIES_MAX, SyncRequest, SyncResponse, ask,
};

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

/// How long one round may wait for chains over their actor's rate to be
/// allowed more before it ends (what is left waits for the next round).
/// Short: while a round runs, no other round with that peer starts, and
/// those rounds are how entries gossip missed get repaired; a flooding
/// member's chain must not hold them up.
pub const SYNC_THROTTLED_WAIT_MAX: std::time::Duration = std::time::Duration::from_secs(2);

/// How a chain's fetch ended.
enum ChainEnd {
    /// Nothing more to fetch from this peer now.
    Done,
    /// Its actor's rate allows no more now.
    Throttled,
    /// What came could not be applied yet (its deps on other chains are
    /// missing, or it was refused): those chains may come later in the round.
    Stalled,
}

/// Passes a round makes over the chains that stalled on deps, at most: an
/// entry's deps are the heads of other chains, which the same round may
/// bring later, and each pass resolves one more link of such a dependency
/// chain instead of leaving it for the next round, seconds later. A pass
/// that moves no stalled chain ends them.
pub const SYNC_DEP_PASSES_MAX: usize = 8;

/// Fetches from `peer` every entry it has beyond this node's heads, each
/// chain at most at its actor's rate ([`ActorLimits`]): chains over it are
/// taken again as their buckets refill, for up to
/// [`SYNC_THROTTLED_WAIT_MAX`]; what is left then waits for a later round.
pub async fn sync_with(
    client: &MeshClient,
    ledger: &Arc<Ledger>,
    limits: &ActorLimits,
    peer: PeerId,
) -> Result<SyncReport, SyncError> {
    let mut report = SyncReport::default();
    let heads = match exchange(client, peer, SyncRequest::Heads, &mut report).await? {
        SyncResponse::Heads(h) => h,
        other => return Err(SyncError::unexpected(peer, "heads", &other)),
    };
    let mut throttled = std::collections::VecDeque::new();
    let mut stalled = Vec::new();
    // Only the chains the peer holds further than this node: one read of
    // every own head, instead of one ledger task per chain the peer names
    // (most of them level after the first rounds).
    let ours: std::collections::HashMap<NodeId, u64> = blocking(ledger, |l| l.heads())
        .await??
        .into_iter()
        .map(|(actor, seq, _)| (actor, seq))
        .collect();
    let ahead: Vec<(NodeId, u64)> = heads
        .into_iter()
        .take(SYNC_CHAINS_MAX)
        .filter(|(actor, their_head)| ours.get(actor).is_none_or(|seq| their_head > seq))
        .collect();
    // Many chains at a time (a healed partition leaves every chain of the
    // other side behind): batched, one round trip per batch. A peer that
    // does not know the batched request gets the chains one by one.
    let ahead = match fetch_batched(client, ledger, limits, peer, ahead, &mut report).await? {
        Batched::Done { throttled: t } => {
            throttled.extend(t);
            Vec::new()
        }
        Batched::Unsupported(rest) => rest,
    };
    for (actor, their_head) in ahead {
        match fetch_chain(client, ledger, limits, peer, actor, their_head, &mut report).await? {
            ChainEnd::Done => {}
            ChainEnd::Throttled => throttled.push_back((actor, their_head)),
            ChainEnd::Stalled => stalled.push((actor, their_head)),
        }
    }
    for _ in 0..SYNC_DEP_PASSES_MAX {
        let mut again = Vec::new();
        let mut moved = false;
        for (actor, their_head) in std::mem::take(&mut stalled) {
            let before = next_seq(ledger, actor).await?;
            let end = fetch_chain(client, ledger, limits, peer, actor, their_head, &mut report).await?;
            moved |= next_seq(ledger, actor).await? > before;
            match end {
                ChainEnd::Done => {}
                ChainEnd::Throttled => throttled.push_back((actor, their_head)),
                ChainEnd::Stalled => again.push((actor, their_head)),
            }
        }
        stalled = again;
        if !moved || stalled.is_empty() {
            break;
        }
    }
    let deadline = tokio::time::Instant::now() + SYNC_THROTTLED_WAIT_MAX;
    while let Some((actor, their_head)) = throttled.pop_front() {
        // A batch's worth of tokens, not one: one request per entry would
        // cost the peer more than the entries.
        let next = next_seq(ledger, actor).await?;
        let batch = (their_head.saturating_sub(next) + 1).min(SYNC_BATCH_ENTRIES_MAX) as u32;
        let Some(wait) = limits.entries_wait(actor, batch) else {
            break;
        };
        let at = tokio::time::Instant::now() + wait;
        if at > deadline {
            break;
        }
        tokio::time::sleep_until(at).await;
        if let ChainEnd::Throttled = fetch_chain(client, ledger, limits, peer, actor, their_head, &mut report).await? {
            throttled.push_back((actor, their_head));
        }
    }
    Ok(report)
}

/// How a batched fetch ended.
enum Batched {
    /// What it left over their actor's rate, `(actor, their head)`; the
    /// chains still stalled wait on deps this peer did not bring (a later
    /// round, with another peer, may).
    Done {
        /// Over their actor's rate.
        throttled: Vec<(NodeId, u64)>,
    },
    /// The peer does not serve batched ranges: these chains are still to fetch.
    Unsupported(Vec<(NodeId, u64)>),
}

/// Batched requests a round makes of one peer, at most: with
/// [`SYNC_RANGES_ENTRIES_MAX`] entries each, far more than a partition of
/// minutes leaves behind; the rest waits for the next round.
pub const SYNC_BATCHES_PER_ROUND_MAX: usize = 64;

/// Fetches `chains` (`(actor, their head)`, each ahead of this node) from
/// `peer` in [`SyncRequest::Ranges`] batches: each batch's entries verified
/// in one signature batch and stored in one ledger call, so deps between
/// chains resolve within it. A chain that moved is asked again; one that
/// did not waits on deps and is asked again only after another moved.
async fn fetch_batched(
    client: &MeshClient,
    ledger: &Arc<Ledger>,
    limits: &ActorLimits,
    peer: PeerId,
    chains: Vec<(NodeId, u64)>,
    report: &mut SyncReport,
) -> Result<Batched, SyncError> {
    let mut todo = chains;
    let (mut throttled, mut stalled) = (Vec::new(), Vec::new());
    for _ in 0..SYNC_BATCHES_PER_ROUND_MAX {
        if todo.is_empty() {
            break;
        }
        let actors: Vec<NodeId> = todo.iter().map(|(a, _)| *a).collect();
        let nexts = next_seqs(ledger, actors).await?;
        // The batch: chains in order while they fit; the rest stay for the next.
        let (mut batch, mut rest, mut entries) = (Vec::new(), Vec::new(), 0u64);
        // Released when the batch is stored (or the round ends early).
        let mut claims = Vec::new();
        for ((actor, their_head), next) in todo.drain(..).zip(nexts) {
            if next > their_head {
                continue;
            }
            if batch.len() >= SYNC_RANGES_CHAINS_MAX || entries >= SYNC_RANGES_ENTRIES_MAX {
                rest.push((actor, their_head));
                continue;
            }
            let Some(claim) = limits.claim(actor) else {
                // Another round brings it; whatever it leaves short of
                // this peer's head is chased from this peer.
                limits.behind(actor, peer, their_head);
                continue;
            };
            claims.push(claim);
            let wanted = (their_head - next + 1).min(SYNC_BATCH_ENTRIES_MAX) as u32;
            let (granted, over) = limits.entries(actor, wanted);
            if over.is_some() {
                report.throttled += u64::from(wanted - granted);
            }
            if granted == 0 {
                throttled.push((actor, their_head));
                continue;
            }
            entries += u64::from(granted);
            batch.push((actor, their_head, next, u64::from(granted)));
        }
        if batch.is_empty() {
            todo = rest;
            continue;
        }
        let request = SyncRequest::Ranges(batch.iter().map(|(a, _, from, n)| (*a, *from, *n)).collect());
        let ranges = match exchange(client, peer, request, report).await? {
            SyncResponse::Ranges(r) if r.len() == batch.len() => r,
            // An implementation without batched ranges answers an error.
            SyncResponse::Error(_) => {
                let mut left: Vec<(NodeId, u64)> = batch.iter().map(|(a, h, ..)| (*a, *h)).collect();
                left.extend(rest);
                left.extend(stalled);
                return Ok(Batched::Unsupported(left));
            }
            other => return Err(SyncError::unexpected(peer, "ranges", &other)),
        };
        let asked: Vec<(NodeId, u64, u64)> = batch.iter().map(|(a, _, from, n)| (*a, *from, *n)).collect();
        let (raw, decoded) = match check_ranges(&asked, ranges) {
            Ok(r) => r,
            // Malformed, or not what was asked: counted against the peer
            // like rejected gossip, and the round with it ends.
            Err(reason) => {
                let _ = client.report(peer, format!("served bad ranges: {reason}")).await;
                return Err(SyncError::BadEntry { peer, reason });
            }
        };
        report.entries += decoded.len() as u64;
        if !decoded.is_empty() {
            ingest_served(client, ledger, peer, raw, decoded, report).await?;
        }
        let actors: Vec<NodeId> = batch.iter().map(|(a, ..)| *a).collect();
        let after = next_seqs(ledger, actors).await?;
        let mut moved = false;
        let mut waiting = Vec::new();
        for ((actor, their_head, before, _), now) in batch.into_iter().zip(after) {
            if now > their_head {
                continue;
            }
            if now > before {
                moved = true;
                rest.push((actor, their_head));
            } else {
                waiting.push((actor, their_head));
            }
        }
        // Chains stalled on deps are worth asking again only after another moved.
        if moved {
            rest.append(&mut stalled);
            rest.append(&mut waiting);
        } else {
            stalled.append(&mut waiting);
        }
        todo = rest;
    }
    Ok(Batched::Done { throttled })
}

/// The entries of a [`SyncResponse::Ranges`] answer to `asked`
/// (`(actor, from, limit)` per chain), decoded, with their bytes: each
/// chain's range must be at most its limit, of its actor, consecutive from
/// its `from`; anything else is the reason to refuse the whole answer.
fn check_ranges(
    asked: &[(NodeId, u64, u64)],
    ranges: Vec<Vec<Vec<u8>>>,
) -> Result<(Vec<Vec<u8>>, Vec<SignedEntry>), String> {
    let (mut raw, mut decoded) = (Vec::new(), Vec::new());
    for ((actor, from, limit), range) in asked.iter().zip(ranges) {
        if range.len() as u64 > *limit {
            return Err(format!("{limit} entries of {actor} asked, {} served", range.len()));
        }
        for (k, bytes) in range.into_iter().enumerate() {
            let entry = SignedEntry::from_bytes(&bytes).map_err(|e| e.to_string())?;
            if entry.body.actor != *actor || entry.body.seq != from + k as u64 {
                return Err(format!(
                    "served {} seq {} for {actor} from seq {from}",
                    entry.body.actor, entry.body.seq
                ));
            }
            decoded.push(entry);
            raw.push(bytes);
        }
    }
    Ok((raw, decoded))
}

/// The next seq this node lacks of each of `actors`, in one ledger task.
async fn next_seqs(ledger: &Arc<Ledger>, actors: Vec<NodeId>) -> Result<Vec<u64>, SyncError> {
    blocking(ledger, move |l| {
        actors
            .iter()
            .map(|a| l.head(a).map(|h| h.map_or(0, |(s, _)| s + 1)))
            .collect::<Result<Vec<u64>, _>>()
    })
    .await?
    .map_err(SyncError::from)
}

/// Verifies and stores entries a peer served (`raw`, their bytes, and
/// `entries`, decoded), counting what was missing and forks. The peer
/// serves what it stored, so what every node refuses whatever it holds
/// counts against it: a bad signature bans it (it cannot come from an
/// honest store: ranges are checked before they leave), a broken static
/// rule or a non-member's chain is counted like rejected gossip. What only
/// state decides (a fork it has not seen, deps still missing) blames nobody.
async fn ingest_served(
    client: &MeshClient,
    ledger: &Arc<Ledger>,
    peer: PeerId,
    raw: Vec<Vec<u8>>,
    entries: Vec<SignedEntry>,
    report: &mut SyncReport,
) -> Result<(), SyncError> {
    let Served { verified, refused } = blocking(ledger, move |l| judge_served(l, entries)).await??;
    let verified = match verified {
        Ok(v) => v,
        Err(reason) => {
            let _ = client.ban(peer, format!("served a forged entry: {reason}")).await;
            return Err(SyncError::BadEntry { peer, reason });
        }
    };
    if let Some(reason) = refused {
        let _ = client
            .report(peer, format!("served an entry every node refuses: {reason}"))
            .await;
    }
    let outcomes = blocking(ledger, move |l| l.ingest_verified(verified)).await??;
    for (bytes, outcome) in raw.iter().zip(&outcomes) {
        match outcome {
            IngestOutcome::Duplicate | IngestOutcome::Rejected(_) | IngestOutcome::Dropped(_) => {}
            IngestOutcome::Fork { .. } => {
                report.forks += 1;
                report.missing_bytes += bytes.len() as u64;
            }
            _ => report.missing_bytes += bytes.len() as u64,
        }
    }
    Ok(())
}

/// Fetches `actor`'s chain up to `seq` from `peer`, the peer whose gossip
/// showed it ([`ActorLimits::behind`]), at the actor's rate and without
/// waiting for its bucket: what is left is chased again at a later turn.
/// True if the chain is still short of `seq` and the fetch got somewhere
/// (entries came, or the rate held them back): worth another turn.
pub async fn chase(
    client: &MeshClient,
    ledger: &Arc<Ledger>,
    limits: &ActorLimits,
    (actor, peer, seq): (NodeId, PeerId, u64),
    report: &mut SyncReport,
) -> Result<bool, SyncError> {
    let (entries, throttled) = (report.entries, report.throttled);
    fetch_chain(client, ledger, limits, peer, actor, seq, report).await?;
    let progressed = report.entries > entries || report.throttled > throttled;
    Ok(progressed && next_seq(ledger, actor).await? <= seq)
}

/// One request and its answer, counted.
async fn exchange(
    client: &MeshClient,
    peer: PeerId,
    request: SyncRequest,
    report: &mut SyncReport,
) -> Result<SyncResponse, SyncError> {
    let asked = tokio::time::Instant::now();
    let (response, bytes) = ask(client, peer, &request).await?;
    report.slowest_ms = report.slowest_ms.max(asked.elapsed().as_millis() as u64);
    report.requests += 1;
    report.bytes += bytes;
    Ok(response)
}

/// Fetches `actor`'s chain from `peer` up to `their_head`, batch by batch,
/// while its actor's rate allows.
async fn fetch_chain(
    client: &MeshClient,
    ledger: &Arc<Ledger>,
    limits: &ActorLimits,
    peer: PeerId,
    actor: NodeId,
    their_head: u64,
    report: &mut SyncReport,
) -> Result<ChainEnd, SyncError> {
    loop {
        let next = next_seq(ledger, actor).await?;
        if next > their_head {
            return Ok(ChainEnd::Done);
        }
        let wanted = (their_head - next + 1).min(SYNC_BATCH_ENTRIES_MAX) as u32;
        let (granted, throttled) = limits.entries(actor, wanted);
        if let Some(t) = throttled {
            report.throttled += u64::from(wanted - granted);
            if t.log {
                tracing::warn!(
                    event = "actor_throttled", %peer, actor = %actor, refused = t.refused,
                    "a chain's entries over its actor's rate wait for its bucket to refill"
                );
            }
        }
        if granted == 0 {
            return Ok(ChainEnd::Throttled);
        }
        let request = SyncRequest::Range {
            actor,
            from: next,
            limit: u64::from(granted),
        };
        let raw = match exchange(client, peer, request, report).await? {
            SyncResponse::Entries(e) => e,
            other => return Err(SyncError::unexpected(peer, "entries", &other)),
        };
        if raw.is_empty() {
            return Ok(ChainEnd::Done);
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
        ingest_served(client, ledger, peer, raw, entries, report).await?;
        // Entries that could not be stored (pending, rejected) stop this chain's round.
        if next_seq(ledger, actor).await? <= next {
            tracing::debug!(%peer, actor = %actor, "sync made no progress on this chain");
            return Ok(ChainEnd::Stalled);
        }
    }
}

/// What a range from a peer holds.
struct Served {
    /// Its entries verified (in signature batches), or the first bad signature.
    verified: Result<Vec<VerifiedEntry>, String>,
    /// The first entry that breaks a static rule or membership
    /// ([`Ledger::precheck`]): one report per response counts the peer.
    refused: Option<String>,
}

/// Judges a range from a peer by what every node checks.
fn judge_served(ledger: &Ledger, entries: Vec<SignedEntry>) -> Result<Served, LedgerError> {
    let mut refused = None;
    for e in &entries {
        if let Precheck::Refused(reason) = ledger.precheck(&e.body)? {
            refused = Some(format!("{} seq {}: {reason}", e.body.actor, e.body.seq));
            break;
        }
    }
    let verified = SignedEntry::verify_batch(entries).map_err(|(_, e)| e.to_string());
    Ok(Served { verified, refused })
}

/// Every chain head this node holds.
pub fn serve_heads(ledger: &Ledger) -> SyncResponse {
    match ledger.heads() {
        Ok(heads) => SyncResponse::Heads(heads.into_iter().map(|(a, s, _)| (a, s)).collect()),
        Err(e) => SyncResponse::Error(e.to_string()),
    }
}

/// Each of `ranges` (`(actor, from, limit)`) as [`serve_range`] serves one,
/// at most [`SYNC_RANGES_ENTRIES_MAX`] entries in all (the chains past it
/// get none); more than [`SYNC_RANGES_CHAINS_MAX`] chains are refused.
pub fn serve_ranges(ledger: &Ledger, ranges: &[(NodeId, u64, u64)]) -> SyncResponse {
    if ranges.len() > SYNC_RANGES_CHAINS_MAX {
        return SyncResponse::Error(format!(
            "{} chains asked at once, over the limit of {SYNC_RANGES_CHAINS_MAX}",
            ranges.len()
        ));
    }
    let mut left = SYNC_RANGES_ENTRIES_MAX;
    let mut out = Vec::with_capacity(ranges.len());
    for (actor, from, limit) in ranges {
        let entries = match serve_range(ledger, actor, *from, (*limit).min(left)) {
            SyncResponse::Entries(e) => e,
            other => return other,
        };
        left = left.saturating_sub(entries.len() as u64);
        out.push(entries);
    }
    SyncResponse::Ranges(out)
}

/// At most [`SYNC_BATCH_ENTRIES_MAX`] entries of `actor` from `from`.
pub fn serve_range(ledger: &Ledger, actor: &NodeId, from: u64, limit: u64) -> SyncResponse {
    let to = from.saturating_add(limit.min(SYNC_BATCH_ENTRIES_MAX));
    match ledger.range(actor, from, to).collect::<Result<Vec<_>, _>>() {
        Ok(entries) => {
            let mut entries: Vec<SignedEntry> = entries.into_iter().map(|(e, _)| e).collect();
            // A read checks an entry's hash, not its signature: a signature
            // changed on disk is caught here (one batch check, about 8 ms
            // for a full range) so nothing invalid leaves the node; the
            // range ends before it.
            if let Err((bad, error)) = SignedEntry::verify_batch(entries.clone()) {
                tracing::error!(
                    actor = %actor,
                    seq = entries[bad].body.seq,
                    %error,
                    "a stored entry does not verify: not served; stop the node and run `ippoc ledger repair`"
                );
                entries.truncate(bad);
            }
            SyncResponse::Entries(entries.iter().map(SignedEntry::to_bytes).collect())
        }
        Err(e) => SyncResponse::Error(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;
    use ippoc_economy::genesis::Genesis;
    use ippoc_economy::store::{Draft, Intent, LedgerOptions};
    use ippoc_economy::{Amount, Currency};

    /// A ledger of a one-member swarm under `dir`, its member's key and id.
    fn solo_ledger(dir: &std::path::Path) -> (Ledger, SigningKey, NodeId) {
        let key = SigningKey::from_bytes(&[7; 32]);
        let me = NodeId::from_bytes(key.verifying_key().to_bytes());
        let ledger = Ledger::open(&dir.join("l"), Genesis::solo(me, 1), me, LedgerOptions::default()).unwrap();
        (ledger, key, me)
    }

    /// Appends `n` payments of one unit by the owner, timestamped 1..=n.
    fn pay_out(ledger: &Ledger, key: &SigningKey, n: u64) {
        let drafts = (0..n)
            .map(|k| {
                let pay = Intent::Transfer {
                    to: NodeId::from_bytes([9; 32]),
                    currency: Currency::Ippc,
                    amount: Amount::from_base(1),
                };
                Draft::new(pay, k + 1)
            })
            .collect();
        ledger.append_batch(key, drafts).unwrap();
    }

    #[test]
    fn a_served_range_is_judged_forged_refused_or_fine_by_what_every_node_checks() {
        let dir = tempfile::tempdir().unwrap();
        let (ledger, key, _) = solo_ledger(dir.path());
        let pay = |key: &SigningKey| {
            let actor = NodeId::from_bytes(key.verifying_key().to_bytes());
            let leg = |to, amount| ippoc_economy::Transfer {
                from: ippoc_economy::AccountId::Wallet(actor),
                to,
                currency: Currency::Ippc,
                amount: Amount::from_base(amount),
            };
            ippoc_economy::entry::EntryBody {
                version: ippoc_economy::entry::ENTRY_VERSION,
                swarm_id: ledger.swarm_id(),
                actor,
                seq: 0,
                prev: ippoc_economy::TxId::ZERO,
                timestamp_ms: 1,
                params: 0,
                action: ippoc_economy::Action::Transfer,
                transfers: vec![
                    leg(ippoc_economy::AccountId::Wallet(NodeId::from_bytes([9; 32])), 1_000_000),
                    leg(ippoc_economy::AccountId::PublicGoodsPool, 1_000),
                ],
                deps: vec![],
                outcome: ippoc_economy::Outcome::Success,
                proof: None,
                memo: vec![],
            }
            .sign(key)
        };
        let served = judge_served(&ledger, vec![pay(&key)]).unwrap();
        assert_eq!(served.verified.unwrap().len(), 1);
        assert!(served.refused.is_none());
        // A non-member's chain: counted against the peer that served it.
        let outsider = SigningKey::from_bytes(&[8; 32]);
        let served = judge_served(&ledger, vec![pay(&outsider)]).unwrap();
        assert!(served.verified.is_ok());
        let refused = served.refused.unwrap();
        assert!(refused.contains("not a member"), "{refused}");
        // A bad signature: the peer is banned.
        let mut forged = pay(&key);
        forged.signature[0] ^= 1;
        assert!(judge_served(&ledger, vec![forged]).unwrap().verified.is_err());
    }

    #[test]
    fn a_range_ends_before_an_entry_whose_stored_signature_changed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger");
        let key = SigningKey::from_bytes(&[7; 32]);
        let me = NodeId::from_bytes(key.verifying_key().to_bytes());
        let genesis = Genesis::solo(me, 1);
        let open = || Ledger::open(&path, genesis.clone(), me, LedgerOptions::default()).unwrap();
        let ledger = open();
        for _ in 0..4 {
            let pay = Intent::Transfer {
                to: NodeId::from_bytes([9; 32]),
                currency: Currency::Ippc,
                amount: Amount::from_base(1_000),
            };
            ledger.append(&key, Draft::new(pay, 1)).unwrap();
        }
        drop(ledger);
        {
            // sled's background writer lets go of the file lock a moment
            // after the last handle: wait on the lock itself.
            use fs2::FileExt;
            let lock = std::fs::File::open(path.join("db")).unwrap();
            lock.lock_exclusive().unwrap();
            FileExt::unlock(&lock).unwrap();
            // The last byte of seq 2's record is its signature's.
            let db = sled::open(&path).unwrap();
            let tree = db.open_tree("ledger").unwrap();
            let mut k = vec![b'E'];
            k.extend_from_slice(me.as_bytes());
            k.extend_from_slice(&2u64.to_be_bytes());
            let mut v = tree.get(&k).unwrap().unwrap().to_vec();
            *v.last_mut().unwrap() ^= 1;
            tree.insert(k, v).unwrap();
            db.flush().unwrap();
        }
        let ledger = open();
        match serve_range(&ledger, &me, 0, 10) {
            SyncResponse::Entries(served) => {
                assert_eq!(served.len(), 2, "seq 0 and 1 only: nothing invalid leaves the node");
                for bytes in served {
                    SignedEntry::from_bytes(&bytes).unwrap().verify().unwrap();
                }
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn batched_ranges_serve_each_chain_in_order_within_one_bound_and_refuse_too_many_chains() {
        let dir = tempfile::tempdir().unwrap();
        let (ledger, key, me) = solo_ledger(dir.path());
        // More entries than one response may carry over all its chains.
        let made = SYNC_RANGES_ENTRIES_MAX + 100;
        pay_out(&ledger, &key, made);
        let seqs = |range: &[Vec<u8>]| -> Vec<u64> {
            range
                .iter()
                .map(|b| SignedEntry::from_bytes(b).unwrap().body.seq)
                .collect()
        };
        // Each chain as asked, in the request's order; a chain not held is empty.
        let stranger = NodeId::from_bytes([9; 32]);
        match serve_ranges(&ledger, &[(me, 5, 3), (stranger, 0, 10), (me, 0, 2)]) {
            SyncResponse::Ranges(r) => {
                assert_eq!(r.len(), 3);
                assert_eq!(seqs(&r[0]), [5, 6, 7]);
                assert!(r[1].is_empty());
                assert_eq!(seqs(&r[2]), [0, 1]);
            }
            other => panic!("{other:?}"),
        }
        // At the bound: the chains past it get nothing, the asker asks again.
        let many: Vec<(NodeId, u64, u64)> = (0..8).map(|k| (me, k * 200, 256)).collect();
        match serve_ranges(&ledger, &many) {
            SyncResponse::Ranges(r) => {
                let sizes: Vec<usize> = r.iter().map(Vec::len).collect();
                assert_eq!(sizes.iter().sum::<usize>() as u64, SYNC_RANGES_ENTRIES_MAX);
                assert_eq!(sizes[..4], [SYNC_BATCH_ENTRIES_MAX as usize; 4]);
                assert!(sizes[4..].iter().all(|n| *n == 0), "{sizes:?}");
            }
            other => panic!("{other:?}"),
        }
        // More chains than allowed in one request: refused whole.
        let too_many = vec![(me, 0, 1); SYNC_RANGES_CHAINS_MAX + 1];
        match serve_ranges(&ledger, &too_many) {
            SyncResponse::Error(e) => assert!(e.contains("over the limit"), "{e}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_batched_answer_with_more_than_asked_or_another_chain_or_a_gap_is_refused_whole() {
        let dir = tempfile::tempdir().unwrap();
        let (ledger, key, me) = solo_ledger(dir.path());
        pay_out(&ledger, &key, 4);
        let served = |from, limit| match serve_range(&ledger, &me, from, limit) {
            SyncResponse::Entries(e) => e,
            other => panic!("{other:?}"),
        };
        // What was asked: accepted, in order.
        let (raw, decoded) = check_ranges(&[(me, 1, 2)], vec![served(1, 2)]).unwrap();
        assert_eq!(raw.len(), 2);
        assert_eq!(decoded.iter().map(|e| e.body.seq).collect::<Vec<_>>(), [1, 2]);
        // More than the limit.
        let e = check_ranges(&[(me, 0, 2)], vec![served(0, 3)]).unwrap_err();
        assert!(e.contains("2 entries"), "{e}");
        // Entries of another chain than asked for.
        let other = NodeId::from_bytes([9; 32]);
        let e = check_ranges(&[(other, 0, 4)], vec![served(0, 2)]).unwrap_err();
        assert!(e.contains("served"), "{e}");
        // A gap: seq 2 where seq 1 was due.
        let mut gap = served(0, 1);
        gap.extend(served(2, 1));
        assert!(check_ranges(&[(me, 0, 4)], vec![gap]).is_err());
        // Bytes that are no entry.
        assert!(check_ranges(&[(me, 0, 4)], vec![vec![vec![1, 2, 3]]]).is_err());
    }
}
