//! The node's Ed25519 identity, bound to a node directory and to its hardware.
//!
//! # NodeID
//! A NodeID *is* the node's 32-byte Ed25519 public key, so anyone holding a
//! NodeID can check the node's signatures without a lookup. Its textual form is
//! the 64 lowercase hexadecimal digits of those bytes (no prefix); it names the
//! node's directory `data/nodes/<NodeID>/`. The libp2p PeerId is derived from the
//! same key.
//!
//! # identity.key
//! The secret key is stored as an unencrypted PKCS#8 v1 PEM document
//! (`-----BEGIN PRIVATE KEY-----`, RFC 8410), readable with
//! `openssl pkey -in identity.key -noout -text`. Mode 0600, written atomically.

use std::fmt;
use std::fs;

use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};

use crate::error::NodeError;
use crate::hardware::{Fingerprint, HardwareProbe};
use crate::paths::{DataDir, NODE_SUBDIRS, NodePaths, STAGING_PREFIX};
use ippoc_swarm::fsutil::{self, SECRET_FILE_MODE};

/// Length of the admin API token in random bytes (hex-encoded on disk).
pub const API_TOKEN_BYTES: usize = 32;

pub use ippoc_economy::NodeId;

/// A loaded node identity: the signing key and where the node lives.
pub struct Identity {
    signing_key: SigningKey,
    node_id: NodeId,
    paths: NodePaths,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secret key.
        f.debug_struct("Identity")
            .field("node_id", &self.node_id)
            .field("paths", &self.paths)
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// The NodeID.
    pub fn node_id(&self) -> NodeId {
        self.node_id
    }
    /// The node directory's paths.
    pub fn paths(&self) -> &NodePaths {
        &self.paths
    }
    /// The secret signing key.
    pub fn signing_key(&self) -> &SigningKey {
        &self.signing_key
    }
}

/// The result of [`load_or_create_identity`].
#[derive(Debug)]
pub struct LoadedIdentity {
    /// The identity.
    pub identity: Identity,
    /// True when this call created it (first boot).
    pub created: bool,
}

/// Finds the one node of `data_dir`, or creates it if there is none.
///
/// Creation is atomic: the whole node directory (layout, key, fingerprint of
/// `probe`'s hardware, API token) is assembled under `nodes/.staging-*`, fsynced
/// and renamed into place, so a crash leaves either no node or a complete one.
/// Staging leftovers of an earlier crash are removed. Loading checks that the
/// key parses and matches the directory's NodeID, and recreates missing empty
/// subdirectories; it does not check the fingerprint or permissions (later boot
/// steps do).
pub fn load_or_create_identity(data_dir: &DataDir, probe: &dyn HardwareProbe) -> Result<LoadedIdentity, NodeError> {
    let nodes = data_dir.nodes();
    fsutil::create_private_dir(data_dir.root())?;
    fsutil::create_private_dir(&nodes)?;
    match at_most_one(data_dir, find_node_dirs(data_dir, true)?)? {
        None => Ok(LoadedIdentity {
            identity: create_identity(data_dir, probe)?,
            created: true,
        }),
        Some(id) => Ok(LoadedIdentity {
            identity: load_identity(data_dir, id)?,
            created: false,
        }),
    }
}

/// Loads the one existing node of `data_dir`; never creates or cleans anything,
/// so it is safe while a daemon runs.
pub fn load_existing_identity(data_dir: &DataDir) -> Result<Identity, NodeError> {
    load_identity(data_dir, find_node_id(data_dir)?)
}

/// The paths of the one existing node of `data_dir`, without reading its key.
pub fn find_node(data_dir: &DataDir) -> Result<NodePaths, NodeError> {
    Ok(data_dir.node(&find_node_id(data_dir)?))
}

fn find_node_id(data_dir: &DataDir) -> Result<NodeId, NodeError> {
    at_most_one(data_dir, find_node_dirs(data_dir, false)?)?.ok_or_else(|| NodeError::NotInitialized {
        data_dir: data_dir.root().to_path_buf(),
    })
}

/// One data dir holds one node: more is an error, never a guess.
fn at_most_one(data_dir: &DataDir, ids: Vec<NodeId>) -> Result<Option<NodeId>, NodeError> {
    match ids.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        many => Err(NodeError::MultipleIdentities {
            nodes_dir: data_dir.nodes(),
            count: many.len(),
            ids: many.iter().map(NodeId::to_string).collect::<Vec<_>>().join(", "),
        }),
    }
}

/// Removes a node directory created by this process, as one atomic step
/// (rename out of the way, then delete), so that a failed first boot leaves the
/// data dir as it found it.
pub fn remove_created_node(identity: &Identity) -> Result<(), NodeError> {
    let root = identity.paths().root();
    let parent = root.parent().unwrap_or(root);
    let doomed = parent.join(format!("{STAGING_PREFIX}{}", fsutil::random_hex(8)));
    fs::rename(root, &doomed).map_err(|e| NodeError::io("cannot remove", root, e))?;
    fsutil::sync_dir(parent)?;
    fs::remove_dir_all(&doomed).map_err(|e| NodeError::io("cannot remove", &doomed, e))
}

/// NodeIDs with a directory under `nodes/`; rejects entries that are neither a
/// node nor a staging leftover. Staging leftovers are skipped, and removed if
/// `clean_staging` (only under the data-dir lock: otherwise they may be a
/// creation in progress).
fn find_node_dirs(data_dir: &DataDir, clean_staging: bool) -> Result<Vec<NodeId>, NodeError> {
    let nodes = data_dir.nodes();
    let entries = match fs::read_dir(&nodes) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(NodeError::io("cannot list", &nodes, e)),
    };
    let mut ids = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| NodeError::io("cannot list", &nodes, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if name.starts_with(STAGING_PREFIX) {
            if !clean_staging {
                continue;
            }
            // A crash interrupted a creation or a removal; by construction a
            // staging directory was never a live node.
            tracing::warn!(path = %path.display(), "removing an incomplete node directory left by a crash");
            fs::remove_dir_all(&path).map_err(|e| NodeError::io("cannot remove", &path, e))?;
            continue;
        }
        match name.parse::<NodeId>() {
            Ok(id) if path.is_dir() => ids.push(id),
            _ => {
                return Err(NodeError::IdentityCorrupt {
                    path,
                    reason: "unexpected entry in the nodes directory (expected only <NodeID> directories)".into(),
                });
            }
        }
    }
    ids.sort();
    Ok(ids)
}

fn create_identity(data_dir: &DataDir, probe: &dyn HardwareProbe) -> Result<Identity, NodeError> {
    let fingerprint = Fingerprint::of(&probe.probe()?);
    let seed: [u8; 32] = fsutil::random_bytes(32).try_into().expect("32 bytes asked");
    let signing_key = SigningKey::from_bytes(&seed);
    let node_id = NodeId::from_bytes(signing_key.verifying_key().to_bytes());

    let nodes = data_dir.nodes();
    let staging = NodePaths::new(nodes.join(format!("{STAGING_PREFIX}{}", fsutil::random_hex(8))));
    let built = (|| {
        fsutil::create_private_dir(staging.root())?;
        for sub in NODE_SUBDIRS {
            fsutil::create_private_dir(&staging.root().join(sub))?;
        }
        // PKCS#8 v1 (the secret key alone): v2, with the public key beside
        // it, is what ed25519-dalek writes by default, and OpenSSL 3.0 and
        // Python's cryptography refuse it. The public key is derived on load.
        let pem = ed25519_dalek::pkcs8::KeypairBytes {
            secret_key: signing_key.to_bytes(),
            public_key: None,
        }
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| NodeError::IdentityCorrupt {
            path: staging.identity_key(),
            reason: format!("cannot encode key: {e}"),
        })?;
        fsutil::write_atomic(&staging.identity_key(), pem.as_bytes(), SECRET_FILE_MODE)?;
        fingerprint.write(&staging.fingerprint())?;
        write_api_token(&staging)?;
        fsutil::sync_dir(staging.root())?;
        let target = data_dir.node(&node_id);
        fs::rename(staging.root(), target.root())
            .map_err(|e| NodeError::io("cannot move new node into place", target.root(), e))?;
        fsutil::sync_dir(&nodes)?;
        Ok(target)
    })();
    match built {
        Ok(paths) => {
            tracing::info!(node_id = %node_id, fingerprint = %fingerprint.hash_hex(), "created a new node identity");
            Ok(Identity {
                signing_key,
                node_id,
                paths,
            })
        }
        Err(e) => {
            let _ = fs::remove_dir_all(staging.root());
            Err(e)
        }
    }
}

fn load_identity(data_dir: &DataDir, node_id: NodeId) -> Result<Identity, NodeError> {
    let paths = data_dir.node(&node_id);
    let key_path = paths.identity_key();
    let corrupt = |reason: String| NodeError::IdentityCorrupt {
        path: key_path.clone(),
        reason,
    };
    let bytes = match fs::read(&key_path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(corrupt("the key file is missing".into()));
        }
        Err(e) => return Err(NodeError::io("cannot read", &key_path, e)),
    };
    let pem = std::str::from_utf8(&bytes).map_err(|_| corrupt("not a PEM text file".into()))?;
    let signing_key = SigningKey::from_pkcs8_pem(pem).map_err(|e| {
        corrupt(format!(
            "not a valid Ed25519 PKCS#8 PEM key ({e}); truncated or damaged? restore it from backup"
        ))
    })?;
    let derived = NodeId::from_bytes(signing_key.verifying_key().to_bytes());
    if derived != node_id {
        return Err(corrupt(format!(
            "the key belongs to node {derived}, not to the directory's node {node_id}"
        )));
    }
    for sub in NODE_SUBDIRS {
        fsutil::create_private_dir(&paths.root().join(sub))?;
    }
    Ok(Identity {
        signing_key,
        node_id,
        paths,
    })
}

/// Reads the admin API token of a node.
pub fn read_api_token(paths: &NodePaths) -> Result<String, NodeError> {
    let path = paths.api_token();
    let raw = fsutil::read(&path)?;
    let token = String::from_utf8(raw).map_err(|_| NodeError::IdentityCorrupt {
        path: path.clone(),
        reason: "the token is not text".into(),
    })?;
    let token = token.trim().to_string();
    if token.len() != API_TOKEN_BYTES * 2 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(NodeError::IdentityCorrupt {
            path,
            reason: format!("the token must be {} hex digits", API_TOKEN_BYTES * 2),
        });
    }
    Ok(token)
}

/// Writes a fresh random admin API token (0600, atomic).
pub fn write_api_token(paths: &NodePaths) -> Result<(), NodeError> {
    let token = format!("{}\n", fsutil::random_hex(API_TOKEN_BYTES));
    Ok(fsutil::write_atomic(
        &paths.api_token(),
        token.as_bytes(),
        SECRET_FILE_MODE,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hardware::{HardwareInfo, StaticProbe};
    use std::os::unix::fs::PermissionsExt;

    fn probe() -> StaticProbe {
        StaticProbe(HardwareInfo {
            cpu_brand: "Test CPU".into(),
            mem_gb: 16,
            hostname: "node-a".into(),
        })
    }

    #[test]
    fn first_call_creates_the_full_layout_and_second_call_reuses_it() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path());
        let first = load_or_create_identity(&data, &probe()).unwrap();
        assert!(first.created);
        let paths = first.identity.paths();
        for sub in NODE_SUBDIRS {
            assert!(paths.root().join(sub).is_dir(), "{sub} missing");
        }
        for secret in [paths.identity_key(), paths.api_token()] {
            let mode = fs::metadata(&secret).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", secret.display());
        }
        assert!(paths.fingerprint().is_file());
        let second = load_or_create_identity(&data, &probe()).unwrap();
        assert!(!second.created);
        assert_eq!(second.identity.node_id(), first.identity.node_id());
    }

    #[test]
    fn truncated_key_is_reported_as_corrupt_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path());
        let made = load_or_create_identity(&data, &probe()).unwrap().identity;
        let key = made.paths().identity_key();
        let bytes = fs::read(&key).unwrap();
        fs::write(&key, &bytes[..bytes.len() / 2]).unwrap();
        match load_or_create_identity(&data, &probe()) {
            Err(NodeError::IdentityCorrupt { path, .. }) => assert_eq!(path, key),
            other => panic!("expected IdentityCorrupt, got {other:?}"),
        }
        assert_eq!(
            fs::read(&key).unwrap(),
            &bytes[..bytes.len() / 2],
            "the damaged key must be left for forensics"
        );
    }

    #[test]
    fn key_of_another_node_in_the_directory_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path());
        let a = load_or_create_identity(&data, &probe()).unwrap().identity;
        let other = tempfile::tempdir().unwrap();
        let b = load_or_create_identity(&DataDir::new(other.path()), &probe())
            .unwrap()
            .identity;
        fs::copy(b.paths().identity_key(), a.paths().identity_key()).unwrap();
        let err = load_or_create_identity(&data, &probe()).unwrap_err();
        assert!(err.to_string().contains("belongs to node"), "{err}");
    }

    #[test]
    fn two_nodes_in_one_data_dir_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path());
        load_or_create_identity(&data, &probe()).unwrap();
        fs::create_dir(data.nodes().join(NodeId::from_bytes([7; 32]).to_string())).unwrap();
        assert!(matches!(
            load_or_create_identity(&data, &probe()),
            Err(NodeError::MultipleIdentities { count: 2, .. })
        ));
    }

    #[test]
    fn staging_leftovers_of_a_crash_are_removed_and_never_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path());
        let stale = data.nodes().join(format!("{STAGING_PREFIX}deadbeef"));
        fs::create_dir_all(stale.join("data")).unwrap();
        let loaded = load_or_create_identity(&data, &probe()).unwrap();
        assert!(loaded.created);
        assert!(!stale.exists());
    }

    #[test]
    fn removing_a_created_node_leaves_an_empty_nodes_dir() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path());
        let made = load_or_create_identity(&data, &probe()).unwrap().identity;
        remove_created_node(&made).unwrap();
        assert_eq!(fs::read_dir(data.nodes()).unwrap().count(), 0);
    }
}
