use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch, UInt32Array, new_null_array};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::row::{RowConverter, Rows, SortField};
use runnel_expr::ExprRef;
use runnel_types::{ChangeBatch, RowKind};

use super::{Operator, Output, SubtaskContext};
use crate::checkpoint::{OperatorSnapshot, RestoredState, StateReader, StateWriter};
use crate::dataflow::assign_key_group;
use crate::error::Result;
use crate::state::{KeyedState, ValueCodec, hash_columns};

/// Which rows a join keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinType {
    /// Matching pairs only.
    Inner,
    /// Every left row, padded with NULLs while it has no match.
    Left,
    /// Every right row, padded with NULLs while it has no match.
    Right,
    /// Both sides padded.
    Full,
}

impl JoinType {
    /// Whether rows of input `side` are kept (NULL-padded) when they have no match.
    pub(crate) fn outer(self, side: usize) -> bool {
        matches!(
            (self, side),
            (JoinType::Left, 0) | (JoinType::Right, 1) | (JoinType::Full, _)
        )
    }
}

/// The shape of a join: which columns of each input are the equi-key, and the rest of the
/// ON condition evaluated over `[left columns.., right columns..]`.
#[derive(Clone)]
pub struct JoinSpec {
    /// Inner, left, right or full.
    pub join_type: JoinType,
    /// Key columns of the left input.
    pub left_keys: Vec<usize>,
    /// Key columns of the right input (same types, same order).
    pub right_keys: Vec<usize>,
    /// Non-equi part of the condition.
    pub condition: Option<ExprRef>,
    /// Left input schema.
    pub left_schema: SchemaRef,
    /// Right input schema.
    pub right_schema: SchemaRef,
    /// Output: left columns then right columns.
    pub output_schema: SchemaRef,
    /// Idle-state retention of each side from a `STATE_TTL` hint (else `table.exec.state.ttl`).
    pub ttl: [Option<std::time::Duration>; 2],
}

/// How often a row is stored on its side and, on an outer side, how many rows of the other
/// side it currently matches.
#[derive(Default)]
struct Stored {
    count: i64,
    matches: i64,
}

/// The rows of one key on one side, by their bytes (Arrow row format).
type SideRows = hashbrown::HashMap<Arc<[u8]>, Stored>;

/// A regular (non-windowed) streaming join, like Flink's `StreamingJoinOperator`: each side's
/// rows live in keyed state; a row joins with the other side's rows of its key, and
/// retractions retract the joined rows they produced. Outer sides emit NULL-padded rows
/// while unmatched and retract them once matched.
pub struct Join {
    codec: JoinCodec,
    state: [KeyedState<SideRows>; 2],
    max_parallelism: u32,
    hashes: Vec<u64>,
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

/// One input batch of a join, encoded: key bytes, row bytes, and which keys hold a NULL.
pub(crate) struct Keyed {
    pub(crate) keys: Rows,
    pub(crate) rows: Rows,
    pub(crate) null_key: Vec<bool>,
}

/// A joined output row: the left row, the right row (either may be the NULL row) and its kind.
pub(crate) type JoinedRow = (Arc<[u8]>, Arc<[u8]>, RowKind);

/// What every join operator does with rows: encode each side's rows as bytes for state,
/// check the residual condition on candidate pairs in one vectorized pass, and build output.
pub(crate) struct JoinCodec {
    pub(crate) spec: JoinSpec,
    convs: [RowConverter; 2],
    /// Encoders of each side's equi-key columns, made once rather than per batch.
    key_convs: [RowConverter; 2],
    /// The all-NULL row of each side, for outer joins.
    pub(crate) null_rows: [Arc<[u8]>; 2],
}

impl JoinCodec {
    pub(crate) fn new(spec: JoinSpec) -> Result<Self> {
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
        // A join without equi-keys (only a residual condition) keys every row by one constant.
        let key_conv = |schema: &SchemaRef, keys: &[usize]| -> Result<RowConverter> {
            if keys.is_empty() {
                return Ok(RowConverter::new(vec![SortField::new(DataType::Boolean)])?);
            }
            Ok(RowConverter::new(
                keys.iter()
                    .map(|i| SortField::new(schema.field(*i).data_type().clone()))
                    .collect(),
            )?)
        };
        let key_convs = [
            key_conv(&spec.left_schema, &spec.left_keys)?,
            key_conv(&spec.right_schema, &spec.right_keys)?,
        ];
        Ok(JoinCodec {
            spec,
            convs,
            key_convs,
            null_rows,
        })
    }

    /// The rows of a batch of input `side` as bytes, with their equi-keys (bytes and, into
    /// `hashes`, hashes) and whether each key holds a NULL (such a row never matches).
    pub(crate) fn keyed(
        &self,
        side: usize,
        batch: &RecordBatch,
        hashes: &mut Vec<u64>,
    ) -> Result<Keyed> {
        let idx = if side == 0 {
            &self.spec.left_keys
        } else {
            &self.spec.right_keys
        };
        let key_cols: Vec<ArrayRef> = if idx.is_empty() {
            vec![Arc::new(arrow::array::BooleanArray::from(vec![
                true;
                batch
                    .num_rows(
                    )
            ]))]
        } else {
            idx.iter().map(|i| batch.column(*i).clone()).collect()
        };
        hash_columns(&key_cols, batch.num_rows(), hashes)?;
        Ok(Keyed {
            keys: self.key_convs[side].convert_columns(&key_cols)?,
            rows: self.convs[side].convert_columns(batch.columns())?,
            null_key: (0..batch.num_rows())
                .map(|r| key_cols.iter().any(|c| c.is_null(r)))
                .collect(),
        })
    }

    /// Whether each candidate pair (a row of `batch` on `side`, a stored row of the other side)
    /// satisfies the residual condition.
    pub(crate) fn check(
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
        let other = 1 - side;
        let parser = self.convs[other].parser();
        let theirs = self.convs[other].convert_rows(pairs.iter().map(|p| parser.parse(&p.1)))?;
        let cols = if side == 0 {
            [mine, theirs].concat()
        } else {
            [theirs, mine].concat()
        };
        let joined = RecordBatch::try_new(self.spec.output_schema.clone(), cols)?;
        let mask = cond.evaluate(&joined)?;
        let mask = mask
            .as_any()
            .downcast_ref::<BooleanArray>()
            .expect("join condition is BOOLEAN");
        Ok((0..mask.len())
            .map(|i| mask.is_valid(i) && mask.value(i))
            .collect())
    }

    /// Records an output row of `mine` (from `side`) joined with `theirs`.
    pub(crate) fn push(
        out: &mut Vec<JoinedRow>,
        side: usize,
        mine: &Arc<[u8]>,
        theirs: &Arc<[u8]>,
        kind: RowKind,
    ) {
        if side == 0 {
            out.push((mine.clone(), theirs.clone(), kind));
        } else {
            out.push((theirs.clone(), mine.clone(), kind));
        }
    }

    /// Builds the output batch.
    pub(crate) fn build(&self, rows: Vec<JoinedRow>) -> Result<ChangeBatch> {
        if rows.is_empty() {
            return Ok(ChangeBatch::inserts(RecordBatch::new_empty(
                self.spec.output_schema.clone(),
            )));
        }
        let (lp, rp) = (self.convs[0].parser(), self.convs[1].parser());
        let mut cols = self.convs[0].convert_rows(rows.iter().map(|r| lp.parse(&r.0)))?;
        cols.extend(self.convs[1].convert_rows(rows.iter().map(|r| rp.parse(&r.1)))?);
        let kinds = rows.iter().map(|r| r.2).collect();
        let data = RecordBatch::try_new(self.spec.output_schema.clone(), cols)?;
        Ok(ChangeBatch::with_kinds(data, kinds))
    }
}

impl Join {
    /// A join for one subtask.
    pub fn new(spec: JoinSpec, ctx: &SubtaskContext) -> Result<Self> {
        let ttl = spec.ttl;
        Ok(Join {
            codec: JoinCodec::new(spec)?,
            state: [
                KeyedState::new(ctx, "left", SideRowsCodec)?.with_ttl(ttl[0].or(ctx.state_ttl)),
                KeyedState::new(ctx, "right", SideRowsCodec)?.with_ttl(ttl[1].or(ctx.state_ttl)),
            ],
            max_parallelism: ctx.max_parallelism,
            hashes: Vec::new(),
        })
    }

    fn process(&mut self, side: usize, batch: ChangeBatch, out: &mut Output) -> Result<()> {
        let other = 1 - side;
        let n = batch.num_rows();
        let Keyed {
            keys,
            rows,
            null_key,
        } = self.codec.keyed(side, &batch.data, &mut self.hashes)?;

        // Candidate pairs from the other side's state, then the residual condition, vectorized.
        let mut pairs: Vec<(u32, Arc<[u8]>)> = Vec::new();
        let mut spans = Vec::with_capacity(n);
        for (r, is_null) in null_key.iter().enumerate() {
            let start = pairs.len();
            if !is_null {
                let h = self.hashes[r];
                let kg = assign_key_group(h, self.max_parallelism);
                if let Some(map) = self.state[other].get_mut(kg, h, keys.row(r).as_ref())? {
                    pairs.extend(map.keys().map(|k| (r as u32, k.clone())));
                }
            }
            spans.push(start..pairs.len());
        }
        let ok = self.codec.check(side, &batch.data, &pairs)?;

        let mut p: Vec<JoinedRow> = Vec::new();
        let outer_me = self.codec.spec.join_type.outer(side);
        let outer_other = self.codec.spec.join_type.outer(other);
        let null_rows = &self.codec.null_rows;
        for r in 0..n {
            let kind = batch.kind(r);
            let accumulate = kind.is_accumulate();
            let me: Arc<[u8]> = rows.row(r).as_ref().into();
            let h = self.hashes[r];
            let kg = assign_key_group(h, self.max_parallelism);
            let key = keys.row(r);
            let mut match_count = 0i64;
            let mut matched_any = false;
            // Emit against the other side, updating its association counts.
            if !null_key[r] && spans[r].clone().any(|i| ok[i]) {
                let map = self.state[other]
                    .get_mut(kg, h, key.as_ref())?
                    .expect("candidates came from state");
                for i in spans[r].clone().filter(|i| ok[*i]) {
                    let theirs = &pairs[i].1;
                    let Some(s) = map.get_mut(theirs) else {
                        continue;
                    };
                    matched_any = true;
                    match_count += s.count;
                    for _ in 0..s.count {
                        // Joined rows carry the input's kind, as in Flink, except that a row
                        // replacing a NULL-padded one is a new row.
                        if accumulate {
                            if outer_other && s.matches == 0 {
                                JoinCodec::push(
                                    &mut p,
                                    other,
                                    theirs,
                                    &null_rows[side],
                                    RowKind::Delete,
                                );
                                JoinCodec::push(&mut p, side, &me, theirs, RowKind::Insert);
                            } else {
                                JoinCodec::push(&mut p, side, &me, theirs, kind);
                            }
                        } else {
                            JoinCodec::push(&mut p, side, &me, theirs, kind);
                            if outer_other && s.matches == 1 {
                                JoinCodec::push(
                                    &mut p,
                                    other,
                                    theirs,
                                    &null_rows[side],
                                    RowKind::Insert,
                                );
                            }
                        }
                    }
                    s.matches += if accumulate { 1 } else { -1 };
                }
            }
            if outer_me && !matched_any {
                JoinCodec::push(&mut p, side, &me, &null_rows[other], kind);
            }
            // Update this side's state.
            if null_key[r] {
                continue;
            }
            if accumulate {
                let (map, _) =
                    self.state[side].get_or_insert_with(kg, h, key.as_ref(), SideRows::default)?;
                let s = map.entry(me).or_insert_with(|| Stored {
                    count: 0,
                    matches: match_count,
                });
                s.count += 1;
            } else if let Some(map) = self.state[side].get_mut(kg, h, key.as_ref())? {
                if let Some(s) = map.get_mut(&me) {
                    s.count -= 1;
                    if s.count <= 0 {
                        map.remove(&me);
                    }
                }
                if map.is_empty() {
                    self.state[side].remove(kg, h, key.as_ref())?;
                }
            }
        }
        out.emit(self.codec.build(p)?);
        Ok(())
    }
}

impl Operator for Join {
    fn on_batch(&mut self, input: usize, batch: ChangeBatch, out: &mut Output) -> Result<()> {
        for side in &mut self.state {
            side.expire_idle();
        }
        self.process(input.min(1), batch, out)
    }

    fn snapshot(&mut self, _checkpoint_id: u64, snap: &mut OperatorSnapshot) -> Result<()> {
        for side in &mut self.state {
            side.snapshot(snap)?;
        }
        Ok(())
    }

    fn restore(&mut self, restored: RestoredState) -> Result<()> {
        let range = self.state[0].key_groups();
        let [left, right] = &mut self.state;
        left.restore_native(&restored)?;
        right.restore_native(&restored)?;
        restored.for_each_group(range, |kg, r| {
            left.restore_group(kg, r)?;
            right.restore_group(kg, r)
        })
    }
}

/// One side's rows under a key, with their counts and how many rows of the other side each
/// matches.
struct SideRowsCodec;

impl ValueCodec<SideRows> for SideRowsCodec {
    fn encode(&self, rows: &SideRows, w: &mut StateWriter) {
        w.u64(rows.len() as u64);
        for (row, stored) in rows {
            w.bytes(row);
            w.i64(stored.count);
            w.i64(stored.matches);
        }
    }

    fn decode(&self, r: &mut StateReader<'_>) -> Result<SideRows> {
        let n = r.count()?;
        let mut rows = SideRows::with_capacity(n);
        for _ in 0..n {
            let row: Arc<[u8]> = r.bytes()?.into();
            let count = r.i64()?;
            let matches = r.i64()?;
            rows.insert(row, Stored { count, matches });
        }
        Ok(rows)
    }
}
