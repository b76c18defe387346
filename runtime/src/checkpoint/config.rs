//! Checkpointing settings, read from Flink's option names.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use super::location::Location;
use crate::connectors::parse_duration;
use crate::error::{Result, RunnelError};

/// Whether barriers are aligned (exactly once) or passed through (at least once).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckpointingMode {
    /// Channels that delivered a barrier wait for the others: each record is in exactly one
    /// checkpoint.
    ExactlyOnce,
    /// Barriers are not aligned: a record after the barrier on a fast channel may also be
    /// replayed after recovery.
    AtLeastOnce,
}

/// What happens to retained checkpoints when the job is cancelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retention {
    /// Deleted on cancellation (Flink's default).
    DeleteOnCancellation,
    /// Kept on cancellation.
    RetainOnCancellation,
}

/// How a job takes checkpoints and savepoints.
#[derive(Clone, Debug)]
pub struct CheckpointConfig {
    /// Time between checkpoint triggers; `None` (no periodic checkpoints) when
    /// `execution.checkpointing.interval` is unset or zero. Savepoints work either way.
    pub interval: Option<Duration>,
    /// Barrier alignment.
    pub mode: CheckpointingMode,
    /// A checkpoint not complete after this long is aborted.
    pub timeout: Duration,
    /// Minimum time between the end of one checkpoint and the start of the next.
    pub min_pause: Duration,
    /// Checkpoints in flight at once.
    pub max_concurrent: usize,
    /// Failed checkpoints tolerated in a row before the job fails.
    pub tolerable_failures: u32,
    /// Completed checkpoints kept.
    pub retained: usize,
    /// Retention on cancellation.
    pub retention: Retention,
    /// Where checkpoints are written (a path, `file://` or `s3://bucket/prefix`).
    pub dir: Location,
    /// Where savepoints go when no path is given.
    pub savepoint_dir: Option<Location>,
}

/// Default checkpoint folder of local runs when none is configured.
pub fn default_checkpoint_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join(".cache/runnel/checkpoints")
}

impl CheckpointConfig {
    /// Reads the settings from a session's configuration.
    pub fn from_options(options: &BTreeMap<String, String>) -> Result<Self> {
        let get = |names: &[&'static str]| -> Option<(&'static str, &String)> {
            names.iter().find_map(|n| options.get(*n).map(|v| (*n, v)))
        };
        let duration = |name: &str, v: &str| {
            parse_duration(v).ok_or_else(|| {
                RunnelError::bad_option(name, v, "a duration such as '10 s' or '500 ms'")
            })
        };
        let interval = get(&["execution.checkpointing.interval"])
            .map(|(n, v)| duration(n, v))
            .transpose()?
            .filter(|d| !d.is_zero());
        let int = |names: &[&'static str], default: u64| -> Result<u64> {
            match get(names) {
                None => Ok(default),
                Some((n, v)) => v
                    .trim()
                    .parse()
                    .map_err(|_| RunnelError::bad_option(n, v, "a whole number")),
            }
        };
        let mode = match get(&["execution.checkpointing.mode"]) {
            None => CheckpointingMode::ExactlyOnce,
            Some((n, v)) => match v.trim().to_ascii_uppercase().as_str() {
                "EXACTLY_ONCE" => CheckpointingMode::ExactlyOnce,
                "AT_LEAST_ONCE" => CheckpointingMode::AtLeastOnce,
                _ => {
                    return Err(RunnelError::bad_option(
                        n,
                        v,
                        "EXACTLY_ONCE or AT_LEAST_ONCE",
                    ));
                }
            },
        };
        let retention = match get(&[
            "execution.checkpointing.externalized-checkpoint-retention",
            "execution.checkpointing.externalized-checkpoints",
        ]) {
            None => Retention::DeleteOnCancellation,
            Some((n, v)) => match v.trim().to_ascii_uppercase().as_str() {
                "DELETE_ON_CANCELLATION" | "NO_EXTERNALIZED_CHECKPOINTS" => {
                    Retention::DeleteOnCancellation
                }
                "RETAIN_ON_CANCELLATION" => Retention::RetainOnCancellation,
                _ => {
                    return Err(RunnelError::bad_option(
                        n,
                        v,
                        "RETAIN_ON_CANCELLATION, DELETE_ON_CANCELLATION or NO_EXTERNALIZED_CHECKPOINTS",
                    ));
                }
            },
        };
        let timeout = match get(&["execution.checkpointing.timeout"]) {
            None => Duration::from_secs(600),
            Some((n, v)) => duration(n, v)?,
        };
        let min_pause = match get(&["execution.checkpointing.min-pause"]) {
            None => Duration::ZERO,
            Some((n, v)) => duration(n, v)?,
        };
        let dir = get(&["execution.checkpointing.dir", "state.checkpoints.dir"])
            .map(|(n, v)| Location::parse(&format!("configuration '{n}'"), v))
            .transpose()?
            .unwrap_or_else(|| Location::local(default_checkpoint_dir()));
        let savepoint_dir = get(&[
            "execution.checkpointing.savepoint-dir",
            "state.savepoints.dir",
        ])
        .map(|(n, v)| Location::parse(&format!("configuration '{n}'"), v))
        .transpose()?;
        let max_concurrent = int(&["execution.checkpointing.max-concurrent-checkpoints"], 1)?;
        let retained = int(
            &[
                "execution.checkpointing.num-retained",
                "state.checkpoints.num-retained",
            ],
            1,
        )?;
        if max_concurrent == 0 || retained == 0 {
            return Err(RunnelError::Plan(
                "'execution.checkpointing.max-concurrent-checkpoints' and \
                 'execution.checkpointing.num-retained' must be at least 1"
                    .into(),
            ));
        }
        Ok(CheckpointConfig {
            interval,
            mode,
            timeout,
            min_pause,
            max_concurrent: max_concurrent as usize,
            tolerable_failures: int(&["execution.checkpointing.tolerable-failed-checkpoints"], 0)?
                as u32,
            retained: retained as usize,
            retention,
            dir,
            savepoint_dir,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_support::options as opts;

    #[test]
    fn flink_option_names_are_read() {
        let c = CheckpointConfig::from_options(&opts(&[
            ("execution.checkpointing.interval", "10s"),
            ("execution.checkpointing.mode", "at_least_once"),
            ("execution.checkpointing.timeout", "1 min"),
            ("state.checkpoints.num-retained", "3"),
            ("state.checkpoints.dir", "file:///tmp/chk"),
            (
                "execution.checkpointing.externalized-checkpoint-retention",
                "RETAIN_ON_CANCELLATION",
            ),
        ]))
        .unwrap();
        assert_eq!(c.interval, Some(Duration::from_secs(10)));
        assert_eq!(c.mode, CheckpointingMode::AtLeastOnce);
        assert_eq!(c.timeout, Duration::from_secs(60));
        assert_eq!(c.retained, 3);
        assert_eq!(c.dir.as_local(), Some(std::path::Path::new("/tmp/chk")));
        assert_eq!(c.retention, Retention::RetainOnCancellation);
    }

    #[test]
    fn off_without_interval_and_bad_values_are_named() {
        let off = CheckpointConfig::from_options(&opts(&[])).unwrap();
        assert_eq!(off.interval, None);
        assert_eq!(off.dir.as_local(), Some(default_checkpoint_dir().as_path()));
        let err = CheckpointConfig::from_options(&opts(&[
            ("execution.checkpointing.interval", "10s"),
            ("execution.checkpointing.mode", "SOMETIMES"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("execution.checkpointing.mode") && err.contains("SOMETIMES"),
            "{err}"
        );
        let err = CheckpointConfig::from_options(&opts(&[
            ("execution.checkpointing.interval", "10s"),
            ("state.checkpoints.dir", "hdfs://namenode/x"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("hdfs://") && err.contains("state.checkpoints.dir"),
            "{err}"
        );
    }
}
