//! The Flink configuration the operator gives a cluster: the user's `flinkConfiguration` with
//! what the operator must decide (names, addresses, ports, the resource manager, high
//! availability, the job's parallelism and restore point) laid over it.

use std::collections::BTreeMap;

use super::{Cluster, Workload};

/// The JobManager's control-plane port.
pub const RPC_PORT: u16 = 6123;
/// Where the cluster's ConfigMap is mounted in the JobManager.
pub const CONF_DIR: &str = "/opt/runnel/conf";
/// Where an application's SQL is mounted in the JobManager.
pub const JOB_DIR: &str = "/opt/runnel/job";
/// The TaskManager pod template's file name in the ConfigMap.
pub const TM_TEMPLATE: &str = "taskmanager-pod-template.yaml";
/// The SQL's file name.
pub const JOB_FILE: &str = "job.sql";

/// The configuration, as `-D` pairs for the JobManager.
pub fn flink_configuration(c: &Cluster<'_>) -> BTreeMap<String, String> {
    let mut conf = c.spec.flink_configuration.clone();
    let mut set = |k: &str, v: String| {
        conf.insert(k.into(), v);
    };
    let slots = c
        .spec
        .task_manager
        .as_ref()
        .and_then(|t| t.slots)
        .unwrap_or(1);
    set("kubernetes.cluster-id", c.name.into());
    set("kubernetes.namespace", c.namespace.into());
    set(
        "kubernetes.pod-template-file.taskmanager",
        format!("{CONF_DIR}/{TM_TEMPLATE}"),
    );
    if let Some(image) = &c.spec.image {
        set("kubernetes.container.image.ref", image.clone());
    }
    set(
        "jobmanager.rpc.address",
        format!("{}.{}.svc", c.name, c.namespace),
    );
    set("jobmanager.rpc.port", RPC_PORT.to_string());
    set("jobmanager.bind-host", "0.0.0.0".into());
    set("rest.port", crate::rest::REST_PORT.to_string());
    set("rest.bind-address", "0.0.0.0".into());
    // The token is in a Secret; the configuration only names the variable that holds it.
    set(
        "rest.auth-token",
        format!("${{env:{}}}", super::objects::TOKEN_ENV),
    );
    set("taskmanager.numberOfTaskSlots", slots.to_string());
    if let Some(replicas) = c.spec.task_manager.as_ref().and_then(|t| t.replicas) {
        set(
            "slotmanager.number-of-slots.min",
            (replicas * slots).to_string(),
        );
    }
    // Kubernetes HA unless the user chose otherwise: it is what lets a JobManager pod that
    // goes (or a new deployment, for last-state) resume from the latest checkpoint.
    if !c
        .spec
        .flink_configuration
        .contains_key("high-availability.type")
    {
        set("high-availability.type", "kubernetes".into());
    }
    match &c.workload {
        Workload::Application {
            parallelism,
            restore,
            allow_non_restored_state,
            ..
        } => {
            set("execution.target", "kubernetes-application".into());
            // The REST API keeps reporting the job after it ends (the operator reads it).
            set("execution.shutdown-on-application-finish", "false".into());
            if let Some(p) = parallelism {
                set("parallelism.default", p.to_string());
            }
            if let Some(path) = restore {
                set("execution.savepoint.path", path.clone());
            }
            if *allow_non_restored_state {
                set("execution.savepoint.ignore-unclaimed-state", "true".into());
            }
        }
        Workload::Session => set("execution.target", "kubernetes-session".into()),
    }
    conf
}
