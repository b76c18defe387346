//! Typed views of Arrow columns for the encoders, resolved once per batch instead of per value.

use arrow::array::{
    Array, AsArray, BinaryArray, BooleanArray, Decimal128Array, Float32Array, Float64Array,
    Int8Array, Int16Array, Int32Array, Int64Array, ListArray, MapArray, StringArray, StructArray,
};
use arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type,
    Int64Type, Time32MillisecondType, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};
use runnel_types::FlinkFormatter;

use crate::text::{write_base64, write_date, write_decimal, write_time, write_timestamp};

/// A column with its concrete array type resolved.
pub(crate) enum Col<'a> {
    Null,
    Bool(&'a BooleanArray),
    I8(&'a Int8Array),
    I16(&'a Int16Array),
    I32(&'a Int32Array),
    I64(&'a Int64Array),
    F32(&'a Float32Array),
    F64(&'a Float64Array),
    Decimal(&'a Decimal128Array, i8),
    Str(&'a StringArray),
    Bin(&'a BinaryArray),
    Date(&'a arrow::array::Date32Array),
    Time(&'a arrow::array::Time32MillisecondArray),
    Ts {
        array: &'a dyn Array,
        values: &'a [i64],
        unit: TimeUnit,
        zulu: bool,
    },
    Struct(&'a StructArray, Vec<(&'a str, Col<'a>)>),
    List(&'a ListArray, Box<Col<'a>>),
    Map(&'a MapArray, Box<Col<'a>>, Box<Col<'a>>),
}

impl<'a> Col<'a> {
    /// Resolves `array`; `None` for a type the formats do not write.
    pub(crate) fn new(array: &'a dyn Array) -> Option<Col<'a>> {
        Some(match array.data_type() {
            DataType::Null => Col::Null,
            DataType::Boolean => Col::Bool(array.as_boolean()),
            DataType::Int8 => Col::I8(array.as_primitive::<Int8Type>()),
            DataType::Int16 => Col::I16(array.as_primitive::<Int16Type>()),
            DataType::Int32 => Col::I32(array.as_primitive::<Int32Type>()),
            DataType::Int64 => Col::I64(array.as_primitive::<Int64Type>()),
            DataType::Float32 => Col::F32(array.as_primitive::<Float32Type>()),
            DataType::Float64 => Col::F64(array.as_primitive::<Float64Type>()),
            DataType::Decimal128(_, s) => Col::Decimal(array.as_primitive::<Decimal128Type>(), *s),
            DataType::Utf8 => Col::Str(array.as_string::<i32>()),
            DataType::Binary => Col::Bin(array.as_binary::<i32>()),
            DataType::Date32 => Col::Date(array.as_primitive::<Date32Type>()),
            DataType::Time32(TimeUnit::Millisecond) => {
                Col::Time(array.as_primitive::<Time32MillisecondType>())
            }
            DataType::Timestamp(unit, tz) => {
                let values: &[i64] = match unit {
                    TimeUnit::Second => array.as_primitive::<TimestampSecondType>().values(),
                    TimeUnit::Millisecond => {
                        array.as_primitive::<TimestampMillisecondType>().values()
                    }
                    TimeUnit::Microsecond => {
                        array.as_primitive::<TimestampMicrosecondType>().values()
                    }
                    TimeUnit::Nanosecond => {
                        array.as_primitive::<TimestampNanosecondType>().values()
                    }
                };
                Col::Ts {
                    array,
                    values,
                    unit: *unit,
                    zulu: tz.is_some(),
                }
            }
            DataType::Struct(fields) => {
                let s = array.as_struct();
                let children = fields
                    .iter()
                    .zip(s.columns())
                    .map(|(f, c)| Some((f.name().as_str(), Col::new(c.as_ref())?)))
                    .collect::<Option<Vec<_>>>()?;
                Col::Struct(s, children)
            }
            DataType::List(_) => {
                let l = array.as_list::<i32>();
                Col::List(l, Box::new(Col::new(l.values().as_ref())?))
            }
            DataType::Map(_, _) => {
                let m = array.as_map();
                Col::Map(
                    m,
                    Box::new(Col::new(m.keys().as_ref())?),
                    Box::new(Col::new(m.values().as_ref())?),
                )
            }
            _ => return None,
        })
    }

    pub(crate) fn is_null(&self, row: usize) -> bool {
        match self {
            Col::Null => true,
            Col::Bool(a) => a.is_null(row),
            Col::I8(a) => a.is_null(row),
            Col::I16(a) => a.is_null(row),
            Col::I32(a) => a.is_null(row),
            Col::I64(a) => a.is_null(row),
            Col::F32(a) => a.is_null(row),
            Col::F64(a) => a.is_null(row),
            Col::Decimal(a, _) => a.is_null(row),
            Col::Str(a) => a.is_null(row),
            Col::Bin(a) => a.is_null(row),
            Col::Date(a) => a.is_null(row),
            Col::Time(a) => a.is_null(row),
            Col::Ts { array, .. } => array.is_null(row),
            Col::Struct(a, _) => a.is_null(row),
            Col::List(a, _) => a.is_null(row),
            Col::Map(a, _, _) => a.is_null(row),
        }
    }

    /// Whether the text of this column's values is quoted in JSON.
    pub(crate) fn is_textual(&self) -> bool {
        matches!(
            self,
            Col::Str(_) | Col::Bin(_) | Col::Date(_) | Col::Time(_) | Col::Ts { .. }
        )
    }
}

/// How scalar values become text.
#[derive(Clone, Copy)]
pub(crate) struct TextStyle {
    /// Between date and time of a timestamp: `b' '` or `b'T'`.
    pub(crate) timestamp_separator: u8,
    /// DECIMAL as `BigDecimal.toPlainString` instead of `toString`.
    pub(crate) plain_decimals: bool,
    /// TIME as `HH:mm:ss` only (Flink's json format drops the fraction).
    pub(crate) time_seconds_only: bool,
}

/// Appends the text of a non-null scalar (no quoting, no escaping); false for nested types.
pub(crate) fn write_scalar(
    col: &Col<'_>,
    row: usize,
    style: TextStyle,
    out: &mut Vec<u8>,
    scratch: &mut String,
) -> bool {
    match col {
        Col::Null => out.extend_from_slice(b"null"),
        Col::Bool(a) => out.extend_from_slice(if a.value(row) { b"true" } else { b"false" }),
        Col::I8(a) => push_int(out, a.value(row) as i64),
        Col::I16(a) => push_int(out, a.value(row) as i64),
        Col::I32(a) => push_int(out, a.value(row) as i64),
        Col::I64(a) => push_int(out, a.value(row)),
        Col::F32(a) => {
            scratch.clear();
            FlinkFormatter::Print.write_value(*a, row, scratch);
            out.extend_from_slice(scratch.as_bytes());
        }
        Col::F64(a) => {
            scratch.clear();
            FlinkFormatter::Print.write_value(*a, row, scratch);
            out.extend_from_slice(scratch.as_bytes());
        }
        Col::Decimal(a, scale) => write_decimal(out, a.value(row), *scale, style.plain_decimals),
        Col::Str(a) => out.extend_from_slice(a.value(row).as_bytes()),
        Col::Bin(a) => write_base64(out, a.value(row)),
        Col::Date(a) => write_date(out, a.value(row) as i64),
        Col::Time(a) => {
            let ms = a.value(row).rem_euclid(86_400_000) as u32;
            let nanos = if style.time_seconds_only {
                0
            } else {
                ms % 1000 * 1_000_000
            };
            write_time(out, ms / 1000, nanos);
        }
        Col::Ts {
            values, unit, zulu, ..
        } => write_timestamp(out, values[row], *unit, style.timestamp_separator, *zulu),
        Col::Struct(..) | Col::List(..) | Col::Map(..) => return false,
    }
    true
}

/// Whether a float value is NaN or infinite (JSON has no literal for them).
pub(crate) fn is_non_finite(col: &Col<'_>, row: usize) -> bool {
    match col {
        Col::F32(a) => !a.value(row).is_finite(),
        Col::F64(a) => !a.value(row).is_finite(),
        _ => false,
    }
}

/// Decimal text of an integer without going through `fmt`.
pub(crate) fn push_int(out: &mut Vec<u8>, v: i64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut n = v.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&buf[i..]);
}
