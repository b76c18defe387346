use arrow::array::{ArrayRef, AsArray};
use arrow::datatypes::{SchemaRef, TimestampMillisecondType};
use arrow::record_batch::RecordBatch;
use arrow::row::{OwnedRow, RowConverter, Rows, SortField};
use runnel_types::{ChangeBatch, RowKind};

use super::accumulators::{Acc, AggRuntime, AggSpec, AggValue, ArgColumn, build_columns};
use super::{Operator, Output, SubtaskContext, timestamps};
use crate::checkpoint::{OperatorSnapshot, RestoredState, StateReader, StateWriter};
use crate::dataflow::assign_key_group;
use crate::error::{Result, RunnelError};
use crate::state::{EventTimers, KeyedState, ValueCodec, hash_columns};

/// Where the window bounds sit among the key columns of a windowed aggregate.
#[derive(Clone, Copy, Debug)]
pub struct WindowKeys {
    /// Key column holding `window_start`.
    pub start: usize,
    /// Key column holding `window_end`.
    pub end: usize,
}

/// The layout of an aggregate's input: `[keys.., (window_start, window_end), args..]`.
#[derive(Clone, Debug)]
pub struct AggregateLayout {
    /// Number of leading key columns (window bounds included).
    pub key_columns: usize,
    /// How many of the leading key columns decide the key group (window bounds excluded).
    pub partition_columns: usize,
    /// Window bounds, for a windowed aggregate.
    pub window: Option<WindowKeys>,
    /// The aggregate calls.
    pub aggs: Vec<AggSpec>,
    /// Output: `[keys.., (window_time), aggs..]`.
    pub output_schema: SchemaRef,
    /// Whether the input retracts rows (is updating): MIN and MAX then keep every value with
    /// its count, as Flink's retracting MIN/MAX; on an append-only input only the extreme.
    pub retractions: bool,
}

struct GroupState {
    accs: Vec<Acc>,
    rows: i64,
}

impl GroupState {
    fn new(aggs: &[AggRuntime]) -> Self {
        GroupState {
            accs: aggs.iter().map(|a| a.create()).collect(),
            rows: 0,
        }
    }

    /// Adds (or retracts) row `row` of a batch to every aggregate whose FILTER it passes.
    fn add(
        &mut self,
        aggs: &[AggRuntime],
        cols: &[ArrayRef],
        args: &[ArgColumn],
        row: usize,
        retract: bool,
    ) {
        for (i, a) in aggs.iter().enumerate() {
            if a.passes(cols, row) {
                a.update(&mut self.accs[i], &args[i], row, retract);
            }
        }
        self.rows += if retract { -1 } else { 1 };
    }
}

/// Writes a group's row count and accumulators; reading checks the number of aggregate
/// functions against the query's.
struct GroupCodec {
    aggs: usize,
}

impl ValueCodec<GroupState> for GroupCodec {
    fn encode(&self, g: &GroupState, w: &mut StateWriter) {
        w.i64(g.rows);
        w.u64(g.accs.len() as u64);
        for acc in &g.accs {
            acc.write(w);
        }
    }

    fn decode(&self, r: &mut StateReader<'_>) -> Result<GroupState> {
        let rows = r.i64()?;
        let n = r.count()?;
        if n != self.aggs {
            return Err(RunnelError::State(format!(
                "the snapshot has {n} aggregate functions for this operator, the query {}",
                self.aggs
            )));
        }
        let accs = (0..n).map(|_| Acc::read(r)).collect::<Result<_>>()?;
        Ok(GroupState { accs, rows })
    }
}

/// GROUP BY aggregation. Without a window it emits an updating result per input row, as
/// Flink's `GroupAggFunction`: `+I` for a new key, `-U`/`+U` for a changed one, `-D` when a
/// key's last row is retracted. With a window it emits `+I` per window when the watermark
/// passes the window's end and drops rows for windows that already fired.
pub struct Aggregate {
    layout: AggregateLayout,
    aggs: Vec<AggRuntime>,
    key_conv: RowConverter,
    state: KeyedState<GroupState>,
    timers: EventTimers,
    watermark: i64,
    max_parallelism: u32,
    hashes: Vec<u64>,
}

impl Aggregate {
    /// An aggregate for one subtask.
    pub fn new(
        layout: AggregateLayout,
        input_schema: SchemaRef,
        ctx: &SubtaskContext,
    ) -> Result<Self> {
        let fields = (0..layout.key_columns)
            .map(|i| SortField::new(input_schema.field(i).data_type().clone()))
            .collect();
        Ok(Aggregate {
            aggs: layout
                .aggs
                .iter()
                .cloned()
                .map(|spec| AggRuntime::new(spec, layout.retractions))
                .collect::<Result<_>>()?,
            key_conv: RowConverter::new(fields)?,
            // Windows are cleaned up by their timers; only unbounded group state idles out.
            state: KeyedState::new(
                ctx,
                "groups",
                GroupCodec {
                    aggs: layout.aggs.len(),
                },
            )?
            .with_ttl(if layout.window.is_none() {
                ctx.state_ttl
            } else {
                None
            }),
            timers: EventTimers::default(),
            watermark: i64::MIN,
            max_parallelism: ctx.max_parallelism,
            hashes: Vec::new(),
            layout,
        })
    }

    fn values(&self, accs: &[Acc]) -> Vec<AggValue> {
        self.aggs
            .iter()
            .zip(accs)
            .map(|(a, acc)| a.value(acc))
            .collect()
    }

    fn build(
        &self,
        keys: Vec<OwnedRow>,
        values: Vec<Vec<AggValue>>,
        kinds: Vec<RowKind>,
    ) -> Result<ChangeBatch> {
        let mut cols: Vec<ArrayRef> = if keys.is_empty() {
            Vec::new()
        } else {
            self.key_conv.convert_rows(keys.iter().map(|r| r.row()))?
        };
        if keys.is_empty() {
            // No rows: nothing to build.
            return Ok(ChangeBatch::inserts(RecordBatch::new_empty(
                self.layout.output_schema.clone(),
            )));
        }
        if let Some(w) = self.layout.window {
            let ends = cols[w.end].as_primitive::<TimestampMillisecondType>();
            let k = cols.len();
            let times = timestamps(
                ends.values().iter().map(|e| e - 1),
                self.layout.output_schema.field(k).data_type(),
            );
            cols.push(times);
        }
        cols.extend(build_columns(&self.aggs, values)?);
        let data = RecordBatch::try_new(self.layout.output_schema.clone(), cols)?;
        Ok(ChangeBatch::with_kinds(data, kinds))
    }

    /// The key bytes and aggregate arguments of a batch; key hashes go to `self.hashes`.
    fn encode(&mut self, batch: &ChangeBatch) -> Result<(Rows, Vec<ArgColumn>)> {
        let cols = batch.data.columns();
        let keys = self
            .key_conv
            .convert_columns(&cols[..self.layout.key_columns])?;
        hash_columns(
            &cols[..self.layout.partition_columns],
            batch.num_rows(),
            &mut self.hashes,
        )?;
        let args = self
            .aggs
            .iter()
            .map(|a| a.prepare(cols))
            .collect::<Result<Vec<_>>>()?;
        Ok((keys, args))
    }

    fn on_updating_batch(&mut self, batch: &ChangeBatch, out: &mut Output) -> Result<()> {
        self.state.expire_idle();
        let cols = batch.data.columns();
        let (keys, args) = self.encode(batch)?;
        let mut out_keys = Vec::new();
        let mut out_vals = Vec::new();
        let mut out_kinds = Vec::new();
        for row in 0..batch.num_rows() {
            let retract = !batch.kind(row).is_accumulate();
            let hash = self.hashes[row];
            let kg = assign_key_group(hash, self.max_parallelism);
            let key = keys.row(row);
            let aggs = &self.aggs;
            // One lookup: the value before this row is read off the entry it updates.
            let (g, fresh) = self
                .state
                .get_or_insert_with(kg, hash, key.as_ref(), || GroupState::new(aggs))?;
            if fresh && retract {
                // Retraction of a key we never saw: ignore, as Flink.
                self.state.remove(kg, hash, key.as_ref())?;
                continue;
            }
            let prev = (!fresh).then(|| {
                aggs.iter()
                    .zip(&g.accs)
                    .map(|(a, acc)| a.value(acc))
                    .collect::<Vec<_>>()
            });
            g.add(aggs, cols, &args, row, retract);
            if g.rows <= 0 {
                self.state.remove(kg, hash, key.as_ref())?;
                if let Some(prev) = prev {
                    out_keys.push(key.owned());
                    out_vals.push(prev);
                    out_kinds.push(RowKind::Delete);
                }
                continue;
            }
            let new = aggs
                .iter()
                .zip(&g.accs)
                .map(|(a, acc)| a.value(acc))
                .collect::<Vec<_>>();
            match prev {
                None => {
                    out_keys.push(key.owned());
                    out_vals.push(new);
                    out_kinds.push(RowKind::Insert);
                }
                Some(prev) if prev == new => {}
                Some(prev) => {
                    out_keys.push(key.owned());
                    out_vals.push(prev);
                    out_kinds.push(RowKind::UpdateBefore);
                    out_keys.push(key.owned());
                    out_vals.push(new);
                    out_kinds.push(RowKind::UpdateAfter);
                }
            }
        }
        out.emit(self.build(out_keys, out_vals, out_kinds)?);
        Ok(())
    }

    fn on_window_batch(&mut self, w: WindowKeys, batch: &ChangeBatch) -> Result<()> {
        let cols = batch.data.columns();
        let (keys, args) = self.encode(batch)?;
        let ends = cols[w.end].as_primitive::<TimestampMillisecondType>();
        for row in 0..batch.num_rows() {
            let end = ends.value(row);
            if end - 1 <= self.watermark {
                continue; // late: its window has fired
            }
            let retract = !batch.kind(row).is_accumulate();
            let hash = self.hashes[row];
            let kg = assign_key_group(hash, self.max_parallelism);
            let key = keys.row(row);
            let aggs = &self.aggs;
            let (g, new) = self
                .state
                .get_or_insert_with(kg, hash, key.as_ref(), || GroupState::new(aggs))?;
            g.add(aggs, cols, &args, row, retract);
            if new {
                self.timers.register(end, kg, hash, key.as_ref());
            }
        }
        Ok(())
    }
}

impl Operator for Aggregate {
    fn on_batch(&mut self, _input: usize, batch: ChangeBatch, out: &mut Output) -> Result<()> {
        match self.layout.window {
            None => self.on_updating_batch(&batch, out),
            Some(w) => self.on_window_batch(w, &batch),
        }
    }

    fn snapshot(&mut self, _checkpoint_id: u64, snap: &mut OperatorSnapshot) -> Result<()> {
        self.state.snapshot(snap)?;
        self.timers.snapshot(snap, self.state.key_groups());
        Ok(())
    }

    fn restore(&mut self, restored: RestoredState) -> Result<()> {
        let range = self.state.key_groups();
        self.state.restore_native(&restored)?;
        restored.for_each_group(range, |kg, r| {
            self.state.restore_group(kg, r)?;
            self.timers.restore_group(kg, r)
        })
    }

    fn on_watermark(&mut self, watermark: i64, out: &mut Output) -> Result<()> {
        self.watermark = watermark;
        if self.layout.window.is_some() {
            let mut out_keys = Vec::new();
            let mut out_vals = Vec::new();
            for (_, t) in self.timers.pop_due(watermark) {
                if let Some(g) = self.state.remove(t.key_group, t.hash, &t.key)? {
                    if g.rows <= 0 {
                        continue;
                    }
                    out_keys.push(self.key_conv.parser().parse(&t.key).owned());
                    out_vals.push(self.values(&g.accs));
                }
            }
            let kinds = vec![RowKind::Insert; out_keys.len()];
            out.emit(self.build(out_keys, out_vals, kinds)?);
        }
        out.watermark(watermark);
        Ok(())
    }
}
