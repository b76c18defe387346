//! Flink's CAST rules over Arrow arrays.

use std::fmt::Write;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryBuilder, BooleanArray, Date32Array, Decimal128Array,
    Float32Array, Float64Array, Int8Array, Int16Array, Int32Array, Int64Array, ListArray,
    PrimitiveArray, StringBuilder, StructArray, Time32MillisecondArray, new_null_array,
};
use arrow::datatypes::{
    DataType, Decimal128Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, TimeUnit,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType,
};
use runnel_types::{FlinkFormatter, flink_type_name, is_integer, is_numeric};

use crate::datetime::{
    MILLIS_PER_DAY, Parts, date_to_days, parse_date, parse_time, parse_timestamp,
    write_sql_timestamp,
};
use crate::decimal::{fits, parse_decimal, pow10};
use crate::error::ExprError;
use crate::timezone::SessionTimeZone;

/// How a cast behaves beyond its types.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CastOptions {
    /// TRY_CAST: invalid input gives NULL instead of failing the job.
    pub try_cast: bool,
    /// The session time zone, for conversions between TIMESTAMP_LTZ and local time.
    pub time_zone: SessionTimeZone,
    /// The declared precision (0 to 9) of a TIMESTAMP / TIMESTAMP_LTZ where the Arrow unit is
    /// finer than the SQL type (TIMESTAMP(0) to TIMESTAMP(2) are carried in milliseconds): for
    /// a cast to a timestamp type, the target's (values are truncated to it, as Flink's
    /// `DateTimeUtils.truncate` does); for a cast of a timestamp to STRING, the source's (that
    /// many fraction digits are printed). `None`: the unit's own precision.
    pub timestamp_precision: Option<u8>,
}

/// Casts with Flink's CAST rules in UTC; fails on invalid input as Flink 2.x does.
pub fn cast_array(array: &ArrayRef, to: &DataType) -> Result<ArrayRef, ExprError> {
    cast_array_with(array, to, &CastOptions::default())
}

/// Whether Flink allows `CAST(from AS to)`, so the planner can reject bad casts up front.
pub fn can_cast(from: &DataType, to: &DataType) -> bool {
    use DataType as D;
    if from == to || matches!(from, D::Null) || matches!(to, D::Utf8) {
        return true;
    }
    let temporal = |d: &DataType| matches!(d, D::Date32 | D::Timestamp(_, _) | D::Time32(_));
    match (from, to) {
        (D::Utf8 | D::LargeUtf8 | D::Utf8View, t) => {
            is_numeric(t) || matches!(t, D::Boolean | D::Binary) || temporal(t)
        }
        (f, t)
            if (is_numeric(f) || matches!(f, D::Boolean))
                && (is_numeric(t) || matches!(t, D::Boolean)) =>
        {
            true
        }
        (D::Date32, D::Timestamp(_, _)) | (D::Timestamp(_, _), D::Date32 | D::Time32(_)) => true,
        (D::Timestamp(_, _), D::Timestamp(_, _)) => true,
        (D::Timestamp(_, _), t) if is_numeric(t) => true,
        (f, D::Timestamp(_, _)) if is_integer(f) => true,
        (D::Time32(_), D::Time32(_)) => true,
        (D::Binary, D::Binary) => true,
        (D::Struct(a), D::Struct(b)) => {
            a.len() == b.len()
                && a.iter()
                    .zip(b.iter())
                    .all(|(x, y)| can_cast(x.data_type(), y.data_type()))
        }
        (D::List(a), D::List(b)) => can_cast(a.data_type(), b.data_type()),
        _ => false,
    }
}

fn cast_error(value: &str, to: &DataType, reason: &str) -> ExprError {
    ExprError::Cast {
        value: value.to_string(),
        target: flink_type_name(to),
        reason: reason.to_string(),
    }
}

fn arrow_cast(array: &ArrayRef, to: &DataType) -> Result<ArrayRef, ExprError> {
    let opts = arrow::compute::CastOptions {
        safe: true,
        ..Default::default()
    };
    Ok(arrow::compute::cast_with_options(
        array.as_ref(),
        to,
        &opts,
    )?)
}

/// Casts with Flink's CAST rules: numeric narrowing wraps (Java semantics), DOUBLE to
/// integer truncates (saturating), DECIMAL results round HALF_UP and become NULL when out
/// of range, strings parse leniently (trimmed) and fail (or NULL for TRY_CAST) when invalid.
pub fn cast_array_with(
    array: &ArrayRef,
    to: &DataType,
    options: &CastOptions,
) -> Result<ArrayRef, ExprError> {
    use DataType as D;
    let from = array.data_type();
    if let (D::Timestamp(unit, _), Some(p)) = (to, options.timestamp_precision) {
        // A narrower precision than the unit holds: convert, then drop the extra digits.
        let unit = *unit;
        let converted = if from == to {
            array.clone()
        } else {
            let opts = CastOptions {
                timestamp_precision: None,
                ..options.clone()
            };
            cast_array_with(array, to, &opts)?
        };
        return Ok(truncate_timestamps(&converted, &unit, p));
    }
    if from == to {
        return Ok(array.clone());
    }
    match (from, to) {
        (D::Null, _) => Ok(new_null_array(to, array.len())),
        (_, D::Utf8) => to_string(array, options),
        (D::LargeUtf8 | D::Utf8View, _) => {
            cast_array_with(&arrow_cast(array, &D::Utf8)?, to, options)
        }
        (D::Utf8, _) => from_string(array, to, options),
        (f, t) if is_integer(f) && is_integer(t) => Ok(int_to_int(array, t)),
        (D::Float32 | D::Float64, t) if is_integer(t) => {
            let f = arrow_cast(array, &D::Float64)?;
            let f = f.as_primitive::<Float64Type>();
            Ok(match t {
                D::Int64 => Arc::new(f.unary::<_, Int64Type>(|x| x as i64)),
                D::Int32 => Arc::new(f.unary::<_, Int32Type>(|x| x as i32)),
                D::Int16 => Arc::new(f.unary::<_, Int16Type>(|x| x as i32 as i16)),
                _ => Arc::new(f.unary::<_, Int8Type>(|x| x as i32 as i8)),
            })
        }
        (D::Decimal128(_, s), t) if is_integer(t) => {
            let d = array.as_primitive::<Decimal128Type>();
            let div = pow10(*s as u32);
            let longs: Int64Array = d.unary(|x| (x / div) as i64);
            Ok(int_to_int(&(Arc::new(longs) as ArrayRef), t))
        }
        (D::Decimal128(_, _), D::Boolean) => {
            let d = array.as_primitive::<Decimal128Type>();
            Ok(Arc::new(BooleanArray::from_unary(d, |x| x != 0)))
        }
        (D::Boolean, D::Decimal128(_, _)) => {
            cast_array_with(&arrow_cast(array, &D::Int32)?, to, options)
        }
        (D::Decimal128(_, _), D::Decimal128(_, _))
        | (D::Float32 | D::Float64, D::Decimal128(_, _))
        | (D::Int8 | D::Int16 | D::Int32 | D::Int64, D::Decimal128(_, _))
        | (D::Decimal128(_, _), D::Float32 | D::Float64) => arrow_cast(array, to),
        (f, t)
            if (is_numeric(f) || matches!(f, D::Boolean))
                && (is_numeric(t) || matches!(t, D::Boolean)) =>
        {
            arrow_cast(array, to)
        }
        (D::Date32, D::Timestamp(unit, tz)) => {
            // Midnight of the day, local; for TIMESTAMP_LTZ the instant of that local time.
            let d = array.as_primitive::<arrow::datatypes::Date32Type>();
            let per_sec = units_per_sec(unit);
            let zone = tz.as_ref().map(|_| options.time_zone);
            let out: Int64Array = d.unary(|days| {
                let local = days as i64 * 86_400 * per_sec;
                match zone {
                    Some(z) => z.to_utc_units(local, per_sec),
                    None => local,
                }
            });
            Ok(with_unit(
                out.values().clone(),
                out.nulls().cloned(),
                unit,
                tz.clone(),
            ))
        }
        (D::Timestamp(unit, tz), D::Date32) => {
            let per_sec = units_per_sec(unit);
            let raw = local_units(array, unit, tz.is_some(), options.time_zone);
            let out: Date32Array = raw.unary(|v| v.div_euclid(per_sec * 86_400) as i32);
            Ok(Arc::new(out))
        }
        (D::Timestamp(unit, tz), D::Time32(_)) => {
            let per_sec = units_per_sec(unit);
            let raw = local_units(array, unit, tz.is_some(), options.time_zone);
            let out: Time32MillisecondArray =
                raw.unary(|v| units_to_millis(v, per_sec).rem_euclid(MILLIS_PER_DAY) as i32);
            Ok(Arc::new(out))
        }
        (D::Timestamp(u1, tz1), D::Timestamp(u2, tz2)) => {
            let raw = raw_ts(array);
            let (n1, n2) = (nanos_per(u1), nanos_per(u2));
            let per_sec = units_per_sec(u2);
            let zone = options.time_zone;
            // Convert the unit, then move between local time and instants in the target unit.
            let convert = |v: i64| {
                if n1 >= n2 {
                    v * (n1 / n2)
                } else {
                    v.div_euclid(n2 / n1)
                }
            };
            let out: PrimitiveArray<Int64Type> = match (tz1.is_some(), tz2.is_some()) {
                (false, true) => raw.unary(|v| zone.to_utc_units(convert(v), per_sec)),
                (true, false) => raw.unary(|v| zone.to_local_units(convert(v), per_sec)),
                _ => raw.unary(convert),
            };
            Ok(with_unit(
                out.values().clone(),
                out.nulls().cloned(),
                u2,
                tz2.clone(),
            ))
        }
        (D::Timestamp(unit, _), t) if is_numeric(t) => {
            // epoch seconds, as Flink's TIMESTAMP -> numeric rule
            let raw = raw_ts(array);
            let per_sec = units_per_sec(unit);
            let secs: Int64Array = raw.unary(|v| v.div_euclid(per_sec));
            cast_array_with(&(Arc::new(secs) as ArrayRef), t, options)
        }
        (f, D::Timestamp(unit, tz)) if is_integer(f) => {
            // Epoch seconds: the instant for TIMESTAMP_LTZ, its local time for TIMESTAMP.
            let longs = arrow_cast(array, &D::Int64)?;
            let per_sec = units_per_sec(unit);
            let zone = options.time_zone;
            let ltz = tz.is_some();
            let out: Int64Array = longs.as_primitive::<Int64Type>().unary(|s| {
                let v = s.wrapping_mul(per_sec);
                if ltz {
                    v
                } else {
                    zone.to_local_units(v, per_sec)
                }
            });
            Ok(with_unit(
                out.values().clone(),
                out.nulls().cloned(),
                unit,
                tz.clone(),
            ))
        }
        (D::Struct(_), D::Struct(to_fields)) => {
            let s = array.as_struct();
            if s.num_columns() != to_fields.len() {
                return Err(ExprError::Eval(format!(
                    "cannot cast {} to {}: different number of fields",
                    flink_type_name(from),
                    flink_type_name(to)
                )));
            }
            let cols = s
                .columns()
                .iter()
                .zip(to_fields.iter())
                .map(|(c, f)| cast_array_with(c, f.data_type(), options))
                .collect::<Result<Vec<_>, _>>()?;
            let fields = to_fields
                .iter()
                .map(|f| f.as_ref().clone().with_nullable(true))
                .collect::<Vec<_>>();
            Ok(Arc::new(StructArray::try_new(
                fields.into(),
                cols,
                s.nulls().cloned(),
            )?))
        }
        (D::List(_), D::List(f)) => {
            let l = array.as_list::<i32>();
            let values = cast_array_with(l.values(), f.data_type(), options)?;
            Ok(Arc::new(ListArray::try_new(
                Arc::new(f.as_ref().clone().with_nullable(true)),
                l.offsets().clone(),
                values,
                l.nulls().cloned(),
            )?))
        }
        _ => {
            if can_cast(from, to) {
                arrow_cast(array, to)
            } else {
                Err(ExprError::Eval(format!(
                    "cannot cast {} to {}",
                    flink_type_name(from),
                    flink_type_name(to)
                )))
            }
        }
    }
}

/// How many values of `unit` make a second.
pub(crate) fn units_per_sec(unit: &TimeUnit) -> i64 {
    1_000_000_000 / nanos_per(unit)
}

/// A value counted in units of which there are `per_sec` in a second, in milliseconds
/// (rounded down).
fn units_to_millis(v: i64, per_sec: i64) -> i64 {
    if per_sec >= 1000 {
        v.div_euclid(per_sec / 1000)
    } else {
        v * (1000 / per_sec)
    }
}

/// The raw values of a timestamp array as local wall-clock time: TIMESTAMP_LTZ instants are
/// moved into the session zone, TIMESTAMP values are already local.
fn local_units(
    array: &ArrayRef,
    unit: &TimeUnit,
    ltz: bool,
    zone: SessionTimeZone,
) -> PrimitiveArray<Int64Type> {
    let raw = raw_ts(array);
    if !ltz || zone == SessionTimeZone::UTC {
        return raw;
    }
    let per_sec = units_per_sec(unit);
    raw.unary(|v| zone.to_local_units(v, per_sec))
}

/// Drops the fraction digits beyond `precision` from timestamp values of `unit`, as Flink's
/// `DateTimeUtils.truncate`: to millisecond precision or coarser, the epoch milliseconds are
/// truncated toward zero (Java integer division, so before 1970 a value moves up to the
/// next unit); finer precisions cut the digits below the millisecond.
pub(crate) fn truncate_timestamps(array: &ArrayRef, unit: &TimeUnit, precision: u8) -> ArrayRef {
    let digits: u32 = match unit {
        TimeUnit::Second => 0,
        TimeUnit::Millisecond => 3,
        TimeUnit::Microsecond => 6,
        TimeUnit::Nanosecond => 9,
    };
    let p = (precision as u32).min(9);
    if p >= digits {
        return array.clone();
    }
    let per_milli = if digits > 3 { 10i64.pow(digits - 3) } else { 1 };
    let raw = raw_ts(array);
    let out: Int64Array = if p <= 3 {
        let step = 10i64.pow(3 - p);
        raw.unary(|v| {
            let ms = v.div_euclid(per_milli);
            ms / step * step * per_milli
        })
    } else {
        let step = 10i64.pow(digits - p);
        raw.unary(|v| v - v.rem_euclid(per_milli) % step)
    };
    let tz = match array.data_type() {
        DataType::Timestamp(_, tz) => tz.clone(),
        _ => None,
    };
    with_unit(out.values().clone(), out.nulls().cloned(), unit, tz)
}

fn nanos_per(unit: &TimeUnit) -> i64 {
    match unit {
        TimeUnit::Second => 1_000_000_000,
        TimeUnit::Millisecond => 1_000_000,
        TimeUnit::Microsecond => 1_000,
        TimeUnit::Nanosecond => 1,
    }
}

/// The raw i64 values of a timestamp array (any unit), zero-copy.
pub(crate) fn raw_ts(array: &ArrayRef) -> PrimitiveArray<Int64Type> {
    let data = array.to_data();
    let data = data.into_builder().data_type(DataType::Int64);
    // Same layout: i64 values + validity.
    PrimitiveArray::<Int64Type>::from(data.build().expect("timestamp arrays are i64 arrays"))
}

/// A timestamp array of `unit` / `tz` from raw values.
pub(crate) fn with_unit(
    values: arrow::buffer::ScalarBuffer<i64>,
    nulls: Option<arrow::buffer::NullBuffer>,
    unit: &TimeUnit,
    tz: Option<Arc<str>>,
) -> ArrayRef {
    match unit {
        TimeUnit::Second => Arc::new(
            PrimitiveArray::<TimestampSecondType>::new(values, nulls).with_timezone_opt(tz),
        ),
        TimeUnit::Millisecond => Arc::new(
            PrimitiveArray::<TimestampMillisecondType>::new(values, nulls).with_timezone_opt(tz),
        ),
        TimeUnit::Microsecond => Arc::new(
            PrimitiveArray::<TimestampMicrosecondType>::new(values, nulls).with_timezone_opt(tz),
        ),
        TimeUnit::Nanosecond => Arc::new(
            PrimitiveArray::<TimestampNanosecondType>::new(values, nulls).with_timezone_opt(tz),
        ),
    }
}

fn int_to_int(array: &ArrayRef, to: &DataType) -> ArrayRef {
    let longs = match array.data_type() {
        DataType::Int64 => array.clone(),
        _ => arrow::compute::cast(array.as_ref(), &DataType::Int64).expect("widening is total"),
    };
    let l = longs.as_primitive::<Int64Type>();
    match to {
        DataType::Int8 => Arc::new(l.unary::<_, Int8Type>(|x| x as i8)),
        DataType::Int16 => Arc::new(l.unary::<_, Int16Type>(|x| x as i16)),
        DataType::Int32 => Arc::new(l.unary::<_, Int32Type>(|x| x as i32)),
        _ => longs,
    }
}

fn to_string(array: &ArrayRef, options: &CastOptions) -> Result<ArrayRef, ExprError> {
    use DataType as D;
    match array.data_type() {
        D::Int8 | D::Int16 | D::Int32 | D::Int64 | D::Date32 => {
            return arrow_cast(array, &D::Utf8);
        }
        D::Timestamp(unit, None) => {
            let raw = raw_ts(array);
            let (per_sec, unit_digits) = match unit {
                TimeUnit::Second => (1, 0),
                TimeUnit::Millisecond => (1_000, 3),
                TimeUnit::Microsecond => (1_000_000, 6),
                TimeUnit::Nanosecond => (1_000_000_000, 9),
            };
            // TIMESTAMP(p) prints p fraction digits: none for TIMESTAMP(0).
            let precision = options
                .timestamp_precision
                .map_or(unit_digits, |p| (p as usize).min(9));
            let nanos_per = 1_000_000_000 / per_sec;
            let mut b = StringBuilder::with_capacity(raw.len(), raw.len() * (20 + precision));
            for v in raw.iter() {
                match v {
                    Some(v) => {
                        let p = Parts::from_secs(
                            v.div_euclid(per_sec),
                            (v.rem_euclid(per_sec) * nanos_per) as u32,
                        );
                        let _ = write_sql_timestamp(&p, precision as u32, &mut b);
                        b.append_value("");
                    }
                    None => b.append_null(),
                }
            }
            return Ok(Arc::new(b.finish()));
        }
        D::Timestamp(unit, Some(_)) => {
            // Shown in the session time zone.
            let local = local_units(array, unit, true, options.time_zone);
            let local = with_unit(local.values().clone(), local.nulls().cloned(), unit, None);
            return to_string(&local, options);
        }
        _ => {}
    }
    let n = array.len();
    let mut b = StringBuilder::with_capacity(n, n * 8);
    let mut buf = String::new();
    match array.data_type() {
        D::Boolean => {
            for v in array.as_boolean().iter() {
                match v {
                    Some(true) => b.append_value("TRUE"),
                    Some(false) => b.append_value("FALSE"),
                    None => b.append_null(),
                }
            }
        }
        D::Binary => {
            for v in array.as_binary::<i32>().iter() {
                match v {
                    Some(v) => b.append_value(String::from_utf8_lossy(v)),
                    None => b.append_null(),
                }
            }
        }
        D::Time32(_) => {
            for i in 0..n {
                if array.is_null(i) {
                    b.append_null();
                    continue;
                }
                let ms = arrow::compute::cast(&array.slice(i, 1), &D::Int32)?
                    .as_primitive::<Int32Type>()
                    .value(0) as i64;
                let _ = write!(
                    b,
                    "{:02}:{:02}:{:02}",
                    ms / 3_600_000,
                    ms / 60_000 % 60,
                    ms / 1000 % 60
                );
                b.append_value("");
            }
        }
        D::Interval(_) | D::Duration(_) => {
            for i in 0..n {
                if array.is_null(i) {
                    b.append_null();
                    continue;
                }
                let f = arrow::util::display::ArrayFormatter::try_new(
                    array.as_ref(),
                    &Default::default(),
                )?;
                let _ = write!(b, "{}", f.value(i));
                b.append_value("");
            }
        }
        _ => {
            for i in 0..n {
                if array.is_null(i) {
                    b.append_null();
                    continue;
                }
                buf.clear();
                FlinkFormatter::Sql.write_value(array.as_ref(), i, &mut buf);
                b.append_value(&buf);
            }
        }
    }
    Ok(Arc::new(b.finish()))
}

/// Java-style integer parsing as Flink's `BinaryStringDataUtil.toLong`: optional sign,
/// digits, and an optional fraction of digits that is dropped; surrounding blanks allowed.
pub(crate) fn parse_long(s: &str) -> Option<i64> {
    let t = s.trim();
    let b = t.as_bytes();
    if b.is_empty() {
        return None;
    }
    let (neg, mut i) = match b[0] {
        b'-' => (true, 1),
        b'+' => (false, 1),
        _ => (false, 0),
    };
    if i == b.len() {
        return None;
    }
    let mut v: i64 = 0;
    let mut any = false;
    while i < b.len() && b[i] != b'.' {
        let d = b[i].wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v.checked_mul(10)?;
        v = if neg {
            v.checked_sub(d as i64)?
        } else {
            v.checked_add(d as i64)?
        };
        any = true;
        i += 1;
    }
    if i < b.len() {
        // fraction: digits only
        i += 1;
        if !b[i..].iter().all(u8::is_ascii_digit) {
            return None;
        }
        if !any && i == b.len() {
            return None;
        }
    }
    if !any {
        return None;
    }
    Some(v)
}

fn parse_double(s: &str) -> Option<f64> {
    let t = s.trim();
    let t = t
        .strip_suffix(['d', 'D', 'f', 'F'])
        .filter(|r| !r.is_empty() && !r.ends_with(['e', 'E']))
        .unwrap_or(t);
    match t {
        "NaN" => Some(f64::NAN),
        "Infinity" | "+Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        _ => {
            if t.bytes()
                .any(|c| c.is_ascii_alphabetic() && c != b'e' && c != b'E')
            {
                return None;
            }
            t.parse::<f64>().ok()
        }
    }
}

fn parse_bool(s: &str) -> Option<bool> {
    let t = s.trim();
    const TRUE: [&str; 5] = ["t", "true", "y", "yes", "1"];
    const FALSE: [&str; 5] = ["f", "false", "n", "no", "0"];
    if TRUE.iter().any(|x| x.eq_ignore_ascii_case(t)) {
        Some(true)
    } else if FALSE.iter().any(|x| x.eq_ignore_ascii_case(t)) {
        Some(false)
    } else {
        None
    }
}

fn from_string(
    array: &ArrayRef,
    to: &DataType,
    options: &CastOptions,
) -> Result<ArrayRef, ExprError> {
    use DataType as D;
    let strings = array.as_string::<i32>();
    let n = strings.len();
    // Runs `parse` over the strings; a failure is an error unless TRY_CAST.
    macro_rules! parse_all {
        ($arr:ty, $parse:expr, $reason:expr) => {{
            let mut out: Vec<Option<_>> = Vec::with_capacity(n);
            for v in strings.iter() {
                match v {
                    None => out.push(None),
                    Some(s) => match $parse(s) {
                        Some(x) => out.push(Some(x)),
                        None if options.try_cast => out.push(None),
                        None => return Err(cast_error(s, to, $reason)),
                    },
                }
            }
            Arc::new(<$arr>::from(out)) as ArrayRef
        }};
    }
    let range = |lo: i64, hi: i64| move |s: &str| parse_long(s).filter(|v| *v >= lo && *v <= hi);
    Ok(match to {
        D::Int8 => parse_all!(
            Int8Array,
            |s| range(i8::MIN as i64, i8::MAX as i64)(s).map(|v| v as i8),
            "not a valid TINYINT"
        ),
        D::Int16 => parse_all!(
            Int16Array,
            |s| range(i16::MIN as i64, i16::MAX as i64)(s).map(|v| v as i16),
            "not a valid SMALLINT"
        ),
        D::Int32 => parse_all!(
            Int32Array,
            |s| range(i32::MIN as i64, i32::MAX as i64)(s).map(|v| v as i32),
            "not a valid INT"
        ),
        D::Int64 => parse_all!(Int64Array, parse_long, "not a valid BIGINT"),
        D::Float32 => parse_all!(
            Float32Array,
            |s| parse_double(s).map(|v| v as f32),
            "not a valid FLOAT"
        ),
        D::Float64 => parse_all!(Float64Array, parse_double, "not a valid DOUBLE"),
        D::Boolean => parse_all!(BooleanArray, parse_bool, "not a valid BOOLEAN"),
        D::Decimal128(p, s) => {
            let mut out: Vec<Option<i128>> = Vec::with_capacity(n);
            for v in strings.iter() {
                match v {
                    None => out.push(None),
                    Some(text) => match parse_decimal(text, *s) {
                        Some(x) => out.push(if fits(x, *p) { Some(x) } else { None }),
                        None if options.try_cast => out.push(None),
                        None => return Err(cast_error(text, to, "not a valid DECIMAL")),
                    },
                }
            }
            Arc::new(Decimal128Array::from(out).with_precision_and_scale(*p, *s)?)
        }
        D::Date32 => parse_all!(
            Date32Array,
            |s: &str| parse_date(s)
                .or_else(|| parse_timestamp(s).map(|t| t.date()))
                .map(|d| date_to_days(&d)),
            "expected yyyy-MM-dd"
        ),
        D::Time32(_) => parse_all!(
            Time32MillisecondArray,
            |s: &str| parse_time(s).map(|t| {
                use chrono::Timelike;
                (t.num_seconds_from_midnight() * 1000 + t.nanosecond() / 1_000_000) as i32
            }),
            "expected HH:mm:ss"
        ),
        D::Timestamp(unit, tz) => {
            // The text is local time; TIMESTAMP_LTZ takes its instant in the session zone.
            let zone = tz.as_ref().map(|_| options.time_zone);
            let per_sec = units_per_sec(unit);
            let nanos_div = nanos_per(unit);
            let mut out: Vec<Option<i64>> = Vec::with_capacity(n);
            for v in strings.iter() {
                match v {
                    None => out.push(None),
                    Some(text) => match parse_timestamp(text) {
                        Some(t) => {
                            let secs = t.and_utc().timestamp();
                            let sub = t.and_utc().timestamp_subsec_nanos() as i64 / nanos_div;
                            let local = secs * per_sec + sub;
                            out.push(Some(match zone {
                                Some(z) => z.to_utc_units(local, per_sec),
                                None => local,
                            }));
                        }
                        None if options.try_cast => out.push(None),
                        None => {
                            return Err(cast_error(text, to, "expected yyyy-MM-dd HH:mm:ss[.fff]"));
                        }
                    },
                }
            }
            let arr = PrimitiveArray::<Int64Type>::from(out);
            with_unit(arr.values().clone(), arr.nulls().cloned(), unit, tz.clone())
        }
        D::Binary => {
            let mut b = BinaryBuilder::with_capacity(n, strings.value_data().len());
            for v in strings.iter() {
                match v {
                    Some(v) => b.append_value(v.as_bytes()),
                    None => b.append_null(),
                }
            }
            Arc::new(b.finish())
        }
        other => {
            return Err(ExprError::Eval(format!(
                "cannot cast STRING to {}",
                flink_type_name(other)
            )));
        }
    })
}
