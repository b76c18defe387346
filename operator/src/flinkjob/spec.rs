//! What a deployment of a job is made of, and how a spec change is classified: fields that
//! only ask for an action (the savepoint and checkpoint nonces) or describe policy (savepoint
//! schedule and retention, deletion) never redeploy the job, and a change of parallelism
//! alone rescales the running job in place.

use runnel_crds::{FlinkJobSpec, JobState};

/// The spec with the fields that do not shape a deployment cleared, as the JSON kept in
/// `status.reconciliationStatus`.
pub fn deployed_part(spec: &FlinkJobSpec) -> String {
    let mut s = spec.clone();
    s.job.lifecycle.savepoint_trigger_nonce = None;
    s.job.lifecycle.checkpoint_trigger_nonce = None;
    s.savepoints = None;
    serde_json::to_string(&s).expect("specs encode as JSON")
}

/// A spec recorded by [`deployed_part`].
pub fn parse(json: &str) -> Option<FlinkJobSpec> {
    serde_json::from_str(json).ok()
}

/// How the wanted spec differs from what was last reconciled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Nothing that shapes the deployment.
    None,
    /// Stop the job, keeping its state per the upgrade mode, and run no pods.
    Suspend,
    /// Start a suspended job again from its state.
    Resume,
    /// Only the parallelism: rescale the running job in place.
    Scale,
    /// Stop the job (per the upgrade mode) and deploy the new spec.
    Upgrade,
}

/// Classifies `wanted` against `last` (both [`deployed_part`]s).
pub fn classify(last: &str, wanted: &str) -> Change {
    if last == wanted {
        return Change::None;
    }
    let (Some(a), Some(b)) = (parse(last), parse(wanted)) else {
        return Change::Upgrade;
    };
    match (a.job.lifecycle.state, b.job.lifecycle.state) {
        (JobState::Running, JobState::Suspended) => Change::Suspend,
        (JobState::Suspended, JobState::Running) => Change::Resume,
        // A suspended job changes spec without running: it is applied at resume.
        (JobState::Suspended, JobState::Suspended) => Change::None,
        (JobState::Running, JobState::Running) => {
            let mut same_parallelism = b.clone();
            same_parallelism.job.lifecycle.parallelism = a.job.lifecycle.parallelism;
            if same_parallelism == a && b.job.lifecycle.parallelism.is_some() {
                Change::Scale
            } else {
                Change::Upgrade
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use runnel_crds::{JobSource, SavepointPolicy};

    fn spec(parallelism: i32, state: JobState) -> FlinkJobSpec {
        FlinkJobSpec {
            cluster: Default::default(),
            session_ref: None,
            job: JobSource {
                sql: Some("INSERT INTO t SELECT 1".into()),
                lifecycle: runnel_crds::JobLifecycle {
                    parallelism: Some(parallelism),
                    state,
                    ..Default::default()
                },
                ..Default::default()
            },
            savepoints: None,
        }
    }

    #[test]
    fn nonces_and_policies_never_redeploy() {
        let base = spec(2, JobState::Running);
        let mut nonce = base.clone();
        nonce.job.lifecycle.savepoint_trigger_nonce = Some(7);
        nonce.job.lifecycle.checkpoint_trigger_nonce = Some(3);
        nonce.savepoints = Some(SavepointPolicy {
            max_count: Some(3),
            ..Default::default()
        });
        assert_eq!(
            classify(&deployed_part(&base), &deployed_part(&nonce)),
            Change::None
        );
        let mut restart = base.clone();
        restart.job.lifecycle.restart_nonce = Some(1);
        assert_eq!(
            classify(&deployed_part(&base), &deployed_part(&restart)),
            Change::Upgrade
        );
        let scaled = spec(3, JobState::Running);
        assert_eq!(
            classify(&deployed_part(&base), &deployed_part(&scaled)),
            Change::Scale
        );
        let mut scaled_and_changed = scaled.clone();
        scaled_and_changed.job.sql = Some("INSERT INTO t SELECT 2".into());
        assert_eq!(
            classify(&deployed_part(&base), &deployed_part(&scaled_and_changed)),
            Change::Upgrade
        );
        let suspended = spec(2, JobState::Suspended);
        assert_eq!(
            classify(&deployed_part(&base), &deployed_part(&suspended)),
            Change::Suspend
        );
        assert_eq!(
            classify(&deployed_part(&suspended), &deployed_part(&base)),
            Change::Resume
        );
        let suspended_scaled = spec(4, JobState::Suspended);
        assert_eq!(
            classify(
                &deployed_part(&suspended),
                &deployed_part(&suspended_scaled)
            ),
            Change::None
        );
    }
}
