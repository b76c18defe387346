use std::time::{Duration, Instant};

use arrow::array::AsArray;
use arrow::datatypes::{DataType, TimeUnit, TimestampMillisecondType};
use runnel_expr::ExprRef;
use runnel_types::ChangeBatch;

use super::{Operator, Output};
use crate::error::{Result, RunnelError};

/// Generates watermarks from `WATERMARK FOR col AS expr`: the largest `expr` seen so far,
/// emitted at most once per `interval` (Flink's `pipeline.auto-watermark-interval`), and a
/// final `i64::MAX` at the end of a bounded input.
pub struct WatermarkAssigner {
    expr: ExprRef,
    interval: Duration,
    max_seen: i64,
    emitted: i64,
    last_emit: Instant,
}

impl WatermarkAssigner {
    /// `expr` must evaluate to a TIMESTAMP(3) or TIMESTAMP_LTZ(3).
    pub fn new(expr: ExprRef, interval: Duration) -> Result<Self> {
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
            interval,
            max_seen: i64::MIN,
            emitted: i64::MIN,
            last_emit: Instant::now(),
        })
    }
}

impl Operator for WatermarkAssigner {
    fn on_batch(&mut self, _input: usize, batch: ChangeBatch, out: &mut Output) -> Result<()> {
        let ts = self.expr.evaluate(&batch.data)?;
        let ts = ts.as_primitive::<TimestampMillisecondType>();
        if let Some(m) = arrow::compute::max(ts) {
            self.max_seen = self.max_seen.max(m);
        }
        out.emit(batch);
        if self.max_seen > self.emitted && self.last_emit.elapsed() >= self.interval {
            // As Flink's SQL assigner: the watermark is the largest value of the expression.
            let wm = self.max_seen;
            if wm > self.emitted {
                self.emitted = wm;
                out.watermark(wm);
            }
            self.last_emit = Instant::now();
        }
        Ok(())
    }

    fn on_watermark(&mut self, _watermark: i64, _out: &mut Output) -> Result<()> {
        // Upstream watermarks are replaced by this assigner's own.
        Ok(())
    }

    fn on_end(&mut self, out: &mut Output) -> Result<()> {
        out.watermark(i64::MAX);
        Ok(())
    }
}
