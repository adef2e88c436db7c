//! `ippoc gov`: the DAO on an EVM chain over JSON-RPC (anvil, a devnet, a
//! real L2). Deploy the contracts from a plan, stake, propose, vote, veto,
//! queue, execute, and read a proposal's status. Signs locally with an
//! Ethereum key file (hex, mode 0600); the contract addresses live in a
//! JSON file that `deploy` writes.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use ippoc_governance_bridge::dao::{GenesisNode, GenesisParameter, GiProof};
use ippoc_governance_bridge::{Action, Address, B256, ChainError, Dao, DeployConfig, PrivateKeySigner, RpcChain, U256};
use serde::Deserialize;

use super::gov_text::{self, Doing, when};
use super::{Failure, runtime};
use crate::error::ExitStatus;
use ippoc_swarm::fsutil;

/// Where the DAO is and who signs.
#[derive(Debug, Args)]
pub struct GovTarget {
    /// JSON-RPC endpoint of the chain.
    #[arg(long, env = "IPPOC_RPC", default_value = "http://127.0.0.1:8545")]
    rpc: String,
    /// The contracts' addresses (written by `ippoc gov deploy`).
    #[arg(long, env = "IPPOC_DAO", default_value = "dao.json")]
    dao: PathBuf,
    /// Ethereum private key (hex) that signs, mode 0600 [default: the node's data/eth.key, if the data dir holds a node].
    #[arg(long, env = "IPPOC_ETH_KEY")]
    key_file: Option<PathBuf>,
    /// The node's own key file, the default signer (filled in from the data dir, not an argument).
    #[arg(skip)]
    pub(super) node_key: Option<PathBuf>,
}

impl GovCommand {
    /// The chain target of a command that has one.
    pub(super) fn target_mut(&mut self) -> Option<&mut GovTarget> {
        match self {
            GovCommand::Key { .. } => None,
            GovCommand::Deploy { target, .. }
            | GovCommand::Stake { target, .. }
            | GovCommand::Propose { target, .. }
            | GovCommand::Vote { target, .. }
            | GovCommand::Veto { target, .. }
            | GovCommand::Queue { target, .. }
            | GovCommand::Execute { target, .. }
            | GovCommand::Status { target, .. } => Some(target),
        }
    }
}

/// `ippoc gov ...`
#[derive(Debug, Subcommand)]
pub enum GovCommand {
    /// Create an Ethereum key file (mode 0600) and print its address.
    Key {
        /// Where to write the key; refuses to overwrite.
        out: PathBuf,
    },
    /// Deploy and wire the DAO contracts from a TOML plan; write their addresses to --dao.
    Deploy {
        /// The deployment plan (vetoer, sentinels, stake holders, nodes, parameters).
        plan: PathBuf,
        #[command(flatten)]
        target: GovTarget,
    },
    /// Stake governance tokens (token units, 18 decimals) for voting weight.
    Stake {
        /// Amount in token units (wei-like), e.g. 100000000000000000000 for 100 tokens.
        amount: U256,
        #[command(flatten)]
        target: GovTarget,
    },
    /// Open a proposal.
    Propose {
        #[command(flatten)]
        actions: ProposeArgs,
        #[command(flatten)]
        target: GovTarget,
    },
    /// Vote on a proposal: as a human committing stake (half is burned), or --as-node.
    Vote {
        /// Proposal id.
        id: u64,
        /// Vote for.
        #[arg(long, conflicts_with = "no", required_unless_present = "no")]
        yes: bool,
        /// Vote against.
        #[arg(long)]
        no: bool,
        /// Stake to commit [default: all of it].
        #[arg(long, conflicts_with = "as_node")]
        amount: Option<U256>,
        /// Vote with the registered node's advisory weight.
        #[arg(long)]
        as_node: bool,
        #[command(flatten)]
        target: GovTarget,
    },
    /// Cancel a proposal before it executes (the veto key only).
    Veto {
        /// Proposal id.
        id: u64,
        #[command(flatten)]
        target: GovTarget,
    },
    /// Start the 48 h timelock of a passed proposal.
    Queue {
        /// Proposal id.
        id: u64,
        #[command(flatten)]
        target: GovTarget,
    },
    /// Execute a queued proposal whose timelock is over.
    Execute {
        /// Proposal id.
        id: u64,
        #[command(flatten)]
        target: GovTarget,
    },
    /// A proposal's state and tallies.
    Status {
        /// Proposal id [default: the latest].
        id: Option<u64>,
        #[command(flatten)]
        target: GovTarget,
    },
}

fn usage(message: impl Into<String>) -> Failure {
    Failure {
        status: ExitStatus::Usage,
        message: message.into(),
    }
}

pub(super) fn chain_failure(e: ChainError) -> Failure {
    let status = match e {
        ChainError::Reverted { .. } => ExitStatus::Refused,
        _ => ExitStatus::Failure,
    };
    Failure {
        status,
        message: e.to_string(),
    }
}

pub(super) fn load_key(target: &GovTarget) -> Result<PrivateKeySigner, Failure> {
    let path = target
        .key_file
        .as_deref()
        .or(target.node_key.as_deref().filter(|p| p.exists()))
        .ok_or_else(|| {
            usage("this command signs: give --key-file (or IPPOC_ETH_KEY), or run it on a node's data dir (ippoc init makes the node's key)")
        })?;
    ippoc_swarm::anchor::read_eth_key(path).map_err(|e| match e {
        ippoc_swarm::Error::Refused(reason) => usage(reason),
        other => other.into(),
    })
}

pub(super) fn load_dao(target: &GovTarget) -> Result<Dao<RpcChain>, Failure> {
    if !target.dao.exists() {
        return Err(usage(format!(
            "no DAO address file at {}: `ippoc gov deploy PLAN` writes one, or point --dao (IPPOC_DAO) at the file it wrote",
            target.dao.display()
        )));
    }
    let addresses = ippoc_swarm::governance::read_addresses(&target.dao).map_err(|e| match e {
        ippoc_swarm::Error::Refused(reason) => usage(reason),
        other => other.into(),
    })?;
    Ok(Dao::at(RpcChain::new(&target.rpc).map_err(chain_failure)?, addresses))
}

/// `gov key`: a fresh secp256k1 key file, mode 0600.
pub fn key(out: &Path) -> Result<(), Failure> {
    if out.exists() {
        return Err(usage(format!("{} exists; refusing to overwrite a key", out.display())));
    }
    let signer = PrivateKeySigner::random();
    let hex = format!("0x{}\n", hex::encode(signer.to_bytes()));
    fsutil::write_atomic(out, hex.as_bytes(), 0o600)?;
    println!("{}", signer.address());
    Ok(())
}

/// The deployment plan file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Plan {
    vetoer: Address,
    #[serde(default = "default_voting_period")]
    voting_period_secs: u64,
    #[serde(default = "default_proposal_stake")]
    proposal_stake: String,
    #[serde(default = "default_quorum")]
    anchor_quorum_bps: u16,
    #[serde(default = "default_committee")]
    anchor_committee: u16,
    sentinels: Vec<Address>,
    #[serde(default)]
    holders: Vec<PlanHolder>,
    #[serde(default)]
    nodes: Vec<PlanNode>,
    #[serde(default)]
    parameters: Vec<PlanParameter>,
}

fn default_voting_period() -> u64 {
    3 * 24 * 3600
}
fn default_proposal_stake() -> String {
    "1000000000000000000".into()
}
fn default_quorum() -> u16 {
    6_667
}
fn default_committee() -> u16 {
    ippoc_governance_bridge::dao::ANCHOR_COMMITTEE
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanHolder {
    address: Address,
    amount: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanNode {
    address: Address,
    node_id: B256,
    tier: u8,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanParameter {
    name: String,
    value: String,
    #[serde(default)]
    invariant: bool,
}

fn amount(text: &str, what: &str) -> Result<U256, Failure> {
    text.parse::<U256>()
        .map_err(|e| usage(format!("{what}: {text:?} is not an amount: {e}")))
}

fn deploy_config(plan: Plan) -> Result<DeployConfig, Failure> {
    let sentinels: [Address; 8] = plan
        .sentinels
        .try_into()
        .map_err(|v: Vec<Address>| usage(format!("the plan needs exactly 8 sentinels, has {}", v.len())))?;
    if !(1..=256).contains(&plan.anchor_committee) {
        return Err(usage(format!(
            "anchor_committee must be 1..=256 seats, not {}",
            plan.anchor_committee
        )));
    }
    Ok(DeployConfig {
        vetoer: plan.vetoer,
        voting_period: plan.voting_period_secs,
        proposal_stake: amount(&plan.proposal_stake, "proposal_stake")?,
        holders: plan
            .holders
            .iter()
            .map(|h| Ok((h.address, amount(&h.amount, "holders.amount")?)))
            .collect::<Result<_, Failure>>()?,
        nodes: plan
            .nodes
            .iter()
            .map(|n| GenesisNode {
                address: n.address,
                node_id: n.node_id.0,
                tier: n.tier,
            })
            .collect(),
        anchor_quorum_bps: plan.anchor_quorum_bps,
        anchor_committee: plan.anchor_committee,
        sentinels,
        parameters: plan
            .parameters
            .iter()
            .map(|p| {
                Ok(GenesisParameter {
                    name: p.name.clone(),
                    value: amount(&p.value, "parameters.value")?,
                    invariant: p.invariant,
                })
            })
            .collect::<Result<_, Failure>>()?,
    })
}

/// `gov deploy`: the six contracts from a plan; the addresses to `--dao`.
pub fn deploy(plan_path: &Path, target: &GovTarget, json: bool) -> Result<(), Failure> {
    let text = String::from_utf8(fsutil::read(plan_path)?)
        .map_err(|_| usage(format!("{}: not UTF-8", plan_path.display())))?;
    let plan: Plan = toml::from_str(&text).map_err(|e| usage(format!("{}: {e}", plan_path.display())))?;
    let config = deploy_config(plan)?;
    let deployer = load_key(target)?;
    let chain = RpcChain::new(&target.rpc).map_err(chain_failure)?;
    let dao = runtime()?.block_on(async {
        match Dao::deploy(chain, &deployer, &config).await {
            Ok(dao) => Ok(dao),
            Err(e) => Err(gov_text::explain(None, &target.rpc, Doing::Deploy, e, json).await),
        }
    })?;
    let addresses = dao.addresses();
    let out = serde_json::to_vec_pretty(&addresses).expect("addresses serialize");
    fsutil::write_atomic(&target.dao, &out, 0o644)?;
    if json {
        println!("{}", String::from_utf8_lossy(&out));
    } else {
        println!("governance  {}", addresses.governance);
        println!("treasury    {}", addresses.treasury);
        println!("anchor      {}", addresses.anchor);
        println!("registry    {}", addresses.registry);
        println!("parameters  {}", addresses.parameters);
        println!("token       {}", addresses.token);
        println!("addresses written to {}", target.dao.display());
    }
    Ok(())
}

/// `gov stake`: approve and stake.
pub fn stake(value: U256, target: &GovTarget, json: bool) -> Result<(), Failure> {
    let (dao, key) = (load_dao(target)?, load_key(target)?);
    runtime()?.block_on(async {
        let staked = dao.stake(&key, value).await;
        refused(&dao, target, Doing::Stake, json, staked).await
    })?;
    println!(
        "staked {value} ({} tokens) from {}",
        gov_text::tokens(value),
        key.address()
    );
    Ok(())
}

/// A chain call's result, with a refusal explained in one sentence.
async fn refused<T>(
    dao: &Dao<RpcChain>,
    target: &GovTarget,
    doing: Doing,
    json: bool,
    result: Result<T, ChainError>,
) -> Result<T, Failure> {
    match result {
        Ok(v) => Ok(v),
        Err(e) => Err(gov_text::explain(Some(dao), &target.rpc, doing, e, json).await),
    }
}

fn split<'a>(arg: &'a str, sep: char, flag: &str) -> Result<(&'a str, &'a str), Failure> {
    arg.split_once(sep)
        .ok_or_else(|| usage(format!("--{flag} {arg:?}: expected two parts separated by '{sep}'")))
}

/// What a proposal does.
#[derive(Debug, Args)]
pub struct ProposeArgs {
    /// NAME=VALUE: change a governed parameter.
    #[arg(long, value_name = "NAME=VALUE")]
    set_parameter: Vec<String>,
    /// NAME=VALUE: change an invariant parameter (human supermajority).
    #[arg(long, value_name = "NAME=VALUE")]
    set_invariant_parameter: Vec<String>,
    /// HASH:RISK: deploy a skill by its module hash with its risk score (0..=10000).
    #[arg(long, value_name = "HASH:RISK")]
    deploy_module: Vec<String>,
    /// ADDRESS=WEI: pay from the treasury.
    #[arg(long, value_name = "ADDRESS=WEI")]
    release_eth: Vec<String>,
    /// ADDRESS=TIER: promote a registered node to high or critical, one tier
    /// at a time, proven by the matching --gi-proof (the contract refuses it
    /// under the tier's GI floor).
    #[arg(long, value_name = "ADDRESS=TIER")]
    promote: Vec<String>,
    /// A file written by `ippoc gi --proof`: the anchored GI of the node of
    /// the --promote in the same position.
    #[arg(long, value_name = "FILE")]
    gi_proof: Vec<std::path::PathBuf>,
    /// ADDRESS=TIER: set a registered node's tier to standard or below (a
    /// demotion needs no proof).
    #[arg(long, value_name = "ADDRESS=TIER")]
    set_tier: Vec<String>,
    /// NODE_ID: uphold the node's appeal: every node's ladder gives back
    /// the tier it held before its penalties (a lapse, demotion, suspension
    /// or removal by offences) and clears its offences.
    #[arg(long, value_name = "NODE_ID")]
    appeal: Vec<String>,
    /// What the proposal is for.
    #[arg(long, default_value = "")]
    description: String,
}

fn address(text: &str, what: &str) -> Result<Address, Failure> {
    text.parse()
        .map_err(|e| usage(format!("{what} {text:?}: not an address: {e}")))
}

/// A tier by name (shadow, research, standard, high, critical) or number 0..=4.
fn tier_of(text: &str, what: &str) -> Result<u8, Failure> {
    let names = ["shadow", "research", "standard", "high", "critical"];
    if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(text)) {
        return Ok(i as u8);
    }
    match text.parse::<u8>() {
        Ok(t) if t <= 4 => Ok(t),
        _ => Err(usage(format!(
            "{what} tier {text:?}: one of shadow, research, standard, high, critical (or 0..=4)"
        ))),
    }
}

/// `gov propose`: one proposal with every action given; prints its id.
pub fn propose(args: &ProposeArgs, target: &GovTarget, json: bool) -> Result<(), Failure> {
    let (dao, key) = (load_dao(target)?, load_key(target)?);
    let mut actions: Vec<Action> = Vec::new();
    for p in &args.set_parameter {
        let (name, value) = split(p, '=', "set-parameter")?;
        actions.push(dao.set_parameter(name, amount(value, "--set-parameter")?));
    }
    for p in &args.set_invariant_parameter {
        let (name, value) = split(p, '=', "set-invariant-parameter")?;
        actions.push(dao.set_invariant_parameter(name, amount(value, "--set-invariant-parameter")?));
    }
    for m in &args.deploy_module {
        let (hash, risk) = split(m, ':', "deploy-module")?;
        let hash: B256 = hash
            .parse()
            .map_err(|e| usage(format!("--deploy-module {hash:?}: not a 32-byte hex hash: {e}")))?;
        let risk: u32 = risk
            .parse()
            .map_err(|e| usage(format!("--deploy-module risk {risk:?}: {e}")))?;
        actions.push(dao.deploy_module(hash, risk));
    }
    for r in &args.release_eth {
        let (to, wei) = split(r, '=', "release-eth")?;
        let to: Address = to
            .parse()
            .map_err(|e| usage(format!("--release-eth {to:?}: not an address: {e}")))?;
        actions.push(dao.release_eth(to, amount(wei, "--release-eth")?));
    }
    if args.promote.len() != args.gi_proof.len() {
        return Err(usage(format!(
            "each --promote needs its --gi-proof (given {} and {})",
            args.promote.len(),
            args.gi_proof.len()
        )));
    }
    for (p, file) in args.promote.iter().zip(&args.gi_proof) {
        let (node, tier) = split(p, '=', "promote")?;
        let node = address(node, "--promote")?;
        let tier = tier_of(tier, "--promote")?;
        let proof: GiProof = serde_json::from_slice(&fsutil::read(file)?).map_err(|e| {
            usage(format!(
                "--gi-proof {}: not a GI proof (ippoc gi --proof): {e}",
                file.display()
            ))
        })?;
        actions.push(dao.promote(node, tier, &proof));
    }
    for p in &args.set_tier {
        let (node, tier) = split(p, '=', "set-tier")?;
        actions.push(dao.set_tier(address(node, "--set-tier")?, tier_of(tier, "--set-tier")?));
    }
    for a in &args.appeal {
        let node: ippoc_economy::NodeId = a
            .parse()
            .map_err(|e| usage(format!("--appeal {a:?}: not a NodeID: {e}")))?;
        actions.push(dao.appeal(B256::from(*node.as_bytes())));
    }
    if actions.is_empty() {
        return Err(usage(
            "a proposal needs at least one action: --set-parameter, --set-invariant-parameter, --deploy-module, --release-eth, --promote, --set-tier or --appeal",
        ));
    }
    let id = runtime()?.block_on(async {
        let opened = dao.propose(&key, &actions, &args.description).await;
        refused(&dao, target, Doing::Propose, json, opened).await
    })?;
    println!("{id}");
    Ok(())
}

/// `gov vote`: as a human (committing stake) or as a registered node.
pub fn vote(
    id: u64,
    support: bool,
    stake: Option<U256>,
    as_node: bool,
    target: &GovTarget,
    json: bool,
) -> Result<(), Failure> {
    let (dao, key) = (load_dao(target)?, load_key(target)?);
    runtime()?.block_on(async {
        let voted = if as_node {
            dao.vote_as_node(&key, id, support).await
        } else {
            let committed = match stake {
                Some(a) => a,
                None => refused(&dao, target, Doing::Vote, json, dao.stake_of(key.address()).await).await?,
            };
            if committed.is_zero() {
                return Err(Failure {
                    status: ExitStatus::Refused,
                    message: format!(
                        "{} has no stake to vote with: stake first (`ippoc gov stake`), or vote --as-node from a registered node",
                        key.address()
                    ),
                });
            }
            dao.vote(&key, id, support, committed).await
        };
        refused(&dao, target, Doing::Vote, json, voted).await
    })?;
    println!(
        "{} voted {} on proposal {id}",
        key.address(),
        if support { "yes" } else { "no" }
    );
    Ok(())
}

/// Which state-changing call on one proposal.
pub enum Step {
    /// Cancel it (veto key).
    Veto,
    /// Start its timelock.
    Queue,
    /// Run its actions.
    Execute,
}

/// `gov veto|queue|execute`.
pub fn step(step: Step, id: u64, target: &GovTarget, json: bool) -> Result<(), Failure> {
    let (dao, key) = (load_dao(target)?, load_key(target)?);
    let done = runtime()?.block_on(async {
        let (call, doing) = match step {
            Step::Veto => (dao.veto(&key, id).await, Doing::Veto),
            Step::Queue => (dao.queue(&key, id).await, Doing::Queue),
            Step::Execute => (dao.execute(&key, id).await, Doing::Execute(id)),
        };
        refused(&dao, target, doing, json, call).await?;
        Ok::<_, Failure>(match step {
            Step::Veto => "vetoed".to_string(),
            Step::Execute => "executed".to_string(),
            Step::Queue => match dao.status(id).await {
                Ok(s) => format!(
                    "queued: executable from {}",
                    when(s.eta, gov_text::chain_now(&dao).await)
                ),
                Err(_) => "queued".to_string(),
            },
        })
    })?;
    println!("proposal {id} {done}");
    Ok(())
}

/// `gov status`: state, tallies, turnout and dates, or the raw record with `--json`.
pub fn status(id: Option<u64>, target: &GovTarget, json: bool) -> Result<(), Failure> {
    let dao = load_dao(target)?;
    let (s, now) = runtime()?.block_on(async {
        let id = match id {
            Some(id) => id,
            None => match refused(&dao, target, Doing::Read, json, dao.proposal_count().await).await? {
                0 => {
                    return Err(Failure {
                        status: ExitStatus::Failure,
                        message: "no proposals yet: open one with `ippoc gov propose`".into(),
                    });
                }
                n => n,
            },
        };
        let s = refused(&dao, target, Doing::Read, json, dao.status(id).await).await?;
        Ok((s, gov_text::chain_now(&dao).await))
    })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&s).expect("status serializes"));
        return Ok(());
    }
    print!("{}", status_text(&s, now));
    Ok(())
}

/// The text `gov status` prints; `now` is the chain's time.
fn status_text(s: &ippoc_governance_bridge::ProposalStatus, now: u64) -> String {
    use ippoc_governance_bridge::ProposalState as P;
    use std::fmt::Write;
    let pct = |part: U256, whole: U256| {
        if whole.is_zero() {
            0.0
        } else {
            // Tallies are square roots of token units: far inside u128.
            let f = |v: U256| u128::try_from(v).unwrap_or(u128::MAX) as f64;
            f(part) / f(whole) * 100.0
        }
    };
    let human = s.human_yes + s.human_no;
    let votes = human + s.ai_yes + s.ai_no;
    let mut out = String::new();
    let class = if s.invariant_class {
        "  (invariant-class: 2/3 of human votes needed)"
    } else {
        ""
    };
    let _ = writeln!(out, "proposal {}  {}{class}", s.id, s.state);
    let _ = writeln!(out, "proposer  {}", s.proposer);
    let _ = writeln!(
        out,
        "humans    yes {:.1}%  no {:.1}%  of human votes",
        pct(s.human_yes, human),
        pct(s.human_no, human)
    );
    let _ = writeln!(
        out,
        "nodes     yes {:.1}%  no {:.1}%  of all votes",
        pct(s.ai_yes, votes),
        pct(s.ai_no, votes)
    );
    let _ = writeln!(
        out,
        "turnout   {:.1}% of the voting power (40% needed; 60% yes to pass)",
        pct(votes, s.human_power + s.ai_power)
    );
    let verb = if s.vote_end > now { "ends" } else { "ended" };
    let _ = writeln!(out, "voting    {verb} {}", when(s.vote_end, now));
    if s.eta != 0 {
        let timelock = if s.eta > now { "executable from" } else { "over since" };
        let _ = writeln!(out, "timelock  {timelock} {}", when(s.eta, now));
    }
    let id = s.id;
    let next = match s.state {
        P::Active => {
            format!("vote with `ippoc gov vote {id} --yes|--no`; queue it once voting has ended, if it passed")
        }
        P::Succeeded => format!("`ippoc gov queue {id}` starts its 48 h timelock"),
        P::Queued if s.eta > now => format!("`ippoc gov execute {id}` once the timelock is over"),
        P::Queued => format!("`ippoc gov execute {id}` runs it now"),
        P::Defeated | P::Executed | P::Vetoed => "nothing: this proposal is final".to_string(),
    };
    let _ = writeln!(out, "next      {next}");
    out
}
