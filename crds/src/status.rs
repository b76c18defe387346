//! What the operator reports about a job: where the resource is in its lifecycle, the job in its
//! JobManager, what was last deployed, savepoints and checkpoints, conditions and errors.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Status of a `FlinkJob` (and of an `Agent`'s job).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FlinkJobStatus {
    /// Where the resource is in its lifecycle.
    #[serde(default)]
    pub lifecycle_state: LifecycleState,
    /// The job in its JobManager.
    #[serde(default)]
    pub job_status: JobStatus,
    /// The JobManager Deployment (own cluster only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_manager_deployment_status: Option<JobManagerDeploymentStatus>,
    /// What was last deployed, and the step of a change in progress.
    #[serde(default)]
    pub reconciliation_status: ReconciliationStatus,
    /// `Ready`, `Reconciling`, `Supported`... as Kubernetes conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The last error, with its reason (cleared once a reconcile succeeds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// The Flink operator's lifecycle states.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LifecycleState {
    /// Accepted; nothing deployed yet.
    #[default]
    Created,
    /// Deployed; not yet seen healthy.
    Deployed,
    /// Running and healthy with the current spec.
    Stable,
    /// Moving to a new spec.
    Upgrading,
    /// Stopped on purpose, its state kept.
    Suspended,
    /// Stopped by an error the operator cannot repair alone (see `error`).
    Failed,
    /// Going back to the last stable spec after a failed upgrade.
    RollingBack,
    /// Back on the last stable spec after a failed upgrade.
    RolledBack,
}

/// The job as its JobManager reports it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobStatus {
    /// The job id (hex, as Flink's REST API writes it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// The job name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_name: Option<String>,
    /// Flink's job status (`CREATED`, `RUNNING`, `FAILING`, `FINISHED`, ...), or `RECONCILING`
    /// while the operator cannot see the JobManager.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// When the job started (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// When the operator last saw the job (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_time: Option<String>,
    /// Savepoints: the one in progress, the latest, and the history.
    #[serde(default)]
    pub savepoint_info: SavepointInfo,
    /// The latest completed checkpoint and the checkpoint asked for by nonce.
    #[serde(default)]
    pub checkpoint_info: CheckpointInfo,
}

/// Savepoints of a job.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SavepointInfo {
    /// The savepoint being taken, with the trigger id its JobManager gave it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<SavepointTrigger>,
    /// The savepoint the next stateful deployment restores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_savepoint: Option<Savepoint>,
    /// Completed savepoints, oldest first, within the retention policy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<Savepoint>,
    /// The `savepointTriggerNonce` last acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_trigger_nonce: Option<i64>,
    /// When the last periodic savepoint was taken or tried (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_periodic_time: Option<String>,
}

/// A savepoint being taken.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SavepointTrigger {
    /// The JobManager's trigger id.
    pub trigger_id: String,
    /// Why it is taken: `manual`, `periodic`, `upgrade`, `suspend`, `delete`.
    pub trigger_type: String,
    /// When it was asked for (RFC 3339).
    pub time: String,
    /// The nonce that asked for it (manual ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<i64>,
}

/// A completed savepoint.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Savepoint {
    /// Where it is stored (a folder or an `s3://` URI).
    pub location: String,
    /// When it completed (RFC 3339).
    pub time: String,
    /// Why it was taken.
    pub trigger_type: String,
}

/// Checkpoints of a job.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckpointInfo {
    /// The id of the latest completed checkpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_checkpoint_id: Option<i64>,
    /// Where the latest completed checkpoint is stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_checkpoint_path: Option<String>,
    /// The `checkpointTriggerNonce` last acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_trigger_nonce: Option<i64>,
    /// The JobManager's trigger id of the checkpoint asked for by nonce, until it completes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_trigger_id: Option<String>,
}

/// The JobManager Deployment as the operator sees it.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobManagerDeploymentStatus {
    /// Created, its pod not ready yet.
    Deploying,
    /// Its pod is ready and the REST API answers.
    Ready,
    /// Not there (suspended, or not created yet).
    Missing,
    /// Its pod fails (crash loop, image missing).
    Error,
}

/// What the operator last deployed and what it is doing now, written before every action so
/// that an operator restarted mid-change resumes it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReconciliationStatus {
    /// The spec (JSON) of the deployment now running or being made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_reconciled_spec: Option<String>,
    /// The last spec (JSON) that was seen running healthily: the target of a rollback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_stable_spec: Option<String>,
    /// The step of a change in progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade_step: Option<UpgradeStep>,
    /// When the current deployment was made (RFC 3339); the health deadline counts from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployed_time: Option<String>,
    /// When the running job was last asked to rescale in place (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rescaled_time: Option<String>,
    /// The resource generation the current JobManager Deployment was made for (the
    /// Deployment carries it too, so a Deployment that is not the one recorded is noticed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployed_generation: Option<i64>,
    /// The savepoint the next deployment restores (chosen while the old job stopped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_savepoint: Option<String>,
    /// The next deployment resumes from the checkpoint high availability recorded (its HA
    /// ConfigMap is kept); before `restoreSavepoint` when both are there.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub restore_last_state: bool,
    /// The spec (JSON) that failed to become healthy and was rolled back; it is not deployed
    /// again until the spec changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolled_back_from: Option<String>,
}

/// The steps of a deployment, upgrade, suspend or rollback.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum UpgradeStep {
    /// Securing the old job's state (a savepoint, per the upgrade mode).
    Stopping,
    /// The state is secured and recorded (`restoreSavepoint`, `restoreLastState`); the old
    /// deployment is being removed, and the new one (or none, when suspending) comes next.
    Stopped,
    /// The new deployment is made; waiting for its job to run.
    Deploying,
}
