//! The Kafka sink with Flink's delivery guarantees. At `exactly-once` each subtask writes into
//! a Kafka transaction per checkpoint interval under `<prefix>-<subtask>-<checkpoint>`: the
//! barrier flushes it and stores its producer id and epoch in the checkpoint; the checkpoint's
//! completion commits it. A restore commits what the checkpoint holds (the crash may have
//! come between completion and commit) and aborts what the failed run left open after it.

use std::sync::Arc;

use arrow::array::{Array, RecordBatch};
use arrow::datatypes::SchemaRef;
use bytes::Bytes;
use runnel_kafka::{
    Acks, Client, ClientConfig, Compression, ErrorCode, PendingTransaction, Producer,
    abort_lingering, end_transaction, murmur2_partition,
};
use runnel_types::{ChangeBatch, RowKind};

use super::format::MessageEncoder;
use crate::checkpoint::{OperatorSnapshot, RestoredState, StateReader, StateWriter};
use crate::error::{Result, RunnelError};
use crate::execution::block_on;
use crate::operators::{Operator, Output};

/// `sink.delivery-guarantee`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Guarantee {
    None,
    AtLeastOnce,
    ExactlyOnce,
}

/// `sink.partitioner`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Partitioner {
    /// By key hash where there is a key (Kafka's default), else round robin.
    Default,
    /// Subtask i writes to partition i mod partitions.
    Fixed,
    RoundRobin,
}

#[derive(Clone)]
pub(super) struct SinkConfig {
    pub table: String,
    pub client: ClientConfig,
    pub topic: String,
    pub guarantee: Guarantee,
    pub transactional_id_prefix: Option<String>,
    pub transaction_timeout_ms: i32,
    pub compression: Compression,
    pub partitioner: Partitioner,
    pub value: super::format::MessageFormat,
    pub value_schema: SchemaRef,
    /// Columns of the value, in table order.
    pub value_columns: Vec<usize>,
    pub key: Option<(super::format::MessageFormat, SchemaRef, Vec<usize>)>,
    /// `upsert-kafka`: -U is dropped and -D becomes a tombstone (a null value).
    pub upsert: bool,
    /// How long an unreachable broker is retried.
    pub retry_for: std::time::Duration,
    /// The `timestamp` metadata column, which sets each record's timestamp.
    pub timestamp_column: Option<usize>,
    /// The `headers` metadata column (MAP<STRING, BYTES>), written as record headers.
    pub headers_column: Option<usize>,
}

impl SinkConfig {
    fn err(&self, e: impl std::fmt::Display) -> RunnelError {
        RunnelError::Connector(format!(
            "table `{}` (Kafka topic '{}'): {e}",
            self.table, self.topic
        ))
    }
}

/// Bytes buffered before a flush in the middle of a checkpoint interval.
const FLUSH_BYTES: usize = 4 << 20;

pub(super) struct KafkaSink {
    config: Arc<SinkConfig>,
    subtask: u32,
    parallelism: u32,
    value: MessageEncoder,
    key: Option<MessageEncoder>,
    producer: Option<Producer>,
    partitions: i32,
    round_robin: i32,
    /// Flushed transactions waiting for their checkpoint to complete.
    pending: Vec<(u64, PendingTransaction)>,
    /// The checkpoint the open transaction belongs to.
    txn_checkpoint: u64,
}

impl KafkaSink {
    pub(super) fn new(config: Arc<SinkConfig>, subtask: u32, parallelism: u32) -> Result<Self> {
        let value = config
            .value
            .encoder(&config.table, config.value_schema.clone())?;
        let key = match &config.key {
            Some((f, s, _)) => Some(f.encoder(&config.table, s.clone())?),
            None => None,
        };
        Ok(KafkaSink {
            config,
            subtask,
            parallelism,
            value,
            key,
            producer: None,
            partitions: 0,
            round_robin: subtask as i32,
            pending: Vec::new(),
            txn_checkpoint: 1,
        })
    }

    fn txn_id(&self, subtask: u32, checkpoint: u64) -> String {
        format!(
            "{}-{subtask}-{checkpoint}",
            self.config
                .transactional_id_prefix
                .as_deref()
                .expect("checked at plan time")
        )
    }

    /// Connects on first use; at exactly-once, first aborts what earlier runs left open.
    fn producer(&mut self) -> Result<&mut Producer> {
        if self.producer.is_none() {
            let config = self.config.clone();
            let mut client = block_on(super::connect(
                &config.table,
                &config.client,
                config.retry_for,
            ))
            .map_err(|e| self.config.err(e))?;
            self.partitions = block_on(client.partitions(&config.topic))
                .map_err(|e| self.config.err(e))?
                .len() as i32;
            let acks = match config.guarantee {
                Guarantee::None => Acks::Leader,
                _ => Acks::All,
            };
            let mut producer = Producer::new(client, acks, config.compression);
            if config.guarantee == Guarantee::ExactlyOnce {
                self.abort_lingering(producer.client())?;
                let id = self.txn_id(self.subtask, self.txn_checkpoint);
                block_on(producer.begin(&id, config.transaction_timeout_ms))
                    .map_err(|e| self.config.err(e))?;
            }
            self.producer = Some(producer);
        }
        Ok(self.producer.as_mut().expect("created above"))
    }

    /// Fences the ids this subtask (and subtasks beyond the current parallelism, which no
    /// longer exist) may have used after the restored checkpoint, aborting their open
    /// transactions. Ids are tried upward until one was never used.
    fn abort_lingering(&self, client: &mut Client) -> Result<()> {
        let mut subtask = self.subtask;
        loop {
            let mut checkpoint = self.txn_checkpoint;
            loop {
                let id = self.txn_id(subtask, checkpoint);
                let epoch =
                    block_on(abort_lingering(client, &id)).map_err(|e| self.config.err(e))?;
                if epoch == 0 {
                    break;
                }
                checkpoint += 1;
            }
            // A subtask id beyond ours was in use if its first id was.
            subtask += self.parallelism;
            let probe = self.txn_id(subtask, self.txn_checkpoint);
            if block_on(abort_lingering(client, &probe)).map_err(|e| self.config.err(e))? == 0 {
                return Ok(());
            }
        }
    }

    fn commit_due(&mut self, upto: u64) -> Result<()> {
        let due: Vec<_> = self
            .pending
            .iter()
            .filter(|(c, _)| *c <= upto)
            .cloned()
            .collect();
        if due.is_empty() {
            return Ok(());
        }
        let producer = self.producer()?;
        for (_, txn) in &due {
            block_on(end_transaction(producer.client(), txn, true)).map_err(|e| {
                RunnelError::Connector(format!(
                    "Kafka sink: committing transaction '{}': {e} (a transaction is aborted by \
                     the broker after 'properties.transaction.timeout.ms'; a job down longer \
                     than that loses the output of its last checkpoint)",
                    txn.transactional_id
                ))
            })?;
        }
        self.pending.retain(|(c, _)| *c > upto);
        Ok(())
    }

    fn partition_of(&mut self, key: Option<&Bytes>) -> i32 {
        match (self.config.partitioner, key) {
            (Partitioner::Fixed, _) => self.subtask as i32 % self.partitions,
            (Partitioner::Default, Some(k)) => murmur2_partition(k, self.partitions),
            _ => {
                self.round_robin = (self.round_robin + 1) % self.partitions;
                self.round_robin
            }
        }
    }
}

fn project(batch: &RecordBatch, schema: &SchemaRef, cols: &[usize]) -> Result<RecordBatch> {
    Ok(RecordBatch::try_new(
        schema.clone(),
        cols.iter().map(|i| batch.column(*i).clone()).collect(),
    )?)
}

impl Operator for KafkaSink {
    fn on_batch(&mut self, _input: usize, batch: ChangeBatch, _out: &mut Output) -> Result<()> {
        let data = &batch.data;
        let values = project(data, &self.config.value_schema, &self.config.value_columns)?;
        let values = self.value.encode_changes(&batch, &values)?;
        let keys = match (&mut self.key, &self.config.key) {
            (Some(enc), Some((_, schema, cols))) => {
                Some(enc.encode(&project(data, schema, cols)?)?)
            }
            _ => None,
        };
        self.producer()?;
        let now = chrono::Utc::now().timestamp_millis();
        // A `timestamp` metadata column sets the records' timestamps (NULL: the write time).
        let stamps = match self.config.timestamp_column {
            // Epoch milliseconds whatever the column's zone (TIMESTAMP_LTZ(3)).
            Some(c) => Some(
                arrow::compute::cast(data.column(c), &arrow::datatypes::DataType::Int64)?
                    .as_any()
                    .downcast_ref::<arrow::array::Int64Array>()
                    .expect("cast to BIGINT")
                    .clone(),
            ),
            None => None,
        };
        let headers = self.config.headers_column.map(|c| {
            data.column(c)
                .as_any()
                .downcast_ref::<arrow::array::MapArray>()
                .expect("MAP<STRING, BYTES>, checked at plan time")
                .clone()
        });
        let config = self.config.clone();
        for (i, value) in values.into_iter().enumerate() {
            let ts = stamps
                .as_ref()
                .and_then(|s| s.is_valid(i).then(|| s.value(i)))
                .unwrap_or(now);
            let value = match (config.upsert, batch.kind(i)) {
                (true, RowKind::UpdateBefore) => continue,
                (true, RowKind::Delete) => None,
                _ => value,
            };
            let key = keys.as_ref().and_then(|k| k[i].clone());
            let partition = self.partition_of(key.as_ref());
            self.producer
                .as_mut()
                .expect("connected above")
                .send_with_headers(
                    &config.topic,
                    partition,
                    key,
                    value,
                    ts,
                    headers
                        .as_ref()
                        .map(|h| super::metadata::headers_of(h, i))
                        .unwrap_or_default(),
                );
        }
        // Without transactions every batch is sent at once (nothing else would send it on an
        // idle stream); inside one, the checkpoint barrier flushes and this bounds memory.
        let producer = self.producer.as_mut().expect("connected above");
        if self.config.guarantee != Guarantee::ExactlyOnce
            || producer.buffered_bytes() >= FLUSH_BYTES
        {
            block_on(producer.flush()).map_err(|e| self.config.err(e))?;
        }
        Ok(())
    }

    fn on_watermark(&mut self, _watermark: i64, _out: &mut Output) -> Result<()> {
        Ok(())
    }

    fn on_end(&mut self, _out: &mut Output) -> Result<()> {
        if let Some(p) = &mut self.producer {
            block_on(p.flush()).map_err(|e| self.config.err(e))?;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        if self.config.guarantee == Guarantee::ExactlyOnce {
            let checkpoint = self.txn_checkpoint;
            let producer = self.producer()?;
            if let Some(txn) = block_on(producer.prepare()).map_err(|e| self.config.err(e))? {
                self.pending.push((checkpoint, txn));
            }
            self.commit_due(u64::MAX)?;
        }
        Ok(())
    }

    fn snapshot(&mut self, checkpoint_id: u64, snap: &mut OperatorSnapshot) -> Result<()> {
        match self.config.guarantee {
            Guarantee::None => {}
            Guarantee::AtLeastOnce => {
                if let Some(p) = &mut self.producer {
                    block_on(p.flush()).map_err(|e| self.config.err(e))?;
                }
            }
            Guarantee::ExactlyOnce => {
                let timeout = self.config.transaction_timeout_ms;
                let next = self.txn_id(self.subtask, checkpoint_id + 1);
                self.producer()?;
                let producer = self.producer.as_mut().expect("connected above");
                let prepared = block_on(producer.prepare()).map_err(|e| self.config.err(e))?;
                block_on(producer.begin(&next, timeout)).map_err(|e| self.config.err(e))?;
                if let Some(txn) = prepared {
                    self.pending.push((checkpoint_id, txn));
                }
                self.txn_checkpoint = checkpoint_id + 1;
                let mut w = StateWriter::default();
                w.u64(0);
                w.u64(checkpoint_id);
                snap.add_operator_entry(w.into_bytes());
                for (c, txn) in &self.pending {
                    let mut w = StateWriter::default();
                    w.u64(1);
                    w.u64(*c);
                    w.bytes(txn.transactional_id.as_bytes());
                    w.i64(txn.producer_id);
                    w.i64(txn.producer_epoch as i64);
                    snap.add_operator_entry(w.into_bytes());
                }
            }
        }
        Ok(())
    }

    fn checkpoint_complete(&mut self, checkpoint_id: u64) -> Result<()> {
        self.commit_due(checkpoint_id)
    }

    fn restore(&mut self, state: RestoredState) -> Result<()> {
        // Each transaction entry goes to one subtask, which commits it; every subtask learns
        // the checkpoint from the union to continue its ids after it.
        for entry in &state.union {
            let mut r = StateReader::new(entry);
            if r.u64()? == 0 {
                self.txn_checkpoint = self.txn_checkpoint.max(r.u64()? + 1);
            }
        }
        let mut restored = Vec::new();
        for entry in &state.operator {
            let mut r = StateReader::new(entry);
            match r.u64()? {
                0 => continue,
                1 => {
                    let c = r.u64()?;
                    let txn = PendingTransaction {
                        transactional_id: String::from_utf8_lossy(r.bytes()?).into_owned(),
                        producer_id: r.i64()?,
                        producer_epoch: r.i64()? as i16,
                    };
                    r.finish()?;
                    restored.push((c, txn));
                }
                t => return Err(RunnelError::State(format!("Kafka sink: entry tag {t}"))),
            }
        }
        // Everything in a completed checkpoint is due; commit before aborting later ids.
        let config = self.config.clone();
        if !restored.is_empty() {
            let mut client = block_on(super::connect(
                &config.table,
                &config.client,
                config.retry_for,
            ))
            .map_err(|e| self.config.err(e))?;
            for (_, txn) in &restored {
                match block_on(end_transaction(&mut client, txn, true)) {
                    Ok(()) => {}
                    // The id moved on: the transaction was finished before (committed by the
                    // run that took the checkpoint, or aborted by the broker's timeout).
                    Err(e)
                        if matches!(
                            e.code(),
                            Some(
                                ErrorCode::ProducerFenced
                                    | ErrorCode::InvalidProducerEpoch
                                    | ErrorCode::InvalidProducerIdMapping
                                    | ErrorCode::InvalidTxnState
                            )
                        ) =>
                    {
                        eprintln!(
                            "runnel: table `{}`: transaction '{}' of the restored checkpoint was \
                             already finished ({e}); if the job was down longer than \
                             'properties.transaction.timeout.ms', its output was aborted",
                            config.table, txn.transactional_id
                        );
                    }
                    Err(e) => {
                        return Err(RunnelError::Connector(format!(
                            "Kafka sink: committing transaction '{}' of the restored checkpoint: {e}",
                            txn.transactional_id
                        )));
                    }
                }
            }
        }
        Ok(())
    }
}
