//! Helpers for tests that run the real `ippoc` binary.
#![allow(dead_code)]

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Generous bound for anything a test waits for; reached only on a real hang.
pub const WAIT: Duration = Duration::from_secs(30);

/// A data dir in a temp directory, plus a config with a free API port.
pub struct Env {
    pub dir: tempfile::TempDir,
    /// A program and its arguments every `ippoc` runs under (`nsenter …`).
    pub prefix: Vec<String>,
}

impl Env {
    /// Free ports (admin API, metrics), and the mesh on loopback only.
    pub const CONFIG: &'static str = "[api]\nport = 0\n[mesh]\nlisten = [\"/ip4/127.0.0.1/tcp/0\"]\n[metrics]\nlisten = \"127.0.0.1:0\"\n[daemon]\nshutdown_timeout_ms = 5000\n";

    pub fn new() -> Self {
        let env = Env {
            dir: tempfile::tempdir().unwrap(),
            prefix: Vec::new(),
        };
        std::fs::write(env.config(), Env::CONFIG).unwrap();
        env
    }
    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }
    pub fn config(&self) -> PathBuf {
        self.dir.path().join("test.toml")
    }
    /// `ippoc --data-dir <data> --config <config> <args>`, with a clean environment.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = match self.prefix.split_first() {
            None => Command::new(env!("CARGO_BIN_EXE_ippoc")),
            Some((program, rest)) => {
                let mut cmd = Command::new(program);
                cmd.args(rest).arg(env!("CARGO_BIN_EXE_ippoc"));
                cmd
            }
        };
        cmd.arg("--data-dir")
            .arg(self.data())
            .arg("--config")
            .arg(self.config());
        cmd.args(args);
        without_host_env(&mut cmd);
        cmd
    }
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }
    /// The only node directory.
    pub fn node_dir(&self) -> PathBuf {
        let mut dirs: Vec<_> = std::fs::read_dir(self.data().join("nodes"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(dirs.len(), 1, "expected exactly one node dir: {dirs:?}");
        dirs.pop().unwrap()
    }
    /// Starts `ippoc daemon` and waits until it sends READY=1 (or exits).
    pub fn start_daemon(&self) -> Daemon {
        self.start_daemon_with(&[])
    }
    pub fn start_daemon_with(&self, env: &[(&str, &str)]) -> Daemon {
        let notify = NotifySocket::new(self.dir.path());
        let mut cmd = self.cmd(&["daemon"]);
        cmd.env("NOTIFY_SOCKET", &notify.path)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let (tx, lines) = mpsc::channel();
        let all = Arc::new(Mutex::new(Vec::new()));
        let reader = {
            let stderr = child.stderr.take().unwrap();
            let all = all.clone();
            std::thread::spawn(move || {
                use std::io::BufRead;
                for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                    all.lock().unwrap().push(line.clone());
                    let _ = tx.send(line);
                }
            })
        };
        let mut daemon = Daemon {
            child: Some(child),
            notify,
            lines,
            all,
            reader: Some(reader),
        };
        let msg = daemon.notify.wait_for("READY=1", WAIT);
        assert!(
            msg.is_some(),
            "daemon never became ready: {}",
            daemon.stderr_after_exit()
        );
        daemon
    }
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
pub fn code(o: &Output) -> i32 {
    o.status.code().expect("exited by signal")
}

/// Removes what the test's own environment could pass to an `ippoc` it
/// starts (a data dir, a config, a systemd socket) and would change what it does.
pub fn without_host_env(cmd: &mut Command) {
    for var in [
        "IPPOC_DATA_DIR",
        "IPPOC_CONFIG",
        "IPPOC_LOG",
        "IPPOC_RPC",
        "IPPOC_DAO",
        "IPPOC_ETH_KEY",
        "NOTIFY_SOCKET",
        "WATCHDOG_USEC",
        "WATCHDOG_PID",
    ] {
        cmd.env_remove(var);
    }
}

/// The JSON a successful command printed (panics, showing stderr or stdout, otherwise).
pub fn json(o: &Output) -> serde_json::Value {
    assert_eq!(code(o), 0, "{}", stderr(o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

/// The systemd notification socket, played by the test.
pub struct NotifySocket {
    pub path: PathBuf,
    socket: UnixDatagram,
}

impl NotifySocket {
    pub fn new(dir: &Path) -> Self {
        let path = dir.join(format!(
            "notify-{}.sock",
            std::process::id() as u64 * 1000 + rand_suffix()
        ));
        let socket = UnixDatagram::bind(&path).unwrap();
        NotifySocket { path, socket }
    }
    /// Waits for a datagram that has a line equal to `line`; returns the datagram.
    pub fn wait_for(&self, line: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 4096];
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            self.socket
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .unwrap();
            match self.socket.recv(&mut buf) {
                Ok(n) => {
                    let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                    if msg.lines().any(|l| l == line) {
                        return Some(msg);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {
                    return None;
                }
                Err(e) => panic!("notify socket: {e}"),
            }
        }
    }
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A running daemon; killed if the test forgets it.
pub struct Daemon {
    child: Option<Child>,
    pub notify: NotifySocket,
    lines: mpsc::Receiver<String>,
    all: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Daemon {
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap();
        assert!(ok.success());
    }
    /// SIGTERM, then asserts a clean exit 0.
    pub fn stop(mut self) {
        self.signal("TERM");
        let (exit, err) = self.wait();
        assert_eq!(exit.code(), Some(0), "daemon did not stop cleanly: {err}");
    }
    /// Waits for a stderr line matching `pred` (already printed or still to come).
    pub fn wait_for_line(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(line) = self.all.lock().unwrap().iter().find(|l| pred(l)) {
                return line.clone();
            }
            let left = deadline.checked_duration_since(Instant::now()).unwrap_or_else(|| {
                panic!(
                    "no stderr line for {what}; got:\n{}",
                    self.all.lock().unwrap().join("\n")
                )
            });
            // Each received line is already in `all`; the loop re-checks it.
            let _ = self.lines.recv_timeout(left);
        }
    }

    /// Waits for the next stderr line, for at most `limit` (a wake-up for
    /// tests that re-check state whenever the daemon does something).
    pub fn next_line(&self, limit: Duration) {
        let _ = self.lines.recv_timeout(limit);
    }

    /// Every stderr line printed so far.
    #[allow(dead_code)]
    pub fn all_lines(&self) -> Vec<String> {
        self.all.lock().unwrap().clone()
    }

    /// Waits until `n` stderr lines match `pred`; returns the `n`-th.
    pub fn wait_for_nth_line(&self, what: &str, n: usize, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(line) = self.all.lock().unwrap().iter().filter(|l| pred(l)).nth(n - 1) {
                return line.clone();
            }
            let left = deadline.checked_duration_since(Instant::now()).unwrap_or_else(|| {
                panic!(
                    "no {n} stderr lines for {what}; got:\n{}",
                    self.all.lock().unwrap().join("\n")
                )
            });
            let _ = self.lines.recv_timeout(left);
        }
    }

    /// Waits for the process to exit; returns its status and stderr.
    pub fn wait(&mut self) -> (ExitStatus, String) {
        let mut child = self.child.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        let status = rx.recv_timeout(WAIT).expect("daemon did not exit in time").unwrap();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        (status, self.all.lock().unwrap().join("\n"))
    }
    fn stderr_after_exit(&mut self) -> String {
        let child = self.child.as_mut().unwrap();
        match child.try_wait() {
            Ok(Some(_)) => self.wait().1,
            _ => "(still running)".into(),
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Every file under `dir` with its bytes and mode, for "nothing changed" checks.
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let meta = std::fs::metadata(&p).unwrap();
            if meta.is_dir() {
                out.push((p.clone(), Vec::new(), meta.permissions().mode()));
                stack.push(p);
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap(), meta.permissions().mode()));
            }
        }
    }
    out.sort();
    out
}

/// `n` founders of one swarm (500 IPPC each): their envs and NodeIDs.
pub fn founders(n: usize) -> Vec<(Env, String)> {
    let envs: Vec<Env> = (0..n).map(|_| Env::new()).collect();
    let ids: Vec<String> = envs
        .iter()
        .map(|e| {
            json(&e.run(&["--json", "init"]))["node_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let genesis = envs[0].dir.path().join("genesis.json");
    let g = genesis.to_str().unwrap().to_string();
    let mut args = vec!["genesis", "new", "--name", "founders", "--stipend", "500", "--out", &g];
    for id in &ids {
        args.extend(["--founder", id.as_str()]);
    }
    let made = envs[0].run(&args);
    assert_eq!(code(&made), 0, "{}", stderr(&made));
    for e in &envs {
        assert_eq!(code(&e.run(&["init", "--genesis", &g])), 0);
    }
    envs.into_iter().zip(ids).collect()
}

/// A node's own wallet balance in IPPC (as `ippoc wallet` prints it) and its state root.
pub fn wallet_ippc(env: &Env) -> (String, serde_json::Value) {
    let w = json(&env.run(&["--json", "wallet"]));
    let ippc = w["balances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["account"].as_str().unwrap().starts_with("wallet:"))
        .unwrap()["balance"]
        .as_str()
        .unwrap()
        .to_string();
    (ippc, w["state_root"].clone())
}

/// The loopback mesh address a daemon logged at start.
pub fn mesh_address(d: &Daemon) -> String {
    let line = d.wait_for_line("the mesh address", |l| {
        l.contains("mesh listening") && l.contains("/ip4/127.0.0.1/")
    });
    line.split_whitespace()
        .find_map(|w| w.strip_prefix("address="))
        .expect("address= in the line")
        .to_string()
}

/// The anvil the tests start: `IPPOC_ANVIL`, else the one contracts/check.sh
/// installs from npm (cast is beside it).
pub fn anvil_path() -> PathBuf {
    let path = std::env::var_os("IPPOC_ANVIL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../contracts/node_modules/.bin/anvil"));
    assert!(
        path.exists(),
        "anvil not found at {}: run contracts/check.sh first, or set IPPOC_ANVIL",
        path.display()
    );
    path
}

/// Writes `key` as an `ippoc gov` key file (hex, mode 0600); returns its path.
pub fn write_key(dir: &Path, name: &str, key: &alloy::signers::local::PrivateKeySigner) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("{}\n", hex::encode(key.to_bytes()))).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// A small filesystem of its own (tmpfs) mounted over a directory in a
/// private mount namespace: only processes started through [`Self::prefix`]
/// see it, and it vanishes with the namespace. The test reaches its files
/// through [`Self::path`] (`/proc/<holder>/root/…`).
pub struct SmallDisk {
    holder: Child,
    at: PathBuf,
}

impl SmallDisk {
    /// Mounts a tmpfs of `bytes` over `at` (created if missing). Needs the
    /// right to make a mount namespace: root (as in CI), or unprivileged
    /// user namespaces.
    pub fn mount(at: &Path, bytes: u64) -> SmallDisk {
        std::fs::create_dir_all(at).unwrap();
        let script = "mount -t tmpfs -o size=\"$1\" tmpfs \"$0\" && echo up && exec sleep 3600";
        let root = effective_uid() == 0;
        let mut args: Vec<String> = if root {
            vec!["--mount".into(), "--propagation".into(), "private".into()]
        } else {
            vec!["--user".into(), "--map-root-user".into(), "--mount".into()]
        };
        args.extend(["--", "sh", "-c", script].map(String::from));
        args.push(at.display().to_string());
        args.push(bytes.to_string());
        let mut holder = Command::new("unshare")
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("unshare (util-linux) is needed to give a test a small disk");
        let mut line = String::new();
        use std::io::BufRead;
        std::io::BufReader::new(holder.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        if line.trim() != "up" {
            let out = holder.wait_with_output().unwrap();
            panic!(
                "no private mount namespace for the small disk ({}): run the tests as root, as CI does, or allow unprivileged user namespaces",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        SmallDisk {
            holder,
            at: at.to_path_buf(),
        }
    }

    /// Runs a program inside the namespace, where the small disk is mounted.
    pub fn prefix(&self) -> Vec<String> {
        let mut p = vec![
            "nsenter".to_string(),
            "-t".into(),
            self.holder.id().to_string(),
            "--mount".into(),
        ];
        if effective_uid() != 0 {
            p.extend(["--user".into(), "--preserve-credentials".into()]);
        }
        p.push("--".into());
        p
    }

    /// `rel` under the mounted directory, as the test process reaches it.
    pub fn path(&self, rel: &str) -> PathBuf {
        let inside = self.at.join(rel);
        PathBuf::from(format!("/proc/{}/root", self.holder.id())).join(inside.strip_prefix("/").unwrap())
    }

    /// Fills the disk with `name` until fewer than `leave` bytes are free;
    /// returns the free bytes left.
    pub fn fill(&self, name: &str, leave: u64) -> u64 {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path(name))
            .unwrap();
        let chunk = vec![0x5a; 64 * 1024];
        loop {
            let free = self.free();
            if free < leave {
                return free;
            }
            let n = (free - leave + 1).min(chunk.len() as u64) as usize;
            match f.write_all(&chunk[..n]) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(28) => {
                    let _ = f.sync_all();
                    return self.free();
                }
                Err(e) => panic!("filling the small disk: {e}"),
            }
        }
    }

    /// Free bytes on the small disk.
    pub fn free(&self) -> u64 {
        fs2::available_space(self.path("")).unwrap()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// The effective uid (from /proc, so the tests need no libc binding).
fn effective_uid() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|u| u.parse().ok())
        .expect("/proc/self/status names the effective uid")
}
