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
use runnel_crds::{DeletionPolicy, FlinkJob, FlinkJobStatus, LifecycleState};
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
    write_status(ctx, job, &r.st).await?;
    for (warning, reason, note) in r.events.drain(..) {
        info!(
            name = job.metadata.name.as_deref().unwrap_or(""),
            reason, "{note}"
        );
        events::publish(ctx, job, warning, reason, note).await;
    }
    outcome
}

/// Writes the status if it changed.
async fn write_status(ctx: &Context, job: &FlinkJob, status: &FlinkJobStatus) -> Result<()> {
    if job.status.as_ref() == Some(status) {
        return Ok(());
    }
    let mut updated = job.clone();
    updated.status = Some(status.clone());
    controller::write_status(ctx, &updated).await
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
/// in an Event), then every object of the job removed.
async fn cleanup(job: &FlinkJob, ctx: &Context) -> Result<Action> {
    let policy = job
        .spec
        .savepoints
        .as_ref()
        .map(|p| p.on_delete)
        .unwrap_or_default();
    let mut r = Reconcile::new(ctx, job);
    let job_id = r.st.job_status.job_id.clone();
    let obs = r.place.observe(ctx, job, job_id.as_deref()).await;
    let running = obs.as_ref().is_ok_and(|o| o.state() == Some("RUNNING"));
    info!(
        name = job.metadata.name.as_deref().unwrap_or(""),
        policy = ?policy,
        job = ?obs.as_ref().map(|o| o.state().map(str::to_string)).map_err(|e| e.to_string()),
        "deleting"
    );
    let pending =
        r.st.job_status
            .savepoint_info
            .pending
            .as_ref()
            .is_some_and(|p| p.trigger_type == "delete");
    if policy == DeletionPolicy::Savepoint && (running || pending) {
        let obs = obs?;
        if !pending {
            // Another savepoint in progress gives way to the one for deletion.
            r.st.job_status.savepoint_info.pending = None;
        }
        let step = savepoints::drive(&mut r, &obs, "delete", true, None).await;
        write_status(ctx, job, &r.st).await?;
        for (warning, reason, note) in r.events.drain(..) {
            events::publish(ctx, job, warning, reason, note).await;
        }
        match step? {
            Pending::Waiting => return Err(Error::Deleting("the savepoint is being taken".into())),
            Pending::Done(Ok(_)) => {}
            // Deleting goes on: the user asked for it, and the Event says what was lost.
            Pending::Done(Err(_)) => {}
        }
    }
    let ns = job.metadata.namespace.as_deref().unwrap_or("default");
    let name = job.metadata.name.as_deref().unwrap_or_default();
    let done = match &r.place {
        Placement::Own => crate::cluster::delete_all(&ctx.client, ns, name).await?,
        Placement::Session { .. } => match r.place.observe(ctx, job, job_id.as_deref()).await {
            Ok(o) if o.job.as_ref().is_some_and(|j| !terminal(&j.state)) => {
                let jid = o.job.as_ref().map(|j| j.jid.clone()).unwrap_or_default();
                ctx.rest
                    .cancel(&r.place.writer(ctx, job).await?, &jid)
                    .await?;
                false
            }
            // The job ended, or its session is gone with it.
            _ => true,
        },
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
