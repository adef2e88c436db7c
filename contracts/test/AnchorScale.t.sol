// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";
import {Anchor} from "../src/Anchor.sol";

/// @notice Fills a registry with genesis nodes in batches, as a deployment does.
abstract contract RegistryFixture is Test {
    /// Registers `n` nodes at Standard: node i's address is vm.addr(keyBase + i)
    /// (a key the test can sign with), or, when `salt` is not zero, an
    /// address derived from (salt, i).
    function _fill(Anchor a, uint256 n, uint256 keyBase, uint256 salt) internal {
        uint256 batch = a.GENESIS_BATCH_MAX();
        for (uint256 from = 0; from < n; from += batch) {
            uint256 len = n - from < batch ? n - from : batch;
            address[] memory addrs = new address[](len);
            bytes32[] memory ids = new bytes32[](len);
            uint8[] memory tiers = new uint8[](len);
            for (uint256 i = 0; i < len; i++) {
                addrs[i] = salt == 0
                    ? vm.addr(keyBase + from + i)
                    : address(uint160(uint256(keccak256(abi.encode(salt, from + i)))));
                ids[i] = keccak256(abi.encode(salt, "node", from + i));
                tiers[i] = 2;
            }
            // Each measured call as a transaction of its own: nothing warm.
            vm.cool(address(a));
            a.registerGenesis(addrs, ids, tiers);
            if (salt == 0 && from == 0 && len == batch) {
                vm.snapshotGasLastCall("AnchorScale", "registerGenesis_batch_of_64");
            }
        }
        a.sealGenesis();
    }
}

/// @notice What registering and anchoring cost as the swarm grows: the
/// deployment's committee (192 seats, two thirds to sign) at 10, 100 and
/// 1000 registered nodes. Per-call gas goes to snapshots/AnchorScale.json
/// (checked by check.sh); the flatness past the committee size is asserted.
contract AnchorScaleTest is RegistryFixture {
    uint16 internal constant COMMITTEE = 192;
    uint16 internal constant QUORUM_BPS = 6_667;
    /// Node i's key is KEY_BASE + i.
    uint256 internal constant KEY_BASE = 0x1000;
    bytes32 internal constant ROOT = keccak256("root");

    /// A registry of `n` genesis nodes, this contract its governance.
    function _registry(uint256 n, string memory tag) internal returns (Anchor a) {
        a = new Anchor(address(this), QUORUM_BPS, COMMITTEE, address(this));
        _fill(a, n, KEY_BASE, 0);
        assertEq(a.activeNodes(), n);
        // One more node by proposal, and away again: constant gas at any size.
        address late = vm.addr(KEY_BASE + n);
        vm.cool(address(a));
        a.register(late, keccak256("late"), 2);
        vm.snapshotGasLastCall("AnchorScale", string.concat("register_at_", tag));
        vm.cool(address(a));
        a.deregister(late);
        vm.snapshotGasLastCall("AnchorScale", string.concat("deregister_at_", tag));
    }

    /// Anchors one root with the fewest seats that carry the quorum; returns its gas.
    function _anchor(Anchor a, uint64 epoch, string memory tag) internal returns (uint256 gasUsed) {
        address[] memory holders = a.committee(epoch);
        uint256 required = a.requiredSigners();
        bytes32 digest = a.checkpointDigest(epoch, ROOT);
        bytes[] memory sigs = new bytes[](required);
        uint256 seats;
        for (uint256 seat = 0; seat < required; seat++) {
            (,,, uint32 index) = a.nodes(holders[seat]);
            (uint8 v, bytes32 r, bytes32 s) = vm.sign(KEY_BASE + index, digest);
            sigs[seat] = abi.encodePacked(r, s, v);
            seats |= uint256(1) << seat;
        }
        vm.cool(address(a));
        vm.prank(holders[0]);
        a.anchor(epoch, ROOT, seats, sigs);
        gasUsed = vm.snapshotGasLastCall("AnchorScale", string.concat("anchor_at_", tag));
        assertEq(a.rootOf(epoch), ROOT);
        assertEq(a.checkpointOf(epoch).signers, required);
    }

    function test_at10Nodes() public {
        Anchor a = _registry(10, "10");
        assertEq(a.seatCount(), 10);
        _anchor(a, 1, "10");
    }

    function test_at100Nodes() public {
        Anchor a = _registry(100, "100");
        assertEq(a.seatCount(), 100);
        _anchor(a, 1, "100");
    }

    function test_at1000Nodes() public {
        Anchor a = _registry(1000, "1000");
        assertEq(a.seatCount(), COMMITTEE);
        _anchor(a, 1, "1000");
    }

    /// Once the swarm outgrows the committee, an anchor's gas is bounded:
    /// the same 129 seats are checked at any size; only a node drawn for two
    /// seats reads its (then warm) slot more cheaply, which happens less as
    /// the swarm grows. So the gas rises toward the all-distinct bound and
    /// stays under it: 200 <= 1000 <= 5000 nodes, the last two within 2 %.
    function test_anchorGasIsBoundedPastTheCommittee() public {
        uint256 small = _anchor(_registry(200, "200"), 7, "200");
        uint256 large = _anchor(_registry(1000, "1000_again"), 7, "1000_again");
        uint256 huge = _anchor(_registry(5000, "5000"), 7, "5000");
        assertLe(small, large);
        assertLe(large, huge);
        assertApproxEqRel(huge, large, 0.02e18);
    }
}

/// @notice Committee selection: deterministic, the same whoever submits,
/// blind to the addresses registered, and fair to every position.
contract AnchorCommitteeTest is RegistryFixture {
    uint16 internal constant COMMITTEE = 192;
    uint256 internal constant KEY_BASE = 0x2000;
    bytes32 internal constant ROOT = keccak256("root");

    function _registry(uint256 n, uint256 addressSalt) internal returns (Anchor a) {
        a = new Anchor(address(this), 6_667, COMMITTEE, address(this));
        _fill(a, n, 0, addressSalt);
    }

    function _positions(Anchor a, uint64 epoch) internal view returns (uint32[] memory out) {
        address[] memory holders = a.committee(epoch);
        out = new uint32[](holders.length);
        for (uint256 s = 0; s < holders.length; s++) {
            (,,, out[s]) = a.nodes(holders[s]);
        }
    }

    /// A registering attacker who picks its keys gains nothing: with the
    /// same beacon, two registries of other addresses seat the same
    /// positions in every epoch.
    function testFuzz_seatsDoNotDependOnTheAddressesRegistered(uint256 saltA, uint256 saltB, uint64 epoch) public {
        vm.assume(saltA != saltB && saltA != 0 && saltB != 0);
        Anchor a = _registry(300, saltA);
        Anchor b = _registry(300, saltB);
        vm.store(address(b), bytes32(uint256(_beaconSlot())), a.beacon());
        assertEq(a.beacon(), b.beacon());
        uint32[] memory pa = _positions(a, epoch);
        uint32[] memory pb = _positions(b, epoch);
        assertEq(pa.length, COMMITTEE);
        for (uint256 s = 0; s < pa.length; s++) {
            assertEq(pa[s], pb[s]);
        }
    }

    /// The committee is a function of the chain's state and the epoch: the
    /// same for every caller, and a certificate holds whoever submits it.
    function testFuzz_theCommitteeIsTheSameWhoeverAsksOrSubmits(uint64 epoch, address caller, uint256 submitterSeed)
        public
    {
        Anchor a = new Anchor(address(this), 6_667, 8, address(this));
        address[] memory addrs = new address[](20);
        bytes32[] memory ids = new bytes32[](20);
        uint8[] memory tiers = new uint8[](20);
        for (uint256 i = 0; i < 20; i++) {
            (addrs[i], ids[i], tiers[i]) = (vm.addr(KEY_BASE + i), keccak256(abi.encode(i)), 2);
        }
        a.registerGenesis(addrs, ids, tiers);
        a.sealGenesis();
        address[] memory mine = a.committee(epoch);
        vm.prank(caller);
        address[] memory theirs = a.committee(epoch);
        assertEq(keccak256(abi.encode(mine)), keccak256(abi.encode(theirs)));

        uint256 required = a.requiredSigners();
        bytes[] memory sigs = new bytes[](required);
        bytes32 digest = a.checkpointDigest(epoch, ROOT);
        for (uint256 s = 0; s < required; s++) {
            (,,, uint32 index) = a.nodes(mine[s]);
            (uint8 v, bytes32 r, bytes32 sig) = vm.sign(KEY_BASE + index, digest);
            sigs[s] = abi.encodePacked(r, sig, v);
        }
        vm.prank(addrs[submitterSeed % 20]);
        a.anchor(epoch, ROOT, (uint256(1) << required) - 1, sigs);
        assertEq(a.rootOf(epoch), ROOT);
    }

    /// Every position is seated about as often as any other: 500 nodes, 100
    /// epochs of 192 seats (38.4 per node expected). Pearson's chi-square
    /// over 499 degrees of freedom stays below its 0.999 quantile (~600),
    /// and the last 100 registered (an attacker registering late) hold
    /// their fifth of the seats within 2 points.
    function test_seatsAreSpreadEvenlyOverPositions() public {
        uint256 n = 500;
        Anchor a = _registry(n, 7);
        uint256[] memory count = new uint256[](n);
        uint256 epochs = 100;
        uint256 late;
        for (uint64 e = 0; e < epochs; e++) {
            uint32[] memory p = _positions(a, e);
            for (uint256 s = 0; s < p.length; s++) {
                count[p[s]]++;
                if (p[s] >= n - 100) late++;
            }
        }
        uint256 total = epochs * COMMITTEE;
        // chi2 * expected = sum (c - e)^2, scaled by n to stay in integers.
        uint256 sumSquares;
        for (uint256 i = 0; i < n; i++) {
            int256 d = int256(count[i] * n) - int256(total);
            sumSquares += uint256(d * d);
        }
        uint256 chi2 = sumSquares / (total * n);
        assertLt(chi2, 600, "seats are not spread evenly");
        assertGt(chi2, 400, "seats are spread too evenly to be drawn");
        assertApproxEqAbs(late * 100, total * 20, total * 2);
    }

    function _beaconSlot() internal returns (uint256 slot) {
        Anchor probe = new Anchor(address(this), 6_667, COMMITTEE, address(this));
        bytes32 value = probe.beacon();
        for (slot = 0; slot < 32; slot++) {
            if (vm.load(address(probe), bytes32(slot)) == value) return slot;
        }
        revert("beacon slot not found");
    }
}
