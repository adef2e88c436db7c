// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {Governed} from "./Governed.sol";

/// @title Treasury
/// @notice Holds the swarm's ETH and ERC-20 funds (iUSD among them). Funds
/// leave only by an executed Governance proposal. Eight sentinels can pause
/// releases in an emergency when six of them approve; only Governance
/// unpauses.
contract Treasury is Governed, ReentrancyGuard {
    using SafeERC20 for IERC20;

    uint256 public constant SENTINELS = 8;
    uint256 public constant PAUSE_THRESHOLD = 6;

    address[SENTINELS] internal _sentinels;
    mapping(address => bool) public isSentinel;
    bool public paused;
    /// @notice Approvals count per round; a pause starts a new round.
    uint256 public pauseRound;
    uint256 public pauseApprovals;
    mapping(uint256 => mapping(address => bool)) public approvedPause;

    event Deposited(address indexed from, uint256 amount);
    event Released(address indexed token, address indexed to, uint256 amount, uint256 proposalId);
    event PauseApproved(address indexed sentinel, uint256 round, uint256 approvals);
    event PauseApprovalWithdrawn(address indexed sentinel, uint256 round, uint256 approvals);
    event Paused(uint256 round);
    event Unpaused();
    event SentinelReplaced(address indexed previous, address indexed next);

    error IsPaused();
    error NotPaused();
    error NotSentinel(address caller);
    error AlreadyApproved(address sentinel);
    error NotApproved(address sentinel);
    error DuplicateSentinel(address sentinel);
    error TransferFailed();

    constructor(address governance_, address[SENTINELS] memory sentinels_) Governed(governance_) {
        for (uint256 i = 0; i < SENTINELS; i++) {
            address s = sentinels_[i];
            if (s == address(0)) revert ZeroAddress();
            if (isSentinel[s]) revert DuplicateSentinel(s);
            isSentinel[s] = true;
            _sentinels[i] = s;
        }
    }

    receive() external payable {
        emit Deposited(msg.sender, msg.value);
    }

    function sentinels() external view returns (address[SENTINELS] memory) {
        return _sentinels;
    }

    function releaseEth(address payable to, uint256 amount) external onlyGovernance nonReentrant {
        if (paused) revert IsPaused();
        if (to == address(0)) revert ZeroAddress();
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert TransferFailed();
        emit Released(address(0), to, amount, _proposalId());
    }

    function releaseToken(IERC20 token, address to, uint256 amount) external onlyGovernance nonReentrant {
        if (paused) revert IsPaused();
        if (to == address(0)) revert ZeroAddress();
        token.safeTransfer(to, amount);
        emit Released(address(token), to, amount, _proposalId());
    }

    /// @notice A sentinel's vote to pause; the sixth approval pauses.
    function approvePause() external {
        if (!isSentinel[msg.sender]) revert NotSentinel(msg.sender);
        if (paused) revert IsPaused();
        if (approvedPause[pauseRound][msg.sender]) revert AlreadyApproved(msg.sender);
        approvedPause[pauseRound][msg.sender] = true;
        pauseApprovals += 1;
        emit PauseApproved(msg.sender, pauseRound, pauseApprovals);
        if (pauseApprovals >= PAUSE_THRESHOLD) {
            paused = true;
            emit Paused(pauseRound);
            pauseRound += 1;
            pauseApprovals = 0;
        }
    }

    function withdrawPauseApproval() external {
        if (!approvedPause[pauseRound][msg.sender]) revert NotApproved(msg.sender);
        approvedPause[pauseRound][msg.sender] = false;
        pauseApprovals -= 1;
        emit PauseApprovalWithdrawn(msg.sender, pauseRound, pauseApprovals);
    }

    function unpause() external onlyGovernance {
        if (!paused) revert NotPaused();
        paused = false;
        emit Unpaused();
    }

    /// @notice Swap one sentinel for another (an invariant-class change).
    function replaceSentinel(address previous, address next) external onlyGovernance {
        if (!isSentinel[previous]) revert NotSentinel(previous);
        if (next == address(0)) revert ZeroAddress();
        if (isSentinel[next]) revert DuplicateSentinel(next);
        for (uint256 i = 0; i < SENTINELS; i++) {
            if (_sentinels[i] == previous) _sentinels[i] = next;
        }
        isSentinel[previous] = false;
        isSentinel[next] = true;
        // An approval of the departing sentinel no longer counts.
        if (approvedPause[pauseRound][previous]) {
            approvedPause[pauseRound][previous] = false;
            pauseApprovals -= 1;
        }
        emit SentinelReplaced(previous, next);
    }
}
