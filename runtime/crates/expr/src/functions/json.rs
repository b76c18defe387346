//! JSON functions: JSON_VALUE, JSON_QUERY, JSON_EXISTS.

use arrow::datatypes::DataType;
use sqlparser::ast::Expr;

use crate::ExprRef;
use crate::compile::Compiler;
use crate::error::PlanError;
use crate::types::at;

use super::args::*;

/// Compiles a call of a JSON function; `None` when `name` is none of them.
pub(super) fn call(c: &Compiler, name: &str, args: &[ExprRef], e: &Expr) -> CallResult {
    match name {
        "JSON_VALUE" | "JSON_QUERY" | "JSON_EXISTS" => {
            arity(name, args, 2, 2, e)?;
            let doc = c.to_string_arg(args[0].clone(), name, e)?;
            let path = match literal_str(&args[1]) {
                Some(Some(p)) => crate::json::parse_path(&p)
                    .map_err(|m| PlanError::Invalid(format!("{m} in `{e}`{}", at(e))))?,
                _ => {
                    return Err(PlanError::Unsupported(format!(
                        "{name} needs a literal JSON path in `{e}`{}",
                        at(e)
                    )));
                }
            };
            let kind = name.to_string();
            let t = if kind == "JSON_EXISTS" {
                DataType::Boolean
            } else {
                DataType::Utf8
            };
            Ok(new_fn(name, vec![doc], t, true, move |vals, n| {
                let d = StrArg::new(&vals[0]);
                let parse = |i: usize| -> Option<serde_json::Value> {
                    serde_json::from_str(d.get(i)?).ok()
                };
                if kind == "JSON_EXISTS" {
                    return out_array(build_bool(n, |i| {
                        d.get(i)?;
                        Some(parse(i).is_some_and(|v| crate::json::lookup(&v, &path).is_some()))
                    }));
                }
                let query = kind == "JSON_QUERY";
                out_array(build_strings(n, |i, buf| {
                    let Some(v) = parse(i) else { return false };
                    match crate::json::lookup(&v, &path) {
                        Some(x) if query && (x.is_object() || x.is_array()) => {
                            buf.push_str(&x.to_string());
                            true
                        }
                        Some(_) if query => false,
                        Some(x) => crate::json::scalar_text(x, buf),
                        None => false,
                    }
                }))
            }))
        }
        _ => return Ok(None),
    }
    .map(Some)
}
