//! Runnel's operator on a real Kubernetes control plane: installed with its Helm chart, it runs
//! `examples/kubernetes/flinkjob-kafka-s3.yaml` (a running count from Kafka to Kafka with
//! checkpoints in S3) through its lifecycle (savepoint on demand, an upgrade with a savepoint,
//! suspend and resume, a lost TaskManager pod, a lost JobManager pod, deletion) and checks the
//! count continues across each; and `examples/kubernetes/session.yaml` (a session with two
//! jobs; a stateful session job upgraded and restarted from savepoints, copied from one, and
//! its old savepoints disposed of by age), the rejection of invalid specs at admission, the
//! FAILED states with reasons of what only the controller can detect, a rollback, and REST
//! exposure through a NodePort Service and an Ingress.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use k8s_openapi::api::core::v1::{Pod, Secret, Service};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::core::ObjectMeta;
use runnel_crds::{Agent, FlinkJob, FlinkSession, JobManagerDeploymentStatus, LifecycleState};
use runnel_e2e::cluster::Cluster;
use runnel_e2e::k8s::{http_get, namespace, wait_for};
use runnel_e2e::kafka::{Kafka, read_to_end};
use runnel_e2e::operator::{self, wait_for_job};
use runnel_e2e::process::repo_root;
use runnel_e2e::s3::S3;

const TIMEOUT: Duration = Duration::from_secs(120);

fn example(name: &str) -> Result<String> {
    let path = repo_root().join("examples/kubernetes").join(name);
    std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
}

/// The latest count and total per key in the `counts` topic (upsert-kafka: the last value of a
/// key wins).
async fn counts(bootstrap: &str) -> Result<BTreeMap<String, (i64, i64)>> {
    let mut out = BTreeMap::new();
    for (_, m) in read_to_end(bootstrap, "counts", runnel_kafka::Isolation::ReadCommitted).await? {
        let key: serde_json::Value = serde_json::from_slice(m.key.as_deref().unwrap_or(b"null"))?;
        let k = key["k"].as_str().context("a key with k")?.to_string();
        match m.value {
            Some(v) => {
                let v: serde_json::Value = serde_json::from_slice(&v)?;
                out.insert(
                    k,
                    (
                        v["n"].as_i64().unwrap_or(-1),
                        v["total"].as_i64().unwrap_or(-1),
                    ),
                );
            }
            None => {
                out.remove(&k);
            }
        }
    }
    Ok(out)
}

/// Writes `per_key` events for each of a, b and c (value 1 each).
fn produce(kafka: &Kafka, per_key: usize) -> Result<()> {
    let lines: Vec<String> = (0..per_key)
        .flat_map(|_| ["a,1", "b,1", "c,1"])
        .map(str::to_string)
        .collect();
    kafka.produce("events", &lines)
}

/// Waits until every key's count (and total) is `n`.
async fn wait_for_counts(bootstrap: &str, n: i64, during: &str) -> Result<()> {
    let want: BTreeMap<String, (i64, i64)> = ["a", "b", "c"]
        .iter()
        .map(|k| (k.to_string(), (n, n)))
        .collect();
    wait_for(
        &format!("counts of {n} per key ({during})"),
        TIMEOUT,
        || async {
            let got = counts(bootstrap).await?;
            Ok(if got == want { Ok(()) } else { Err(got) })
        },
    )
    .await
}

async fn pods(client: &kube::Client, ns: &str, selector: &str) -> Result<Vec<Pod>> {
    let list = Api::<Pod>::namespaced(client.clone(), ns)
        .list(&ListParams::default().labels(selector))
        .await?;
    Ok(list
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect())
}

fn running(p: &Pod) -> bool {
    p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
}

/// Deletes the first pod `selector` lists; returns its name.
async fn delete_first_pod(client: &kube::Client, ns: &str, selector: &str) -> Result<String> {
    let listed = pods(client, ns, selector).await?;
    let name = listed
        .first()
        .and_then(|p| p.metadata.name.clone())
        .with_context(|| format!("a pod labelled {selector}"))?;
    Api::<Pod>::namespaced(client.clone(), ns)
        .delete(&name, &DeleteParams::default())
        .await?;
    Ok(name)
}

/// How many of the job's TaskManager pods run.
async fn running_task_managers(client: &kube::Client, ns: &str) -> Result<usize> {
    let tms = pods(client, ns, "app=counts,component=taskmanager").await?;
    Ok(tms.iter().filter(|p| running(p)).count())
}

/// The objects under `prefix` in the test bucket's `savepoints/` folder. (The listing's prefix
/// stays free of '/': curl signs it unescaped.)
fn savepoint_files(s3: &S3, prefix: &str) -> Result<Vec<String>> {
    Ok(s3
        .keys("runnel", "savepoints")?
        .into_iter()
        .filter(|k| k.starts_with(prefix))
        .collect())
}

/// Asks for a savepoint with `nonce` and waits until it is done and `then` holds of the
/// savepoint info.
async fn savepoint_by_nonce(
    jobs: &Api<FlinkJob>,
    nonce: i64,
    what: &str,
    then: impl Fn(&runnel_crds::SavepointInfo) -> bool,
) -> Result<runnel_crds::SavepointInfo> {
    patch_job(
        jobs,
        "counts",
        serde_json::json!({"spec": {"job": {"savepointTriggerNonce": nonce}}}),
    )
    .await?;
    let job = wait_for_job(jobs, "counts", what, TIMEOUT, |_, st| {
        let i = &st.job_status.savepoint_info;
        i.last_trigger_nonce == Some(nonce) && i.pending.is_none() && then(i)
    })
    .await?;
    Ok(job.status.unwrap_or_default().job_status.savepoint_info)
}

async fn patch_job(jobs: &Api<FlinkJob>, name: &str, patch: serde_json::Value) -> Result<i64> {
    let job = jobs
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(job.metadata.generation.unwrap_or(0))
}

fn stable_at(generation: i64) -> impl Fn(&FlinkJob, &runnel_crds::FlinkJobStatus) -> bool {
    move |_, st| {
        st.observed_generation == Some(generation)
            && st.lifecycle_state == LifecycleState::Stable
            && st.reconciliation_status.upgrade_step.is_none()
            && st.job_status.state.as_deref() == Some("RUNNING")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_job_on_kafka_and_s3_lives_through_savepoints_upgrades_suspends_and_losses()
-> Result<()> {
    let cluster = Cluster::shared();
    let client = cluster.client().await?;
    let ns = namespace(&client, "op-job").await?;
    let result = job_lifecycle(cluster, &client, &ns).await;
    if result.is_err() {
        eprintln!("{}", cluster.diagnostics(&ns));
    }
    result
}

async fn job_lifecycle(cluster: &Cluster, client: &kube::Client, ns: &str) -> Result<()> {
    let (client, ns) = (client.clone(), ns.to_string());
    operator::install(cluster, &ns, &[])?;

    // Kafka and S3 listen on the cluster's bridge, which pods reach.
    let gateway: IpAddr = cluster.ready().gateway.parse()?;
    let kafka = Kafka::start_on(gateway)?;
    kafka.create_topic("events", 2)?;
    kafka.create_topic("counts", 1)?;
    let s3 = S3::start_on(gateway)?;
    s3.create_bucket("runnel")?;
    let bootstrap = kafka.bootstrap();
    // The S3 secret key is the canary: it must never show up outside the Secret.
    let canary = s3.secret_key().to_string();
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some("s3-credentials".into()),
            ..Default::default()
        },
        string_data: Some(BTreeMap::from([
            ("access-key".to_string(), s3.access_key().to_string()),
            ("secret-key".to_string(), canary.clone()),
        ])),
        ..Default::default()
    };
    Api::<Secret>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &secret)
        .await?;
    let manifest = example("flinkjob-kafka-s3.yaml")?
        .replace("kafka:9092", &bootstrap)
        .replace("http://s3:9000", &s3.endpoint());
    cluster.kubectl_stdin(&["apply", "-n", &ns, "-f", "-"], &manifest)?;
    let jobs: Api<FlinkJob> = Api::namespaced(client.clone(), &ns);

    // Deployed: a JobManager, a TaskManager it created, the job running, the status STABLE.
    wait_for_job(&jobs, "counts", "STABLE and RUNNING", TIMEOUT, stable_at(1)).await?;
    wait_for("one running TaskManager pod", TIMEOUT, || async {
        let tms = pods(&client, &ns, "app=counts,component=taskmanager").await?;
        let names: Vec<_> = tms
            .iter()
            .map(|p| (p.metadata.name.clone(), running(p)))
            .collect();
        Ok(if tms.len() == 1 && tms.iter().all(running) {
            Ok(())
        } else {
            Err(names)
        })
    })
    .await?;
    let printed = cluster.kubectl(&["get", "flinkjob", "counts", "-n", &ns])?;
    ensure!(
        printed.contains("RUNNING") && printed.contains("STABLE"),
        "kubectl get shows the states:\n{printed}"
    );
    produce(&kafka, 10)?;
    wait_for_counts(&bootstrap, 10, "first deployment").await?;

    // A savepoint on demand: in the history, and in S3.
    let info = savepoint_by_nonce(&jobs, 1, "the nonce's savepoint", |_| true).await?;
    let manual = info
        .history
        .iter()
        .find(|s| s.trigger_type == "manual")
        .context("a manual savepoint in the history")?;
    let prefix = manual
        .location
        .strip_prefix("s3://runnel/")
        .context("the savepoint is in the bucket")?;
    let keys = savepoint_files(&s3, prefix)?;
    ensure!(
        keys.iter().any(|k| k.ends_with("_metadata")),
        "the savepoint's _metadata is in S3: {keys:?}"
    );

    let first_savepoint = prefix.to_string();

    // A checkpoint on demand.
    patch_job(
        &jobs,
        "counts",
        serde_json::json!({"spec": {"job": {"checkpointTriggerNonce": 1}}}),
    )
    .await?;
    wait_for_job(
        &jobs,
        "counts",
        "the nonce's checkpoint",
        TIMEOUT,
        |_, st| {
            let c = &st.job_status.checkpoint_info;
            c.last_trigger_nonce == Some(1) && c.pending_trigger_id.is_none()
        },
    )
    .await?;
    let events = cluster.kubectl(&["get", "events", "-n", &ns, "-o", "yaml"])?;
    ensure!(
        events.contains("CheckpointCompleted"),
        "an Event says the checkpoint completed:\n{events}"
    );

    // Upgrade to parallelism 2 with a savepoint (the example's patch): the count goes on.
    let patch = repo_root().join("examples/kubernetes/upgrade-parallelism.yaml");
    cluster.kubectl(&[
        "patch",
        "flinkjob",
        "counts",
        "-n",
        &ns,
        "--type",
        "merge",
        "--patch-file",
        &patch.to_string_lossy(),
    ])?;
    let generation = jobs.get("counts").await?.metadata.generation.unwrap_or(0);
    wait_for_job(
        &jobs,
        "counts",
        "STABLE at parallelism 2",
        TIMEOUT,
        stable_at(generation),
    )
    .await?;
    let job = jobs.get("counts").await?;
    let st = job.status.unwrap_or_default();
    ensure!(
        st.job_status
            .savepoint_info
            .history
            .iter()
            .any(|s| s.trigger_type == "upgrade"),
        "the upgrade took a savepoint: {:?}",
        st.job_status.savepoint_info
    );
    produce(&kafka, 5)?;
    wait_for_counts(&bootstrap, 15, "after the upgrade").await?;
    let tms = pods(&client, &ns, "app=counts,component=taskmanager").await?;
    ensure!(
        tms.len() == 2,
        "two TaskManagers for parallelism 2: {}",
        tms.len()
    );

    // Suspend: no pods; events keep coming; resume: the count takes them in.
    let generation = patch_job(
        &jobs,
        "counts",
        serde_json::json!({"spec": {"job": {"state": "suspended"}}}),
    )
    .await?;
    wait_for_job(&jobs, "counts", "SUSPENDED", TIMEOUT, |_, st| {
        st.lifecycle_state == LifecycleState::Suspended
            && st.observed_generation == Some(generation)
    })
    .await?;
    wait_for("no pods while suspended", TIMEOUT, || async {
        let left = pods(&client, &ns, "app=counts").await?;
        Ok(if left.is_empty() {
            Ok(())
        } else {
            Err(left.len())
        })
    })
    .await?;
    produce(&kafka, 1)?;
    let generation = patch_job(
        &jobs,
        "counts",
        serde_json::json!({"spec": {"job": {"state": "running"}}}),
    )
    .await?;
    wait_for_job(&jobs, "counts", "resumed", TIMEOUT, stable_at(generation)).await?;
    wait_for_counts(&bootstrap, 16, "after resuming").await?;

    // A fourth savepoint: the history keeps three (maxCount), and the oldest is disposed of
    // from S3.
    let history = savepoint_by_nonce(&jobs, 2, "the oldest savepoint disposed of", |i| {
        i.history.len() == 3
    })
    .await?
    .history;
    ensure!(
        history
            .iter()
            .all(|s| !s.location.ends_with(&first_savepoint)),
        "the oldest savepoint left the history: {history:?}"
    );
    let left = savepoint_files(&s3, &first_savepoint)?;
    ensure!(
        left.is_empty(),
        "the oldest savepoint's files are gone from S3: {left:?}"
    );

    // A TaskManager pod deleted: the JobManager replaces it and the job recovers.
    let victim = delete_first_pod(&client, &ns, "app=counts,component=taskmanager").await?;
    wait_for("a replacement TaskManager", TIMEOUT, || async {
        let now = pods(&client, &ns, "app=counts,component=taskmanager").await?;
        let replaced = now.len() == 2
            && now.iter().all(running)
            && now
                .iter()
                .all(|p| p.metadata.name.as_deref() != Some(&victim));
        Ok(if replaced { Ok(()) } else { Err(now.len()) })
    })
    .await?;
    produce(&kafka, 1)?;
    wait_for_counts(&bootstrap, 17, "after losing a TaskManager").await?;

    // The JobManager pod deleted: its replacement resumes from the checkpoint HA recorded.
    let jm_name = delete_first_pod(&client, &ns, "app=counts,component=jobmanager").await?;
    wait_for("a new JobManager pod", TIMEOUT, || async {
        let now = pods(&client, &ns, "app=counts,component=jobmanager").await?;
        let ok =
            now.len() == 1 && running(&now[0]) && now[0].metadata.name.as_deref() != Some(&jm_name);
        Ok(if ok { Ok(()) } else { Err(now.len()) })
    })
    .await?;
    produce(&kafka, 1)?;
    wait_for_counts(&bootstrap, 18, "after losing the JobManager").await?;
    wait_for_job(
        &jobs,
        "counts",
        "RUNNING after the JobManager's loss",
        TIMEOUT,
        |_, st| {
            st.job_status.state.as_deref() == Some("RUNNING")
                && st.job_manager_deployment_status == Some(JobManagerDeploymentStatus::Ready)
        },
    )
    .await?;

    // An upgrade in last-state mode (and back to parallelism 1): no savepoint; the new
    // JobManager resumes from the checkpoint high availability recorded.
    let savepoints_before = jobs
        .get("counts")
        .await?
        .status
        .unwrap_or_default()
        .job_status
        .savepoint_info
        .history
        .len();
    let generation = patch_job(
        &jobs,
        "counts",
        serde_json::json!({"spec": {"job": {"upgradeMode": "last-state", "parallelism": 1}}}),
    )
    .await?;
    let job = wait_for_job(
        &jobs,
        "counts",
        "STABLE after a last-state upgrade",
        TIMEOUT,
        stable_at(generation),
    )
    .await?;
    let history = job
        .status
        .unwrap_or_default()
        .job_status
        .savepoint_info
        .history;
    ensure!(
        history.len() == savepoints_before,
        "a last-state upgrade takes no savepoint: {history:?}"
    );
    produce(&kafka, 1)?;
    wait_for_counts(&bootstrap, 19, "after a last-state upgrade").await?;

    // Parallelism alone: rescaled in place, the same JobManager pod, no redeploy.
    let jm_before = pods(&client, &ns, "app=counts,component=jobmanager").await?;
    let generation = patch_job(
        &jobs,
        "counts",
        serde_json::json!({"spec": {"job": {"parallelism": 2}}}),
    )
    .await?;
    wait_for(
        "two TaskManagers after an in-place rescale",
        TIMEOUT,
        || async {
            let running_tms = running_task_managers(&client, &ns).await?;
            Ok(if running_tms == 2 {
                Ok(())
            } else {
                Err(running_tms)
            })
        },
    )
    .await?;
    wait_for_job(
        &jobs,
        "counts",
        "STABLE after the rescale",
        TIMEOUT,
        stable_at(generation),
    )
    .await?;
    let jm_after = pods(&client, &ns, "app=counts,component=jobmanager").await?;
    ensure!(
        jm_before
            .iter()
            .map(|p| &p.metadata.uid)
            .eq(jm_after.iter().map(|p| &p.metadata.uid)),
        "the JobManager pod stayed: {:?} → {:?}",
        jm_before
            .iter()
            .map(|p| &p.metadata.name)
            .collect::<Vec<_>>(),
        jm_after
            .iter()
            .map(|p| &p.metadata.name)
            .collect::<Vec<_>>()
    );
    let events = cluster.kubectl(&["get", "events", "-n", &ns, "-o", "yaml"])?;
    ensure!(
        events.contains("rescaling the running job to parallelism 2 in place"),
        "a Scaled Event"
    );
    produce(&kafka, 1)?;
    wait_for_counts(&bootstrap, 20, "after an in-place rescale").await?;

    // The JobManager pod goes again: its successor resumes at its Deployment's parallelism
    // (1), and the operator rescales the job back to the spec's (2).
    delete_first_pod(&client, &ns, "app=counts,component=jobmanager").await?;
    wait_for("the job rescaled back to the spec", TIMEOUT, || async {
        let events = cluster.kubectl(&["get", "events", "-n", &ns, "-o", "yaml"])?;
        let running_tms = running_task_managers(&client, &ns).await?;
        let rescaled = events.contains("rescaling it");
        Ok(if rescaled && running_tms == 2 {
            Ok(())
        } else {
            Err((rescaled, running_tms))
        })
    })
    .await?;
    produce(&kafka, 1)?;
    wait_for_counts(&bootstrap, 21, "after a failover and the rescale back").await?;

    // No secret value in ConfigMaps, the status, Events or any log.
    let mut places = vec![
        (
            "ConfigMaps",
            cluster.kubectl(&["get", "configmaps", "-n", &ns, "-o", "yaml"])?,
        ),
        (
            "FlinkJob",
            cluster.kubectl(&["get", "flinkjob", "counts", "-n", &ns, "-o", "yaml"])?,
        ),
        (
            "Events",
            cluster.kubectl(&["get", "events", "-n", &ns, "-o", "yaml"])?,
        ),
        (
            "pods",
            cluster.kubectl(&["get", "pods", "-n", &ns, "-o", "yaml"])?,
        ),
    ];
    for pod in pods(&client, &ns, "app.kubernetes.io/name=runnel-operator")
        .await?
        .into_iter()
        .chain(pods(&client, &ns, "app=counts").await?)
    {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let container = pod
            .spec
            .as_ref()
            .map(|s| s.containers[0].name.clone())
            .unwrap_or_default();
        if let Ok(log) = cluster.container_log(&ns, &name, &container, 0) {
            places.push(("a log", log));
        }
    }
    for (what, text) in &places {
        ensure!(
            !text.contains(&canary),
            "the S3 secret key appears in {what}"
        );
    }

    // Deleted: a savepoint first (the policy), then every object of the job goes.
    let before = savepoint_files(&s3, "")?;
    jobs.delete("counts", &DeleteParams::default()).await?;
    wait_for("the FlinkJob gone", TIMEOUT, || async {
        Ok(match jobs.get_opt("counts").await? {
            None => Ok(()),
            Some(j) => Err(operator::brief(&j.status.unwrap_or_default())),
        })
    })
    .await?;
    let after = savepoint_files(&s3, "")?;
    ensure!(
        after.iter().filter(|k| k.ends_with("_metadata")).count()
            > before.iter().filter(|k| k.ends_with("_metadata")).count(),
        "a savepoint was taken on deletion:\nbefore {before:?}\nafter {after:?}"
    );
    wait_for("every object of the job gone", TIMEOUT, || async {
        let left = cluster.kubectl(&[
            "get",
            "deployments,services,configmaps,pods,leases,ingresses",
            "-n",
            &ns,
            "-l",
            "app=counts",
            "-o",
            "name",
        ])?;
        Ok(if left.trim().is_empty() {
            Ok(())
        } else {
            Err(left)
        })
    })
    .await?;
    Ok(())
}

/// The snapshot the session's JobManager says job `id` restored, as Flink's REST API reports
/// it: `(external_path, is_savepoint)`.
async fn restored_in_session(
    client: &kube::Client,
    ns: &str,
    id: &str,
) -> Result<Option<(String, bool)>> {
    let jm = pods(client, ns, "app=shared,component=jobmanager").await?;
    let ip: IpAddr = jm
        .iter()
        .find(|p| running(p))
        .and_then(|p| p.status.as_ref()?.pod_ip.as_deref())
        .context("the session JobManager's pod IP")?
        .parse()?;
    let (code, body) = http_get(
        std::net::SocketAddr::new(ip, 8081),
        &format!("/jobs/{id}/checkpoints"),
    )?;
    ensure!(code == 200, "checkpoints of {id}: {code} {body}");
    let v: serde_json::Value = serde_json::from_str(&body)?;
    let r = &v["latest"]["restored"];
    Ok(r["external_path"]
        .as_str()
        .map(|p| (p.to_string(), r["is_savepoint"] == true)))
}

/// A stateful job in the session in savepoint mode: an upgrade stops it with a savepoint and
/// submits it again restoring that savepoint (the session's JobManager says so); a
/// `restartNonce` does the same without another change; a new job starts from the latest
/// savepoint (`initialSavepointPath`); a savepoint older than `maxAge` is disposed of from
/// storage. The test bed's pods share the host's file system, so a local savepoint folder is
/// one every pod and this test see.
async fn session_savepoints(cluster: &Cluster, client: &kube::Client, ns: &str) -> Result<()> {
    let dir = format!("/tmp/runnel-e2e-savepoints-{ns}");
    let _ = std::fs::remove_dir_all(&dir);
    let manifest = |name: &str, extra: &str| {
        format!(
            "apiVersion: runnel.dev/v1alpha1\nkind: FlinkJob\nmetadata: {{name: {name}}}\nspec:\n  sessionRef: shared\n  flinkConfiguration: {{execution.checkpointing.savepoint-dir: {dir}}}\n  savepoints: {{maxAge: 30s}}\n  job:\n    upgradeMode: savepoint\n    parallelism: 1\n{extra}    sql: |\n      CREATE TABLE clicks (user_id BIGINT) WITH ('connector' = 'datagen', 'rows-per-second' = '20', 'fields.user_id.max' = '10');\n      CREATE TABLE sink (user_id BIGINT, n BIGINT) WITH ('connector' = 'blackhole');\n      INSERT INTO sink SELECT user_id, COUNT(*) FROM clicks GROUP BY user_id;\n"
        )
    };
    cluster.kubectl_stdin(&["apply", "-n", ns, "-f", "-"], &manifest("tallies", ""))?;
    let jobs: Api<FlinkJob> = Api::namespaced(client.clone(), ns);
    let job_id = |job: FlinkJob| job.status.unwrap_or_default().job_status.job_id;
    let first = job_id(wait_for_job(&jobs, "tallies", "STABLE", TIMEOUT, stable_at(1)).await?);
    // An upgrade (a configuration change) in savepoint mode, then a restart by nonce: each
    // stops the job with a savepoint that the next job restores.
    let mut previous = first;
    let mut taken = Vec::new();
    for (what, patch) in [
        (
            "upgraded from a savepoint",
            serde_json::json!({"spec": {"flinkConfiguration": {"execution.checkpointing.interval": "2s"}}}),
        ),
        (
            "restarted by its nonce from a savepoint",
            serde_json::json!({"spec": {"job": {"restartNonce": 1}}}),
        ),
    ] {
        let generation = patch_job(&jobs, "tallies", patch).await?;
        let job = wait_for_job(&jobs, "tallies", what, TIMEOUT, stable_at(generation)).await?;
        let st = job.status.clone().unwrap_or_default();
        let id = st.job_status.job_id.clone().context("a job id")?;
        ensure!(
            Some(&id) != previous.as_ref(),
            "{what}: a new job, {previous:?} again"
        );
        let savepoint = st
            .job_status
            .savepoint_info
            .last_savepoint
            .clone()
            .filter(|s| s.trigger_type == "upgrade" && !taken.contains(&s.location))
            .with_context(|| format!("{what}: a new upgrade savepoint in {st:?}"))?;
        let restored = restored_in_session(client, ns, &id).await?;
        ensure!(
            restored == Some((savepoint.location.clone(), true)),
            "{what}: the session's JobManager restored {restored:?}, not {}",
            savepoint.location
        );
        taken.push(savepoint.location);
        previous = Some(id);
    }
    // A new job from the latest savepoint.
    let latest = taken.last().context("a savepoint")?.clone();
    cluster.kubectl_stdin(
        &["apply", "-n", ns, "-f", "-"],
        &manifest(
            "tallies-copy",
            &format!("    initialSavepointPath: {latest}\n"),
        ),
    )?;
    let copy = job_id(
        wait_for_job(
            &jobs,
            "tallies-copy",
            "STABLE from the savepoint",
            TIMEOUT,
            stable_at(1),
        )
        .await?,
    )
    .context("a job id")?;
    let restored = restored_in_session(client, ns, &copy).await?;
    ensure!(
        restored == Some((latest.clone(), true)),
        "the new job restored {restored:?}, not {latest}"
    );
    // The first savepoint outlives maxAge (30 s): disposed of from storage and the history;
    // the latest one stays whatever its age.
    let oldest = taken[0].clone();
    wait_for_job(
        &jobs,
        "tallies",
        "the old savepoint disposed of",
        TIMEOUT,
        |_, st| {
            let history = &st.job_status.savepoint_info.history;
            !history.iter().any(|s| s.location == oldest)
                && history.iter().any(|s| s.location == latest)
        },
    )
    .await?;
    ensure!(
        !std::path::Path::new(&oldest).exists() && std::path::Path::new(&latest).exists(),
        "{oldest} is gone from storage and {latest} is kept"
    );
    for name in ["tallies", "tallies-copy"] {
        jobs.delete(name, &DeleteParams::default()).await?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_runs_two_jobs_and_bad_specs_are_refused_or_reported() -> Result<()> {
    let cluster = Cluster::shared();
    let client = cluster.client().await?;
    let ns = namespace(&client, "op-session").await?;
    let result = session_and_bad_specs(cluster, &client, &ns).await;
    if result.is_err() {
        eprintln!("{}", cluster.diagnostics(&ns));
    }
    result
}

async fn session_and_bad_specs(cluster: &Cluster, client: &kube::Client, ns: &str) -> Result<()> {
    let (client, ns) = (client.clone(), ns.to_string());
    // Two replicas: one leads, the other stands by for the Lease. The election is tolerant
    // (this machine's API server can be slow to answer); a handover by deletion releases the
    // Lease at once anyway.
    operator::install(
        cluster,
        &ns,
        &[
            "--set",
            "replicas=2",
            "--set",
            "leaderElection.leaseDuration=60s",
            "--set",
            "leaderElection.renewDeadline=45s",
        ],
    )?;
    wait_for("one operator leading, one standing by", TIMEOUT, || async {
        let ops = pods(&client, &ns, "app.kubernetes.io/name=runnel-operator").await?;
        let mut leading = Vec::new();
        let mut standing_by = 0;
        for p in &ops {
            let name = p.metadata.name.clone().unwrap_or_default();
            let log = cluster
                .container_log(&ns, &name, "operator", 0)
                .unwrap_or_default();
            if log.contains("leading identity=") {
                leading.push(p.clone());
            } else if log.contains("standing by") {
                standing_by += 1;
            }
        }
        Ok(if leading.len() == 1 && standing_by == 1 {
            Ok(leading.remove(0))
        } else {
            Err((leading.len(), standing_by))
        })
    })
    .await?;

    // Invalid specs never get in: the schema and CEL rules name the field.
    for (spec, want) in [
        (
            "{job: {sql: 'INSERT INTO t SELECT 1'}}",
            "spec.image is required unless spec.sessionRef",
        ),
        (
            "{image: 'runnel:dev', job: {sql: 'x', args: ['y']}}",
            "set exactly one of sql, sqlFrom and args",
        ),
        (
            "{image: 'runnel:dev', job: {sql: 'x', parallelism: 0}}",
            "must be at least 1",
        ),
        (
            "{image: 'runnel:dev', job: {sql: 'x', upgradeMode: sometimes}}",
            "upgradeMode",
        ),
        (
            "{sessionRef: shared, image: 'runnel:dev', job: {sql: 'x'}}",
            "runs on the session's cluster",
        ),
    ] {
        let manifest = format!(
            "apiVersion: runnel.dev/v1alpha1\nkind: FlinkJob\nmetadata: {{name: bad}}\nspec: {spec}\n"
        );
        match cluster.kubectl_stdin(&["apply", "-n", &ns, "-f", "-"], &manifest) {
            Ok(out) => bail!("accepted an invalid spec {spec}: {out}"),
            Err(e) => ensure!(
                format!("{e:#}").contains(want),
                "the refusal of {spec} says {want:?}: {e:#}"
            ),
        }
    }

    // A session with two jobs, as in the example.
    cluster.kubectl_stdin(&["apply", "-n", &ns, "-f", "-"], &example("session.yaml")?)?;
    let jobs: Api<FlinkJob> = Api::namespaced(client.clone(), &ns);
    let mut ids = Vec::new();
    for name in ["clicks-per-second", "big-orders"] {
        let job = wait_for_job(
            &jobs,
            name,
            "STABLE and RUNNING in the session",
            TIMEOUT,
            stable_at(1),
        )
        .await?;
        ids.push(
            job.status
                .unwrap_or_default()
                .job_status
                .job_id
                .context("a job id")?,
        );
    }
    ensure!(ids[0] != ids[1], "two jobs: {ids:?}");
    let sessions: Api<FlinkSession> = Api::namespaced(client.clone(), &ns);
    wait_for("the session counting two jobs", TIMEOUT, || async {
        let s = sessions.get("shared").await?.status.unwrap_or_default();
        Ok(
            if s.jobs == Some(2) && s.lifecycle_state == LifecycleState::Stable {
                Ok(())
            } else {
                Err(s)
            },
        )
    })
    .await?;

    // A session job rescaled in place (the same job), then upgraded (stateless, its
    // default: cancelled and submitted again, a new job).
    let before = jobs
        .get("big-orders")
        .await?
        .status
        .unwrap_or_default()
        .job_status
        .job_id;
    let generation = patch_job(
        &jobs,
        "big-orders",
        serde_json::json!({"spec": {"job": {"parallelism": 2}}}),
    )
    .await?;
    let scaled = wait_for_job(
        &jobs,
        "big-orders",
        "rescaled in the session",
        TIMEOUT,
        stable_at(generation),
    )
    .await?
    .status
    .unwrap_or_default()
    .job_status
    .job_id;
    ensure!(
        scaled == before,
        "a rescale keeps the job: {before:?} → {scaled:?}"
    );
    let sql = "CREATE TABLE orders (id BIGINT, amount INT) WITH ('connector' = 'datagen', 'rows-per-second' = '50', 'fields.amount.max' = '1000'); CREATE TABLE big (id BIGINT, amount INT) WITH ('connector' = 'blackhole'); INSERT INTO big SELECT id, amount FROM orders WHERE amount > 950;";
    let generation = patch_job(
        &jobs,
        "big-orders",
        serde_json::json!({"spec": {"job": {"sql": sql}}}),
    )
    .await?;
    let after = wait_for_job(
        &jobs,
        "big-orders",
        "upgraded in the session",
        TIMEOUT,
        stable_at(generation),
    )
    .await?
    .status
    .unwrap_or_default()
    .job_status
    .job_id;
    ensure!(
        after.is_some() && after != before,
        "a new job in the session: {before:?} → {after:?}"
    );

    session_savepoints(cluster, &client, &ns).await?;

    // What only the controller can tell: SQL that does not plan, a Secret that is not there.
    let bad_sql = "apiVersion: runnel.dev/v1alpha1\nkind: FlinkJob\nmetadata: {name: bad-sql}\nspec:\n  image: runnel:dev\n  job: {sql: 'INSERT INTO nowhere SELECT 1'}\n";
    let no_secret = "apiVersion: runnel.dev/v1alpha1\nkind: FlinkJob\nmetadata: {name: no-secret}\nspec:\n  image: runnel:dev\n  env: [{name: API_KEY, valueFrom: {secretKeyRef: {name: missing, key: k}}}]\n  job: {sql: 'INSERT INTO nowhere SELECT 1'}\n";
    cluster.kubectl_stdin(&["apply", "-n", &ns, "-f", "-"], bad_sql)?;
    cluster.kubectl_stdin(&["apply", "-n", &ns, "-f", "-"], no_secret)?;
    for (name, want) in [("bad-sql", "nowhere"), ("no-secret", "Secret")] {
        let job = wait_for_job(&jobs, name, "FAILED with the reason", TIMEOUT, |_, st| {
            st.lifecycle_state == LifecycleState::Failed
                && st.error.as_deref().is_some_and(|e| e.contains(want))
        })
        .await?;
        let error = job.status.unwrap_or_default().error.unwrap_or_default();
        let events = cluster.kubectl(&[
            "get",
            "events",
            "-n",
            &ns,
            "--field-selector",
            &format!("involvedObject.name={name}"),
            "-o",
            "yaml",
        ])?;
        ensure!(
            events.contains(want),
            "an Event for {name} says {want}: {error}\n{events}"
        );
    }

    // An Agent is accepted and said to be unsupported, not pretended to run.
    let agent = "apiVersion: runnel.dev/v1alpha1\nkind: Agent\nmetadata: {name: triage}\nspec:\n  image: runnel:dev\n  input: {ddl: \"CREATE TABLE tickets (id BIGINT, body STRING) WITH ('connector' = 'datagen')\", table: tickets, key: [id]}\n  models: [{name: local, provider: openai, endpoint: 'http://llm:8000/v1', model: small}]\n  model: local\n  prompts: {user: 'Classify: {body}'}\n  output: {ddl: \"CREATE TABLE labels (id BIGINT, label STRING) WITH ('connector' = 'blackhole')\", table: labels}\n";
    cluster.kubectl_stdin(&["apply", "-n", &ns, "-f", "-"], agent)?;
    let agents: Api<Agent> = Api::namespaced(client.clone(), &ns);
    wait_for("the Agent marked unsupported", TIMEOUT, || async {
        let st = agents.get("triage").await?.status.unwrap_or_default();
        let said = st
            .conditions
            .iter()
            .any(|c| c.type_ == "Supported" && c.status == "False");
        Ok(if said { Ok(()) } else { Err(st.conditions) })
    })
    .await?;
    let bad_agent = agent
        .replace("model: local\n", "model: elsewhere\n")
        .replace("name: triage", "name: bad-agent");
    let refused = cluster.kubectl_stdin(&["apply", "-n", &ns, "-f", "-"], &bad_agent);
    ensure!(
        refused
            .as_ref()
            .is_err_and(|e| format!("{e:#}").contains("spec.model must name one of spec.models")),
        "an Agent naming an unknown model is refused: {refused:?}"
    );

    // An upgrade whose job cannot run rolls back to the last stable spec and its savepoint.
    let stateful = "apiVersion: runnel.dev/v1alpha1\nkind: FlinkJob\nmetadata: {name: rollback}\nspec:\n  image: runnel:dev\n  flinkConfiguration: {execution.checkpointing.savepoint-dir: /tmp/runnel-rollback-savepoints}\n  job:\n    upgradeMode: savepoint\n    sql: |\n      CREATE TABLE clicks (user_id BIGINT) WITH ('connector' = 'datagen', 'rows-per-second' = '20', 'fields.user_id.max' = '10');\n      CREATE TABLE sink (user_id BIGINT, n BIGINT) WITH ('connector' = 'blackhole');\n      INSERT INTO sink SELECT user_id, COUNT(*) FROM clicks GROUP BY user_id;\n  savepoints: {interval: 3s}\n  rest: {serviceType: NodePort, ingress: {host: rollback.runnel.test, className: test}}\n";
    cluster.kubectl_stdin(&["apply", "-n", &ns, "-f", "-"], stateful)?;
    wait_for_job(&jobs, "rollback", "STABLE", TIMEOUT, stable_at(1)).await?;
    // Its REST API exposed as asked: a NodePort Service, and an Ingress routing the host to it.
    let service = Api::<Service>::namespaced(client.clone(), &ns)
        .get("rollback-rest")
        .await?;
    let spec = service.spec.unwrap_or_default();
    ensure!(
        spec.type_.as_deref() == Some("NodePort")
            && spec.ports.iter().flatten().all(|p| p.node_port.is_some()),
        "a NodePort REST Service: {spec:?}"
    );
    let ingress = Api::<Ingress>::namespaced(client.clone(), &ns)
        .get("rollback-rest")
        .await?;
    let rule = ingress
        .spec
        .as_ref()
        .and_then(|s| s.rules.as_ref()?.first().cloned())
        .context("an Ingress rule")?;
    let backend = rule
        .http
        .as_ref()
        .and_then(|h| h.paths.first()?.backend.service.clone())
        .context("an Ingress backend")?;
    ensure!(
        rule.host.as_deref() == Some("rollback.runnel.test")
            && backend.name == "rollback-rest"
            && backend.port.and_then(|p| p.number) == Some(8081)
            && ingress.spec.and_then(|s| s.ingress_class_name).as_deref() == Some("test")
            && ingress
                .metadata
                .owner_references
                .iter()
                .flatten()
                .any(|o| o.kind == "FlinkJob" && o.name == "rollback"),
        "the Ingress routes rollback.runnel.test to the REST Service and is owned by the job"
    );
    // Periodic savepoints (every 3 s) land in the history.
    wait_for_job(
        &jobs,
        "rollback",
        "a periodic savepoint",
        TIMEOUT,
        |_, st| {
            st.job_status
                .savepoint_info
                .history
                .iter()
                .any(|s| s.trigger_type == "periodic")
        },
    )
    .await?;
    patch_job(
        &jobs,
        "rollback",
        serde_json::json!({"spec": {"job": {"sql": "INSERT INTO nowhere SELECT 1"}}}),
    )
    .await?;
    let job = wait_for_job(
        &jobs,
        "rollback",
        "ROLLED_BACK and RUNNING",
        TIMEOUT,
        |_, st| {
            st.lifecycle_state == LifecycleState::RolledBack
                && st.job_status.state.as_deref() == Some("RUNNING")
        },
    )
    .await?;
    let st = job.status.unwrap_or_default();
    let rs = &st.reconciliation_status;
    ensure!(
        rs.rolled_back_from
            .as_deref()
            .is_some_and(|s| s.contains("nowhere"))
            && rs.last_reconciled_spec == rs.last_stable_spec,
        "the failed spec is recorded and the stable one runs: {rs:?}"
    );
    ensure!(
        st.error.as_deref().is_some_and(|e| e.contains("nowhere")),
        "the reason is in status: {:?}",
        st.error
    );
    // The stable spec put back: the rollback is over (STABLE, no error) and nothing is
    // redeployed for it.
    let stable: serde_json::Value =
        serde_json::from_str(rs.last_stable_spec.as_deref().context("a stable spec")?)?;
    let generation = patch_job(
        &jobs,
        "rollback",
        serde_json::json!({"spec": {"job": {"sql": stable["job"]["sql"]}}}),
    )
    .await?;
    let job = wait_for_job(
        &jobs,
        "rollback",
        "STABLE again",
        TIMEOUT,
        stable_at(generation),
    )
    .await?;
    let after = job.status.unwrap_or_default();
    ensure!(
        after.error.is_none()
            && after.reconciliation_status.rolled_back_from.is_none()
            && after.job_status.job_id == st.job_status.job_id,
        "the rollback is over, the same job runs: {after:?}"
    );

    // The operator's own metrics, from the replica leading now (on a busy machine the Lease
    // may have changed hands since the start).
    let holder = Api::<k8s_openapi::api::coordination::v1::Lease>::namespaced(client.clone(), &ns)
        .get("runnel-operator-leader")
        .await?
        .spec
        .and_then(|s| s.holder_identity)
        .context("the operator's Lease holder")?;
    let leader = Api::<Pod>::namespaced(client.clone(), &ns)
        .get(&holder)
        .await?;
    let ip: IpAddr = leader
        .status
        .as_ref()
        .and_then(|s| s.pod_ip.as_deref())
        .context("the operator's pod IP")?
        .parse()?;
    let (code, metrics) = http_get(std::net::SocketAddr::new(ip, 8080), "/metrics")?;
    ensure!(
        code == 200
            && metrics.contains("runnel_operator_reconciles_total{kind=\"FlinkJob\"}")
            && metrics.contains("process_resident_memory_bytes"),
        "the operator serves its metrics: {code}\n{metrics}"
    );

    // The leader goes: the standby takes the Lease over and carries on.
    let leader_name = leader.metadata.name.clone().context("the leader's name")?;
    Api::<Pod>::namespaced(client.clone(), &ns)
        .delete(&leader_name, &DeleteParams::default())
        .await?;

    // Deleting the jobs cancels them in the session (the new leader does it).
    for name in ["clicks-per-second", "big-orders"] {
        jobs.delete(name, &DeleteParams::default()).await?;
    }
    wait_for("the session with no jobs", TIMEOUT, || async {
        let s = sessions.get("shared").await?.status.unwrap_or_default();
        Ok(if s.jobs == Some(0) {
            Ok(())
        } else {
            Err(s.jobs)
        })
    })
    .await?;
    Ok(())
}

/// A TCP relay to the API server that the test can freeze: connections stay open and nothing
/// more crosses, as on a partitioned network.
struct FreezableRelay {
    addr: std::net::SocketAddr,
    frozen: Arc<AtomicBool>,
}

impl FreezableRelay {
    async fn start(upstream: std::net::SocketAddr) -> Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let frozen = Arc::new(AtomicBool::new(false));
        let flag = frozen.clone();
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let Ok(outbound) = tokio::net::TcpStream::connect(upstream).await else {
                    continue;
                };
                let (ri, wi) = inbound.into_split();
                let (ro, wo) = outbound.into_split();
                tokio::spawn(pipe(ri, wo, flag.clone()));
                tokio::spawn(pipe(ro, wi, flag.clone()));
            }
        });
        Ok(FreezableRelay { addr, frozen })
    }

    fn freeze(&self) {
        self.frozen.store(true, Ordering::SeqCst);
    }
}

/// Copies `from` to `to` until either ends, or holds both once `frozen`.
async fn pipe(
    mut from: impl tokio::io::AsyncRead + Unpin,
    mut to: impl tokio::io::AsyncWrite + Unpin,
    frozen: Arc<AtomicBool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 16 << 10];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if frozen.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// Leader election (`runnel-lease`, used by the operator's replicas and by JobManagers) on the
/// real API server: a holder that renews keeps the Lease; one whose requests hang (its
/// network partitioned) gives up leading before the standby may take the Lease over, so the
/// two never lead at once; one that stops on purpose releases it, and the next candidate
/// takes it at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_cut_off_from_the_api_server_stops_leading_before_another_takes_over() -> Result<()>
{
    let cluster = Cluster::shared();
    let client = cluster.client().await?;
    let ns = namespace(&client, "lease").await?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let kubeconfig = kube::config::Kubeconfig::read_from(cluster.kubeconfig())?;
    let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?;
    let api_server: std::net::SocketAddr = format!(
        "{}:{}",
        config.cluster_url.host().context("the API server's host")?,
        config
            .cluster_url
            .port_u16()
            .context("the API server's port")?
    )
    .parse()?;
    // The leader reaches the API server through the relay (the same address, so its TLS
    // certificate still matches).
    let relay = FreezableRelay::start(api_server).await?;
    config.cluster_url = format!("https://{}", relay.addr).parse()?;
    let through_relay = kube::Client::try_from(config)?;
    let timing = runnel_lease::Timing {
        lease_duration: Duration::from_secs(4),
        renew_deadline: Duration::from_secs(4),
        retry_period: Duration::from_secs(1),
    };
    let elector = |client: kube::Client, identity: &str| {
        runnel_lease::Elector::new(
            client,
            &ns,
            "test-leader",
            identity,
            BTreeMap::new(),
            timing,
        )
    };
    let leader = elector(through_relay, "leader");
    leader.acquire(|_| {}).await?;
    let keeping = tokio::spawn(async move {
        let lost = leader.keep().await;
        (lost, tokio::time::Instant::now())
    });
    let standby = elector(client.clone(), "standby");
    let (told_tx, mut told) = tokio::sync::mpsc::unbounded_channel();
    let taking = tokio::spawn(async move {
        standby
            .acquire(|holder| {
                let _ = told_tx.send(holder.to_string());
            })
            .await
            .map(|()| tokio::time::Instant::now())
    });
    // While the leader renews, the standby waits (three lease durations).
    let holder = tokio::time::timeout(Duration::from_secs(10), told.recv())
        .await
        .context("the standby hears of the leader")?;
    ensure!(holder.as_deref() == Some("leader"), "{holder:?}");
    tokio::time::sleep(timing.lease_duration * 3).await;
    ensure!(
        !taking.is_finished() && !keeping.is_finished(),
        "the Lease changed hands while its holder renewed it"
    );
    // Partitioned: the leader's renewals hang.
    relay.freeze();
    let frozen_at = tokio::time::Instant::now();
    let (lost, gave_up_at) = tokio::time::timeout(Duration::from_secs(30), keeping)
        .await
        .context("the cut-off leader never gave up")??;
    let took_at = tokio::time::timeout(Duration::from_secs(30), taking)
        .await
        .context("the standby never took the Lease")???;
    ensure!(
        matches!(lost, runnel_lease::Lost::NotRenewed(_)),
        "the leader gave up for the wrong reason: {lost}"
    );
    ensure!(
        gave_up_at < took_at,
        "the standby led {:?} before the cut-off leader gave up",
        gave_up_at - took_at
    );
    ensure!(
        gave_up_at - frozen_at <= timing.deadline() + timing.retry_period,
        "the leader gave up {:?} after it was cut off (deadline {:?})",
        gave_up_at - frozen_at,
        timing.deadline()
    );

    // A holder that stops on purpose releases the Lease: the next candidate takes it at once,
    // not after the lease duration (30 s here).
    let long = runnel_lease::Timing {
        lease_duration: Duration::from_secs(30),
        ..timing
    };
    let candidate = |identity: &str| {
        runnel_lease::Elector::new(
            client.clone(),
            &ns,
            "test-release",
            identity,
            BTreeMap::new(),
            long,
        )
    };
    let first = candidate("first");
    first.acquire(|_| {}).await?;
    let second = candidate("second");
    let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
    let waiting = tokio::spawn(async move {
        second
            .acquire(|holder| {
                let _ = seen_tx.send(holder.to_string());
            })
            .await
    });
    tokio::time::timeout(Duration::from_secs(10), seen.recv())
        .await
        .context("the second candidate sees the first hold the Lease")?;
    let released = tokio::time::Instant::now();
    first.release().await?;
    tokio::time::timeout(Duration::from_secs(20), waiting)
        .await
        .context("the released Lease was not taken before it would have expired")???;
    ensure!(
        released.elapsed() < long.lease_duration / 2,
        "taken {:?} after the release",
        released.elapsed()
    );
    Ok(())
}
