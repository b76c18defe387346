//! The generator's configuration and its reading from Flink's `nexmark` connector options.

use std::collections::HashMap;

/// Why a configuration or a generator could not be made; each message names what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NexmarkError {
    /// An option key the `nexmark` connector does not have (Flink rejects these too).
    #[error("unsupported option '{key}' for the nexmark connector; supported options: {supported}")]
    UnknownOption {
        /// The key as given.
        key: String,
        /// The supported keys, comma separated.
        supported: String,
    },
    /// An option (or the config field behind it) with a value it cannot take.
    #[error("invalid value '{value}' for nexmark option '{key}': {reason}")]
    InvalidValue {
        /// The option's key (`first-event.rate`, …).
        key: String,
        /// The value as given.
        value: String,
        /// What a valid value looks like.
        reason: String,
    },
    /// A split index outside `0..num_splits`.
    #[error("invalid nexmark split {split_index} of {num_splits}")]
    InvalidSplit {
        /// The split asked for.
        split_index: usize,
        /// The number of splits.
        num_splits: usize,
    },
}

/// How the event rate would vary over time in Nexmark (`rate.shape`); kept for option
/// compatibility: like nexmark-flink, the generator uses only `first-event.rate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RateShape {
    /// Alternate between the first and next rate.
    #[default]
    Square,
    /// Move between the first and next rate along a sine.
    Sine,
}

/// What the generator produces: the `nexmark` connector's options plus the few Nexmark settings
/// that have no option. `Default` is Nexmark's defaults with a fixed base time, so output is
/// deterministic.
#[derive(Debug, Clone, PartialEq)]
pub struct NexmarkConfig {
    /// Events in total over all splits; 0 means unbounded (`events.num`).
    pub events_num: u64,
    /// Stop after this many events in total even if `events_num` allows more; `None` for no
    /// limit (`stop-at`, where a negative value means none).
    pub stop_at: Option<u64>,
    /// Events per second of event time over the whole job: event `e` is stamped
    /// `base_time_millis + e × 1000 / first_event_rate` ms (`first-event.rate`).
    pub first_event_rate: u64,
    /// Accepted for compatibility (`next-event.rate`); unused, as in nexmark-flink.
    pub next_event_rate: u64,
    /// Accepted for compatibility (`rate.shape`); unused, as in nexmark-flink.
    pub rate_shape: RateShape,
    /// Accepted for compatibility (`rate.period`, in seconds); unused, as in nexmark-flink.
    pub rate_period_secs: u64,
    /// Accepted for compatibility (`rate.limited`); unused, as in nexmark-flink.
    pub rate_limited: bool,
    /// Emit as fast as possible (`max-emit-speed`, default true); when false the runtime should
    /// pace a split so an event leaves at wall-clock start + (its timestamp − base time).
    pub max_emit_speed: bool,
    /// Keep the source running, idle, after its events are exhausted instead of ending the input
    /// (`keep-alive`); for the runtime to honour.
    pub keep_alive: bool,
    /// Persons per proportion period (`person.proportion`, default 1).
    pub person_proportion: u32,
    /// Auctions per proportion period (`auction.proportion`, default 3).
    pub auction_proportion: u32,
    /// Bids per proportion period (`bid.proportion`, default 46).
    pub bid_proportion: u32,
    /// Average size of a person in bytes, reached by padding `extra` (`person.avg-size`, 200).
    pub avg_person_bytes: u32,
    /// Average size of an auction in bytes, reached by padding `extra` (`auction.avg-size`, 500).
    pub avg_auction_bytes: u32,
    /// Average size of a bid in bytes, reached by padding `extra` (`bid.avg-size`, 100).
    pub avg_bid_bytes: u32,
    /// A bid goes to the current hot auction with probability 1 − 1/ratio
    /// (`bid.hot-ratio.auctions`, default 2).
    pub hot_auction_ratio: u32,
    /// An auction is sold by the current hot seller with probability 1 − 1/ratio
    /// (`auction.hot-ratio.sellers`, default 4).
    pub hot_sellers_ratio: u32,
    /// A bid comes from the current hot bidder with probability 1 − 1/ratio
    /// (`bid.hot-ratio.bidders`, default 4).
    pub hot_bidders_ratio: u32,
    /// Non-hot sellers and bidders are drawn among this many most recent persons (Nexmark's
    /// `numActivePeople`, 1000; no connector option).
    pub num_active_people: u32,
    /// Non-hot bids go to one of this many most recent auctions (Nexmark's
    /// `numInFlightAuctions`, 100; no connector option); it also sets auction lengths.
    pub num_in_flight_auctions: u32,
    /// Event time of event 0 in ms since the epoch; default 2024-01-01T00:00:00Z so output is
    /// deterministic (Flink uses the job's start time; set it to now for that).
    pub base_time_millis: i64,
}

impl Default for NexmarkConfig {
    fn default() -> Self {
        Self {
            events_num: 0,
            stop_at: None,
            first_event_rate: 10_000,
            next_event_rate: 10_000,
            rate_shape: RateShape::Square,
            rate_period_secs: 600,
            rate_limited: false,
            max_emit_speed: true,
            keep_alive: false,
            person_proportion: 1,
            auction_proportion: 3,
            bid_proportion: 46,
            avg_person_bytes: 200,
            avg_auction_bytes: 500,
            avg_bid_bytes: 100,
            hot_auction_ratio: 2,
            hot_sellers_ratio: 4,
            hot_bidders_ratio: 4,
            num_active_people: 1000,
            num_in_flight_auctions: 100,
            base_time_millis: 1_704_067_200_000,
        }
    }
}

/// The connector's option keys, as nexmark-flink's `NexmarkSourceOptions` names them.
const OPTION_KEYS: &[&str] = &[
    "events.num",
    "stop-at",
    "first-event.rate",
    "next-event.rate",
    "rate.shape",
    "rate.period",
    "rate.limited",
    "max-emit-speed",
    "keep-alive",
    "person.proportion",
    "auction.proportion",
    "bid.proportion",
    "person.avg-size",
    "auction.avg-size",
    "bid.avg-size",
    "bid.hot-ratio.auctions",
    "auction.hot-ratio.sellers",
    "bid.hot-ratio.bidders",
];

/// The largest `*.avg-size` accepted, so one batch's strings always fit Arrow's 32-bit offsets.
const MAX_AVG_SIZE: u64 = 256 << 20;

impl NexmarkConfig {
    /// Reads the options of a Flink `CREATE TABLE … WITH ('connector' = 'nexmark', …)`, starting
    /// from [`Default`]; `connector` itself may be present. Rejects unknown keys and bad values.
    pub fn from_options(options: &HashMap<String, String>) -> Result<Self, NexmarkError> {
        let mut keys: Vec<&String> = options.keys().collect();
        keys.sort();
        if let Some(key) = keys
            .iter()
            .find(|k| k.as_str() != "connector" && !OPTION_KEYS.contains(&k.as_str()))
        {
            return Err(NexmarkError::UnknownOption {
                key: (*key).clone(),
                supported: OPTION_KEYS.join(", "),
            });
        }
        let mut c = Self::default();
        for key in keys {
            let raw = options[key].as_str();
            let o = Opt { key, raw };
            match key.as_str() {
                "connector" => {
                    if !raw.trim().eq_ignore_ascii_case("nexmark") {
                        return Err(o.invalid("expected 'nexmark'"));
                    }
                }
                "events.num" => c.events_num = o.unsigned()?,
                "stop-at" => {
                    let v: i64 = o.parse("an integer")?;
                    c.stop_at = u64::try_from(v).ok();
                }
                "first-event.rate" => c.first_event_rate = o.unsigned()?,
                "next-event.rate" => c.next_event_rate = o.unsigned()?,
                "rate.shape" => {
                    c.rate_shape = match raw.trim().to_ascii_uppercase().as_str() {
                        "SQUARE" => RateShape::Square,
                        "SINE" => RateShape::Sine,
                        _ => return Err(o.invalid("expected SQUARE or SINE")),
                    }
                }
                "rate.period" => c.rate_period_secs = o.duration_secs()?,
                "rate.limited" => c.rate_limited = o.boolean()?,
                "max-emit-speed" => c.max_emit_speed = o.boolean()?,
                "keep-alive" => c.keep_alive = o.boolean()?,
                "person.proportion" => c.person_proportion = o.parse("an integer ≥ 0")?,
                "auction.proportion" => c.auction_proportion = o.parse("an integer ≥ 0")?,
                "bid.proportion" => c.bid_proportion = o.parse("an integer ≥ 0")?,
                "person.avg-size" => c.avg_person_bytes = o.memory_size()?,
                "auction.avg-size" => c.avg_auction_bytes = o.memory_size()?,
                "bid.avg-size" => c.avg_bid_bytes = o.memory_size()?,
                "bid.hot-ratio.auctions" => c.hot_auction_ratio = o.parse("an integer ≥ 1")?,
                "auction.hot-ratio.sellers" => c.hot_sellers_ratio = o.parse("an integer ≥ 1")?,
                "bid.hot-ratio.bidders" => c.hot_bidders_ratio = o.parse("an integer ≥ 1")?,
                _ => unreachable!("unknown keys were rejected above"),
            }
        }
        c.validate()?;
        Ok(c)
    }

    /// Checks the values a generator needs to be sound (a positive rate, a non-empty proportion
    /// period, hot ratios ≥ 1, sizes within bounds); errors name the matching option.
    pub fn validate(&self) -> Result<(), NexmarkError> {
        let bad = |key: &str, value: String, reason: &str| {
            Err(NexmarkError::InvalidValue {
                key: key.to_string(),
                value,
                reason: reason.to_string(),
            })
        };
        if self.first_event_rate == 0 {
            return bad(
                "first-event.rate",
                "0".into(),
                "must be at least 1 event per second",
            );
        }
        let total = u64::from(self.person_proportion)
            + u64::from(self.auction_proportion)
            + u64::from(self.bid_proportion);
        if total == 0 {
            return bad(
                "bid.proportion",
                "0".into(),
                "person, auction and bid proportions must not all be 0",
            );
        }
        for (key, ratio) in [
            ("bid.hot-ratio.auctions", self.hot_auction_ratio),
            ("auction.hot-ratio.sellers", self.hot_sellers_ratio),
            ("bid.hot-ratio.bidders", self.hot_bidders_ratio),
        ] {
            if ratio == 0 {
                return bad(key, "0".into(), "must be at least 1");
            }
        }
        for (key, size) in [
            ("person.avg-size", self.avg_person_bytes),
            ("auction.avg-size", self.avg_auction_bytes),
            ("bid.avg-size", self.avg_bid_bytes),
        ] {
            if u64::from(size) > MAX_AVG_SIZE {
                return bad(key, format!("{size}b"), "must be at most 256mb");
            }
        }
        Ok(())
    }

    /// The number of events the whole job generates, or `None` when unbounded; tells the runtime
    /// whether the source ends.
    pub fn total_events(&self) -> Option<u64> {
        let limit = (self.events_num > 0).then_some(self.events_num);
        match (limit, self.stop_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// One option being read: its key and raw value, for parsing and for error messages.
struct Opt<'a> {
    key: &'a str,
    raw: &'a str,
}

impl Opt<'_> {
    fn invalid(&self, reason: &str) -> NexmarkError {
        NexmarkError::InvalidValue {
            key: self.key.to_string(),
            value: self.raw.to_string(),
            reason: reason.to_string(),
        }
    }

    fn parse<T: std::str::FromStr>(&self, what: &str) -> Result<T, NexmarkError> {
        self.raw
            .trim()
            .parse()
            .map_err(|_| self.invalid(&format!("expected {what}")))
    }

    fn unsigned(&self) -> Result<u64, NexmarkError> {
        self.parse("an integer ≥ 0")
    }

    fn boolean(&self) -> Result<bool, NexmarkError> {
        match self.raw.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(self.invalid("expected true or false")),
        }
    }

    /// Flink's `MemorySize` syntax: a number and an optional unit (bytes if none; 1024-based).
    fn memory_size(&self) -> Result<u32, NexmarkError> {
        let reason = "expected a size such as 200b, 1kb or 2mb";
        let (number, unit) = split_number(self.raw.trim());
        let number: u64 = number.parse().map_err(|_| self.invalid(reason))?;
        let shift = match unit.to_ascii_lowercase().as_str() {
            "" | "b" | "bytes" => 0,
            "k" | "kb" | "kibibytes" => 10,
            "m" | "mb" | "mebibytes" => 20,
            "g" | "gb" | "gibibytes" => 30,
            "t" | "tb" | "tebibytes" => 40,
            _ => return Err(self.invalid(reason)),
        };
        number
            .checked_mul(1 << shift)
            .filter(|bytes| *bytes <= MAX_AVG_SIZE)
            .map(|bytes| bytes as u32)
            .ok_or_else(|| self.invalid("must be at most 256mb"))
    }

    /// Flink's `Duration` syntax: a number and an optional unit (milliseconds if none).
    fn duration_secs(&self) -> Result<u64, NexmarkError> {
        let reason = "expected a duration such as 600s or 10 min";
        let (number, unit) = split_number(self.raw.trim());
        let number: u64 = number.parse().map_err(|_| self.invalid(reason))?;
        let millis_per_unit: u64 = match unit.to_ascii_lowercase().as_str() {
            "ns" | "nano" | "nanos" | "nanosecond" | "nanoseconds" => 0,
            "µs" | "us" | "micro" | "micros" | "microsecond" | "microseconds" => 0,
            "" | "ms" | "milli" | "millis" | "millisecond" | "milliseconds" => 1,
            "s" | "sec" | "secs" | "second" | "seconds" => 1_000,
            "m" | "min" | "minute" | "minutes" => 60_000,
            "h" | "hour" | "hours" => 3_600_000,
            "d" | "day" | "days" => 86_400_000,
            _ => return Err(self.invalid(reason)),
        };
        Ok(number.saturating_mul(millis_per_unit) / 1000)
    }
}

/// Splits "10 min" into ("10", "min").
fn split_number(s: &str) -> (&str, &str) {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    (&s[..end], s[end..].trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn reads_flink_options() {
        let c = NexmarkConfig::from_options(&opts(&[
            ("connector", "nexmark"),
            ("events.num", "1000"),
            ("first-event.rate", "10000000"),
            ("next-event.rate", "10000000"),
            ("person.proportion", "2"),
            ("auction.proportion", "6"),
            ("bid.proportion", "92"),
            ("person.avg-size", "1kb"),
            ("auction.avg-size", "600"),
            ("bid.avg-size", "2 mb"),
            ("bid.hot-ratio.auctions", "3"),
            ("auction.hot-ratio.sellers", "5"),
            ("bid.hot-ratio.bidders", "6"),
            ("rate.shape", "sine"),
            ("rate.period", "10 min"),
            ("rate.limited", "TRUE"),
            ("max-emit-speed", "false"),
            ("keep-alive", "true"),
            ("stop-at", "-1"),
        ]))
        .unwrap();
        assert_eq!(c.events_num, 1000);
        assert_eq!(c.first_event_rate, 10_000_000);
        assert_eq!(c.next_event_rate, 10_000_000);
        assert_eq!(
            (c.person_proportion, c.auction_proportion, c.bid_proportion),
            (2, 6, 92)
        );
        assert_eq!(c.avg_person_bytes, 1024);
        assert_eq!(c.avg_auction_bytes, 600);
        assert_eq!(c.avg_bid_bytes, 2 << 20);
        assert_eq!(
            (
                c.hot_auction_ratio,
                c.hot_sellers_ratio,
                c.hot_bidders_ratio
            ),
            (3, 5, 6)
        );
        assert_eq!(c.rate_shape, RateShape::Sine);
        assert_eq!(c.rate_period_secs, 600);
        assert!(c.rate_limited && !c.max_emit_speed && c.keep_alive);
        assert_eq!(c.stop_at, None);
        assert_eq!(c.total_events(), Some(1000));
        assert_eq!(
            NexmarkConfig::from_options(&HashMap::new()).unwrap(),
            NexmarkConfig::default()
        );
    }

    #[test]
    fn bad_values_name_option_and_value() {
        for (key, value) in [
            ("first-event.rate", "fast"),
            ("first-event.rate", "0"),
            ("events.num", "-5"),
            ("person.avg-size", "12 parsecs"),
            ("bid.avg-size", "1gb"),
            ("keep-alive", "yes"),
            ("rate.shape", "triangle"),
            ("bid.hot-ratio.bidders", "0"),
            ("connector", "kafka"),
        ] {
            let err = NexmarkConfig::from_options(&opts(&[(key, value)])).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains(key) && msg.contains(value), "{msg}");
        }
        let err = NexmarkConfig::from_options(&opts(&[
            ("person.proportion", "0"),
            ("auction.proportion", "0"),
            ("bid.proportion", "0"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("proportion"), "{err}");
    }

    #[test]
    fn stop_at_caps_total() {
        let c = NexmarkConfig::from_options(&opts(&[("stop-at", "70")])).unwrap();
        assert_eq!(c.total_events(), Some(70));
        let c = NexmarkConfig {
            events_num: 50,
            ..c
        };
        assert_eq!(c.total_events(), Some(50));
        assert_eq!(NexmarkConfig::default().total_events(), None);
    }
}
