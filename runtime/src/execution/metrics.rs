//! What a subtask measures as it runs, with Flink's meanings: time busy (handling records),
//! backpressured (waiting for room downstream) and idle (waiting for input), records in and
//! out, and for sources the records not yet read (`pendingRecords`, the lag the autoscaler
//! watches). Tasks keep cumulative counters; samplers read them once a second and rates come
//! from the difference of two samples.

use std::sync::atomic::{AtomicI64, AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// How often the counters of running tasks are sampled.
pub(crate) const SAMPLE_INTERVAL: Duration = Duration::from_secs(1);

/// The counters of one subtask, written by it and read by a sampler.
#[derive(Debug)]
pub(crate) struct TaskMetrics {
    started: Instant,
    records_in: AtomicU64,
    records_out: AtomicU64,
    idle_ns: AtomicU64,
    backpressured_ns: AtomicU64,
    /// Records the source has not read yet; -1 when unknown or not a source.
    pending: AtomicI64,
    /// A wait under way: since when (nanoseconds after `started`), and of which kind, so a
    /// task stuck for long shows in the samples before the wait ends.
    waiting_since: AtomicU64,
    waiting: AtomicU8,
}

/// What a task waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wait {
    /// Input (idle time).
    Input = 1,
    /// Room downstream (backpressured time).
    Output = 2,
}

impl Default for TaskMetrics {
    fn default() -> Self {
        TaskMetrics {
            started: Instant::now(),
            records_in: AtomicU64::new(0),
            records_out: AtomicU64::new(0),
            idle_ns: AtomicU64::new(0),
            backpressured_ns: AtomicU64::new(0),
            pending: AtomicI64::new(-1),
            waiting_since: AtomicU64::new(0),
            waiting: AtomicU8::new(0),
        }
    }
}

impl TaskMetrics {
    pub(crate) fn records_in(&self, n: usize) {
        self.records_in.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn records_out(&self, n: usize) {
        self.records_out.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// A wait starts; [`TaskMetrics::end_wait`] ends it and counts its time.
    pub(crate) fn begin_wait(&self, kind: Wait) {
        let now = self.started.elapsed().as_nanos() as u64;
        self.waiting_since.store(now, Ordering::Relaxed);
        self.waiting.store(kind as u8, Ordering::Release);
    }

    pub(crate) fn end_wait(&self) {
        let kind = self.waiting.swap(0, Ordering::Acquire);
        let since = self.waiting_since.load(Ordering::Relaxed);
        let d = (self.started.elapsed().as_nanos() as u64).saturating_sub(since);
        match kind {
            k if k == Wait::Input as u8 => self.idle_ns.fetch_add(d, Ordering::Relaxed),
            k if k == Wait::Output as u8 => self.backpressured_ns.fetch_add(d, Ordering::Relaxed),
            _ => 0,
        };
    }

    pub(crate) fn pending(&self, records: Option<u64>) {
        let v = records.map_or(-1, |r| r.min(i64::MAX as u64) as i64);
        self.pending.store(v, Ordering::Relaxed);
    }

    /// The counters now.
    pub(crate) fn sample(&self) -> MetricsSample {
        let now = self.started.elapsed().as_nanos() as u64;
        let (mut idle, mut backpressured) = (
            self.idle_ns.load(Ordering::Relaxed),
            self.backpressured_ns.load(Ordering::Relaxed),
        );
        // The wait under way so far (it is counted in full when it ends).
        let kind = self.waiting.load(Ordering::Acquire);
        let ongoing = now.saturating_sub(self.waiting_since.load(Ordering::Relaxed));
        if kind == Wait::Input as u8 {
            idle += ongoing;
        } else if kind == Wait::Output as u8 {
            backpressured += ongoing;
        }
        let pending = self.pending.load(Ordering::Relaxed);
        MetricsSample {
            elapsed_ms: now / 1_000_000,
            records_in: self.records_in.load(Ordering::Relaxed),
            records_out: self.records_out.load(Ordering::Relaxed),
            idle_ms: idle / 1_000_000,
            backpressured_ms: backpressured / 1_000_000,
            pending_records: (pending >= 0).then_some(pending as u64),
        }
    }
}

/// A subtask's cumulative counters at one moment (since it started).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricsSample {
    /// Milliseconds since the subtask started.
    pub elapsed_ms: u64,
    /// Records it received.
    pub records_in: u64,
    /// Records it emitted.
    pub records_out: u64,
    /// Milliseconds it waited for input.
    pub idle_ms: u64,
    /// Milliseconds it waited for room downstream.
    pub backpressured_ms: u64,
    /// Records its source has not read yet, when it knows.
    pub pending_records: Option<u64>,
}

/// A subtask's rates over the last sampling interval, as Flink names them.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TaskRates {
    /// Milliseconds per second spent handling records.
    pub busy_ms_per_second: f64,
    /// Milliseconds per second spent waiting for room downstream.
    pub backpressured_ms_per_second: f64,
    /// Milliseconds per second spent waiting for input.
    pub idle_ms_per_second: f64,
    /// Records received per second.
    pub records_in_per_second: f64,
    /// Records emitted per second.
    pub records_out_per_second: f64,
    /// Records its source has not read yet, when it knows.
    pub pending_records: Option<u64>,
}

impl TaskRates {
    /// The rates between two samples of the same subtask (`None` if `now` is not later).
    pub fn between(before: &MetricsSample, now: &MetricsSample) -> Option<Self> {
        let wall = now.elapsed_ms.checked_sub(before.elapsed_ms)?;
        if wall == 0 {
            return None;
        }
        let per_second = |a: u64, b: u64| b.saturating_sub(a) as f64 * 1000.0 / wall as f64;
        let idle = per_second(before.idle_ms, now.idle_ms).min(1000.0);
        let backpressured =
            per_second(before.backpressured_ms, now.backpressured_ms).min(1000.0 - idle);
        Some(TaskRates {
            busy_ms_per_second: (1000.0 - idle - backpressured).max(0.0),
            backpressured_ms_per_second: backpressured,
            idle_ms_per_second: idle,
            records_in_per_second: per_second(before.records_in, now.records_in),
            records_out_per_second: per_second(before.records_out, now.records_out),
            pending_records: now.pending_records,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_split_each_second_into_busy_backpressured_and_idle() {
        let before = MetricsSample {
            elapsed_ms: 1000,
            records_in: 100,
            records_out: 50,
            idle_ms: 200,
            backpressured_ms: 0,
            pending_records: Some(10),
        };
        let now = MetricsSample {
            elapsed_ms: 3000,
            records_in: 4100,
            records_out: 2050,
            idle_ms: 1200,
            backpressured_ms: 400,
            pending_records: Some(4),
        };
        let r = TaskRates::between(&before, &now).unwrap();
        assert_eq!(r.idle_ms_per_second, 500.0);
        assert_eq!(r.backpressured_ms_per_second, 200.0);
        assert_eq!(r.busy_ms_per_second, 300.0);
        assert_eq!(r.records_in_per_second, 2000.0);
        assert_eq!(r.records_out_per_second, 1000.0);
        assert_eq!(r.pending_records, Some(4));
        assert!(TaskRates::between(&now, &before).is_none());
        assert!(TaskRates::between(&now, &now).is_none());
    }

    #[test]
    fn counters_accumulate() {
        let m = TaskMetrics::default();
        m.records_in(3);
        m.records_out(2);
        m.begin_wait(Wait::Input);
        std::thread::sleep(Duration::from_millis(5));
        m.end_wait();
        m.begin_wait(Wait::Output);
        std::thread::sleep(Duration::from_millis(20));
        // A wait under way counts already.
        let during = m.sample();
        assert!(during.backpressured_ms >= 20, "{during:?}");
        m.end_wait();
        m.pending(Some(9));
        let s = m.sample();
        assert_eq!((s.records_in, s.records_out), (3, 2));
        assert!(s.idle_ms >= 5 && s.backpressured_ms >= 20, "{s:?}");
        assert!(s.backpressured_ms >= during.backpressured_ms);
        assert_eq!(s.pending_records, Some(9));
        m.pending(None);
        assert_eq!(m.sample().pending_records, None);
    }
}
