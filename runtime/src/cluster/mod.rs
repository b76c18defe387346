//! Cluster mode: `runnel jobmanager` and `runnel taskmanager` as separate processes.
//!
//! The JobManager runs each job's JobMaster (scheduling, checkpoint coordination, restarts)
//! against the TaskManagers that registered with it over the gRPC control plane
//! (`proto/cluster.proto`). A job travels as its SQL and configuration: every TaskManager
//! plans it into the same graph and builds the subtasks placed on it; data between
//! TaskManagers goes over the data plane ([`crate::network`]). A TaskManager that stops
//! answering heartbeats (or whose connection closes) is declared lost and its jobs restart
//! from their latest checkpoint on the TaskManagers that remain or replace it.

mod config;
mod ha;
mod jobmanager;
mod kubernetes;
mod members;
mod remote;
mod resources;
mod taskmanager;
mod wire;

/// The generated protobuf messages and gRPC client and server.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod proto {
    tonic::include_proto!("runnel.cluster.v1");
}

pub use config::ClusterConfig;
pub use jobmanager::{JobHandle, JobManager};
pub use remote::JobSpec;
pub use resources::{ResourceManager, Standalone};
pub use taskmanager::run_task_manager;

use crate::error::{Result, RunnelError};
use crate::sql::{Session, SessionJob};

/// Plans a submitted job: its options, then its script, which must start exactly one job
/// that writes to sinks (a bare SELECT has no client to print to in a cluster).
pub(crate) fn plan_job(spec: &JobSpec) -> Result<SessionJob> {
    let mut session = Session::new();
    for (k, v) in &spec.config {
        session.set(k, v)?;
    }
    let mut jobs = session.execute_script(&spec.script)?;
    if jobs.len() != 1 {
        return Err(RunnelError::Plan(format!(
            "the script starts {} jobs; a cluster runs one per submission \
             (an INSERT INTO, or EXECUTE STATEMENT SET for several)",
            jobs.len()
        )));
    }
    let job = jobs.pop().expect("one job");
    if job.collect.is_some() {
        return Err(RunnelError::Plan(
            "a SELECT without INSERT INTO has no client to print to in a cluster; \
             insert its rows into a table (the 'print' connector writes them to the \
             TaskManagers' output)"
                .into(),
        ));
    }
    Ok(job)
}
