//! Rust bindings of the DAO contracts, generated at compile time from the
//! committed artifacts in `contracts/artifacts/` (ABI and bytecode), so a
//! build needs neither forge nor node.
#![allow(missing_docs, clippy::too_many_arguments)]

use alloy::sol;

sol!(
    #[derive(Debug, PartialEq, Eq)]
    StakeToken,
    "../contracts/artifacts/StakeToken.json"
);
sol!(
    #[derive(Debug, PartialEq, Eq)]
    Governance,
    "../contracts/artifacts/Governance.json"
);
sol!(
    #[derive(Debug, PartialEq, Eq)]
    Anchor,
    "../contracts/artifacts/Anchor.json"
);
sol!(
    #[derive(Debug, PartialEq, Eq)]
    Treasury,
    "../contracts/artifacts/Treasury.json"
);
sol!(
    #[derive(Debug, PartialEq, Eq)]
    Parameters,
    "../contracts/artifacts/Parameters.json"
);
sol!(
    #[derive(Debug, PartialEq, Eq)]
    EvolutionRegistry,
    "../contracts/artifacts/EvolutionRegistry.json"
);

/// Revert data from Governance, decoded, for callers that explain it.
pub fn governance_error(data: &[u8]) -> Option<Governance::GovernanceErrors> {
    use alloy::sol_types::SolInterface;
    Governance::GovernanceErrors::abi_decode(data).ok()
}

/// Revert data from the stake token, decoded.
pub fn stake_token_error(data: &[u8]) -> Option<StakeToken::StakeTokenErrors> {
    use alloy::sol_types::SolInterface;
    StakeToken::StakeTokenErrors::abi_decode(data).ok()
}

/// A readable name for revert data from any of the contracts, e.g.
/// `Governance: WrongState { id: 3, state: 1 }`; the raw hex when nothing
/// matches.
pub fn decode_revert(data: &[u8]) -> String {
    use alloy::sol_types::{SolError, SolInterface};
    if let Ok(e) = Governance::GovernanceErrors::abi_decode(data) {
        return format!("Governance: {e:?}");
    }
    if let Ok(e) = Anchor::AnchorErrors::abi_decode(data) {
        return format!("Anchor: {e:?}");
    }
    if let Ok(e) = Treasury::TreasuryErrors::abi_decode(data) {
        return format!("Treasury: {e:?}");
    }
    if let Ok(e) = Parameters::ParametersErrors::abi_decode(data) {
        return format!("Parameters: {e:?}");
    }
    if let Ok(e) = EvolutionRegistry::EvolutionRegistryErrors::abi_decode(data) {
        return format!("EvolutionRegistry: {e:?}");
    }
    if let Ok(e) = StakeToken::StakeTokenErrors::abi_decode(data) {
        return format!("StakeToken: {e:?}");
    }
    if let Ok(e) = alloy::sol_types::Revert::abi_decode(data) {
        return e.reason;
    }
    if data.is_empty() {
        return "reverted without a reason".to_owned();
    }
    format!("0x{}", alloy::hex::encode(data))
}
