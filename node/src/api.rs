//! The admin HTTP API: localhost only, bearer-token authenticated.
//!
//! Routes (all but `/healthz` and `/readyz` need the token):
//!
//! | route                         | answer                                        |
//! |-------------------------------|-----------------------------------------------|
//! | `GET /healthz`                | `ok` (liveness probes)                        |
//! | `GET /readyz`                 | `ready`, or 503 and why not (readiness probes) |
//! | `GET /v1/status`              | [`NodeStatus`]                                |
//! | `GET /v1/wallet`              | [`WalletView`]                                |
//! | `GET /v1/ledger/entries`      | `?actor=&from=&limit=` → `[EntryView]`        |
//! | `GET /v1/ledger/verify`       | [`VerifyView`]                                |
//! | `GET /v1/ledger/export`       | `?actor=` → export file bytes                 |
//! | `POST /v1/transfer`           | [`TransferRequest`] → [`EntryView`], durable  |
//! | `POST /v1/ledger/import`      | export file bytes → [`ImportView`]            |
//! | `POST /v1/metabolism/quote`   | [`ChargeKind`] → [`QuoteView`]                |
//! | `POST /v1/metabolism/charge`  | [`ChargeRequest`] → [`EntryView`] or 409      |
//! | `GET /v1/peers`               | [`ippoc_swarm::view::MeshView`]: peers, addresses, bans |
//! | `GET /v1/ledger/proof`        | `?tx=&epoch=` → [`ippoc_swarm::anchor::InclusionProof`] |
//! | `POST /v1/sandbox/run`        | [`SandboxRunRequest`] → [`SandboxRunView`], charged |
//! | `GET /v1/skills`              | [`ippoc_swarm::gov_view::GovView`]: deployed, held, revoked skills |
//! | `POST /v1/skills/run`         | [`SkillRunRequest`] → [`SandboxRunView`], charged |
//!
//! Errors are JSON `{"error": "..."}` and follow one contract, shared with
//! the CLI's exit codes (README.md, "Errors"): 400 bad input (the message
//! names the field; exit 6), 401 token (exit 5), 404 no such route, 409
//! refused by the ledger's rules given the node's state (exit 6), 413 body
//! too large, 503 the node may not sign now (exit 17), 500 only for a fault
//! of the node, each one logged (exit 1). The token lives in `data/api.token` (0600);
//! whoever can read it may administer the node.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use ippoc_economy::NodeId;
use ippoc_economy::store::Ledger;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::error::NodeError;
use ippoc_swarm::OwnChain;
use ippoc_swarm::ledger::{
    self, ChargeKind, ChargeRequest, EntryView, ImportView, QuoteView, TransferRequest, VerifyView, WalletView,
};
use ippoc_swarm::sandbox::{SandboxRunRequest, SandboxRunView};
use ippoc_swarm::skills::SkillRunRequest;

/// Largest request body (an import file), in bytes.
pub const IMPORT_BYTES_MAX: usize = 64 * 1024 * 1024;

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
    /// Where the metrics listener listens (`[metrics]`; none when off).
    #[serde(default)]
    pub metrics_addr: Option<String>,
    /// The ledger as this node sees it.
    pub ledger: WalletView,
    /// The mesh as this node sees it.
    pub mesh: ippoc_swarm::view::MeshView,
    /// What the node follows of the DAO.
    pub governance: GovernanceStatus,
    /// Whether the node may sign now (its signing guard), and why not.
    pub signing: ippoc_swarm::guard::GuardState,
    /// The swarm's issuance band after the newest closed cycle (none before one closes).
    #[serde(default)]
    pub issuance: Option<ippoc_swarm::issuance::BandView>,
}

/// What the node follows of the DAO: the table it prices under, the skills it
/// may run, how far anchoring has come.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GovernanceStatus {
    /// Whether `[governance] rpc` is set (without it, nothing below changes).
    pub following: bool,
    /// The chain's latest block the node has read.
    pub block: u64,
    /// Version of the parameter table in force: 0 = genesis, then one per
    /// executed change the node adopted.
    pub parameters_version: u32,
    /// The parameter table in force: what this node's own entries are priced under.
    pub parameters: ippoc_economy::params::Parameters,
    /// Skills the DAO deployed and has not revoked.
    pub deployed_skills: usize,
    /// Of those, the ones this node holds a verified copy of.
    pub held_skills: usize,
    /// The newest epoch whose heads this node co-signed.
    pub newest_vote_epoch: Option<u64>,
    /// The newest epoch whose root this node saw anchored on the chain.
    pub newest_anchored_epoch: Option<u64>,
    /// The last error talking to the chain or fetching a module, if the last round had one.
    pub last_error: Option<String>,
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
    /// See [`NodeStatus::metrics_addr`].
    pub metrics_addr: Option<String>,
}

/// What the API acts on: the node's own chain (its ledger, and the only way
/// to append to it, which tells the mesh by construction) and its services.
pub struct NodeHandle {
    /// The own chain.
    pub chain: OwnChain,
    /// The node's sandbox.
    pub sandbox: Arc<ippoc_sandbox::Sandbox>,
    /// What the mesh looks like.
    pub mesh: ippoc_swarm::view::SharedMeshView,
    /// The node's skill modules.
    pub skills: ippoc_swarm::skills::SkillStore,
    /// What the node knows of the DAO's decisions.
    pub gov: ippoc_swarm::gov_view::SharedGovView,
    /// The checkpoint epoch, ms: the unit of integrity cycles.
    pub epoch_ms: u64,
    /// The DAO's ladder decisions as far as read.
    pub decisions: Arc<dyn ippoc_economy::standing::Decisions>,
}

struct ApiState {
    readiness: Arc<dyn crate::metrics::Readiness>,
    token: String,
    facts: StatusFacts,
    node: Arc<NodeHandle>,
    ready_at: Instant,
    ready_at_unix_ms: u64,
}

/// Builds the router; `token` is the bearer token callers must present.
pub fn router(
    token: String,
    facts: StatusFacts,
    node: Arc<NodeHandle>,
    readiness: Arc<dyn crate::metrics::Readiness>,
) -> Router {
    let state = Arc::new(ApiState {
        readiness,
        token,
        facts,
        node,
        ready_at: Instant::now(),
        ready_at_unix_ms: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0),
    });
    let authed = Router::new()
        .route(crate::routes::STATUS, get(status))
        .route(crate::routes::WALLET, get(wallet))
        .route(crate::routes::LEDGER_ENTRIES, get(entries))
        .route(crate::routes::LEDGER_VERIFY, get(verify))
        .route(crate::routes::LEDGER_EXPORT, get(export))
        .route(crate::routes::LEDGER_PROOF, get(proof))
        .route(crate::routes::GI_PROOF, get(gi_proof))
        .route(crate::routes::TRANSFER, post(transfer))
        .route(crate::routes::LEDGER_IMPORT, post(import))
        .route(crate::routes::METABOLISM_QUOTE, post(quote))
        .route(crate::routes::METABOLISM_CHARGE, post(charge))
        .route(crate::routes::SANDBOX_RUN, post(sandbox_run))
        .route(crate::routes::PEERS, get(peers))
        .route(crate::routes::GI, get(gi))
        .route(crate::routes::MIC_RESERVE, get(mic_reserve))
        .route(crate::routes::MIC_TRANCHES, get(mic_tranches))
        .route(crate::routes::MIC_PREVIEW, post(mic_preview))
        .route(crate::routes::MIC_AUTHORIZE, post(mic_authorize))
        .route(crate::routes::MIC_COMMIT, post(mic_commit))
        .route(crate::routes::SKILLS, get(skills))
        .route(crate::routes::SKILLS_RUN, post(skill_run))
        .layer(axum::extract::DefaultBodyLimit::max(IMPORT_BYTES_MAX))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .route(crate::routes::HEALTHZ, get(|| async { "ok\n" }))
        .route(
            crate::metrics::READYZ,
            get(|State(s): State<Arc<ApiState>>| async move { crate::metrics::readyz(s.readiness.as_ref()) }),
        )
        .merge(authed)
        .fallback(|uri: axum::http::Uri| async move {
            ApiError(StatusCode::NOT_FOUND, format!("no such route: {}", uri.path()))
        })
        .method_not_allowed_fallback(|| async {
            ApiError(StatusCode::METHOD_NOT_ALLOWED, "wrong method for this route".into())
        })
        .with_state(state)
}

/// An API error: a status code and a message.
struct ApiError(StatusCode, String);

impl From<NodeError> for ApiError {
    fn from(e: NodeError) -> Self {
        let code = match e {
            NodeError::BadInput(_) => StatusCode::BAD_REQUEST,
            NodeError::Refused(_) => StatusCode::CONFLICT,
            // Temporary: the node is recovering its own chain (or must hear a peer) before it signs.
            NodeError::SigningBlocked(_) => StatusCode::SERVICE_UNAVAILABLE,
            NodeError::StorageFull(_) => StatusCode::INSUFFICIENT_STORAGE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if code == StatusCode::INTERNAL_SERVER_ERROR {
            // Only a fault of the node answers 500, and each one is logged.
            tracing::error!(event = "api_internal_error", error = %e, "admin API request failed");
        }
        ApiError(code, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, axum::Json(serde_json::json!({"error": self.1}))).into_response()
    }
}

type ApiResult<T> = Result<axum::Json<T>, ApiError>;

impl NodeHandle {
    fn ledger(&self) -> &Ledger {
        self.chain.ledger()
    }
}

/// Runs blocking ledger work (sled, fsync) off the async workers.
async fn blocking<T: Send + 'static, E: Into<NodeError> + Send + 'static>(
    state: &Arc<ApiState>,
    work: impl FnOnce(&NodeHandle) -> Result<T, E> + Send + 'static,
) -> Result<T, ApiError> {
    let node = state.node.clone();
    tokio::task::spawn_blocking(move || work(&node))
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| ApiError::from(e.into()))
}

async fn wallet(State(state): State<Arc<ApiState>>) -> ApiResult<WalletView> {
    Ok(axum::Json(blocking(&state, |n| ledger::wallet_view(n.ledger())).await?))
}

/// Query of `GET /v1/ledger/entries`.
#[derive(Debug, Deserialize)]
pub struct EntriesQuery {
    /// Chain to read; the node's own by default.
    pub actor: Option<NodeId>,
    /// First seq.
    #[serde(default)]
    pub from: u64,
    /// Most entries.
    pub limit: Option<u64>,
}

async fn entries(State(state): State<Arc<ApiState>>, q: QueryArgs<EntriesQuery>) -> ApiResult<Vec<EntryView>> {
    let q = query(q)?;
    Ok(axum::Json(
        blocking(&state, move |n| {
            let actor = q.actor.unwrap_or(n.chain.owner());
            ledger::ledger_page(n.ledger(), actor, q.from, q.limit.unwrap_or(ledger::PAGE_ENTRIES_MAX))
        })
        .await?,
    ))
}

async fn verify(State(state): State<Arc<ApiState>>) -> ApiResult<VerifyView> {
    Ok(axum::Json(blocking(&state, |n| ledger::verify(n.ledger())).await?))
}

/// Query of `GET /v1/ledger/export`.
#[derive(Debug, Deserialize)]
pub struct ExportQuery {
    /// Chain to export; every chain by default.
    pub actor: Option<NodeId>,
}

/// Query of `GET /v1/ledger/proof`.
#[derive(Debug, Deserialize)]
pub struct ProofQuery {
    /// The entry.
    pub tx: ippoc_economy::TxId,
    /// The snapshot's epoch; the earliest anchored one that includes the entry by default.
    pub epoch: Option<u64>,
}

async fn proof(
    State(state): State<Arc<ApiState>>,
    q: QueryArgs<ProofQuery>,
) -> Result<axum::Json<ippoc_swarm::anchor::InclusionProof>, ApiError> {
    let q = query(q)?;
    blocking(&state, move |n| ippoc_swarm::anchor::prove(n.ledger(), &q.tx, q.epoch))
        .await
        .map(axum::Json)
}

async fn export(State(state): State<Arc<ApiState>>, q: QueryArgs<ExportQuery>) -> Result<Vec<u8>, ApiError> {
    let q = query(q)?;
    blocking(&state, move |n| ledger::export(&n.chain, q.actor)).await
}

/// A JSON body, with malformed input answered as 400 with the parser's reason.
type JsonBody<T> = Result<axum::Json<T>, axum::extract::rejection::JsonRejection>;

/// Query arguments, with malformed ones answered as a JSON 400 like the rest.
type QueryArgs<T> = Result<Query<T>, axum::extract::rejection::QueryRejection>;

fn query<T>(q: QueryArgs<T>) -> Result<T, ApiError> {
    q.map(|Query(v)| v)
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.body_text()))
}

fn body<T>(b: JsonBody<T>) -> Result<T, ApiError> {
    b.map(|axum::Json(v)| v).map_err(|e| {
        // A body over the limit is 413 on every route, as on the import.
        let status = match e.status() {
            StatusCode::PAYLOAD_TOO_LARGE => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError(status, e.body_text())
    })
}

async fn quote(State(state): State<Arc<ApiState>>, b: JsonBody<ChargeKind>) -> ApiResult<QuoteView> {
    let kind = body(b)?;
    Ok(axum::Json(
        blocking(&state, move |n| ledger::quote(n.ledger(), kind)).await?,
    ))
}

async fn charge(State(state): State<Arc<ApiState>>, b: JsonBody<ChargeRequest>) -> ApiResult<EntryView> {
    let request = body(b)?;
    Ok(axum::Json(
        blocking(&state, move |n| ledger::charge(&n.chain, &request)).await?,
    ))
}

fn mesh_view(state: &ApiState) -> ippoc_swarm::view::MeshView {
    state.node.mesh.get()
}

/// Query of `GET /v1/gi`.
#[derive(Debug, Deserialize)]
pub struct GiQuery {
    /// The node; this node by default.
    pub node: Option<NodeId>,
    /// The cycle; the newest closed one by default.
    pub cycle: Option<u64>,
}

async fn gi(State(state): State<Arc<ApiState>>, q: QueryArgs<GiQuery>) -> ApiResult<ippoc_swarm::integrity::GiReport> {
    let q = query(q)?;
    let epoch_ms = state.node.epoch_ms;
    Ok(axum::Json(
        blocking(&state, move |n| {
            let node = q.node.unwrap_or(n.ledger().owner());
            let now = ippoc_swarm::ledger::now_ms();
            ippoc_swarm::integrity::report(n.ledger(), epoch_ms, node, q.cycle, now, n.decisions.as_ref())
                .map_err(NodeError::from)
        })
        .await?,
    ))
}

/// Query of `GET /v1/gi/proof`.
#[derive(Debug, Deserialize)]
pub struct GiProofQuery {
    /// The node; this node by default.
    pub node: Option<NodeId>,
    /// The cycle; the newest whose table this node's anchors commit to by default.
    pub cycle: Option<u64>,
}

async fn gi_proof(
    State(state): State<Arc<ApiState>>,
    q: QueryArgs<GiProofQuery>,
) -> ApiResult<ippoc_governance_bridge::dao::GiProof> {
    let q = query(q)?;
    Ok(axum::Json(
        blocking(&state, move |n| {
            let node = q.node.unwrap_or(n.ledger().owner());
            ippoc_swarm::anchor::gi_proof(n.ledger(), &node, q.cycle)
        })
        .await?,
    ))
}

/// Query of `GET /v1/mic/reserve` and `/v1/mic/tranches`.
#[derive(Debug, Deserialize)]
pub struct MicQuery {
    /// The node; this node by default.
    pub node: Option<NodeId>,
}

async fn mic_reserve(
    State(state): State<Arc<ApiState>>,
    q: QueryArgs<MicQuery>,
) -> ApiResult<ippoc_swarm::issuance::ReserveReport> {
    let q = query(q)?;
    Ok(axum::Json(
        blocking(&state, move |n| {
            let node = q.node.unwrap_or(n.ledger().owner());
            ippoc_swarm::issuance::reserve(n.ledger(), node).map_err(NodeError::from)
        })
        .await?,
    ))
}

async fn mic_tranches(
    State(state): State<Arc<ApiState>>,
    q: QueryArgs<MicQuery>,
) -> ApiResult<Vec<ippoc_economy::store::TrancheView>> {
    let q = query(q)?;
    Ok(axum::Json(
        blocking(&state, move |n| {
            let node = q.node.unwrap_or(n.ledger().owner());
            ippoc_swarm::issuance::tranches(n.ledger(), node).map_err(NodeError::from)
        })
        .await?,
    ))
}

async fn mic_preview(
    State(state): State<Arc<ApiState>>,
    b: JsonBody<ippoc_swarm::issuance::PreviewRequest>,
) -> ApiResult<ippoc_swarm::issuance::MintPreview> {
    let request = body(b)?;
    Ok(axum::Json(
        blocking(&state, move |n| {
            ippoc_swarm::issuance::preview(n.ledger(), request.tranche, ippoc_swarm::ledger::now_ms())
                .map_err(NodeError::from)
        })
        .await?,
    ))
}

async fn mic_authorize(
    State(state): State<Arc<ApiState>>,
    b: JsonBody<ippoc_swarm::issuance::AuthorizeRequest>,
) -> ApiResult<ippoc_economy::entry::SentinelSignature> {
    let r = body(b)?;
    Ok(axum::Json(
        blocking(&state, move |n| {
            n.chain
                .authorize_mint(&r.owner, r.tranche, r.cycle, ippoc_swarm::ledger::now_ms())
                .map_err(NodeError::from)
        })
        .await?,
    ))
}

async fn mic_commit(
    State(state): State<Arc<ApiState>>,
    b: JsonBody<ippoc_swarm::issuance::CommitRequest>,
) -> ApiResult<ippoc_swarm::issuance::Committed> {
    let r = body(b)?;
    Ok(axum::Json(
        blocking(&state, move |n| {
            ippoc_swarm::issuance::commit(&n.chain, r, ippoc_swarm::ledger::now_ms()).map_err(NodeError::from)
        })
        .await?,
    ))
}

async fn peers(State(state): State<Arc<ApiState>>) -> axum::Json<ippoc_swarm::view::MeshView> {
    axum::Json(mesh_view(&state))
}

async fn sandbox_run(State(state): State<Arc<ApiState>>, b: JsonBody<SandboxRunRequest>) -> ApiResult<SandboxRunView> {
    let request = body(b)?;
    Ok(axum::Json(
        blocking(&state, move |n| {
            ippoc_swarm::sandbox::run_request(&n.sandbox, &n.chain, &request)
        })
        .await?,
    ))
}

async fn skills(State(state): State<Arc<ApiState>>) -> axum::Json<ippoc_swarm::gov_view::GovView> {
    axum::Json(state.node.gov.borrow().clone())
}

async fn skill_run(State(state): State<Arc<ApiState>>, b: JsonBody<SkillRunRequest>) -> ApiResult<SandboxRunView> {
    let request = body(b)?;
    Ok(axum::Json(
        blocking(&state, move |n| {
            let hash = ippoc_swarm::skills::parse_hash(&request.module)?;
            let input = hex::decode(&request.input_hex).map_err(|e| NodeError::BadInput(format!("input_hex: {e}")))?;
            let view = n.gov.borrow().clone();
            ippoc_swarm::skills::run_deployed(
                &n.sandbox,
                &n.chain,
                &view,
                &n.skills,
                &hash,
                &input,
                request.fuel,
                &request.capabilities,
            )
            .map_err(NodeError::from)
        })
        .await?,
    ))
}

async fn import(State(state): State<Arc<ApiState>>, body: axum::body::Bytes) -> ApiResult<ImportView> {
    Ok(axum::Json(
        blocking(&state, move |n| ledger::import(n.ledger(), &body)).await?,
    ))
}

async fn transfer(State(state): State<Arc<ApiState>>, b: JsonBody<TransferRequest>) -> ApiResult<EntryView> {
    let request = body(b)?;
    Ok(axum::Json(
        blocking(&state, move |n| ledger::transfer(&n.chain, &request)).await?,
    ))
}

async fn status(State(state): State<Arc<ApiState>>) -> ApiResult<NodeStatus> {
    let (view, governance) = blocking(&state, |n| {
        let gov = n.gov.borrow().clone();
        let (parameters_version, parameters) = n.ledger().parameters();
        let (newest_vote_epoch, newest_anchored_epoch) =
            n.ledger().anchoring_progress().map_err(ledger::ledger_error)?;
        let governance = GovernanceStatus {
            following: gov.connected,
            block: gov.block,
            parameters_version,
            parameters,
            deployed_skills: gov.deployed.len(),
            held_skills: gov.held.len(),
            newest_vote_epoch,
            newest_anchored_epoch,
            last_error: gov.last_error,
        };
        let band = ippoc_swarm::issuance::band(n.ledger())?;
        Ok::<_, NodeError>((ledger::wallet_view(n.ledger())?, (governance, band)))
    })
    .await?;
    let (governance, issuance) = governance;
    let f = &state.facts;
    Ok(axum::Json(NodeStatus {
        node_id: f.node_id.clone(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        pid: std::process::id(),
        uptime_ms: state.ready_at.elapsed().as_millis() as u64,
        ready_at_unix_ms: state.ready_at_unix_ms,
        data_dir: f.data_dir.clone(),
        node_dir: f.node_dir.clone(),
        api_addr: f.api_addr.clone(),
        hardware_fingerprint: f.hardware_fingerprint.clone(),
        metrics_addr: f.metrics_addr.clone(),
        ledger: view,
        mesh: mesh_view(&state),
        governance,
        signing: state.node.chain.signing(),
        issuance,
    }))
}

async fn require_token(State(state): State<Arc<ApiState>>, request: Request, next: Next) -> Response {
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
    use ed25519_dalek::SigningKey;

    use super::*;

    async fn serve() -> (
        std::net::SocketAddr,
        tokio::sync::oneshot::Sender<()>,
        tempfile::TempDir,
    ) {
        serve_with(false).await
    }

    /// `guard_missing`: a node of a two-founder swarm whose signing guard is
    /// gone, so it may not sign (503); otherwise a solo node that may.
    async fn serve_with(
        guard_missing: bool,
    ) -> (
        std::net::SocketAddr,
        tokio::sync::oneshot::Sender<()>,
        tempfile::TempDir,
    ) {
        serve_on_disk(guard_missing, 0).await
    }

    /// `reserve_bytes`: the free space the ledger's writes leave (u64::MAX: a full disk).
    async fn serve_on_disk(
        guard_missing: bool,
        reserve_bytes: u64,
    ) -> (
        std::net::SocketAddr,
        tokio::sync::oneshot::Sender<()>,
        tempfile::TempDir,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::from_bytes(&[1; 32]);
        let me = NodeId::from_bytes(key.verifying_key().to_bytes());
        let other = NodeId::from_bytes(SigningKey::from_bytes(&[2; 32]).verifying_key().to_bytes());
        let genesis = if guard_missing {
            ippoc_economy::genesis::Genesis::new(
                "pair",
                1,
                &[me, other],
                ippoc_economy::Amount::from_base(10_000_000_000),
                ippoc_economy::Amount::from_base(1),
            )
        } else {
            ippoc_economy::genesis::Genesis::solo(me, 1)
        };
        let paths = crate::paths::NodePaths::new(dir.path());
        std::fs::create_dir_all(paths.data()).unwrap();
        // Created first with no reserve (creating writes the genesis), then
        // opened with it.
        drop(Ledger::open(&paths.ledger(), genesis.clone(), me, Default::default()).unwrap());
        let options = ippoc_economy::store::LedgerOptions {
            reserve_bytes,
            ..Default::default()
        };
        let ledger = Arc::new(Ledger::open(&paths.ledger(), genesis, me, options).unwrap());
        let sandbox = ippoc_swarm::sandbox::open_sandbox(&paths.sandbox_modules(), &paths.sandbox_cache_key()).unwrap();
        let node = Arc::new(NodeHandle {
            chain: OwnChain::detached(
                ledger.clone(),
                key,
                Arc::new(
                    ippoc_swarm::guard::SigningGuard::open(&paths.signing_guard(), &ledger, !guard_missing, true)
                        .unwrap(),
                ),
            ),
            sandbox: Arc::new(sandbox),
            mesh: Default::default(),
            skills: ippoc_swarm::skills::SkillStore::new(dir.path().join("skills")),
            gov: ippoc_swarm::gov_view::new_view(),
            epoch_ms: 1000,
            decisions: Arc::new(ippoc_economy::standing::NoDao),
        });
        let facts = StatusFacts {
            node_id: "ab".repeat(32),
            data_dir: "/d".into(),
            node_dir: "/d/nodes/x".into(),
            api_addr: "127.0.0.1:0".into(),
            hardware_fingerprint: "f".into(),
            metrics_addr: None,
        };
        // The metrics listener as the daemon wires it (no mesh), its
        // address where the daemon writes it.
        let mut registry = prometheus_client::registry::Registry::default();
        crate::metrics::register_detached(&mut registry, &node);
        registry.register_collector(Box::new(crate::metrics::ProcessCollector::default()));
        let readiness: Arc<dyn crate::metrics::Readiness> = Arc::new(crate::metrics::NodeReadiness {
            gov: node.gov.clone(),
            following: false,
            poll_ms: 1000,
        });
        let metrics_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        std::fs::write(
            paths.metrics_endpoint(),
            metrics_listener.local_addr().unwrap().to_string(),
        )
        .unwrap();
        let metrics_router = crate::metrics::router(registry, readiness.clone());
        tokio::spawn(async move { axum::serve(metrics_listener, metrics_router).await });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            axum::serve(listener, router("secret".into(), facts, node, readiness))
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
        (addr, tx, dir)
    }

    async fn fetch_wallet(client: &reqwest::Client, addr: std::net::SocketAddr) -> WalletView {
        let response = client
            .get(format!("http://{addr}/v1/wallet"))
            .bearer_auth("secret")
            .send()
            .await
            .unwrap();
        response.json().await.unwrap()
    }

    /// One series' value in a classic exposition, if present.
    fn sample(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    #[tokio::test]
    async fn metrics_need_no_token_and_move_with_a_transfer_and_a_sandbox_run() {
        let (addr, _stop, dir) = serve().await;
        let paths = crate::paths::NodePaths::new(dir.path());
        let maddr = std::fs::read_to_string(paths.metrics_endpoint()).unwrap();
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let scrape = || async {
            let r = client.get(format!("http://{maddr}/metrics")).send().await.unwrap();
            assert_eq!(r.status(), 200);
            assert_eq!(r.headers()["content-type"], crate::metrics::CLASSIC);
            r.text().await.unwrap()
        };
        let before = scrape().await;
        assert_eq!(sample(&before, "ippoc_ledger_own_entries_total"), Some(0.0), "{before}");
        let wallet = "ippoc_ledger_balance{account=\"wallet\",currency=\"IPPC\"}";
        let funds = sample(&before, wallet).unwrap();
        assert_eq!(sample(&before, "ippoc_sandbox_runs_total{outcome=\"ok\"}"), None);
        assert!(
            sample(&before, "process_resident_memory_bytes").unwrap() > 0.0,
            "{before}"
        );
        assert!(
            before.contains("# TYPE ippoc_ledger_own_entries_total counter"),
            "{before}"
        );

        let to = NodeId::from_bytes(SigningKey::from_bytes(&[2; 32]).verifying_key().to_bytes());
        let paid = client
            .post(format!("http://{addr}/v1/transfer"))
            .bearer_auth("secret")
            .json(&serde_json::json!({"to": to, "amount": "12.5", "currency": "IPPC"}))
            .send()
            .await
            .unwrap();
        assert_eq!(paid.status(), 200);
        let ran = client
            .post(format!("http://{addr}/v1/sandbox/run"))
            .bearer_auth("secret")
            .json(&serde_json::json!({"module_hex": hex::encode(include_str!("../../examples/skills/echo.wat")), "input_hex": "6869"}))
            .send()
            .await
            .unwrap();
        let view: ippoc_swarm::sandbox::SandboxRunView = ran.json().await.unwrap();
        assert!(view.ok, "{view:?}");

        let after = scrape().await;
        assert_eq!(
            sample(&after, "ippoc_ledger_own_entries_total"),
            Some(2.0),
            "a transfer and a charge"
        );
        assert_eq!(sample(&after, "ippoc_ledger_head_seq"), Some(1.0));
        assert!(
            sample(&after, wallet).unwrap() < funds - 12.5,
            "paid and charged: {after}"
        );
        assert_eq!(sample(&after, "ippoc_sandbox_runs_total{outcome=\"ok\"}"), Some(1.0));
        assert_eq!(sample(&after, "ippoc_sandbox_fuel_total"), Some(view.fuel_used as f64));
        assert_eq!(sample(&after, "ippoc_sandbox_run_duration_seconds_count"), Some(1.0));
        assert_eq!(
            sample(&after, "ippoc_sandbox_module_loads_total{source=\"compiled\"}"),
            Some(1.0)
        );

        // Prometheus asks for OpenMetrics and gets it.
        let open = client
            .get(format!("http://{maddr}/metrics"))
            .header(
                "accept",
                "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
            )
            .send()
            .await
            .unwrap();
        assert_eq!(open.headers()["content-type"], crate::metrics::OPENMETRICS);
        let open = open.text().await.unwrap();
        assert!(
            open.ends_with("# EOF\n") && open.contains("# TYPE ippoc_ledger_own_entries counter"),
            "{open}"
        );

        for base in [&maddr, &addr.to_string()] {
            for (route, body) in [("/healthz", "ok\n"), ("/readyz", "ready\n")] {
                let r = client.get(format!("http://{base}{route}")).send().await.unwrap();
                assert_eq!(
                    (r.status().as_u16(), r.text().await.unwrap()),
                    (200, body.to_string()),
                    "{base}{route}"
                );
            }
        }
        let missing = client.get(format!("http://{maddr}/v1/status")).send().await.unwrap();
        assert_eq!(
            missing.status(),
            404,
            "the metrics listener serves nothing of the admin API"
        );
    }

    #[test]
    fn a_node_following_a_dao_is_ready_only_while_it_reads_its_chain() {
        use crate::metrics::{NodeReadiness, Readiness};
        let gov = ippoc_swarm::gov_view::new_view();
        let r = NodeReadiness {
            gov: gov.clone(),
            following: true,
            poll_ms: 1000,
        };
        assert!(r.ready().unwrap_err().contains("not been read yet"));
        gov.send_modify(|v| v.read_at_ms = ippoc_swarm::ledger::now_ms());
        assert_eq!(r.ready(), Ok(()));
        gov.send_modify(|v| v.last_error = Some("connection refused".into()));
        assert!(r.ready().unwrap_err().contains("connection refused"));
        gov.send_modify(|v| {
            v.last_error = None;
            v.read_at_ms = ippoc_swarm::ledger::now_ms() - 60_000;
        });
        assert!(r.ready().unwrap_err().contains("stale"));
        let alone = NodeReadiness {
            gov,
            following: false,
            poll_ms: 1000,
        };
        assert_eq!(alone.ready(), Ok(()), "a node following no DAO needs no chain");
        let response = crate::metrics::readyz(&r);
        assert_eq!(response.status(), 503);
    }

    #[tokio::test]
    async fn status_needs_the_exact_token_and_healthz_needs_none() {
        let (addr, _stop, _dir) = serve().await;
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
        let health = client.get(format!("http://{addr}/healthz")).send().await.unwrap();
        assert_eq!(health.status(), 200);
        let missing = client
            .get(format!("http://{addr}/v1/nope"))
            .bearer_auth("secret")
            .send()
            .await
            .unwrap();
        assert_eq!(missing.status(), 404);
    }

    #[tokio::test]
    async fn gi_answers_bad_questions_with_400_and_the_reason_never_500() {
        let (addr, _stop, _dir) = serve().await;
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let stranger = NodeId::from_bytes(SigningKey::from_bytes(&[9; 32]).verifying_key().to_bytes());
        for (query, reason) in [
            ("cycle=abc", "cycle"),
            ("cycle=-1", "cycle"),
            ("cycle=18446744073709551616", "cycle"),
            ("cycle=18446744073709551615", "is not closed yet"),
            ("node=zz&cycle=3", "node"),
            (&format!("node={stranger}&cycle=3"), "not a member scored"),
        ] {
            let resp = client
                .get(format!("http://{addr}/v1/gi?{query}"))
                .bearer_auth("secret")
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 400, "{query}");
            let body: serde_json::Value = resp.json().await.unwrap();
            assert!(body["error"].as_str().unwrap().contains(reason), "{query}: {body}");
        }
        // This node, a closed cycle: its row (the solo founder, silent so
        // far: compliance, efficiency and, alone, community in full).
        let resp = client
            .get(format!("http://{addr}/v1/gi?cycle=3"))
            .bearer_auth("secret")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let report: ippoc_swarm::integrity::GiReport = resp.json().await.unwrap();
        assert_eq!((report.cycle, report.score_ppm), (3, 550_000));
    }

    #[tokio::test]
    async fn mic_routes_answer_bad_input_with_400_refusals_with_409_and_the_reason() {
        let (addr, _stop, _dir) = serve().await;
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let me = NodeId::from_bytes(SigningKey::from_bytes(&[1; 32]).verifying_key().to_bytes());
        let get = |path: String| {
            let c = client.clone();
            async move {
                let r = c
                    .get(format!("http://{addr}{path}"))
                    .bearer_auth("secret")
                    .send()
                    .await
                    .unwrap();
                (r.status().as_u16(), r.json::<serde_json::Value>().await.unwrap())
            }
        };
        let post = |path: &'static str, body: serde_json::Value| {
            let c = client.clone();
            async move {
                let r = c
                    .post(format!("http://{addr}{path}"))
                    .bearer_auth("secret")
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                (r.status().as_u16(), r.json::<serde_json::Value>().await.unwrap())
            }
        };
        let (code, body) = get("/v1/mic/reserve?node=zz".into()).await;
        assert_eq!(code, 400, "{body}");
        // Nothing closed yet: an empty reserve, no band.
        let (code, body) = get("/v1/mic/reserve".into()).await;
        assert_eq!(
            (code, body["accrued"].as_str(), body["band"].is_null()),
            (200, Some("0.00"), true),
            "{body}"
        );
        let (code, body) = post(
            crate::routes::MIC_AUTHORIZE,
            serde_json::json!({"owner": me, "tranche": 0, "cycle": 3}),
        )
        .await;
        assert_eq!(code, 409, "{body}");
        assert!(
            body["error"].as_str().unwrap().contains("not closed at this node"),
            "{body}"
        );
        // Asking for cycle 3's GI scores it, but nobody voted on its cut:
        // no cycle closes, so issuance has no record and no band.
        let (code, _) = get("/v1/gi?cycle=3".into()).await;
        assert_eq!(code, 200);
        let (code, body) = get(format!("/v1/mic/reserve?node={me}")).await;
        assert_eq!((code, body["band"].is_null()), (200, true), "{body}");
        let (code, body) = get("/v1/mic/tranches".into()).await;
        assert_eq!((code, body.as_array().map(Vec::len)), (200, Some(0)), "{body}");
        for (route, body, status, reason) in [
            (
                crate::routes::MIC_PREVIEW,
                serde_json::json!({"tranche": "x"}),
                400,
                "tranche",
            ),
            (
                crate::routes::MIC_PREVIEW,
                serde_json::json!({"bogus": 1}),
                400,
                "bogus",
            ),
            (
                crate::routes::MIC_AUTHORIZE,
                serde_json::json!({"owner": "zz", "tranche": 0, "cycle": 3}),
                400,
                "owner",
            ),
            (
                crate::routes::MIC_AUTHORIZE,
                serde_json::json!({"owner": me, "tranche": 0, "cycle": 3}),
                409,
                "not closed",
            ),
            (
                crate::routes::MIC_COMMIT,
                serde_json::json!({"tranche": 0, "cycle": 3, "signatures": []}),
                400,
                "no signature",
            ),
            (
                crate::routes::MIC_COMMIT,
                serde_json::json!({"tranche": 0, "cycle": 3}),
                400,
                "signatures",
            ),
        ] {
            let (code, answer) = post(route, body.clone()).await;
            assert_eq!(code, status, "{route} {body}: {answer}");
            assert!(
                answer["error"].as_str().unwrap().contains(reason),
                "{route} {body}: {answer}"
            );
        }
        let (code, preview) = post(crate::routes::MIC_PREVIEW, serde_json::json!({})).await;
        assert_eq!((code, preview["ready"].as_bool()), (200, Some(false)), "{preview}");
        assert_eq!(
            preview["gates"][0]["detail"].as_str(),
            Some("no cycle closed yet"),
            "{preview}"
        );
    }

    #[tokio::test]
    async fn gi_proof_answers_what_it_cannot_prove_with_a_4xx_and_the_reason() {
        let (addr, _stop, _dir) = serve().await;
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let stranger = NodeId::from_bytes(SigningKey::from_bytes(&[9; 32]).verifying_key().to_bytes());
        // Malformed: 400. Well-formed but not provable here (yet): 409, as
        // for an inclusion proof.
        for (query, status, reason) in [
            ("cycle=abc", 400, "cycle"),
            ("node=zz", 400, "node"),
            ("", 409, "commits to a GI table"),
            ("cycle=3", 409, "keeps no GI rows of cycle 3"),
            (
                &format!("node={stranger}&cycle=18446744073709551615"),
                409,
                "keeps no GI rows",
            ),
        ] {
            let resp = client
                .get(format!("http://{addr}/v1/gi/proof?{query}"))
                .bearer_auth("secret")
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), status, "{query}");
            let body: serde_json::Value = resp.json().await.unwrap();
            assert!(body["error"].as_str().unwrap().contains(reason), "{query}: {body}");
        }
        let unauth = client.get(format!("http://{addr}/v1/gi/proof")).send().await.unwrap();
        assert_eq!(unauth.status(), 401);
    }

    #[tokio::test]
    async fn writes_need_the_token_and_transfer_answers_with_the_durable_entry() {
        let (addr, _stop, _dir) = serve().await;
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let url = format!("http://{addr}/v1/transfer");
        let to = NodeId::from_bytes(SigningKey::from_bytes(&[2; 32]).verifying_key().to_bytes());
        let body = serde_json::json!({"to": to, "amount": "12.5", "currency": "IPPC"});
        let unauth = client.post(&url).json(&body).send().await.unwrap();
        assert_eq!(unauth.status(), 401);
        let ok = client
            .post(&url)
            .bearer_auth("secret")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 200);
        let entry: EntryView = ok.json().await.unwrap();
        assert_eq!(entry.entry.body.seq, 0);
        let too_much = serde_json::json!({"to": to, "amount": "999999", "currency": "IPPC"});
        let refused = client
            .post(&url)
            .bearer_auth("secret")
            .json(&too_much)
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 409);
        let err: serde_json::Value = refused.json().await.unwrap();
        assert!(err["error"].as_str().unwrap().contains("overdraft"), "{err}");
        let malformed = client
            .post(&url)
            .bearer_auth("secret")
            .header("content-type", "application/json")
            .body("{\"to\": 5}")
            .send()
            .await
            .unwrap();
        assert_eq!(malformed.status(), 400);
        let wallet = fetch_wallet(&client, addr).await;
        assert_eq!(wallet.head_seq, Some(0));
    }

    #[tokio::test]
    async fn the_budget_check_prices_records_and_refuses_what_the_node_cannot_pay() {
        let (addr, _stop, _dir) = serve().await;
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let post = |path: &str, body: serde_json::Value| {
            client
                .post(format!("http://{addr}{path}"))
                .bearer_auth("secret")
                .json(&body)
                .send()
        };
        let quote: QuoteView = post(
            "/v1/metabolism/quote",
            serde_json::json!({"kind": "inference", "tokens": 1000}),
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        assert_eq!(quote.cost.to_string(), "30.000000", "10 + 0.02 × 1000");
        assert!(quote.allowed);
        let charged = post(
            "/v1/metabolism/charge",
            serde_json::json!({"charge": {"kind": "inference", "tokens": 1000}}),
        )
        .await
        .unwrap();
        assert_eq!(charged.status(), 200);
        // 10 000 IPPC stipend: a 300 s sandbox run (15 000 IPPC) is refused and nothing is recorded.
        let huge = serde_json::json!({"charge": {"kind": "sandbox", "fuel": 2_400_000_000_000u64}});
        let refused = post("/v1/metabolism/charge", huge).await.unwrap();
        assert_eq!(refused.status(), 409);
        let typo = post(
            "/v1/metabolism/charge",
            serde_json::json!({"charge": {"kind": "inference", "tokns": 1}}),
        )
        .await
        .unwrap();
        assert_eq!(typo.status(), 400);
        let wallet = fetch_wallet(&client, addr).await;
        assert_eq!(wallet.head_seq, Some(0), "only the allowed charge was recorded");
    }

    #[tokio::test]
    async fn every_error_of_the_readme_table_is_what_the_api_answers() {
        let (addr, _stop, _dir) = serve().await;
        let (blocked_addr, _stop_blocked, _dir_blocked) = serve_with(true).await;
        let (full_addr, _stop_full, _dir_full) = serve_on_disk(false, u64::MAX).await;
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let me = NodeId::from_bytes(SigningKey::from_bytes(&[1; 32]).verifying_key().to_bytes());
        let to = NodeId::from_bytes(SigningKey::from_bytes(&[2; 32]).verifying_key().to_bytes());
        let json = |v: serde_json::Value| v.to_string().into_bytes();
        // (what, method, server, path, body, status, a word the message must hold)
        type Case<'a> = (&'a str, &'a str, std::net::SocketAddr, String, Vec<u8>, u16, &'a str);
        let cases: Vec<Case> = vec![
            (
                "amount 0",
                "POST",
                addr,
                "/v1/transfer".into(),
                json(serde_json::json!({"to": to, "amount": "0", "currency": "IPPC"})),
                400,
                "amount",
            ),
            (
                "paying oneself",
                "POST",
                addr,
                "/v1/transfer".into(),
                json(serde_json::json!({"to": me, "amount": "1", "currency": "IPPC"})),
                400,
                "to:",
            ),
            (
                "unknown field",
                "POST",
                addr,
                "/v1/transfer".into(),
                json(serde_json::json!({"to": to, "amount": "1", "currency": "IPPC", "memo": "x"})),
                400,
                "unknown field",
            ),
            (
                "a charge of nothing",
                "POST",
                addr,
                "/v1/metabolism/charge".into(),
                json(serde_json::json!({"charge": {"kind": "sandbox", "fuel": 0}})),
                400,
                "charge",
            ),
            (
                "bounty work for an escrow nobody posted",
                "POST",
                addr,
                "/v1/metabolism/charge".into(),
                json(serde_json::json!({
                    "charge": {"kind": "sandbox", "fuel": 10},
                    "bounty": format!("escrow:{to}:1"),
                })),
                409,
                "no such post",
            ),
            (
                "a sandbox run for an escrow nobody posted",
                "POST",
                addr,
                "/v1/sandbox/run".into(),
                json(serde_json::json!({
                    "module_hex": hex::encode(wat::parse_str("(module (func (export \"run\")))").unwrap()),
                    "bounty": format!("escrow:{to}:1"),
                })),
                409,
                "no such post",
            ),
            (
                "not hex",
                "POST",
                addr,
                "/v1/sandbox/run".into(),
                json(serde_json::json!({"module_hex": "zz", "input_hex": ""})),
                400,
                "module_hex",
            ),
            (
                "unknown capability",
                "POST",
                addr,
                "/v1/sandbox/run".into(),
                json(serde_json::json!({"module_hex": "00", "capabilities": ["root"]})),
                400,
                "capabilities",
            ),
            (
                "bad module hash",
                "POST",
                addr,
                "/v1/skills/run".into(),
                json(serde_json::json!({"module": "abc"})),
                400,
                "module hash",
            ),
            (
                "bad query",
                "GET",
                addr,
                "/v1/ledger/entries?from=minus-one".into(),
                Vec::new(),
                400,
                "from",
            ),
            (
                "not an export file",
                "POST",
                addr,
                "/v1/ledger/import".into(),
                b"garbage".to_vec(),
                400,
                "export",
            ),
            (
                "malformed JSON",
                "POST",
                addr,
                "/v1/transfer".into(),
                b"{".to_vec(),
                400,
                "",
            ),
            ("no token", "GET", addr, "/v1/wallet".into(), Vec::new(), 401, "token"),
            (
                "no such route",
                "GET",
                addr,
                "/v1/nope".into(),
                Vec::new(),
                404,
                "no such route",
            ),
            (
                "wrong method",
                "GET",
                addr,
                "/v1/transfer".into(),
                Vec::new(),
                405,
                "method",
            ),
            (
                "overdraft",
                "POST",
                addr,
                "/v1/transfer".into(),
                json(serde_json::json!({"to": to, "amount": "999999", "currency": "IPPC"})),
                409,
                "overdraft",
            ),
            (
                "a skill not deployed",
                "POST",
                addr,
                "/v1/skills/run".into(),
                json(serde_json::json!({"module": "ab".repeat(32)})),
                409,
                "not deployed",
            ),
            (
                "over 64 MiB",
                "POST",
                addr,
                "/v1/ledger/import".into(),
                vec![0u8; IMPORT_BYTES_MAX + 1],
                413,
                "",
            ),
            (
                "a JSON body over the limit",
                "POST",
                addr,
                "/v1/metabolism/charge".into(),
                vec![b' '; IMPORT_BYTES_MAX + 1],
                413,
                "",
            ),
            (
                "may not sign",
                "POST",
                blocked_addr,
                "/v1/transfer".into(),
                json(serde_json::json!({"to": to, "amount": "1", "currency": "IPPC"})),
                503,
                "signing guard",
            ),
            (
                "a full disk",
                "POST",
                full_addr,
                "/v1/transfer".into(),
                json(serde_json::json!({"to": to, "amount": "1", "currency": "IPPC"})),
                507,
                "nothing was written",
            ),
        ];
        let mut seen = std::collections::BTreeSet::new();
        for (what, method, server, path, body, status, word) in cases {
            let url = format!("http://{server}{path}");
            let mut req = if method == "GET" {
                client.get(&url)
            } else {
                client.post(&url).body(body)
            };
            if status != 401 {
                req = req.bearer_auth("secret").header("content-type", "application/json");
            }
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status().as_u16(), status, "{what}");
            let text = resp.text().await.unwrap();
            if status != 413 {
                let v: serde_json::Value =
                    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {text}"));
                assert!(v["error"].as_str().unwrap().contains(word), "{what}: {text}");
            }
            seen.insert(status);
        }
        // The README's table lists exactly these statuses, and 500.
        let readme = include_str!("../../README.md");
        let table = readme.split("### Errors: the admin API and the CLI").nth(1).unwrap();
        let listed: std::collections::BTreeSet<u16> = table
            .lines()
            .skip_while(|l| !l.starts_with("| HTTP"))
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .map(|l| {
                l.trim_start_matches('|')
                    .split('|')
                    .next()
                    .unwrap()
                    .trim()
                    .parse()
                    .unwrap()
            })
            .collect();
        seen.insert(500);
        assert_eq!(listed, seen, "the README's table and the answers");
    }
}
