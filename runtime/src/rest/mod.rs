//! The JobManager's REST API, with Flink's paths and JSON field names where they overlap, so
//! Flink's tooling can read it: cluster overview and configuration, jobs, a job's detail and
//! its checkpoints. `runnel run` serves it when `rest.port` is set.

mod json;

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use crate::error::{Result, RunnelError};
use crate::execution::JobRegistry;

/// Where the REST API listens (`rest.bind-address`, `rest.port`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestConfig {
    /// Address and port; port 0 takes any free one.
    pub addr: SocketAddr,
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
        Ok(Some(RestConfig {
            addr: SocketAddr::new(ip, port),
        }))
    }
}

/// What the handlers read.
#[derive(Clone)]
struct Api {
    jobs: JobRegistry,
    taskmanagers: usize,
    slots: u32,
}

/// Starts the REST API for the jobs in `jobs`, run by `taskmanagers` TaskManagers with `slots`
/// slots in all; returns the address it listens on.
pub async fn serve(
    config: &RestConfig,
    jobs: JobRegistry,
    taskmanagers: usize,
    slots: u32,
) -> Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .map_err(|e| RunnelError::io(format!("REST API: listening on {}", config.addr), e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| RunnelError::io("REST API: its address", e))?;
    let api = Api {
        jobs,
        taskmanagers,
        slots,
    };
    let app = Router::new()
        .route("/config", get(config_info))
        .route("/overview", get(overview))
        .route("/jobs", get(jobs_list))
        .route("/jobs/overview", get(jobs_overview))
        .route("/jobs/{id}", get(job_detail))
        .route("/jobs/{id}/checkpoints", get(job_checkpoints))
        .fallback(not_found)
        .with_state(api);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("runnel: REST API stopped: {e}");
        }
    });
    Ok(addr)
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
    axum::Json(json::overview(
        &api.jobs.jobs(),
        api.taskmanagers,
        api.slots,
    ))
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
