//! Connectors: where records enter and leave a job, chosen by a table's `'connector'` option
//! with Flink's names and option keys.

mod blackhole;
mod datagen;
mod filesystem;
mod kafka;
mod nexmark;
mod options;
mod print;

use std::sync::Arc;
use std::time::Duration;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use runnel_types::ChangeBatch;

pub use options::{TableOptions, parse_duration};

use crate::dataflow::{OperatorFactory, SourceFactory};
use crate::error::{Result, RunnelError};

/// What a source reader has for its task right now.
pub enum SourcePoll {
    /// Rows read.
    Batch(RecordBatch),
    /// Rows read from one split (a Kafka partition): watermarks are generated per split and
    /// combined by taking the minimum, as Flink does for its sources.
    SplitBatch(u32, ChangeBatch),
    /// A split was assigned to this reader: until it has data, it holds the watermark back.
    Split(u32),
    /// This reader has no split to read for now: downstream leaves it out of the watermark
    /// until it reads again (Flink marks such readers idle).
    Idle,
    /// Nothing yet; ask again after this long (rate limits, unbounded inputs).
    Wait(Duration),
    /// The (bounded) input is exhausted.
    End,
}

/// One subtask's reader of a source table.
pub trait Source: Send {
    /// Reads the next rows.
    fn poll_next(&mut self) -> Result<SourcePoll>;

    /// Its position at a checkpoint, as operator list-state entries (one per split), so a
    /// restore at another parallelism can hand splits to other readers.
    fn snapshot(&mut self) -> Result<Vec<Vec<u8>>> {
        Ok(Vec::new())
    }

    /// Resumes from what `snapshot` wrote: this reader's share of the entries, and all of them.
    fn restore(&mut self, state: crate::checkpoint::RestoredState) -> Result<()> {
        if state.union.is_empty() {
            Ok(())
        } else {
            Err(RunnelError::State(
                "this source cannot resume from a checkpoint".into(),
            ))
        }
    }

    /// Records it has not read yet (Flink's `pendingRecords`: the lag behind the end of a
    /// Kafka partition, what a bounded generator has still to make); `None` when unknown.
    fn pending_records(&self) -> Option<u64> {
        None
    }

    /// Checkpoint `id` completed (sources that acknowledge upstream do it here).
    fn checkpoint_complete(&mut self, _checkpoint_id: u64) -> Result<()> {
        Ok(())
    }
}

/// How a sink wants its input: Flink's changelog modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SinkMode {
    /// Inserts only; an updating input is refused at plan time.
    AppendOnly,
    /// Every row kind, written as it comes (print, blackhole).
    AllChanges,
}

/// A planned source: the factory for its readers and the schema it produces.
pub struct SourceSpec {
    /// Schema of the physical columns read (before computed columns).
    pub schema: SchemaRef,
    /// Makes one reader per subtask.
    pub factory: SourceFactory,
    /// Whether the source ends by itself.
    pub bounded: bool,
    /// Parallelism the source wants regardless of the job's (e.g. a single file), if any.
    pub max_parallelism: Option<u32>,
    /// Whether it reads a changelog (updates and deletes), not only inserts.
    pub updating: bool,
}

/// A planned sink: the operator that writes, and what changes it accepts.
pub struct SinkSpec {
    /// Makes one writer operator per subtask.
    pub factory: OperatorFactory,
    /// Accepted changelog.
    pub mode: SinkMode,
}

/// What a table declares besides its columns and options.
#[derive(Clone, Copy, Debug, Default)]
pub struct TableKeys<'a> {
    /// `PRIMARY KEY (..) NOT ENFORCED` (upsert connectors write by it).
    pub primary_key: &'a [String],
    /// `PARTITIONED BY (..)` (the filesystem connector writes a folder per value).
    pub partition_keys: &'a [String],
    /// Metadata columns among the schema's columns, with the connector's key for each.
    pub metadata: &'a [MetadataColumn],
}

/// A `METADATA` column: which column of the schema, and the connector's name for the value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetadataColumn {
    /// The column's name in the table.
    pub column: String,
    /// The connector's key (`FROM 'key'`, else the column name).
    pub key: String,
}

/// Refuses metadata columns on a connector that has none.
fn no_metadata(table: &str, connector: &str, keys: TableKeys<'_>) -> Result<()> {
    match keys.metadata.first() {
        None => Ok(()),
        Some(m) => Err(RunnelError::Connector(format!(
            "table `{table}`: connector '{connector}' has no metadata key '{}' (column `{}`); \
             metadata columns are supported by 'kafka'",
            m.key, m.column
        ))),
    }
}

/// Builds the reader of a source table from its `WITH` options.
pub fn create_source(
    table: &str,
    schema: SchemaRef,
    options: &TableOptions,
    keys: TableKeys<'_>,
) -> Result<SourceSpec> {
    let connector = options.connector(table)?;
    if !matches!(connector.as_str(), "kafka" | "upsert-kafka") {
        no_metadata(table, &connector, keys)?;
    }
    let spec = match connector.as_str() {
        "datagen" => datagen::create(table, schema, options)?,
        "nexmark" => nexmark::create(table, schema, options)?,
        "filesystem" => filesystem::create_source(table, schema, options, keys.partition_keys)?,
        "kafka" => kafka::create_source(table, schema, options, None, keys.metadata)?,
        "upsert-kafka" => kafka::create_source(
            table,
            schema,
            options,
            Some(keys.primary_key),
            keys.metadata,
        )?,
        "print" | "blackhole" => {
            return Err(RunnelError::Connector(format!(
                "table `{table}`: connector '{connector}' can only be written to, not read"
            )));
        }
        other => return Err(unknown_connector(table, other)),
    };
    Ok(spec)
}

/// Builds the writer of a sink table from its `WITH` options.
pub fn create_sink(
    table: &str,
    schema: SchemaRef,
    options: &TableOptions,
    keys: TableKeys<'_>,
) -> Result<SinkSpec> {
    let connector = options.connector(table)?;
    if !matches!(connector.as_str(), "kafka" | "upsert-kafka") {
        no_metadata(table, &connector, keys)?;
    }
    match connector.as_str() {
        "print" => print::create(table, schema, options),
        "blackhole" => blackhole::create(table, options),
        "filesystem" => filesystem::create_sink(table, schema, options, keys.partition_keys),
        "kafka" => kafka::create_sink(table, schema, options, None, keys.metadata),
        "upsert-kafka" => kafka::create_sink(
            table,
            schema,
            options,
            Some(keys.primary_key),
            keys.metadata,
        ),
        "datagen" | "nexmark" => Err(RunnelError::Connector(format!(
            "table `{table}`: connector '{connector}' can only be read, not written to"
        ))),
        other => Err(unknown_connector(table, other)),
    }
}

fn unknown_connector(table: &str, name: &str) -> RunnelError {
    RunnelError::Connector(format!(
        "table `{table}`: unknown connector '{name}' (available: blackhole, datagen, filesystem, kafka, nexmark, print, upsert-kafka)"
    ))
}

/// A shared, cheaply cloned factory.
fn factory<F>(f: F) -> Arc<F> {
    Arc::new(f)
}
