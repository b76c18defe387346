//! Metrics over REST: Flink's vertex metric endpoints (per subtask, and aggregated over
//! subtasks as the autoscaler reads them) and Prometheus text at `/metrics`.

use std::fmt::Write;

use serde_json::{Value, json};

use super::TaskManagerInfo;
use crate::execution::{JobInfo, JobState, MetricsSample, TaskRates};

/// A subtask metric: Flink's id and how to read it.
struct Metric {
    id: &'static str,
    help: &'static str,
    /// `None` when the subtask does not have it (no rates before its second sample).
    value: fn(&MetricsSample, Option<&TaskRates>) -> Option<f64>,
}

/// The subtask metrics served, with Flink's names.
const METRICS: &[Metric] = &[
    Metric {
        id: "busyTimeMsPerSecond",
        help: "Milliseconds per second the subtask handled records",
        value: |_, r| r.map(|r| r.busy_ms_per_second),
    },
    Metric {
        id: "backPressuredTimeMsPerSecond",
        help: "Milliseconds per second the subtask waited for room downstream",
        value: |_, r| r.map(|r| r.backpressured_ms_per_second),
    },
    Metric {
        id: "idleTimeMsPerSecond",
        help: "Milliseconds per second the subtask waited for input",
        value: |_, r| r.map(|r| r.idle_ms_per_second),
    },
    Metric {
        id: "numRecordsInPerSecond",
        help: "Records the subtask received per second",
        value: |_, r| r.map(|r| r.records_in_per_second),
    },
    Metric {
        id: "numRecordsOutPerSecond",
        help: "Records the subtask emitted per second",
        value: |_, r| r.map(|r| r.records_out_per_second),
    },
    Metric {
        id: "numRecordsIn",
        help: "Records the subtask received",
        value: |s, _| Some(s.records_in as f64),
    },
    Metric {
        id: "numRecordsOut",
        help: "Records the subtask emitted",
        value: |s, _| Some(s.records_out as f64),
    },
    Metric {
        id: "pendingRecords",
        help: "Records the source has not read yet",
        value: |s, _| s.pending_records.map(|p| p as f64),
    },
];

/// The latest figures of each subtask of vertex `vertex` that has them.
fn subtasks(job: &JobInfo, vertex: usize) -> Vec<(u32, MetricsSample, Option<TaskRates>)> {
    (0..job.vertices[vertex].parallelism)
        .filter_map(|s| {
            let m = job.subtask_metrics.get(job.task_number(vertex, s))?;
            Some((s, m.sample?, m.rates))
        })
        .collect()
}

/// The metric ids a vertex has now (pendingRecords only where a source knows it).
fn available(job: &JobInfo, vertex: usize) -> Vec<&'static Metric> {
    let subtasks = subtasks(job, vertex);
    METRICS
        .iter()
        .filter(|m| {
            subtasks
                .iter()
                .any(|(_, s, r)| (m.value)(s, r.as_ref()).is_some())
        })
        .collect()
}

/// `GET /jobs/:id/vertices/:vid/metrics[?get=0.a,1.b]`: per-subtask metrics named
/// `<subtask>.<metric>`; without `get`, their ids; values are strings, as in Flink.
pub fn vertex_metrics(job: &JobInfo, vertex: usize, get: Option<&str>) -> Value {
    let subtasks = subtasks(job, vertex);
    let Some(get) = get else {
        let ids: Vec<Value> = available(job, vertex)
            .iter()
            .flat_map(|m| {
                subtasks
                    .iter()
                    .map(move |(s, _, _)| json!({ "id": format!("{s}.{}", m.id) }))
            })
            .collect();
        return Value::Array(ids);
    };
    let values: Vec<Value> = get
        .split(',')
        .filter_map(|id| {
            let (s, name) = id.trim().split_once('.')?;
            let s: u32 = s.parse().ok()?;
            let metric = METRICS.iter().find(|m| m.id == name)?;
            let (_, sample, rates) = subtasks.iter().find(|(i, _, _)| *i == s)?;
            let v = (metric.value)(sample, rates.as_ref())?;
            Some(json!({ "id": id.trim(), "value": v.to_string() }))
        })
        .collect();
    Value::Array(values)
}

/// `GET /jobs/:id/vertices/:vid/subtasks/metrics[?get=a,b&agg=min,max]`: metrics aggregated
/// over the vertex's subtasks (`min`, `max`, `avg`, `sum`, `skew`: by how much the largest
/// exceeds the average, in percent of the largest); without `get`, their ids.
pub fn subtask_metrics(
    job: &JobInfo,
    vertex: usize,
    get: Option<&str>,
    agg: Option<&str>,
) -> Value {
    let Some(get) = get else {
        let ids: Vec<Value> = available(job, vertex)
            .iter()
            .map(|m| json!({ "id": m.id }))
            .collect();
        return Value::Array(ids);
    };
    let subtasks = subtasks(job, vertex);
    let wanted: Vec<&str> = agg.map_or(vec!["min", "max", "avg", "sum", "skew"], |a| {
        a.split(',').map(str::trim).collect()
    });
    let values: Vec<Value> = get
        .split(',')
        .filter_map(|id| {
            let metric = METRICS.iter().find(|m| m.id == id.trim())?;
            let values: Vec<f64> = subtasks
                .iter()
                .filter_map(|(_, s, r)| (metric.value)(s, r.as_ref()))
                .collect();
            if values.is_empty() {
                return None;
            }
            let sum: f64 = values.iter().sum();
            let min = values.iter().copied().fold(f64::INFINITY, f64::min);
            let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let avg = sum / values.len() as f64;
            let skew = if max > 0.0 {
                (max - avg) / max * 100.0
            } else {
                0.0
            };
            let mut out = serde_json::Map::new();
            out.insert("id".into(), json!(metric.id));
            for (name, v) in [
                ("min", min),
                ("max", max),
                ("avg", avg),
                ("sum", sum),
                ("skew", skew),
            ] {
                if wanted.contains(&name) {
                    out.insert(name.into(), json!(v));
                }
            }
            Some(Value::Object(out))
        })
        .collect();
    Value::Array(values)
}

/// The `metrics` of a vertex in `GET /jobs/:id`: records and accumulated times over its
/// subtasks (bytes are not measured).
pub fn vertex_totals(job: &JobInfo, vertex: usize) -> Value {
    let subtasks = subtasks(job, vertex);
    let complete = subtasks.len() == job.vertices[vertex].parallelism as usize;
    let sum = |f: fn(&MetricsSample) -> u64| subtasks.iter().map(|(_, s, _)| f(s)).sum::<u64>();
    let busy = sum(|s| {
        s.elapsed_ms
            .saturating_sub(s.idle_ms)
            .saturating_sub(s.backpressured_ms)
    });
    json!({
        "read-bytes": 0,
        "read-bytes-complete": false,
        "write-bytes": 0,
        "write-bytes-complete": false,
        "read-records": sum(|s| s.records_in),
        "read-records-complete": complete,
        "write-records": sum(|s| s.records_out),
        "write-records-complete": complete,
        "accumulated-backpressured-time": sum(|s| s.backpressured_ms),
        "accumulated-idle-time": sum(|s| s.idle_ms),
        "accumulated-busy-time": busy,
    })
}

/// A Prometheus label value, escaped.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// `GET /metrics`: the cluster, its jobs and their subtasks in Prometheus' text format,
/// with the names Flink's Prometheus reporter uses.
pub fn prometheus(jobs: &[JobInfo], tms: &[TaskManagerInfo]) -> String {
    let mut out = String::new();
    let mut gauge = |name: &str, help: &str, samples: &[(String, f64)]| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} gauge");
        for (labels, v) in samples {
            let _ = writeln!(out, "{name}{labels} {v}");
        }
    };
    let running = jobs.iter().filter(|j| !j.state.is_terminal()).count();
    let slots: u32 = tms.iter().map(|t| t.slots).sum();
    let free: u32 = tms.iter().map(|t| t.free_slots).sum();
    gauge(
        "flink_jobmanager_numRegisteredTaskManagers",
        "TaskManagers registered",
        &[(String::new(), tms.len() as f64)],
    );
    gauge(
        "flink_jobmanager_taskSlotsTotal",
        "Slots of all TaskManagers",
        &[(String::new(), f64::from(slots))],
    );
    gauge(
        "flink_jobmanager_taskSlotsAvailable",
        "Slots no job holds",
        &[(String::new(), f64::from(free))],
    );
    gauge(
        "flink_jobmanager_numRunningJobs",
        "Jobs not finished, failed or cancelled",
        &[(String::new(), running as f64)],
    );
    let job_labels = |j: &JobInfo| format!("job_id=\"{}\",job_name=\"{}\"", j.id, label(&j.name));
    let per_job = |f: fn(&JobInfo) -> f64| -> Vec<(String, f64)> {
        jobs.iter()
            .map(|j| (format!("{{{}}}", job_labels(j)), f(j)))
            .collect()
    };
    gauge(
        "flink_jobmanager_job_uptime",
        "Milliseconds the job has been running (0 when not running)",
        &per_job(|j| {
            if j.state == JobState::Running {
                let since = j.timestamps.get(&JobState::Running).copied().unwrap_or(0);
                (chrono::Utc::now().timestamp_millis() - since).max(0) as f64
            } else {
                0.0
            }
        }),
    );
    gauge(
        "flink_jobmanager_job_numberOfCompletedCheckpoints",
        "Checkpoints completed (of the retained history)",
        &per_job(|j| {
            j.checkpoints
                .iter()
                .filter(|c| c.status == "COMPLETED" && !c.is_savepoint)
                .count() as f64
        }),
    );
    gauge(
        "flink_jobmanager_job_numberOfFailedCheckpoints",
        "Checkpoints failed (of the retained history)",
        &per_job(|j| {
            j.checkpoints
                .iter()
                .filter(|c| c.status == "FAILED")
                .count() as f64
        }),
    );
    gauge(
        "flink_jobmanager_job_lastCheckpointSize",
        "Bytes of the state of the last completed checkpoint",
        &per_job(|j| {
            j.checkpoints
                .iter()
                .rev()
                .find(|c| c.status == "COMPLETED")
                .map_or(0.0, |c| c.state_size as f64)
        }),
    );
    for metric in METRICS {
        let mut samples = Vec::new();
        for j in jobs.iter().filter(|j| j.state == JobState::Running) {
            for (vi, v) in j.vertices.iter().enumerate() {
                for (s, sample, rates) in subtasks(j, vi) {
                    if let Some(value) = (metric.value)(&sample, rates.as_ref()) {
                        let labels = format!(
                            "{{{},task_id=\"{}\",task_name=\"{}\",subtask_index=\"{s}\"}}",
                            job_labels(j),
                            label(&v.id),
                            label(&v.name)
                        );
                        samples.push((labels, value));
                    }
                }
            }
        }
        gauge(
            &format!("flink_taskmanager_job_task_{}", metric.id),
            metric.help,
            &samples,
        );
    }
    out
}
