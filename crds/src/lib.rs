//! Runnel's Kubernetes API, group `runnel.dev`, version `v1alpha1`: the one source of truth for
//! the resources the operator reconciles and for the CRD YAML the Helm chart installs.
//!
//! The spec field names follow the Apache Flink Kubernetes Operator's (`flinkConfiguration`,
//! `jobManager`, `taskManager`, `job.upgradeMode`, `savepointTriggerNonce`, ...) so its users
//! can read and write them without a guide.

mod agent;
mod cluster;
mod flinkjob;
pub mod generate;
mod job;
mod session;
mod status;

pub use agent::{
    Agent, AgentInput, AgentMemory, AgentMode, AgentOutput, AgentSpec, AgentStatus, AgentTool,
    HttpMethod, HttpTool, LongTermMemory, McpTool, ModelConnection, ModelProvider, Prompts,
    ShortTermMemory, SqlTool,
};
pub use cluster::{
    ClusterSpec, ImagePullPolicy, Ingress, JobManagerSpec, Resource, RestExposure, ServiceType,
    TaskManagerSpec,
};
pub use flinkjob::{FlinkJob, FlinkJobSpec, JobSource, SqlFrom};
pub use job::{DeletionPolicy, JobLifecycle, JobState, SavepointPolicy, UpgradeMode};
pub use session::{FlinkSession, FlinkSessionSpec, FlinkSessionStatus};
pub use status::{
    CheckpointInfo, FlinkJobStatus, JobManagerDeploymentStatus, JobStatus, LifecycleState,
    ReconciliationStatus, Savepoint, SavepointInfo, SavepointTrigger, UpgradeStep,
};

/// The API group of every Runnel resource.
pub const GROUP: &str = "runnel.dev";
/// The API version of every Runnel resource.
pub const VERSION: &str = "v1alpha1";
