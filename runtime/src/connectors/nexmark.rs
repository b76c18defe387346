use std::collections::HashMap;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use runnel_nexmark::{NexmarkConfig, NexmarkGenerator, schema as nexmark_schema};

use super::{Source, SourcePoll, SourceSpec, TableOptions, factory};
use crate::error::{Result, RunnelError};
use crate::operators::SubtaskContext;

const BATCH: usize = 8192;

/// The Nexmark generator as a source: split k of n generates its share of the event numbers.
struct NexmarkSource {
    generator: NexmarkGenerator,
    /// Positions of the table's columns in the generator's schema.
    projection: Vec<usize>,
    schema: SchemaRef,
}

impl Source for NexmarkSource {
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
                projection: projection.clone(),
                schema: out_schema.clone(),
            }) as Box<dyn Source>)
        }),
        bounded,
        max_parallelism: None,
    })
}
