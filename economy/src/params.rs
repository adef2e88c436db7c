//! Governed parameters: the metabolism price table, the transfer fee and the
//! bankruptcy thresholds. They come from the genesis and change only through
//! executed DAO proposals (governance issue); every node computes every
//! charge from them, so peers can check each other's charges exactly.
//!
//! `Cost = Base + (Variable × Multiplier) × RiskFactor` (swarm spec), in
//! integers: multiplier and risk factor are parts per million, and the
//! variable part is rounded up to the base unit.

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::amount::{Amount, UNIT};

/// Parts per million that mean 1.0.
pub const PPM: u64 = 1_000_000;

/// The governed parameter table.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Parameters {
    /// Base cost of one LLM inference (swarm spec: 10 IPPC).
    pub inference_base: Amount,
    /// Variable cost per token (swarm spec: 0.02 IPPC).
    pub inference_per_token: Amount,
    /// Cost of one second of sandbox time (swarm spec: 50 IPPC).
    pub sandbox_per_second: Amount,
    /// Fuel units that count as one second of sandbox time (calibrated by the
    /// sandbox benchmark), so every node derives the same seconds from fuel.
    pub sandbox_fuel_per_second: u64,
    /// Cost of one evolution simulation.
    pub evolution_sim_cost: Amount,
    /// Multiplier on the variable part, in ppm (1 000 000 = ×1).
    pub multiplier_ppm: u64,
    /// Risk factor on the variable part, in ppm.
    pub risk_factor_ppm: u64,
    /// Fee on transfers to the public goods pool, in basis points (10 = 0.1%).
    pub transfer_fee_bps: u64,
    /// Below this IPPC balance a node enters Worker Mode.
    pub bankruptcy_threshold: Amount,
    /// At or above this IPPC balance a node leaves Worker Mode (hysteresis).
    pub solvency_threshold: Amount,
}

impl Default for Parameters {
    fn default() -> Self {
        Parameters {
            inference_base: Amount::from_base(10 * UNIT),
            inference_per_token: Amount::from_base(UNIT / 50),
            sandbox_per_second: Amount::from_base(50 * UNIT),
            // Measured by `cargo bench -p ippoc-sandbox --bench sandbox`
            // (calibration/fuel_per_second: 8.2 G fuel/s on the 2-core reference machine).
            sandbox_fuel_per_second: 8_000_000_000,
            evolution_sim_cost: Amount::from_base(25 * UNIT),
            multiplier_ppm: PPM,
            risk_factor_ppm: PPM,
            transfer_fee_bps: 10,
            bankruptcy_threshold: Amount::from_base(100 * UNIT),
            solvency_threshold: Amount::from_base(500 * UNIT),
        }
    }
}

/// A parameter table that makes no sense.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid parameter {name}: {reason}")]
pub struct ParameterError {
    /// Which parameter.
    pub name: &'static str,
    /// Why.
    pub reason: &'static str,
}

impl Parameters {
    /// Checks the table's internal consistency.
    pub fn validate(&self) -> Result<(), ParameterError> {
        let bad = |name, reason| Err(ParameterError { name, reason });
        if self.sandbox_fuel_per_second == 0 {
            return bad("sandbox_fuel_per_second", "must be positive");
        }
        if self.transfer_fee_bps > 10_000 {
            return bad("transfer_fee_bps", "at most 10000 (100%)");
        }
        if self.solvency_threshold < self.bankruptcy_threshold {
            return bad("solvency_threshold", "must be at least bankruptcy_threshold");
        }
        if self.multiplier_ppm == 0 || self.risk_factor_ppm == 0 {
            return bad("multiplier_ppm/risk_factor_ppm", "must be positive");
        }
        Ok(())
    }

    /// Names of the parameters the DAO governs, as the Parameters contract
    /// keys them (`keccak256(name)`): `metabolism.` and the field name.
    /// Amounts are in base units (10^-6 IPPC).
    pub const GOVERNED: [&'static str; 10] = [
        "metabolism.inference_base",
        "metabolism.inference_per_token",
        "metabolism.sandbox_per_second",
        "metabolism.sandbox_fuel_per_second",
        "metabolism.evolution_sim_cost",
        "metabolism.multiplier_ppm",
        "metabolism.risk_factor_ppm",
        "metabolism.transfer_fee_bps",
        "metabolism.bankruptcy_threshold",
        "metabolism.solvency_threshold",
    ];

    /// This table with the governed parameter `name` set to `value`, if the
    /// name is one of [`Parameters::GOVERNED`] and the result is a valid table.
    pub fn with(&self, name: &str, value: u64) -> Result<Parameters, ParameterError> {
        let mut next = self.clone();
        let amount = Amount::from_base(value);
        match name {
            "metabolism.inference_base" => next.inference_base = amount,
            "metabolism.inference_per_token" => next.inference_per_token = amount,
            "metabolism.sandbox_per_second" => next.sandbox_per_second = amount,
            "metabolism.sandbox_fuel_per_second" => next.sandbox_fuel_per_second = value,
            "metabolism.evolution_sim_cost" => next.evolution_sim_cost = amount,
            "metabolism.multiplier_ppm" => next.multiplier_ppm = value,
            "metabolism.risk_factor_ppm" => next.risk_factor_ppm = value,
            "metabolism.transfer_fee_bps" => next.transfer_fee_bps = value,
            "metabolism.bankruptcy_threshold" => next.bankruptcy_threshold = amount,
            "metabolism.solvency_threshold" => next.solvency_threshold = amount,
            _ => {
                return Err(ParameterError {
                    name: "(unknown)",
                    reason: "not a governed ledger parameter",
                });
            }
        }
        next.validate()?;
        Ok(next)
    }

    /// Applies multiplier and risk factor to a variable cost in base units.
    fn scaled(&self, variable_base: u128) -> Option<Amount> {
        let num = variable_base * u128::from(self.multiplier_ppm) * u128::from(self.risk_factor_ppm);
        let den = u128::from(PPM) * u128::from(PPM);
        u64::try_from(num.div_ceil(den)).ok().map(Amount::from_base)
    }

    /// Cost of an inference over `tokens` tokens; `None` on overflow.
    pub fn inference_cost(&self, tokens: u64) -> Option<Amount> {
        let variable = u128::from(self.inference_per_token.base()) * u128::from(tokens);
        self.inference_base.checked_add(self.scaled(variable)?)
    }

    /// Cost of a sandbox run that used `fuel`; seconds = fuel / fuel_per_second,
    /// exactly, rounded up only at the end.
    pub fn sandbox_cost(&self, fuel: u64) -> Option<Amount> {
        let numerator = u128::from(self.sandbox_per_second.base()) * u128::from(fuel);
        let variable = numerator.div_ceil(u128::from(self.sandbox_fuel_per_second));
        self.scaled(variable)
    }

    /// Fee on a transfer of `amount`, rounded up.
    pub fn transfer_fee(&self, amount: Amount) -> Option<Amount> {
        amount.mul_ratio_ceil(self.transfer_fee_bps, 10_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swarm_spec_defaults_price_inference_and_sandbox() {
        let p = Parameters::default();
        // 10 IPPC + 0.02 × 1000 tokens = 30 IPPC.
        assert_eq!(p.inference_cost(1000), Some(Amount::from_base(30 * UNIT)));
        assert_eq!(p.inference_cost(0), Some(Amount::from_base(10 * UNIT)));
        // 50 IPPC per second; 2.5 s of fuel = 125 IPPC.
        assert_eq!(p.sandbox_cost(20_000_000_000), Some(Amount::from_base(125 * UNIT)));
        // One unit of fuel still costs something.
        assert_eq!(p.sandbox_cost(1), Some(Amount::from_base(1)));
        // 0.1% of 1000 IPPC = 1 IPPC.
        assert_eq!(
            p.transfer_fee(Amount::from_base(1000 * UNIT)),
            Some(Amount::from_base(UNIT))
        );
        p.validate().unwrap();
    }

    #[test]
    fn every_governed_name_sets_its_field_and_invalid_tables_are_refused() {
        let p = Parameters::default();
        for name in Parameters::GOVERNED {
            let field = &serde_json::to_value(&p).unwrap()[&name["metabolism.".len()..]];
            let field_value = match field.as_str() {
                Some(amount) => amount.parse::<Amount>().unwrap().base(),
                None => field.as_u64().unwrap(),
            };
            let changed = p.with(name, field_value + 1).unwrap();
            assert_ne!(changed, p, "{name} changed nothing");
            // Each name sets its own field: setting it back restores the table.
            assert_eq!(changed.with(name, field_value).unwrap(), p, "{name}");
        }
        assert_eq!(p.with("metabolism.transfer_fee_bps", 5).unwrap().transfer_fee_bps, 5);
        assert!(p.with("metabolism.transfer_fee_bps", 10_001).is_err());
        assert!(p.with("metabolism.sandbox_fuel_per_second", 0).is_err());
        assert!(
            p.with("metabolism.bankruptcy_threshold", u64::MAX).is_err(),
            "above solvency"
        );
        assert!(p.with("governance.quorum", 1).is_err());
    }

    #[test]
    fn risk_factor_scales_only_the_variable_part() {
        let p = Parameters {
            risk_factor_ppm: 2 * PPM,
            ..Parameters::default()
        };
        assert_eq!(p.inference_cost(1000), Some(Amount::from_base(50 * UNIT)));
        assert_eq!(p.inference_cost(u64::MAX), None);
    }
}
