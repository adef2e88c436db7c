//! Logging: readable lines on stderr from the first moment, JSON lines in the
//! node's `logs/` once the node directory is known.
//!
//! The JSON file is attached late because the node directory is only known
//! after the identity boot step; events before that reach stderr only. The
//! file is rotated by size (`file-rotate`), so disk use is bounded by
//! `file_bytes_max × (files_kept + 1)` plus one line.

use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

use file_rotate::suffix::AppendCount;
use file_rotate::{ContentLimit, FileRotate, compression::Compression};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;
use tracing_subscriber::{EnvFilter, fmt};

use crate::config::LogConfig;
use crate::error::NodeError;
use ippoc_swarm::fsutil;

/// Name of the active JSON log file inside `logs/`.
pub const LOG_FILE_NAME: &str = "ippoc.jsonl";

type SharedFile = Arc<Mutex<Option<FileRotate<AppendCount>>>>;

/// Handle on the installed subscriber, to attach or detach the JSON log file.
#[derive(Clone)]
pub struct Logging {
    file: SharedFile,
}

/// Installs the global subscriber with the filter `level` (an EnvFilter directive).
///
/// Only the first call in a process installs anything; later calls return a
/// handle whose file attachment is ignored (tests run many nodes in one process).
pub fn init(level: &str) -> Result<Logging, NodeError> {
    // sled reports a damaged store as an error value the ledger turns into
    // one line of its own; its own log lines about it would only repeat it.
    // `--log-level sled=info` (or any directive naming sled) brings them back.
    let directive = if level.contains("sled") {
        level.to_string()
    } else {
        format!("{level},sled=off")
    };
    let filter = EnvFilter::try_new(&directive).map_err(|e| NodeError::Config {
        path: "--log-level".into(),
        reason: format!("{level:?}: {e}"),
    })?;
    let file: SharedFile = Arc::new(Mutex::new(None));
    let stderr = fmt::layer()
        .with_writer(io::stderr)
        .with_ansi(io::stderr().is_terminal())
        .with_target(false);
    let json = fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_writer(LateFile(file.clone()));
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(stderr)
        .with(json)
        .try_init();
    Ok(Logging { file })
}

impl Logging {
    /// Starts writing JSON lines to `<logs_dir>/ippoc.jsonl`.
    pub fn attach_file(&self, logs_dir: &Path, config: &LogConfig) -> Result<(), NodeError> {
        fsutil::create_private_dir(logs_dir)?;
        let path = logs_dir.join(LOG_FILE_NAME);
        // Open once ourselves so that an unwritable directory is an error here,
        // not a panic or silent loss inside the writer.
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| NodeError::io("cannot open log file", &path, e))?;
        let bytes_max = usize::try_from(config.file_bytes_max).unwrap_or(usize::MAX);
        let rotating = FileRotate::new(
            &path,
            AppendCount::new(config.files_kept as usize),
            ContentLimit::BytesSurpassed(bytes_max),
            Compression::None,
            None,
        );
        *self.file.lock().unwrap_or_else(|p| p.into_inner()) = Some(rotating);
        Ok(())
    }

    /// Stops writing the JSON file (before its directory is removed).
    pub fn detach_file(&self) {
        *self.file.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

/// Writer that forwards to the JSON file once one is attached, else drops.
struct LateFile(SharedFile);

impl<'a> MakeWriter<'a> for LateFile {
    type Writer = LateFileGuard;
    fn make_writer(&'a self) -> Self::Writer {
        LateFileGuard(self.0.clone())
    }
}

/// One event's write access to the JSON file.
struct LateFileGuard(SharedFile);

impl Write for LateFileGuard {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // fmt writes each event with one write_all; holding the lock per call
        // keeps lines from interleaving across threads.
        let mut guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match guard.as_mut() {
            Some(file) => file.write(buf),
            None => Ok(buf.len()),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        let mut guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match guard.as_mut() {
            Some(file) => file.flush(),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_bounds_disk_use() {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig {
            level: "info".into(),
            file_bytes_max: 4096,
            files_kept: 2,
        };
        let logging = Logging {
            file: Arc::new(Mutex::new(None)),
        };
        logging.attach_file(dir.path(), &config).unwrap();
        let mut writer = LateFile(logging.file.clone()).make_writer();
        let line = format!("{{\"msg\":\"{}\"}}\n", "x".repeat(200));
        for _ in 0..500 {
            writer.write_all(line.as_bytes()).unwrap();
        }
        let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap()).collect();
        assert_eq!(files.len(), 3, "active file plus files_kept rotated files");
        let total: u64 = files.iter().map(|f| f.metadata().unwrap().len()).sum();
        assert!(total <= 3 * (4096 + line.len() as u64), "{total} bytes on disk");
        for f in files {
            let text = std::fs::read_to_string(f.path()).unwrap();
            assert!(text.lines().all(|l| l == line.trim_end()), "lines must stay whole");
        }
    }
}
