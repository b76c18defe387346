//! The REST API of a running job, driven over HTTP the way Flink's tooling reads it: every
//! answer has Flink 2.3's field names and JSON types (`rest/flink_shapes.json`, recorded from a
//! Flink MiniCluster by `rest/record_flink_shapes.py`), the fields Runnel does not serve yet are
//! exactly the listed ones, and the values describe the job; a savepoint is triggered and
//! polled to completion and the job cancelled, with the auth token those calls need.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

mod support;
use support::{call, error_message, get, get_text, vertex_ids};

const JOB: &str = "
SET 'execution.checkpointing.interval' = '200 ms';
SET 'state.checkpoints.dir' = '${DIR}/checkpoints';
SET 'rest.port' = '0';
SET 'rest.auth-token' = '${TOKEN}';
CREATE TABLE src (k BIGINT) WITH ('connector' = 'datagen', 'rows-per-second' = '2000',
  'fields.k.min' = '0', 'fields.k.max' = '100');
CREATE TABLE snk (k BIGINT, c BIGINT) WITH ('connector' = 'blackhole');
INSERT INTO snk SELECT k, COUNT(*) FROM src GROUP BY k;
";

/// Flink fields Runnel leaves out for now, by path (`[]` marks list elements): checkpoint
/// alignment figures it does not measure yet, the application id, and the JVM
/// memory model of TaskManagers.
const NOT_SERVED: &[&str] = &[
    "/jobs/:jobid.application-id",
    "/jobs/:jobid.vertices[].slotSharingGroupId",
    "/jobs/:jobid/checkpoints.history[].alignment_buffered",
    "/jobs/:jobid/checkpoints.history[].persisted_data",
    "/jobs/:jobid/checkpoints.history[].processed_data",
    "/jobs/:jobid/checkpoints.latest.completed.alignment_buffered",
    "/jobs/:jobid/checkpoints.latest.completed.persisted_data",
    "/jobs/:jobid/checkpoints.latest.completed.processed_data",
    "/jobs/:jobid/checkpoints.summary.alignment_buffered",
    "/jobs/:jobid/checkpoints.summary.persisted_data",
    "/jobs/:jobid/checkpoints.summary.processed_data",
    "/taskmanagers.taskmanagers[].assignedTasks",
    "/taskmanagers.taskmanagers[].freeResource",
    "/taskmanagers.taskmanagers[].memoryConfiguration",
    "/taskmanagers.taskmanagers[].totalResource",
];

struct Job {
    child: Child,
    dir: PathBuf,
}

impl Drop for Job {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Starts the job and waits for its REST address and a few checkpoints.
fn start() -> (Job, String) {
    let dir = std::env::temp_dir().join(format!("runnel-rest-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("job.sql");
    let text = JOB
        .replace("${DIR}", dir.to_str().unwrap())
        .replace("${TOKEN}", TOKEN);
    std::fs::write(&script, text).unwrap();
    let log = dir.join("job.log");
    let child = Command::new(env!("CARGO_BIN_EXE_runnel"))
        .args(["run", script.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let job = Job { child, dir };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(addr) = text
            .lines()
            .find_map(|l| l.strip_prefix("runnel: REST API at http://"))
            && text.contains("checkpoint 3 complete")
        {
            return (job, addr.trim().to_string());
        }
        assert!(
            Instant::now() < deadline,
            "no REST address or checkpoints:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The token of the calls that change the job; it must never show in the job's log.
const TOKEN: &str = "canary-7f3e9b2c";

/// Compares `ours` with Flink's `shape` at `path`: same types, every field of ours known to
/// Flink, and Flink's fields missing from ours collected in `missing`.
fn compare(path: &str, ours: &Value, shape: &Value, missing: &mut Vec<String>) {
    match (ours, shape) {
        // Flink's recording had nothing there (no savepoint yet, say): any value fits.
        (_, Value::String(t)) if t == "null" => {}
        (Value::Object(o), Value::Object(s)) => {
            for (k, v) in o {
                let sub = s
                    .get(k)
                    .unwrap_or_else(|| panic!("{path}.{k}: a field Flink does not have"));
                compare(&format!("{path}.{k}"), v, sub, missing);
            }
            for k in s.keys().filter(|k| !o.contains_key(*k)) {
                missing.push(format!("{path}.{k}"));
            }
        }
        (Value::Array(a), Value::Array(s)) => {
            if let Some(shape) = s.first() {
                // Each missing field once, however many elements.
                let mut seen = Vec::new();
                for item in a {
                    let mut m = Vec::new();
                    compare(&format!("{path}[]"), item, shape, &mut m);
                    seen = m;
                }
                missing.extend(seen);
            }
        }
        (Value::Number(_), Value::String(t)) if t == "number" => {}
        (Value::String(_), Value::String(t)) if t == "string" => {}
        (Value::Bool(_), Value::String(t)) if t == "bool" => {}
        (Value::Null, Value::String(t)) if t == "null" => {}
        _ => panic!("{path}: {ours} where Flink has {shape}"),
    }
}

#[test]
fn the_rest_api_answers_as_flink_does() {
    let shapes: Value = serde_json::from_str(include_str!("rest/flink_shapes.json")).unwrap();
    let (mut running, addr) = start();

    let (status, jobs) = get(&addr, "/jobs/overview");
    assert_eq!(status, 200);
    let overview = &jobs["jobs"][0];
    assert_eq!(overview["state"], "RUNNING");
    assert_eq!(
        overview["name"],
        "insert-into_default_catalog.default_database.snk"
    );
    assert_eq!(overview["end-time"], -1);
    let id = overview["jid"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 32);

    let mut missing = Vec::new();
    let mut answers = Vec::new();
    // The aggregating vertex (the last) once its rates are known (two samples, a second
    // apart): sources have no input records.
    let (_, detail) = get(&addr, &format!("/jobs/{id}"));
    let vertex = detail["vertices"][1]["id"].as_str().unwrap().to_string();
    const RATES: &str = "busyTimeMsPerSecond,backPressuredTimeMsPerSecond,idleTimeMsPerSecond,\
                         numRecordsInPerSecond,numRecordsOutPerSecond";
    let aggregated = format!("/jobs/{id}/vertices/{vertex}/subtasks/metrics?get={RATES}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let rates = loop {
        let (status, body) = get(&addr, &aggregated);
        assert_eq!(status, 200, "{body}");
        if body.as_array().unwrap().len() == 5 {
            break body;
        }
        assert!(Instant::now() < deadline, "no rates: {body}");
        std::thread::sleep(Duration::from_millis(100));
    };
    for path in [
        "/config",
        "/overview",
        "/jobs",
        "/jobs/overview",
        "/jobs/:jobid",
        "/jobs/:jobid/checkpoints",
        "/jobs/:jobid/exceptions",
        "/taskmanagers",
        "/jobs/:jobid/vertices/:vertexid/subtasks/metrics?get=...",
        "/jobs/:jobid/vertices/:vertexid/metrics?get=0.busyTimeMsPerSecond",
    ] {
        let url = path
            .replace(":jobid", &id)
            .replace(":vertexid", &vertex)
            .replace("get=...", &format!("get={RATES}"));
        let (status, body) = get(&addr, &url);
        assert_eq!(status, 200, "{path}: {body}");
        compare(path, &body, &shapes[path], &mut missing);
        answers.push(body);
    }
    // Each second of the subtask is busy, backpressured or idle; 2,000 rows a second come in
    // (datagen's rate) and one update per row goes out.
    let figure = |name: &str, agg: &str| -> f64 {
        let m = rates
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == name)
            .unwrap();
        m[agg].as_f64().unwrap()
    };
    let second = figure("busyTimeMsPerSecond", "sum")
        + figure("backPressuredTimeMsPerSecond", "sum")
        + figure("idleTimeMsPerSecond", "sum");
    assert!((second - 1000.0).abs() < 1.0, "{rates}");
    let rows_in = figure("numRecordsInPerSecond", "sum");
    assert!((1000.0..4000.0).contains(&rows_in), "{rates}");
    // Its sink is chained into it: nothing leaves the vertex, as in Flink.
    assert_eq!(figure("numRecordsOutPerSecond", "sum"), 0.0, "{rates}");
    let (_, ids) = get(&addr, &format!("/jobs/{id}/vertices/{vertex}/metrics"));
    assert!(
        ids.as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == "0.numRecordsIn"),
        "{ids}"
    );
    // The source knows nothing of pending records (datagen unbounded); the metric is absent.
    let source = detail["vertices"][0]["id"].as_str().unwrap();
    let (_, ids) = get(
        &addr,
        &format!("/jobs/{id}/vertices/{source}/subtasks/metrics"),
    );
    assert!(!ids.to_string().contains("pendingRecords"), "{ids}");
    let (status, text) = get_text(&addr, "/metrics");
    assert_eq!(status, 200);
    for line in [
        "flink_jobmanager_numRegisteredTaskManagers 1",
        "# TYPE flink_taskmanager_job_task_busyTimeMsPerSecond gauge",
    ] {
        assert!(text.contains(line), "{line} not in:\n{text}");
    }
    assert!(
        text.lines().any(
            |l| l.starts_with("flink_taskmanager_job_task_numRecordsIn{")
                && l.contains(&format!("job_id=\"{id}\""))
                && l.contains(&format!("task_id=\"{vertex}\""))
        ),
        "{text}"
    );
    missing.sort();
    assert_eq!(
        missing, NOT_SERVED,
        "Flink's fields that Runnel does not serve"
    );

    let job = &answers[4];
    assert_eq!(job["jid"], id.as_str());
    assert_eq!(job["status-counts"]["RUNNING"], 2);
    assert!(job["timestamps"]["RUNNING"].as_i64().unwrap() >= job["start-time"].as_i64().unwrap());
    let names: Vec<&str> = job["vertices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");

    let checkpoints = &answers[5];
    assert!(
        checkpoints["counts"]["completed"].as_u64().unwrap() >= 3,
        "{checkpoints}"
    );
    let latest = &checkpoints["latest"]["completed"];
    assert_eq!(latest["status"], "COMPLETED");
    assert!(
        latest["external_path"].as_str().unwrap().contains(&id),
        "{latest}"
    );
    assert!(latest["state_size"].as_u64().unwrap() > 0);

    let cluster = &answers[1];
    assert_eq!(cluster["jobs-running"], 1);
    assert_eq!(cluster["taskmanagers"], 1);

    // Unknown jobs and paths: 404 with Flink's error body.
    let (status, body) = get(&addr, "/jobs/00000000000000000000000000000000");
    assert_eq!(status, 404);
    assert!(error_message(&body).contains("not found"), "{body}");
    let (status, body) = get(&addr, "/no/such/path");
    assert_eq!(status, 404);
    assert!(error_message(&body).contains("/no/such/path"), "{body}");
    // A job of `runnel run` cannot be planned again: it is not rescaled while it runs.
    let vertex_ids = vertex_ids(&detail);
    let body = format!(
        r#"{{"{}": {{"parallelism": {{"lowerBound": 1, "upperBound": 2}}}}}}"#,
        vertex_ids[1]
    );
    let path = format!("/jobs/{id}/resource-requirements");
    let (status, body) = call(&addr, "PUT", &path, Some(TOKEN), Some(&body));
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("cannot be rescaled"), "{body}");
    let (status, body) = get(&addr, &path);
    assert_eq!(status, 200);
    assert_eq!(
        body[&vertex_ids[1]]["parallelism"]["upperBound"], 1,
        "{body}"
    );
    // Calls that change the job need the token.
    let request = format!(
        r#"{{"target-directory": "{}"}}"#,
        running.dir.join("savepoints").display()
    );
    let path = format!("/jobs/{id}/savepoints");
    for token in [None, Some("wrong")] {
        let (status, body) = call(&addr, "POST", &path, token, Some(&request));
        assert_eq!(status, 401, "{body}");
    }
    let (status, body) = call(
        &addr,
        "POST",
        &path,
        Some(TOKEN),
        Some("{\"target-directory\": "),
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        error_message(&body).contains("malformed request body"),
        "{body}"
    );
    let (status, trigger) = call(&addr, "POST", &path, Some(TOKEN), Some(&request));
    let recorded = &shapes["POST /jobs/:jobid/savepoints"];
    assert_eq!(status, recorded["status"], "{trigger}");
    let mut none = Vec::new();
    compare("POST savepoints", &trigger, &recorded["body"], &mut none);
    let trigger = trigger["request-id"].as_str().unwrap();
    let status_path = format!("/jobs/{id}/savepoints/{trigger}");
    let deadline = Instant::now() + Duration::from_secs(60);
    let done = loop {
        let (status, body) = get(&addr, &status_path);
        assert_eq!(status, 200, "{body}");
        if body["status"]["id"] == "COMPLETED" {
            break body;
        }
        assert_eq!(body["status"]["id"], "IN_PROGRESS", "{body}");
        assert!(Instant::now() < deadline, "the savepoint never completed");
        std::thread::sleep(Duration::from_millis(50));
    };
    compare(
        "savepoint status",
        &done,
        &shapes["/jobs/:jobid/savepoints/:triggerid"],
        &mut none,
    );
    assert!(none.is_empty(), "{none:?}");
    let location = done["operation"]["location"].as_str().unwrap();
    assert!(
        std::path::Path::new(location).join("_metadata").exists(),
        "{location}"
    );
    let (status, _) = get(&addr, &format!("/jobs/{id}/savepoints/0123"));
    assert_eq!(status, 404);

    // Cancel: accepted as Flink accepts it, and the job ends.
    let cancel = format!("/jobs/{id}?mode=cancel");
    let (status, _) = call(&addr, "PATCH", &cancel, None, None);
    assert_eq!(status, 401);
    let (status, body) = call(&addr, "PATCH", &cancel, Some(TOKEN), None);
    assert_eq!(status, shapes["PATCH /jobs/:jobid"]["status"], "{body}");
    assert_eq!(body, serde_json::json!({}));
    let exited = wait_exit(&mut running.child);
    assert!(exited.success(), "the cancelled job exited with {exited}");
    let log = std::fs::read_to_string(running.dir.join("job.log")).unwrap();
    assert!(log.contains(&format!("job {id} cancelled")), "{log}");
    assert!(!log.contains(TOKEN), "the token shows in the log");
}

fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "the cancelled job did not exit");
        std::thread::sleep(Duration::from_millis(50));
    }
}
