//! A Kafka-to-Kafka exactly-once scenario shared by the tests that run it locally and on a
//! cluster: a known sequence of bids (produced in chunks while the job runs), a windowed
//! aggregation joined with names, written with `sink.delivery-guarantee` = 'exactly-once',
//! and the results the whole sequence must give, each exactly once.

use std::collections::BTreeMap;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result, ensure};

use crate::kafka::{Kafka, produce_to, read_to_end};
use runnel_kafka::{Acks, Client, ClientConfig, Compression, Isolation, Producer};

const KEYS: u64 = 10;
const CHUNKS: u64 = 6;
const PER_CHUNK: u64 = 3000;
/// Event time advances 5 ms per record: 200 records per 1 s window.
const STEP_MS: u64 = 5;

/// The job; `${DIR}` is a scratch folder, `${BOOTSTRAP}` the broker. Tests add their restart
/// strategy.
pub const JOB: &str = "
SET 'execution.checkpointing.interval' = '300 ms';
SET 'state.checkpoints.dir' = '${DIR}/checkpoints';
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

/// Creates the topics, the names and the first chunk of bids.
pub fn prepare(kafka: &Kafka) -> Result<()> {
    kafka.create_topic("bids", 3)?;
    kafka.create_topic("names", 1)?;
    kafka.create_topic("results", 2)?;
    let names: Vec<String> = (0..KEYS).map(|k| format!("{k},key-{k}")).collect();
    kafka.produce("names", &names)?;
    kafka.produce("bids", &(0..PER_CHUNK).map(record).collect::<Vec<_>>())
}

/// Produces the other chunks, one every 700 ms, while the job runs.
pub fn produce_the_rest(bootstrap: String) -> JoinHandle<Result<()>> {
    std::thread::spawn(move || -> Result<()> {
        for chunk in 1..CHUNKS {
            std::thread::sleep(Duration::from_millis(700));
            let lines: Vec<String> = (chunk * PER_CHUNK..(chunk + 1) * PER_CHUNK)
                .map(record)
                .collect();
            produce_to(&bootstrap, "bids", &lines)?;
        }
        Ok(())
    })
}

/// A record far in the future in every partition closes every window of the sequence
/// (watermarks are per partition; its key has no name, so it joins nothing).
pub async fn close_windows(bootstrap: &str) -> Result<()> {
    let client = Client::connect(ClientConfig::new(bootstrap)).await?;
    let mut p = Producer::new(client, Acks::All, Compression::None);
    let sentinel = r#"{"id":-1,"k":999,"v":0,"ts":"1970-01-02 00:00:00"}"#;
    for partition in 0..3 {
        p.send(
            "bids",
            partition,
            None,
            Some(bytes::Bytes::from_static(sentinel.as_bytes())),
            0,
        );
    }
    Ok(p.flush().await?)
}

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
pub fn expected() -> Vec<(String, String, u64, u64)> {
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

pub fn parse(line: &str) -> Result<(String, String, u64, u64)> {
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

/// Every committed value of the results topic (all partitions), read with Runnel's client.
pub async fn committed(bootstrap: &str) -> Result<Vec<String>> {
    Ok(read_to_end(bootstrap, "results", Isolation::ReadCommitted)
        .await?
        .into_iter()
        .filter_map(|(_, m)| m.value)
        .map(|v| String::from_utf8_lossy(&v).into_owned())
        .collect())
}

/// The committed results once there are as many as expected (or two minutes passed), and
/// what two more seconds of checkpoints add: a duplicate would be committed by then.
/// `alive` is asked between reads and stops the wait with its error.
pub fn wait_for_results(
    bootstrap: &str,
    mut alive: impl FnMut() -> Result<()>,
) -> Result<Vec<String>> {
    let rt = tokio::runtime::Runtime::new()?;
    let want = expected().len();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let mut got = loop {
        let got = rt.block_on(committed(bootstrap))?;
        if got.len() >= want || std::time::Instant::now() > deadline {
            break got;
        }
        alive()?;
        std::thread::sleep(Duration::from_millis(300));
    };
    std::thread::sleep(Duration::from_secs(2));
    let more = rt.block_on(committed(bootstrap))?;
    got.extend(more.into_iter().skip(got.len()));
    Ok(got)
}

/// Checks `got` (committed results) against the whole sequence's, exactly once each, and
/// that Kafka's own consumer at read_committed agrees.
pub fn check(kafka: &Kafka, got: &[String]) -> Result<()> {
    let want = expected();
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
    let mut java: Vec<_> = kafka
        .consume("results", want.len())?
        .iter()
        .map(|l| parse(l))
        .collect::<Result<_>>()?;
    java.sort();
    ensure!(java == want, "the Java consumer sees other results");
    Ok(())
}
