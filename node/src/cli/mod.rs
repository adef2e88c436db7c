//! The `ippoc` command line: arguments (clap), dispatch, and the one-line
//! error with its documented exit code. Commands that read or change a node
//! work through the running daemon's admin API when a daemon holds the data
//! dir, and directly on the node's files when none does.

mod evolve_cmds;
mod gov_cmds;
mod gov_text;
mod ledger_cmds;
mod mic_cmds;
mod node_cmds;
mod sandbox_cmds;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ippoc_economy::{Amount, Currency, NodeId};

use crate::boot::{self, BootError, BootOptions, BootStep, BootedNode};
use crate::client::DaemonClient;
use crate::config::Config;
use crate::error::{ExitStatus, NodeError};
use crate::hardware::SysinfoProbe;
use crate::lock::DataDirLock;
use crate::logging::{self, Logging};
use crate::paths::DataDir;

/// IPPOC sovereign swarm node.
#[derive(Debug, Parser)]
#[command(name = "ippoc", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
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
    /// Create the node (identity, hardware binding, layout, ledger) if it does not exist, and check it.
    Init {
        /// Genesis file of the swarm to join [default: a new solo development swarm].
        #[arg(long)]
        genesis: Option<PathBuf>,
    },
    /// Run the node in the foreground until SIGTERM/SIGINT (what systemd starts).
    Daemon {
        /// Genesis file of the swarm to join, on first start.
        #[arg(long)]
        genesis: Option<PathBuf>,
    },
    /// Ask the running daemon how it is.
    Status,
    /// Print this node's NodeID (works without a daemon).
    Id,
    /// The running daemon's mesh: PeerId, listen addresses, connected and banned peers.
    Peers,
    /// A node's integrity score (GI) in a closed cycle: score, tier, the five
    /// components, trend and next review (docs/integrity.md).
    Gi {
        /// The node (this node by default).
        node: Option<NodeId>,
        /// The cycle (the newest closed one by default; with --proof, the
        /// newest whose table this node's anchored checkpoints commit to).
        #[arg(long)]
        cycle: Option<u64>,
        /// Print the node's anchored GI as a proof for `ippoc gov propose
        /// --promote` (JSON), instead of the report.
        #[arg(long)]
        proof: bool,
        /// With --proof: write it to this file.
        #[arg(long, requires = "proof")]
        out: Option<std::path::PathBuf>,
    },
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
    /// Balances and metabolism mode of this node.
    Wallet,
    /// Pay another node from this node's wallet (a 0.1% fee goes to the public goods pool).
    Transfer {
        /// Recipient NodeID.
        to: NodeId,
        /// Amount the recipient receives, e.g. 12.5.
        amount: Amount,
        /// IPPC or iUSD.
        #[arg(long, default_value = "IPPC")]
        currency: Currency,
    },
    /// Read, verify and export the ledger.
    Ledger {
        #[command(subcommand)]
        command: LedgerCommand,
    },
    /// Run WASM skills in the metered sandbox.
    Sandbox {
        #[command(subcommand)]
        command: SandboxCommand,
    },
    /// Create a swarm genesis.
    Genesis {
        #[command(subcommand)]
        command: GenesisCommand,
    },
    /// The evolution flow: simulate a skill, propose it to the DAO, list and run deployed skills.
    Evolve {
        #[command(subcommand)]
        command: evolve_cmds::EvolveCommand,
    },
    /// The DAO on the L2: deploy, stake, propose, vote, veto, queue, execute, status.
    Gov {
        #[command(subcommand)]
        command: gov_cmds::GovCommand,
    },
    /// Issuance: reserve, tranches, mint preview, a sentinel's authorization, a mint's commit (docs/issuance.md).
    Mic {
        #[command(subcommand)]
        command: mic_cmds::MicCommand,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print the full default configuration, every option commented.
    Default,
    /// Print the configuration in effect for this data dir.
    Show,
}

#[derive(Debug, Subcommand)]
enum LedgerCommand {
    /// Show entries of a chain.
    Show {
        /// Chain to show [default: this node's].
        #[arg(long)]
        actor: Option<NodeId>,
        /// First seq.
        #[arg(long, default_value_t = 0)]
        from: u64,
        /// Most entries.
        #[arg(long, default_value_t = 20)]
        limit: u64,
    },
    /// Verify every stored chain (or an export file) with batched signature checks.
    Verify {
        /// Verify this export file offline instead of the node's ledger:
        /// its commitment, signatures, links, and every rule a node applies
        /// on import.
        #[arg(long)]
        file: Option<PathBuf>,
        /// The swarm's genesis file, to apply the ledger's rules to a v1
        /// export (v2 exports carry their genesis).
        #[arg(long, requires = "file")]
        genesis: Option<PathBuf>,
    },
    /// Repair a damaged store while the node is stopped: put back verified
    /// copies of damaged entries (from an export), drop what cannot be
    /// proven (peers send it back), rebuild every derived index.
    Repair {
        /// An export file whose entries may replace damaged ones (only a
        /// copy with the same tx_id as the damaged entry is taken).
        #[arg(long)]
        from: Option<PathBuf>,
    },
    /// Ingest another node's export file through full validation.
    Import {
        /// The export file.
        #[arg(long)]
        file: PathBuf,
    },
    /// Write the chains to an export file (format: docs/ledger-format.md).
    Export {
        /// Only this chain [default: every chain].
        #[arg(long)]
        actor: Option<NodeId>,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Prove that an entry is in the ledger the swarm anchored on the L2 (docs/anchoring.md).
    Prove {
        /// The entry's tx_id (hex).
        tx: ippoc_economy::TxId,
        /// Against the heads snapshot of this epoch [default: the earliest anchored epoch that includes the entry].
        #[arg(long)]
        epoch: Option<u64>,
        /// Write the proof to this file [default: stdout].
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Check a proof file: signatures and links of its entries, the Merkle proof, and the root anchored on the L2.
    VerifyProof {
        /// The proof file (from `ippoc ledger prove`).
        file: PathBuf,
        /// Compare with this root (hex) instead of asking the chain.
        #[arg(long)]
        root: Option<ippoc_governance_bridge::B256>,
        #[command(flatten)]
        target: gov_cmds::GovTarget,
    },
}

#[derive(Debug, Subcommand)]
enum SandboxCommand {
    /// Run a module (.wasm or .wat) on an input; prints the output, fuel used and charge.
    Run {
        /// The module: WebAssembly binary or text (docs/skill-abi.md).
        module: PathBuf,
        #[command(flatten)]
        run: sandbox_cmds::RunOptions,
        /// Run locally without a node and charge nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
enum GenesisCommand {
    /// Print (or write) a new genesis: founders' stipends, treasury, the 50 000 IPPC public goods pool.
    New {
        /// Swarm name.
        #[arg(long)]
        name: String,
        /// A founding node (repeat); founders are also the mint sentinels.
        #[arg(long = "founder", required = true)]
        founders: Vec<NodeId>,
        /// IPPC each founder starts with.
        #[arg(long, default_value = "10000")]
        stipend: Amount,
        /// IPPC the treasury starts with.
        #[arg(long, default_value = "1000000")]
        treasury: Amount,
        /// Write to this file instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// A failure, with the exit code it ends the process with.
pub struct Failure {
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

impl From<ippoc_swarm::Error> for Failure {
    fn from(e: ippoc_swarm::Error) -> Self {
        NodeError::from(e).into()
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

/// What a command needs besides its own arguments.
pub struct Env {
    data_dir: DataDir,
    config: Config,
    config_path: Option<PathBuf>,
    logging: Logging,
    json: bool,
}

/// Entry point of the `ippoc` binary.
pub fn main() -> ExitCode {
    crate::panics::install_hook();
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Daemon { .. }) {
        restore_default_sigpipe();
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("ippoc: {}", failure.message);
            ExitCode::from(failure.status.code())
        }
    }
}

/// Lets a CLI command end quietly when its reader goes away (`ippoc wallet |
/// head -1`), like every Unix tool, instead of panicking on a broken pipe.
/// Rust ignores SIGPIPE by default; sockets are unaffected either way (std
/// sends with MSG_NOSIGNAL). The daemon keeps the default of ignoring it.
fn restore_default_sigpipe() {
    // SAFETY: called at the start of main, before any thread exists; SIG_DFL
    // is a valid disposition for SIGPIPE.
    #[allow(unsafe_code)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn run(mut cli: Cli) -> Result<(), Failure> {
    // Absolute, so that paths in messages and `status` mean the same from any directory.
    let data_dir = DataDir::new(std::path::absolute(&cli.data_dir).unwrap_or_else(|_| cli.data_dir.clone()));
    // Commands that sign on the chain default to the node's own EVM key.
    let target = match &mut cli.command {
        Command::Gov { command } => command.target_mut(),
        Command::Evolve {
            command: evolve_cmds::EvolveCommand::Propose { target, .. },
        } => Some(target),
        _ => None,
    };
    if let Some(target) = target {
        target.node_key = crate::identity::find_node(&data_dir).ok().map(|p| p.eth_key());
    }
    match &cli.command {
        Command::Config {
            command: ConfigCommand::Default,
        } => return node_cmds::config_default(),
        Command::Genesis {
            command:
                GenesisCommand::New {
                    name,
                    founders,
                    stipend,
                    treasury,
                    out,
                },
        } => return ledger_cmds::genesis_new(name, founders, *stipend, *treasury, out.as_deref()),
        Command::Ledger {
            command: LedgerCommand::Verify {
                file: Some(file),
                genesis,
            },
        } => return ledger_cmds::verify_file(file, genesis.as_deref(), cli.json),
        Command::Ledger {
            command: LedgerCommand::VerifyProof { file, root, target },
        } => return ledger_cmds::verify_proof(file, *root, target, cli.json),
        Command::Gov { command } => return gov(command, cli.json),
        Command::Evolve {
            command: evolve_cmds::EvolveCommand::Simulate { package },
        } => return evolve_cmds::simulate(package, cli.json),
        _ => {}
    }
    let (config, config_path) =
        Config::load(cli.config.as_deref(), &data_dir.default_config()).map_err(BootError::at(BootStep::Config))?;
    // Read commands keep stderr quiet unless asked; state-changing ones log at the configured level.
    let quiet = matches!(
        cli.command,
        Command::Status
            | Command::Id
            | Command::Peers
            | Command::Gi { .. }
            | Command::Mic {
                command: mic_cmds::MicCommand::Reserve { .. }
                    | mic_cmds::MicCommand::Tranches { .. }
                    | mic_cmds::MicCommand::Preview { .. }
            }
            | Command::Config { .. }
            | Command::Wallet
            | Command::Ledger { .. }
            | Command::Evolve {
                command: evolve_cmds::EvolveCommand::List
            }
    );
    let level = match (&cli.log_level, quiet) {
        (Some(level), _) => level.clone(),
        (None, true) => "warn".to_string(),
        (None, false) => config.log.level.clone(),
    };
    let env = Env {
        logging: logging::init(&level)?,
        data_dir,
        config,
        config_path,
        json: cli.json,
    };
    match cli.command {
        Command::Init { genesis } => node_cmds::init(&env, genesis),
        Command::Daemon { genesis } => node_cmds::daemon(&env, genesis),
        Command::Status => node_cmds::status(&env),
        Command::Id => node_cmds::id(&env),
        Command::Peers => node_cmds::peers(&env),
        Command::Gi {
            node,
            cycle,
            proof: false,
            ..
        } => node_cmds::gi(&env, node, cycle),
        Command::Gi {
            node,
            cycle,
            proof: true,
            out,
        } => node_cmds::gi_proof(&env, node, cycle, out.as_deref()),
        Command::Rebind { confirm } => node_cmds::rebind(&env, confirm),
        Command::Mic { command } => mic_cmds::run(&env, command),
        Command::Config { .. } => node_cmds::config_show(&env),
        Command::Wallet => ledger_cmds::wallet(&env),
        Command::Transfer { to, amount, currency } => ledger_cmds::transfer(&env, to, amount, currency),
        Command::Ledger { command } => match command {
            LedgerCommand::Show { actor, from, limit } => ledger_cmds::show(&env, actor, from, limit),
            LedgerCommand::Verify { .. } => ledger_cmds::verify(&env),
            LedgerCommand::Export { actor, out } => ledger_cmds::export(&env, actor, &out),
            LedgerCommand::Import { file } => ledger_cmds::import(&env, &file),
            LedgerCommand::Repair { from } => ledger_cmds::repair(&env, from.as_deref()),
            LedgerCommand::Prove { tx, epoch, out } => ledger_cmds::prove(&env, &tx, epoch, out.as_deref()),
            LedgerCommand::VerifyProof { .. } => unreachable!("handled before the configuration is loaded"),
        },
        Command::Sandbox {
            command: SandboxCommand::Run { module, run, dry_run },
        } => sandbox_cmds::run(&env, &module, &run, dry_run),
        Command::Evolve { command } => match command {
            evolve_cmds::EvolveCommand::Propose {
                package,
                description,
                target,
            } => evolve_cmds::propose(&env, &package, &description, &target),
            evolve_cmds::EvolveCommand::List => evolve_cmds::list(&env),
            evolve_cmds::EvolveCommand::Run { module, run } => evolve_cmds::run(&env, &module, &run),
            evolve_cmds::EvolveCommand::Simulate { .. } => unreachable!("handled before the config is read"),
        },
        Command::Genesis { .. } | Command::Gov { .. } => unreachable!("handled before the config is read"),
    }
}

/// `ippoc gov`: needs no node, only a chain, an address file and a key.
fn gov(command: &gov_cmds::GovCommand, json: bool) -> Result<(), Failure> {
    use gov_cmds::{GovCommand as G, Step};
    match command {
        G::Key { out } => gov_cmds::key(out),
        G::Deploy { plan, target } => gov_cmds::deploy(plan, target, json),
        G::Stake { amount, target } => gov_cmds::stake(*amount, target, json),
        G::Propose { actions, target } => gov_cmds::propose(actions, target, json),
        G::Vote {
            id,
            yes,
            amount,
            as_node,
            target,
            ..
        } => gov_cmds::vote(*id, *yes, *amount, *as_node, target, json),
        G::Veto { id, target } => gov_cmds::step(Step::Veto, *id, target, json),
        G::Queue { id, target } => gov_cmds::step(Step::Queue, *id, target, json),
        G::Execute { id, target } => gov_cmds::step(Step::Execute, *id, target, json),
        G::Status { id, target } => gov_cmds::status(*id, target, json),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| NodeError::io("cannot start the async runtime", "tokio", e).into())
}

/// How a command reaches the node.
enum Access {
    /// A daemon holds the data dir: ask it.
    Daemon(DaemonClient),
    /// No daemon: open the node's files, with every boot check.
    Direct(Box<BootedNode>),
}

fn access(env: &Env) -> Result<Access, Failure> {
    match DataDirLock::acquire(&env.data_dir) {
        Ok(lock) => {
            drop(lock);
            let options = BootOptions {
                create: false,
                genesis: None,
            };
            let node = boot::boot_node(&env.data_dir, &env.config, &SysinfoProbe, &env.logging, &options)?;
            Ok(Access::Direct(Box::new(node)))
        }
        Err(NodeError::Locked { holder, .. }) => match DaemonClient::connect(&env.data_dir) {
            Ok(client) => Ok(Access::Daemon(client)),
            Err(NodeError::DaemonUnreachable { reason, .. }) => Err(Failure {
                status: ExitStatus::DaemonUnreachable,
                message: format!(
                    "{holder} holds the lock of {} but its admin API does not answer ({reason})",
                    env.data_dir.root().display()
                ),
            }),
            Err(e) => Err(e.into()),
        },
        Err(e) => Err(e.into()),
    }
}
