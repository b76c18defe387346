use arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch, UInt32Array, new_null_array};
use arrow::datatypes::SchemaRef;
use arrow::row::{OwnedRow, RowConverter, Rows, SortField};
use runnel_expr::ExprRef;
use runnel_types::{ChangeBatch, RowKind};

use super::{Operator, Output, SubtaskContext};
use crate::dataflow::assign_key_group;
use crate::error::Result;
use crate::state::{KeyedState, hash_columns};

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
    fn outer(self, side: usize) -> bool {
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
}

/// One stored row of a side, with its multiplicity and, on an outer side, how many rows of
/// the other side it currently matches.
struct Stored {
    row: OwnedRow,
    count: i64,
    matches: i64,
}

/// A regular (non-windowed) streaming join, like Flink's `StreamingJoinOperator`: each side's
/// rows live in keyed state; a row joins with the other side's rows of its key, and
/// retractions retract the joined rows they produced. Outer sides emit NULL-padded rows
/// while unmatched and retract them once matched.
pub struct Join {
    spec: JoinSpec,
    convs: [RowConverter; 2],
    null_rows: [OwnedRow; 2],
    state: [KeyedState<Vec<Stored>>; 2],
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

fn null_row(conv: &RowConverter, schema: &SchemaRef) -> Result<OwnedRow> {
    let cols: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|f| new_null_array(f.data_type(), 1))
        .collect();
    Ok(conv.convert_columns(&cols)?.row(0).owned())
}

struct Pending {
    /// Output rows as (left row, right row, kind).
    rows: Vec<(OwnedRow, OwnedRow, RowKind)>,
}

impl Join {
    /// A join for one subtask.
    pub fn new(spec: JoinSpec, ctx: &SubtaskContext) -> Result<Self> {
        let lc = converter(&spec.left_schema)?;
        let rc = converter(&spec.right_schema)?;
        let ln = null_row(&lc, &spec.left_schema)?;
        let rn = null_row(&rc, &spec.right_schema)?;
        Ok(Join {
            convs: [lc, rc],
            null_rows: [ln, rn],
            state: [
                KeyedState::new(ctx.key_groups),
                KeyedState::new(ctx.key_groups),
            ],
            max_parallelism: ctx.max_parallelism,
            hashes: Vec::new(),
            spec,
        })
    }

    fn keys(&self, side: usize) -> &[usize] {
        if side == 0 {
            &self.spec.left_keys
        } else {
            &self.spec.right_keys
        }
    }

    /// Evaluates the residual condition for candidate pairs (this side's row index, other row).
    fn check(
        &self,
        side: usize,
        batch: &RecordBatch,
        pairs: &[(u32, OwnedRow)],
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
        let theirs = self.convs[other].convert_rows(pairs.iter().map(|p| p.1.row()))?;
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

    fn process(&mut self, side: usize, batch: ChangeBatch, out: &mut Output) -> Result<()> {
        let other = 1 - side;
        let n = batch.num_rows();
        let key_cols: Vec<ArrayRef> = self
            .keys(side)
            .iter()
            .map(|i| batch.data.column(*i).clone())
            .collect();
        let key_conv = RowConverter::new(
            key_cols
                .iter()
                .map(|c| SortField::new(c.data_type().clone()))
                .collect(),
        )?;
        let keys: Rows = key_conv.convert_columns(&key_cols)?;
        hash_columns(&key_cols, n, &mut self.hashes)?;
        let rows = self.convs[side].convert_columns(batch.data.columns())?;
        // Rows whose key has a NULL never match (SQL equality).
        let null_key: Vec<bool> = (0..n)
            .map(|r| key_cols.iter().any(|c| c.is_null(r)))
            .collect();

        // Candidate pairs from the other side's state, then the residual condition, vectorized.
        let mut pairs: Vec<(u32, OwnedRow)> = Vec::new();
        let mut spans = Vec::with_capacity(n);
        for (r, is_null) in null_key.iter().enumerate() {
            let start = pairs.len();
            if !is_null {
                let h = self.hashes[r];
                let kg = assign_key_group(h, self.max_parallelism);
                if let Some(list) = self.state[other].get_mut(kg, h, keys.row(r).as_ref()) {
                    for s in list.iter() {
                        pairs.push((r as u32, s.row.clone()));
                    }
                }
            }
            spans.push(start..pairs.len());
        }
        let ok = self.check(side, &batch.data, &pairs)?;

        let mut p = Pending { rows: Vec::new() };
        let outer_me = self.spec.join_type.outer(side);
        let outer_other = self.spec.join_type.outer(other);
        for r in 0..n {
            let accumulate = batch.kind(r).is_accumulate();
            let me = rows.row(r).owned();
            let h = self.hashes[r];
            let kg = assign_key_group(h, self.max_parallelism);
            let key = keys.row(r);
            let matched: Vec<usize> = spans[r].clone().filter(|i| ok[*i]).collect();
            // Update the other side's association counts and emit.
            if !null_key[r] && !matched.is_empty() {
                let list = self.state[other]
                    .get_mut(kg, h, key.as_ref())
                    .expect("candidates came from state");
                for i in &matched {
                    let their = &pairs[*i].1;
                    let Some(s) = list.iter_mut().find(|s| s.row.row() == their.row()) else {
                        continue;
                    };
                    let reps = s.count;
                    for _ in 0..reps {
                        if accumulate {
                            if outer_other && s.matches == 0 {
                                Self::emit_static(
                                    other,
                                    s.row.clone(),
                                    self.null_rows[side].clone(),
                                    RowKind::Delete,
                                    &mut p,
                                );
                            }
                            Self::emit_static(
                                side,
                                me.clone(),
                                s.row.clone(),
                                RowKind::Insert,
                                &mut p,
                            );
                        } else {
                            Self::emit_static(
                                side,
                                me.clone(),
                                s.row.clone(),
                                RowKind::Delete,
                                &mut p,
                            );
                            if outer_other && s.matches == 1 {
                                Self::emit_static(
                                    other,
                                    s.row.clone(),
                                    self.null_rows[side].clone(),
                                    RowKind::Insert,
                                    &mut p,
                                );
                            }
                        }
                    }
                    s.matches += if accumulate { 1 } else { -1 };
                }
            }
            if outer_me && matched.is_empty() {
                let kind = if accumulate {
                    RowKind::Insert
                } else {
                    RowKind::Delete
                };
                Self::emit_static(
                    side,
                    me.clone(),
                    self.null_rows[other].clone(),
                    kind,
                    &mut p,
                );
            }
            // Update this side's state.
            if null_key[r] {
                continue;
            }
            let match_count = matched
                .iter()
                .map(|i| {
                    let their = &pairs[*i].1;
                    self.state[other]
                        .get_mut(kg, h, key.as_ref())
                        .and_then(|l| {
                            l.iter()
                                .find(|s| s.row.row() == their.row())
                                .map(|s| s.count)
                        })
                        .unwrap_or(1)
                })
                .sum::<i64>();
            if accumulate {
                let (list, _) = self.state[side].get_or_insert_with(kg, h, key.as_ref(), Vec::new);
                match list.iter_mut().find(|s| s.row.row() == me.row()) {
                    Some(s) => s.count += 1,
                    None => list.push(Stored {
                        row: me,
                        count: 1,
                        matches: match_count,
                    }),
                }
            } else if let Some(list) = self.state[side].get_mut(kg, h, key.as_ref()) {
                if let Some(pos) = list.iter().position(|s| s.row.row() == me.row()) {
                    list[pos].count -= 1;
                    if list[pos].count <= 0 {
                        list.swap_remove(pos);
                    }
                }
                if list.is_empty() {
                    self.state[side].remove(kg, h, key.as_ref());
                }
            }
        }
        out.emit(self.build(p)?);
        Ok(())
    }

    fn emit_static(side: usize, mine: OwnedRow, theirs: OwnedRow, kind: RowKind, p: &mut Pending) {
        if side == 0 {
            p.rows.push((mine, theirs, kind));
        } else {
            p.rows.push((theirs, mine, kind));
        }
    }

    fn build(&self, p: Pending) -> Result<ChangeBatch> {
        if p.rows.is_empty() {
            return Ok(ChangeBatch::inserts(RecordBatch::new_empty(
                self.spec.output_schema.clone(),
            )));
        }
        let mut cols = self.convs[0].convert_rows(p.rows.iter().map(|r| r.0.row()))?;
        cols.extend(self.convs[1].convert_rows(p.rows.iter().map(|r| r.1.row()))?);
        let kinds = p.rows.iter().map(|r| r.2).collect();
        let data = RecordBatch::try_new(self.spec.output_schema.clone(), cols)?;
        Ok(ChangeBatch::with_kinds(data, kinds))
    }
}

impl Operator for Join {
    fn on_batch(&mut self, input: usize, batch: ChangeBatch, out: &mut Output) -> Result<()> {
        self.process(input.min(1), batch, out)
    }
}
