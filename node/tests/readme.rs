//! The README's operator and DAO walkthroughs, run word for word as a new user
//! types them: bare file names in a fresh working directory, the `ippoc`
//! binary on PATH, the daemons (and anvil) started as the README says to in
//! another terminal. A README that drifts from the binary fails here. Also:
//! every `ippoc …` command the README's tables name exists, with the flags
//! they show.

mod common;
#[path = "common/readme.rs"]
mod readme;

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use common::{NotifySocket, WAIT};
use readme::{Block, Kind};

fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_ippoc")).parent().unwrap().to_path_buf()
}

/// Foundry's binaries: the tests' anvil, and cast beside it.
fn foundry_dir() -> PathBuf {
    let dir = common::anvil_path().parent().unwrap().to_path_buf();
    assert!(
        dir.join("cast").exists(),
        "cast not found beside anvil in {}",
        dir.display()
    );
    dir
}

/// A command the README has the reader start in another terminal.
struct Service {
    line: String,
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
    daemon: bool,
}

impl Service {
    /// Starts `line` and waits until it is ready: an `ippoc … daemon` says
    /// READY=1 on its notify socket (as under systemd), anything else (anvil)
    /// prints `Listening on`.
    fn start(line: &str, dir: &Path, path: &std::ffi::OsStr, wrap: &[String]) -> Service {
        let daemon = line.split_whitespace().next() == Some("ippoc") && line.split_whitespace().any(|w| w == "daemon");
        let notify = daemon.then(|| NotifySocket::new(dir));
        let mut cmd = readme::wrapped(wrap, "bash");
        cmd.args(["-c", &format!("exec {line}")])
            .current_dir(dir)
            .env("PATH", path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        common::without_host_env(&mut cmd);
        if let Some(n) = &notify {
            cmd.env("NOTIFY_SOCKET", &n.path);
        }
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("start {line}: {e}"));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        for pipe in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let (log, ready_tx) = (log.clone(), ready_tx.clone());
            std::thread::spawn(move || {
                for l in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
                    if l.contains("Listening on") {
                        let _ = ready_tx.send(());
                    }
                    log.lock().unwrap().push(l);
                }
            });
        }
        let ready = match &notify {
            Some(n) => n.wait_for("READY=1", WAIT).is_some(),
            None => ready_rx.recv_timeout(WAIT).is_ok(),
        };
        let service = Service {
            line: line.to_string(),
            child,
            log,
            daemon,
        };
        assert!(ready, "`{line}` never became ready:\n{}", service.log());
        service
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// SIGTERM; a daemon must exit 0 (a clean stop), anything else may exit as it likes.
    fn stop(mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let status = self.child.wait().unwrap();
        if self.daemon {
            assert_eq!(
                status.code(),
                Some(0),
                "`{}` did not stop cleanly:\n{}",
                self.line,
                self.log()
            );
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A network namespace of the test's own, with only a loopback interface, so
/// the ports the README names (anvil's 8545, the mesh's 7734) cannot meet a
/// devnet or daemon the developer is running, and nothing leaves 127.0.0.1.
/// Needs `unshare` and `nsenter` with the right to use them (root, as in CI);
/// elsewhere the flows run in the machine's own network.
struct PrivateNet {
    holder: Child,
}

impl PrivateNet {
    fn new() -> Option<PrivateNet> {
        let mut holder = Command::new("unshare")
            .args([
                "--net",
                "--",
                "sh",
                "-c",
                "ip link set lo up && echo up && exec sleep 3600",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let mut line = String::new();
        let _ = std::io::BufReader::new(holder.stdout.take().unwrap()).read_line(&mut line);
        if line.trim() != "up" {
            let _ = holder.kill();
            let _ = holder.wait();
            eprintln!("no private network namespace (unshare --net refused): the flow runs in the host's network");
            return None;
        }
        Some(PrivateNet { holder })
    }

    /// The prefix that runs a program inside the namespace.
    fn wrap(&self) -> Vec<String> {
        vec![
            "nsenter".into(),
            format!("--net=/proc/{}/ns/net", self.holder.id()),
            "--".into(),
        ]
    }
}

impl Drop for PrivateNet {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// Runs a flow's blocks in README order in one fresh working directory that
/// holds a copy of `examples/` (the README's commands run from a clone's root).
fn walk(flow: &str, extra_path: &[&Path]) -> tempfile::TempDir {
    let net = PrivateNet::new();
    let wrap = net.as_ref().map_or(Vec::new(), PrivateNet::wrap);
    let dir = tempfile::tempdir().unwrap();
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples"),
        &dir.path().join("examples"),
    );
    let bin = bin_dir();
    let mut dirs = vec![bin.as_path()];
    dirs.extend_from_slice(extra_path);
    let path = readme::path_with(&dirs);
    let mut services: Vec<Service> = Vec::new();
    for block in readme::flow(flow) {
        run(&block, dir.path(), &path, &wrap, &mut services);
    }
    for s in services.into_iter().rev() {
        s.stop();
    }
    dir
}

fn run(block: &Block, dir: &Path, path: &std::ffi::OsStr, wrap: &[String], services: &mut Vec<Service>) {
    if block.kind == Kind::Background {
        for line in block.text.lines() {
            let command = line.split('#').next().unwrap().trim();
            if !command.is_empty() {
                services.push(Service::start(command, dir, path, wrap));
            }
        }
    } else {
        let logs = || {
            services
                .iter()
                .map(|s| format!("--- log of `{}`\n{}", s.line, s.log()))
                .collect::<Vec<_>>()
                .join("\n")
        };
        readme::run_block(block, dir, path, wrap, &logs);
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn every_sh_block_of_the_readme_is_run_or_marked_notest() {
    // sh_blocks panics on an untagged block, naming its line.
    let blocks = readme::sh_blocks(&readme::readme());
    for flow in ["operator", "dao", "researcher"] {
        assert!(blocks.iter().any(|b| b.flow == flow), "no block for the {flow} flow");
    }
}

#[test]
fn the_operator_walkthrough_runs_as_written() {
    let dir = walk("operator", &[]);
    // What the walkthrough wrote with bare names landed in its directory.
    for file in ["genesis.json", "a.export"] {
        assert!(dir.path().join(file).is_file(), "{file} missing");
    }
}

#[test]
fn the_dao_walkthrough_runs_as_written_on_anvil() {
    let dir = walk("dao", &[&foundry_dir()]);
    assert!(dir.path().join("dao.json").is_file());
}

#[test]
fn every_ippoc_command_in_the_readme_tables_exists_with_its_flags() {
    let text = readme::readme();
    let mut in_fence = false;
    let mut checked = 0;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
        }
        if in_fence {
            continue;
        }
        for span in line.split('`').skip(1).step_by(2) {
            let Some(rest) = span.strip_prefix("ippoc ") else {
                continue;
            };
            // Subcommands are the leading lowercase words; the rest are arguments.
            let words: Vec<&str> = rest.split_whitespace().collect();
            let sub: Vec<&str> = words
                .iter()
                .take_while(|w| {
                    !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase() || c == '-') && !w.starts_with('-')
                })
                .copied()
                .collect();
            let out = Command::new(env!("CARGO_BIN_EXE_ippoc"))
                .args(&sub)
                .arg("--help")
                .output()
                .unwrap();
            let help = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "README names `ippoc {rest}`, but `ippoc {} --help` fails",
                sub.join(" ")
            );
            for flag in words.iter().flat_map(|w| w.split(['|', '[', ']', '=', '\\'])) {
                if flag.starts_with("--") && flag.len() > 2 {
                    assert!(
                        help.contains(flag),
                        "README names `ippoc {rest}`, but `ippoc {}` has no {flag}",
                        sub.join(" ")
                    );
                }
            }
            checked += 1;
        }
    }
    assert!(checked > 30, "only {checked} commands found in the README");
}
