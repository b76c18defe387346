//! `METADATA` columns of Kafka tables, by Flink's keys.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Array, Int64Array, StringArray, TimestampMillisecondArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, TimeUnit};
use runnel_kafka::Message;

use crate::error::{Result, RunnelError};

/// A record's metadata a table can read (and, for `timestamp`, write).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Meta {
    Topic,
    Partition,
    Offset,
    Timestamp,
    TimestampType,
    LeaderEpoch,
    Headers,
}

const READABLE: &str = "topic, partition, offset, timestamp, timestamp-type, leader-epoch, headers";

impl Meta {
    /// The metadata `key` of column `column`; sinks can only write `timestamp`.
    pub(super) fn parse(table: &str, column: &str, key: &str, sink: bool) -> Result<Meta> {
        let meta = match key {
            "topic" => Meta::Topic,
            "partition" => Meta::Partition,
            "offset" => Meta::Offset,
            "timestamp" => Meta::Timestamp,
            "timestamp-type" => Meta::TimestampType,
            "leader-epoch" => Meta::LeaderEpoch,
            "headers" => Meta::Headers,
            other => {
                return Err(RunnelError::Connector(format!(
                    "table `{table}`: column `{column}` reads unknown Kafka metadata '{other}' \
                     (available: {READABLE})"
                )));
            }
        };
        if sink && !matches!(meta, Meta::Timestamp | Meta::Headers) {
            return Err(RunnelError::Connector(format!(
                "table `{table}`: Kafka metadata '{key}' of column `{column}` cannot be written \
                 (writable: timestamp, headers); declare the column VIRTUAL to only read it"
            )));
        }
        Ok(meta)
    }

    /// Refuses a column type the metadata cannot have.
    pub(super) fn check_type(self, table: &str, column: &str, dt: &DataType) -> Result<()> {
        let ok = match self {
            Meta::Timestamp => matches!(dt, DataType::Timestamp(TimeUnit::Millisecond, _)),
            Meta::Headers => headers_fields(dt).is_some(),
            _ => true,
        };
        if ok {
            return Ok(());
        }
        let want = match self {
            Meta::Timestamp => "TIMESTAMP_LTZ(3)",
            _ => "MAP<STRING, BYTES>",
        };
        Err(RunnelError::Connector(format!(
            "table `{table}`: metadata column `{column}` must be {want}, not {}",
            runnel_types::flink_type_name(dt)
        )))
    }

    /// The values of `messages` of one partition, as `data_type`.
    pub(super) fn column<'a>(
        self,
        topic: &str,
        partition: i32,
        messages: impl ExactSizeIterator<Item = &'a Message>,
        data_type: &DataType,
    ) -> Result<ArrayRef> {
        let n = messages.len();
        let raw: ArrayRef = match self {
            Meta::Topic => Arc::new(StringArray::from(vec![topic; n])),
            Meta::Partition => Arc::new(Int32Array::from(vec![partition; n])),
            Meta::Offset => Arc::new(messages.map(|m| m.offset).collect::<Int64Array>()),
            Meta::Timestamp => {
                let a = messages
                    .map(|m| (m.timestamp >= 0).then_some(m.timestamp))
                    .collect::<TimestampMillisecondArray>();
                // The instant as it is, in the column's zone (TIMESTAMP_LTZ).
                match data_type {
                    DataType::Timestamp(TimeUnit::Millisecond, tz) => {
                        Arc::new(a.with_timezone_opt(tz.clone()))
                    }
                    _ => Arc::new(a),
                }
            }
            Meta::TimestampType => Arc::new(
                messages
                    .map(|m| {
                        if m.timestamp < 0 {
                            "NoTimestampType"
                        } else if m.log_append_time {
                            "LogAppendTime"
                        } else {
                            "CreateTime"
                        }
                    })
                    .map(Some)
                    .collect::<StringArray>(),
            ),
            Meta::LeaderEpoch => Arc::new(
                messages
                    .map(|m| (m.leader_epoch >= 0).then_some(m.leader_epoch))
                    .collect::<Int32Array>(),
            ),
            Meta::Headers => return headers_column(messages, data_type),
        };
        if raw.data_type() == data_type {
            return Ok(raw);
        }
        Ok(cast(&raw, data_type)?)
    }
}

/// The entries field of a `MAP<STRING, BYTES>` column.
fn headers_fields(dt: &DataType) -> Option<arrow::datatypes::FieldRef> {
    let DataType::Map(entries, _) = dt else {
        return None;
    };
    let DataType::Struct(kv) = entries.data_type() else {
        return None;
    };
    (kv.len() == 2
        && kv[0].data_type() == &DataType::Utf8
        && kv[1].data_type() == &DataType::Binary)
        .then(|| entries.clone())
}

/// Each record's headers as a map (a repeated key keeps its last value, as Flink's map does).
fn headers_column<'a>(
    messages: impl ExactSizeIterator<Item = &'a Message>,
    data_type: &DataType,
) -> Result<ArrayRef> {
    let entries = headers_fields(data_type).expect("checked at plan time");
    let DataType::Struct(kv) = entries.data_type() else {
        unreachable!("checked at plan time")
    };
    let mut offsets = vec![0i32];
    let mut keys = Vec::new();
    let mut values: Vec<Option<&[u8]>> = Vec::new();
    for m in messages {
        let mut seen: Vec<&str> = Vec::new();
        for (k, v) in m.headers.iter().rev() {
            if !seen.contains(&k.as_str()) {
                seen.push(k);
                keys.push(k.as_str());
                values.push(v.as_deref());
            }
        }
        offsets.push(keys.len() as i32);
    }
    let struct_array = arrow::array::StructArray::try_new(
        kv.clone(),
        vec![
            Arc::new(StringArray::from(keys)),
            Arc::new(arrow::array::BinaryArray::from(values)),
        ],
        None,
    )?;
    Ok(Arc::new(arrow::array::MapArray::try_new(
        entries,
        arrow::buffer::OffsetBuffer::new(offsets.into()),
        struct_array,
        None,
        false,
    )?))
}

/// The header pairs of row `row` of a `MAP<STRING, BYTES>` column.
pub(super) fn headers_of(
    col: &arrow::array::MapArray,
    row: usize,
) -> Vec<(String, Option<bytes::Bytes>)> {
    use arrow::array::{Array, AsArray};
    if col.is_null(row) {
        return Vec::new();
    }
    let entries = col.value(row);
    let keys = entries.column(0).as_string::<i32>();
    let values = entries.column(1).as_binary::<i32>();
    (0..entries.len())
        .map(|i| {
            (
                keys.value(i).to_string(),
                values
                    .is_valid(i)
                    .then(|| bytes::Bytes::copy_from_slice(values.value(i))),
            )
        })
        .collect()
}
