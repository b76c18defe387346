//! The operator's own Prometheus metrics: reconciles and their errors and durations per kind,
//! and the process's memory.

use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds (seconds) of the reconcile-duration histogram.
const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// Counters per resource kind.
#[derive(Default)]
pub struct Metrics {
    kinds: Mutex<Vec<(String, KindMetrics)>>,
}

#[derive(Default, Clone)]
struct KindMetrics {
    reconciles: u64,
    errors: u64,
    /// Counts per bucket of [`BUCKETS`], then the overflow.
    buckets: [u64; BUCKETS.len() + 1],
    seconds: f64,
}

impl Metrics {
    /// Counts one reconcile of `kind` that took `took`.
    pub fn reconciled(&self, kind: &str, took: Duration, failed: bool) {
        let mut kinds = self.kinds.lock().expect("metrics");
        let m = match kinds.iter().position(|(k, _)| *k == kind) {
            Some(i) => &mut kinds[i].1,
            None => {
                kinds.push((kind.to_string(), KindMetrics::default()));
                &mut kinds.last_mut().expect("pushed").1
            }
        };
        let s = took.as_secs_f64();
        m.reconciles += 1;
        m.errors += u64::from(failed);
        m.seconds += s;
        let bucket = BUCKETS
            .iter()
            .position(|b| s <= *b)
            .unwrap_or(BUCKETS.len());
        m.buckets[bucket] += 1;
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let kinds = self.kinds.lock().expect("metrics").clone();
        for (name, help, count) in [
            (
                "runnel_operator_reconciles_total",
                "Reconciles per resource kind.",
                (|m| m.reconciles) as fn(&KindMetrics) -> u64,
            ),
            (
                "runnel_operator_reconcile_errors_total",
                "Reconciles that failed.",
                |m| m.errors,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (kind, m) in &kinds {
                let _ = writeln!(out, "{name}{{kind=\"{kind}\"}} {}", count(m));
            }
        }
        out.push_str("# HELP runnel_operator_reconcile_duration_seconds How long reconciles take.\n# TYPE runnel_operator_reconcile_duration_seconds histogram\n");
        for (kind, m) in &kinds {
            let mut cumulative = 0;
            for (i, bound) in BUCKETS.iter().enumerate() {
                cumulative += m.buckets[i];
                let _ = writeln!(
                    out,
                    "runnel_operator_reconcile_duration_seconds_bucket{{kind=\"{kind}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "runnel_operator_reconcile_duration_seconds_bucket{{kind=\"{kind}\",le=\"+Inf\"}} {}",
                m.reconciles
            );
            let _ = writeln!(
                out,
                "runnel_operator_reconcile_duration_seconds_sum{{kind=\"{kind}\"}} {}",
                m.seconds
            );
            let _ = writeln!(
                out,
                "runnel_operator_reconcile_duration_seconds_count{{kind=\"{kind}\"}} {}",
                m.reconciles
            );
        }
        if let Some(rss) = resident_bytes() {
            out.push_str("# HELP process_resident_memory_bytes Resident memory size in bytes.\n# TYPE process_resident_memory_bytes gauge\n");
            let _ = writeln!(out, "process_resident_memory_bytes {rss}");
        }
        out
    }
}

/// The process's resident memory, from `/proc/self/statm`.
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative_and_counts_errors() {
        let m = Metrics::default();
        m.reconciled("FlinkJob", Duration::from_millis(3), false);
        m.reconciled("FlinkJob", Duration::from_millis(30), true);
        m.reconciled("FlinkJob", Duration::from_secs(20), false);
        let text = m.render();
        for line in [
            "runnel_operator_reconciles_total{kind=\"FlinkJob\"} 3",
            "runnel_operator_reconcile_errors_total{kind=\"FlinkJob\"} 1",
            "runnel_operator_reconcile_duration_seconds_bucket{kind=\"FlinkJob\",le=\"0.005\"} 1",
            "runnel_operator_reconcile_duration_seconds_bucket{kind=\"FlinkJob\",le=\"0.05\"} 2",
            "runnel_operator_reconcile_duration_seconds_bucket{kind=\"FlinkJob\",le=\"10\"} 2",
            "runnel_operator_reconcile_duration_seconds_bucket{kind=\"FlinkJob\",le=\"+Inf\"} 3",
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
    }
}
