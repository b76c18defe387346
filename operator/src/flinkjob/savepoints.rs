//! Savepoints of a running job: taken when the nonce changes, periodically, and for upgrades,
//! suspends and deletion; recorded in the history; expired ones disposed of from storage.
//!
//! A savepoint in progress is recorded in the status before it is asked for, and its trigger
//! id after: an operator restarted in between finds the savepoint by time in the job's
//! checkpoint statistics (a stop-with-savepoint that completed) or asks again.

use std::time::Duration;

use runnel_crds::{Savepoint, SavepointTrigger};

use super::placement::{Observed, terminal};
use super::steps::{Reconcile, now, parse_time};
use crate::error::Result;
use crate::rest::TriggerState;

/// Flink's defaults for the savepoint history (`kubernetes.operator.savepoint.history.max.*`).
const DEFAULT_MAX_COUNT: usize = 10;
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// Where a savepoint operation is.
pub enum Pending {
    Waiting,
    /// Its location, or why there is none.
    Done(std::result::Result<String, String>),
}

/// Whether a savepoint of `kind` stops the job: the ones for upgrades, suspends and deletion
/// (periodic and manual ones leave it running).
pub fn stops(kind: &str) -> bool {
    matches!(kind, "upgrade" | "suspend" | "delete")
}

/// Moves the savepoint `kind` (taken with `nonce`; stopping the job when `stop`) one step on.
pub async fn drive(
    r: &mut Reconcile<'_>,
    obs: &Observed,
    kind: &str,
    stop: bool,
    nonce: Option<i64>,
) -> Result<Pending> {
    let Some(pending) = r.st.job_status.savepoint_info.pending.clone() else {
        r.st.job_status.savepoint_info.pending = Some(SavepointTrigger {
            trigger_id: String::new(),
            trigger_type: kind.into(),
            time: now(),
            nonce,
        });
        return Ok(Pending::Waiting);
    };
    let job_id = obs
        .job
        .as_ref()
        .map(|j| j.jid.clone())
        .or_else(|| r.st.job_status.job_id.clone());
    let outcome = if pending.trigger_id.is_empty() {
        match (&obs.job, job_id) {
            (Some(j), _) if j.state == "RUNNING" => {
                let trigger = r
                    .ctx
                    .rest
                    .savepoint(&r.place.writer(r.ctx, r.job).await?, &j.jid, stop)
                    .await?;
                r.st.job_status.savepoint_info.pending = Some(SavepointTrigger {
                    trigger_id: trigger,
                    ..pending
                });
                return Ok(Pending::Waiting);
            }
            // Between states (restarting, or finishing a stop-with-savepoint asked for before
            // the operator restarted): look again.
            (Some(j), _) if !terminal(&j.state) => return Ok(Pending::Waiting),
            // Asked for before a restart of the operator, and the job has ended since.
            (_, Some(id)) => found_by_time(r, &id, &pending)
                .await
                .ok_or_else(|| "the job stopped before the savepoint was taken".to_string()),
            (_, None) => Err("the job is not running".to_string()),
        }
    } else {
        let Some(id) = job_id else {
            return Ok(Pending::Done(Err("the job is gone".into())));
        };
        match r
            .ctx
            .rest
            .savepoint_state(&r.place.reader(r.job), &id, &pending.trigger_id)
            .await?
        {
            TriggerState::InProgress => return Ok(Pending::Waiting),
            TriggerState::Completed(location) => Ok(location),
            TriggerState::Failed(cause) => Err(cause),
            TriggerState::Unknown => found_by_time(r, &id, &pending).await.ok_or_else(|| {
                format!(
                    "the JobManager no longer knows savepoint {} (it restarted)",
                    pending.trigger_id
                )
            }),
        }
    };
    let info = &mut r.st.job_status.savepoint_info;
    info.pending = None;
    if pending.trigger_type == "manual" {
        info.last_trigger_nonce = pending.nonce;
    }
    match &outcome {
        Ok(location) => {
            let savepoint = Savepoint {
                location: location.clone(),
                time: now(),
                trigger_type: pending.trigger_type.clone(),
            };
            info.history.push(savepoint.clone());
            info.last_savepoint = Some(savepoint);
            r.events.push((
                false,
                "SavepointCompleted",
                format!("{} savepoint at {location}", pending.trigger_type),
            ));
        }
        Err(reason) => {
            r.events.push((
                true,
                "SavepointFailed",
                format!("{} savepoint failed: {reason}", pending.trigger_type),
            ));
        }
    }
    Ok(Pending::Done(outcome))
}

/// A savepoint whose trigger is not known (asked for before the operator restarted, or
/// forgotten by a JobManager that restarted): if it completed, the job's checkpoint statistics
/// have it, newer than when it was asked for.
async fn found_by_time(
    r: &Reconcile<'_>,
    job_id: &str,
    pending: &SavepointTrigger,
) -> Option<String> {
    let since = parse_time(&pending.time).map_or(0, |t| t.timestamp_millis());
    let reader = r.place.reader(r.job);
    r.ctx
        .rest
        .latest_savepoint(&reader, job_id, since)
        .await
        .ok()
        .flatten()
}

/// Savepoints of a deployed job: the one in progress, the nonce's, the periodic one, and the
/// history's retention. True while one is in progress.
pub async fn observe(r: &mut Reconcile<'_>, obs: &Observed) -> Result<bool> {
    let info = r.st.job_status.savepoint_info.clone();
    let running = obs.state() == Some("RUNNING");
    let pending = if let Some(p) = &info.pending {
        matches!(
            drive(r, obs, &p.trigger_type.clone(), false, p.nonce).await?,
            Pending::Waiting
        )
    } else if !running {
        false
    } else if let Some(nonce) = r.job.spec.job.lifecycle.savepoint_trigger_nonce
        && info.last_trigger_nonce != Some(nonce)
    {
        drive(r, obs, "manual", false, Some(nonce)).await?;
        true
    } else if periodic_due(r) {
        r.st.job_status.savepoint_info.last_periodic_time = Some(now());
        drive(r, obs, "periodic", false, None).await?;
        true
    } else {
        false
    };
    let checkpointing = checkpoint_by_nonce(r, obs).await?;
    retain(r).await;
    Ok(pending || checkpointing)
}

/// The checkpoint `checkpointTriggerNonce` asks for: triggered once per nonce, followed until
/// it completes. True while it is in progress.
async fn checkpoint_by_nonce(r: &mut Reconcile<'_>, obs: &Observed) -> Result<bool> {
    let Some(job) = obs.job.as_ref().filter(|j| j.state == "RUNNING") else {
        return Ok(false);
    };
    let info = r.st.job_status.checkpoint_info.clone();
    if let Some(trigger) = &info.pending_trigger_id {
        let outcome = r
            .ctx
            .rest
            .checkpoint_state(&r.place.reader(r.job), &job.jid, trigger)
            .await?;
        let event = match outcome {
            TriggerState::InProgress => return Ok(true),
            TriggerState::Completed(location) => (
                false,
                "CheckpointCompleted",
                format!("checkpoint at {location}"),
            ),
            TriggerState::Failed(cause) => (
                true,
                "CheckpointFailed",
                format!("the checkpoint failed: {cause}"),
            ),
            TriggerState::Unknown => (
                true,
                "CheckpointFailed",
                format!("the JobManager no longer knows checkpoint {trigger}"),
            ),
        };
        r.events.push(event);
        r.st.job_status.checkpoint_info.pending_trigger_id = None;
        return Ok(false);
    }
    match r.job.spec.job.lifecycle.checkpoint_trigger_nonce {
        Some(nonce) if info.last_trigger_nonce != Some(nonce) => {
            let trigger = r
                .ctx
                .rest
                .checkpoint(&r.place.writer(r.ctx, r.job).await?, &job.jid)
                .await?;
            let ci = &mut r.st.job_status.checkpoint_info;
            ci.last_trigger_nonce = Some(nonce);
            ci.pending_trigger_id = Some(trigger);
            Ok(true)
        }
        _ => Ok(false),
    }
}

fn periodic_due(r: &Reconcile<'_>) -> bool {
    let Some(interval) = r
        .job
        .spec
        .savepoints
        .as_ref()
        .and_then(|p| p.interval.as_deref())
        .and_then(parse_duration)
    else {
        return false;
    };
    let info = &r.st.job_status.savepoint_info;
    // Counted from the last one taken (or, before any, from when the job started).
    let since = info
        .last_periodic_time
        .as_deref()
        .or(r.st.reconciliation_status.deployed_time.as_deref())
        .and_then(parse_time);
    since.is_none_or(|t| (chrono::Utc::now() - t).to_std().unwrap_or_default() >= interval)
}

/// Disposes of savepoints beyond the count or older than the age (never the latest one, which
/// the next stateful deployment restores); one that cannot be disposed of stays listed and is
/// tried again.
async fn retain(r: &mut Reconcile<'_>) {
    let policy = r.job.spec.savepoints.clone().unwrap_or_default();
    let max_count = policy
        .max_count
        .map_or(DEFAULT_MAX_COUNT, |n| n.max(1) as usize);
    let max_age = policy
        .max_age
        .as_deref()
        .and_then(parse_duration)
        .unwrap_or(DEFAULT_MAX_AGE);
    let info = &r.st.job_status.savepoint_info;
    let latest = info.last_savepoint.as_ref().map(|s| s.location.clone());
    let total = info.history.len();
    let expired: Vec<Savepoint> = info
        .history
        .iter()
        .enumerate()
        .filter(|(i, s)| {
            let too_many = total - i > max_count;
            let too_old = parse_time(&s.time)
                .is_some_and(|t| (chrono::Utc::now() - t).to_std().unwrap_or_default() > max_age);
            (too_many || too_old) && Some(&s.location) != latest.as_ref()
        })
        .map(|(_, s)| s.clone())
        .collect();
    if expired.is_empty() {
        return;
    }
    let writer = match r.place.writer(r.ctx, r.job).await {
        Ok(w) => w,
        Err(e) => {
            r.events
                .push((true, "SavepointDisposalFailed", e.to_string()));
            return;
        }
    };
    for s in expired {
        match r.ctx.rest.dispose_savepoint(&writer, &s.location).await {
            Ok(()) => {
                r.st.job_status
                    .savepoint_info
                    .history
                    .retain(|h| h.location != s.location);
                r.events.push((
                    false,
                    "SavepointDisposed",
                    format!("disposed of {} (retention)", s.location),
                ));
            }
            Err(e) => r.events.push((
                true,
                "SavepointDisposalFailed",
                format!("{}: {e}", s.location),
            )),
        }
    }
}

/// The durations of the savepoint policy (`90s`, `30m`, `6h`, `7d`, `500ms`).
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let n: u64 = s[..split].parse().ok()?;
    Some(match &s[split..] {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.checked_mul(60)?),
        "h" => Duration::from_secs(n.checked_mul(3600)?),
        "d" => Duration::from_secs(n.checked_mul(86_400)?),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_the_crd_writes_them() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("30m"), Some(Duration::from_secs(1800)));
        assert_eq!(parse_duration("6h"), Some(Duration::from_secs(21_600)));
        assert_eq!(parse_duration("7d"), Some(Duration::from_secs(604_800)));
        // Not a duration, or one too long to hold: none, never a wrapped small one.
        for bad in ["", "7", "d", "7w", "1.5h", "99999999999999999d"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn only_upgrades_suspends_and_deletions_stop_the_job() {
        for kind in ["upgrade", "suspend", "delete"] {
            assert!(stops(kind), "{kind}");
        }
        for kind in ["manual", "periodic"] {
            assert!(!stops(kind), "{kind}");
        }
    }
}
