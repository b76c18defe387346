//! Kafka messages to rows and back: one record per message, in the table's key and value
//! formats (`json`, `csv`, `raw`), with errors that name the topic, partition and offset.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BinaryArray, StringArray, StructArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use runnel_formats::{Decoder, Encoder, Format, FormatError, Origin};
use runnel_kafka::Message;
use runnel_types::{ChangeBatch, RowKind};

use crate::connectors::TableOptions;
use crate::error::{Result, RunnelError};

/// A message format as configured for keys or values.
#[derive(Clone, Debug)]
pub(super) enum MessageFormat {
    /// `json` or `csv`: one line-oriented record per message.
    Text(Format),
    /// `raw`: the message bytes are the single column (STRING as UTF-8, or BYTES).
    Raw,
    /// `debezium-json`: a change event per message (`before`, `after`, `op`), read as a
    /// changelog and written from one.
    Debezium {
        /// The JSON options (`debezium-json.*` under their `json.*` names).
        json: Format,
        /// `debezium-json.schema-include`: events are wrapped in `{"schema":…,"payload":…}`.
        schema_include: bool,
    },
}

impl MessageFormat {
    /// Reads `name`'s options (`json.*`, `csv.*`, or with a `key.`/`value.` prefix) and
    /// returns the option keys it consumed.
    pub(super) fn from_options(
        table: &str,
        name: &str,
        prefix: &str,
        options: &TableOptions,
    ) -> Result<(MessageFormat, Vec<String>)> {
        if name == "raw" {
            return Ok((MessageFormat::Raw, Vec::new()));
        }
        if name == "debezium-json" {
            return Self::debezium(table, prefix, options);
        }
        // Format options may carry the key./value. prefix (Flink's key.json.ignore-parse-errors).
        let mut map: HashMap<String, String> = HashMap::new();
        let mut renamed = HashMap::new();
        for (k, v) in options.map() {
            if let Some(rest) = k.strip_prefix(prefix).filter(|_| !prefix.is_empty())
                && rest.starts_with(&format!("{name}."))
            {
                map.insert(rest.to_string(), v.clone());
                renamed.insert(rest.to_string(), k.clone());
                continue;
            }
            if k.starts_with(&format!("{name}.")) && !map.contains_key(k) {
                map.insert(k.clone(), v.clone());
            }
        }
        let (format, consumed) = Format::from_options(name, &map).map_err(|e| {
            RunnelError::Connector(format!(
                "table `{table}`: {}",
                e.to_string().replace(
                    "(supported: 'json', 'csv')",
                    "(supported: 'json', 'csv', 'raw')"
                )
            ))
        })?;
        let consumed = consumed
            .into_iter()
            .map(|k| renamed.get(&k).cloned().unwrap_or(k))
            .collect();
        Ok((MessageFormat::Text(format), consumed))
    }

    fn debezium(
        table: &str,
        prefix: &str,
        options: &TableOptions,
    ) -> Result<(MessageFormat, Vec<String>)> {
        let mut map: HashMap<String, String> = HashMap::new();
        let mut consumed = Vec::new();
        let mut schema_include = false;
        for (k, v) in options.map() {
            let rest = k.strip_prefix(prefix).unwrap_or(k);
            let Some(opt) = rest.strip_prefix("debezium-json.") else {
                continue;
            };
            consumed.push(k.clone());
            match opt {
                "schema-include" => {
                    schema_include = options.bool(table, k)?.unwrap_or(false);
                }
                "ignore-parse-errors"
                | "timestamp-format.standard"
                | "map-null-key.mode"
                | "map-null-key.literal"
                | "encode.decimal-as-plain-number"
                | "encode.ignore-null-fields" => {
                    map.insert(format!("json.{opt}"), v.clone());
                }
                other => {
                    return Err(RunnelError::Connector(format!(
                        "table `{table}`: unsupported option 'debezium-json.{other}' for format \
                         'debezium-json' (supported: schema-include, ignore-parse-errors, \
                         timestamp-format.standard, map-null-key.mode, map-null-key.literal, \
                         encode.decimal-as-plain-number, encode.ignore-null-fields)"
                    )));
                }
            }
        }
        let (json, _) = Format::from_options("json", &map)
            .map_err(|e| RunnelError::Connector(format!("table `{table}`: {e}")))?;
        Ok((
            MessageFormat::Debezium {
                json,
                schema_include,
            },
            consumed,
        ))
    }

    /// Whether messages carry changes (updates and deletes) rather than rows.
    pub(super) fn is_changelog(&self) -> bool {
        matches!(self, MessageFormat::Debezium { .. })
    }

    fn check_raw(table: &str, schema: &Schema) -> Result<()> {
        match schema.fields().as_ref() {
            [f] if matches!(f.data_type(), DataType::Utf8 | DataType::Binary) => Ok(()),
            _ => Err(RunnelError::Connector(format!(
                "table `{table}`: the 'raw' format needs exactly one STRING or BYTES column, got {}",
                schema
                    .fields()
                    .iter()
                    .map(|f| format!(
                        "`{}` {}",
                        f.name(),
                        runnel_types::flink_type_name(f.data_type())
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// A decoder of messages into rows of `schema`; fails up front on unsupported columns.
    pub(super) fn decoder(&self, table: &str, schema: SchemaRef) -> Result<MessageDecoder> {
        Ok(match self {
            MessageFormat::Debezium {
                json,
                schema_include,
            } => {
                let row = DataType::Struct(schema.fields().clone());
                let mut envelope = DataType::Struct(
                    vec![
                        Field::new("before", row.clone(), true),
                        Field::new("after", row, true),
                        Field::new("op", DataType::Utf8, true),
                    ]
                    .into(),
                );
                if *schema_include {
                    envelope = DataType::Struct(vec![Field::new("payload", envelope, true)].into());
                }
                let fields = match envelope {
                    DataType::Struct(f) => f,
                    _ => unreachable!("built above"),
                };
                MessageDecoder::Debezium {
                    inner: Box::new(MessageDecoder::Text {
                        json: true,
                        decoder: json
                            .decoder(Arc::new(Schema::new(fields)))
                            .map_err(|e| RunnelError::Connector(format!("table `{table}`: {e}")))?,
                        buf: Vec::new(),
                    }),
                    schema_include: *schema_include,
                    schema,
                }
            }
            MessageFormat::Raw => {
                Self::check_raw(table, &schema)?;
                MessageDecoder::Raw(schema)
            }
            MessageFormat::Text(f) => MessageDecoder::Text {
                json: matches!(f, Format::Json(_)),
                decoder: f
                    .decoder(schema)
                    .map_err(|e| RunnelError::Connector(format!("table `{table}`: {e}")))?,
                buf: Vec::new(),
            },
        })
    }

    /// An encoder of rows of `schema` into one message each.
    pub(super) fn encoder(&self, table: &str, schema: SchemaRef) -> Result<MessageEncoder> {
        Ok(match self {
            MessageFormat::Debezium {
                json,
                schema_include,
            } => {
                if *schema_include {
                    return Err(RunnelError::Connector(format!(
                        "table `{table}`: 'debezium-json.schema-include' is only supported for reading"
                    )));
                }
                MessageEncoder::Debezium(Box::new(MessageEncoder::Text {
                    split_lines: true,
                    encoder: json
                        .encoder(schema)
                        .map_err(|e| RunnelError::Connector(format!("table `{table}`: {e}")))?,
                    buf: Vec::new(),
                }))
            }
            MessageFormat::Raw => {
                Self::check_raw(table, &schema)?;
                MessageEncoder::Raw
            }
            MessageFormat::Text(f) => MessageEncoder::Text {
                split_lines: matches!(f, Format::Json(_)),
                encoder: f
                    .encoder(schema)
                    .map_err(|e| RunnelError::Connector(format!("table `{table}`: {e}")))?,
                buf: Vec::new(),
            },
        })
    }
}

/// Decodes the keys or the values of a run of messages of one partition.
pub(super) enum MessageDecoder {
    Text {
        json: bool,
        decoder: Box<dyn Decoder>,
        buf: Vec<u8>,
    },
    Raw(SchemaRef),
    /// Decodes the envelope as JSON, then unfolds it into change rows.
    Debezium {
        inner: Box<MessageDecoder>,
        schema_include: bool,
        schema: SchemaRef,
    },
}

impl MessageDecoder {
    /// One row per message whose bytes (`part` picks key or value) are present; `where_`
    /// names the topic and partition for errors.
    pub(super) fn decode(
        &mut self,
        messages: &[Message],
        part: fn(&Message) -> Option<&Bytes>,
        where_: &str,
    ) -> Result<Option<RecordBatch>> {
        match self {
            MessageDecoder::Debezium { .. } => {
                unreachable!("debezium-json is decoded with decode_changes")
            }
            MessageDecoder::Raw(schema) => {
                let values = messages.iter().map(|m| part(m).map(|b| b.as_ref()));
                let col: ArrayRef = match schema.field(0).data_type() {
                    DataType::Utf8 => Arc::new(
                        values
                            .map(|v| v.map(|b| String::from_utf8_lossy(b).into_owned()))
                            .collect::<StringArray>(),
                    ),
                    _ => Arc::new(values.collect::<BinaryArray>()),
                };
                Ok(Some(RecordBatch::try_new(schema.clone(), vec![col])?))
            }
            MessageDecoder::Text { json, decoder, buf } => {
                buf.clear();
                // Line i+1 of the buffer is message i; JSON may span lines, which joins them.
                let mut offsets = Vec::with_capacity(messages.len());
                for m in messages {
                    let Some(bytes) = part(m) else { continue };
                    let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
                    if *json {
                        buf.extend(
                            bytes
                                .iter()
                                .map(|b| if matches!(b, b'\n' | b'\r') { b' ' } else { *b }),
                        );
                    } else {
                        buf.extend_from_slice(bytes);
                    }
                    buf.push(b'\n');
                    offsets.push(m.offset);
                }
                if offsets.is_empty() {
                    return Ok(None);
                }
                let origin = Origin {
                    path: where_,
                    first_line: 1,
                };
                let batches = decoder.decode(buf, origin).map_err(|e| match e {
                    FormatError::Malformed { line, message, .. } => {
                        let offset = offsets
                            .get(line.saturating_sub(1) as usize)
                            .map_or_else(|| "?".to_string(), |o| o.to_string());
                        RunnelError::Connector(format!("{where_} offset {offset}: {message}"))
                    }
                    other => RunnelError::Connector(format!("{where_}: {other}")),
                })?;
                match batches.len() {
                    0 => Ok(None),
                    1 => Ok(batches.into_iter().next()),
                    _ => Ok(Some(arrow::compute::concat_batches(
                        &batches[0].schema(),
                        &batches,
                    )?)),
                }
            }
        }
    }
}

impl MessageDecoder {
    /// Rows of the messages' values with their change kinds (`c`/`r` → +I, `u` → -U and +U,
    /// `d` → -D), and for each row the index of its message.
    pub(super) fn decode_changes(
        &mut self,
        messages: &[Message],
        where_: &str,
    ) -> Result<Option<(ChangeBatch, Vec<usize>)>> {
        let MessageDecoder::Debezium {
            inner,
            schema_include,
            schema,
        } = self
        else {
            unreachable!("only debezium-json decodes changes")
        };
        let present_idx: Vec<usize> = (0..messages.len())
            .filter(|i| messages[*i].value.is_some())
            .collect();
        let present: Vec<Message> = present_idx.iter().map(|i| messages[*i].clone()).collect();
        let Some(events) = inner.decode(&present, |m| m.value.as_ref(), where_)? else {
            return Ok(None);
        };
        let envelope: StructArray = if *schema_include {
            events
                .column(0)
                .as_any()
                .downcast_ref::<StructArray>()
                .expect("payload is a struct")
                .clone()
        } else {
            StructArray::from(events)
        };
        let before = envelope.column(0);
        let after = envelope.column(1);
        let op = envelope
            .column(2)
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("op is a string");
        let mut picks = Vec::with_capacity(op.len());
        let mut kinds = Vec::with_capacity(op.len());
        for i in 0..op.len() {
            let need = |side: &ArrayRef, name: &str| -> Result<()> {
                if side.is_null(i) {
                    let offset = present.get(i).map_or(-1, |m| m.offset);
                    return Err(RunnelError::Connector(format!(
                        "{where_} offset {offset}: debezium-json event '{}' has no '{name}' \
                         (for updates and deletes the source table needs REPLICA IDENTITY FULL)",
                        op.value(i)
                    )));
                }
                Ok(())
            };
            match if op.is_valid(i) { op.value(i) } else { "" } {
                "c" | "r" => {
                    need(after, "after")?;
                    picks.push((1, i));
                    kinds.push(RowKind::Insert);
                }
                "u" => {
                    need(before, "before")?;
                    need(after, "after")?;
                    picks.extend([(0, i), (1, i)]);
                    kinds.extend([RowKind::UpdateBefore, RowKind::UpdateAfter]);
                }
                "d" => {
                    need(before, "before")?;
                    picks.push((0, i));
                    kinds.push(RowKind::Delete);
                }
                other => {
                    let offset = present.get(i).map_or(-1, |m| m.offset);
                    return Err(RunnelError::Connector(format!(
                        "{where_} offset {offset}: unknown debezium-json operation '{other}' \
                         (expected c, r, u or d)"
                    )));
                }
            }
        }
        if picks.is_empty() {
            return Ok(None);
        }
        let rows = arrow::compute::interleave(&[before.as_ref(), after.as_ref()], &picks)?;
        let rows = rows
            .as_any()
            .downcast_ref::<StructArray>()
            .expect("rows are structs");
        let data = RecordBatch::try_new(schema.clone(), rows.columns().to_vec())?;
        let from = picks.iter().map(|(_, i)| present_idx[*i]).collect();
        Ok(Some((ChangeBatch::with_kinds(data, kinds), from)))
    }
}

/// Encodes rows into one message body each.
pub(super) enum MessageEncoder {
    Text {
        /// JSON never writes a raw newline, so a batch's output splits at line ends; CSV may
        /// (quoted), so it is encoded a row at a time.
        split_lines: bool,
        encoder: Box<dyn Encoder>,
        buf: Vec<u8>,
    },
    Raw,
    /// Rows encoded as JSON, wrapped as change events: +I/+U as `c` with `after`, -U/-D as
    /// `d` with `before`, as Flink writes them.
    Debezium(Box<MessageEncoder>),
}

impl MessageEncoder {
    /// One message body per row of `batch` (None for a NULL raw value).
    pub(super) fn encode(&mut self, batch: &RecordBatch) -> Result<Vec<Option<Bytes>>> {
        match self {
            MessageEncoder::Debezium(_) => {
                unreachable!("debezium-json is encoded with encode_changes")
            }
            MessageEncoder::Raw => {
                let col = batch.column(0);
                Ok(match col.data_type() {
                    DataType::Utf8 => {
                        let a = col.as_any().downcast_ref::<StringArray>().expect("STRING");
                        a.iter()
                            .map(|v| v.map(|s| Bytes::copy_from_slice(s.as_bytes())))
                            .collect()
                    }
                    _ => {
                        let a = col.as_any().downcast_ref::<BinaryArray>().expect("BYTES");
                        a.iter().map(|v| v.map(Bytes::copy_from_slice)).collect()
                    }
                })
            }
            MessageEncoder::Text {
                split_lines,
                encoder,
                buf,
            } => {
                let mut out = Vec::with_capacity(batch.num_rows());
                if *split_lines {
                    buf.clear();
                    encoder.encode(batch, buf)?;
                    let all = Bytes::copy_from_slice(buf);
                    let mut start = 0;
                    for (i, b) in buf.iter().enumerate() {
                        if *b == b'\n' {
                            out.push(Some(all.slice(start..i)));
                            start = i + 1;
                        }
                    }
                } else {
                    for row in 0..batch.num_rows() {
                        buf.clear();
                        encoder.encode(&batch.slice(row, 1), buf)?;
                        let line = buf.strip_suffix(b"\n").unwrap_or(buf);
                        out.push(Some(Bytes::copy_from_slice(line)));
                    }
                }
                Ok(out)
            }
        }
    }
}

impl MessageEncoder {
    /// One message body per row: change events for `debezium-json`, rows otherwise.
    pub(super) fn encode_changes(
        &mut self,
        batch: &ChangeBatch,
        data: &RecordBatch,
    ) -> Result<Vec<Option<Bytes>>> {
        let MessageEncoder::Debezium(inner) = self else {
            return self.encode(data);
        };
        let rows = inner.encode(data)?;
        Ok(rows
            .into_iter()
            .enumerate()
            .map(|(i, row)| {
                let row = row.unwrap_or_default();
                let mut out = Vec::with_capacity(row.len() + 40);
                if batch.kind(i).is_accumulate() {
                    out.extend_from_slice(b"{\"before\":null,\"after\":");
                    out.extend_from_slice(&row);
                    out.extend_from_slice(b",\"op\":\"c\"}");
                } else {
                    out.extend_from_slice(b"{\"before\":");
                    out.extend_from_slice(&row);
                    out.extend_from_slice(b",\"after\":null,\"op\":\"d\"}");
                }
                Some(Bytes::from(out))
            })
            .collect())
    }
}
