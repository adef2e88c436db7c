//! Precompiled modules on disk, addressed by the SHA-256 of the module bytes.
//!
//! Loading a precompiled artifact skips validation and trusts its machine
//! code, so an entry is used only if it authenticates: each file carries an
//! HMAC-SHA-256 (under a secret key of this node) over the module hash and
//! the artifact. A corrupt entry (bit rot, truncation) or a foreign one (put
//! there by anyone without the key, or built by another engine version) is
//! detected, removed and recompiled — never executed.
//!
//! File: `magic "IPPOCCW1" ‖ module sha256 (32) ‖ hmac (32) ‖ wasmtime artifact`.

use std::fmt;
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use wasmtime::{Engine, Module};

const MAGIC: &[u8; 8] = b"IPPOCCW1";

/// SHA-256 of a module's binary: the module's name everywhere.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModuleHash(pub [u8; 32]);

impl ModuleHash {
    /// Hash of `wasm` (binary form).
    pub fn of(wasm: &[u8]) -> ModuleHash {
        ModuleHash(Sha256::digest(wasm).into())
    }
}

impl fmt::Display for ModuleHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for ModuleHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ModuleHash({})", &hex::encode(self.0)[..12])
    }
}

/// Where a module came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Loaded from an authenticated cache entry.
    Hit,
    /// Compiled (no entry, or the entry was rejected and replaced).
    Compiled,
}

/// The on-disk cache (or none, for one-off runs).
pub struct ModuleCache {
    dir: Option<PathBuf>,
    key: [u8; 32],
}

impl ModuleCache {
    /// A cache in `dir` authenticated with `key`; `None` caches nothing.
    pub fn new(dir: Option<PathBuf>, key: [u8; 32]) -> ModuleCache {
        ModuleCache { dir, key }
    }

    fn path(&self, hash: &ModuleHash) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join(format!("{hash}.cwasm")))
    }

    fn mac(&self, hash: &ModuleHash, artifact: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length works for HMAC");
        mac.update(&hash.0);
        mac.update(artifact);
        mac
    }

    /// The cached module for `hash`, if an authentic entry exists. Anything
    /// else is removed so the next compile replaces it.
    pub fn load(&self, engine: &Engine, hash: &ModuleHash) -> Option<Module> {
        let path = self.path(hash)?;
        let bytes = std::fs::read(&path).ok()?;
        match self.authenticate(hash, &bytes) {
            Ok(artifact) => {
                // SAFETY: `artifact` is exactly what `Module::serialize` produced
                // in `store` below — its HMAC under this node's secret key
                // verified — and wasmtime additionally refuses artifacts built
                // by another version or configuration.
                #[allow(unsafe_code)]
                let loaded = unsafe { Module::deserialize(engine, artifact) };
                match loaded {
                    Ok(module) => return Some(module),
                    Err(e) => reject(&path, &format!("wasmtime refused the artifact: {e}")),
                }
            }
            Err(reason) => reject(&path, reason),
        }
        None
    }

    fn authenticate<'a>(&self, hash: &ModuleHash, bytes: &'a [u8]) -> Result<&'a [u8], &'static str> {
        let rest = bytes.strip_prefix(MAGIC.as_slice()).ok_or("not a cache entry")?;
        if rest.len() < 64 {
            return Err("truncated");
        }
        if rest[..32] != hash.0 {
            return Err("entry of another module");
        }
        let artifact = &rest[64..];
        self.mac(hash, artifact)
            .verify_slice(&rest[32..64])
            .map_err(|_| "authentication failed (corrupt or foreign)")?;
        Ok(artifact)
    }

    /// Writes `module`'s artifact for `hash` (temp file + rename). Failures
    /// only cost a recompile later, so they are logged, not returned.
    pub fn store(&self, hash: &ModuleHash, module: &Module) {
        let Some(path) = self.path(hash) else { return };
        let result = (|| -> Result<(), String> {
            let artifact = module.serialize().map_err(|e| e.to_string())?;
            let mut file = MAGIC.to_vec();
            file.extend_from_slice(&hash.0);
            file.extend_from_slice(&self.mac(hash, &artifact).finalize().into_bytes());
            file.extend_from_slice(&artifact);
            write_atomic(&path, &file).map_err(|e| e.to_string())
        })();
        if let Err(e) = result {
            tracing::warn!(module = %hash, "could not cache the compiled module: {e}");
        }
    }
}

fn reject(path: &Path, reason: &str) {
    tracing::warn!(path = %path.display(), "module cache entry rejected ({reason}); it will be recompiled");
    let _ = std::fs::remove_file(path);
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}
