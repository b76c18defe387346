//! The Kafka source: each subtask owns a share of the partitions (Flink's assignment), reads
//! them through a fetcher task, and snapshots the next offset of each partition it emitted,
//! so a restore at any parallelism resumes every partition exactly where the checkpoint was.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use arrow::array::{RecordBatch, UInt32Array};
use arrow::datatypes::SchemaRef;
use bytes::Bytes;
use regex::Regex;
use runnel_kafka::{ClientConfig, Fetched, Isolation};
use runnel_types::{ChangeBatch, RowKind};
use tokio::sync::mpsc;

use super::fetcher::{Command, Fetch, Fetcher};
use super::format::MessageDecoder;
use crate::checkpoint::{RestoredState, StateReader, StateWriter};
use crate::connectors::{Source, SourcePoll};
use crate::error::{Result, RunnelError};

/// Which topics a source reads.
#[derive(Clone, Debug)]
pub(super) enum Topics {
    /// `topic`: a fixed list.
    List(Vec<String>),
    /// `topic-pattern`: every topic whose whole name matches.
    Pattern(Regex),
}

/// Where a partition without a checkpointed offset starts (`scan.startup.mode`).
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Startup {
    Earliest,
    Latest,
    /// The group's committed offsets, or `reset` where it has none (None: an error).
    GroupOffsets {
        reset: Option<i64>,
    },
    Timestamp(i64),
    /// `partition:P,offset:O;...` (partitions not listed start at the earliest offset).
    Specific(HashMap<(String, i32), i64>),
}

/// Where reading stops (`scan.bounded.mode`); unbounded sources keep reading.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Bounded {
    Unbounded,
    Latest,
    Timestamp(i64),
    GroupOffsets,
}

/// Everything a source subtask needs, shared by all subtasks.
#[derive(Clone)]
pub(super) struct SourceConfig {
    pub table: String,
    pub client: ClientConfig,
    pub topics: Topics,
    pub group_id: Option<String>,
    pub startup: Startup,
    pub bounded: Bounded,
    pub isolation: Isolation,
    pub discovery: Option<Duration>,
    pub commit_on_checkpoint: bool,
    pub value: super::format::MessageFormat,
    pub value_schema: SchemaRef,
    /// Key columns: the key format and its schema, and where each table column comes from.
    pub key: Option<(super::format::MessageFormat, SchemaRef)>,
    /// Where each output column comes from.
    pub columns: Vec<ColumnSource>,
    pub schema: SchemaRef,
    /// `upsert-kafka`: a message is the latest row of its key (a null value deletes it).
    pub upsert: bool,
    /// How long an unreachable broker is retried.
    pub retry_for: Duration,
}

/// Where a table column of a Kafka source comes from.
#[derive(Clone, Copy, Debug)]
pub(super) enum ColumnSource {
    /// The i-th column of the decoded key.
    Key(usize),
    /// The i-th column of the decoded value.
    Value(usize),
    /// The record's metadata.
    Meta(super::metadata::Meta),
}

/// A partition this subtask reads.
#[derive(Clone, Debug)]
struct Split {
    /// The next offset to emit; None until the startup position is resolved.
    next: Option<i64>,
    /// Exclusive end for bounded reading (None: unbounded or not yet resolved).
    stop: Option<i64>,
    /// The end of the partition's log at its last fetch (its lag is `log_end - next`).
    log_end: Option<i64>,
}

/// Flink's partition owner: spreads each topic's partitions round robin over the readers,
/// starting at a topic-dependent reader (`KafkaSourceEnumerator.getSplitOwner`).
pub(super) fn owner(topic: &str, partition: i32, parallelism: u32) -> u32 {
    let hash = topic
        .encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32));
    let start = (hash.wrapping_mul(31) & 0x7fff_ffff) as u32 % parallelism;
    (start + partition as u32) % parallelism
}

pub(super) struct KafkaSource {
    config: SourceConfig,
    subtask: u32,
    parallelism: u32,
    splits: BTreeMap<(String, i32), Split>,
    value: MessageDecoder,
    key: Option<MessageDecoder>,
    ready: VecDeque<((String, i32), i64, ChangeBatch)>,
    /// `upsert-kafka`: the latest value of each key, per partition, to turn upserts into
    /// Flink's changelog (+I, -U/+U, -D).
    latest: HashMap<(String, i32), HashMap<Bytes, Bytes>>,
    /// Splits assigned but not yet announced to the watermark generator.
    announce: Vec<u32>,
    commands: Option<mpsc::UnboundedSender<Command>>,
    fetched: Option<mpsc::Receiver<Fetch>>,
    /// Offsets of the latest snapshot, committed to the group when a checkpoint completes.
    last_snapshot: Option<Vec<((String, i32), i64)>>,
    /// The first partition listing was handled (a reader may own no partition at all).
    listed: bool,
    /// Told downstream that this reader owns no partition (until it gets one).
    said_idle: bool,
    restored: bool,
}

impl KafkaSource {
    pub(super) fn new(config: SourceConfig, subtask: u32, parallelism: u32) -> Result<Self> {
        let value = config
            .value
            .decoder(&config.table, config.value_schema.clone())?;
        let key = match &config.key {
            Some((f, s)) => Some(f.decoder(&config.table, s.clone())?),
            None => None,
        };
        Ok(KafkaSource {
            config,
            subtask,
            parallelism,
            splits: BTreeMap::new(),
            value,
            key,
            ready: VecDeque::new(),
            latest: HashMap::new(),
            announce: Vec::new(),
            commands: None,
            fetched: None,
            last_snapshot: None,
            listed: false,
            said_idle: false,
            restored: false,
        })
    }

    /// Starts the fetcher on first use (inside the job's runtime), handing it the partitions
    /// restored from a checkpoint.
    fn start(&mut self) {
        let (commands, fetched) = Fetcher::spawn(self.config.clone());
        let restored: Vec<_> = self
            .splits
            .iter()
            .map(|(k, s)| (k.clone(), s.next))
            .collect();
        if !restored.is_empty() {
            let _ = commands.send(Command::Assign(restored, false));
        }
        self.commands = Some(commands);
        self.fetched = Some(fetched);
    }

    fn where_(topic: &str, partition: i32) -> String {
        format!("Kafka topic '{topic}' partition {partition}")
    }

    fn decode(&mut self, topic: &str, partition: i32, fetched: Fetched) -> Result<()> {
        let key = (topic.to_string(), partition);
        let Some(split) = self.splits.get_mut(&key) else {
            return Ok(());
        };
        split.log_end = Some(fetched.end_offset);
        let stop = split.stop;
        // Tombstones carry no row for an append-only table.
        let messages: Vec<_> = fetched
            .messages
            .into_iter()
            .filter(|m| stop.is_none_or(|s| m.offset < s))
            .collect();
        let mut end = fetched.next_offset;
        if let Some(s) = stop {
            end = end.min(s);
        }
        let where_ = Self::where_(topic, partition);
        for (i, chunk) in messages.chunks(runnel_formats::BATCH_SIZE).enumerate() {
            let last = (i + 1) * runnel_formats::BATCH_SIZE >= messages.len();
            let after = if last {
                end
            } else {
                chunk.last().expect("non-empty").offset + 1
            };
            let batch = if self.config.upsert {
                self.upserts(&key, chunk, &where_)?
            } else if self.config.value.is_changelog() {
                match self.value.decode_changes(chunk, &where_)? {
                    Some((changes, rows)) => {
                        let records: Vec<_> = rows.iter().map(|i| chunk[*i].clone()).collect();
                        let data = self.table_batch(&key, &records, None, &changes.data)?;
                        Some(ChangeBatch {
                            data,
                            kinds: changes.kinds,
                        })
                    }
                    None => None,
                }
            } else {
                // Tombstones carry no row for an append-only table.
                let present: Cow<[runnel_kafka::Message]> =
                    if chunk.iter().all(|m| m.value.is_some()) {
                        Cow::Borrowed(chunk)
                    } else {
                        Cow::Owned(
                            chunk
                                .iter()
                                .filter(|m| m.value.is_some())
                                .cloned()
                                .collect(),
                        )
                    };
                match self.value.decode(&present, |m| m.value.as_ref(), &where_)? {
                    Some(values) => self
                        .assemble(&key, &present, values, &where_)?
                        .map(ChangeBatch::inserts),
                    None => None,
                }
            };
            // With nothing to emit, the position still moves past these messages.
            let batch = batch.unwrap_or_else(|| self.empty());
            self.ready.push_back((key.clone(), after, batch));
        }
        if messages.is_empty() && end > split_next(&self.splits, &key) {
            let empty = self.empty();
            self.ready.push_back((key, end, empty));
        }
        Ok(())
    }

    fn empty(&self) -> ChangeBatch {
        ChangeBatch::inserts(RecordBatch::new_empty(self.config.schema.clone()))
    }

    /// Turns upserts of one partition into changes against the latest value of each key.
    fn upserts(
        &mut self,
        split: &(String, i32),
        messages: &[runnel_kafka::Message],
        where_: &str,
    ) -> Result<Option<ChangeBatch>> {
        let latest = self.latest.entry(split.clone()).or_default();
        let mut events = Vec::new();
        let mut kinds = Vec::new();
        let event = |m: &runnel_kafka::Message, key: &Bytes, value: &Bytes| runnel_kafka::Message {
            key: Some(key.clone()),
            value: Some(value.clone()),
            ..m.clone()
        };
        for m in messages {
            let Some(key) = &m.key else {
                return Err(RunnelError::Connector(format!(
                    "{where_} offset {}: an upsert-kafka message needs a key",
                    m.offset
                )));
            };
            match (&m.value, latest.get(key)) {
                (Some(v), Some(prev)) => {
                    events.push(event(m, key, prev));
                    events.push(event(m, key, v));
                    kinds.extend([RowKind::UpdateBefore, RowKind::UpdateAfter]);
                    latest.insert(key.clone(), v.clone());
                }
                (Some(v), None) => {
                    events.push(event(m, key, v));
                    kinds.push(RowKind::Insert);
                    latest.insert(key.clone(), v.clone());
                }
                (None, Some(prev)) => {
                    events.push(event(m, key, prev));
                    kinds.push(RowKind::Delete);
                    latest.remove(key);
                }
                (None, None) => {}
            }
        }
        let Some(values) = self.value.decode(&events, |m| m.value.as_ref(), where_)? else {
            return Ok(None);
        };
        let Some(rows) = self.assemble(split, &events, values, where_)? else {
            return Ok(None);
        };
        Ok(Some(ChangeBatch::with_kinds(rows, kinds)))
    }

    /// The messages whose values decoded into a row: with `ignore-parse-errors` a value that
    /// does not parse is dropped, and keys and metadata must follow their own rows.
    fn survivors<'m>(
        &mut self,
        messages: &'m [runnel_kafka::Message],
        values: RecordBatch,
        where_: &str,
    ) -> Result<(Cow<'m, [runnel_kafka::Message]>, RecordBatch)> {
        if values.num_rows() == messages.len() {
            return Ok((Cow::Borrowed(messages), values));
        }
        let mut kept = Vec::new();
        let mut batches = Vec::new();
        for m in messages {
            if let Some(b) =
                self.value
                    .decode(std::slice::from_ref(m), |m| m.value.as_ref(), where_)?
                && b.num_rows() == 1
            {
                kept.push(m.clone());
                batches.push(b);
            }
        }
        let values = arrow::compute::concat_batches(&values.schema(), &batches)?;
        Ok((Cow::Owned(kept), values))
    }

    /// Puts key, value and metadata columns in table order; `messages` are the rows'
    /// records, one per row of `values`.
    fn assemble(
        &mut self,
        split: &(String, i32),
        messages: &[runnel_kafka::Message],
        values: RecordBatch,
        where_: &str,
    ) -> Result<Option<RecordBatch>> {
        let needs_rows = self.key.is_some()
            || self
                .config
                .columns
                .iter()
                .any(|c| matches!(c, ColumnSource::Meta(_)));
        let (messages, values) = if needs_rows {
            self.survivors(messages, values, where_)?
        } else {
            (Cow::Borrowed(&[][..]), values)
        };
        let keys = match &mut self.key {
            None => None,
            Some(d) => {
                let with_key: Vec<_> = messages
                    .iter()
                    .filter(|m| m.key.is_some())
                    .cloned()
                    .collect();
                let decoded = d.decode(&with_key, |m| m.key.as_ref(), where_)?;
                let decoded = match decoded {
                    Some(b) if b.num_rows() == with_key.len() => b,
                    _ if with_key.is_empty() => RecordBatch::new_empty(
                        self.config.key.as_ref().expect("key format").1.clone(),
                    ),
                    _ => {
                        return Err(RunnelError::Connector(format!(
                            "{where_}: a message key could not be decoded"
                        )));
                    }
                };
                // Messages without a key get NULL key columns.
                let mut row = 0u32;
                let idx: UInt32Array = messages
                    .iter()
                    .map(|m| {
                        m.key.is_some().then(|| {
                            row += 1;
                            row - 1
                        })
                    })
                    .collect();
                let cols = decoded
                    .columns()
                    .iter()
                    .map(|c| arrow::compute::take(c, &idx, None))
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                Some(cols)
            }
        };
        self.table_batch(split, &messages, keys.as_deref(), &values)
            .map(Some)
    }

    /// The table's columns from decoded keys and values and the rows' records.
    fn table_batch(
        &self,
        split: &(String, i32),
        messages: &[runnel_kafka::Message],
        keys: Option<&[arrow::array::ArrayRef]>,
        values: &RecordBatch,
    ) -> Result<RecordBatch> {
        let schema = &self.config.schema;
        let columns = self
            .config
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| match c {
                ColumnSource::Key(k) => Ok(keys.expect("key columns decoded")[*k].clone()),
                ColumnSource::Value(v) => Ok(values.column(*v).clone()),
                ColumnSource::Meta(m) => m.column(
                    &split.0,
                    split.1,
                    messages.iter(),
                    schema.field(i).data_type(),
                ),
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(RecordBatch::try_new(schema.clone(), columns)?)
    }

    fn on_fetch(&mut self, f: Fetch) -> Result<()> {
        match f {
            Fetch::Data {
                topic,
                partition,
                fetched,
            } => self.decode(&topic, partition, fetched),
            Fetch::Resolved(parts) => {
                for (key, start, stop) in parts {
                    self.announce.push(split_id(&key));
                    let split = self.splits.entry(key).or_insert(Split {
                        next: None,
                        stop: None,
                        log_end: None,
                    });
                    split.next.get_or_insert(start);
                    split.stop = stop;
                }
                Ok(())
            }
            Fetch::Discovered(parts) => {
                // Partitions of the first listing of a fresh start begin at the startup
                // mode; any found later (or after a restore) at their earliest offset.
                let initial = !self.listed && !self.restored;
                self.listed = true;
                let new: Vec<_> = parts
                    .into_iter()
                    .filter(|(t, p)| owner(t, *p, self.parallelism) == self.subtask)
                    .filter(|k| !self.splits.contains_key(k))
                    .collect();
                if new.is_empty() {
                    return Ok(());
                }
                for k in &new {
                    self.splits.insert(
                        k.clone(),
                        Split {
                            next: None,
                            stop: None,
                            log_end: None,
                        },
                    );
                }
                if let Some(c) = &self.commands {
                    let _ = c.send(Command::Assign(
                        new.into_iter().map(|k| (k, None)).collect(),
                        initial,
                    ));
                }
                Ok(())
            }
            Fetch::Failed(e) => Err(RunnelError::Connector(format!(
                "table `{}`: {e}",
                self.config.table
            ))),
        }
    }

    fn finished(&self) -> bool {
        self.config.bounded != Bounded::Unbounded
            && self.listed
            && self.ready.is_empty()
            && self
                .splits
                .values()
                .all(|s| matches!((s.next, s.stop), (Some(n), Some(e)) if n >= e))
    }
}

fn split_next(splits: &BTreeMap<(String, i32), Split>, key: &(String, i32)) -> i64 {
    splits.get(key).and_then(|s| s.next).unwrap_or(i64::MIN)
}

impl Source for KafkaSource {
    fn pending_records(&self) -> Option<u64> {
        let mut known = false;
        let mut pending = 0u64;
        for s in self.splits.values() {
            if let (Some(next), Some(end)) = (s.next, s.log_end) {
                let end = s.stop.map_or(end, |stop| end.min(stop));
                pending += end.saturating_sub(next).max(0) as u64;
                known = true;
            }
        }
        known.then_some(pending)
    }

    fn poll_next(&mut self) -> Result<SourcePoll> {
        if self.fetched.is_none() {
            self.start();
        }
        loop {
            if let Some(split) = self.announce.pop() {
                return Ok(SourcePoll::Split(split));
            }
            if let Some((key, after, batch)) = self.ready.pop_front() {
                if let Some(s) = self.splits.get_mut(&key) {
                    s.next = Some(after);
                }
                if batch.num_rows() == 0 {
                    continue;
                }
                return Ok(SourcePoll::SplitBatch(split_id(&key), batch));
            }
            if self.finished() {
                return Ok(SourcePoll::End);
            }
            if self.listed && self.splits.is_empty() && !self.said_idle {
                self.said_idle = true;
                return Ok(SourcePoll::Idle);
            }
            let rx = self.fetched.as_mut().expect("started above");
            match rx.try_recv() {
                Ok(f) => self.on_fetch(f)?,
                Err(mpsc::error::TryRecvError::Empty) => {
                    return Ok(SourcePoll::Wait(Duration::from_millis(5)));
                }
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    return Err(RunnelError::Connector(format!(
                        "table `{}`: the Kafka fetcher stopped",
                        self.config.table
                    )));
                }
            }
        }
    }

    fn snapshot(&mut self) -> Result<Vec<Vec<u8>>> {
        let mut offsets = Vec::new();
        let entries = self
            .splits
            .iter()
            .map(|((topic, partition), s)| {
                if let Some(n) = s.next {
                    offsets.push(((topic.clone(), *partition), n));
                }
                let mut w = StateWriter::default();
                w.u64(0);
                w.bytes(topic.as_bytes());
                w.i64(*partition as i64);
                w.i64(s.next.unwrap_or(i64::MIN));
                w.into_bytes()
            })
            .collect::<Vec<_>>();
        let mut entries = entries;
        for ((topic, partition), rows) in &self.latest {
            for (k, v) in rows {
                let mut w = StateWriter::default();
                w.u64(1);
                w.bytes(topic.as_bytes());
                w.i64(*partition as i64);
                w.bytes(k);
                w.bytes(v);
                entries.push(w.into_bytes());
            }
        }
        if self.config.commit_on_checkpoint && self.config.group_id.is_some() {
            self.last_snapshot = Some(offsets);
        }
        Ok(entries)
    }

    fn restore(&mut self, state: RestoredState) -> Result<()> {
        self.restored = !state.union.is_empty();
        for entry in &state.union {
            let mut r = StateReader::new(entry);
            let tag = r.u64()?;
            let topic = String::from_utf8_lossy(r.bytes()?).into_owned();
            let partition = r.i64()? as i32;
            let mine = owner(&topic, partition, self.parallelism) == self.subtask;
            match tag {
                0 => {
                    let next = r.i64()?;
                    if mine {
                        self.splits.insert(
                            (topic, partition),
                            Split {
                                next: (next != i64::MIN).then_some(next),
                                stop: None,
                                log_end: None,
                            },
                        );
                    }
                }
                1 => {
                    let key = Bytes::copy_from_slice(r.bytes()?);
                    let value = Bytes::copy_from_slice(r.bytes()?);
                    if mine {
                        self.latest
                            .entry((topic, partition))
                            .or_default()
                            .insert(key, value);
                    }
                }
                t => return Err(RunnelError::State(format!("Kafka source: entry tag {t}"))),
            }
            r.finish()?;
        }
        Ok(())
    }

    fn checkpoint_complete(&mut self, _checkpoint_id: u64) -> Result<()> {
        // Progress shown in the consumer group (not used for recovery, which reads the
        // checkpoint): the offsets of the latest snapshot taken.
        if let Some(offsets) = self.last_snapshot.take()
            && let Some(c) = &self.commands
        {
            let _ = c.send(Command::Commit(offsets));
        }
        Ok(())
    }
}

/// A stable id per partition for per-split watermarks.
fn split_id(key: &(String, i32)) -> u32 {
    let h = key.0.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ b as u32).wrapping_mul(0x0100_0193)
    });
    h ^ (key.1 as u32).wrapping_mul(0x9e37_79b9)
}
