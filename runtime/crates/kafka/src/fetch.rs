//! Reading partitions: Fetch requests per leader, record batches decoded, and (at
//! read_committed) records of aborted transactions and transaction markers left out.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use bytes::{Buf, Bytes};
use kafka_protocol::messages::{
    BrokerId, FetchRequest, TopicName,
    fetch_request::{FetchPartition, FetchTopic},
    fetch_response::AbortedTransaction,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::RecordBatchDecoder;

use crate::client::{Client, Isolation};
use crate::error::{Error, Result, check};

/// One message read from a partition.
#[derive(Clone, Debug)]
pub struct Message {
    /// Its offset in the partition.
    pub offset: i64,
    /// Its timestamp (create or log-append time), epoch milliseconds.
    pub timestamp: i64,
    /// The key, if any.
    pub key: Option<Bytes>,
    /// The value; `None` is a tombstone.
    pub value: Option<Bytes>,
    /// Whether `timestamp` was set by the broker (LogAppendTime) rather than the producer.
    pub log_append_time: bool,
    /// The partition leader epoch the record was written in (-1: unknown).
    pub leader_epoch: i32,
    /// The record's headers, in order.
    pub headers: Vec<(String, Option<Bytes>)>,
}

/// What one fetch returned for one partition.
#[derive(Debug, Default)]
pub struct Fetched {
    /// Messages in offset order.
    pub messages: Vec<Message>,
    /// Where the next fetch of this partition starts (past markers and skipped records).
    pub next_offset: i64,
    /// The partition's high watermark (end of the log for read_uncommitted readers; for
    /// read_committed the last stable offset is reported here instead).
    pub end_offset: i64,
}

/// The next offset to read of each partition of one topic.
pub type Positions = BTreeMap<i32, i64>;

/// Settings of fetches.
#[derive(Clone, Copy, Debug)]
pub struct FetchConfig {
    /// Which records are visible.
    pub isolation: Isolation,
    /// How long a broker may wait for data (`fetch.max.wait.ms`).
    pub max_wait: Duration,
    /// Bytes per partition per fetch (`max.partition.fetch.bytes`).
    pub partition_max_bytes: i32,
}

impl Default for FetchConfig {
    fn default() -> Self {
        FetchConfig {
            isolation: Isolation::ReadUncommitted,
            max_wait: Duration::from_millis(100),
            partition_max_bytes: 1 << 20,
        }
    }
}

impl Client {
    /// Reads from every partition of `positions` (of `topic`), once, from their leaders.
    /// Partitions whose leader moved are left out of the result (retry after a refresh).
    pub async fn fetch(
        &mut self,
        topic: &str,
        positions: &Positions,
        config: FetchConfig,
    ) -> Result<HashMap<i32, Fetched>> {
        let mut by_leader: HashMap<i32, Vec<(i32, i64)>> = HashMap::new();
        for (p, o) in positions {
            by_leader
                .entry(self.leader(topic, *p).await?)
                .or_default()
                .push((*p, *o));
        }
        let mut out = HashMap::new();
        let mut stale = false;
        for (leader, parts) in by_leader {
            let req = FetchRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_max_wait_ms(config.max_wait.as_millis() as i32)
                .with_min_bytes(1)
                .with_max_bytes(i32::MAX)
                .with_isolation_level(config.isolation.code())
                .with_session_epoch(-1)
                .with_topics(vec![
                    FetchTopic::default()
                        .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
                        .with_partitions(
                            parts
                                .iter()
                                .map(|(p, o)| {
                                    FetchPartition::default()
                                        .with_partition(*p)
                                        .with_current_leader_epoch(-1)
                                        .with_fetch_offset(*o)
                                        .with_last_fetched_epoch(-1)
                                        .with_log_start_offset(-1)
                                        .with_partition_max_bytes(config.partition_max_bytes)
                                })
                                .collect(),
                        ),
                ]);
            let addr = self.broker_addr(leader)?;
            let resp = self.call_at(&addr, &req).await?;
            check(resp.error_code, "Fetch", || {
                format!("of '{topic}' from {addr}")
            })?;
            for t in resp.responses {
                for p in t.partitions {
                    let Some(&(_, from)) = parts.iter().find(|(id, _)| *id == p.partition_index)
                    else {
                        continue;
                    };
                    if let Err(e) = check(p.error_code, "Fetch", || {
                        format!("of {topic}-{} at offset {from}", p.partition_index)
                    }) {
                        if e.is_retriable() {
                            stale = true;
                            continue;
                        }
                        return Err(e);
                    }
                    let end = if config.isolation == Isolation::ReadCommitted {
                        p.last_stable_offset
                    } else {
                        p.high_watermark
                    };
                    let fetched = decode_partition(
                        p.records.unwrap_or_default(),
                        from,
                        end,
                        config.isolation,
                        p.aborted_transactions.unwrap_or_default(),
                    )
                    .map_err(|message| Error::Protocol {
                        addr: addr.clone(),
                        message: format!("{topic}-{}: {message}", p.partition_index),
                    })?;
                    out.insert(p.partition_index, fetched);
                }
            }
        }
        if stale {
            self.refresh(Some(&[topic])).await?;
        }
        Ok(out)
    }
}

/// Record batch header fields read straight from the bytes (v2 layout).
struct BatchHeader {
    base_offset: i64,
    last_offset: i64,
    transactional: bool,
    control: bool,
    producer_id: i64,
    len: usize,
}

fn batch_header(b: &[u8]) -> Option<BatchHeader> {
    if b.len() < 61 {
        return None;
    }
    let i64_at = |i: usize| i64::from_be_bytes(b[i..i + 8].try_into().expect("8 bytes"));
    let i32_at = |i: usize| i32::from_be_bytes(b[i..i + 4].try_into().expect("4 bytes"));
    let base_offset = i64_at(0);
    let len = i32_at(8) as usize + 12;
    let attributes = i16::from_be_bytes([b[21], b[22]]);
    Some(BatchHeader {
        base_offset,
        last_offset: base_offset + i32_at(23) as i64,
        transactional: attributes & 0x10 != 0,
        control: attributes & 0x20 != 0,
        producer_id: i64_at(43),
        len,
    })
}

/// Decodes the complete batches of `records` (a fetch may end in a partial batch), dropping
/// what precedes `from` (a batch can start before the requested offset), control batches,
/// and at read_committed the batches of aborted transactions.
fn decode_partition(
    mut records: Bytes,
    from: i64,
    end: i64,
    isolation: Isolation,
    mut aborted: Vec<AbortedTransaction>,
) -> std::result::Result<Fetched, String> {
    aborted.sort_by_key(|a| a.first_offset);
    let mut aborted = aborted.into_iter().peekable();
    let mut aborting: HashSet<i64> = HashSet::new();
    let mut out = Fetched {
        messages: Vec::new(),
        next_offset: from,
        end_offset: end,
    };
    while let Some(h) = batch_header(&records) {
        if h.len > records.len() {
            break;
        }
        let mut batch = records.split_to(h.len);
        if h.last_offset < from {
            continue;
        }
        out.next_offset = out.next_offset.max(h.last_offset + 1);
        if isolation == Isolation::ReadCommitted {
            while let Some(a) = aborted.next_if(|a| a.first_offset <= h.last_offset) {
                aborting.insert(a.producer_id.0);
            }
            if h.control {
                // An abort marker ends the producer's aborted transaction.
                if control_type(&mut batch.clone()) == Some(0) {
                    aborting.remove(&h.producer_id);
                }
                continue;
            }
            if h.transactional && aborting.contains(&h.producer_id) {
                continue;
            }
        } else if h.control {
            continue;
        }
        let set = RecordBatchDecoder::decode(&mut batch)
            .map_err(|e| format!("record batch at offset {}: {e}", h.base_offset))?;
        out.messages.extend(
            set.records
                .into_iter()
                .filter(|r| r.offset >= from)
                .map(|r| Message {
                    offset: r.offset,
                    timestamp: r.timestamp,
                    key: r.key,
                    value: r.value,
                    log_append_time: r.timestamp_type
                        == kafka_protocol::records::TimestampType::LogAppend,
                    leader_epoch: r.partition_leader_epoch,
                    headers: r
                        .headers
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect(),
                }),
        );
    }
    Ok(out)
}

/// The type of a control batch's record (0 abort, 1 commit), from its key.
fn control_type(batch: &mut Bytes) -> Option<i16> {
    let set = RecordBatchDecoder::decode(batch).ok()?;
    let mut key = set.records.first()?.key.clone()?;
    if key.remaining() < 4 {
        return None;
    }
    let _version = key.get_i16();
    Some(key.get_i16())
}
