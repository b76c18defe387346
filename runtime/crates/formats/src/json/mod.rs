//! Flink's `json` format: one JSON object per line.
//!
//! Decoding runs arrow-json's tape decoder over whole chunks (the fast path), with Flink's
//! value rules plugged in through a [`DecoderFactory`]: timestamps in the configured standard,
//! base64 BYTES, any JSON value into STRING, `"true"` into BOOLEAN, DECIMAL overflow to NULL,
//! and the `fail-on-missing-field` check. When a chunk fails, the failing range is decoded again
//! in halves until the bad lines are isolated: they are reported as `path:line`, or skipped
//! with `json.ignore-parse-errors`, while the good lines around them are kept.

mod decode;
mod encode;

pub(crate) use decode::JsonDecoder;
pub(crate) use encode::JsonEncoder;

use arrow::datatypes::{DataType, Schema};

use crate::FormatError;
use crate::text::flink_name;

/// Fails on a column type the format cannot read or write.
pub(crate) fn check_schema(
    schema: &Schema,
    format: &'static str,
    allow_map: bool,
) -> Result<(), FormatError> {
    for f in schema.fields() {
        if !supported(f.data_type(), allow_map) {
            return Err(FormatError::UnsupportedType {
                format,
                column: f.name().clone(),
                flink_type: flink_name(f.data_type()),
            });
        }
    }
    Ok(())
}

fn supported(dt: &DataType, allow_map: bool) -> bool {
    match dt {
        DataType::Null
        | DataType::Boolean
        | DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::Float32
        | DataType::Float64
        | DataType::Decimal128(_, _)
        | DataType::Utf8
        | DataType::Binary
        | DataType::Date32
        | DataType::Time32(arrow::datatypes::TimeUnit::Millisecond)
        | DataType::Timestamp(_, _) => true,
        DataType::Struct(fields) => fields.iter().all(|f| supported(f.data_type(), allow_map)),
        DataType::List(f) => supported(f.data_type(), allow_map),
        DataType::Map(f, _) => {
            allow_map
                && match f.data_type() {
                    DataType::Struct(kv) => kv.iter().all(|f| supported(f.data_type(), allow_map)),
                    _ => false,
                }
        }
        _ => false,
    }
}
