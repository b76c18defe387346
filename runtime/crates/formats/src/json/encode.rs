//! Record batches into Flink's JSON lines, written byte by byte (arrow-json's writer has other
//! timestamp, float and binary conventions).

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;

use crate::options::{JsonOptions, MapNullKeyMode};
use crate::text::write_json_string;
use crate::values::{Col, TextStyle, is_non_finite, write_scalar};
use crate::{Encoder, FormatError};

/// Writes one compact JSON object per row, fields in declared order.
pub(crate) struct JsonEncoder {
    options: JsonOptions,
    style: TextStyle,
    /// `"name":` of each top-level column, escaped once.
    keys: Vec<Vec<u8>>,
    scratch: String,
    key_buf: Vec<u8>,
}

impl JsonEncoder {
    pub(crate) fn try_new(options: JsonOptions, schema: SchemaRef) -> Result<Self, FormatError> {
        super::check_schema(&schema, "json", true)?;
        let keys = schema
            .fields()
            .iter()
            .map(|f| key_bytes(f.name()))
            .collect();
        Ok(JsonEncoder {
            style: TextStyle {
                timestamp_separator: options.timestamp_standard.separator(),
                plain_decimals: options.encode_decimal_as_plain_number,
                time_seconds_only: true,
            },
            options,
            keys,
            scratch: String::new(),
            key_buf: Vec::new(),
        })
    }

    fn write_value(
        &mut self,
        col: &Col<'_>,
        row: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), FormatError> {
        if col.is_null(row) {
            out.extend_from_slice(b"null");
            return Ok(());
        }
        match col {
            Col::Struct(_, children) => {
                out.push(b'{');
                let mut first = true;
                for (name, child) in children {
                    if self.options.encode_ignore_null_fields && child.is_null(row) {
                        continue;
                    }
                    if !first {
                        out.push(b',');
                    }
                    first = false;
                    write_json_string(out, name);
                    out.push(b':');
                    self.write_value(child, row, out)?;
                }
                out.push(b'}');
            }
            Col::List(list, values) => {
                let offsets = list.value_offsets();
                out.push(b'[');
                for i in offsets[row] as usize..offsets[row + 1] as usize {
                    if i > offsets[row] as usize {
                        out.push(b',');
                    }
                    self.write_value(values, i, out)?;
                }
                out.push(b']');
            }
            Col::Map(map, keys, values) => {
                let offsets = map.value_offsets();
                out.push(b'{');
                let mut first = true;
                for i in offsets[row] as usize..offsets[row + 1] as usize {
                    let mut key = std::mem::take(&mut self.key_buf);
                    key.clear();
                    if keys.is_null(i) {
                        match self.options.map_null_key_mode {
                            MapNullKeyMode::Fail => {
                                return Err(FormatError::Encode {
                                    format: "json",
                                    message: "a MAP has a NULL key; set 'json.map-null-key.mode' \
                                              to 'DROP' or 'LITERAL' to write it"
                                        .to_string(),
                                });
                            }
                            MapNullKeyMode::Drop => {
                                self.key_buf = key;
                                continue;
                            }
                            MapNullKeyMode::Literal => {
                                write_json_string(&mut key, &self.options.map_null_key_literal)
                            }
                        }
                    } else if keys.is_textual() {
                        self.write_value(keys, i, &mut key)?;
                    } else {
                        // Object keys are strings: numbers, booleans, ... are quoted as text.
                        let mut text = Vec::new();
                        self.write_value(keys, i, &mut text)?;
                        write_json_string(&mut key, &String::from_utf8_lossy(&text));
                    }
                    if !first {
                        out.push(b',');
                    }
                    first = false;
                    out.extend_from_slice(&key);
                    self.key_buf = key;
                    out.push(b':');
                    self.write_value(values, i, out)?;
                }
                out.push(b'}');
            }
            Col::Str(a) => write_json_string(out, a.value(row)),
            scalar => {
                let quoted = scalar.is_textual() || is_non_finite(scalar, row);
                if quoted {
                    out.push(b'"');
                }
                write_scalar(scalar, row, self.style, out, &mut self.scratch);
                if quoted {
                    out.push(b'"');
                }
            }
        }
        Ok(())
    }
}

fn key_bytes(name: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(name.len() + 3);
    write_json_string(&mut k, name);
    k.push(b':');
    k
}

impl Encoder for JsonEncoder {
    fn encode(&mut self, batch: &RecordBatch, out: &mut Vec<u8>) -> Result<(), FormatError> {
        let cols = batch
            .columns()
            .iter()
            .map(|c| Col::new(c.as_ref()))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| FormatError::Encode {
                format: "json",
                message: "the batch has a column type the json format cannot write".to_string(),
            })?;
        if cols.len() != self.keys.len() {
            return Err(FormatError::Encode {
                format: "json",
                message: format!(
                    "the batch has {} columns, the schema {}",
                    cols.len(),
                    self.keys.len()
                ),
            });
        }
        let keys = std::mem::take(&mut self.keys);
        let mut result = Ok(());
        'rows: for row in 0..batch.num_rows() {
            let line_start = out.len();
            out.push(b'{');
            let mut first = true;
            for (key, col) in keys.iter().zip(&cols) {
                if self.options.encode_ignore_null_fields && col.is_null(row) {
                    continue;
                }
                if !first {
                    out.push(b',');
                }
                first = false;
                out.extend_from_slice(key);
                if let Err(e) = self.write_value(col, row, out) {
                    out.truncate(line_start);
                    result = Err(e);
                    break 'rows;
                }
            }
            out.extend_from_slice(b"}\n");
        }
        self.keys = keys;
        result
    }
}
