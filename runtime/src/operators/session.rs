use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{SchemaRef, TimestampMillisecondType};
use arrow::row::{OwnedRow, RowConverter, RowParser, SortField};
use runnel_types::{ChangeBatch, RowKind};
use std::collections::BTreeMap;

use super::accumulators::{AggRuntime, AggSpec, AggValue, build_columns};
use super::{Operator, Output, SubtaskContext, timestamps};
use crate::checkpoint::{OperatorSnapshot, RestoredState, StateReader, StateWriter};
use crate::dataflow::assign_key_group;
use crate::error::Result;
use crate::state::{EventTimers, KeyedState, TimerKey, ValueCodec, hash_columns};

/// The layout of a session-window aggregate's input: `[keys.., args..]` plus the time column.
#[derive(Clone, Debug)]
pub struct SessionLayout {
    /// Number of leading key columns (GROUP BY keys).
    pub key_columns: usize,
    /// How many of the leading key columns form sessions (PARTITION BY, or all GROUP BY keys
    /// of a legacy `SESSION(..)` group window); the rest split a session's rows into groups.
    pub session_key_columns: usize,
    /// Input column with the event time.
    pub time_column: usize,
    /// Inactivity gap that closes a session, in milliseconds.
    pub gap: i64,
    /// The aggregate calls.
    pub aggs: Vec<AggSpec>,
    /// Output: `[keys.., window_start, window_end, window_time, aggs..]`.
    pub output_schema: SchemaRef,
}

/// Rows of one key not yet in a closed session, ordered by time.
struct Pending {
    rows: Vec<(i64, OwnedRow, OwnedRow)>,
}

/// A key's pending rows: time, row and GROUP BY key, in Arrow's row format.
struct PendingCodec {
    rows: RowParser,
    groups: RowParser,
}

impl ValueCodec<Pending> for PendingCodec {
    fn encode(&self, p: &Pending, w: &mut StateWriter) {
        w.u64(p.rows.len() as u64);
        for (t, row, group) in &p.rows {
            w.i64(*t);
            w.bytes(row.row().as_ref());
            w.bytes(group.row().as_ref());
        }
    }

    fn decode(&self, r: &mut StateReader<'_>) -> Result<Pending> {
        let n = r.count()?;
        let rows = (0..n)
            .map(|_| {
                let t = r.i64()?;
                let row = self.rows.parse(r.bytes()?).owned();
                let group = self.groups.parse(r.bytes()?).owned();
                Ok((t, row, group))
            })
            .collect::<Result<_>>()?;
        Ok(Pending { rows })
    }
}

/// Session windows per key: rows are kept until the watermark passes the end of their
/// session (last row + gap), then aggregated and emitted once, as Flink's session windows.
pub struct SessionAggregate {
    layout: SessionLayout,
    aggs: Vec<AggRuntime>,
    key_conv: RowConverter,
    group_conv: RowConverter,
    row_conv: RowConverter,
    state: KeyedState<Pending>,
    timers: EventTimers,
    watermark: i64,
    max_parallelism: u32,
    hashes: Vec<u64>,
    input_schema: SchemaRef,
}

impl SessionAggregate {
    /// A session aggregate for one subtask.
    pub fn new(
        layout: SessionLayout,
        input_schema: SchemaRef,
        ctx: &SubtaskContext,
    ) -> Result<Self> {
        let fields = |n: usize| -> Vec<SortField> {
            (0..n)
                .map(|i| SortField::new(input_schema.field(i).data_type().clone()))
                .collect()
        };
        let key_fields = fields(layout.session_key_columns);
        let group_fields = fields(layout.key_columns);
        let row_fields = input_schema
            .fields()
            .iter()
            .map(|f| SortField::new(f.data_type().clone()))
            .collect();
        let row_conv = RowConverter::new(row_fields)?;
        let group_conv = RowConverter::new(group_fields)?;
        let codec = PendingCodec {
            rows: row_conv.parser(),
            groups: group_conv.parser(),
        };
        Ok(SessionAggregate {
            aggs: layout
                .aggs
                .iter()
                .cloned()
                .map(|spec| AggRuntime::new(spec, false))
                .collect::<Result<_>>()?,
            key_conv: RowConverter::new(key_fields)?,
            group_conv,
            row_conv,
            state: KeyedState::new(ctx, "sessions", codec)?,
            timers: EventTimers::default(),
            watermark: i64::MIN,
            max_parallelism: ctx.max_parallelism,
            hashes: Vec::new(),
            input_schema,
            layout,
        })
    }

    /// Aggregates the rows of one session.
    fn aggregate(&self, rows: &[&(i64, OwnedRow, OwnedRow)]) -> Result<Vec<AggValue>> {
        let cols = self.row_conv.convert_rows(rows.iter().map(|r| r.1.row()))?;
        let batch = RecordBatch::try_new(self.input_schema.clone(), cols)?;
        let cols = batch.columns();
        let mut accs: Vec<_> = self.aggs.iter().map(|a| a.create()).collect();
        for (i, a) in self.aggs.iter().enumerate() {
            let arg = a.prepare(cols)?;
            for r in 0..batch.num_rows() {
                if a.passes(cols, r) {
                    a.update(&mut accs[i], &arg, r, false);
                }
            }
        }
        Ok(self
            .aggs
            .iter()
            .zip(&accs)
            .map(|(a, acc)| a.value(acc))
            .collect())
    }
}

impl Operator for SessionAggregate {
    fn snapshot(&mut self, _checkpoint_id: u64, snap: &mut OperatorSnapshot) -> Result<()> {
        self.state.snapshot(snap)?;
        self.timers.snapshot(snap, self.state.key_groups());
        Ok(())
    }

    fn restore(&mut self, restored: RestoredState) -> Result<()> {
        let range = self.state.key_groups();
        let (state, timers) = (&mut self.state, &mut self.timers);
        state.restore_native(&restored)?;
        restored.for_each_group(range, |kg, r| {
            state.restore_group(kg, r)?;
            timers.restore_group(kg, r)
        })
    }

    fn on_batch(&mut self, _input: usize, batch: ChangeBatch, _out: &mut Output) -> Result<()> {
        let cols = batch.data.columns();
        let sk = self.layout.session_key_columns;
        let keys = self.key_conv.convert_columns(&cols[..sk])?;
        let groups = self
            .group_conv
            .convert_columns(&cols[..self.layout.key_columns])?;
        hash_columns(&cols[..sk], batch.num_rows(), &mut self.hashes)?;
        let rows = self.row_conv.convert_columns(cols)?;
        let times = cols[self.layout.time_column].as_primitive::<TimestampMillisecondType>();
        let gap = self.layout.gap;
        for r in 0..batch.num_rows() {
            if times.is_null(r) {
                continue;
            }
            let t = times.value(r);
            if t + gap - 1 <= self.watermark {
                continue; // late: the session it would open has already been closed
            }
            let h = self.hashes[r];
            let kg = assign_key_group(h, self.max_parallelism);
            let key = keys.row(r);
            let (p, _) = self
                .state
                .get_or_insert_with(kg, h, key.as_ref(), || Pending { rows: Vec::new() })?;
            let pos = p.rows.partition_point(|(x, _, _)| *x <= t);
            p.rows
                .insert(pos, (t, rows.row(r).owned(), groups.row(r).owned()));
            self.timers.register(t + gap, kg, h, key.as_ref());
        }
        Ok(())
    }

    fn on_watermark(&mut self, watermark: i64, out: &mut Output) -> Result<()> {
        self.watermark = watermark;
        let gap = self.layout.gap;
        let mut due: Vec<TimerKey> = self
            .timers
            .pop_due(watermark)
            .into_iter()
            .map(|(_, k)| k)
            .collect();
        due.sort();
        due.dedup();
        let mut out_keys: Vec<OwnedRow> = Vec::new();
        let mut bounds: Vec<(i64, i64)> = Vec::new();
        let mut values = Vec::new();
        for TimerKey {
            key_group: kg,
            hash: h,
            key,
        } in due
        {
            let Some(p) = self.state.get_mut(kg, h, &key)? else {
                continue;
            };
            let rows = std::mem::take(&mut p.rows);
            // Split into sessions; emit the closed ones, keep the open tail.
            let mut start = 0;
            let mut keep = Vec::new();
            for i in 0..rows.len() {
                let last = i + 1 == rows.len();
                if last || rows[i + 1].0 >= rows[i].0 + gap {
                    let (s, e) = (rows[start].0, rows[i].0 + gap);
                    if e - 1 <= watermark {
                        // One output row per GROUP BY key within the session.
                        let mut by_group: BTreeMap<&[u8], Vec<&(i64, OwnedRow, OwnedRow)>> =
                            BTreeMap::new();
                        for r in &rows[start..=i] {
                            by_group.entry(r.2.as_ref()).or_default().push(r);
                        }
                        for (_, members) in by_group {
                            values.push(self.aggregate(&members)?);
                            out_keys.push(members[0].2.clone());
                            bounds.push((s, e));
                        }
                    } else {
                        keep.extend_from_slice(&rows[start..=i]);
                    }
                    start = i + 1;
                }
            }
            if keep.is_empty() {
                self.state.remove(kg, h, &key)?;
            } else if let Some(p) = self.state.get_mut(kg, h, &key)? {
                p.rows = keep;
            }
        }
        if !out_keys.is_empty() {
            let mut cols: Vec<ArrayRef> = self
                .group_conv
                .convert_rows(out_keys.iter().map(|r| r.row()))?;
            let k = cols.len();
            let schema = &self.layout.output_schema;
            cols.push(timestamps(
                bounds.iter().map(|b| b.0),
                schema.field(k).data_type(),
            ));
            cols.push(timestamps(
                bounds.iter().map(|b| b.1),
                schema.field(k + 1).data_type(),
            ));
            cols.push(timestamps(
                bounds.iter().map(|b| b.1 - 1),
                schema.field(k + 2).data_type(),
            ));
            cols.extend(build_columns(&self.aggs, values)?);
            let kinds = vec![RowKind::Insert; out_keys.len()];
            let data = RecordBatch::try_new(self.layout.output_schema.clone(), cols)?;
            out.emit(ChangeBatch::with_kinds(data, kinds));
        }
        out.watermark(watermark);
        Ok(())
    }
}
