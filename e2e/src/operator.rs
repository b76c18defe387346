//! Runnel's operator on the test cluster: installed with its Helm chart into a test's namespace
//! (watching only that namespace, so tests sharing a cluster do not see each other's jobs), and
//! helpers to follow `FlinkJob`s.

use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, Result};
use kube::api::Api;
use runnel_crds::{FlinkJob, FlinkJobStatus};

use crate::cluster::{Cluster, OPERATOR_IMAGE};
use crate::k8s::wait_for;
use crate::process;

/// Installs the chart `charts/runnel-operator` as release `runnel` in `ns`, watching `ns`, with
/// the JobManagers' ServiceAccount there, and waits for the operator to be ready.
pub fn install(cluster: &Cluster, ns: &str, extra: &[&str]) -> Result<()> {
    // Helm installs the chart's CRDs when they are missing; two installs at once would race.
    static INSTALLS: Mutex<()> = Mutex::new(());
    let _one = INSTALLS.lock().unwrap_or_else(|e| e.into_inner());
    let chart = process::repo_root().join("charts/runnel-operator");
    let (repo, tag) = OPERATOR_IMAGE.split_once(':').expect("image with a tag");
    let mut args = vec![
        "install".to_string(),
        "runnel".into(),
        chart.to_string_lossy().into_owned(),
        "--namespace".into(),
        ns.into(),
        "--set".into(),
        format!("watchNamespaces={{{ns}}}"),
        "--set".into(),
        format!("jobNamespaces={{{ns}}}"),
        "--set".into(),
        format!("image.repository={repo}"),
        "--set".into(),
        format!("image.tag={tag}"),
        "--set".into(),
        "logJson=false".into(),
        "--set".into(),
        "observeInterval=2s".into(),
        "--wait".into(),
        "--timeout".into(),
        "120s".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    cluster
        .helm(&args)
        .with_context(|| format!("helm install of the operator into {ns}"))?;
    Ok(())
}

/// Waits until the status of FlinkJob `name` satisfies `ok`, failing after `timeout` with the
/// last status seen.
pub async fn wait_for_job(
    jobs: &Api<FlinkJob>,
    name: &str,
    what: &str,
    timeout: Duration,
    ok: impl Fn(&FlinkJob, &FlinkJobStatus) -> bool,
) -> Result<FlinkJob> {
    wait_for(&format!("FlinkJob {name}: {what}"), timeout, || async {
        let job = jobs.get(name).await?;
        let status = job.status.clone().unwrap_or_default();
        Ok(if ok(&job, &status) {
            Ok(job)
        } else {
            Err(brief(&status))
        })
    })
    .await
}

/// The parts of a status that say where a job is stuck.
pub fn brief(st: &FlinkJobStatus) -> String {
    format!(
        "lifecycle {:?}, job {:?} ({:?}), step {:?}, jobmanager {:?}, error {:?}",
        st.lifecycle_state,
        st.job_status.state,
        st.job_status.job_id,
        st.reconciliation_status.upgrade_step,
        st.job_manager_deployment_status,
        st.error
    )
}
