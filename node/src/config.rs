//! Node configuration: TOML, every option with a documented default.
//!
//! [`DEFAULT_CONFIG_TOML`] is the commented file `ippoc config default` prints;
//! a test keeps it equal to [`Config::default`], so the documentation cannot
//! drift from the code.

use std::path::{Path, PathBuf};

use ippoc_mesh::Rate;
use ippoc_swarm::limits::ActorRates;
use serde::{Deserialize, Serialize};

use crate::error::NodeError;

/// The full default configuration, with every option explained.
pub const DEFAULT_CONFIG_TOML: &str = r#"# IPPOC node configuration.
# Every option is shown with its default value. A file may set only some of
# them; unknown keys are an error, so a typo never goes unnoticed.
# The daemon reads --config FILE, else <data-dir>/config.toml if it exists,
# else these defaults.

[api]
# TCP port of the admin HTTP API. It always listens on 127.0.0.1 only.
# 0 picks a free port; the daemon writes the address it got to
# data/nodes/<NodeID>/data/api.endpoint, which `ippoc status` reads.
port = 7733

[log]
# Minimum level for stderr and the JSON log file: error, warn, info, debug or
# trace; a tracing EnvFilter directive such as "info,ippoc_node=debug" also
# works. --log-level overrides it.
level = "info"
# The JSON log (data/nodes/<NodeID>/logs/ippoc.jsonl) is rotated when it
# reaches this many bytes.
file_bytes_max = 10485760
# Rotated files kept beside the active one. Log disk use stays below
# file_bytes_max * (files_kept + 1).
files_kept = 4

[storage]
# Free bytes the node leaves on the filesystem of its data dir. A write that
# would start below them is refused before anything is signed or stored
# (HTTP 507, exit code 18), and works again as soon as space is freed, with
# no restart. 0 turns the check off.
reserve_bytes = 67108864

[mesh]
# Run the peer-to-peer mesh (gossip of ledger entries and attestations,
# anti-entropy sync).
enabled = true
# libp2p multiaddresses to listen on: TCP, and QUIC on the same port number.
listen = ["/ip4/0.0.0.0/tcp/7734", "/ip4/0.0.0.0/udp/7734/quic-v1"]
# Peers to dial at start, e.g. "/ip4/192.0.2.7/tcp/7734".
bootstrap = []
# Largest gossip message, in bytes. A larger one is refused, logged and
# counted against its sender; the library below allows 4 times as much per
# read, so messages at this limit sent back to back never cut a peer off.
gossip_message_bytes_max = 262144
# Find more peers through a Kademlia DHT seeded by the bootstrap peers.
kademlia = true
# Find peers on the local network by mDNS. Off by default: it announces the
# node by multicast on every interface.
mdns = false
# Most established connections in all, and to one peer.
connections_max = 256
connections_per_peer_max = 2
# Every this many milliseconds the node gossips a heartbeat (liveness and its
# state root) and a receipt for the peers' entries it validated since.
attest_interval_ms = 10000
# Every this many milliseconds the node runs anti-entropy sync with one
# connected peer, in turn (it also syncs whenever a peer connects).
sync_interval_ms = 30000
# Length of a checkpoint epoch: at each epoch boundary the node gossips a
# checkpoint vote with its state root and, following the DAO, co-signs the
# chain heads of the epoch before (an entry is provable on the L2 one to two
# epochs after it was made).
epoch_ms = 600000
# Take paid work from the bounty board even when solvent. A node in Worker
# Mode always takes it: that is how it earns its way back.
work_bounties = false
# Rate limits, each { per_second, burst }: a sender may spend `burst` at
# once, then `per_second` (docs/mesh.md, "Rate limits"). What is over a
# limit is dropped unjudged: not stored, not forwarded, nobody blamed; a
# chain's entries come again by sync when its actor's bucket has refilled.
# Gossip messages one peer may have this node validate.
peer_messages = { per_second = 1000, burst = 5000 }
# Sync requests one peer may have this node answer (each up to 256 entries).
peer_requests = { per_second = 50, burst = 200 }
# Entries of one actor's chain this node takes, by gossip and sync together,
# whoever relays them.
actor_entries = { per_second = 100, burst = 1000 }
# Attestations (heartbeats, receipts, votes, warrants) of one issuer.
actor_attestations = { per_second = 50, burst = 200 }
# An entry the ledger bounces or refuses (a rule that needs the chain's
# state, such as an overdraft) costs its author this many more tokens.
bounce_charge = 10

[governance]
# JSON-RPC endpoint of the chain the DAO lives on (an L2, or anvil for a
# devnet). Empty: no governance, so no skill is ever deployed on this node.
# Following the DAO needs the mesh: deployed skills are fetched from peers.
# A node following the DAO prices its entries under the parameter tables
# executed proposals set, and co-signs each epoch's checkpoint with its EVM
# key data/eth.key (docs/anchoring.md); the DAO must register that address.
rpc = ""
# The DAO's contract addresses, as `ippoc gov deploy` writes them. A relative
# path is taken from the data dir.
dao = "dao.json"
# Every this many milliseconds the node reads the DAO's new events (skills
# deployed or revoked, parameters changed, nodes registered), fetches missing
# skills and submits checkpoints that reached their quorum.
poll_ms = 5000
# Co-signers of a checkpoint submit it in turns (docs/anchoring.md): each
# leaves the one before it this many milliseconds to get the anchor mined.
# Set it above the chain's block time; 0 = every co-signer submits at once.
anchor_turn_ms = 15000

[metrics]
# Serve Prometheus metrics (GET /metrics), /healthz and /readyz, without a
# token, on their own listener (docs/metrics.md). The default listens on
# loopback only; to let a Prometheus server on another machine scrape the
# node, listen on an address it can reach and firewall the port to it.
enabled = true
# host:port. Port 0 picks a free port; the daemon writes the address it got
# to data/nodes/<NodeID>/data/metrics.endpoint.
listen = "127.0.0.1:7735"

[daemon]
# After SIGTERM or SIGINT the daemon stops accepting work and exits within
# this many milliseconds; past it, it exits anyway with status 1.
shutdown_timeout_ms = 10000
"#;

/// The node's configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Admin API settings.
    pub api: ApiConfig,
    /// Logging settings.
    pub log: LogConfig,
    /// Disk settings.
    pub storage: StorageConfig,
    /// Mesh settings.
    pub mesh: MeshSettings,
    /// The DAO to follow.
    pub governance: GovernanceConfig,
    /// The metrics listener.
    pub metrics: MetricsConfig,
    /// Daemon lifecycle settings.
    pub daemon: DaemonConfig,
}

/// `[governance]`: the DAO on its chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GovernanceConfig {
    /// JSON-RPC URL; empty = off.
    pub rpc: String,
    /// DAO address file (relative: to the data dir).
    pub dao: PathBuf,
    /// Poll period, ms.
    pub poll_ms: u64,
    /// How long each co-signer leaves the one before it to get an anchor mined, ms.
    pub anchor_turn_ms: u64,
}

impl GovernanceConfig {
    /// [`Self::anchor_turn_ms`] in watcher rounds, rounded up.
    pub fn anchor_turn_rounds(&self) -> u64 {
        self.anchor_turn_ms.div_ceil(self.poll_ms.max(1))
    }
}

impl Default for GovernanceConfig {
    fn default() -> Self {
        GovernanceConfig {
            rpc: String::new(),
            dao: PathBuf::from("dao.json"),
            poll_ms: 5000,
            anchor_turn_ms: 15_000,
        }
    }
}

/// `[mesh]`: the peer-to-peer network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MeshSettings {
    /// Run the mesh.
    pub enabled: bool,
    /// Listen multiaddresses.
    pub listen: Vec<String>,
    /// Bootstrap multiaddresses.
    pub bootstrap: Vec<String>,
    /// Largest gossip message, in bytes.
    pub gossip_message_bytes_max: usize,
    /// Kademlia discovery.
    pub kademlia: bool,
    /// mDNS discovery.
    pub mdns: bool,
    /// Most established connections.
    pub connections_max: u32,
    /// Most established connections to one peer.
    pub connections_per_peer_max: u32,
    /// Heartbeat and receipt period, ms.
    pub attest_interval_ms: u64,
    /// Periodic anti-entropy sync period, ms.
    pub sync_interval_ms: u64,
    /// Checkpoint epoch length, ms.
    pub epoch_ms: u64,
    /// Take bounties when solvent too.
    pub work_bounties: bool,
    /// Gossip messages one peer may have validated: `{ per_second, burst }`.
    pub peer_messages: Rate,
    /// Sync requests one peer may have answered.
    pub peer_requests: Rate,
    /// Entries of one actor's chain taken per second, by gossip and sync.
    pub actor_entries: Rate,
    /// Attestations of one issuer taken per second.
    pub actor_attestations: Rate,
    /// Extra tokens an entry the ledger bounced or refused costs its author.
    pub bounce_charge: u32,
}

impl MeshSettings {
    /// The per-actor rates of `[mesh]`.
    pub fn actor_limits(&self) -> ActorRates {
        ActorRates {
            entries: self.actor_entries,
            attestations: self.actor_attestations,
            bounce_charge: self.bounce_charge,
        }
    }
}

impl Default for MeshSettings {
    fn default() -> Self {
        MeshSettings {
            enabled: true,
            listen: vec!["/ip4/0.0.0.0/tcp/7734".into(), "/ip4/0.0.0.0/udp/7734/quic-v1".into()],
            bootstrap: Vec::new(),
            gossip_message_bytes_max: 256 * 1024,
            kademlia: true,
            mdns: false,
            connections_max: 256,
            connections_per_peer_max: 2,
            attest_interval_ms: 10_000,
            sync_interval_ms: 30_000,
            epoch_ms: 600_000,
            work_bounties: false,
            peer_messages: ippoc_mesh::mesh::PEER_MESSAGES,
            peer_requests: ippoc_mesh::mesh::PEER_REQUESTS,
            actor_entries: ippoc_swarm::limits::ACTOR_ENTRIES,
            actor_attestations: ippoc_swarm::limits::ACTOR_ATTESTATIONS,
            bounce_charge: ActorRates::default().bounce_charge,
        }
    }
}

/// `[api]`: the admin HTTP API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Port on 127.0.0.1; 0 = any free port.
    pub port: u16,
}

/// `[log]`: stderr and the rotated JSON log file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// EnvFilter directive.
    pub level: String,
    /// Rotation size of the JSON log, in bytes.
    pub file_bytes_max: u64,
    /// Rotated files kept.
    pub files_kept: u32,
}

/// `[storage]`: the disk the data dir lives on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Free bytes kept on the data dir's filesystem (0 = no check).
    pub reserve_bytes: u64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            reserve_bytes: ippoc_economy::store::DEFAULT_RESERVE_BYTES,
        }
    }
}

/// `[metrics]`: the Prometheus listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Serve `/metrics`, `/healthz` and `/readyz`.
    pub enabled: bool,
    /// `host:port` to listen on.
    pub listen: String,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            enabled: true,
            listen: "127.0.0.1:7735".into(),
        }
    }
}

/// `[daemon]`: lifecycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DaemonConfig {
    /// Bound on graceful shutdown, in milliseconds.
    pub shutdown_timeout_ms: u64,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig { port: 7733 }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            file_bytes_max: 10 * 1024 * 1024,
            files_kept: 4,
        }
    }
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            shutdown_timeout_ms: 10_000,
        }
    }
}

/// Smallest rotation size accepted: below it rotation would thrash.
pub const LOG_FILE_BYTES_MIN: u64 = 4096;
/// Most rotated log files kept.
pub const LOG_FILES_KEPT_MAX: u32 = 1000;
/// Longest shutdown bound accepted (systemd's stop timeout should exceed it).
pub const SHUTDOWN_TIMEOUT_MS_MAX: u64 = 600_000;

impl Config {
    /// Parses TOML and checks every bound.
    pub fn from_toml(text: &str, origin: &Path) -> Result<Self, NodeError> {
        let config: Config = toml::from_str(text).map_err(|e| NodeError::Config {
            path: origin.to_path_buf(),
            reason: e.to_string().trim().replace('\n', " "),
        })?;
        config.validate(origin)?;
        Ok(config)
    }

    /// Loads the config: `explicit` if given (it must exist), else
    /// `fallback` if it exists, else the defaults. Returns where it came from.
    pub fn load(explicit: Option<&Path>, fallback: &Path) -> Result<(Self, Option<PathBuf>), NodeError> {
        let path = match explicit {
            Some(p) => p.to_path_buf(),
            None if fallback.is_file() => fallback.to_path_buf(),
            None => return Ok((Config::default(), None)),
        };
        let text = std::fs::read_to_string(&path).map_err(|e| NodeError::Config {
            path: path.clone(),
            reason: format!("cannot read: {e}"),
        })?;
        Ok((Config::from_toml(&text, &path)?, Some(path)))
    }

    fn validate(&self, origin: &Path) -> Result<(), NodeError> {
        let bad = |reason: String| {
            Err(NodeError::Config {
                path: origin.to_path_buf(),
                reason,
            })
        };
        if self.log.file_bytes_max < LOG_FILE_BYTES_MIN {
            return bad(format!("log.file_bytes_max must be at least {LOG_FILE_BYTES_MIN}"));
        }
        if self.log.files_kept > LOG_FILES_KEPT_MAX {
            return bad(format!("log.files_kept must be at most {LOG_FILES_KEPT_MAX}"));
        }
        if self.daemon.shutdown_timeout_ms == 0 || self.daemon.shutdown_timeout_ms > SHUTDOWN_TIMEOUT_MS_MAX {
            return bad(format!(
                "daemon.shutdown_timeout_ms must be in 1..={SHUTDOWN_TIMEOUT_MS_MAX}"
            ));
        }
        for addr in self.mesh.listen.iter().chain(&self.mesh.bootstrap) {
            if addr.parse::<ippoc_mesh::Multiaddr>().is_err() {
                return bad(format!("mesh: {addr:?} is not a multiaddress"));
            }
        }
        if !(1024..=16 << 20).contains(&self.mesh.gossip_message_bytes_max) {
            return bad("mesh.gossip_message_bytes_max must be in 1024..=16777216".into());
        }
        let m = &self.mesh;
        if m.connections_max == 0 || m.connections_per_peer_max == 0 {
            return bad("mesh.connections_max and mesh.connections_per_peer_max must be at least 1".into());
        }
        for (name, ms) in [
            ("attest_interval_ms", m.attest_interval_ms),
            ("sync_interval_ms", m.sync_interval_ms),
            ("epoch_ms", m.epoch_ms),
        ] {
            if !(100..=86_400_000).contains(&ms) {
                return bad(format!("mesh.{name} must be in 100..=86400000"));
            }
        }
        // A rate that never refills, or a burst under one, would silently
        // refuse every message of its kind for good.
        for (name, rate) in [
            ("peer_messages", m.peer_messages),
            ("peer_requests", m.peer_requests),
            ("actor_entries", m.actor_entries),
            ("actor_attestations", m.actor_attestations),
        ] {
            if rate.per_second == 0 || rate.burst == 0 {
                return bad(format!("mesh.{name}: per_second and burst must be at least 1"));
            }
        }
        if !(100..=3_600_000).contains(&self.governance.poll_ms) {
            return bad("governance.poll_ms must be in 100..=3600000".into());
        }
        if self.governance.anchor_turn_ms > 3_600_000 {
            return bad("governance.anchor_turn_ms must be in 0..=3600000".into());
        }
        if !self.governance.rpc.is_empty() {
            if !self.mesh.enabled {
                return bad("governance needs the mesh (deployed skills are fetched from peers): set mesh.enabled = true or governance.rpc = \"\"".into());
            }
            if reqwest::Url::parse(&self.governance.rpc).is_err() {
                return bad(format!("governance.rpc {:?} is not a URL", self.governance.rpc));
            }
        }
        if self.metrics.enabled && self.metrics.listen.parse::<std::net::SocketAddr>().is_err() {
            return bad(format!(
                "metrics.listen {:?} is not an IP address and port, such as \"127.0.0.1:7735\"",
                self.metrics.listen
            ));
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            return bad(format!("log.level {:?}: {e}", self.log.level));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_defaults_are_the_code_defaults() {
        let parsed = Config::from_toml(DEFAULT_CONFIG_TOML, Path::new("default")).unwrap();
        assert_eq!(parsed, Config::default());
    }

    #[test]
    fn every_option_in_the_struct_is_documented() {
        let full = toml::to_string(&Config::default()).unwrap();
        for line in full.lines().filter(|l| l.contains(" = ")) {
            let key = line.split(" = ").next().unwrap();
            assert!(
                DEFAULT_CONFIG_TOML.lines().any(|l| l.starts_with(&format!("{key} = "))
                    // A field of an inline table, such as a rate's `per_second`.
                    || l.contains(&format!("{{ {key} = "))
                    || l.contains(&format!(", {key} = "))),
                "option {key} missing from DEFAULT_CONFIG_TOML"
            );
        }
    }

    #[test]
    fn a_rate_that_refuses_everything_for_good_is_refused() {
        let err = Config::from_toml(
            "[mesh]\nactor_entries = { per_second = 0, burst = 10 }\n",
            Path::new("x"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("mesh.actor_entries"), "{err}");
        assert!(
            Config::from_toml(
                "[mesh]\npeer_requests = { per_second = 5, burst = 0 }\n",
                Path::new("x")
            )
            .is_err()
        );
    }

    #[test]
    fn partial_file_keeps_other_defaults() {
        let c = Config::from_toml("[api]\nport = 0\n", Path::new("x")).unwrap();
        assert_eq!(c.api.port, 0);
        assert_eq!(c.log, LogConfig::default());
    }

    #[test]
    fn typos_and_out_of_bound_values_are_errors_that_name_the_file() {
        for (text, needle) in [
            ("[api]\nprot = 1\n", "prot"),
            ("[log]\nfile_bytes_max = 10\n", "file_bytes_max"),
            ("[daemon]\nshutdown_timeout_ms = 0\n", "shutdown_timeout_ms"),
            ("[metrics]\nlisten = \"localhost\"\n", "metrics.listen"),
            ("[log]\nlevel = \"=[\"\n", "log.level"),
            ("[mesh]\nsync_interval_ms = 0\n", "sync_interval_ms"),
            ("[mesh]\nconnections_max = 0\n", "connections_max"),
            ("[governance]\nrpc = \"not a url\"\n", "governance.rpc"),
            ("[governance]\npoll_ms = 0\n", "poll_ms"),
            ("[governance]\nanchor_turn_ms = 3600001\n", "anchor_turn_ms"),
            (
                "[governance]\nrpc = \"http://127.0.0.1:8545\"\n[mesh]\nenabled = false\n",
                "needs the mesh",
            ),
            ("api = 3", "api"),
        ] {
            let err = Config::from_toml(text, Path::new("/etc/ippoc.toml")).unwrap_err();
            let msg = err.to_string();
            assert!(
                msg.contains("/etc/ippoc.toml") && msg.contains(needle),
                "{text:?}: {msg}"
            );
        }
    }
}
