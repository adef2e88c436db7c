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
        (bytes32 id,, bool active) = anchor.nodes(nodes[0]);
        assertTrue(active);
        assertEq(anchor.addressOf(id), nodes[0]);
        assertEq(anchor.requiredSigners(), 5); // ceil(6 * 2/3)
    }

    function test_anchorsARootWithAQuorumCertificate() public {
        bytes[] memory cert = _certificate(1, ROOT, 5);
        vm.prank(nodes[0]);
        anchor.anchor(1, ROOT, cert);
        Anchor.Checkpoint memory c = anchor.checkpointOf(1);
        assertEq(c.root, ROOT);
        assertEq(c.submitter, nodes[0]);
        assertEq(c.signers, 5);
        assertEq(anchor.latestEpoch(), 1);
    }

    function test_rejectsCertificateBelowQuorum() public {
        bytes[] memory sigs = _certificate(1, ROOT, 4);
        vm.prank(nodes[0]);
        vm.expectRevert(abi.encodeWithSelector(Anchor.NoQuorum.selector, 4, 5));
        anchor.anchor(1, ROOT, sigs);
    }

    function test_rejectsRepeatedSigner() public {
        bytes[] memory sigs = _certificate(1, ROOT, 5);
        sigs[1] = sigs[0];
        vm.prank(nodes[0]);
        vm.expectRevert(abi.encodeWithSelector(Anchor.SignersNotAscending.selector, nodes[0]));
        anchor.anchor(1, ROOT, sigs);
    }

    function test_rejectsSignatureOfAnotherRoot() public {
        bytes[] memory sigs = _certificate(1, keccak256("other"), 5);
        vm.prank(nodes[0]);
        vm.expectRevert(); // recovers an unregistered address
        anchor.anchor(1, ROOT, sigs);
    }

    function test_rejectsUnregisteredSigner() public {
        bytes[] memory sigs = _certificate(1, ROOT, 5);
        (address outsider, uint256 key) = makeAddrAndKey("outsider");
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, anchor.checkpointDigest(1, ROOT));
        bytes[] memory forged = new bytes[](6);
        for (uint256 i = 0; i < 5; i++) {
            forged[i] = sigs[i];
        }
        forged[5] = abi.encodePacked(r, s, v);
        vm.prank(nodes[0]);
        if (outsider > nodes[4]) {
            vm.expectRevert(abi.encodeWithSelector(Anchor.SignerNotRegistered.selector, outsider));
        } else {
            vm.expectRevert(abi.encodeWithSelector(Anchor.SignersNotAscending.selector, outsider));
        }
        anchor.anchor(1, ROOT, forged);
    }

    function test_onlyRegisteredNodesSubmit() public {
        bytes[] memory sigs = _certificate(1, ROOT, 5);
        vm.prank(humans[0]);
        vm.expectRevert(abi.encodeWithSelector(Anchor.NotRegistered.selector, humans[0]));
        anchor.anchor(1, ROOT, sigs);
    }

    function test_conflictingRootIsEvidenceNotOverwrite() public {
        bytes[] memory cert = _certificate(1, ROOT, 5);
        vm.prank(nodes[0]);
        anchor.anchor(1, ROOT, cert);
        bytes32 other = keccak256("equivocation");
        bytes[] memory certOther = _certificate(1, other, 6);
        vm.prank(nodes[1]);
        vm.expectEmit(true, true, false, true);
        emit Anchor.ConflictingRoot(1, ROOT, other, nodes[1]);
        anchor.anchor(1, other, certOther);
        assertEq(anchor.rootOf(1), ROOT);
        assertEq(anchor.conflictCount(), 1);
        Anchor.Conflict memory c = anchor.conflictAt(0);
        assertEq(c.root, other);
        assertEq(c.submitter, nodes[1]);
    }

    function test_sameRootTwiceReverts() public {
        bytes[] memory sigs = _certificate(1, ROOT, 5);
        vm.startPrank(nodes[0]);
        anchor.anchor(1, ROOT, sigs);
        vm.expectRevert(abi.encodeWithSelector(Anchor.AlreadyAnchored.selector, 1));
        anchor.anchor(1, ROOT, sigs);
        vm.stopPrank();
    }

    function test_provesInclusionAgainstAnAnchoredRoot() public {
        bytes32[4] memory leaves = [keccak256("a"), keccak256("b"), keccak256("c"), keccak256("d")];
        bytes32 ab = _pair(leaves[0], leaves[1]);
        bytes32 cd = _pair(leaves[2], leaves[3]);
        bytes32 root = _pair(ab, cd);
        bytes[] memory cert = _certificate(7, root, 5);
        vm.prank(nodes[2]);
        anchor.anchor(7, root, cert);
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
        _pass(address(anchor), abi.encodeCall(Anchor.register, (fresh, keccak256("fresh"), 2)));
        assertTrue(anchor.isActive(fresh));
        assertEq(anchor.activeNodes(), NODES + 1);
        _pass(address(anchor), abi.encodeCall(Anchor.deregister, (fresh)));
        assertFalse(anchor.isActive(fresh));
        assertEq(anchor.weightOf(fresh), 0);
        assertEq(anchor.totalTierWeight(), 3_400_000_000);
    }

    function test_rejectsBadTierAndQuorum() public {
        vm.startPrank(address(gov));
        vm.expectRevert(abi.encodeWithSelector(Anchor.BadTier.selector, 5));
        anchor.register(makeAddr("x"), keccak256("x"), 5);
        vm.expectRevert(abi.encodeWithSelector(Anchor.BadQuorum.selector, 5_000));
        anchor.setQuorumBps(5_000);
        vm.stopPrank();
    }

    /// Whatever is submitted later, the first root of an epoch stays.
    function testFuzz_anchorIsNeverOverwritten(uint64 epoch, bytes32 first, bytes32 second) public {
        vm.assume(first != bytes32(0) && second != bytes32(0) && first != second);
        bytes[] memory certFirst = _certificate(epoch, first, 5);
        vm.prank(nodes[0]);
        anchor.anchor(epoch, first, certFirst);
        bytes[] memory cert = _certificate(epoch, second, 5);
        vm.prank(nodes[3]);
        anchor.anchor(epoch, second, cert);
        assertEq(anchor.rootOf(epoch), first);
        assertEq(anchor.conflictAt(0).root, second);
    }

    function _pair(bytes32 a, bytes32 b) internal pure returns (bytes32) {
        return a < b ? keccak256(abi.encodePacked(a, b)) : keccak256(abi.encodePacked(b, a));
    }
}
