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
}

const READABLE: &str = "topic, partition, offset, timestamp, timestamp-type, leader-epoch";

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
            other => {
                return Err(RunnelError::Connector(format!(
                    "table `{table}`: column `{column}` reads unknown Kafka metadata '{other}' \
                     (available: {READABLE})"
                )));
            }
        };
        if sink && meta != Meta::Timestamp {
            return Err(RunnelError::Connector(format!(
                "table `{table}`: Kafka metadata '{key}' of column `{column}` cannot be written \
                 (writable: timestamp); declare the column VIRTUAL to only read it"
            )));
        }
        Ok(meta)
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
        };
        if raw.data_type() == data_type {
            return Ok(raw);
        }
        Ok(cast(&raw, data_type)?)
    }
}
