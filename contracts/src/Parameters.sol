// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Governed} from "./Governed.sol";

/// @title Parameters
/// @notice The swarm's governed parameters (the metabolism table among them),
/// as key -> value. Nodes apply a change when they see ParameterChanged.
/// Keys marked invariant change only through `setInvariantParameter`, which
/// Governance treats as invariant-class (human supermajority).
contract Parameters is Governed {
    mapping(bytes32 => uint256) public valueOf;
    mapping(bytes32 => bool) public isSet;
    mapping(bytes32 => bool) public isInvariant;
    bytes32[] internal _keys;

    event ParameterChanged(bytes32 indexed key, uint256 value, bool invariant, uint256 proposalId);

    error LengthMismatch();
    error InvariantKey(bytes32 key);
    error NotInvariantKey(bytes32 key);

    constructor(address governance_, bytes32[] memory keys_, uint256[] memory values, bool[] memory invariant)
        Governed(governance_)
    {
        if (keys_.length != values.length || keys_.length != invariant.length) revert LengthMismatch();
        for (uint256 i = 0; i < keys_.length; i++) {
            isInvariant[keys_[i]] = invariant[i];
            _set(keys_[i], values[i], 0);
        }
    }

    function keys() external view returns (bytes32[] memory) {
        return _keys;
    }

    function setParameter(bytes32 key, uint256 value) external onlyGovernance {
        if (isInvariant[key]) revert InvariantKey(key);
        _set(key, value, _proposalId());
    }

    function setInvariantParameter(bytes32 key, uint256 value) external onlyGovernance {
        if (!isInvariant[key]) revert NotInvariantKey(key);
        _set(key, value, _proposalId());
    }

    function _set(bytes32 key, uint256 value, uint256 proposalId) internal {
        if (!isSet[key]) {
            isSet[key] = true;
            _keys.push(key);
        }
        valueOf[key] = value;
        emit ParameterChanged(key, value, isInvariant[key], proposalId);
    }
}
