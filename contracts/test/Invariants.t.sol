// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";
import {Base} from "./Base.t.sol";
import {Governance} from "../src/Governance.sol";
import {Anchor} from "../src/Anchor.sol";
import {Treasury} from "../src/Treasury.sol";
import {Parameters} from "../src/Parameters.sol";

/// @notice Drives the DAO with random humans, nodes, sentinels, the vetoer
/// and a stranger, and keeps ghost books of what should have happened.
contract Handler is Test {
    Governance internal gov;
    Anchor internal anchor;
    Treasury internal treasury;
    Parameters internal params;
    address internal vetoer;
    address[] internal humans;
    address[] internal nodes;
    uint256[] internal nodeKeys;
    address[8] internal sentinels;
    bytes32 internal invariantKey;

    uint256[] public proposals;
    mapping(uint256 => uint256) public releaseOf;
    mapping(uint256 => bool) public vetoedByHandler;
    uint256 public deposited;
    uint256 public released;
    uint256 public executed;
    uint64[] public epochs;
    mapping(uint64 => bytes32) public firstRoot;
    uint256 public promotions;

    constructor(
        Governance gov_,
        Anchor anchor_,
        Treasury treasury_,
        Parameters params_,
        address vetoer_,
        address[] memory humans_,
        address[] memory nodes_,
        uint256[] memory nodeKeys_,
        address[8] memory sentinels_,
        bytes32 invariantKey_
    ) {
        (gov, anchor, treasury, params, vetoer) = (gov_, anchor_, treasury_, params_, vetoer_);
        (humans, nodes, nodeKeys, sentinels, invariantKey) = (humans_, nodes_, nodeKeys_, sentinels_, invariantKey_);
    }

    function proposalCount() external view returns (uint256) {
        return proposals.length;
    }

    function epochCount() external view returns (uint256) {
        return epochs.length;
    }

    function deposit(uint96 amount) external {
        vm.deal(address(this), amount);
        (bool ok,) = address(treasury).call{value: amount}("");
        require(ok);
        deposited += amount;
    }

    /// Anyone but Governance tries to take money out directly.
    function stealAttempt(uint256 actorSeed, uint96 amount) external {
        address[4] memory actors =
            [humans[actorSeed % humans.length], nodes[actorSeed % nodes.length], vetoer, sentinels[actorSeed % 8]];
        vm.prank(actors[actorSeed % 4]);
        try treasury.releaseEth(payable(actors[0]), amount) {} catch {}
    }

    function proposeRelease(uint256 proposerSeed, uint96 amountSeed) external {
        // Mostly affordable releases; a few overdraw and must fail to execute.
        uint256 amount = bound(amountSeed, 0, address(treasury).balance + 1 ether);
        address[] memory t = new address[](1);
        uint256[] memory v = new uint256[](1);
        bytes[] memory d = new bytes[](1);
        t[0] = address(treasury);
        d[0] = abi.encodeCall(Treasury.releaseEth, (payable(humans[proposerSeed % humans.length]), amount));
        _propose(proposerSeed, t, v, d, amount);
    }

    function proposeInvariantChange(uint256 proposerSeed, uint256 value) external {
        address[] memory t = new address[](1);
        uint256[] memory v = new uint256[](1);
        bytes[] memory d = new bytes[](1);
        t[0] = address(params);
        d[0] = abi.encodeCall(Parameters.setInvariantParameter, (invariantKey, value));
        _propose(proposerSeed, t, v, d, 0);
    }

    function humanVote(uint256 propSeed, uint256 humanSeed, bool support, uint256 amount) external {
        if (proposals.length == 0) return;
        address h = humans[humanSeed % humans.length];
        amount = bound(amount, 1, gov.stakeOf(h) == 0 ? 1 : gov.stakeOf(h));
        vm.prank(h);
        try gov.vote(proposals[propSeed % proposals.length], support, amount) {} catch {}
    }

    /// Many humans vote the same way at once, so some proposals reach quorum.
    function rally(uint256 propSeed, bool support, uint8 count) external {
        if (proposals.length == 0) return;
        uint256 id = proposals[propSeed % proposals.length];
        uint256 n = bound(count, 1, humans.length);
        for (uint256 i = 0; i < n; i++) {
            address h = humans[(propSeed + i) % humans.length];
            uint256 amount = gov.stakeOf(h);
            if (amount == 0) continue;
            vm.prank(h);
            try gov.vote(id, support, amount) {} catch {}
        }
    }

    function nodeVote(uint256 propSeed, uint256 nodeSeed, bool support) external {
        if (proposals.length == 0) return;
        vm.prank(nodes[nodeSeed % nodes.length]);
        try gov.voteAsNode(proposals[propSeed % proposals.length], support) {} catch {}
    }

    function wait(uint256 secondsAhead) external {
        vm.warp(block.timestamp + bound(secondsAhead, 1, 4 days));
    }

    /// Moves a proposal one step along its life: ends its vote, queues it,
    /// or waits out its timelock and executes it. Whether each step is
    /// allowed is the contract's decision.
    function advance(uint256 propSeed) external {
        if (proposals.length == 0) return;
        uint256 id = proposals[propSeed % proposals.length];
        Governance.State state = gov.state(id);
        if (state == Governance.State.Active) {
            vm.warp(gov.proposal(id).voteEnd);
        } else if (state == Governance.State.Succeeded) {
            try gov.queue(id) {} catch {}
        } else {
            uint64 eta = gov.proposal(id).eta;
            if (eta > block.timestamp) vm.warp(eta);
            try gov.execute(id) {
                released += releaseOf[id];
                executed += 1;
            } catch {}
        }
    }

    function veto(uint256 propSeed) external {
        if (proposals.length == 0) return;
        uint256 id = proposals[propSeed % proposals.length];
        vm.prank(vetoer);
        try gov.veto(id) {
            vetoedByHandler[id] = true;
        } catch {}
    }

    function sentinelPause(uint256 seed) external {
        vm.prank(sentinels[seed % 8]);
        try treasury.approvePause() {} catch {}
    }

    function anchorRoot(uint64 epochSeed, bytes32 root, uint256 nodeSeed) external {
        if (root == bytes32(0)) return;
        uint64 epoch = epochSeed % 8; // few epochs, so conflicts happen
        bytes32 digest = anchor.checkpointDigest(epoch, root);
        bytes[] memory sigs = new bytes[](5);
        for (uint256 i = 0; i < 5; i++) {
            (uint8 v, bytes32 r, bytes32 s) = vm.sign(nodeKeys[i], digest);
            sigs[i] = abi.encodePacked(r, s, v);
        }
        vm.prank(nodes[nodeSeed % nodes.length]);
        try anchor.anchor(epoch, root, 0x1f, sigs) {
            if (firstRoot[epoch] == bytes32(0)) {
                firstRoot[epoch] = root;
                epochs.push(epoch);
            }
        } catch {}
    }

    /// Governance itself (as an executed proposal would) promotes with a
    /// proof made up from the fuzzer's values: no anchored table holds it.
    function forgedPromotion(uint256 nodeSeed, uint8 to, uint64 cycle, uint32 gi, uint8 claimed, bytes32 giRoot)
        external
    {
        Anchor.GiProof memory p;
        p.cycle = cycle % 8; // the epochs anchorRoot fills, so roots exist
        p.giRoot = giRoot;
        p.rootProof = new bytes32[](1);
        p.rootProof[0] = keccak256(abi.encode(giRoot));
        p.gi = gi;
        p.tier = claimed;
        p.leafProof = new bytes32[](0);
        vm.prank(address(gov));
        try anchor.promote(nodes[nodeSeed % nodes.length], to, p) {
            promotions += 1;
        } catch {}
    }

    function _propose(uint256 proposerSeed, address[] memory t, uint256[] memory v, bytes[] memory d, uint256 amount)
        internal
    {
        address proposer =
            proposerSeed % 3 == 0 ? nodes[proposerSeed % nodes.length] : humans[proposerSeed % humans.length];
        vm.prank(proposer);
        try gov.propose(t, v, d, "fuzzed") returns (uint256 id) {
            proposals.push(id);
            releaseOf[id] = amount;
        } catch {}
    }
}

/// @notice The DAO's safety properties under random sequences of actions.
contract InvariantsTest is Base {
    Handler internal handler;
    uint8[] internal genesisTier;

    function setUp() public override {
        super.setUp();
        handler = new Handler(gov, anchor, treasury, params, vetoer, humans, nodes, nodeKeys, sentinels, QUORUM_KEY);
        targetContract(address(handler));
        // Only the actions; the handler's ghost getters would dilute them.
        bytes4[] memory actions = new bytes4[](13);
        actions[0] = Handler.deposit.selector;
        actions[1] = Handler.stealAttempt.selector;
        actions[2] = Handler.proposeRelease.selector;
        actions[3] = Handler.proposeInvariantChange.selector;
        actions[4] = Handler.humanVote.selector;
        actions[5] = Handler.rally.selector;
        actions[6] = Handler.nodeVote.selector;
        actions[7] = Handler.wait.selector;
        actions[8] = Handler.advance.selector;
        actions[9] = Handler.veto.selector;
        actions[10] = Handler.sentinelPause.selector;
        actions[11] = Handler.anchorRoot.selector;
        actions[12] = Handler.forgedPromotion.selector;
        for (uint256 i = 0; i < NODES; i++) {
            (, uint8 tier,,) = anchor.nodes(nodes[i]);
            genesisTier.push(tier);
        }
        targetSelector(FuzzSelector({addr: address(handler), selectors: actions}));
    }

    /// The treasury never pays without an executed proposal.
    function invariant_treasuryPaysOnlyByExecutedProposal() public view {
        assertEq(address(treasury).balance, handler.deposited() - handler.released());
    }

    /// AI weight never passes a proposal alone, and an invariant-class change
    /// never passes without a human supermajority.
    function invariant_passingNeedsHumans() public view {
        for (uint256 i = 0; i < handler.proposalCount(); i++) {
            uint256 id = handler.proposals(i);
            Governance.Proposal memory p = gov.proposal(id);
            bool reached = p.executed || p.eta != 0;
            if (!reached) continue;
            assertGt(p.humanYes, p.humanNo, "passed without a human majority");
            if (p.invariantClass) {
                assertGe(
                    p.humanYes * 10_000, 6_667 * (p.humanYes + p.humanNo), "invariant change without supermajority"
                );
            }
        }
    }

    /// A vetoed proposal never executes.
    function invariant_vetoedNeverExecutes() public view {
        for (uint256 i = 0; i < handler.proposalCount(); i++) {
            uint256 id = handler.proposals(i);
            Governance.Proposal memory p = gov.proposal(id);
            assertFalse(p.vetoed && p.executed, "vetoed and executed");
            if (handler.vetoedByHandler(id)) assertFalse(p.executed, "executed after veto");
        }
    }

    /// No tier rises without a proven GI (the handler only has forged
    /// proofs), and the advisory power is always the sum of the weights.
    function invariant_noPromotionWithoutAnAnchoredGi() public view {
        assertEq(handler.promotions(), 0, "promoted on a forged proof");
        uint256 total;
        for (uint256 i = 0; i < NODES; i++) {
            (, uint8 tier,,) = anchor.nodes(nodes[i]);
            assertLe(tier, genesisTier[i], "a tier rose");
            total += anchor.weightOf(nodes[i]);
        }
        assertEq(anchor.totalTierWeight(), total);
    }

    /// Anchors are never overwritten.
    function invariant_anchorsAreNeverOverwritten() public view {
        for (uint256 i = 0; i < handler.epochCount(); i++) {
            uint64 epoch = handler.epochs(i);
            assertEq(anchor.rootOf(epoch), handler.firstRoot(epoch));
        }
    }
}

/// @notice The handler can drive a proposal all the way, so the invariants
/// above are not vacuous.
contract HandlerReachTest is Base {
    function test_handlerExecutesAReleaseAndAVetoStopsAnother() public {
        Handler handler =
            new Handler(gov, anchor, treasury, params, vetoer, humans, nodes, nodeKeys, sentinels, QUORUM_KEY);
        handler.deposit(5 ether);
        handler.proposeRelease(1, 1 ether);
        handler.proposeRelease(2, 2 ether);
        handler.rally(0, true, 20);
        handler.rally(1, true, 20);
        handler.veto(1);
        for (uint256 i = 0; i < 3; i++) {
            handler.advance(0);
            handler.advance(1);
        }
        assertEq(handler.executed(), 1);
        assertEq(handler.released(), 1 ether);
        assertEq(address(treasury).balance, 4 ether);
    }
}
