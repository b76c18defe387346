//! Writing: per-partition record batches sent to leaders, optionally inside a transaction
//! whose id, producer id and epoch can be stored so that another process commits it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::ResponseError;
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::messages::{
    AddPartitionsToTxnRequest, EndTxnRequest, InitProducerIdRequest, ProduceRequest, ProducerId,
    TopicName, TransactionalId,
    add_partitions_to_txn_request::AddPartitionsToTxnTopic,
    produce_request::{PartitionProduceData, TopicProduceData},
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use crate::client::Client;
use crate::error::{Error, Result, check};

/// How a write is acknowledged and whether it is part of a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Acks {
    /// The leader wrote it (`acks=1`).
    Leader,
    /// All in-sync replicas wrote it (`acks=all`).
    All,
}

/// A transaction that was flushed but not finished, as stored in a checkpoint: enough to
/// commit or abort it from any process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingTransaction {
    /// The `transactional.id`.
    pub transactional_id: String,
    /// The producer id the coordinator gave it.
    pub producer_id: i64,
    /// The producer epoch of the transaction.
    pub producer_epoch: i16,
}

struct Txn {
    id: String,
    producer_id: i64,
    epoch: i16,
    coordinator: String,
    /// Partitions already registered with the coordinator in this transaction.
    added: HashSet<(String, i32)>,
}

/// A producer: records are buffered per partition and sent by [`flush`](Producer::flush).
pub struct Producer {
    client: Client,
    acks: Acks,
    compression: Compression,
    txn: Option<Txn>,
    /// Records waiting for [`flush`](Self::flush), by topic and partition (looked up by
    /// `&str`, so buffering a record allocates no topic name).
    buffers: BTreeMap<String, BTreeMap<i32, Vec<Record>>>,
    buffered_bytes: usize,
    sequences: HashMap<(String, i32), i32>,
    timeout: Duration,
}

impl Producer {
    /// A producer without transactions.
    pub fn new(client: Client, acks: Acks, compression: Compression) -> Self {
        let timeout = client.config().request_timeout;
        Producer {
            client,
            acks,
            compression,
            txn: None,
            buffers: BTreeMap::new(),
            buffered_bytes: 0,
            sequences: HashMap::new(),
            timeout,
        }
    }

    /// The client, for metadata.
    pub fn client(&mut self) -> &mut Client {
        &mut self.client
    }

    /// Starts a transaction under `transactional_id`. The coordinator fences earlier
    /// producers of the id and aborts a transaction they left open.
    pub async fn begin(&mut self, transactional_id: &str, timeout_ms: i32) -> Result<()> {
        assert!(
            self.buffers.is_empty(),
            "records buffered outside a transaction"
        );
        let (producer_id, epoch, coordinator) =
            init_producer_id(&mut self.client, transactional_id, timeout_ms).await?;
        self.txn = Some(Txn {
            id: transactional_id.to_string(),
            producer_id,
            epoch,
            coordinator,
            added: HashSet::new(),
        });
        self.sequences.clear();
        Ok(())
    }

    /// Buffers one record for `topic`/`partition`.
    pub fn send(
        &mut self,
        topic: &str,
        partition: i32,
        key: Option<Bytes>,
        value: Option<Bytes>,
        timestamp: i64,
    ) {
        self.send_with_headers(topic, partition, key, value, timestamp, Vec::new());
    }

    /// Buffers one record with headers.
    pub fn send_with_headers(
        &mut self,
        topic: &str,
        partition: i32,
        key: Option<Bytes>,
        value: Option<Bytes>,
        timestamp: i64,
        headers: Vec<(String, Option<Bytes>)>,
    ) {
        self.buffered_bytes += headers
            .iter()
            .map(|(k, v)| k.len() + v.as_ref().map_or(0, |v| v.len()))
            .sum::<usize>();
        self.buffered_bytes +=
            key.as_ref().map_or(0, |k| k.len()) + value.as_ref().map_or(0, |v| v.len()) + 16;
        let (producer_id, epoch, transactional) = match &self.txn {
            Some(t) => (t.producer_id, t.epoch, true),
            None => (-1, -1, false),
        };
        if !self.buffers.contains_key(topic) {
            self.buffers.insert(topic.to_string(), BTreeMap::new());
        }
        let buf = self
            .buffers
            .get_mut(topic)
            .expect("inserted above")
            .entry(partition)
            .or_default();
        buf.push(Record {
            transactional,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id,
            producer_epoch: epoch,
            timestamp_type: TimestampType::Creation,
            offset: buf.len() as i64,
            // One batch per partition needs `offset - sequence` constant; without a producer
            // id the batch's base sequence must be -1. (Transactions renumber at flush.)
            sequence: buf.len() as i32 - 1,
            timestamp,
            key,
            value,
            headers: headers
                .into_iter()
                .map(|(k, v)| (StrBytes::from_string(k), v))
                .collect::<IndexMap<_, _>>(),
        });
    }

    /// Bytes waiting for [`flush`](Self::flush).
    pub fn buffered_bytes(&self) -> usize {
        self.buffered_bytes
    }

    /// Sends everything buffered and waits for the acknowledgements.
    pub async fn flush(&mut self) -> Result<()> {
        if self.buffers.is_empty() {
            return Ok(());
        }
        let deadline = tokio::time::Instant::now() + self.timeout;
        let mut batches: BTreeMap<(String, i32), Bytes> = BTreeMap::new();
        let buffered = std::mem::take(&mut self.buffers)
            .into_iter()
            .flat_map(|(topic, parts)| {
                parts.into_iter().map(move |(p, r)| ((topic.clone(), p), r))
            });
        for ((topic, partition), mut records) in buffered {
            if self.txn.is_some() {
                let seq = self
                    .sequences
                    .entry((topic.clone(), partition))
                    .or_insert(0);
                for (i, r) in records.iter_mut().enumerate() {
                    r.sequence = seq.wrapping_add(i as i32);
                }
                *seq = seq.wrapping_add(records.len() as i32);
            }
            let mut buf = BytesMut::new();
            RecordBatchEncoder::encode(
                &mut buf,
                records.iter(),
                &RecordEncodeOptions {
                    version: 2,
                    compression: self.compression,
                },
            )
            .map_err(|e| Error::Protocol {
                addr: String::new(),
                message: format!("encoding records for {topic}-{partition}: {e}"),
            })?;
            batches.insert((topic, partition), buf.freeze());
        }
        self.buffered_bytes = 0;
        self.add_partitions(batches.keys().cloned().collect())
            .await?;
        // Send each partition's batch to its leader; retriable failures are sent again with
        // the same sequence numbers, which the broker deduplicates.
        while !batches.is_empty() {
            let mut by_leader: BTreeMap<i32, Vec<(String, i32)>> = BTreeMap::new();
            for (topic, partition) in batches.keys() {
                let leader = self.client.leader(topic, *partition).await?;
                by_leader
                    .entry(leader)
                    .or_default()
                    .push((topic.clone(), *partition));
            }
            let mut retry = None;
            for (leader, parts) in by_leader {
                match self.produce_to(leader, &parts, &batches).await {
                    Ok(done) => {
                        for key in done {
                            batches.remove(&key);
                        }
                    }
                    Err(e) if e.is_retriable() && tokio::time::Instant::now() < deadline => {
                        retry = Some(e);
                    }
                    Err(e) => return Err(e),
                }
            }
            if let Some(e) = retry {
                if tokio::time::Instant::now() >= deadline {
                    return Err(e);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                let topics: Vec<String> = batches.keys().map(|(t, _)| t.clone()).collect();
                let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
                let _ = self.client.refresh(Some(&topics)).await;
            }
        }
        Ok(())
    }

    /// Sends one request to `leader`; returns the partitions it accepted.
    async fn produce_to(
        &mut self,
        leader: i32,
        parts: &[(String, i32)],
        batches: &BTreeMap<(String, i32), Bytes>,
    ) -> Result<Vec<(String, i32)>> {
        let mut topics: BTreeMap<&str, Vec<PartitionProduceData>> = BTreeMap::new();
        for (topic, partition) in parts {
            topics.entry(topic).or_default().push(
                PartitionProduceData::default()
                    .with_index(*partition)
                    .with_records(Some(batches[&(topic.clone(), *partition)].clone())),
            );
        }
        let req = ProduceRequest::default()
            .with_transactional_id(
                self.txn
                    .as_ref()
                    .map(|t| TransactionalId(StrBytes::from_string(t.id.clone()))),
            )
            .with_acks(match self.acks {
                Acks::Leader => 1,
                Acks::All => -1,
            })
            .with_timeout_ms(self.timeout.as_millis() as i32)
            .with_topic_data(
                topics
                    .into_iter()
                    .map(|(t, p)| {
                        TopicProduceData::default()
                            .with_name(TopicName(StrBytes::from_string(t.to_string())))
                            .with_partition_data(p)
                    })
                    .collect(),
            );
        let addr = self.client.broker_addr(leader)?;
        let resp = self.client.call_at(&addr, &req).await?;
        let mut done = Vec::new();
        let mut failure = None;
        for t in resp.responses {
            let topic = t.name.0.to_string();
            for p in t.partition_responses {
                let err = check(p.error_code, "Produce", || {
                    let detail = p
                        .error_message
                        .as_ref()
                        .map(|m| format!(" ({})", m.as_str()))
                        .unwrap_or_default();
                    format!("to {topic}-{}{detail}", p.index)
                });
                match err {
                    Ok(()) => done.push((topic.clone(), p.index)),
                    // A retried batch the broker already has.
                    Err(e) if e.code() == Some(ResponseError::DuplicateSequenceNumber) => {
                        done.push((topic.clone(), p.index))
                    }
                    Err(e) => failure = Some(e),
                }
            }
        }
        match failure {
            Some(e) if done.is_empty() => Err(e),
            Some(e) if !e.is_retriable() => Err(e),
            _ => Ok(done),
        }
    }

    async fn add_partitions(&mut self, parts: Vec<(String, i32)>) -> Result<()> {
        let Some(txn) = &self.txn else {
            return Ok(());
        };
        let new: Vec<(String, i32)> = parts
            .into_iter()
            .filter(|p| !txn.added.contains(p))
            .collect();
        if new.is_empty() {
            return Ok(());
        }
        let mut topics: BTreeMap<String, Vec<i32>> = BTreeMap::new();
        for (t, p) in &new {
            topics.entry(t.clone()).or_default().push(*p);
        }
        let req = AddPartitionsToTxnRequest::default()
            .with_v3_and_below_transactional_id(TransactionalId(StrBytes::from_string(
                txn.id.clone(),
            )))
            .with_v3_and_below_producer_id(ProducerId(txn.producer_id))
            .with_v3_and_below_producer_epoch(txn.epoch)
            .with_v3_and_below_topics(
                topics
                    .into_iter()
                    .map(|(t, ps)| {
                        AddPartitionsToTxnTopic::default()
                            .with_name(TopicName(StrBytes::from_string(t)))
                            .with_partitions(ps)
                    })
                    .collect(),
            );
        let id = txn.id.clone();
        let coordinator = txn.coordinator.clone();
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            let resp = self.client.call_at(&coordinator, &req).await?;
            let mut failure = None;
            for t in &resp.results_by_topic_v3_and_below {
                for p in &t.results_by_partition {
                    if let Err(e) = check(p.partition_error_code, "AddPartitionsToTxn", || {
                        format!("for '{id}' on {}-{}", t.name.0.as_str(), p.partition_index)
                    }) {
                        failure.get_or_insert(e);
                    }
                }
            }
            match failure {
                None => break,
                Some(e) if e.is_retriable() && tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Some(e) => return Err(e),
            }
        }
        if let Some(txn) = &mut self.txn {
            txn.added.extend(new);
        }
        Ok(())
    }

    /// Flushes and returns the open transaction, to be finished later by
    /// [`end_transaction`] (this producer is done with it).
    /// A transaction that wrote nothing is left as it is (there is nothing to commit).
    pub async fn prepare(&mut self) -> Result<Option<PendingTransaction>> {
        self.flush().await?;
        Ok(self
            .txn
            .take()
            .filter(|t| !t.added.is_empty())
            .map(|t| PendingTransaction {
                transactional_id: t.id,
                producer_id: t.producer_id,
                producer_epoch: t.epoch,
            }))
    }
}

async fn init_producer_id(
    client: &mut Client,
    transactional_id: &str,
    timeout_ms: i32,
) -> Result<(i64, i16, String)> {
    retrying!(
        client,
        init_producer_id_once(client, transactional_id, timeout_ms).await
    )
}

async fn init_producer_id_once(
    client: &mut Client,
    transactional_id: &str,
    timeout_ms: i32,
) -> Result<(i64, i16, String)> {
    let coordinator = client.coordinator(transactional_id, 1).await?;
    let req = InitProducerIdRequest::default()
        .with_transactional_id(Some(TransactionalId(StrBytes::from_string(
            transactional_id.to_string(),
        ))))
        .with_transaction_timeout_ms(timeout_ms)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    let resp = client.call_at(&coordinator, &req).await?;
    check(resp.error_code, "InitProducerId", || {
        format!("for '{transactional_id}'")
    })?;
    Ok((resp.producer_id.0, resp.producer_epoch, coordinator))
}

/// Commits (or aborts) a transaction another producer flushed, as Flink's Kafka sink does on
/// recovery. Committing one that was already committed succeeds; one the coordinator
/// already aborted (it timed out) is an error naming the transaction.
pub async fn end_transaction(
    client: &mut Client,
    txn: &PendingTransaction,
    commit: bool,
) -> Result<()> {
    retrying!(client, end_transaction_once(client, txn, commit).await)
}

async fn end_transaction_once(
    client: &mut Client,
    txn: &PendingTransaction,
    commit: bool,
) -> Result<()> {
    let req = EndTxnRequest::default()
        .with_transactional_id(TransactionalId(StrBytes::from_string(
            txn.transactional_id.clone(),
        )))
        .with_producer_id(ProducerId(txn.producer_id))
        .with_producer_epoch(txn.producer_epoch)
        .with_committed(commit);
    let coordinator = client.coordinator(&txn.transactional_id, 1).await?;
    let resp = client.call_at(&coordinator, &req).await?;
    check(resp.error_code, "EndTxn", || {
        format!(
            "{} of transaction '{}' (producer id {}, epoch {})",
            if commit { "commit" } else { "abort" },
            txn.transactional_id,
            txn.producer_id,
            txn.producer_epoch
        )
    })
}

/// Fences `transactional_id`: aborts a transaction it left open. Returns the new epoch; 0
/// means the id had never been used (nothing can linger under it or later ids).
pub async fn abort_lingering(client: &mut Client, transactional_id: &str) -> Result<i16> {
    let (_, epoch, _) = init_producer_id(client, transactional_id, 60_000).await?;
    Ok(epoch)
}
