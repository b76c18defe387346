//! The `FlinkJob` controller: a finalizer guards deletion (savepoint per policy, then every
//! object removed), each reconcile takes one step of the lifecycle (`steps`), and errors are
//! written to status and retried with exponential backoff.

mod placement;
mod savepoints;
mod spec;
mod steps;

use std::sync::Arc;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::api::Api;
use kube::runtime::controller::Action;
use runnel_crds::{
    DeletionPolicy, FlinkJob, FlinkJobStatus, JobManagerDeploymentStatus, LifecycleState,
};
use tracing::info;

use crate::context::Context;
use crate::controller;
use crate::error::{Error, Result};
use crate::events;
use placement::Placement;
pub use placement::terminal;
use savepoints::Pending;
pub use savepoints::parse_duration;
use steps::Reconcile;

/// Runs the controller over `namespaces` (all when empty) until the process ends.
pub async fn run(ctx: Arc<Context>, namespaces: &[String]) {
    controller::run::<FlinkJob, _, _>(ctx, namespaces, true, reconcile).await;
}

async fn reconcile(job: Arc<FlinkJob>, ctx: Arc<Context>) -> Result<Action> {
    let ctx = &*ctx;
    controller::with_finalizer(
        job,
        ctx,
        |job| async move { apply(&job, ctx).await },
        |job| async move { cleanup(&job, ctx).await },
    )
    .await
}

/// One step of the lifecycle, with the status written (before the requeue that acts on it)
/// and Events published.
async fn apply(job: &FlinkJob, ctx: &Context) -> Result<Action> {
    let mut r = Reconcile::new(ctx, job);
    let outcome = match check_references(ctx, job).await {
        Err(e) => Err(e),
        Ok(()) => r.step().await,
    };
    let key = job.metadata.uid.clone().unwrap_or_default();
    match &outcome {
        Ok(_) => {
            ctx.backoff_reset(&key);
            // A failure, or the reason of a rollback, stays until the spec changes.
            if !matches!(
                r.st.lifecycle_state,
                LifecycleState::Failed | LifecycleState::RollingBack | LifecycleState::RolledBack
            ) {
                r.st.error = None;
            }
            set_condition(&mut r.st, true, "Reconciled", "");
        }
        Err(e) => {
            let message = e.to_string();
            if r.st.error.as_deref() != Some(message.as_str()) {
                r.events.push((true, "ReconcileError", message.clone()));
            }
            if matches!(e, Error::Invalid(_)) && r.st.reconciliation_status.upgrade_step.is_none() {
                r.st.lifecycle_state = LifecycleState::Failed;
            }
            r.st.error = Some(message.clone());
            set_condition(&mut r.st, false, "ReconcileError", &message);
        }
    }
    r.st.observed_generation = job.metadata.generation;
    save(ctx, &mut job.clone(), &mut r).await?;
    outcome
}

/// Writes the status if it differs from `job`'s, and publishes the Events; `job` becomes the
/// object as written, so a later write in the same reconcile builds on it.
async fn save(ctx: &Context, job: &mut FlinkJob, r: &mut Reconcile<'_>) -> Result<()> {
    if job.status.as_ref() != Some(&r.st) {
        let mut updated = job.clone();
        updated.status = Some(r.st.clone());
        *job = controller::write_status(ctx, &updated).await?;
    }
    for (warning, reason, note) in r.events.drain(..) {
        info!(
            name = job.metadata.name.as_deref().unwrap_or(""),
            reason, "{note}"
        );
        events::publish(ctx, job, warning, reason, note).await;
    }
    Ok(())
}

/// The `Ready` condition: true when the last reconcile succeeded.
fn set_condition(st: &mut FlinkJobStatus, ok: bool, reason: &str, message: &str) {
    let status = if ok && st.lifecycle_state != LifecycleState::Failed {
        "True"
    } else {
        "False"
    };
    let reason = if ok && st.lifecycle_state == LifecycleState::Failed {
        "Failed"
    } else {
        reason
    };
    let message = if message.is_empty() {
        st.error.clone().unwrap_or_default()
    } else {
        message.to_string()
    };
    if let Some(c) = st.conditions.iter_mut().find(|c| c.type_ == "Ready") {
        if c.status == status && c.reason == reason && c.message == message {
            return;
        }
        *c = condition(status, reason, message);
    } else {
        st.conditions.push(condition(status, reason, message));
    }
}

fn condition(status: &str, reason: &str, message: String) -> Condition {
    Condition {
        type_: "Ready".into(),
        status: status.into(),
        reason: reason.into(),
        message,
        last_transition_time: Time(k8s_openapi::jiff::Timestamp::now()),
        observed_generation: None,
    }
}

/// What only the controller can check: the ConfigMap with the SQL and the Secrets the
/// environment refers to exist (names only: no value is read).
async fn check_references(ctx: &Context, job: &FlinkJob) -> Result<()> {
    let ns = job.metadata.namespace.as_deref().unwrap_or("default");
    if let Some(from) = &job.spec.job.sql_from {
        let name = &from.config_map_key_ref.name;
        let cm = Api::<ConfigMap>::namespaced(ctx.client.clone(), ns)
            .get_opt(name)
            .await
            .map_err(|e| Error::kube(format!("reading ConfigMap {ns}/{name}"), e))?;
        let has_key = cm
            .and_then(|c| c.data)
            .is_some_and(|d| d.contains_key(&from.config_map_key_ref.key));
        if !has_key {
            return Err(Error::Invalid(format!(
                "spec.job.sqlFrom: ConfigMap {ns}/{name} with key '{}' does not exist",
                from.config_map_key_ref.key
            )));
        }
    }
    let secrets = Api::<Secret>::namespaced(ctx.client.clone(), ns);
    let c = &job.spec.cluster;
    let mut names: Vec<(String, Option<String>, bool, String)> = Vec::new();
    for (i, e) in c.env.iter().enumerate() {
        if let Some(r) = e
            .value_from
            .as_ref()
            .and_then(|v| v.secret_key_ref.as_ref())
        {
            names.push((
                r.name.clone(),
                Some(r.key.clone()),
                r.optional == Some(true),
                format!("spec.env[{i}] ({})", e.name),
            ));
        }
    }
    for (i, e) in c.env_from.iter().enumerate() {
        if let Some(r) = &e.secret_ref {
            names.push((
                r.name.clone(),
                None,
                r.optional == Some(true),
                format!("spec.envFrom[{i}]"),
            ));
        }
    }
    for (name, key, optional, field) in names {
        if optional {
            continue;
        }
        let found = secrets
            .get_metadata_opt(&name)
            .await
            .map_err(|e| Error::kube(format!("looking up Secret {ns}/{name}"), e))?;
        if found.is_none() {
            let key = key.map(|k| format!(" (key '{k}')")).unwrap_or_default();
            return Err(Error::Invalid(format!(
                "{field}: Secret {ns}/{name}{key} does not exist"
            )));
        }
    }
    Ok(())
}

/// Deletion: per `spec.savepoints.onDelete`, a stop-with-savepoint of the running job (named
/// in an Event), then every object of the job removed. What holds deletion up is written to
/// the status and an Event.
async fn cleanup(job: &FlinkJob, ctx: &Context) -> Result<Action> {
    let mut r = Reconcile::new(ctx, job);
    let mut on_server = job.clone();
    let outcome = delete(&mut r, &mut on_server).await;
    if let Err(e) = &outcome
        && !matches!(e, Error::Deleting(_))
    {
        let message = e.to_string();
        if r.st.error.as_deref() != Some(message.as_str()) {
            r.events.push((true, "DeletionBlocked", message.clone()));
            r.st.error = Some(message);
        }
    }
    save(ctx, &mut on_server, &mut r).await?;
    outcome
}

/// One step of deletion; the savepoint's outcome is written before any object goes.
async fn delete(r: &mut Reconcile<'_>, on_server: &mut FlinkJob) -> Result<Action> {
    let (ctx, job) = (r.ctx, r.job);
    let policy = job
        .spec
        .savepoints
        .as_ref()
        .map(|p| p.on_delete)
        .unwrap_or_default();
    let job_id = r.st.job_status.job_id.clone();
    let obs = r.place.observe(ctx, job, job_id.as_deref()).await;
    let running = obs.as_ref().is_ok_and(|o| o.state() == Some("RUNNING"));
    let unreachable = obs.as_ref().is_ok_and(|o| o.unreachable.is_some());
    info!(
        name = job.metadata.name.as_deref().unwrap_or(""),
        policy = ?policy,
        job = ?obs.as_ref().map(|o| o.state().map(str::to_string)).map_err(|e| e.to_string()),
        "deleting"
    );
    // A stop-with-savepoint under way (for deletion, or an upgrade or suspend it cut short)
    // is followed to its end; a savepoint that leaves the job running gives way.
    let stopping =
        r.st.job_status
            .savepoint_info
            .pending
            .clone()
            .filter(|p| savepoints::stops(&p.trigger_type));
    if policy == DeletionPolicy::Savepoint && (running || stopping.is_some()) {
        // The session, or the JobManager, is gone and the job with it: nothing to save.
        let obs = match obs {
            Err(Error::Invalid(reason)) => Err(reason),
            Ok(o) if o.jobmanager == JobManagerDeploymentStatus::Missing => {
                Err("the JobManager is gone".into())
            }
            Ok(o) => Ok(o),
            Err(e) => return Err(e),
        };
        match obs {
            Ok(obs) => {
                let kind = match stopping {
                    Some(p) => p.trigger_type,
                    None => {
                        r.st.job_status.savepoint_info.pending = None;
                        "delete".to_string()
                    }
                };
                let step = savepoints::drive(r, &obs, &kind, true, None).await;
                save(ctx, on_server, r).await?;
                match step? {
                    Pending::Waiting => {
                        return Err(Error::Deleting("the savepoint is being taken".into()));
                    }
                    Pending::Done(Ok(_)) => {}
                    // Deleting goes on: the user asked for it, and the Event says what was lost.
                    Pending::Done(Err(_)) => {}
                }
            }
            Err(reason) => {
                r.st.job_status.savepoint_info.pending = None;
                r.events.push((
                    true,
                    "SavepointFailed",
                    format!("no savepoint on deletion: {reason}"),
                ));
            }
        }
    }
    let ns = job.metadata.namespace.as_deref().unwrap_or("default");
    let name = job.metadata.name.as_deref().unwrap_or_default();
    let done = match &r.place {
        Placement::Own => crate::cluster::delete_all(&ctx.client, ns, name).await?,
        // A session JobManager that does not answer cannot cancel the job: deletion goes on.
        Placement::Session { .. } => {
            unreachable || r.place.stop(ctx, job, job_id.as_deref(), false).await?
        }
    };
    if !done {
        return Err(Error::Deleting("the job's pods are going".into()));
    }
    events::publish(
        ctx,
        job,
        false,
        "Deleted",
        "every object of the job is removed".into(),
    )
    .await;
    ctx.backoff_reset(job.metadata.uid.as_deref().unwrap_or_default());
    Ok(Action::await_change())
}
