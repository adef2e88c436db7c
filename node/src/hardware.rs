//! Hardware binding: the facts a node is bound to and the fingerprint over them.
//!
//! The fingerprint is SHA-256 over a versioned, NUL-separated encoding of the
//! CPU brand string, the memory size in whole GiB (rounded to nearest, so that
//! firmware reservations do not move it) and the hostname:
//!
//! ```text
//! sha256("ippoc-hw-v1" 0x00 cpu_brand 0x00 decimal(mem_gb) 0x00 hostname)
//! ```
//!
//! It is a tripwire, not a proof: it catches a data dir copied or restored
//! onto another machine (VM template cloning, a backup restored twice), which
//! would otherwise run two nodes with one key and fork its chain. Someone who
//! holds the key and means to cheat can fake any local fact; the ledger's
//! equivocation evidence is what catches them.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::NodeError;
use ippoc_swarm::fsutil;

/// Facts of the machine a node runs on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HardwareInfo {
    /// CPU brand string of the first CPU, trimmed ("unknown" if the OS has none).
    pub cpu_brand: String,
    /// Total RAM in GiB, rounded to the nearest GiB.
    pub mem_gb: u64,
    /// The machine's hostname.
    pub hostname: String,
}

/// Source of [`HardwareInfo`]: the real machine, or a simulated one.
pub trait HardwareProbe: Send + Sync {
    /// Reads the facts of the hardware.
    fn probe(&self) -> Result<HardwareInfo, NodeError>;
}

/// The production probe: reads the machine through `sysinfo`.
#[derive(Debug, Default, Clone, Copy)]
pub struct SysinfoProbe;

impl HardwareProbe for SysinfoProbe {
    fn probe(&self) -> Result<HardwareInfo, NodeError> {
        use sysinfo::{CpuRefreshKind, MemoryRefreshKind, RefreshKind, System};
        let system = System::new_with_specifics(
            RefreshKind::nothing()
                .with_cpu(CpuRefreshKind::nothing())
                .with_memory(MemoryRefreshKind::nothing().with_ram()),
        )
        .map_err(|e| NodeError::HardwareProbe(e.to_string()))?;
        let cpu_brand = system
            .cpus()
            .first()
            .map(|cpu| cpu.brand().trim().to_string())
            .filter(|brand| !brand.is_empty())
            .unwrap_or_else(|| "unknown".to_string());
        let hostname = System::host_name().map_err(|e| NodeError::HardwareProbe(format!("hostname: {e}")))?;
        Ok(HardwareInfo {
            cpu_brand,
            mem_gb: round_to_gib(system.total_memory()),
            hostname,
        })
    }
}

/// A probe that answers fixed facts: simulated hardware for tests and the simulator.
#[derive(Debug, Clone)]
pub struct StaticProbe(pub HardwareInfo);

impl HardwareProbe for StaticProbe {
    fn probe(&self) -> Result<HardwareInfo, NodeError> {
        Ok(self.0.clone())
    }
}

fn round_to_gib(bytes: u64) -> u64 {
    const GIB: u64 = 1 << 30;
    bytes.saturating_add(GIB / 2) / GIB
}

/// Current version of the fingerprint encoding.
pub const FINGERPRINT_VERSION: u32 = 1;

/// The content of fingerprint.json: the hash and, for the operator's benefit,
/// the facts it was computed from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fingerprint {
    /// Encoding version ([`FINGERPRINT_VERSION`]).
    pub version: u32,
    /// Lowercase hex SHA-256 of the encoded facts.
    pub hash: String,
    /// The facts hashed.
    pub hardware: HardwareInfo,
}

impl Fingerprint {
    /// The fingerprint of `info`.
    pub fn of(info: &HardwareInfo) -> Self {
        Fingerprint {
            version: FINGERPRINT_VERSION,
            hash: hex::encode(hash(info)),
            hardware: info.clone(),
        }
    }

    /// The hash as hex.
    pub fn hash_hex(&self) -> &str {
        &self.hash
    }

    /// Reads and checks a fingerprint.json: it must parse, have a known version,
    /// and its hash must match its own facts (a hand-edited file is rejected).
    pub fn read(path: &Path) -> Result<Self, NodeError> {
        let corrupt = |reason: String| NodeError::FingerprintCorrupt {
            path: path.to_path_buf(),
            reason,
        };
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(corrupt(
                    "missing; the node cannot prove which hardware it belongs to".into(),
                ));
            }
            Err(e) => return Err(NodeError::io("cannot read", path, e)),
        };
        let fp: Fingerprint = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
        if fp.version != FINGERPRINT_VERSION {
            return Err(corrupt(format!("unknown version {}", fp.version)));
        }
        if fp.hash != hex::encode(hash(&fp.hardware)) {
            return Err(corrupt("the hash does not match the recorded hardware facts".into()));
        }
        Ok(fp)
    }

    /// Writes fingerprint.json atomically.
    pub fn write(&self, path: &Path) -> Result<(), NodeError> {
        let mut json = serde_json::to_vec_pretty(self).expect("a fingerprint always serializes");
        json.push(b'\n');
        Ok(fsutil::write_atomic(path, &json, 0o644)?)
    }

    /// Checks that `current` hardware is the hardware this fingerprint records.
    pub fn verify(&self, current: &HardwareInfo) -> Result<(), NodeError> {
        if self.hash == hex::encode(hash(current)) {
            return Ok(());
        }
        Err(NodeError::CloneDetected {
            changes: describe_changes(&self.hardware, current),
        })
    }
}

/// "what was -> what is" for each differing fact.
pub fn describe_changes(was: &HardwareInfo, now: &HardwareInfo) -> String {
    let mut changes = Vec::new();
    if was.cpu_brand != now.cpu_brand {
        changes.push(format!("cpu {:?} -> {:?}", was.cpu_brand, now.cpu_brand));
    }
    if was.mem_gb != now.mem_gb {
        changes.push(format!("memory {} GB -> {} GB", was.mem_gb, now.mem_gb));
    }
    if was.hostname != now.hostname {
        changes.push(format!("hostname {:?} -> {:?}", was.hostname, now.hostname));
    }
    if changes.is_empty() {
        changes.push("fingerprint encoding changed".into());
    }
    changes.join(", ")
}

fn hash(info: &HardwareInfo) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"ippoc-hw-v1\0");
    h.update(info.cpu_brand.as_bytes());
    h.update(b"\0");
    h.update(info.mem_gb.to_string().as_bytes());
    h.update(b"\0");
    h.update(info.hostname.as_bytes());
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(host: &str) -> HardwareInfo {
        HardwareInfo {
            cpu_brand: "AMD EPYC 7B13".into(),
            mem_gb: 24,
            hostname: host.into(),
        }
    }

    #[test]
    fn hash_matches_the_documented_test_vector() {
        // docs/identity.md publishes this vector; recompute it with
        // python3 -c "import hashlib; print(hashlib.sha256(b'ippoc-hw-v1\x00AMD EPYC 7B13\x0024\x00node-a').hexdigest())"
        assert_eq!(
            Fingerprint::of(&info("node-a")).hash,
            "49044f1f77809dce3db5cd5a85d7b4becec4e3d628284ede2ac602443885075a"
        );
    }

    #[test]
    fn mismatch_is_a_clone_and_names_what_changed() {
        let fp = Fingerprint::of(&info("node-a"));
        fp.verify(&info("node-a")).unwrap();
        let err = fp.verify(&info("node-b")).unwrap_err();
        assert!(matches!(err, NodeError::CloneDetected { .. }));
        let text = err.to_string();
        assert!(text.contains("hardware fingerprint check failed"), "{text}");
        assert!(text.contains(r#"hostname "node-a" -> "node-b""#), "{text}");
        assert!(text.contains("ippoc rebind --confirm"), "{text}");
    }

    #[test]
    fn hand_edited_fingerprint_file_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fingerprint.json");
        Fingerprint::of(&info("node-a")).write(&path).unwrap();
        assert_eq!(Fingerprint::read(&path).unwrap(), Fingerprint::of(&info("node-a")));
        let edited = std::fs::read_to_string(&path).unwrap().replace("node-a", "node-b");
        std::fs::write(&path, edited).unwrap();
        assert!(matches!(
            Fingerprint::read(&path),
            Err(NodeError::FingerprintCorrupt { .. })
        ));
    }

    #[test]
    fn memory_rounds_to_the_nearest_gib() {
        assert_eq!(round_to_gib(24 * (1 << 30) - 100 * (1 << 20)), 24);
        assert_eq!(round_to_gib(24 * (1 << 30) + 100 * (1 << 20)), 24);
        assert_eq!(round_to_gib(0), 0);
    }

    #[test]
    fn sysinfo_probe_reads_this_machine() {
        let facts = SysinfoProbe.probe().unwrap();
        assert!(facts.mem_gb > 0);
        assert!(!facts.hostname.is_empty());
        assert_eq!(
            SysinfoProbe.probe().unwrap(),
            facts,
            "the probe must be stable between calls"
        );
    }
}
