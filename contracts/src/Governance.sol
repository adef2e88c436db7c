// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ERC20Burnable} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Burnable.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

/// @notice What Governance reads from the node registry (Anchor).
interface INodeRegistry {
    function isActive(address node) external view returns (bool);
    function weightOf(address node) external view returns (uint256);
    function totalTierWeight() external view returns (uint256);
}

/// @title Governance
/// @notice Hybrid DAO voting for the IPPOC swarm.
///
/// Humans hold constitutional weight: the square root of the stake they commit
/// to a vote, capped at 5% of the total voting power; half of the committed
/// stake is burned (anti-spam). Registered nodes hold advisory weight by tier.
/// A proposal passes with >= 60% yes and >= 40% quorum, and only if humans
/// alone voted more yes than no: AI weight can never pass a proposal alone.
/// Invariant-class proposals (any action whose selector is registered as
/// invariant) ignore AI weight and need a human supermajority (2/3) with a 40%
/// human quorum. A passed proposal waits 48 h in a timelock; the veto role can
/// cancel any proposal before it executes.
contract Governance is ReentrancyGuard {
    using SafeERC20 for IERC20;

    /// @notice Where a proposal is in its life.
    enum State {
        Active,
        Defeated,
        Succeeded,
        Queued,
        Executed,
        Vetoed
    }

    /// @notice One call a proposal makes when it executes.
    struct Action {
        address target;
        uint256 value;
        bytes data;
    }

    /// @notice A proposal's tallies and lifecycle marks.
    struct Proposal {
        address proposer;
        bool invariantClass;
        bool vetoed;
        bool executed;
        uint64 voteEnd;
        uint64 eta;
        uint256 humanYes;
        uint256 humanNo;
        uint256 aiYes;
        uint256 aiNo;
        uint256 humanPower;
        uint256 aiPower;
    }

    uint256 public constant BPS = 10_000;
    uint256 public constant PASS_BPS = 6_000;
    uint256 public constant QUORUM_BPS = 4_000;
    uint256 public constant SUPERMAJORITY_BPS = 6_667;
    uint256 public constant WHALE_CAP_BPS = 500;
    uint256 public constant VOTE_BURN_BPS = 5_000;
    uint256 public constant TIMELOCK = 48 hours;

    ERC20Burnable public immutable stakeToken;
    uint64 public immutable votingPeriod;
    /// @notice Least stake (token units) a human needs to propose.
    uint256 public immutable proposalStake;

    INodeRegistry public nodeRegistry;
    address public vetoer;
    address private _binder;

    mapping(address => uint256) public stakeOf;
    /// @notice Stake stays locked until the end of the last vote it was used in.
    mapping(address => uint64) public lockedUntil;
    /// @notice Sum over stakers of sqrt(stake): the human voting power.
    uint256 public totalHumanPower;

    uint256 public proposalCount;
    mapping(uint256 => Proposal) internal _proposals;
    mapping(uint256 => Action[]) internal _actions;
    mapping(uint256 => mapping(address => bool)) public humanVoted;
    mapping(uint256 => mapping(address => bool)) public nodeVoted;
    mapping(address => mapping(bytes4 => bool)) public isInvariantSelector;

    /// @notice The proposal being executed, zero otherwise; governed contracts
    /// read it to record which proposal changed them.
    uint256 public executingProposalId;

    event Bound(address nodeRegistry);
    event Staked(address indexed staker, uint256 amount);
    event Unstaked(address indexed staker, uint256 amount);
    event ProposalCreated(
        uint256 indexed id,
        address indexed proposer,
        bool invariantClass,
        uint64 voteEnd,
        Action[] actions,
        string description
    );
    event HumanVoted(uint256 indexed id, address indexed voter, bool support, uint256 weight, uint256 burned);
    event NodeVoted(uint256 indexed id, address indexed node, bool support, uint256 weight);
    event ProposalQueued(uint256 indexed id, uint64 eta);
    event ProposalExecuted(uint256 indexed id);
    event ProposalVetoed(uint256 indexed id, address indexed vetoer);
    event VetoerChanged(address vetoer);
    event InvariantSelectorSet(address indexed target, bytes4 selector, bool invariant);

    error ZeroAddress();
    error AlreadyBound();
    error NotBound();
    error ZeroAmount();
    error InsufficientStake(uint256 have, uint256 need);
    error StakeLocked(uint64 until);
    error NoActions();
    error LengthMismatch();
    error NotAllowedToPropose(address proposer);
    error UnknownProposal(uint256 id);
    error WrongState(uint256 id, State state);
    error AlreadyVoted(uint256 id, address voter);
    error NotANode(address caller);
    error TimelockNotOver(uint64 eta);
    error NotVetoer(address caller);
    error OnlySelf();
    error ActionFailed(uint256 index, bytes reason);

    constructor(ERC20Burnable stakeToken_, address vetoer_, uint64 votingPeriod_, uint256 proposalStake_) {
        if (address(stakeToken_) == address(0) || vetoer_ == address(0)) revert ZeroAddress();
        stakeToken = stakeToken_;
        vetoer = vetoer_;
        votingPeriod = votingPeriod_;
        proposalStake = proposalStake_;
        _binder = msg.sender;
        // Who holds the veto and what counts as an invariant are themselves
        // invariants.
        _setInvariantSelector(address(this), Governance.setVetoer.selector, true);
        _setInvariantSelector(address(this), Governance.setInvariantSelector.selector, true);
    }

    /// @notice One-time wiring by the deployer, once the registry and the
    /// governed contracts exist: the node registry and the selectors that make
    /// a proposal invariant-class.
    function bind(INodeRegistry registry, address[] calldata targets, bytes4[] calldata selectors) external {
        if (msg.sender != _binder) revert AlreadyBound();
        if (address(registry) == address(0)) revert ZeroAddress();
        if (targets.length != selectors.length) revert LengthMismatch();
        _binder = address(0);
        nodeRegistry = registry;
        for (uint256 i = 0; i < targets.length; i++) {
            _setInvariantSelector(targets[i], selectors[i], true);
        }
        emit Bound(address(registry));
    }

    // ---- stake ------------------------------------------------------------

    function stake(uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        IERC20(address(stakeToken)).safeTransferFrom(msg.sender, address(this), amount);
        _setStake(msg.sender, stakeOf[msg.sender] + amount);
        emit Staked(msg.sender, amount);
    }

    function unstake(uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        uint256 have = stakeOf[msg.sender];
        if (amount > have) revert InsufficientStake(have, amount);
        if (lockedUntil[msg.sender] > block.timestamp) revert StakeLocked(lockedUntil[msg.sender]);
        _setStake(msg.sender, have - amount);
        IERC20(address(stakeToken)).safeTransfer(msg.sender, amount);
        emit Unstaked(msg.sender, amount);
    }

    // ---- proposals --------------------------------------------------------

    /// @notice Open a proposal. Humans with `proposalStake` and active nodes
    /// may propose (nodes submit evolutions).
    function propose(
        address[] calldata targets,
        uint256[] calldata values,
        bytes[] calldata calldatas,
        string calldata description
    ) external returns (uint256 id) {
        if (address(nodeRegistry) == address(0)) revert NotBound();
        if (targets.length == 0) revert NoActions();
        if (targets.length != values.length || targets.length != calldatas.length) revert LengthMismatch();
        bool isNode = nodeRegistry.isActive(msg.sender);
        if (!isNode && (stakeOf[msg.sender] == 0 || stakeOf[msg.sender] < proposalStake)) {
            revert NotAllowedToPropose(msg.sender);
        }

        id = ++proposalCount;
        Proposal storage p = _proposals[id];
        p.proposer = msg.sender;
        p.voteEnd = SafeCast.toUint64(block.timestamp + votingPeriod);
        p.humanPower = totalHumanPower;
        p.aiPower = nodeRegistry.totalTierWeight();

        Action[] storage list = _actions[id];
        for (uint256 i = 0; i < targets.length; i++) {
            if (_isInvariantCall(targets[i], calldatas[i])) p.invariantClass = true;
            list.push(Action(targets[i], values[i], calldatas[i]));
        }
        emit ProposalCreated(id, msg.sender, p.invariantClass, p.voteEnd, list, description);
    }

    /// @notice Vote as a human, committing `amount` of your stake: weight is
    /// sqrt(amount) capped at 5% of the total voting power when the proposal
    /// opened, and half of `amount` is burned.
    function vote(uint256 id, bool support, uint256 amount) external nonReentrant {
        Proposal storage p = _proposalInState(id, State.Active);
        if (humanVoted[id][msg.sender]) revert AlreadyVoted(id, msg.sender);
        if (amount == 0) revert ZeroAmount();
        uint256 have = stakeOf[msg.sender];
        if (amount > have) revert InsufficientStake(have, amount);

        humanVoted[id][msg.sender] = true;
        uint256 weight = humanWeight(amount, p.humanPower + p.aiPower);
        if (support) p.humanYes += weight;
        else p.humanNo += weight;
        if (lockedUntil[msg.sender] < p.voteEnd) lockedUntil[msg.sender] = p.voteEnd;

        uint256 burned = (amount * VOTE_BURN_BPS) / BPS;
        if (burned > 0) {
            _setStake(msg.sender, have - burned);
            stakeToken.burn(burned);
        }
        emit HumanVoted(id, msg.sender, support, weight, burned);
    }

    /// @notice Vote as a registered node with its tier's advisory weight.
    function voteAsNode(uint256 id, bool support) external {
        Proposal storage p = _proposalInState(id, State.Active);
        if (!nodeRegistry.isActive(msg.sender)) revert NotANode(msg.sender);
        if (nodeVoted[id][msg.sender]) revert AlreadyVoted(id, msg.sender);
        nodeVoted[id][msg.sender] = true;
        uint256 weight = nodeRegistry.weightOf(msg.sender);
        if (support) p.aiYes += weight;
        else p.aiNo += weight;
        emit NodeVoted(id, msg.sender, support, weight);
    }

    /// @notice Start the 48 h timelock of a passed proposal.
    function queue(uint256 id) external {
        Proposal storage p = _proposalInState(id, State.Succeeded);
        p.eta = SafeCast.toUint64(block.timestamp + TIMELOCK);
        emit ProposalQueued(id, p.eta);
    }

    /// @notice Run a queued proposal's actions once its timelock is over. A
    /// failing action reverts the whole execution; the proposal stays queued.
    function execute(uint256 id) external payable nonReentrant {
        Proposal storage p = _proposalInState(id, State.Queued);
        if (block.timestamp < p.eta) revert TimelockNotOver(p.eta);
        p.executed = true;
        executingProposalId = id;
        Action[] storage list = _actions[id];
        for (uint256 i = 0; i < list.length; i++) {
            (bool ok, bytes memory reason) = list[i].target.call{value: list[i].value}(list[i].data);
            if (!ok) revert ActionFailed(i, reason);
        }
        executingProposalId = 0;
        emit ProposalExecuted(id);
    }

    /// @notice Cancel a proposal that has not executed. Only the human veto role.
    function veto(uint256 id) external {
        if (msg.sender != vetoer) revert NotVetoer(msg.sender);
        State s = state(id);
        if (s == State.Executed || s == State.Vetoed) revert WrongState(id, s);
        _proposals[id].vetoed = true;
        emit ProposalVetoed(id, msg.sender);
    }

    // ---- self-governed settings (invariant-class) -------------------------

    function setVetoer(address vetoer_) external {
        if (msg.sender != address(this)) revert OnlySelf();
        if (vetoer_ == address(0)) revert ZeroAddress();
        vetoer = vetoer_;
        emit VetoerChanged(vetoer_);
    }

    function setInvariantSelector(address target, bytes4 selector, bool invariant) external {
        if (msg.sender != address(this)) revert OnlySelf();
        _setInvariantSelector(target, selector, invariant);
    }

    // ---- views ------------------------------------------------------------

    function state(uint256 id) public view returns (State) {
        if (id == 0 || id > proposalCount) revert UnknownProposal(id);
        Proposal storage p = _proposals[id];
        if (p.vetoed) return State.Vetoed;
        if (p.executed) return State.Executed;
        if (block.timestamp < p.voteEnd) return State.Active;
        if (!passed(id)) return State.Defeated;
        if (p.eta == 0) return State.Succeeded;
        return State.Queued;
    }

    /// @notice Whether the tallies meet the passing rules (ignores time, veto).
    function passed(uint256 id) public view returns (bool) {
        Proposal storage p = _proposals[id];
        uint256 humanVotes = p.humanYes + p.humanNo;
        if (p.invariantClass) {
            return humanVotes > 0 && humanVotes * BPS >= QUORUM_BPS * p.humanPower
                && p.humanYes * BPS >= SUPERMAJORITY_BPS * humanVotes;
        }
        uint256 votes = humanVotes + p.aiYes + p.aiNo;
        return p.humanYes > p.humanNo && votes * BPS >= QUORUM_BPS * (p.humanPower + p.aiPower)
            && (p.humanYes + p.aiYes) * BPS >= PASS_BPS * votes;
    }

    function proposal(uint256 id) external view returns (Proposal memory) {
        if (id == 0 || id > proposalCount) revert UnknownProposal(id);
        return _proposals[id];
    }

    function actions(uint256 id) external view returns (Action[] memory) {
        if (id == 0 || id > proposalCount) revert UnknownProposal(id);
        return _actions[id];
    }

    /// @notice Constitutional weight of committing `amount` against a total
    /// voting power of `totalPower`.
    function humanWeight(uint256 amount, uint256 totalPower) public pure returns (uint256) {
        return Math.min(Math.sqrt(amount), (totalPower * WHALE_CAP_BPS) / BPS);
    }

    // ---- internal -----------------------------------------------------------

    function _proposalInState(uint256 id, State wanted) internal view returns (Proposal storage) {
        State s = state(id);
        if (s != wanted) revert WrongState(id, s);
        return _proposals[id];
    }

    function _setStake(address staker, uint256 newStake) internal {
        totalHumanPower = totalHumanPower - Math.sqrt(stakeOf[staker]) + Math.sqrt(newStake);
        stakeOf[staker] = newStake;
    }

    function _isInvariantCall(address target, bytes calldata data) internal view returns (bool) {
        return data.length >= 4 && isInvariantSelector[target][bytes4(data[:4])];
    }

    function _setInvariantSelector(address target, bytes4 selector, bool invariant) internal {
        isInvariantSelector[target][selector] = invariant;
        emit InvariantSelectorSet(target, selector, invariant);
    }

    receive() external payable {}
}
