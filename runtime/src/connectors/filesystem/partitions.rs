//! `PARTITIONED BY` for the filesystem connector: rows go to `col=value/` folders (Hive's
//! layout, as Flink writes it), and a source gets the partition columns back from the path.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, StringArray, UInt32Array, new_null_array};
use arrow::compute::{cast, take};
use arrow::datatypes::{DataType, Schema, SchemaRef};

use crate::error::{Result, RunnelError};

/// Flink's `partition.default-name`: the folder name of a NULL or empty value.
pub(super) const DEFAULT_NAME: &str = "__DEFAULT_PARTITION__";

/// Where the partition columns sit in the table, and the columns files hold.
#[derive(Clone, Debug)]
pub(super) struct Partitioning {
    schema: SchemaRef,
    /// Table column index of each partition key, in `PARTITIONED BY` order.
    keys: Vec<usize>,
    /// Table column indexes stored in the files.
    data: Vec<usize>,
    data_schema: SchemaRef,
    default_name: String,
}

impl Partitioning {
    pub(super) fn new(
        table: &str,
        schema: SchemaRef,
        keys: &[String],
        default_name: &str,
    ) -> Result<Self> {
        let mut idx = Vec::new();
        for k in keys {
            let i = schema.index_of(k).map_err(|_| {
                RunnelError::Connector(format!(
                    "table `{table}`: PARTITIONED BY names `{k}`, which is not a physical column"
                ))
            })?;
            match schema.field(i).data_type() {
                DataType::Struct(_) | DataType::List(_) | DataType::Map(..) | DataType::Binary => {
                    return Err(RunnelError::Connector(format!(
                        "table `{table}`: partition column `{k}` must have an atomic type, not {}",
                        runnel_types::flink_type_name(schema.field(i).data_type())
                    )));
                }
                _ => {}
            }
            idx.push(i);
        }
        let data: Vec<usize> = (0..schema.fields().len())
            .filter(|i| !idx.contains(i))
            .collect();
        if data.is_empty() && !idx.is_empty() {
            return Err(RunnelError::Connector(format!(
                "table `{table}`: every column is a partition column; files would be empty"
            )));
        }
        let data_schema = Arc::new(Schema::new(
            data.iter()
                .map(|i| schema.field(*i).clone())
                .collect::<Vec<_>>(),
        ));
        Ok(Partitioning {
            schema,
            keys: idx,
            data,
            data_schema,
            default_name: default_name.to_string(),
        })
    }

    /// The columns written to (and read from) files.
    pub(super) fn data_schema(&self) -> SchemaRef {
        self.data_schema.clone()
    }

    /// Splits rows by partition: each group's folder (`a=1/b=x`, empty when unpartitioned)
    /// and its file columns.
    pub(super) fn split(&self, batch: &RecordBatch) -> Result<Vec<(String, RecordBatch)>> {
        let data = batch.project(&self.data)?;
        if self.keys.is_empty() {
            return Ok(vec![(String::new(), data)]);
        }
        let values: Vec<ArrayRef> = self
            .keys
            .iter()
            .map(|i| cast(batch.column(*i), &DataType::Utf8))
            .collect::<std::result::Result<_, _>>()?;
        let values: Vec<&StringArray> = values
            .iter()
            .map(|a| {
                a.as_any()
                    .downcast_ref::<StringArray>()
                    .expect("cast to Utf8")
            })
            .collect();
        let mut groups: Vec<(String, Vec<u32>)> = Vec::new();
        let mut index: std::collections::HashMap<String, usize> = Default::default();
        for row in 0..batch.num_rows() {
            let mut dir = String::new();
            for (k, col) in self.keys.iter().zip(&values) {
                if !dir.is_empty() {
                    dir.push('/');
                }
                dir.push_str(&escape(self.schema.field(*k).name()));
                dir.push('=');
                let v = if col.is_null(row) || col.value(row).is_empty() {
                    self.default_name.clone()
                } else {
                    // Timestamps as Flink prints them: a space between date and time.
                    let v = col.value(row);
                    match self.schema.field(*k).data_type() {
                        DataType::Timestamp(..) => escape(&v.replacen('T', " ", 1)),
                        _ => escape(v),
                    }
                };
                dir.push_str(&v);
            }
            let g = *index.entry(dir.clone()).or_insert_with(|| {
                groups.push((dir, Vec::new()));
                groups.len() - 1
            });
            groups[g].1.push(row as u32);
        }
        groups
            .into_iter()
            .map(|(dir, rows)| {
                let idx = UInt32Array::from(rows);
                let cols = data
                    .columns()
                    .iter()
                    .map(|c| take(c, &idx, None))
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                Ok((dir, RecordBatch::try_new(self.data_schema.clone(), cols)?))
            })
            .collect()
    }

    /// Adds the partition columns of `file` (under `root`) to rows read from it.
    pub(super) fn complete(
        &self,
        root: &Path,
        file: &Path,
        data: RecordBatch,
    ) -> Result<RecordBatch> {
        if self.keys.is_empty() {
            return Ok(data);
        }
        let rel = file.strip_prefix(root).unwrap_or(file);
        let mut found: std::collections::HashMap<String, String> = Default::default();
        for part in rel.parent().into_iter().flat_map(|p| p.components()) {
            let part = part.as_os_str().to_string_lossy();
            if let Some((k, v)) = part.split_once('=') {
                found.insert(unescape(k), unescape(v));
            }
        }
        let rows = data.num_rows();
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.schema.fields().len());
        let mut data_cols = data.columns().iter();
        for (i, field) in self.schema.fields().iter().enumerate() {
            if !self.keys.contains(&i) {
                columns.push(data_cols.next().expect("a file column").clone());
                continue;
            }
            let value = found.get(field.name()).filter(|v| **v != self.default_name);
            let col = match value {
                None => new_null_array(field.data_type(), rows),
                Some(v) => {
                    let text: ArrayRef = Arc::new(StringArray::from(vec![v.as_str(); rows]));
                    let typed = cast(&text, field.data_type())?;
                    if typed.null_count() > 0 {
                        return Err(RunnelError::Connector(format!(
                            "{}: partition value '{v}' of `{}` is not a {}",
                            file.display(),
                            field.name(),
                            runnel_types::flink_type_name(field.data_type())
                        )));
                    }
                    typed
                }
            };
            columns.push(col);
        }
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}

/// Hive's path escaping (Flink's `PartitionPathUtils.escapePathName`).
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let needs = c.is_control()
            || matches!(
                c,
                '"' | '#'
                    | '%'
                    | '\''
                    | '*'
                    | '/'
                    | ':'
                    | '='
                    | '?'
                    | '\\'
                    | '\x7f'
                    | '{'
                    | '['
                    | ']'
                    | '^'
            );
        if needs {
            out.push_str(&format!("%{:02X}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && b[i + 1].is_ascii_hexdigit()
            && b[i + 2].is_ascii_hexdigit()
        {
            let hex = |c: u8| (c as char).to_digit(16).expect("hex digit") as u8;
            out.push(hex(b[i + 1]) << 4 | hex(b[i + 2]));
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_round_trips() {
        for s in ["plain", "a/b", "x=1", "50%", "2024-01-01 10:00:00", "ü"] {
            assert_eq!(unescape(&escape(s)), s);
        }
        assert_eq!(escape("a/b:c"), "a%2Fb%3Ac");
    }
}
