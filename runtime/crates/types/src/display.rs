use std::fmt::Write;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type,
    Int64Type, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};
use chrono::{DateTime, NaiveDate, NaiveDateTime};

use crate::RowKind;
use crate::java_map::JavaKeys;

/// How values are written out: Flink has two conventions and users see both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlinkFormatter {
    /// Java `toString` of the external types, as the `print` connector writes rows
    /// (`2024-01-01T00:00:01.500`, `null`, `1.0E7`); a MAP prints in the iteration order of
    /// the `java.util.HashMap` Flink converts it to (see [`crate::java_hash_map_order`]).
    Print,
    /// SQL `CAST(.. AS STRING)` rules, as the SQL client's tableau shows values
    /// (`2024-01-01 00:00:01.500`, `<NULL>` is added by the table printer itself).
    Sql,
}

/// Writes `+I[a, b, ...]` for row `row` of `batch`, as Flink's `print` connector does.
pub fn format_row(batch: &RecordBatch, row: usize, kind: RowKind, out: &mut String) {
    out.push_str(kind.short_string());
    out.push('[');
    for (i, col) in batch.columns().iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        FlinkFormatter::Print.write_value(col.as_ref(), row, out);
    }
    out.push(']');
}

impl FlinkFormatter {
    /// Appends the value at `row` of `array`; nulls print as `null`.
    pub fn write_value(self, array: &dyn Array, row: usize, out: &mut String) {
        if array.is_null(row) {
            out.push_str("null");
            return;
        }
        match array.data_type() {
            DataType::Boolean => {
                let v = array.as_boolean().value(row);
                out.push_str(match (self, v) {
                    (FlinkFormatter::Print, true) => "true",
                    (FlinkFormatter::Print, false) => "false",
                    (FlinkFormatter::Sql, true) => "TRUE",
                    (FlinkFormatter::Sql, false) => "FALSE",
                })
            }
            DataType::Int8 => write_display(out, array.as_primitive::<Int8Type>().value(row)),
            DataType::Int16 => write_display(out, array.as_primitive::<Int16Type>().value(row)),
            DataType::Int32 => write_display(out, array.as_primitive::<Int32Type>().value(row)),
            DataType::Int64 => write_display(out, array.as_primitive::<Int64Type>().value(row)),
            DataType::Float32 => write_java_double(
                out,
                array.as_primitive::<Float32Type>().value(row) as f64,
                true,
            ),
            DataType::Float64 => {
                write_java_double(out, array.as_primitive::<Float64Type>().value(row), false)
            }
            DataType::Decimal128(_, scale) => write_decimal(
                out,
                array.as_primitive::<Decimal128Type>().value(row),
                *scale,
            ),
            DataType::Utf8 => out.push_str(array.as_string::<i32>().value(row)),
            DataType::LargeUtf8 => out.push_str(array.as_string::<i64>().value(row)),
            DataType::Utf8View => out.push_str(array.as_string_view().value(row)),
            DataType::Binary => {
                let v = array.as_binary::<i32>().value(row);
                out.push('[');
                for (i, b) in v.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    write_display(out, *b as i8);
                }
                out.push(']');
            }
            DataType::Date32 => {
                let days = array.as_primitive::<Date32Type>().value(row);
                write_date(out, days);
            }
            DataType::Timestamp(unit, tz) => {
                let v = match unit {
                    TimeUnit::Second => array.as_primitive::<TimestampSecondType>().value(row),
                    TimeUnit::Millisecond => {
                        array.as_primitive::<TimestampMillisecondType>().value(row)
                    }
                    TimeUnit::Microsecond => {
                        array.as_primitive::<TimestampMicrosecondType>().value(row)
                    }
                    TimeUnit::Nanosecond => {
                        array.as_primitive::<TimestampNanosecondType>().value(row)
                    }
                };
                let nanos = match unit {
                    TimeUnit::Second => v as i128 * 1_000_000_000,
                    TimeUnit::Millisecond => v as i128 * 1_000_000,
                    TimeUnit::Microsecond => v as i128 * 1_000,
                    TimeUnit::Nanosecond => v as i128,
                };
                let precision = match unit {
                    TimeUnit::Second => 0,
                    TimeUnit::Millisecond => 3,
                    TimeUnit::Microsecond => 6,
                    TimeUnit::Nanosecond => 9,
                };
                self.write_timestamp(out, nanos, precision, tz.is_some());
            }
            DataType::Struct(_) => {
                let s = array.as_struct();
                out.push_str(match self {
                    FlinkFormatter::Print => "+I[",
                    FlinkFormatter::Sql => "(",
                });
                for (i, c) in s.columns().iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    self.write_value(c.as_ref(), row, out);
                }
                out.push(match self {
                    FlinkFormatter::Print => ']',
                    FlinkFormatter::Sql => ')',
                });
            }
            DataType::List(_) => {
                let l = array.as_list::<i32>();
                let values = l.value(row);
                out.push('[');
                for i in 0..values.len() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    self.write_value(values.as_ref(), i, out);
                }
                out.push(']');
            }
            DataType::Map(_, _) => {
                let m = array.as_map();
                let entries = m.value(row);
                let (keys, values) = (entries.column(0).as_ref(), entries.column(1).as_ref());
                // Print: the iteration order of the java.util.HashMap the print connector
                // converts the map to (see `java_map`); the SQL cast keeps MapData order.
                let order = match self {
                    FlinkFormatter::Print => crate::java_map::java_hash_map_order(
                        keys,
                        0..keys.len(),
                        JavaKeys::External,
                    ),
                    FlinkFormatter::Sql => None,
                }
                .unwrap_or_else(|| (0..keys.len()).map(|i| (i, i)).collect());
                out.push('{');
                for (n, (k, v)) in order.into_iter().enumerate() {
                    if n > 0 {
                        out.push_str(", ");
                    }
                    self.write_value(keys, k, out);
                    out.push('=');
                    self.write_value(values, v, out);
                }
                out.push('}');
            }
            _ => {
                let fmt = arrow::util::display::ArrayFormatter::try_new(
                    array,
                    &arrow::util::display::FormatOptions::default(),
                );
                match fmt {
                    Ok(f) => {
                        let _ = write!(out, "{}", f.value(row));
                    }
                    Err(_) => out.push('?'),
                }
            }
        }
    }

    fn write_timestamp(self, out: &mut String, nanos: i128, precision: u32, ltz: bool) {
        let secs = nanos.div_euclid(1_000_000_000) as i64;
        let sub = nanos.rem_euclid(1_000_000_000) as u32;
        let Some(dt) = DateTime::from_timestamp(secs, sub).map(|d| d.naive_utc()) else {
            let _ = write!(out, "{nanos}");
            return;
        };
        match self {
            FlinkFormatter::Print if ltz => write_java_instant(out, &dt),
            FlinkFormatter::Print => write_java_local_date_time(out, &dt),
            FlinkFormatter::Sql => {
                let _ = write!(out, "{}", dt.format("%Y-%m-%d %H:%M:%S"));
                if precision > 0 {
                    let frac = format!("{:09}", dt.and_utc().timestamp_subsec_nanos());
                    out.push('.');
                    out.push_str(&frac[..precision as usize]);
                }
            }
        }
    }
}

fn write_display<T: std::fmt::Display>(out: &mut String, v: T) {
    let _ = write!(out, "{v}");
}

fn write_date(out: &mut String, days: i32) {
    match NaiveDate::from_ymd_opt(1970, 1, 1)
        .and_then(|d| d.checked_add_signed(chrono::Duration::days(days as i64)))
    {
        Some(d) => {
            let _ = write!(out, "{}", d.format("%Y-%m-%d"));
        }
        None => write_display(out, days),
    }
}

/// Java's `LocalDateTime.toString`: seconds only when non-zero, fraction in groups of three.
fn write_java_local_date_time(out: &mut String, dt: &NaiveDateTime) {
    use chrono::Timelike;
    let _ = write!(out, "{}", dt.format("%Y-%m-%dT%H:%M"));
    let nano = dt.nanosecond();
    if dt.second() > 0 || nano > 0 {
        let _ = write!(out, ":{:02}", dt.second());
        write_java_fraction(out, nano);
    }
}

/// Java's `Instant.toString` (ISO-8601 in UTC): unlike `LocalDateTime`, seconds always
/// print; the fraction in groups of three, and a `Z`.
fn write_java_instant(out: &mut String, dt: &NaiveDateTime) {
    use chrono::Timelike;
    let _ = write!(out, "{}", dt.format("%Y-%m-%dT%H:%M:%S"));
    write_java_fraction(out, dt.nanosecond());
    out.push('Z');
}

/// The fraction of a second as `java.time` prints it: nothing when zero, else 3, 6 or 9
/// digits.
fn write_java_fraction(out: &mut String, nano: u32) {
    if nano == 0 {
        return;
    }
    if nano.is_multiple_of(1_000_000) {
        let _ = write!(out, ".{:03}", nano / 1_000_000);
    } else if nano.is_multiple_of(1_000) {
        let _ = write!(out, ".{:06}", nano / 1_000);
    } else {
        let _ = write!(out, ".{nano:09}");
    }
}

/// A decimal in plain notation with exactly `scale` fraction digits, as `BigDecimal.toPlainString`.
fn write_decimal(out: &mut String, unscaled: i128, scale: i8) {
    if scale <= 0 {
        let _ = write!(out, "{unscaled}");
        for _ in 0..(-scale) {
            out.push('0');
        }
        return;
    }
    let neg = unscaled < 0;
    let digits = unscaled.unsigned_abs().to_string();
    let scale = scale as usize;
    if neg {
        out.push('-');
    }
    if digits.len() <= scale {
        out.push_str("0.");
        for _ in 0..(scale - digits.len()) {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        let (int, frac) = digits.split_at(digits.len() - scale);
        out.push_str(int);
        out.push('.');
        out.push_str(frac);
    }
}

/// Java's `Double.toString`: plain between 1e-3 and 1e7, else `d.dddE±n`; always a fraction digit.
pub(crate) fn write_java_double(out: &mut String, v: f64, single: bool) {
    if v.is_nan() {
        out.push_str("NaN");
        return;
    }
    if v.is_infinite() {
        out.push_str(if v > 0.0 { "Infinity" } else { "-Infinity" });
        return;
    }
    if v == 0.0 {
        out.push_str(if v.is_sign_negative() { "-0.0" } else { "0.0" });
        return;
    }
    // Shortest round-trip digits, from Rust's scientific formatting.
    let sci = if single {
        format!("{:e}", v as f32)
    } else {
        format!("{v:e}")
    };
    let (mantissa, exp) = sci
        .split_once('e')
        .expect("scientific format has an exponent");
    let exp: i32 = exp.parse().expect("exponent is an integer");
    let (neg, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if neg {
        out.push('-');
    }
    let abs = v.abs();
    if (1e-3..1e7).contains(&abs) {
        if exp >= 0 {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                out.push_str(&digits);
                for _ in digits.len()..int_len {
                    out.push('0');
                }
                out.push_str(".0");
            } else {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            }
        } else {
            out.push_str("0.");
            for _ in 0..(-exp - 1) {
                out.push('0');
            }
            out.push_str(&digits);
        }
    } else {
        out.push_str(&digits[..1]);
        out.push('.');
        if digits.len() > 1 {
            out.push_str(&digits[1..]);
        } else {
            out.push('0');
        }
        let _ = write!(out, "E{exp}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jd(v: f64) -> String {
        let mut s = String::new();
        write_java_double(&mut s, v, false);
        s
    }

    #[test]
    fn doubles_print_like_java() {
        assert_eq!(jd(1.0), "1.0");
        assert_eq!(jd(0.1), "0.1");
        assert_eq!(jd(123.456), "123.456");
        assert_eq!(jd(1e7), "1.0E7");
        assert_eq!(jd(12345678.9), "1.23456789E7");
        assert_eq!(jd(0.001), "0.001");
        assert_eq!(jd(0.0001), "1.0E-4");
        assert_eq!(jd(-2.5), "-2.5");
        assert_eq!(jd(9999999.0), "9999999.0");
    }

    #[test]
    fn decimals_print_plain() {
        let mut s = String::new();
        write_decimal(&mut s, -5, 3);
        assert_eq!(s, "-0.005");
        s.clear();
        write_decimal(&mut s, 123450, 2);
        assert_eq!(s, "1234.50");
    }

    #[test]
    fn timestamps_print_like_local_date_time() {
        let mut s = String::new();
        let dt = DateTime::from_timestamp_millis(1_704_067_200_000)
            .unwrap()
            .naive_utc();
        write_java_local_date_time(&mut s, &dt);
        assert_eq!(s, "2024-01-01T00:00");
        s.clear();
        let dt = DateTime::from_timestamp_millis(1_704_067_201_500)
            .unwrap()
            .naive_utc();
        write_java_local_date_time(&mut s, &dt);
        assert_eq!(s, "2024-01-01T00:00:01.500");
    }
}
