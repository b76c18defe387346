//! Checkpoints, savepoints and recovery through the `runnel` binary: a job killed with
//! SIGKILL again and again resumes from its latest checkpoint and its filesystem output ends up
//! exactly as an uninterrupted run's; savepoints restore at other parallelisms and after SQL
//! edits; a savepoint with state the job cannot place is refused unless allowed; damaged
//! snapshots give clear errors.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

mod support;
use support::{WINDOWS_AND_JOIN, committed_rows};

/// Checkpointing settings and 4M Nexmark events (about 1.8M bids): windows close all along a
/// run of a few seconds.
fn bids() -> String {
    support::bids(4_000_000)
}

struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("runnel-checkpoint-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    /// Writes a script (the shared DDL plus `body`) with `${DIR}` resolved.
    fn script(&self, name: &str, body: &str) -> PathBuf {
        let path = self.0.join(name);
        let text = format!("{}\n{body}", bids()).replace("${DIR}", self.0.to_str().unwrap());
        std::fs::write(&path, text).unwrap();
        path
    }

    /// All committed rows under `out/<table>`, sorted.
    fn rows(&self, table: &str) -> Vec<String> {
        committed_rows(&self.0.join("out").join(table))
    }

    /// Hidden part files left behind (uncommitted data that was never cleaned up).
    fn hidden_parts(&self, table: &str) -> Vec<String> {
        std::fs::read_dir(self.0.join("out").join(table))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".part"))
            .collect()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn runnel(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_runnel"));
    cmd.args(args);
    cmd
}

/// Runs to the end and returns stderr; panics on failure.
fn run_ok(args: &[&str]) -> String {
    let out = runnel(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "runnel {args:?} failed:\n{stderr}");
    stderr
}

/// Runs to the end expecting failure; returns stderr.
fn run_err(args: &[&str]) -> String {
    let out = runnel(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "runnel {args:?} should have failed:\n{stderr}"
    );
    stderr
}

/// Starts a job in the background with stderr going to `log`.
fn spawn(args: &[&str], log: &Path) -> Child {
    runnel(args)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

/// Waits until `log` contains `needle` (the job completed a checkpoint, say); false when the
/// job finished successfully first.
fn wait_for_log(child: &mut Child, log: &Path, needle: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if std::fs::read_to_string(log)
            .unwrap_or_default()
            .contains(needle)
        {
            return true;
        }
        if let Some(status) = child.try_wait().unwrap() {
            assert!(
                status.success(),
                "job exited ({status}) before logging {needle:?}:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
            return false;
        }
        assert!(
            Instant::now() < deadline,
            "no {needle:?} in {}",
            log.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Stops a running job with a savepoint through `runnel stop` and returns the savepoint folder.
fn stop_with_savepoint(child: &mut Child) -> String {
    let out = runnel(&["stop", &child.id().to_string()]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "runnel stop failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = child.wait().unwrap();
    assert!(status.success(), "the stopped job exited with {status}");
    stdout
        .trim()
        .strip_prefix("Savepoint completed. Path: ")
        .unwrap_or_else(|| panic!("unexpected output of runnel stop: {stdout}"))
        .to_string()
}

/// The output of one uninterrupted run of [`WINDOWS_AND_JOIN`], shared by the tests.
fn reference() -> &'static BTreeMap<String, Vec<String>> {
    static REFERENCE: OnceLock<BTreeMap<String, Vec<String>>> = OnceLock::new();
    REFERENCE.get_or_init(|| {
        let s = Scratch::new("reference");
        let script = s.script("job.sql", WINDOWS_AND_JOIN);
        run_ok(&["run", script.to_str().unwrap(), "-p", "2"]);
        ["per_window", "sold"]
            .iter()
            .map(|t| (t.to_string(), s.rows(t)))
            .collect()
    })
}

#[test]
fn killed_jobs_resume_from_checkpoints_with_exactly_once_output() {
    survives_kills("kill", "", &["2", "3", "1"]);
}

/// The same on RocksDB with incremental checkpoints and a heap cache far smaller than the
/// state (so values are evicted to disk and read back all the time), at parallelism 2, 3
/// and 1 in turn: a restore either takes a subtask's database as it is or, at another
/// parallelism, copies the key groups it owns out of the old subtasks' databases.
#[cfg(feature = "rocksdb")]
#[test]
fn rocksdb_jobs_resume_from_incremental_checkpoints_at_any_parallelism() {
    let settings = "
SET 'state.backend.type' = 'rocksdb';
SET 'execution.checkpointing.incremental' = 'true';
SET 'state.backend.rocksdb.localdir' = '${DIR}/rocksdb';
SET 'state.backend.rocksdb.object-cache.max-entries' = '500';
";
    survives_kills("kill-rocksdb", settings, &["2", "3", "1"]);
}

/// Kills `WINDOWS_AND_JOIN` (with `settings` first) at varying points until a run gets to the
/// end, cycling through `parallelisms`, and checks the output is the uninterrupted run's.
fn survives_kills(name: &str, settings: &str, parallelisms: &[&str]) {
    let expected = reference();
    assert!(expected["per_window"].len() > 100_000 && expected["sold"].len() > 10_000);

    let s = Scratch::new(name);
    let script = s.script("job.sql", &format!("{settings}\n{WINDOWS_AND_JOIN}"));
    let script = script.to_str().unwrap();
    // Kill at varying points after the first completed checkpoint until a run gets to the end.
    let delays = [150u64, 600, 50, 900, 300, 0, 450, 750, 200, 1000];
    let mut kills = 0;
    let mut restores = 0;
    for attempt in 0.. {
        assert!(attempt < 80, "the job never finished");
        let log = s.0.join(format!("run-{attempt}.log"));
        let p = parallelisms[attempt % parallelisms.len()];
        let mut child = spawn(
            &["run", script, "-p", p, "--from-checkpoint", "latest"],
            &log,
        );
        if wait_for_log(&mut child, &log, "complete:") {
            std::thread::sleep(Duration::from_millis(delays[attempt % delays.len()]));
        }
        let killed = child.kill().is_ok() && child.wait().unwrap().code().is_none();
        let text = std::fs::read_to_string(&log).unwrap();
        restores += usize::from(text.contains("runnel: restoring"));
        if killed {
            kills += 1;
            assert_shared_files_are_referenced(&s.0.join("checkpoints"));
            continue;
        }
        break;
    }
    assert!(
        kills >= 3,
        "only {kills} kills happened; the job is too short for this test"
    );
    assert!(restores >= 3, "only {restores} runs restored a checkpoint");
    for table in ["per_window", "sold"] {
        let got = s.rows(table);
        assert_eq!(
            got.len(),
            expected[table].len(),
            "{table}: row count after {kills} kills"
        );
        assert!(
            got == expected[table],
            "{table}: rows differ from the uninterrupted run"
        );
        assert_eq!(
            s.hidden_parts(table),
            Vec::<String>::new(),
            "{table}: uncommitted leftovers"
        );
    }
    // The job finished: its own checkpoints (with their shared files), and the ones it took
    // over, are gone; the record that it finished stays.
    let left: Vec<_> = walk(&s.0.join("checkpoints"))
        .into_iter()
        .filter(|p| !p.ends_with("_finished"))
        .collect();
    assert!(
        left.is_empty(),
        "files left after the job finished: {left:?}"
    );
}

/// In every job folder, each shared (incremental) file is referred to by a retained
/// checkpoint, unless a checkpoint that had not completed when the job was killed uploaded it.
fn assert_shared_files_are_referenced(root: &Path) {
    for job in std::fs::read_dir(root).into_iter().flatten().flatten() {
        let mut referenced = std::collections::BTreeSet::new();
        let mut newest = 0;
        for chk in std::fs::read_dir(job.path()).unwrap().flatten() {
            let Ok(text) = std::fs::read_to_string(chk.path().join("_metadata")) else {
                continue;
            };
            let meta: serde_json::Value = serde_json::from_str(&text).unwrap();
            newest = newest.max(meta["checkpointId"].as_u64().unwrap());
            for op in meta["operators"].as_array().unwrap() {
                for st in op["subtasks"].as_array().unwrap() {
                    for native in st["native"].as_array().into_iter().flatten() {
                        for f in native["shared"].as_array().unwrap() {
                            referenced.insert(f["path"].as_str().unwrap().to_string());
                        }
                    }
                }
            }
        }
        for f in std::fs::read_dir(job.path().join("shared"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = f.file_name().to_string_lossy().into_owned();
            let uploaded_by: u64 = name
                .strip_prefix("chk-")
                .and_then(|r| r.split('-').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("unexpected shared file {name}"));
            assert!(
                referenced.contains(&format!("shared/{name}")) || uploaded_by > newest,
                "shared file {name} is referenced by no retained checkpoint (newest {newest})"
            );
        }
    }
}

#[test]
fn savepoints_restore_at_other_parallelisms() {
    let expected = reference();
    let s = Scratch::new("rescale");
    let script = s.script("job.sql", WINDOWS_AND_JOIN);
    let script = script.to_str().unwrap();
    // 1 -> 4 -> 2, stopping with a savepoint after the first checkpoint of each run.
    let log = s.0.join("p1.log");
    let mut child = spawn(&["run", script, "-p", "1"], &log);
    assert!(wait_for_log(&mut child, &log, "checkpoint 2 complete"));
    let sp1 = stop_with_savepoint(&mut child);
    let log = s.0.join("p4.log");
    let mut child = spawn(&["run", script, "-p", "4", "-s", &sp1], &log);
    assert!(wait_for_log(&mut child, &log, "complete:"));
    let sp2 = stop_with_savepoint(&mut child);
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("runnel: restoring")
    );
    let stderr = run_ok(&["run", script, "-p", "2", "-s", &sp2]);
    assert!(stderr.contains("runnel: restoring"), "{stderr}");
    for table in ["per_window", "sold"] {
        assert!(
            s.rows(table) == expected[table],
            "{table} differs after 1 -> 4 -> 2"
        );
    }
    // Savepoints belong to the user: still there, with self-describing metadata.
    for sp in [&sp1, &sp2] {
        let meta: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(Path::new(sp).join("_metadata")).unwrap(),
        )
        .unwrap();
        assert_eq!(meta["kind"], "savepoint");
        assert_eq!(meta["maxParallelism"], 128);
        let ops = meta["operators"].as_array().unwrap();
        assert!(
            ops.iter()
                .any(|o| o["uid"].as_str().unwrap().starts_with("WindowAggregate-"))
        );
        assert!(
            ops.iter()
                .any(|o| o["uid"].as_str().unwrap().starts_with("IntervalJoin-"))
        );
    }
}

/// Savepoints hold keyed state in the portable per-key-group format whatever the backend:
/// RocksDB at parallelism 2, then the heap backend at 3, then RocksDB at 1 to the end.
#[cfg(feature = "rocksdb")]
#[test]
fn savepoints_move_state_between_backends() {
    let expected = reference();
    let s = Scratch::new("backends");
    let script = s.script("job.sql", WINDOWS_AND_JOIN);
    let script = script.to_str().unwrap();
    let local = format!(
        "state.backend.rocksdb.localdir={}",
        s.0.join("rocksdb").display()
    );
    let rocksdb = [
        "-D",
        "state.backend.type=rocksdb",
        "-D",
        "execution.checkpointing.incremental=true",
        "-D",
        &local,
    ];
    let log = s.0.join("rocksdb.log");
    let mut args = vec!["run", script, "-p", "2"];
    args.extend(rocksdb);
    let mut child = spawn(&args, &log);
    assert!(wait_for_log(&mut child, &log, "checkpoint 2 complete"));
    let sp1 = stop_with_savepoint(&mut child);
    let meta = std::fs::read_to_string(Path::new(&sp1).join("_metadata")).unwrap();
    assert!(
        !meta.contains("\"native\""),
        "a savepoint refers to RocksDB files"
    );
    let log = s.0.join("heap.log");
    let mut child = spawn(&["run", script, "-p", "3", "-s", &sp1], &log);
    assert!(wait_for_log(&mut child, &log, "complete:"));
    let sp2 = stop_with_savepoint(&mut child);
    let mut args = vec!["run", script, "-p", "1", "-s", &sp2];
    args.extend(rocksdb);
    let stderr = run_ok(&args);
    assert!(stderr.contains("runnel: restoring"), "{stderr}");
    for table in ["per_window", "sold"] {
        assert!(
            s.rows(table) == expected[table],
            "{table} differs after RocksDB -> heap -> RocksDB"
        );
    }
}

#[test]
fn savepoints_survive_sql_edits_and_refuse_unplaceable_state() {
    let s = Scratch::new("edits");
    let both = s.script("both.sql", WINDOWS_AND_JOIN);
    let log = s.0.join("both.log");
    let mut child = spawn(&["run", both.to_str().unwrap(), "-p", "2"], &log);
    assert!(wait_for_log(&mut child, &log, "checkpoint 2 complete"));
    let sp = stop_with_savepoint(&mut child);

    // The same windows query with a column added to its projection (and its sink), without
    // the join: the aggregate's state is placed; the join's has nowhere to go.
    let edited = s.script(
        "edited.sql",
        "CREATE TABLE per_window2 (window_start TIMESTAMP(3), window_end TIMESTAMP(3), auction BIGINT, bids BIGINT, total BIGINT)
           WITH ('connector' = 'filesystem', 'path' = '${DIR}/out/per_window2', 'format' = 'csv');
         INSERT INTO per_window2
           SELECT window_start, window_end, auction, COUNT(*), SUM(price)
           FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '10' SECOND))
           GROUP BY window_start, window_end, auction;",
    );
    let edited = edited.to_str().unwrap();
    let refused = run_err(&["run", edited, "-p", "2", "-s", &sp]);
    assert!(
        refused.contains("IntervalJoin-") && refused.contains("--allow-non-restored-state"),
        "{refused}"
    );
    run_ok(&[
        "run",
        edited,
        "-p",
        "3",
        "-s",
        &sp,
        "--allow-non-restored-state",
    ]);

    // Windows finished before the savepoint were written by the first job; the rest by the
    // edited one, with counts that include what the first job had aggregated.
    let expected = reference();
    let mut got = s.rows("per_window");
    got.extend(s.rows("per_window2").iter().map(|line| {
        let f: Vec<&str> = line.split(',').collect();
        format!("{},{},{},{}", f[0], f[2], f[3], f[4])
    }));
    got.sort();
    assert!(
        got == expected["per_window"],
        "windows differ after the edit"
    );
}

#[test]
fn damaged_snapshots_are_refused_with_clear_errors() {
    let s = Scratch::new("damaged");
    let script = s.script("job.sql", WINDOWS_AND_JOIN);
    let script = script.to_str().unwrap();
    let log = s.0.join("run.log");
    let mut child = spawn(&["run", script, "-p", "2"], &log);
    assert!(wait_for_log(&mut child, &log, "checkpoint 3 complete"));
    child.kill().unwrap();
    child.wait().unwrap();
    let id_of = |p: &PathBuf| -> u64 {
        p.file_name().unwrap().to_string_lossy()[4..]
            .parse()
            .unwrap()
    };
    let mut chks: Vec<PathBuf> = walk(&s.0.join("checkpoints"))
        .into_iter()
        .filter(|p| p.ends_with("_metadata"))
        .map(|p| p.parent().unwrap().to_path_buf())
        .collect();
    chks.sort_by_key(id_of);
    // "complete" is logged once retention has pruned; a checkpoint completing as the kill lands
    // may not have pruned yet, so the retained set is checked as of the last logged one.
    let logged: Vec<u64> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .filter_map(|l| {
            l.strip_prefix("runnel: checkpoint ")?
                .split_once(" complete:")
        })
        .map(|(id, _)| id.parse().unwrap())
        .collect();
    let last = *logged.last().unwrap();
    chks.retain(|p| id_of(p) <= last);
    let ids: Vec<u64> = chks.iter().map(id_of).collect();
    assert_eq!(
        ids,
        logged[logged.len() - 2..],
        "num-retained = 2: {chks:?}"
    );
    // Damage the newest: one state file loses its tail.
    let newest = chks.last().unwrap();
    let victim = std::fs::read_dir(newest)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "state") && p.metadata().unwrap().len() > 0)
        .unwrap();
    let len = victim.metadata().unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&victim)
        .unwrap()
        .set_len(len / 2)
        .unwrap();

    // Named directly, the damaged checkpoint is refused before the job starts... (`-s` verifies
    // nothing up front, so the restore itself reports the truncated file.)
    let err = run_err(&["run", script, "-p", "2", "-s", newest.to_str().unwrap()]);
    assert!(
        err.contains("missing or truncated") || err.contains("corrupt"),
        "{err}"
    );
    // ...and `--from-checkpoint latest` skips it with a message and uses the previous one.
    let stderr = run_ok(&["run", script, "-p", "2", "--from-checkpoint", "latest"]);
    assert!(
        stderr.contains("skipping checkpoint") && stderr.contains("corrupt"),
        "{stderr}"
    );
    let older = chks[0].display().to_string();
    assert!(stderr.contains(&format!("from {older}")), "{stderr}");

    // A folder that is no checkpoint at all.
    let err = run_err(&[
        "run",
        script,
        "-s",
        s.0.join("nothing-here").to_str().unwrap(),
    ]);
    assert!(
        err.contains("_metadata") && err.contains("nothing-here"),
        "{err}"
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

const RESTARTING: &str = "
SET 'restart-strategy.type' = 'fixed-delay';
SET 'restart-strategy.fixed-delay.attempts' = '${ATTEMPTS}';
SET 'restart-strategy.fixed-delay.delay' = '${DELAY}';
CREATE TABLE src (id BIGINT, name STRING)
  WITH ('connector' = 'filesystem', 'path' = '${DIR}/in', 'format' = 'csv');
CREATE TABLE dst (id BIGINT, name STRING)
  WITH ('connector' = 'filesystem', 'path' = '${DIR}/out/dst', 'format' = 'csv');
INSERT INTO dst SELECT id, UPPER(name) FROM src;
";

fn restarting_job(s: &Scratch, attempts: u32, delay: &str) -> PathBuf {
    std::fs::create_dir_all(s.0.join("in")).unwrap();
    let good: String = (0..500).map(|i| format!("{i},name{i}\n")).collect();
    std::fs::write(s.0.join("in/a.csv"), good).unwrap();
    std::fs::write(
        s.0.join("in/b.csv"),
        "1000,ok\n1001,fine\nnot-a-number,bad\n",
    )
    .unwrap();
    let path = s.0.join("job.sql");
    let text = RESTARTING
        .replace("${ATTEMPTS}", &attempts.to_string())
        .replace("${DELAY}", delay)
        .replace("${DIR}", s.0.to_str().unwrap());
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn restart_strategy_recovers_from_a_transient_failure() {
    let s = Scratch::new("restart");
    let script = restarting_job(&s, 3, "2 s");
    let log = s.0.join("run.log");
    let mut child = spawn(&["run", script.to_str().unwrap(), "-p", "2"], &log);
    // The bad record fails the job; while the restart waits, the file is repaired.
    assert!(wait_for_log(&mut child, &log, "restart 1 in 2000 ms"));
    std::fs::write(s.0.join("in/b.csv"), "1000,ok\n1001,fine\n1002,repaired\n").unwrap();
    let status = child.wait().unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "{text}");
    assert!(
        text.contains("b.csv:3"),
        "the failure names the record: {text}"
    );
    let mut want: Vec<String> = (0..500).map(|i| format!("{i},NAME{i}")).collect();
    want.extend(["1000,OK", "1001,FINE", "1002,REPAIRED"].map(String::from));
    want.sort();
    // Exactly once: what the failed attempt wrote never became visible.
    assert_eq!(s.rows("dst"), want);
}

#[test]
fn restart_strategy_gives_up_after_its_attempts() {
    let s = Scratch::new("giveup");
    let script = restarting_job(&s, 2, "50 ms");
    let err = run_err(&["run", script.to_str().unwrap()]);
    assert_eq!(err.matches("runnel: job").count(), 2, "{err}");
    assert!(
        err.contains("after 2 restart(s)") && err.contains("b.csv:3"),
        "{err}"
    );
    assert!(s.rows("dst").is_empty(), "a failed job commits nothing");
}

/// A job that finished but was killed while deleting its checkpoints (simulated: its folder
/// holds the `_finished` marker and a half-deleted checkpoint) is not replayed by
/// `--from-checkpoint latest`: the cleanup is completed and nothing runs again.
#[test]
fn a_finished_job_is_not_recovered_from_its_leftover_checkpoints() {
    let s = Scratch::new("finished");
    let script = s.script("job.sql", WINDOWS_AND_JOIN);
    let script = script.to_str().unwrap();
    let log = s.0.join("run.log");
    let mut child = spawn(&["run", script, "-p", "2"], &log);
    assert!(wait_for_log(&mut child, &log, "checkpoint 2 complete"));
    child.kill().unwrap();
    child.wait().unwrap();
    let metadata: Vec<PathBuf> = walk(&s.0.join("checkpoints"))
        .into_iter()
        .filter(|p| p.ends_with("_metadata"))
        .collect();
    let newest = metadata
        .iter()
        .max()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    let job_dir = newest.parent().unwrap();
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(newest.join("_metadata")).unwrap()).unwrap();
    let marker = serde_json::json!({ "jobName": meta["jobName"], "finishedAt": 0 });
    std::fs::write(job_dir.join("_finished"), marker.to_string()).unwrap();
    for f in std::fs::read_dir(&newest).unwrap().flatten() {
        if f.path().extension().is_some_and(|e| e == "state") {
            std::fs::remove_file(f.path()).unwrap();
        }
    }
    let before = s.rows("per_window").len() + s.rows("sold").len();

    let stderr = run_ok(&["run", script, "-p", "2", "--from-checkpoint", "latest"]);
    assert!(stderr.contains("already finished"), "{stderr}");
    assert_eq!(
        s.rows("per_window").len() + s.rows("sold").len(),
        before,
        "nothing ran again"
    );
    assert_eq!(
        walk(&s.0.join("checkpoints")),
        vec![job_dir.join("_finished")],
        "the cleanup was completed and the record that the job finished kept"
    );
    // Asked again (say, the run was killed after its cleanup): still finished.
    let stderr = run_ok(&["run", script, "-p", "2", "--from-checkpoint", "latest"]);
    assert!(stderr.contains("already finished"), "{stderr}");
    // A new run without --from-checkpoint runs the job; when it finishes, its own record is
    // the only one.
    run_ok(&["run", script, "-p", "2"]);
    let markers = walk(&s.0.join("checkpoints"));
    assert!(
        markers.len() == 1
            && markers[0].ends_with("_finished")
            && markers[0] != job_dir.join("_finished"),
        "{markers:?}"
    );
}
