//! Numeric functions: ABS, MOD, powers and logarithms, trigonometry, SIGN, ROUND,
//! TRUNCATE, CEIL and FLOOR on numbers.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Decimal128Array, Float64Array, Int64Array};
use arrow::datatypes::{DataType, Decimal128Type, Float64Type, Int32Type, Int64Type};
use runnel_types::{is_integer, is_numeric};
use sqlparser::ast::Expr;

use crate::ExprRef;
use crate::cast::{CastOptions, cast_array_with};
use crate::compile::Compiler;
use crate::decimal::{parse_decimal, pow10, rescale};
use crate::error::{ExprError, PlanError};
use crate::physical::{ScalarValue, literal, map_value};
use crate::types::{ArithOp, adjust_precision_scale, at, tn};

use super::args::*;

/// Compiles a call of a numeric function; `None` when `name` is none of them.
pub(super) fn call(c: &Compiler, name: &str, args: &[ExprRef], e: &Expr) -> CallResult {
    let nullable = any_nullable(args);
    match name {
        "ABS" => {
            arity(name, args, 1, 1, e)?;
            let x = args[0].clone();
            let t = numeric_arg_type(c, &x, name, e)?;
            let x = c.coerce(x, &t);
            Ok(new_fn(name, vec![x], t, nullable, |vals, _| {
                map_value(vals[0].clone(), |a| {
                    Ok(match a.data_type() {
                        DataType::Int8 => Arc::new(
                            a.as_primitive::<arrow::datatypes::Int8Type>()
                                .unary::<_, arrow::datatypes::Int8Type>(|v| v.wrapping_abs()),
                        ) as ArrayRef,
                        DataType::Int16 => Arc::new(
                            a.as_primitive::<arrow::datatypes::Int16Type>()
                                .unary::<_, arrow::datatypes::Int16Type>(|v| v.wrapping_abs()),
                        ),
                        DataType::Int32 => Arc::new(
                            a.as_primitive::<Int32Type>()
                                .unary::<_, Int32Type>(|v| v.wrapping_abs()),
                        ),
                        DataType::Int64 => Arc::new(
                            a.as_primitive::<Int64Type>()
                                .unary::<_, Int64Type>(|v| v.wrapping_abs()),
                        ),
                        DataType::Float32 => Arc::new(
                            a.as_primitive::<arrow::datatypes::Float32Type>()
                                .unary::<_, arrow::datatypes::Float32Type>(|v| v.abs()),
                        ),
                        DataType::Float64 => Arc::new(
                            a.as_primitive::<Float64Type>()
                                .unary::<_, Float64Type>(|v| v.abs()),
                        ),
                        DataType::Decimal128(p, s) => Arc::new(
                            a.as_primitive::<Decimal128Type>()
                                .unary::<_, Decimal128Type>(|v| v.abs())
                                .with_precision_and_scale(*p, *s)?,
                        ),
                        other => return Err(ExprError::Eval(format!("ABS of {other}"))),
                    })
                })
            }))
        }
        "MOD" => {
            arity(name, args, 2, 2, e)?;
            c.arith(ArithOp::Mod, args[0].clone(), args[1].clone(), e)
        }
        "POWER" | "POW" | "ATAN2" | "LOG" if args.len() == 2 => {
            let a = c.to_double_arg(args[0].clone(), name, e)?;
            let b = c.to_double_arg(args[1].clone(), name, e)?;
            let op: fn(f64, f64) -> f64 = match name {
                "POWER" | "POW" => f64::powf,
                "ATAN2" => f64::atan2,
                _ => |base, x| x.ln() / base.ln(),
            };
            Ok(new_fn(
                name,
                vec![a, b],
                DataType::Float64,
                nullable,
                move |vals, n| {
                    let x = vals[0].clone().into_array(n)?;
                    let y = vals[1].clone().into_array(n)?;
                    let r: Float64Array = arrow::compute::binary(
                        x.as_primitive::<Float64Type>(),
                        y.as_primitive::<Float64Type>(),
                        op,
                    )?;
                    out_array(Arc::new(r))
                },
            ))
        }
        "SQRT" | "LN" | "LOG" | "LOG10" | "LOG2" | "EXP" | "SIN" | "COS" | "TAN" | "ASIN"
        | "ACOS" | "ATAN" | "SINH" | "COSH" | "TANH" | "COT" | "DEGREES" | "RADIANS" | "CBRT" => {
            arity(name, args, 1, 1, e)?;
            let x = c.to_double_arg(args[0].clone(), name, e)?;
            let op: fn(f64) -> f64 = match name {
                "SQRT" => f64::sqrt,
                "LN" | "LOG" => f64::ln,
                "LOG10" => f64::log10,
                "LOG2" => f64::log2,
                "EXP" => f64::exp,
                "SIN" => f64::sin,
                "COS" => f64::cos,
                "TAN" => f64::tan,
                "ASIN" => f64::asin,
                "ACOS" => f64::acos,
                "ATAN" => f64::atan,
                "SINH" => f64::sinh,
                "COSH" => f64::cosh,
                "TANH" => f64::tanh,
                "COT" => |v| 1.0 / v.tan(),
                "DEGREES" => f64::to_degrees,
                "RADIANS" => f64::to_radians,
                _ => f64::cbrt,
            };
            Ok(new_fn(
                name,
                vec![x],
                DataType::Float64,
                nullable,
                move |vals, _| {
                    map_value(vals[0].clone(), |a| {
                        Ok(
                            Arc::new(a.as_primitive::<Float64Type>().unary::<_, Float64Type>(op))
                                as ArrayRef,
                        )
                    })
                },
            ))
        }
        "PI" => Ok(literal(std::f64::consts::PI)),
        "E" => Ok(literal(std::f64::consts::E)),
        "SIGN" => {
            arity(name, args, 1, 1, e)?;
            let x = args[0].clone();
            let t = numeric_arg_type(c, &x, name, e)?;
            let x = c.coerce(x, &t);
            let as_double = c.coerce(x.clone(), &DataType::Float64);
            let t2 = t.clone();
            Ok(new_fn(
                name,
                vec![as_double],
                t.clone(),
                nullable,
                move |vals, _| {
                    map_value(vals[0].clone(), |a| {
                        let s: ArrayRef = Arc::new(
                            a.as_primitive::<Float64Type>()
                                .unary::<_, Float64Type>(|v| {
                                    if v > 0.0 {
                                        1.0
                                    } else if v < 0.0 {
                                        -1.0
                                    } else {
                                        v
                                    }
                                }),
                        );
                        cast_array_with(&s, &t2, &CastOptions::default())
                    })
                },
            ))
        }
        "ROUND" | "TRUNCATE" => {
            arity(name, args, 1, 2, e)?;
            round(c, name, args, e)
        }
        "CEIL" | "CEILING" | "FLOOR" => {
            arity(name, args, 1, 1, e)?;
            numeric_ceil_floor(c, args[0].clone(), name != "FLOOR", e)
        }
        _ => return Ok(None),
    }
    .map(Some)
}

fn numeric_arg_type(
    c: &Compiler,
    x: &ExprRef,
    name: &str,
    e: &Expr,
) -> Result<DataType, PlanError> {
    let _ = c;
    match x.data_type() {
        DataType::Null => Ok(DataType::Int32),
        t if is_numeric(t) => Ok(t.clone()),
        other => Err(PlanError::Type(format!(
            "function `{name}` expects a numeric argument, got {} in `{e}`{}",
            tn(other),
            at(e)
        ))),
    }
}

fn round(c: &Compiler, name: &str, args: &[ExprRef], e: &Expr) -> Result<ExprRef, PlanError> {
    let truncate = name == "TRUNCATE";
    let x = args[0].clone();
    let t = numeric_arg_type(c, &x, name, e)?;
    let x = c.coerce(x, &t);
    let digits = match args.get(1) {
        None => Some(0),
        Some(d) => match literal_i64(d) {
            Some(Some(d)) => Some(d),
            Some(None) => return Ok(c.coerce(literal(ScalarValue::Null(DataType::Null)), &t)),
            None => None,
        },
    };
    let Some(d) = digits else {
        return Err(PlanError::Unsupported(format!(
            "{name} needs a literal number of digits: `{e}`{}",
            at(e)
        )));
    };
    let d = d as i32;
    let nullable = x.nullable();
    match t.clone() {
        DataType::Decimal128(p, s) => {
            let (rp, rs) = if d >= s as i32 {
                (p, s)
            } else if d < 0 {
                ((1 + p as i32 - s as i32).min(38) as u8, 0)
            } else {
                adjust_precision_scale(1 + p as i32 - s as i32 + d, d)
            };
            Ok(new_fn(
                name,
                vec![x],
                DataType::Decimal128(rp, rs),
                true,
                move |vals, _| {
                    map_value(vals[0].clone(), |a| {
                        let dec = a.as_primitive::<Decimal128Type>();
                        let out: Decimal128Array = dec
                            .iter()
                            .map(|v| {
                                let v = v?;
                                let r = round_unscaled(v, s as i32, d, truncate)?;
                                // r is at scale max(d, 0); bring to rs
                                rescale(r, d.max(0) as i8, rs)
                            })
                            .collect();
                        Ok(Arc::new(out.with_precision_and_scale(rp, rs)?) as ArrayRef)
                    })
                },
            ))
        }
        DataType::Float32 | DataType::Float64 => {
            let t2 = t.clone();
            let xd = c.coerce(x, &DataType::Float64);
            Ok(new_fn(name, vec![xd], t, nullable, move |vals, _| {
                map_value(vals[0].clone(), |a| {
                    let f = a.as_primitive::<Float64Type>();
                    let out: Float64Array = f.unary(|v| round_double(v, d, truncate));
                    cast_array_with(&(Arc::new(out) as ArrayRef), &t2, &CastOptions::default())
                })
            }))
        }
        _ => {
            // integers: only negative digits change anything
            let t2 = t.clone();
            let xl = c.coerce(x, &DataType::Int64);
            Ok(new_fn(name, vec![xl], t, nullable, move |vals, _| {
                map_value(vals[0].clone(), |a| {
                    let l = a.as_primitive::<Int64Type>();
                    let out: Int64Array = l.unary(|v| {
                        if d >= 0 {
                            v
                        } else {
                            round_unscaled(v as i128, 0, d, truncate)
                                .map(|r| r as i64)
                                .unwrap_or(v)
                                * 10i64.pow((-d) as u32)
                        }
                    });
                    cast_array_with(&(Arc::new(out) as ArrayRef), &t2, &CastOptions::default())
                })
            }))
        }
    }
}

/// Rounds an unscaled value at `scale` to `digits` fraction digits (HALF_UP or truncating);
/// the result is unscaled at `max(digits, 0)` — for negative digits, in units of 10^-digits.
fn round_unscaled(v: i128, scale: i32, digits: i32, truncate: bool) -> Option<i128> {
    if digits >= scale {
        return rescale(v, scale as i8, digits.max(0) as i8);
    }
    let drop = (scale - digits) as u32;
    if drop > 38 {
        return Some(0);
    }
    let d = pow10(drop);
    let q = v / d;
    let r = v % d;
    if truncate {
        return Some(q);
    }
    Some(if r.unsigned_abs() * 2 >= d as u128 {
        if v < 0 { q - 1 } else { q + 1 }
    } else {
        q
    })
}

/// ROUND on DOUBLE as Flink does: via the shortest decimal form (`BigDecimal.valueOf`).
fn round_double(v: f64, digits: i32, truncate: bool) -> f64 {
    if !v.is_finite() {
        return v;
    }
    let text = format!("{v}");
    let scale = text
        .split_once('.')
        .map(|(_, f)| f.len() as i32)
        .unwrap_or(0);
    if digits >= scale {
        return v;
    }
    let Some(unscaled) = parse_decimal(&text, scale.min(38) as i8) else {
        return v;
    };
    match round_unscaled(unscaled, scale.min(38), digits, truncate) {
        Some(r) => {
            if digits >= 0 {
                r as f64 / 10f64.powi(digits)
            } else {
                r as f64 * 10f64.powi(-digits)
            }
        }
        None => v,
    }
}

pub(super) fn numeric_ceil_floor(
    c: &Compiler,
    x: ExprRef,
    ceil: bool,
    e: &Expr,
) -> Result<ExprRef, PlanError> {
    let name = if ceil { "CEIL" } else { "FLOOR" };
    let t = numeric_arg_type(c, &x, name, e)?;
    let x = c.coerce(x, &t);
    let nullable = x.nullable();
    match t.clone() {
        t if is_integer(&t) => Ok(x),
        DataType::Decimal128(p, s) => {
            let rp = (p as i32 - s as i32 + 1).clamp(1, 38) as u8;
            Ok(new_fn(
                name,
                vec![x],
                DataType::Decimal128(rp, 0),
                nullable,
                move |vals, _| {
                    map_value(vals[0].clone(), |a| {
                        let d = pow10(s as u32);
                        let out: Decimal128Array = a.as_primitive::<Decimal128Type>().unary(|v| {
                            let q = v.div_euclid(d);
                            if ceil && v.rem_euclid(d) != 0 {
                                q + 1
                            } else {
                                q
                            }
                        });
                        Ok(Arc::new(out.with_precision_and_scale(rp, 0)?) as ArrayRef)
                    })
                },
            ))
        }
        _ => {
            let t2 = t.clone();
            let xd = c.coerce(x, &DataType::Float64);
            Ok(new_fn(name, vec![xd], t, nullable, move |vals, _| {
                map_value(vals[0].clone(), |a| {
                    let out: Float64Array = a
                        .as_primitive::<Float64Type>()
                        .unary(|v| if ceil { v.ceil() } else { v.floor() });
                    cast_array_with(&(Arc::new(out) as ArrayRef), &t2, &CastOptions::default())
                })
            }))
        }
    }
}
