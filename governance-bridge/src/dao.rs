//! The DAO as the node and the CLI use it: deploy the contracts, stake,
//! propose, vote, veto, queue, execute, read a proposal's status, anchor
//! checkpoints and read what governance changed. Generic over [`Chain`], so
//! the same code drives anvil, a real L2 and the embedded EVM.

use alloy::primitives::{Address, B256, Bytes, U256, keccak256};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::{SolCall, SolConstructor, SolEvent, SolValue};
use serde::{Deserialize, Serialize};

use crate::bindings::{Anchor, EvolutionRegistry, Governance, Parameters, StakeToken, Treasury};
use crate::chain::{Chain, ChainError};

/// Where the DAO's contracts live on a chain (saved as JSON by the CLI).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaoAddresses {
    /// The stake token.
    pub token: Address,
    /// Governance.
    pub governance: Address,
    /// Anchor and node registry.
    pub anchor: Address,
    /// Treasury.
    pub treasury: Address,
    /// Governed parameters.
    pub parameters: Address,
    /// Evolution registry.
    pub registry: Address,
}

/// A node registered at deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenesisNode {
    /// The node's EVM address (from its `eth.key`).
    pub address: Address,
    /// The node's IPPOC NodeID (its Ed25519 public key).
    pub node_id: [u8; 32],
    /// Its tier, 0..=4: Shadow, Research, Standard, High, Critical (the
    /// onboarding guide's; the ladder starts founders at Standard, 2).
    pub tier: u8,
}

/// A governed parameter set at deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenesisParameter {
    /// The parameter's name (its key is the keccak of the name).
    pub name: String,
    /// Its value.
    pub value: U256,
    /// Whether only an invariant-class proposal may change it.
    pub invariant: bool,
}

/// Everything a deployment needs.
#[derive(Debug, Clone)]
pub struct DeployConfig {
    /// Holder of the veto role (a human multisig in production).
    pub vetoer: Address,
    /// How long a vote stays open, seconds.
    pub voting_period: u64,
    /// Least stake a human needs to propose (token units).
    pub proposal_stake: U256,
    /// Initial holders of the stake token.
    pub holders: Vec<(Address, U256)>,
    /// Nodes registered from the start.
    pub nodes: Vec<GenesisNode>,
    /// Share of a committee's seats that must co-sign a checkpoint, basis points (> 5000).
    pub anchor_quorum_bps: u16,
    /// Seats of an epoch's anchoring committee once more nodes are registered
    /// (1..=256; docs/anchoring.md, "Committees").
    pub anchor_committee: u16,
    /// The treasury's eight emergency sentinels.
    pub sentinels: [Address; 8],
    /// Initial governed parameters.
    pub parameters: Vec<GenesisParameter>,
}

/// `n` whole stake tokens (18 decimals).
pub fn tokens(n: u64) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(18u64))
}

impl DeployConfig {
    /// Votes on a development chain: each of `humans` holds
    /// [`DEVNET_STAKE`] tokens, votes last [`DEVNET_VOTING_PERIOD`], one
    /// token suffices to propose, two thirds of the nodes certify a
    /// checkpoint, and no governed parameters are set. The eight sentinels
    /// are addresses nobody holds: on a devnet nobody can pause the treasury.
    pub fn devnet(vetoer: Address, humans: &[Address], nodes: Vec<GenesisNode>) -> DeployConfig {
        DeployConfig {
            vetoer,
            voting_period: DEVNET_VOTING_PERIOD,
            proposal_stake: tokens(1),
            holders: humans.iter().map(|h| (*h, tokens(DEVNET_STAKE))).collect(),
            nodes,
            anchor_quorum_bps: 6_667,
            anchor_committee: ANCHOR_COMMITTEE,
            sentinels: std::array::from_fn(|i| Address::with_last_byte(0xa0 + i as u8)),
            parameters: Vec::new(),
        }
    }
}

/// Seats of an anchoring committee by default: with two thirds of the seats
/// to sign, a third of the nodes byzantine fill that many with probability
/// 1.1e-21 per draw (docs/anchoring.md, "Committees").
pub const ANCHOR_COMMITTEE: u16 = 192;

/// Genesis nodes registered per transaction (`Anchor.GENESIS_BATCH_MAX`).
pub const GENESIS_BATCH: usize = 64;

/// Tokens each human holds in [`DeployConfig::devnet`].
pub const DEVNET_STAKE: u64 = 100;
/// Voting period of [`DeployConfig::devnet`], seconds.
pub const DEVNET_VOTING_PERIOD: u64 = 3_600;

/// The key of a named parameter, as the contract stores it.
pub fn parameter_key(name: &str) -> B256 {
    keccak256(name.as_bytes())
}

/// One call a proposal makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    /// Contract called.
    pub target: Address,
    /// ETH sent.
    pub value: U256,
    /// Calldata.
    pub data: Bytes,
}

/// A proposal's state, as Governance reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProposalState {
    /// Voting is open.
    Active,
    /// The vote ended without passing.
    Defeated,
    /// Passed; waiting to be queued.
    Succeeded,
    /// In the 48 h timelock (or past it, waiting for execution).
    Queued,
    /// Its actions ran.
    Executed,
    /// The veto role cancelled it.
    Vetoed,
}

impl ProposalState {
    /// The state Governance encodes as `v` (its `State` enum).
    pub fn from_u8(v: u8) -> Result<Self, ChainError> {
        Ok(match v {
            0 => Self::Active,
            1 => Self::Defeated,
            2 => Self::Succeeded,
            3 => Self::Queued,
            4 => Self::Executed,
            5 => Self::Vetoed,
            other => return Err(ChainError::Decode(format!("unknown proposal state {other}"))),
        })
    }
}

impl std::fmt::Display for ProposalState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            Self::Active => "active",
            Self::Defeated => "defeated",
            Self::Succeeded => "succeeded",
            Self::Queued => "queued",
            Self::Executed => "executed",
            Self::Vetoed => "vetoed",
        };
        f.write_str(s)
    }
}

/// What `status` shows of a proposal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposalStatus {
    /// Proposal id.
    pub id: u64,
    /// Where it is.
    pub state: ProposalState,
    /// Who proposed it.
    pub proposer: Address,
    /// Whether it touches an invariant (human supermajority, no AI weight).
    pub invariant_class: bool,
    /// When voting ends (unix seconds).
    pub vote_end: u64,
    /// When the timelock ends (unix seconds), 0 before queueing.
    pub eta: u64,
    /// Human weight for and against.
    pub human_yes: U256,
    /// Human weight against.
    pub human_no: U256,
    /// Node (advisory) weight for.
    pub ai_yes: U256,
    /// Node weight against.
    pub ai_no: U256,
    /// Total human power when it opened.
    pub human_power: U256,
    /// Total node power when it opened.
    pub ai_power: U256,
}

/// A parameter change that an executed proposal made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterChange {
    /// Block it happened in.
    pub block: u64,
    /// The parameter's key.
    pub key: B256,
    /// The new value.
    pub value: U256,
    /// The proposal that made it (0 for the deployment's initial values).
    pub proposal: u64,
}

/// A module the registry marked deployed or revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleEvent {
    /// Block it happened in.
    pub block: u64,
    /// The module's content hash.
    pub module_hash: B256,
    /// The proposal.
    pub proposal: u64,
    /// True for deployed, false for revoked.
    pub deployed: bool,
}

/// A node the Anchor contract registered or deregistered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeEvent {
    /// Block it happened in.
    pub block: u64,
    /// The node's EVM address.
    pub address: Address,
    /// Its IPPOC NodeID.
    pub node_id: B256,
    /// True for registered, false for deregistered.
    pub registered: bool,
}

/// A DAO decision on a node's standing, as the Anchor contract records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LadderDecision {
    /// Promoted to `tier` (3 High or 4 Critical), proven against the anchored GI.
    Promote {
        /// The node's IPPOC NodeID.
        node_id: B256,
        /// The new tier.
        tier: u8,
    },
    /// An upheld appeal: the node's newest penalty is reversed.
    Appeal {
        /// The node's IPPOC NodeID.
        node_id: B256,
    },
}

/// What the Anchor contract's log says about the swarm's ladder: epochs
/// anchored (they settle which cycles can still receive decisions) and the
/// DAO's decisions, each with the cycle whose close applies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LadderEvent {
    /// A checkpoint was anchored for `epoch`.
    Anchored {
        /// Block it happened in.
        block: u64,
        /// The epoch.
        epoch: u64,
    },
    /// An executed proposal decided on a node's standing.
    Decided {
        /// Block it happened in.
        block: u64,
        /// The cycle whose close applies it.
        applies_at: u64,
        /// The proposal.
        proposal: u64,
        /// What it decided.
        decision: LadderDecision,
    },
}

/// A node's anchored GI as `Anchor.promote` takes it: the GI table root of
/// a cycle, the proof of its commitment leaf in the checkpoint of epoch
/// `cycle + GI_LAG_EPOCHS`, and the node's row with its proof.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GiProof {
    /// The cycle.
    pub cycle: u64,
    /// The root of the cycle's GI rows.
    pub gi_root: B256,
    /// Siblings from the commitment leaf to the checkpoint root.
    pub root_proof: Vec<B256>,
    /// The node's GI, ppm.
    pub gi: u32,
    /// Its tier after the cycle.
    pub tier: u8,
    /// 0 good standing, 1 suspended, 2 removed.
    pub status: u8,
    /// Siblings from the node's leaf to `gi_root`.
    pub leaf_proof: Vec<B256>,
}

impl GiProof {
    fn to_sol(&self) -> Anchor::GiProof {
        Anchor::GiProof {
            cycle: self.cycle,
            giRoot: self.gi_root,
            rootProof: self.root_proof.clone(),
            gi: self.gi,
            tier: self.tier,
            status: self.status,
            leafProof: self.leaf_proof.clone(),
        }
    }
}

/// The DAO on one chain.
#[derive(Debug)]
pub struct Dao<C> {
    chain: C,
    addresses: DaoAddresses,
}

/// Deploy `bytecode` with its ABI-encoded constructor arguments.
async fn create<C: Chain>(
    chain: &C,
    deployer: &PrivateKeySigner,
    bytecode: &Bytes,
    args: Vec<u8>,
) -> Result<Address, ChainError> {
    let mut code = bytecode.to_vec();
    code.extend_from_slice(&args);
    chain.deploy(deployer, code.into()).await
}

fn to_u64(v: U256, what: &str) -> Result<u64, ChainError> {
    u64::try_from(v).map_err(|_| ChainError::Decode(format!("{what} {v} does not fit in 64 bits")))
}

impl<C: Chain> Dao<C> {
    /// The DAO already deployed at `addresses`.
    pub fn at(chain: C, addresses: DaoAddresses) -> Self {
        Self { chain, addresses }
    }

    /// Deploy and wire the six contracts from `deployer`. After this only
    /// executed proposals change the system.
    pub async fn deploy(chain: C, deployer: &PrivateKeySigner, config: &DeployConfig) -> Result<Self, ChainError> {
        let (holders, amounts): (Vec<_>, Vec<_>) = config.holders.iter().copied().unzip();
        let token = create(
            &chain,
            deployer,
            &StakeToken::BYTECODE,
            StakeToken::constructorCall::new((holders, amounts)).abi_encode(),
        )
        .await?;
        let governance = create(
            &chain,
            deployer,
            &Governance::BYTECODE,
            Governance::constructorCall::new((token, config.vetoer, config.voting_period, config.proposal_stake))
                .abi_encode(),
        )
        .await?;
        let anchor = create(
            &chain,
            deployer,
            &Anchor::BYTECODE,
            Anchor::constructorCall::new((
                governance,
                config.anchor_quorum_bps,
                config.anchor_committee,
                deployer.address(),
            ))
            .abi_encode(),
        )
        .await?;
        // Constant gas per node: one transaction per batch, then the seal.
        for batch in config.nodes.chunks(GENESIS_BATCH) {
            let call = Anchor::registerGenesisCall {
                genesisNodes: batch.iter().map(|n| n.address).collect(),
                nodeIds: batch.iter().map(|n| B256::from(n.node_id)).collect(),
                tiers: batch.iter().map(|n| n.tier).collect(),
            };
            chain
                .send(deployer, anchor, U256::ZERO, call.abi_encode().into())
                .await?;
        }
        chain
            .send(
                deployer,
                anchor,
                U256::ZERO,
                Anchor::sealGenesisCall {}.abi_encode().into(),
            )
            .await?;
        let treasury = create(
            &chain,
            deployer,
            &Treasury::BYTECODE,
            Treasury::constructorCall::new((governance, config.sentinels)).abi_encode(),
        )
        .await?;
        let parameters = create(
            &chain,
            deployer,
            &Parameters::BYTECODE,
            Parameters::constructorCall::new((
                governance,
                config.parameters.iter().map(|p| parameter_key(&p.name)).collect(),
                config.parameters.iter().map(|p| p.value).collect(),
                config.parameters.iter().map(|p| p.invariant).collect(),
            ))
            .abi_encode(),
        )
        .await?;
        let registry = create(
            &chain,
            deployer,
            &EvolutionRegistry::BYTECODE,
            EvolutionRegistry::constructorCall::new((governance,)).abi_encode(),
        )
        .await?;
        let bind = Governance::bindCall {
            registry: anchor,
            targets: vec![parameters, treasury, anchor, anchor],
            selectors: vec![
                Parameters::setInvariantParameterCall::SELECTOR.into(),
                Treasury::replaceSentinelCall::SELECTOR.into(),
                Anchor::setQuorumBpsCall::SELECTOR.into(),
                Anchor::setCommitteeSizeCall::SELECTOR.into(),
            ],
        };
        chain
            .send(deployer, governance, U256::ZERO, bind.abi_encode().into())
            .await?;
        Ok(Self {
            chain,
            addresses: DaoAddresses {
                token,
                governance,
                anchor,
                treasury,
                parameters,
                registry,
            },
        })
    }

    /// The contracts' addresses.
    pub fn addresses(&self) -> DaoAddresses {
        self.addresses
    }

    /// The chain.
    pub fn chain(&self) -> &C {
        &self.chain
    }

    async fn read<T: SolCall>(&self, to: Address, call: T) -> Result<T::Return, ChainError> {
        let out = self.chain.call(to, call.abi_encode().into()).await?;
        T::abi_decode_returns(&out).map_err(|e| ChainError::Decode(e.to_string()))
    }

    async fn write<T: SolCall>(
        &self,
        from: &PrivateKeySigner,
        to: Address,
        call: T,
    ) -> Result<crate::chain::Receipt, ChainError> {
        self.chain.send(from, to, U256::ZERO, call.abi_encode().into()).await
    }

    async fn governance<T: SolCall>(&self, who: &PrivateKeySigner, call: T) -> Result<(), ChainError> {
        self.write(who, self.addresses.governance, call).await.map(drop)
    }

    // ---- stake --------------------------------------------------------------

    /// Approve and stake `amount` of the stake token.
    pub async fn stake(&self, who: &PrivateKeySigner, amount: U256) -> Result<(), ChainError> {
        let a = self.addresses;
        self.write(
            who,
            a.token,
            StakeToken::approveCall {
                spender: a.governance,
                value: amount,
            },
        )
        .await?;
        self.write(who, a.governance, Governance::stakeCall { amount }).await?;
        Ok(())
    }

    /// A human's current stake.
    pub async fn stake_of(&self, who: Address) -> Result<U256, ChainError> {
        self.read(self.addresses.governance, Governance::stakeOfCall(who)).await
    }

    // ---- proposals ------------------------------------------------------------

    /// Open a proposal; its id.
    pub async fn propose(
        &self,
        who: &PrivateKeySigner,
        actions: &[Action],
        description: &str,
    ) -> Result<u64, ChainError> {
        let call = Governance::proposeCall {
            targets: actions.iter().map(|a| a.target).collect(),
            values: actions.iter().map(|a| a.value).collect(),
            calldatas: actions.iter().map(|a| a.data.clone()).collect(),
            description: description.to_owned(),
        };
        let receipt = self.write(who, self.addresses.governance, call).await?;
        receipt
            .logs
            .iter()
            .filter(|l| l.address == self.addresses.governance)
            .find_map(|l| Governance::ProposalCreated::decode_log(l).ok())
            .map(|e| to_u64(e.data.id, "proposal id"))
            .ok_or_else(|| ChainError::Decode("propose emitted no ProposalCreated".into()))?
    }

    /// Vote as a human, committing `amount` of stake (half of it is burned).
    pub async fn vote(&self, who: &PrivateKeySigner, id: u64, support: bool, amount: U256) -> Result<(), ChainError> {
        self.governance(
            who,
            Governance::voteCall {
                id: U256::from(id),
                support,
                amount,
            },
        )
        .await
    }

    /// Vote as a registered node with its tier's advisory weight.
    pub async fn vote_as_node(&self, node: &PrivateKeySigner, id: u64, support: bool) -> Result<(), ChainError> {
        self.governance(
            node,
            Governance::voteAsNodeCall {
                id: U256::from(id),
                support,
            },
        )
        .await
    }

    /// Start the timelock of a passed proposal.
    pub async fn queue(&self, who: &PrivateKeySigner, id: u64) -> Result<(), ChainError> {
        self.governance(who, Governance::queueCall { id: U256::from(id) }).await
    }

    /// Execute a queued proposal whose timelock is over.
    pub async fn execute(&self, who: &PrivateKeySigner, id: u64) -> Result<(), ChainError> {
        self.governance(who, Governance::executeCall { id: U256::from(id) })
            .await
    }

    /// Cancel a proposal (the veto role only).
    pub async fn veto(&self, vetoer: &PrivateKeySigner, id: u64) -> Result<(), ChainError> {
        self.governance(vetoer, Governance::vetoCall { id: U256::from(id) })
            .await
    }

    /// A proposal's state and tallies.
    pub async fn status(&self, id: u64) -> Result<ProposalStatus, ChainError> {
        let g = self.addresses.governance;
        let state = self.read(g, Governance::stateCall { id: U256::from(id) }).await?;
        let p = self.read(g, Governance::proposalCall { id: U256::from(id) }).await?;
        Ok(ProposalStatus {
            id,
            state: ProposalState::from_u8(state)?,
            proposer: p.proposer,
            invariant_class: p.invariantClass,
            vote_end: p.voteEnd,
            eta: p.eta,
            human_yes: p.humanYes,
            human_no: p.humanNo,
            ai_yes: p.aiYes,
            ai_no: p.aiNo,
            human_power: p.humanPower,
            ai_power: p.aiPower,
        })
    }

    /// How many proposals exist (ids are 1..=count).
    pub async fn proposal_count(&self) -> Result<u64, ChainError> {
        to_u64(
            self.read(self.addresses.governance, Governance::proposalCountCall {})
                .await?,
            "proposal count",
        )
    }

    // ---- actions for common proposals ---------------------------------------

    /// The action that sets a standard parameter.
    pub fn set_parameter(&self, name: &str, value: U256) -> Action {
        let data = Parameters::setParameterCall {
            key: parameter_key(name),
            value,
        }
        .abi_encode();
        Action {
            target: self.addresses.parameters,
            value: U256::ZERO,
            data: data.into(),
        }
    }

    /// The action that sets an invariant parameter (makes the proposal invariant-class).
    pub fn set_invariant_parameter(&self, name: &str, value: U256) -> Action {
        let data = Parameters::setInvariantParameterCall {
            key: parameter_key(name),
            value,
        }
        .abi_encode();
        Action {
            target: self.addresses.parameters,
            value: U256::ZERO,
            data: data.into(),
        }
    }

    /// The action that marks a skill deployed with its risk score (basis points).
    pub fn deploy_module(&self, module_hash: B256, risk_score: u32) -> Action {
        let data = EvolutionRegistry::deployCall {
            moduleHash: module_hash,
            riskScore: risk_score,
        }
        .abi_encode();
        Action {
            target: self.addresses.registry,
            value: U256::ZERO,
            data: data.into(),
        }
    }

    /// The action that pays `amount` wei from the treasury to `to`.
    pub fn release_eth(&self, to: Address, amount: U256) -> Action {
        let data = Treasury::releaseEthCall { to, amount }.abi_encode();
        Action {
            target: self.addresses.treasury,
            value: U256::ZERO,
            data: data.into(),
        }
    }

    /// The action that promotes the registered node at `node` to `tier`
    /// (High 3 or Critical 4), proven by `proof`.
    pub fn promote(&self, node: Address, tier: u8, proof: &GiProof) -> Action {
        let data = Anchor::promoteCall {
            node,
            tier,
            proof: proof.to_sol(),
        }
        .abi_encode();
        self.anchor_action(data)
    }

    /// The action that sets a registered node's tier, Standard (2) or below.
    pub fn set_tier(&self, node: Address, tier: u8) -> Action {
        self.anchor_action(Anchor::setTierCall { node, tier }.abi_encode())
    }

    /// The action that upholds an appeal of the node `node_id`: its newest
    /// penalty (a suspension, demotion, lapse or removal) is reversed.
    pub fn appeal(&self, node_id: B256) -> Action {
        self.anchor_action(Anchor::appealCall { nodeId: node_id }.abi_encode())
    }

    fn anchor_action(&self, data: Vec<u8>) -> Action {
        Action {
            target: self.addresses.anchor,
            value: U256::ZERO,
            data: data.into(),
        }
    }

    /// Whether `proof` shows `node_id`'s row in an anchored GI table.
    pub async fn verify_gi(&self, node_id: B256, proof: &GiProof) -> Result<bool, ChainError> {
        self.read(
            self.addresses.anchor,
            Anchor::verifyGiCall {
                nodeId: node_id,
                proof: proof.to_sol(),
            },
        )
        .await
    }

    /// Epochs anchored and ladder decisions in blocks `from_block..`, oldest first.
    pub async fn ladder_events(&self, from_block: u64) -> Result<Vec<LadderEvent>, ChainError> {
        let logs = self.chain.logs(self.addresses.anchor, from_block).await?;
        let mut out = Vec::new();
        for l in logs {
            let block = l.block;
            if let Ok(e) = Anchor::Anchored::decode_log(&l.log) {
                out.push(LadderEvent::Anchored {
                    block,
                    epoch: e.data.epoch,
                });
            } else if let Ok(e) = Anchor::Promoted::decode_log(&l.log) {
                out.push(LadderEvent::Decided {
                    block,
                    applies_at: e.data.appliesAt,
                    proposal: to_u64(e.data.proposalId, "proposal id")?,
                    decision: LadderDecision::Promote {
                        node_id: e.data.nodeId,
                        tier: e.data.tier,
                    },
                });
            } else if let Ok(e) = Anchor::Appealed::decode_log(&l.log) {
                out.push(LadderEvent::Decided {
                    block,
                    applies_at: e.data.appliesAt,
                    proposal: to_u64(e.data.proposalId, "proposal id")?,
                    decision: LadderDecision::Appeal { node_id: e.data.nodeId },
                });
            }
        }
        Ok(out)
    }

    /// A registered node's tier on chain (0..=4), or `None` if it is not active.
    pub async fn tier_of(&self, node: Address) -> Result<Option<u8>, ChainError> {
        let n = self.read(self.addresses.anchor, Anchor::nodesCall(node)).await?;
        Ok(n.active.then_some(n.tier))
    }

    // ---- governed state -------------------------------------------------------

    /// A parameter's current value.
    pub async fn parameter(&self, name: &str) -> Result<U256, ChainError> {
        self.read(self.addresses.parameters, Parameters::valueOfCall(parameter_key(name)))
            .await
    }

    /// Parameter changes in blocks `from_block..`, oldest first.
    pub async fn parameter_changes(&self, from_block: u64) -> Result<Vec<ParameterChange>, ChainError> {
        let logs = self.chain.logs(self.addresses.parameters, from_block).await?;
        let mut out = Vec::new();
        for l in logs {
            if let Ok(e) = Parameters::ParameterChanged::decode_log(&l.log) {
                out.push(ParameterChange {
                    block: l.block,
                    key: e.data.key,
                    value: e.data.value,
                    proposal: to_u64(e.data.proposalId, "proposal id")?,
                });
            }
        }
        Ok(out)
    }

    /// Whether the registry lists `module_hash` as deployed.
    pub async fn is_deployed(&self, module_hash: B256) -> Result<bool, ChainError> {
        self.read(
            self.addresses.registry,
            EvolutionRegistry::isDeployedCall {
                moduleHash: module_hash,
            },
        )
        .await
    }

    /// Modules deployed or revoked in blocks `from_block..`, oldest first.
    pub async fn module_events(&self, from_block: u64) -> Result<Vec<ModuleEvent>, ChainError> {
        let logs = self.chain.logs(self.addresses.registry, from_block).await?;
        let mut out = Vec::new();
        for l in logs {
            let event = if let Ok(e) = EvolutionRegistry::ModuleDeployed::decode_log(&l.log) {
                (e.data.moduleHash, e.data.proposalId, true)
            } else if let Ok(e) = EvolutionRegistry::ModuleRevoked::decode_log(&l.log) {
                (e.data.moduleHash, e.data.proposalId, false)
            } else {
                continue;
            };
            out.push(ModuleEvent {
                block: l.block,
                module_hash: event.0,
                proposal: to_u64(event.1, "proposal id")?,
                deployed: event.2,
            });
        }
        Ok(out)
    }

    // ---- anchors ----------------------------------------------------------------

    /// Node registrations and deregistrations in blocks `from_block..`, oldest first.
    pub async fn node_events(&self, from_block: u64) -> Result<Vec<NodeEvent>, ChainError> {
        let logs = self.chain.logs(self.addresses.anchor, from_block).await?;
        let mut out = Vec::new();
        for l in logs {
            let (address, node_id, registered) = if let Ok(e) = Anchor::NodeRegistered::decode_log(&l.log) {
                (e.data.node, e.data.nodeId, true)
            } else if let Ok(e) = Anchor::NodeDeregistered::decode_log(&l.log) {
                (e.data.node, e.data.nodeId, false)
            } else {
                continue;
            };
            out.push(NodeEvent {
                block: l.block,
                address,
                node_id,
                registered,
            });
        }
        Ok(out)
    }

    /// The EIP-191 digest a node signs to co-sign `root` for `epoch`,
    /// computed locally exactly as `Anchor.checkpointDigest` does.
    pub async fn checkpoint_message(&self, epoch: u64, root: B256) -> Result<B256, ChainError> {
        let chain_id = self.chain.chain_id().await?;
        Ok(checkpoint_message(chain_id, self.addresses.anchor, epoch, root))
    }

    /// Who holds each seat of `epoch`'s anchoring committee, as the chain's
    /// registry stands now.
    pub async fn committee(&self, epoch: u64) -> Result<Vec<Address>, ChainError> {
        self.read(self.addresses.anchor, Anchor::committeeCall { epoch }).await
    }

    /// The certificate `signatures` make for `epoch`'s committee as the chain
    /// stands now: every seat whose holder signed (a node holding several
    /// seats signs for each).
    pub async fn certificate(&self, epoch: u64, signatures: &[CheckpointSignature]) -> Result<Certificate, ChainError> {
        Ok(Certificate::of(&self.committee(epoch).await?, signatures))
    }

    /// Anchor `root` for `epoch` from the registered node `submitter` with
    /// the co-signatures `signatures` (any order; only those of the epoch's
    /// committee are sent, one per seat).
    pub async fn anchor(
        &self,
        submitter: &PrivateKeySigner,
        epoch: u64,
        root: B256,
        signatures: Vec<CheckpointSignature>,
    ) -> Result<(), ChainError> {
        let certificate = self.certificate(epoch, &signatures).await?;
        self.anchor_certificate(submitter, epoch, root, certificate).await
    }

    /// Anchor `root` for `epoch` with a certificate already built.
    pub async fn anchor_certificate(
        &self,
        submitter: &PrivateKeySigner,
        epoch: u64,
        root: B256,
        certificate: Certificate,
    ) -> Result<(), ChainError> {
        let call = Anchor::anchorCall {
            epoch,
            root,
            seats: certificate.seats,
            signatures: certificate.signatures,
        };
        self.write(submitter, self.addresses.anchor, call).await.map(drop)
    }

    /// The root anchored for `epoch`, if any.
    pub async fn root_of(&self, epoch: u64) -> Result<Option<B256>, ChainError> {
        let root = self.read(self.addresses.anchor, Anchor::rootOfCall { epoch }).await?;
        Ok((root != B256::ZERO).then_some(root))
    }

    /// How many conflicting roots (equivocation evidence) were submitted.
    pub async fn conflict_count(&self) -> Result<u64, ChainError> {
        to_u64(
            self.read(self.addresses.anchor, Anchor::conflictCountCall {}).await?,
            "conflict count",
        )
    }

    /// Ask the contract whether `proof` puts its leaf under the root anchored
    /// for `epoch`.
    pub async fn verify_inclusion(&self, epoch: u64, proof: &crate::merkle::MerkleProof) -> Result<bool, ChainError> {
        self.read(
            self.addresses.anchor,
            Anchor::verifyInclusionCall {
                epoch,
                leaf: proof.leaf,
                proof: proof.siblings.clone(),
            },
        )
        .await
    }

    /// How many of the committee's seats must sign for `Anchor.anchor` now.
    pub async fn required_signers(&self) -> Result<u64, ChainError> {
        to_u64(
            self.read(self.addresses.anchor, Anchor::requiredSignersCall {}).await?,
            "required signers",
        )
    }

    /// Whether `who` is an active registered node.
    pub async fn is_node(&self, who: Address) -> Result<bool, ChainError> {
        self.read(self.addresses.anchor, Anchor::isActiveCall { node: who })
            .await
    }
}

/// A quorum certificate as `Anchor.anchor` takes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Certificate {
    /// Bit s set: seat s signed.
    pub seats: U256,
    /// One signature per set bit, in ascending seat order.
    pub signatures: Vec<Bytes>,
}

impl Certificate {
    /// The certificate `signatures` make for a committee whose seat s is
    /// held by `holders[s]` (seats past 256 are ignored: the contract has no
    /// more).
    pub fn of(holders: &[Address], signatures: &[CheckpointSignature]) -> Certificate {
        let by_signer: std::collections::HashMap<Address, &Bytes> =
            signatures.iter().map(|s| (s.signer, &s.signature)).collect();
        let mut certificate = Certificate::default();
        for (seat, holder) in holders.iter().enumerate().take(256) {
            if let Some(signature) = by_signer.get(holder) {
                certificate.seats |= U256::from(1u8) << seat;
                certificate.signatures.push((*signature).clone());
            }
        }
        certificate
    }

    /// Seats signed.
    pub fn signed(&self) -> u64 {
        self.signatures.len() as u64
    }
}

/// `Anchor.checkpointDigest` without the chain: the EIP-191 hash of
/// keccak(abi.encode("IPPOC checkpoint", chain id, anchor, epoch, root)).
pub fn checkpoint_message(chain_id: u64, anchor: Address, epoch: u64, root: B256) -> B256 {
    let inner =
        keccak256(("IPPOC checkpoint".to_owned(), U256::from(chain_id), anchor, epoch, root).abi_encode_params());
    alloy::primitives::eip191_hash_message(inner)
}

/// One node's co-signature of a checkpoint root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointSignature {
    /// The signing node's EVM address.
    pub signer: Address,
    /// 65-byte r ‖ s ‖ v signature.
    pub signature: Bytes,
}

/// Co-sign `root` for `epoch` with a node's EVM key.
pub fn sign_checkpoint(
    key: &PrivateKeySigner,
    chain_id: u64,
    anchor: Address,
    epoch: u64,
    root: B256,
) -> Result<CheckpointSignature, ChainError> {
    // Sign the very digest the contract recovers from, not a second copy of its recipe.
    let sig = key
        .sign_hash_sync(&checkpoint_message(chain_id, anchor, epoch, root))
        .map_err(|e| ChainError::Decode(e.to_string()))?;
    Ok(CheckpointSignature {
        signer: key.address(),
        signature: sig.as_bytes().to_vec().into(),
    })
}

/// The EVM address whose co-signature `signature` (r ‖ s ‖ v) is of `root`
/// for `epoch`, as `Anchor.anchor` will recover it.
pub fn recover_checkpoint_signer(
    chain_id: u64,
    anchor: Address,
    epoch: u64,
    root: B256,
    signature: &[u8],
) -> Result<Address, ChainError> {
    let sig = alloy::primitives::Signature::from_raw(signature).map_err(|e| ChainError::Decode(e.to_string()))?;
    sig.recover_address_from_prehash(&checkpoint_message(chain_id, anchor, epoch, root))
        .map_err(|e| ChainError::Decode(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_fills_every_seat_its_holder_signed_and_only_those() {
        let keys: Vec<PrivateKeySigner> = (1..=4u8)
            .map(|i| PrivateKeySigner::from_slice(&[i; 32]).unwrap())
            .collect();
        let sig = |k: &PrivateKeySigner| sign_checkpoint(k, 1, Address::ZERO, 7, B256::repeat_byte(1)).unwrap();
        // Seats 0..4 held by keys 0, 1, 0, 2: key 0 holds two seats.
        let holders = [0, 1, 0, 2].map(|i| keys[i].address());
        // Keys 0 and 3 signed; key 3 holds no seat.
        let signed = [sig(&keys[0]), sig(&keys[3])];
        let c = Certificate::of(&holders, &signed);
        assert_eq!(c.seats, U256::from(0b0101u8), "both of key 0's seats, nobody else's");
        assert_eq!(c.signatures, vec![signed[0].signature.clone(); 2]);
        assert_eq!(c.signed(), 2);
        assert_eq!(Certificate::of(&holders, &[]), Certificate::default());
    }
}
