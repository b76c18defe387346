//! How a job runs and changes: parallelism, upgrade mode, desired state, the nonces that ask
//! for one action each, and the savepoint policy. Shared by `FlinkJob` and `Agent`.

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The lifecycle fields of a job.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobLifecycle {
    /// `parallelism.default` of the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self >= 1").message("must be at least 1"))]
    pub parallelism: Option<i32>,
    /// How state moves to a new deployment when the spec changes.
    #[serde(default)]
    pub upgrade_mode: UpgradeMode,
    /// `running`, or `suspended` (stopped with a savepoint per the upgrade mode, no pods).
    #[serde(default)]
    pub state: JobState,
    /// Change it to take one savepoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub savepoint_trigger_nonce: Option<i64>,
    /// Change it to take one checkpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_trigger_nonce: Option<i64>,
    /// Change it to restart the job (per the upgrade mode) without another change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_nonce: Option<i64>,
    /// The savepoint the first deployment restores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("size(self) > 0").message("must not be empty"))]
    pub initial_savepoint_path: Option<String>,
    /// Restore even if the savepoint has state no operator of the new job claims.
    #[serde(default)]
    pub allow_non_restored_state: bool,
}

/// Flink's upgrade modes.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum UpgradeMode {
    /// Start the new deployment empty.
    #[default]
    Stateless,
    /// Stop with a savepoint, restore it in the new deployment.
    Savepoint,
    /// Restore the latest checkpoint recorded by high availability (no savepoint taken).
    LastState,
}

/// The state the user wants the job in.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    #[default]
    Running,
    Suspended,
}

/// Periodic savepoints, their retention, and what deleting the resource does.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SavepointPolicy {
    /// Take a savepoint this often (`30m`, `6h`, `1d`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.matches('^[0-9]*[1-9][0-9]*(ms|s|m|h|d)$')").message("must be a duration above zero, such as 90s, 30m or 6h"))]
    #[schemars(length(max = 32))]
    pub interval: Option<String>,
    /// Keep at most this many savepoints in the history; older ones are disposed of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self >= 1").message("must be at least 1"))]
    pub max_count: Option<i32>,
    /// Dispose of savepoints older than this (`7d`); the latest one is always kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.matches('^[0-9]+(ms|s|m|h|d)$')").message("must be a duration such as 12h or 7d"))]
    #[schemars(length(max = 32))]
    pub max_age: Option<String>,
    /// What deleting the resource does to a running job.
    #[serde(default)]
    pub on_delete: DeletionPolicy,
}

/// What deleting a resource does to its running job.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeletionPolicy {
    /// Stop with a savepoint (kept in storage and named in an Event) before deleting.
    Savepoint,
    /// Cancel the job.
    #[default]
    Cancel,
}
