//! Flink's `json` and `csv` formats: the edge where bytes of a file (or a message) become
//! Arrow [`RecordBatch`]es and back, with Flink's option names and behaviour.
//!
//! A table's `WITH (...)` options pick the format ([`Format::from_options`]); the format then
//! makes a [`Decoder`] for a source or an [`Encoder`] for a sink, for the table's Arrow schema.
//!
//! Both formats are line oriented, as Flink's are: one record per line (a csv record may span
//! lines inside quotes). Decoders accept arbitrary chunks of bytes, decode every complete record
//! and keep the unfinished tail for the next call or [`Decoder::finish`]. A record that cannot be
//! decoded is reported as `path:line: what is wrong`, or skipped when the format's
//! `ignore-parse-errors` option is set.

use std::collections::HashMap;

use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;

mod csv;
mod json;
mod options;
mod text;
mod values;

pub use options::{CsvOptions, JsonOptions, MapNullKeyMode, TimestampStandard};

/// Most rows a decoder puts in one [`RecordBatch`], so batches stay cache friendly downstream.
pub const BATCH_SIZE: usize = 8192;

/// A configured format, so one table definition can make any number of decoders and encoders.
#[derive(Clone, Debug, PartialEq)]
pub enum Format {
    /// Flink's `json` format: one JSON object per line.
    Json(JsonOptions),
    /// Flink's `csv` format: one record per line, columns in schema order, no header.
    Csv(CsvOptions),
}

impl Format {
    /// `format` is the table's 'format' option value; `options` all table options; reads only
    /// `json.*` / `csv.*` keys (an unknown key with the format's prefix is an error) and returns the
    /// set of keys it consumed, so the caller can reject the options nobody consumed.
    pub fn from_options(
        format: &str,
        options: &HashMap<String, String>,
    ) -> Result<(Format, Vec<String>), FormatError> {
        match format {
            "json" => {
                let (o, keys) = JsonOptions::from_options(options)?;
                Ok((Format::Json(o), keys))
            }
            "csv" => {
                let (o, keys) = CsvOptions::from_options(options)?;
                Ok((Format::Csv(o), keys))
            }
            other => Err(FormatError::UnknownFormat(other.to_string())),
        }
    }

    /// The format's name as written in `'format' = '...'`, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Format::Json(_) => "json",
            Format::Csv(_) => "csv",
        }
    }

    /// A decoder producing batches of `schema`; fails up front on a column type the format lacks.
    pub fn decoder(&self, schema: SchemaRef) -> Result<Box<dyn Decoder>, FormatError> {
        match self {
            Format::Json(o) => Ok(Box::new(json::JsonDecoder::try_new(o.clone(), schema)?)),
            Format::Csv(o) => Ok(Box::new(csv::CsvDecoder::try_new(o.clone(), schema)?)),
        }
    }

    /// An encoder for batches of `schema`; fails up front on a column type the format lacks.
    pub fn encoder(&self, schema: SchemaRef) -> Result<Box<dyn Encoder>, FormatError> {
        match self {
            Format::Json(o) => Ok(Box::new(json::JsonEncoder::try_new(o.clone(), schema)?)),
            Format::Csv(o) => Ok(Box::new(csv::CsvEncoder::try_new(o.clone(), schema)?)),
        }
    }
}

/// Where bytes came from, so a bad record is reported as `path:line`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Origin<'a> {
    /// The file (or topic/partition) the bytes were read from, as the user knows it.
    pub path: &'a str,
    /// 1-based line number of the first byte of the chunk handed to [`Decoder::decode`].
    pub first_line: u64,
}

/// Turns bytes into record batches; one per source split, fed in order.
///
/// `decode` accepts any chunk of bytes: it decodes every complete record in it (a record ends
/// at a line end; for csv, a line end outside quotes) and keeps the unfinished tail internally,
/// to be completed by the next `decode` call or decoded by `finish` at the end of the input.
/// Callers that cut input at line ends never leave a tail, and get every row of a chunk back
/// from the `decode` call that was given it. Chunks of a few MiB give full batches.
///
/// After an error the decoder has dropped the failing chunk and its unfinished tail; it can
/// keep decoding later chunks.
pub trait Decoder: Send {
    /// Decodes the complete records of `bytes` (plus any tail kept from the previous call) into
    /// batches of at most [`BATCH_SIZE`] rows. `origin.first_line` is the line of `bytes[0]`.
    fn decode(&mut self, bytes: &[u8], origin: Origin<'_>)
    -> Result<Vec<RecordBatch>, FormatError>;

    /// Ends the input: decodes the kept tail (a last line without a line end) if any.
    /// `origin.first_line` is not used: the decoder knows where its tail started.
    fn finish(&mut self, origin: Origin<'_>) -> Result<Option<RecordBatch>, FormatError>;
}

/// Drops a UTF-8 byte order mark at the start of the input (line 1, nothing kept before it).
fn strip_bom<'a>(bytes: &'a [u8], tail: &[u8], first_line: u64) -> &'a [u8] {
    if first_line == 1 && tail.is_empty() {
        bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
    } else {
        bytes
    }
}

/// Turns record batches into bytes, as the format's sink writes them.
pub trait Encoder: Send {
    /// Appends one encoded record per row (a line each for json/csv, ending in `\n`).
    /// On error, `out` holds the complete lines of the rows before the failing one.
    fn encode(&mut self, batch: &RecordBatch, out: &mut Vec<u8>) -> Result<(), FormatError>;
}

/// Why a format could not be set up, or a record could not be decoded or encoded.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// `'format' = '...'` names a format this crate does not provide.
    #[error("unsupported format '{0}' (supported: 'json', 'csv')")]
    UnknownFormat(String),
    /// An option with the format's prefix that the format does not know.
    #[error("unsupported option '{key}' for format '{format}' (supported: {supported})")]
    UnknownOption {
        format: &'static str,
        key: String,
        supported: String,
    },
    /// An option with a value the format cannot use.
    #[error("invalid value '{value}' for option '{key}': {reason}")]
    InvalidOption {
        key: String,
        value: String,
        reason: String,
    },
    /// Options that cannot be set together.
    #[error("conflicting options: {0}")]
    ConflictingOptions(String),
    /// A column type the format cannot read or write.
    #[error("the {format} format does not support column '{column}' of type {flink_type}")]
    UnsupportedType {
        format: &'static str,
        column: String,
        flink_type: String,
    },
    /// A record that could not be decoded: `path:line: what is wrong (the field, the value)`.
    #[error("{path}:{line}: {message}")]
    Malformed {
        path: String,
        line: u64,
        message: String,
    },
    /// A value that could not be encoded (e.g. a map with a null key under mode FAIL).
    #[error("cannot encode {format} record: {message}")]
    Encode {
        format: &'static str,
        message: String,
    },
    /// An Arrow error outside any single record.
    #[error(transparent)]
    Arrow(#[from] ArrowError),
}
