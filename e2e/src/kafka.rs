//! A real Apache Kafka broker for end-to-end tests, started by `e2e/scripts/kafka.sh`.
//!
//! The broker is the stock `kafka.Kafka` from Maven Central in KRaft mode (one node that is both
//! broker and controller), so Runnel's Kafka source and sink are tested against the real wire
//! protocol, group coordinator and transaction coordinator rather than a mock. Topics are created
//! and read back with Kafka's own command-line tools, which keeps the checks independent of
//! Runnel's client code.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};

use crate::process::{self, Service};

/// How long a cold JVM may take to format storage and bring up the broker on a busy two-core
/// machine.
const START_TIMEOUT: Duration = Duration::from_secs(180);

/// How long a broker gets to shut down after SIGTERM before it is killed. A controlled shutdown
/// of an idle single node takes one or two seconds; the margin is for loaded CI machines.
const STOP_GRACE: Duration = Duration::from_secs(60);

/// Logged by `KafkaRaftServer` once the broker and controller accept requests.
const STARTED: &str = "Kafka Server started";

/// Logged by the broker at the end of a controlled shutdown; its absence after SIGTERM means the
/// JVM went down some other way.
const SHUT_DOWN: &str = "[BrokerServer id=1] shut down completed";

/// Attempts at starting, since a port picked by [`process::free_port`] can be taken by someone
/// else before the broker binds it.
const START_ATTEMPTS: usize = 3;

/// A running single-node Kafka broker (on 127.0.0.1, or another local address), stopped when
/// dropped.
///
/// Each instance has its own data folder and ports, so tests can run brokers side by side.
#[derive(Debug)]
pub struct Kafka {
    service: Service,
    dir: PathBuf,
    host: IpAddr,
    port: u16,
    controller_port: u16,
}

impl Kafka {
    /// Installs the broker's jars if needed (a Maven download on first use), then starts a fresh
    /// broker and returns once it serves clients, so callers never race its start-up.
    pub fn start() -> Result<Self> {
        Self::start_on(IpAddr::from([127, 0, 0, 1]))
    }

    /// [`Kafka::start`] with clients served on `host`, a local address (the test cluster's
    /// bridge, which its pods reach).
    pub fn start_on(host: IpAddr) -> Result<Self> {
        install()?;
        process::retry_port_race("Kafka", START_ATTEMPTS, || Self::start_once(host))
    }

    fn start_once(host: IpAddr) -> Result<Self> {
        let dir = process::scratch_dir("kafka")?;
        let port = process::free_port()?;
        let controller_port = loop {
            let p = process::free_port()?;
            if p != port {
                break p;
            }
        };
        let mut cmd = Command::new(script());
        cmd.arg("run")
            .arg(&dir)
            .arg(port.to_string())
            .arg(controller_port.to_string())
            .arg(host.to_string());
        let service = Service::spawn("kafka", cmd, &dir.join("kafka.log"), false)?;
        let mut kafka = Self {
            service,
            dir,
            host,
            port,
            controller_port,
        };
        kafka
            .service
            .wait_for_log(STARTED, START_TIMEOUT)
            .context("waiting for the Kafka broker to start")?;
        kafka
            .service
            .wait_for_port(kafka.addr(), Duration::from_secs(10))
            .context("waiting for the Kafka broker's listener")?;
        Ok(kafka)
    }

    /// The `bootstrap.servers` value for clients of this broker.
    pub fn bootstrap(&self) -> String {
        self.addr().to_string()
    }

    /// The client listener's address, for checks that talk TCP directly.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port)
    }

    /// The KRaft controller's port, which tests may want to keep clear of.
    pub fn controller_port(&self) -> u16 {
        self.controller_port
    }

    /// The broker process id while it runs, so tests can check that it is really gone.
    pub fn pid(&self) -> Option<u32> {
        self.service.pid()
    }

    /// The broker's log, to quote when a test fails.
    pub fn log_path(&self) -> &Path {
        self.service.log_path()
    }

    /// The folder holding the broker's configuration, data and log.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Creates a topic with replication factor 1 (there is one broker). Fails if it exists, so a
    /// test notices when two of its steps pick the same name.
    pub fn create_topic(&self, name: &str, partitions: u32) -> Result<()> {
        ensure!(partitions > 0, "a topic needs at least one partition");
        process::run(
            Command::new(script())
                .args(["topic", &self.bootstrap(), "create", name])
                .arg(partitions.to_string()),
        )
        .with_context(|| format!("creating topic {name} with {partitions} partitions"))?;
        Ok(())
    }

    /// Writes one record per line (no key) with `acks=all`; every record is stored when this
    /// returns. Lines must not contain newlines, which the console producer would split on.
    pub fn produce<S: AsRef<str>>(&self, topic: &str, lines: &[S]) -> Result<()> {
        produce_to(&self.bootstrap(), topic, lines)
    }

    /// Reads the first `n` records of a topic (all partitions, from the beginning) with a fresh
    /// consumer group at `read_committed` (records of open or aborted transactions are not
    /// seen), failing if fewer arrive within the script's timeout (30 s by default,
    /// `KAFKA_CONSUME_TIMEOUT_MS`). Order is only meaningful within a partition.
    pub fn consume(&self, topic: &str, n: usize) -> Result<Vec<String>> {
        let out = process::run(
            Command::new(script())
                .args(["consume", &self.bootstrap(), topic])
                .arg(n.to_string()),
        )
        .with_context(|| format!("consuming {n} records from {topic}"))?;
        Ok(out.lines().map(str::to_string).collect())
    }

    /// Stops the broker with SIGTERM and waits for it to exit. Returns whether the shutdown was
    /// clean: the broker finished its controlled shutdown and exited on its own within the grace
    /// period, rather than crashing or being killed.
    pub fn stop(&mut self) -> Result<bool> {
        // The JVM turns SIGTERM into an orderly exit with status 143 once shutdown hooks ran.
        self.service.stop_cleanly(
            STOP_GRACE,
            &["exit status: 0", "exit status: 143"],
            SHUT_DOWN,
        )
    }
}

impl Drop for Kafka {
    fn drop(&mut self) {
        // Data is only worth keeping to debug a broker that did not stop cleanly.
        if let Ok(true) = self.stop() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Fetches the broker's jars into the cache unless already there; idempotent and safe to call
/// from several tests at once.
pub fn install() -> Result<()> {
    process::run(Command::new(script()).arg("install"))
        .context("installing Kafka (e2e/scripts/kafka.sh install)")?;
    Ok(())
}

/// Every record of `topic` up to the current end of each partition, read with Runnel's own
/// client at `isolation`: (partition, record) in partition and offset order.
pub async fn read_to_end(
    bootstrap: &str,
    topic: &str,
    isolation: runnel_kafka::Isolation,
) -> Result<Vec<(i32, runnel_kafka::Message)>> {
    use runnel_kafka::{Client, ClientConfig, FetchConfig};
    let mut c = Client::connect(ClientConfig::new(bootstrap)).await?;
    let mut positions: std::collections::BTreeMap<i32, i64> = c
        .partitions(topic)
        .await?
        .into_iter()
        .map(|p| (p, 0))
        .collect();
    let config = FetchConfig {
        isolation,
        ..FetchConfig::default()
    };
    let mut out = Vec::new();
    while !positions.is_empty() {
        let mut fetched: Vec<_> = c
            .fetch(topic, &positions, config)
            .await?
            .into_iter()
            .collect();
        fetched.sort_by_key(|(p, _)| *p);
        for (p, f) in fetched {
            out.extend(f.messages.into_iter().map(|m| (p, m)));
            if f.next_offset >= f.end_offset {
                positions.remove(&p);
            } else {
                positions.insert(p, f.next_offset);
            }
        }
    }
    out.sort_by_key(|(p, m)| (*p, m.offset));
    Ok(out)
}

/// [`Kafka::produce`] for a broker known by its bootstrap address (from another thread).
pub fn produce_to<S: AsRef<str>>(bootstrap: &str, topic: &str, lines: &[S]) -> Result<()> {
    let mut input = String::new();
    for line in lines {
        let line = line.as_ref();
        ensure!(!line.contains('\n'), "record {line:?} contains a newline");
        input.push_str(line);
        input.push('\n');
    }
    let mut child = Command::new(script())
        .args(["produce", bootstrap, topic])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting the Kafka console producer")?;
    let mut stdin = child.stdin.take().context("producer stdin")?;
    // Written from a thread: the producer may fill its output pipes before reading all input.
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child
        .wait_with_output()
        .context("waiting for the Kafka console producer")?;
    let written = writer
        .join()
        .map_err(|_| anyhow::anyhow!("producer input thread panicked"))?;
    if !output.status.success() {
        bail!(
            "producing {} records to {topic} failed ({}):\n{}{}",
            lines.len(),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    written.with_context(|| format!("writing records for {topic} to the console producer"))?;
    Ok(())
}

fn script() -> PathBuf {
    process::repo_root().join("e2e/scripts/kafka.sh")
}
