//! Bounds on a run and on the sandbox as a whole, and the capabilities a
//! skill may be granted.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// Per-run limits. Every one is bounded by [`SandboxConfig`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunLimits {
    /// Most fuel the run may burn (further capped by what the caller can pay).
    pub fuel: u64,
    /// Most linear memory, in bytes.
    pub memory_bytes_max: usize,
    /// Most table elements.
    pub table_elements_max: usize,
    /// Largest output, in bytes.
    pub output_bytes_max: usize,
    /// Wall-clock backstop, in milliseconds (epoch interruption).
    pub wall_ms: u64,
}

impl Default for RunLimits {
    fn default() -> Self {
        RunLimits {
            fuel: 1_000_000_000,
            memory_bytes_max: 16 << 20,
            table_elements_max: 10_000,
            output_bytes_max: 1 << 20,
            wall_ms: 5_000,
        }
    }
}

/// Sandbox-wide bounds, fixed when the engine is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SandboxConfig {
    /// Upper bound of any run's memory, in bytes (pooling slot size).
    pub memory_bytes_max: usize,
    /// Upper bound of any run's table elements.
    pub table_elements_max: usize,
    /// WebAssembly stack, in bytes.
    pub stack_bytes: usize,
    /// Runs at the same time (pool slots).
    pub concurrent_runs_max: u32,
    /// Upper bound of any run's wall clock, in milliseconds.
    pub wall_ms_max: u64,
    /// Largest module accepted, in bytes.
    pub module_bytes_max: usize,
    /// Fuel charged for a module that is rejected before it runs (malformed,
    /// forbidden import): submitting junk is not free.
    pub reject_fuel: u64,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            memory_bytes_max: 64 << 20,
            table_elements_max: 100_000,
            stack_bytes: 512 << 10,
            concurrent_runs_max: 16,
            wall_ms_max: 60_000,
            module_bytes_max: 8 << 20,
            reject_fuel: 100_000,
        }
    }
}

impl SandboxConfig {
    /// `limits` clamped to these bounds.
    pub fn clamp(&self, limits: &RunLimits) -> RunLimits {
        RunLimits {
            fuel: limits.fuel,
            memory_bytes_max: limits.memory_bytes_max.min(self.memory_bytes_max),
            table_elements_max: limits.table_elements_max.min(self.table_elements_max),
            output_bytes_max: limits.output_bytes_max,
            wall_ms: limits.wall_ms.min(self.wall_ms_max),
        }
    }
}

/// A host function a skill may be granted. Nothing else is reachable: no
/// filesystem, network, clock or randomness unless listed here and granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Capability {
    /// `ippoc.log(ptr: i32, len: i32)`: append bytes to the run's log (bounded).
    Log,
    /// `ippoc.clock_ms() -> i64`: wall-clock Unix milliseconds (breaks determinism; grant with care).
    Clock,
}

impl Capability {
    /// Every capability.
    pub const ALL: [Capability; 2] = [Capability::Log, Capability::Clock];
    /// Import name under module `ippoc`.
    pub fn import_name(self) -> &'static str {
        match self {
            Capability::Log => "log",
            Capability::Clock => "clock_ms",
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.import_name())
    }
}

impl FromStr for Capability {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Capability::ALL
            .into_iter()
            .find(|c| c.import_name() == s)
            .ok_or_else(|| format!("unknown capability {s:?} (log, clock_ms)"))
    }
}

/// The capabilities granted to one skill.
pub type Capabilities = BTreeSet<Capability>;

/// Most bytes a skill may log per run.
pub const LOG_BYTES_MAX: usize = 64 * 1024;
