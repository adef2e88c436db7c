//! The owner's side of the mint ceremony (docs/issuance.md): when a closed
//! cycle opens the mint and this node's reserve has sealed tranches not yet
//! minted, it asks that cycle's sentinels for their signatures over the
//! request-response protocol (each signs only what its own records let
//! through), and with a quorum appends the mint to its own chain, where
//! every peer judges it again against the same gate.

use ippoc_economy::NodeId;
use ippoc_economy::entry::SentinelSignature;
use ippoc_economy::store::{Ledger, LedgerError, mint_draft};

use super::ctx::Ctx;
use crate::protocol::{SyncRequest, SyncResponse, ask};

/// Tranches one closed cycle mints at most: a node with a backlog works it
/// down a few a cycle instead of one long ceremony.
pub const MINTS_PER_CYCLE_MAX: usize = 2;

/// What the owner can mint citing a cycle: its open tranches sealed by
/// then, the cycle's sentinels and quorum.
struct Plan {
    tranches: Vec<u64>,
    sentinels: Vec<NodeId>,
    quorum: u32,
}

fn plan(l: &Ledger, cycle: u64) -> Result<Option<Plan>, LedgerError> {
    let Some(record) = l.issuance_kept(cycle)? else {
        return Ok(None);
    };
    if !record.mint_open {
        return Ok(None);
    }
    let tranches: Vec<u64> = l
        .tranches_of(&l.owner())?
        .into_iter()
        .filter(|t| t.minted.is_none() && t.sealed_at.is_some_and(|s| s <= cycle))
        .map(|t| t.seq)
        .take(MINTS_PER_CYCLE_MAX)
        .collect();
    if tranches.is_empty() {
        return Ok(None);
    }
    Ok(Some(Plan {
        tranches,
        sentinels: record.sentinels,
        quorum: record.quorum,
    }))
}

/// After `closed` closed: mints what the cycle before it opens, in a task
/// beside the pump. The cycle before, because every sentinel that has closed
/// `closed` has closed it too (closes go in order), while `closed` itself
/// closes at every node at about this same tick: asked for it now, many
/// would answer that they have not closed it yet. A mint citing the cycle
/// before is still inside its window (two closes).
pub(super) fn after_close(ctx: &Ctx, closed: u64) {
    let Some(cycle) = closed.checked_sub(1) else {
        return;
    };
    let (client, chain, owner) = (ctx.client.clone(), ctx.chain.clone(), ctx.owner);
    let ledger = ctx.ledger.clone();
    ctx.spawn(async move {
        let planned = tokio::task::spawn_blocking(move || plan(&ledger, cycle)).await;
        let plan = match planned {
            Ok(Ok(Some(p))) => p,
            Ok(Ok(None)) => return,
            Ok(Err(e)) => return tracing::warn!(cycle, "cannot plan the mint: {e}"),
            Err(e) => return tracing::error!(cycle, "mint plan task: {e}"),
        };
        for tranche in plan.tranches {
            let mut signatures: Vec<SentinelSignature> = Vec::new();
            let mut refusals = Vec::new();
            for sentinel in &plan.sentinels {
                if signatures.len() as u64 >= u64::from(plan.quorum) {
                    break;
                }
                let now = crate::ledger::now_ms();
                let answer = if *sentinel == owner {
                    chain
                        .authorize_mint(&owner, tranche, cycle, now)
                        .map_err(|e| e.to_string())
                } else {
                    let Some(peer) = ippoc_mesh::peer_id_of_ed25519(sentinel.as_bytes()) else {
                        continue;
                    };
                    let request = SyncRequest::MintSignature { owner, tranche, cycle };
                    match ask(&client, peer, &request).await {
                        Ok((SyncResponse::MintSignature(r), _)) => r,
                        Ok((other, _)) => Err(format!("answered {other:?}")),
                        Err(e) => Err(e.to_string()),
                    }
                };
                match answer {
                    // The ledger checks each signature again when it appends.
                    Ok(sig) if sig.sentinel == *sentinel => signatures.push(sig),
                    Ok(sig) => refusals.push(format!("{} answered for {}", sentinel.short(), sig.sentinel.short())),
                    Err(why) => refusals.push(format!("{}: {why}", sentinel.short())),
                }
            }
            if (signatures.len() as u64) < u64::from(plan.quorum) {
                tracing::info!(
                    event = "mint_quorum_missed", cycle, tranche, signatures = signatures.len(), quorum = plan.quorum,
                    refusals = ?refusals, "not enough sentinels signed the mint; the next cycle tries again"
                );
                return;
            }
            let draft = mint_draft(
                &chain.ledger().swarm_id(),
                &owner,
                tranche,
                cycle,
                signatures,
                crate::ledger::now_ms(),
            );
            let c = chain.clone();
            match tokio::task::spawn_blocking(move || c.append(draft)).await {
                Ok(Ok(entry)) => tracing::info!(
                    event = "minted", cycle, tranche, seq = entry.body().seq,
                    amount = %ippoc_economy::issuance::tranche_amount(), "a sealed tranche of the reserve was minted"
                ),
                Ok(Err(e)) => tracing::warn!(event = "mint_refused", cycle, tranche, "the mint was refused: {e}"),
                Err(e) => tracing::error!(cycle, "mint append task: {e}"),
            }
        }
    });
}
