use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, RecordBatch, UInt32Array, new_null_array,
};
use arrow::datatypes::{SchemaRef, TimestampMillisecondType};
use arrow::row::{RowConverter, SortField};
use runnel_types::ChangeBatch;

use super::join::JoinSpec;
use super::{Operator, Output, SubtaskContext};
use crate::dataflow::assign_key_group;
use crate::error::Result;
use crate::state::{EventTimers, KeyedState, hash_columns};

/// The time bounds of an interval join: a left row at `tl` joins right rows at `tr` with
/// `lower <= tl - tr <= upper`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IntervalBounds {
    /// Smallest allowed `tl - tr`, in milliseconds.
    pub lower: i64,
    /// Largest allowed `tl - tr`, in milliseconds.
    pub upper: i64,
    /// Rowtime column of the left input.
    pub left_time: usize,
    /// Rowtime column of the right input.
    pub right_time: usize,
}

struct Kept {
    time: i64,
    row: Arc<[u8]>,
    matched: bool,
}

/// An event-time interval join (`a.t BETWEEN b.t - INTERVAL .. AND b.t + INTERVAL ..`), as
/// Flink's `TimeIntervalJoin`: rows wait in keyed state only as long as a row of the other side
/// could still match them (the watermark decides), so state stays bounded; the output is
/// append-only, and an outer side emits its NULL-padded row once a row expires unmatched.
pub struct IntervalJoin {
    spec: JoinSpec,
    bounds: IntervalBounds,
    convs: [RowConverter; 2],
    null_rows: [Arc<[u8]>; 2],
    state: [KeyedState<Vec<Kept>>; 2],
    timers: [EventTimers; 2],
    max_parallelism: u32,
    hashes: Vec<u64>,
    watermark: i64,
}

fn converter(schema: &SchemaRef) -> Result<RowConverter> {
    Ok(RowConverter::new(
        schema
            .fields()
            .iter()
            .map(|f| SortField::new(f.data_type().clone()))
            .collect(),
    )?)
}

impl IntervalJoin {
    /// An interval join for one subtask.
    pub fn new(spec: JoinSpec, bounds: IntervalBounds, ctx: &SubtaskContext) -> Result<Self> {
        let convs = [
            converter(&spec.left_schema)?,
            converter(&spec.right_schema)?,
        ];
        let null = |i: usize, schema: &SchemaRef| -> Result<Arc<[u8]>> {
            let cols: Vec<ArrayRef> = schema
                .fields()
                .iter()
                .map(|f| new_null_array(f.data_type(), 1))
                .collect();
            Ok(convs[i].convert_columns(&cols)?.row(0).as_ref().into())
        };
        let null_rows = [null(0, &spec.left_schema)?, null(1, &spec.right_schema)?];
        Ok(IntervalJoin {
            convs,
            null_rows,
            state: [
                KeyedState::new(ctx.key_groups),
                KeyedState::new(ctx.key_groups),
            ],
            timers: [EventTimers::default(), EventTimers::default()],
            max_parallelism: ctx.max_parallelism,
            hashes: Vec::new(),
            watermark: i64::MIN,
            spec,
            bounds,
        })
    }

    /// The range of the other side's times a row of `side` at `t` joins with.
    fn partner_range(&self, side: usize, t: i64) -> (i64, i64) {
        let b = self.bounds;
        if side == 0 {
            (t - b.upper, t - b.lower)
        } else {
            (t + b.lower, t + b.upper)
        }
    }

    /// When a row of `side` at `t` can no longer meet a new row of the other side.
    fn expiry(&self, side: usize, t: i64) -> i64 {
        self.partner_range(side, t).1
    }

    fn emit(
        rows: &mut Vec<(Arc<[u8]>, Arc<[u8]>)>,
        side: usize,
        mine: &Arc<[u8]>,
        theirs: &Arc<[u8]>,
    ) {
        if side == 0 {
            rows.push((mine.clone(), theirs.clone()));
        } else {
            rows.push((theirs.clone(), mine.clone()));
        }
    }

    fn build(&self, rows: Vec<(Arc<[u8]>, Arc<[u8]>)>) -> Result<ChangeBatch> {
        if rows.is_empty() {
            return Ok(ChangeBatch::inserts(RecordBatch::new_empty(
                self.spec.output_schema.clone(),
            )));
        }
        let (lp, rp) = (self.convs[0].parser(), self.convs[1].parser());
        let mut cols = self.convs[0].convert_rows(rows.iter().map(|r| lp.parse(&r.0)))?;
        cols.extend(self.convs[1].convert_rows(rows.iter().map(|r| rp.parse(&r.1)))?);
        Ok(ChangeBatch::inserts(RecordBatch::try_new(
            self.spec.output_schema.clone(),
            cols,
        )?))
    }

    fn check(
        &self,
        side: usize,
        batch: &RecordBatch,
        pairs: &[(u32, Arc<[u8]>)],
    ) -> Result<Vec<bool>> {
        let Some(cond) = &self.spec.condition else {
            return Ok(vec![true; pairs.len()]);
        };
        if pairs.is_empty() {
            return Ok(Vec::new());
        }
        let idx = UInt32Array::from(pairs.iter().map(|p| p.0).collect::<Vec<_>>());
        let mine: Vec<ArrayRef> = batch
            .columns()
            .iter()
            .map(|c| arrow::compute::take(c.as_ref(), &idx, None))
            .collect::<std::result::Result<_, _>>()?;
        let parser = self.convs[1 - side].parser();
        let theirs = self.convs[1 - side].convert_rows(pairs.iter().map(|p| parser.parse(&p.1)))?;
        let cols = if side == 0 {
            [mine, theirs].concat()
        } else {
            [theirs, mine].concat()
        };
        let mask = cond.evaluate(&RecordBatch::try_new(
            self.spec.output_schema.clone(),
            cols,
        )?)?;
        let mask = mask
            .as_any()
            .downcast_ref::<BooleanArray>()
            .expect("join condition is BOOLEAN");
        Ok((0..mask.len())
            .map(|i| mask.is_valid(i) && mask.value(i))
            .collect())
    }
}

impl Operator for IntervalJoin {
    fn on_batch(&mut self, input: usize, batch: ChangeBatch, out: &mut Output) -> Result<()> {
        let side = input.min(1);
        let other = 1 - side;
        let n = batch.num_rows();
        let key_idx = if side == 0 {
            &self.spec.left_keys
        } else {
            &self.spec.right_keys
        };
        let key_cols: Vec<ArrayRef> = key_idx
            .iter()
            .map(|i| batch.data.column(*i).clone())
            .collect();
        let key_conv = RowConverter::new(
            key_cols
                .iter()
                .map(|c| SortField::new(c.data_type().clone()))
                .collect(),
        )?;
        let keys = key_conv.convert_columns(&key_cols)?;
        hash_columns(&key_cols, n, &mut self.hashes)?;
        let rows = self.convs[side].convert_columns(batch.data.columns())?;
        let time_col = if side == 0 {
            self.bounds.left_time
        } else {
            self.bounds.right_time
        };
        let times = batch
            .data
            .column(time_col)
            .as_primitive::<TimestampMillisecondType>()
            .clone();

        // Candidates: rows of the other side in the time range, then the residual condition.
        let mut pairs: Vec<(u32, Arc<[u8]>)> = Vec::new();
        let mut spans = Vec::with_capacity(n);
        for r in 0..n {
            let start = pairs.len();
            let null_key = key_cols.iter().any(|c| c.is_null(r));
            if !null_key && times.is_valid(r) {
                let (lo, hi) = self.partner_range(side, times.value(r));
                let h = self.hashes[r];
                let kg = assign_key_group(h, self.max_parallelism);
                if let Some(list) = self.state[other].get_mut(kg, h, keys.row(r).as_ref()) {
                    pairs.extend(
                        list.iter()
                            .filter(|k| k.time >= lo && k.time <= hi)
                            .map(|k| (r as u32, k.row.clone())),
                    );
                }
            }
            spans.push(start..pairs.len());
        }
        let ok = self.check(side, &batch.data, &pairs)?;
        let mut emitted = Vec::new();
        for r in 0..n {
            let me: Arc<[u8]> = rows.row(r).as_ref().into();
            let matched: Vec<usize> = spans[r].clone().filter(|i| ok[*i]).collect();
            let h = self.hashes[r];
            let kg = assign_key_group(h, self.max_parallelism);
            let key = keys.row(r);
            if !matched.is_empty() {
                let list = self.state[other]
                    .get_mut(kg, h, key.as_ref())
                    .expect("candidates came from state");
                for i in &matched {
                    let theirs = &pairs[*i].1;
                    if let Some(k) = list.iter_mut().find(|k| Arc::ptr_eq(&k.row, theirs)) {
                        k.matched = true;
                    }
                    Self::emit(&mut emitted, side, &me, theirs);
                }
            }
            let null_key = key_cols.iter().any(|c| c.is_null(r));
            if null_key || times.is_null(r) || self.expiry(side, times.value(r)) <= self.watermark {
                // Can never match a future row: done with it now.
                if self.spec.join_type.outer(side) && matched.is_empty() {
                    Self::emit(&mut emitted, side, &me, &self.null_rows[other]);
                }
                continue;
            }
            let t = times.value(r);
            let (list, _) = self.state[side].get_or_insert_with(kg, h, key.as_ref(), Vec::new);
            list.push(Kept {
                time: t,
                row: me,
                matched: !matched.is_empty(),
            });
            let expiry = self.expiry(side, t);
            self.timers[side].register(expiry.saturating_add(1), kg, h, key.as_ref());
        }
        out.emit(self.build(emitted)?);
        Ok(())
    }

    fn on_watermark(&mut self, watermark: i64, out: &mut Output) -> Result<()> {
        let mut emitted = Vec::new();
        for side in 0..2 {
            let due = self.timers[side].pop_due(watermark);
            for (_, t) in due {
                let outer = self.spec.join_type.outer(side);
                let Some(list) = self.state[side].get_mut(t.key_group, t.hash, &t.key) else {
                    continue;
                };
                let mut keep = Vec::with_capacity(list.len());
                let mut expired = Vec::new();
                for k in list.drain(..) {
                    let exp = match side {
                        0 => k.time - self.bounds.lower,
                        _ => k.time + self.bounds.upper,
                    };
                    if exp <= watermark {
                        expired.push(k)
                    } else {
                        keep.push(k)
                    }
                }
                *list = keep;
                if list.is_empty() {
                    self.state[side].remove(t.key_group, t.hash, &t.key);
                }
                if outer {
                    for k in expired.into_iter().filter(|k| !k.matched) {
                        Self::emit(&mut emitted, side, &k.row, &self.null_rows[1 - side]);
                    }
                }
            }
        }
        self.watermark = watermark;
        out.emit(self.build(emitted)?);
        out.watermark(watermark);
        Ok(())
    }
}
