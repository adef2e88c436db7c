//! The README's runnable examples (shared by node/tests/readme.rs and
//! sim/tests/readme.rs).
//!
//! Every fenced `sh` block of README.md carries a tag after the language,
//! which GitHub does not show:
//! - `sh test:<flow>` — run by the test of that flow, in README order, each
//!   block in its own `bash -euo pipefail` in one fresh working directory;
//! - `sh test:<flow>:background` — each line is a long-running command the
//!   reader starts in another terminal; the test starts it and waits until it
//!   is ready;
//! - `sh notest` — not run (it needs root, systemd, or a 20-minute build);
//!   the tag makes that a choice someone wrote down, not an oversight;
//! - `<any language> test:<flow>:file=<path>` — a file the reader saves
//!   (a config, a scenario): written to `<path>` when the flow reaches it.
//!
//! Blocks of other languages without a tag are prose, not steps.
//!
//! The README spells the binaries as a clone runs them (`cargo run --release
//! -p ippoc-sim --`, `cargo run --release --bin ippoc --`); the tests run the
//! same arguments on the binaries cargo built for them.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Stdio};

/// What a step of a flow does with its block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A script for bash.
    Script,
    /// Long-running commands to start, one per line.
    Background,
    /// A file to write, at this path relative to the working directory.
    File(String),
}

/// One fenced block of the README.
#[derive(Debug, Clone)]
pub struct Block {
    /// Its flow (`operator`, `dao`, `researcher`), empty for `notest`.
    pub flow: String,
    /// What the flow does with it.
    pub kind: Kind,
    /// Line of the README where the block starts (1-based), for messages.
    pub line: usize,
    /// The commands, with the cargo spellings replaced by the binaries.
    pub text: String,
}

/// The README of the workspace.
pub fn readme() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every `sh` block and every tagged block; panics on an `sh` block without
/// a tag, naming its line.
pub fn sh_blocks(readme: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut lines = readme.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        let Some(info) = line.trim_start().strip_prefix("```") else {
            continue;
        };
        let mut words = info.split_whitespace();
        let is_sh = words.next() == Some("sh");
        let tag = words.next().unwrap_or("");
        let mut text = String::new();
        for (_, body) in lines.by_ref() {
            if body.trim_start().starts_with("```") {
                break;
            }
            text.push_str(body);
            text.push('\n');
        }
        let parts: Vec<&str> = tag.split(':').collect();
        let (flow, kind) = match (is_sh, &parts[..]) {
            (true, ["notest"]) => (String::new(), Kind::Script),
            (true, ["test", flow]) => (flow.to_string(), Kind::Script),
            (true, ["test", flow, "background"]) => (flow.to_string(), Kind::Background),
            (_, ["test", flow, file]) if file.starts_with("file=") => {
                (flow.to_string(), Kind::File(file["file=".len()..].to_string()))
            }
            (false, _) if !tag.starts_with("test") => continue,
            _ => panic!(
                "README.md line {}: a block needs `test:<flow>`, `test:<flow>:background`, `test:<flow>:file=<path>` or (sh only) `notest` after the language, got {tag:?}",
                n + 1
            ),
        };
        if !matches!(kind, Kind::File(_)) {
            text = text
                .replace("cargo run --release -p ippoc-sim --", "ippoc-sim")
                .replace("cargo run --release --bin ippoc --", "ippoc");
        }
        blocks.push(Block {
            flow,
            kind,
            line: n + 1,
            text,
        });
    }
    blocks
}

/// The blocks of one flow, in README order.
pub fn flow(flow: &str) -> Vec<Block> {
    let blocks: Vec<Block> = sh_blocks(&readme()).into_iter().filter(|b| b.flow == flow).collect();
    assert!(!blocks.is_empty(), "README.md has no block tagged test:{flow}");
    blocks
}

/// Runs a foreground block in `dir` with `path` as PATH; panics with the
/// block, its output and `context` (e.g. the daemons' logs) if it fails.
/// Returns its stdout.
pub fn run_block(
    block: &Block,
    dir: &Path,
    path: &std::ffi::OsStr,
    wrap: &[String],
    context: &dyn Fn() -> String,
) -> String {
    if let Kind::File(name) = &block.kind {
        let target = dir.join(name);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(&target, &block.text).unwrap();
        return String::new();
    }
    assert_eq!(block.kind, Kind::Script, "README.md line {}: not a script", block.line);
    let out = wrapped(wrap, "bash")
        .args(["-euo", "pipefail", "-c", &block.text])
        .current_dir(dir)
        .env("PATH", path)
        .stdin(Stdio::null())
        .output()
        .expect("run bash");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "README.md block at line {} failed ({}):\n{}\n--- stdout\n{stdout}\n--- stderr\n{}\n{}",
        block.line,
        out.status,
        block.text,
        String::from_utf8_lossy(&out.stderr),
        context()
    );
    stdout
}

/// `program` run through `wrap` (e.g. `nsenter --net=… --`), if any.
pub fn wrapped(wrap: &[String], program: &str) -> Command {
    match wrap.split_first() {
        None => Command::new(program),
        Some((first, rest)) => {
            let mut cmd = Command::new(first);
            cmd.args(rest).arg(program);
            cmd
        }
    }
}

/// PATH with `dirs` in front of the inherited one.
pub fn path_with(dirs: &[&Path]) -> std::ffi::OsString {
    let mut all: Vec<std::path::PathBuf> = dirs.iter().map(|d| d.to_path_buf()).collect();
    if let Some(old) = std::env::var_os("PATH") {
        all.extend(std::env::split_paths(&old));
    }
    std::env::join_paths(all).expect("PATH")
}
