//! The `parquet` format of the filesystem connector, with Flink's option names.

use std::fs::File;

use arrow::array::{ArrayRef, RecordBatch, new_null_array};
use arrow::compute::cast;
use arrow::datatypes::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::basic::{Compression, GzipLevel, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::connectors::TableOptions;
use crate::error::{Result, RunnelError};

const KEYS: &[&str] = &[
    "parquet.compression",
    "parquet.block.size",
    "parquet.page.size",
    "parquet.dictionary.enabled",
    // Timestamps are always written as INT64 milliseconds (Flink's
    // 'parquet.write.int64.timestamp' = 'true' with 'parquet.timestamp.time.unit' = 'millis');
    // the options are accepted so Flink DDL runs unchanged, and INT96 files are still read.
    "parquet.write.int64.timestamp",
    "parquet.timestamp.time.unit",
    "parquet.utc-timezone",
];

/// How part files are written.
#[derive(Clone, Debug)]
pub(super) struct ParquetOptions {
    compression: Compression,
    /// Target row group size in bytes (`parquet.block.size`, 128 MB by default).
    block_bytes: usize,
    page_bytes: Option<usize>,
    dictionary: bool,
}

impl ParquetOptions {
    pub(super) fn from_options(table: &str, options: &TableOptions) -> Result<(Self, Vec<String>)> {
        let bad = |key: &str, v: &str, want: &str| {
            RunnelError::Connector(format!(
                "table `{table}`: option '{key}' must be {want}, got '{v}'"
            ))
        };
        let compression = match options
            .get("parquet.compression")
            .unwrap_or("SNAPPY")
            .to_ascii_uppercase()
            .as_str()
        {
            "UNCOMPRESSED" | "NONE" => Compression::UNCOMPRESSED,
            "SNAPPY" => Compression::SNAPPY,
            "GZIP" => Compression::GZIP(GzipLevel::default()),
            "LZ4" | "LZ4_RAW" => Compression::LZ4_RAW,
            "ZSTD" => Compression::ZSTD(ZstdLevel::default()),
            other => {
                return Err(bad(
                    "parquet.compression",
                    other,
                    "one of UNCOMPRESSED, SNAPPY, GZIP, LZ4, ZSTD",
                ));
            }
        };
        let size = |key: &str| -> Result<Option<usize>> {
            options
                .u64(table, key)
                .map(|v| v.map(|v| v.max(1) as usize))
        };
        if let Some(v) = options.get("parquet.timestamp.time.unit")
            && !v.eq_ignore_ascii_case("millis")
        {
            return Err(bad("parquet.timestamp.time.unit", v, "'millis'"));
        }
        let consumed = KEYS
            .iter()
            .filter(|k| options.get(k).is_some())
            .map(|k| k.to_string())
            .collect();
        Ok((
            ParquetOptions {
                compression,
                block_bytes: size("parquet.block.size")?.unwrap_or(128 << 20),
                page_bytes: size("parquet.page.size")?,
                dictionary: options
                    .bool(table, "parquet.dictionary.enabled")?
                    .unwrap_or(true),
            },
            consumed,
        ))
    }

    /// A writer of one part file.
    pub(super) fn writer(&self, file: File, schema: SchemaRef) -> Result<ArrowWriter<File>> {
        let mut props = WriterProperties::builder()
            .set_compression(self.compression)
            .set_dictionary_enabled(self.dictionary)
            .set_max_row_group_bytes(Some(self.block_bytes));
        if let Some(p) = self.page_bytes {
            props = props.set_data_page_size_limit(p);
        }
        ArrowWriter::try_new(file, schema, Some(props.build()))
            .map_err(|e| RunnelError::Connector(format!("filesystem sink: Parquet writer: {e}")))
    }
}

/// Reads a part file in batches.
pub(super) fn reader(file: File, path: &str) -> Result<ParquetRecordBatchReader> {
    ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.with_batch_size(runnel_formats::BATCH_SIZE).build())
        .map_err(|e| RunnelError::Connector(format!("{path}: not a readable Parquet file: {e}")))
}

/// Rows of a file in the table's file columns: matched by name (missing ones are NULL) and
/// cast to the declared types (INT96 timestamps written by Flink become TIMESTAMP(3)).
pub(super) fn conform(batch: RecordBatch, schema: &SchemaRef, path: &str) -> Result<RecordBatch> {
    let rows = batch.num_rows();
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|f| match batch.column_by_name(f.name()) {
            None => Ok(new_null_array(f.data_type(), rows)),
            Some(c) if c.data_type() == f.data_type() => Ok(c.clone()),
            Some(c) => cast(c, f.data_type()).map_err(|e| {
                RunnelError::Connector(format!(
                    "{path}: column `{}` of type {} cannot be read as {}: {e}",
                    f.name(),
                    c.data_type(),
                    runnel_types::flink_type_name(f.data_type())
                ))
            }),
        })
        .collect::<Result<_>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}
