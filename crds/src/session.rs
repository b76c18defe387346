//! `FlinkSession`: a long-lived cluster that several `FlinkJob`s share.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::cluster::ClusterSpec;
use crate::status::{JobManagerDeploymentStatus, LifecycleState};

/// A session cluster: a JobManager that takes jobs over its REST API, and TaskManagers it
/// creates as those jobs need slots.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "runnel.dev",
    version = "v1alpha1",
    kind = "FlinkSession",
    doc = "A long-lived Runnel session cluster shared by FlinkJobs.",
    namespaced,
    status = "FlinkSessionStatus",
    shortname = "fs",
    category = "runnel",
    printcolumn(name = "JobManager", type_ = "string", json_path = ".status.jobManagerDeploymentStatus"),
    printcolumn(name = "Lifecycle", type_ = "string", json_path = ".status.lifecycleState"),
    printcolumn(name = "Jobs", type_ = "integer", json_path = ".status.jobs"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    validation = Rule::new("size(self.metadata.name) <= 40").message("the name must be at most 40 characters (it names the pods, Services and Lease of the cluster)"),
    validation = Rule::new("has(self.spec.image)").message("spec.image is required").field_path(".spec.image")
)]
#[serde(rename_all = "camelCase")]
pub struct FlinkSessionSpec {
    /// The cluster.
    #[serde(flatten)]
    pub cluster: ClusterSpec,
}

/// Status of a `FlinkSession`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FlinkSessionStatus {
    /// `CREATED`, `DEPLOYED`, `STABLE`, `UPGRADING` or `FAILED`.
    #[serde(default)]
    pub lifecycle_state: LifecycleState,
    /// The JobManager Deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_manager_deployment_status: Option<JobManagerDeploymentStatus>,
    /// Jobs the JobManager reports as not finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jobs: Option<i32>,
    /// The spec (JSON) last deployed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_reconciled_spec: Option<String>,
    /// `Ready` and friends.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The last error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}
