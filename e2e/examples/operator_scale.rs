//! How the operator copes with many resources: applies N `FlinkJob`s (100 by default) to the
//! test cluster, and reports how long the operator takes to reconcile each (creation to
//! status written), how long a spec change on all of them takes, how long deleting them all
//! takes, and the operator's reconcile-duration histogram and memory from its `/metrics`.
//!
//!   cargo build -p runnel-operator && cargo run -p runnel-e2e --example operator_scale [-- N]
//!
//! The jobs are created suspended, so the measure is the operator's own work (finalizer,
//! validation, status, Events, deletion) rather than the start of N JobManagers, which a
//! two-core machine cannot run at once.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use runnel_crds::{FlinkJob, LifecycleState};
use runnel_e2e::cluster::Cluster;
use runnel_e2e::k8s::{http_get, namespace, wait_for};
use runnel_e2e::operator;

const TIMEOUT: Duration = Duration::from_secs(600);

fn job(name: &str) -> Result<FlinkJob> {
    Ok(serde_json::from_value(serde_json::json!({
        "apiVersion": "runnel.dev/v1alpha1",
        "kind": "FlinkJob",
        "metadata": {"name": name},
        "spec": {
            "image": "runnel:dev",
            "job": {
                "state": "suspended",
                "upgradeMode": "savepoint",
                "sql": "CREATE TABLE s (n BIGINT) WITH ('connector' = 'datagen'); \
                        CREATE TABLE t (n BIGINT) WITH ('connector' = 'blackhole'); \
                        INSERT INTO t SELECT n FROM s;"
            }
        }
    }))?)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn report(what: &str, mut times: Vec<Duration>) {
    times.sort();
    println!(
        "{what:<28} p50 {:>7.0} ms   p90 {:>7.0} ms   max {:>7.0} ms",
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        percentile(&times, 0.9).as_secs_f64() * 1e3,
        times.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
}

async fn metrics(client: &kube::Client, ns: &str) -> Result<String> {
    let pods = Api::<Pod>::namespaced(client.clone(), ns)
        .list(&ListParams::default().labels("app.kubernetes.io/name=runnel-operator"))
        .await?;
    let ip = pods.items[0]
        .status
        .as_ref()
        .and_then(|s| s.pod_ip.clone())
        .context("the operator's pod IP")?;
    let (_, body) = http_get(SocketAddr::new(ip.parse()?, 8080), "/metrics")?;
    Ok(body)
}

fn metric(text: &str, line_start: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// How long after `since[i]` each job `names[i]` first satisfied `done` (polled every 200 ms,
/// so each time is an upper bound within that).
async fn wait_all(
    jobs: &Api<FlinkJob>,
    names: &[String],
    since: &[Instant],
    done: impl Fn(&FlinkJob) -> bool,
) -> Result<Vec<Duration>> {
    let seen = std::sync::Mutex::new(vec![None; names.len()]);
    wait_for("every FlinkJob", TIMEOUT, || async {
        let list = jobs.list(&ListParams::default()).await?;
        let mut seen = seen.lock().expect("seen");
        for j in list.items.iter().filter(|j| done(j)) {
            if let Some(i) = names
                .iter()
                .position(|x| Some(x) == j.metadata.name.as_ref())
            {
                seen[i].get_or_insert_with(|| since[i].elapsed());
            }
        }
        let left = seen.iter().filter(|t| t.is_none()).count();
        Ok(if left == 0 { Ok(()) } else { Err(left) })
    })
    .await?;
    Ok(seen
        .into_inner()
        .expect("seen")
        .into_iter()
        .flatten()
        .collect())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let n: usize = std::env::args().nth(1).map_or(Ok(100), |a| a.parse())?;
    let cluster = Cluster::shared();
    let client = cluster.client().await?;
    let ns = namespace(&client, "op-scale").await?;
    operator::install(cluster, &ns, &[])?;
    let jobs: Api<FlinkJob> = Api::namespaced(client.clone(), &ns);
    let names: Vec<String> = (0..n).map(|i| format!("job-{i:03}")).collect();
    let base_rss = metric(
        &metrics(&client, &ns).await?,
        "process_resident_memory_bytes",
    );

    let started = Instant::now();
    let mut created = Vec::new();
    for name in &names {
        jobs.create(&PostParams::default(), &job(name)?).await?;
        created.push(Instant::now());
    }
    let first = wait_all(&jobs, &names, &created, |j| {
        let st = j.status.clone().unwrap_or_default();
        st.lifecycle_state == LifecycleState::Suspended && st.observed_generation == Some(1)
    })
    .await?;
    println!(
        "{n} FlinkJobs reconciled in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    report("create → status written", first);

    // A change of all of them (the savepoint policy, which redeploys nothing).
    let mut changed = Vec::new();
    for name in &names {
        let patch = serde_json::json!({"spec": {"savepoints": {"maxCount": 5}}});
        jobs.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        changed.push(Instant::now());
    }
    let second = wait_all(&jobs, &names, &changed, |j| {
        j.status.as_ref().and_then(|s| s.observed_generation) == Some(2)
    })
    .await?;
    report("spec change → observed", second);

    let text = metrics(&client, &ns).await?;
    let rss = metric(&text, "process_resident_memory_bytes");
    let count = metric(
        &text,
        "runnel_operator_reconcile_duration_seconds_count{kind=\"FlinkJob\"}",
    );
    let sum = metric(
        &text,
        "runnel_operator_reconcile_duration_seconds_sum{kind=\"FlinkJob\"}",
    );

    let deleting = Instant::now();
    for name in &names {
        jobs.delete(name, &DeleteParams::default()).await?;
    }
    wait_for("every FlinkJob deleted", TIMEOUT, || async {
        let left = jobs.list(&ListParams::default()).await?.items.len();
        Ok(if left == 0 { Ok(()) } else { Err(left) })
    })
    .await?;
    println!(
        "{n} FlinkJobs deleted in {:.1} s",
        deleting.elapsed().as_secs_f64()
    );
    if let (Some(c), Some(s)) = (count, sum) {
        println!(
            "reconciles: {c:.0}, mean {:.1} ms each (the operator's histogram)",
            s / c * 1e3
        );
    }
    if let (Some(before), Some(after)) = (base_rss, rss) {
        println!(
            "operator memory: {:.1} MiB with no jobs, {:.1} MiB with {n}",
            before / 1048576.0,
            after / 1048576.0
        );
    }
    Ok(())
}
