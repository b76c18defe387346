//! Constructors and accessors of ARRAY, ROW and MAP values.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int32Array, ListArray, MapArray, StructArray,
    new_null_array,
};
use arrow::buffer::{OffsetBuffer, ScalarBuffer};
use arrow::compute::kernels::cmp;
use arrow::datatypes::{DataType, Field, Fields};
use sqlparser::ast::Expr;

use crate::compile::Compiler;
use crate::error::PlanError;
use crate::physical::{literal_array, map_value};
use crate::types::{at, map_type, tn};
use crate::{ColumnarValue, ExprRef};

use super::args::*;

/// Compiles a call of a collection function; `None` when `name` is none of them.
pub(super) fn call(c: &Compiler, name: &str, args: &[ExprRef], e: &Expr) -> CallResult {
    let nullable = any_nullable(args);
    match name {
        "ARRAY" => {
            let t = c.common_of(args, "ARRAY", e)?;
            let t = if matches!(t, DataType::Null) {
                DataType::Utf8
            } else {
                t
            };
            let args: Vec<ExprRef> = args.iter().cloned().map(|a| c.coerce(a, &t)).collect();
            let field = Arc::new(Field::new_list_field(t.clone(), true));
            let lt = DataType::List(field.clone());
            Ok(new_fn(name, args, lt, false, move |vals, n| {
                let k = vals.len();
                let arrays = vals
                    .iter()
                    .map(|v| v.clone().into_array(n))
                    .collect::<Result<Vec<_>, _>>()?;
                // interleave row-major: row i takes element j from arrays[j][i]
                let indices: Vec<(usize, usize)> =
                    (0..n).flat_map(|i| (0..k).map(move |j| (j, i))).collect();
                let refs: Vec<&dyn Array> = arrays.iter().map(|a| a.as_ref()).collect();
                let values = if k == 0 {
                    new_null_array(field.data_type(), 0)
                } else {
                    arrow::compute::interleave(&refs, &indices)?
                };
                let offsets = OffsetBuffer::new(ScalarBuffer::from(
                    (0..=n).map(|i| (i * k) as i32).collect::<Vec<_>>(),
                ));
                out_array(Arc::new(ListArray::try_new(
                    field.clone(),
                    offsets,
                    values,
                    None,
                )?))
            }))
        }
        "ROW" => {
            let fields: Vec<Field> = args
                .iter()
                .enumerate()
                .map(|(i, a)| Field::new(format!("EXPR${i}"), a.data_type().clone(), true))
                .collect();
            let fields = Fields::from(fields);
            let t = DataType::Struct(fields.clone());
            Ok(new_fn(name, args.to_vec(), t, false, move |vals, n| {
                let cols = vals
                    .iter()
                    .map(|v| v.clone().into_array(n))
                    .collect::<Result<Vec<_>, _>>()?;
                out_array(Arc::new(StructArray::try_new(fields.clone(), cols, None)?))
            }))
        }
        "MAP" => {
            if args.is_empty() || !args.len().is_multiple_of(2) {
                return Err(PlanError::Type(format!(
                    "MAP needs key/value pairs in `{e}`{}",
                    at(e)
                )));
            }
            let keys: Vec<ExprRef> = args.iter().step_by(2).cloned().collect();
            let values: Vec<ExprRef> = args.iter().skip(1).step_by(2).cloned().collect();
            let kt = c.common_of(&keys, "MAP keys", e)?;
            let vt = c.common_of(&values, "MAP values", e)?;
            let mt = map_type(kt.clone(), vt.clone());
            let args: Vec<ExprRef> = args
                .iter()
                .cloned()
                .enumerate()
                .map(|(i, a)| c.coerce(a, if i % 2 == 0 { &kt } else { &vt }))
                .collect();
            let DataType::Map(entries_field, _) = mt.clone() else {
                unreachable!()
            };
            Ok(new_fn(name, args, mt, false, move |vals, n| {
                let k = vals.len() / 2;
                let arrays = vals
                    .iter()
                    .map(|v| v.clone().into_array(n))
                    .collect::<Result<Vec<_>, _>>()?;
                let key_refs: Vec<&dyn Array> =
                    arrays.iter().step_by(2).map(|a| a.as_ref()).collect();
                let val_refs: Vec<&dyn Array> = arrays
                    .iter()
                    .skip(1)
                    .step_by(2)
                    .map(|a| a.as_ref())
                    .collect();
                let indices: Vec<(usize, usize)> =
                    (0..n).flat_map(|i| (0..k).map(move |j| (j, i))).collect();
                let keys = arrow::compute::interleave(&key_refs, &indices)?;
                let values = arrow::compute::interleave(&val_refs, &indices)?;
                let DataType::Struct(fields) = entries_field.data_type() else {
                    unreachable!()
                };
                let entries = StructArray::try_new(fields.clone(), vec![keys, values], None)?;
                let offsets = OffsetBuffer::new(ScalarBuffer::from(
                    (0..=n).map(|i| (i * k) as i32).collect::<Vec<_>>(),
                ));
                out_array(Arc::new(MapArray::try_new(
                    entries_field.clone(),
                    offsets,
                    entries,
                    None,
                    false,
                )?))
            }))
        }
        "CARDINALITY" => {
            arity(name, args, 1, 1, e)?;
            let x = args[0].clone();
            if !matches!(x.data_type(), DataType::List(_) | DataType::Map(_, _)) {
                return Err(PlanError::Type(format!(
                    "CARDINALITY expects an ARRAY or MAP, got {} in `{e}`{}",
                    tn(x.data_type()),
                    at(e)
                )));
            }
            Ok(new_fn(
                name,
                vec![x],
                DataType::Int32,
                nullable,
                |vals, _| {
                    map_value(vals[0].clone(), |a| {
                        let offsets: &[i32] = match a.data_type() {
                            DataType::List(_) => a.as_list::<i32>().value_offsets(),
                            _ => a.as_map().value_offsets(),
                        };
                        let lens: Int32Array = (0..a.len())
                            .map(|i| {
                                if a.is_null(i) {
                                    None
                                } else {
                                    Some(offsets[i + 1] - offsets[i])
                                }
                            })
                            .collect();
                        Ok(Arc::new(lens) as ArrayRef)
                    })
                },
            ))
        }
        _ => return Ok(None),
    }
    .map(Some)
}

/// `arr[i]` (1-based) and `map[key]`.
pub(crate) fn subscript(
    c: &Compiler,
    base: ExprRef,
    idx: ExprRef,
    e: &Expr,
) -> Result<ExprRef, PlanError> {
    match base.data_type().clone() {
        DataType::List(f) => {
            let idx = c.to_int_arg(idx, "[]", e)?;
            let et = f.data_type().clone();
            Ok(new_fn(
                "ELEMENT_AT",
                vec![base, idx],
                et,
                true,
                |vals, n| {
                    let l = vals[0].clone().into_array(n)?;
                    let l = l.as_list::<i32>();
                    let k = IntArg::new(&vals[1]);
                    let offsets = l.value_offsets();
                    let indices: arrow::array::UInt32Array = (0..n)
                        .map(|i| {
                            if l.is_null(i) {
                                return None;
                            }
                            let k = k.get(i)?;
                            let len = (offsets[i + 1] - offsets[i]) as i64;
                            if k < 1 || k > len {
                                return None;
                            }
                            Some((offsets[i] as i64 + k - 1) as u32)
                        })
                        .collect();
                    out_array(arrow::compute::take(l.values().as_ref(), &indices, None)?)
                },
            ))
        }
        DataType::Map(entries, _) => {
            let DataType::Struct(kv) = entries.data_type() else {
                return Err(PlanError::Type(format!("malformed MAP type in `{e}`")));
            };
            let kt = kv[0].data_type().clone();
            let vt = kv[1].data_type().clone();
            let (_, key) =
                c.comparison_operands(literal_array(new_null_array(&kt, 1)), idx, "look up", e)?;
            let key = c.coerce(key, &kt);
            Ok(new_fn("MAP_GET", vec![base, key], vt, true, |vals, n| {
                let m = vals[0].clone().into_array(n)?;
                let m = m.as_map();
                let keys = vals[1].clone().into_array(n)?;
                let offsets = m.value_offsets();
                let mut indices: Vec<Option<u32>> = Vec::with_capacity(n);
                for i in 0..n {
                    if m.is_null(i) || keys.is_null(i) {
                        indices.push(None);
                        continue;
                    }
                    let (s, t) = (offsets[i] as usize, offsets[i + 1] as usize);
                    let probe = ColumnarValue::Scalar(keys.slice(i, 1));
                    let cand = ColumnarValue::Array(m.keys().slice(s, t - s));
                    let eq: BooleanArray = cmp::eq(&cand, &probe)?;
                    // last matching entry wins, as Java maps built from literals do
                    let hit = (0..eq.len())
                        .rev()
                        .find(|j| eq.is_valid(*j) && eq.value(*j));
                    indices.push(hit.map(|j| (s + j) as u32));
                }
                let indices = arrow::array::UInt32Array::from(indices);
                out_array(arrow::compute::take(m.values().as_ref(), &indices, None)?)
            }))
        }
        other => Err(PlanError::Type(format!(
            "cannot index a {} value in `{e}`{}",
            tn(&other),
            at(e)
        ))),
    }
}
