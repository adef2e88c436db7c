// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Base} from "./Base.t.sol";
import {Anchor} from "../src/Anchor.sol";
import {Governance} from "../src/Governance.sol";
import {Governed} from "../src/Governed.sol";

/// @notice Tiers, vote weights and GI floors as the onboarding guide has
/// them, the GI table committed in a checkpoint, and promotions proven
/// against it.
contract IntegrityTest is Base {
    uint64 internal constant CYCLE = 40;
    // nodes[1] is Standard at genesis (Base: tiers 1, 2, 3, 4, 2, 1).
    uint32 internal constant GOOD_GI = 930_000;

    bytes32[4] internal leaves;
    bytes32 internal giRoot;
    bytes32[3] internal heads;

    function setUp() public override {
        super.setUp();
        heads = [keccak256("head a"), keccak256("head b"), keccak256("head c")];
    }

    function _id(uint256 i) internal view returns (bytes32 id) {
        (id,,,) = anchor.nodes(nodes[i]);
    }

    function _pair(bytes32 a, bytes32 b) internal pure returns (bytes32) {
        return a < b ? keccak256(abi.encodePacked(a, b)) : keccak256(abi.encodePacked(b, a));
    }

    /// A GI table of four rows: nodes[1] (Standard, `gi`, `status`),
    /// nodes[2] (High, 0.99), nodes[4] (Standard, 0.80) and nodes[5]
    /// (Research, 0.88), committed in an anchored checkpoint of epoch
    /// CYCLE + 4 beside three chain heads.
    function _anchorTable(uint32 gi, uint8 status) internal {
        leaves[0] = anchor.giLeaf(CYCLE, _id(1), gi, anchor.STANDARD(), status);
        leaves[1] = anchor.giLeaf(CYCLE, _id(2), 990_000, anchor.HIGH(), 0);
        leaves[2] = anchor.giLeaf(CYCLE, _id(4), 800_000, anchor.STANDARD(), 0);
        leaves[3] = anchor.giLeaf(CYCLE, _id(5), 880_000, anchor.RESEARCH(), 0);
        giRoot = _pair(_pair(leaves[0], leaves[1]), _pair(leaves[2], leaves[3]));
        bytes32 commitment = anchor.giCommitmentLeaf(CYCLE, giRoot);
        bytes32 root = _pair(_pair(heads[0], heads[1]), _pair(heads[2], commitment));
        uint64 epoch = CYCLE + anchor.GI_LAG_EPOCHS();
        Cert memory cert = _certificate(epoch, root, 5);
        vm.prank(nodes[0]);
        anchor.anchor(epoch, root, cert.seats, cert.sigs);
    }

    /// The proof of row `row` (0..3) of the anchored table.
    function _proof(uint256 row, uint32 gi, uint8 tier, uint8 status) internal view returns (Anchor.GiProof memory p) {
        p.cycle = CYCLE;
        p.giRoot = giRoot;
        p.rootProof = new bytes32[](2);
        p.rootProof[0] = heads[2];
        p.rootProof[1] = _pair(heads[0], heads[1]);
        p.gi = gi;
        p.tier = tier;
        p.status = status;
        p.leafProof = new bytes32[](2);
        p.leafProof[0] = leaves[row ^ 1];
        p.leafProof[1] = row < 2 ? _pair(leaves[2], leaves[3]) : _pair(leaves[0], leaves[1]);
    }

    /// A proposal calling the Anchor, passed and queued, its timelock over.
    function _passUntilExecution(bytes memory data) internal returns (uint256 id) {
        id = _propose(address(anchor), data);
        _humanVotes(id, 15, 0);
        _endVoting(id);
        gov.queue(id);
        vm.warp(block.timestamp + gov.TIMELOCK());
    }

    function test_tierWeightsAndFloorsAreTheGuides() public view {
        assertEq(anchor.tierWeight(0), 0);
        assertEq(anchor.tierWeight(1), 0); // Research does not vote
        assertEq(anchor.tierWeight(2), 750_000_000);
        assertEq(anchor.tierWeight(3), 900_000_000);
        assertEq(anchor.tierWeight(4), 1_000_000_000);
        assertEq(anchor.giFloor(0), 0);
        assertEq(anchor.giFloor(1), 850_000);
        assertEq(anchor.giFloor(2), 900_000);
        assertEq(anchor.giFloor(3), 920_000);
        assertEq(anchor.giFloor(4), 950_000);
        // Base's genesis: Research, Standard, High, Critical, Standard, Research.
        assertEq(anchor.totalTierWeight(), 3_400_000_000);
        assertEq(anchor.weightOf(nodes[0]), 0);
        assertEq(anchor.weightOf(nodes[3]), 1_000_000_000);
    }

    function test_aNodesAnchoredGiIsProvenAndAnyTamperingFails() public {
        _anchorTable(GOOD_GI, 0);
        bytes32 id = _id(1);
        assertTrue(anchor.verifyGi(id, _proof(0, GOOD_GI, 2, 0)));
        assertTrue(anchor.verifyGi(_id(5), _proof(3, 880_000, 1, 0)));
        assertFalse(anchor.verifyGi(id, _proof(0, GOOD_GI + 1, 2, 0)));
        assertFalse(anchor.verifyGi(id, _proof(0, GOOD_GI, 3, 0)));
        assertFalse(anchor.verifyGi(id, _proof(0, GOOD_GI, 2, 1)));
        assertFalse(anchor.verifyGi(_id(2), _proof(0, GOOD_GI, 2, 0)));
        Anchor.GiProof memory p = _proof(0, GOOD_GI, 2, 0);
        p.cycle = CYCLE + 1; // no checkpoint commits to it
        assertFalse(anchor.verifyGi(id, p));
        p.cycle = type(uint64).max; // no epoch four after it: false, not a revert
        assertFalse(anchor.verifyGi(id, p));
        p = _proof(0, GOOD_GI, 2, 0);
        p.rootProof[0] = keccak256("another head");
        assertFalse(anchor.verifyGi(id, p));
        // A chain head's leaf cannot pass for the commitment, nor the other way.
        p = _proof(0, GOOD_GI, 2, 0);
        assertFalse(anchor.verifyInclusion(CYCLE + 4, giRoot, p.rootProof));
    }

    function test_theDaoPromotesAStandardNodeProvenAtHighsFloor() public {
        _anchorTable(GOOD_GI, 0);
        bytes32 id = _id(1);
        uint256 before = anchor.totalTierWeight();
        uint256 proposal = _passUntilExecution(abi.encodeCall(Anchor.promote, (nodes[1], 3, _proof(0, GOOD_GI, 2, 0))));
        vm.expectEmit(true, true, false, true, address(anchor));
        emit Anchor.Promoted(nodes[1], id, 3, CYCLE, GOOD_GI, CYCLE + 4 + 2, proposal);
        gov.execute(proposal);
        (, uint8 tier,,) = anchor.nodes(nodes[1]);
        assertEq(tier, 3);
        assertEq(anchor.totalTierWeight(), before - 750_000_000 + 900_000_000);
    }

    function test_aPromotionIsRefusedUnderTheFloorOrUnproven() public {
        _anchorTable(910_000, 0);
        vm.startPrank(address(gov));
        // 0.91 is under High's 0.92.
        vm.expectRevert(abi.encodeWithSelector(Anchor.GiUnderFloor.selector, 910_000, 920_000));
        anchor.promote(nodes[1], 3, _proof(0, 910_000, 2, 0));
        // Claiming more than the table holds fails the proof.
        vm.expectRevert(abi.encodeWithSelector(Anchor.GiUnproven.selector, _id(1), CYCLE));
        anchor.promote(nodes[1], 3, _proof(0, GOOD_GI, 2, 0));
        // Someone else's row does not promote this node.
        vm.expectRevert(abi.encodeWithSelector(Anchor.GiUnproven.selector, _id(4), CYCLE));
        anchor.promote(nodes[4], 3, _proof(1, 990_000, 3, 0));
        vm.stopPrank();
    }

    function test_aPromotionSkipsNoTierAndNeedsGoodStanding() public {
        _anchorTable(GOOD_GI, 1); // suspended in the cycle
        vm.startPrank(address(gov));
        vm.expectRevert(abi.encodeWithSelector(Anchor.NotInGoodStanding.selector, _id(1), CYCLE, 2, 1));
        anchor.promote(nodes[1], 3, _proof(0, GOOD_GI, 2, 1));
        // Research at 0.88 may not jump to High; and Critical is not High + 0.
        vm.expectRevert(abi.encodeWithSelector(Anchor.NotInGoodStanding.selector, _id(5), CYCLE, 1, 0));
        anchor.promote(nodes[5], 3, _proof(3, 880_000, 1, 0));
        vm.expectRevert(abi.encodeWithSelector(Anchor.NotAPromotion.selector, 2, 2));
        anchor.promote(nodes[1], 2, _proof(0, GOOD_GI, 2, 1));
        vm.stopPrank();
    }

    function test_onlyTheDaoPromotesOrUpholdsAnAppeal() public {
        _anchorTable(GOOD_GI, 0);
        Anchor.GiProof memory p = _proof(0, GOOD_GI, 2, 0);
        (bytes32 one, bytes32 four) = (_id(1), _id(4));
        vm.prank(nodes[1]);
        vm.expectRevert(abi.encodeWithSelector(Governed.NotGovernance.selector, nodes[1]));
        anchor.promote(nodes[1], 3, p);
        vm.prank(humans[0]);
        vm.expectRevert(abi.encodeWithSelector(Governed.NotGovernance.selector, humans[0]));
        anchor.appeal(one);
        uint256 id = _passUntilExecution(abi.encodeCall(Anchor.appeal, (four)));
        vm.expectEmit(true, false, false, true, address(anchor));
        emit Anchor.Appealed(four, CYCLE + 4 + 2, id);
        gov.execute(id);
        assertEq(uint8(gov.state(id)), uint8(Governance.State.Executed));
    }

    function test_anAppealNeedsAnAnchorToCountItsCycleFrom() public {
        vm.prank(address(gov));
        vm.expectRevert(Anchor.NothingAnchored.selector);
        anchor.appeal(keccak256("someone"));
    }

    function test_registrationAndSetTierStopAtStandard() public {
        vm.startPrank(address(gov));
        vm.expectRevert(abi.encodeWithSelector(Anchor.BadTier.selector, 3));
        anchor.register(makeAddr("x"), keccak256("x"), 3);
        vm.expectRevert(abi.encodeWithSelector(Anchor.BadTier.selector, 4));
        anchor.setTier(nodes[1], 4);
        vm.expectRevert(Anchor.ZeroNodeId.selector);
        anchor.register(makeAddr("y"), bytes32(0), 0);
        anchor.register(makeAddr("z"), keccak256("z"), 0); // a new node starts in shadow
        assertEq(anchor.weightOf(makeAddr("z")), 0);
        anchor.setTier(nodes[3], 2); // a demotion needs no proof
        vm.stopPrank();
        assertEq(anchor.weightOf(nodes[3]), 750_000_000);
    }

    /// Whatever GI and tier a proposal claims, a promotion holds only for a
    /// proven row at or above the floor, one tier below, in good standing.
    function testFuzz_noPromotionWithoutAProvenGiAtTheFloor(uint32 gi, uint8 claimed, uint8 to, uint8 status) public {
        _anchorTable(gi, status);
        to = uint8(bound(to, 0, 6));
        vm.prank(address(gov));
        try anchor.promote(nodes[1], to, _proof(0, gi, claimed, status)) {
            assertEq(claimed, 2);
            assertEq(to, 3);
            assertEq(status, 0);
            assertGe(gi, 920_000);
        } catch {
            (, uint8 tier,,) = anchor.nodes(nodes[1]);
            assertEq(tier, 2);
        }
    }
}
