use runnel_types::ChangeBatch;

use super::{SinkMode, SinkSpec, TableOptions, factory};
use crate::error::Result;
use crate::operators::{Operator, Output, SubtaskContext};

/// Flink's `blackhole` sink: accepts everything, writes nothing; for benchmarks.
struct Blackhole;

impl Operator for Blackhole {
    fn on_batch(&mut self, _input: usize, batch: ChangeBatch, _out: &mut Output) -> Result<()> {
        std::hint::black_box(batch);
        Ok(())
    }

    fn on_watermark(&mut self, _watermark: i64, _out: &mut Output) -> Result<()> {
        Ok(())
    }
}

pub(super) fn create(table: &str, options: &TableOptions) -> Result<SinkSpec> {
    options.check_known(table, "blackhole", &["sink.parallelism"], &[])?;
    Ok(SinkSpec {
        factory: factory(|_: &SubtaskContext| Ok(Box::new(Blackhole) as Box<dyn Operator>)),
        mode: SinkMode::AllChanges,
    })
}
