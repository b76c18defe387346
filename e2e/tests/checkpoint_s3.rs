//! Checkpoints in S3 (a real S3-compatible server, versitygw): a job on the RocksDB backend with
//! incremental checkpoints, killed with SIGKILL again and again, recovers from its latest
//! checkpoint in the bucket (SST files shared between checkpoints under the job's `shared/`),
//! and its filesystem output ends up exactly as an uninterrupted run's on the heap backend; an
//! unreachable endpoint fails the job with an error that names the location.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use runnel_e2e::cluster::runnel_binary;
use runnel_e2e::process::scratch_dir;
use runnel_e2e::s3::S3;

const SETTINGS: &str = "
SET 'execution.checkpointing.interval' = '400 ms';
SET 'execution.checkpointing.num-retained' = '2';
SET 'state.checkpoints.dir' = '${CHECKPOINTS}';
SET 'restart-strategy.type' = 'none';
";

/// A 10 s tumbling count per auction into an exactly-once filesystem sink.
const JOB: &str = "
CREATE TABLE per_window (window_start TIMESTAMP(3), auction BIGINT, bids BIGINT, total BIGINT)
  WITH ('connector' = 'filesystem', 'path' = '${OUT}', 'format' = 'csv');
INSERT INTO per_window
  SELECT window_start, auction, COUNT(*), SUM(price)
  FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '10' SECOND))
  GROUP BY window_start, window_end, auction;
";

fn runnel() -> Result<PathBuf> {
    runnel_binary().context(
        "the runnel binary is not built; `cargo test --workspace` builds it (or `cargo build -p runnel`)",
    )
}

/// The job over 3M events of the example Nexmark source and views, at Nexmark's default
/// 10,000 events per second of event time so windows close all along the run.
fn script(dir: &Path, name: &str, checkpoints: &str, out: &Path) -> Result<PathBuf> {
    let generator = include_str!("../../examples/nexmark/source-generator.sql");
    let rate = "'first-event.rate' = '10000000'";
    ensure!(
        generator.contains(rate),
        "the example source changed: {generator}"
    );
    let source = generator
        .replace(rate, "'first-event.rate' = '10000'")
        .replace("${EVENTS}", "3000000");
    let views = include_str!("../../examples/nexmark/views.sql");
    let path = dir.join(name);
    let text = format!("{SETTINGS}{source}\n{views}\n{JOB}")
        .replace("${CHECKPOINTS}", checkpoints)
        .replace("${OUT}", out.to_str().unwrap());
    std::fs::write(&path, text)?;
    Ok(path)
}

fn rows(dir: &Path) -> Result<Vec<String>> {
    let mut rows = Vec::new();
    for e in std::fs::read_dir(dir)?.flatten() {
        if !e.file_name().to_string_lossy().starts_with('.') {
            rows.extend(
                std::fs::read_to_string(e.path())?
                    .lines()
                    .map(str::to_string),
            );
        }
    }
    rows.sort();
    Ok(rows)
}

fn spawn(s3: &S3, args: &[&str], log: &Path) -> Result<Child> {
    Ok(Command::new(runnel()?)
        .args(args)
        .envs(s3.client_env())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log)?)
        .spawn()?)
}

/// Waits for `needle` in the log; false if the job finished successfully first.
fn wait_for(child: &mut Child, log: &Path, needle: &str) -> Result<bool> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains(needle) {
            return Ok(true);
        }
        if let Some(status) = child.try_wait()? {
            ensure!(status.success(), "job exited ({status}):\n{text}");
            return Ok(false);
        }
        ensure!(
            Instant::now() < deadline,
            "no {needle:?} in {}",
            log.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn jobs_recover_exactly_once_from_checkpoints_in_s3() -> Result<()> {
    let s3 = S3::start()?;
    s3.create_bucket("runnel")?;
    let dir = scratch_dir("s3-checkpoints")?;

    // The reference: one uninterrupted run (checkpointing to S3 as well).
    let reference_out = dir.join("reference");
    let job = script(
        &dir,
        "reference.sql",
        "s3://runnel/reference",
        &reference_out,
    )?;
    let log = dir.join("reference.log");
    let mut child = spawn(&s3, &["run", job.to_str().unwrap(), "-p", "2"], &log)?;
    ensure!(
        child.wait()?.success(),
        "{}",
        std::fs::read_to_string(&log)?
    );
    let expected = rows(&reference_out)?;
    ensure!(
        expected.len() > 10_000,
        "the reference wrote {} rows",
        expected.len()
    );

    let out = dir.join("killed");
    let job = script(&dir, "killed.sql", "s3://runnel/jobs", &out)?;
    let job = job.to_str().unwrap();
    let local = format!(
        "state.backend.rocksdb.localdir={}",
        dir.join("rocksdb").display()
    );
    let mut kills = 0;
    let mut restored_from_s3 = 0;
    let mut saw_metadata = false;
    let mut saw_shared = false;
    for attempt in 0.. {
        ensure!(attempt < 80, "the job never finished");
        let log = dir.join(format!("run-{attempt}.log"));
        let mut child = spawn(
            &s3,
            &[
                "run",
                job,
                "-p",
                "2",
                "--from-checkpoint",
                "latest",
                "-D",
                "state.backend.type=rocksdb",
                "-D",
                "execution.checkpointing.incremental=true",
                "-D",
                &local,
            ],
            &log,
        )?;
        if wait_for(&mut child, &log, "complete:")? {
            std::thread::sleep(Duration::from_millis([100, 500, 0, 800, 300][attempt % 5]));
        }
        let killed = child.kill().is_ok() && child.wait()?.code().is_none();
        let text = std::fs::read_to_string(&log)?;
        restored_from_s3 += usize::from(text.contains("from s3://runnel/jobs/"));
        if killed {
            kills += 1;
            let keys = s3.keys("runnel", "jobs")?;
            saw_metadata |= keys.iter().any(|k| k.ends_with("/_metadata"));
            saw_shared |= keys
                .iter()
                .any(|k| k.contains("/shared/") && k.ends_with(".sst"));
            continue;
        }
        break;
    }
    ensure!(
        kills >= 3 && restored_from_s3 >= 3,
        "{kills} kills, {restored_from_s3} restores"
    );
    ensure!(saw_metadata, "no _metadata object was ever in the bucket");
    ensure!(saw_shared, "no shared SST file was ever in the bucket");
    let got = rows(&out)?;
    ensure!(
        got.len() == expected.len(),
        "{} rows after {kills} kills, want {}",
        got.len(),
        expected.len()
    );
    ensure!(got == expected, "rows differ from the uninterrupted run");
    // The finished job removed its checkpoints (and those it took over) from the bucket, and
    // kept the record that it finished.
    let left: Vec<String> = s3
        .keys("runnel", "jobs")?
        .into_iter()
        .filter(|k| !k.ends_with("/_finished"))
        .collect();
    ensure!(left.is_empty(), "objects left in the bucket: {left:?}");
    Ok(())
}

#[test]
fn an_unreachable_s3_endpoint_fails_with_a_clear_error() -> Result<()> {
    let s3 = S3::start()?;
    let dir = scratch_dir("s3-unreachable")?;
    let job = script(&dir, "job.sql", "s3://runnel/jobs", &dir.join("out"))?;
    // Nothing listens on the endpoint the job is given.
    let closed = runnel_e2e::process::free_port()?;
    let output = Command::new(runnel()?)
        .args(["run", job.to_str().unwrap()])
        .envs(s3.client_env())
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{closed}"))
        .output()?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    ensure!(!output.status.success(), "the job should fail:\n{stderr}");
    ensure!(
        stderr.contains("s3://runnel/jobs/") && stderr.contains("checkpoint"),
        "the error names the location: {stderr}"
    );
    ensure!(
        rows(&dir.join("out")).unwrap_or_default().is_empty(),
        "nothing committed"
    );
    Ok(())
}
