//! The bounty market on gossip (`crate::bounty` has the protocol): the
//! node's own open offers go out when posted and again every attestation
//! interval; a worker takes one offer at a time and gossips its result; a
//! poster pays the first result that a local re-run confirms.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ippoc_economy::store::{Draft, Intent, Mode};
use ippoc_economy::{Claim, EscrowId, NodeId};
use ippoc_mesh::Topic;
use ippoc_sandbox::Sandbox;

use super::ctx::Ctx;
use crate::bounded::FifoSet;
use crate::bounty::{self, SharedBoard, Task};
use crate::ledger::{ledger_error, now_ms};

/// How long a worker waits for one bounty's payout before it takes another.
const BOUNTY_WAIT: Duration = Duration::from_secs(60);

/// Bounties remembered as attempted, at most; past it the oldest is
/// forgotten (and could be worked again, if still open).
pub(crate) const ATTEMPTED_MAX: usize = 4096;

/// The bounty handler.
pub(crate) struct Bounties {
    /// Runs work and checks results (none: this node does neither).
    sandbox: Option<Arc<Sandbox>>,
    /// The node's own open offers.
    board: SharedBoard,
    /// Take bounties even when solvent.
    work_bounties: bool,
    /// Bounties this node has worked on, each at most once; at most
    /// [`ATTEMPTED_MAX`], oldest forgotten.
    attempted: FifoSet<EscrowId>,
    /// Own offers gossiped at least once: a subset of the board, pruned to it
    /// at every full republication, so never larger than the board.
    offered: FifoSet<EscrowId>,
    /// The bounty whose payout this node awaits, if any, and since when.
    working: Option<(EscrowId, Instant)>,
}

impl Bounties {
    /// The handler over the node's board.
    pub fn new(sandbox: Option<Arc<Sandbox>>, board: SharedBoard, work_bounties: bool) -> Bounties {
        Bounties {
            sandbox,
            board,
            work_bounties,
            attempted: FifoSet::new(ATTEMPTED_MAX),
            offered: FifoSet::new(bounty::OPEN_OFFERS_MAX),
            working: None,
        }
    }

    /// Gossips this node's open bounty offers (`all`, or only those not
    /// gossiped yet); forgets closed ones.
    pub async fn publish_offers(&mut self, ctx: &Ctx, all: bool) {
        let offers: Vec<(EscrowId, Task)> = {
            let board = self.board.lock().unwrap_or_else(|p| p.into_inner());
            if all {
                self.offered.retain(|e| board.contains_key(e));
            }
            board
                .iter()
                .filter(|(escrow, _)| all || !self.offered.contains(escrow))
                .map(|(escrow, task)| (*escrow, task.clone()))
                .collect()
        };
        for (escrow, task) in offers {
            self.offered.insert(escrow);
            match ctx.blocking(move |l| bounty::open_bounty(l, &escrow)).await {
                Some(Ok(Some(_))) => {
                    let claim = Claim::BountyOffer {
                        escrow,
                        module: task.module,
                        input: task.input,
                    };
                    ctx.publish(Topic::Bounties, claim).await;
                }
                Some(Ok(None)) => {
                    self.board.lock().unwrap_or_else(|p| p.into_inner()).remove(&escrow);
                    self.offered.remove(&escrow);
                }
                _ => {}
            }
        }
    }

    /// A bounty offer heard: work on it if this node takes bounties and the
    /// offer matches the poster's entry.
    pub async fn offer_heard(&mut self, ctx: &Ctx, escrow: EscrowId, task: Task) {
        if escrow.poster == ctx.owner || self.attempted.contains(&escrow) {
            return;
        }
        let Some(sandbox) = self.sandbox.clone() else {
            return;
        };
        let hash = ippoc_economy::attestation::task_hash(&task.module, &task.input);
        // A poster that never pays (gone, partitioned) holds a worker only so long.
        let current = self
            .working
            .filter(|(_, at)| at.elapsed() < BOUNTY_WAIT)
            .map(|(e, _)| e);
        let ready = ctx
            .blocking(move |l| -> Result<(bool, bool, bool), crate::Error> {
                let worker = l.mode().map_err(ledger_error)? == Mode::Worker;
                let open = bounty::open_bounty(l, &escrow)?;
                let busy = match current {
                    Some(c) => bounty::open_bounty(l, &c)?.is_some(),
                    None => false,
                };
                Ok((worker, open.is_some_and(|b| b.task == hash), busy))
            })
            .await;
        let Some(Ok((worker_mode, open, busy))) = ready else {
            return;
        };
        // The offer must match the poster's entry; a solvent node works only if
        // configured to; and one bounty at a time, so that one fast worker does
        // not take every bounty on the board while others starve.
        if !open || !(worker_mode || self.work_bounties) || busy {
            return;
        }
        self.attempted.insert(escrow);
        self.working = Some((escrow, Instant::now()));
        tracing::info!(event = "bounty_taken", poster = %escrow.poster, seq = escrow.seq, "working on a bounty");
        let (chain, client, view, tasks) = (
            ctx.chain.clone(),
            ctx.client.clone(),
            ctx.view.clone(),
            ctx.tasks.clone(),
        );
        ctx.spawn(async move {
            // The run's charge is an entry of the own chain: appending it wakes the pump.
            let c = chain.clone();
            let done = tasks
                .spawn_blocking(move || bounty::work(&sandbox, &c, escrow, &task))
                .await;
            match done {
                Ok(Ok(output_hash)) => {
                    let a = chain.attest(Claim::BountyResult { escrow, output_hash });
                    match client.publish(Topic::Bounties, a.to_bytes()).await {
                        Ok(()) => view.update(|v| v.stats.bounties_worked += 1),
                        Err(e) => tracing::warn!("bounty result not published: {e}"),
                    }
                }
                Ok(Err(e)) => tracing::warn!(event = "bounty_failed", "bounty task failed: {e}"),
                Err(e) => tracing::error!("bounty task panicked: {e}"),
            }
        });
    }

    /// A result for one of this node's bounties: pay the worker if a local
    /// run gives the same output.
    pub async fn result_heard(&mut self, ctx: &Ctx, escrow: EscrowId, output_hash: [u8; 32], worker: NodeId) {
        if escrow.poster != ctx.owner {
            return;
        }
        let task = self
            .board
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&escrow)
            .cloned();
        let (Some(task), Some(sandbox)) = (task, self.sandbox.clone()) else {
            return;
        };
        let expected = ctx
            .tasks
            .spawn_blocking(move || bounty::expected(&sandbox, &task))
            .await;
        if !matches!(&expected, Ok(Ok(h)) if *h == output_hash) {
            tracing::warn!(event = "bounty_result_wrong", worker = %worker, seq = escrow.seq, "a bounty result did not check out: not paid");
            return;
        }
        let chain = ctx.chain.clone();
        let paid = ctx
            .tasks
            .spawn_blocking(move || chain.append(Draft::new(Intent::PayBounty { escrow, worker }, now_ms())))
            .await;
        match paid {
            Ok(Ok(_)) => {
                self.board.lock().unwrap_or_else(|p| p.into_inner()).remove(&escrow);
                self.offered.remove(&escrow);
                tracing::info!(event = "bounty_paid", worker = %worker, seq = escrow.seq, "bounty paid");
                ctx.view.update(|v| v.stats.bounties_paid += 1);
            }
            Ok(Err(e)) => tracing::info!(worker = %worker, "bounty not paid: {e}"),
            Err(_) => {}
        }
    }
}
