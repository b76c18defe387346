//! Date and time functions: field extraction, formatting and parsing, epoch conversions,
//! FLOOR/CEIL to a unit, TIMESTAMPADD/TIMESTAMPDIFF and the statement-time functions.

use std::sync::{Arc, Mutex};

use arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, Int32Array, Int64Array, Int64Builder, PrimitiveArray,
    StringBuilder, TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, Float64Type, Int32Type, Int64Type, TimeUnit};
use chrono::{Datelike, NaiveDateTime, Timelike};
use runnel_types::is_integer;
use sqlparser::ast::{DateTimeField, Expr};

use crate::cast::{CastOptions, cast_array_with, raw_ts};
use crate::compile::{Compiler, is_string, is_temporal};
use crate::datetime::{
    JavaFormat, MILLIS_PER_DAY, date_to_days, millis_to_naive, naive_to_millis, parse_timestamp,
};
use crate::error::{ExprError, PlanError};
use crate::physical::{ScalarValue, literal, literal_array, map_value};
use crate::types::{ArithOp, at, tn};
use crate::{ColumnarValue, ExprRef};

use super::args::*;

/// Java pattern for DATE_FORMAT & co., compiled once when literal.
type FormatArg = PatternArg<JavaFormat>;

impl FormatArg {
    fn new(x: Option<&ExprRef>, default: &str, e: &Expr) -> Result<FormatArg, PlanError> {
        let lit = match x {
            None => Some(Some(default.to_string())),
            Some(x) => literal_str(x),
        };
        Ok(match lit {
            Some(Some(p)) => RegexArgFmt::compile(&p, e)?,
            Some(None) => FormatArg::Fixed(None),
            None => FormatArg::Dynamic(Mutex::new(None)),
        })
    }

    fn with<R>(&self, pattern: Option<&str>, f: impl FnOnce(Option<&JavaFormat>) -> R) -> R {
        self.with_compiled(pattern, |p| JavaFormat::compile(p).ok(), f)
    }
}

struct RegexArgFmt;
impl RegexArgFmt {
    fn compile(p: &str, e: &Expr) -> Result<FormatArg, PlanError> {
        let f = JavaFormat::compile(p).map_err(|m| {
            PlanError::Invalid(format!("invalid date format '{p}' in `{e}`{}: {m}", at(e)))
        })?;
        Ok(FormatArg::Fixed(Some(f)))
    }
}

/// Functions compiled from their unevaluated arguments: the statement-time functions
/// (CURRENT_TIMESTAMP, LOCALTIMESTAMP, CURRENT_DATE, ...) and TIMESTAMPADD / TIMESTAMPDIFF,
/// whose first argument is a unit keyword; `None` for any other function.
pub(super) fn call_raw(c: &Compiler, name: &str, raw_args: &[&Expr], e: &Expr) -> CallResult {
    let stmt_ms = c.ctx.statement_time_millis;
    Ok(Some(match name {
        "CURRENT_TIMESTAMP" | "NOW" | "CURRENT_ROW_TIMESTAMP" => {
            literal(ScalarValue::TimestampLtzMillis(stmt_ms))
        }
        "LOCALTIMESTAMP" => {
            let local = c.time_zone(e)?.to_local_millis(stmt_ms);
            literal(ScalarValue::TimestampMillis(local))
        }
        "CURRENT_DATE" => {
            let local = c.time_zone(e)?.to_local_millis(stmt_ms);
            literal(ScalarValue::Date32(local.div_euclid(MILLIS_PER_DAY) as i32))
        }
        "CURRENT_TIME" | "LOCALTIME" => {
            let local = c.time_zone(e)?.to_local_millis(stmt_ms);
            let ms = local.rem_euclid(MILLIS_PER_DAY) as i32;
            literal_array(Arc::new(arrow::array::Time32MillisecondArray::from(vec![
                ms,
            ])))
        }
        "UNIX_TIMESTAMP" if raw_args.is_empty() => {
            literal(ScalarValue::Int64(stmt_ms.div_euclid(1000)))
        }
        "TIMESTAMPADD" | "TIMESTAMPDIFF" => {
            if raw_args.len() != 3 {
                return Err(PlanError::Type(format!(
                    "function `{name}` takes 3 arguments in `{e}`{}",
                    at(e)
                )));
            }
            let unit = match raw_args[0] {
                Expr::Identifier(id) => id.value.to_ascii_uppercase(),
                other => other.to_string().to_ascii_uppercase(),
            };
            let a = c.compile(raw_args[1])?;
            let b = c.compile(raw_args[2])?;
            if name == "TIMESTAMPADD" {
                timestamp_add(c, &unit, a, b, e)?
            } else {
                timestamp_diff(c, &unit, a, b, e)?
            }
        }
        _ => return Ok(None),
    }))
}

/// Compiles a call of a date/time function; `None` when `name` is none of them.
pub(super) fn call(c: &Compiler, name: &str, args: &[ExprRef], e: &Expr) -> CallResult {
    let nullable = any_nullable(args);
    match name {
        "YEAR" | "QUARTER" | "MONTH" | "WEEK" | "DAYOFYEAR" | "DAYOFMONTH" | "DAYOFWEEK"
        | "HOUR" | "MINUTE" | "SECOND" => {
            arity(name, args, 1, 1, e)?;
            let unit = match name {
                "DAYOFYEAR" => "DOY",
                "DAYOFMONTH" => "DAY",
                "DAYOFWEEK" => "DOW",
                other => other,
            };
            extract_unit(c, unit, args[0].clone(), e)
        }
        "DATE_FORMAT" => {
            arity(name, args, 2, 2, e)?;
            let ts = c.to_local_ts_arg(args[0].clone(), name, e)?;
            let fmt = c.to_string_arg(args[1].clone(), name, e)?;
            let f = FormatArg::new(Some(&fmt), "", e)?;
            Ok(new_fn(
                name,
                vec![ts, fmt],
                DataType::Utf8,
                true,
                move |vals, n| {
                    let ts = vals[0].array();
                    let ts_scalar = vals[0].is_scalar();
                    let ts = ts.as_primitive::<arrow::datatypes::TimestampMillisecondType>();
                    let p = StrArg::new(&vals[1]);
                    // Formats straight into the output buffer: no per-row copies.
                    let mut b = StringBuilder::with_capacity(n, n * 12);
                    for i in 0..n {
                        let j = if ts_scalar { 0 } else { i };
                        if ts.is_null(j) {
                            b.append_null();
                            continue;
                        }
                        let dt = crate::datetime::Parts::from_millis(ts.value(j));
                        let ok = f.with(p.get(i), |fmt| match fmt {
                            Some(fmt) => fmt.format(&dt, &mut b).is_ok(),
                            None => false,
                        });
                        if ok {
                            b.append_value("");
                        } else {
                            // A NULL or invalid per-row pattern: redo the batch row by row.
                            return date_format_slow(ts, ts_scalar, &p, &f, n);
                        }
                    }
                    out_array(Arc::new(b.finish()))
                },
            ))
        }
        "TO_TIMESTAMP" | "TO_DATE" => {
            arity(name, args, 1, 2, e)?;
            let date = name == "TO_DATE";
            let s = args[0].clone();
            if !is_string(s.data_type()) && !matches!(s.data_type(), DataType::Null) {
                if date && is_integer(s.data_type()) {
                    // TO_DATE(days)
                    return c.cast(s, &DataType::Date32, false, e).map(Some);
                }
                return Err(PlanError::Type(format!(
                    "function `{name}` expects a STRING argument, got {} in `{e}`{}",
                    tn(s.data_type()),
                    at(e)
                )));
            }
            let s = c.coerce(s, &DataType::Utf8);
            let fmt = c.to_opt_string_arg(args.get(1), name, e)?;
            let f = fmt.as_ref().map(|fx| FormatArg::new(Some(fx), "", e)).transpose()?;
            let fargs: Vec<ExprRef> = std::iter::once(s).chain(fmt).collect();
            let t = if date {
                DataType::Date32
            } else {
                DataType::Timestamp(TimeUnit::Millisecond, None)
            };
            Ok(new_fn(name, fargs, t, true, move |vals, n| {
                let s = StrArg::new(&vals[0]);
                let p = vals.get(1).map(StrArg::new);
                let parse = |i: usize| -> Option<NaiveDateTime> {
                    let v = s.get(i)?;
                    match (&f, &p) {
                        (Some(f), Some(p)) => f.with(p.get(i), |fmt| fmt?.parse(v)),
                        _ => {
                            if date {
                                crate::datetime::parse_date(v)
                                    .and_then(|d| d.and_hms_opt(0, 0, 0))
                                    .or_else(|| parse_timestamp(v))
                            } else {
                                parse_timestamp(v)
                            }
                        }
                    }
                };
                if date {
                    let out: Date32Array = (0..n)
                        .map(|i| parse(i).map(|d| date_to_days(&d.date())))
                        .collect();
                    out_array(Arc::new(out))
                } else {
                    let out: TimestampMillisecondArray = (0..n)
                        .map(|i| parse(i).map(|d| naive_to_millis(&d)))
                        .collect();
                    out_array(Arc::new(out))
                }
            }))
        }
        "UNIX_TIMESTAMP" => {
            arity(name, args, 1, 2, e)?;
            let s = c.to_string_arg(args[0].clone(), name, e)?;
            let fmt = c.to_opt_string_arg(args.get(1), name, e)?;
            let f = FormatArg::new(fmt.as_ref(), "yyyy-MM-dd HH:mm:ss", e)?;
            let zone = c.time_zone(e)?;
            let fargs: Vec<ExprRef> = std::iter::once(s).chain(fmt).collect();
            Ok(new_fn(
                name,
                fargs,
                DataType::Int64,
                nullable,
                move |vals, n| {
                    let s = StrArg::new(&vals[0]);
                    let p = vals.get(1).map(StrArg::new);
                    out_array(build_i64(n, |i| {
                        let v = s.get(i)?;
                        let pat = match &p {
                            Some(p) => Some(p.get(i)?),
                            None => None,
                        };
                        let parsed = f.with(pat, |fmt| fmt.and_then(|fmt| fmt.parse(v)));
                        Some(match parsed {
                            Some(dt) => {
                                // SimpleDateFormat in the session zone, as Flink parses here
                                let local = dt.and_utc().timestamp();
                                local - zone.offset_for_local_calendar(local) as i64
                            }
                            None => i64::MIN,
                        })
                    }))
                },
            ))
        }
        "FROM_UNIXTIME" => {
            arity(name, args, 1, 2, e)?;
            let secs = c.to_int_arg(args[0].clone(), name, e)?;
            let fmt = c.to_opt_string_arg(args.get(1), name, e)?;
            let f = FormatArg::new(fmt.as_ref(), "yyyy-MM-dd HH:mm:ss", e)?;
            let zone = c.time_zone(e)?;
            let fargs: Vec<ExprRef> = std::iter::once(secs).chain(fmt).collect();
            Ok(new_fn(
                name,
                fargs,
                DataType::Utf8,
                nullable,
                move |vals, n| {
                    let s = IntArg::new(&vals[0]);
                    let p = vals.get(1).map(StrArg::new);
                    out_array(build_strings(n, |i, buf| {
                        let Some(v) = s.get(i) else { return false };
                        let pat = match &p {
                            Some(p) => match p.get(i) {
                                Some(x) => Some(x),
                                None => return false,
                            },
                            None => None,
                        };
                        let dt = crate::datetime::Parts::from_secs(zone.to_local_units(v, 1), 0);
                        f.with(pat, |fmt| {
                            fmt.is_some_and(|fmt| fmt.format(&dt, buf).is_ok())
                        })
                    }))
                },
            ))
        }
        "TO_TIMESTAMP_LTZ" => {
            arity(name, args, 1, 2, e)?;
            let x = args[0].clone();
            let ltz = DataType::Timestamp(TimeUnit::Millisecond, runnel_types::time_zone_utc());
            if is_string(x.data_type()) {
                // TO_TIMESTAMP_LTZ(string[, format]): parsed in the session time zone
                let fmt = c.to_opt_string_arg(args.get(1), name, e)?;
                let f = fmt.as_ref().map(|fx| FormatArg::new(Some(fx), "", e)).transpose()?;
                let zone = c.time_zone(e)?;
                let fargs: Vec<ExprRef> = std::iter::once(x).chain(fmt).collect();
                return Ok(Some(new_fn(name, fargs, ltz, true, move |vals, n| {
                    let s = StrArg::new(&vals[0]);
                    let p = vals.get(1).map(StrArg::new);
                    let out: TimestampMillisecondArray = (0..n)
                        .map(|i| {
                            let v = s.get(i)?;
                            let dt = match (&f, &p) {
                                (Some(f), Some(p)) => f.with(p.get(i), |fmt| fmt?.parse(v))?,
                                _ => parse_timestamp(v)?,
                            };
                            Some(zone.to_utc_millis(naive_to_millis(&dt)))
                        })
                        .collect();
                    out_array(Arc::new(out.with_timezone("UTC")))
                })));
            }
            let precision = match args.get(1) {
                None => 3,
                Some(p) => match literal_i64(p) {
                    Some(Some(p)) if p == 0 || p == 3 => p,
                    _ => {
                        return Err(PlanError::Invalid(format!(
                            "TO_TIMESTAMP_LTZ precision must be the literal 0 (seconds) or 3 (milliseconds) in `{e}`{}",
                            at(e)
                        )));
                    }
                },
            };
            let factor = if precision == 0 { 1000.0 } else { 1.0 };
            if is_integer(x.data_type()) || matches!(x.data_type(), DataType::Null) {
                let x = c.coerce(x, &DataType::Int64);
                let f = factor as i64;
                return Ok(Some(new_fn(name, vec![x], ltz, nullable, move |vals, _| {
                    map_value(vals[0].clone(), |a| {
                        let r: TimestampMillisecondArray =
                            a.as_primitive::<Int64Type>().unary(|v| v.wrapping_mul(f));
                        Ok(Arc::new(r.with_timezone("UTC")) as ArrayRef)
                    })
                })));
            }
            let x = c.to_double_arg(x, name, e)?;
            Ok(new_fn(name, vec![x], ltz, nullable, move |vals, _| {
                map_value(vals[0].clone(), |a| {
                    let r: TimestampMillisecondArray = a
                        .as_primitive::<Float64Type>()
                        .unary(|v| (v * factor) as i64);
                    Ok(Arc::new(r.with_timezone("UTC")) as ArrayRef)
                })
            }))
        }
        _ => return Ok(None),
    }
    .map(Some)
}

/// DATE_FORMAT with a per-row pattern that may be NULL or invalid (then the row is NULL).
fn date_format_slow(
    ts: &PrimitiveArray<arrow::datatypes::TimestampMillisecondType>,
    ts_scalar: bool,
    p: &StrArg,
    f: &FormatArg,
    n: usize,
) -> Result<ColumnarValue, ExprError> {
    out_array(build_strings(n, |i, buf| {
        let j = if ts_scalar { 0 } else { i };
        if ts.is_null(j) {
            return false;
        }
        let dt = crate::datetime::Parts::from_millis(ts.value(j));
        f.with(p.get(i), |fmt| match fmt {
            Some(fmt) => fmt.format(&dt, buf).is_ok(),
            None => false,
        })
    }))
}

pub(super) fn field_name(f: &DateTimeField) -> String {
    match f {
        DateTimeField::Custom(id) => id.value.to_ascii_uppercase(),
        DateTimeField::Week(_) => "WEEK".into(),
        other => other.to_string().to_ascii_uppercase(),
    }
}

pub(super) fn temporal_ceil_floor(
    c: &Compiler,
    input: ExprRef,
    unit: &str,
    ceil: bool,
    e: &Expr,
) -> Result<ExprRef, PlanError> {
    let dt = input.data_type().clone();
    if !matches!(dt, DataType::Timestamp(_, _) | DataType::Date32) {
        return Err(PlanError::Type(format!(
            "FLOOR/CEIL ... TO {unit} expects a TIMESTAMP or DATE, got {} in `{e}`{}",
            tn(&dt),
            at(e)
        )));
    }
    let unit = unit.trim_end_matches('S').to_string();
    let fixed_ms: Option<i64> = match unit.as_str() {
        "MILLISECOND" => Some(1),
        "SECOND" => Some(1000),
        "MINUTE" => Some(60_000),
        "HOUR" => Some(3_600_000),
        "DAY" => Some(MILLIS_PER_DAY),
        "WEEK" | "MONTH" | "QUARTER" | "YEAR" | "DECADE" | "CENTURY" | "MILLENNIUM" => None,
        other => {
            return Err(PlanError::Unsupported(format!(
                "FLOOR/CEIL TO {other} is not supported: `{e}`{}",
                at(e)
            )));
        }
    };
    // TIMESTAMP_LTZ floors in local time, with the offset in force at the instant (as
    // Flink's `DateTimeUtils.timestampFloor` / `timestampCeil`).
    let zone = match dt {
        DataType::Timestamp(_, Some(_)) => Some(c.time_zone(e)?),
        _ => None,
    };
    let nullable = input.nullable();
    let name = if ceil { "CEIL" } else { "FLOOR" };
    Ok(new_fn(
        name,
        vec![input],
        dt.clone(),
        nullable,
        move |vals, _| {
            map_value(vals[0].clone(), |a| {
                let (per, is_date) = match a.data_type() {
                    DataType::Timestamp(u, _) => (crate::physical::unit_per_milli(u), false),
                    _ => (1, true),
                };
                let raw: PrimitiveArray<Int64Type> = if is_date {
                    a.as_primitive::<arrow::datatypes::Date32Type>()
                        .unary(|d| d as i64 * MILLIS_PER_DAY)
                } else {
                    raw_ts(a)
                };
                let f = |v: i64| -> i64 {
                    let utc = v.div_euclid(per);
                    let off = zone.map_or(0, |z| {
                        z.offset_at_instant(utc.div_euclid(1000)) as i64 * 1000
                    });
                    let ms = utc + off;
                    let floored = match fixed_ms {
                        Some(u) => ms.div_euclid(u) * u,
                        None => floor_calendar(ms, &unit),
                    };
                    let res = if ceil && floored != ms {
                        match fixed_ms {
                            Some(u) => floored + u,
                            None => ceil_calendar(floored, &unit),
                        }
                    } else {
                        floored
                    };
                    (res - off) * per
                };
                let out: PrimitiveArray<Int64Type> = raw.unary(f);
                Ok(match a.data_type() {
                    DataType::Timestamp(u, tz) => crate::cast::with_unit(
                        out.values().clone(),
                        out.nulls().cloned(),
                        u,
                        tz.clone(),
                    ),
                    _ => {
                        let days: Date32Array =
                            out.unary(|ms| ms.div_euclid(MILLIS_PER_DAY) as i32);
                        Arc::new(days)
                    }
                })
            })
        },
    ))
}

fn floor_calendar(ms: i64, unit: &str) -> i64 {
    let Some(dt) = millis_to_naive(ms) else {
        return ms;
    };
    let d = dt.date();
    let (y, m) = (d.year(), d.month());
    let date =
        match unit {
            "WEEK" => d - chrono::Duration::days(d.weekday().num_days_from_sunday() as i64),
            "MONTH" => d.with_day(1).unwrap_or(d),
            "QUARTER" => chrono::NaiveDate::from_ymd_opt(y, (m - 1) / 3 * 3 + 1, 1).unwrap_or(d),
            "YEAR" => chrono::NaiveDate::from_ymd_opt(y, 1, 1).unwrap_or(d),
            "DECADE" => chrono::NaiveDate::from_ymd_opt(y.div_euclid(10) * 10, 1, 1).unwrap_or(d),
            "CENTURY" => chrono::NaiveDate::from_ymd_opt((y - 1).div_euclid(100) * 100 + 1, 1, 1)
                .unwrap_or(d),
            _ => chrono::NaiveDate::from_ymd_opt((y - 1).div_euclid(1000) * 1000 + 1, 1, 1)
                .unwrap_or(d),
        };
    naive_to_millis(&date.and_hms_opt(0, 0, 0).expect("midnight"))
}

fn ceil_calendar(floored: i64, unit: &str) -> i64 {
    let Some(dt) = millis_to_naive(floored) else {
        return floored;
    };
    let next = match unit {
        "WEEK" => Some(dt + chrono::Duration::days(7)),
        "MONTH" => dt.checked_add_months(chrono::Months::new(1)),
        "QUARTER" => dt.checked_add_months(chrono::Months::new(3)),
        "YEAR" => dt.checked_add_months(chrono::Months::new(12)),
        "DECADE" => dt.checked_add_months(chrono::Months::new(120)),
        "CENTURY" => dt.checked_add_months(chrono::Months::new(1200)),
        _ => dt.checked_add_months(chrono::Months::new(12000)),
    };
    next.map(|n| naive_to_millis(&n)).unwrap_or(floored)
}

/// `EXTRACT(unit FROM x)`.
pub(crate) fn extract(
    c: &Compiler,
    field: &DateTimeField,
    x: &Expr,
    e: &Expr,
) -> Result<ExprRef, PlanError> {
    let input = c.compile(x)?;
    extract_unit(c, &field_name(field), input, e)
}

fn extract_unit(c: &Compiler, unit: &str, input: ExprRef, e: &Expr) -> Result<ExprRef, PlanError> {
    let unit = match unit {
        "YEARS" => "YEAR",
        "MONTHS" => "MONTH",
        "DAYS" => "DAY",
        "HOURS" => "HOUR",
        "MINUTES" => "MINUTE",
        "SECONDS" => "SECOND",
        "DAYOFWEEK" => "DOW",
        "DAYOFYEAR" => "DOY",
        "ISOWEEK" => "WEEK",
        "MILLISECONDS" => "MILLISECOND",
        "MICROSECONDS" => "MICROSECOND",
        "NANOSECONDS" => "NANOSECOND",
        other => other,
    }
    .to_string();
    const UNITS: &[&str] = &[
        "YEAR",
        "QUARTER",
        "MONTH",
        "WEEK",
        "DAY",
        "DOY",
        "DOW",
        "ISODOW",
        "ISOYEAR",
        "HOUR",
        "MINUTE",
        "SECOND",
        "MILLISECOND",
        "MICROSECOND",
        "NANOSECOND",
        "EPOCH",
        "DECADE",
        "CENTURY",
        "MILLENNIUM",
    ];
    if !UNITS.contains(&unit.as_str()) {
        return Err(PlanError::Unsupported(format!(
            "EXTRACT({unit} ...) is not supported in `{e}`{}",
            at(e)
        )));
    }
    let dt = input.data_type().clone();
    let nullable = input.nullable();
    if let DataType::Time32(_) = dt {
        let x = input;
        return Ok(new_fn(
            "EXTRACT",
            vec![x],
            DataType::Int64,
            nullable,
            move |vals, _| {
                map_value(vals[0].clone(), |a| {
                    let ms = cast_array_with(a, &DataType::Int32, &CastOptions::default())
                        .or_else(|_| {
                            Ok::<_, ExprError>(arrow::compute::cast(a, &DataType::Int32)?)
                        })?;
                    let ms = ms.as_primitive::<Int32Type>();
                    let out: Int64Array = ms.unary(|v| {
                        let v = v as i64;
                        match unit.as_str() {
                            "HOUR" => v / 3_600_000,
                            "MINUTE" => v / 60_000 % 60,
                            "SECOND" => v / 1000 % 60,
                            "MILLISECOND" => v % 60_000,
                            "MICROSECOND" => v % 60_000 * 1000,
                            "EPOCH" => v / 1000,
                            _ => 0,
                        }
                    });
                    Ok(Arc::new(out) as ArrayRef)
                })
            },
        ));
    }
    if !is_temporal(&dt) && !matches!(dt, DataType::Null) {
        return Err(PlanError::Type(format!(
            "EXTRACT expects a DATE, TIME or TIMESTAMP, got {} in `{e}`{}",
            tn(&dt),
            at(e)
        )));
    }
    // Work on wall-clock micros to keep sub-millisecond fields for TIMESTAMP(6).
    let micros_type = DataType::Timestamp(TimeUnit::Microsecond, None);
    let x = match &dt {
        DataType::Timestamp(_, Some(_)) => c.cast(input, &micros_type, false, e)?,
        _ => c.coerce(input, &micros_type),
    };
    Ok(new_fn(
        "EXTRACT",
        vec![x],
        DataType::Int64,
        nullable,
        move |vals, _| {
            map_value(vals[0].clone(), |a| {
                let raw = raw_ts(a);
                const US_PER_SEC: i64 = 1_000_000;
                // Time-of-day fields are plain arithmetic on the micros; vectorised.
                let simple: Option<fn(i64) -> i64> = match unit.as_str() {
                    "HOUR" => Some(|us| us.div_euclid(3_600 * US_PER_SEC).rem_euclid(24)),
                    "MINUTE" => Some(|us| us.div_euclid(60 * US_PER_SEC).rem_euclid(60)),
                    "SECOND" => Some(|us| us.div_euclid(US_PER_SEC).rem_euclid(60)),
                    "MILLISECOND" => Some(|us| us.div_euclid(1_000).rem_euclid(60_000)),
                    "MICROSECOND" => Some(|us| us.rem_euclid(60 * US_PER_SEC)),
                    "EPOCH" => Some(|us| us.div_euclid(US_PER_SEC)),
                    _ => None,
                };
                if let Some(f) = simple {
                    let out: Int64Array = raw.unary(f);
                    return Ok(Arc::new(out) as ArrayRef);
                }
                let mut out = Int64Builder::with_capacity(raw.len());
                for v in raw.iter() {
                    let Some(us) = v else {
                        out.append_null();
                        continue;
                    };
                    let Some(t) = crate::datetime::micros_to_naive(us) else {
                        out.append_null();
                        continue;
                    };
                    out.append_value(extract_field(&unit, &t, us));
                }
                Ok(Arc::new(out.finish()) as ArrayRef)
            })
        },
    ))
}

fn extract_field(unit: &str, t: &NaiveDateTime, us: i64) -> i64 {
    let d = t.date();
    match unit {
        "YEAR" => d.year() as i64,
        "QUARTER" => (d.month0() / 3 + 1) as i64,
        "MONTH" => d.month() as i64,
        "WEEK" => d.iso_week().week() as i64,
        "DAY" => d.day() as i64,
        "DOY" => d.ordinal() as i64,
        "DOW" => (d.weekday().num_days_from_sunday() + 1) as i64,
        "ISODOW" => (d.weekday().num_days_from_monday() + 1) as i64,
        "ISOYEAR" => d.iso_week().year() as i64,
        "HOUR" => t.hour() as i64,
        "MINUTE" => t.minute() as i64,
        "SECOND" => t.second() as i64,
        "MILLISECOND" => (t.second() * 1000 + t.nanosecond() / 1_000_000) as i64,
        "MICROSECOND" => (t.second() as i64) * 1_000_000 + (t.nanosecond() / 1000) as i64,
        "NANOSECOND" => (t.second() as i64) * 1_000_000_000 + t.nanosecond() as i64,
        "EPOCH" => us.div_euclid(1_000_000),
        "DECADE" => d.year().div_euclid(10) as i64,
        "CENTURY" => {
            let y = d.year();
            (if y > 0 {
                (y + 99) / 100
            } else {
                (y - 99) / 100
            }) as i64
        }
        _ => {
            let y = d.year();
            (if y > 0 {
                (y + 999) / 1000
            } else {
                (y - 999) / 1000
            }) as i64
        }
    }
}

fn unit_millis(unit: &str) -> Option<i64> {
    Some(match unit.trim_start_matches("SQL_TSI_") {
        "MILLISECOND" | "FRAC_SECOND" => 1,
        "SECOND" => 1000,
        "MINUTE" => 60_000,
        "HOUR" => 3_600_000,
        "DAY" => MILLIS_PER_DAY,
        "WEEK" => 7 * MILLIS_PER_DAY,
        _ => return None,
    })
}

fn unit_months(unit: &str) -> Option<i32> {
    Some(match unit.trim_start_matches("SQL_TSI_") {
        "MONTH" => 1,
        "QUARTER" => 3,
        "YEAR" => 12,
        _ => return None,
    })
}

fn timestamp_add(
    c: &Compiler,
    unit: &str,
    n: ExprRef,
    ts: ExprRef,
    e: &Expr,
) -> Result<ExprRef, PlanError> {
    let n = c.to_int_arg(n, "TIMESTAMPADD", e)?;
    if !matches!(ts.data_type(), DataType::Timestamp(_, _) | DataType::Date32) {
        return Err(PlanError::Type(format!(
            "TIMESTAMPADD expects a TIMESTAMP or DATE, got {} in `{e}`{}",
            tn(ts.data_type()),
            at(e)
        )));
    }
    let interval: ExprRef = if let Some(ms) = unit_millis(unit) {
        new_fn(
            "INTERVAL",
            vec![n],
            DataType::Duration(TimeUnit::Millisecond),
            true,
            move |vals, _| {
                map_value(vals[0].clone(), |a| {
                    let out: PrimitiveArray<arrow::datatypes::DurationMillisecondType> =
                        a.as_primitive::<Int64Type>().unary(|v| v.wrapping_mul(ms));
                    Ok(Arc::new(out) as ArrayRef)
                })
            },
        )
    } else if let Some(m) = unit_months(unit) {
        new_fn(
            "INTERVAL",
            vec![n],
            DataType::Interval(arrow::datatypes::IntervalUnit::YearMonth),
            true,
            move |vals, _| {
                map_value(vals[0].clone(), |a| {
                    let out: PrimitiveArray<arrow::datatypes::IntervalYearMonthType> = a
                        .as_primitive::<Int64Type>()
                        .unary(|v| (v as i32).wrapping_mul(m));
                    Ok(Arc::new(out) as ArrayRef)
                })
            },
        )
    } else {
        return Err(PlanError::Unsupported(format!(
            "TIMESTAMPADD unit {unit} is not supported in `{e}`{}",
            at(e)
        )));
    };
    c.arith(ArithOp::Add, ts, interval, e)
}

fn timestamp_diff(
    c: &Compiler,
    unit: &str,
    a: ExprRef,
    b: ExprRef,
    e: &Expr,
) -> Result<ExprRef, PlanError> {
    let ms_type = DataType::Timestamp(TimeUnit::Millisecond, None);
    let conv = |x: ExprRef| -> Result<ExprRef, PlanError> {
        match x.data_type() {
            DataType::Timestamp(_, Some(_)) => {
                // instants: compare in UTC
                let t = DataType::Timestamp(TimeUnit::Millisecond, runnel_types::time_zone_utc());
                let x = c.coerce(x, &t);
                Ok(new_fn("UTC", vec![x], ms_type.clone(), true, |vals, _| {
                    map_value(vals[0].clone(), |a| {
                        let r = raw_ts(a);
                        Ok(crate::cast::with_unit(
                            r.values().clone(),
                            r.nulls().cloned(),
                            &TimeUnit::Millisecond,
                            None,
                        ))
                    })
                }))
            }
            DataType::Timestamp(_, None) | DataType::Date32 => Ok(c.coerce(x, &ms_type)),
            other => Err(PlanError::Type(format!(
                "TIMESTAMPDIFF expects TIMESTAMP or DATE arguments, got {} in `{e}`{}",
                tn(other),
                at(e)
            ))),
        }
    };
    let a = conv(a)?;
    let b = conv(b)?;
    let nullable = a.nullable() || b.nullable();
    let by_ms = unit_millis(unit);
    let by_months = unit_months(unit);
    if by_ms.is_none() && by_months.is_none() {
        return Err(PlanError::Unsupported(format!(
            "TIMESTAMPDIFF unit {unit} is not supported in `{e}`{}",
            at(e)
        )));
    }
    Ok(new_fn(
        "TIMESTAMPDIFF",
        vec![a, b],
        DataType::Int32,
        nullable,
        move |vals, n| {
            let x = vals[0].clone().into_array(n)?;
            let y = vals[1].clone().into_array(n)?;
            let x = raw_ts(&x);
            let y = raw_ts(&y);
            let out: Int32Array = x
                .iter()
                .zip(y.iter())
                .map(|(s, t)| {
                    let (s, t) = (s?, t?);
                    Some(match (by_ms, by_months) {
                        (Some(u), _) => ((t - s) / u) as i32,
                        (_, Some(m)) => {
                            let (ds, dt) = (millis_to_naive(s)?, millis_to_naive(t)?);
                            let mut months = (dt.year() - ds.year()) * 12 + dt.month() as i32
                                - ds.month() as i32;
                            // an incomplete last month does not count
                            let shifted = if months >= 0 {
                                ds.checked_add_months(chrono::Months::new(months as u32))?
                            } else {
                                ds.checked_sub_months(chrono::Months::new(months.unsigned_abs()))?
                            };
                            if months > 0 && shifted > dt {
                                months -= 1;
                            } else if months < 0 && shifted < dt {
                                months += 1;
                            }
                            months / m
                        }
                        _ => 0,
                    })
                })
                .collect();
            out_array(Arc::new(out))
        },
    ))
}
