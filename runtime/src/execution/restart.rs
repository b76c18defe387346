//! Restart strategies: what the JobMaster does when a task fails, with Flink's option names
//! (`restart-strategy.type` = none, fixed-delay, failure-rate or exponential-delay).

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use crate::connectors::parse_duration;
use crate::error::{Result, RunnelError};

/// How failed jobs are restarted.
#[derive(Clone, Debug, PartialEq)]
pub enum RestartStrategy {
    /// Fail the job on the first task failure.
    None,
    /// Up to `attempts` restarts, each after `delay`.
    FixedDelay {
        /// Restarts allowed.
        attempts: u32,
        /// Wait before each.
        delay: Duration,
    },
    /// Restart after `delay` unless more than `max_failures` happened within `interval`.
    FailureRate {
        /// Failures tolerated per interval.
        max_failures: u32,
        /// The sliding interval.
        interval: Duration,
        /// Wait before each restart.
        delay: Duration,
    },
    /// Waits growing by `multiplier` from `initial` up to `max`; back to `initial` after
    /// `reset_after` without failure. Unlimited restarts (Flink's default with checkpointing).
    ExponentialDelay {
        /// First wait.
        initial: Duration,
        /// Largest wait.
        max: Duration,
        /// Growth factor.
        multiplier: f64,
        /// Quiet time that resets the wait.
        reset_after: Duration,
        /// Random spread of each wait, as a fraction.
        jitter: f64,
    },
}

impl RestartStrategy {
    /// Reads `restart-strategy.*`; without a type, exponential-delay when checkpointing is on
    /// and none otherwise, as Flink.
    pub fn from_options(options: &BTreeMap<String, String>, checkpointing: bool) -> Result<Self> {
        let get = |k: &str| options.get(k).map(|v| v.trim());
        let duration = |k: &str, default: Duration| -> Result<Duration> {
            match get(k) {
                None => Ok(default),
                Some(v) => parse_duration(v)
                    .ok_or_else(|| RunnelError::bad_option(k, v, "a duration such as '10 s'")),
            }
        };
        let number = |k: &str, default: f64| -> Result<f64> {
            match get(k) {
                None => Ok(default),
                Some(v) => v
                    .parse::<f64>()
                    .ok()
                    .filter(|n| n.is_finite() && *n >= 0.0)
                    .ok_or_else(|| RunnelError::bad_option(k, v, "a non-negative number")),
            }
        };
        let count = |k: &str, default: u32| -> Result<u32> {
            match get(k) {
                None => Ok(default),
                Some(v) => v
                    .parse()
                    .map_err(|_| RunnelError::bad_option(k, v, "a whole number")),
            }
        };
        let kind = match get("restart-strategy.type").or(get("restart-strategy")) {
            Some(v) => v.to_ascii_lowercase(),
            None if checkpointing => "exponential-delay".into(),
            None => "none".into(),
        };
        Ok(match kind.as_str() {
            "none" | "off" | "disable" => RestartStrategy::None,
            "fixed-delay" | "fixeddelay" => RestartStrategy::FixedDelay {
                attempts: count("restart-strategy.fixed-delay.attempts", 1)?,
                delay: duration("restart-strategy.fixed-delay.delay", Duration::from_secs(1))?,
            },
            "failure-rate" | "failurerate" => RestartStrategy::FailureRate {
                max_failures: count("restart-strategy.failure-rate.max-failures-per-interval", 1)?,
                interval: duration(
                    "restart-strategy.failure-rate.failure-rate-interval",
                    Duration::from_secs(60),
                )?,
                delay: duration(
                    "restart-strategy.failure-rate.delay",
                    Duration::from_secs(1),
                )?,
            },
            "exponential-delay" | "exponentialdelay" => {
                let multiplier =
                    number("restart-strategy.exponential-delay.backoff-multiplier", 1.5)?;
                if multiplier < 1.0 {
                    return Err(RunnelError::bad_option(
                        "restart-strategy.exponential-delay.backoff-multiplier",
                        &multiplier.to_string(),
                        "at least 1",
                    ));
                }
                RestartStrategy::ExponentialDelay {
                    initial: duration(
                        "restart-strategy.exponential-delay.initial-backoff",
                        Duration::from_secs(1),
                    )?,
                    max: duration(
                        "restart-strategy.exponential-delay.max-backoff",
                        Duration::from_secs(60),
                    )?,
                    multiplier,
                    reset_after: duration(
                        "restart-strategy.exponential-delay.reset-backoff-threshold",
                        Duration::from_secs(3600),
                    )?,
                    jitter: number("restart-strategy.exponential-delay.jitter-factor", 0.1)?
                        .min(1.0),
                }
            }
            other => {
                return Err(RunnelError::bad_option(
                    "restart-strategy.type",
                    other,
                    "none, fixed-delay, failure-rate or exponential-delay",
                ));
            }
        })
    }
}

/// The state of a strategy over one job's failures.
#[derive(Debug)]
pub(crate) struct RestartTracker {
    strategy: RestartStrategy,
    restarts: u32,
    failures: VecDeque<Instant>,
    backoff: Option<Duration>,
    last_failure: Option<Instant>,
}

impl RestartTracker {
    pub(crate) fn new(strategy: RestartStrategy) -> Self {
        RestartTracker {
            strategy,
            restarts: 0,
            failures: VecDeque::new(),
            backoff: None,
            last_failure: None,
        }
    }

    /// Restarts so far.
    pub(crate) fn restarts(&self) -> u32 {
        self.restarts
    }

    /// Records a failure now; the wait before restarting, or `None` to give up.
    pub(crate) fn on_failure(&mut self, now: Instant) -> Option<Duration> {
        let since_last = self.last_failure.map(|t| now.duration_since(t));
        self.last_failure = Some(now);
        let delay = match &self.strategy {
            RestartStrategy::None => None,
            RestartStrategy::FixedDelay { attempts, delay } => {
                (self.restarts < *attempts).then_some(*delay)
            }
            RestartStrategy::FailureRate {
                max_failures,
                interval,
                delay,
            } => {
                self.failures.push_back(now);
                while self
                    .failures
                    .front()
                    .is_some_and(|t| now.duration_since(*t) > *interval)
                {
                    self.failures.pop_front();
                }
                (self.failures.len() as u32 <= *max_failures).then_some(*delay)
            }
            RestartStrategy::ExponentialDelay {
                initial,
                max,
                multiplier,
                reset_after,
                jitter,
            } => {
                let next = match (self.backoff, since_last) {
                    (Some(prev), Some(quiet)) if quiet < *reset_after => {
                        prev.mul_f64(*multiplier).min(*max)
                    }
                    _ => *initial,
                };
                self.backoff = Some(next);
                let spread = next.as_secs_f64() * jitter;
                let offset = (crate::checkpoint::random_u64() % 2001) as f64 / 1000.0 - 1.0;
                Some(Duration::from_secs_f64(
                    (next.as_secs_f64() + spread * offset).max(0.0),
                ))
            }
        };
        if delay.is_some() {
            self.restarts += 1;
        }
        delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_support::options as opts;

    #[test]
    fn defaults_follow_flink() {
        assert_eq!(
            RestartStrategy::from_options(&opts(&[]), false).unwrap(),
            RestartStrategy::None
        );
        assert!(matches!(
            RestartStrategy::from_options(&opts(&[]), true).unwrap(),
            RestartStrategy::ExponentialDelay { .. }
        ));
        let err =
            RestartStrategy::from_options(&opts(&[("restart-strategy.type", "sometimes")]), true)
                .unwrap_err()
                .to_string();
        assert!(
            err.contains("restart-strategy.type") && err.contains("sometimes"),
            "{err}"
        );
    }

    #[test]
    fn fixed_delay_counts_attempts() {
        let s = RestartStrategy::from_options(
            &opts(&[
                ("restart-strategy.type", "fixed-delay"),
                ("restart-strategy.fixed-delay.attempts", "2"),
                ("restart-strategy.fixed-delay.delay", "50 ms"),
            ]),
            false,
        )
        .unwrap();
        let mut t = RestartTracker::new(s);
        let now = Instant::now();
        assert_eq!(t.on_failure(now), Some(Duration::from_millis(50)));
        assert_eq!(t.on_failure(now), Some(Duration::from_millis(50)));
        assert_eq!(t.on_failure(now), None);
        assert_eq!(t.restarts(), 2);
    }

    #[test]
    fn failure_rate_slides_and_exponential_grows() {
        let mut t = RestartTracker::new(RestartStrategy::FailureRate {
            max_failures: 2,
            interval: Duration::from_secs(10),
            delay: Duration::ZERO,
        });
        let t0 = Instant::now();
        assert!(t.on_failure(t0).is_some());
        assert!(t.on_failure(t0 + Duration::from_secs(1)).is_some());
        assert!(t.on_failure(t0 + Duration::from_secs(2)).is_none());
        assert!(t.on_failure(t0 + Duration::from_secs(30)).is_some());

        let mut t = RestartTracker::new(RestartStrategy::ExponentialDelay {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(4),
            multiplier: 2.0,
            reset_after: Duration::from_secs(60),
            jitter: 0.0,
        });
        let waits: Vec<u64> = (0..5)
            .map(|i| t.on_failure(t0 + Duration::from_secs(i)).unwrap().as_secs())
            .collect();
        assert_eq!(waits, [1, 2, 4, 4, 4]);
        assert_eq!(
            t.on_failure(t0 + Duration::from_secs(500))
                .unwrap()
                .as_secs(),
            1
        );
    }
}
