//! `FlinkJob`: one Flink SQL script (or Rust job image) with its own cluster, or in a session.

use k8s_openapi::api::core::v1::ConfigMapKeySelector;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use crate::cluster::ClusterSpec;
use crate::job::{JobLifecycle, SavepointPolicy};
use crate::status::FlinkJobStatus;

/// A streaming job and, unless `sessionRef` names a `FlinkSession`, the cluster it runs on.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "runnel.dev",
    version = "v1alpha1",
    kind = "FlinkJob",
    doc = "A Flink SQL job (or Rust job image) with its own Runnel cluster, or in a FlinkSession.",
    namespaced,
    status = "FlinkJobStatus",
    shortname = "fj",
    category = "runnel",
    printcolumn(name = "Job", type_ = "string", json_path = ".status.jobStatus.state", description = "The job's state in its JobManager"),
    printcolumn(name = "Lifecycle", type_ = "string", json_path = ".status.lifecycleState", description = "Where the resource is in its lifecycle"),
    printcolumn(name = "Parallelism", type_ = "integer", json_path = ".spec.job.parallelism"),
    printcolumn(name = "Session", type_ = "string", json_path = ".spec.sessionRef", priority = 1),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    validation = Rule::new("size(self.metadata.name) <= 40").message("the name must be at most 40 characters (it names the pods, Services and Lease of the cluster)"),
    validation = Rule::new("has(self.spec.sessionRef) || has(self.spec.image)").message("spec.image is required unless spec.sessionRef names a FlinkSession").field_path(".spec.image"),
    validation = Rule::new("!has(self.spec.sessionRef) || !(has(self.spec.image) || has(self.spec.jobManager) || has(self.spec.taskManager))").message("a job with spec.sessionRef runs on the session's cluster: leave spec.image, spec.jobManager and spec.taskManager out").field_path(".spec.sessionRef"),
    validation = Rule::new("!has(self.spec.sessionRef) || !has(self.spec.job.args)").message("a job in a session is SQL: spec.job.args needs its own cluster").field_path(".spec.job.args"),
    validation = Rule::new("!has(self.spec.sessionRef) || self.spec.job.upgradeMode != 'last-state'").message("upgradeMode last-state needs the job's own cluster (its high availability records the checkpoints)").field_path(".spec.job.upgradeMode"),
    validation = Rule::new("has(self.spec.sessionRef) == has(oldSelf.spec.sessionRef) && (!has(self.spec.sessionRef) || self.spec.sessionRef == oldSelf.spec.sessionRef)").message("spec.sessionRef cannot change: delete the job and create it again").field_path(".spec.sessionRef").reason(kube::core::Reason::FieldValueForbidden)
)]
#[serde(rename_all = "camelCase")]
pub struct FlinkJobSpec {
    /// The cluster, when the job has its own.
    #[serde(flatten)]
    pub cluster: ClusterSpec,
    /// The `FlinkSession` (same namespace) to run in instead of a cluster of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("size(self) > 0").message("must not be empty"))]
    pub session_ref: Option<String>,
    /// The job.
    pub job: JobSource,
    /// Periodic savepoints, retention, and what deletion does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub savepoints: Option<SavepointPolicy>,
}

/// What the job runs, and its lifecycle.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("[has(self.sql), has(self.sqlFrom), has(self.args)].filter(x, x).size() == 1").message("set exactly one of sql, sqlFrom and args"))]
pub struct JobSource {
    /// The Flink SQL script, inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("size(self) > 0").message("must not be empty"))]
    pub sql: Option<String>,
    /// The Flink SQL script, from a ConfigMap key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sql_from: Option<SqlFrom>,
    /// Arguments of a Rust job image's entrypoint (after `jobmanager`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<String>>,
    /// Parallelism, upgrade mode, state and nonces.
    #[serde(flatten)]
    pub lifecycle: JobLifecycle,
}

/// Where a SQL script is kept.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SqlFrom {
    /// The ConfigMap key holding the script.
    pub config_map_key_ref: ConfigMapKeySelector,
}
