//! People-readable `ippoc gov` output: chain times as UTC dates with the time
//! left or past, and a contract's refusal turned into one sentence that names
//! the state it found and what to do next. The raw revert stays available:
//! with `--json` the refusal is also printed on stdout as a JSON record.

use ippoc_governance_bridge::bindings::{self, Governance::GovernanceErrors, StakeToken::StakeTokenErrors};
use ippoc_governance_bridge::{ChainError, Dao, ProposalState, RpcChain, U256};
use serde_json::json;

use super::Failure;
use crate::error::ExitStatus;

/// A Unix time as a UTC date to the minute, e.g. `2026-12-02 16:50 UTC`.
pub fn date(unix: u64) -> String {
    let seconds = i64::try_from(unix).unwrap_or(i64::MAX);
    match jiff::Timestamp::from_second(seconds) {
        Ok(t) => t.strftime("%Y-%m-%d %H:%M UTC").to_string(),
        // Past jiff's range (year 9999): no calendar date to give.
        Err(_) => format!("unix time {unix}"),
    }
}

/// A length of time in the two largest units, e.g. `1 d 23 h`, `58 min`, `12 s`.
pub fn span(seconds: u64) -> String {
    let (d, h, m, s) = (seconds / 86_400, seconds / 3_600 % 24, seconds / 60 % 60, seconds % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s} s"),
        (0, 0, _) => format!("{m} min"),
        (0, _, 0) => format!("{h} h"),
        (0, _, _) => format!("{h} h {m} min"),
        (_, 0, _) => format!("{d} d"),
        _ => format!("{d} d {h} h"),
    }
}

/// `t` seen from `now`: `in 58 min`, `2 h 5 min ago`, or `now`.
pub fn relative(t: u64, now: u64) -> String {
    match t.cmp(&now) {
        std::cmp::Ordering::Greater => format!("in {}", span(t - now)),
        std::cmp::Ordering::Less => format!("{} ago", span(now - t)),
        std::cmp::Ordering::Equal => "now".to_string(),
    }
}

/// `2026-12-02 16:50 UTC, in 58 min`.
pub fn when(t: u64, now: u64) -> String {
    format!("{}, {}", date(t), relative(t, now))
}

/// Token units (18 decimals) as tokens, e.g. `100` or `0.5`.
pub fn tokens(units: U256) -> String {
    let one = U256::from(10u64).pow(U256::from(18u64));
    let (whole, frac) = (units / one, units % one);
    if frac.is_zero() {
        return whole.to_string();
    }
    let frac = format!("{:0>18}", frac.to_string());
    format!("{whole}.{}", frac.trim_end_matches('0'))
}

/// What the command was doing when the chain refused it: the explanation
/// names the proposal it was about and the step that comes next.
#[derive(Debug, Clone, Copy)]
pub enum Doing {
    /// Deploying the contracts.
    Deploy,
    /// Staking tokens.
    Stake,
    /// Opening a proposal.
    Propose,
    /// Voting on a proposal (as a human or a node).
    Vote,
    /// Starting a proposal's timelock.
    Queue,
    /// Executing a proposal.
    Execute(u64),
    /// Vetoing a proposal.
    Veto,
    /// Reading a proposal.
    Read,
}

/// The one-line failure for a chain error, with chain reads for context (a
/// proposal's dates, who the veto key is) where they make the sentence
/// actionable. With `json`, the raw revert is printed on stdout too.
pub async fn explain(dao: Option<&Dao<RpcChain>>, rpc: &str, doing: Doing, e: ChainError, json: bool) -> Failure {
    match &e {
        ChainError::Reverted { data, reason } => {
            let sentence = match dao {
                Some(dao) => revert_sentence(dao, doing, data).await,
                None => None,
            };
            let message = sentence.unwrap_or_else(|| format!("the contract refused: {reason}"));
            if json {
                let record = json!({
                    "error": "reverted",
                    "message": message,
                    "reason": reason,
                    "data": format!("0x{}", hex::encode(data)),
                });
                println!(
                    "{}",
                    serde_json::to_string_pretty(&record).expect("a JSON value serializes")
                );
            }
            Failure {
                status: ExitStatus::Refused,
                message,
            }
        }
        ChainError::Transport(reason) => Failure {
            status: ExitStatus::Failure,
            message: format!(
                "cannot reach the chain at {rpc} ({reason}); is the L2 (or anvil) running? Set it with --rpc or IPPOC_RPC"
            ),
        },
        _ => Failure {
            status: ExitStatus::Failure,
            message: e.to_string(),
        },
    }
}

/// The chain's clock: the latest block's time, which is what the contracts
/// compare deadlines with (on a devnet it may run ahead of the wall clock).
pub async fn chain_now(dao: &Dao<RpcChain>) -> u64 {
    use ippoc_governance_bridge::Chain;
    match dao.chain().timestamp().await {
        Ok(t) => t,
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    }
}

fn id_of(v: U256) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

async fn revert_sentence(dao: &Dao<RpcChain>, doing: Doing, data: &[u8]) -> Option<String> {
    if let Some(e) = bindings::governance_error(data) {
        return Some(governance_sentence(dao, doing, e).await);
    }
    if let Some(e) = bindings::stake_token_error(data) {
        return match e {
            StakeTokenErrors::ERC20InsufficientBalance(e) => Some(format!(
                "{} holds {} stake tokens and this needs {}",
                e.sender,
                tokens(e.balance),
                tokens(e.needed)
            )),
            _ => None,
        };
    }
    None
}

async fn governance_sentence(dao: &Dao<RpcChain>, doing: Doing, e: GovernanceErrors) -> String {
    use GovernanceErrors as G;
    match e {
        G::WrongState(e) => {
            let id = id_of(e.id);
            match ProposalState::from_u8(e.state) {
                Ok(state) => state_sentence(dao, doing, id, state).await,
                Err(_) => format!("proposal {id} is in a state this ippoc does not know ({})", e.state),
            }
        }
        G::TimelockNotOver(e) => {
            let now = chain_now(dao).await;
            let which = match doing {
                Doing::Execute(id) => format!("proposal {id}"),
                _ => "the proposal".to_string(),
            };
            format!(
                "{which} is in its timelock until {}: execute it after that",
                when(e.eta, now)
            )
        }
        G::AlreadyVoted(e) => format!(
            "{} has already voted on proposal {}: an address votes once per proposal",
            e.voter,
            id_of(e.id)
        ),
        G::UnknownProposal(e) => match dao.proposal_count().await {
            Ok(0) => format!("there is no proposal {}: no proposal has been opened yet", id_of(e.id)),
            Ok(n) => format!("there is no proposal {}: proposals are numbered 1 to {n}", id_of(e.id)),
            Err(_) => format!("there is no proposal {}", id_of(e.id)),
        },
        G::InsufficientStake(e) => format!(
            "this needs {} staked tokens and the key has {}: stake more with `ippoc gov stake`",
            tokens(e.need),
            tokens(e.have)
        ),
        G::StakeLocked(e) => format!(
            "the stake is locked until {} by a vote it was committed to",
            when(e.until, chain_now(dao).await)
        ),
        G::NotAllowedToPropose(e) => format!(
            "{} may not propose: it needs the DAO's proposal stake staked (`ippoc gov stake`), or to be a registered node",
            e.proposer
        ),
        G::NotANode(e) => format!(
            "{} is not an active node in the DAO's registry: only registered nodes vote with --as-node",
            e.caller
        ),
        G::NotVetoer(e) => format!(
            "{} is not the veto key: only the vetoer named at deployment (or by a later proposal) can veto",
            e.caller
        ),
        G::ZeroAmount(_) => "the amount is zero: give a positive number of token units".to_string(),
        G::NoActions(_) => "a proposal needs at least one action".to_string(),
        G::ActionFailed(e) => format!(
            "action {} of the proposal failed when it ran ({}); the proposal stays queued",
            id_of(e.index),
            bindings::decode_revert(&e.reason)
        ),
        G::NotBound(_) => "the DAO is not wired yet: its deployer has not bound the node registry".to_string(),
        other => format!("the Governance contract refused: {other:?}"),
    }
}

/// Why a proposal in `state` cannot take the step being tried, and what can.
async fn state_sentence(dao: &Dao<RpcChain>, doing: Doing, id: u64, state: ProposalState) -> String {
    let now = chain_now(dao).await;
    let status = dao.status(id).await.ok();
    let vote_end = status.as_ref().map(|s| s.vote_end);
    let eta = status.as_ref().map(|s| s.eta).filter(|&e| e != 0);
    match state {
        ProposalState::Active => {
            let ends = vote_end.map_or(String::new(), |t| format!(": voting ends {}", when(t, now)));
            let next = match doing {
                Doing::Execute(_) => {
                    "; if it passes, queue it after that, then execute it once the 48 h timelock is over"
                }
                _ => "; queue it after that if it passed",
            };
            format!("proposal {id} is still active{ends}{next}")
        }
        ProposalState::Defeated => {
            let ended = vote_end.map_or(String::new(), |t| format!(" (voting ended {})", when(t, now)));
            format!("proposal {id} was defeated{ended}: it did not pass, and nothing more can happen to it")
        }
        ProposalState::Succeeded => match doing {
            Doing::Vote => {
                let ended = vote_end.map_or(String::new(), |t| format!(" (it ended {})", when(t, now)));
                format!("voting on proposal {id} is over{ended}; it passed and waits to be queued")
            }
            _ => {
                format!("proposal {id} passed and waits to be queued: `ippoc gov queue {id}` starts its 48 h timelock")
            }
        },
        ProposalState::Queued => {
            let from = eta.map_or(String::new(), |t| format!(": executable from {}", when(t, now)));
            format!("proposal {id} is already queued{from} with `ippoc gov execute {id}`")
        }
        ProposalState::Executed => format!("proposal {id} was already executed: its actions ran"),
        ProposalState::Vetoed => format!("proposal {id} was vetoed: the veto key cancelled it"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_to_the_minute() {
        assert_eq!(date(0), "1970-01-01 00:00 UTC");
        // 2026-12-02 16:50:21 UTC.
        assert_eq!(date(1_796_230_221), "2026-12-02 16:50 UTC");
        assert_eq!(date(u64::MAX), format!("unix time {}", u64::MAX));
    }

    #[test]
    fn spans_give_the_two_largest_units() {
        assert_eq!(span(0), "0 s");
        assert_eq!(span(59), "59 s");
        assert_eq!(span(58 * 60 + 30), "58 min");
        assert_eq!(span(3_600), "1 h");
        assert_eq!(span(2 * 3_600 + 5 * 60), "2 h 5 min");
        assert_eq!(span(86_400 + 60), "1 d");
        assert_eq!(span(47 * 3_600 + 59 * 60), "1 d 23 h");
        assert_eq!(relative(100, 100), "now");
        assert_eq!(relative(160, 100), "in 1 min");
        assert_eq!(relative(100, 3_700), "1 h ago");
        assert_eq!(when(1_796_230_221, 1_796_226_741), "2026-12-02 16:50 UTC, in 58 min");
    }

    #[test]
    fn token_units_print_as_tokens() {
        let one = U256::from(10u64).pow(U256::from(18u64));
        assert_eq!(tokens(U256::ZERO), "0");
        assert_eq!(tokens(one * U256::from(100u64)), "100");
        assert_eq!(tokens(one / U256::from(2u64)), "0.5");
        assert_eq!(tokens(U256::from(1u64)), "0.000000000000000001");
    }
}
