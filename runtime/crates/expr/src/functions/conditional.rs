//! Conditional functions: COALESCE, IFNULL, IF, NULLIF, GREATEST, LEAST.

use std::sync::Arc;

use arrow::array::Array;
use arrow::compute::kernels::{cmp, zip::zip};
use arrow::datatypes::DataType;
use sqlparser::ast::Expr;

use crate::compile::Compiler;
use crate::physical::{ScalarValue, literal};
use crate::{ColumnarValue, ExprRef};

use super::args::*;

/// Compiles a call of a conditional function; `None` when `name` is none of them.
pub(super) fn call(c: &Compiler, name: &str, args: &[ExprRef], e: &Expr) -> CallResult {
    let nullable = any_nullable(args);
    match name {
        "COALESCE" => {
            arity(name, args, 1, usize::MAX, e)?;
            c.coalesce(args.to_vec(), e)
        }
        "IFNULL" | "NVL" => {
            arity(name, args, 2, 2, e)?;
            c.coalesce(args.to_vec(), e)
        }
        "IF" => {
            arity(name, args, 3, 3, e)?;
            let mut it = args.iter().cloned();
            let (cond, a, b) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
            c.if_then_else(cond, a, b, e)
        }
        "NULLIF" => {
            arity(name, args, 2, 2, e)?;
            let (a, b) = (args[0].clone(), args[1].clone());
            let (l, r) = c.comparison_operands(a.clone(), b, "compare", e)?;
            let eq: ExprRef = Arc::new(crate::physical::Compare {
                op: crate::physical::CmpOp::Eq,
                left: l,
                right: r,
            });
            let t = a.data_type().clone();
            let null = c.coerce(literal(ScalarValue::Null(DataType::Null)), &t);
            c.if_then_else(eq, null, a, e)
        }
        "GREATEST" | "LEAST" => {
            arity(name, args, 1, usize::MAX, e)?;
            let t = c.common_of(args, name, e)?;
            let args: Vec<ExprRef> = args.iter().cloned().map(|a| c.coerce(a, &t)).collect();
            let greatest = name == "GREATEST";
            Ok(new_fn(name, args, t, nullable, move |vals, n| {
                let mut acc = vals[0].clone();
                for v in &vals[1..] {
                    let pick_new = if greatest {
                        cmp::gt(v, &acc)?
                    } else {
                        cmp::lt(v, &acc)?
                    };
                    let merged = zip(&pick_new, v, &acc)?;
                    // NULL if any argument is NULL
                    let nulls = arrow::buffer::NullBuffer::union(
                        acc.clone().into_array(n)?.nulls(),
                        v.clone().into_array(n)?.nulls(),
                    );
                    let data = merged.to_data().into_builder().nulls(nulls).build()?;
                    acc = ColumnarValue::Array(arrow::array::make_array(data));
                }
                Ok(acc)
            }))
        }
        _ => return Ok(None),
    }
    .map(Some)
}
