//! The Kubernetes objects of one Runnel cluster (a `FlinkJob`'s own, or a `FlinkSession`): the
//! ConfigMap with the job's SQL and the TaskManager pod template, the JobManager Deployment,
//! its Services and Ingress. The JobManager creates the TaskManager pods itself.

mod merge;
mod objects;
mod options;

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret, Service};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use runnel_crds::{ClusterSpec, JobManagerDeploymentStatus};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

pub use objects::Objects;

/// The field manager of the operator's server-side applies.
const MANAGER: &str = "runnel-operator";
/// Annotation with the resource generation a JobManager Deployment was made for.
pub const GENERATION_ANNOTATION: &str = "runnel.dev/generation";

/// What runs in the cluster.
#[derive(Clone, Debug, PartialEq)]
pub enum Workload {
    /// One job (application mode).
    Application {
        script: Script,
        parallelism: Option<i32>,
        /// The savepoint (or checkpoint) to restore.
        restore: Option<String>,
        allow_non_restored_state: bool,
    },
    /// Jobs come over the REST API (session mode).
    Session,
}

/// Where an application's job comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum Script {
    /// SQL written into the cluster's ConfigMap.
    Inline(String),
    /// SQL in a key of the user's ConfigMap, mounted as it is.
    ConfigMap { name: String, key: String },
    /// Arguments of a Rust job image.
    Args(Vec<String>),
}

/// One cluster to make.
#[derive(Clone, Debug)]
pub struct Cluster<'a> {
    pub name: &'a str,
    pub namespace: &'a str,
    /// The resource that owns every object (so deleting it deletes them).
    pub owner: OwnerReference,
    pub generation: i64,
    pub spec: &'a ClusterSpec,
    pub workload: Workload,
}

/// Labels of a cluster's objects (Flink's native labels, which the JobManager uses too).
pub fn labels(name: &str, component: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app".into(), name.into()),
        ("type".into(), "runnel-native-kubernetes".into()),
        ("component".into(), component.into()),
        ("app.kubernetes.io/managed-by".into(), MANAGER.into()),
    ])
}

/// The Secret with the token the cluster's REST API wants for calls that change a job.
pub fn token_secret(name: &str) -> String {
    format!("{name}-rest-token")
}

/// Creates the cluster's REST token Secret unless it exists (a random token, owned by the
/// resource, so it goes with it).
async fn ensure_token(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    owner: &OwnerReference,
) -> Result<()> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let secret_name = token_secret(name);
    let existing = api
        .get_metadata_opt(&secret_name)
        .await
        .map_err(|e| Error::kube(format!("looking up Secret {namespace}/{secret_name}"), e))?;
    if existing.is_some() {
        return Ok(());
    }
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .map_err(|e| Error::Invalid(format!("reading /dev/urandom for a REST token: {e}")))?;
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let secret = Secret {
        metadata: kube::core::ObjectMeta {
            name: Some(secret_name.clone()),
            labels: Some(labels(name, "jobmanager")),
            owner_references: Some(vec![owner.clone()]),
            ..Default::default()
        },
        string_data: Some(BTreeMap::from([("token".to_string(), token)])),
        ..Default::default()
    };
    match api.create(&PostParams::default(), &secret).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(e) => Err(Error::kube(
            format!("creating Secret {namespace}/{secret_name}"),
            e,
        )),
    }
}

/// The cluster's REST token, if its Secret exists.
pub async fn token(client: &kube::Client, namespace: &str, name: &str) -> Result<Option<String>> {
    let secret_name = token_secret(name);
    let secret = Api::<Secret>::namespaced(client.clone(), namespace)
        .get_opt(&secret_name)
        .await
        .map_err(|e| Error::kube(format!("reading Secret {namespace}/{secret_name}"), e))?;
    Ok(secret
        .and_then(|s| s.data)
        .and_then(|mut d| d.remove("token"))
        .and_then(|b| String::from_utf8(b.0).ok()))
}

/// Creates or updates every object of the cluster (server-side apply, so a repeat is a no-op).
pub async fn apply(client: &kube::Client, namespace: &str, objects: &Objects) -> Result<()> {
    let owner = objects
        .deployment
        .metadata
        .owner_references
        .as_ref()
        .and_then(|o| o.first())
        .cloned();
    if let Some(owner) = &owner {
        ensure_token(client, namespace, &objects.name, owner).await?;
    }
    apply_one(client, namespace, &objects.config_map).await?;
    apply_one(client, namespace, &objects.service).await?;
    apply_one(client, namespace, &objects.rest_service).await?;
    match &objects.ingress {
        Some(ingress) => apply_one(client, namespace, ingress).await?,
        None => {
            let name = format!("{}-rest", objects.name);
            delete_if_there::<Ingress>(client, namespace, &name).await?;
        }
    }
    apply_one(client, namespace, &objects.deployment).await
}

async fn apply_one<K>(client: &kube::Client, namespace: &str, obj: &K) -> Result<()>
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Serialize
        + std::fmt::Debug,
{
    let name = obj.meta().name.clone().unwrap_or_default();
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    api.patch(
        &name,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(obj),
    )
    .await
    .map_err(|e| Error::kube(format!("applying {} {namespace}/{name}", K::kind(&())), e))?;
    Ok(())
}

async fn delete_if_there<K>(client: &kube::Client, namespace: &str, name: &str) -> Result<()>
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(Error::kube(
            format!("deleting {} {namespace}/{name}", K::kind(&())),
            e,
        )),
    }
}

/// The JobManager Deployment, if there is one.
pub async fn jobmanager(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<Option<Deployment>> {
    Api::<Deployment>::namespaced(client.clone(), namespace)
        .get_opt(name)
        .await
        .map_err(|e| Error::kube(format!("reading Deployment {namespace}/{name}"), e))
}

/// The JobManager Deployment as the operator sees it.
pub struct JobManagerView {
    pub status: JobManagerDeploymentStatus,
    /// The resource generation it was made for.
    pub made_for: Option<i64>,
    /// The `parallelism.default` it gives its job.
    pub parallelism: Option<i64>,
}

/// The JobManager Deployment of cluster `name`: its state, the generation it was made for and
/// the parallelism it gives its job.
pub async fn jobmanager_state(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<JobManagerView> {
    let Some(deployment) = jobmanager(client, namespace, name).await? else {
        return Ok(JobManagerView {
            status: JobManagerDeploymentStatus::Missing,
            made_for: None,
            parallelism: None,
        });
    };
    let made_for = deployment
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(GENERATION_ANNOTATION))
        .and_then(|g| g.parse().ok());
    let parallelism = deployment
        .spec
        .template
        .spec
        .as_ref()
        .and_then(|p| p.containers.iter().find(|c| c.name == "jobmanager"))
        .and_then(|c| c.args.as_ref())
        .and_then(|args| {
            args.iter()
                .find_map(|a| a.strip_prefix("parallelism.default="))
        })
        .and_then(|p| p.parse().ok());
    let status = deployment_state(client, namespace, name, &deployment).await?;
    Ok(JobManagerView {
        status,
        made_for,
        parallelism,
    })
}

/// Ready when a replica is; an error when its pod cannot start (no image, a crash loop), not
/// a slow start.
async fn deployment_state(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    deployment: &Deployment,
) -> Result<JobManagerDeploymentStatus> {
    let ready = deployment
        .status
        .as_ref()
        .and_then(|s| s.ready_replicas)
        .unwrap_or(0);
    if ready > 0 {
        return Ok(JobManagerDeploymentStatus::Ready);
    }
    for pod in pods(client, namespace, name, "jobmanager").await? {
        let statuses = pod
            .status
            .and_then(|s| s.container_statuses)
            .unwrap_or_default();
        for c in statuses {
            let waiting = c
                .state
                .and_then(|s| s.waiting)
                .and_then(|w| w.reason)
                .unwrap_or_default();
            if matches!(
                waiting.as_str(),
                "CrashLoopBackOff"
                    | "ErrImagePull"
                    | "ImagePullBackOff"
                    | "CreateContainerConfigError"
                    | "InvalidImageName"
            ) {
                return Ok(JobManagerDeploymentStatus::Error);
            }
        }
    }
    Ok(JobManagerDeploymentStatus::Deploying)
}

/// Pods of the cluster with `component` (`jobmanager` or `taskmanager`).
pub async fn pods(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    component: &str,
) -> Result<Vec<Pod>> {
    let selector = format!("app={name},component={component}");
    Api::<Pod>::namespaced(client.clone(), namespace)
        .list(&ListParams::default().labels(&selector))
        .await
        .map(|l| l.items)
        .map_err(|e| Error::kube(format!("listing pods {selector} in {namespace}"), e))
}

/// Deletes the JobManager Deployment and the TaskManager pods; true once none is left.
pub async fn stop(client: &kube::Client, namespace: &str, name: &str) -> Result<bool> {
    delete_if_there::<Deployment>(client, namespace, name).await?;
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let mut left = 0;
    for component in ["jobmanager", "taskmanager"] {
        for pod in pods(client, namespace, name, component).await? {
            left += 1;
            if pod.metadata.deletion_timestamp.is_none()
                && let Some(pod_name) = &pod.metadata.name
            {
                match api.delete(pod_name, &DeleteParams::default()).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(s)) if s.code == 404 => {}
                    Err(e) => {
                        return Err(Error::kube(
                            format!("deleting pod {namespace}/{pod_name}"),
                            e,
                        ));
                    }
                }
            }
        }
    }
    Ok(left == 0 && jobmanager(client, namespace, name).await?.is_none())
}

/// The HA ConfigMap's job records and pointers (kept across deployments for `last-state`).
pub async fn ha_config_map(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<Option<ConfigMap>> {
    let cm = format!("{name}-cluster-config-map");
    Api::<ConfigMap>::namespaced(client.clone(), namespace)
        .get_opt(&cm)
        .await
        .map_err(|e| Error::kube(format!("reading ConfigMap {namespace}/{cm}"), e))
}

/// The latest checkpoint the HA records of a cluster's job point to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HaCheckpoint {
    /// The job was running: a new JobManager given the records resumes it from there.
    Running(String),
    /// The job failed: a JobManager does not run it again from the records, but its retained
    /// checkpoint can be restored like a savepoint by a deployment without them.
    Failed(String),
}

/// What the HA records hold for the job, if anything usable. A finished or cancelled job's
/// checkpoints may have been deleted with it, so its record offers none.
pub fn ha_checkpoint(cm: &ConfigMap) -> Option<HaCheckpoint> {
    cm.data
        .as_ref()?
        .iter()
        .filter(|(k, _)| k.starts_with("job-"))
        .find_map(|(_, v)| {
            let record: serde_json::Value = serde_json::from_str(v).ok()?;
            let checkpoint = record["checkpoint"].as_str()?.to_string();
            match record["state"].as_str()? {
                "RUNNING" => Some(HaCheckpoint::Running(checkpoint)),
                "FAILED" => Some(HaCheckpoint::Failed(checkpoint)),
                _ => None,
            }
        })
}

/// Deletes the HA ConfigMap and Lease, so the next deployment starts from what the operator
/// gives it (a savepoint, or nothing) rather than the old job's records.
pub async fn forget_ha(client: &kube::Client, namespace: &str, name: &str) -> Result<()> {
    delete_if_there::<ConfigMap>(client, namespace, &format!("{name}-cluster-config-map")).await?;
    delete_if_there::<Lease>(client, namespace, &format!("{name}-jobmanager-leader")).await
}

/// Deletes the objects the JobManager made that have no owner (HA records) and the ones the
/// operator made (which garbage collection would delete too, but not at once).
pub async fn delete_all(client: &kube::Client, namespace: &str, name: &str) -> Result<bool> {
    let stopped = stop(client, namespace, name).await?;
    forget_ha(client, namespace, name).await?;
    for svc in [name.to_string(), format!("{name}-rest")] {
        delete_if_there::<Service>(client, namespace, &svc).await?;
    }
    delete_if_there::<Ingress>(client, namespace, &format!("{name}-rest")).await?;
    delete_if_there::<ConfigMap>(client, namespace, &format!("{name}-config")).await?;
    Ok(stopped)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(entries: &[(&str, &str)]) -> ConfigMap {
        ConfigMap {
            data: Some(
                entries
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..Default::default()
        }
    }

    #[test]
    fn only_a_running_or_failed_jobs_checkpoint_is_offered() {
        let record = |state: &str, checkpoint: Option<&str>| {
            serde_json::json!({ "id": "j", "script": "", "config": {}, "state": state, "checkpoint": checkpoint })
                .to_string()
        };
        let running = record("RUNNING", Some("s3://b/chk-7"));
        assert_eq!(
            ha_checkpoint(&records(&[("leader", "x"), ("job-j", &running)])),
            Some(HaCheckpoint::Running("s3://b/chk-7".into()))
        );
        let failed = record("FAILED", Some("s3://b/chk-9"));
        assert_eq!(
            ha_checkpoint(&records(&[("job-j", &failed)])),
            Some(HaCheckpoint::Failed("s3://b/chk-9".into()))
        );
        // A finished or cancelled job's checkpoints may be gone; a job with none offers none.
        for state in ["FINISHED", "CANCELED"] {
            let ended = record(state, Some("s3://b/chk-3"));
            assert_eq!(
                ha_checkpoint(&records(&[("job-j", &ended)])),
                None,
                "{state}"
            );
        }
        let fresh = record("RUNNING", None);
        assert_eq!(ha_checkpoint(&records(&[("job-j", &fresh)])), None);
        assert_eq!(ha_checkpoint(&records(&[("job-j", "not json")])), None);
    }
}
