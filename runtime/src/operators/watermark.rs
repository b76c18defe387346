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
///
/// With `table.exec.source.idle-timeout`, a split (or, for sources without splits, the whole
/// reader) that produced nothing for that long stops holding the watermark back; when all are
/// idle, the output is marked idle until rows come again.
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
    /// Largest watermark expression value per split, and when it last had rows; the output
    /// is the minimum over the splits that are not idle.
    splits: std::collections::HashMap<u32, (i64, Instant)>,
    idle_timeout: Option<Duration>,
    /// When rows last came (for sources without splits).
    last_rows: Instant,
    /// The output was marked idle and no rows came since.
    said_idle: bool,
}

impl WatermarkAssigner {
    /// `expr` must evaluate to a TIMESTAMP(3) or TIMESTAMP_LTZ(3); `rowtime` is the column
    /// whose NULLs are refused.
    pub fn new(
        expr: ExprRef,
        rowtime: usize,
        interval: Duration,
        idle_timeout: Option<Duration>,
    ) -> Result<Self> {
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
            idle_timeout,
            last_rows: Instant::now(),
            said_idle: false,
        })
    }

    fn is_idle(&self, since: Instant) -> bool {
        self.idle_timeout.is_some_and(|t| since.elapsed() >= t)
    }

    /// The minimum over splits that are not idle; None when all are.
    fn split_minimum(&self) -> Option<i64> {
        self.splits
            .values()
            .filter(|(_, seen)| !self.is_idle(*seen))
            .map(|(max, _)| *max)
            .min()
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
            let entry = self.splits.entry(split).or_insert((0, Instant::now()));
            entry.1 = Instant::now();
            if let Some(m) = max {
                entry.0 = entry.0.max(m);
            }
            self.said_idle = false;
            self.current = self.current.max(self.split_minimum().unwrap_or(0));
            out.emit(batch);
            if self.current - self.last > self.interval
                || self.last_periodic.elapsed() >= self.period
            {
                self.last_periodic = Instant::now();
                self.advance(out);
            }
            return Ok(());
        }
        self.last_rows = Instant::now();
        self.said_idle = false;
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
        self.splits.entry(split).or_insert((0, Instant::now()));
    }

    /// Idle detection while the source has nothing: splits that went quiet stop holding the
    /// watermark back; with all of them (or the whole reader) quiet, the output goes idle.
    fn on_idle_tick(&mut self, out: &mut Output) -> Result<()> {
        if self.idle_timeout.is_none() || self.said_idle {
            return Ok(());
        }
        let all_idle = if self.splits.is_empty() {
            self.is_idle(self.last_rows)
        } else {
            match self.split_minimum() {
                Some(min) => {
                    self.current = self.current.max(min);
                    if self.last_periodic.elapsed() >= self.period {
                        self.last_periodic = Instant::now();
                        self.advance(out);
                    }
                    false
                }
                None => {
                    // The split that went quiet last was the only one holding event time
                    // when the others went idle: its watermark stands (as in Flink, whose
                    // periodic emission would have sent it in between).
                    if let Some((max, _)) = self.splits.values().max_by_key(|(_, seen)| *seen) {
                        self.current = self.current.max(*max);
                        self.advance(out);
                    }
                    true
                }
            }
        };
        if all_idle {
            self.said_idle = true;
            out.push(crate::dataflow::Message::Idle);
        }
        Ok(())
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
