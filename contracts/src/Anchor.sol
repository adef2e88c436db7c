// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {Governed} from "./Governed.sol";

/// @title Anchor
/// @notice The node registry (EVM address <-> IPPOC NodeID, tier) and the
/// swarm's checkpoint anchors: one Merkle root of chain heads per epoch,
/// submitted by a registered node with a quorum certificate of registered
/// nodes' signatures. A second, different root for an anchored epoch is kept
/// as evidence of equivocation; an anchor is never overwritten.
contract Anchor is Governed {
    /// @notice A registered node.
    struct Node {
        bytes32 nodeId;
        uint8 tier;
        bool active;
    }

    /// @notice An anchored epoch.
    struct Checkpoint {
        bytes32 root;
        address submitter;
        uint32 signers;
        uint64 anchoredAt;
    }

    /// @notice A root that contradicts an anchored one.
    struct Conflict {
        uint64 epoch;
        bytes32 root;
        address submitter;
        uint32 signers;
    }

    uint8 public constant MAX_TIER = 4;
    /// @notice sqrt(1e18): the weight of one whole 18-decimal token.
    uint256 public constant TIER_UNIT = 1e9;

    mapping(address => Node) public nodes;
    mapping(bytes32 => address) public addressOf;
    uint256 public activeNodes;
    /// @notice Sum of the tier weights of active nodes: the AI advisory power.
    uint256 public totalTierWeight;
    /// @notice Share of active nodes (basis points) that must co-sign a root.
    uint16 public quorumBps;

    mapping(uint64 => Checkpoint) internal _checkpoints;
    Conflict[] internal _conflicts;
    uint64 public latestEpoch;
    bool public anchoredAny;

    event NodeRegistered(address indexed node, bytes32 indexed nodeId, uint8 tier);
    event NodeTierChanged(address indexed node, uint8 tier);
    event NodeDeregistered(address indexed node, bytes32 indexed nodeId);
    event QuorumChanged(uint16 quorumBps);
    event Anchored(uint64 indexed epoch, bytes32 root, address indexed submitter, uint32 signers);
    event ConflictingRoot(
        uint64 indexed epoch, bytes32 anchoredRoot, bytes32 conflictingRoot, address indexed submitter
    );

    error LengthMismatch();
    error BadTier(uint8 tier);
    error BadQuorum(uint16 quorumBps);
    error AlreadyRegistered(address node, bytes32 nodeId);
    error NotRegistered(address node);
    error ZeroRoot();
    error AlreadyAnchored(uint64 epoch);
    error SignersNotAscending(address signer);
    error SignerNotRegistered(address signer);
    error NoQuorum(uint256 signers, uint256 required);

    constructor(
        address governance_,
        uint16 quorumBps_,
        address[] memory genesisNodes,
        bytes32[] memory nodeIds,
        uint8[] memory tiers
    ) Governed(governance_) {
        if (genesisNodes.length != nodeIds.length || genesisNodes.length != tiers.length) {
            revert LengthMismatch();
        }
        _setQuorum(quorumBps_);
        for (uint256 i = 0; i < genesisNodes.length; i++) {
            _register(genesisNodes[i], nodeIds[i], tiers[i]);
        }
    }

    // ---- registry -------------------------------------------------------

    /// @notice Advisory voting weight of a tier.
    /// A tier-t node weighs as much as a human committing t^2 whole tokens
    /// (human weight is the square root of the committed token units).
    function tierWeight(uint8 tier) public pure returns (uint256) {
        return uint256(tier) * TIER_UNIT;
    }

    function isActive(address node) external view returns (bool) {
        return nodes[node].active;
    }

    /// @notice A node's advisory weight; zero when it is not active.
    function weightOf(address node) external view returns (uint256) {
        Node storage n = nodes[node];
        return n.active ? tierWeight(n.tier) : 0;
    }

    function register(address node, bytes32 nodeId, uint8 tier) external onlyGovernance {
        _register(node, nodeId, tier);
    }

    function setTier(address node, uint8 tier) external onlyGovernance {
        Node storage n = nodes[node];
        if (!n.active) revert NotRegistered(node);
        if (tier == 0 || tier > MAX_TIER) revert BadTier(tier);
        totalTierWeight = totalTierWeight - tierWeight(n.tier) + tierWeight(tier);
        n.tier = tier;
        emit NodeTierChanged(node, tier);
    }

    function deregister(address node) external onlyGovernance {
        Node storage n = nodes[node];
        if (!n.active) revert NotRegistered(node);
        n.active = false;
        activeNodes -= 1;
        totalTierWeight -= tierWeight(n.tier);
        delete addressOf[n.nodeId];
        emit NodeDeregistered(node, n.nodeId);
    }

    function setQuorumBps(uint16 quorumBps_) external onlyGovernance {
        _setQuorum(quorumBps_);
    }

    // ---- anchors --------------------------------------------------------

    /// @notice What each co-signer signs (EIP-191 personal message) for a root.
    function checkpointDigest(uint64 epoch, bytes32 root) public view returns (bytes32) {
        bytes32 inner = keccak256(abi.encode("IPPOC checkpoint", block.chainid, address(this), epoch, root));
        return MessageHashUtils.toEthSignedMessageHash(inner);
    }

    /// @notice Anchor `root` for `epoch`. `signatures` are 65-byte ECDSA
    /// signatures of `checkpointDigest` by active nodes, in ascending signer
    /// address order (so no signer counts twice).
    function anchor(uint64 epoch, bytes32 root, bytes[] calldata signatures) external {
        if (!nodes[msg.sender].active) revert NotRegistered(msg.sender);
        if (root == bytes32(0)) revert ZeroRoot();
        uint32 signers = _verifyQuorum(checkpointDigest(epoch, root), signatures);

        Checkpoint storage existing = _checkpoints[epoch];
        if (existing.root == bytes32(0)) {
            _checkpoints[epoch] = Checkpoint(root, msg.sender, signers, SafeCast.toUint64(block.timestamp));
            if (!anchoredAny || epoch > latestEpoch) latestEpoch = epoch;
            anchoredAny = true;
            emit Anchored(epoch, root, msg.sender, signers);
        } else if (existing.root == root) {
            revert AlreadyAnchored(epoch);
        } else {
            _conflicts.push(Conflict(epoch, root, msg.sender, signers));
            emit ConflictingRoot(epoch, existing.root, root, msg.sender);
        }
    }

    function checkpointOf(uint64 epoch) external view returns (Checkpoint memory) {
        return _checkpoints[epoch];
    }

    function rootOf(uint64 epoch) external view returns (bytes32) {
        return _checkpoints[epoch].root;
    }

    function conflictCount() external view returns (uint256) {
        return _conflicts.length;
    }

    function conflictAt(uint256 index) external view returns (Conflict memory) {
        return _conflicts[index];
    }

    /// @notice Whether `leaf` is in the tree anchored for `epoch` (sorted-pair
    /// keccak Merkle tree, as OpenZeppelin's MerkleProof).
    function verifyInclusion(uint64 epoch, bytes32 leaf, bytes32[] calldata proof) external view returns (bool) {
        bytes32 root = _checkpoints[epoch].root;
        return root != bytes32(0) && MerkleProof.verifyCalldata(proof, root, leaf);
    }

    /// @notice Signatures needed for a root with the current registry.
    function requiredSigners() public view returns (uint256) {
        uint256 required = (activeNodes * quorumBps + 9_999) / 10_000;
        return required == 0 ? 1 : required;
    }

    // ---- internal -------------------------------------------------------

    function _register(address node, bytes32 nodeId, uint8 tier) internal {
        if (node == address(0)) revert ZeroAddress();
        if (tier == 0 || tier > MAX_TIER) revert BadTier(tier);
        if (nodes[node].active || addressOf[nodeId] != address(0)) revert AlreadyRegistered(node, nodeId);
        nodes[node] = Node(nodeId, tier, true);
        addressOf[nodeId] = node;
        activeNodes += 1;
        totalTierWeight += tierWeight(tier);
        emit NodeRegistered(node, nodeId, tier);
    }

    function _setQuorum(uint16 quorumBps_) internal {
        // A majority at least, so two conflicting roots cannot both gather a
        // quorum from honest signers.
        if (quorumBps_ <= 5_000 || quorumBps_ > 10_000) revert BadQuorum(quorumBps_);
        quorumBps = quorumBps_;
        emit QuorumChanged(quorumBps_);
    }

    function _verifyQuorum(bytes32 digest, bytes[] calldata signatures) internal view returns (uint32) {
        address previous = address(0);
        for (uint256 i = 0; i < signatures.length; i++) {
            address signer = ECDSA.recover(digest, signatures[i]);
            if (signer <= previous) revert SignersNotAscending(signer);
            if (!nodes[signer].active) revert SignerNotRegistered(signer);
            previous = signer;
        }
        uint256 required = requiredSigners();
        if (signatures.length < required) revert NoQuorum(signatures.length, required);
        return uint32(signatures.length);
    }
}
