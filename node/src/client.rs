//! The CLI's side of the admin API: find the running daemon and ask it.

use std::time::Duration;

use crate::api::NodeStatus;
use crate::error::NodeError;
use crate::identity;
use crate::paths::{DataDir, NodePaths};

/// How long the CLI waits for the daemon before calling it unreachable.
pub const REQUEST_TIMEOUT_MS: u64 = 5_000;

/// Asks the daemon running on `data_dir` for its status.
pub async fn fetch_status(data_dir: &DataDir) -> Result<NodeStatus, NodeError> {
    let paths = identity::find_node(data_dir)?;
    let (addr, token) = endpoint_and_token(data_dir, &paths)?;
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(REQUEST_TIMEOUT_MS))
        .build()
        .map_err(|e| NodeError::Protocol(format!("cannot build HTTP client: {e}")))?;
    let unreachable = |reason: String| NodeError::DaemonUnreachable {
        data_dir: data_dir.root().to_path_buf(),
        reason,
    };
    let response = client
        .get(format!("http://{addr}/v1/status"))
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| {
            unreachable(format!(
                "nothing answers at {addr}: {e}; a stale api.endpoint after a crash?"
            ))
        })?;
    match response.status().as_u16() {
        200 => response
            .json::<NodeStatus>()
            .await
            .map_err(|e| NodeError::Protocol(format!("bad status document: {e}"))),
        401 => Err(NodeError::Unauthorized {
            token_path: paths.api_token(),
        }),
        code => Err(NodeError::Protocol(format!("HTTP {code} from {addr}"))),
    }
}

fn endpoint_and_token(
    data_dir: &DataDir,
    paths: &NodePaths,
) -> Result<(String, String), NodeError> {
    let endpoint_path = paths.api_endpoint();
    let addr = match std::fs::read_to_string(&endpoint_path) {
        Ok(text) => text.trim().to_string(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(NodeError::DaemonUnreachable {
                data_dir: data_dir.root().to_path_buf(),
                reason: format!("{} does not exist", endpoint_path.display()),
            });
        }
        Err(e) => return Err(NodeError::io("cannot read", &endpoint_path, e)),
    };
    let parsed: std::net::SocketAddr = addr.parse().map_err(|_| {
        NodeError::Protocol(format!(
            "{} holds {addr:?}, not an address",
            endpoint_path.display()
        ))
    })?;
    if !parsed.ip().is_loopback() {
        return Err(NodeError::Protocol(format!(
            "{} points at {parsed}; the admin API only ever listens on loopback",
            endpoint_path.display()
        )));
    }
    Ok((addr, identity::read_api_token(paths)?))
}
