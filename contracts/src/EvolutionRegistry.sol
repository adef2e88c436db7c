// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {Governed} from "./Governed.sol";

/// @title EvolutionRegistry
/// @notice The skills (WASM modules, by content hash) the DAO has deployed to
/// the swarm, with the proposal that deployed them and their risk score.
/// Nodes run a module in production only while it is deployed here.
contract EvolutionRegistry is Governed {
    /// @notice Where a module stands.
    enum Status {
        Unknown,
        Deployed,
        Revoked
    }

    /// @notice A module's record.
    struct Module {
        Status status;
        uint32 riskScore;
        uint64 deployedAt;
        uint256 proposalId;
    }

    /// @notice Risk scores are basis points: 0 harmless .. 10000 certain harm.
    uint32 public constant MAX_RISK = 10_000;

    mapping(bytes32 => Module) internal _modules;
    bytes32[] internal _deployed;

    event ModuleDeployed(bytes32 indexed moduleHash, uint256 indexed proposalId, uint32 riskScore);
    event ModuleRevoked(bytes32 indexed moduleHash, uint256 indexed proposalId);

    error BadRiskScore(uint32 riskScore);
    error AlreadyKnown(bytes32 moduleHash);
    error NotDeployed(bytes32 moduleHash);

    constructor(address governance_) Governed(governance_) {}

    function deploy(bytes32 moduleHash, uint32 riskScore) external onlyGovernance {
        if (riskScore > MAX_RISK) revert BadRiskScore(riskScore);
        if (_modules[moduleHash].status != Status.Unknown) revert AlreadyKnown(moduleHash);
        uint256 proposalId = _proposalId();
        _modules[moduleHash] = Module(Status.Deployed, riskScore, SafeCast.toUint64(block.timestamp), proposalId);
        _deployed.push(moduleHash);
        emit ModuleDeployed(moduleHash, proposalId, riskScore);
    }

    function revoke(bytes32 moduleHash) external onlyGovernance {
        if (_modules[moduleHash].status != Status.Deployed) revert NotDeployed(moduleHash);
        _modules[moduleHash].status = Status.Revoked;
        emit ModuleRevoked(moduleHash, _proposalId());
    }

    function isDeployed(bytes32 moduleHash) external view returns (bool) {
        return _modules[moduleHash].status == Status.Deployed;
    }

    function moduleOf(bytes32 moduleHash) external view returns (Module memory) {
        return _modules[moduleHash];
    }

    function deployedModules() external view returns (bytes32[] memory) {
        return _deployed;
    }
}
