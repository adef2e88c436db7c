//! `ippoc sandbox run`: run a WASM skill, paid from the node's wallet (or
//! `--dry-run` locally, paid by nobody).

use std::io::{Read, Write};

use clap::Args;
use std::path::Path;

use ippoc_economy::params::Parameters;
use ippoc_sandbox::{ModuleCache, Sandbox, SandboxConfig};

use super::{Access, Env, Failure, access, runtime};
use crate::error::{ExitStatus, NodeError};
use ippoc_swarm::fsutil;
use ippoc_swarm::sandbox::{self, SandboxRunRequest, SandboxRunView, Unmetered};

/// Reads `--input`: a file, `-` for stdin, or nothing.
pub(super) fn read_input(input: Option<&str>) -> Result<Vec<u8>, Failure> {
    match input {
        None => Ok(Vec::new()),
        Some("-") => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .map_err(|e| NodeError::io("cannot read", "stdin", e))?;
            Ok(buf)
        }
        Some(file) => Ok(fsutil::read(Path::new(file))?),
    }
}

/// How to run a skill: input, fuel and capabilities.
#[derive(Debug, Args)]
pub struct RunOptions {
    /// Input file, or - for stdin [default: empty].
    #[arg(long)]
    pub input: Option<String>,
    /// Fuel limit [default: 1 000 000 000].
    #[arg(long)]
    pub fuel: Option<u64>,
    /// Grant a capability (log, clock_ms); repeat for several.
    #[arg(long = "cap")]
    pub caps: Vec<String>,
}

/// Prints a run: its JSON view, or its output bytes on stdout.
pub(super) fn print_run(view: &SandboxRunView, json: bool) -> Result<(), Failure> {
    if json {
        println!("{}", serde_json::to_string_pretty(view).expect("views serialize"));
    } else if view.ok {
        let output = hex::decode(&view.output_hex).unwrap_or_default();
        std::io::stdout()
            .write_all(&output)
            .map_err(|e| NodeError::io("cannot write", "stdout", e))?;
    }
    Ok(())
}

pub fn run(env: &Env, module_path: &Path, options: &RunOptions, dry_run: bool) -> Result<(), Failure> {
    let (fuel, caps) = (options.fuel, &options.caps);
    let module = fsutil::read(module_path)?;
    let input = read_input(options.input.as_deref())?;
    let view: SandboxRunView = if dry_run {
        let sb = Sandbox::new(SandboxConfig::default(), ModuleCache::new(None, [0; 32]))
            .map_err(|e| NodeError::Sandbox(e.to_string()))?;
        let capabilities = sandbox::capabilities(caps)?;
        sandbox::run(
            &sb,
            &module,
            &input,
            fuel,
            &capabilities,
            &Unmetered(u64::MAX),
            &Parameters::default(),
        )
    } else {
        let request = SandboxRunRequest {
            module_hex: hex::encode(&module),
            input_hex: hex::encode(&input),
            fuel,
            capabilities: caps.to_vec(),
            bounty: None,
        };
        match access(env)? {
            Access::Daemon(c) => runtime()?.block_on(c.post_json(crate::routes::SANDBOX_RUN, &request))?,
            Access::Direct(node) => {
                let sb = crate::daemon::open_sandbox(node.identity.paths())?;
                sandbox::run_request(&sb, &node.own_chain(), &request)?
            }
        }
    };
    print_run(&view, env.json)?;
    let paid = match (&view.charge_tx, dry_run) {
        (_, true) => format!("would cost {} IPPC (dry run, nothing charged)", view.charged),
        (Some(tx), false) => format!("charged {} IPPC, entry {tx}", view.charged),
        (None, false) => "nothing charged".to_string(),
    };
    // The hash is known once the module was read as WebAssembly; a module
    // refused before that is named by its file alone.
    let hash = view
        .module
        .as_deref()
        .map_or(String::new(), |m| format!(" ({})", &m[..12]));
    eprintln!(
        "ippoc: module {}{hash}: fuel used {}, {paid}",
        module_path.display(),
        view.fuel_used
    );
    match view.error {
        None => Ok(()),
        Some(error) => Err(Failure {
            status: ExitStatus::Refused,
            message: format!("the run failed: {error}"),
        }),
    }
}
