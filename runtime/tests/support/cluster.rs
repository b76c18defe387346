//! A cluster on loopback for tests: a JobManager and TaskManagers as `runnel` processes with
//! their logs in a scratch folder, driven through the REST API.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{bids, call, committed_rows, get};

/// The token of calls that change jobs; it must never show in a log.
pub const TOKEN: &str = "canary-c1u5t3r-5e3d";

/// Heartbeats fast enough for a test to see a frozen TaskManager lost within seconds.
const HEARTBEATS: [&str; 2] = ["heartbeat.interval=200 ms", "heartbeat.timeout=3 s"];

/// A `runnel` process with its stderr in a file.
pub struct Process {
    child: Child,
    log: PathBuf,
}

impl Process {
    pub fn spawn(args: &[String], log: PathBuf) -> Self {
        Self::spawn_via(&[], args, log)
    }

    /// Runs `runnel args` through `launcher` (such as `ip netns exec <ns>`, which execs it:
    /// the process is runnel's).
    pub fn spawn_via(launcher: &[String], args: &[String], log: PathBuf) -> Self {
        let runnel = env!("CARGO_BIN_EXE_runnel").to_string();
        let (program, rest) = match launcher.split_first() {
            Some((first, rest)) => (first.clone(), [rest, &[runnel], args].concat()),
            None => (runnel, args.to_vec()),
        };
        let child = Command::new(program)
            .args(rest)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Process { child, log }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The rest of the first log line that starts with `prefix`, waiting for it.
    pub fn wait_for_line(&self, prefix: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let log = self.log();
            // Complete lines only: a line being written may show its start alone.
            let complete = &log[..log.rfind('\n').map_or(0, |i| i + 1)];
            if let Some(rest) = complete.lines().find_map(|l| l.strip_prefix(prefix)) {
                return rest.trim().to_string();
            }
            assert!(Instant::now() < deadline, "no '{prefix}' in:\n{log}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn signal(&self, signal: libc::c_int) {
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
pub struct Cluster {
    pub dir: PathBuf,
    /// Options of every process (heartbeats, high availability).
    pub options: Vec<String>,
    pub jm: Process,
    pub rpc: String,
    pub rest: String,
    pub tms: Vec<Process>,
    /// Nexmark events per job: enough for several checkpoints before the end.
    pub events: u64,
}

impl Cluster {
    /// A JobManager with `tms` TaskManagers of `slots` slots each, all registered.
    pub fn start(name: &str, tms: usize, slots: u32) -> Self {
        Self::start_with(name, tms, slots, false, &[])
    }

    /// As [`Cluster::start`]; with `ha`, every process keeps high-availability data in the
    /// scratch folder, so another JobManager can take over; `job_manager` are options of the
    /// JobManager alone.
    pub fn start_with(
        name: &str,
        tms: usize,
        slots: u32,
        ha: bool,
        job_manager: &[String],
    ) -> Self {
        let dir =
            std::env::temp_dir().join(format!("runnel-cluster-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut options: Vec<String> = HEARTBEATS.map(String::from).to_vec();
        if ha {
            options.push("high-availability.type=filesystem".into());
            options.push(format!("high-availability.storageDir={}/ha", dir.display()));
        }
        let jm_options = [&options[..], job_manager].concat();
        let jm = Self::job_manager(&dir, &jm_options, "jm.log");
        let rpc = jm.wait_for_line("runnel: JobManager listening for TaskManagers at ");
        let rest = jm.wait_for_line("runnel: REST API at http://");
        let mut cluster = Cluster {
            dir,
            options,
            jm,
            rpc,
            rest,
            tms: Vec::new(),
            events: 4_000_000,
        };
        for _ in 0..tms {
            cluster.add_task_manager(slots);
        }
        cluster
    }

    /// Starts a JobManager process with the cluster's options.
    pub fn job_manager(dir: &std::path::Path, options: &[String], log: &str) -> Process {
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
    pub fn add_task_manager(&mut self, slots: u32) {
        self.add_task_manager_via(slots, &[], &[]);
    }

    /// As [`Cluster::add_task_manager`], run through `launcher` with `extra` options.
    pub fn add_task_manager_via(&mut self, slots: u32, launcher: &[String], extra: &[String]) {
        let (_, port) = self.rpc.rsplit_once(':').unwrap();
        let mut args = vec!["taskmanager".to_string()];
        for o in [
            format!("jobmanager.rpc.port={port}"),
            format!("taskmanager.numberOfTaskSlots={slots}"),
        ]
        .into_iter()
        .chain(self.options.iter().cloned())
        .chain(extra.iter().cloned())
        {
            args.extend(["-D".to_string(), o]);
        }
        let log = self.dir.join(format!("tm{}.log", self.tms.len()));
        let tm = Process::spawn_via(launcher, &args, log);
        let id = tm.wait_for_line("runnel: TaskManager ");
        let id = id.split_whitespace().next().unwrap().to_string();
        self.tms.push(tm);
        self.wait(&format!("TaskManager {id} to register"), || {
            self.task_managers().iter().any(|t| t["id"] == id.as_str())
        });
    }

    pub fn task_managers(&self) -> Vec<Value> {
        let (status, body) = get(&self.rest, "/taskmanagers");
        assert_eq!(status, 200, "{body}");
        body["taskmanagers"].as_array().unwrap().clone()
    }

    /// Submits `body` (the Nexmark source and views first) as SQL; the job id.
    pub fn submit(&self, body: &str, parallelism: u32) -> String {
        self.submit_script(&self.script(body), parallelism)
    }

    /// Submits a whole script; the job id.
    pub fn submit_script(&self, script: &str, parallelism: u32) -> String {
        self.submit_with(
            script,
            json!({ "parallelism.default": parallelism.to_string() }),
        )
    }

    /// Submits a whole script with these options; the job id.
    pub fn submit_with(&self, script: &str, config: Value) -> String {
        let request = json!({ "script": script, "config": config });
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

    pub fn script(&self, body: &str) -> String {
        format!("{}\n{body}", bids(self.events())).replace("${DIR}", self.dir.to_str().unwrap())
    }

    /// Nexmark events per job.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Cancels a job (Flink's `PATCH /jobs/:id`).
    pub fn cancel(&self, id: &str) {
        let (status, body) = call(
            &self.rest,
            "PATCH",
            &format!("/jobs/{id}"),
            Some(TOKEN),
            None,
        );
        assert_eq!(status, 202, "cancel: {body}");
    }

    pub fn job(&self, id: &str) -> Value {
        let (status, body) = get(&self.rest, &format!("/jobs/{id}"));
        assert_eq!(status, 200, "{body}");
        body
    }

    pub fn wait(&self, what: &str, mut done: impl FnMut() -> bool) {
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

    pub fn wait_finished(&self, id: &str) {
        let what = format!("job {id} to finish");
        let deadline = Instant::now() + Duration::from_secs(300);
        let done = || {
            let state = self.job(id)["state"].as_str().unwrap().to_string();
            assert!(
                !matches!(state.as_str(), "FAILED" | "CANCELED"),
                "job {id} is {state}; JobManager log:\n{}",
                self.jm.log()
            );
            state == "FINISHED"
        };
        while !done() {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; its subtasks:\n{}\nJobManager log:\n{}",
                self.subtask_figures(id),
                self.jm.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Each subtask's rates and counts, for the message of a test that timed out.
    pub fn subtask_figures(&self, id: &str) -> String {
        const FIGURES: [&str; 5] = [
            "busyTimeMsPerSecond",
            "backPressuredTimeMsPerSecond",
            "idleTimeMsPerSecond",
            "numRecordsIn",
            "numRecordsOut",
        ];
        let mut out = String::new();
        for v in self.job(id)["vertices"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            let p = v["parallelism"].as_u64().unwrap_or(0);
            let ids: Vec<String> = (0..p)
                .flat_map(|s| FIGURES.map(|f| format!("{s}.{f}")))
                .collect();
            let path = format!(
                "/jobs/{id}/vertices/{}/metrics?get={}",
                v["id"].as_str().unwrap_or_default(),
                ids.join(",")
            );
            let (_, m) = get(&self.rest, &path);
            let _ = writeln!(out, "{}: {m}", v["name"]);
        }
        out
    }

    pub fn completed_checkpoints(&self, id: &str) -> u64 {
        let (_, body) = get(&self.rest, &format!("/jobs/{id}/checkpoints"));
        body["counts"]["completed"].as_u64().unwrap_or(0)
    }

    pub fn rows(&self, table: &str) -> Vec<String> {
        committed_rows(&self.dir.join("out").join(table))
    }

    /// The TaskManager (by position) whose slots a job holds.
    pub fn busy_task_manager(&self) -> usize {
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

    /// Checks that the sinks `tables` committed exactly the rows of `body` run in local mode
    /// (`runnel run`) at `parallelism` on the same events: same output, exactly once.
    pub fn assert_output_of_local_mode(&self, body: &str, parallelism: u32, tables: &[&str]) {
        let mut local = self.dir.clone().into_os_string();
        local.push("-local");
        let local = PathBuf::from(local);
        let want = local_rows(&local, body, self.events(), parallelism, tables);
        for (table, want) in tables.iter().zip(&want) {
            assert_same(table, &self.rows(table), want);
        }
    }

    /// The data address of TaskManager `i`: failures caused by its loss name it.
    pub fn data_address(&self, i: usize) -> String {
        self.tms[i]
            .wait_for_line("runnel: TaskManager ")
            .rsplit_once("data at ")
            .unwrap()
            .1
            .to_string()
    }

    /// The logs of every process, for a canary check.
    pub fn logs(&self) -> String {
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
    dir: &std::path::Path,
    body: &str,
    events: u64,
    parallelism: u32,
    tables: &[&str],
) -> Vec<Vec<String>> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
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
    let _ = std::fs::remove_dir_all(dir);
    rows
}

fn assert_same(table: &str, got: &[String], want: &[String]) {
    assert!(!want.is_empty(), "{table}: the reference run wrote nothing");
    assert_eq!(got.len(), want.len(), "{table}: row counts differ");
    assert!(got == want, "{table}: rows differ");
}
