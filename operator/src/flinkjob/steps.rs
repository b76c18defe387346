//! The lifecycle of a `FlinkJob`, one step per reconcile. Each step reads the status, does at
//! most one thing, and records in the status what it did and what comes next, so an operator
//! restarted at any point resumes where it stopped instead of guessing:
//!
//! ```text
//! (new) ──► STOPPED ──► DEPLOYING ──► (stable: observe, savepoints)
//!              ▲                          │ spec change / suspend
//!              │                          ▼
//!              └──────────────────── STOPPING (savepoint per upgradeMode)
//! ```
//! A deployment whose job does not run within the deadline rolls back to the last stable spec.

use std::time::Duration;

use kube::runtime::controller::Action;
use runnel_crds::{
    FlinkJob, FlinkJobSpec, FlinkJobStatus, JobManagerDeploymentStatus, JobState, LifecycleState,
    UpgradeMode, UpgradeStep,
};

use super::placement::{Observed, Placement, terminal};
use super::savepoints::{self, Pending};
use super::spec::{self, Change};
use crate::cluster::HaCheckpoint;
use crate::context::Context;
use crate::error::{Error, Result};

/// How soon a step in progress looks again.
const STEP: Duration = Duration::from_secs(2);

/// One reconcile of one `FlinkJob`: the status it starts from and ends with, and the Events
/// of what it did.
pub struct Reconcile<'a> {
    pub ctx: &'a Context,
    pub job: &'a FlinkJob,
    pub place: Placement,
    pub st: FlinkJobStatus,
    /// (warning, reason, note)
    pub events: Vec<(bool, &'static str, String)>,
}

impl<'a> Reconcile<'a> {
    pub fn new(ctx: &'a Context, job: &'a FlinkJob) -> Self {
        Reconcile {
            ctx,
            job,
            place: Placement::of(job),
            st: job.status.clone().unwrap_or_default(),
            events: Vec::new(),
        }
    }

    fn event(&mut self, warning: bool, reason: &'static str, note: impl Into<String>) {
        self.events.push((warning, reason, note.into()));
    }

    /// The spec being deployed (or last deployed).
    fn target(&self) -> Result<FlinkJobSpec> {
        self.st
            .reconciliation_status
            .last_reconciled_spec
            .as_deref()
            .and_then(spec::parse)
            .ok_or_else(|| {
                Error::Invalid(
                    "status.reconciliationStatus.lastReconciledSpec is unreadable".into(),
                )
            })
    }

    /// The next step.
    pub async fn step(&mut self) -> Result<Action> {
        if let Some(step) = self.st.reconciliation_status.upgrade_step {
            return match step {
                UpgradeStep::Stopping => self.stopping().await,
                UpgradeStep::Stopped => self.stopped().await,
                UpgradeStep::Deploying => self.deploying().await,
            };
        }
        let wanted = spec::deployed_part(&self.job.spec);
        let rs = &mut self.st.reconciliation_status;
        let Some(last) = rs.last_reconciled_spec.clone() else {
            // The first deployment.
            rs.last_reconciled_spec = Some(wanted);
            if self.job.spec.job.lifecycle.state == JobState::Suspended {
                self.st.lifecycle_state = LifecycleState::Suspended;
                self.event(
                    false,
                    "Suspended",
                    "created suspended: nothing is deployed until spec.job.state is running",
                );
                return Ok(Action::requeue(self.ctx.settings.observe_interval));
            }
            rs.restore_savepoint = self.job.spec.job.lifecycle.initial_savepoint_path.clone();
            rs.upgrade_step = Some(UpgradeStep::Stopped);
            return Ok(Action::requeue(Duration::ZERO));
        };
        if rs.rolled_back_from.as_deref() == Some(wanted.as_str()) {
            return self.observe().await;
        }
        if rs.rolled_back_from.is_some() && last == wanted {
            // The spec is the stable one again: the rollback is over, and the failed spec may
            // be tried again later.
            rs.rolled_back_from = None;
            if self.st.lifecycle_state == LifecycleState::RolledBack {
                self.st.lifecycle_state = LifecycleState::Stable;
                self.st.error = None;
            }
        }
        match spec::classify(&last, &wanted) {
            Change::None => self.observe().await,
            Change::Scale => self.scale(wanted).await,
            change @ (Change::Upgrade | Change::Suspend) => Ok(self.begin_change(wanted, change)),
            Change::Resume => {
                rs.last_reconciled_spec = Some(wanted);
                rs.rolled_back_from = None;
                rs.upgrade_step = Some(UpgradeStep::Stopped);
                self.st.lifecycle_state = LifecycleState::Upgrading;
                self.event(false, "Resuming", "resuming the job from its state");
                Ok(Action::requeue(Duration::ZERO))
            }
        }
    }

    /// Records `wanted` as the target of an upgrade or suspend; STOPPING comes next.
    fn begin_change(&mut self, wanted: String, change: Change) -> Action {
        let rs = &mut self.st.reconciliation_status;
        rs.last_reconciled_spec = Some(wanted);
        rs.rolled_back_from = None;
        rs.upgrade_step = Some(UpgradeStep::Stopping);
        self.st.lifecycle_state = LifecycleState::Upgrading;
        let mode = self.job.spec.job.lifecycle.upgrade_mode;
        let (reason, what) = if change == Change::Suspend {
            ("Suspending", "suspending the job")
        } else {
            ("SpecChanged", "upgrading the job")
        };
        self.event(
            false,
            reason,
            format!("{what} (upgradeMode {})", mode_name(mode)),
        );
        Action::requeue(Duration::ZERO)
    }

    /// A change of parallelism alone: the running job is rescaled in place (its JobManager
    /// stops it with a savepoint and restores it at the new parallelism); a job that is not
    /// running is upgraded instead.
    async fn scale(&mut self, wanted: String) -> Result<Action> {
        let obs = self.look().await?;
        let (Some(parallelism), Some(job)) = (
            self.job.spec.job.lifecycle.parallelism,
            obs.job.as_ref().filter(|j| j.state == "RUNNING"),
        ) else {
            return Ok(self.begin_change(wanted, Change::Upgrade));
        };
        let writer = self.place.writer(self.ctx, self.job).await?;
        self.ctx
            .rest
            .rescale(&writer, &job.jid, parallelism)
            .await?;
        let rs = &mut self.st.reconciliation_status;
        rs.last_reconciled_spec = Some(wanted.clone());
        rs.last_stable_spec = Some(wanted);
        rs.rolled_back_from = None;
        rs.rescaled_time = Some(now());
        self.event(
            false,
            "Scaled",
            format!("rescaling the running job to parallelism {parallelism} in place"),
        );
        Ok(Action::requeue(STEP))
    }

    /// Rescales the running job back to the spec's parallelism when a JobManager that took
    /// over resumed it at its Deployment's (which an in-place rescale does not change): the
    /// job runs at exactly the Deployment's parallelism while the spec says another. (A job
    /// whose widest vertex sets its own parallelism never matches, so it is left alone.) Not
    /// within 30 s of the last rescale, which may still be under way.
    async fn keep_parallelism(&mut self, obs: &Observed) -> Result<()> {
        let Some(job) = obs.job.as_ref().filter(|j| j.state == "RUNNING") else {
            return Ok(());
        };
        let Some(deployed) = obs.deployed_parallelism else {
            return Ok(());
        };
        let Some(wanted) = self.target()?.job.lifecycle.parallelism else {
            return Ok(());
        };
        let recent = self
            .st
            .reconciliation_status
            .rescaled_time
            .as_deref()
            .and_then(parse_time)
            .is_some_and(|t| (chrono::Utc::now() - t).num_seconds() < 30);
        if recent {
            return Ok(());
        }
        let running = self
            .ctx
            .rest
            .parallelism(&self.place.reader(self.job), &job.jid)
            .await?;
        if running != Some(deployed) || deployed == i64::from(wanted) {
            return Ok(());
        }
        let writer = self.place.writer(self.ctx, self.job).await?;
        self.ctx.rest.rescale(&writer, &job.jid, wanted).await?;
        self.st.reconciliation_status.rescaled_time = Some(now());
        self.event(
            true,
            "Rescaled",
            format!("the job ran at parallelism {running:?}, not {wanted}; rescaling it"),
        );
        Ok(())
    }

    /// Secures the old job's state per the upgrade mode, then moves on to STOPPED.
    async fn stopping(&mut self) -> Result<Action> {
        let target = self.target()?;
        let mode = target.job.lifecycle.upgrade_mode;
        let kind = if target.job.lifecycle.state == JobState::Suspended {
            "suspend"
        } else {
            "upgrade"
        };
        let job_id = self.st.job_status.job_id.clone();
        let obs = self
            .place
            .observe(self.ctx, self.job, job_id.as_deref())
            .await?;
        let running = obs.state() == Some("RUNNING");
        let rs = &mut self.st.reconciliation_status;
        rs.restore_savepoint = None;
        rs.restore_last_state = false;
        match mode {
            UpgradeMode::Stateless => {}
            UpgradeMode::Savepoint
                if running || self.st.job_status.savepoint_info.pending.is_some() =>
            {
                // A savepoint under way that leaves the job running (periodic, manual) is seen
                // through and recorded first; the stop-with-savepoint comes after it.
                if let Some(p) = (self.st.job_status.savepoint_info.pending.clone())
                    .filter(|p| !savepoints::stops(&p.trigger_type))
                {
                    let step = savepoints::drive(self, &obs, &p.trigger_type, false, p.nonce);
                    return Ok(Action::requeue(match step.await? {
                        Pending::Waiting => STEP,
                        Pending::Done(_) => Duration::ZERO,
                    }));
                }
                match savepoints::drive(self, &obs, kind, true, None).await? {
                    Pending::Waiting => return Ok(Action::requeue(STEP)),
                    Pending::Done(Ok(location)) => {
                        self.st.reconciliation_status.restore_savepoint = Some(location);
                    }
                    Pending::Done(Err(reason)) => {
                        // The job runs on; try again after the backoff.
                        return Err(Error::Invalid(format!(
                            "the {kind} savepoint failed: {reason}"
                        )));
                    }
                }
            }
            UpgradeMode::Savepoint | UpgradeMode::LastState => {
                if let Err(reason) = self.choose_fallback(mode, &obs).await? {
                    return self.fail_keeping_state(reason);
                }
            }
        }
        self.st.reconciliation_status.upgrade_step = Some(UpgradeStep::Stopped);
        Ok(Action::requeue(Duration::ZERO))
    }

    /// Without a savepoint of the running job: the latest checkpoint high availability
    /// recorded (resumed from the records while the job was running, restored like a
    /// savepoint once it failed), else the last savepoint, else (only when the job never
    /// completed a checkpoint, so there is no state to lose) nothing. Otherwise the reason,
    /// with the candidates found, and nothing is chosen. A choice other than the records of a
    /// running job is named in an Event.
    async fn choose_fallback(
        &mut self,
        mode: UpgradeMode,
        obs: &Observed,
    ) -> Result<std::result::Result<(), String>> {
        let ha = self.place.ha_checkpoint(self.ctx, self.job).await?;
        let last_savepoint = self
            .st
            .job_status
            .savepoint_info
            .last_savepoint
            .as_ref()
            .map(|s| s.location.clone());
        let rs = &mut self.st.reconciliation_status;
        rs.restore_savepoint = None;
        rs.restore_last_state = false;
        match (ha, last_savepoint) {
            (Some(HaCheckpoint::Running(_)), savepoint) => {
                rs.restore_last_state = true;
                // The savepoint serves if the records hold no checkpoint after all.
                rs.restore_savepoint = savepoint;
            }
            (Some(HaCheckpoint::Failed(checkpoint)), _) => {
                rs.restore_savepoint = Some(checkpoint.clone());
                self.event(
                    false,
                    "RestoringCheckpoint",
                    format!("the job failed; restoring its latest checkpoint {checkpoint}"),
                );
            }
            (None, Some(savepoint)) => {
                rs.restore_savepoint = Some(savepoint.clone());
                let (reason, why) = match mode {
                    UpgradeMode::LastState => (
                        "LastStateUnavailable",
                        "no checkpoint is recorded by high availability".to_string(),
                    ),
                    _ => (
                        "RestoringLastSavepoint",
                        format!("the job is not running ({})", observed_state(obs)),
                    ),
                };
                self.event(
                    true,
                    reason,
                    format!("{why}; restoring the last savepoint {savepoint}"),
                );
            }
            (None, None) => {
                let checkpoint = &self.st.job_status.checkpoint_info.last_checkpoint_path;
                if let Some(path) = checkpoint {
                    return Ok(Err(format!(
                        "upgradeMode {} needs the job's state, but the job is not running ({}) \
                         and high availability records no checkpoint; candidates: last \
                         checkpoint {path} (set spec.job.initialSavepointPath to it, and change \
                         the spec, to restore it)",
                        mode_name(mode),
                        observed_state(obs)
                    )));
                }
            }
        }
        Ok(Ok(()))
    }

    /// Stops in FAILED rather than start without the state the upgrade mode promises.
    fn fail_keeping_state(&mut self, reason: String) -> Result<Action> {
        self.st.lifecycle_state = LifecycleState::Failed;
        self.st.reconciliation_status.upgrade_step = None;
        self.st.error = Some(reason.clone());
        self.event(true, "StateNotFound", reason);
        Ok(Action::requeue(self.ctx.settings.observe_interval))
    }

    /// Removes the old deployment, then makes the new one (or stops there when suspending).
    async fn stopped(&mut self) -> Result<Action> {
        let target = self.target()?;
        let rs = self.st.reconciliation_status.clone();
        let job_id = self.st.job_status.job_id.clone();
        if !self
            .place
            .stop(self.ctx, self.job, job_id.as_deref(), rs.restore_last_state)
            .await?
        {
            return Ok(Action::requeue(STEP));
        }
        if target.job.lifecycle.state == JobState::Suspended {
            self.st.lifecycle_state = LifecycleState::Suspended;
            self.st.reconciliation_status.upgrade_step = None;
            self.st.job_status.state = Some("SUSPENDED".into());
            if matches!(self.place, Placement::Own) {
                self.st.job_manager_deployment_status = Some(JobManagerDeploymentStatus::Missing);
            }
            let how = match (&rs.restore_savepoint, rs.restore_last_state) {
                (_, true) => "its latest checkpoint is kept by high availability".to_string(),
                (Some(s), false) => format!("it resumes from {s}"),
                (None, false) => "it resumes without state (stateless)".to_string(),
            };
            self.event(false, "Suspended", format!("the job is suspended; {how}"));
            return Ok(Action::requeue(self.ctx.settings.observe_interval));
        }
        let restore = rs.restore_savepoint.clone();
        let submitted = self
            .place
            .deploy(self.ctx, self.job, &target, restore.clone())
            .await?;
        let js = &mut self.st.job_status;
        js.job_id = submitted;
        js.state = None;
        js.start_time = None;
        let rs = &mut self.st.reconciliation_status;
        rs.upgrade_step = Some(UpgradeStep::Deploying);
        rs.deployed_time = Some(now());
        rs.deployed_generation = self.job.metadata.generation;
        if self.st.lifecycle_state == LifecycleState::Created {
            self.st.lifecycle_state = LifecycleState::Deployed;
        }
        let from = match (restore, rs.restore_last_state) {
            (_, true) => " resuming from the checkpoint high availability recorded".to_string(),
            (Some(s), false) => format!(" restoring {s}"),
            (None, false) => String::new(),
        };
        self.event(
            false,
            "Deployed",
            format!(
                "deployed generation {}{from}",
                self.job.metadata.generation.unwrap_or(0)
            ),
        );
        Ok(Action::requeue(STEP))
    }

    /// Waits for the new deployment's job to run, rolling back (or failing) at the deadline.
    async fn deploying(&mut self) -> Result<Action> {
        let obs = self.look().await?;
        // The Deployment says which generation it was made for: another one (an operator that
        // stopped between recording the step and making it, or an edit by hand) is made again.
        let recorded = self.st.reconciliation_status.deployed_generation;
        if matches!(self.place, Placement::Own)
            && obs.made_for.is_some()
            && obs.made_for != recorded
        {
            self.event(
                true,
                "DeploymentMismatch",
                format!(
                    "the JobManager Deployment was made for generation {:?}, not {:?}; making it again",
                    obs.made_for, recorded
                ),
            );
            self.st.reconciliation_status.upgrade_step = Some(UpgradeStep::Stopped);
            return Ok(Action::requeue(Duration::ZERO));
        }
        match obs.state() {
            Some("RUNNING" | "FINISHED") => {
                let rs = &mut self.st.reconciliation_status;
                rs.upgrade_step = None;
                rs.restore_savepoint = None;
                rs.restore_last_state = false;
                rs.last_stable_spec = rs.last_reconciled_spec.clone();
                let rolled_back = rs.rolled_back_from.is_some();
                if !rolled_back {
                    self.st.error = None;
                }
                self.st.lifecycle_state = if rolled_back {
                    LifecycleState::RolledBack
                } else {
                    LifecycleState::Stable
                };
                let note = if rolled_back {
                    "the last stable spec runs again"
                } else {
                    "the job runs"
                };
                self.event(
                    false,
                    if rolled_back {
                        "RolledBack"
                    } else {
                        "JobRunning"
                    },
                    note,
                );
                Ok(Action::requeue(self.ctx.settings.observe_interval))
            }
            Some("FAILED") => {
                let cause = self.root_cause(&obs).await;
                self.deployment_failed(format!("the job failed: {cause}"))
            }
            _ => {
                let since = self
                    .st
                    .reconciliation_status
                    .deployed_time
                    .as_deref()
                    .and_then(parse_time);
                let waited = since.map_or(Duration::ZERO, |t| {
                    (chrono::Utc::now() - t).to_std().unwrap_or_default()
                });
                if waited > self.ctx.settings.deployment_timeout {
                    let why = obs
                        .unreachable
                        .clone()
                        .or_else(|| obs.state().map(str::to_string))
                        .unwrap_or_default();
                    return self.deployment_failed(format!(
                        "the job is not running {} s after it was deployed (JobManager {:?}: {why})",
                        waited.as_secs(),
                        obs.jobmanager
                    ));
                }
                Ok(Action::requeue(STEP))
            }
        }
    }

    /// Goes back to the last stable spec, or stops in FAILED when there is none to go back to.
    fn deployment_failed(&mut self, reason: String) -> Result<Action> {
        let rs = &mut self.st.reconciliation_status;
        match (&rs.last_stable_spec, &rs.last_reconciled_spec) {
            (Some(stable), Some(failed)) if stable != failed && rs.rolled_back_from.is_none() => {
                rs.rolled_back_from = Some(failed.clone());
                rs.last_reconciled_spec = Some(stable.clone());
                rs.upgrade_step = Some(UpgradeStep::Stopping);
                self.st.lifecycle_state = LifecycleState::RollingBack;
                self.st.error = Some(reason.clone());
                self.event(
                    true,
                    "RollingBack",
                    format!("{reason}; rolling back to the last stable spec"),
                );
                Ok(Action::requeue(Duration::ZERO))
            }
            _ => {
                rs.upgrade_step = None;
                self.st.lifecycle_state = LifecycleState::Failed;
                self.st.error = Some(reason.clone());
                self.event(true, "DeploymentFailed", reason);
                Ok(Action::requeue(self.ctx.settings.observe_interval))
            }
        }
    }

    /// A deployed job: its state, checkpoints and savepoints.
    async fn observe(&mut self) -> Result<Action> {
        if self.st.lifecycle_state == LifecycleState::Suspended {
            return Ok(Action::requeue(self.ctx.settings.observe_interval));
        }
        let obs = self.look().await?;
        if matches!(self.place, Placement::Own)
            && obs.jobmanager == JobManagerDeploymentStatus::Missing
        {
            // Someone deleted the JobManager: make it again, resuming from the HA records (or
            // the state that is left, as an upgrade in last-state mode would).
            self.event(
                true,
                "JobManagerMissing",
                "the JobManager Deployment is gone; deploying it again from the job's latest state",
            );
            // A stateless job may start empty; any other stops in FAILED without its state.
            let mode = self.target()?.job.lifecycle.upgrade_mode;
            if let Err(reason) = self.choose_fallback(UpgradeMode::LastState, &obs).await?
                && mode != UpgradeMode::Stateless
            {
                return self.fail_keeping_state(reason);
            }
            self.st.reconciliation_status.upgrade_step = Some(UpgradeStep::Stopped);
            return Ok(Action::requeue(Duration::ZERO));
        }
        match obs.state() {
            Some("FAILED") if self.st.lifecycle_state != LifecycleState::Failed => {
                let cause = self.root_cause(&obs).await;
                self.st.lifecycle_state = LifecycleState::Failed;
                self.st.error = Some(format!("the job failed: {cause}"));
                self.event(true, "JobFailed", format!("the job failed: {cause}"));
            }
            Some("RUNNING") if self.st.lifecycle_state == LifecycleState::Failed => {
                self.st.lifecycle_state = LifecycleState::Stable;
                self.st.error = None;
            }
            _ => {}
        }
        self.keep_parallelism(&obs).await?;
        let pending = savepoints::observe(self, &obs).await?;
        Ok(Action::requeue(if pending {
            STEP
        } else {
            self.ctx.settings.observe_interval
        }))
    }

    /// Observes the job and records what was seen.
    async fn look(&mut self) -> Result<Observed> {
        let job_id = self.st.job_status.job_id.clone();
        let obs = self
            .place
            .observe(self.ctx, self.job, job_id.as_deref())
            .await?;
        self.record(&obs).await;
        Ok(obs)
    }

    /// Writes what was observed into the status.
    async fn record(&mut self, obs: &Observed) {
        if matches!(self.place, Placement::Own) {
            self.st.job_manager_deployment_status = Some(obs.jobmanager);
        }
        let js = &mut self.st.job_status;
        js.update_time = Some(now());
        match &obs.job {
            Some(j) => {
                js.job_id = Some(j.jid.clone());
                js.job_name = Some(j.name.clone());
                js.state = Some(j.state.clone());
                js.start_time =
                    chrono::DateTime::from_timestamp_millis(j.start_time).map(|t| t.to_rfc3339());
                if !terminal(&j.state) || j.state == "FINISHED" {
                    let reader = self.place.reader(self.job);
                    if let Ok(Some(c)) = self.ctx.rest.latest_checkpoint(&reader, &j.jid).await {
                        js.checkpoint_info.last_checkpoint_id = Some(c.id);
                        js.checkpoint_info.last_checkpoint_path = Some(c.path);
                    }
                }
            }
            None => js.state = Some("RECONCILING".into()),
        }
    }

    async fn root_cause(&self, obs: &Observed) -> String {
        let Some(j) = &obs.job else {
            return "unknown".into();
        };
        match self
            .ctx
            .rest
            .root_cause(&self.place.reader(self.job), &j.jid)
            .await
        {
            Ok(Some(cause)) => cause,
            Ok(None) => "no exception recorded".into(),
            Err(e) => format!("its exceptions could not be read: {e}"),
        }
    }
}

/// What was seen of the job, for messages.
fn observed_state(obs: &Observed) -> &str {
    obs.state()
        .or(obs.unreachable.as_deref())
        .unwrap_or("unknown")
}

/// Flink's spelling of an upgrade mode, for messages.
pub fn mode_name(mode: UpgradeMode) -> &'static str {
    match mode {
        UpgradeMode::Stateless => "stateless",
        UpgradeMode::Savepoint => "savepoint",
        UpgradeMode::LastState => "last-state",
    }
}

pub fn now() -> String {
    chrono::Utc::now().to_rfc3339()
}

pub fn parse_time(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}
