//! What a Runnel cluster is made of: the image, the configuration, the JobManager and the
//! TaskManagers, and how the REST endpoint is exposed. Shared by `FlinkJob` (its own cluster),
//! `FlinkSession` and `Agent`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{EnvFromSource, EnvVar, PodTemplateSpec};
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The cluster part of a spec. Every field is optional so that a job in a session can leave
/// them out; the resource's own rules say which are required where.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSpec {
    /// The Runnel image (its entrypoint is the `runnel` binary, or a Rust job built on it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("size(self) > 0").message("must not be empty"))]
    pub image: Option<String>,
    /// Kubernetes' image pull policy for the JobManager and TaskManager containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<ImagePullPolicy>,
    /// The service account of the JobManager pod; it needs rights on its TaskManager pods,
    /// ConfigMaps and Leases (the chart's `runnel-jobmanager` role). Defaults to `runnel-jobmanager`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
    /// Flink configuration options (`execution.checkpointing.interval`, `state.backend.type`,
    /// ...). Values may refer to environment variables as `${env:NAME}`, resolved in the pod.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub flink_configuration: BTreeMap<String, String>,
    /// The JobManager pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_manager: Option<JobManagerSpec>,
    /// The TaskManager pods (created by the JobManager as the job needs slots).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_manager: Option<TaskManagerSpec>,
    /// Environment of every Runnel container; `valueFrom.secretKeyRef` is how API keys and
    /// storage credentials reach the pods.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    /// Whole ConfigMaps or Secrets as environment of every Runnel container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_from: Vec<EnvFromSource>,
    /// How the JobManager's REST API and dashboard are exposed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rest: Option<RestExposure>,
}

/// Kubernetes' image pull policies.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ImagePullPolicy {
    Always,
    IfNotPresent,
    Never,
}

/// CPU and memory of one pod, as the Flink operator writes them (`cpu: 1`, `memory: 2048m`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    /// CPU cores (requests and limits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self > 0.0").message("must be more than 0"))]
    pub cpu: Option<f64>,
    /// Memory as a Kubernetes quantity (`2048Mi`, `2g`; Flink's `m` suffix means MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.matches('^[0-9]+(\\\\.[0-9]+)?([kKmMgGtT]i?|[mgk]b?)?$')").message("must be a memory quantity such as 2048Mi or 2g"))]
    #[schemars(length(max = 32))]
    pub memory: Option<String>,
}

/// The JobManager pod.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobManagerSpec {
    /// 1, or 2 for a standby that takes over at once (leadership is a Kubernetes Lease).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self >= 1 && self <= 2").message("must be 1 or 2"))]
    pub replicas: Option<i32>,
    /// CPU and memory of the JobManager pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<Resource>,
    /// A pod template merged under the operator's (sidecars, volumes, node selection...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::cluster::free_form")]
    pub pod_template: Option<PodTemplateSpec>,
}

/// The TaskManager pods, which the JobManager creates itself.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskManagerSpec {
    /// The least number of TaskManagers kept running; without it, the JobManager creates as
    /// many as the job's slots need.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self >= 0").message("must not be negative"))]
    pub replicas: Option<i32>,
    /// Task slots per TaskManager (`taskmanager.numberOfTaskSlots`, default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self >= 1").message("must be at least 1"))]
    pub slots: Option<i32>,
    /// CPU and memory of each TaskManager pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<Resource>,
    /// A pod template merged under the one the JobManager uses for TaskManagers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::cluster::free_form")]
    pub pod_template: Option<PodTemplateSpec>,
}

/// How the REST API is reached from outside the namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestExposure {
    /// The type of the `<name>-rest` Service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_type: Option<ServiceType>,
    /// An Ingress to the REST Service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<Ingress>,
}

/// Kubernetes Service types the REST Service can have.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ServiceType {
    ClusterIP,
    NodePort,
    LoadBalancer,
}

/// An Ingress to the REST Service.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Ingress {
    /// The host name the Ingress routes.
    #[x_kube(validation = Rule::new("size(self) > 0").message("must not be empty"))]
    pub host: String,
    /// The IngressClass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_name: Option<String>,
    /// Annotations of the Ingress (for the ingress controller).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// The schema of an embedded Kubernetes object kept free-form (the API server checks it where it
/// lands, in the pods), which keeps the CRD small enough for `kubectl apply`.
pub(crate) fn free_form(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true
    })
}
