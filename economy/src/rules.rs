//! Validation rules that depend only on the entry itself and the swarm's
//! fixed facts (genesis, parameters, proof verifiers): format bounds,
//! authorization, proofs and the shape each action must have.
//!
//! An entry that fails these is rejected everywhere and never stored. Rules
//! that depend on balances (no overdraft, escrow state) live in the store,
//! judged against the history the entry declares.

use std::collections::BTreeSet;

use crate::amount::Currency;
use crate::encoding;
use crate::entry::{
    Action, CERTIFICATE_SIGNATURES_MAX, DEPS_MAX, EntryBody, ExecutedProposal, MEMO_BYTES_MAX, MintCertificate, Proof,
    TRANSFERS_MAX, Transfer,
};
use crate::genesis::Sentinels;
use crate::ids::{AccountId, EscrowId, NodeId, SwarmId, TxId};
use crate::params::Parameters;
use crate::signature::{self, KeyCache};

/// Domain separator of sentinel mint signatures.
pub const MINT_DOMAIN: &[u8] = b"ippoc-mint-v1\0";

/// Checks that a DAO proposal was executed on the L2 and covers these transfers.
pub trait ProposalVerifier: Send + Sync {
    /// `Ok` if `proposal` authorizes `transfers`.
    fn verify(&self, proposal: &ExecutedProposal, transfers: &[Transfer]) -> Result<(), String>;
}

/// The verifier of a node with no chain backend: it can verify nothing, so
/// treasury and pool stay frozen until governance is connected.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoGovernance;

impl ProposalVerifier for NoGovernance {
    fn verify(&self, _: &ExecutedProposal, _: &[Transfer]) -> Result<(), String> {
        Err("no governance backend is configured, so executed proposals cannot be verified".into())
    }
}

/// Why an entry breaks a static rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// Belongs to another swarm.
    #[error("entry of swarm {found}, this node is in swarm {expected}")]
    WrongSwarm {
        /// This node's swarm.
        expected: SwarmId,
        /// The entry's.
        found: SwarmId,
    },
    /// `prev` inconsistent with `seq`.
    #[error("seq {seq} with prev {prev}: seq 0 must have the zero prev, later entries a non-zero one")]
    BadPrev {
        /// Seq.
        seq: u64,
        /// Prev.
        prev: TxId,
    },
    /// The entry names an older parameter table than its predecessor.
    #[error("priced under parameter table {found}, but the chain already uses table {before}")]
    ParamsDecreased {
        /// The predecessor's version.
        before: u32,
        /// This entry's.
        found: u32,
    },
    /// A size bound was exceeded.
    #[error("{what}: {found} exceeds the limit of {max}")]
    TooLarge {
        /// Which bound.
        what: &'static str,
        /// Actual.
        found: usize,
        /// Limit.
        max: usize,
    },
    /// Deps must name distinct other chains in ascending order.
    #[error("deps must name distinct chains other than the actor's, in ascending order")]
    BadDeps,
    /// A transfer moves nothing or moves to itself.
    #[error("transfer {index} is empty or circular")]
    DegenerateTransfer {
        /// Index in the entry.
        index: usize,
    },
    /// The actor debits an account it does not control.
    #[error("{account} is not the actor's to debit")]
    Unauthorized {
        /// The account.
        account: AccountId,
    },
    /// A system account is debited without the proof its rule asks for.
    #[error("debiting {account} needs {needed}")]
    MissingProof {
        /// The account.
        account: AccountId,
        /// What proof.
        needed: &'static str,
    },
    /// The proof does not hold.
    #[error("invalid proof: {0}")]
    InvalidProof(String),
    /// A proof is attached that no transfer needs.
    #[error("a proof is attached but no transfer debits a system account")]
    UnneededProof,
    /// The first entry of a chain whose actor is no founder and declares no
    /// member's payment to it.
    #[error(
        "{actor} is not a member of this swarm: a chain starts only for a founder, or with a dep on a member's entry that paid it"
    )]
    NotAMember {
        /// The actor.
        actor: NodeId,
    },
    /// A claim of bounty work that cannot hold whatever the ledger holds.
    #[error("bounty work for escrow:{poster}:{seq}: {reason}")]
    BadWorkClaim {
        /// The escrow's poster.
        poster: NodeId,
        /// The posting entry's seq.
        seq: u64,
        /// What is wrong.
        reason: &'static str,
    },
    /// The transfers do not have the shape the action requires.
    #[error("{action} entry: {reason}")]
    Shape {
        /// Action name.
        action: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// The swarm's fixed facts that static rules consult.
pub struct RuleContext<'a> {
    /// This swarm.
    pub swarm_id: SwarmId,
    /// The parameter table the entry names.
    pub params: &'a Parameters,
    /// Mint certifiers.
    pub sentinels: &'a Sentinels,
    /// Checks executed proposals.
    pub proposals: &'a dyn ProposalVerifier,
}

fn action_name(a: &Action) -> &'static str {
    match a {
        Action::Transfer => "transfer",
        Action::LlmInference { .. } => "llm_inference",
        Action::SandboxExec { .. } => "sandbox_exec",
        Action::EvolutionSim => "evolution_sim",
        Action::BountyPost { .. } => "bounty_post",
        Action::BountyPayout { .. } => "bounty_payout",
        Action::BountyRefund { .. } => "bounty_refund",
        Action::DaoFee => "dao_fee",
        Action::Mint { .. } => "mint",
        Action::Grant => "grant",
        Action::Checkpoint { .. } => "checkpoint",
    }
}

/// Checks every static rule.
pub fn check_static(ctx: &RuleContext<'_>, body: &EntryBody, keys: &mut KeyCache) -> Result<(), RuleError> {
    if body.swarm_id != ctx.swarm_id {
        return Err(RuleError::WrongSwarm {
            expected: ctx.swarm_id,
            found: body.swarm_id,
        });
    }
    if (body.seq == 0) != (body.prev == TxId::ZERO) {
        return Err(RuleError::BadPrev {
            seq: body.seq,
            prev: body.prev,
        });
    }
    for (what, found, max) in [
        ("memo bytes", body.memo.len(), MEMO_BYTES_MAX),
        ("transfers", body.transfers.len(), TRANSFERS_MAX),
        ("deps", body.deps.len(), DEPS_MAX),
    ] {
        if found > max {
            return Err(RuleError::TooLarge { what, found, max });
        }
    }
    let dep_actors: Vec<_> = body.deps.iter().map(|d| d.actor).collect();
    if dep_actors.windows(2).any(|w| w[0] >= w[1]) || dep_actors.contains(&body.actor) {
        return Err(RuleError::BadDeps);
    }
    let mut needs_mint_proof = false;
    let mut needs_proposal = false;
    for (index, t) in body.transfers.iter().enumerate() {
        if t.amount.is_zero() || t.from == t.to {
            return Err(RuleError::DegenerateTransfer { index });
        }
        match t.from.controller() {
            Some(c) if c == body.actor => {}
            Some(_) => return Err(RuleError::Unauthorized { account: t.from }),
            None => match t.from {
                AccountId::Mint | AccountId::Reserve(_) => needs_mint_proof = true,
                AccountId::Treasury | AccountId::PublicGoodsPool => needs_proposal = true,
                _ => return Err(RuleError::Unauthorized { account: t.from }),
            },
        }
    }
    check_proof(ctx, body, needs_mint_proof, needs_proposal, keys)?;
    check_shape(ctx, body)
}

fn check_proof(
    ctx: &RuleContext<'_>,
    body: &EntryBody,
    needs_mint_proof: bool,
    needs_proposal: bool,
    keys: &mut KeyCache,
) -> Result<(), RuleError> {
    let first_system = |pred: fn(&AccountId) -> bool| {
        body.transfers
            .iter()
            .map(|t| t.from)
            .find(pred)
            .expect("a transfer needed this proof")
    };
    match (&body.proof, needs_mint_proof, needs_proposal) {
        (None, false, false) => Ok(()),
        (Some(Proof::Work(escrow)), false, false) => check_work_claim(body, escrow),
        (Some(_), false, false) => Err(RuleError::UnneededProof),
        (Some(Proof::Mint(cert)), true, false) => verify_certificate(ctx, body, cert, keys),
        (Some(Proof::Proposal(p)), false, true) => ctx
            .proposals
            .verify(p, &body.transfers)
            .map_err(RuleError::InvalidProof),
        (_, true, _) => Err(RuleError::MissingProof {
            account: first_system(|a| matches!(a, AccountId::Mint | AccountId::Reserve(_))),
            needed: "a mint quorum certificate",
        }),
        (_, false, true) => Err(RuleError::MissingProof {
            account: first_system(|a| matches!(a, AccountId::Treasury | AccountId::PublicGoodsPool)),
            needed: "an executed DAO proposal",
        }),
    }
}

/// A charge for bounty work: only a charge, never for the actor's own bounty
/// (a node cannot pay itself out of Worker Mode), and with a dep that
/// reaches the posting entry (whether it is an open post is a dynamic rule,
/// judged at that point of the poster's chain).
fn check_work_claim(body: &EntryBody, escrow: &EscrowId) -> Result<(), RuleError> {
    let bad = |reason| {
        Err(RuleError::BadWorkClaim {
            poster: escrow.poster,
            seq: escrow.seq,
            reason,
        })
    };
    if !matches!(
        body.action,
        Action::LlmInference { .. } | Action::SandboxExec { .. } | Action::EvolutionSim
    ) {
        return bad("only a metabolism charge may claim bounty work");
    }
    if escrow.poster == body.actor {
        return bad("a node cannot work its own bounty");
    }
    if !body
        .deps
        .iter()
        .any(|d| d.actor == escrow.poster && d.seq >= escrow.seq)
    {
        return bad("the deps do not reach the posting entry");
    }
    Ok(())
}

/// The bytes each sentinel signs for a mint.
pub fn mint_message(swarm_id: &SwarmId, seal_id: &[u8; 32], transfers: &[Transfer]) -> Vec<u8> {
    let mut m = MINT_DOMAIN.to_vec();
    m.extend_from_slice(&swarm_id.0);
    m.extend_from_slice(seal_id);
    m.extend_from_slice(&encoding::encode(&transfers.to_vec()));
    m
}

fn verify_certificate(
    ctx: &RuleContext<'_>,
    body: &EntryBody,
    cert: &MintCertificate,
    keys: &mut KeyCache,
) -> Result<(), RuleError> {
    if cert.signatures.len() > CERTIFICATE_SIGNATURES_MAX {
        return Err(RuleError::TooLarge {
            what: "certificate signatures",
            found: cert.signatures.len(),
            max: CERTIFICATE_SIGNATURES_MAX,
        });
    }
    let message = mint_message(&ctx.swarm_id, &cert.seal_id, &body.transfers);
    // Who may sign and how many must is the authorizing cycle's issuance
    // record, a dynamic rule; here each signature must hold, once per signer.
    let mut signers = BTreeSet::new();
    for s in &cert.signatures {
        if !signers.insert(s.sentinel) {
            return Err(RuleError::InvalidProof(format!("{} signed twice", s.sentinel.short())));
        }
        let key = keys
            .get(s.sentinel.as_bytes())
            .map_err(|e| RuleError::InvalidProof(e.to_string()))?;
        signature::verify(&key, &message, &s.signature)
            .map_err(|e| RuleError::InvalidProof(format!("sentinel {}: {e}", s.sentinel.short())))?;
    }
    if signers.is_empty() {
        return Err(RuleError::InvalidProof("a mint certificate with no signature".into()));
    }
    Ok(())
}

fn check_shape(ctx: &RuleContext<'_>, body: &EntryBody) -> Result<(), RuleError> {
    let actor = body.actor;
    let wallet = AccountId::Wallet(actor);
    let shape = |reason: String| RuleError::Shape {
        action: action_name(&body.action),
        reason,
    };
    let single_charge = |cost: Option<crate::Amount>| -> Result<(), RuleError> {
        let cost = cost.ok_or_else(|| shape("cost overflows".into()))?;
        match body.transfers.as_slice() {
            [t] if t.from == wallet && t.to == AccountId::MetabolismSink && t.currency == Currency::Ippc => {
                if t.amount == cost {
                    Ok(())
                } else {
                    Err(shape(format!("charge {} IPPC, the parameters say {cost}", t.amount)))
                }
            }
            _ => Err(shape(
                "needs exactly one IPPC transfer from the actor's wallet to the metabolism sink".into(),
            )),
        }
    };
    let escrow_release = |escrow: &EscrowId, to: AccountId| -> Result<(), RuleError> {
        if escrow.poster != actor || escrow.seq >= body.seq {
            return Err(shape("only the poster may release its own earlier bounty".into()));
        }
        match body.transfers.as_slice() {
            [t] if t.from == AccountId::Escrow(*escrow) && t.to == to && t.currency == Currency::Ippc => Ok(()),
            _ => Err(shape(format!(
                "needs exactly one IPPC transfer from the escrow to {to}"
            ))),
        }
    };
    match &body.action {
        Action::Transfer => match body.transfers.as_slice() {
            [main, fee]
                if main.from == wallet
                    && matches!(main.to, AccountId::Wallet(_))
                    && fee.from == wallet
                    && fee.to == AccountId::PublicGoodsPool
                    && fee.currency == main.currency =>
            {
                let due = ctx
                    .params
                    .transfer_fee(main.amount)
                    .ok_or_else(|| shape("fee overflows".into()))?;
                if fee.amount == due {
                    Ok(())
                } else {
                    Err(shape(format!("fee {} but {} is due", fee.amount, due)))
                }
            }
            _ => Err(shape(
                "needs a wallet-to-wallet transfer followed by its fee to the public goods pool".into(),
            )),
        },
        Action::LlmInference { tokens } => single_charge(ctx.params.inference_cost(*tokens)),
        Action::SandboxExec { fuel } => single_charge(ctx.params.sandbox_cost(*fuel)),
        Action::EvolutionSim => single_charge(Some(ctx.params.evolution_sim_cost)),
        Action::BountyPost { .. } => match body.transfers.as_slice() {
            [t] if t.from == wallet
                && t.to
                    == AccountId::Escrow(EscrowId {
                        poster: actor,
                        seq: body.seq,
                    })
                && t.currency == Currency::Ippc =>
            {
                Ok(())
            }
            _ => Err(shape(
                "needs exactly one IPPC transfer from the wallet to this entry's escrow".into(),
            )),
        },
        Action::BountyPayout { escrow, worker } => {
            if *worker == actor {
                return Err(shape("the poster cannot pay itself; use a refund".into()));
            }
            escrow_release(escrow, AccountId::Wallet(*worker))
        }
        Action::BountyRefund { escrow } => escrow_release(escrow, wallet),
        Action::DaoFee => {
            if body.transfers.is_empty()
                || body
                    .transfers
                    .iter()
                    .any(|t| t.from != wallet || t.to != AccountId::Treasury)
            {
                return Err(shape("needs transfers from the wallet to the treasury".into()));
            }
            Ok(())
        }
        Action::Mint { tranche, .. } => {
            let expected = Transfer {
                from: AccountId::Mint,
                to: wallet,
                currency: crate::Currency::Ippc,
                amount: crate::issuance::tranche_amount(),
            };
            if body.transfers != [expected] {
                return Err(shape(format!(
                    "a mint moves one tranche, {} IPPC, from the mint to the actor's wallet",
                    crate::issuance::tranche_amount()
                )));
            }
            let seal = crate::issuance::seal_id(&ctx.swarm_id, &actor, *tranche);
            match &body.proof {
                Some(Proof::Mint(cert)) if cert.seal_id == seal => Ok(()),
                _ => Err(shape(format!(
                    "tranche {tranche} of {actor} has the seal {}",
                    hex::encode(seal)
                ))),
            }
        }
        Action::Checkpoint { .. } => {
            if body.transfers.is_empty() {
                Ok(())
            } else {
                Err(shape("a checkpoint vote moves nothing".into()))
            }
        }
        Action::Grant => {
            if body.transfers.is_empty()
                || body
                    .transfers
                    .iter()
                    .any(|t| !matches!(t.from, AccountId::Treasury | AccountId::PublicGoodsPool))
            {
                return Err(shape(
                    "needs transfers from the treasury or the public goods pool".into(),
                ));
            }
            Ok(())
        }
    }
}
