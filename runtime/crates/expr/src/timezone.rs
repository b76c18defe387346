//! Session time zones (`table.local-time-zone`): a fixed offset or an IANA region whose offset
//! follows its daylight-saving rules, and the conversions between instants (TIMESTAMP_LTZ) and
//! local wall-clock time (TIMESTAMP, DATE, TIME) that Flink does in that zone.

use std::fmt;

use chrono::{Offset, TimeZone};
use chrono_tz::Tz;

use crate::datetime::parse_time_zone_offset;

/// The time zone TIMESTAMP_LTZ values are shown and interpreted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionTimeZone {
    /// A constant offset in seconds east of UTC (`UTC`, `+08:00`, `GMT-03:00`).
    Fixed(i32),
    /// A region of the IANA time-zone database (`Asia/Tokyo`, `America/New_York`).
    Region(Tz),
}

impl Default for SessionTimeZone {
    fn default() -> Self {
        SessionTimeZone::UTC
    }
}

impl fmt::Display for SessionTimeZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionTimeZone::Fixed(0) => f.write_str("UTC"),
            SessionTimeZone::Fixed(secs) => {
                let sign = if *secs < 0 { '-' } else { '+' };
                let a = secs.unsigned_abs();
                write!(f, "{sign}{:02}:{:02}", a / 3600, a / 60 % 60)?;
                if a % 60 != 0 {
                    write!(f, ":{:02}", a % 60)?;
                }
                Ok(())
            }
            SessionTimeZone::Region(tz) => f.write_str(tz.name()),
        }
    }
}

/// One day in seconds.
const DAY_SECS: i64 = 86_400;

impl SessionTimeZone {
    /// Coordinated Universal Time.
    pub const UTC: SessionTimeZone = SessionTimeZone::Fixed(0);

    /// Parses a zone as `table.local-time-zone` accepts it: a region name as Java's `ZoneId.of`
    /// knows it (case-sensitive: `Asia/Tokyo`, `Europe/Berlin`, `US/Pacific`), `UTC` / `GMT` /
    /// `Z`, or a fixed offset (`+08:00`, `-0330`, `GMT-03:00`, `UTC+8`). `default` (Flink's
    /// default value, the JVM's zone) is UTC, the zone Runnel's processes run in. `None` when
    /// the text is none of these.
    pub fn parse(name: &str) -> Option<SessionTimeZone> {
        let name = name.trim();
        if name.eq_ignore_ascii_case("default") {
            return Some(SessionTimeZone::UTC);
        }
        if let Some(secs) = parse_time_zone_offset(name) {
            return Some(SessionTimeZone::Fixed(secs));
        }
        name.parse::<Tz>().ok().map(SessionTimeZone::Region)
    }

    /// The offset in seconds when it never changes (`None` for regions).
    pub fn fixed_offset_secs(self) -> Option<i32> {
        match self {
            SessionTimeZone::Fixed(secs) => Some(secs),
            SessionTimeZone::Region(_) => None,
        }
    }

    /// The offset (seconds east of UTC) in force at the instant `utc_secs` (epoch seconds).
    pub fn offset_at_instant(self, utc_secs: i64) -> i32 {
        match self {
            SessionTimeZone::Fixed(secs) => secs,
            SessionTimeZone::Region(tz) => match chrono::DateTime::from_timestamp(utc_secs, 0) {
                Some(dt) => tz
                    .offset_from_utc_datetime(&dt.naive_utc())
                    .fix()
                    .local_minus_utc(),
                None => 0,
            },
        }
    }

    /// The offset (seconds east of UTC) that turns the local wall-clock time `local_secs`
    /// (seconds since 1970-01-01 00:00 local) into an instant, as Java's
    /// `LocalDateTime.atZone(zone).toInstant()` does: where clocks were set back and the time
    /// occurs twice, the earlier instant (the offset before the change); where clocks were set
    /// forward and the time does not exist, the offset before the change too, so the result is
    /// the time moved later by the length of the gap.
    pub fn offset_for_local(self, local_secs: i64) -> i32 {
        self.resolve_local(local_secs, true)
    }

    /// As [`SessionTimeZone::offset_for_local`], but where the time occurs twice the later
    /// instant (the offset after the change), as `java.util.GregorianCalendar` and so
    /// `SimpleDateFormat.parse` resolve it (Flink's `UNIX_TIMESTAMP(string[, format])`).
    pub fn offset_for_local_calendar(self, local_secs: i64) -> i32 {
        self.resolve_local(local_secs, false)
    }

    fn resolve_local(self, local_secs: i64, earlier: bool) -> i32 {
        let tz = match self {
            SessionTimeZone::Fixed(secs) => return secs,
            SessionTimeZone::Region(tz) => tz,
        };
        let Some(local) = chrono::DateTime::from_timestamp(local_secs, 0).map(|d| d.naive_utc())
        else {
            return 0;
        };
        match tz.offset_from_local_datetime(&local) {
            chrono::LocalResult::Single(o) => o.fix().local_minus_utc(),
            chrono::LocalResult::Ambiguous(a, b) => {
                let (a, b) = (a.fix().local_minus_utc(), b.fix().local_minus_utc());
                // The earlier instant has the larger offset.
                if earlier { a.max(b) } else { a.min(b) }
            }
            // In a gap: the offset in force a day earlier, before the transition (offsets
            // stay within ±18 hours and no zone changes offset twice within two days).
            chrono::LocalResult::None => self.offset_at_instant(local_secs - DAY_SECS),
        }
    }

    /// Local wall-clock epoch milliseconds of the instant `utc_ms`.
    pub fn to_local_millis(self, utc_ms: i64) -> i64 {
        utc_ms + self.offset_at_instant(utc_ms.div_euclid(1000)) as i64 * 1000
    }

    /// The instant (epoch milliseconds) of the local wall-clock time `local_ms`, with the
    /// rules of [`SessionTimeZone::offset_for_local`].
    pub fn to_utc_millis(self, local_ms: i64) -> i64 {
        local_ms - self.offset_for_local(local_ms.div_euclid(1000)) as i64 * 1000
    }

    /// Local wall-clock value of the instant `v`, both counted in units of which there are
    /// `per_sec` in a second.
    pub(crate) fn to_local_units(self, v: i64, per_sec: i64) -> i64 {
        v + self.offset_at_instant(v.div_euclid(per_sec)) as i64 * per_sec
    }

    /// The instant of the local wall-clock value `v`, both counted in units of which there
    /// are `per_sec` in a second.
    pub(crate) fn to_utc_units(self, v: i64, per_sec: i64) -> i64 {
        v - self.offset_for_local(v.div_euclid(per_sec)) as i64 * per_sec
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local_ms(s: &str) -> i64 {
        crate::datetime::parse_timestamp(s)
            .unwrap()
            .and_utc()
            .timestamp_millis()
    }

    #[test]
    fn parses_names_and_offsets() {
        assert_eq!(SessionTimeZone::parse("UTC"), Some(SessionTimeZone::UTC));
        assert_eq!(
            SessionTimeZone::parse("+08:00"),
            Some(SessionTimeZone::Fixed(8 * 3600))
        );
        assert_eq!(
            SessionTimeZone::parse("GMT-03:00"),
            Some(SessionTimeZone::Fixed(-3 * 3600))
        );
        assert_eq!(
            SessionTimeZone::parse("Asia/Tokyo"),
            Some(SessionTimeZone::Region(Tz::Asia__Tokyo))
        );
        assert_eq!(
            SessionTimeZone::parse("Etc/UTC"),
            Some(SessionTimeZone::Region(Tz::Etc__UTC))
        );
        assert_eq!(SessionTimeZone::parse("Asia/Tokio"), None);
        assert_eq!(SessionTimeZone::parse("asia/tokyo"), None);
        assert_eq!(
            SessionTimeZone::parse("Asia/Tokyo").unwrap().to_string(),
            "Asia/Tokyo"
        );
        assert_eq!(
            SessionTimeZone::Fixed(-(3 * 3600 + 1800)).to_string(),
            "-03:30"
        );
    }

    #[test]
    fn daylight_saving_follows_java_time() {
        let ny = SessionTimeZone::parse("America/New_York").unwrap();
        // Winter (-05:00) and summer (-04:00).
        assert_eq!(
            ny.to_utc_millis(local_ms("2024-01-15 12:00:00")),
            local_ms("2024-01-15 17:00:00")
        );
        assert_eq!(
            ny.to_utc_millis(local_ms("2024-07-15 12:00:00")),
            local_ms("2024-07-15 16:00:00")
        );
        // 2024-03-10 02:30 does not exist: java.time moves it to 03:30 EDT (07:30 UTC).
        assert_eq!(
            ny.to_utc_millis(local_ms("2024-03-10 02:30:00")),
            local_ms("2024-03-10 07:30:00")
        );
        // 2024-11-03 01:30 happens twice: java.time takes the earlier, EDT (05:30 UTC);
        // java.util.Calendar the later, EST (06:30 UTC).
        assert_eq!(
            ny.to_utc_millis(local_ms("2024-11-03 01:30:00")),
            local_ms("2024-11-03 05:30:00")
        );
        let secs = local_ms("2024-11-03 01:30:00") / 1000;
        assert_eq!(
            secs - ny.offset_for_local_calendar(secs) as i64,
            1_730_615_400
        );
        let secs = local_ms("2024-03-10 02:30:00") / 1000;
        assert_eq!(
            secs - ny.offset_for_local_calendar(secs) as i64,
            1_710_055_800
        );
        assert_eq!(
            ny.to_local_millis(local_ms("2024-11-03 06:30:00")),
            local_ms("2024-11-03 01:30:00")
        );
        let tokyo = SessionTimeZone::parse("Asia/Tokyo").unwrap();
        assert_eq!(
            tokyo.to_local_millis(local_ms("2023-12-31 15:00:00")),
            local_ms("2024-01-01 00:00:00")
        );
        // Sub-second values keep their fraction, also before 1970.
        assert_eq!(tokyo.to_utc_millis(-500), -500 - 9 * 3_600_000);
    }
}
