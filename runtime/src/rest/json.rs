//! The JSON answers of the REST API, field for field as Flink's where Runnel has the data;
//! fields Runnel does not measure yet (vertex I/O metrics, alignment sizes) are left out
//! rather than filled in.

use serde_json::{Map, Value, json};

use crate::execution::{CheckpointInfo, JobInfo, JobState};

/// The Flink version whose REST API this one follows.
pub const FLINK_VERSION: &str = "2.3.0";

/// Task states Flink counts, in its order.
const TASK_STATES: [&str; 10] = [
    "CREATED",
    "SCHEDULED",
    "DEPLOYING",
    "RUNNING",
    "FINISHED",
    "CANCELING",
    "CANCELED",
    "FAILED",
    "RECONCILING",
    "INITIALIZING",
];

/// Job states Flink timestamps.
const JOB_STATES: [&str; 11] = [
    "INITIALIZING",
    "CREATED",
    "RUNNING",
    "FAILING",
    "FAILED",
    "CANCELLING",
    "CANCELED",
    "FINISHED",
    "RESTARTING",
    "SUSPENDED",
    "RECONCILING",
];

fn now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn revision() -> String {
    format!("runnel-{}", env!("CARGO_PKG_VERSION"))
}

/// `GET /config`.
pub fn config() -> Value {
    json!({
        "refresh-interval": 3000,
        "timezone-name": "Coordinated Universal Time",
        "timezone-offset": 0,
        "flink-version": FLINK_VERSION,
        "flink-revision": revision(),
        "features": {
            "web-submit": false,
            "web-cancel": false,
            "web-rescale": false,
            "web-history": false,
        },
    })
}

/// `GET /overview`: the cluster. A running job holds as many slots as its highest
/// parallelism (its pipelines share slots).
pub fn overview(jobs: &[JobInfo], taskmanagers: usize, slots: u32) -> Value {
    let count = |s: JobState| jobs.iter().filter(|j| j.state == s).count();
    let used: u32 = jobs
        .iter()
        .filter(|j| !j.state.is_terminal())
        .map(|j| j.slots())
        .sum();
    json!({
        "taskmanagers": taskmanagers,
        "slots-total": slots,
        "slots-available": slots.saturating_sub(used),
        "jobs-running": jobs.iter().filter(|j| !j.state.is_terminal()).count(),
        "jobs-finished": count(JobState::Finished),
        "jobs-cancelled": count(JobState::Canceled),
        "jobs-failed": count(JobState::Failed),
        "flink-version": FLINK_VERSION,
        "flink-commit": revision(),
    })
}

/// `GET /taskmanagers`: Flink's fields where they apply.
pub fn taskmanagers(tms: &[super::TaskManagerInfo]) -> Value {
    let list: Vec<Value> = tms
        .iter()
        .map(|t| {
            let port = t
                .data_address
                .rsplit_once(':')
                .and_then(|(_, p)| p.parse::<u16>().ok())
                .unwrap_or(0);
            json!({
                "id": t.id,
                "path": t.data_address,
                "dataPort": port,
                "jmxPort": -1,
                "timeSinceLastHeartbeat": t.last_heartbeat,
                "slotsNumber": t.slots,
                "freeSlots": t.free_slots,
                "hardware": {
                    "cpuCores": t.cpu_cores,
                    "physicalMemory": t.physical_memory,
                    "freeMemory": 0,
                    "managedMemory": 0,
                },
            })
        })
        .collect();
    json!({ "taskmanagers": list })
}

/// The job graph as Flink's `plan`: each vertex with the vertices it reads from.
fn plan(j: &JobInfo) -> Value {
    let nodes: Vec<Value> = j
        .vertices
        .iter()
        .map(|v| {
            let inputs: Vec<Value> = v
                .inputs
                .iter()
                .enumerate()
                .map(|(num, (id, strategy))| {
                    json!({
                        "num": num,
                        "id": id,
                        "ship_strategy": strategy,
                        "exchange": "pipelined_bounded",
                    })
                })
                .collect();
            json!({
                "id": v.id,
                "parallelism": v.parallelism,
                "operator": "",
                "operator_strategy": "",
                "description": v.name,
                "inputs": inputs,
                "optimizer_properties": {},
            })
        })
        .collect();
    json!({ "jid": j.id, "name": j.name, "type": "STREAMING", "nodes": nodes })
}

/// `GET /jobs/:id/resource-requirements`.
pub fn resource_requirements(j: &JobInfo) -> Value {
    let map: serde_json::Map<String, Value> = j
        .vertices
        .iter()
        .map(|v| {
            (
                v.id.clone(),
                json!({ "parallelism": { "lowerBound": 1, "upperBound": v.parallelism } }),
            )
        })
        .collect();
    Value::Object(map)
}

/// `GET /jobs/:id/exceptions`: the failures that restarted or ended the job, newest first.
pub fn exceptions(j: &JobInfo) -> Value {
    let entries: Vec<Value> = j
        .exceptions
        .iter()
        .rev()
        .map(|e| {
            json!({
                "exceptionName": "runnel.JobFailure",
                "stacktrace": e.message,
                "timestamp": e.timestamp,
                "taskName": null,
                "location": null,
            })
        })
        .collect();
    json!({ "exceptionHistory": { "entries": entries, "truncated": false } })
}

/// `GET /jobs`.
pub fn jobs(jobs: &[JobInfo]) -> Value {
    let list: Vec<Value> = jobs
        .iter()
        .map(|j| json!({ "id": j.id, "status": j.state.name() }))
        .collect();
    json!({ "jobs": list })
}

/// The state of a job's subtasks that have not reached the end of their input.
fn subtask_state(job: JobState) -> &'static str {
    match job {
        JobState::Created | JobState::Restarting => "CREATED",
        JobState::Running => "RUNNING",
        JobState::Finished => "FINISHED",
        JobState::Failed | JobState::Canceled => "CANCELED",
    }
}

/// The state subtasks of `job` are in, with their numbers: the ones that reached the end of
/// their input are FINISHED, the others follow the job.
fn task_counts(job: &JobInfo, subtasks: usize, finished: usize) -> Map<String, Value> {
    let others = subtask_state(job.state);
    let finished = if job.state == JobState::Finished {
        subtasks
    } else {
        finished.min(subtasks)
    };
    let mut m = Map::new();
    for s in TASK_STATES {
        let n = match s {
            "FINISHED" => finished,
            _ if s == others => subtasks - finished,
            _ => 0,
        };
        m.insert(s.to_string(), json!(n));
    }
    m
}

fn times(job: &JobInfo) -> (i64, i64, i64) {
    let start = job.start_time();
    let end = job.end_time();
    let duration = end.unwrap_or_else(now) - start;
    (start, end.unwrap_or(-1), duration)
}

/// `GET /jobs/overview`.
pub fn jobs_overview(jobs: &[JobInfo]) -> Value {
    let list: Vec<Value> = jobs
        .iter()
        .map(|j| {
            let (start, end, duration) = times(j);
            let mut tasks: Map<String, Value> = task_counts(j, j.subtasks(), j.finished_subtasks)
                .into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect();
            tasks.insert("total".into(), json!(j.subtasks()));
            json!({
                "jid": j.id,
                "name": j.name,
                "state": j.state.name(),
                "start-time": start,
                "end-time": end,
                "duration": duration,
                "last-modification": j.timestamps.values().max().copied().unwrap_or(start),
                "tasks": tasks,
                "jobType": "STREAMING",
                "pending-operators": 0,
                "schedulerType": "Default",
            })
        })
        .collect();
    json!({ "jobs": list })
}

/// `GET /jobs/:id`.
pub fn job(j: &JobInfo) -> Value {
    let (start, end, duration) = times(j);
    let mut timestamps = Map::new();
    for s in JOB_STATES {
        let at = j
            .timestamps
            .iter()
            .find(|(state, _)| state.name() == s)
            .map(|(_, t)| *t)
            .unwrap_or(0);
        timestamps.insert(s.to_string(), json!(at));
    }
    let vertex_state = subtask_state(j.state);
    let vertices: Vec<Value> = j
        .vertices
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let n = v.parallelism as usize;
            let finished = if j.state == JobState::Finished { n } else { 0 };
            json!({
                "id": v.id,
                "name": v.name,
                "parallelism": v.parallelism,
                "maxParallelism": j.max_parallelism,
                "status": vertex_state,
                "start-time": start,
                "end-time": end,
                "duration": duration,
                "tasks": task_counts(j, n, finished),
                "metrics": super::metrics::vertex_totals(j, i),
            })
        })
        .collect();
    json!({
        "jid": j.id,
        "name": j.name,
        "isStoppable": false,
        "state": j.state.name(),
        "job-type": "STREAMING",
        "start-time": start,
        "end-time": end,
        "duration": duration,
        "maxParallelism": j.max_parallelism,
        "now": now(),
        "timestamps": timestamps,
        "vertices": vertices,
        "plan": plan(j),
        "status-counts": task_counts(j, j.subtasks(), j.finished_subtasks),
        "pending-operators": 0,
        "schedulerType": "Default",
    })
}

fn checkpoint(c: &CheckpointInfo) -> Value {
    let mut v = json!({
        "className": match c.status {
            "COMPLETED" => ".CompletedCheckpointStatistics",
            "FAILED" => ".FailedCheckpointStatistics",
            _ => ".PendingCheckpointStatistics",
        },
        "id": c.id,
        "status": c.status,
        "is_savepoint": c.is_savepoint,
        "savepointFormat": if c.is_savepoint { json!("CANONICAL") } else { Value::Null },
        "checkpoint_type": if c.is_savepoint { "SAVEPOINT" } else { "CHECKPOINT" },
        "trigger_timestamp": c.trigger_timestamp,
        "latest_ack_timestamp": c.latest_ack_timestamp,
        "state_size": c.state_size,
        "checkpointed_size": c.checkpointed_size,
        "end_to_end_duration": c.latest_ack_timestamp - c.trigger_timestamp,
        "num_subtasks": c.subtasks,
        "num_acknowledged_subtasks": c.acknowledged,
        "tasks": {},
    });
    let o = v.as_object_mut().expect("an object");
    if c.status == "COMPLETED" {
        o.insert("external_path".into(), json!(c.external_path));
        o.insert("discarded".into(), json!(false));
    }
    if let Some(f) = &c.failure {
        o.insert("failure_message".into(), json!(f));
        o.insert("failure_timestamp".into(), json!(c.latest_ack_timestamp));
    }
    v
}

/// Flink's min/max/avg/percentiles of `values`.
fn stats(mut values: Vec<i64>) -> Value {
    if values.is_empty() {
        values.push(0);
    }
    values.sort_unstable();
    let pct = |p: f64| {
        let i = ((p * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1;
        values[i]
    };
    json!({
        "min": values[0],
        "max": values[values.len() - 1],
        "avg": values.iter().sum::<i64>() / values.len() as i64,
        "p50": pct(0.5),
        "p90": pct(0.9),
        "p95": pct(0.95),
        "p99": pct(0.99),
        "p999": pct(0.999),
    })
}

/// `GET /jobs/:id/checkpoints`.
pub fn checkpoints(j: &JobInfo) -> Value {
    let count = |s: &str| j.checkpoints.iter().filter(|c| c.status == s).count();
    let completed: Vec<&CheckpointInfo> = j
        .checkpoints
        .iter()
        .filter(|c| c.status == "COMPLETED")
        .collect();
    let latest = |savepoint: bool| {
        completed
            .iter()
            .rev()
            .find(|c| c.is_savepoint == savepoint)
            .map_or(Value::Null, |c| checkpoint(c))
    };
    let failed = j
        .checkpoints
        .iter()
        .rev()
        .find(|c| c.status == "FAILED")
        .map_or(Value::Null, checkpoint);
    let restored = j.restored.as_ref().map_or(Value::Null, |r| {
        json!({
            "id": r.id,
            "restore_timestamp": r.at,
            "is_savepoint": r.is_savepoint,
            "external_path": r.path,
        })
    });
    let history: Vec<Value> = j.checkpoints.iter().rev().map(checkpoint).collect();
    json!({
        "counts": {
            "restored": j.restores,
            "total": j.checkpoints.len(),
            "in_progress": count("IN_PROGRESS"),
            "completed": completed.len(),
            "failed": count("FAILED"),
        },
        "summary": {
            "state_size": stats(completed.iter().map(|c| c.state_size as i64).collect()),
            "checkpointed_size": stats(completed.iter().map(|c| c.checkpointed_size as i64).collect()),
            "end_to_end_duration": stats(
                completed.iter().map(|c| c.latest_ack_timestamp - c.trigger_timestamp).collect()
            ),
        },
        "latest": {
            "completed": latest(false),
            "savepoint": latest(true),
            "failed": failed,
            "restored": restored,
        },
        "history": history,
    })
}
