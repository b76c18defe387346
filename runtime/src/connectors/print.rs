use std::io::Write;

use arrow::datatypes::SchemaRef;
use runnel_types::{ChangeBatch, format_row};

use super::{SinkMode, SinkSpec, TableOptions, factory};
use crate::error::{Result, RunnelError};
use crate::operators::{Operator, Output};

/// Flink's `print` sink: one `+I[...]` line per row on stdout (or stderr), prefixed like
/// Flink's (`identifier:subtask> `) so output of the two systems compares line for line.
struct PrintSink {
    prefix: String,
    stderr: bool,
    line: String,
}

impl Operator for PrintSink {
    fn on_batch(&mut self, _input: usize, batch: ChangeBatch, _out: &mut Output) -> Result<()> {
        let mut text = String::with_capacity(batch.num_rows() * 64);
        for row in 0..batch.num_rows() {
            self.line.clear();
            format_row(&batch.data, row, batch.kind(row), &mut self.line);
            text.push_str(&self.prefix);
            text.push_str(&self.line);
            text.push('\n');
        }
        let res = if self.stderr {
            std::io::stderr().lock().write_all(text.as_bytes())
        } else {
            std::io::stdout().lock().write_all(text.as_bytes())
        };
        res.map_err(|e| RunnelError::io("print sink: writing to stdout", e))
    }

    fn on_watermark(&mut self, _watermark: i64, _out: &mut Output) -> Result<()> {
        Ok(())
    }
}

pub(super) fn create(table: &str, _schema: SchemaRef, options: &TableOptions) -> Result<SinkSpec> {
    options.check_known(
        table,
        "print",
        &["print-identifier", "standard-error", "sink.parallelism"],
        &[],
    )?;
    let identifier = options.get("print-identifier").map(str::to_string);
    let stderr = options.bool(table, "standard-error")?.unwrap_or(false);
    Ok(SinkSpec {
        factory: factory(move |ctx: &crate::operators::SubtaskContext| {
            let prefix = match (&identifier, ctx.parallelism > 1) {
                (Some(id), true) => format!("{id}:{}> ", ctx.index + 1),
                (Some(id), false) => format!("{id}> "),
                (None, true) => format!("{}> ", ctx.index + 1),
                (None, false) => String::new(),
            };
            Ok(Box::new(PrintSink {
                prefix,
                stderr,
                line: String::new(),
            }) as Box<dyn Operator>)
        }),
        mode: SinkMode::AllChanges,
    })
}
