//! Flink's type system mapped onto Arrow: SQL type names, least restrictive types, arithmetic
//! result types and interval literals.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Fields, TimeUnit};
use runnel_types::{flink_type_name, is_integer};
use sqlparser::ast::{self, DateTimeField, Expr, Spanned, Value};

use crate::error::PlanError;

/// Flink's maximum DECIMAL precision.
pub const MAX_PRECISION: u8 = 38;

/// ` at line L, column C` for an expression, or "" when the parser left no position.
pub(crate) fn at(expr: &Expr) -> String {
    let span = expr.span();
    if span.start.line == 0 {
        String::new()
    } else {
        format!(" at line {}, column {}", span.start.line, span.start.column)
    }
}

/// The Arrow timestamp unit Runnel uses for a Flink TIMESTAMP precision.
pub(crate) fn timestamp_unit(precision: u64) -> TimeUnit {
    match precision {
        0..=3 => TimeUnit::Millisecond,
        4..=6 => TimeUnit::Microsecond,
        _ => TimeUnit::Nanosecond,
    }
}

/// The declared fraction-of-second precision of a TIMESTAMP(p) / TIMESTAMP_LTZ(p) type as
/// written (TIMESTAMP alone is TIMESTAMP(6)); `None` for other types.
pub(crate) fn timestamp_precision(dt: &ast::DataType) -> Option<u8> {
    match dt {
        ast::DataType::Timestamp(p, _) => Some(p.unwrap_or(6).min(9) as u8),
        ast::DataType::Custom(name, mods)
            if name.to_string().eq_ignore_ascii_case("TIMESTAMP_LTZ") =>
        {
            match mods.first() {
                None => Some(6),
                Some(m) => m.parse::<u8>().ok().map(|p| p.min(9)),
            }
        }
        _ => None,
    }
}

/// The Arrow type of a SQL type as written in CAST targets (and DDL): Flink's names and
/// defaults (`TIMESTAMP` is TIMESTAMP(6), `DECIMAL` is DECIMAL(10, 0)).
pub fn sql_data_type(dt: &ast::DataType) -> Result<DataType, PlanError> {
    use ast::DataType as S;
    let unsupported = || PlanError::Unsupported(format!("unsupported data type `{dt}`"));
    Ok(match dt {
        S::Boolean | S::Bool => DataType::Boolean,
        S::TinyInt(_) => DataType::Int8,
        S::SmallInt(_) => DataType::Int16,
        S::Int(_) | S::Integer(_) => DataType::Int32,
        S::BigInt(_) => DataType::Int64,
        S::Float(info) => match info {
            ast::ExactNumberInfo::Precision(p) | ast::ExactNumberInfo::PrecisionAndScale(p, _)
                if *p > 24 =>
            {
                DataType::Float64
            }
            _ => DataType::Float32,
        },
        S::Real => DataType::Float32,
        S::Double(_) | S::DoublePrecision => DataType::Float64,
        S::Decimal(info) | S::Numeric(info) | S::Dec(info) => {
            let (p, s) = match info {
                ast::ExactNumberInfo::None => (10, 0),
                ast::ExactNumberInfo::Precision(p) => (*p, 0),
                ast::ExactNumberInfo::PrecisionAndScale(p, s) => (*p, *s as u64),
            };
            if p == 0 || p > MAX_PRECISION as u64 || s > p {
                return Err(PlanError::Invalid(format!(
                    "DECIMAL precision must be between 1 and 38 and scale between 0 and the precision, got `{dt}`"
                )));
            }
            DataType::Decimal128(p as u8, s as i8)
        }
        S::String(_)
        | S::Varchar(_)
        | S::Char(_)
        | S::Character(_)
        | S::CharVarying(_)
        | S::CharacterVarying(_)
        | S::Text
        | S::Nvarchar(_) => DataType::Utf8,
        S::Bytes(_) | S::Binary(_) | S::Varbinary(_) | S::Bytea | S::Blob(_) => DataType::Binary,
        S::Date => DataType::Date32,
        S::Time(_, _) => DataType::Time32(TimeUnit::Millisecond),
        S::Timestamp(p, tz) => {
            let unit = timestamp_unit(p.unwrap_or(6));
            match tz {
                ast::TimezoneInfo::None | ast::TimezoneInfo::WithoutTimeZone => {
                    DataType::Timestamp(unit, None)
                }
                _ => return Err(unsupported()),
            }
        }
        S::Custom(name, mods) => {
            let n = name.to_string().to_ascii_uppercase();
            let precision = || -> Result<Option<u64>, PlanError> {
                match mods.first() {
                    None => Ok(None),
                    Some(m) => m
                        .parse::<u64>()
                        .map(Some)
                        .map_err(|_| PlanError::Invalid(format!("bad precision in `{dt}`"))),
                }
            };
            match n.as_str() {
                "TIMESTAMP_LTZ" => DataType::Timestamp(
                    timestamp_unit(precision()?.unwrap_or(6)),
                    runnel_types::time_zone_utc(),
                ),
                "STRING" => DataType::Utf8,
                "BYTES" => DataType::Binary,
                "DOUBLE" => DataType::Float64,
                "TINYINT" => DataType::Int8,
                _ => return Err(unsupported()),
            }
        }
        S::Array(elem) => {
            let inner = match elem {
                ast::ArrayElemTypeDef::AngleBracket(t)
                | ast::ArrayElemTypeDef::SquareBracket(t, _)
                | ast::ArrayElemTypeDef::Parenthesis(t)
                | ast::ArrayElemTypeDef::Qualified(t, _) => sql_data_type(t)?,
                ast::ArrayElemTypeDef::None => return Err(unsupported()),
            };
            DataType::List(Arc::new(Field::new_list_field(inner, true)))
        }
        S::Map(k, v, _) => map_type(sql_data_type(k)?, sql_data_type(v)?),
        S::Struct(fields, _) => {
            let mut out = Vec::with_capacity(fields.len());
            for (i, f) in fields.iter().enumerate() {
                let name = f
                    .field_name
                    .as_ref()
                    .map(|n| n.value.clone())
                    .unwrap_or_else(|| format!("f{i}"));
                out.push(Field::new(name, sql_data_type(&f.field_type)?, true));
            }
            DataType::Struct(Fields::from(out))
        }
        _ => return Err(unsupported()),
    })
}

/// The Arrow type of Flink's `MAP<K, V>`.
pub(crate) fn map_type(key: DataType, value: DataType) -> DataType {
    DataType::Map(
        Arc::new(Field::new(
            "entries",
            DataType::Struct(Fields::from(vec![
                Field::new("key", key, false),
                Field::new("value", value, true),
            ])),
            false,
        )),
        false,
    )
}

/// The DECIMAL(p, 0) that holds every value of an integer type, as Flink widens integers
/// meeting decimals.
pub(crate) fn integer_decimal(dt: &DataType) -> Option<(u8, i8)> {
    match dt {
        DataType::Int8 => Some((3, 0)),
        DataType::Int16 => Some((5, 0)),
        DataType::Int32 => Some((10, 0)),
        DataType::Int64 => Some((19, 0)),
        DataType::Decimal128(p, s) => Some((*p, *s)),
        _ => None,
    }
}

fn integer_rank(dt: &DataType) -> u8 {
    match dt {
        DataType::Int8 => 1,
        DataType::Int16 => 2,
        DataType::Int32 => 3,
        DataType::Int64 => 4,
        _ => 0,
    }
}

/// Flink's `LogicalTypeMerging.adjustPrecisionScale`: keep at most 38 digits, giving up
/// fraction digits first but keeping at least 6 (or the original scale when smaller).
pub(crate) fn adjust_precision_scale(precision: i32, scale: i32) -> (u8, i8) {
    let max = MAX_PRECISION as i32;
    if precision <= max {
        return (precision.max(1) as u8, scale as i8);
    }
    let digits = precision - scale;
    let min_scale = scale.min(6);
    let scale = (max - digits).max(min_scale);
    (max as u8, scale as i8)
}

/// The arithmetic operators whose result type Flink derives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

impl ArithOp {
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            ArithOp::Add => "+",
            ArithOp::Sub => "-",
            ArithOp::Mul => "*",
            ArithOp::Div => "/",
            ArithOp::Mod => "%",
        }
    }
}

/// The result type of `l op r` on numeric operands, following Flink: integers stay integers
/// (the wider one; `%` takes the right operand's type as Calcite's MOD does), any DOUBLE gives
/// DOUBLE, FLOAT with exact numbers gives FLOAT (DOUBLE with DECIMAL), and DECIMALs follow
/// `LogicalTypeMerging` (integers count as DECIMAL(3/5/10/19, 0)).
pub(crate) fn arithmetic_type(op: ArithOp, l: &DataType, r: &DataType) -> Option<DataType> {
    if is_integer(l) && is_integer(r) {
        if op == ArithOp::Mod {
            return Some(r.clone());
        }
        return Some(if integer_rank(l) >= integer_rank(r) {
            l.clone()
        } else {
            r.clone()
        });
    }
    let approx = |d: &DataType| matches!(d, DataType::Float32 | DataType::Float64);
    if approx(l) || approx(r) {
        if !runnel_types::is_numeric(l) || !runnel_types::is_numeric(r) {
            return None;
        }
        let any_double = matches!(l, DataType::Float64) || matches!(r, DataType::Float64);
        let any_decimal =
            matches!(l, DataType::Decimal128(..)) || matches!(r, DataType::Decimal128(..));
        return Some(if any_double || any_decimal {
            DataType::Float64
        } else {
            DataType::Float32
        });
    }
    let (p1, s1) = integer_decimal(l)?;
    let (p2, s2) = integer_decimal(r)?;
    let (p1, s1, p2, s2) = (p1 as i32, s1 as i32, p2 as i32, s2 as i32);
    let (p, s) = match op {
        ArithOp::Add | ArithOp::Sub => {
            let s = s1.max(s2);
            let p = (p1 - s1).max(p2 - s2) + s + 1;
            adjust_precision_scale(p, s)
        }
        ArithOp::Mul => adjust_precision_scale(p1 + p2, s1 + s2),
        ArithOp::Div => {
            let s = 6.max(s1 + p2 + 1);
            let p = p1 - s1 + s2 + s;
            adjust_precision_scale(p, s)
        }
        ArithOp::Mod => {
            let s = s1.max(s2);
            let p = (p1 - s1).min(p2 - s2) + s;
            adjust_precision_scale(p, s)
        }
    };
    Some(DataType::Decimal128(p, s))
}

fn is_string(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    )
}

/// Flink's least restrictive type of two types (for CASE, COALESCE, IN, UNION, comparisons):
/// NULL yields to anything, integers widen, integers meet DECIMAL in a DECIMAL wide enough,
/// approximate numbers win over exact ones, strings stay strings, DATE meets TIMESTAMP as
/// TIMESTAMP, and timestamps take the larger precision. `None` when Flink would reject it.
pub fn common_type(a: &DataType, b: &DataType) -> Option<DataType> {
    if a == b {
        return Some(a.clone());
    }
    match (a, b) {
        (DataType::Null, other) | (other, DataType::Null) => return Some(other.clone()),
        _ => {}
    }
    if is_integer(a) && is_integer(b) {
        return Some(if integer_rank(a) >= integer_rank(b) {
            a.clone()
        } else {
            b.clone()
        });
    }
    if runnel_types::is_numeric(a) && runnel_types::is_numeric(b) {
        let approx = |d: &DataType| matches!(d, DataType::Float32 | DataType::Float64);
        if approx(a) || approx(b) {
            // FLOAT only when both are FLOAT or integers; DOUBLE and DECIMAL make DOUBLE.
            let wide = |d: &DataType| matches!(d, DataType::Float64 | DataType::Decimal128(..));
            return Some(if wide(a) || wide(b) {
                DataType::Float64
            } else {
                DataType::Float32
            });
        }
        let (p1, s1) = integer_decimal(a)?;
        let (p2, s2) = integer_decimal(b)?;
        let s = s1.max(s2) as i32;
        let digits = ((p1 as i32) - (s1 as i32)).max((p2 as i32) - (s2 as i32));
        let (p, s) = adjust_precision_scale(digits + s, s);
        return Some(DataType::Decimal128(p, s));
    }
    if is_string(a) && is_string(b) {
        return Some(DataType::Utf8);
    }
    match (a, b) {
        (DataType::Binary, DataType::LargeBinary | DataType::BinaryView)
        | (DataType::LargeBinary | DataType::BinaryView, DataType::Binary) => {
            Some(DataType::Binary)
        }
        (DataType::Timestamp(u1, tz1), DataType::Timestamp(u2, tz2)) => {
            let unit = if unit_rank(u1) >= unit_rank(u2) {
                u1
            } else {
                u2
            };
            let tz = if tz1.is_some() || tz2.is_some() {
                runnel_types::time_zone_utc()
            } else {
                None
            };
            Some(DataType::Timestamp(*unit, tz))
        }
        (DataType::Date32, DataType::Timestamp(u, tz))
        | (DataType::Timestamp(u, tz), DataType::Date32) => {
            Some(DataType::Timestamp(*u, tz.clone()))
        }
        (DataType::List(fa), DataType::List(fb)) => {
            let inner = common_type(fa.data_type(), fb.data_type())?;
            Some(DataType::List(Arc::new(Field::new_list_field(inner, true))))
        }
        (DataType::Struct(fa), DataType::Struct(fb)) if fa.len() == fb.len() => {
            let mut out = Vec::with_capacity(fa.len());
            for (x, y) in fa.iter().zip(fb.iter()) {
                out.push(Field::new(
                    x.name(),
                    common_type(x.data_type(), y.data_type())?,
                    true,
                ));
            }
            Some(DataType::Struct(Fields::from(out)))
        }
        _ => None,
    }
}

fn unit_rank(u: &TimeUnit) -> u8 {
    match u {
        TimeUnit::Second => 0,
        TimeUnit::Millisecond => 1,
        TimeUnit::Microsecond => 2,
        TimeUnit::Nanosecond => 3,
    }
}

/// Describes a type for messages: Flink's spelling.
pub(crate) fn tn(dt: &DataType) -> String {
    flink_type_name(dt)
}

/// A parsed interval literal: day-time intervals in milliseconds, year-month ones in months.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IntervalValue {
    Millis(i64),
    Months(i32),
}

fn field_millis(f: &DateTimeField) -> Option<i64> {
    Some(match f {
        DateTimeField::Week(_) | DateTimeField::Weeks => 7 * 86_400_000,
        DateTimeField::Day | DateTimeField::Days => 86_400_000,
        DateTimeField::Hour | DateTimeField::Hours => 3_600_000,
        DateTimeField::Minute | DateTimeField::Minutes => 60_000,
        DateTimeField::Second | DateTimeField::Seconds => 1_000,
        DateTimeField::Millisecond | DateTimeField::Milliseconds => 1,
        _ => return None,
    })
}

fn field_months(f: &DateTimeField) -> Option<i32> {
    Some(match f {
        DateTimeField::Year | DateTimeField::Years => 12,
        DateTimeField::Month | DateTimeField::Months => 1,
        DateTimeField::Quarter => 3,
        _ => return None,
    })
}

/// Parses `INTERVAL '..' unit [TO unit]` into milliseconds or months.
pub(crate) fn parse_interval(expr: &Expr) -> Result<IntervalValue, PlanError> {
    let bad =
        |why: &str| PlanError::Invalid(format!("invalid interval `{expr}`{}: {why}", at(expr)));
    let Expr::Interval(iv) = expr else {
        return Err(bad("expected an INTERVAL literal"));
    };
    let (text, negate_value) = match iv.value.as_ref() {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) => (s.trim().to_string(), false),
            Value::Number(n, _) => (n.to_string(), false),
            _ => return Err(bad("the value must be a string")),
        },
        Expr::UnaryOp {
            op: ast::UnaryOperator::Minus,
            expr: inner,
        } => match inner.as_ref() {
            Expr::Value(v) => match &v.value {
                Value::SingleQuotedString(s) => (s.trim().to_string(), true),
                Value::Number(n, _) => (n.to_string(), true),
                _ => return Err(bad("the value must be a string")),
            },
            _ => return Err(bad("the value must be a string")),
        },
        _ => return Err(bad("the value must be a string")),
    };
    let leading = iv
        .leading_field
        .clone()
        .ok_or_else(|| bad("missing unit (e.g. SECOND)"))?;
    let (neg, body) = match text.strip_prefix('-') {
        Some(rest) => (!negate_value, rest.trim().to_string()),
        None => (
            negate_value,
            text.strip_prefix('+').unwrap_or(&text).trim().to_string(),
        ),
    };
    let sign: i32 = if neg { -1 } else { 1 };
    if let Some(m) = field_months(&leading) {
        let parts: Vec<&str> = body.split('-').collect();
        let months = match (&iv.last_field, parts.as_slice()) {
            (None, [v]) => v.parse::<i32>().map_err(|_| bad("not a number"))? * m,
            (Some(DateTimeField::Month | DateTimeField::Months), [y, mo]) => {
                y.parse::<i32>().map_err(|_| bad("not a number"))? * 12
                    + mo.parse::<i32>().map_err(|_| bad("not a number"))?
            }
            _ => return Err(bad("expected 'Y-M' for YEAR TO MONTH")),
        };
        return Ok(IntervalValue::Months(sign * months));
    }
    let lead_ms = field_millis(&leading).ok_or_else(|| bad("unsupported unit"))?;
    let millis = match &iv.last_field {
        None => {
            if lead_ms == 1_000 || body.contains('.') {
                let v: f64 = body.parse().map_err(|_| bad("not a number"))?;
                (v * lead_ms as f64).round() as i64
            } else {
                body.parse::<i64>().map_err(|_| bad("not a number"))? * lead_ms
            }
        }
        Some(last) => {
            let last_ms = field_millis(last).ok_or_else(|| bad("unsupported unit"))?;
            // Fields from the leading unit down to the last one: "D H:M:S.fff" forms.
            let units: Vec<i64> = [86_400_000i64, 3_600_000, 60_000, 1_000]
                .into_iter()
                .filter(|u| *u <= lead_ms && *u >= last_ms)
                .collect();
            let parts: Vec<&str> = body.split([' ', ':']).filter(|p| !p.is_empty()).collect();
            if parts.len() != units.len() {
                return Err(bad("the value does not match the units"));
            }
            let mut total = 0i64;
            for (p, u) in parts.iter().zip(units) {
                if u == 1_000 {
                    let v: f64 = p.parse().map_err(|_| bad("not a number"))?;
                    total += (v * 1000.0).round() as i64;
                } else {
                    total += p.parse::<i64>().map_err(|_| bad("not a number"))? * u;
                }
            }
            total
        }
    };
    Ok(IntervalValue::Millis(sign as i64 * millis))
}

/// The length of a day-time interval literal in milliseconds (`INTERVAL '10' SECOND`,
/// `INTERVAL '1:30' MINUTE TO SECOND`, ...), as window sizes and watermark delays need.
pub fn interval_millis(expr: &Expr) -> Result<i64, PlanError> {
    let e = strip_nested(expr);
    match parse_interval(e)? {
        IntervalValue::Millis(ms) => Ok(ms),
        IntervalValue::Months(_) => Err(PlanError::Invalid(format!(
            "interval `{expr}`{} is a year-month interval; a fixed duration is needed here",
            at(expr)
        ))),
    }
}

pub(crate) fn strip_nested(mut e: &Expr) -> &Expr {
    while let Expr::Nested(inner) = e {
        e = inner;
    }
    e
}
