//! The daemon: boot, serve, tell systemd, stop cleanly on a signal.
//!
//! Signal handlers are installed before READY=1 is sent, so a SIGTERM that
//! arrives the moment systemd (or a test) sees READY is a clean stop, never a
//! default-action kill.

use std::fmt;
use std::time::Duration;

use sd_notify::NotifyState;
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};

use std::sync::Arc;

use ippoc_mesh::{MeshConfig, Transport};
use ippoc_swarm::governance::GovLink;
use ippoc_swarm::node::{FollowDao, NodeBuilder};
use ippoc_swarm::pump::Cadence;
use ippoc_swarm::skills::SkillStore;
use ippoc_swarm::view::SharedMeshView;
use ippoc_swarm::{OwnChain, fsutil};

use crate::api::{self, NodeHandle, StatusFacts};
use crate::boot::{self, BootError, BootOptions, BootStep, BootedNode};
use crate::config::{Config, MeshSettings};
use crate::error::{ExitStatus, NodeError};
use crate::hardware::HardwareProbe;
use crate::identity;
use crate::logging::Logging;
use crate::metrics;
use crate::paths::{DataDir, NodePaths};

/// Why the daemon ended badly.
#[derive(Debug)]
pub enum DaemonError {
    /// It never became ready.
    Boot(BootError),
    /// It ran, then failed.
    Run(NodeError),
    /// It was asked to stop and did not finish within the configured bound.
    ShutdownTimedOut {
        /// The bound, in milliseconds.
        timeout_ms: u64,
    },
}

impl DaemonError {
    /// The exit code for this failure.
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            DaemonError::Boot(e) => e.error.exit_status(),
            DaemonError::Run(e) => e.exit_status(),
            DaemonError::ShutdownTimedOut { .. } => ExitStatus::Failure,
        }
    }
}

impl fmt::Display for DaemonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DaemonError::Boot(e) => e.fmt(f),
            DaemonError::Run(e) => write!(f, "daemon failed: {e}"),
            DaemonError::ShutdownTimedOut { timeout_ms } => {
                write!(
                    f,
                    "shutdown did not finish within daemon.shutdown_timeout_ms = {timeout_ms}"
                )
            }
        }
    }
}

impl From<BootError> for DaemonError {
    fn from(e: BootError) -> Self {
        DaemonError::Boot(e)
    }
}

/// Boots the node and serves until SIGTERM or SIGINT.
pub async fn run(
    data_dir: &DataDir,
    config: &Config,
    probe: &dyn HardwareProbe,
    logging: &Logging,
    genesis: Option<std::path::PathBuf>,
) -> Result<(), DaemonError> {
    let options = BootOptions { create: true, genesis };
    let node = boot::boot_node(data_dir, config, probe, logging, &options)?;
    let started = match start_services(&node, config).await {
        Ok(started) => started,
        Err(e) => {
            node.abandon(logging);
            return Err(e.into());
        }
    };
    serve_until_signal(node, started, config).await
}

/// What boot steps 8–11 leave running.
struct Started {
    node: Option<ippoc_swarm::node::RunningNode>,
    listener: TcpListener,
    router: axum::Router,
    /// The metrics listener and its routes (`[metrics] enabled`).
    metrics: Option<(TcpListener, axum::Router)>,
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

/// The `[mesh]` settings as the mesh's own configuration (TCP and QUIC).
pub fn mesh_config(settings: &MeshSettings, swarm_id: [u8; 32]) -> Result<MeshConfig, NodeError> {
    let mut config = MeshConfig::new(swarm_id, Transport::Tcp);
    let parse = |a: &String| {
        a.parse()
            .map_err(|_| NodeError::Mesh(format!("{a:?} is not a multiaddress")))
    };
    config.listen = settings.listen.iter().map(parse).collect::<Result<_, _>>()?;
    config.bootstrap = settings.bootstrap.iter().map(parse).collect::<Result<_, _>>()?;
    config.gossip_message_bytes_max = settings.gossip_message_bytes_max;
    config.kademlia = settings.kademlia;
    config.mdns = settings.mdns;
    config.connections_max = settings.connections_max;
    config.connections_per_peer_max = settings.connections_per_peer_max;
    config.peer_messages = settings.peer_messages;
    config.peer_requests = settings.peer_requests;
    Ok(config)
}

/// How often the node attests, syncs and closes epochs, from `[mesh]`.
pub fn cadence(settings: &MeshSettings) -> Cadence {
    Cadence {
        attest_interval: Duration::from_millis(settings.attest_interval_ms),
        sync_interval: Duration::from_millis(settings.sync_interval_ms),
        epoch_ms: settings.epoch_ms,
        limits: settings.actor_limits(),
        ladder: Default::default(),
    }
}

/// The node's sandbox, with its module cache in the node directory.
pub fn open_sandbox(paths: &NodePaths) -> Result<ippoc_sandbox::Sandbox, NodeError> {
    Ok(ippoc_swarm::sandbox::open_sandbox(
        &paths.sandbox_modules(),
        &paths.sandbox_cache_key(),
    )?)
}

async fn start_services(node: &BootedNode, config: &Config) -> Result<Started, BootError> {
    let paths = node.identity.paths();
    let at_api = BootError::at(BootStep::AdminApi);
    let (terminate, interrupt) = (|| Ok((signal(SignalKind::terminate())?, signal(SignalKind::interrupt())?)))()
        .map_err(|e| at_api(NodeError::io("cannot install signal handlers for", "SIGTERM/SIGINT", e)))?;
    let sandbox = Arc::new(open_sandbox(paths).map_err(BootError::at(BootStep::Sandbox))?);
    let requested = format!("127.0.0.1:{}", config.api.port);
    let listener = TcpListener::bind(&requested).await.map_err(|source| {
        BootError::at(BootStep::AdminApi)(NodeError::ApiBind {
            addr: requested.clone(),
            source,
        })
    })?;
    let addr = listener
        .local_addr()
        .map_err(|e| BootError::at(BootStep::AdminApi)(NodeError::io("cannot read address of", &requested, e)))?;
    let token = match identity::read_api_token(paths) {
        Ok(token) => token,
        Err(_) => {
            // Missing or damaged: a new token only invalidates old CLI reads,
            // which re-read the file anyway.
            tracing::warn!(path = %paths.api_token().display(), "admin token missing or invalid; writing a new one");
            identity::write_api_token(paths)
                .and_then(|_| identity::read_api_token(paths))
                .map_err(BootError::at(BootStep::AdminApi))?
        }
    };
    // Bound before the mesh starts: a taken port fails boot with nothing running.
    let metrics = match config.metrics.enabled {
        true => Some(bind_metrics(&config.metrics.listen).await?),
        false => None,
    };
    let key = node.identity.signing_key().clone();
    let mut registry = prometheus_client::registry::Registry::default();
    let (running, handle) = if config.mesh.enabled {
        let at_mesh = BootError::at(BootStep::Mesh);
        let mesh = mesh_config(&config.mesh, node.ledger.swarm_id().0).map_err(at_mesh)?;
        let mut builder = NodeBuilder::new(
            key,
            node.ledger.clone(),
            node.guard.clone(),
            paths.clone(),
            mesh,
            cadence(&config.mesh),
        )
        .fingerprint(node.fingerprint.hash_hex().to_string())
        .sandbox(sandbox.clone())
        .work_bounties(config.mesh.work_bounties);
        // Following the DAO rides on the mesh (config validation makes sure it runs);
        // such a node co-signs checkpoints with its own EVM key.
        if !config.governance.rpc.is_empty() {
            let at_mesh = BootError::at(BootStep::Mesh);
            let eth_key = ippoc_swarm::anchor::load_or_create_eth_key(&paths.eth_key()).map_err(at_mesh)?;
            tracing::info!(address = %eth_key.address(), "checkpoint co-signing key");
            let dao_file = node.data_dir.root().join(&config.governance.dao);
            let poll = Duration::from_millis(config.governance.poll_ms);
            let link = GovLink::rpc(&config.governance.rpc, &dao_file, poll).map_err(BootError::at(BootStep::Mesh))?;
            tracing::info!(rpc = %config.governance.rpc, dao = %dao_file.display(), "following the DAO");
            builder = builder.follow_dao(FollowDao {
                link,
                eth_key: Some(eth_key),
                anchor_turn_rounds: config.governance.anchor_turn_rounds(),
            });
        }
        let running = builder
            .metrics(&mut registry)
            .start()
            .await
            .map_err(BootError::at(BootStep::Mesh))?;
        let handle = NodeHandle {
            chain: running.chain.clone(),
            sandbox,
            mesh: running.view.clone(),
            skills: running.skills.clone(),
            gov: running.gov.clone(),
            epoch_ms: config.mesh.epoch_ms,
            decisions: running.decisions.clone(),
        };
        (Some(running), handle)
    } else {
        // Without the mesh nothing is gossiped: the own chain has no listener,
        // and the next start with the mesh publishes from its head.
        let handle = NodeHandle {
            chain: OwnChain::detached(node.ledger.clone(), key, node.guard.clone()),
            sandbox,
            mesh: SharedMeshView::default(),
            skills: SkillStore::new(paths.skills()),
            gov: ippoc_swarm::gov_view::new_view(),
            epoch_ms: config.mesh.epoch_ms,
            // No mesh, no watcher: the DAO is not read.
            decisions: if config.governance.rpc.is_empty() {
                Arc::new(ippoc_economy::standing::NoDao)
            } else {
                Arc::new(ippoc_economy::standing::Unread)
            },
        };
        metrics::register_detached(&mut registry, &handle);
        (None, handle)
    };
    registry.register_collector(Box::new(metrics::ProcessCollector::default()));
    let readiness: Arc<dyn metrics::Readiness> = Arc::new(metrics::NodeReadiness {
        gov: handle.gov.clone(),
        following: !config.governance.rpc.is_empty(),
        poll_ms: config.governance.poll_ms,
    });
    if let Some((_, maddr)) = &metrics {
        fsutil::write_atomic(&paths.metrics_endpoint(), format!("{maddr}\n").as_bytes(), 0o644)
            .map_err(BootError::at(BootStep::AdminApi))?;
        tracing::info!(addr = %maddr, "metrics on http://{maddr}/metrics");
    }
    fsutil::write_atomic(&paths.api_endpoint(), format!("{addr}\n").as_bytes(), 0o644)
        .map_err(BootError::at(BootStep::AdminApi))?;
    let facts = StatusFacts {
        node_id: node.identity.node_id().to_string(),
        data_dir: node.data_dir.root().display().to_string(),
        node_dir: paths.root().display().to_string(),
        api_addr: addr.to_string(),
        hardware_fingerprint: node.fingerprint.hash_hex().to_string(),
        metrics_addr: metrics.as_ref().map(|(_, a)| a.to_string()),
    };
    let status_line = format!("node {} ready, admin API on {addr}", node.identity.node_id().short());
    if let Err(e) = sd_notify::notify(&[NotifyState::Ready, NotifyState::Status(&status_line)]) {
        let _ = std::fs::remove_file(paths.api_endpoint());
        let _ = std::fs::remove_file(paths.metrics_endpoint());
        return Err(BootError::at(BootStep::Ready)(NodeError::io(
            "cannot notify systemd through",
            std::env::var_os("NOTIFY_SOCKET").unwrap_or_default(),
            e,
        )));
    }
    tracing::info!(node_id = %node.identity.node_id(), api = %addr, "node ready");
    Ok(Started {
        node: running,
        listener,
        router: api::router(token, facts, Arc::new(handle), readiness.clone()),
        metrics: metrics.map(|(listener, _)| (listener, metrics::router(registry, readiness))),
        terminate,
        interrupt,
    })
}

/// Binds the metrics listener.
async fn bind_metrics(listen: &str) -> Result<(TcpListener, std::net::SocketAddr), BootError> {
    let listener = TcpListener::bind(listen).await.map_err(|source| {
        BootError::at(BootStep::AdminApi)(NodeError::ApiBind {
            addr: format!("{listen} (metrics.listen)"),
            source,
        })
    })?;
    let addr = listener
        .local_addr()
        .map_err(|e| BootError::at(BootStep::AdminApi)(NodeError::io("cannot read address of", listen, e)))?;
    Ok((listener, addr))
}

async fn serve_until_signal(node: BootedNode, started: Started, config: &Config) -> Result<(), DaemonError> {
    let Started {
        node: running,
        listener,
        router,
        metrics,
        mut terminate,
        mut interrupt,
    } = started;
    let watchdog = sd_notify::watchdog_enabled().map(|period| {
        // systemd recommends pinging at half the period. The ping comes from
        // the runtime itself, so a wedged runtime stops the pings and is restarted.
        let interval = period / 2;
        tracing::info!(interval_ms = interval.as_millis() as u64, "systemd watchdog enabled");
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval.max(Duration::from_millis(1)));
            loop {
                ticks.tick().await;
                if let Err(e) = sd_notify::notify(&[NotifyState::Watchdog]) {
                    tracing::warn!("watchdog ping failed: {e}");
                }
            }
        })
    });
    let scrub = Scrub::start(node.ledger.clone());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let mut server = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stop_rx.await;
            })
            .await
    });
    // The metrics listener stops with the process; nothing it serves needs
    // a graceful end (a scrape cut short is retried by the scraper).
    let metrics_server = metrics.map(|(listener, router)| {
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                tracing::error!("the metrics listener stopped: {e}");
            }
        })
    });
    let server_result = tokio::select! {
        _ = terminate.recv() => { tracing::info!("SIGTERM received, stopping"); None }
        _ = interrupt.recv() => { tracing::info!("SIGINT received, stopping"); None }
        ended = &mut server => Some(ended),
    };
    let _ = sd_notify::notify(&[NotifyState::Stopping]);
    if let Some(w) = watchdog {
        w.abort();
    }
    if let Some(running) = running {
        running.stop().await;
    }
    scrub.stop();
    let endpoint = node.identity.paths().api_endpoint();
    let outcome = match server_result {
        Some(ended) => Err(DaemonError::Run(NodeError::io(
            "admin API stopped unexpectedly on",
            &endpoint,
            match ended {
                Ok(Ok(())) => std::io::Error::other("server returned"),
                Ok(Err(e)) => e,
                Err(join) => std::io::Error::other(join.to_string()),
            },
        ))),
        None => {
            let _ = stop_tx.send(());
            let timeout_ms = config.daemon.shutdown_timeout_ms;
            match tokio::time::timeout(Duration::from_millis(timeout_ms), server).await {
                Ok(_) => Ok(()),
                Err(_) => Err(DaemonError::ShutdownTimedOut { timeout_ms }),
            }
        }
    };
    let _ = std::fs::remove_file(&endpoint);
    if let Some(m) = metrics_server {
        // Waited for, so its collectors let go of the ledger before it closes.
        m.abort();
        let _ = m.await;
        let _ = std::fs::remove_file(node.identity.paths().metrics_endpoint());
    }
    tracing::info!(node_id = %node.identity.node_id(), "node stopped");
    outcome
}

/// The boot-time scrub of the store (every record's hash, position and
/// signature: `Ledger::scrub`), on a thread of its own while the node
/// serves. Reads already check each entry's hash and a sync range its
/// signatures; the scrub finds damage in records nobody has read yet and
/// says what to do. Measured: docs/benchmarks.md ("Store scrub").
struct Scrub {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Scrub {
    fn start(ledger: Arc<ippoc_economy::store::Ledger>) -> Scrub {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("ledger-scrub".into())
            .spawn(move || {
                let started = std::time::Instant::now();
                match ledger.scrub_until(&flag) {
                    Ok(r) if !r.complete => tracing::debug!(records = r.records, "ledger scrub stopped with the node"),
                    Ok(r) if r.damaged_total == 0 => tracing::info!(
                        event = "ledger_scrubbed",
                        records = r.records,
                        ms = started.elapsed().as_millis() as u64,
                        "every stored record checked: none damaged"
                    ),
                    Ok(r) => {
                        let first = &r.damaged[0];
                        tracing::error!(
                            event = "ledger_damaged",
                            damaged = r.damaged_total,
                            kind = first.kind,
                            at = ?first.position,
                            reason = %first.reason,
                            "stored records are damaged (never served: reads and sync check them); stop the node and run `ippoc ledger repair`"
                        );
                    }
                    Err(e) => tracing::warn!("ledger scrub could not run: {e}"),
                }
            })
            .expect("a thread can be spawned at boot");
        Scrub { stop, thread }
    }

    /// Stops the scrub (within one batch) and waits for its thread.
    fn stop(self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = self.thread.join();
    }
}
