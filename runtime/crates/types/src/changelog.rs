use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int8Array, RecordBatch};
use arrow::compute::{filter_record_batch, take_record_batch};
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;

/// The kind of change a row stands for, with Flink's names and short strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i8)]
pub enum RowKind {
    /// `+I`: a new row.
    Insert = 0,
    /// `-U`: the previous content of a row about to be updated.
    UpdateBefore = 1,
    /// `+U`: the new content of an updated row.
    UpdateAfter = 2,
    /// `-D`: a row that no longer exists.
    Delete = 3,
}

impl RowKind {
    /// Flink's short string (`+I`, `-U`, `+U`, `-D`), used by `print` and tableau output.
    pub fn short_string(self) -> &'static str {
        match self {
            RowKind::Insert => "+I",
            RowKind::UpdateBefore => "-U",
            RowKind::UpdateAfter => "+U",
            RowKind::Delete => "-D",
        }
    }

    /// Whether the row adds to the result (`+I`, `+U`) rather than retracting from it.
    pub fn is_accumulate(self) -> bool {
        matches!(self, RowKind::Insert | RowKind::UpdateAfter)
    }

    /// Decodes the `i8` stored in a kinds column.
    pub fn from_i8(v: i8) -> RowKind {
        match v {
            1 => RowKind::UpdateBefore,
            2 => RowKind::UpdateAfter,
            3 => RowKind::Delete,
            _ => RowKind::Insert,
        }
    }
}

/// A batch of rows, each with its [`RowKind`]; `kinds == None` means every row is `+I`,
/// which keeps append-only pipelines free of per-row bookkeeping.
#[derive(Clone, Debug)]
pub struct ChangeBatch {
    /// The rows.
    pub data: RecordBatch,
    /// One kind per row, or `None` when all rows are inserts.
    pub kinds: Option<Arc<Int8Array>>,
}

impl ChangeBatch {
    /// An insert-only batch.
    pub fn inserts(data: RecordBatch) -> Self {
        ChangeBatch { data, kinds: None }
    }

    /// A batch with explicit kinds; `kinds.len()` must equal the number of rows.
    pub fn with_kinds(data: RecordBatch, kinds: Vec<RowKind>) -> Self {
        debug_assert_eq!(kinds.len(), data.num_rows());
        if kinds.iter().all(|k| *k == RowKind::Insert) {
            return ChangeBatch::inserts(data);
        }
        let arr = Int8Array::from_iter_values(kinds.into_iter().map(|k| k as i8));
        ChangeBatch {
            data,
            kinds: Some(Arc::new(arr)),
        }
    }

    /// Number of rows.
    pub fn num_rows(&self) -> usize {
        self.data.num_rows()
    }

    /// The schema of the rows.
    pub fn schema(&self) -> SchemaRef {
        self.data.schema()
    }

    /// The kind of row `i`.
    pub fn kind(&self, i: usize) -> RowKind {
        match &self.kinds {
            None => RowKind::Insert,
            Some(k) => RowKind::from_i8(k.value(i)),
        }
    }

    /// Whether every row is an insert.
    pub fn is_insert_only(&self) -> bool {
        self.kinds.is_none()
    }

    /// Keeps the rows where `mask` is true, with their kinds.
    pub fn filter(&self, mask: &arrow::array::BooleanArray) -> Result<ChangeBatch, ArrowError> {
        let data = filter_record_batch(&self.data, mask)?;
        let kinds = match &self.kinds {
            None => None,
            Some(k) => {
                let f = arrow::compute::filter(k.as_ref(), mask)?;
                Some(Arc::new(
                    f.as_any()
                        .downcast_ref::<Int8Array>()
                        .expect("filter keeps the type")
                        .clone(),
                ))
            }
        };
        Ok(ChangeBatch { data, kinds })
    }

    /// Picks rows by index, with their kinds.
    pub fn take(&self, indices: &arrow::array::UInt32Array) -> Result<ChangeBatch, ArrowError> {
        let data = take_record_batch(&self.data, indices)?;
        let kinds = match &self.kinds {
            None => None,
            Some(k) => {
                let t = arrow::compute::take(k.as_ref(), indices, None)?;
                Some(Arc::new(
                    t.as_any()
                        .downcast_ref::<Int8Array>()
                        .expect("take keeps the type")
                        .clone(),
                ))
            }
        };
        Ok(ChangeBatch { data, kinds })
    }

    /// Rows `offset..offset + len`, zero-copy.
    pub fn slice(&self, offset: usize, len: usize) -> ChangeBatch {
        ChangeBatch {
            data: self.data.slice(offset, len),
            kinds: self.kinds.as_ref().map(|k| Arc::new(k.slice(offset, len))),
        }
    }

    /// Replaces the columns, keeping the kinds (a projection).
    pub fn with_columns(
        &self,
        schema: SchemaRef,
        columns: Vec<ArrayRef>,
    ) -> Result<ChangeBatch, ArrowError> {
        let data = RecordBatch::try_new_with_options(
            schema,
            columns,
            &arrow::array::RecordBatchOptions::new().with_row_count(Some(self.num_rows())),
        )?;
        Ok(ChangeBatch {
            data,
            kinds: self.kinds.clone(),
        })
    }
}
