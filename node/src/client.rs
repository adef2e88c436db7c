//! The CLI's side of the admin API: find the running daemon and ask it.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::api::NodeStatus;
use crate::error::NodeError;
use crate::identity;
use crate::paths::{DataDir, NodePaths};

/// How long the CLI waits for the daemon before calling it unreachable.
pub const REQUEST_TIMEOUT_MS: u64 = 30_000;

/// A connection to the daemon running on a data dir.
pub struct DaemonClient {
    addr: String,
    token: String,
    paths: NodePaths,
    data_dir: DataDir,
    http: reqwest::Client,
}

impl DaemonClient {
    /// Reads the daemon's endpoint and token; fails if no daemon published one.
    pub fn connect(data_dir: &DataDir) -> Result<DaemonClient, NodeError> {
        let paths = identity::find_node(data_dir)?;
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
        let parsed: std::net::SocketAddr = addr
            .parse()
            .map_err(|_| NodeError::Protocol(format!("{} holds {addr:?}, not an address", endpoint_path.display())))?;
        if !parsed.ip().is_loopback() {
            return Err(NodeError::Protocol(format!(
                "{} points at {parsed}; the admin API only ever listens on loopback",
                endpoint_path.display()
            )));
        }
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_millis(REQUEST_TIMEOUT_MS))
            .build()
            .map_err(|e| NodeError::Protocol(format!("cannot build HTTP client: {e}")))?;
        Ok(DaemonClient {
            token: identity::read_api_token(&paths)?,
            addr,
            paths,
            data_dir: data_dir.clone(),
            http,
        })
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, NodeError> {
        let response = request
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| NodeError::DaemonUnreachable {
                data_dir: self.data_dir.root().to_path_buf(),
                reason: format!(
                    "nothing answers at {}: {e}; a stale api.endpoint after a crash?",
                    self.addr
                ),
            })?;
        let code = response.status().as_u16();
        if code == 200 {
            return Ok(response);
        }
        let message = response
            .json::<serde_json::Value>()
            .await
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_string))
            .unwrap_or_default();
        Err(match code {
            401 => NodeError::Unauthorized {
                token_path: self.paths.api_token(),
            },
            400 | 413 => NodeError::BadInput(message),
            409 => NodeError::Refused(message),
            503 => NodeError::SigningBlocked(message.trim_start_matches("this node may not sign now: ").to_string()),
            507 => NodeError::StorageFull(message),
            _ => NodeError::Protocol(format!("HTTP {code} from {}: {message}", self.addr)),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Sends `request` and decodes the JSON answer.
    async fn json<T: DeserializeOwned>(&self, path: &str, request: reqwest::RequestBuilder) -> Result<T, NodeError> {
        let r = self.send(request).await?;
        r.json()
            .await
            .map_err(|e| NodeError::Protocol(format!("bad answer to {path}: {e}")))
    }

    /// `GET path`, JSON answer.
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, NodeError> {
        self.json(path, self.http.get(self.url(path))).await
    }

    /// `GET path`, raw bytes.
    pub async fn get_bytes(&self, path: &str) -> Result<Vec<u8>, NodeError> {
        let r = self.send(self.http.get(self.url(path))).await?;
        Ok(r.bytes()
            .await
            .map_err(|e| NodeError::Protocol(e.to_string()))?
            .to_vec())
    }

    /// `POST path` with a JSON body, JSON answer.
    pub async fn post_json<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T, NodeError> {
        self.json(path, self.http.post(self.url(path)).json(body)).await
    }

    /// `POST path` with raw bytes, JSON answer.
    pub async fn post_bytes<T: DeserializeOwned>(&self, path: &str, body: Vec<u8>) -> Result<T, NodeError> {
        self.json(path, self.http.post(self.url(path)).body(body)).await
    }
}

/// Asks the daemon running on `data_dir` for its status.
pub async fn fetch_status(data_dir: &DataDir) -> Result<NodeStatus, NodeError> {
    DaemonClient::connect(data_dir)?.get_json(crate::routes::STATUS).await
}
