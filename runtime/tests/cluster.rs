//! Cluster mode through the `runnel` binary: a JobManager and TaskManagers as separate
//! processes on loopback, jobs submitted as SQL through the REST API. Jobs spread over the
//! TaskManagers give exactly the output of local mode; a TaskManager killed with SIGKILL, or
//! frozen (SIGSTOP: its connections stay open and only the heartbeat timeout can tell), is
//! declared lost and the job restarts from its latest checkpoint on the TaskManagers that
//! remain or replace it, with exactly-once output; bad submissions get clear errors.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod support;
use support::cluster::{Cluster, TOKEN};
use support::{WINDOWS_AND_JOIN, call, error_message, get};

/// Nexmark q5 (hot items) of `examples/nexmark`, into a filesystem sink.
fn q5() -> String {
    let q5 = include_str!("../../examples/nexmark/q5.sql");
    let print =
        "CREATE TABLE nexmark_q5 (auction BIGINT, num BIGINT) WITH ('connector' = 'print');";
    assert!(q5.contains(print), "the example changed: {q5}");
    q5.replace(
        print,
        "CREATE TABLE nexmark_q5 (auction BIGINT, num BIGINT) WITH ('connector' = 'filesystem', \
         'path' = '${DIR}/out/q5', 'format' = 'csv');",
    )
}

#[test]
fn jobs_across_task_managers_give_the_output_of_local_mode() {
    let cluster = Cluster::start("same", 3, 1);
    let tms = cluster.task_managers();
    assert_eq!(tms.len(), 3);
    for t in &tms {
        assert_eq!(
            (t["slotsNumber"].as_u64(), t["freeSlots"].as_u64()),
            (Some(1), Some(1))
        );
        assert!(t["dataPort"].as_u64().unwrap() > 0, "{t}");
    }
    let (_, overview) = get(&cluster.rest, "/overview");
    assert_eq!(
        (
            overview["taskmanagers"].as_u64(),
            overview["slots-total"].as_u64()
        ),
        (Some(3), Some(3))
    );

    // q5 over all three TaskManagers, then the windows and the join over two.
    let q5_job = cluster.submit(&q5(), 3);
    cluster.wait_finished(&q5_job);
    let both = cluster.submit(WINDOWS_AND_JOIN, 2);
    cluster.wait_finished(&both);
    assert!(cluster.completed_checkpoints(&both) >= 1);
    cluster.assert_output_of_local_mode(&q5(), 3, &["q5"]);
    cluster.assert_output_of_local_mode(WINDOWS_AND_JOIN, 2, &["per_window", "sold"]);
    // Every TaskManager ran subtasks, and the slots are free again.
    for (i, tm) in cluster.tms.iter().enumerate() {
        assert!(
            tm.log().contains("registered at"),
            "TaskManager {i}:\n{}",
            tm.log()
        );
    }
    assert!(cluster.task_managers().iter().all(|t| t["freeSlots"] == 1));
    assert!(!cluster.logs().contains(TOKEN), "the token shows in a log");
}

#[test]
fn bad_submissions_get_clear_errors() {
    let cluster = Cluster::start("bad", 1, 1);
    let rest = &cluster.rest;
    let submit =
        |token: Option<&str>, body: &str| call(rest, "POST", "/jobs/sql", token, Some(body));
    let (status, body) = submit(None, r#"{"script": "SELECT 1"}"#);
    assert_eq!(status, 401, "{body}");
    let (status, body) = submit(Some(TOKEN), r#"{"script": "#);
    assert_eq!(status, 400, "{body}");
    assert!(
        error_message(&body).contains("malformed request body"),
        "{body}"
    );
    let (status, body) = submit(Some(TOKEN), r#"{"config": {}}"#);
    assert_eq!(status, 400, "{body}");
    assert!(error_message(&body).contains("'script'"), "{body}");
    let bad_sql = json!({ "script": "INSERT INTO nowhere SELECT * FROM nothing" }).to_string();
    let (status, body) = submit(Some(TOKEN), &bad_sql);
    assert_eq!(status, 400, "{body}");
    assert!(error_message(&body).contains("nowhere"), "{body}");
    const SELECT: &str = "CREATE TABLE t (x INT) WITH ('connector' = 'datagen', \
                          'number-of-rows' = '3'); SELECT x FROM t;";
    let select = json!({ "script": SELECT }).to_string();
    let (status, body) = submit(Some(TOKEN), &select);
    assert_eq!(status, 400, "{body}");
    assert!(
        error_message(&body).contains("no client to print to"),
        "{body}"
    );
    let bad_option = json!({ "script": SELECT, "config": { "parallelism.default": "zero" } });
    let (status, body) = submit(Some(TOKEN), &bad_option.to_string());
    assert_eq!(status, 400, "{body}");
    assert!(
        error_message(&body).contains("'parallelism.default'"),
        "{body}"
    );
    let (status, _) = get(rest, "/jobs/00000000000000000000000000000000");
    assert_eq!(status, 404);
    // Nothing was started.
    let (_, jobs) = get(rest, "/jobs");
    assert_eq!(jobs["jobs"], json!([]));
}

/// Runs the windows-and-join job on two one-slot TaskManagers, does `fault` to one that
/// holds tasks once checkpoints completed, and checks the job restarts from a checkpoint and
/// its output equals local mode's.
fn recovers_from(name: &str, fault: impl FnOnce(&mut Cluster, usize)) {
    let mut cluster = Cluster::start(name, 2, 1);
    let id = cluster.submit(WINDOWS_AND_JOIN, 2);
    cluster.wait("two completed checkpoints", || {
        cluster.completed_checkpoints(&id) >= 2
    });
    // Metrics cross from the TaskManagers: the Nexmark source knows what it has left.
    let source = cluster.job(&id)["vertices"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!(
        "/jobs/{id}/vertices/{source}/subtasks/metrics?get=pendingRecords,numRecordsOutPerSecond"
    );
    cluster.wait("the source's metrics", || {
        get(&cluster.rest, &path)
            .1
            .as_array()
            .is_some_and(|m| m.len() == 2)
    });
    let (_, m) = get(&cluster.rest, &path);
    let pending = m[0]["sum"].as_f64().unwrap();
    assert!(pending > 0.0 && pending < cluster.events() as f64, "{m}");
    let victim = cluster.busy_task_manager();
    let address = cluster.data_address(victim);
    fault(&mut cluster, victim);
    cluster.wait_finished(&id);
    let log = cluster.jm.log();
    let restart = log
        .lines()
        .find(|l| l.contains("restart 1 in"))
        .unwrap_or_else(|| panic!("no restart in:\n{log}"));
    // The JobManager saw it lost, or a peer saw the data connection break: both name it.
    assert!(
        restart.contains(&address) && restart.contains("/chk-"),
        "{restart}"
    );
    // The REST API reports the run restored from a checkpoint, as Flink's does.
    let (_, detail) = get(&cluster.rest, &format!("/jobs/{id}/checkpoints"));
    let restored = &detail["latest"]["restored"];
    assert!(
        detail["counts"]["restored"].as_u64() >= Some(1)
            && restored["is_savepoint"] == false
            && restored["external_path"]
                .as_str()
                .is_some_and(|p| p.contains("/chk-")),
        "{detail}"
    );
    cluster.assert_output_of_local_mode(WINDOWS_AND_JOIN, 2, &["per_window", "sold"]);
    assert!(!cluster.logs().contains(TOKEN), "the token shows in a log");
}

#[test]
fn a_killed_task_manager_is_replaced_and_output_stays_exactly_once() {
    recovers_from("killed", |cluster, victim| {
        cluster.tms[victim].signal(libc::SIGKILL);
        // One TaskManager is left with one slot: the job waits until a replacement comes.
        cluster.wait("the loss to be noticed", || {
            cluster.task_managers().len() == 1
        });
        cluster.add_task_manager(1);
    });
}

#[test]
fn a_frozen_task_manager_is_lost_by_heartbeat_timeout_and_the_job_recovers() {
    recovers_from("frozen", |cluster, victim| {
        // Stopped, its connections stay open: only missing heartbeats tell.
        cluster.add_task_manager(1);
        cluster.tms[victim].signal(libc::SIGSTOP);
        let started = Instant::now();
        cluster.wait("the frozen TaskManager to be declared lost", || {
            cluster.jm.log().contains("no heartbeat for 3000 ms")
        });
        assert!(
            started.elapsed() >= Duration::from_secs(2),
            "lost before its timeout"
        );
    });
}

#[test]
fn a_killed_job_manager_is_replaced_by_its_standby_and_the_job_resumes() {
    let mut cluster = Cluster::start_with("ha", 2, 1, true, &[]);
    let standby = Cluster::job_manager(&cluster.dir, &cluster.options, "standby.log");
    standby.wait_for_line("runnel: another JobManager leads");
    let id = cluster.submit(WINDOWS_AND_JOIN, 2);
    cluster.wait("two completed checkpoints", || {
        cluster.completed_checkpoints(&id) >= 2
    });
    cluster.jm.signal(libc::SIGKILL);
    // The standby leads once the lock is free; the TaskManagers find it through the HA
    // folder and the job resumes from the checkpoint the dead leader recorded last.
    let recovering =
        standby.wait_for_line(&format!("runnel: recovering job {id} from checkpoint "));
    cluster.rest = standby.wait_for_line("runnel: REST API at http://");
    cluster.jm = standby;
    cluster.wait_finished(&id);
    cluster.assert_output_of_local_mode(WINDOWS_AND_JOIN, 2, &["per_window", "sold"]);
    assert!(recovering.contains("/chk-"), "{recovering}");
    // Finished: the HA record says so, and a later leader would not run it again.
    let record =
        std::fs::read_to_string(cluster.dir.join(format!("ha/default/jobs/{id}.json"))).unwrap();
    assert!(record.contains("\"FINISHED\""), "{record}");
    // The record keeps the job's own options, never the JobManager's REST token.
    assert!(!record.contains(TOKEN), "{record}");
}

#[test]
fn a_running_job_rescales_through_rest_with_exactly_once_output() {
    let cluster = Cluster::start("rescale", 3, 1);
    let id = cluster.submit(WINDOWS_AND_JOIN, 2);
    cluster.wait("a completed checkpoint", || {
        cluster.completed_checkpoints(&id) >= 1
    });
    let path = format!("/jobs/{id}/resource-requirements");
    let (status, before) = get(&cluster.rest, &path);
    assert_eq!(status, 200, "{before}");
    let vertices: Vec<String> = before.as_object().unwrap().keys().cloned().collect();
    assert!(
        before
            .as_object()
            .unwrap()
            .values()
            .any(|v| v["parallelism"]["upperBound"] == 2)
    );
    let to = |p: u32| {
        let body: serde_json::Map<String, Value> = vertices
            .iter()
            .map(|v| {
                (
                    v.clone(),
                    json!({"parallelism": {"lowerBound": 1, "upperBound": p}}),
                )
            })
            .collect();
        Value::Object(body).to_string()
    };
    let put = |body: &str, token| call(&cluster.rest, "PUT", &path, token, Some(body));
    assert_eq!(put(&to(3), None).0, 401);
    let (status, body) = put(
        r#"{"nope": {"parallelism": {"lowerBound": 1, "upperBound": 3}}}"#,
        Some(TOKEN),
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("no vertex nope"), "{body}");
    let (status, body) = put(&to(3), Some(TOKEN));
    assert_eq!(status, 200, "{body}");
    cluster.wait("the job at parallelism 3", || {
        let (_, now) = get(&cluster.rest, &path);
        now.as_object()
            .unwrap()
            .values()
            .any(|v| v["parallelism"]["upperBound"] == 3)
            && cluster.job(&id)["state"] == "RUNNING"
    });
    cluster.wait_finished(&id);
    assert!(
        cluster.jm.log().contains("rescaled to parallelism 3"),
        "{}",
        cluster.jm.log()
    );
    cluster.assert_output_of_local_mode(WINDOWS_AND_JOIN, 2, &["per_window", "sold"]);
}

#[test]
fn a_job_stopped_with_a_savepoint_resumes_from_it_with_exactly_once_output() {
    let cluster = Cluster::start("stop", 2, 1);
    let id = cluster.submit(WINDOWS_AND_JOIN, 2);
    cluster.wait("a completed checkpoint", || {
        cluster.completed_checkpoints(&id) >= 1
    });
    let target = cluster.dir.join("savepoints");
    let body = json!({ "targetDirectory": target.to_str().unwrap() }).to_string();
    let (status, trigger) = call(
        &cluster.rest,
        "POST",
        &format!("/jobs/{id}/stop"),
        Some(TOKEN),
        Some(&body),
    );
    assert_eq!(status, 202, "{trigger}");
    let path = format!(
        "/jobs/{id}/savepoints/{}",
        trigger["request-id"].as_str().unwrap()
    );
    let mut location = String::new();
    cluster.wait("the savepoint", || {
        let (_, s) = get(&cluster.rest, &path);
        if s["status"]["id"] == "COMPLETED" {
            location = s["operation"]["location"]
                .as_str()
                .unwrap_or_else(|| panic!("{s}"))
                .to_string();
            return true;
        }
        false
    });
    assert!(location.starts_with(target.to_str().unwrap()), "{location}");
    cluster.wait_finished(&id);
    // The same SQL again, from the savepoint, on the same sinks.
    let resumed = cluster.submit_with(
        &cluster.script(WINDOWS_AND_JOIN),
        json!({ "parallelism.default": "2", "execution.savepoint.path": location }),
    );
    cluster.wait_finished(&resumed);
    let (_, detail) = get(&cluster.rest, &format!("/jobs/{resumed}/checkpoints"));
    let restored = &detail["latest"]["restored"];
    assert_eq!(restored["is_savepoint"], true, "{detail}");
    assert_eq!(restored["external_path"], location.as_str(), "{detail}");
    assert_eq!(detail["counts"]["restored"], 1, "{detail}");
    cluster.assert_output_of_local_mode(WINDOWS_AND_JOIN, 2, &["per_window", "sold"]);
}
