//! The README's researcher walkthrough, run word for word: its scenario file
//! saved under the name the README gives, `ippoc-sim` on PATH, a fresh
//! working directory.

#[path = "../../node/tests/common/readme.rs"]
mod readme;

use std::path::Path;

#[test]
fn the_researcher_walkthrough_runs_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_ippoc-sim")).parent().unwrap();
    let path = readme::path_with(&[bin]);
    let mut outputs = String::new();
    for block in readme::flow("researcher") {
        outputs.push_str(&readme::run_block(&block, dir.path(), &path, &[], &String::new));
    }
    // Every run the walkthrough made wrote its report, and passed (exit 0,
    // else run_block failed above).
    let runs: Vec<_> = walk(dir.path())
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "report.json"))
        .collect();
    assert!(
        !runs.is_empty(),
        "no report.json under {}:\n{outputs}",
        dir.path().display()
    );
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
