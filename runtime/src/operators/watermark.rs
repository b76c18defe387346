use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, TimeUnit, TimestampMillisecondType};
use runnel_expr::ExprRef;
use runnel_types::ChangeBatch;

use super::{Operator, Output};
use crate::error::{Result, RunnelError};

/// Generates watermarks from `WATERMARK FOR col AS expr` the way Flink's SQL assigner does:
/// the watermark is the largest value of `expr` so far (starting from 0); it is emitted right
/// after a row that moves it more than `interval` past the last emitted one, and otherwise
/// every `interval` of processing time. A bounded input ends with `i64::MAX`.
///
/// Emitting at the same rows as Flink makes late-data handling match Flink on the same input.
pub struct WatermarkAssigner {
    expr: ExprRef,
    rowtime: usize,
    interval: i64,
    current: i64,
    last: i64,
    last_periodic: Instant,
    period: Duration,
    /// The split the current rows come from, once the source names splits.
    split: Option<u32>,
    /// Largest watermark expression value per split; the output is their minimum.
    splits: std::collections::HashMap<u32, i64>,
}

impl WatermarkAssigner {
    /// `expr` must evaluate to a TIMESTAMP(3) or TIMESTAMP_LTZ(3); `rowtime` is the column
    /// whose NULLs are refused.
    pub fn new(expr: ExprRef, rowtime: usize, interval: Duration) -> Result<Self> {
        match expr.data_type() {
            DataType::Timestamp(TimeUnit::Millisecond, _) => {}
            other => {
                return Err(RunnelError::Plan(format!(
                    "the watermark expression must be TIMESTAMP(3) or TIMESTAMP_LTZ(3), not {}",
                    runnel_types::flink_type_name(other)
                )));
            }
        }
        Ok(WatermarkAssigner {
            expr,
            rowtime,
            interval: interval.as_millis() as i64,
            current: 0,
            last: 0,
            last_periodic: Instant::now(),
            period: interval,
            split: None,
            splits: std::collections::HashMap::new(),
        })
    }

    fn advance(&mut self, out: &mut Output) {
        if self.current > self.last {
            self.last = self.current;
            out.watermark(self.current);
        }
    }
}

impl Operator for WatermarkAssigner {
    fn on_batch(&mut self, _input: usize, batch: ChangeBatch, out: &mut Output) -> Result<()> {
        if batch.data.column(self.rowtime).null_count() > 0 {
            return Err(RunnelError::Plan(format!(
                "the rowtime column `{}` is NULL in a row; a time attribute must not be NULL",
                batch.schema().field(self.rowtime).name()
            )));
        }
        let wm = self.expr.evaluate(&batch.data)?;
        let wm = wm.as_primitive::<TimestampMillisecondType>();
        if let Some(split) = self.split {
            // Per split: a split's own maximum, and the output is the minimum over the splits
            // assigned (one without data holds the others back, as in Flink).
            let max = wm.iter().flatten().max();
            let entry = self.splits.entry(split).or_insert(0);
            if let Some(m) = max {
                *entry = (*entry).max(m);
            }
            self.current = self
                .current
                .max(self.splits.values().copied().min().unwrap_or(0));
            out.emit(batch);
            if self.current - self.last > self.interval
                || self.last_periodic.elapsed() >= self.period
            {
                self.last_periodic = Instant::now();
                self.advance(out);
            }
            return Ok(());
        }
        let mut start = 0;
        for i in 0..wm.len() {
            if wm.is_valid(i) {
                self.current = self.current.max(wm.value(i));
            }
            if self.current - self.last > self.interval {
                out.emit(batch.slice(start, i + 1 - start));
                start = i + 1;
                self.advance(out);
            }
        }
        if start == 0 {
            out.emit(batch);
        } else if start < wm.len() {
            out.emit(batch.slice(start, wm.len() - start));
        }
        if self.last_periodic.elapsed() >= self.period {
            self.last_periodic = Instant::now();
            self.advance(out);
        }
        Ok(())
    }

    fn on_source_split(&mut self, split: u32) {
        self.split = Some(split);
        self.splits.entry(split).or_insert(0);
    }

    fn on_watermark(&mut self, _watermark: i64, _out: &mut Output) -> Result<()> {
        // Upstream watermarks are replaced by this assigner's own.
        Ok(())
    }

    fn on_end(&mut self, out: &mut Output) -> Result<()> {
        self.current = i64::MAX;
        out.watermark(i64::MAX);
        Ok(())
    }
}
