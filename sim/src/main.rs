//! `ippoc-sim`: run a scenario with many real nodes in one process.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use ippoc_sim::{Options, Report, Scenario};

/// Runs an IPPOC swarm scenario and reports whether the swarm survived it.
#[derive(Parser)]
#[command(name = "ippoc-sim", version)]
struct Args {
    /// Scenario: a built-in name (baseline, bankruptcy, byzantine, clone,
    /// bad-evolution, partition, churn, wan, spam, all) or a TOML file.
    #[arg(long, default_value = "all")]
    scenario: String,
    /// Nodes [default: the scenario's: 100 for the built-in ones, 10 for spam].
    #[arg(long)]
    nodes: Option<usize>,
    /// Seed of every random choice: the same seed gives the same schedule.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where to write the run directory [default: sim-runs/<scenario>-<seed>].
    #[arg(long)]
    out: Option<PathBuf>,
    /// The settle budget: sync rounds the median node may finish after a
    /// phase's actions before the phase counts as not settled.
    #[arg(long, default_value_t = ippoc_sim::run::SETTLE_ROUNDS_DEFAULT)]
    settle_rounds: u64,
    /// Wall-clock cap on one phase's settle, seconds: the run's cost bound.
    /// A phase it cuts off before the round budget is spent makes the run
    /// inconclusive (exit 4), not failed.
    #[arg(long, default_value_t = 900)]
    settle_timeout: u64,
    /// Run the scenario twice with the same seed (into <out>/run-1 and
    /// <out>/run-2) and compare what is deterministic from the seed
    /// (`reproducible.json`); exit 5 if the two differ.
    #[arg(long)]
    check_repro: bool,
    /// Log level of the nodes (error, warn, info, ...).
    #[arg(long, default_value = "error")]
    log_level: String,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// Keep no Prometheus metrics in the nodes and write no metrics.prom
    /// (saves recording every libp2p event and gossip verdict).
    #[arg(long)]
    no_metrics: bool,
}

/// Exit status when `--check-repro` found the two runs' deterministic sections different.
const EXIT_NOT_REPRODUCIBLE: u8 = 5;
/// Differences `--check-repro` prints, at most (the rest are counted).
const DIFFERENCES_SHOWN: usize = 40;

fn main() -> ExitCode {
    let args = Args::parse();
    let scenario = match Scenario::load(&args.scenario) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ippoc-sim: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = ippoc_node::logging::init(&args.log_level) {
        eprintln!("ippoc-sim: {e}");
        return ExitCode::from(2);
    }
    if args.settle_rounds == 0 || args.settle_timeout == 0 {
        eprintln!("ippoc-sim: --settle-rounds and --settle-timeout must be at least 1");
        return ExitCode::from(2);
    }
    let options = Options {
        nodes: args.nodes.unwrap_or(scenario.nodes),
        seed: args.seed,
        settle_rounds: args.settle_rounds,
        settle_timeout_ms: args.settle_timeout.saturating_mul(1000),
        epoch_ms: None,
        dao: false,
        lapse_cycles: None,
        vote_pay: None,
        economy: false,
        metrics: !args.no_metrics,
    };
    if options.nodes < 2 {
        eprintln!("ippoc-sim: --nodes must be at least 2");
        return ExitCode::from(2);
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("sim-runs/{}-{}", scenario.name, args.seed)));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    if !args.check_repro {
        let report = match run_once(&runtime, &args, &scenario, options, &out) {
            Ok(r) => r,
            Err(code) => return code,
        };
        print!("{}", report.markdown());
        println!("\nreport: {}/report.json, {}/summary.md", out.display(), out.display());
        return ExitCode::from(report.verdict.exit_code());
    }
    let mut runs = Vec::new();
    for k in 1..=2 {
        let dir = out.join(format!("run-{k}"));
        match run_once(&runtime, &args, &scenario, options.clone(), &dir) {
            Ok(r) => runs.push(r),
            Err(code) => return code,
        }
    }
    let (a, b) = (runs[0].reproducible(), runs[1].reproducible());
    let mut differences = Vec::new();
    ippoc_sim::report::json_differences("", &a, &b, &mut differences);
    for (k, r) in runs.iter().enumerate() {
        println!(
            "run {}: {} in {:.1} s wall, {:.1} s CPU, peak {:.0} MiB",
            k + 1,
            r.verdict,
            r.machine.wall_s,
            r.machine.cpu_s,
            r.peak_memory_mib
        );
    }
    if differences.is_empty() {
        println!(
            "reproducible: {}/run-1/reproducible.json and run-2's are the same bytes",
            out.display()
        );
        return ExitCode::from(runs[0].verdict.exit_code());
    }
    println!(
        "NOT reproducible: {} field(s) differ between the two runs:",
        differences.len()
    );
    for d in differences.iter().take(DIFFERENCES_SHOWN) {
        println!("  {d}");
    }
    if differences.len() > DIFFERENCES_SHOWN {
        println!("  … and {} more", differences.len() - DIFFERENCES_SHOWN);
    }
    ExitCode::from(EXIT_NOT_REPRODUCIBLE)
}

/// One run of `scenario` into `out`, with its progress shown; the exit code on failure.
fn run_once(
    runtime: &tokio::runtime::Runtime,
    args: &Args,
    scenario: &Scenario,
    options: Options,
    out: &Path,
) -> Result<Report, ExitCode> {
    let bar = if args.quiet {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(scenario.phases.len() as u64 + 3)
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{elapsed:>4} [{bar:30}] {pos}/{len} {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    let mut first = true;
    // Without a terminal the bar draws nothing: a log (CI, `2> file`) gets
    // one line per phase instead, so a slow run shows where it is.
    let lines = !args.quiet && !std::io::IsTerminal::is_terminal(&std::io::stderr());
    let begun = std::time::Instant::now();
    let result = runtime.block_on(ippoc_sim::run(scenario, options, |phase| {
        if !first {
            bar.inc(1);
        }
        first = false;
        bar.set_message(phase.to_string());
        if lines {
            eprintln!("ippoc-sim: {:>6.1} s: {phase}", begun.elapsed().as_secs_f64());
        }
    }));
    bar.finish_and_clear();
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ippoc-sim: the run failed: {e}");
            return Err(ExitCode::from(1));
        }
    };
    if let Err(e) = report.write(out) {
        eprintln!("ippoc-sim: cannot write the report: {e}");
        return Err(ExitCode::from(1));
    }
    Ok(report)
}
