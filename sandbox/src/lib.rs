//! IPPOC sandbox: metered execution of untrusted WASM skills with wasmtime.
//!
//! One shared engine with fuel metering (a deterministic cost: the same run
//! burns the same fuel on every node), epoch interruption as the wall-clock
//! backstop, a pooling allocator (instantiation in microseconds), memory,
//! table and stack limits, no ambient authority (host functions only from an
//! explicit capability list) and a content-addressed, authenticated cache of
//! compiled modules (DESIGN.md §8). Runs are paid through the [`Meter`]
//! trait, which `ippoc-node` implements with its ledger; every started run is
//! charged, traps included.
//!
//! It must not depend on `ippoc-economy`, `ippoc-mesh`,
//! `ippoc-governance-bridge` or `ippoc-node`.

pub mod cache;
pub mod error;
pub mod limits;
pub mod meter;
pub mod metrics;
pub mod runtime;

pub use cache::{CacheOutcome, ModuleCache, ModuleHash};
pub use error::{FailureKind, PrepareError, RunFailure};
pub use limits::{Capabilities, Capability, RunLimits, SandboxConfig};
pub use meter::{DryRun, Meter, MeterError};
pub use metrics::SandboxMetrics;
pub use runtime::{RunReport, Sandbox, Skill};
