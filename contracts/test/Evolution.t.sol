// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Base} from "./Base.t.sol";
import {EvolutionRegistry} from "../src/EvolutionRegistry.sol";
import {Parameters} from "../src/Parameters.sol";
import {Governed} from "../src/Governed.sol";

contract EvolutionTest is Base {
    bytes32 internal constant MODULE = keccak256("skill.wasm");

    function test_deployRecordsProposalAndRisk() public {
        uint256 id = _pass(address(registry), abi.encodeCall(EvolutionRegistry.deploy, (MODULE, 1_200)));
        EvolutionRegistry.Module memory m = registry.moduleOf(MODULE);
        assertTrue(registry.isDeployed(MODULE));
        assertEq(m.proposalId, id);
        assertEq(m.riskScore, 1_200);
        assertEq(registry.deployedModules().length, 1);
    }

    function test_nodeProposesEvolutionHumansVeto() public {
        (address[] memory t, uint256[] memory v, bytes[] memory d) =
            _one(address(registry), abi.encodeCall(EvolutionRegistry.deploy, (MODULE, 9_000)));
        vm.prank(nodes[0]);
        uint256 id = gov.propose(t, v, d, "evolution: skill.wasm");
        _humanVotes(id, 15, 0);
        _nodeVotes(id, true);
        vm.prank(vetoer);
        gov.veto(id);
        _endVoting(id);
        vm.expectRevert();
        gov.queue(id);
        assertFalse(registry.isDeployed(MODULE));
    }

    function test_onlyGovernanceDeploysOrRevokes() public {
        vm.prank(nodes[0]);
        vm.expectRevert(abi.encodeWithSelector(Governed.NotGovernance.selector, nodes[0]));
        registry.deploy(MODULE, 1);
        vm.startPrank(address(gov));
        vm.expectRevert(abi.encodeWithSelector(EvolutionRegistry.BadRiskScore.selector, 10_001));
        registry.deploy(MODULE, 10_001);
        registry.deploy(MODULE, 1);
        vm.expectRevert(abi.encodeWithSelector(EvolutionRegistry.AlreadyKnown.selector, MODULE));
        registry.deploy(MODULE, 1);
        registry.revoke(MODULE);
        assertFalse(registry.isDeployed(MODULE));
        vm.expectRevert(abi.encodeWithSelector(EvolutionRegistry.NotDeployed.selector, MODULE));
        registry.revoke(MODULE);
        vm.stopPrank();
    }

    function test_parameterChangeEmitsTheProposal() public {
        uint256 id = _propose(address(params), abi.encodeCall(Parameters.setParameter, (FEE_KEY, 25)));
        _humanVotes(id, 15, 0);
        _endVoting(id);
        gov.queue(id);
        vm.warp(block.timestamp + 48 hours);
        vm.expectEmit(true, false, false, true, address(params));
        emit Parameters.ParameterChanged(FEE_KEY, 25, false, id);
        gov.execute(id);
        assertEq(params.valueOf(FEE_KEY), 25);
        assertEq(params.keys().length, 2);
    }
}
