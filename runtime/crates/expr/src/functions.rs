//! Built-in scalar functions with Flink's semantics.

use std::sync::{Arc, Mutex};

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, BooleanBuilder, Date32Array, Decimal128Array,
    Float64Array, Int32Array, Int64Array, Int64Builder, ListArray, MapArray, PrimitiveArray,
    StringArray, StringBuilder, StructArray, TimestampMillisecondArray, new_null_array,
};
use arrow::buffer::{OffsetBuffer, ScalarBuffer};
use arrow::compute::kernels::{cmp, zip::zip};
use arrow::datatypes::{
    DataType, Decimal128Type, Field, Fields, Float64Type, Int32Type, Int64Type, TimeUnit,
};
use chrono::{Datelike, NaiveDateTime, Timelike};
use regex::Regex;
use runnel_types::{is_integer, is_numeric};
use sqlparser::ast::{
    CeilFloorKind, DateTimeField, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments,
    TrimWhereField,
};

use crate::cast::{CastOptions, cast_array_with, raw_ts};
use crate::compile::{Compiler, is_string, is_temporal};
use crate::datetime::{
    JavaFormat, MILLIS_PER_DAY, date_to_days, millis_to_naive, naive_to_millis, parse_timestamp,
};
use crate::decimal::{parse_decimal, pow10, rescale};
use crate::error::{ExprError, PlanError};
use crate::physical::{FnImpl, Not, ScalarFn, ScalarValue, literal, literal_array, map_value};
use crate::types::{ArithOp, adjust_precision_scale, at, map_type, tn};
use crate::{ColumnarValue, ExprRef};

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

fn new_fn(
    name: &str,
    args: Vec<ExprRef>,
    data_type: DataType,
    nullable: bool,
    f: impl Fn(&[ColumnarValue], usize) -> Result<ColumnarValue, ExprError> + Send + Sync + 'static,
) -> ExprRef {
    let f: FnImpl = Arc::new(f);
    Arc::new(ScalarFn {
        name: name.to_string(),
        args,
        data_type,
        nullable,
        f,
    })
}

fn any_nullable(args: &[ExprRef]) -> bool {
    args.iter().any(|a| a.nullable())
}

/// Typed access to an argument that is an array or a scalar, without expanding scalars.
struct StrArg<'a> {
    a: &'a StringArray,
    scalar: bool,
}

impl<'a> StrArg<'a> {
    fn new(v: &'a ColumnarValue) -> Self {
        StrArg {
            a: v.array().as_string::<i32>(),
            scalar: v.is_scalar(),
        }
    }
    #[inline]
    fn get(&self, i: usize) -> Option<&'a str> {
        let i = if self.scalar { 0 } else { i };
        if self.a.is_null(i) {
            None
        } else {
            Some(self.a.value(i))
        }
    }
}

struct IntArg<'a> {
    a: &'a Int64Array,
    scalar: bool,
}

impl<'a> IntArg<'a> {
    fn new(v: &'a ColumnarValue) -> Self {
        IntArg {
            a: v.array().as_primitive::<Int64Type>(),
            scalar: v.is_scalar(),
        }
    }
    #[inline]
    fn get(&self, i: usize) -> Option<i64> {
        let i = if self.scalar { 0 } else { i };
        if self.a.is_null(i) {
            None
        } else {
            Some(self.a.value(i))
        }
    }
}

fn out_array(a: ArrayRef) -> Result<ColumnarValue, ExprError> {
    Ok(ColumnarValue::Array(a))
}

/// Builds a string column row by row; `f` writes into the buffer and returns false for NULL.
fn build_strings(n: usize, mut f: impl FnMut(usize, &mut String) -> bool) -> ArrayRef {
    let mut b = StringBuilder::with_capacity(n, n * 8);
    let mut buf = String::new();
    for i in 0..n {
        buf.clear();
        if f(i, &mut buf) {
            b.append_value(&buf);
        } else {
            b.append_null();
        }
    }
    Arc::new(b.finish())
}

/// Builds a string column from slices borrowed from the inputs (no copies per row).
fn build_slices<'a>(n: usize, mut f: impl FnMut(usize) -> Option<&'a str>) -> ArrayRef {
    let mut b = StringBuilder::with_capacity(n, n * 8);
    for i in 0..n {
        match f(i) {
            Some(s) => b.append_value(s),
            None => b.append_null(),
        }
    }
    Arc::new(b.finish())
}

fn build_i64(n: usize, mut f: impl FnMut(usize) -> Option<i64>) -> ArrayRef {
    let mut b = Int64Builder::with_capacity(n);
    for i in 0..n {
        b.append_option(f(i));
    }
    Arc::new(b.finish())
}

fn build_i32(n: usize, mut f: impl FnMut(usize) -> Option<i32>) -> ArrayRef {
    Arc::new((0..n).map(&mut f).collect::<Int32Array>())
}

fn build_bool(n: usize, mut f: impl FnMut(usize) -> Option<bool>) -> ArrayRef {
    let mut b = BooleanBuilder::with_capacity(n);
    for i in 0..n {
        b.append_option(f(i));
    }
    Arc::new(b.finish())
}

fn arity(name: &str, args: &[ExprRef], min: usize, max: usize, e: &Expr) -> Result<(), PlanError> {
    if args.len() < min || args.len() > max {
        let expected = if min == max {
            format!("{min}")
        } else if max == usize::MAX {
            format!("at least {min}")
        } else {
            format!("{min} to {max}")
        };
        return Err(PlanError::Type(format!(
            "function `{name}` takes {expected} argument(s), got {} in `{e}`{}",
            args.len(),
            at(e)
        )));
    }
    Ok(())
}

impl Compiler<'_> {
    fn to_string_arg(&self, x: ExprRef, name: &str, e: &Expr) -> Result<ExprRef, PlanError> {
        match x.data_type() {
            DataType::Utf8 => Ok(x),
            DataType::Null | DataType::LargeUtf8 | DataType::Utf8View => {
                Ok(self.coerce(x, &DataType::Utf8))
            }
            other => Err(PlanError::Type(format!(
                "function `{name}` expects a STRING argument, got {} in `{e}`{}",
                tn(other),
                at(e)
            ))),
        }
    }

    fn to_int_arg(&self, x: ExprRef, name: &str, e: &Expr) -> Result<ExprRef, PlanError> {
        match x.data_type() {
            DataType::Int64 => Ok(x),
            t if is_integer(t) || matches!(t, DataType::Null) => {
                Ok(self.coerce(x, &DataType::Int64))
            }
            other => Err(PlanError::Type(format!(
                "function `{name}` expects an integer argument, got {} in `{e}`{}",
                tn(other),
                at(e)
            ))),
        }
    }

    fn to_double_arg(&self, x: ExprRef, name: &str, e: &Expr) -> Result<ExprRef, PlanError> {
        match x.data_type() {
            DataType::Float64 => Ok(x),
            t if is_numeric(t) || matches!(t, DataType::Null) => {
                Ok(self.coerce(x, &DataType::Float64))
            }
            other => Err(PlanError::Type(format!(
                "function `{name}` expects a numeric argument, got {} in `{e}`{}",
                tn(other),
                at(e)
            ))),
        }
    }

    /// A timestamp-like argument as local wall-clock TIMESTAMP(3) (LTZ shifted to the session
    /// zone, DATE at midnight, STRING parsed).
    fn to_local_ts_arg(&self, x: ExprRef, name: &str, e: &Expr) -> Result<ExprRef, PlanError> {
        let ts = DataType::Timestamp(TimeUnit::Millisecond, None);
        match x.data_type() {
            DataType::Timestamp(TimeUnit::Millisecond, None) => Ok(x),
            DataType::Timestamp(_, Some(_)) => self.cast(x, &ts, false, e),
            DataType::Timestamp(_, None) | DataType::Date32 | DataType::Null => {
                Ok(self.coerce(x, &ts))
            }
            DataType::Utf8 => self.cast(x, &ts, true, e),
            other => Err(PlanError::Type(format!(
                "function `{name}` expects a TIMESTAMP or DATE argument, got {} in `{e}`{}",
                tn(other),
                at(e)
            ))),
        }
    }
}

fn literal_str(x: &ExprRef) -> Option<Option<String>> {
    let v = x.literal_value()?;
    if crate::scalar_is_null(v) {
        return Some(None);
    }
    if is_string(v.data_type()) {
        Some(Some(v.as_string::<i32>().value(0).to_string()))
    } else {
        None
    }
}

fn literal_i64(x: &ExprRef) -> Option<Option<i64>> {
    let v = x.literal_value()?;
    if crate::scalar_is_null(v) {
        return Some(None);
    }
    let c = cast_array_with(v, &DataType::Int64, &CastOptions::default()).ok()?;
    Some(Some(c.as_primitive::<Int64Type>().value(0)))
}

/// Translates the Java regex features the `regex` crate spells differently; lookaround and
/// backreferences are rejected.
pub(crate) fn java_regex(pattern: &str) -> Result<Regex, String> {
    Regex::new(pattern).map_err(|err| format!("unsupported regular expression '{pattern}': {err}"))
}

/// A regex for a pattern argument: compiled once when literal, else cached per distinct
/// pattern seen last.
enum RegexArg {
    Fixed(Option<Regex>),
    Dynamic(Mutex<Option<(String, Option<Regex>)>>),
}

impl RegexArg {
    fn new(x: &ExprRef, e: &Expr) -> Result<RegexArg, PlanError> {
        Ok(match literal_str(x) {
            Some(Some(p)) => RegexArg::Fixed(Some(
                java_regex(&p).map_err(|m| PlanError::Invalid(format!("{m} in `{e}`{}", at(e))))?,
            )),
            Some(None) => RegexArg::Fixed(None),
            None => RegexArg::Dynamic(Mutex::new(None)),
        })
    }

    fn with<R>(&self, pattern: Option<&str>, f: impl FnOnce(Option<&Regex>) -> R) -> R {
        match self {
            RegexArg::Fixed(r) => f(r.as_ref()),
            RegexArg::Dynamic(cache) => {
                let Some(p) = pattern else { return f(None) };
                let mut guard = cache.lock().unwrap_or_else(|p| p.into_inner());
                let stale = guard.as_ref().is_none_or(|(cached, _)| cached != p);
                if stale {
                    *guard = Some((p.to_string(), java_regex(p).ok()));
                }
                f(guard.as_ref().and_then(|(_, r)| r.as_ref()))
            }
        }
    }
}

/// Java pattern for DATE_FORMAT & co., compiled once when literal.
enum FormatArg {
    Fixed(Option<JavaFormat>),
    Dynamic(Mutex<Option<(String, Option<JavaFormat>)>>),
}

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
        match self {
            FormatArg::Fixed(r) => f(r.as_ref()),
            FormatArg::Dynamic(cache) => {
                let Some(p) = pattern else { return f(None) };
                let mut guard = cache.lock().unwrap_or_else(|p| p.into_inner());
                let stale = guard.as_ref().is_none_or(|(cached, _)| cached != p);
                if stale {
                    *guard = Some((p.to_string(), JavaFormat::compile(p).ok()));
                }
                f(guard.as_ref().and_then(|(_, r)| r.as_ref()))
            }
        }
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
    let stmt_ms = c.ctx.statement_time_millis;
    match name.as_str() {
        "CURRENT_TIMESTAMP" | "NOW" | "CURRENT_ROW_TIMESTAMP" => {
            return Ok(literal(ScalarValue::TimestampLtzMillis(stmt_ms)));
        }
        "LOCALTIMESTAMP" => {
            let off = c.offset_secs(e)? as i64 * 1000;
            return Ok(literal(ScalarValue::TimestampMillis(stmt_ms + off)));
        }
        "CURRENT_DATE" => {
            let off = c.offset_secs(e)? as i64 * 1000;
            return Ok(literal(ScalarValue::Date32(
                (stmt_ms + off).div_euclid(MILLIS_PER_DAY) as i32,
            )));
        }
        "CURRENT_TIME" | "LOCALTIME" => {
            let off = c.offset_secs(e)? as i64 * 1000;
            let ms = (stmt_ms + off).rem_euclid(MILLIS_PER_DAY) as i32;
            return Ok(literal_array(Arc::new(
                arrow::array::Time32MillisecondArray::from(vec![ms]),
            )));
        }
        "UNIX_TIMESTAMP" if raw_args.is_empty() => {
            return Ok(literal(ScalarValue::Int64(stmt_ms.div_euclid(1000))));
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
            return if name == "TIMESTAMPADD" {
                timestamp_add(c, &unit, a, b, e)
            } else {
                timestamp_diff(c, &unit, a, b, e)
            };
        }
        _ => {}
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
    let nullable = any_nullable(&args);
    match name {
        // ---------------------------------------------------------------- conditional
        "COALESCE" => {
            arity(name, &args, 1, usize::MAX, e)?;
            c.coalesce(args, e)
        }
        "IFNULL" | "NVL" => {
            arity(name, &args, 2, 2, e)?;
            c.coalesce(args, e)
        }
        "IF" => {
            arity(name, &args, 3, 3, e)?;
            let mut it = args.into_iter();
            let (cond, a, b) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
            c.if_then_else(cond, a, b, e)
        }
        "NULLIF" => {
            arity(name, &args, 2, 2, e)?;
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
            arity(name, &args, 1, usize::MAX, e)?;
            let t = c.common_of(&args, name, e)?;
            let args: Vec<ExprRef> = args.into_iter().map(|a| c.coerce(a, &t)).collect();
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
        // ---------------------------------------------------------------- strings
        "CONCAT" => {
            arity(name, &args, 1, usize::MAX, e)?;
            let args = args
                .into_iter()
                .map(|a| {
                    if is_string(a.data_type()) {
                        Ok(a)
                    } else if matches!(a.data_type(), DataType::Null) {
                        Ok(c.coerce(a, &DataType::Utf8))
                    } else {
                        c.cast(a, &DataType::Utf8, false, e)
                    }
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(new_fn(name, args, DataType::Utf8, nullable, |vals, n| {
                let strs: Vec<StrArg> = vals.iter().map(StrArg::new).collect();
                out_array(build_strings(n, |i, buf| {
                    for s in &strs {
                        match s.get(i) {
                            Some(v) => buf.push_str(v),
                            None => return false,
                        }
                    }
                    true
                }))
            }))
        }
        "CONCAT_WS" => {
            arity(name, &args, 1, usize::MAX, e)?;
            let args = args
                .into_iter()
                .map(|a| c.to_string_arg(a, name, e))
                .collect::<Result<Vec<_>, _>>()?;
            let sep_nullable = args[0].nullable();
            Ok(new_fn(
                name,
                args,
                DataType::Utf8,
                sep_nullable,
                |vals, n| {
                    let strs: Vec<StrArg> = vals.iter().map(StrArg::new).collect();
                    out_array(build_strings(n, |i, buf| {
                        let Some(sep) = strs[0].get(i) else {
                            return false;
                        };
                        let mut first = true;
                        for s in &strs[1..] {
                            if let Some(v) = s.get(i) {
                                if !first {
                                    buf.push_str(sep);
                                }
                                buf.push_str(v);
                                first = false;
                            }
                        }
                        true
                    }))
                },
            ))
        }
        "UPPER" | "LOWER" | "UCASE" | "LCASE" => {
            arity(name, &args, 1, 1, e)?;
            let s = c.to_string_arg(args[0].clone(), name, e)?;
            let upper = name == "UPPER" || name == "UCASE";
            Ok(new_fn(
                name,
                vec![s],
                DataType::Utf8,
                nullable,
                move |vals, n| {
                    let s = StrArg::new(&vals[0]);
                    out_array(build_strings(n, |i, buf| {
                        let Some(v) = s.get(i) else { return false };
                        if v.is_ascii() {
                            buf.push_str(v);
                            if upper {
                                buf.make_ascii_uppercase()
                            } else {
                                buf.make_ascii_lowercase()
                            }
                        } else if upper {
                            buf.extend(v.chars().flat_map(char::to_uppercase));
                        } else {
                            buf.extend(v.chars().flat_map(char::to_lowercase));
                        }
                        true
                    }))
                },
            ))
        }
        "INITCAP" => {
            arity(name, &args, 1, 1, e)?;
            let s = c.to_string_arg(args[0].clone(), name, e)?;
            Ok(new_fn(
                name,
                vec![s],
                DataType::Utf8,
                nullable,
                |vals, n| {
                    let s = StrArg::new(&vals[0]);
                    out_array(build_strings(n, |i, buf| {
                        let Some(v) = s.get(i) else { return false };
                        let mut start = true;
                        for ch in v.chars() {
                            if ch.is_alphanumeric() {
                                if start {
                                    buf.extend(ch.to_uppercase());
                                } else {
                                    buf.extend(ch.to_lowercase());
                                }
                                start = false;
                            } else {
                                buf.push(ch);
                                start = true;
                            }
                        }
                        true
                    }))
                },
            ))
        }
        "CHAR_LENGTH" | "CHARACTER_LENGTH" | "LENGTH" => {
            arity(name, &args, 1, 1, e)?;
            let s = c.to_string_arg(args[0].clone(), name, e)?;
            Ok(new_fn(
                name,
                vec![s],
                DataType::Int32,
                nullable,
                |vals, n| {
                    let s = StrArg::new(&vals[0]);
                    out_array(build_i32(n, |i| s.get(i).map(|v| v.chars().count() as i32)))
                },
            ))
        }
        "REVERSE" => {
            arity(name, &args, 1, 1, e)?;
            let s = c.to_string_arg(args[0].clone(), name, e)?;
            Ok(new_fn(
                name,
                vec![s],
                DataType::Utf8,
                nullable,
                |vals, n| {
                    let s = StrArg::new(&vals[0]);
                    out_array(build_strings(n, |i, buf| {
                        let Some(v) = s.get(i) else { return false };
                        buf.extend(v.chars().rev());
                        true
                    }))
                },
            ))
        }
        "SUBSTRING" | "SUBSTR" => {
            arity(name, &args, 2, 3, e)?;
            let s = c.to_string_arg(args[0].clone(), name, e)?;
            let mut fargs = vec![s, c.to_int_arg(args[1].clone(), name, e)?];
            if args.len() == 3 {
                fargs.push(c.to_int_arg(args[2].clone(), name, e)?);
            }
            Ok(new_fn(name, fargs, DataType::Utf8, true, |vals, n| {
                let s = StrArg::new(&vals[0]);
                let pos = IntArg::new(&vals[1]);
                let len = vals.get(2).map(IntArg::new);
                out_array(build_slices(n, |i| {
                    let v = s.get(i)?;
                    let p = pos.get(i)?;
                    let l = match &len {
                        Some(l) => l.get(i)?,
                        None => i32::MAX as i64,
                    };
                    flink_substring(v, p, l)
                }))
            }))
        }
        "LEFT" | "RIGHT" => {
            arity(name, &args, 2, 2, e)?;
            let s = c.to_string_arg(args[0].clone(), name, e)?;
            let k = c.to_int_arg(args[1].clone(), name, e)?;
            let left = name == "LEFT";
            Ok(new_fn(
                name,
                vec![s, k],
                DataType::Utf8,
                nullable,
                move |vals, n| {
                    let s = StrArg::new(&vals[0]);
                    let k = IntArg::new(&vals[1]);
                    out_array(build_slices(n, |i| {
                        let v = s.get(i)?;
                        let k = k.get(i)?.max(0) as usize;
                        let count = v.chars().count();
                        if k >= count {
                            return Some(v);
                        }
                        Some(if left {
                            char_slice(v, 0, k)
                        } else {
                            char_slice(v, count - k, count)
                        })
                    }))
                },
            ))
        }
        "SPLIT_INDEX" => {
            arity(name, &args, 3, 3, e)?;
            let s = c.to_string_arg(args[0].clone(), name, e)?;
            let sep = if is_integer(args[1].data_type()) {
                // SPLIT_INDEX(str, charCode, idx)
                let code = c.to_int_arg(args[1].clone(), name, e)?;
                new_fn("CHR", vec![code], DataType::Utf8, true, |vals, n| {
                    let k = IntArg::new(&vals[0]);
                    out_array(build_strings(n, |i, buf| match k.get(i) {
                        Some(code) if (1..=255).contains(&code) => {
                            buf.push(code as u8 as char);
                            true
                        }
                        _ => false,
                    }))
                })
            } else {
                c.to_string_arg(args[1].clone(), name, e)?
            };
            let idx = c.to_int_arg(args[2].clone(), name, e)?;
            Ok(new_fn(
                name,
                vec![s, sep, idx],
                DataType::Utf8,
                true,
                |vals, n| {
                    let s = StrArg::new(&vals[0]);
                    let sep = StrArg::new(&vals[1]);
                    let idx = IntArg::new(&vals[2]);
                    out_array(build_slices(n, |i| {
                        let v = s.get(i)?;
                        let sep = sep.get(i)?;
                        let k = idx.get(i)?;
                        if k < 0 || v.is_empty() {
                            return None;
                        }
                        let k = k as usize;
                        if sep.is_empty() {
                            v.split(char::is_whitespace).nth(k)
                        } else if sep.len() == 1 {
                            // single-byte separator: memchr-based splitting
                            v.split(sep.as_bytes()[0] as char).nth(k)
                        } else {
                            v.split(sep).nth(k)
                        }
                    }))
                },
            ))
        }
        "REPLACE" => {
            arity(name, &args, 3, 3, e)?;
            let a = args
                .into_iter()
                .map(|a| c.to_string_arg(a, name, e))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(new_fn(name, a, DataType::Utf8, nullable, |vals, n| {
                let s = StrArg::new(&vals[0]);
                let from = StrArg::new(&vals[1]);
                let to = StrArg::new(&vals[2]);
                out_array(build_strings(n, |i, buf| {
                    let (Some(v), Some(f), Some(t)) = (s.get(i), from.get(i), to.get(i)) else {
                        return false;
                    };
                    if f.is_empty() {
                        buf.push_str(t);
                        for ch in v.chars() {
                            buf.push(ch);
                            buf.push_str(t);
                        }
                        return true;
                    }
                    let mut last = 0;
                    for (pos, _) in v.match_indices(f) {
                        buf.push_str(&v[last..pos]);
                        buf.push_str(t);
                        last = pos + f.len();
                    }
                    buf.push_str(&v[last..]);
                    true
                }))
            }))
        }
        "POSITION" | "LOCATE" | "INSTR" => {
            arity(name, &args, 2, 3, e)?;
            // POSITION(needle IN hay) and LOCATE(needle, hay[, from]); INSTR(hay, needle)
            let (needle, hay) = if name == "INSTR" {
                (args[1].clone(), args[0].clone())
            } else {
                (args[0].clone(), args[1].clone())
            };
            let mut fargs = vec![
                c.to_string_arg(needle, name, e)?,
                c.to_string_arg(hay, name, e)?,
            ];
            if args.len() == 3 {
                fargs.push(c.to_int_arg(args[2].clone(), name, e)?);
            }
            Ok(new_fn(name, fargs, DataType::Int32, nullable, |vals, n| {
                let needle = StrArg::new(&vals[0]);
                let hay = StrArg::new(&vals[1]);
                let from = vals.get(2).map(IntArg::new);
                out_array(build_i32(n, |i| {
                    let nd = needle.get(i)?;
                    let h = hay.get(i)?;
                    let start = match &from {
                        Some(f) => f.get(i)?,
                        None => 1,
                    };
                    if start < 1 {
                        return Some(0);
                    }
                    let skip_bytes = match h.char_indices().nth(start as usize - 1) {
                        Some((b, _)) => b,
                        None if start as usize - 1 == h.chars().count() => h.len(),
                        None => return Some(0),
                    };
                    match h[skip_bytes..].find(nd) {
                        Some(b) => Some(h[..skip_bytes + b].chars().count() as i32 + 1),
                        None => Some(0),
                    }
                }))
            }))
        }
        "LPAD" | "RPAD" => {
            arity(name, &args, 3, 3, e)?;
            let s = c.to_string_arg(args[0].clone(), name, e)?;
            let len = c.to_int_arg(args[1].clone(), name, e)?;
            let pad = c.to_string_arg(args[2].clone(), name, e)?;
            let left = name == "LPAD";
            Ok(new_fn(
                name,
                vec![s, len, pad],
                DataType::Utf8,
                true,
                move |vals, n| {
                    let s = StrArg::new(&vals[0]);
                    let len = IntArg::new(&vals[1]);
                    let pad = StrArg::new(&vals[2]);
                    out_array(build_strings(n, |i, buf| {
                        let (Some(v), Some(l), Some(p)) = (s.get(i), len.get(i), pad.get(i)) else {
                            return false;
                        };
                        if l < 0 || p.is_empty() {
                            return false;
                        }
                        let l = l as usize;
                        let count = v.chars().count();
                        let fill = l.saturating_sub(count);
                        if left {
                            buf.extend(p.chars().cycle().take(fill));
                            buf.extend(v.chars().take(l - fill));
                        } else {
                            buf.extend(v.chars().take(l));
                            buf.extend(p.chars().cycle().take(fill));
                        }
                        true
                    }))
                },
            ))
        }
        "REPEAT" => {
            arity(name, &args, 2, 2, e)?;
            let s = c.to_string_arg(args[0].clone(), name, e)?;
            let k = c.to_int_arg(args[1].clone(), name, e)?;
            Ok(new_fn(
                name,
                vec![s, k],
                DataType::Utf8,
                nullable,
                |vals, n| {
                    let s = StrArg::new(&vals[0]);
                    let k = IntArg::new(&vals[1]);
                    out_array(build_strings(n, |i, buf| {
                        let (Some(v), Some(k)) = (s.get(i), k.get(i)) else {
                            return false;
                        };
                        for _ in 0..k.max(0) {
                            buf.push_str(v);
                        }
                        true
                    }))
                },
            ))
        }
        "LTRIM" | "RTRIM" | "BTRIM" => {
            arity(name, &args, 1, 2, e)?;
            let s = c.to_string_arg(args[0].clone(), name, e)?;
            let chars = args.get(1).cloned();
            let w = match name {
                "LTRIM" => TrimWhereField::Leading,
                "RTRIM" => TrimWhereField::Trailing,
                _ => TrimWhereField::Both,
            };
            trim(c, s, chars, Some(&w), e)
        }
        "REGEXP_EXTRACT" => {
            arity(name, &args, 2, 3, e)?;
            let s = c.to_string_arg(args[0].clone(), name, e)?;
            let p = c.to_string_arg(args[1].clone(), name, e)?;
            let re = RegexArg::new(&p, e)?;
            let mut fargs = vec![s, p];
            if args.len() == 3 {
                fargs.push(c.to_int_arg(args[2].clone(), name, e)?);
            }
            Ok(new_fn(name, fargs, DataType::Utf8, true, move |vals, n| {
                let s = StrArg::new(&vals[0]);
                let p = StrArg::new(&vals[1]);
                let idx = vals.get(2).map(IntArg::new);
                // A literal pattern reuses one set of capture slots for the whole batch.
                let mut fixed = match &re {
                    RegexArg::Fixed(Some(r)) => Some((r, r.capture_locations())),
                    _ => None,
                };
                out_array(build_slices(n, |i| {
                    let v = s.get(i)?;
                    let g = match &idx {
                        Some(x) => x.get(i)?,
                        None => 0,
                    };
                    if g < 0 {
                        return None;
                    }
                    if let Some((r, locs)) = fixed.as_mut() {
                        // The (fast) matcher finds the match; captures only run from there.
                        let m = r.find(v)?;
                        if g == 0 {
                            return Some(m.as_str());
                        }
                        r.captures_read_at(locs, v, m.start())?;
                        return locs.get(g as usize).map(|(a, b)| &v[a..b]);
                    }
                    re.with(p.get(i), |r| {
                        let caps = r?.captures(v)?;
                        caps.get(g as usize).map(|m| m.as_str())
                    })
                }))
            }))
        }
        "REGEXP_REPLACE" => {
            arity(name, &args, 3, 3, e)?;
            let s = c.to_string_arg(args[0].clone(), name, e)?;
            let p = c.to_string_arg(args[1].clone(), name, e)?;
            let r = c.to_string_arg(args[2].clone(), name, e)?;
            let re = RegexArg::new(&p, e)?;
            Ok(new_fn(
                name,
                vec![s, p, r],
                DataType::Utf8,
                true,
                move |vals, n| {
                    let s = StrArg::new(&vals[0]);
                    let p = StrArg::new(&vals[1]);
                    let rep = StrArg::new(&vals[2]);
                    out_array(build_strings(n, |i, buf| {
                        let (Some(v), Some(r)) = (s.get(i), rep.get(i)) else {
                            return false;
                        };
                        re.with(p.get(i), |re| match re {
                            Some(re) => {
                                buf.push_str(&re.replace_all(v, regex::NoExpand(r)));
                                true
                            }
                            None => false,
                        })
                    }))
                },
            ))
        }
        "REGEXP" => {
            arity(name, &args, 2, 2, e)?;
            regexp_compiled(c, args[0].clone(), args[1].clone(), e)
        }
        "HASH_CODE" => {
            arity(name, &args, 1, 1, e)?;
            let s = c.to_string_arg(args[0].clone(), name, e)?;
            Ok(new_fn(
                name,
                vec![s],
                DataType::Int32,
                nullable,
                |vals, n| {
                    let s = StrArg::new(&vals[0]);
                    out_array(build_i32(n, |i| {
                        let v = s.get(i)?;
                        let mut h: i32 = 0;
                        for u in v.encode_utf16() {
                            h = h.wrapping_mul(31).wrapping_add(u as i32);
                        }
                        Some(h.wrapping_abs())
                    }))
                },
            ))
        }
        "ASCII" => {
            arity(name, &args, 1, 1, e)?;
            let s = c.to_string_arg(args[0].clone(), name, e)?;
            Ok(new_fn(
                name,
                vec![s],
                DataType::Int32,
                nullable,
                |vals, n| {
                    let s = StrArg::new(&vals[0]);
                    out_array(build_i32(n, |i| {
                        Some(s.get(i)?.bytes().next().map(|b| b as i32).unwrap_or(0))
                    }))
                },
            ))
        }
        "CHR" => {
            arity(name, &args, 1, 1, e)?;
            let k = c.to_int_arg(args[0].clone(), name, e)?;
            Ok(new_fn(
                name,
                vec![k],
                DataType::Utf8,
                nullable,
                |vals, n| {
                    let k = IntArg::new(&vals[0]);
                    out_array(build_strings(n, |i, buf| {
                        let Some(k) = k.get(i) else { return false };
                        if k >= 0 {
                            buf.push((k & 0xFF) as u8 as char);
                        }
                        true
                    }))
                },
            ))
        }
        "OVERLAY" => {
            arity(name, &args, 3, 4, e)?;
            let s = c.to_string_arg(args[0].clone(), name, e)?;
            let r = c.to_string_arg(args[1].clone(), name, e)?;
            let mut fargs = vec![s, r, c.to_int_arg(args[2].clone(), name, e)?];
            if args.len() == 4 {
                fargs.push(c.to_int_arg(args[3].clone(), name, e)?);
            }
            Ok(new_fn(name, fargs, DataType::Utf8, nullable, |vals, n| {
                let s = StrArg::new(&vals[0]);
                let r = StrArg::new(&vals[1]);
                let start = IntArg::new(&vals[2]);
                let len = vals.get(3).map(IntArg::new);
                out_array(build_strings(n, |i, buf| {
                    let (Some(v), Some(r), Some(st)) = (s.get(i), r.get(i), start.get(i)) else {
                        return false;
                    };
                    let rl = r.chars().count() as i64;
                    let l = match &len {
                        Some(x) => match x.get(i) {
                            Some(l) => l,
                            None => return false,
                        },
                        None => rl,
                    };
                    let count = v.chars().count() as i64;
                    if st <= 0 || st > count {
                        buf.push_str(v);
                        return true;
                    }
                    buf.push_str(char_slice(v, 0, (st - 1) as usize));
                    buf.push_str(r);
                    if st + l <= count && l > 0 {
                        buf.push_str(char_slice(v, (st - 1 + l) as usize, count as usize));
                    }
                    true
                }))
            }))
        }
        // ---------------------------------------------------------------- numeric
        "ABS" => {
            arity(name, &args, 1, 1, e)?;
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
            arity(name, &args, 2, 2, e)?;
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
            arity(name, &args, 1, 1, e)?;
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
            arity(name, &args, 1, 1, e)?;
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
            arity(name, &args, 1, 2, e)?;
            round(c, name, args, e)
        }
        "CEIL" | "CEILING" | "FLOOR" => {
            arity(name, &args, 1, 1, e)?;
            numeric_ceil_floor(c, args[0].clone(), name != "FLOOR", e)
        }
        // ---------------------------------------------------------------- time
        "YEAR" | "QUARTER" | "MONTH" | "WEEK" | "DAYOFYEAR" | "DAYOFMONTH" | "DAYOFWEEK"
        | "HOUR" | "MINUTE" | "SECOND" => {
            arity(name, &args, 1, 1, e)?;
            let unit = match name {
                "DAYOFYEAR" => "DOY",
                "DAYOFMONTH" => "DAY",
                "DAYOFWEEK" => "DOW",
                other => other,
            };
            extract_unit(c, unit, args[0].clone(), e)
        }
        "DATE_FORMAT" => {
            arity(name, &args, 2, 2, e)?;
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
            arity(name, &args, 1, 2, e)?;
            let date = name == "TO_DATE";
            let s = args[0].clone();
            if !is_string(s.data_type()) && !matches!(s.data_type(), DataType::Null) {
                if date && is_integer(s.data_type()) {
                    // TO_DATE(days)
                    return c.cast(s, &DataType::Date32, false, e);
                }
                return Err(PlanError::Type(format!(
                    "function `{name}` expects a STRING argument, got {} in `{e}`{}",
                    tn(s.data_type()),
                    at(e)
                )));
            }
            let s = c.coerce(s, &DataType::Utf8);
            let fmt = match args.get(1) {
                Some(f) => Some(c.to_string_arg(f.clone(), name, e)?),
                None => None,
            };
            let f = match &fmt {
                Some(fx) => Some(FormatArg::new(Some(fx), "", e)?),
                None => None,
            };
            let mut fargs = vec![s];
            if let Some(fx) = fmt {
                fargs.push(fx);
            }
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
            arity(name, &args, 1, 2, e)?;
            let s = c.to_string_arg(args[0].clone(), name, e)?;
            let fmt = match args.get(1) {
                Some(f) => Some(c.to_string_arg(f.clone(), name, e)?),
                None => None,
            };
            let f = FormatArg::new(fmt.as_ref(), "yyyy-MM-dd HH:mm:ss", e)?;
            let off = c.offset_secs(e)? as i64;
            let mut fargs = vec![s];
            if let Some(fx) = fmt {
                fargs.push(fx);
            }
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
                            Some(dt) => dt.and_utc().timestamp() - off,
                            None => i64::MIN,
                        })
                    }))
                },
            ))
        }
        "FROM_UNIXTIME" => {
            arity(name, &args, 1, 2, e)?;
            let secs = c.to_int_arg(args[0].clone(), name, e)?;
            let fmt = match args.get(1) {
                Some(f) => Some(c.to_string_arg(f.clone(), name, e)?),
                None => None,
            };
            let f = FormatArg::new(fmt.as_ref(), "yyyy-MM-dd HH:mm:ss", e)?;
            let off = c.offset_secs(e)? as i64;
            let mut fargs = vec![secs];
            if let Some(fx) = fmt {
                fargs.push(fx);
            }
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
                        let dt = crate::datetime::Parts::from_secs(v.wrapping_add(off), 0);
                        f.with(pat, |fmt| {
                            fmt.is_some_and(|fmt| fmt.format(&dt, buf).is_ok())
                        })
                    }))
                },
            ))
        }
        "TO_TIMESTAMP_LTZ" => {
            arity(name, &args, 1, 2, e)?;
            let x = args[0].clone();
            let ltz = DataType::Timestamp(TimeUnit::Millisecond, runnel_types::time_zone_utc());
            if is_string(x.data_type()) {
                // TO_TIMESTAMP_LTZ(string[, format]): parsed in the session time zone
                let fmt = match args.get(1) {
                    Some(f) => Some(c.to_string_arg(f.clone(), name, e)?),
                    None => None,
                };
                let f = match &fmt {
                    Some(fx) => Some(FormatArg::new(Some(fx), "", e)?),
                    None => None,
                };
                let off = c.offset_secs(e)? as i64;
                let mut fargs = vec![x];
                if let Some(fx) = fmt {
                    fargs.push(fx);
                }
                return Ok(new_fn(name, fargs, ltz, true, move |vals, n| {
                    let s = StrArg::new(&vals[0]);
                    let p = vals.get(1).map(StrArg::new);
                    let out: TimestampMillisecondArray = (0..n)
                        .map(|i| {
                            let v = s.get(i)?;
                            let dt = match (&f, &p) {
                                (Some(f), Some(p)) => f.with(p.get(i), |fmt| fmt?.parse(v))?,
                                _ => parse_timestamp(v)?,
                            };
                            Some(naive_to_millis(&dt) - off * 1000)
                        })
                        .collect();
                    out_array(Arc::new(out.with_timezone("UTC")))
                }));
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
                return Ok(new_fn(name, vec![x], ltz, nullable, move |vals, _| {
                    map_value(vals[0].clone(), |a| {
                        let r: TimestampMillisecondArray =
                            a.as_primitive::<Int64Type>().unary(|v| v.wrapping_mul(f));
                        Ok(Arc::new(r.with_timezone("UTC")) as ArrayRef)
                    })
                }));
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
        // ---------------------------------------------------------------- JSON
        "JSON_VALUE" | "JSON_QUERY" | "JSON_EXISTS" => {
            arity(name, &args, 2, 2, e)?;
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
        // ---------------------------------------------------------------- collections
        "ARRAY" => {
            let t = c.common_of(&args, "ARRAY", e)?;
            let t = if matches!(t, DataType::Null) {
                DataType::Utf8
            } else {
                t
            };
            let args: Vec<ExprRef> = args.into_iter().map(|a| c.coerce(a, &t)).collect();
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
            Ok(new_fn(name, args, t, false, move |vals, n| {
                let cols = vals
                    .iter()
                    .map(|v| v.clone().into_array(n))
                    .collect::<Result<Vec<_>, _>>()?;
                out_array(Arc::new(StructArray::try_new(fields.clone(), cols, None)?))
            }))
        }
        "MAP" => {
            if args.is_empty() || args.len() % 2 != 0 {
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
                .into_iter()
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
            arity(name, &args, 1, 1, e)?;
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
        _ => Err(PlanError::UnknownFunction {
            name: name.to_string(),
            at: at(e),
        }),
    }
}

/// CAST to CHAR(n) / VARCHAR(n): longer strings are cut to `n` characters; for CHAR,
/// shorter ones are padded with spaces.
pub(crate) fn fit_length(
    c: &Compiler,
    x: ExprRef,
    n: usize,
    pad: bool,
) -> Result<ExprRef, PlanError> {
    let _ = c;
    let nullable = x.nullable();
    let f = move |vals: &[ColumnarValue], rows: usize| {
        let s = StrArg::new(&vals[0]);
        out_array(build_strings(rows, |i, buf| {
            let Some(v) = s.get(i) else { return false };
            let count = v.chars().count();
            buf.push_str(char_slice(v, 0, n));
            if pad {
                for _ in count..n {
                    buf.push(' ');
                }
            }
            true
        }))
    };
    if let Some(v) = x.literal_value() {
        let out = f(&[ColumnarValue::Scalar(v.clone())], 1)
            .map_err(|e| PlanError::Invalid(e.to_string()))?;
        return Ok(literal_array(out.array().clone()));
    }
    Ok(new_fn("CAST", vec![x], DataType::Utf8, nullable, f))
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

fn char_slice(s: &str, start: usize, end: usize) -> &str {
    if s.is_ascii() {
        let end = end.min(s.len());
        let start = start.min(end);
        return &s[start..end];
    }
    let mut it = s
        .char_indices()
        .map(|(b, _)| b)
        .chain(std::iter::once(s.len()));
    let b0 = it.by_ref().nth(start).unwrap_or(s.len());
    let b1 = if end > start {
        it.nth(end - start - 1).unwrap_or(s.len())
    } else {
        b0
    };
    &s[b0..b1]
}

/// Flink's `SUBSTRING(s, pos, len)`: 1-based; `pos` 0 means 1; a negative `pos` counts from
/// the end (empty when it reaches before the start); a negative `len` gives NULL.
pub(crate) fn flink_substring(s: &str, pos: i64, len: i64) -> Option<&str> {
    if len < 0 {
        return None;
    }
    if s.is_empty() {
        return Some("");
    }
    let count = if s.is_ascii() {
        s.len()
    } else {
        s.chars().count()
    } as i64;
    let start = if pos > 0 {
        let st = pos - 1;
        if st >= count {
            return Some("");
        }
        st
    } else if pos < 0 {
        let st = count + pos;
        if st < 0 {
            return Some("");
        }
        st
    } else {
        0
    };
    let end = if count - start < len {
        count
    } else {
        start + len
    };
    Some(char_slice(s, start as usize, end as usize))
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

/// TRIM([BOTH|LEADING|TRAILING] [chars] FROM s): removes any of `chars` (default a space).
pub(crate) fn trim(
    c: &Compiler,
    s: ExprRef,
    chars: Option<ExprRef>,
    w: Option<&TrimWhereField>,
    e: &Expr,
) -> Result<ExprRef, PlanError> {
    let s = c.to_string_arg(s, "TRIM", e)?;
    let chars = match chars {
        Some(ch) => c.to_string_arg(ch, "TRIM", e)?,
        None => literal(" "),
    };
    let (lead, trail) = match w {
        Some(TrimWhereField::Leading) => (true, false),
        Some(TrimWhereField::Trailing) => (false, true),
        _ => (true, true),
    };
    let nullable = s.nullable() || chars.nullable();
    Ok(new_fn(
        "TRIM",
        vec![s, chars],
        DataType::Utf8,
        nullable,
        move |vals, n| {
            let s = StrArg::new(&vals[0]);
            let ch = StrArg::new(&vals[1]);
            out_array(build_slices(n, |i| {
                let v = s.get(i)?;
                let set = ch.get(i)?;
                let single = if set.len() == 1 {
                    Some(set.as_bytes()[0] as char)
                } else {
                    None
                };
                let pred = |x: char| match single {
                    Some(c) => x == c,
                    None => set.contains(x),
                };
                let mut r = v;
                if lead {
                    r = r.trim_start_matches(pred);
                }
                if trail {
                    r = r.trim_end_matches(pred);
                }
                Some(r)
            }))
        },
    ))
}

fn regexp_compiled(c: &Compiler, s: ExprRef, p: ExprRef, e: &Expr) -> Result<ExprRef, PlanError> {
    let s = c.to_string_arg(s, "REGEXP", e)?;
    let p = c.to_string_arg(p, "REGEXP", e)?;
    let empty = matches!(literal_str(&p), Some(Some(ref x)) if x.is_empty());
    let re = if empty {
        RegexArg::Fixed(None)
    } else {
        RegexArg::new(&p, e)?
    };
    let nullable = s.nullable() || p.nullable();
    Ok(new_fn(
        "REGEXP",
        vec![s, p],
        DataType::Boolean,
        nullable,
        move |vals, n| {
            let s = StrArg::new(&vals[0]);
            let p = StrArg::new(&vals[1]);
            out_array(build_bool(n, |i| {
                let v = s.get(i)?;
                let pat = p.get(i)?;
                if pat.is_empty() {
                    return Some(false);
                }
                Some(re.with(Some(pat), |r| r.is_some_and(|r| r.is_match(v))))
            }))
        },
    ))
}

/// `s REGEXP p` / `REGEXP(s, p)`: whether any substring matches (Java `find`).
pub(crate) fn regexp_match(
    c: &Compiler,
    s: &Expr,
    p: &Expr,
    e: &Expr,
) -> Result<ExprRef, PlanError> {
    let s = c.compile(s)?;
    let p = c.compile(p)?;
    regexp_compiled(c, s, p, e)
}

/// `s [NOT] SIMILAR TO pattern`: SQL regular expressions (`%`, `_`, `|`, `*`, `+`, `?`,
/// `{m,n}`, `[...]`, `(...)`) matching the whole string.
pub(crate) fn similar_to(
    c: &Compiler,
    s: &Expr,
    p: &Expr,
    escape: Option<&Expr>,
    negated: bool,
    e: &Expr,
) -> Result<ExprRef, PlanError> {
    if escape.is_some() {
        return Err(PlanError::Unsupported(format!(
            "SIMILAR TO ... ESCAPE is not supported: `{e}`{}",
            at(e)
        )));
    }
    let sx = c.to_string_arg(c.compile(s)?, "SIMILAR TO", e)?;
    let px = c.compile(p)?;
    let Some(Some(pat)) = literal_str(&px) else {
        return Err(PlanError::Unsupported(format!(
            "SIMILAR TO needs a literal pattern: `{e}`{}",
            at(e)
        )));
    };
    let mut re = String::from("^(?s:");
    for ch in pat.chars() {
        match ch {
            '%' => re.push_str(".*"),
            '_' => re.push('.'),
            '.' | '^' | '$' | '\\' => {
                re.push('\\');
                re.push(ch);
            }
            other => re.push(other),
        }
    }
    re.push_str(")$");
    let regex =
        java_regex(&re).map_err(|m| PlanError::Invalid(format!("{m} in `{e}`{}", at(e))))?;
    let nullable = sx.nullable();
    let m = new_fn(
        "SIMILAR TO",
        vec![sx],
        DataType::Boolean,
        nullable,
        move |vals, n| {
            let s = StrArg::new(&vals[0]);
            out_array(build_bool(n, |i| Some(regex.is_match(s.get(i)?))))
        },
    );
    Ok(if negated {
        Arc::new(Not { input: m })
    } else {
        m
    })
}

fn round(c: &Compiler, name: &str, args: Vec<ExprRef>, e: &Expr) -> Result<ExprRef, PlanError> {
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

fn numeric_ceil_floor(
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

fn field_name(f: &DateTimeField) -> String {
    match f {
        DateTimeField::Custom(id) => id.value.to_ascii_uppercase(),
        DateTimeField::Week(_) => "WEEK".into(),
        other => other.to_string().to_ascii_uppercase(),
    }
}

fn temporal_ceil_floor(
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
    let is_ltz = matches!(dt, DataType::Timestamp(_, Some(_)));
    let off = if is_ltz {
        c.offset_secs(e)? as i64 * 1000
    } else {
        0
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
                    let ms = v.div_euclid(per) + off;
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
