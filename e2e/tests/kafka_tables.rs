//! Kafka tables through a real broker: an updating aggregation written with `upsert-kafka`
//! (a key per row, tombstones for deletes) and with the `debezium-json` format, then read back
//! by Runnel as changelogs that must add up to the same totals; METADATA columns reading and
//! writing record fields; and event time across more readers than partitions.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use runnel_e2e::cluster::runnel_binary;
use runnel_e2e::kafka::Kafka;
use runnel_e2e::kafka::read_to_end;
use runnel_e2e::process::scratch_dir;
use runnel_kafka::{Acks, Client, ClientConfig, Compression, Isolation, Producer};

const USERS: u64 = 5;
const EVENTS: u64 = 400;

/// Expected (count, sum) per user of the events written.
fn totals() -> BTreeMap<String, (u64, u64)> {
    let mut m = BTreeMap::new();
    for i in 0..EVENTS {
        let e = m.entry(format!("u{}", i % USERS)).or_insert((0, 0));
        e.0 += 1;
        e.1 += i;
    }
    m
}

fn runnel(script: &Path) -> Result<String> {
    let out = Command::new(runnel_binary().context("the runnel binary is not built")?)
        .args(["run", script.to_str().unwrap()])
        .output()?;
    ensure!(
        out.status.success(),
        "runnel failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Key and value of every committed record of `topic`, read to its end.
async fn records(bootstrap: &str, topic: &str) -> Result<Vec<(String, Option<String>)>> {
    let text = |b: &bytes::Bytes| String::from_utf8_lossy(b).into_owned();
    Ok(read_to_end(bootstrap, topic, Isolation::ReadCommitted)
        .await?
        .into_iter()
        .map(|(_, m)| {
            (
                m.key.as_ref().map(text).unwrap_or_default(),
                m.value.as_ref().map(text),
            )
        })
        .collect())
}

/// An unbounded job running in the background, its printed lines arriving on a channel.
struct Running {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn start(script: &Path, args: &[&str]) -> Result<Running> {
        let mut child = Command::new(runnel_binary().context("the runnel binary is not built")?)
            .args(["run", script.to_str().unwrap()])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().context("stdout")?;
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(|l| l.ok()) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Ok(Running {
            child,
            lines,
            seen: Vec::new(),
        })
    }

    /// Collects printed lines until `done` holds for them (or 60 s pass); returns whether it
    /// did.
    fn wait_until(&mut self, done: impl Fn(&[String]) -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline && !done(&self.seen) {
            if let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
                self.seen.push(line);
            }
        }
        done(&self.seen)
    }

    /// Stops the job after `settle`, returning every line printed.
    fn stop(mut self, settle: Duration) -> Result<Vec<String>> {
        std::thread::sleep(settle);
        self.seen.extend(self.lines.try_iter());
        self.child.kill()?;
        self.child.wait()?;
        Ok(self.seen)
    }
}

/// A record to write: partition, value, timestamp and headers.
struct Rec {
    partition: i32,
    value: String,
    timestamp: i64,
    headers: Vec<(String, Option<bytes::Bytes>)>,
}

impl Rec {
    fn new(partition: i32, value: impl Into<String>, timestamp: i64) -> Rec {
        Rec {
            partition,
            value: value.into(),
            timestamp,
            headers: Vec::new(),
        }
    }
}

/// Writes `records` to `topic` with Runnel's client (which, unlike the console producer,
/// chooses partitions, timestamps and headers).
fn send(
    rt: &tokio::runtime::Runtime,
    bootstrap: &str,
    topic: &str,
    records: Vec<Rec>,
) -> Result<()> {
    rt.block_on(async {
        let client = Client::connect(ClientConfig::new(bootstrap)).await?;
        let mut p = Producer::new(client, Acks::All, Compression::None);
        for r in records {
            p.send_with_headers(
                topic,
                r.partition,
                None,
                Some(r.value.into()),
                r.timestamp,
                r.headers,
            );
        }
        p.flush().await
    })?;
    Ok(())
}

/// One JSON tick per second of event time, for 30 s.
fn tick(second: u32) -> String {
    format!(r#"{{"n":{second},"ts":"2024-01-01 00:00:{second:02}"}}"#)
}

/// Counts `topic`'s ticks in 10 s windows at `parallelism` (after `settings`) and waits for
/// the first two windows to close while the unbounded job runs.
fn first_windows_close(
    bootstrap: &str,
    topic: &str,
    settings: &str,
    parallelism: u32,
) -> Result<()> {
    let dir = scratch_dir(&format!("kafka-windows-{topic}"))?;
    let script = dir.join("windows.sql");
    std::fs::write(
        &script,
        format!(
            "{settings}
             CREATE TABLE ticks (n BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts)
               WITH ('connector' = 'kafka', 'topic' = '{topic}',
               'properties.bootstrap.servers' = '{bootstrap}', 'format' = 'json',
               'scan.startup.mode' = 'earliest-offset');
             CREATE TABLE out (window_start TIMESTAMP(3), c BIGINT)
               WITH ('connector' = 'print', 'sink.parallelism' = '1');
             INSERT INTO out SELECT window_start, COUNT(*)
               FROM TABLE(TUMBLE(TABLE ticks, DESCRIPTOR(ts), INTERVAL '10' SECOND))
               GROUP BY window_start, window_end;"
        ),
    )?;
    let mut job = Running::start(&script, &["-p", &parallelism.to_string()])?;
    let want = ["+I[2024-01-01T00:00, 10]", "+I[2024-01-01T00:00:10, 10]"];
    let closed = job.wait_until(|seen| want.iter().all(|w| seen.iter().any(|s| s == w)));
    let seen = job.stop(Duration::ZERO)?;
    ensure!(closed, "windows did not close: {seen:?}");
    Ok(())
}

#[test]
fn upsert_kafka_and_debezium_json_round_trip() -> Result<()> {
    let kafka = Kafka::start()?;
    kafka.create_topic("events", 2)?;
    kafka.create_topic("totals", 2)?;
    kafka.create_topic("totals_cdc", 1)?;
    let events: Vec<String> = (0..EVENTS).map(|i| format!("u{},{i}", i % USERS)).collect();
    kafka.produce("events", &events)?;
    let b = kafka.bootstrap();
    let dir = scratch_dir("kafka-changelog")?;

    // Write: the running totals as upserts and as change events.
    let write = dir.join("write.sql");
    std::fs::write(
        &write,
        format!(
            "CREATE TABLE events (user_id STRING, amount BIGINT) WITH ('connector' = 'kafka',
               'topic' = 'events', 'properties.bootstrap.servers' = '{b}', 'format' = 'csv',
               'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset');
             CREATE TABLE totals (user_id STRING, n BIGINT, total BIGINT,
               PRIMARY KEY (user_id) NOT ENFORCED) WITH ('connector' = 'upsert-kafka',
               'topic' = 'totals', 'properties.bootstrap.servers' = '{b}',
               'key.format' = 'json', 'value.format' = 'json');
             CREATE TABLE totals_cdc (user_id STRING, n BIGINT, total BIGINT) WITH (
               'connector' = 'kafka', 'topic' = 'totals_cdc',
               'properties.bootstrap.servers' = '{b}', 'format' = 'debezium-json');
             INSERT INTO totals SELECT user_id, COUNT(*), SUM(amount) FROM events GROUP BY user_id;
             INSERT INTO totals_cdc SELECT user_id, COUNT(*), SUM(amount) FROM events GROUP BY user_id;"
        ),
    )?;
    runnel(&write)?;
    let want = totals();

    // The upsert topic: keys are the primary key as JSON; the last value per key is the total.
    let rt = tokio::runtime::Runtime::new()?;
    let upserts = rt.block_on(records(&b, "totals"))?;
    let mut last: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in &upserts {
        let v = v.as_ref().context("no deletes in a growing aggregate")?;
        last.insert(k.clone(), v.clone());
    }
    for (user, (n, total)) in &want {
        let key = format!(r#"{{"user_id":"{user}"}}"#);
        let v: serde_json::Value = serde_json::from_str(last.get(&key).context(key.clone())?)?;
        ensure!(
            v["n"] == *n && v["total"] == *total,
            "{user}: {v} (want n={n}, total={total})"
        );
    }
    // The change events: -U/+U pairs written as d/c events.
    let cdc = rt.block_on(records(&b, "totals_cdc"))?;
    ensure!(
        cdc.iter().all(|(_, v)| v
            .as_deref()
            .is_some_and(|v| v.contains(r#""op":"c""#) || v.contains(r#""op":"d""#))),
        "{cdc:?}"
    );

    // Read both back as changelogs; the sums over them must end at the grand total.
    let grand: u64 = want.values().map(|(_, t)| t).sum();
    let read_cdc = dir.join("read_cdc.sql");
    std::fs::write(
        &read_cdc,
        format!(
            "CREATE TABLE totals_cdc (user_id STRING, n BIGINT, total BIGINT) WITH (
               'connector' = 'kafka', 'topic' = 'totals_cdc',
               'properties.bootstrap.servers' = '{b}', 'format' = 'debezium-json',
               'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset');
             CREATE TABLE out (users BIGINT, total BIGINT) WITH ('connector' = 'print',
               'sink.parallelism' = '1');
             INSERT INTO out SELECT COUNT(*), SUM(total) FROM totals_cdc;"
        ),
    )?;
    let printed = runnel(&read_cdc)?;
    let final_line = format!("[{USERS}, {grand}]");
    ensure!(
        printed
            .lines()
            .last()
            .is_some_and(|l| l.ends_with(&final_line)),
        "debezium-json changelog did not end at {final_line}:\n{printed}"
    );

    // The upsert source never ends: watch its output until the total shows up.
    let read_upsert = dir.join("read_upsert.sql");
    std::fs::write(
        &read_upsert,
        format!(
            "CREATE TABLE totals (user_id STRING, n BIGINT, total BIGINT,
               PRIMARY KEY (user_id) NOT ENFORCED) WITH ('connector' = 'upsert-kafka',
               'topic' = 'totals', 'properties.bootstrap.servers' = '{b}',
               'key.format' = 'json', 'value.format' = 'json');
             CREATE TABLE out (users BIGINT, total BIGINT) WITH ('connector' = 'print',
               'sink.parallelism' = '1');
             INSERT INTO out SELECT COUNT(*), SUM(total) FROM totals;"
        ),
    )?;
    let mut job = Running::start(&read_upsert, &[])?;
    let found = job.wait_until(|seen| seen.iter().any(|l| l.ends_with(&final_line)));
    // Nothing may follow the final total (an upsert read twice would add to it).
    let seen = job.stop(Duration::from_millis(1500))?;
    ensure!(
        found && seen.last().is_some_and(|l| l.ends_with(&final_line)),
        "upsert-kafka changelog did not settle at {final_line}:\n{}",
        seen.join("\n")
    );
    Ok(())
}

/// Metadata columns: a source reads each record's partition, offset and timestamp (with a
/// watermark on the timestamp); a sink sets record timestamps from a `timestamp` column.
#[test]
fn metadata_columns_read_and_write_record_fields() -> Result<()> {
    let kafka = Kafka::start()?;
    kafka.create_topic("meta_in", 1)?;
    kafka.create_topic("meta_out", 1)?;
    let b = kafka.bootstrap();
    // Record "b" carries headers (one without a value).
    let rt = tokio::runtime::Runtime::new()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    let mut records: Vec<Rec> = ["a", "b", "c"].map(|v| Rec::new(0, v, now)).into();
    records[1].headers = vec![
        ("trace".to_string(), Some(bytes::Bytes::from_static(b"t-1"))),
        ("empty".to_string(), None),
    ];
    send(&rt, &b, "meta_in", records)?;
    let dir = scratch_dir("kafka-metadata")?;
    let script = dir.join("meta.sql");
    std::fs::write(
        &script,
        format!(
            "CREATE TABLE src (
               v STRING,
               part INT METADATA FROM 'partition' VIRTUAL,
               off BIGINT METADATA FROM 'offset' VIRTUAL,
               tp STRING METADATA FROM 'topic' VIRTUAL,
               ts TIMESTAMP_LTZ(3) METADATA FROM 'timestamp',
               hdrs MAP<STRING, BYTES> METADATA FROM 'headers',
               WATERMARK FOR ts AS ts - INTERVAL '5' SECOND
             ) WITH ('connector' = 'kafka', 'topic' = 'meta_in',
               'properties.bootstrap.servers' = '{b}', 'format' = 'raw',
               'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset');
             CREATE TABLE dst (
               v STRING,
               ts TIMESTAMP_LTZ(3) METADATA FROM 'timestamp',
               headers MAP<STRING, BYTES> METADATA
             ) WITH ('connector' = 'kafka', 'topic' = 'meta_out',
               'properties.bootstrap.servers' = '{b}', 'format' = 'raw');
             CREATE TABLE shown (v STRING, part INT, off BIGINT, tp STRING, recent BOOLEAN)
               WITH ('connector' = 'print', 'sink.parallelism' = '1');
             EXECUTE STATEMENT SET BEGIN
               INSERT INTO dst SELECT v, TO_TIMESTAMP_LTZ(1000 + off, 3), hdrs FROM src;
               INSERT INTO shown SELECT v, part, off, tp,
                 ts > TO_TIMESTAMP_LTZ(UNIX_TIMESTAMP() * 1000 - 600000, 3) FROM src;
             END;"
        ),
    )?;
    let mut printed: Vec<String> = runnel(&script)?.lines().map(str::to_string).collect();
    printed.sort();
    ensure!(
        printed
            == [
                "+I[a, 0, 0, meta_in, true]",
                "+I[b, 0, 1, meta_in, true]",
                "+I[c, 0, 2, meta_in, true]"
            ],
        "{printed:?}"
    );
    let written = rt.block_on(read_to_end(&b, "meta_out", Isolation::ReadCommitted))?;
    let got: Vec<(String, i64, usize)> = written
        .iter()
        .map(|(_, m)| {
            (
                String::from_utf8_lossy(m.value.as_deref().unwrap_or(b"")).into_owned(),
                m.timestamp,
                m.headers.len(),
            )
        })
        .collect();
    ensure!(
        got == [
            ("a".into(), 1000, 0),
            ("b".into(), 1001, 2),
            ("c".into(), 1002, 0)
        ],
        "{got:?}"
    );
    // The headers went through the job unchanged (read as a map, written back).
    let mut headers = written[1].1.headers.clone();
    headers.sort();
    ensure!(
        headers
            == [
                ("empty".to_string(), None),
                ("trace".to_string(), Some(bytes::Bytes::from_static(b"t-1")))
            ],
        "{headers:?}"
    );
    Ok(())
}

/// With more readers than partitions, the readers without a partition are idle and do not
/// hold event time back: windows close while the (unbounded) job runs.
#[test]
fn readers_without_partitions_do_not_stall_windows() -> Result<()> {
    let kafka = Kafka::start()?;
    kafka.create_topic("ticks", 1)?;
    kafka.produce("ticks", &(0..30).map(tick).collect::<Vec<_>>())?;
    first_windows_close(&kafka.bootstrap(), "ticks", "", 4)?;
    Ok(())
}

/// `table.exec.source.idle-timeout`: a partition that never gets data stops holding event time
/// back once it has been quiet that long, so windows over the other partition close.
#[test]
fn quiet_partitions_go_idle_after_the_timeout() -> Result<()> {
    let kafka = Kafka::start()?;
    kafka.create_topic("half", 2)?;
    let b = kafka.bootstrap();
    // Every record in partition 0; partition 1 stays empty.
    let rt = tokio::runtime::Runtime::new()?;
    send(
        &rt,
        &b,
        "half",
        (0..30).map(|s| Rec::new(0, tick(s), 0)).collect(),
    )?;
    first_windows_close(
        &b,
        "half",
        "SET 'table.exec.source.idle-timeout' = '500 ms';",
        1,
    )?;
    Ok(())
}

/// `examples/kafka/windowed-totals.sql` runs as written against a broker (only its address,
/// and a shorter checkpoint interval, are replaced).
#[test]
fn the_kafka_example_runs() -> Result<()> {
    let kafka = Kafka::start()?;
    kafka.create_topic("orders", 4)?;
    kafka.create_topic("order_totals", 1)?;
    let b = kafka.bootstrap();
    // Minute 0 and 1 of orders in every partition, then one order at minute 3 per partition,
    // which closes both minutes (event time is each partition's record timestamps).
    let mut records = Vec::new();
    let mut id = 0;
    for minute in [0i64, 1] {
        for partition in 0..4 {
            for customer in ["c1", "c2"] {
                id += 1;
                let v = format!(r#"{{"order_id":{id},"customer":"{customer}","amount":2.50}}"#);
                records.push(Rec::new(partition, v, minute * 60_000 + id));
            }
        }
    }
    for partition in 0..4 {
        let v = r#"{"order_id":0,"customer":"late","amount":0}"#;
        records.push(Rec::new(partition, v, 180_000));
    }
    let rt = tokio::runtime::Runtime::new()?;
    send(&rt, &b, "orders", records)?;
    let example = include_str!("../../examples/kafka/windowed-totals.sql");
    ensure!(
        example.contains("'localhost:9092'") && example.contains("'10 s'"),
        "the example changed"
    );
    let dir = scratch_dir("kafka-example")?;
    let script = dir.join("windowed-totals.sql");
    std::fs::write(
        &script,
        example
            .replace("'localhost:9092'", &format!("'{b}'"))
            .replace("'10 s'", "'500 ms'"),
    )?;
    let job = Running::start(&script, &["-p", "2"])?;
    let mut totals = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline && totals.len() < 4 {
        std::thread::sleep(Duration::from_millis(300));
        totals = rt.block_on(read_to_end(&b, "order_totals", Isolation::ReadCommitted))?;
    }
    let printed = job.stop(Duration::ZERO)?;
    let mut got: Vec<(String, String, u64, f64)> = totals
        .iter()
        .map(|(_, m)| {
            let v: serde_json::Value = serde_json::from_slice(m.value.as_deref().unwrap_or(b""))?;
            let key = String::from_utf8_lossy(m.key.as_deref().unwrap_or(b"")).into_owned();
            Ok((
                key,
                v["window_start"].as_str().unwrap_or_default().to_string(),
                v["orders"].as_u64().unwrap_or_default(),
                v["total"].as_f64().unwrap_or_default(),
            ))
        })
        .collect::<Result<_>>()?;
    got.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let want = [
        ("c1", "1970-01-01 00:00:00", 4, 10.0),
        ("c1", "1970-01-01 00:01:00", 4, 10.0),
        ("c2", "1970-01-01 00:00:00", 4, 10.0),
        ("c2", "1970-01-01 00:01:00", 4, 10.0),
    ]
    .map(|(k, w, n, t)| (k.to_string(), w.to_string(), n, t));
    ensure!(got == want, "{got:?} (job printed {printed:?})");
    Ok(())
}
