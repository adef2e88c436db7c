//! `ippoc evolve`: the evolution flow from the operator's side. `simulate`
//! runs a skill package's tests in the sandbox and scores its risk;
//! `propose` does the same, keeps the module in the node's skill store (so
//! peers can fetch it once the DAO deploys it) and opens an
//! EvolutionProposal; `list` and `run` ask the daemon what the DAO deployed
//! and run it.

use std::path::Path;

use clap::Subcommand;
use ippoc_governance_bridge::B256;
use ippoc_sandbox::{ModuleCache, Sandbox, SandboxConfig};

use super::gov_cmds::{self, GovTarget};
use super::sandbox_cmds::{RunOptions, print_run, read_input};
use super::{Env, Failure, runtime};
use crate::client::DaemonClient;
use crate::error::{ExitStatus, NodeError};
use ippoc_swarm::gov_view::GovView;
use ippoc_swarm::sandbox::SandboxRunView;
use ippoc_swarm::skills::{self, Simulation, SkillPackage, SkillRunRequest, SkillStore};

/// `ippoc evolve ...`
#[derive(Debug, Subcommand)]
pub enum EvolveCommand {
    /// Run a skill package's test vectors in the sandbox and print its deterministic risk score.
    Simulate {
        /// The package manifest (TOML: module, fuel, capabilities, [[test]] input/output in hex).
        package: std::path::PathBuf,
    },
    /// Simulate, keep the module for peers to fetch, and propose its deployment to the DAO.
    Propose {
        /// The package manifest.
        package: std::path::PathBuf,
        /// What the skill is for.
        #[arg(long, default_value = "")]
        description: String,
        #[command(flatten)]
        target: GovTarget,
    },
    /// Skills the DAO deployed, as the running daemon sees them.
    List,
    /// Run a DAO-deployed skill on the running daemon, paid from its wallet.
    Run {
        /// The module's SHA-256 (hex).
        module: String,
        #[command(flatten)]
        run: RunOptions,
    },
}

fn simulate_package(path: &Path) -> Result<(SkillPackage, Simulation), Failure> {
    let package = SkillPackage::load(path)?;
    let sandbox = Sandbox::new(SandboxConfig::default(), ModuleCache::new(None, [0; 32]))
        .map_err(|e| NodeError::Sandbox(e.to_string()))?;
    let simulation = skills::simulate(&sandbox, &package);
    Ok((package, simulation))
}

fn print_simulation(s: &Simulation, json: bool) {
    if json {
        println!("{}", serde_json::to_string_pretty(s).expect("simulations serialize"));
        return;
    }
    println!("module    {}", s.module);
    println!("tests     {}/{} passed", s.passed, s.tests);
    for f in &s.failures {
        println!("  {f}");
    }
    println!("fuel      {} of {} at most", s.fuel_max, s.fuel_limit);
    println!("risk      {} bps", s.risk_bps);
    println!("verdict   {}", if s.ok { "ok" } else { "FAILED" });
}

fn failed(s: &Simulation) -> Failure {
    Failure {
        status: ExitStatus::Refused,
        message: format!(
            "skill {} failed its simulation ({} of {} tests passed); it cannot be proposed",
            s.module, s.passed, s.tests
        ),
    }
}

/// `evolve simulate`: exit 0 only if every test passed.
pub fn simulate(package: &Path, json: bool) -> Result<(), Failure> {
    let (_, s) = simulate_package(package)?;
    print_simulation(&s, json);
    if s.ok { Ok(()) } else { Err(failed(&s)) }
}

/// `evolve propose`: refuses a package that fails its simulation.
pub fn propose(env: &Env, package: &Path, description: &str, target: &GovTarget) -> Result<(), Failure> {
    let (package, s) = simulate_package(package)?;
    print_simulation(&s, env.json);
    if !s.ok {
        return Err(failed(&s));
    }
    let node = crate::identity::find_node(&env.data_dir)?;
    SkillStore::new(node.skills()).put(&package.wasm)?;
    let (dao, key) = (gov_cmds::load_dao(target)?, gov_cmds::load_key(target)?);
    let action = dao.deploy_module(B256::from(package.hash), s.risk_bps);
    let description = if description.is_empty() {
        format!("deploy skill {} (risk {} bps)", s.module, s.risk_bps)
    } else {
        description.to_string()
    };
    let id = runtime()?
        .block_on(dao.propose(&key, &[action], &description))
        .map_err(gov_cmds::chain_failure)?;
    if !env.json {
        println!("proposal  {id}");
    }
    Ok(())
}

fn daemon(env: &Env) -> Result<DaemonClient, Failure> {
    DaemonClient::connect(&env.data_dir).map_err(|e| Failure {
        status: ExitStatus::DaemonUnreachable,
        message: format!("deployed skills live in the running daemon: {e}"),
    })
}

/// `evolve list`.
pub fn list(env: &Env) -> Result<(), Failure> {
    let view: GovView = runtime()?.block_on(daemon(env)?.get_json(crate::routes::SKILLS))?;
    if env.json {
        println!("{}", serde_json::to_string_pretty(&view).expect("views serialize"));
        return Ok(());
    }
    if !view.connected {
        println!("governance is off (set [governance] rpc in the config)");
        return Ok(());
    }
    println!("chain block {}", view.block);
    for (module, d) in &view.deployed {
        let held = if view.held.contains(module) { "held" } else { "fetching" };
        println!("{module}  proposal {}  {held}", d.proposal);
    }
    for module in &view.revoked {
        println!("{module}  revoked");
    }
    if let Some(e) = &view.last_error {
        println!("last error: {e}");
    }
    Ok(())
}

/// `evolve run`.
pub fn run(env: &Env, module: &str, options: &RunOptions) -> Result<(), Failure> {
    skills::parse_hash(module)?;
    let request = SkillRunRequest {
        module: module.to_string(),
        input_hex: hex::encode(read_input(options.input.as_deref())?),
        fuel: options.fuel,
        capabilities: options.caps.clone(),
    };
    let view: SandboxRunView = runtime()?.block_on(daemon(env)?.post_json(crate::routes::SKILLS_RUN, &request))?;
    print_run(&view, env.json)?;
    eprintln!(
        "ippoc: skill {}: fuel used {}, charged {} IPPC",
        &module[..12.min(module.len())],
        view.fuel_used,
        view.charged
    );
    match view.error {
        None => Ok(()),
        Some(error) => Err(Failure {
            status: ExitStatus::Refused,
            message: format!("the run failed: {error}"),
        }),
    }
}
