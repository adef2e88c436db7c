// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Base} from "./Base.t.sol";
import {Governance} from "../src/Governance.sol";
import {Governed} from "../src/Governed.sol";
import {Treasury} from "../src/Treasury.sol";
import {StakeToken} from "../src/StakeToken.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

contract TreasuryTest is Base {
    address internal payee = makeAddr("payee");
    StakeToken internal iusd;

    function setUp() public override {
        super.setUp();
        vm.deal(address(this), 10 ether);
        (bool ok,) = address(treasury).call{value: 10 ether}("");
        assertTrue(ok);
        address[] memory holders = new address[](1);
        uint256[] memory amounts = new uint256[](1);
        holders[0] = address(treasury);
        amounts[0] = 1_000 ether;
        iusd = new StakeToken(holders, amounts);
    }

    function test_releasesEthOnlyByExecutedProposal() public {
        vm.prank(humans[0]);
        vm.expectRevert(abi.encodeWithSelector(Governed.NotGovernance.selector, humans[0]));
        treasury.releaseEth(payable(payee), 1 ether);

        uint256 id = _pass(address(treasury), abi.encodeCall(Treasury.releaseEth, (payable(payee), 3 ether)));
        assertEq(payee.balance, 3 ether);
        assertEq(address(treasury).balance, 7 ether);
        assertEq(uint8(gov.state(id)), uint8(Governance.State.Executed));
    }

    function test_releasesTokensOnlyByExecutedProposal() public {
        vm.prank(vetoer);
        vm.expectRevert(abi.encodeWithSelector(Governed.NotGovernance.selector, vetoer));
        treasury.releaseToken(iusd, payee, 1 ether);

        _pass(address(treasury), abi.encodeCall(Treasury.releaseToken, (IERC20(address(iusd)), payee, 250 ether)));
        assertEq(iusd.balanceOf(payee), 250 ether);
    }

    function test_defeatedProposalPaysNothing() public {
        uint256 id = _propose(address(treasury), abi.encodeCall(Treasury.releaseEth, (payable(payee), 3 ether)));
        _humanVotes(id, 4, 6);
        _endVoting(id);
        vm.expectRevert(abi.encodeWithSelector(Governance.WrongState.selector, id, Governance.State.Defeated));
        gov.queue(id);
        assertEq(payee.balance, 0);
    }

    function test_sixOfEightSentinelsPause() public {
        for (uint256 i = 0; i < 5; i++) {
            vm.prank(sentinels[i]);
            treasury.approvePause();
        }
        assertFalse(treasury.paused());
        vm.prank(sentinels[5]);
        treasury.approvePause();
        assertTrue(treasury.paused());

        // A passed release cannot pay while paused; the proposal stays queued.
        uint256 id = _propose(address(treasury), abi.encodeCall(Treasury.releaseEth, (payable(payee), 1 ether)));
        _humanVotes(id, 15, 0);
        _endVoting(id);
        gov.queue(id);
        vm.warp(block.timestamp + 48 hours);
        vm.expectRevert();
        gov.execute(id);
        assertEq(payee.balance, 0);

        _pass(address(treasury), abi.encodeCall(Treasury.unpause, ()));
        assertFalse(treasury.paused());
        gov.execute(id);
        assertEq(payee.balance, 1 ether);
    }

    function test_pauseApprovalsAreDistinctAndWithdrawable() public {
        vm.startPrank(sentinels[0]);
        treasury.approvePause();
        vm.expectRevert(abi.encodeWithSelector(Treasury.AlreadyApproved.selector, sentinels[0]));
        treasury.approvePause();
        treasury.withdrawPauseApproval();
        vm.stopPrank();
        assertEq(treasury.pauseApprovals(), 0);
        vm.prank(humans[0]);
        vm.expectRevert(abi.encodeWithSelector(Treasury.NotSentinel.selector, humans[0]));
        treasury.approvePause();
    }

    function test_sentinelsCannotUnpause() public {
        for (uint256 i = 0; i < 6; i++) {
            vm.prank(sentinels[i]);
            treasury.approvePause();
        }
        vm.prank(sentinels[0]);
        vm.expectRevert(abi.encodeWithSelector(Governed.NotGovernance.selector, sentinels[0]));
        treasury.unpause();
    }

    function test_replacingASentinelIsInvariantClass() public {
        address fresh = makeAddr("fresh sentinel");
        uint256 id = _propose(address(treasury), abi.encodeCall(Treasury.replaceSentinel, (sentinels[0], fresh)));
        assertTrue(gov.proposal(id).invariantClass);
        _humanVotes(id, 15, 0);
        _endVoting(id);
        gov.queue(id);
        vm.warp(block.timestamp + 48 hours);
        gov.execute(id);
        assertTrue(treasury.isSentinel(fresh));
        assertFalse(treasury.isSentinel(sentinels[0]));
        assertEq(treasury.sentinels()[0], fresh);
    }

    function test_constructorRejectsDuplicateSentinels() public {
        address[8] memory dup = sentinels;
        dup[7] = dup[0];
        vm.expectRevert(abi.encodeWithSelector(Treasury.DuplicateSentinel.selector, dup[0]));
        new Treasury(address(gov), dup);
    }
}
