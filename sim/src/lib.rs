//! IPPOC simulator: many real nodes in one process, with failure classes
//! injected, measured from the nodes' own state (DESIGN.md §11).
//!
//! Each node is an `ippoc_swarm::local::LocalNode`: the daemon's own ledger,
//! gossip validator, anti-entropy sync, attestations, swarm document and
//! bounty board, on the mesh's memory transport, sharing one sandbox. A
//! scenario (TOML, `sim/scenarios/`) lists phases of actions: transfers,
//! forgers, bankruptcy, crash-and-restart churn, partitions and heals, clone
//! attacks through the real boot path on simulated hardware, and toxic
//! skills. After each phase the simulator waits for the swarm to settle and
//! reads the metrics back from every node.
//!
//! It may depend on `ippoc-node` and, through it, on every leaf crate;
//! nothing depends on it.

pub mod attacks;
pub mod dao;
pub mod metrics;
pub mod plots;
pub mod report;
pub mod run;
pub mod scenario;

use std::time::Instant;

pub use report::Report;
pub use run::{Options, Sim};
pub use scenario::Scenario;

/// Runs `scenario` with `options`; `progress` is told each phase's name as it starts.
pub async fn run(scenario: &Scenario, mut options: Options, mut progress: impl FnMut(&str)) -> Result<Report, String> {
    let started = Instant::now();
    let machine = report::Machine::start();
    options.epoch_ms = options.epoch_ms.or(scenario.epoch_ms);
    options.dao = scenario.dao;
    options.lapse_cycles = scenario.lapse_cycles;
    options.vote_pay = scenario.vote_pay;
    options.economy = scenario.economy;
    progress("starting nodes");
    let mut sim = Sim::start(options.clone(), &scenario.network).await?;
    // A run that fails midway still stops every node before their
    // directories go: nothing of a node may write into a removed one.
    match phases_and_report(scenario, options, &mut sim, (started, machine), &mut progress).await {
        Ok(report) => {
            progress("stopping nodes");
            sim.stop().await;
            Ok(report)
        }
        Err(e) => {
            sim.stop().await;
            Err(e)
        }
    }
}

/// The phases of `scenario` on `sim`, then the measurements and the report.
async fn phases_and_report(
    scenario: &Scenario,
    options: Options,
    sim: &mut Sim,
    (started, mut machine): (Instant, report::Machine),
    progress: &mut impl FnMut(&str),
) -> Result<Report, String> {
    sim.sample();
    let mut phases = Vec::new();
    let mut converge_after_heal_ms = None;
    let mut converge_after_heal_rounds = None;
    for phase in &scenario.phases {
        progress(&phase.name);
        let report = sim.phase(phase).await?;
        if phase.heal {
            converge_after_heal_ms = Some(report.converge_ms);
            converge_after_heal_rounds = Some(report.settle_rounds);
        }
        phases.push(report);
    }
    progress("measuring");
    let measured = sim.measure();
    progress("anchoring the final checkpoint");
    let anchoring = sim.anchor_final().await?;
    let metrics = sim.metrics();
    let wall_ms = started.elapsed().as_millis() as u64;
    let criteria = report::criteria(&measured, &phases, sim.clones, sim.evolution, &anchoring);
    let ok = criteria.iter().all(|c| c.ok);
    let verdict = report::Verdict::of(&criteria, &phases, sim.anchor_cut_off);
    machine.finish(wall_ms);
    let busy_ms: u64 = phases.iter().map(|p| p.duration_ms).sum();
    let report = Report {
        scenario: scenario.name.clone(),
        description: scenario.description.clone(),
        options,
        versions: report::Versions::current(),
        config: scenario.clone(),
        cadence: sim.cadence().into(),
        phases,
        latencies_ms: sim.latencies_ms.clone(),
        latency_p50_ms: report::percentile(&sim.latencies_ms, 0.5),
        latency_p99_ms: report::percentile(&sim.latencies_ms, 0.99),
        transfers: sim.transfers,
        entries_per_s: sim.transfers as f64 / (busy_ms.max(1) as f64 / 1000.0),
        converge_after_heal_ms,
        converge_after_heal_rounds,
        paced: sim.paced.clone(),
        clones: sim.clones,
        toxic: sim.evolution.map_or((0, 0), |e| (e.toxic_total, e.toxic_deployed)),
        evolution: sim.evolution,
        anchoring,
        forged_sent: sim.forged_sent,
        peak_memory_mib: report::peak_memory_mib(),
        wall_ms,
        samples: sim.samples.clone(),
        measured,
        criteria,
        ok,
        verdict,
        machine,
        metrics,
    };
    Ok(report)
}
