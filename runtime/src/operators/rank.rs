use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Int64Array, RecordBatch};
use arrow::compute::SortOptions;
use arrow::datatypes::{SchemaRef, TimestampMillisecondType};
use arrow::row::{OwnedRow, RowConverter, RowParser, SortField};
use runnel_types::{ChangeBatch, RowKind};

use super::{Operator, Output, SubtaskContext};
use crate::checkpoint::{OperatorSnapshot, RestoredState, StateReader, StateWriter};
use crate::dataflow::assign_key_group;
use crate::error::Result;
use crate::state::{EventTimers, KeyedState, ValueCodec, hash_columns};

/// How a `ROW_NUMBER() OVER (PARTITION BY .. ORDER BY ..) <= N` query is evaluated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RankMode {
    /// Top-N over an append-only stream: updates as the ranking changes (Flink's
    /// `AppendOnlyTopNFunction`).
    TopN,
    /// `rn = 1` ordered by a time attribute ascending: the first row per key in event time,
    /// emitted once (insert-only) when the watermark passes it, as Flink's rowtime
    /// deduplication; rows behind the watermark are dropped.
    KeepFirst,
    /// `rn = 1` ordered by a time attribute descending: the last row per key (ties replace).
    KeepLast,
    /// Partitioned by a window: the final ranking of each window, emitted when it closes.
    Window {
        /// Input column holding `window_end`.
        end_column: usize,
    },
}

/// What a rank operator computes.
#[derive(Clone)]
pub struct RankSpec {
    /// Evaluation strategy.
    pub mode: RankMode,
    /// PARTITION BY columns of the input.
    pub partition: Vec<usize>,
    /// ORDER BY columns of the input and their directions.
    pub order: Vec<(usize, SortOptions)>,
    /// N of `rn <= N`.
    pub limit: usize,
    /// Whether the output carries the row number (as a last BIGINT column).
    pub with_row_number: bool,
    /// Whether the query selects the row number, so a Top-N re-emits every row whose rank
    /// moved (Flink's behaviour) instead of emitting `+I` for the entrant and `-D` for the
    /// evicted row.
    pub rank_updates: bool,
    /// Input schema.
    pub input_schema: SchemaRef,
    /// Output schema: the input columns, plus `rn` if `with_row_number`.
    pub output_schema: SchemaRef,
}

/// One ranked row: its sort key and the row itself.
#[derive(Clone)]
struct Entry {
    sort: Box<[u8]>,
    row: OwnedRow,
}

/// A partition's ranked rows: sort key and row, both in Arrow's row format.
struct EntriesCodec {
    rows: RowParser,
}

impl ValueCodec<Vec<Entry>> for EntriesCodec {
    fn encode(&self, entries: &Vec<Entry>, w: &mut StateWriter) {
        w.u64(entries.len() as u64);
        for e in entries {
            w.bytes(&e.sort);
            w.bytes(e.row.row().as_ref());
        }
    }

    fn decode(&self, r: &mut StateReader<'_>) -> Result<Vec<Entry>> {
        let n = r.count()?;
        (0..n)
            .map(|_| {
                let sort: Box<[u8]> = r.bytes()?.into();
                let row = self.rows.parse(r.bytes()?).owned();
                Ok(Entry { sort, row })
            })
            .collect()
    }
}

/// Top-N and deduplication over `ROW_NUMBER()`, per partition key in keyed state.
pub struct Rank {
    spec: RankSpec,
    part_conv: RowConverter,
    sort_conv: RowConverter,
    row_conv: RowConverter,
    state: KeyedState<Vec<Entry>>,
    /// For window mode: window end -> partitions with rows in that window.
    timers: EventTimers,
    watermark: i64,
    max_parallelism: u32,
    hashes: Vec<u64>,
}

impl Rank {
    /// A rank operator for one subtask.
    pub fn new(spec: RankSpec, ctx: &SubtaskContext) -> Result<Self> {
        let s = &spec.input_schema;
        let part_conv = RowConverter::new(
            spec.partition
                .iter()
                .map(|i| SortField::new(s.field(*i).data_type().clone()))
                .collect(),
        )?;
        let sort_conv = RowConverter::new(
            spec.order
                .iter()
                .map(|(i, o)| SortField::new_with_options(s.field(*i).data_type().clone(), *o))
                .collect(),
        )?;
        let row_conv = RowConverter::new(
            s.fields()
                .iter()
                .map(|f| SortField::new(f.data_type().clone()))
                .collect(),
        )?;
        let codec = EntriesCodec {
            rows: row_conv.parser(),
        };
        Ok(Rank {
            part_conv,
            sort_conv,
            row_conv,
            state: KeyedState::new(ctx, "partitions", codec)?.with_ttl(match spec.mode {
                RankMode::Window { .. } => None,
                _ => ctx.state_ttl,
            }),
            timers: EventTimers::default(),
            watermark: i64::MIN,
            max_parallelism: ctx.max_parallelism,
            hashes: Vec::new(),
            spec,
        })
    }

    fn build(&self, rows: Vec<(OwnedRow, i64, RowKind)>) -> Result<ChangeBatch> {
        if rows.is_empty() {
            return Ok(ChangeBatch::inserts(RecordBatch::new_empty(
                self.spec.output_schema.clone(),
            )));
        }
        let mut cols: Vec<ArrayRef> = self.row_conv.convert_rows(rows.iter().map(|r| r.0.row()))?;
        if self.spec.with_row_number {
            cols.push(Arc::new(Int64Array::from_iter_values(
                rows.iter().map(|r| r.1),
            )));
        }
        let kinds = rows.iter().map(|r| r.2).collect();
        Ok(ChangeBatch::with_kinds(
            RecordBatch::try_new(self.spec.output_schema.clone(), cols)?,
            kinds,
        ))
    }
}

impl Operator for Rank {
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

    fn on_batch(&mut self, _input: usize, batch: ChangeBatch, out: &mut Output) -> Result<()> {
        self.state.expire_idle();
        let n = batch.num_rows();
        let cols = batch.data.columns();
        let part_cols: Vec<ArrayRef> = self
            .spec
            .partition
            .iter()
            .map(|i| cols[*i].clone())
            .collect();
        let parts = self.part_conv.convert_columns(&part_cols)?;
        // Key groups follow the partition columns that are not window bounds, like the exchange.
        hash_columns(&part_cols, n, &mut self.hashes)?;
        let sort_cols: Vec<ArrayRef> = self
            .spec
            .order
            .iter()
            .map(|(i, _)| cols[*i].clone())
            .collect();
        let sorts = self.sort_conv.convert_columns(&sort_cols)?;
        let rows = self.row_conv.convert_columns(cols)?;
        let limit = self.spec.limit;
        let with_rn = self.spec.rank_updates;
        let mut emitted: Vec<(OwnedRow, i64, RowKind)> = Vec::new();
        for r in 0..n {
            let h = self.hashes[r];
            let kg = assign_key_group(h, self.max_parallelism);
            let key = parts.row(r);
            let entry = Entry {
                sort: sorts.row(r).as_ref().into(),
                row: rows.row(r).owned(),
            };
            if let RankMode::Window { end_column } = self.spec.mode {
                let end = cols[end_column]
                    .as_primitive::<TimestampMillisecondType>()
                    .value(r);
                if end - 1 <= self.watermark {
                    continue;
                }
                let (list, new) = self
                    .state
                    .get_or_insert_with(kg, h, key.as_ref(), Vec::new)?;
                let pos = list.partition_point(|e| e.sort <= entry.sort);
                if pos < limit {
                    list.insert(pos, entry);
                    list.truncate(limit);
                }
                if new {
                    self.timers.register(end, kg, h, key.as_ref());
                }
                continue;
            }
            let (list, new_key) = self
                .state
                .get_or_insert_with(kg, h, key.as_ref(), Vec::new)?;
            match self.spec.mode {
                RankMode::KeepFirst => {
                    // Event-time first row: held until the watermark passes it, then emitted
                    // once; a key that has emitted keeps an empty list and ignores the rest.
                    let t = cols[self.spec.order[0].0]
                        .as_primitive::<TimestampMillisecondType>()
                        .value(r);
                    if t <= self.watermark || (!new_key && list.is_empty()) {
                        continue;
                    }
                    if list.first().is_none_or(|old| entry.sort < old.sort) {
                        list.clear();
                        list.push(entry);
                        self.timers
                            .register(t.saturating_add(1), kg, h, key.as_ref());
                    }
                }
                RankMode::KeepLast => {
                    let replace = match list.first() {
                        None => true,
                        Some(old) => entry.sort <= old.sort,
                    };
                    if !replace {
                        continue;
                    }
                    match list.pop() {
                        None => emitted.push((entry.row.clone(), 1, RowKind::Insert)),
                        Some(old) => {
                            emitted.push((old.row, 1, RowKind::UpdateBefore));
                            emitted.push((entry.row.clone(), 1, RowKind::UpdateAfter));
                        }
                    }
                    list.push(entry);
                }
                RankMode::TopN => {
                    // Ties rank after the rows already there.
                    let pos = list.partition_point(|e| e.sort <= entry.sort);
                    if pos >= limit {
                        continue;
                    }
                    let before: Vec<OwnedRow> =
                        list.iter().take(limit).map(|e| e.row.clone()).collect();
                    list.insert(pos, entry);
                    let evicted = if list.len() > limit { list.pop() } else { None };
                    if with_rn {
                        for (rank, entry) in list.iter().enumerate().skip(pos) {
                            let now = entry.row.clone();
                            match before.get(rank) {
                                Some(old) => {
                                    emitted.push((
                                        old.clone(),
                                        rank as i64 + 1,
                                        RowKind::UpdateBefore,
                                    ));
                                    emitted.push((now, rank as i64 + 1, RowKind::UpdateAfter));
                                }
                                None => emitted.push((now, rank as i64 + 1, RowKind::Insert)),
                            }
                        }
                    } else {
                        emitted.push((list[pos].row.clone(), pos as i64 + 1, RowKind::Insert));
                        if let Some(e) = evicted {
                            emitted.push((e.row, limit as i64 + 1, RowKind::Delete));
                        }
                    }
                }
                RankMode::Window { .. } => unreachable!("handled above"),
            }
        }
        out.emit(self.build(emitted)?);
        Ok(())
    }

    fn on_watermark(&mut self, watermark: i64, out: &mut Output) -> Result<()> {
        self.watermark = watermark;
        if self.spec.mode == RankMode::KeepFirst {
            let mut emitted = Vec::new();
            for (_, t) in self.timers.pop_due(watermark) {
                if let Some(list) = self.state.get_mut(t.key_group, t.hash, &t.key)?
                    && let Some(first) = list.pop()
                {
                    emitted.push((first.row, 1, RowKind::Insert));
                }
            }
            out.emit(self.build(emitted)?);
        }
        if matches!(self.spec.mode, RankMode::Window { .. }) {
            let mut emitted = Vec::new();
            for (_, t) in self.timers.pop_due(watermark) {
                if let Some(list) = self.state.remove(t.key_group, t.hash, &t.key)? {
                    for (i, entry) in list.into_iter().enumerate() {
                        emitted.push((entry.row, i as i64 + 1, RowKind::Insert));
                    }
                }
            }
            out.emit(self.build(emitted)?);
        }
        out.watermark(watermark);
        Ok(())
    }
}
