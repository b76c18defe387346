use arrow::array::{Array, AsArray};
use arrow::datatypes::TimestampMillisecondType;
use runnel_types::{ChangeBatch, RowKind};

use super::join::{JoinCodec, JoinSpec, JoinedRow, Keyed};
use super::{Operator, Output, SubtaskContext};
use crate::checkpoint::{OperatorSnapshot, RestoredState, StateReader, StateWriter};
use crate::dataflow::assign_key_group;
use crate::error::Result;
use crate::state::{EventTimers, KeyedState, ValueCodec};
use std::sync::Arc;

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

/// A row waiting for partners: its time, its bytes, and whether it has matched yet.
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
    codec: JoinCodec,
    bounds: IntervalBounds,
    state: [KeyedState<Vec<Kept>>; 2],
    timers: [EventTimers; 2],
    max_parallelism: u32,
    hashes: Vec<u64>,
    watermark: i64,
}

impl IntervalJoin {
    /// An interval join for one subtask.
    pub fn new(spec: JoinSpec, bounds: IntervalBounds, ctx: &SubtaskContext) -> Result<Self> {
        Ok(IntervalJoin {
            codec: JoinCodec::new(spec)?,
            bounds,
            state: [
                KeyedState::new(ctx, "left", KeptCodec)?,
                KeyedState::new(ctx, "right", KeptCodec)?,
            ],
            timers: [EventTimers::default(), EventTimers::default()],
            max_parallelism: ctx.max_parallelism,
            hashes: Vec::new(),
            watermark: i64::MIN,
        })
    }

    /// The range of the other side's times that a row of `side` at `t` joins with.
    fn partner_range(&self, side: usize, t: i64) -> (i64, i64) {
        let b = self.bounds;
        if side == 0 {
            (t - b.upper, t - b.lower)
        } else {
            (t + b.lower, t + b.upper)
        }
    }

    /// When a row of `side` at `t` can no longer meet a new (non-late) row of the other side.
    fn expiry(&self, side: usize, t: i64) -> i64 {
        self.partner_range(side, t).1
    }
}

impl Operator for IntervalJoin {
    fn on_batch(&mut self, input: usize, batch: ChangeBatch, out: &mut Output) -> Result<()> {
        let side = input.min(1);
        let other = 1 - side;
        let Keyed {
            keys,
            rows,
            null_key,
        } = self.codec.keyed(side, &batch.data, &mut self.hashes)?;
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
        let mut spans = Vec::with_capacity(batch.num_rows());
        for (r, is_null) in null_key.iter().enumerate() {
            let start = pairs.len();
            if !is_null && times.is_valid(r) {
                let (lo, hi) = self.partner_range(side, times.value(r));
                let h = self.hashes[r];
                let kg = assign_key_group(h, self.max_parallelism);
                if let Some(list) = self.state[other].get_mut(kg, h, keys.row(r).as_ref())? {
                    pairs.extend(
                        list.iter()
                            .filter(|k| k.time >= lo && k.time <= hi)
                            .map(|k| (r as u32, k.row.clone())),
                    );
                }
            }
            spans.push(start..pairs.len());
        }
        let ok = self.codec.check(side, &batch.data, &pairs)?;
        let mut emitted: Vec<JoinedRow> = Vec::new();
        for (r, span) in spans.into_iter().enumerate() {
            let me: Arc<[u8]> = rows.row(r).as_ref().into();
            let matched: Vec<usize> = span.filter(|i| ok[*i]).collect();
            let h = self.hashes[r];
            let kg = assign_key_group(h, self.max_parallelism);
            let key = keys.row(r);
            if !matched.is_empty() {
                let list = self.state[other]
                    .get_mut(kg, h, key.as_ref())?
                    .expect("candidates came from state");
                for i in &matched {
                    let theirs = &pairs[*i].1;
                    // By content: on RocksDB the list may have been evicted and read back
                    // since the candidates were collected. Equal rows are marked one each.
                    if let Some(k) = list
                        .iter_mut()
                        .find(|k| Arc::ptr_eq(&k.row, theirs) || (!k.matched && k.row == *theirs))
                    {
                        k.matched = true;
                    }
                    JoinCodec::push(&mut emitted, side, &me, theirs, RowKind::Insert);
                }
            }
            if null_key[r]
                || times.is_null(r)
                || self.expiry(side, times.value(r)) <= self.watermark
            {
                // Can never meet a future row: done with it now.
                if self.codec.spec.join_type.outer(side) && matched.is_empty() {
                    let nulls = &self.codec.null_rows[other];
                    JoinCodec::push(&mut emitted, side, &me, nulls, RowKind::Insert);
                }
                continue;
            }
            let t = times.value(r);
            let expiry = self.expiry(side, t);
            let (list, _) = self.state[side].get_or_insert_with(kg, h, key.as_ref(), Vec::new)?;
            list.push(Kept {
                time: t,
                row: me,
                matched: !matched.is_empty(),
            });
            self.timers[side].register(expiry.saturating_add(1), kg, h, key.as_ref());
        }
        out.emit(self.codec.build(emitted)?);
        Ok(())
    }

    fn snapshot(&mut self, _checkpoint_id: u64, snap: &mut OperatorSnapshot) -> Result<()> {
        let range = self.state[0].key_groups();
        for side in 0..2 {
            self.state[side].snapshot(snap)?;
            self.timers[side].snapshot(snap, range);
        }
        Ok(())
    }

    fn restore(&mut self, restored: RestoredState) -> Result<()> {
        let range = self.state[0].key_groups();
        let (states, timers) = (&mut self.state, &mut self.timers);
        for state in states.iter_mut() {
            state.restore_native(&restored)?;
        }
        restored.for_each_group(range, |kg, r| {
            for side in 0..2 {
                states[side].restore_group(kg, r)?;
                timers[side].restore_group(kg, r)?;
            }
            Ok(())
        })
    }

    fn on_watermark(&mut self, watermark: i64, out: &mut Output) -> Result<()> {
        self.watermark = watermark;
        let mut emitted: Vec<JoinedRow> = Vec::new();
        for side in 0..2 {
            let outer = self.codec.spec.join_type.outer(side);
            for (_, t) in self.timers[side].pop_due(watermark) {
                let bounds = self.bounds;
                let Some(list) = self.state[side].get_mut(t.key_group, t.hash, &t.key)? else {
                    continue;
                };
                let expires = |k: &Kept| {
                    let e = if side == 0 {
                        k.time - bounds.lower
                    } else {
                        k.time + bounds.upper
                    };
                    e <= watermark
                };
                let (expired, keep): (Vec<Kept>, Vec<Kept>) = list.drain(..).partition(expires);
                *list = keep;
                if list.is_empty() {
                    self.state[side].remove(t.key_group, t.hash, &t.key)?;
                }
                if outer {
                    let nulls = &self.codec.null_rows[1 - side];
                    for k in expired.into_iter().filter(|k| !k.matched) {
                        JoinCodec::push(&mut emitted, side, &k.row, nulls, RowKind::Insert);
                    }
                }
            }
        }
        out.emit(self.codec.build(emitted)?);
        out.watermark(watermark);
        Ok(())
    }
}

/// The rows of one side under a key, with their times and whether they have matched.
struct KeptCodec;

impl ValueCodec<Vec<Kept>> for KeptCodec {
    fn encode(&self, rows: &Vec<Kept>, w: &mut StateWriter) {
        w.u64(rows.len() as u64);
        for k in rows {
            w.i64(k.time);
            w.bytes(&k.row);
            w.bool(k.matched);
        }
    }

    fn decode(&self, r: &mut StateReader<'_>) -> Result<Vec<Kept>> {
        let n = r.count()?;
        (0..n)
            .map(|_| {
                Ok(Kept {
                    time: r.i64()?,
                    row: r.bytes()?.into(),
                    matched: r.bool()?,
                })
            })
            .collect()
    }
}
