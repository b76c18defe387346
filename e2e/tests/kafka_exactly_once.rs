//! Exactly-once from Kafka to Kafka through a real broker (Apache Kafka, KRaft): a job with a
//! windowed aggregation and a join writes to a topic with `sink.delivery-guarantee` =
//! 'exactly-once' while the test keeps producing a known sequence and kills the job with
//! SIGKILL at random moments, restarting it each time from its latest checkpoint. A
//! `read_committed` reader (Kafka's own Java consumer, and Runnel's client) must see every
//! expected result exactly once. The runs go at parallelism 2, 3, 1 and 2, so every restore
//! hands offsets, keyed state and open transactions to another number of subtasks.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use bytes::Bytes;
use runnel_e2e::cluster::runnel_binary;
use runnel_e2e::kafka::Kafka;
use runnel_e2e::kafka::read_to_end;
use runnel_e2e::process::scratch_dir;
use runnel_kafka::{Acks, Client, ClientConfig, Compression, Isolation, Producer};

const KEYS: u64 = 10;
const CHUNKS: u64 = 6;
const PER_CHUNK: u64 = 3000;
/// Event time advances 5 ms per record: 200 records per 1 s window.
const STEP_MS: u64 = 5;

const JOB: &str = "
SET 'execution.checkpointing.interval' = '300 ms';
SET 'state.checkpoints.dir' = '${DIR}/checkpoints';
SET 'restart-strategy.type' = 'none';
CREATE TABLE bids (id BIGINT, k BIGINT, v BIGINT, ts TIMESTAMP(3),
    WATERMARK FOR ts AS ts - INTERVAL '0' SECOND)
  WITH ('connector' = 'kafka', 'topic' = 'bids',
        'properties.bootstrap.servers' = '${BOOTSTRAP}', 'properties.group.id' = 'eo-test',
        'scan.startup.mode' = 'earliest-offset', 'format' = 'json');
CREATE TABLE names (k BIGINT, name STRING)
  WITH ('connector' = 'kafka', 'topic' = 'names',
        'properties.bootstrap.servers' = '${BOOTSTRAP}',
        'scan.startup.mode' = 'earliest-offset', 'format' = 'csv');
CREATE TABLE results (name STRING, window_start TIMESTAMP(3), bids BIGINT, total BIGINT)
  WITH ('connector' = 'kafka', 'topic' = 'results',
        'properties.bootstrap.servers' = '${BOOTSTRAP}', 'format' = 'json',
        'sink.delivery-guarantee' = 'exactly-once',
        'sink.transactional-id-prefix' = 'eo-test');
INSERT INTO results
  SELECT n.name, w.window_start, w.bids, w.total
  FROM (SELECT k, window_start, COUNT(*) AS bids, SUM(v) AS total
        FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '1' SECOND))
        GROUP BY k, window_start, window_end) w
  JOIN names n ON w.k = n.k;
";

fn record(id: u64) -> String {
    let ms = id * STEP_MS;
    format!(
        r#"{{"id":{id},"k":{},"v":{},"ts":"1970-01-01 00:{:02}:{:02}.{:03}"}}"#,
        id % KEYS,
        id % 97,
        ms / 60_000,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// Results of the whole sequence: (name, window start, count, sum) per key and window.
fn expected() -> Vec<(String, String, u64, u64)> {
    let mut agg: BTreeMap<(u64, u64), (u64, u64)> = BTreeMap::new();
    for id in 0..CHUNKS * PER_CHUNK {
        let e = agg.entry((id % KEYS, id * STEP_MS / 1000)).or_default();
        e.0 += 1;
        e.1 += id % 97;
    }
    let mut out: Vec<_> = agg
        .into_iter()
        .map(|((k, w), (c, s))| {
            (
                format!("key-{k}"),
                format!("1970-01-01 00:{:02}:{:02}", w / 60, w % 60),
                c,
                s,
            )
        })
        .collect();
    out.sort();
    out
}

fn parse(line: &str) -> Result<(String, String, u64, u64)> {
    let v: serde_json::Value = serde_json::from_str(line).with_context(|| line.to_string())?;
    Ok((
        v["name"].as_str().context("name")?.to_string(),
        v["window_start"]
            .as_str()
            .context("window_start")?
            .to_string(),
        v["bids"].as_u64().context("bids")?,
        v["total"].as_u64().context("total")?,
    ))
}

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

/// Every committed value of `topic` (all partitions), read with Runnel's client.
async fn committed(bootstrap: &str, topic: &str) -> Result<Vec<String>> {
    Ok(read_to_end(bootstrap, topic, Isolation::ReadCommitted)
        .await?
        .into_iter()
        .filter_map(|(_, m)| m.value)
        .map(|v| String::from_utf8_lossy(&v).into_owned())
        .collect())
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
    kafka.create_topic("bids", 3)?;
    kafka.create_topic("names", 1)?;
    kafka.create_topic("results", 2)?;
    let names: Vec<String> = (0..KEYS).map(|k| format!("{k},key-{k}")).collect();
    kafka.produce("names", &names)?;
    kafka.produce("bids", &(0..PER_CHUNK).map(record).collect::<Vec<_>>())?;

    let dir: PathBuf = scratch_dir("kafka-exactly-once")?;
    let script = dir.join("job.sql");
    std::fs::write(
        &script,
        JOB.replace("${DIR}", dir.to_str().unwrap())
            .replace("${BOOTSTRAP}", &kafka.bootstrap()),
    )?;

    // The rest of the input arrives while the job runs and is killed.
    let bootstrap = kafka.bootstrap();
    let producer = {
        std::thread::spawn(move || -> Result<()> {
            for chunk in 1..CHUNKS {
                std::thread::sleep(Duration::from_millis(700));
                let lines: Vec<String> = (chunk * PER_CHUNK..(chunk + 1) * PER_CHUNK)
                    .map(record)
                    .collect();
                runnel_e2e::kafka::produce_to(&bootstrap, "bids", &lines)?;
            }
            Ok(())
        })
    };

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
    // A record far in the future in every partition closes every window of the sequence
    // (watermarks are per partition; its key has no name, so it joins nothing).
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let client = Client::connect(ClientConfig::new(&kafka.bootstrap())).await?;
        let mut p = Producer::new(client, Acks::All, Compression::None);
        let sentinel = r#"{"id":-1,"k":999,"v":0,"ts":"1970-01-02 00:00:00"}"#;
        for partition in 0..3 {
            p.send(
                "bids",
                partition,
                None,
                Some(Bytes::from_static(sentinel.as_bytes())),
                0,
            );
        }
        p.flush().await
    })?;

    let log = dir.join("final.log");
    let mut child = spawn(&script, 2, true, &log)?;
    let want = expected();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut got = loop {
        let got = rt.block_on(committed(&kafka.bootstrap(), "results"))?;
        if got.len() >= want.len() || Instant::now() > deadline {
            break got;
        }
        if let Some(status) = child.try_wait()? {
            anyhow::bail!(
                "job exited ({status}):\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    // A few more checkpoints: a duplicate would be committed by now.
    std::thread::sleep(Duration::from_secs(2));
    got.extend(
        rt.block_on(committed(&kafka.bootstrap(), "results"))?
            .into_iter()
            .skip(got.len()),
    );
    child.kill()?;
    child.wait()?;

    let mut rows: Vec<_> = got.iter().map(|l| parse(l)).collect::<Result<_>>()?;
    rows.sort();
    let missing: Vec<_> = want.iter().filter(|r| !rows.contains(r)).take(5).collect();
    let extra: Vec<_> = rows.iter().filter(|r| !want.contains(r)).take(5).collect();
    ensure!(
        rows == want,
        "{} results for {} expected; missing {missing:?}; unexpected {extra:?}",
        rows.len(),
        want.len()
    );
    // Kafka's own consumer, at read_committed, agrees.
    let mut java: Vec<_> = kafka
        .consume("results", want.len())?
        .iter()
        .map(|l| parse(l))
        .collect::<Result<_>>()?;
    java.sort();
    ensure!(java == want, "the Java consumer sees other results");
    Ok(())
}
