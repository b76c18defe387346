//! Built-in scalar functions with Flink's semantics, one module per concern; this module
//! resolves a call by name and hands it to the module that implements it.

mod args;
mod collection;
mod conditional;
mod json;
mod math;
mod regexp;
mod string;
mod time;

use sqlparser::ast::{
    CeilFloorKind, DateTimeField, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments,
};

use crate::ExprRef;
use crate::compile::Compiler;
use crate::error::PlanError;
use crate::types::at;

use self::math::numeric_ceil_floor;
use self::time::{field_name, temporal_ceil_floor};

pub(crate) use self::collection::subscript;
pub(crate) use self::regexp::{regexp_match, similar_to};
pub(crate) use self::string::{fit_length, trim};
pub(crate) use self::time::extract;

const AGGREGATES: &[&str] = &[
    "COUNT",
    "SUM",
    "AVG",
    "MIN",
    "MAX",
    "STDDEV",
    "STDDEV_POP",
    "STDDEV_SAMP",
    "VAR_POP",
    "VAR_SAMP",
    "VARIANCE",
    "COLLECT",
    "LISTAGG",
    "FIRST_VALUE",
    "LAST_VALUE",
    "ARRAY_AGG",
    "ROW_NUMBER",
    "RANK",
    "DENSE_RANK",
    "LAG",
    "LEAD",
    "BOOL_AND",
    "BOOL_OR",
];

/// Compiles a function call from the AST (names are case-insensitive).
pub(crate) fn compile_function(c: &Compiler, f: &Function, e: &Expr) -> Result<ExprRef, PlanError> {
    let name = f
        .name
        .0
        .last()
        .and_then(|p| p.as_ident())
        .map(|i| i.value.to_ascii_uppercase())
        .unwrap_or_else(|| f.name.to_string().to_ascii_uppercase());
    if f.over.is_some() || AGGREGATES.contains(&name.as_str()) {
        return Err(PlanError::Unsupported(format!(
            "aggregate or window function `{e}`{} is not allowed here (it must be computed by an aggregation)",
            at(e)
        )));
    }
    let raw_args: Vec<&Expr> = match &f.args {
        FunctionArguments::None => Vec::new(),
        FunctionArguments::List(list) => {
            let mut out = Vec::with_capacity(list.args.len());
            for a in &list.args {
                match a {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(x))
                    | FunctionArg::Named {
                        arg: FunctionArgExpr::Expr(x),
                        ..
                    }
                    | FunctionArg::ExprNamed {
                        arg: FunctionArgExpr::Expr(x),
                        ..
                    } => out.push(x),
                    _ => {
                        return Err(PlanError::Unsupported(format!(
                            "unsupported argument in `{e}`{}",
                            at(e)
                        )));
                    }
                }
            }
            out
        }
        FunctionArguments::Subquery(_) => {
            return Err(PlanError::Unsupported(format!(
                "subqueries are not supported in `{e}`{}",
                at(e)
            )));
        }
    };
    if let Some(f) = time::call_raw(c, &name, &raw_args, e)? {
        return Ok(f);
    }
    let args = raw_args
        .iter()
        .map(|a| c.compile(a))
        .collect::<Result<Vec<_>, _>>()?;
    call(c, &name, args, e)
}

/// Compiles a call of a built-in function on compiled arguments.
pub(crate) fn call(
    c: &Compiler,
    name: &str,
    args: Vec<ExprRef>,
    e: &Expr,
) -> Result<ExprRef, PlanError> {
    for module in [
        conditional::call,
        string::call,
        regexp::call,
        math::call,
        time::call,
        json::call,
        collection::call,
    ] {
        if let Some(f) = module(c, name, &args, e)? {
            return Ok(f);
        }
    }
    Err(PlanError::UnknownFunction {
        name: name.to_string(),
        at: at(e),
    })
}

/// CEIL / FLOOR on numbers, or `FLOOR(ts TO unit)` / `CEIL(ts TO unit)`.
pub(crate) fn ceil_floor(
    c: &Compiler,
    x: &Expr,
    kind: &CeilFloorKind,
    ceil: bool,
    e: &Expr,
) -> Result<ExprRef, PlanError> {
    let input = c.compile(x)?;
    match kind {
        CeilFloorKind::DateTimeField(DateTimeField::NoDateTime) => {
            numeric_ceil_floor(c, input, ceil, e)
        }
        CeilFloorKind::Scale(_) => Err(PlanError::Unsupported(format!(
            "CEIL/FLOOR with a scale is not supported: `{e}`{}",
            at(e)
        ))),
        CeilFloorKind::DateTimeField(field) => {
            let unit = field_name(field);
            temporal_ceil_floor(c, input, &unit, ceil, e)
        }
    }
}
