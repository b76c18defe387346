//! The Kafka source's fetcher: a task per reader that resolves start and stop offsets, reads
//! the assigned partitions ahead of the reader, discovers partitions, and commits progress
//! to the consumer group.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use runnel_kafka::{Client, EARLIEST, FetchConfig, Fetched, LATEST, Positions};
use tokio::sync::mpsc;

use super::source::{Bounded, SourceConfig, Startup, Topics};

/// What a fetcher hands its reader.
pub(super) enum Fetch {
    /// Records of one partition; `next` is where the partition continues.
    Data {
        topic: String,
        partition: i32,
        fetched: Fetched,
    },
    /// Start and stop offsets of newly assigned partitions.
    Resolved(Vec<((String, i32), i64, Option<i64>)>),
    /// Partitions that exist now (discovery).
    Discovered(Vec<(String, i32)>),
    Failed(String),
}

/// What a reader asks of its fetcher.
pub(super) enum Command {
    /// Read these partitions from these positions; those without one start at the startup
    /// mode (`true`) or at their earliest offset.
    Assign(Vec<((String, i32), Option<i64>)>, bool),
    /// Record progress in the consumer group.
    Commit(Vec<((String, i32), i64)>),
}

/// Reads the assigned partitions ahead of the task, one fetch per round.
pub(super) struct Fetcher {
    config: SourceConfig,
    positions: BTreeMap<String, Positions>,
    stops: HashMap<(String, i32), i64>,
    tx: mpsc::Sender<Fetch>,
    commands: mpsc::UnboundedReceiver<Command>,
}

/// Why start or stop offsets could not be found.
#[derive(Debug, thiserror::Error)]
enum ResolveError {
    #[error(transparent)]
    Kafka(#[from] runnel_kafka::Error),
    #[error("{0}")]
    NoGroupOffset(String),
}

impl Fetcher {
    /// Starts a fetcher for one reader (inside the job's runtime): commands go in, fetched
    /// records and partition changes come out, at most a few fetches ahead.
    pub(super) fn spawn(
        config: SourceConfig,
    ) -> (mpsc::UnboundedSender<Command>, mpsc::Receiver<Fetch>) {
        let (cmd_tx, commands) = mpsc::unbounded_channel();
        let (tx, rx) = mpsc::channel(4);
        let fetcher = Fetcher {
            config,
            positions: BTreeMap::new(),
            stops: HashMap::new(),
            tx,
            commands,
        };
        tokio::spawn(fetcher.run());
        (cmd_tx, rx)
    }

    async fn run(mut self) {
        if let Err(e) = self.run_inner().await {
            let _ = self.tx.send(Fetch::Failed(e)).await;
        }
    }

    async fn topics(&self, client: &mut Client) -> runnel_kafka::Result<Vec<(String, i32)>> {
        let names = match &self.config.topics {
            Topics::List(t) => t.clone(),
            Topics::Pattern(re) => client
                .list_topics()
                .await?
                .into_iter()
                .filter(|t| re.is_match(t))
                .collect(),
        };
        let mut out = Vec::new();
        for t in names {
            for p in client.partitions(&t).await? {
                out.push((t.clone(), p));
            }
        }
        Ok(out)
    }

    async fn run_inner(&mut self) -> std::result::Result<(), String> {
        let mut client = super::connect(
            &self.config.table,
            &self.config.client,
            self.config.retry_for,
        )
        .await
        .map_err(|e| e.to_string())?;
        let mut last_discovery = Instant::now();
        // The first listing decides the initial assignment.
        let all = self.topics(&mut client).await.map_err(|e| e.to_string())?;
        if let Topics::List(names) = &self.config.topics {
            for n in names {
                if !all.iter().any(|(t, _)| t == n) {
                    return Err(format!("Kafka topic '{n}' does not exist"));
                }
            }
        }
        if self.tx.send(Fetch::Discovered(all)).await.is_err() {
            return Ok(());
        }
        let mut failing_since: Option<Instant> = None;
        loop {
            while let Ok(cmd) = self.commands.try_recv() {
                match cmd {
                    Command::Assign(parts, startup) => {
                        let resolved = self
                            .resolve(&mut client, parts, startup)
                            .await
                            .map_err(|e| e.to_string())?;
                        if self.tx.send(Fetch::Resolved(resolved)).await.is_err() {
                            return Ok(());
                        }
                    }
                    Command::Commit(offsets) => {
                        if let Some(group) = &self.config.group_id {
                            let mut by_topic: BTreeMap<&str, Vec<(i32, i64)>> = BTreeMap::new();
                            for ((t, p), o) in &offsets {
                                by_topic.entry(t).or_default().push((*p, *o));
                            }
                            for (t, o) in by_topic {
                                if let Err(e) = client.commit_offsets(group, t, &o).await {
                                    eprintln!(
                                        "runnel: table `{}`: committing offsets of group '{group}': {e}",
                                        self.config.table
                                    );
                                }
                            }
                        }
                    }
                }
            }
            if let Some(every) = self.config.discovery
                && last_discovery.elapsed() >= every
            {
                last_discovery = Instant::now();
                if let Ok(all) = self.topics(&mut client).await
                    && self.tx.send(Fetch::Discovered(all)).await.is_err()
                {
                    return Ok(());
                }
            }
            if self.positions.is_empty() {
                tokio::time::sleep(Duration::from_millis(20)).await;
                if self.tx.is_closed() {
                    return Ok(());
                }
                continue;
            }
            let config = FetchConfig {
                isolation: self.config.isolation,
                ..FetchConfig::default()
            };
            let mut any = false;
            let topics: Vec<String> = self.positions.keys().cloned().collect();
            for topic in topics {
                let positions = &self.positions[&topic];
                let positions: Positions = positions
                    .iter()
                    .filter(|(p, o)| {
                        self.stops
                            .get(&(topic.clone(), **p))
                            .is_none_or(|s| **o < *s)
                    })
                    .map(|(p, o)| (*p, *o))
                    .collect();
                if positions.is_empty() {
                    continue;
                }
                match client.fetch(&topic, &positions, config).await {
                    Ok(parts) => {
                        failing_since = None;
                        for (partition, fetched) in parts {
                            let pos = self.positions.get_mut(&topic).expect("topic");
                            if fetched.next_offset <= pos[&partition] {
                                continue;
                            }
                            pos.insert(partition, fetched.next_offset);
                            any = true;
                            let msg = Fetch::Data {
                                topic: topic.clone(),
                                partition,
                                fetched,
                            };
                            if self.tx.send(msg).await.is_err() {
                                return Ok(());
                            }
                        }
                    }
                    Err(e) if e.code() == Some(runnel_kafka::ErrorCode::OffsetOutOfRange) => {
                        // Retention removed records not yet read: continue at the earliest.
                        eprintln!(
                            "runnel: table `{}`: {e}; continuing at the earliest offset",
                            self.config.table
                        );
                        let parts: Vec<i32> = positions.keys().copied().collect();
                        let earliest = client
                            .list_offsets(&topic, &parts, EARLIEST, self.config.isolation)
                            .await
                            .map_err(|e| e.to_string())?;
                        let pos = self.positions.get_mut(&topic).expect("topic");
                        for (p, o) in earliest {
                            if pos.get(&p).is_some_and(|cur| *cur < o) {
                                pos.insert(p, o);
                            }
                        }
                    }
                    Err(e) if e.is_retriable() => {
                        let since = *failing_since.get_or_insert_with(Instant::now);
                        if since.elapsed() > self.config.retry_for {
                            return Err(format!(
                                "{e} (retried for {} ms, 'properties.default.api.timeout.ms')",
                                self.config.retry_for.as_millis()
                            ));
                        }
                        eprintln!("runnel: table `{}`: {e}; retrying", self.config.table);
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                    Err(e) => return Err(e.to_string()),
                }
            }
            if !any {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }

    /// Start (and stop) offsets of partitions given with or without a position.
    async fn resolve(
        &mut self,
        client: &mut Client,
        parts: Vec<((String, i32), Option<i64>)>,
        use_startup: bool,
    ) -> std::result::Result<Vec<((String, i32), i64, Option<i64>)>, ResolveError> {
        let mut by_topic: BTreeMap<String, Vec<(i32, Option<i64>)>> = BTreeMap::new();
        for ((t, p), o) in parts {
            by_topic.entry(t).or_default().push((p, o));
        }
        let iso = self.config.isolation;
        let mut out = Vec::new();
        for (topic, parts) in by_topic {
            let ids: Vec<i32> = parts.iter().map(|(p, _)| *p).collect();
            let unresolved: Vec<i32> = parts
                .iter()
                .filter(|(_, o)| o.is_none())
                .map(|(p, _)| *p)
                .collect();
            let mut start: HashMap<i32, i64> = parts
                .iter()
                .filter_map(|(p, o)| o.map(|o| (*p, o)))
                .collect();
            if !unresolved.is_empty() {
                let startup = if use_startup {
                    &self.config.startup
                } else {
                    &Startup::Earliest
                };
                let found = match startup {
                    Startup::Earliest => {
                        client
                            .list_offsets(&topic, &unresolved, EARLIEST, iso)
                            .await?
                    }
                    Startup::Latest => {
                        client
                            .list_offsets(&topic, &unresolved, LATEST, iso)
                            .await?
                    }
                    Startup::Timestamp(ts) => {
                        client.list_offsets(&topic, &unresolved, *ts, iso).await?
                    }
                    Startup::Specific(map) => {
                        let mut m = client
                            .list_offsets(&topic, &unresolved, EARLIEST, iso)
                            .await?;
                        for p in &unresolved {
                            if let Some(o) = map.get(&(topic.clone(), *p)) {
                                m.insert(*p, *o);
                            }
                        }
                        m
                    }
                    Startup::GroupOffsets { reset } => {
                        let group = self
                            .config
                            .group_id
                            .as_deref()
                            .expect("checked at plan time");
                        let committed =
                            client.committed_offsets(group, &topic, &unresolved).await?;
                        let missing: Vec<i32> = unresolved
                            .iter()
                            .filter(|p| committed.get(p).copied().flatten().is_none())
                            .copied()
                            .collect();
                        let mut m: HashMap<i32, i64> = committed
                            .into_iter()
                            .filter_map(|(p, o)| o.map(|o| (p, o)))
                            .collect();
                        if !missing.is_empty() {
                            let Some(reset) = reset else {
                                return Err(ResolveError::NoGroupOffset(format!(
                                    "consumer group '{group}' has no committed offset for \
                                     '{topic}' partition(s) {missing:?}; set \
                                     'properties.auto.offset.reset' to 'earliest' or 'latest'"
                                )));
                            };
                            m.extend(client.list_offsets(&topic, &missing, *reset, iso).await?);
                        }
                        m
                    }
                };
                start.extend(found);
            }
            let stops: HashMap<i32, i64> = match &self.config.bounded {
                Bounded::Unbounded => HashMap::new(),
                Bounded::Latest => client.list_offsets(&topic, &ids, LATEST, iso).await?,
                Bounded::Timestamp(ts) => client.list_offsets(&topic, &ids, *ts, iso).await?,
                Bounded::GroupOffsets => {
                    let group = self
                        .config
                        .group_id
                        .as_deref()
                        .expect("checked at plan time");
                    let committed = client.committed_offsets(group, &topic, &ids).await?;
                    let latest = client.list_offsets(&topic, &ids, LATEST, iso).await?;
                    ids.iter()
                        .map(|p| (*p, committed.get(p).copied().flatten().unwrap_or(latest[p])))
                        .collect()
                }
            };
            for p in ids {
                let s = start.get(&p).copied().unwrap_or(0);
                self.positions
                    .entry(topic.clone())
                    .or_default()
                    .insert(p, s);
                let stop = stops.get(&p).copied();
                if let Some(e) = stop {
                    self.stops.insert((topic.clone(), p), e);
                }
                out.push(((topic.clone(), p), s, stop));
            }
        }
        Ok(out)
    }
}
