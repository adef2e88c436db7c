//! Crash-safe file primitives: atomic replace, directory fsync, private modes.
//!
//! Every file the node writes that must never be seen half-written (keys, the
//! fingerprint, the API token and endpoint) goes through [`write_atomic`]:
//! write a temporary sibling, fsync it, rename it over the target, fsync the
//! directory. A crash at any point leaves either the old file or the new one.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::Error;

/// Mode of every secret file: owner read/write only.
pub const SECRET_FILE_MODE: u32 = 0o600;
/// Mode of the node's directories: owner only.
pub const PRIVATE_DIR_MODE: u32 = 0o700;

/// Atomically replaces `path` with `bytes`, created with permission bits `mode`.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), Error> {
    let file_name = path
        .file_name()
        .ok_or_else(|| Error::io("not a file name:", path, std::io::ErrorKind::InvalidInput.into()))?
        .to_string_lossy();
    let dir = parent_dir(path);
    let tmp = dir.join(format!(".{file_name}.tmp-{}", random_hex(8)));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
            .map_err(|e| Error::io("cannot create", &tmp, e))?;
        // The umask may have narrowed `mode`, never widened it; set it exactly.
        file.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(|e| Error::io("cannot chmod", &tmp, e))?;
        file.write_all(bytes).map_err(|e| Error::io("cannot write", &tmp, e))?;
        file.sync_all().map_err(|e| Error::io("cannot fsync", &tmp, e))?;
        fs::rename(&tmp, path).map_err(|e| Error::io("cannot rename into place", path, e))?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// The directory that holds `path`: its parent, or the current directory for
/// a bare file name (whose parent `Path::parent` gives as the empty path, which
/// cannot be opened).
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// Fsyncs a directory so that renames and creations inside it are durable.
pub fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("cannot fsync directory", dir, e))
}

/// Creates `dir` (and missing parents) and gives it [`PRIVATE_DIR_MODE`].
pub fn create_private_dir(dir: &Path) -> Result<(), Error> {
    fs::create_dir_all(dir).map_err(|e| Error::io("cannot create directory", dir, e))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(PRIVATE_DIR_MODE))
        .map_err(|e| Error::io("cannot chmod", dir, e))
}

/// Refuses a secret file that group or others may read, write or execute.
///
/// The node refuses rather than repairs: a key that was world-readable may
/// already have leaked, and the operator should know before it is used again.
pub fn ensure_private_file(path: &Path) -> Result<(), Error> {
    let meta = fs::metadata(path).map_err(|e| Error::io("cannot stat", path, e))?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(Error::InsecurePermissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

/// Reads a file, mapping errors to [`Error::Io`].
pub fn read(path: &Path) -> Result<Vec<u8>, Error> {
    fs::read(path).map_err(|e| Error::io("cannot read", path, e))
}

/// `n` random bytes from the OS, hex-encoded.
pub fn random_hex(n: usize) -> String {
    hex::encode(random_bytes(n))
}

/// `n` random bytes from the OS CSPRNG.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    // getrandom only fails when the OS has no entropy source at all; a node
    // cannot run safely without one, so this is a hard stop, not an error value.
    getrandom::fill(&mut buf).expect("the operating system's random source is unavailable");
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_sets_exact_mode_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        write_atomic(&path, b"one", SECRET_FILE_MODE).unwrap();
        write_atomic(&path, b"two", SECRET_FILE_MODE).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("secret")]);
    }

    #[test]
    fn a_bare_file_name_lives_in_the_current_directory() {
        // The CLI tests run the binary from a temporary directory with bare
        // names (node/tests/relative_paths.rs); changing this process's
        // directory here would race the other tests.
        assert_eq!(parent_dir(Path::new("genesis.json")), Path::new("."));
        assert_eq!(parent_dir(Path::new("out/genesis.json")), Path::new("out"));
        assert_eq!(parent_dir(Path::new("/srv/a.export")), Path::new("/srv"));
    }

    #[test]
    fn ensure_private_file_refuses_group_or_world_bits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        write_atomic(&path, b"k", 0o600).unwrap();
        ensure_private_file(&path).unwrap();
        for wide in [0o640, 0o604, 0o660, 0o644, 0o601] {
            fs::set_permissions(&path, fs::Permissions::from_mode(wide)).unwrap();
            match ensure_private_file(&path) {
                Err(Error::InsecurePermissions { mode, .. }) => assert_eq!(mode, wide),
                other => panic!("mode {wide:o} accepted: {other:?}"),
            }
        }
    }
}
