//! The sandbox's Prometheus metrics: runs by outcome, fuel, run time and
//! module cache use. Kept by every [`crate::Sandbox`] (a few atomics) and
//! shown once registered; every label value comes from a fixed set.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::cache::CacheOutcome;
use crate::error::FailureKind;

type Labels = [(&'static str, &'static str); 1];

/// The sandbox's counters; clones share them.
#[derive(Debug, Clone)]
pub struct SandboxMetrics {
    runs: Family<Labels, Counter>,
    fuel: Counter,
    seconds: Histogram,
    modules: Family<Labels, Counter>,
}

impl Default for SandboxMetrics {
    fn default() -> Self {
        SandboxMetrics {
            runs: Family::default(),
            fuel: Counter::default(),
            // 100 µs to about 6 s, each bucket 2.5 times the one before.
            seconds: Histogram::new(exponential_buckets(0.0001, 2.5, 13)),
            modules: Family::default(),
        }
    }
}

impl SandboxMetrics {
    /// Shows these counters in `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "ippoc_sandbox_runs",
            "Sandbox runs by outcome (ok, or why they failed)",
            self.runs.clone(),
        );
        registry.register(
            "ippoc_sandbox_fuel",
            "Fuel burnt by sandbox runs, refused modules' reject fuel included (what was charged)",
            self.fuel.clone(),
        );
        registry.register_with_unit(
            "ippoc_sandbox_run_duration",
            "Wall time of sandbox runs that started",
            Unit::Seconds,
            self.seconds.clone(),
        );
        registry.register(
            "ippoc_sandbox_module_loads",
            "Modules prepared, by source: the authenticated cache, or compiled",
            self.modules.clone(),
        );
    }

    pub(crate) fn prepared(&self, outcome: CacheOutcome) {
        let source = match outcome {
            CacheOutcome::Hit => "cache",
            CacheOutcome::Compiled => "compiled",
        };
        self.modules.get_or_create(&[("source", source)]).inc();
    }

    pub(crate) fn ran(&self, failure: Option<&FailureKind>, fuel: u64, seconds: Option<f64>) {
        self.runs.get_or_create(&[("outcome", outcome(failure))]).inc();
        self.fuel.inc_by(fuel);
        if let Some(s) = seconds {
            self.seconds.observe(s);
        }
    }

    /// Runs with `outcome` so far (`ok`, `out_of_fuel`, ...).
    pub fn runs(&self, outcome: &'static str) -> u64 {
        self.runs.get_or_create(&[("outcome", outcome)]).get()
    }
}

fn outcome(failure: Option<&FailureKind>) -> &'static str {
    match failure {
        None => "ok",
        Some(FailureKind::Rejected(_)) => "rejected",
        Some(FailureKind::BudgetDenied(_)) => "budget_denied",
        Some(FailureKind::OutOfFuel) => "out_of_fuel",
        Some(FailureKind::Timeout) => "timeout",
        Some(FailureKind::StackOverflow) => "stack_overflow",
        Some(FailureKind::MemoryLimit) => "memory_limit",
        Some(FailureKind::TableLimit) => "table_limit",
        Some(FailureKind::Unreachable) => "unreachable",
        Some(FailureKind::MemoryOutOfBounds) => "memory_out_of_bounds",
        Some(FailureKind::Trap(_)) => "trap",
        Some(FailureKind::HostCall(_)) => "host_call",
        Some(FailureKind::OutputTooLarge { .. }) => "output_too_large",
        Some(FailureKind::Abi(_)) => "abi",
        Some(FailureKind::ChargeFailed(_)) => "charge_failed",
    }
}
