//! What can go wrong, as values. Every failure of a started run says how much
//! fuel it burnt and carries the meter's receipt: failures are paid for too.

use crate::cache::ModuleHash;
use crate::meter::MeterError;

/// Why a module was refused before it ran.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrepareError {
    /// Larger than the sandbox accepts.
    #[error("module of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Size.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// Not valid WebAssembly (binary or text).
    #[error("malformed module: {0}")]
    Malformed(String),
    /// Imports a host function that was not granted (or does not exist).
    #[error("import {module}.{name} is not granted to this skill")]
    ImportNotGranted {
        /// Import module.
        module: String,
        /// Import name.
        name: String,
    },
    /// Does not follow the skill ABI (docs/skill-abi.md).
    #[error("not a skill: {0}")]
    Abi(String),
}

/// Why a run failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FailureKind {
    /// Refused before running.
    #[error(transparent)]
    Rejected(#[from] PrepareError),
    /// The meter's budget check refused the run.
    #[error("budget check refused the run: {0}")]
    BudgetDenied(MeterError),
    /// Burnt all the fuel it was given.
    #[error("out of fuel")]
    OutOfFuel,
    /// Ran past its wall-clock limit.
    #[error("wall-clock limit reached")]
    Timeout,
    /// Recursed past the stack limit.
    #[error("stack overflow")]
    StackOverflow,
    /// Tried to grow memory past its limit.
    #[error("memory limit reached")]
    MemoryLimit,
    /// Tried to grow a table past its limit.
    #[error("table limit reached")]
    TableLimit,
    /// Executed `unreachable`.
    #[error("unreachable executed")]
    Unreachable,
    /// Accessed memory out of bounds.
    #[error("out-of-bounds memory access")]
    MemoryOutOfBounds,
    /// Another trap.
    #[error("trap: {0}")]
    Trap(String),
    /// A host function refused the call.
    #[error("host call failed: {0}")]
    HostCall(String),
    /// The output is larger than allowed.
    #[error("output of {len} bytes exceeds the limit of {max}")]
    OutputTooLarge {
        /// Size.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// The skill broke the ABI at run time (bad pointers, wrong types).
    #[error("ABI violation: {0}")]
    Abi(String),
    /// The run happened but the meter could not record its charge.
    #[error("the charge could not be recorded: {0}")]
    ChargeFailed(MeterError),
}

/// A failed run.
#[derive(Debug, thiserror::Error)]
#[error("{kind} (fuel used {fuel_used})")]
pub struct RunFailure<R> {
    /// What happened.
    pub kind: FailureKind,
    /// Fuel burnt (what was charged).
    pub fuel_used: u64,
    /// The meter's receipt, if a charge was recorded.
    pub receipt: Option<R>,
    /// The module, if it got that far.
    pub module: Option<ModuleHash>,
}
