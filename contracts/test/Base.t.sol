// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";
import {StakeToken} from "../src/StakeToken.sol";
import {Governance, INodeRegistry} from "../src/Governance.sol";
import {Anchor} from "../src/Anchor.sol";
import {Treasury} from "../src/Treasury.sol";
import {Parameters} from "../src/Parameters.sol";
import {EvolutionRegistry} from "../src/EvolutionRegistry.sol";

/// @notice The whole DAO deployed as production would be: 20 human stakers,
/// 6 registered nodes, 8 sentinels, a veto key.
abstract contract Base is Test {
    uint256 internal constant HUMANS = 20;
    uint256 internal constant NODES = 6;
    uint256 internal constant STAKE = 100 ether;
    uint64 internal constant VOTING_PERIOD = 3 days;
    /// The deployment's default committee size (docs/anchoring.md).
    uint16 internal constant COMMITTEE = 192;

    /// A quorum certificate: the seats that signed and their signatures.
    struct Cert {
        uint256 seats;
        bytes[] sigs;
    }

    StakeToken internal token;
    Governance internal gov;
    Anchor internal anchor;
    Treasury internal treasury;
    Parameters internal params;
    EvolutionRegistry internal registry;

    address internal vetoer = makeAddr("vetoer");
    address[] internal humans;
    address[] internal nodes;
    uint256[] internal nodeKeys;
    address[8] internal sentinels;
    bytes32 internal constant FEE_KEY = keccak256("metabolism.transfer_fee");
    bytes32 internal constant QUORUM_KEY = keccak256("integrity.min_score");

    function setUp() public virtual {
        address[] memory holders = new address[](HUMANS);
        uint256[] memory amounts = new uint256[](HUMANS);
        for (uint256 i = 0; i < HUMANS; i++) {
            holders[i] = makeAddr(string.concat("human", vm.toString(i)));
            amounts[i] = STAKE * 10;
            humans.push(holders[i]);
        }
        token = new StakeToken(holders, amounts);
        gov = new Governance(token, vetoer, VOTING_PERIOD, 1 ether);

        // Node keys are sorted by address so certificates can be built in
        // ascending signer order.
        uint8[6] memory tierOf = [uint8(1), 2, 3, 4, 2, 1];
        address[] memory nodeAddrs = new address[](NODES);
        bytes32[] memory nodeIds = new bytes32[](NODES);
        uint8[] memory tiers = new uint8[](NODES);
        for (uint256 i = 0; i < NODES; i++) {
            (address a, uint256 k) = makeAddrAndKey(string.concat("node", vm.toString(i)));
            nodeAddrs[i] = a;
            nodeIds[i] = keccak256(abi.encode("node-id", i));
            tiers[i] = tierOf[i];
            nodes.push(a);
            nodeKeys.push(k);
        }
        _sortNodes();
        for (uint256 i = 0; i < NODES; i++) {
            nodeAddrs[i] = nodes[i];
        }
        anchor = new Anchor(address(gov), 6_667, COMMITTEE, address(this));
        anchor.registerGenesis(nodeAddrs, nodeIds, tiers);
        anchor.sealGenesis();

        for (uint256 i = 0; i < 8; i++) {
            sentinels[i] = makeAddr(string.concat("sentinel", vm.toString(i)));
        }
        treasury = new Treasury(address(gov), sentinels);

        bytes32[] memory keys = new bytes32[](2);
        uint256[] memory values = new uint256[](2);
        bool[] memory invariant = new bool[](2);
        (keys[0], values[0], invariant[0]) = (FEE_KEY, 10, false);
        (keys[1], values[1], invariant[1]) = (QUORUM_KEY, 8_000, true);
        params = new Parameters(address(gov), keys, values, invariant);
        registry = new EvolutionRegistry(address(gov));

        address[] memory targets = new address[](4);
        bytes4[] memory selectors = new bytes4[](4);
        (targets[0], selectors[0]) = (address(params), Parameters.setInvariantParameter.selector);
        (targets[1], selectors[1]) = (address(treasury), Treasury.replaceSentinel.selector);
        (targets[2], selectors[2]) = (address(anchor), Anchor.setQuorumBps.selector);
        (targets[3], selectors[3]) = (address(anchor), Anchor.setCommitteeSize.selector);
        gov.bind(INodeRegistry(address(anchor)), targets, selectors);

        for (uint256 i = 0; i < HUMANS; i++) {
            vm.startPrank(humans[i]);
            token.approve(address(gov), type(uint256).max);
            gov.stake(STAKE);
            vm.stopPrank();
        }
    }

    function _sortNodes() private {
        for (uint256 i = 1; i < NODES; i++) {
            for (uint256 j = i; j > 0 && nodes[j - 1] > nodes[j]; j--) {
                (nodes[j - 1], nodes[j]) = (nodes[j], nodes[j - 1]);
                (nodeKeys[j - 1], nodeKeys[j]) = (nodeKeys[j], nodeKeys[j - 1]);
            }
        }
    }

    // ---- proposal helpers ---------------------------------------------------

    function _one(address target, bytes memory data)
        internal
        pure
        returns (address[] memory targets, uint256[] memory values, bytes[] memory datas)
    {
        targets = new address[](1);
        values = new uint256[](1);
        datas = new bytes[](1);
        targets[0] = target;
        datas[0] = data;
    }

    function _propose(address target, bytes memory data) internal returns (uint256) {
        (address[] memory t, uint256[] memory v, bytes[] memory d) = _one(target, data);
        vm.prank(humans[0]);
        return gov.propose(t, v, d, "test proposal");
    }

    /// Humans 0..yes-1 vote for, the next `no` against, each committing all stake.
    function _humanVotes(uint256 id, uint256 yes, uint256 no) internal {
        for (uint256 i = 0; i < yes + no; i++) {
            address h = humans[i];
            uint256 amount = gov.stakeOf(h);
            vm.prank(h);
            gov.vote(id, i < yes, amount);
        }
    }

    function _nodeVotes(uint256 id, bool support) internal {
        for (uint256 i = 0; i < NODES; i++) {
            vm.prank(nodes[i]);
            gov.voteAsNode(id, support);
        }
    }

    function _endVoting(uint256 id) internal {
        vm.warp(gov.proposal(id).voteEnd);
    }

    /// Propose, pass with 15 of 20 humans, queue, wait out the timelock, execute.
    function _pass(address target, bytes memory data) internal returns (uint256 id) {
        id = _propose(target, data);
        _humanVotes(id, 15, 0);
        _endVoting(id);
        gov.queue(id);
        vm.warp(block.timestamp + gov.TIMELOCK());
        gov.execute(id);
    }

    // ---- anchor helpers -----------------------------------------------------

    /// A certificate from the first `count` nodes: seats 0..count-1 while
    /// every node has its seat (registration order).
    function _certificate(uint64 epoch, bytes32 root, uint256 count) internal view returns (Cert memory c) {
        bytes32 digest = anchor.checkpointDigest(epoch, root);
        c.sigs = new bytes[](count);
        for (uint256 i = 0; i < count; i++) {
            c.sigs[i] = _sign(nodeKeys[i], digest);
            c.seats |= uint256(1) << i;
        }
    }

    function _sign(uint256 key, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }
}
