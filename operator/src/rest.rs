//! The operator's client of a JobManager's REST API (Flink's paths, plus Runnel's
//! `POST /jobs/sql` for session jobs).

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{Error, Result};

/// The JobManager REST port every Runnel cluster the operator makes listens on.
pub const REST_PORT: u16 = 8081;

/// A job as `/jobs/overview` lists it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct JobOverview {
    pub jid: String,
    pub name: String,
    pub state: String,
    #[serde(rename = "start-time")]
    pub start_time: i64,
}

/// Where a savepoint or checkpoint operation is.
#[derive(Debug, Clone, PartialEq)]
pub enum TriggerState {
    InProgress,
    Completed(String),
    Failed(String),
    /// The JobManager does not know the trigger (it restarted since).
    Unknown,
}

/// The latest completed checkpoint of a job.
#[derive(Debug, Clone, PartialEq)]
pub struct LatestCheckpoint {
    pub id: i64,
    pub path: String,
}

/// One JobManager's REST API: its base URL, and the token that calls changing a job carry.
#[derive(Clone)]
pub struct Endpoint {
    pub base: String,
    pub token: Option<String>,
}

/// The base URL of a cluster's REST API, through its `<name>-rest` Service.
pub fn base_url(name: &str, namespace: &str) -> String {
    format!("http://{name}-rest.{namespace}.svc:{REST_PORT}")
}

/// A client for JobManagers.
#[derive(Clone)]
pub struct JobManagerRest {
    http: reqwest::Client,
}

impl JobManagerRest {
    pub fn new() -> anyhow::Result<Self> {
        Ok(JobManagerRest {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .connect_timeout(Duration::from_secs(3))
                .build()?,
        })
    }

    /// The status code and JSON body of a call.
    async fn call(
        &self,
        jm: &Endpoint,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value)> {
        let url = format!("{}{path}", jm.base);
        let fail = |message: String| Error::Rest {
            url: url.clone(),
            message,
        };
        let mut req = self.http.request(method, &url);
        if let Some(token) = &jm.token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.map_err(|e| fail(without_url(e)))?;
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(|e| fail(without_url(e)))?;
        let value = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).map_err(|e| {
                fail(format!(
                    "not JSON ({e}): {}",
                    text.chars().take(200).collect::<String>()
                ))
            })?
        };
        Ok((status, value))
    }

    /// The JSON body of a call that must succeed.
    async fn expect(
        &self,
        jm: &Endpoint,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value> {
        let (status, value) = self.call(jm, method, path, body).await?;
        if (200..300).contains(&status) {
            Ok(value)
        } else {
            Err(Error::Rest {
                url: format!("{}{path}", jm.base),
                message: format!("HTTP {status}: {}", error_text(&value)),
            })
        }
    }

    /// Every job of the cluster.
    pub async fn jobs(&self, jm: &Endpoint) -> Result<Vec<JobOverview>> {
        let v = self.expect(jm, Method::GET, "/jobs/overview", None).await?;
        serde_json::from_value(v.get("jobs").cloned().unwrap_or(Value::Array(vec![]))).map_err(
            |e| Error::Rest {
                url: format!("{}/jobs/overview", jm.base),
                message: format!("unexpected body: {e}"),
            },
        )
    }

    /// The latest completed checkpoint of a job, if any.
    pub async fn latest_checkpoint(
        &self,
        jm: &Endpoint,
        job: &str,
    ) -> Result<Option<LatestCheckpoint>> {
        let v = self
            .expect(jm, Method::GET, &format!("/jobs/{job}/checkpoints"), None)
            .await?;
        let c = &v["latest"]["completed"];
        Ok(match (c["id"].as_i64(), c["external_path"].as_str()) {
            (Some(id), Some(path)) => Some(LatestCheckpoint {
                id,
                path: path.into(),
            }),
            _ => None,
        })
    }

    /// The latest completed savepoint of a job, if taken at or after `since_ms` (epoch ms):
    /// how a savepoint whose trigger id was lost (an operator restart) is found.
    pub async fn latest_savepoint(
        &self,
        jm: &Endpoint,
        job: &str,
        since_ms: i64,
    ) -> Result<Option<String>> {
        let v = self
            .expect(jm, Method::GET, &format!("/jobs/{job}/checkpoints"), None)
            .await?;
        let s = &v["latest"]["savepoint"];
        Ok(
            match (s["external_path"].as_str(), s["trigger_timestamp"].as_i64()) {
                (Some(path), Some(at)) if at >= since_ms => Some(path.into()),
                _ => None,
            },
        )
    }

    /// Deletes a savepoint's data from storage (Flink's `/savepoint-disposal`).
    pub async fn dispose_savepoint(&self, jm: &Endpoint, path: &str) -> Result<()> {
        self.expect(
            jm,
            Method::POST,
            "/savepoint-disposal",
            Some(json!({ "savepoint-path": path })),
        )
        .await
        .map(drop)
    }

    /// The newest failure of a job.
    pub async fn root_cause(&self, jm: &Endpoint, job: &str) -> Result<Option<String>> {
        let v = self
            .expect(jm, Method::GET, &format!("/jobs/{job}/exceptions"), None)
            .await?;
        Ok(v["exceptionHistory"]["entries"]
            .as_array()
            .and_then(|e| e.first())
            .and_then(|e| e["stacktrace"].as_str())
            .map(str::to_string))
    }

    /// Takes a savepoint (and stops the job after it when `stop`); returns the trigger id.
    pub async fn savepoint(&self, jm: &Endpoint, job: &str, stop: bool) -> Result<String> {
        let (path, body) = if stop {
            (format!("/jobs/{job}/stop"), json!({ "drain": false }))
        } else {
            (
                format!("/jobs/{job}/savepoints"),
                json!({ "cancel-job": false }),
            )
        };
        self.trigger(jm, &path, body).await
    }

    /// POSTs a request that answers with a trigger id to poll.
    async fn trigger(&self, jm: &Endpoint, path: &str, body: Value) -> Result<String> {
        let v = self.expect(jm, Method::POST, path, Some(body)).await?;
        v["request-id"]
            .as_str()
            .map(str::to_string)
            .ok_or(Error::Rest {
                url: format!("{}{path}", jm.base),
                message: format!("no request-id in {v}"),
            })
    }

    /// Where a savepoint operation is.
    pub async fn savepoint_state(
        &self,
        jm: &Endpoint,
        job: &str,
        trigger: &str,
    ) -> Result<TriggerState> {
        self.trigger_state(jm, &format!("/jobs/{job}/savepoints/{trigger}"))
            .await
    }

    /// Takes a checkpoint now; returns the trigger id.
    pub async fn checkpoint(&self, jm: &Endpoint, job: &str) -> Result<String> {
        self.trigger(jm, &format!("/jobs/{job}/checkpoints"), json!({}))
            .await
    }

    /// Where a checkpoint asked for by [`JobManagerRest::checkpoint`] is.
    pub async fn checkpoint_state(
        &self,
        jm: &Endpoint,
        job: &str,
        trigger: &str,
    ) -> Result<TriggerState> {
        self.trigger_state(jm, &format!("/jobs/{job}/checkpoints/{trigger}"))
            .await
    }

    async fn trigger_state(&self, jm: &Endpoint, path: &str) -> Result<TriggerState> {
        let (status, v) = self.call(jm, Method::GET, path, None).await?;
        if status == 404 {
            return Ok(TriggerState::Unknown);
        }
        if !(200..300).contains(&status) {
            return Err(Error::Rest {
                url: format!("{}{path}", jm.base),
                message: format!("HTTP {status}: {}", error_text(&v)),
            });
        }
        if v["status"]["id"] != "COMPLETED" {
            return Ok(TriggerState::InProgress);
        }
        let op = &v["operation"];
        Ok(match op["location"].as_str() {
            Some(location) => TriggerState::Completed(location.into()),
            None => TriggerState::Failed(
                op["failure-cause"]["stack-trace"]
                    .as_str()
                    .unwrap_or("unknown failure")
                    .into(),
            ),
        })
    }

    /// The job's parallelism: the largest of its vertices' (Flink's resource requirements).
    pub async fn parallelism(&self, jm: &Endpoint, job: &str) -> Result<Option<i64>> {
        let v = self
            .expect(
                jm,
                Method::GET,
                &format!("/jobs/{job}/resource-requirements"),
                None,
            )
            .await?;
        Ok(v.as_object().and_then(|vertices| {
            vertices
                .values()
                .filter_map(|r| r["parallelism"]["upperBound"].as_i64())
                .max()
        }))
    }

    /// Rescales a running job in place (the JobManager stops it with a savepoint and restores
    /// it at `parallelism`), through Flink's resource-requirements API.
    pub async fn rescale(&self, jm: &Endpoint, job: &str, parallelism: i32) -> Result<()> {
        let path = format!("/jobs/{job}/resource-requirements");
        let current = self.expect(jm, Method::GET, &path, None).await?;
        let wanted: serde_json::Map<String, Value> = current
            .as_object()
            .map(|vertices| {
                vertices
                    .keys()
                    .map(|id| {
                        let bounds = json!({ "lowerBound": 1, "upperBound": parallelism });
                        (id.clone(), json!({ "parallelism": bounds }))
                    })
                    .collect()
            })
            .unwrap_or_default();
        self.expect(jm, Method::PUT, &path, Some(Value::Object(wanted)))
            .await
            .map(drop)
    }

    /// Cancels a job.
    pub async fn cancel(&self, jm: &Endpoint, job: &str) -> Result<()> {
        self.expect(jm, Method::PATCH, &format!("/jobs/{job}?mode=cancel"), None)
            .await
            .map(drop)
    }

    /// Submits a SQL job to a session cluster; returns its id.
    pub async fn submit_sql(
        &self,
        jm: &Endpoint,
        script: &str,
        config: &BTreeMap<String, String>,
    ) -> Result<String> {
        let v = self
            .expect(
                jm,
                Method::POST,
                "/jobs/sql",
                Some(json!({ "script": script, "config": config })),
            )
            .await?;
        v["jobid"].as_str().map(str::to_string).ok_or(Error::Rest {
            url: format!("{}/jobs/sql", jm.base),
            message: format!("no jobid in {v}"),
        })
    }
}

/// reqwest's errors name the URL, which the caller already does.
fn without_url(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut s = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

/// Flink's error bodies are `{"errors": [...]}`.
fn error_text(v: &Value) -> String {
    match v["errors"].as_array() {
        Some(errors) => errors
            .iter()
            .filter_map(|e| e.as_str())
            .collect::<Vec<_>>()
            .join("; "),
        None => v.to_string(),
    }
}
