//! The `FlinkSession` controller: a long-lived cluster whose JobManager takes jobs over REST
//! (`FlinkJob`s with `sessionRef`). A spec change redeploys the JobManager, which resumes the
//! running jobs from their latest checkpoints (high availability); deleting a session waits
//! until no `FlinkJob` refers to it.

use std::sync::Arc;
use std::time::Duration;

use kube::Resource;
use kube::api::{Api, ListParams};
use kube::runtime::controller::Action;
use runnel_crds::{
    FlinkJob, FlinkSession, FlinkSessionStatus, JobManagerDeploymentStatus, LifecycleState,
};

use crate::cluster::{self, Cluster, Workload};
use crate::context::Context;
use crate::controller;
use crate::error::{Error, Result};
use crate::events;
use crate::rest;

/// Runs the controller over `namespaces` (all when empty).
pub async fn run(ctx: Arc<Context>, namespaces: &[String]) {
    controller::run::<FlinkSession, _, _>(ctx, namespaces, true, reconcile).await;
}

async fn reconcile(session: Arc<FlinkSession>, ctx: Arc<Context>) -> Result<Action> {
    let ctx = &*ctx;
    controller::with_finalizer(
        session,
        ctx,
        |s| async move { apply(&s, ctx).await },
        |s| async move { cleanup(&s, ctx).await },
    )
    .await
}

async fn apply(session: &FlinkSession, ctx: &Context) -> Result<Action> {
    let ns = session.metadata.namespace.as_deref().unwrap_or("default");
    let name = session.metadata.name.as_deref().unwrap_or_default();
    let mut st = session.status.clone().unwrap_or_default();
    let wanted = serde_json::to_string(&session.spec).expect("specs encode as JSON");
    let outcome = deploy_and_observe(session, ctx, ns, name, &mut st, &wanted).await;
    match &outcome {
        Ok(_) => {
            ctx.backoff_reset(session.metadata.uid.as_deref().unwrap_or_default());
            st.error = None;
        }
        Err(e) => {
            let message = e.to_string();
            if st.error.as_deref() != Some(message.as_str()) {
                events::publish(ctx, session, true, "ReconcileError", message.clone()).await;
            }
            st.error = Some(message);
        }
    }
    st.observed_generation = session.metadata.generation;
    if session.status.as_ref() != Some(&st) {
        let mut updated = session.clone();
        updated.status = Some(st);
        controller::write_status(ctx, &updated).await?;
    }
    outcome
}

async fn deploy_and_observe(
    session: &FlinkSession,
    ctx: &Context,
    ns: &str,
    name: &str,
    st: &mut FlinkSessionStatus,
    wanted: &str,
) -> Result<Action> {
    if st.last_reconciled_spec.as_deref() != Some(wanted) {
        // Recorded first: an operator restarted now applies the same objects again.
        let upgrade = st.last_reconciled_spec.is_some();
        st.last_reconciled_spec = Some(wanted.to_string());
        st.lifecycle_state = if upgrade {
            LifecycleState::Upgrading
        } else {
            LifecycleState::Deployed
        };
        let owner = session
            .controller_owner_ref(&())
            .ok_or_else(|| Error::Invalid("the resource has no uid yet".into()))?;
        let c = Cluster {
            name,
            namespace: ns,
            owner,
            generation: session.metadata.generation.unwrap_or(0),
            spec: &session.spec.cluster,
            workload: Workload::Session,
        };
        cluster::apply(&ctx.client, ns, &c.objects()).await?;
        let what = if upgrade {
            "redeployed the session cluster"
        } else {
            "deployed the session cluster"
        };
        events::publish(
            ctx,
            session,
            false,
            "Deployed",
            format!("{what} (generation {})", c.generation),
        )
        .await;
        return Ok(Action::requeue(Duration::from_secs(2)));
    }
    let status = cluster::jobmanager_state(&ctx.client, ns, name)
        .await?
        .status;
    let ready = status == JobManagerDeploymentStatus::Ready;
    st.job_manager_deployment_status = Some(status);
    if status == JobManagerDeploymentStatus::Missing {
        // Deleted by someone: make it again next time.
        st.last_reconciled_spec = None;
        return Ok(Action::requeue(Duration::ZERO));
    }
    if ready {
        match ctx
            .rest
            .jobs(&rest::Endpoint {
                base: rest::base_url(name, ns),
                token: None,
            })
            .await
        {
            Ok(jobs) => {
                st.jobs = Some(
                    jobs.iter()
                        .filter(|j| !crate::flinkjob::terminal(&j.state))
                        .count() as i32,
                );
                st.lifecycle_state = LifecycleState::Stable;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(Action::requeue(if ready {
        ctx.settings.observe_interval
    } else {
        Duration::from_secs(2)
    }))
}

/// Deleting waits for the `FlinkJob`s that run in the session to go first.
async fn cleanup(session: &FlinkSession, ctx: &Context) -> Result<Action> {
    let ns = session.metadata.namespace.as_deref().unwrap_or("default");
    let name = session.metadata.name.as_deref().unwrap_or_default();
    let jobs = Api::<FlinkJob>::namespaced(ctx.client.clone(), ns)
        .list(&ListParams::default())
        .await
        .map_err(|e| Error::kube(format!("listing FlinkJobs in {ns}"), e))?;
    let users: Vec<String> = jobs
        .items
        .iter()
        .filter(|j| j.spec.session_ref.as_deref() == Some(name))
        .filter_map(|j| j.metadata.name.clone())
        .collect();
    if !users.is_empty() {
        events::publish(
            ctx,
            session,
            true,
            "DeletionBlocked",
            format!(
                "FlinkJobs still run in this session: {}; delete them first",
                users.join(", ")
            ),
        )
        .await;
        return Err(Error::Deleting(format!(
            "FlinkJobs still run in the session: {}",
            users.join(", ")
        )));
    }
    if !cluster::delete_all(&ctx.client, ns, name).await? {
        return Err(Error::Deleting("the session's pods are going".into()));
    }
    Ok(Action::await_change())
}
