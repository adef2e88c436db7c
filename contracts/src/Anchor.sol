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
/// submitted by a registered node with a quorum certificate of the epoch's
/// committee. A second, different root for an anchored epoch is kept as
/// evidence of equivocation; an anchor is never overwritten.
///
/// The committee of an epoch has `seatCount()` seats: every active node, in
/// registry order, while there are at most `committeeSize`; beyond that,
/// `committeeSize` seats each drawn uniformly (with replacement) from the
/// active nodes by keccak(beacon, epoch, seat). A certificate names the seats
/// that signed (a bitmap) and carries one signature per seat, so an anchor
/// costs no more gas at 100 000 nodes than the committee's seats do. The beacon changes with
/// every registry change, mixing in the previous block's hash, so who sits
/// in a future committee is not known before the registry it is drawn from
/// is fixed (docs/anchoring.md, "Committees").
///
/// Registration costs constant gas per node: genesis nodes are registered
/// by the deployer in batches of at most `GENESIS_BATCH_MAX` before it seals
/// the registry; afterwards only executed proposals change it.
///
/// Tiers are the onboarding guide's: 0 Shadow, 1 Research, 2 Standard,
/// 3 High, 4 Critical, with its advisory vote weights (0, 0, 0.75, 0.90,
/// 1.00) and GI floors (-, 0.85, 0.90, 0.92, 0.95). Each checkpoint root may
/// commit to the GI table of the cycle `GI_LAG_EPOCHS` before its epoch (one
/// extra leaf, co-signed by the same quorum), so a node's anchored GI is
/// proven by two Merkle proofs; a promotion to High or Critical is refused
/// unless such a proof meets the tier's floor (docs/integrity.md).
contract Anchor is Governed {
    /// @notice A registered node.
    struct Node {
        bytes32 nodeId;
        uint8 tier;
        bool active;
        /// Position in the list of active nodes (meaningful while active).
        uint32 index;
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

    /// @notice A node's anchored GI: the GI table root of `cycle`, its leaf
    /// in the checkpoint of epoch `cycle + GI_LAG_EPOCHS`, and the node's row.
    struct GiProof {
        uint64 cycle;
        bytes32 giRoot;
        /// Siblings from the GI commitment leaf up to the checkpoint root.
        bytes32[] rootProof;
        /// GI in parts per million.
        uint32 gi;
        /// The ladder's tier after the cycle.
        uint8 tier;
        /// 0 in good standing, 1 suspended, 2 removed.
        uint8 status;
        /// Siblings from the node's leaf up to `giRoot`.
        bytes32[] leafProof;
    }

    uint8 public constant SHADOW = 0;
    uint8 public constant RESEARCH = 1;
    uint8 public constant STANDARD = 2;
    uint8 public constant HIGH = 3;
    uint8 public constant CRITICAL = 4;
    uint8 public constant MAX_TIER = CRITICAL;
    /// @notice sqrt(1e18): the weight of one whole 18-decimal token; a
    /// Critical node weighs one unit.
    uint256 public constant TIER_UNIT = 1e9;
    /// @notice The GI table of cycle c is committed in the checkpoint of
    /// epoch c + 4: nodes close cycle c as epoch c + 5 starts and co-sign the
    /// heads of epoch c + 4 as epoch c + 6 starts, one epoch later
    /// (docs/integrity.md, "On chain").
    uint64 public constant GI_LAG_EPOCHS = 4;
    uint8 public constant GOOD_STANDING = 0;
    /// @notice A promotion or appeal decided while the newest anchored epoch
    /// is e applies at the close of cycle e + 2: a node that has read the
    /// chain to a block whose newest anchor is e knows every decision of
    /// every cycle up to e + 1, so all nodes apply each one in the same cycle.
    uint64 public constant DECISION_LAG_EPOCHS = 2;

    /// @notice Most seats a committee has (a certificate's seat bitmap is one word).
    uint16 public constant COMMITTEE_MAX = 256;
    /// @notice Most genesis nodes registered in one transaction.
    uint16 public constant GENESIS_BATCH_MAX = 64;

    mapping(address => Node) public nodes;
    mapping(bytes32 => address) public addressOf;
    /// @notice Active nodes; a deregistered node's slot takes the last one.
    address[] internal _members;
    /// @notice Seats of an epoch's committee once there are more active nodes.
    uint16 public committeeSize;
    /// @notice Randomness committees are drawn with; changes with the registry.
    bytes32 public beacon;
    /// @notice Who may register genesis nodes until it seals the registry.
    address public registrar;
    /// @notice Sum of the tier weights of active nodes: the AI advisory power.
    uint256 public totalTierWeight;
    /// @notice Share of a committee's seats (basis points) that must co-sign a root.
    uint16 public quorumBps;

    mapping(uint64 => Checkpoint) internal _checkpoints;
    Conflict[] internal _conflicts;
    uint64 public latestEpoch;
    bool public anchoredAny;

    event NodeRegistered(address indexed node, bytes32 indexed nodeId, uint8 tier);
    event NodeTierChanged(address indexed node, uint8 tier);
    event NodeDeregistered(address indexed node, bytes32 indexed nodeId);
    event QuorumChanged(uint16 quorumBps);
    event CommitteeSizeChanged(uint16 committeeSize);
    event GenesisSealed(uint256 nodes);
    event Promoted(
        address indexed node,
        bytes32 indexed nodeId,
        uint8 tier,
        uint64 cycle,
        uint32 gi,
        uint64 appliesAt,
        uint256 proposalId
    );
    event Appealed(bytes32 indexed nodeId, uint64 appliesAt, uint256 proposalId);
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
    error NotSeatHolder(uint256 seat, address signer);
    error NoSuchSeat(uint256 seats, uint256 seatCount);
    error BadCommitteeSize(uint16 committeeSize);
    error NotRegistrar(address caller);
    error BatchTooLarge(uint256 length, uint256 max);
    error NoQuorum(uint256 signers, uint256 required);
    error NotAPromotion(uint8 from, uint8 to);
    error GiUnproven(bytes32 nodeId, uint64 cycle);
    error GiUnderFloor(uint32 gi, uint32 floor);
    error NotInGoodStanding(bytes32 nodeId, uint64 cycle, uint8 tier, uint8 status);
    error ZeroNodeId();
    error NothingAnchored();

    /// @param registrar_ registers the genesis nodes (`registerGenesis`)
    /// until it calls `sealGenesis`; zero for none.
    constructor(address governance_, uint16 quorumBps_, uint16 committeeSize_, address registrar_)
        Governed(governance_)
    {
        _setQuorum(quorumBps_);
        _setCommitteeSize(committeeSize_);
        registrar = registrar_;
        beacon = keccak256(abi.encode(block.chainid, address(this), block.prevrandao, blockhash(block.number - 1)));
    }

    // ---- genesis ----------------------------------------------------------

    /// @notice Registers a batch of genesis nodes (any tier: the founders'
    /// tiers are the deployment's). Constant gas per node; a deployment of
    /// N nodes takes ceil(N / GENESIS_BATCH_MAX) transactions.
    function registerGenesis(address[] calldata genesisNodes, bytes32[] calldata nodeIds, uint8[] calldata tiers)
        external
    {
        if (registrar == address(0) || msg.sender != registrar) revert NotRegistrar(msg.sender);
        if (genesisNodes.length != nodeIds.length || genesisNodes.length != tiers.length) {
            revert LengthMismatch();
        }
        if (genesisNodes.length > GENESIS_BATCH_MAX) revert BatchTooLarge(genesisNodes.length, GENESIS_BATCH_MAX);
        for (uint256 i = 0; i < genesisNodes.length; i++) {
            _register(genesisNodes[i], nodeIds[i], tiers[i]);
        }
        _refreshBeacon();
    }

    /// @notice Ends genesis: from now on only executed proposals register nodes.
    function sealGenesis() external {
        if (registrar == address(0) || msg.sender != registrar) revert NotRegistrar(msg.sender);
        registrar = address(0);
        emit GenesisSealed(_members.length);
    }

    // ---- registry -------------------------------------------------------

    /// @notice Advisory voting weight of a tier (the guide's: Shadow and
    /// Research vote not at all, Standard 0.75, High 0.90, Critical 1.00).
    /// A Critical node weighs as much as a human committing one whole token
    /// (human weight is the square root of the committed token units).
    function tierWeight(uint8 tier) public pure returns (uint256) {
        if (tier == STANDARD) return TIER_UNIT * 75 / 100;
        if (tier == HIGH) return TIER_UNIT * 90 / 100;
        if (tier == CRITICAL) return TIER_UNIT;
        return 0;
    }

    /// @notice The GI (ppm) a tier needs (the guide's floors; none for Shadow).
    function giFloor(uint8 tier) public pure returns (uint32) {
        if (tier == RESEARCH) return 850_000;
        if (tier == STANDARD) return 900_000;
        if (tier == HIGH) return 920_000;
        if (tier == CRITICAL) return 950_000;
        return 0;
    }

    function isActive(address node) external view returns (bool) {
        return nodes[node].active;
    }

    /// @notice A node's advisory weight; zero when it is not active.
    function weightOf(address node) external view returns (uint256) {
        Node storage n = nodes[node];
        return n.active ? tierWeight(n.tier) : 0;
    }

    /// @notice Registers a node at Shadow, Research or Standard: High and
    /// Critical are reached only by `promote`, against the anchored GI.
    function register(address node, bytes32 nodeId, uint8 tier) external onlyGovernance {
        if (tier > STANDARD) revert BadTier(tier);
        _register(node, nodeId, tier);
        _refreshBeacon();
    }

    /// @notice Sets a node's tier to Standard or below (a demotion, or the
    /// ladder's automatic steps): raising it past Standard needs `promote`.
    function setTier(address node, uint8 tier) external onlyGovernance {
        if (tier > STANDARD) revert BadTier(tier);
        _setTier(node, tier);
    }

    /// @notice Promotes a node to High or Critical, one step at a time,
    /// refused unless `proof` shows, from an anchored GI table, that the node
    /// was in good standing one tier below and scored at least the new
    /// tier's floor in the proven cycle. The swarm's ladder reads the
    /// `Promoted` event and checks the floor again in the cycle it applies it.
    function promote(address node, uint8 tier, GiProof calldata proof) external onlyGovernance {
        Node storage n = nodes[node];
        if (!n.active) revert NotRegistered(node);
        if (tier < HIGH || tier > CRITICAL) revert NotAPromotion(n.tier, tier);
        if (!verifyGi(n.nodeId, proof)) revert GiUnproven(n.nodeId, proof.cycle);
        if (proof.status != GOOD_STANDING || uint16(proof.tier) + 1 != tier) {
            revert NotInGoodStanding(n.nodeId, proof.cycle, proof.tier, proof.status);
        }
        uint32 floor = giFloor(tier);
        if (proof.gi < floor) revert GiUnderFloor(proof.gi, floor);
        _setTier(node, tier);
        emit Promoted(node, n.nodeId, tier, proof.cycle, proof.gi, latestEpoch + DECISION_LAG_EPOCHS, _proposalId());
    }

    /// @notice An appeal the DAO upheld: at the cycle this event names, the
    /// swarm's ladder lifts the node's suspension or removal and gives back
    /// the tier it held before its penalties. The node need not be
    /// registered here: the ladder covers every member of the swarm.
    function appeal(bytes32 nodeId) external onlyGovernance {
        if (nodeId == bytes32(0)) revert ZeroNodeId();
        // The cycle it applies at is counted from the newest anchor.
        if (!anchoredAny) revert NothingAnchored();
        emit Appealed(nodeId, latestEpoch + DECISION_LAG_EPOCHS, _proposalId());
    }

    function deregister(address node) external onlyGovernance {
        Node storage n = nodes[node];
        if (!n.active) revert NotRegistered(node);
        n.active = false;
        uint32 index = n.index;
        address last = _members[_members.length - 1];
        _members[index] = last;
        nodes[last].index = index;
        _members.pop();
        totalTierWeight -= tierWeight(n.tier);
        delete addressOf[n.nodeId];
        _refreshBeacon();
        emit NodeDeregistered(node, n.nodeId);
    }

    function setQuorumBps(uint16 quorumBps_) external onlyGovernance {
        _setQuorum(quorumBps_);
    }

    /// @notice Seats of a committee once the swarm is larger (1..COMMITTEE_MAX).
    function setCommitteeSize(uint16 committeeSize_) external onlyGovernance {
        _setCommitteeSize(committeeSize_);
    }

    /// @notice Registered nodes that are active.
    function activeNodes() public view returns (uint256) {
        return _members.length;
    }

    /// @notice The active node at `index` of the registry's list.
    function memberAt(uint256 index) external view returns (address) {
        return _members[index];
    }

    // ---- committees -----------------------------------------------------

    /// @notice Seats of every epoch's committee with the current registry.
    function seatCount() public view returns (uint256) {
        uint256 n = _members.length;
        return n < committeeSize ? n : committeeSize;
    }

    /// @notice The seed `epoch`'s seats are drawn with.
    function epochSeed(uint64 epoch) public view returns (bytes32) {
        return keccak256(abi.encode(beacon, epoch));
    }

    /// @notice Who holds each seat of `epoch`'s committee (one address per
    /// seat; a node may hold several once seats are drawn).
    function committee(uint64 epoch) external view returns (address[] memory holders) {
        uint256 seats = seatCount();
        holders = new address[](seats);
        bytes32 seed = epochSeed(epoch);
        for (uint256 seat = 0; seat < seats; seat++) {
            holders[seat] = _holder(seed, seat);
        }
    }

    // ---- anchors --------------------------------------------------------

    /// @notice What each co-signer signs (EIP-191 personal message) for a root.
    function checkpointDigest(uint64 epoch, bytes32 root) public view returns (bytes32) {
        bytes32 inner = keccak256(abi.encode("IPPOC checkpoint", block.chainid, address(this), epoch, root));
        return MessageHashUtils.toEthSignedMessageHash(inner);
    }

    /// @notice Anchor `root` for `epoch`. Bit s of `seats` set means seat s
    /// of the epoch's committee signed; `signatures` holds, in ascending seat
    /// order, one 65-byte ECDSA signature of `checkpointDigest` per set bit,
    /// by that seat's holder. The seats signed must reach `requiredSigners`.
    function anchor(uint64 epoch, bytes32 root, uint256 seats, bytes[] calldata signatures) external {
        if (!nodes[msg.sender].active) revert NotRegistered(msg.sender);
        if (root == bytes32(0)) revert ZeroRoot();
        uint32 signers = _verifyCertificate(epoch, checkpointDigest(epoch, root), seats, signatures);

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

    /// @notice The leaf of one node's row in a cycle's GI table.
    function giLeaf(uint64 cycle, bytes32 nodeId, uint32 gi, uint8 tier, uint8 status) public pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(cycle, nodeId, gi, tier, status))));
    }

    /// @notice The checkpoint leaf that commits to a cycle's GI table root.
    /// Its encoding (a string and two words) cannot be read as a chain head's
    /// leaf (three words).
    function giCommitmentLeaf(uint64 cycle, bytes32 giRoot) public pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode("IPPOC gi table", cycle, giRoot))));
    }

    /// @notice Whether `proof` shows `nodeId`'s row in the GI table committed
    /// by the checkpoint of epoch `proof.cycle + GI_LAG_EPOCHS`.
    function verifyGi(bytes32 nodeId, GiProof calldata proof) public view returns (bool) {
        if (proof.cycle > type(uint64).max - GI_LAG_EPOCHS) return false;
        bytes32 root = _checkpoints[proof.cycle + GI_LAG_EPOCHS].root;
        if (root == bytes32(0) || proof.giRoot == bytes32(0)) return false;
        if (!MerkleProof.verifyCalldata(proof.rootProof, root, giCommitmentLeaf(proof.cycle, proof.giRoot))) {
            return false;
        }
        bytes32 leaf = giLeaf(proof.cycle, nodeId, proof.gi, proof.tier, proof.status);
        return MerkleProof.verifyCalldata(proof.leafProof, proof.giRoot, leaf);
    }

    /// @notice Seats that must sign a root with the current registry
    /// (quorumBps of the committee's seats, rounded up).
    function requiredSigners() public view returns (uint256) {
        uint256 required = (seatCount() * quorumBps + 9_999) / 10_000;
        return required == 0 ? 1 : required;
    }

    // ---- internal -------------------------------------------------------

    function _setTier(address node, uint8 tier) internal {
        Node storage n = nodes[node];
        if (!n.active) revert NotRegistered(node);
        totalTierWeight = totalTierWeight - tierWeight(n.tier) + tierWeight(tier);
        n.tier = tier;
        emit NodeTierChanged(node, tier);
    }

    function _register(address node, bytes32 nodeId, uint8 tier) internal {
        if (node == address(0)) revert ZeroAddress();
        if (nodeId == bytes32(0)) revert ZeroNodeId();
        if (tier > MAX_TIER) revert BadTier(tier);
        if (nodes[node].active || addressOf[nodeId] != address(0)) revert AlreadyRegistered(node, nodeId);
        nodes[node] = Node(nodeId, tier, true, uint32(_members.length));
        _members.push(node);
        addressOf[nodeId] = node;
        totalTierWeight += tierWeight(tier);
        emit NodeRegistered(node, nodeId, tier);
    }

    /// @dev A new beacon after every registry change: the previous block's
    /// hash and prevrandao were unknown when the change was proposed.
    function _refreshBeacon() internal {
        beacon = keccak256(abi.encode(beacon, blockhash(block.number - 1), block.prevrandao, _members.length));
    }

    function _setCommitteeSize(uint16 committeeSize_) internal {
        if (committeeSize_ == 0 || committeeSize_ > COMMITTEE_MAX) revert BadCommitteeSize(committeeSize_);
        committeeSize = committeeSize_;
        emit CommitteeSizeChanged(committeeSize_);
    }

    /// @dev Seat `seat`'s holder: the node at that position while every
    /// active node has a seat, else a node drawn by keccak(seed, seat). The
    /// modulo's bias is below n / 2^256.
    function _holder(bytes32 seed, uint256 seat) internal view returns (address) {
        uint256 n = _members.length;
        if (n <= committeeSize) return _members[seat];
        return _members[uint256(keccak256(abi.encode(seed, seat))) % n];
    }

    function _setQuorum(uint16 quorumBps_) internal {
        // A majority at least, so two conflicting roots cannot both gather a
        // quorum from honest signers.
        if (quorumBps_ <= 5_000 || quorumBps_ > 10_000) revert BadQuorum(quorumBps_);
        quorumBps = quorumBps_;
        emit QuorumChanged(quorumBps_);
    }

    /// @dev Checks one signature per set bit of `seats` by that seat's
    /// holder: gas grows with the seats signed (at most COMMITTEE_MAX),
    /// never with the number of registered nodes.
    function _verifyCertificate(uint64 epoch, bytes32 digest, uint256 seats, bytes[] calldata signatures)
        internal
        view
        returns (uint32)
    {
        uint256 count = seatCount();
        if (count < COMMITTEE_MAX && seats >> count != 0) revert NoSuchSeat(seats, count);
        bytes32 seed = epochSeed(epoch);
        uint256 signed = 0;
        for (uint256 seat = 0; seats >> seat != 0; seat++) {
            if ((seats >> seat) & 1 == 0) continue;
            if (signed == signatures.length) revert LengthMismatch();
            address signer = ECDSA.recover(digest, signatures[signed]);
            if (signer != _holder(seed, seat)) revert NotSeatHolder(seat, signer);
            signed++;
        }
        if (signed != signatures.length) revert LengthMismatch();
        uint256 required = requiredSigners();
        if (signed < required) revert NoQuorum(signed, required);
        // forge-lint: disable-next-line(unsafe-typecast)
        return uint32(signed); // at most COMMITTEE_MAX
    }
}
