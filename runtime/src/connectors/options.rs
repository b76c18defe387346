use std::collections::BTreeMap;
use std::time::Duration;

use crate::error::{Result, RunnelError};

/// A table's `WITH ('key' = 'value', ...)` options, with typed getters whose errors name the
/// table, the option and the bad value.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TableOptions {
    map: BTreeMap<String, String>,
}

impl TableOptions {
    /// Options from the parsed pairs.
    pub fn new(map: BTreeMap<String, String>) -> Self {
        TableOptions { map }
    }

    /// The options with `${env:NAME}` placeholders replaced from the environment.
    pub fn resolve_env(self, table: &str) -> Result<Self> {
        let mut map = BTreeMap::new();
        for (k, v) in self.map {
            let v =
                crate::sql::resolve_placeholders(&v, &|| format!("table `{table}` option '{k}'"))?;
            map.insert(k, v);
        }
        Ok(TableOptions { map })
    }

    /// All options.
    pub fn map(&self) -> &BTreeMap<String, String> {
        &self.map
    }

    /// The raw value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.map.get(key).map(|s| s.as_str())
    }

    /// The `'connector'` option, which every table needs.
    pub fn connector(&self, table: &str) -> Result<String> {
        self.get("connector").map(str::to_string).ok_or_else(|| {
            RunnelError::Connector(format!(
                "table `{table}` has no 'connector' option; add WITH ('connector' = '...')"
            ))
        })
    }

    /// A required option.
    pub fn required(&self, table: &str, key: &str) -> Result<&str> {
        self.get(key).ok_or_else(|| {
            RunnelError::Connector(format!("table `{table}`: missing required option '{key}'"))
        })
    }

    /// An integer option.
    pub fn u64(&self, table: &str, key: &str) -> Result<Option<u64>> {
        self.parse(table, key, "a non-negative integer", |v| v.parse().ok())
    }

    /// An integer option that may be negative.
    pub fn i64(&self, table: &str, key: &str) -> Result<Option<i64>> {
        self.parse(table, key, "an integer", |v| v.parse().ok())
    }

    /// A floating-point option.
    pub fn f64(&self, table: &str, key: &str) -> Result<Option<f64>> {
        self.parse(table, key, "a number", |v| v.parse().ok())
    }

    /// A boolean option (`true`/`false`, any case).
    pub fn bool(&self, table: &str, key: &str) -> Result<Option<bool>> {
        self.parse(table, key, "true or false", |v| {
            match v.to_ascii_lowercase().as_str() {
                "true" => Some(true),
                "false" => Some(false),
                _ => None,
            }
        })
    }

    /// A duration option in Flink's syntax (`10s`, `200 ms`, `1 min`, `5000`).
    pub fn duration(&self, table: &str, key: &str) -> Result<Option<Duration>> {
        self.parse(
            table,
            key,
            "a duration such as '10 s' or '200 ms'",
            parse_duration,
        )
    }

    fn parse<T>(
        &self,
        table: &str,
        key: &str,
        what: &str,
        f: impl Fn(&str) -> Option<T>,
    ) -> Result<Option<T>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => f(v.trim()).map(Some).ok_or_else(|| {
                RunnelError::Connector(format!(
                    "table `{table}`: option '{key}' must be {what}, got '{v}'"
                ))
            }),
        }
    }

    /// Refuses options outside `known` (exact keys) and `prefixes` (e.g. `fields.`), naming
    /// them and the supported ones, as Flink's factory validation does.
    pub fn check_known(
        &self,
        table: &str,
        connector: &str,
        known: &[&str],
        prefixes: &[&str],
    ) -> Result<()> {
        let unknown: Vec<&str> = self
            .map
            .keys()
            .map(|k| k.as_str())
            .filter(|k| *k != "connector")
            .filter(|k| !known.contains(k) && !prefixes.iter().any(|p| k.starts_with(p)))
            .collect();
        if unknown.is_empty() {
            return Ok(());
        }
        let mut supported: Vec<String> = known.iter().map(|s| s.to_string()).collect();
        supported.extend(prefixes.iter().map(|p| format!("{p}*")));
        Err(RunnelError::Connector(format!(
            "table `{table}`: unsupported option(s) for connector '{connector}': {}. Supported options: connector, {}",
            unknown.join(", "),
            supported.join(", ")
        )))
    }
}

/// Parses Flink's duration strings: a number with an optional unit (ms, s, min, h, d).
pub fn parse_duration(v: &str) -> Option<Duration> {
    let v = v.trim();
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: u64 = num.parse().ok()?;
    let ms = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "ms" | "milli" | "millis" | "millisecond" | "milliseconds" => n,
        "s" | "sec" | "secs" | "second" | "seconds" => n * 1000,
        "min" | "m" | "minute" | "minutes" => n * 60_000,
        "h" | "hour" | "hours" => n * 3_600_000,
        "d" | "day" | "days" => n * 86_400_000,
        _ => return None,
    };
    Some(Duration::from_millis(ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_flink_syntax() {
        assert_eq!(parse_duration("10s"), Some(Duration::from_secs(10)));
        assert_eq!(parse_duration("200 ms"), Some(Duration::from_millis(200)));
        assert_eq!(parse_duration("1 min"), Some(Duration::from_secs(60)));
        assert_eq!(parse_duration("5000"), Some(Duration::from_millis(5000)));
        assert_eq!(parse_duration("ten"), None);
    }

    #[test]
    fn unknown_options_are_named() {
        let mut m = BTreeMap::new();
        m.insert("connector".into(), "datagen".into());
        m.insert("rows-per-secnd".into(), "5".into());
        let err = TableOptions::new(m)
            .check_known("t", "datagen", &["rows-per-second"], &["fields."])
            .unwrap_err()
            .to_string();
        assert!(err.contains("rows-per-secnd"), "{err}");
        assert!(err.contains("rows-per-second"), "{err}");
    }
}
