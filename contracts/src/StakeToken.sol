// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Burnable} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Burnable.sol";

/// @title StakeToken
/// @notice The ERC-20 that DAO members stake for constitutional voting weight.
/// The whole supply is minted at deployment; voting burns part of it.
contract StakeToken is ERC20, ERC20Burnable {
    error LengthMismatch();

    constructor(address[] memory holders, uint256[] memory amounts) ERC20("IPPOC Governance Stake", "IGS") {
        if (holders.length != amounts.length) revert LengthMismatch();
        for (uint256 i = 0; i < holders.length; i++) {
            _mint(holders[i], amounts[i]);
        }
    }
}
