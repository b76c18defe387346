//! Cluster mode through the `runnel` binary: a JobManager and TaskManagers as separate
//! processes on loopback, jobs submitted as SQL through the REST API. Jobs spread over the
//! TaskManagers give exactly the output of local mode; a TaskManager killed with SIGKILL, or
//! frozen (SIGSTOP: its connections stay open and only the heartbeat timeout can tell), is
//! declared lost and the job restarts from its latest checkpoint on the TaskManagers that
//! remain or replace it, with exactly-once output; bad submissions get clear errors.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod support;
use support::{WINDOWS_AND_JOIN, bids, call, committed_rows, get};

/// Nexmark q5 (hot items) into a filesystem sink.
const Q5: &str = "
CREATE TABLE q5 (auction BIGINT, num BIGINT)
  WITH ('connector' = 'filesystem', 'path' = '${DIR}/out/q5', 'format' = 'csv');
INSERT INTO q5
SELECT AuctionBids.auction, AuctionBids.num
 FROM (
   SELECT auction, count(*) AS num, window_start AS starttime, window_end AS endtime
   FROM TABLE(HOP(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
   GROUP BY auction, window_start, window_end
 ) AS AuctionBids
 JOIN (
   SELECT max(CountBids.num) AS maxn, CountBids.starttime, CountBids.endtime
   FROM (
     SELECT count(*) AS num, window_start AS starttime, window_end AS endtime
     FROM TABLE(HOP(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
     GROUP BY auction, window_start, window_end
     ) AS CountBids
   GROUP BY CountBids.starttime, CountBids.endtime
 ) AS MaxBids
 ON AuctionBids.starttime = MaxBids.starttime AND
    AuctionBids.endtime = MaxBids.endtime AND
    AuctionBids.num >= MaxBids.maxn;
";

/// The token of calls that change jobs; it must never show in a log.
const TOKEN: &str = "canary-c1u5t3r-5e3d";

/// Heartbeats fast enough for a test to see a frozen TaskManager lost within seconds.
const HEARTBEATS: [&str; 2] = ["heartbeat.interval=200 ms", "heartbeat.timeout=3 s"];

/// A `runnel` process with its stderr in a file.
struct Process {
    child: Child,
    log: PathBuf,
}

impl Process {
    fn spawn(args: &[String], log: PathBuf) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_runnel"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Process { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The rest of the first log line that starts with `prefix`, waiting for it.
    fn wait_for_line(&self, prefix: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let log = self.log();
            if let Some(rest) = log.lines().find_map(|l| l.strip_prefix(prefix)) {
                return rest.trim().to_string();
            }
            assert!(Instant::now() < deadline, "no '{prefix}' in:\n{log}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill(2) with a pid and signal number has no memory-safety preconditions.
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, signal) }, 0);
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.signal(libc::SIGCONT);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A session cluster: a JobManager and its TaskManagers, in a scratch folder.
struct Cluster {
    dir: PathBuf,
    /// Options of every process (heartbeats, high availability).
    options: Vec<String>,
    jm: Process,
    rpc: String,
    rest: String,
    tms: Vec<Process>,
}

impl Cluster {
    /// A JobManager with `tms` TaskManagers of `slots` slots each, all registered.
    fn start(name: &str, tms: usize, slots: u32) -> Self {
        Self::start_with(name, tms, slots, false)
    }

    /// As [`Cluster::start`]; with `ha`, every process keeps high-availability data in the
    /// scratch folder, so another JobManager can take over.
    fn start_with(name: &str, tms: usize, slots: u32, ha: bool) -> Self {
        let dir =
            std::env::temp_dir().join(format!("runnel-cluster-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut options: Vec<String> = HEARTBEATS.map(String::from).to_vec();
        if ha {
            options.push("high-availability.type=filesystem".into());
            options.push(format!("high-availability.storageDir={}/ha", dir.display()));
        }
        let jm = Self::job_manager(&dir, &options, "jm.log");
        let rpc = jm.wait_for_line("runnel: JobManager listening for TaskManagers at ");
        let rest = jm.wait_for_line("runnel: REST API at http://");
        let mut cluster = Cluster {
            dir,
            options,
            jm,
            rpc,
            rest,
            tms: Vec::new(),
        };
        for _ in 0..tms {
            cluster.add_task_manager(slots);
        }
        cluster
    }

    /// Starts a JobManager process with the cluster's options.
    fn job_manager(dir: &std::path::Path, options: &[String], log: &str) -> Process {
        let mut args = vec!["jobmanager".to_string()];
        for o in [
            "jobmanager.rpc.port=0".to_string(),
            "rest.port=0".to_string(),
            "cluster.evenly-spread-out-slots=true".to_string(),
            format!("rest.auth-token={TOKEN}"),
        ]
        .into_iter()
        .chain(options.iter().cloned())
        {
            args.extend(["-D".to_string(), o]);
        }
        Process::spawn(&args, dir.join(log))
    }

    /// Starts one more TaskManager and waits until the JobManager lists it.
    fn add_task_manager(&mut self, slots: u32) {
        let (_, port) = self.rpc.rsplit_once(':').unwrap();
        let mut args = vec!["taskmanager".to_string()];
        for o in [
            format!("jobmanager.rpc.port={port}"),
            format!("taskmanager.numberOfTaskSlots={slots}"),
        ]
        .into_iter()
        .chain(self.options.iter().cloned())
        {
            args.extend(["-D".to_string(), o]);
        }
        let log = self.dir.join(format!("tm{}.log", self.tms.len()));
        let tm = Process::spawn(&args, log);
        let id = tm.wait_for_line("runnel: TaskManager ");
        let id = id.split_whitespace().next().unwrap().to_string();
        self.tms.push(tm);
        self.wait(&format!("TaskManager {id} to register"), || {
            self.task_managers().iter().any(|t| t["id"] == id.as_str())
        });
    }

    fn task_managers(&self) -> Vec<Value> {
        let (status, body) = get(&self.rest, "/taskmanagers");
        assert_eq!(status, 200, "{body}");
        body["taskmanagers"].as_array().unwrap().clone()
    }

    /// Submits `body` (the Nexmark source and views first) as SQL; the job id.
    fn submit(&self, body: &str, parallelism: u32) -> String {
        let script = self.script(body);
        let request = json!({
            "script": script,
            "config": { "parallelism.default": parallelism.to_string() },
        });
        let (status, answer) = call(
            &self.rest,
            "POST",
            "/jobs/sql",
            Some(TOKEN),
            Some(&request.to_string()),
        );
        assert_eq!(status, 202, "{answer}");
        answer["jobid"].as_str().unwrap().to_string()
    }

    fn script(&self, body: &str) -> String {
        format!("{}\n{body}", bids(self.events())).replace("${DIR}", self.dir.to_str().unwrap())
    }

    /// Events per job: enough for several checkpoints before the end.
    fn events(&self) -> u64 {
        4_000_000
    }

    fn job(&self, id: &str) -> Value {
        let (status, body) = get(&self.rest, &format!("/jobs/{id}"));
        assert_eq!(status, 200, "{body}");
        body
    }

    fn wait(&self, what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(300);
        while !done() {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; JobManager log:\n{}",
                self.jm.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn wait_finished(&self, id: &str) {
        self.wait(&format!("job {id} to finish"), || {
            let state = self.job(id)["state"].as_str().unwrap().to_string();
            assert!(
                !matches!(state.as_str(), "FAILED" | "CANCELED"),
                "job {id} is {state}; JobManager log:\n{}",
                self.jm.log()
            );
            state == "FINISHED"
        });
    }

    fn completed_checkpoints(&self, id: &str) -> u64 {
        let (_, body) = get(&self.rest, &format!("/jobs/{id}/checkpoints"));
        body["counts"]["completed"].as_u64().unwrap_or(0)
    }

    fn rows(&self, table: &str) -> Vec<String> {
        committed_rows(&self.dir.join("out").join(table))
    }

    /// The TaskManager (by position) whose slots a job holds.
    fn busy_task_manager(&self) -> usize {
        let busy: Vec<String> = self
            .task_managers()
            .iter()
            .filter(|t| t["freeSlots"].as_u64() < t["slotsNumber"].as_u64())
            .map(|t| t["id"].as_str().unwrap().to_string())
            .collect();
        self.tms
            .iter()
            .position(|tm| {
                busy.iter()
                    .any(|id| tm.log().contains(&format!("TaskManager {id} ")))
            })
            .expect("a TaskManager with tasks")
    }

    /// The logs of every process, for a canary check.
    fn logs(&self) -> String {
        let mut all = self.jm.log();
        for tm in &self.tms {
            all.push_str(&tm.log());
        }
        all
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.tms.clear();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The same script's output in local mode (`runnel run`), at `parallelism`.
fn local_rows(
    name: &str,
    body: &str,
    events: u64,
    parallelism: u32,
    tables: &[&str],
) -> Vec<Vec<String>> {
    let dir = std::env::temp_dir().join(format!(
        "runnel-cluster-{}-{name}-local",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("job.sql");
    let text = format!("{}\n{body}", bids(events)).replace("${DIR}", dir.to_str().unwrap());
    std::fs::write(&script, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_runnel"))
        .args([
            "run",
            "-p",
            &parallelism.to_string(),
            script.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = tables
        .iter()
        .map(|t| committed_rows(&dir.join("out").join(t)))
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    rows
}

fn assert_same(table: &str, got: &[String], want: &[String]) {
    assert!(!want.is_empty(), "{table}: the reference run wrote nothing");
    assert_eq!(got.len(), want.len(), "{table}: row counts differ");
    assert!(got == want, "{table}: rows differ");
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
    let q5 = cluster.submit(Q5, 3);
    cluster.wait_finished(&q5);
    let both = cluster.submit(WINDOWS_AND_JOIN, 2);
    cluster.wait_finished(&both);
    assert!(cluster.completed_checkpoints(&both) >= 1);
    let events = cluster.events();
    let [want_q5] = &local_rows("q5", Q5, events, 3, &["q5"])[..] else {
        unreachable!()
    };
    assert_same("q5", &cluster.rows("q5"), want_q5);
    let want = local_rows("both", WINDOWS_AND_JOIN, events, 2, &["per_window", "sold"]);
    assert_same("per_window", &cluster.rows("per_window"), &want[0]);
    assert_same("sold", &cluster.rows("sold"), &want[1]);
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
        body["errors"][0]
            .as_str()
            .unwrap()
            .contains("malformed request body"),
        "{body}"
    );
    let (status, body) = submit(Some(TOKEN), r#"{"config": {}}"#);
    assert_eq!(status, 400, "{body}");
    assert!(
        body["errors"][0].as_str().unwrap().contains("'script'"),
        "{body}"
    );
    let bad_sql = json!({ "script": "INSERT INTO nowhere SELECT * FROM nothing" }).to_string();
    let (status, body) = submit(Some(TOKEN), &bad_sql);
    assert_eq!(status, 400, "{body}");
    assert!(
        body["errors"][0].as_str().unwrap().contains("nowhere"),
        "{body}"
    );
    const SELECT: &str = "CREATE TABLE t (x INT) WITH ('connector' = 'datagen', \
                          'number-of-rows' = '3'); SELECT x FROM t;";
    let select = json!({ "script": SELECT }).to_string();
    let (status, body) = submit(Some(TOKEN), &select);
    assert_eq!(status, 400, "{body}");
    assert!(
        body["errors"][0]
            .as_str()
            .unwrap()
            .contains("no client to print to"),
        "{body}"
    );
    let bad_option = json!({ "script": SELECT, "config": { "parallelism.default": "zero" } });
    let (status, body) = submit(Some(TOKEN), &bad_option.to_string());
    assert_eq!(status, 400, "{body}");
    assert!(
        body["errors"][0]
            .as_str()
            .unwrap()
            .contains("'parallelism.default'"),
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
    fault(&mut cluster, victim);
    cluster.wait_finished(&id);
    let log = cluster.jm.log();
    let restart = log
        .lines()
        .find(|l| l.contains("restart 1 in"))
        .unwrap_or_else(|| panic!("no restart in:\n{log}"));
    assert!(
        restart.contains("was lost") && restart.contains("/chk-"),
        "{restart}"
    );
    let want = local_rows(
        name,
        WINDOWS_AND_JOIN,
        cluster.events(),
        2,
        &["per_window", "sold"],
    );
    assert_same("per_window", &cluster.rows("per_window"), &want[0]);
    assert_same("sold", &cluster.rows("sold"), &want[1]);
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
    let mut cluster = Cluster::start_with("ha", 2, 1, true);
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
    let want = local_rows(
        "ha",
        WINDOWS_AND_JOIN,
        cluster.events(),
        2,
        &["per_window", "sold"],
    );
    assert_same("per_window", &cluster.rows("per_window"), &want[0]);
    assert_same("sold", &cluster.rows("sold"), &want[1]);
    assert!(recovering.contains("/chk-"), "{recovering}");
    // Finished: the HA record says so, and a later leader would not run it again.
    let record =
        std::fs::read_to_string(cluster.dir.join(format!("ha/default/jobs/{id}.json"))).unwrap();
    assert!(record.contains("\"FINISHED\""), "{record}");
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
    let want = local_rows(
        "rescale",
        WINDOWS_AND_JOIN,
        cluster.events(),
        2,
        &["per_window", "sold"],
    );
    assert_same("per_window", &cluster.rows("per_window"), &want[0]);
    assert_same("sold", &cluster.rows("sold"), &want[1]);
}
