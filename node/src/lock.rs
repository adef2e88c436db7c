//! The data-dir lock: one `ippoc` process owns a data dir at a time.
//!
//! An advisory `flock` on `<data-dir>/ippoc.lock`. The kernel releases it when
//! the process dies, however it dies (kill -9 included), so a stale lock never
//! needs manual cleanup. The file holds the owner's pid for error messages only.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;

use crate::error::NodeError;
use crate::paths::DataDir;
use ippoc_swarm::fsutil;

/// Holds the data-dir lock until dropped.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

impl DataDirLock {
    /// Takes the lock of `data_dir`, creating the data dir if needed; fails
    /// with [`NodeError::Locked`] at once if another process holds it.
    pub fn acquire(data_dir: &DataDir) -> Result<Self, NodeError> {
        fsutil::create_private_dir(data_dir.root())?;
        let path = data_dir.lock_file();
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|e| NodeError::io("cannot open", &path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = match holder.trim() {
                    "" => "another process".to_string(),
                    pid => format!("pid {pid}"),
                };
                return Err(NodeError::Locked { path, holder });
            }
            Err(TryLockError::Error(e)) => return Err(NodeError::io("cannot lock", &path, e)),
        }
        file.set_len(0)
            .and_then(|_| file.seek(SeekFrom::Start(0)))
            .and_then(|_| writeln!(file, "{}", std::process::id()))
            .map_err(|e| NodeError::io("cannot write", &path, e))?;
        Ok(DataDirLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused_with_the_first_holders_pid_and_lock_frees_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path());
        let first = DataDirLock::acquire(&data).unwrap();
        let err = DataDirLock::acquire(&data).unwrap_err();
        assert!(
            err.to_string().contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        drop(first);
        DataDirLock::acquire(&data).unwrap();
    }
}
