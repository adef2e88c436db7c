//! The metrics listener (`[metrics]`, docs/metrics.md): `GET /metrics` in
//! the Prometheus exposition format, `GET /healthz` and `GET /readyz`, no
//! token. It listens apart from the admin API so that a Prometheus server
//! (or an operator opening it to one) never needs the admin token.
//!
//! `/metrics` answers OpenMetrics 1.0 to clients that ask for it (Prometheus
//! does) and the classic text format 0.0.4 to everyone else (`curl`,
//! `promtool check metrics`, older scrapers).

use std::fmt;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::{Registry, Unit};

/// `Content-Type` of OpenMetrics text.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// `Content-Type` of the classic text format.
pub const CLASSIC: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The route of the exposition.
pub const METRICS: &str = "/metrics";
/// Readiness: 200 once the node serves and, following a DAO, reads its chain.
pub const READYZ: &str = "/readyz";

/// Whether the node is ready for traffic, and why not.
pub trait Readiness: Send + Sync + 'static {
    /// `Err(reason)` while not ready.
    fn ready(&self) -> Result<(), String>;
}

/// Ready once serving, and, for a node following a DAO, while its newest
/// round with the chain succeeded and is recent (no older than five polls,
/// at least 15 s): a node that cannot read its DAO prices and anchors on
/// stale decisions.
pub struct NodeReadiness {
    /// What the node knows of the DAO.
    pub gov: ippoc_swarm::gov_view::SharedGovView,
    /// Whether `[governance] rpc` is set.
    pub following: bool,
    /// `[governance] poll_ms`.
    pub poll_ms: u64,
}

impl Readiness for NodeReadiness {
    fn ready(&self) -> Result<(), String> {
        if !self.following {
            return Ok(());
        }
        let g = self.gov.borrow();
        if g.read_at_ms == 0 {
            return Err(match &g.last_error {
                Some(e) => format!("the DAO's chain has not been read yet: {e}"),
                None => "the DAO's chain has not been read yet".into(),
            });
        }
        if let Some(e) = &g.last_error {
            return Err(format!("the newest round with the DAO's chain failed: {e}"));
        }
        let stale_ms = self.poll_ms.saturating_mul(5).max(15_000);
        let age = ippoc_swarm::ledger::now_ms().saturating_sub(g.read_at_ms);
        if age > stale_ms {
            return Err(format!(
                "the DAO's chain was last read {age} ms ago (stale after {stale_ms} ms)"
            ));
        }
        Ok(())
    }
}

/// The answer of `/readyz`: 200 `ready`, or 503 with the reason as JSON.
pub fn readyz(readiness: &dyn Readiness) -> Response {
    match readiness.ready() {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({ "error": reason })),
        )
            .into_response(),
    }
}

struct Served {
    registry: Registry,
    readiness: Arc<dyn Readiness>,
}

/// The metrics listener's routes over `registry`.
pub fn router(registry: Registry, readiness: Arc<dyn Readiness>) -> Router {
    let state = Arc::new(Served { registry, readiness });
    Router::new()
        .route(METRICS, get(metrics))
        .route(crate::routes::HEALTHZ, get(|| async { "ok\n" }))
        .route(
            READYZ,
            get(|State(s): State<Arc<Served>>| async move { readyz(s.readiness.as_ref()) }),
        )
        .fallback(|uri: axum::http::Uri| async move {
            (
                StatusCode::NOT_FOUND,
                axum::Json(serde_json::json!({ "error": format!("no such route: {}", uri.path()) })),
            )
        })
        .with_state(state)
}

async fn metrics(State(s): State<Arc<Served>>, headers: HeaderMap) -> Response {
    let open = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/openmetrics-text"));
    // Collectors read the store: off the async threads.
    let encoded = tokio::task::spawn_blocking(move || encode(&s.registry, open)).await;
    match encoded {
        Ok(Ok(body)) => ([(header::CONTENT_TYPE, if open { OPENMETRICS } else { CLASSIC })], body).into_response(),
        Ok(Err(_)) | Err(_) => {
            tracing::error!("the metrics could not be encoded");
            (StatusCode::INTERNAL_SERVER_ERROR, "the metrics could not be encoded\n").into_response()
        }
    }
}

/// The exposition of `registry`: OpenMetrics, or the classic text format.
pub fn encode(registry: &Registry, openmetrics: bool) -> Result<String, fmt::Error> {
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, registry)?;
    Ok(if openmetrics { out } else { classic(&out) })
}

/// OpenMetrics text as the classic text format 0.0.4: a counter family is
/// named with its `_total` (OpenMetrics names it without), `# UNIT` and
/// `# EOF` go, `_created` samples go, `info` becomes a gauge named `_info`
/// and a state set a gauge.
pub fn classic(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    let mut lines = openmetrics.lines().peekable();
    while let Some(line) = lines.next() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        // A family: HELP, then TYPE, then its samples; read its type first.
        let Some(rest) = line.strip_prefix("# HELP ") else {
            out.push_str(line);
            out.push('\n');
            continue;
        };
        let name = rest.split(' ').next().unwrap_or_default();
        let kind = lines
            .peek()
            .and_then(|l| l.strip_prefix("# TYPE "))
            .and_then(|t| t.strip_prefix(name))
            .map(str::trim)
            .unwrap_or("unknown");
        let (renamed, classic_kind) = match kind {
            "counter" => (format!("{name}_total"), "counter"),
            "info" => (format!("{name}_info"), "gauge"),
            "stateset" => (name.to_string(), "gauge"),
            "gauge" | "histogram" | "summary" => (name.to_string(), kind),
            _ => (name.to_string(), "untyped"),
        };
        out.push_str(&format!("# HELP {renamed}{}\n", &rest[name.len()..]));
        out.push_str(&format!("# TYPE {renamed} {classic_kind}\n"));
        if lines.peek().is_some_and(|l| l.starts_with("# TYPE ")) {
            lines.next();
        }
        while let Some(sample) = lines.next_if(|l| !l.starts_with("# HELP ") && *l != "# EOF") {
            if sample.starts_with("# UNIT ") {
                continue;
            }
            let sample_name = sample.split(['{', ' ']).next().unwrap_or_default();
            if kind == "counter" && sample_name.ends_with("_created") {
                continue;
            }
            out.push_str(sample);
            out.push('\n');
        }
    }
    out
}

/// Registers the metrics of a node running without the mesh (the builder
/// registers them itself otherwise): its sandbox's, and its kept state's.
pub(crate) fn register_detached(registry: &mut Registry, node: &crate::api::NodeHandle) {
    node.sandbox.metrics().register(registry);
    registry.register_collector(Box::new(ippoc_swarm::metrics::NodeCollector {
        ledger: node.chain.ledger().clone(),
        view: node.mesh.clone(),
        gov: node.gov.clone(),
        epoch_ms: node.epoch_ms,
    }));
}

/// The process's own figures, under the names every Prometheus client
/// library uses (`process_*`), so stock dashboards work; and the build.
pub struct ProcessCollector {
    system: Mutex<Option<sysinfo::System>>,
    pid: sysinfo::Pid,
}

impl fmt::Debug for ProcessCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessCollector").field("pid", &self.pid).finish()
    }
}

impl Default for ProcessCollector {
    fn default() -> Self {
        ProcessCollector {
            system: Mutex::new(None),
            pid: sysinfo::Pid::from_u32(std::process::id()),
        }
    }
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        fn gauge(e: &mut DescriptorEncoder, name: &str, help: &str, unit: Option<Unit>, v: f64) -> fmt::Result {
            let g = ConstGauge::new(v);
            g.encode(e.encode_descriptor(name, help, unit.as_ref(), g.metric_type())?)
        }
        let info = {
            use sysinfo::{ProcessRefreshKind, ProcessesToUpdate, System};
            let mut system = self.system.lock().unwrap_or_else(|p| p.into_inner());
            if system.is_none() {
                *system = System::new().ok();
            }
            system.as_mut().and_then(|s| {
                let kind = ProcessRefreshKind::nothing().with_memory().with_cpu();
                s.refresh_processes_specifics(ProcessesToUpdate::Some(&[self.pid]), true, kind);
                s.process(self.pid).map(|p| {
                    (
                        p.memory(),
                        p.virtual_memory(),
                        p.start_time(),
                        p.accumulated_cpu_time(),
                        p.open_files_limit(),
                    )
                })
            })
        };
        {
            let one = ConstGauge::new(1.0);
            let mut m = encoder.encode_descriptor(
                "ippoc_build_info",
                "Always 1, labelled with the running version",
                None,
                one.metric_type(),
            )?;
            one.encode(m.encode_family(&[("version", env!("CARGO_PKG_VERSION"))])?)?;
        }
        if let Some((rss, virt, start, cpu_ms, fds_max)) = info {
            let e = &mut encoder;
            gauge(
                e,
                "process_resident_memory",
                "Resident memory size",
                Some(Unit::Bytes),
                rss as f64,
            )?;
            gauge(
                e,
                "process_virtual_memory",
                "Virtual memory size",
                Some(Unit::Bytes),
                virt as f64,
            )?;
            gauge(
                e,
                "process_start_time",
                "Start time of the process since the Unix epoch",
                Some(Unit::Seconds),
                start as f64,
            )?;
            if let Some(max) = fds_max {
                gauge(
                    e,
                    "process_max_fds",
                    "Most open file descriptors allowed",
                    None,
                    max as f64,
                )?;
            }
            let cpu = ConstCounter::new(cpu_ms as f64 / 1000.0);
            cpu.encode(encoder.encode_descriptor(
                "process_cpu",
                "User and system CPU time spent",
                Some(&Unit::Seconds),
                cpu.metric_type(),
            )?)?;
        }
        if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
            let open = ConstGauge::new(fds.count() as f64);
            open.encode(encoder.encode_descriptor(
                "process_open_fds",
                "Open file descriptors",
                None,
                open.metric_type(),
            )?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_classic_format_names_counters_with_total_and_drops_what_it_lacks() {
        let open = "# HELP a_requests Requests.\n# TYPE a_requests counter\na_requests_total{x=\"1\"} 3\na_requests_created{x=\"1\"} 1.5\n\
                    # HELP b_free_bytes Free.\n# TYPE b_free_bytes gauge\n# UNIT b_free_bytes bytes\nb_free_bytes 7\n\
                    # HELP c_build Build.\n# TYPE c_build info\nc_build_info{v=\"1\"} 1\n# EOF\n";
        let text = classic(open);
        assert_eq!(
            text,
            "# HELP a_requests_total Requests.\n# TYPE a_requests_total counter\na_requests_total{x=\"1\"} 3\n\
             # HELP b_free_bytes Free.\n# TYPE b_free_bytes gauge\nb_free_bytes 7\n\
             # HELP c_build_info Build.\n# TYPE c_build_info gauge\nc_build_info{v=\"1\"} 1\n"
        );
    }
}
