// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title Governed
/// @notice Base for contracts whose state changes only by an executed proposal
/// of the IPPOC Governance contract.
abstract contract Governed {
    /// @notice The Governance contract; the only caller of governed functions.
    address public immutable governance;

    error NotGovernance(address caller);
    error ZeroAddress();

    constructor(address governance_) {
        if (governance_ == address(0)) revert ZeroAddress();
        governance = governance_;
    }

    modifier onlyGovernance() {
        if (msg.sender != governance) revert NotGovernance(msg.sender);
        _;
    }

    /// @notice The proposal whose execution is calling, so every change
    /// records which proposal made it.
    function _proposalId() internal view returns (uint256) {
        return IExecuting(governance).executingProposalId();
    }
}

/// @notice The proposal Governance is executing.
interface IExecuting {
    function executingProposalId() external view returns (uint256);
}
