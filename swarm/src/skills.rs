//! Skills of the evolution flow (DESIGN §8): a skill package (module, test
//! vectors, declared limits), its simulation with a deterministic risk score,
//! the node's content-addressed store of modules, fetch by hash from peers,
//! and running a skill the DAO deployed.
//!
//! A skill is named by the SHA-256 of its WebAssembly binary (text modules
//! are converted first), the same hash the sandbox caches it under and the
//! EvolutionRegistry lists.

use std::path::{Path, PathBuf};

use ippoc_mesh::{MeshClient, PeerId};
use ippoc_sandbox::{Capability, DryRun, ModuleHash, RunLimits, Sandbox};
use serde::{Deserialize, Serialize};

use crate::fsutil;
use crate::gov_view::GovView;
use crate::sandbox::{LedgerMeter, SandboxRunView};
use crate::{Error, OwnChain};

/// Largest module the store accepts or a peer may send (one sync response carries it whole).
pub const SKILL_BYTES_MAX: usize = 4 << 20;
/// Most test vectors a package may carry.
pub const TESTS_MAX: usize = 256;
/// Fuel a package may declare at most (the sandbox's default run limit).
pub const FUEL_MAX: u64 = 1_000_000_000;

/// The SHA-256 of a module's WebAssembly binary, as 64 hex digits.
pub fn hash_hex(hash: &[u8; 32]) -> String {
    hex::encode(hash)
}

/// Parses 64 hex digits (an optional `0x` is allowed) into a module hash.
pub fn parse_hash(text: &str) -> Result<[u8; 32], Error> {
    let digits = text.trim().trim_start_matches("0x");
    let bytes = hex::decode(digits).map_err(|e| Error::BadInput(format!("module hash {text:?}: {e}")))?;
    bytes
        .try_into()
        .map_err(|_| Error::BadInput(format!("module hash {text:?}: need 32 bytes (64 hex digits)")))
}

/// One test vector: the output a skill must return for an input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestVector {
    /// Input, hex.
    pub input: String,
    /// Expected output, hex.
    pub output: String,
}

/// The TOML manifest of a skill package.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    /// The module file (`.wat` or `.wasm`), relative to the manifest.
    module: PathBuf,
    /// The fuel limit of one run.
    #[serde(default = "default_fuel")]
    fuel: u64,
    /// Capabilities the skill needs.
    #[serde(default)]
    capabilities: Vec<String>,
    /// Test vectors.
    #[serde(default, rename = "test")]
    tests: Vec<TestVector>,
}

fn default_fuel() -> u64 {
    10_000_000
}

/// A skill ready to simulate: the module's binary, its limits and its tests.
#[derive(Debug, Clone)]
pub struct SkillPackage {
    /// The WebAssembly binary.
    pub wasm: Vec<u8>,
    /// Its SHA-256.
    pub hash: [u8; 32],
    /// The fuel limit of one run.
    pub fuel: u64,
    /// Capabilities it needs.
    pub capabilities: Vec<Capability>,
    /// `(input, expected output)` pairs.
    pub tests: Vec<(Vec<u8>, Vec<u8>)>,
}

impl SkillPackage {
    /// Reads a package manifest (TOML: `module`, `fuel`, `capabilities`, `[[test]]`).
    pub fn load(manifest_path: &Path) -> Result<SkillPackage, Error> {
        let refuse = |reason: String| Error::Refused(format!("{}: {reason}", manifest_path.display()));
        let text = String::from_utf8(fsutil::read(manifest_path)?).map_err(|_| refuse("not UTF-8".into()))?;
        let manifest: Manifest = toml::from_str(&text).map_err(|e| refuse(e.to_string().trim().replace('\n', " ")))?;
        let module_path = manifest_path.parent().unwrap_or(Path::new(".")).join(&manifest.module);
        let module = fsutil::read(&module_path)?;
        let capabilities = crate::sandbox::capabilities(&manifest.capabilities)?
            .into_iter()
            .collect::<Vec<_>>();
        let tests = manifest
            .tests
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let decode = |what: &str, s: &str| hex::decode(s).map_err(|e| refuse(format!("test {i} {what}: {e}")));
                Ok((decode("input", &t.input)?, decode("output", &t.output)?))
            })
            .collect::<Result<Vec<_>, Error>>()?;
        SkillPackage::new(&module, manifest.fuel, capabilities, tests).map_err(|e| refuse(e.to_string()))
    }

    /// A package from a module (binary or text) and its declared limits and tests.
    pub fn new(
        module: &[u8],
        fuel: u64,
        capabilities: Vec<Capability>,
        tests: Vec<(Vec<u8>, Vec<u8>)>,
    ) -> Result<SkillPackage, Error> {
        let wasm = wat::parse_bytes(module)
            .map_err(|e| Error::Refused(format!("not a WebAssembly module: {e}")))?
            .into_owned();
        if wasm.len() > SKILL_BYTES_MAX {
            return Err(Error::Refused(format!(
                "module is {} bytes, more than {SKILL_BYTES_MAX}",
                wasm.len()
            )));
        }
        if !(1..=FUEL_MAX).contains(&fuel) {
            return Err(Error::Refused(format!("fuel must be in 1..={FUEL_MAX}")));
        }
        if tests.len() > TESTS_MAX {
            return Err(Error::Refused(format!("at most {TESTS_MAX} test vectors")));
        }
        Ok(SkillPackage {
            hash: ModuleHash::of(&wasm).0,
            wasm,
            fuel,
            capabilities,
            tests,
        })
    }
}

/// What a simulation found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Simulation {
    /// The module's hash, hex.
    pub module: String,
    /// Whether every test passed (and there was at least one).
    pub ok: bool,
    /// Tests run.
    pub tests: usize,
    /// Tests passed.
    pub passed: usize,
    /// What went wrong, one line per failed test.
    pub failures: Vec<String>,
    /// The most fuel one test burnt.
    pub fuel_max: u64,
    /// The declared fuel limit.
    pub fuel_limit: u64,
    /// Deterministic risk score, basis points (10000 = certain harm).
    pub risk_bps: u32,
}

/// The risk score of a skill that passed its tests, basis points.
///
/// It is a function of counted quantities only, so every node that simulates
/// the same package gets the same score: how close the heaviest test came to
/// the declared fuel limit (up to 6000), each capability (the clock breaks
/// determinism: 2500; the log only costs space: 500), and the module's size
/// against the largest accepted (up to 1000).
pub fn risk_score(fuel_max: u64, fuel_limit: u64, capabilities: &[Capability], wasm_len: usize) -> u32 {
    let fuel = u128::from(fuel_max) * 6000 / u128::from(fuel_limit.max(1));
    let caps: u128 = capabilities
        .iter()
        .map(|c| match c {
            Capability::Clock => 2500,
            Capability::Log => 500,
        })
        .sum();
    let size = (wasm_len as u128) * 1000 / (SKILL_BYTES_MAX as u128);
    (fuel + caps + size).min(10_000) as u32
}

/// Runs every test vector of `package` in `sandbox`, paid by nobody.
pub fn simulate(sandbox: &Sandbox, package: &SkillPackage) -> Simulation {
    let limits = RunLimits {
        fuel: package.fuel,
        ..RunLimits::default()
    };
    let capabilities = package.capabilities.iter().copied().collect();
    let meter = DryRun {
        fuel_budget: package.fuel,
    };
    let mut failures = Vec::new();
    let mut fuel_max = 0;
    for (i, (input, expected)) in package.tests.iter().enumerate() {
        match sandbox.run_module(&package.wasm, &capabilities, input, &limits, &meter) {
            Ok(r) => {
                fuel_max = fuel_max.max(r.fuel_used);
                if &r.output != expected {
                    failures.push(format!(
                        "test {i}: expected {}, got {}",
                        hex::encode(expected),
                        hex::encode(&r.output)
                    ));
                }
            }
            Err(f) => {
                fuel_max = fuel_max.max(f.fuel_used);
                failures.push(format!("test {i}: {}", f.kind));
            }
        }
    }
    if package.tests.is_empty() {
        failures.push("no test vectors: a skill without tests cannot be verified".into());
    }
    let ok = failures.is_empty();
    Simulation {
        module: hash_hex(&package.hash),
        ok,
        tests: package.tests.len(),
        passed: package.tests.len().saturating_sub(failures.len()),
        fuel_max,
        fuel_limit: package.fuel,
        risk_bps: if ok {
            risk_score(fuel_max, package.fuel, &package.capabilities, package.wasm.len())
        } else {
            10_000
        },
        failures,
    }
}

/// The node's modules by content hash: `<dir>/<sha256 hex>.wasm`. Files are
/// written atomically and checked against their name when read, so a
/// damaged file is never run: it reads as absent and is fetched again.
#[derive(Debug, Clone)]
pub struct SkillStore {
    dir: PathBuf,
}

impl SkillStore {
    /// The store in `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> SkillStore {
        SkillStore { dir: dir.into() }
    }

    fn path(&self, hash: &[u8; 32]) -> PathBuf {
        self.dir.join(format!("{}.wasm", hash_hex(hash)))
    }

    /// Stores a WebAssembly binary; its hash.
    pub fn put(&self, wasm: &[u8]) -> Result<[u8; 32], Error> {
        if wasm.len() > SKILL_BYTES_MAX {
            return Err(Error::Refused(format!("module larger than {SKILL_BYTES_MAX} bytes")));
        }
        let hash = ModuleHash::of(wasm).0;
        std::fs::create_dir_all(&self.dir).map_err(|e| Error::io("cannot create", &self.dir, e))?;
        fsutil::write_atomic(&self.path(&hash), wasm, 0o644)?;
        Ok(hash)
    }

    /// The module with this hash, if the store holds an intact copy.
    pub fn get(&self, hash: &[u8; 32]) -> Option<Vec<u8>> {
        let path = self.path(hash);
        let bytes = std::fs::read(&path).ok()?;
        if ModuleHash::of(&bytes).0 == *hash {
            Some(bytes)
        } else {
            tracing::warn!(path = %path.display(), "stored module does not match its hash; ignoring it");
            None
        }
    }

    /// Whether the store holds an intact copy.
    pub fn has(&self, hash: &[u8; 32]) -> bool {
        self.get(hash).is_some()
    }
}

/// Asks `peer` for the module `hash`; only bytes that hash to it are returned.
pub async fn fetch_from(client: &MeshClient, peer: PeerId, hash: &[u8; 32]) -> Result<Vec<u8>, FetchError> {
    use crate::protocol::{SyncRequest, SyncResponse, ask};
    let unavailable = FetchError::Unavailable;
    let (response, _) = ask(client, peer, &SyncRequest::Module(*hash))
        .await
        .map_err(|e| unavailable(e.to_string()))?;
    match response {
        SyncResponse::Module(Some(wasm)) if wasm.len() <= SKILL_BYTES_MAX => {
            if ModuleHash::of(&wasm).0 == *hash {
                Ok(wasm)
            } else {
                Err(FetchError::Misbehaved(format!(
                    "sent a module that does not hash to {}",
                    hash_hex(hash)
                )))
            }
        }
        SyncResponse::Module(Some(_)) => Err(FetchError::Misbehaved(format!(
            "sent a module over {SKILL_BYTES_MAX} bytes"
        ))),
        SyncResponse::Module(None) => Err(unavailable(format!("peer {peer} does not hold {}", hash_hex(hash)))),
        SyncResponse::Error(e) => Err(unavailable(format!("peer {peer}: {e}"))),
        _ => Err(unavailable(format!("peer {peer} answered something else"))),
    }
}

/// Why a module fetch failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The peer answered with bytes no honest node sends: an honest store
    /// re-checks every module's hash on read, so wrong or oversized bytes are
    /// the peer's doing.
    #[error("{0}")]
    Misbehaved(String),
    /// The peer could not help: it lacks the module, is unreachable, or answered an error.
    #[error("{0}")]
    Unavailable(String),
}

/// `POST /v1/skills/run`: run a deployed skill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkillRunRequest {
    /// The module's SHA-256, hex.
    pub module: String,
    /// The input bytes, hex-encoded.
    #[serde(default)]
    pub input_hex: String,
    /// Fuel limit [default: the sandbox's].
    #[serde(default)]
    pub fuel: Option<u64>,
    /// Capabilities granted (`log`, `clock_ms`).
    #[serde(default)]
    pub capabilities: Vec<String>,
}

/// Why a deployed skill may not run here.
fn runnable(view: &GovView, store: &SkillStore, hash: &[u8; 32]) -> Result<Vec<u8>, Error> {
    let key = hash_hex(hash);
    if view.revoked.contains(&key) {
        return Err(Error::Refused(format!("skill {key} was revoked by the DAO")));
    }
    if !view.deployed.contains_key(&key) {
        return Err(Error::Refused(format!(
            "skill {key} is not deployed by the DAO; only deployed skills run in production"
        )));
    }
    store
        .get(hash)
        .ok_or_else(|| Error::Refused(format!("skill {key} is deployed but not fetched from peers yet")))
}

/// Runs the deployed skill `hash` on `input`, paid from the node's wallet.
#[allow(clippy::too_many_arguments)]
pub fn run_deployed(
    sandbox: &Sandbox,
    chain: &OwnChain,
    view: &GovView,
    store: &SkillStore,
    hash: &[u8; 32],
    input: &[u8],
    fuel: Option<u64>,
    capabilities: &[String],
) -> Result<SandboxRunView, Error> {
    let wasm = runnable(view, store, hash)?;
    let meter = LedgerMeter { chain, bounty: None };
    let caps = crate::sandbox::capabilities(capabilities)?;
    Ok(crate::sandbox::run(
        sandbox,
        &wasm,
        input,
        fuel,
        &caps,
        &meter,
        &chain.ledger().parameters().1,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ECHO: &str = include_str!("../../examples/skills/echo.wat");
    const LOOP: &str = include_str!("../../examples/skills/toxic/loop.wat");

    fn sandbox() -> Sandbox {
        Sandbox::new(
            ippoc_sandbox::SandboxConfig::default(),
            ippoc_sandbox::ModuleCache::new(None, [0; 32]),
        )
        .unwrap()
    }

    fn echo(tests: Vec<(Vec<u8>, Vec<u8>)>) -> SkillPackage {
        SkillPackage::new(ECHO.as_bytes(), 1_000_000, vec![], tests).unwrap()
    }

    #[test]
    fn a_correct_skill_passes_with_the_same_risk_every_time() {
        let sb = sandbox();
        let p = echo(vec![(b"hi".to_vec(), b"hi".to_vec()), (vec![], vec![])]);
        let a = simulate(&sb, &p);
        assert!(a.ok, "{a:?}");
        assert_eq!((a.tests, a.passed), (2, 2));
        assert!(a.risk_bps < 10_000);
        assert_eq!(simulate(&sb, &p), a, "simulation is deterministic");
        // The hash is the binary's, whether the package was given text or binary.
        let binary = wat::parse_str(ECHO).unwrap();
        assert_eq!(echo(vec![]).hash, ModuleHash::of(&binary).0);
        assert_eq!(
            SkillPackage::new(&binary, 1_000_000, vec![], vec![]).unwrap().hash,
            p.hash
        );
    }

    #[test]
    fn wrong_outputs_traps_and_missing_tests_fail_with_maximal_risk() {
        let sb = sandbox();
        let wrong = simulate(&sb, &echo(vec![(b"a".to_vec(), b"b".to_vec())]));
        assert!(!wrong.ok && wrong.risk_bps == 10_000);
        assert!(wrong.failures[0].contains("expected 62, got 61"), "{wrong:?}");
        let none = simulate(&sb, &echo(vec![]));
        assert!(!none.ok && none.failures[0].contains("no test vectors"));
        let looping = SkillPackage::new(LOOP.as_bytes(), 100_000, vec![], vec![(vec![], vec![])]).unwrap();
        let s = simulate(&sb, &looping);
        assert!(!s.ok && s.failures[0].contains("out of fuel"), "{s:?}");
        assert_eq!(s.fuel_max, 100_000);
    }

    #[test]
    fn risk_grows_with_fuel_capabilities_and_size() {
        let base = risk_score(0, 100, &[], 0);
        assert_eq!(base, 0);
        assert_eq!(risk_score(100, 100, &[], 0), 6000);
        assert_eq!(risk_score(50, 100, &[Capability::Clock], 0), 5500);
        assert_eq!(
            risk_score(100, 100, &[Capability::Clock, Capability::Log], SKILL_BYTES_MAX),
            10_000
        );
    }

    #[test]
    fn bad_packages_are_refused_with_a_reason() {
        assert!(SkillPackage::new(b"(module", 1, vec![], vec![]).is_err());
        assert!(SkillPackage::new(ECHO.as_bytes(), 0, vec![], vec![]).is_err());
        assert!(SkillPackage::new(ECHO.as_bytes(), FUEL_MAX + 1, vec![], vec![]).is_err());
        let dir = tempfile::tempdir().unwrap();
        let m = dir.path().join("skill.toml");
        std::fs::write(&m, "module = \"missing.wat\"\n").unwrap();
        assert!(SkillPackage::load(&m).unwrap_err().to_string().contains("missing.wat"));
        std::fs::write(dir.path().join("echo.wat"), ECHO).unwrap();
        std::fs::write(&m, "module = \"echo.wat\"\n[[test]]\ninput = \"zz\"\noutput = \"\"\n").unwrap();
        assert!(SkillPackage::load(&m).unwrap_err().to_string().contains("test 0 input"));
        std::fs::write(&m, "module = \"echo.wat\"\nfule = 3\n").unwrap();
        assert!(SkillPackage::load(&m).unwrap_err().to_string().contains("fule"));
        std::fs::write(&m, "module = \"echo.wat\"\ncapabilities = [\"net\"]\n").unwrap();
        assert!(SkillPackage::load(&m).is_err());
    }

    #[test]
    fn the_store_never_returns_bytes_that_do_not_match_their_name() {
        let dir = tempfile::tempdir().unwrap();
        let store = SkillStore::new(dir.path().join("skills"));
        let wasm = wat::parse_str(ECHO).unwrap();
        let hash = store.put(&wasm).unwrap();
        assert_eq!(store.get(&hash).as_deref(), Some(&wasm[..]));
        assert!(!store.has(&[7; 32]));
        // Damage the file: it reads as absent, and a fresh put repairs it.
        let path = dir.path().join("skills").join(format!("{}.wasm", hash_hex(&hash)));
        std::fs::write(&path, b"not the module").unwrap();
        assert_eq!(store.get(&hash), None);
        store.put(&wasm).unwrap();
        assert!(store.has(&hash));
    }

    #[test]
    fn only_deployed_unrevoked_fetched_skills_are_runnable() {
        let dir = tempfile::tempdir().unwrap();
        let store = SkillStore::new(dir.path());
        let hash = store.put(&wat::parse_str(ECHO).unwrap()).unwrap();
        let mut view = GovView::default();
        let err = runnable(&view, &store, &hash).unwrap_err().to_string();
        assert!(err.contains("not deployed"), "{err}");
        view.deployed
            .insert(hash_hex(&hash), crate::gov_view::Deployment { proposal: 1, block: 3 });
        assert!(runnable(&view, &store, &hash).is_ok());
        assert!(runnable(&view, &store, &[9; 32]).is_err());
        view.deployed.insert(
            hash_hex(&[9; 32]),
            crate::gov_view::Deployment { proposal: 2, block: 4 },
        );
        assert!(
            runnable(&view, &store, &[9; 32])
                .unwrap_err()
                .to_string()
                .contains("not fetched")
        );
        view.revoked.insert(hash_hex(&hash));
        assert!(
            runnable(&view, &store, &hash)
                .unwrap_err()
                .to_string()
                .contains("revoked")
        );
    }
}
