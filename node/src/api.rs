//! The admin HTTP API: localhost only, bearer-token authenticated.
//!
//! Routes: `GET /v1/status` (token required) and `GET /healthz` (no token; says
//! only "ok", for liveness probes). Every other path is 404. The token lives in
//! `data/api.token` (0600); whoever can read it may administer the node.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

/// What `GET /v1/status` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// The NodeID (64 hex digits).
    pub node_id: String,
    /// Version of the running `ippoc`.
    pub version: String,
    /// Process id of the daemon.
    pub pid: u32,
    /// Milliseconds since the daemon became ready.
    pub uptime_ms: u64,
    /// Unix time (ms) when the daemon became ready.
    pub ready_at_unix_ms: u64,
    /// The data dir.
    pub data_dir: String,
    /// The node directory.
    pub node_dir: String,
    /// Where this API listens.
    pub api_addr: String,
    /// SHA-256 hardware fingerprint the node is bound to (verified at boot).
    pub hardware_fingerprint: String,
}

/// The fixed facts the API reports, captured when the daemon is ready.
#[derive(Debug, Clone)]
pub struct StatusFacts {
    /// See [`NodeStatus::node_id`].
    pub node_id: String,
    /// See [`NodeStatus::data_dir`].
    pub data_dir: String,
    /// See [`NodeStatus::node_dir`].
    pub node_dir: String,
    /// See [`NodeStatus::api_addr`].
    pub api_addr: String,
    /// See [`NodeStatus::hardware_fingerprint`].
    pub hardware_fingerprint: String,
}

struct ApiState {
    token: String,
    facts: StatusFacts,
    ready_at: Instant,
    ready_at_unix_ms: u64,
}

/// Builds the router; `token` is the bearer token callers must present.
pub fn router(token: String, facts: StatusFacts) -> Router {
    let state = Arc::new(ApiState {
        token,
        facts,
        ready_at: Instant::now(),
        ready_at_unix_ms: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0),
    });
    let authed = Router::new()
        .route("/v1/status", get(status))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .merge(authed)
        .with_state(state)
}

async fn status(State(state): State<Arc<ApiState>>) -> axum::Json<NodeStatus> {
    let f = &state.facts;
    axum::Json(NodeStatus {
        node_id: f.node_id.clone(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        pid: std::process::id(),
        uptime_ms: state.ready_at.elapsed().as_millis() as u64,
        ready_at_unix_ms: state.ready_at_unix_ms,
        data_dir: f.data_dir.clone(),
        node_dir: f.node_dir.clone(),
        api_addr: f.api_addr.clone(),
        hardware_fingerprint: f.hardware_fingerprint.clone(),
    })
}

async fn require_token(
    State(state): State<Arc<ApiState>>,
    request: Request,
    next: Next,
) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    // Constant-time, so response timing does not leak how much of a guess matched.
    let ok: bool = presented.as_bytes().ct_eq(state.token.as_bytes()).into();
    if !ok {
        tracing::warn!(path = %request.uri().path(), "admin API request with a missing or wrong token");
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            axum::Json(serde_json::json!({"error": "missing or wrong bearer token"})),
        )
            .into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn serve() -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
        let facts = StatusFacts {
            node_id: "ab".repeat(32),
            data_dir: "/d".into(),
            node_dir: "/d/nodes/x".into(),
            api_addr: "127.0.0.1:0".into(),
            hardware_fingerprint: "f".into(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            axum::serve(listener, router("secret".into(), facts))
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
        (addr, tx)
    }

    #[tokio::test]
    async fn status_needs_the_exact_token_and_healthz_needs_none() {
        let (addr, _stop) = serve().await;
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let url = format!("http://{addr}/v1/status");
        for auth in [
            None,
            Some("Bearer wrong"),
            Some("Bearer secre"),
            Some("Bearer secretx"),
            Some("secret"),
        ] {
            let mut req = client.get(&url);
            if let Some(a) = auth {
                req = req.header("authorization", a);
            }
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status(), 401, "{auth:?}");
        }
        let resp = client.get(&url).bearer_auth("secret").send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let status: NodeStatus = resp.json().await.unwrap();
        assert_eq!(status.node_id, "ab".repeat(32));
        assert_eq!(status.pid, std::process::id());
        let health = client
            .get(format!("http://{addr}/healthz"))
            .send()
            .await
            .unwrap();
        assert_eq!(health.status(), 200);
        let missing = client
            .get(format!("http://{addr}/v1/nope"))
            .bearer_auth("secret")
            .send()
            .await
            .unwrap();
        assert_eq!(missing.status(), 404);
    }
}
