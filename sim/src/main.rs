//! `ippoc-sim`: run a scenario with many real nodes in one process.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use ippoc_sim::{Options, Scenario};

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
    /// Most seconds one phase may take to settle.
    #[arg(long, default_value_t = 120)]
    settle_timeout: u64,
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
    let options = Options {
        nodes: args.nodes.unwrap_or(scenario.nodes),
        seed: args.seed,
        settle_timeout_ms: args.settle_timeout * 1000,
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
        .unwrap_or_else(|| PathBuf::from(format!("sim-runs/{}-{}", scenario.name, args.seed)));
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
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let mut first = true;
    // Without a terminal the bar draws nothing: a log (CI, `2> file`) gets
    // one line per phase instead, so a slow run shows where it is.
    let lines = !args.quiet && !std::io::IsTerminal::is_terminal(&std::io::stderr());
    let begun = std::time::Instant::now();
    let result = runtime.block_on(ippoc_sim::run(&scenario, options, |phase| {
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
            return ExitCode::from(1);
        }
    };
    if let Err(e) = report.write(&out) {
        eprintln!("ippoc-sim: cannot write the report: {e}");
        return ExitCode::from(1);
    }
    print!("{}", report.markdown());
    println!("\nreport: {}/report.json, {}/summary.md", out.display(), out.display());
    if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    }
}
