//! The `Agent` controller. The resource is validated at admission and stored; its runtime (the
//! agent operator on a stream) comes in a later release, so the controller says so in the
//! status (`Supported=False`) and an Event rather than pretending to run it.

use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::runtime::controller::Action;
use runnel_crds::{Agent, LifecycleState};

use crate::context::Context;
use crate::controller;
use crate::error::Result;
use crate::events;

/// Why an Agent does not run yet.
pub const NOT_SUPPORTED: &str = "Agent jobs are not supported by this version of Runnel yet: \
the resource is validated and stored, and nothing is deployed for it";

/// Runs the controller over `namespaces` (all when empty).
pub async fn run(ctx: Arc<Context>, namespaces: &[String]) {
    controller::run::<Agent, _, _>(ctx, namespaces, false, reconcile).await;
}

async fn reconcile(agent: Arc<Agent>, ctx: Arc<Context>) -> Result<Action> {
    let started = std::time::Instant::now();
    let result = mark_unsupported(&agent, &ctx).await;
    controller::counted::<Agent>(&ctx, started, &result);
    result
}

async fn mark_unsupported(agent: &Agent, ctx: &Context) -> Result<Action> {
    let mut st = agent.status.clone().unwrap_or_default();
    let already = st
        .conditions
        .iter()
        .any(|c| c.type_ == "Supported" && c.status == "False")
        && st.observed_generation == agent.metadata.generation;
    if already {
        return Ok(Action::await_change());
    }
    st.lifecycle_state = LifecycleState::Created;
    st.conditions.retain(|c| c.type_ != "Supported");
    st.conditions.push(Condition {
        type_: "Supported".into(),
        status: "False".into(),
        reason: "AgentRuntimeNotAvailable".into(),
        message: NOT_SUPPORTED.into(),
        last_transition_time: Time(k8s_openapi::jiff::Timestamp::now()),
        observed_generation: agent.metadata.generation,
    });
    st.error = Some(NOT_SUPPORTED.into());
    st.observed_generation = agent.metadata.generation;
    let mut updated = agent.clone();
    updated.status = Some(st);
    controller::write_status(ctx, &updated).await?;
    events::publish(ctx, agent, true, "NotSupported", NOT_SUPPORTED.into()).await;
    Ok(Action::await_change())
}
