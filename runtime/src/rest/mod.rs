//! The JobManager's REST API, with Flink's paths and JSON field names where they overlap, so
//! Flink's tooling can use it: cluster overview and configuration, jobs, a job's detail and
//! its checkpoints; cancel, savepoints (trigger and status) and stop-with-savepoint.
//! `runnel run` serves it when `rest.port` is set.
//!
//! It serves the web dashboard at `/` (`dashboard/`), which reads the same API.
//!
//! Calls that change a job need `Authorization: Bearer <rest.auth-token>` when a token is set,
//! and are refused outright on a non-loopback address without one.

mod json;
mod metrics;

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::checkpoint::{Location, RestorePoint, SnapshotKind};
use crate::error::{Result, RunnelError};
use crate::execution::{JobCommand, JobRegistry, TriggerStatus};

/// Where the REST API listens (`rest.bind-address`, `rest.port`) and the token that calls
/// changing a job must carry (`rest.auth-token`; never printed).
#[derive(Clone, PartialEq, Eq)]
pub struct RestConfig {
    /// Address and port; port 0 takes any free one.
    pub addr: SocketAddr,
    /// Bearer token for calls that change a job.
    pub auth_token: Option<String>,
}

impl std::fmt::Debug for RestConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestConfig")
            .field("addr", &self.addr)
            .field("auth_token", &self.auth_token.as_ref().map(|_| "<set>"))
            .finish()
    }
}

impl RestConfig {
    /// Reads Flink's options; `None` when `rest.port` is not set.
    pub fn from_options(
        options: &std::collections::BTreeMap<String, String>,
    ) -> Result<Option<Self>> {
        let Some(port) = options.get("rest.port") else {
            return Ok(None);
        };
        let port: u16 = port
            .trim()
            .parse()
            .map_err(|_| RunnelError::bad_option("rest.port", port, "a port number"))?;
        let host = options
            .get("rest.bind-address")
            .map(|s| s.trim())
            .unwrap_or("127.0.0.1");
        let host = if host == "localhost" {
            "127.0.0.1"
        } else {
            host
        };
        let ip: std::net::IpAddr = host.parse().map_err(|_| {
            RunnelError::bad_option("rest.bind-address", host, "an IP address or localhost")
        })?;
        // `${env:NAME}` keeps the token itself out of configuration (the operator's
        // JobManagers read it from a Secret through the environment).
        let auth_token = options
            .get("rest.auth-token")
            .map(|t| {
                crate::sql::resolve_placeholders(t.trim(), &|| "option 'rest.auth-token'".into())
            })
            .transpose()?
            .filter(|t| !t.is_empty());
        Ok(Some(RestConfig {
            addr: SocketAddr::new(ip, port),
            auth_token,
        }))
    }
}

/// A TaskManager as `/taskmanagers` shows it.
#[derive(Clone, Debug)]
pub struct TaskManagerInfo {
    /// Its id.
    pub id: String,
    /// Where it receives data (host:port).
    pub data_address: String,
    /// Slots it offers.
    pub slots: u32,
    /// Slots no job holds.
    pub free_slots: u32,
    /// Its last heartbeat, epoch millis.
    pub last_heartbeat: i64,
    /// Cores of its machine.
    pub cpu_cores: u32,
    /// Memory of its machine, bytes.
    pub physical_memory: u64,
}

/// What the REST API asks of the cluster besides its jobs: its TaskManagers, and taking new
/// jobs.
pub trait ClusterView: Send + Sync + 'static {
    /// The TaskManagers that are members now.
    fn task_managers(&self) -> Vec<TaskManagerInfo>;
    /// Plans and starts a job from a SQL script with extra options; its id.
    fn submit_sql(
        &self,
        script: String,
        config: std::collections::BTreeMap<String, String>,
    ) -> Result<String>;
}

/// `runnel run`: one TaskManager in the process, running the script it was started with.
pub struct LocalCluster {
    /// Its slots.
    pub slots: u32,
}

impl ClusterView for LocalCluster {
    fn task_managers(&self) -> Vec<TaskManagerInfo> {
        vec![TaskManagerInfo {
            id: "local".into(),
            data_address: "in-process".into(),
            slots: self.slots,
            free_slots: 0,
            last_heartbeat: chrono::Utc::now().timestamp_millis(),
            cpu_cores: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
            physical_memory: 0,
        }]
    }

    fn submit_sql(
        &self,
        _: String,
        _: std::collections::BTreeMap<String, String>,
    ) -> Result<String> {
        Err(RunnelError::Cluster(
            "`runnel run` runs the script it was started with; submit jobs to a \
             `runnel jobmanager`"
                .into(),
        ))
    }
}

/// What the handlers read.
#[derive(Clone)]
struct Api {
    jobs: JobRegistry,
    cluster: std::sync::Arc<dyn ClusterView>,
    token: Option<String>,
    loopback: bool,
}

/// Starts the REST API for the jobs in `jobs` on `cluster`; returns the address it listens
/// on.
pub async fn serve(
    config: &RestConfig,
    jobs: JobRegistry,
    cluster: std::sync::Arc<dyn ClusterView>,
) -> Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .map_err(|e| RunnelError::io(format!("REST API: listening on {}", config.addr), e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| RunnelError::io("REST API: its address", e))?;
    let api = Api {
        jobs,
        cluster,
        token: config.auth_token.clone(),
        loopback: addr.ip().is_loopback(),
    };
    let app = Router::new()
        .route(
            "/",
            get(|| dashboard("text/html; charset=utf-8", DASHBOARD_HTML)),
        )
        .route(
            "/app.js",
            get(|| dashboard("text/javascript; charset=utf-8", DASHBOARD_JS)),
        )
        .route(
            "/style.css",
            get(|| dashboard("text/css; charset=utf-8", DASHBOARD_CSS)),
        )
        .route("/config", get(config_info))
        .route("/overview", get(overview))
        .route("/jobs", get(jobs_list))
        .route("/jobs/overview", get(jobs_overview))
        .route("/jobs/sql", post(submit_sql))
        .route("/taskmanagers", get(taskmanagers))
        .route("/jobs/{id}", get(job_detail).patch(cancel))
        .route(
            "/jobs/{id}/checkpoints",
            get(job_checkpoints).post(trigger_checkpoint),
        )
        .route("/jobs/{id}/checkpoints/{trigger}", get(checkpoint_status))
        .route("/jobs/{id}/exceptions", get(job_exceptions))
        .route(
            "/jobs/{id}/resource-requirements",
            get(resource_requirements).put(rescale),
        )
        .route("/jobs/{id}/vertices/{vertex}/metrics", get(vertex_metrics))
        .route(
            "/jobs/{id}/vertices/{vertex}/subtasks/metrics",
            get(subtask_metrics),
        )
        .route("/metrics", get(prometheus))
        .route("/jobs/{id}/savepoints", post(trigger_savepoint))
        .route("/jobs/{id}/savepoints/{trigger}", get(savepoint_status))
        .route("/jobs/{id}/stop", post(stop))
        .route("/savepoint-disposal", post(dispose_savepoint))
        .route("/savepoint-disposal/{trigger}", get(disposal_status))
        .fallback(not_found)
        .with_state(api);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("runnel: REST API stopped: {e}");
        }
    });
    Ok(addr)
}

/// The web dashboard: a page and its script and style, built into the binary.
const DASHBOARD_HTML: &str = include_str!("dashboard/index.html");
const DASHBOARD_JS: &str = include_str!("dashboard/app.js");
const DASHBOARD_CSS: &str = include_str!("dashboard/style.css");

async fn dashboard(content_type: &'static str, body: &'static str) -> Response {
    ([(axum::http::header::CONTENT_TYPE, content_type)], body).into_response()
}

/// Flink's error body.
fn error(status: StatusCode, message: String) -> Response {
    (status, axum::Json(json!({ "errors": [message] }))).into_response()
}

async fn not_found(uri: Uri) -> Response {
    error(StatusCode::NOT_FOUND, format!("Not found: {}", uri.path()))
}

async fn config_info() -> axum::Json<Value> {
    axum::Json(json::config())
}

async fn overview(State(api): State<Api>) -> axum::Json<Value> {
    let tms = api.cluster.task_managers();
    let slots = tms.iter().map(|t| t.slots).sum();
    axum::Json(json::overview(&api.jobs.jobs(), tms.len(), slots))
}

async fn taskmanagers(State(api): State<Api>) -> axum::Json<Value> {
    axum::Json(json::taskmanagers(&api.cluster.task_managers()))
}

/// The body of `POST /jobs/sql` (Runnel's own): a script that starts one job, and options
/// set before it runs.
#[derive(Deserialize, Default)]
struct SubmitRequest {
    #[serde(default)]
    script: String,
    #[serde(default)]
    config: std::collections::BTreeMap<String, String>,
}

/// `POST /jobs/sql`: plans and starts a job; 400 with the planner's message when it cannot.
async fn submit_sql(
    State(api): State<Api>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let req: SubmitRequest = match authorized_body(&api, &headers, &body) {
        Ok(r) => r,
        Err(bad) => return *bad,
    };
    if req.script.trim().is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            "the body needs a 'script' with the job's SQL".into(),
        );
    }
    match api.cluster.submit_sql(req.script, req.config) {
        Ok(id) => (StatusCode::ACCEPTED, axum::Json(json!({ "jobid": id }))).into_response(),
        Err(e) => error(StatusCode::BAD_REQUEST, e.to_string()),
    }
}

async fn jobs_list(State(api): State<Api>) -> axum::Json<Value> {
    axum::Json(json::jobs(&api.jobs.jobs()))
}

async fn jobs_overview(State(api): State<Api>) -> axum::Json<Value> {
    axum::Json(json::jobs_overview(&api.jobs.jobs()))
}

async fn job_detail(State(api): State<Api>, Path(id): Path<String>) -> Response {
    match api.jobs.job(&id) {
        Some(job) => axum::Json(json::job(&job)).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("Job {id} not found")),
    }
}

async fn job_checkpoints(State(api): State<Api>, Path(id): Path<String>) -> Response {
    match api.jobs.job(&id) {
        Some(job) => axum::Json(json::checkpoints(&job)).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("Job {id} not found")),
    }
}

async fn job_exceptions(State(api): State<Api>, Path(id): Path<String>) -> Response {
    match api.jobs.job(&id) {
        Some(job) => axum::Json(json::exceptions(&job)).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("Job {id} not found")),
    }
}

/// `GET /jobs/:id/resource-requirements`: each vertex's parallelism as Flink's adaptive
/// scheduler states it.
async fn resource_requirements(State(api): State<Api>, Path(id): Path<String>) -> Response {
    match api.jobs.job(&id) {
        Some(job) => axum::Json(json::resource_requirements(&job)).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("Job {id} not found")),
    }
}

/// One vertex of a `PUT /jobs/:id/resource-requirements` body (Flink's names).
#[derive(Deserialize)]
struct VertexRequirements {
    parallelism: Bounds,
}

#[derive(Deserialize)]
struct Bounds {
    #[serde(rename = "lowerBound")]
    lower_bound: u32,
    #[serde(rename = "upperBound")]
    upper_bound: u32,
}

/// `PUT /jobs/:id/resource-requirements`: rescales the job, as a whole, to the largest upper
/// bound given (stop with a savepoint, redeploy, restore); answers once it has started.
async fn rescale(
    State(api): State<Api>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let req: std::collections::BTreeMap<String, VertexRequirements> =
        match authorized_body(&api, &headers, &body) {
            Ok(r) => r,
            Err(bad) => return *bad,
        };
    let Some(job) = api.jobs.job(&id) else {
        return error(StatusCode::NOT_FOUND, format!("Job {id} not found"));
    };
    if let Some(unknown) = req
        .keys()
        .find(|v| !job.vertices.iter().any(|j| &j.id == *v))
    {
        return error(
            StatusCode::BAD_REQUEST,
            format!("Job {id} has no vertex {unknown}"),
        );
    }
    if let Some((v, _)) = req
        .iter()
        .find(|(_, r)| r.parallelism.lower_bound > r.parallelism.upper_bound)
    {
        return error(
            StatusCode::BAD_REQUEST,
            format!("vertex {v}: lowerBound is above upperBound"),
        );
    }
    let Some(parallelism) = req.values().map(|r| r.parallelism.upper_bound).max() else {
        return error(
            StatusCode::BAD_REQUEST,
            "the body names no vertex: give each its {\"parallelism\": {\"lowerBound\", \"upperBound\"}}"
                .into(),
        );
    };
    let (reply, started) = oneshot::channel();
    if !api
        .jobs
        .command(&id, JobCommand::Rescale { parallelism, reply })
    {
        return error(StatusCode::CONFLICT, format!("Job {id} is not running"));
    }
    match started.await {
        Ok(Ok(())) => (StatusCode::OK, axum::Json(json!({}))).into_response(),
        Ok(Err(e)) => error(StatusCode::BAD_REQUEST, e.to_string()),
        Err(_) => error(
            StatusCode::CONFLICT,
            format!("Job {id} ended before it could be rescaled"),
        ),
    }
}

/// `?get=` and `?agg=` of the metric endpoints.
#[derive(Deserialize)]
struct MetricsQuery {
    get: Option<String>,
    agg: Option<String>,
}

/// Job `id` and the position of its vertex `vertex`, or the 404 that says which is unknown.
fn job_vertex(
    api: &Api,
    id: &str,
    vertex: &str,
) -> std::result::Result<(crate::execution::JobInfo, usize), Box<Response>> {
    let job = api
        .jobs
        .job(id)
        .ok_or_else(|| Box::new(error(StatusCode::NOT_FOUND, format!("Job {id} not found"))))?;
    let index = job
        .vertices
        .iter()
        .position(|v| v.id == vertex)
        .ok_or_else(|| {
            Box::new(error(
                StatusCode::NOT_FOUND,
                format!("Job {id} has no vertex {vertex}"),
            ))
        })?;
    Ok((job, index))
}

async fn vertex_metrics(
    State(api): State<Api>,
    Path((id, vertex)): Path<(String, String)>,
    Query(q): Query<MetricsQuery>,
) -> Response {
    match job_vertex(&api, &id, &vertex) {
        Ok((job, v)) => {
            axum::Json(metrics::vertex_metrics(&job, v, q.get.as_deref())).into_response()
        }
        Err(e) => *e,
    }
}

async fn subtask_metrics(
    State(api): State<Api>,
    Path((id, vertex)): Path<(String, String)>,
    Query(q): Query<MetricsQuery>,
) -> Response {
    match job_vertex(&api, &id, &vertex) {
        Ok((job, v)) => axum::Json(metrics::subtask_metrics(
            &job,
            v,
            q.get.as_deref(),
            q.agg.as_deref(),
        ))
        .into_response(),
        Err(e) => *e,
    }
}

async fn prometheus(State(api): State<Api>) -> Response {
    let text = metrics::prometheus(&api.jobs.jobs(), &api.cluster.task_managers());
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// The refusal of a call that changes a job, unless it may go ahead.
fn refusal(api: &Api, headers: &HeaderMap) -> Option<Response> {
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match &api.token {
        Some(token) if given == Some(token.as_str()) => None,
        Some(_) => Some(error(
            StatusCode::UNAUTHORIZED,
            "this call changes a job: it needs 'Authorization: Bearer <rest.auth-token>'".into(),
        )),
        None if api.loopback => None,
        None => Some(error(
            StatusCode::FORBIDDEN,
            "calls that change a job are refused on a non-loopback address unless \
             'rest.auth-token' is set"
                .into(),
        )),
    }
}

#[derive(Deserialize)]
struct CancelQuery {
    mode: Option<String>,
}

/// `PATCH /jobs/:id` (`?mode=cancel`, Flink's default).
async fn cancel(
    State(api): State<Api>,
    Path(id): Path<String>,
    Query(q): Query<CancelQuery>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = refusal(&api, &headers) {
        return refused;
    }
    if let Some(mode) = q.mode.filter(|m| m != "cancel") {
        return error(
            StatusCode::BAD_REQUEST,
            format!("mode '{mode}' is not supported; use 'cancel', or POST /jobs/{id}/stop"),
        );
    }
    if api.jobs.job(&id).is_none() {
        return error(StatusCode::NOT_FOUND, format!("Job {id} not found"));
    }
    if !api.jobs.command(&id, JobCommand::Cancel) {
        return error(StatusCode::CONFLICT, format!("Job {id} is not running"));
    }
    (StatusCode::ACCEPTED, axum::Json(json!({}))).into_response()
}

/// The body of `POST /jobs/:id/savepoints` (Flink's names).
#[derive(Deserialize, Default)]
struct SavepointRequest {
    #[serde(rename = "target-directory")]
    target_directory: Option<String>,
    #[serde(rename = "cancel-job", default)]
    cancel_job: bool,
}

/// The body of `POST /jobs/:id/stop` (Flink's names).
#[derive(Deserialize, Default)]
struct StopRequest {
    #[serde(rename = "targetDirectory")]
    target_directory: Option<String>,
    #[serde(default)]
    drain: bool,
}

/// The JSON body of a call that changes a job (none: the defaults), once the token checks out;
/// otherwise the refusal, or 400 with the reason for a malformed body.
fn authorized_body<T: serde::de::DeserializeOwned + Default>(
    api: &Api,
    headers: &HeaderMap,
    body: &[u8],
) -> std::result::Result<T, Box<Response>> {
    if let Some(refused) = refusal(api, headers) {
        return Err(Box::new(refused));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| {
        Box::new(error(
            StatusCode::BAD_REQUEST,
            format!("malformed request body: {e}"),
        ))
    })
}

async fn trigger_savepoint(
    State(api): State<Api>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let req: SavepointRequest = match authorized_body(&api, &headers, &body) {
        Ok(r) => r,
        Err(bad) => return *bad,
    };
    start_savepoint(&api, &id, req.target_directory, req.cancel_job)
}

async fn stop(
    State(api): State<Api>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let req: StopRequest = match authorized_body(&api, &headers, &body) {
        Ok(r) => r,
        Err(bad) => return *bad,
    };
    if req.drain {
        return error(
            StatusCode::BAD_REQUEST,
            "stop with drain (advancing event time to the end) is not supported; stop without it"
                .into(),
        );
    }
    start_savepoint(&api, &id, req.target_directory, true)
}

/// Asks job `id` for a savepoint (into `dir`, or the configured savepoint folder), stopping it
/// after when `stop`; answers with the trigger id to poll. The caller checked the token.
fn start_savepoint(api: &Api, id: &str, dir: Option<String>, stop: bool) -> Response {
    if api.jobs.job(id).is_none() {
        return error(StatusCode::NOT_FOUND, format!("Job {id} not found"));
    }
    let dir = match dir
        .map(|d| Location::parse("target-directory", &d))
        .transpose()
    {
        Ok(d) => d,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let (reply, outcome) = oneshot::channel();
    if !api
        .jobs
        .command(id, JobCommand::Savepoint { dir, stop, reply })
    {
        return error(StatusCode::CONFLICT, format!("Job {id} is not running"));
    }
    track(api, outcome, "savepoint")
}

/// Answers a snapshot request with the trigger id to poll; the trigger completes with the
/// snapshot's folder, or fails with the reason, when `outcome` comes.
fn track(api: &Api, outcome: oneshot::Receiver<Result<Location>>, what: &'static str) -> Response {
    let trigger = api.jobs.new_trigger();
    let (jobs, t) = (api.jobs.clone(), trigger.clone());
    tokio::spawn(async move {
        let status = match outcome.await {
            Ok(Ok(location)) => TriggerStatus::Completed(location.to_string()),
            Ok(Err(e)) => TriggerStatus::Failed(e.to_string()),
            Err(_) => TriggerStatus::Failed(format!("the job ended before the {what} completed")),
        };
        jobs.trigger_done(&t, status);
    });
    (
        StatusCode::ACCEPTED,
        axum::Json(json!({ "request-id": trigger })),
    )
        .into_response()
}

/// `POST /jobs/:id/checkpoints` (Flink 1.19's): a checkpoint now; answers with the trigger id.
async fn trigger_checkpoint(
    State(api): State<Api>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Err(bad) = authorized_body::<serde_json::Map<String, Value>>(&api, &headers, &body) {
        return *bad;
    }
    if api.jobs.job(&id).is_none() {
        return error(StatusCode::NOT_FOUND, format!("Job {id} not found"));
    }
    let (reply, outcome) = oneshot::channel();
    if !api.jobs.command(&id, JobCommand::Checkpoint { reply }) {
        return error(StatusCode::CONFLICT, format!("Job {id} is not running"));
    }
    track(&api, outcome, "checkpoint")
}

/// `GET /jobs/:id/checkpoints/:trigger`.
async fn checkpoint_status(
    State(api): State<Api>,
    Path((id, trigger)): Path<(String, String)>,
) -> Response {
    trigger_status(&api, &id, &trigger, "checkpoint", "runnel.CheckpointFailed")
}

/// The body of `POST /savepoint-disposal` (Flink's names).
#[derive(Deserialize, Default)]
struct DisposalRequest {
    #[serde(rename = "savepoint-path")]
    savepoint_path: Option<String>,
}

/// `POST /savepoint-disposal`: deletes a savepoint's folder from storage. Only a folder whose
/// `_metadata` says it is a savepoint is deleted, so a wrong path cannot remove other data.
async fn dispose_savepoint(
    State(api): State<Api>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let req: DisposalRequest = match authorized_body(&api, &headers, &body) {
        Ok(r) => r,
        Err(bad) => return *bad,
    };
    let Some(path) = req.savepoint_path else {
        return error(StatusCode::BAD_REQUEST, "savepoint-path is required".into());
    };
    let point = match Location::parse("savepoint-path", &path).and_then(|l| RestorePoint::open(&l))
    {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    if point.metadata.kind != SnapshotKind::Savepoint {
        return error(
            StatusCode::BAD_REQUEST,
            format!("{path} is a checkpoint, not a savepoint; the job that owns it deletes it"),
        );
    }
    let trigger = api.jobs.new_trigger();
    let (jobs, t) = (api.jobs.clone(), trigger.clone());
    tokio::task::spawn_blocking(move || {
        point.dir.delete_all();
        jobs.trigger_done(&t, TriggerStatus::Completed(point.dir.to_string()));
    });
    (
        StatusCode::ACCEPTED,
        axum::Json(json!({ "request-id": trigger })),
    )
        .into_response()
}

/// `GET /savepoint-disposal/:trigger`.
async fn disposal_status(State(api): State<Api>, Path(trigger): Path<String>) -> Response {
    match api.jobs.trigger(&trigger) {
        None => error(
            StatusCode::NOT_FOUND,
            format!("There is no savepoint disposal with triggerId={trigger}"),
        ),
        Some(TriggerStatus::InProgress) => {
            axum::Json(json!({ "status": { "id": "IN_PROGRESS" } })).into_response()
        }
        Some(_) => {
            axum::Json(json!({ "status": { "id": "COMPLETED" }, "operation": {} })).into_response()
        }
    }
}

/// `GET /jobs/:id/savepoints/:trigger`.
async fn savepoint_status(
    State(api): State<Api>,
    Path((id, trigger)): Path<(String, String)>,
) -> Response {
    trigger_status(&api, &id, &trigger, "savepoint", "runnel.SavepointFailed")
}

/// Where a snapshot request is, in Flink's shape.
fn trigger_status(api: &Api, id: &str, trigger: &str, what: &str, failure: &str) -> Response {
    let Some(status) = api.jobs.trigger(trigger) else {
        return error(
            StatusCode::NOT_FOUND,
            format!("There is no {what} operation with triggerId={trigger} for job {id}"),
        );
    };
    let body = match status {
        TriggerStatus::InProgress => json!({ "status": { "id": "IN_PROGRESS" } }),
        TriggerStatus::Completed(location) => json!({
            "status": { "id": "COMPLETED" },
            "operation": { "location": location },
        }),
        TriggerStatus::Failed(cause) => json!({
            "status": { "id": "COMPLETED" },
            "operation": { "failure-cause": { "class": failure, "stack-trace": cause } },
        }),
    };
    axum::Json(body).into_response()
}
