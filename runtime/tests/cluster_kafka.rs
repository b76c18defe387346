//! Kafka exactly-once on a cluster: the scenario of `e2e/tests/kafka_exactly_once.rs` (a real
//! broker, bids produced while the job runs, a windowed aggregation joined with names,
//! transactional output) submitted to a JobManager with three TaskManagers. A TaskManager
//! running its tasks is killed with SIGKILL mid-run; the job restarts from its latest
//! checkpoint on the others, and a `read_committed` reader sees every result exactly once,
//! as after local mode's kills.

use anyhow::{Result, ensure};
use runnel_e2e::bids;
use runnel_e2e::kafka::Kafka;

mod support;
use support::cluster::Cluster;

#[test]
fn kafka_exactly_once_on_a_cluster_survives_a_killed_task_manager() -> Result<()> {
    let kafka = Kafka::start()?;
    bids::prepare(&kafka)?;
    let cluster = Cluster::start("kafka", 3, 1);
    let script = bids::JOB
        .replace("${DIR}", cluster.dir.to_str().unwrap())
        .replace("${BOOTSTRAP}", &kafka.bootstrap());
    let id = cluster.submit_script(&script, 2);
    let producer = bids::produce_the_rest(kafka.bootstrap());
    cluster.wait("two completed checkpoints", || {
        cluster.completed_checkpoints(&id) >= 2
    });
    let victim = cluster.busy_task_manager();
    cluster.tms[victim].signal(libc::SIGKILL);
    cluster.wait("a restart from a checkpoint", || {
        cluster
            .jm
            .log()
            .lines()
            .any(|l| l.contains("restart 1 in") && l.contains("/chk-"))
    });
    producer
        .join()
        .map_err(|_| anyhow::anyhow!("producer thread panicked"))??;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(bids::close_windows(&kafka.bootstrap()))?;

    let got = bids::wait_for_results(&kafka.bootstrap(), || Ok(()))?;
    let state = cluster.job(&id)["state"].clone();
    ensure!(state == "RUNNING", "job is {state}:\n{}", cluster.jm.log());
    cluster.cancel(&id);
    bids::check(&kafka, &got)
}
