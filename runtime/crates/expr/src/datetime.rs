//! Date and time helpers: Java `DateTimeFormatter`-style patterns, Flink's lenient timestamp
//! parsing and session time-zone offsets.

use std::fmt::Write;

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};

pub(crate) const MILLIS_PER_DAY: i64 = 86_400_000;

/// The offset in seconds east of UTC of a session time zone given as `UTC`, `Z`, `GMT`,
/// `+08:00`, `-0330`, `UTC+8` or `GMT+08:00`; `None` for region names (not supported yet).
pub fn parse_time_zone_offset(zone: &str) -> Option<i32> {
    let z = zone.trim();
    let upper = z.to_ascii_uppercase();
    let rest = if upper == "UTC" || upper == "Z" || upper == "GMT" || upper == "UT" {
        return Some(0);
    } else if let Some(r) = upper
        .strip_prefix("UTC")
        .or_else(|| upper.strip_prefix("GMT"))
        .or_else(|| upper.strip_prefix("UT"))
    {
        r.to_string()
    } else {
        upper.clone()
    };
    let (sign, body) = match rest.as_bytes().first()? {
        b'+' => (1, &rest[1..]),
        b'-' => (-1, &rest[1..]),
        _ => return None,
    };
    let (h, m) = if let Some((h, m)) = body.split_once(':') {
        (h.parse::<i32>().ok()?, m.parse::<i32>().ok()?)
    } else if body.len() == 4 {
        (
            body[..2].parse::<i32>().ok()?,
            body[2..].parse::<i32>().ok()?,
        )
    } else {
        (body.parse::<i32>().ok()?, 0)
    };
    if h > 18 || m > 59 {
        return None;
    }
    Some(sign * (h * 3600 + m * 60))
}

/// Epoch milliseconds to a naive date-time (UTC wall clock).
pub(crate) fn millis_to_naive(ms: i64) -> Option<NaiveDateTime> {
    chrono::DateTime::from_timestamp_millis(ms).map(|d| d.naive_utc())
}

/// Epoch microseconds to a naive date-time.
pub(crate) fn micros_to_naive(us: i64) -> Option<NaiveDateTime> {
    chrono::DateTime::from_timestamp_micros(us).map(|d| d.naive_utc())
}

pub(crate) fn naive_to_millis(dt: &NaiveDateTime) -> i64 {
    dt.and_utc().timestamp_millis()
}

pub(crate) fn epoch_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date")
}

pub(crate) fn date_to_days(d: &NaiveDate) -> i32 {
    d.num_days_from_ce() - epoch_date().num_days_from_ce()
}

fn digits(s: &[u8], pos: &mut usize, min: usize, max: usize) -> Option<u32> {
    let start = *pos;
    let mut v: u32 = 0;
    while *pos < s.len() && *pos - start < max && s[*pos].is_ascii_digit() {
        v = v * 10 + (s[*pos] - b'0') as u32;
        *pos += 1;
    }
    if *pos - start < min { None } else { Some(v) }
}

/// Parses a date `yyyy-[m]m-[d]d` (surrounding blanks allowed).
pub(crate) fn parse_date(s: &str) -> Option<NaiveDate> {
    let b = s.trim().as_bytes();
    let mut pos = 0;
    let (date, end) = parse_date_prefix(b, &mut pos)?;
    let _ = end;
    if pos != b.len() {
        return None;
    }
    Some(date)
}

fn parse_date_prefix(b: &[u8], pos: &mut usize) -> Option<(NaiveDate, usize)> {
    let neg = b.first() == Some(&b'-');
    if neg {
        *pos += 1;
    }
    let y = digits(b, pos, 1, 9)? as i32;
    if b.get(*pos) != Some(&b'-') {
        return None;
    }
    *pos += 1;
    let m = digits(b, pos, 1, 2)?;
    if b.get(*pos) != Some(&b'-') {
        return None;
    }
    *pos += 1;
    let d = digits(b, pos, 1, 2)?;
    let y = if neg { -y } else { y };
    Some((NaiveDate::from_ymd_opt(y, m, d)?, *pos))
}

fn parse_time_at(b: &[u8], pos: &mut usize) -> Option<(NaiveTime, u32)> {
    let h = digits(b, pos, 1, 2)?;
    if b.get(*pos) != Some(&b':') {
        return None;
    }
    *pos += 1;
    let mi = digits(b, pos, 1, 2)?;
    let mut sec = 0;
    let mut nanos = 0;
    if b.get(*pos) == Some(&b':') {
        *pos += 1;
        sec = digits(b, pos, 1, 2)?;
        if b.get(*pos) == Some(&b'.') {
            *pos += 1;
            let start = *pos;
            let f = digits(b, pos, 1, 9)?;
            let n = *pos - start;
            nanos = f * 10u32.pow(9 - n as u32);
        }
    }
    Some((NaiveTime::from_hms_nano_opt(h, mi, sec, nanos)?, nanos))
}

/// Parses a time `HH:mm[:ss[.fffffffff]]`.
pub(crate) fn parse_time(s: &str) -> Option<NaiveTime> {
    let b = s.trim().as_bytes();
    let mut pos = 0;
    let (t, _) = parse_time_at(b, &mut pos)?;
    if pos != b.len() {
        return None;
    }
    Some(t)
}

/// Parses a timestamp as Flink's CAST does: `yyyy-MM-dd`, optionally followed by ` ` or `T`
/// and `HH:mm[:ss[.fffffffff]]`.
pub(crate) fn parse_timestamp(s: &str) -> Option<NaiveDateTime> {
    let b = s.trim().as_bytes();
    let mut pos = 0;
    let (date, _) = parse_date_prefix(b, &mut pos)?;
    if pos == b.len() {
        return date.and_hms_opt(0, 0, 0);
    }
    if b[pos] != b' ' && b[pos] != b'T' {
        return None;
    }
    pos += 1;
    let (time, _) = parse_time_at(b, &mut pos)?;
    if pos != b.len() {
        return None;
    }
    Some(NaiveDateTime::new(date, time))
}

const DIGIT_PAIRS: &str = "00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899";

/// Writes `v` zero-padded to `width` digits without going through `format!` machinery.
fn push_num<W: Write>(out: &mut W, v: i64, width: usize) -> std::fmt::Result {
    if (0..100).contains(&v) && width <= 2 {
        let i = v as usize * 2;
        return if width == 2 || v >= 10 {
            out.write_str(&DIGIT_PAIRS[i..i + 2])
        } else {
            out.write_str(&DIGIT_PAIRS[i + 1..i + 2])
        };
    }
    if (1000..10_000).contains(&v) && width <= 4 {
        let (hi, lo) = (v as usize / 100 * 2, v as usize % 100 * 2);
        out.write_str(&DIGIT_PAIRS[hi..hi + 2])?;
        return out.write_str(&DIGIT_PAIRS[lo..lo + 2]);
    }
    if v < 0 {
        out.write_char('-')?;
    }
    let mut x = v.unsigned_abs();
    let mut buf = [b'0'; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (x % 10) as u8;
        x /= 10;
        if x == 0 {
            break;
        }
    }
    for _ in (buf.len() - i)..width {
        out.write_char('0')?;
    }
    out.write_str(std::str::from_utf8(&buf[i..]).unwrap_or("0"))
}

/// The calendar fields a formatter needs; implemented by chrono's `NaiveDateTime` and by the
/// cheaper [`Parts`] computed arithmetically from epoch values.
pub(crate) trait DateParts {
    fn y(&self) -> i32;
    fn mo(&self) -> u32;
    fn d(&self) -> u32;
    fn h(&self) -> u32;
    fn mi(&self) -> u32;
    fn s(&self) -> u32;
    fn ns(&self) -> u32;
    fn date(&self) -> NaiveDate;
}

impl DateParts for NaiveDateTime {
    fn y(&self) -> i32 {
        self.year()
    }
    fn mo(&self) -> u32 {
        self.month()
    }
    fn d(&self) -> u32 {
        self.day()
    }
    fn h(&self) -> u32 {
        self.hour()
    }
    fn mi(&self) -> u32 {
        self.minute()
    }
    fn s(&self) -> u32 {
        self.second()
    }
    fn ns(&self) -> u32 {
        self.nanosecond() % 1_000_000_000
    }
    fn date(&self) -> NaiveDate {
        NaiveDateTime::date(self)
    }
}

/// Calendar fields of an epoch instant, by integer arithmetic (Hinnant's civil-from-days).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Parts {
    pub year: i32,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub nanos: u32,
}

impl Parts {
    /// From seconds since the epoch and a sub-second nanosecond part.
    pub(crate) fn from_secs(secs: i64, nanos: u32) -> Parts {
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400) as u32;
        let (year, month, day) = civil_from_days(days);
        Parts {
            year,
            month,
            day,
            hour: sod / 3600,
            minute: sod / 60 % 60,
            second: sod % 60,
            nanos,
        }
    }

    pub(crate) fn from_millis(ms: i64) -> Parts {
        Parts::from_secs(
            ms.div_euclid(1000),
            (ms.rem_euclid(1000) * 1_000_000) as u32,
        )
    }
}

/// (year, month, day) of a day count since 1970-01-01.
pub(crate) fn civil_from_days(days: i64) -> (i32, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    (y as i32, m, d)
}

impl DateParts for Parts {
    fn y(&self) -> i32 {
        self.year
    }
    fn mo(&self) -> u32 {
        self.month
    }
    fn d(&self) -> u32 {
        self.day
    }
    fn h(&self) -> u32 {
        self.hour
    }
    fn mi(&self) -> u32 {
        self.minute
    }
    fn s(&self) -> u32 {
        self.second
    }
    fn ns(&self) -> u32 {
        self.nanos
    }
    fn date(&self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, self.day).unwrap_or_else(epoch_date)
    }
}

/// Writes `yyyy-MM-dd HH:mm:ss[.f..]` with `precision` fraction digits, as Flink's
/// `CAST(timestamp AS STRING)`.
pub(crate) fn write_sql_timestamp<W: Write>(
    p: &Parts,
    precision: u32,
    out: &mut W,
) -> std::fmt::Result {
    push_num(out, p.year as i64, 4)?;
    out.write_char('-')?;
    push_num(out, p.month as i64, 2)?;
    out.write_char('-')?;
    push_num(out, p.day as i64, 2)?;
    out.write_char(' ')?;
    push_num(out, p.hour as i64, 2)?;
    out.write_char(':')?;
    push_num(out, p.minute as i64, 2)?;
    out.write_char(':')?;
    push_num(out, p.second as i64, 2)?;
    if precision > 0 {
        out.write_char('.')?;
        let p9 = precision.min(9);
        push_num(out, (p.nanos / 10u32.pow(9 - p9)) as i64, p9 as usize)?;
    }
    Ok(())
}

/// One element of a Java date-time pattern.
#[derive(Debug, Clone, PartialEq)]
enum Item {
    Literal(String),
    Year(usize),
    Month(usize),
    MonthText(bool),
    Day(usize),
    DayOfYear(usize),
    Hour24(usize),
    Hour12(usize),
    Hour0To11(usize),
    Hour1To24(usize),
    Minute(usize),
    Second(usize),
    Fraction(usize),
    AmPm,
    DayOfWeekText(bool),
    DayOfWeekNumber,
    WeekOfYear(usize),
    Offset(usize),
    Quarter(usize),
}

/// A compiled Java `SimpleDateFormat` / `DateTimeFormatter` pattern (`yyyy-MM-dd HH:mm:ss`),
/// so DATE_FORMAT and friends format without re-reading the pattern per row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct JavaFormat {
    items: Vec<Item>,
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

impl JavaFormat {
    /// Compiles a pattern; letters without meaning here are an error.
    pub(crate) fn compile(pattern: &str) -> Result<JavaFormat, String> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut items = Vec::new();
        let mut i = 0;
        let mut lit = String::new();
        while i < chars.len() {
            let c = chars[i];
            if c == '\'' {
                // Quoted literal; '' is a single quote.
                if chars.get(i + 1) == Some(&'\'') {
                    lit.push('\'');
                    i += 2;
                    continue;
                }
                i += 1;
                while i < chars.len() {
                    if chars[i] == '\'' {
                        if chars.get(i + 1) == Some(&'\'') {
                            lit.push('\'');
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    lit.push(chars[i]);
                    i += 1;
                }
                i += 1;
                continue;
            }
            if !c.is_ascii_alphabetic() {
                lit.push(c);
                i += 1;
                continue;
            }
            let mut n = 1;
            while i + n < chars.len() && chars[i + n] == c {
                n += 1;
            }
            if !lit.is_empty() {
                items.push(Item::Literal(std::mem::take(&mut lit)));
            }
            items.push(match c {
                'y' | 'u' | 'Y' => Item::Year(n),
                'M' | 'L' => {
                    if n >= 3 {
                        Item::MonthText(n >= 4)
                    } else {
                        Item::Month(n)
                    }
                }
                'd' => Item::Day(n),
                'D' => Item::DayOfYear(n),
                'H' => Item::Hour24(n),
                'h' => Item::Hour12(n),
                'K' => Item::Hour0To11(n),
                'k' => Item::Hour1To24(n),
                'm' => Item::Minute(n),
                's' => Item::Second(n),
                'S' => Item::Fraction(n),
                'a' => Item::AmPm,
                'E' => Item::DayOfWeekText(n >= 4),
                'e' | 'c' => Item::DayOfWeekNumber,
                'w' => Item::WeekOfYear(n),
                'Q' | 'q' => Item::Quarter(n),
                'Z' | 'X' | 'x' => Item::Offset(n),
                other => return Err(format!("unsupported pattern letter '{other}'")),
            });
            i += n;
        }
        if !lit.is_empty() {
            items.push(Item::Literal(lit));
        }
        Ok(JavaFormat { items })
    }

    /// Writes `dt` formatted; never allocates.
    pub(crate) fn format<W: Write>(&self, dt: &impl DateParts, out: &mut W) -> std::fmt::Result {
        for item in &self.items {
            match item {
                Item::Literal(s) => out.write_str(s)?,
                Item::Year(n) => {
                    if *n == 2 {
                        push_num(out, dt.y().rem_euclid(100) as i64, 2)?
                    } else {
                        push_num(out, dt.y() as i64, *n)?
                    }
                }
                Item::Month(n) => push_num(out, dt.mo() as i64, *n)?,
                Item::MonthText(full) => {
                    let name = MONTHS[(dt.mo() - 1) as usize];
                    out.write_str(if *full { name } else { &name[..3] })?
                }
                Item::Day(n) => push_num(out, dt.d() as i64, *n)?,
                Item::DayOfYear(n) => push_num(out, dt.date().ordinal() as i64, *n)?,
                Item::Hour24(n) => push_num(out, dt.h() as i64, *n)?,
                Item::Hour12(n) => {
                    let h = dt.h() % 12;
                    push_num(out, (if h == 0 { 12 } else { h }) as i64, *n)?
                }
                Item::Hour0To11(n) => push_num(out, (dt.h() % 12) as i64, *n)?,
                Item::Hour1To24(n) => {
                    let h = dt.h();
                    push_num(out, (if h == 0 { 24 } else { h }) as i64, *n)?
                }
                Item::Minute(n) => push_num(out, dt.mi() as i64, *n)?,
                Item::Second(n) => push_num(out, dt.s() as i64, *n)?,
                Item::Fraction(n) => {
                    let nanos = dt.ns() % 1_000_000_000;
                    let n = (*n).min(9);
                    let v = nanos / 10u32.pow(9 - n as u32);
                    push_num(out, v as i64, n)?
                }
                Item::AmPm => out.write_str(if dt.h() < 12 { "AM" } else { "PM" })?,
                Item::DayOfWeekText(full) => {
                    let name = DAYS[dt.date().weekday().num_days_from_monday() as usize];
                    out.write_str(if *full { name } else { &name[..3] })?
                }
                Item::DayOfWeekNumber => push_num(
                    out,
                    dt.date().weekday().num_days_from_sunday() as i64 + 1,
                    1,
                )?,
                Item::WeekOfYear(n) => push_num(out, dt.date().iso_week().week() as i64, *n)?,
                Item::Quarter(n) => push_num(out, ((dt.mo() - 1) / 3 + 1) as i64, *n)?,
                Item::Offset(n) => out.write_str(if *n >= 3 { "+00:00" } else { "+0000" })?,
            }
        }
        Ok(())
    }

    /// Parses `s` with this pattern; fields absent from the pattern default to 1970-01-01
    /// 00:00:00. `None` when the text does not match.
    pub(crate) fn parse(&self, s: &str) -> Option<NaiveDateTime> {
        let b = s.trim().as_bytes();
        let mut pos = 0;
        let (mut y, mut mo, mut d, mut h, mut mi, mut sec, mut nanos) = (1970i32, 1, 1, 0, 0, 0, 0);
        let mut pm: Option<bool> = None;
        let mut doy: Option<u32> = None;
        let count = self.items.len();
        for (idx, item) in self.items.iter().enumerate() {
            // A numeric field directly followed by another numeric field takes its exact width.
            let next_numeric =
                idx + 1 < count && !matches!(self.items[idx + 1], Item::Literal(_) | Item::AmPm);
            let width = |n: usize, default_max: usize| {
                if next_numeric {
                    (n, n)
                } else {
                    (1, default_max.max(n))
                }
            };
            match item {
                Item::Literal(l) => {
                    let lb = l.as_bytes();
                    if b.len() < pos + lb.len() || &b[pos..pos + lb.len()] != lb {
                        return None;
                    }
                    pos += lb.len();
                }
                Item::Year(n) => {
                    let (mn, mx) = if *n == 2 { (2, 2) } else { width(*n, 9) };
                    let v = digits(b, &mut pos, mn, mx)? as i32;
                    y = if *n == 2 { 2000 + v } else { v };
                }
                Item::Month(n) => {
                    let (mn, mx) = width(*n, 2);
                    mo = digits(b, &mut pos, mn, mx)?
                }
                Item::MonthText(_) => {
                    let rest = &s.trim()[pos..];
                    let mut found = false;
                    for (i, name) in MONTHS.iter().enumerate() {
                        for cand in [*name, &name[..3]] {
                            if rest.len() >= cand.len()
                                && rest[..cand.len()].eq_ignore_ascii_case(cand)
                            {
                                mo = i as u32 + 1;
                                pos += cand.len();
                                found = true;
                                break;
                            }
                        }
                        if found {
                            break;
                        }
                    }
                    if !found {
                        return None;
                    }
                }
                Item::Day(n) => {
                    let (mn, mx) = width(*n, 2);
                    d = digits(b, &mut pos, mn, mx)?
                }
                Item::DayOfYear(n) => {
                    let (mn, mx) = width(*n, 3);
                    doy = Some(digits(b, &mut pos, mn, mx)?)
                }
                Item::Hour24(n) | Item::Hour12(n) | Item::Hour0To11(n) | Item::Hour1To24(n) => {
                    let (mn, mx) = width(*n, 2);
                    h = digits(b, &mut pos, mn, mx)?;
                    if matches!(item, Item::Hour1To24(_)) && h == 24 {
                        h = 0;
                    }
                    if matches!(item, Item::Hour12(_)) && h == 12 {
                        h = 0;
                    }
                }
                Item::Minute(n) => {
                    let (mn, mx) = width(*n, 2);
                    mi = digits(b, &mut pos, mn, mx)?
                }
                Item::Second(n) => {
                    let (mn, mx) = width(*n, 2);
                    sec = digits(b, &mut pos, mn, mx)?
                }
                Item::Fraction(n) => {
                    let start = pos;
                    let (mn, mx) = if next_numeric { (*n, *n) } else { (1, 9) };
                    let v = digits(b, &mut pos, mn, mx)?;
                    let len = pos - start;
                    nanos = v * 10u32.pow(9 - len as u32);
                }
                Item::AmPm => {
                    let rest = &b[pos..];
                    if rest.len() < 2 {
                        return None;
                    }
                    pm = match &rest[..2] {
                        x if x.eq_ignore_ascii_case(b"AM") => Some(false),
                        x if x.eq_ignore_ascii_case(b"PM") => Some(true),
                        _ => return None,
                    };
                    pos += 2;
                }
                Item::DayOfWeekText(_) => {
                    let rest = &s.trim()[pos..];
                    let mut found = false;
                    for name in DAYS {
                        for cand in [name, &name[..3]] {
                            if rest.len() >= cand.len()
                                && rest[..cand.len()].eq_ignore_ascii_case(cand)
                            {
                                pos += cand.len();
                                found = true;
                                break;
                            }
                        }
                        if found {
                            break;
                        }
                    }
                    if !found {
                        return None;
                    }
                }
                Item::DayOfWeekNumber | Item::WeekOfYear(_) | Item::Quarter(_) => {
                    digits(b, &mut pos, 1, 2)?;
                }
                Item::Offset(_) => {
                    // Accept Z or +hh[:mm]; the value is ignored (wall-clock parse).
                    if b.get(pos) == Some(&b'Z') {
                        pos += 1;
                    } else if matches!(b.get(pos), Some(b'+') | Some(b'-')) {
                        pos += 1;
                        digits(b, &mut pos, 2, 2)?;
                        if b.get(pos) == Some(&b':') {
                            pos += 1;
                        }
                        let _ = digits(b, &mut pos, 0, 2);
                    } else {
                        return None;
                    }
                }
            }
        }
        if pos != b.len() {
            return None;
        }
        if pm == Some(true) {
            h += 12;
        }
        let date = match doy {
            Some(doy) => NaiveDate::from_yo_opt(y, doy)?,
            None => NaiveDate::from_ymd_opt(y, mo, d)?,
        };
        let time = NaiveTime::from_hms_nano_opt(h, mi, sec, nanos)?;
        Some(NaiveDateTime::new(date, time))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets() {
        assert_eq!(parse_time_zone_offset("UTC"), Some(0));
        assert_eq!(parse_time_zone_offset("+08:00"), Some(8 * 3600));
        assert_eq!(
            parse_time_zone_offset("GMT-03:30"),
            Some(-(3 * 3600 + 1800))
        );
        assert_eq!(parse_time_zone_offset("UTC+8"), Some(8 * 3600));
        assert_eq!(parse_time_zone_offset("Asia/Shanghai"), None);
    }

    #[test]
    fn java_patterns() {
        let dt = parse_timestamp("2024-03-05 07:08:09.123").unwrap();
        let mut s = String::new();
        JavaFormat::compile("yyyy-MM-dd HH:mm:ss.SSS")
            .unwrap()
            .format(&dt, &mut s)
            .unwrap();
        assert_eq!(s, "2024-03-05 07:08:09.123");
        s.clear();
        JavaFormat::compile("yy/M/d h:mm a EEE MMM 'o''clock' ''")
            .unwrap()
            .format(&dt, &mut s)
            .unwrap();
        assert_eq!(s, "24/3/5 7:08 AM Tue Mar o'clock '");
        let f = JavaFormat::compile("yyyyMMddHHmmss").unwrap();
        assert_eq!(
            f.parse("20240305070809"),
            parse_timestamp("2024-03-05 07:08:09")
        );
        assert_eq!(
            JavaFormat::compile("dd/MM/yyyy").unwrap().parse("5/3/2024"),
            parse_timestamp("2024-03-05")
        );
    }

    #[test]
    fn civil_dates() {
        for days in [-719_468i64, -1, 0, 59, 365, 11_016, 19_737, 2_932_896] {
            let d = epoch_date() + chrono::Duration::days(days);
            assert_eq!(
                civil_from_days(days),
                (d.year(), d.month(), d.day()),
                "{days}"
            );
        }
        let p = Parts::from_millis(-1);
        assert_eq!((p.year, p.second, p.nanos), (1969, 59, 999_000_000));
        let mut s = String::new();
        write_sql_timestamp(&Parts::from_millis(1_705_314_645_123), 3, &mut s).unwrap();
        assert_eq!(s, "2024-01-15 10:30:45.123");
    }

    #[test]
    fn lenient_timestamps() {
        assert!(parse_timestamp("2024-01-01T10:00").is_some());
        assert!(parse_timestamp(" 2024-01-01 10:00:00.5 ").is_some());
        assert!(parse_timestamp("2024-13-01").is_none());
        assert!(parse_timestamp("abc").is_none());
        assert_eq!(parse_date("2024-1-2"), NaiveDate::from_ymd_opt(2024, 1, 2));
    }
}
