//! `runnel taskmanager`: registers with the JobManager, runs the subtasks it is given in its
//! slots, moves their data to and from other TaskManagers, and reports what they do.
//!
//! When the JobManager is lost (its stream ends, or it no longer knows this TaskManager) every
//! task is cancelled and the TaskManager registers again, for up to
//! `taskmanager.registration.timeout`: the JobManager restarts the job from its latest
//! checkpoint.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tonic::transport::Channel;

use super::ha::FileStore;
use super::proto;
use super::proto::instruction::Kind;
use super::proto::job_manager_client::JobManagerClient;
use super::proto::task_update::Kind as Update;
use super::remote::{JobSpec, plan_fingerprint};
use super::wire;
use super::{ClusterConfig, plan_job};
use crate::checkpoint::{Location, RestorePoint};
use crate::error::{Result, RunnelError};
use crate::execution::{
    Build, ChannelEnds, ChannelFactory, Placement, SnapshotDirs, TaskControl, TaskEvent,
    TaskManager, TaskReport, spawn_sampler,
};
use crate::network::{DataServer, Fault, Outbound, channel_id, deployment_of};

/// Frames a receiving channel may have in flight (its credit) and messages it queues.
const CHANNEL_CREDITS: u32 = 4;
/// Messages a sending channel queues before its producer waits.
const SENDER_CAPACITY: usize = 2;

/// One deployment's subtasks on this TaskManager.
#[derive(Default)]
struct Running {
    handles: Vec<AbortHandle>,
    controls: HashMap<usize, mpsc::UnboundedSender<TaskControl>>,
    dirs: SnapshotDirs,
    /// A task of it here, to report a broken data connection as its failure.
    some_task: Option<usize>,
    /// A data connection of it broke while it was being built: it must not start.
    broken: Option<String>,
}

/// What the TaskManager holds across registrations.
struct Shared {
    id: String,
    config: ClusterConfig,
    /// With high availability, where the leader publishes its address.
    ha: Option<FileStore>,
    data: DataServer,
    data_address: SocketAddr,
    faults: mpsc::UnboundedSender<Fault>,
    running: Mutex<HashMap<u32, Running>>,
}

/// Runs a TaskManager until it cannot reach a JobManager for longer than the registration
/// timeout.
pub async fn run_task_manager(options: BTreeMap<String, String>) -> Result<()> {
    let config = ClusterConfig::from_options(&options)?;
    let (faults, mut fault_rx) = mpsc::unbounded_channel();
    let data = DataServer::bind(
        config.data_bind()?,
        faults.clone(),
        config.heartbeat_timeout,
    )
    .await?;
    let host: std::net::IpAddr = config.task_manager_host.parse().map_err(|_| {
        RunnelError::bad_option(
            "taskmanager.host",
            &config.task_manager_host,
            "an IP address",
        )
    })?;
    let data_address = SocketAddr::new(host, data.local_addr().port());
    // A platform that starts TaskManagers names them (Kubernetes: the pod), so it knows which
    // one the JobManager lost.
    let id = match options.get("taskmanager.resource-id") {
        Some(id) => id.trim().to_string(),
        None => format!(
            "{data_address}-{:06x}",
            crate::checkpoint::random_u64() & 0xff_ffff
        ),
    };
    let shared = Arc::new(Shared {
        id,
        ha: FileStore::leader_directory(&options)?,
        config,
        data,
        data_address,
        faults,
        running: Default::default(),
    });
    eprintln!(
        "runnel: TaskManager {} with {} slots, data at {}",
        shared.id, shared.config.slots, shared.data_address
    );
    loop {
        let (client, instructions) = register(&shared).await?;
        let (updates, updates_rx) = mpsc::unbounded_channel();
        let reporter = tokio::spawn(report(client.clone(), shared.id.clone(), updates_rx));
        let heartbeat = tokio::spawn(heartbeat(client, shared.clone()));
        let why = serve(&shared, instructions, &updates, &mut fault_rx, heartbeat).await;
        reporter.abort();
        let running = std::mem::take(&mut *shared.running.lock().expect("running"));
        for number in running.into_keys() {
            cancel(&shared, number);
        }
        eprintln!(
            "runnel: TaskManager {} lost the JobManager ({why}); its tasks are cancelled, registering again",
            shared.id
        );
    }
}

/// Connects and registers, retrying until the registration timeout.
async fn register(
    shared: &Shared,
) -> Result<(
    JobManagerClient<Channel>,
    tonic::Streaming<proto::Instruction>,
)> {
    let deadline = tokio::time::Instant::now() + shared.config.registration_timeout;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
    let request = proto::RegisterRequest {
        task_manager_id: shared.id.clone(),
        data_address: shared.data_address.to_string(),
        slots: shared.config.slots,
        cpu_cores: cores,
        physical_memory: physical_memory(),
    };
    let mut last_error = String::new();
    let mut uri = shared.config.rpc_uri();
    while tokio::time::Instant::now() < deadline {
        // The leader of the moment, when a JobManager may take over from another.
        if let Some(leader) = shared.ha.as_ref().and_then(|ha| ha.leader()) {
            uri = format!("http://{leader}");
        }
        let attempt = async {
            let mut client = JobManagerClient::connect(uri.clone())
                .await
                .map_err(|e| e.to_string())?;
            let stream = client
                .register(request.clone())
                .await
                .map_err(|s| s.message().to_string())?
                .into_inner();
            Ok::<_, String>((client, stream))
        };
        match attempt.await {
            Ok(registered) => {
                eprintln!("runnel: TaskManager {} registered at {uri}", shared.id);
                return Ok(registered);
            }
            Err(e) => last_error = e,
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(RunnelError::Cluster(format!(
        "the JobManager at {uri} could not be reached within {} s \
         (taskmanager.registration.timeout): {last_error}",
        shared.config.registration_timeout.as_secs()
    )))
}

/// Total memory of the machine, for `/taskmanagers`.
fn physical_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Sends updates to the JobManager in order, a batch at a time.
async fn report(
    mut client: JobManagerClient<Channel>,
    id: String,
    mut updates: mpsc::UnboundedReceiver<proto::TaskUpdate>,
) {
    while let Some(first) = updates.recv().await {
        let mut batch = vec![first];
        while let Ok(more) = updates.try_recv() {
            batch.push(more);
        }
        let request = proto::ReportRequest {
            task_manager_id: id.clone(),
            updates: batch,
        };
        if let Err(e) = client.report(request).await {
            eprintln!(
                "runnel: reporting to the JobManager failed: {}",
                e.message()
            );
            return;
        }
    }
}

/// Proves the TaskManager alive; ends when the JobManager stops knowing it or cannot be
/// reached for a heartbeat timeout.
async fn heartbeat(mut client: JobManagerClient<Channel>, shared: Arc<Shared>) -> String {
    let mut last_ok = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(shared.config.heartbeat_interval);
    loop {
        tick.tick().await;
        let request = proto::HeartbeatRequest {
            task_manager_id: shared.id.clone(),
        };
        match client.heartbeat(request).await {
            Ok(r) if r.get_ref().known => last_ok = tokio::time::Instant::now(),
            Ok(_) => return "the JobManager no longer knows this TaskManager".into(),
            Err(e) if last_ok.elapsed() > shared.config.heartbeat_timeout => {
                return format!("no heartbeat answered: {}", e.message());
            }
            Err(_) => {}
        }
    }
}

/// Follows the JobManager's instructions until its stream ends; returns why it ended.
async fn serve(
    shared: &Arc<Shared>,
    mut instructions: tonic::Streaming<proto::Instruction>,
    updates: &mpsc::UnboundedSender<proto::TaskUpdate>,
    faults: &mut mpsc::UnboundedReceiver<Fault>,
    mut heartbeat: tokio::task::JoinHandle<String>,
) -> String {
    let why = loop {
        tokio::select! {
            next = instructions.message() => match next {
                Ok(Some(i)) => instruct(shared, i, updates),
                Ok(None) => break "the JobManager closed the connection".to_string(),
                Err(e) => break e.message().to_string(),
            },
            Some(fault) = faults.recv() => on_fault(shared, fault, updates),
            why = &mut heartbeat => break why.unwrap_or_else(|e| e.to_string()),
        }
    };
    heartbeat.abort();
    why
}

fn instruct(
    shared: &Arc<Shared>,
    i: proto::Instruction,
    updates: &mpsc::UnboundedSender<proto::TaskUpdate>,
) {
    match i.kind {
        Some(Kind::Deploy(d)) => {
            let number = d.deployment;
            shared
                .running
                .lock()
                .expect("running")
                .insert(number, Running::default());
            let (shared, updates) = (shared.clone(), updates.clone());
            tokio::spawn(async move {
                let (error, transient) = match deploy(&shared, d, &updates).await {
                    Ok(()) => (String::new(), false),
                    Err(e) => {
                        cancel(&shared, number);
                        // A peer it cannot reach now may be reachable after a restart.
                        let transient = matches!(e, RunnelError::Network(_));
                        (e.to_string(), transient)
                    }
                };
                let _ = updates.send(proto::TaskUpdate {
                    deployment: number,
                    task: 0,
                    kind: Some(Update::Deployed(proto::Deployed { error, transient })),
                });
            });
        }
        Some(Kind::Control(c)) => {
            let (number, task) = (c.deployment, c.task as usize);
            let running = shared.running.lock().expect("running");
            let control = running.get(&number).and_then(|r| r.controls.get(&task));
            if let (Some(tx), Some(c)) = (control, wire::control_from_proto(c)) {
                let _ = tx.send(c);
            }
        }
        Some(Kind::SnapshotDir(d)) => {
            let running = shared.running.lock().expect("running");
            let Some(r) = running.get(&d.deployment) else {
                return;
            };
            if d.location.is_empty() {
                r.dirs.remove(d.checkpoint_id);
            } else {
                match Location::parse("checkpoint folder", &d.location) {
                    Ok(dir) => r.dirs.insert(d.checkpoint_id, dir),
                    Err(e) => eprintln!("runnel: {e}"),
                }
            }
        }
        Some(Kind::Cancel(c)) => cancel(shared, c.deployment),
        None => {}
    }
}

/// Stops a deployment's tasks and frees its channels.
fn cancel(shared: &Shared, number: u32) {
    if let Some(r) = shared.running.lock().expect("running").remove(&number) {
        for h in r.handles {
            h.abort();
        }
    }
    shared.data.release(number);
}

/// A broken data connection fails the deployments whose channels it cut.
fn on_fault(shared: &Shared, fault: Fault, updates: &mpsc::UnboundedSender<proto::TaskUpdate>) {
    let mut numbers: Vec<u32> = fault.channels.iter().map(|c| deployment_of(*c)).collect();
    numbers.sort_unstable();
    numbers.dedup();
    let mut running = shared.running.lock().expect("running");
    for number in numbers {
        let Some(r) = running.get_mut(&number) else {
            continue;
        };
        let error = format!(
            "data connection with TaskManager {} broke: {}",
            fault.peer, fault.error
        );
        match r.some_task {
            Some(task) => {
                let error = RunnelError::Network(error);
                let _ = updates.send(proto::TaskUpdate {
                    deployment: number,
                    task: task as u32,
                    kind: Some(Update::Ended(wire::ended_to_proto(&Err(error)))),
                });
            }
            // Still being built: the build fails with it.
            None => r.broken = Some(error),
        }
    }
}

/// Plans the job, builds this TaskManager's subtasks and starts them.
async fn deploy(
    shared: &Arc<Shared>,
    d: proto::Deploy,
    updates: &mpsc::UnboundedSender<proto::TaskUpdate>,
) -> Result<()> {
    let spec = JobSpec {
        script: d.script,
        config: d.config.into_iter().collect(),
    };
    let job = plan_job(&spec)?;
    let graph = job.graph;
    if plan_fingerprint(&graph) != d.plan {
        return Err(RunnelError::Cluster(
            "this TaskManager plans the job into a different graph than the JobManager \
             (are they the same Runnel version?)"
                .into(),
        ));
    }
    let placement = Placement::new(d.slots.iter().map(|&i| i as usize).collect());
    let here = d.here as usize;
    let mut peers = Vec::new();
    for (i, addr) in d.task_managers.iter().enumerate() {
        peers.push(if i == here {
            None
        } else {
            Some(connect(shared, addr).await?)
        });
    }
    let restore = if d.restore.is_empty() {
        None
    } else {
        Some(RestorePoint::open(&Location::parse(
            "restore point",
            &d.restore,
        )?)?)
    };
    let exactly_once = job.checkpoint.mode == crate::checkpoint::CheckpointingMode::ExactlyOnce;
    let dirs = shared
        .running
        .lock()
        .expect("running")
        .get(&d.deployment)
        .map(|r| r.dirs.clone())
        .ok_or_else(|| RunnelError::Cancelled)?;
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let built = Build {
        graph: &graph,
        placement: &placement,
        here: Some(here),
        restore: restore.as_ref(),
        exactly_once,
        dirs: &dirs,
        events: &events_tx,
    }
    .tasks(&mut NetworkChannels {
        deployment: d.deployment,
        here,
        peers: &peers,
        data: &shared.data,
    })?;
    let number = d.deployment;
    // Acknowledgements and ends of input go to the JobManager in order.
    let forward = updates.clone();
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            let (task, kind) = match event {
                TaskEvent::Ack(ack) => (ack.task, Update::Ack(wire::ack_to_proto(ack))),
                TaskEvent::Drained(task) => (task, Update::Drained(true)),
            };
            let _ = forward.send(proto::TaskUpdate {
                deployment: number,
                task: task as u32,
                kind: Some(kind),
            });
        }
    });
    let (reports_tx, mut reports) = mpsc::unbounded_channel::<TaskReport>();
    let forward = updates.clone();
    tokio::spawn(async move {
        while let Some(r) = reports.recv().await {
            let _ = forward.send(proto::TaskUpdate {
                deployment: number,
                task: r.task as u32,
                kind: Some(Update::Ended(wire::ended_to_proto(&r.result))),
            });
        }
    });
    let slots = TaskManager::new(shared.id.clone(), shared.config.slots);
    let mut running = shared.running.lock().expect("running");
    // Cancelled while it was being built: its tasks never start.
    let r = running.get_mut(&number).ok_or(RunnelError::Cancelled)?;
    if let Some(error) = r.broken.take() {
        return Err(RunnelError::Network(error));
    }
    let mut counters = Vec::new();
    for b in built {
        r.some_task.get_or_insert(b.index);
        r.controls.insert(b.index, b.entry.control);
        r.handles.push(slots.deploy(b.task, reports_tx.clone()));
        counters.push((b.index, b.metrics));
    }
    let forward = updates.clone();
    r.handles.push(spawn_sampler(counters, move |task, sample| {
        let update = proto::TaskUpdate {
            deployment: number,
            task: task as u32,
            kind: Some(Update::Metrics(wire::metrics_to_proto(&sample))),
        };
        forward.send(update).is_ok()
    }));
    Ok(())
}

/// A connection to another TaskManager's data server for one deployment: a deployment never
/// inherits a connection an earlier one may have left broken (after a partition, say), and
/// its connections close when its channels do.
async fn connect(shared: &Shared, addr: &str) -> Result<Outbound> {
    let addr: SocketAddr = addr.parse().map_err(|_| {
        RunnelError::Cluster(format!("the JobManager sent a bad data address '{addr}'"))
    })?;
    let timeout = shared.config.heartbeat_timeout;
    Outbound::connect(addr, shared.data_address, shared.faults.clone(), timeout).await
}

/// Channels of a deployment on this TaskManager: in memory between its own subtasks, over
/// the data plane to and from the others.
struct NetworkChannels<'a> {
    deployment: u32,
    here: usize,
    peers: &'a [Option<Outbound>],
    data: &'a DataServer,
}

impl ChannelFactory for NetworkChannels<'_> {
    fn channel(&mut self, index: u32, from: usize, to: usize) -> Result<ChannelEnds> {
        let id = channel_id(self.deployment, index);
        Ok(match (from == self.here, to == self.here) {
            (true, true) => {
                let (tx, rx) = mpsc::channel(crate::execution::CHANNEL_CAPACITY);
                (Some(tx), Some(rx))
            }
            (true, false) => {
                let peer = self.peers[to].as_ref().ok_or_else(|| {
                    RunnelError::Cluster(format!("no connection to TaskManager {to}"))
                })?;
                (Some(peer.channel(id, SENDER_CAPACITY)), None)
            }
            (false, true) => (
                None,
                Some(
                    self.data
                        .register(id, CHANNEL_CREDITS, CHANNEL_CREDITS as usize),
                ),
            ),
            (false, false) => (None, None),
        })
    }
}
