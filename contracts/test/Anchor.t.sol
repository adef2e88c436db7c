// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Base} from "./Base.t.sol";
import {Anchor} from "../src/Anchor.sol";
import {Governed} from "../src/Governed.sol";

contract AnchorTest is Base {
    bytes32 internal constant ROOT = keccak256("root of epoch 1");

    function test_genesisNodesAreRegistered() public view {
        assertEq(anchor.activeNodes(), NODES);
        assertEq(anchor.totalTierWeight(), 3_400_000_000);
        (bytes32 id,, bool active,) = anchor.nodes(nodes[0]);
        assertTrue(active);
        assertEq(anchor.addressOf(id), nodes[0]);
        assertEq(anchor.requiredSigners(), 5); // ceil(6 * 2/3)
    }

    function test_anchorsARootWithAQuorumCertificate() public {
        Cert memory cert = _certificate(1, ROOT, 5);
        vm.prank(nodes[0]);
        anchor.anchor(1, ROOT, cert.seats, cert.sigs);
        Anchor.Checkpoint memory c = anchor.checkpointOf(1);
        assertEq(c.root, ROOT);
        assertEq(c.submitter, nodes[0]);
        assertEq(c.signers, 5);
        assertEq(anchor.latestEpoch(), 1);
    }

    function test_rejectsCertificateBelowQuorum() public {
        Cert memory sigs = _certificate(1, ROOT, 4);
        vm.prank(nodes[0]);
        vm.expectRevert(abi.encodeWithSelector(Anchor.NoQuorum.selector, 4, 5));
        anchor.anchor(1, ROOT, sigs.seats, sigs.sigs);
    }

    function test_rejectsASignatureForAnotherSeat() public {
        Cert memory c = _certificate(1, ROOT, 5);
        c.sigs[1] = c.sigs[0];
        vm.prank(nodes[0]);
        vm.expectRevert(abi.encodeWithSelector(Anchor.NotSeatHolder.selector, 1, nodes[0]));
        anchor.anchor(1, ROOT, c.seats, c.sigs);
    }

    function test_rejectsSignatureOfAnotherRoot() public {
        Cert memory c = _certificate(1, keccak256("other"), 5);
        vm.prank(nodes[0]);
        vm.expectRevert(); // recovers an address that holds no seat
        anchor.anchor(1, ROOT, c.seats, c.sigs);
    }

    function test_rejectsUnregisteredSigner() public {
        Cert memory c = _certificate(1, ROOT, 5);
        (address outsider, uint256 key) = makeAddrAndKey("outsider");
        bytes[] memory forged = new bytes[](6);
        for (uint256 i = 0; i < 5; i++) {
            forged[i] = c.sigs[i];
        }
        forged[5] = _sign(key, anchor.checkpointDigest(1, ROOT));
        vm.prank(nodes[0]);
        vm.expectRevert(abi.encodeWithSelector(Anchor.NotSeatHolder.selector, 5, outsider));
        anchor.anchor(1, ROOT, c.seats | (1 << 5), forged);
    }

    function test_rejectsSeatsBeyondTheCommitteeAndMismatchedCounts() public {
        Cert memory c = _certificate(1, ROOT, 5);
        vm.startPrank(nodes[0]);
        vm.expectRevert(abi.encodeWithSelector(Anchor.NoSuchSeat.selector, c.seats | (1 << 6), 6));
        anchor.anchor(1, ROOT, c.seats | (1 << 6), c.sigs);
        vm.expectRevert(Anchor.LengthMismatch.selector);
        anchor.anchor(1, ROOT, c.seats >> 1, c.sigs);
        vm.expectRevert(Anchor.LengthMismatch.selector);
        anchor.anchor(1, ROOT, c.seats | (1 << 5), c.sigs);
        vm.stopPrank();
    }

    /// Past `committeeSize` nodes, each epoch draws its seats; a certificate
    /// from the seats' holders anchors, any other signer is refused.
    function test_aLargerSwarmAnchorsWithTheEpochsDrawnCommittee() public {
        _pass(address(anchor), abi.encodeCall(Anchor.setCommitteeSize, (4)));
        assertEq(anchor.seatCount(), 4);
        assertEq(anchor.requiredSigners(), 3); // ceil(4 * 2/3)
        bool[6] memory seen;
        for (uint64 epoch = 1; epoch <= 6; epoch++) {
            address[] memory holders = anchor.committee(epoch);
            assertEq(holders.length, 4);
            bytes32 digest = anchor.checkpointDigest(epoch, ROOT);
            bytes[] memory sigs = new bytes[](3);
            for (uint256 seat = 0; seat < 3; seat++) {
                uint256 i = _nodeIndex(holders[seat]);
                seen[i] = true;
                sigs[seat] = _sign(nodeKeys[i], digest);
            }
            vm.prank(nodes[0]);
            anchor.anchor(epoch, ROOT, 0x7, sigs);
            assertEq(anchor.rootOf(epoch), ROOT);
            assertEq(anchor.checkpointOf(epoch).signers, 3);
            // The fourth seat's holder is the only one who may sign for it.
            uint256 other = (_nodeIndex(holders[3]) + 1) % NODES;
            bytes32 conflicting = keccak256(abi.encode("conflicting", epoch));
            bytes32 d2 = anchor.checkpointDigest(epoch, conflicting);
            bytes[] memory forged = new bytes[](3);
            forged[0] = _sign(nodeKeys[_nodeIndex(holders[0])], d2);
            forged[1] = _sign(nodeKeys[_nodeIndex(holders[1])], d2);
            forged[2] = _sign(nodeKeys[other], d2);
            vm.prank(nodes[0]);
            vm.expectRevert(abi.encodeWithSelector(Anchor.NotSeatHolder.selector, 3, nodes[other]));
            anchor.anchor(epoch, conflicting, 0xb, forged);
        }
        uint256 distinct;
        for (uint256 i = 0; i < NODES; i++) {
            if (seen[i]) distinct++;
        }
        assertGt(distinct, 3, "the committees changed with the epoch");
    }

    function test_genesisIsTheRegistrarsAndEndsWithTheSeal() public {
        address[] memory a = new address[](1);
        bytes32[] memory ids = new bytes32[](1);
        uint8[] memory tiers = new uint8[](1);
        (a[0], ids[0], tiers[0]) = (makeAddr("late"), keccak256("late"), 2);
        vm.expectRevert(abi.encodeWithSelector(Anchor.NotRegistrar.selector, address(this)));
        anchor.registerGenesis(a, ids, tiers);
        Anchor fresh = new Anchor(address(gov), 6_667, COMMITTEE, address(this));
        vm.prank(nodes[0]);
        vm.expectRevert(abi.encodeWithSelector(Anchor.NotRegistrar.selector, nodes[0]));
        fresh.registerGenesis(a, ids, tiers);
        uint256 n = fresh.GENESIS_BATCH_MAX() + 1;
        vm.expectRevert(abi.encodeWithSelector(Anchor.BatchTooLarge.selector, n, n - 1));
        fresh.registerGenesis(new address[](n), new bytes32[](n), new uint8[](n));
        bytes32 before = fresh.beacon();
        fresh.registerGenesis(a, ids, tiers);
        assertEq(fresh.activeNodes(), 1);
        assertTrue(fresh.beacon() != before, "a registry change draws a new beacon");
        fresh.sealGenesis();
        assertEq(fresh.registrar(), address(0));
        vm.expectRevert(abi.encodeWithSelector(Anchor.NotRegistrar.selector, address(this)));
        fresh.registerGenesis(a, ids, tiers);
    }

    function test_deregisteringMovesTheLastNodeIntoTheGap() public {
        address gone = anchor.memberAt(1);
        address last = anchor.memberAt(NODES - 1);
        _pass(address(anchor), abi.encodeCall(Anchor.deregister, (gone)));
        assertEq(anchor.activeNodes(), NODES - 1);
        assertEq(anchor.memberAt(1), last);
        (,,, uint32 index) = anchor.nodes(last);
        assertEq(index, 1);
        address[] memory holders = anchor.committee(9);
        for (uint256 i = 0; i < holders.length; i++) {
            assertTrue(holders[i] != gone);
            assertTrue(anchor.isActive(holders[i]));
        }
    }

    function _nodeIndex(address a) internal view returns (uint256) {
        for (uint256 i = 0; i < NODES; i++) {
            if (nodes[i] == a) return i;
        }
        revert("not a node");
    }

    function test_onlyRegisteredNodesSubmit() public {
        Cert memory sigs = _certificate(1, ROOT, 5);
        vm.prank(humans[0]);
        vm.expectRevert(abi.encodeWithSelector(Anchor.NotRegistered.selector, humans[0]));
        anchor.anchor(1, ROOT, sigs.seats, sigs.sigs);
    }

    function test_conflictingRootIsEvidenceNotOverwrite() public {
        Cert memory cert = _certificate(1, ROOT, 5);
        vm.prank(nodes[0]);
        anchor.anchor(1, ROOT, cert.seats, cert.sigs);
        bytes32 other = keccak256("equivocation");
        Cert memory certOther = _certificate(1, other, 6);
        vm.prank(nodes[1]);
        vm.expectEmit(true, true, false, true);
        emit Anchor.ConflictingRoot(1, ROOT, other, nodes[1]);
        anchor.anchor(1, other, certOther.seats, certOther.sigs);
        assertEq(anchor.rootOf(1), ROOT);
        assertEq(anchor.conflictCount(), 1);
        Anchor.Conflict memory c = anchor.conflictAt(0);
        assertEq(c.root, other);
        assertEq(c.submitter, nodes[1]);
    }

    function test_sameRootTwiceReverts() public {
        Cert memory sigs = _certificate(1, ROOT, 5);
        vm.startPrank(nodes[0]);
        anchor.anchor(1, ROOT, sigs.seats, sigs.sigs);
        vm.expectRevert(abi.encodeWithSelector(Anchor.AlreadyAnchored.selector, 1));
        anchor.anchor(1, ROOT, sigs.seats, sigs.sigs);
        vm.stopPrank();
    }

    function test_provesInclusionAgainstAnAnchoredRoot() public {
        bytes32[4] memory leaves = [keccak256("a"), keccak256("b"), keccak256("c"), keccak256("d")];
        bytes32 ab = _pair(leaves[0], leaves[1]);
        bytes32 cd = _pair(leaves[2], leaves[3]);
        bytes32 root = _pair(ab, cd);
        Cert memory cert = _certificate(7, root, 5);
        vm.prank(nodes[2]);
        anchor.anchor(7, root, cert.seats, cert.sigs);
        bytes32[] memory proof = new bytes32[](2);
        proof[0] = leaves[3];
        proof[1] = ab;
        assertTrue(anchor.verifyInclusion(7, leaves[2], proof));
        assertFalse(anchor.verifyInclusion(7, keccak256("e"), proof));
        assertFalse(anchor.verifyInclusion(8, leaves[2], proof));
    }

    function test_registryChangesOnlyByProposal() public {
        address fresh = makeAddr("fresh node");
        vm.prank(nodes[0]);
        vm.expectRevert(abi.encodeWithSelector(Governed.NotGovernance.selector, nodes[0]));
        anchor.register(fresh, keccak256("fresh"), 2);
        bytes32 beacon = anchor.beacon();
        _pass(address(anchor), abi.encodeCall(Anchor.register, (fresh, keccak256("fresh"), 2)));
        assertTrue(anchor.isActive(fresh));
        assertTrue(anchor.beacon() != beacon, "a registration draws a new beacon");
        beacon = anchor.beacon();
        assertEq(anchor.activeNodes(), NODES + 1);
        _pass(address(anchor), abi.encodeCall(Anchor.deregister, (fresh)));
        assertFalse(anchor.isActive(fresh));
        assertTrue(anchor.beacon() != beacon, "so does a deregistration");
        assertEq(anchor.weightOf(fresh), 0);
        assertEq(anchor.totalTierWeight(), 3_400_000_000);
    }

    function test_rejectsBadTierAndQuorum() public {
        vm.startPrank(address(gov));
        vm.expectRevert(abi.encodeWithSelector(Anchor.BadTier.selector, 5));
        anchor.register(makeAddr("x"), keccak256("x"), 5);
        vm.expectRevert(abi.encodeWithSelector(Anchor.BadQuorum.selector, 5_000));
        anchor.setQuorumBps(5_000);
        vm.expectRevert(abi.encodeWithSelector(Anchor.BadCommitteeSize.selector, 0));
        anchor.setCommitteeSize(0);
        vm.expectRevert(abi.encodeWithSelector(Anchor.BadCommitteeSize.selector, 257));
        anchor.setCommitteeSize(257);
        vm.stopPrank();
    }

    /// Whatever is submitted later, the first root of an epoch stays.
    function testFuzz_anchorIsNeverOverwritten(uint64 epoch, bytes32 first, bytes32 second) public {
        vm.assume(first != bytes32(0) && second != bytes32(0) && first != second);
        Cert memory certFirst = _certificate(epoch, first, 5);
        vm.prank(nodes[0]);
        anchor.anchor(epoch, first, certFirst.seats, certFirst.sigs);
        Cert memory cert = _certificate(epoch, second, 5);
        vm.prank(nodes[3]);
        anchor.anchor(epoch, second, cert.seats, cert.sigs);
        assertEq(anchor.rootOf(epoch), first);
        assertEq(anchor.conflictAt(0).root, second);
    }

    function _pair(bytes32 a, bytes32 b) internal pure returns (bytes32) {
        return a < b ? keccak256(abi.encodePacked(a, b)) : keccak256(abi.encodePacked(b, a));
    }
}
