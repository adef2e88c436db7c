// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Base} from "./Base.t.sol";
import {Governance, INodeRegistry} from "../src/Governance.sol";
import {Parameters} from "../src/Parameters.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

contract GovernanceTest is Base {
    function test_stakeGivesSqrtPower() public view {
        assertEq(gov.stakeOf(humans[0]), STAKE);
        assertEq(gov.totalHumanPower(), HUMANS * Math.sqrt(STAKE));
    }

    function test_voteWeightIsSqrtOfCommittedStakeAndBurnsHalf() public {
        uint256 id = _propose(address(params), abi.encodeCall(Parameters.setParameter, (FEE_KEY, 11)));
        uint256 supplyBefore = token.totalSupply();
        vm.prank(humans[1]);
        gov.vote(id, true, 64 ether);
        assertEq(gov.proposal(id).humanYes, Math.sqrt(64 ether));
        assertEq(gov.stakeOf(humans[1]), STAKE - 32 ether);
        assertEq(token.totalSupply(), supplyBefore - 32 ether);
        assertEq(gov.totalHumanPower(), (HUMANS - 1) * Math.sqrt(STAKE) + Math.sqrt(STAKE - 32 ether));
    }

    function test_whaleIsCappedAtFivePercentOfTotalPower() public {
        address whale = humans[2];
        // 10x the stake of anyone else: sqrt would give ~3.2x the weight.
        vm.startPrank(whale);
        gov.stake(STAKE * 9);
        vm.stopPrank();
        uint256 id = _propose(address(params), abi.encodeCall(Parameters.setParameter, (FEE_KEY, 11)));
        Governance.Proposal memory p = gov.proposal(id);
        uint256 cap = (p.humanPower + p.aiPower) * 500 / 10_000;
        assertLt(cap, Math.sqrt(STAKE * 10));
        vm.prank(whale);
        gov.vote(id, true, STAKE * 10);
        assertEq(gov.proposal(id).humanYes, cap);
    }

    function test_passesAtSixtyPercentWithQuorum() public {
        uint256 id = _propose(address(params), abi.encodeCall(Parameters.setParameter, (FEE_KEY, 11)));
        _humanVotes(id, 6, 4); // 60% yes of 10 equal voters, 10/20 humans > 40% quorum
        _endVoting(id);
        assertEq(uint8(gov.state(id)), uint8(Governance.State.Succeeded));
    }

    function test_failsBelowSixtyPercent() public {
        uint256 id = _propose(address(params), abi.encodeCall(Parameters.setParameter, (FEE_KEY, 11)));
        _humanVotes(id, 11, 8); // 57.9% yes
        _endVoting(id);
        assertEq(uint8(gov.state(id)), uint8(Governance.State.Defeated));
    }

    function test_failsWithoutQuorum() public {
        uint256 id = _propose(address(params), abi.encodeCall(Parameters.setParameter, (FEE_KEY, 11)));
        _humanVotes(id, 8, 0); // 8e10 of 2.13e11 < 40%
        _endVoting(id);
        assertEq(uint8(gov.state(id)), uint8(Governance.State.Defeated));
        assertFalse(gov.passed(id));
    }

    function test_aiWeightCanTipAHumanMajorityOverSixtyPercent() public {
        uint256 id = _propose(address(params), abi.encodeCall(Parameters.setParameter, (FEE_KEY, 11)));
        // Humans alone: 8.9e10 yes to 6e10 no, 59.7%: eight commit their
        // whole stake (weight 1e10 each) and one 81 tokens (0.9e10) for; six
        // their whole stake against.
        for (uint256 i = 0; i < 15; i++) {
            vm.prank(humans[i]);
            gov.vote(id, i < 9, i == 8 ? 81 ether : STAKE);
        }
        _nodeVotes(id, true); // +3.4e9 yes (the guide's weights of Base's tiers): 60.6%
        _endVoting(id);
        assertEq(uint8(gov.state(id)), uint8(Governance.State.Succeeded));
    }

    function test_aiWeightNeverPassesAProposalAlone() public {
        // Every node votes yes; humans split evenly: no human majority.
        uint256 id = _propose(address(params), abi.encodeCall(Parameters.setParameter, (FEE_KEY, 11)));
        _humanVotes(id, 5, 5);
        _nodeVotes(id, true);
        _endVoting(id);
        Governance.Proposal memory p = gov.proposal(id);
        // Combined, the tally would pass 60% if AI counted as a human.
        assertGe((p.humanYes + p.aiYes) * 10_000, 5_000 * (p.humanYes + p.humanNo + p.aiYes + p.aiNo));
        assertEq(uint8(gov.state(id)), uint8(Governance.State.Defeated));
    }

    function test_nodeCanProposeButNotVoteAsHuman() public {
        (address[] memory t, uint256[] memory v, bytes[] memory d) =
            _one(address(params), abi.encodeCall(Parameters.setParameter, (FEE_KEY, 11)));
        vm.prank(nodes[0]);
        uint256 id = gov.propose(t, v, d, "node proposal");
        vm.prank(nodes[0]);
        vm.expectRevert(abi.encodeWithSelector(Governance.InsufficientStake.selector, 0, 1));
        gov.vote(id, true, 1);
    }

    function test_strangerCannotPropose() public {
        (address[] memory t, uint256[] memory v, bytes[] memory d) =
            _one(address(params), abi.encodeCall(Parameters.setParameter, (FEE_KEY, 11)));
        address stranger = makeAddr("stranger");
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(Governance.NotAllowedToPropose.selector, stranger));
        gov.propose(t, v, d, "");
    }

    function test_nonNodeCannotVoteAsNode() public {
        uint256 id = _propose(address(params), abi.encodeCall(Parameters.setParameter, (FEE_KEY, 11)));
        vm.prank(humans[3]);
        vm.expectRevert(abi.encodeWithSelector(Governance.NotANode.selector, humans[3]));
        gov.voteAsNode(id, true);
    }

    function test_cannotVoteTwice() public {
        uint256 id = _propose(address(params), abi.encodeCall(Parameters.setParameter, (FEE_KEY, 11)));
        vm.startPrank(humans[1]);
        gov.vote(id, true, 1 ether);
        vm.expectRevert(abi.encodeWithSelector(Governance.AlreadyVoted.selector, id, humans[1]));
        gov.vote(id, false, 1 ether);
        vm.stopPrank();
        vm.startPrank(nodes[1]);
        gov.voteAsNode(id, true);
        vm.expectRevert(abi.encodeWithSelector(Governance.AlreadyVoted.selector, id, nodes[1]));
        gov.voteAsNode(id, true);
        vm.stopPrank();
    }

    function test_cannotVoteAfterVotingEnds() public {
        uint256 id = _propose(address(params), abi.encodeCall(Parameters.setParameter, (FEE_KEY, 11)));
        _endVoting(id);
        vm.prank(humans[1]);
        vm.expectRevert(abi.encodeWithSelector(Governance.WrongState.selector, id, Governance.State.Defeated));
        gov.vote(id, true, 1 ether);
    }

    function test_stakeIsLockedUntilTheVoteEnds() public {
        uint256 id = _propose(address(params), abi.encodeCall(Parameters.setParameter, (FEE_KEY, 11)));
        vm.startPrank(humans[1]);
        gov.vote(id, true, 10 ether);
        uint64 end = gov.proposal(id).voteEnd;
        vm.expectRevert(abi.encodeWithSelector(Governance.StakeLocked.selector, end));
        gov.unstake(1 ether);
        vm.warp(end);
        uint256 before = token.balanceOf(humans[1]);
        gov.unstake(1 ether);
        assertEq(token.balanceOf(humans[1]), before + 1 ether);
        vm.stopPrank();
    }

    function test_timelockHoldsExecutionFor48Hours() public {
        uint256 id = _propose(address(params), abi.encodeCall(Parameters.setParameter, (FEE_KEY, 11)));
        _humanVotes(id, 15, 0);
        _endVoting(id);
        vm.expectRevert(abi.encodeWithSelector(Governance.WrongState.selector, id, Governance.State.Succeeded));
        gov.execute(id);
        gov.queue(id);
        uint64 eta = gov.proposal(id).eta;
        assertEq(eta, block.timestamp + 48 hours);
        vm.warp(eta - 1);
        vm.expectRevert(abi.encodeWithSelector(Governance.TimelockNotOver.selector, eta));
        gov.execute(id);
        vm.warp(eta);
        gov.execute(id);
        assertEq(params.valueOf(FEE_KEY), 11);
        assertEq(uint8(gov.state(id)), uint8(Governance.State.Executed));
    }

    function test_vetoCancelsBeforeExecutionInEveryState() public {
        // Active
        uint256 a = _propose(address(params), abi.encodeCall(Parameters.setParameter, (FEE_KEY, 11)));
        vm.prank(vetoer);
        gov.veto(a);
        assertEq(uint8(gov.state(a)), uint8(Governance.State.Vetoed));
        // Queued, then the timelock ends: still never executes
        uint256 b = _propose(address(params), abi.encodeCall(Parameters.setParameter, (FEE_KEY, 12)));
        _humanVotes(b, 15, 0);
        _endVoting(b);
        gov.queue(b);
        vm.prank(vetoer);
        gov.veto(b);
        vm.warp(block.timestamp + 48 hours);
        vm.expectRevert(abi.encodeWithSelector(Governance.WrongState.selector, b, Governance.State.Vetoed));
        gov.execute(b);
        assertEq(params.valueOf(FEE_KEY), 10);
    }

    function test_onlyVetoerVetoesAndNotAfterExecution() public {
        uint256 id = _pass(address(params), abi.encodeCall(Parameters.setParameter, (FEE_KEY, 11)));
        vm.prank(humans[0]);
        vm.expectRevert(abi.encodeWithSelector(Governance.NotVetoer.selector, humans[0]));
        gov.veto(id);
        vm.prank(vetoer);
        vm.expectRevert(abi.encodeWithSelector(Governance.WrongState.selector, id, Governance.State.Executed));
        gov.veto(id);
    }

    function test_invariantChangeIsClassifiedFromItsActions() public {
        uint256 std = _propose(address(params), abi.encodeCall(Parameters.setParameter, (FEE_KEY, 11)));
        uint256 inv = _propose(address(params), abi.encodeCall(Parameters.setInvariantParameter, (QUORUM_KEY, 9_000)));
        uint256 veto = _propose(address(gov), abi.encodeCall(Governance.setVetoer, (humans[5])));
        assertFalse(gov.proposal(std).invariantClass);
        assertTrue(gov.proposal(inv).invariantClass);
        assertTrue(gov.proposal(veto).invariantClass);
    }

    function test_invariantChangeNeedsHumanSupermajority() public {
        uint256 id = _propose(address(params), abi.encodeCall(Parameters.setInvariantParameter, (QUORUM_KEY, 9_000)));
        _humanVotes(id, 13, 7); // 65% < 2/3
        _nodeVotes(id, true); // advisory weight does not count here
        _endVoting(id);
        assertEq(uint8(gov.state(id)), uint8(Governance.State.Defeated));

        uint256 id2 = _propose(address(params), abi.encodeCall(Parameters.setInvariantParameter, (QUORUM_KEY, 9_000)));
        _humanVotes(id2, 14, 6); // 70%, against the (halved) stakes left
        _endVoting(id2);
        assertEq(uint8(gov.state(id2)), uint8(Governance.State.Succeeded));
        gov.queue(id2);
        vm.warp(block.timestamp + 48 hours);
        gov.execute(id2);
        assertEq(params.valueOf(QUORUM_KEY), 9_000);
    }

    function test_invariantKeyCannotChangeThroughStandardSetter() public {
        uint256 id = _propose(address(params), abi.encodeCall(Parameters.setParameter, (QUORUM_KEY, 1)));
        _humanVotes(id, 15, 0);
        _endVoting(id);
        gov.queue(id);
        vm.warp(block.timestamp + 48 hours);
        vm.expectRevert(); // ActionFailed(0, InvariantKey(...))
        gov.execute(id);
        assertEq(uint8(gov.state(id)), uint8(Governance.State.Queued));
        assertEq(params.valueOf(QUORUM_KEY), 8_000);
    }

    function test_vetoerChangesOnlyByProposal() public {
        vm.prank(vetoer);
        vm.expectRevert(Governance.OnlySelf.selector);
        gov.setVetoer(humans[0]);
        uint256 id = _propose(address(gov), abi.encodeCall(Governance.setVetoer, (humans[9])));
        _humanVotes(id, 15, 0);
        _endVoting(id);
        gov.queue(id);
        vm.warp(block.timestamp + 48 hours);
        gov.execute(id);
        assertEq(gov.vetoer(), humans[9]);
    }

    function test_bindOnlyOnce() public {
        vm.expectRevert(Governance.AlreadyBound.selector);
        gov.bind(INodeRegistry(address(anchor)), new address[](0), new bytes4[](0));
    }

    function test_unknownProposalReverts() public {
        vm.expectRevert(abi.encodeWithSelector(Governance.UnknownProposal.selector, 7));
        gov.state(7);
    }

    /// Weight is sqrt(amount) until the cap, and never above it.
    function testFuzz_humanWeight(uint256 amount, uint256 totalPower) public view {
        amount = bound(amount, 0, 1e36);
        totalPower = bound(totalPower, 0, 1e30);
        uint256 w = gov.humanWeight(amount, totalPower);
        uint256 cap = totalPower * 500 / 10_000;
        assertLe(w, cap);
        assertLe(w, Math.sqrt(amount));
        assertTrue(w == cap || w == Math.sqrt(amount));
    }

    /// Whatever the nodes vote, a proposal without a human majority fails.
    function testFuzz_aiNeverPassesAlone(uint8 humanYes, uint8 humanNo, uint8 nodeYesMask) public {
        uint256 yes = bound(humanYes, 0, 10);
        uint256 no = bound(humanNo, yes, 10); // no >= yes
        uint256 id = _propose(address(params), abi.encodeCall(Parameters.setParameter, (FEE_KEY, 11)));
        _humanVotes(id, yes, no);
        for (uint256 i = 0; i < NODES; i++) {
            vm.prank(nodes[i]);
            gov.voteAsNode(id, (nodeYesMask >> i) & 1 == 1);
        }
        _endVoting(id);
        assertEq(uint8(gov.state(id)), uint8(Governance.State.Defeated));
    }
}
