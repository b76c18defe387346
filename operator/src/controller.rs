//! What every controller of the operator shares: one kube-rs `Controller` per watched
//! namespace (or one for all), a fresh read of the object before each reconcile, the finalizer,
//! metrics, and the error policy (exponential backoff; none while a deletion is under way).

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::Deployment;
use kube::Resource;
use kube::api::{Api, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::runtime::watcher;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::warn;

use crate::context::Context;
use crate::error::{Error, Result};

/// The finalizer that makes deletion take the resource's clean-up steps first.
const FINALIZER: &str = "runnel.dev/finalizer";

/// A resource kind the operator reconciles.
pub trait Kind:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + Debug
    + DeserializeOwned
    + Serialize
    + Send
    + Sync
    + 'static
{
}

impl<K> Kind for K where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + Debug
        + DeserializeOwned
        + Serialize
        + Send
        + Sync
        + 'static
{
}

/// Runs `reconcile` for every `K` in `namespaces` (all when empty) until the process ends;
/// with `owns_deployments`, a change to a JobManager Deployment the operator made reconciles
/// its owner.
pub async fn run<K, R, F>(
    ctx: Arc<Context>,
    namespaces: &[String],
    owns_deployments: bool,
    reconcile: R,
) where
    K: Kind,
    R: FnMut(Arc<K>, Arc<Context>) -> F + Clone,
    F: Future<Output = Result<Action>> + Send + 'static,
{
    let scopes: Vec<Option<String>> = if namespaces.is_empty() {
        vec![None]
    } else {
        namespaces.iter().cloned().map(Some).collect()
    };
    let controllers = scopes.into_iter().map(|ns| {
        let (objects, deployments) = match &ns {
            Some(ns) => (
                Api::<K>::namespaced(ctx.client.clone(), ns),
                Api::<Deployment>::namespaced(ctx.client.clone(), ns),
            ),
            None => (Api::all(ctx.client.clone()), Api::all(ctx.client.clone())),
        };
        let mut controller = Controller::new(objects, watcher::Config::default().any_semantic());
        if owns_deployments {
            let made =
                watcher::Config::default().labels("app.kubernetes.io/managed-by=runnel-operator");
            controller = controller.owns(deployments, made);
        }
        controller
            .shutdown_on_signal()
            .run(reconcile.clone(), error_policy::<K>, ctx.clone())
            .for_each(|result| async move {
                if let Err(e) = result {
                    warn!("{} controller: {e}", K::kind(&()));
                }
            })
    });
    futures_util::future::join_all(controllers).await;
}

/// Exponential backoff per resource: 2 s, 4 s, ... up to 5 minutes (the reason is in its
/// status); a deletion under way is looked at again in 2 s.
fn error_policy<K: Kind>(obj: Arc<K>, error: &Error, ctx: Arc<Context>) -> Action {
    if let Error::Deleting(_) = error {
        return Action::requeue(Duration::from_secs(2));
    }
    let delay = ctx.backoff(obj.meta().uid.as_deref().unwrap_or_default());
    warn!(
        kind = %K::kind(&()),
        name = obj.meta().name.as_deref().unwrap_or(""),
        namespace = obj.meta().namespace.as_deref().unwrap_or(""),
        retry_in = ?delay,
        "{error}"
    );
    Action::requeue(delay)
}

/// One reconcile under the finalizer: the latest version of the object (not the cache's: each
/// step acts on the status the previous one wrote, which the watch may not have delivered
/// yet), `apply` while it lives, `cleanup` once it is being deleted (which must return
/// [`Error::Deleting`] until it is done), and the reconcile counted in the metrics.
pub async fn with_finalizer<K, A, AF, C, CF>(
    obj: Arc<K>,
    ctx: &Context,
    apply: A,
    cleanup: C,
) -> Result<Action>
where
    K: Kind,
    A: FnOnce(Arc<K>) -> AF,
    AF: Future<Output = Result<Action>>,
    C: FnOnce(Arc<K>) -> CF,
    CF: Future<Output = Result<Action>>,
{
    let started = Instant::now();
    let ns = obj.meta().namespace.clone().unwrap_or_default();
    let name = obj.meta().name.clone().unwrap_or_default();
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &ns);
    let obj = match api.get_opt(&name).await {
        Ok(Some(fresh)) => Arc::new(fresh),
        Ok(None) => return Ok(Action::await_change()),
        Err(e) => {
            return Err(Error::kube(
                format!("reading {} {ns}/{name}", K::kind(&())),
                e,
            ));
        }
    };
    let result = finalizer(&api, FINALIZER, obj, |event| async {
        match event {
            Finalizer::Apply(obj) => apply(obj).await,
            Finalizer::Cleanup(obj) => cleanup(obj).await,
        }
    })
    .await
    .map_err(|e| match e {
        kube::runtime::finalizer::Error::ApplyFailed(e)
        | kube::runtime::finalizer::Error::CleanupFailed(e) => e,
        other => Error::Invalid(format!("finalizer: {other}")),
    });
    counted::<K>(ctx, started, &result);
    result
}

/// Writes the status of `updated` (the status subresource). A conflict (the object changed
/// since it was read) fails the reconcile, and the next one starts over from the object as
/// it is.
pub async fn write_status<K: Kind>(ctx: &Context, updated: &K) -> Result<K> {
    let ns = updated.meta().namespace.clone().unwrap_or_default();
    let name = updated.meta().name.clone().unwrap_or_default();
    Api::<K>::namespaced(ctx.client.clone(), &ns)
        .replace_status(&name, &PostParams::default(), updated)
        .await
        .map_err(|e| {
            Error::kube(
                format!("writing the status of {} {ns}/{name}", K::kind(&())),
                e,
            )
        })
}

/// Counts a reconcile of `K` in the metrics (a deletion under way is not a failure).
pub fn counted<K: Kind>(ctx: &Context, started: Instant, result: &Result<Action>) {
    let failed = result
        .as_ref()
        .is_err_and(|e| !matches!(e, Error::Deleting(_)));
    ctx.metrics
        .reconciled(&K::kind(&()), started.elapsed(), failed);
}
