//! How runs are paid for. The sandbox knows nothing of ledgers: the node
//! implements [`Meter`] with its ledger (DESIGN.md §2).

/// Why the meter refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("metering refused: {0}")]
pub struct MeterError(pub String);

/// Pays for sandbox runs.
pub trait Meter {
    /// What a recorded charge returns (for example a ledger entry id).
    type Receipt;

    /// The budget check before a run: the most fuel the caller can pay for.
    /// The run's fuel ceiling is the smaller of this and its limit.
    fn fuel_budget(&self) -> Result<u64, MeterError>;

    /// Records the charge for `fuel` burnt. Called after every run that was
    /// started — traps and timeouts included — and for rejected modules.
    fn charge(&self, fuel: u64, failed: bool) -> Result<Self::Receipt, MeterError>;
}

/// A meter for `--dry-run`: a fixed budget, nothing recorded.
#[derive(Debug, Clone, Copy)]
pub struct DryRun {
    /// Fuel allowed.
    pub fuel_budget: u64,
}

impl Meter for DryRun {
    type Receipt = ();
    fn fuel_budget(&self) -> Result<u64, MeterError> {
        Ok(self.fuel_budget)
    }
    fn charge(&self, _fuel: u64, _failed: bool) -> Result<(), MeterError> {
        Ok(())
    }
}
