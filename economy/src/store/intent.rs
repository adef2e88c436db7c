//! What the owner asks its ledger to record, before seq, prev, deps and the
//! signature are known. The ledger turns an [`Intent`] into an entry under its
//! write lock, so amounts that depend on state (a bounty's escrow) are read
//! in the same atomic step that spends them.

use crate::amount::{Amount, Balance, Currency};
use crate::entry::{Action, Outcome, Proof, Transfer};
use crate::ids::{AccountId, EscrowId, NodeId};
use crate::params::Parameters;

use super::LedgerError;

/// A metered computation to pay for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charge {
    /// LLM inference over this many tokens.
    Inference {
        /// Tokens.
        tokens: u64,
    },
    /// Sandbox run that used this much fuel.
    Sandbox {
        /// Fuel.
        fuel: u64,
    },
    /// One evolution simulation.
    EvolutionSim,
}

impl Charge {
    /// What it costs under `params`; `None` on overflow.
    pub fn cost(&self, params: &Parameters) -> Option<Amount> {
        match self {
            Charge::Inference { tokens } => params.inference_cost(*tokens),
            Charge::Sandbox { fuel } => params.sandbox_cost(*fuel),
            Charge::EvolutionSim => Some(params.evolution_sim_cost),
        }
    }

    fn action(&self) -> Action {
        match self {
            Charge::Inference { tokens } => Action::LlmInference { tokens: *tokens },
            Charge::Sandbox { fuel } => Action::SandboxExec { fuel: *fuel },
            Charge::EvolutionSim => Action::EvolutionSim,
        }
    }
}

/// What to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    /// Pay `amount` to `to`'s wallet; the fee is added.
    Transfer {
        /// Recipient.
        to: NodeId,
        /// Currency.
        currency: Currency,
        /// Amount the recipient gets.
        amount: Amount,
    },
    /// Pay for a computation. `bounty` names the paid work it serves, which
    /// Worker Mode allows.
    Charge {
        /// The computation.
        charge: Charge,
        /// Bounty served, if any.
        bounty: Option<EscrowId>,
    },
    /// Escrow `reward` IPPC for a task.
    PostBounty {
        /// Reward.
        reward: Amount,
        /// Task hash.
        task: [u8; 32],
        /// When the poster may take it back.
        expires_at_ms: u64,
    },
    /// Release a bounty's whole escrow to its worker.
    PayBounty {
        /// Escrow.
        escrow: EscrowId,
        /// Worker.
        worker: NodeId,
    },
    /// Take an expired bounty's escrow back.
    RefundBounty {
        /// Escrow.
        escrow: EscrowId,
    },
    /// Any action with explicit transfers and proof (mints, grants, DAO fees).
    Raw {
        /// Action.
        action: Action,
        /// Transfers.
        transfers: Vec<Transfer>,
        /// Proof.
        proof: Option<Proof>,
    },
}

/// An intent with its outcome, memo and time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    /// What to record.
    pub intent: Intent,
    /// Outcome of the action.
    pub outcome: Outcome,
    /// Free bytes.
    pub memo: Vec<u8>,
    /// Unix ms.
    pub timestamp_ms: u64,
}

impl Draft {
    /// A successful `intent` at `timestamp_ms`, no memo.
    pub fn new(intent: Intent, timestamp_ms: u64) -> Draft {
        Draft {
            intent,
            outcome: Outcome::Success,
            memo: Vec::new(),
            timestamp_ms,
        }
    }

    /// True for spending that Worker Mode forbids: charges that serve no bounty.
    pub fn needs_solvency(&self) -> bool {
        matches!(self.intent, Intent::Charge { bounty: None, .. })
    }

    /// True for a checkpoint vote: it spends nothing, so it claims no
    /// credits. Its deps would tie every vote to the creditors' newest
    /// entries, and a node missing any of them would hold the vote, and
    /// the rest of that chain, pending; the next entry that spends claims.
    pub fn claims_nothing(&self) -> bool {
        matches!(
            self.intent,
            Intent::Raw {
                action: crate::Action::Checkpoint { .. },
                ..
            }
        )
    }
}

impl Intent {
    /// Action, transfers and proof for the entry at `seq` of `actor`.
    pub(super) fn resolve(
        self,
        params: &Parameters,
        actor: NodeId,
        seq: u64,
        escrow_balance: impl Fn(&AccountId) -> Result<Balance, LedgerError>,
    ) -> Result<(Action, Vec<Transfer>, Option<Proof>), LedgerError> {
        let wallet = AccountId::Wallet(actor);
        let overflow = || LedgerError::Denied("amount overflows".into());
        Ok(match self {
            Intent::Transfer { to, currency, amount } => {
                let fee = params.transfer_fee(amount).ok_or_else(overflow)?;
                let transfers = vec![
                    Transfer {
                        from: wallet,
                        to: AccountId::Wallet(to),
                        currency,
                        amount,
                    },
                    Transfer {
                        from: wallet,
                        to: AccountId::PublicGoodsPool,
                        currency,
                        amount: fee,
                    },
                ];
                (Action::Transfer, transfers, None)
            }
            Intent::Charge { charge, bounty } => {
                let cost = charge.cost(params).ok_or_else(overflow)?;
                let t = Transfer {
                    from: wallet,
                    to: AccountId::MetabolismSink,
                    currency: Currency::Ippc,
                    amount: cost,
                };
                (charge.action(), vec![t], bounty.map(Proof::Work))
            }
            Intent::PostBounty {
                reward,
                task,
                expires_at_ms,
            } => {
                let t = Transfer {
                    from: wallet,
                    to: AccountId::Escrow(EscrowId { poster: actor, seq }),
                    currency: Currency::Ippc,
                    amount: reward,
                };
                (Action::BountyPost { task, expires_at_ms }, vec![t], None)
            }
            Intent::PayBounty { escrow, worker } => {
                let held = escrow_amount(&escrow_balance, &escrow)?;
                let t = Transfer {
                    from: AccountId::Escrow(escrow),
                    to: AccountId::Wallet(worker),
                    currency: Currency::Ippc,
                    amount: held,
                };
                (Action::BountyPayout { escrow, worker }, vec![t], None)
            }
            Intent::RefundBounty { escrow } => {
                let held = escrow_amount(&escrow_balance, &escrow)?;
                let t = Transfer {
                    from: AccountId::Escrow(escrow),
                    to: wallet,
                    currency: Currency::Ippc,
                    amount: held,
                };
                (Action::BountyRefund { escrow }, vec![t], None)
            }
            Intent::Raw {
                action,
                transfers,
                proof,
            } => (action, transfers, proof),
        })
    }
}

fn escrow_amount(
    escrow_balance: &impl Fn(&AccountId) -> Result<Balance, LedgerError>,
    escrow: &EscrowId,
) -> Result<Amount, LedgerError> {
    let held = escrow_balance(&AccountId::Escrow(*escrow))?;
    u64::try_from(held.0)
        .ok()
        .filter(|v| *v > 0)
        .map(Amount::from_base)
        .ok_or_else(|| LedgerError::Denied(format!("escrow {}:{} holds nothing", escrow.poster.short(), escrow.seq)))
}
