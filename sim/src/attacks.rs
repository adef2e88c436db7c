//! Attacks that go through the node's own boot path rather than the mesh.

use std::path::Path;

use ippoc_node::ExitStatus;
use ippoc_node::boot::{BootOptions, boot_node};
use ippoc_node::config::Config;
use ippoc_node::hardware::{HardwareInfo, StaticProbe};
use ippoc_node::paths::DataDir;

fn machine(host: &str) -> StaticProbe {
    StaticProbe(HardwareInfo {
        cpu_brand: "IPPOC simulated CPU".into(),
        mem_gb: 16,
        hostname: host.into(),
    })
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// Class C: a node is created on one simulated machine, its whole data dir is
/// copied onto another, and the copy is booted there. True when the boot is
/// refused as a clone (exit status 10), as it must be.
pub fn clone_attempt(dir: &Path, n: u32) -> Result<bool, String> {
    let logging = ippoc_node::logging::init("error").map_err(|e| e.to_string())?;
    let config = Config::default();
    let original = DataDir::new(dir.join("original"));
    let create = BootOptions {
        create: true,
        genesis: None,
    };
    let booted = boot_node(
        &original,
        &config,
        &machine(&format!("sim-host-{n}")),
        &logging,
        &create,
    )
    .map_err(|e| format!("the original node did not boot: {e}"))?;
    drop(booted);
    let copy = DataDir::new(dir.join("copy"));
    copy_dir(original.root(), copy.root()).map_err(|e| format!("copying the data dir: {e}"))?;
    let existing = BootOptions {
        create: false,
        genesis: None,
    };
    match boot_node(&copy, &config, &machine("sim-clone-host"), &logging, &existing) {
        Err(e) if e.error.exit_status() == ExitStatus::CloneDetected => Ok(true),
        Err(e) => Err(format!("the clone failed to boot for another reason: {e}")),
        Ok(_) => Ok(false),
    }
}
