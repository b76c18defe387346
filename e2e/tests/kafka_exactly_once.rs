//! Exactly-once from Kafka to Kafka through a real broker (Apache Kafka, KRaft): a job with a
//! windowed aggregation and a join writes to a topic with `sink.delivery-guarantee` =
//! 'exactly-once' while the test keeps producing a known sequence and kills the job with
//! SIGKILL at random moments, restarting it each time from its latest checkpoint. A
//! `read_committed` reader (Kafka's own Java consumer, and Runnel's client) must see every
//! expected result exactly once. The runs go at parallelism 2, 3, 1 and 2, so every restore
//! hands offsets, keyed state and open transactions to another number of subtasks.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use runnel_e2e::bids;
use runnel_e2e::cluster::runnel_binary;
use runnel_e2e::kafka::Kafka;
use runnel_e2e::process::scratch_dir;

fn spawn(script: &Path, parallelism: u32, from_checkpoint: bool, log: &Path) -> Result<Child> {
    let mut cmd = Command::new(runnel_binary().context("the runnel binary is not built")?);
    cmd.args([
        "run",
        script.to_str().unwrap(),
        "-p",
        &parallelism.to_string(),
    ]);
    if from_checkpoint {
        cmd.args(["--from-checkpoint", "latest"]);
    }
    Ok(cmd
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log)?)
        .spawn()?)
}

/// Waits until this run completed a checkpoint of its own.
fn wait_for_checkpoint(child: &mut Child, log: &Path) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains("complete:") {
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            anyhow::bail!("job exited ({status}):\n{text}");
        }
        ensure!(
            Instant::now() < deadline,
            "no checkpoint in {}:\n{text}",
            log.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64
}

#[test]
fn kafka_to_kafka_is_exactly_once_across_kills() -> Result<()> {
    let kafka = Kafka::start()?;
    bids::prepare(&kafka)?;

    let dir: PathBuf = scratch_dir("kafka-exactly-once")?;
    let script = dir.join("job.sql");
    std::fs::write(
        &script,
        format!("SET 'restart-strategy.type' = 'none';\n{}", bids::JOB)
            .replace("${DIR}", dir.to_str().unwrap())
            .replace("${BOOTSTRAP}", &kafka.bootstrap()),
    )?;

    // The rest of the input arrives while the job runs and is killed.
    let producer = bids::produce_the_rest(kafka.bootstrap());

    let mut rng = seed();
    let mut restored = false;
    for attempt in 0..3 {
        let log = dir.join(format!("run-{attempt}.log"));
        // Each run restores at another parallelism: offsets, keyed state and open
        // transactions are handed to a different number of subtasks.
        let parallelism = [2, 3, 1][attempt];
        let mut child = spawn(&script, parallelism, restored, &log)?;
        wait_for_checkpoint(&mut child, &log)?;
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        std::thread::sleep(Duration::from_millis(200 + (rng >> 33) % 1200));
        child.kill()?;
        child.wait()?;
        restored = true;
    }
    producer
        .join()
        .map_err(|_| anyhow::anyhow!("producer thread panicked"))??;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(bids::close_windows(&kafka.bootstrap()))?;

    let log = dir.join("final.log");
    let mut child = spawn(&script, 2, true, &log)?;
    let got = bids::wait_for_results(&kafka.bootstrap(), || match child.try_wait()? {
        Some(status) => anyhow::bail!(
            "job exited ({status}):\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        ),
        None => Ok(()),
    })?;
    child.kill()?;
    child.wait()?;

    bids::check(&kafka, &got)
}
