//! `ippoc`: the IPPOC node daemon and its operator CLI.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde_json::json;

use ippoc_node::boot::{self, BootError, BootStep};
use ippoc_node::config::{Config, DEFAULT_CONFIG_TOML};
use ippoc_node::error::{ExitStatus, NodeError};
use ippoc_node::hardware::{self, Fingerprint, HardwareProbe, SysinfoProbe};
use ippoc_node::identity;
use ippoc_node::lock::DataDirLock;
use ippoc_node::logging::{self, Logging};
use ippoc_node::paths::DataDir;
use ippoc_node::{client, daemon};

/// IPPOC sovereign swarm node.
#[derive(Debug, Parser)]
#[command(name = "ippoc", version, about, long_about = None, propagate_version = true)]
struct Cli {
    /// Data directory holding the node (created if missing).
    #[arg(long, global = true, env = "IPPOC_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
    /// Configuration file [default: <data-dir>/config.toml if it exists, else built-in defaults].
    #[arg(long, global = true, env = "IPPOC_CONFIG")]
    config: Option<PathBuf>,
    /// Log level or EnvFilter directive; overrides the config's log.level.
    #[arg(long, global = true, env = "IPPOC_LOG")]
    log_level: Option<String>,
    /// Print machine-readable JSON instead of text (read commands).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the node (identity, hardware binding, layout) if it does not exist, and check it.
    Init,
    /// Run the node in the foreground until SIGTERM/SIGINT (what systemd starts).
    Daemon,
    /// Ask the running daemon how it is.
    Status,
    /// Print this node's NodeID (works without a daemon).
    Id,
    /// Re-bind the node to this machine after a genuine hardware change.
    Rebind {
        /// Confirm that the hardware changed on purpose and this is not a copied data dir.
        #[arg(long)]
        confirm: bool,
    },
    /// Inspect the configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print the full default configuration, every option commented.
    Default,
    /// Print the configuration in effect for this data dir.
    Show,
}

/// A failure, with the exit code it ends the process with.
struct Failure {
    status: ExitStatus,
    message: String,
}

impl From<NodeError> for Failure {
    fn from(e: NodeError) -> Self {
        Failure {
            status: e.exit_status(),
            message: e.to_string(),
        }
    }
}

impl From<BootError> for Failure {
    fn from(e: BootError) -> Self {
        Failure {
            status: e.error.exit_status(),
            message: e.to_string(),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("ippoc: {}", failure.message);
            ExitCode::from(failure.status.code())
        }
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    // Absolute, so that paths in messages and `status` mean the same from any directory.
    let data_dir =
        DataDir::new(std::path::absolute(&cli.data_dir).unwrap_or_else(|_| cli.data_dir.clone()));
    if let Command::Config {
        command: ConfigCommand::Default,
    } = cli.command
    {
        print!("{DEFAULT_CONFIG_TOML}");
        return Ok(());
    }
    let (config, config_path) = Config::load(cli.config.as_deref(), &data_dir.default_config())
        .map_err(BootError::at(BootStep::Config))?;
    // Read commands keep stderr quiet unless asked; state-changing ones log at the configured level.
    let quiet = matches!(
        cli.command,
        Command::Status | Command::Id | Command::Config { .. }
    );
    let level = match (&cli.log_level, quiet) {
        (Some(level), _) => level.clone(),
        (None, true) => "warn".to_string(),
        (None, false) => config.log.level.clone(),
    };
    let logging = logging::init(&level)?;
    let probe = SysinfoProbe;
    match cli.command {
        Command::Init => init(&data_dir, &config, &probe, &logging, cli.json),
        Command::Daemon => {
            let runtime = runtime()?;
            runtime
                .block_on(daemon::run(&data_dir, &config, &probe, &logging))
                .map_err(|e| Failure {
                    status: e.exit_status(),
                    message: e.to_string(),
                })
        }
        Command::Status => status(&data_dir, cli.json),
        Command::Id => id(&data_dir, cli.json),
        Command::Rebind { confirm } => rebind(&data_dir, &config, &probe, &logging, confirm),
        Command::Config { .. } => config_show(&config, config_path.as_deref(), cli.json),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| NodeError::io("cannot start the async runtime", "tokio", e).into())
}

fn init(
    data_dir: &DataDir,
    config: &Config,
    probe: &dyn HardwareProbe,
    logging: &Logging,
    json: bool,
) -> Result<(), Failure> {
    let node = boot::boot_node(data_dir, config, probe, logging)?;
    let id = node.identity.node_id();
    let dir = node.identity.paths().root().display().to_string();
    if json {
        println!(
            "{}",
            json!({"node_id": id.to_string(), "node_dir": dir, "created": node.created, "hardware_fingerprint": node.fingerprint.hash_hex()})
        );
    } else if node.created {
        println!("created node {id}\n  in {dir}");
    } else {
        println!("node {id} already exists and checks out\n  in {dir}");
    }
    Ok(())
}

fn status(data_dir: &DataDir, json: bool) -> Result<(), Failure> {
    let status = runtime()?.block_on(client::fetch_status(data_dir))?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&status).expect("status serializes")
        );
    } else {
        let up = status.uptime_ms / 1000;
        println!("node      {}", status.node_id);
        println!(
            "state     running (pid {}, up {}h {:02}m {:02}s)",
            status.pid,
            up / 3600,
            up / 60 % 60,
            up % 60
        );
        println!("version   {}", status.version);
        println!("api       {}", status.api_addr);
        println!("node dir  {}", status.node_dir);
        println!("hardware  {}", status.hardware_fingerprint);
    }
    Ok(())
}

fn id(data_dir: &DataDir, json: bool) -> Result<(), Failure> {
    let identity = identity::load_existing_identity(data_dir)?;
    let id = identity.node_id();
    if json {
        let fingerprint = Fingerprint::read(&identity.paths().fingerprint())
            .ok()
            .map(|f| f.hash);
        println!(
            "{}",
            json!({"node_id": id.to_string(), "node_dir": identity.paths().root().display().to_string(), "hardware_fingerprint": fingerprint})
        );
    } else {
        println!("{id}");
    }
    Ok(())
}

fn rebind(
    data_dir: &DataDir,
    config: &Config,
    probe: &dyn HardwareProbe,
    logging: &Logging,
    confirm: bool,
) -> Result<(), Failure> {
    let _lock = DataDirLock::acquire(data_dir)?;
    let identity = identity::load_existing_identity(data_dir)?;
    let path = identity.paths().fingerprint();
    let current = probe.probe()?;
    let recorded = Fingerprint::read(&path);
    let change = match &recorded {
        Ok(old) if old.verify(&current).is_ok() => {
            println!("the node is already bound to this hardware; nothing to do");
            return Ok(());
        }
        Ok(old) => hardware::describe_changes(&old.hardware, &current),
        Err(e) => format!("recorded fingerprint unusable ({e})"),
    };
    if !confirm {
        return Err(Failure {
            status: ExitStatus::Usage,
            message: format!(
                "this machine differs from the one node {} was bound to: {change}. If the hardware changed on purpose (and this is not a copy of a node running elsewhere), run `ippoc rebind --confirm`",
                identity.node_id().short()
            ),
        });
    }
    logging.attach_file(&identity.paths().logs(), &config.log)?;
    let new = Fingerprint::of(&current);
    new.write(&path)?;
    tracing::warn!(
        event = "hardware_rebind",
        node_id = %identity.node_id(),
        old_fingerprint = recorded.as_ref().map(|f| f.hash.as_str()).unwrap_or("unreadable"),
        new_fingerprint = %new.hash,
        change = %change,
        "operator re-bound the node to new hardware"
    );
    println!(
        "node {} re-bound to this hardware ({change})",
        identity.node_id()
    );
    Ok(())
}

fn config_show(config: &Config, source: Option<&Path>, json: bool) -> Result<(), Failure> {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(config).expect("config serializes")
        );
    } else {
        match source {
            Some(path) => println!("# from {}", path.display()),
            None => println!("# built-in defaults (no config file)"),
        }
        print!("{}", toml::to_string(config).expect("config serializes"));
    }
    Ok(())
}
