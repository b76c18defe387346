use arrow::array::{Array, ArrayRef, AsArray, UInt32Array};
use arrow::datatypes::{SchemaRef, TimestampMillisecondType};
use runnel_types::ChangeBatch;

use super::{Operator, Output, timestamps};
use crate::error::Result;

/// A window table-valued function's shape, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowSpec {
    /// `TUMBLE(.., size)`.
    Tumble { size: i64 },
    /// `HOP(.., slide, size)`.
    Hop { slide: i64, size: i64 },
    /// `CUMULATE(.., step, size)`.
    Cumulate { step: i64, size: i64 },
}

impl WindowSpec {
    /// Every window `[start, end)` that contains time `t`, as Flink assigns them.
    pub fn assign(&self, t: i64, out: &mut Vec<(i64, i64)>) {
        match *self {
            WindowSpec::Tumble { size } => {
                let start = t - t.rem_euclid(size);
                out.push((start, start + size));
            }
            WindowSpec::Hop { slide, size } => {
                let last_start = t - t.rem_euclid(slide);
                let mut start = last_start;
                while start > t - size {
                    out.push((start, start + size));
                    start -= slide;
                }
            }
            WindowSpec::Cumulate { step, size } => {
                let start = t - t.rem_euclid(size);
                let mut end = start + (t - start) / step * step + step;
                while end <= start + size {
                    out.push((start, end));
                    end += step;
                }
            }
        }
    }
}

/// Adds `window_start`, `window_end`, `window_time` to each row, one row per window it falls
/// in; rows with a NULL time attribute belong to no window and are dropped, as in Flink.
pub struct WindowAssigner {
    spec: WindowSpec,
    time_column: usize,
    schema: SchemaRef,
    scratch: Vec<(i64, i64)>,
}

impl WindowAssigner {
    /// Assigns by column `time_column`; `schema` is the input schema plus the three columns.
    pub fn new(spec: WindowSpec, time_column: usize, schema: SchemaRef) -> Self {
        WindowAssigner {
            spec,
            time_column,
            schema,
            scratch: Vec::new(),
        }
    }
}

impl Operator for WindowAssigner {
    fn on_batch(&mut self, _input: usize, batch: ChangeBatch, out: &mut Output) -> Result<()> {
        let times = batch
            .data
            .column(self.time_column)
            .as_primitive::<TimestampMillisecondType>();
        let mut take = Vec::with_capacity(batch.num_rows());
        let mut starts = Vec::with_capacity(batch.num_rows());
        let mut ends = Vec::with_capacity(batch.num_rows());
        for row in 0..batch.num_rows() {
            if times.is_null(row) {
                continue;
            }
            self.scratch.clear();
            self.spec.assign(times.value(row), &mut self.scratch);
            for (s, e) in &self.scratch {
                take.push(row as u32);
                starts.push(*s);
                ends.push(*e);
            }
        }
        let expanded = if take.len() == batch.num_rows()
            && take.iter().enumerate().all(|(i, r)| *r as usize == i)
        {
            batch
        } else {
            batch.take(&UInt32Array::from(take))?
        };
        let mut cols: Vec<ArrayRef> = expanded.data.columns().to_vec();
        let wt: Vec<i64> = ends.iter().map(|e| e - 1).collect();
        let k = cols.len();
        cols.push(timestamps(starts, self.schema.field(k).data_type()));
        cols.push(timestamps(ends, self.schema.field(k + 1).data_type()));
        cols.push(timestamps(wt, self.schema.field(k + 2).data_type()));
        out.emit(expanded.with_columns(self.schema.clone(), cols)?);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_the_time() {
        let mut v = Vec::new();
        WindowSpec::Tumble { size: 10 }.assign(23, &mut v);
        assert_eq!(v, vec![(20, 30)]);
        v.clear();
        WindowSpec::Hop { slide: 5, size: 10 }.assign(23, &mut v);
        assert_eq!(v, vec![(20, 30), (15, 25)]);
        v.clear();
        WindowSpec::Cumulate { step: 5, size: 20 }.assign(23, &mut v);
        assert_eq!(v, vec![(20, 25), (20, 30), (20, 35), (20, 40)]);
        v.clear();
        WindowSpec::Tumble { size: 10 }.assign(-3, &mut v);
        assert_eq!(v, vec![(-10, 0)]);
    }
}
