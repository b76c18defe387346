//! Text forms Flink's formats share: timestamps, dates, times, decimals, base64, JSON strings.

use std::fmt::Write as _;

use arrow::datatypes::{DataType, TimeUnit};

/// Number of `\n` bytes, to turn byte offsets into line numbers.
pub(crate) fn count_newlines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|b| **b == b'\n').count() as u64
}

// ---------------------------------------------------------------------------------------------
// Calendar arithmetic (proleptic Gregorian), without allocation.

/// Days since 1970-01-01 of a civil date.
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp as i64 + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count since 1970-01-01.
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing.

fn digits(s: &[u8], at: usize, n: usize) -> Option<u32> {
    let mut v = 0u32;
    for i in at..at + n {
        let b = *s.get(i)?;
        if !b.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (b - b'0') as u32;
    }
    Some(v)
}

/// `yyyy-MM-dd` at the start of `s`, as days since the epoch.
pub(crate) fn parse_date_prefix(s: &[u8]) -> Option<i64> {
    let y = digits(s, 0, 4)?;
    let m = digits(s, 5, 2)?;
    let d = digits(s, 8, 2)?;
    if s[4] != b'-' || s[7] != b'-' || !(1..=12).contains(&m) {
        return None;
    }
    if d == 0 || d > days_in_month(y as i64, m) {
        return None;
    }
    Some(days_from_civil(y as i64, m, d))
}

/// `HH:mm:ss[.fraction]` (fraction 0 to 9 digits) at `s[at..]`: (seconds of day, nanos, end).
fn parse_time_at(s: &[u8], at: usize, seconds_optional: bool) -> Option<(u32, u32, usize)> {
    let h = digits(s, at, 2)?;
    if s.get(at + 2) != Some(&b':') {
        return None;
    }
    let mi = digits(s, at + 3, 2)?;
    let mut end = at + 5;
    let mut sec = 0;
    let mut nanos = 0;
    if s.get(end) == Some(&b':') {
        sec = digits(s, end + 1, 2)?;
        end += 3;
        if s.get(end) == Some(&b'.') {
            end += 1;
            let start = end;
            let mut scale = 100_000_000;
            while let Some(b) = s.get(end).filter(|b| b.is_ascii_digit()) {
                if end - start >= 9 {
                    return None;
                }
                nanos += (b - b'0') as u32 * scale;
                scale /= 10;
                end += 1;
            }
        }
    } else if !seconds_optional {
        return None;
    }
    if h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    Some((h * 3600 + mi * 60 + sec, nanos, end))
}

/// Flink's timestamp text: `yyyy-MM-dd{sep}HH:mm:ss[.fraction]`, then `Z` (any case) when
/// `zulu` (TIMESTAMP_LTZ) and nothing else. Returns (seconds since the epoch, nanos).
pub(crate) fn parse_timestamp(s: &[u8], sep: u8, zulu: bool) -> Option<(i64, u32)> {
    if s.len() < 19 || s[10] != sep {
        return None;
    }
    let days = parse_date_prefix(s)?;
    let (secs, nanos, mut end) = parse_time_at(s, 11, false)?;
    if zulu {
        if !matches!(s.get(end), Some(b'Z' | b'z')) {
            return None;
        }
        end += 1;
    }
    if end != s.len() {
        return None;
    }
    Some((days * 86_400 + secs as i64, nanos))
}

/// The text Flink expects for a timestamp of `data_type`, for error messages.
pub(crate) fn timestamp_pattern(sep: u8, zulu: bool) -> String {
    format!(
        "yyyy-MM-dd{}HH:mm:ss[.SSS]{}",
        sep as char,
        if zulu { "Z" } else { "" }
    )
}

/// Seconds and nanos as a value of `unit`.
pub(crate) fn to_unit(secs: i64, nanos: u32, unit: TimeUnit) -> Option<i64> {
    match unit {
        TimeUnit::Second => Some(secs),
        TimeUnit::Millisecond => secs
            .checked_mul(1_000)?
            .checked_add((nanos / 1_000_000) as i64),
        TimeUnit::Microsecond => secs
            .checked_mul(1_000_000)?
            .checked_add((nanos / 1_000) as i64),
        TimeUnit::Nanosecond => secs.checked_mul(1_000_000_000)?.checked_add(nanos as i64),
    }
}

/// `HH:mm[:ss[.fraction]]` as milliseconds of the day (Java's `LocalTime.parse`).
pub(crate) fn parse_time_millis(s: &[u8]) -> Option<i32> {
    let (secs, nanos, end) = parse_time_at(s, 0, true)?;
    (end == s.len()).then_some((secs * 1000 + nanos / 1_000_000) as i32)
}

/// `yyyy-MM-dd` as days since the epoch.
pub(crate) fn parse_date(s: &[u8]) -> Option<i32> {
    if s.len() != 10 {
        return None;
    }
    parse_date_prefix(s).and_then(|d| i32::try_from(d).ok())
}

// ---------------------------------------------------------------------------------------------
// Writing.

fn push_2(out: &mut Vec<u8>, v: u32) {
    out.push(b'0' + (v / 10) as u8);
    out.push(b'0' + (v % 10) as u8);
}

/// `yyyy-MM-dd` of a day count.
pub(crate) fn write_date(out: &mut Vec<u8>, days: i64) {
    let (y, m, d) = civil_from_days(days);
    if (0..=9999).contains(&y) {
        let y = y as u32;
        push_2(out, y / 100);
        push_2(out, y % 100);
    } else {
        let _ = write!(VecWriter(out), "{y:+}");
    }
    out.push(b'-');
    push_2(out, m);
    out.push(b'-');
    push_2(out, d);
}

/// `.fraction` with trailing zeros dropped, nothing for zero: Java's `appendFraction(0, 9)`.
fn write_fraction(out: &mut Vec<u8>, nanos: u32) {
    if nanos == 0 {
        return;
    }
    let mut digits = [0u8; 9];
    let mut n = nanos;
    for d in digits.iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
    let len = 9 - digits.iter().rev().take_while(|d| **d == b'0').count();
    out.push(b'.');
    out.extend_from_slice(&digits[..len]);
}

/// `HH:mm:ss[.fraction]` of a time of day.
pub(crate) fn write_time(out: &mut Vec<u8>, secs_of_day: u32, nanos: u32) {
    push_2(out, secs_of_day / 3600);
    out.push(b':');
    push_2(out, secs_of_day / 60 % 60);
    out.push(b':');
    push_2(out, secs_of_day % 60);
    write_fraction(out, nanos);
}

/// A timestamp of `unit` as Flink writes it: `yyyy-MM-dd{sep}HH:mm:ss[.fraction][Z]`, the
/// fraction with trailing zeros dropped (Java's `DateTimeFormatter` with `appendFraction(0, 9)`).
pub(crate) fn write_timestamp(out: &mut Vec<u8>, value: i64, unit: TimeUnit, sep: u8, zulu: bool) {
    let (per_sec, nanos_per) = match unit {
        TimeUnit::Second => (1, 1_000_000_000),
        TimeUnit::Millisecond => (1_000, 1_000_000),
        TimeUnit::Microsecond => (1_000_000, 1_000),
        TimeUnit::Nanosecond => (1_000_000_000, 1),
    };
    let secs = value.div_euclid(per_sec);
    let nanos = (value.rem_euclid(per_sec) * nanos_per) as u32;
    write_date(out, secs.div_euclid(86_400));
    out.push(sep);
    write_time(out, secs.rem_euclid(86_400) as u32, nanos);
    if zulu {
        out.push(b'Z');
    }
}

/// A decimal as Java's `BigDecimal.toString` (`plain == false`: scientific when the exponent is
/// small) or `toPlainString` (`plain == true`).
pub(crate) fn write_decimal(out: &mut Vec<u8>, unscaled: i128, scale: i8, plain: bool) {
    let digits = unscaled.unsigned_abs().to_string();
    let scale = scale as i64;
    if unscaled < 0 {
        out.push(b'-');
    }
    let adjusted = -scale + (digits.len() as i64 - 1);
    if plain || (scale >= 0 && adjusted >= -6) {
        if scale <= 0 {
            out.extend_from_slice(digits.as_bytes());
            if unscaled != 0 {
                out.extend(std::iter::repeat_n(b'0', (-scale) as usize));
            }
        } else if digits.len() as i64 > scale {
            let (int, frac) = digits.split_at(digits.len() - scale as usize);
            out.extend_from_slice(int.as_bytes());
            out.push(b'.');
            out.extend_from_slice(frac.as_bytes());
        } else {
            out.extend_from_slice(b"0.");
            out.extend(std::iter::repeat_n(b'0', scale as usize - digits.len()));
            out.extend_from_slice(digits.as_bytes());
        }
        return;
    }
    out.push(digits.as_bytes()[0]);
    if digits.len() > 1 {
        out.push(b'.');
        out.extend_from_slice(&digits.as_bytes()[1..]);
    }
    if adjusted != 0 {
        let _ = write!(VecWriter(out), "E{adjusted:+}");
    }
}

/// Lets `write!` append to a byte vector.
pub(crate) struct VecWriter<'a>(pub &'a mut Vec<u8>);

impl std::fmt::Write for VecWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// A JSON string literal, escaped as Jackson does (short escapes, `\u00XX` for other controls).
pub(crate) fn write_json_string(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if esc.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[(b >> 4) as usize]);
            out.push(HEX[(b & 15) as usize]);
        } else {
            out.extend_from_slice(esc);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

// ---------------------------------------------------------------------------------------------
// Base64 (standard alphabet, padded), as Jackson writes and reads BYTES.

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub(crate) fn write_base64(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut chunks = bytes.chunks_exact(3);
    for c in &mut chunks {
        let n = (c[0] as u32) << 16 | (c[1] as u32) << 8 | c[2] as u32;
        out.extend_from_slice(&[
            B64[(n >> 18) as usize & 63],
            B64[(n >> 12) as usize & 63],
            B64[(n >> 6) as usize & 63],
            B64[n as usize & 63],
        ]);
    }
    match *chunks.remainder() {
        [a] => {
            let n = (a as u32) << 16;
            out.extend_from_slice(&[B64[(n >> 18) as usize & 63], B64[(n >> 12) as usize & 63]]);
            out.extend_from_slice(b"==");
        }
        [a, b] => {
            let n = (a as u32) << 16 | (b as u32) << 8;
            out.extend_from_slice(&[
                B64[(n >> 18) as usize & 63],
                B64[(n >> 12) as usize & 63],
                B64[(n >> 6) as usize & 63],
            ]);
            out.push(b'=');
        }
        _ => {}
    }
}

/// Decodes base64 (standard or URL-safe alphabet; padding optional; whitespace ignored).
pub(crate) fn decode_base64(s: &str, out: &mut Vec<u8>) -> Option<()> {
    let mut acc = 0u32;
    let mut bits = 0;
    let mut padding = false;
    for &b in s.as_bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => {
                padding = true;
                continue;
            }
            b' ' | b'\n' | b'\r' | b'\t' => continue,
            _ => return None,
        };
        if padding {
            return None;
        }
        acc = acc << 6 | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // Leftover bits must be zero padding of fewer than 8 bits (a lone 6-bit char is invalid).
    (bits < 6 && acc == 0).then_some(())
}

/// A timestamp array of `data_type` (any unit, with or without zone) from raw values.
pub(crate) fn timestamp_array(
    data_type: &DataType,
    values: Vec<i64>,
    nulls: Option<arrow::buffer::NullBuffer>,
) -> arrow::array::ArrayRef {
    use arrow::array::PrimitiveArray;
    use arrow::datatypes::{
        TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
        TimestampSecondType,
    };
    use std::sync::Arc;
    let DataType::Timestamp(unit, tz) = data_type else {
        unreachable!("timestamp_array called for {data_type}")
    };
    let tz = tz.clone();
    match unit {
        TimeUnit::Second => Arc::new(
            PrimitiveArray::<TimestampSecondType>::new(values.into(), nulls).with_timezone_opt(tz),
        ),
        TimeUnit::Millisecond => Arc::new(
            PrimitiveArray::<TimestampMillisecondType>::new(values.into(), nulls)
                .with_timezone_opt(tz),
        ),
        TimeUnit::Microsecond => Arc::new(
            PrimitiveArray::<TimestampMicrosecondType>::new(values.into(), nulls)
                .with_timezone_opt(tz),
        ),
        TimeUnit::Nanosecond => Arc::new(
            PrimitiveArray::<TimestampNanosecondType>::new(values.into(), nulls)
                .with_timezone_opt(tz),
        ),
    }
}

// ---------------------------------------------------------------------------------------------

/// Flink's name of `dt`, for messages.
pub(crate) fn flink_name(dt: &DataType) -> String {
    runnel_types::flink_type_name(dt)
}

/// Rewrites Arrow type names in `msg` (`as Int32`) to Flink's (`as INT`).
pub(crate) fn flink_type_names_in(msg: &str) -> String {
    const NAMES: &[(&str, &str)] = &[
        ("Int8", "TINYINT"),
        ("Int16", "SMALLINT"),
        ("Int32", "INT"),
        ("Int64", "BIGINT"),
        ("Float32", "FLOAT"),
        ("Float64", "DOUBLE"),
        ("Date32", "DATE"),
        ("Time32(ms)", "TIME"),
        ("Time32(Millisecond)", "TIME"),
    ];
    let mut m = msg.to_string();
    for (arrow, flink) in NAMES {
        let from = format!(" as {arrow}");
        if m.ends_with(&from) || m.contains(&format!("{from} ")) || m.contains(&format!("{from}:"))
        {
            m = m.replace(&from, &format!(" as {flink}"));
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut v = Vec::new();
        f(&mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn civil_round_trip() {
        for d in [-800_000, -1, 0, 1, 19_723, 2_932_896] {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
        assert_eq!(days_from_civil(2024, 1, 1), 19_723);
    }

    #[test]
    fn timestamps() {
        let ts = parse_timestamp(b"2024-01-01 00:00:01.5", b' ', false).unwrap();
        assert_eq!(ts, (1_704_067_201, 500_000_000));
        assert!(parse_timestamp(b"2024-01-01T00:00:01.5", b' ', false).is_none());
        assert!(parse_timestamp(b"2024-01-01 00:00:01Z", b' ', false).is_none());
        assert!(parse_timestamp(b"2024-02-30 00:00:01", b' ', false).is_none());
        assert_eq!(
            parse_timestamp(b"2024-01-01T00:00:01Z", b'T', true).unwrap(),
            (1_704_067_201, 0)
        );
        assert_eq!(
            s(|o| write_timestamp(o, 1_704_067_201_500, TimeUnit::Millisecond, b' ', false)),
            "2024-01-01 00:00:01.5"
        );
        assert_eq!(
            s(|o| write_timestamp(o, 1_704_067_200_000, TimeUnit::Millisecond, b'T', true)),
            "2024-01-01T00:00:00Z"
        );
        assert_eq!(
            s(|o| write_timestamp(o, -1, TimeUnit::Millisecond, b' ', false)),
            "1969-12-31 23:59:59.999"
        );
        assert_eq!(parse_time_millis(b"12:34"), Some(45_240_000));
        assert_eq!(parse_time_millis(b"12:34:56.789"), Some(45_296_789));
    }

    #[test]
    fn decimals_like_big_decimal() {
        assert_eq!(s(|o| write_decimal(o, 12345, 2, false)), "123.45");
        assert_eq!(s(|o| write_decimal(o, -5, 3, false)), "-0.005");
        assert_eq!(s(|o| write_decimal(o, 27, 9, false)), "2.7E-8");
        assert_eq!(s(|o| write_decimal(o, 27, 9, true)), "0.000000027");
        assert_eq!(s(|o| write_decimal(o, 1, -3, false)), "1E+3");
        assert_eq!(s(|o| write_decimal(o, 1, -3, true)), "1000");
        assert_eq!(s(|o| write_decimal(o, 0, 2, false)), "0.00");
    }

    #[test]
    fn base64_round_trip() {
        for input in [&b""[..], b"f", b"fo", b"foo", b"foob", b"\xff\x00\x10"] {
            let enc = s(|o| write_base64(o, input));
            let mut dec = Vec::new();
            decode_base64(&enc, &mut dec).unwrap();
            assert_eq!(dec, input);
        }
        assert_eq!(s(|o| write_base64(o, b"foob")), "Zm9vYg==");
        assert!(decode_base64("Z", &mut Vec::new()).is_none());
        assert!(decode_base64("Z!==", &mut Vec::new()).is_none());
    }

    #[test]
    fn json_strings() {
        assert_eq!(
            s(|o| write_json_string(o, "a\"b\\c\nd\u{1}é")),
            "\"a\\\"b\\\\c\\nd\\u0001é\""
        );
    }
}
