use std::collections::HashMap;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use runnel_nexmark::{Emitted, NexmarkConfig, NexmarkGenerator, schema as nexmark_schema};

use super::{Source, SourcePoll, SourceSpec, TableOptions, factory};
use crate::checkpoint::{RestoredState, StateReader, StateWriter};
use crate::error::{Result, RunnelError};
use crate::operators::SubtaskContext;

const BATCH: usize = 8192;

/// The Nexmark generator as a source: split k of n generates its share of the event numbers.
struct NexmarkSource {
    generator: NexmarkGenerator,
    config: NexmarkConfig,
    split: usize,
    splits: usize,
    /// Positions of the table's columns in the generator's schema.
    projection: Vec<usize>,
    schema: SchemaRef,
}

impl Source for NexmarkSource {
    /// One entry per split: its index, the next event number it would generate, and what
    /// the job had generated when the split started (non-empty after a restore at another
    /// parallelism, until every split has moved past it).
    fn snapshot(&mut self) -> Result<Vec<Vec<u8>>> {
        let mut w = StateWriter::default();
        w.u64(self.split as u64);
        w.u64(self.generator.next_event_number());
        let before = self.generator.emitted_before().to_numbers();
        w.u64(before.len() as u64);
        for n in before {
            w.u64(n);
        }
        Ok(vec![w.into_bytes()])
    }

    /// Every old split's position (union state) lets the new splits, whatever their number,
    /// generate exactly the events not generated before.
    fn restore(&mut self, state: RestoredState) -> Result<()> {
        if state.union.is_empty() {
            return Ok(());
        }
        let mut next = vec![0u64; state.union.len()];
        let mut before = Emitted::default();
        for entry in &state.union {
            let mut r = StateReader::new(entry);
            let split = r.u64()? as usize;
            let n = r.u64()?;
            // The old splits all started from the same state (snapshots of older builds
            // end before it: nothing generated before).
            let numbers = if r.is_at_end() {
                vec![0, 0]
            } else {
                (0..r.count()?)
                    .map(|_| r.u64())
                    .collect::<Result<Vec<_>>>()?
            };
            r.finish()?;
            before = Emitted::from_numbers(&numbers).ok_or_else(|| {
                RunnelError::State(
                    "nexmark source state: corrupt record of generated events".into(),
                )
            })?;
            let slot = next.get_mut(split).ok_or_else(|| {
                RunnelError::State(format!(
                    "nexmark source state names split {split} of {}",
                    state.union.len()
                ))
            })?;
            *slot = n;
        }
        let emitted = Emitted::after(&before, &next);
        self.generator =
            NexmarkGenerator::restore(self.config.clone(), self.split, self.splits, &emitted)
                .map_err(|e| RunnelError::Connector(format!("nexmark source: {e}")))?;
        Ok(())
    }

    fn pending_records(&self) -> Option<u64> {
        self.generator.remaining()
    }

    fn poll_next(&mut self) -> Result<SourcePoll> {
        match self.generator.next_batch(BATCH) {
            None => Ok(SourcePoll::End),
            Some(b) => {
                let cols = self
                    .projection
                    .iter()
                    .map(|i| b.column(*i).clone())
                    .collect();
                Ok(SourcePoll::Batch(RecordBatch::try_new(
                    self.schema.clone(),
                    cols,
                )?))
            }
        }
    }
}

pub(super) fn create(table: &str, schema: SchemaRef, options: &TableOptions) -> Result<SourceSpec> {
    let map: HashMap<String, String> = options
        .map()
        .iter()
        .filter(|(k, _)| k.as_str() != "connector")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let config = NexmarkConfig::from_options(&map)
        .map_err(|e| RunnelError::Connector(format!("table `{table}`: {e}")))?;
    let full = nexmark_schema();
    let mut projection = Vec::new();
    for f in schema.fields() {
        let Ok(i) = full.index_of(f.name()) else {
            return Err(RunnelError::Connector(format!(
                "table `{table}`: the nexmark connector has no column `{}` (it provides: {})",
                f.name(),
                full.fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        if full.field(i).data_type() != f.data_type() {
            return Err(RunnelError::Connector(format!(
                "table `{table}`: column `{}` is declared {} but the nexmark connector produces {}",
                f.name(),
                runnel_types::flink_type_name(f.data_type()),
                runnel_types::flink_type_name(full.field(i).data_type())
            )));
        }
        projection.push(i);
    }
    let bounded = config.total_events().is_some();
    let out_schema = schema.clone();
    Ok(SourceSpec {
        schema,
        factory: factory(move |ctx: &SubtaskContext| {
            let generator =
                NexmarkGenerator::new(config.clone(), ctx.index as usize, ctx.parallelism as usize)
                    .map_err(|e| RunnelError::Connector(format!("nexmark source: {e}")))?;
            Ok(Box::new(NexmarkSource {
                generator,
                config: config.clone(),
                split: ctx.index as usize,
                splits: ctx.parallelism as usize,
                projection: projection.clone(),
                schema: out_schema.clone(),
            }) as Box<dyn Source>)
        }),
        bounded,
        max_parallelism: None,
        updating: false,
    })
}
