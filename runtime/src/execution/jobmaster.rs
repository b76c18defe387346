use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use super::checkpointing::{
    CheckpointHook, Completion, Coordinator, JobCommand, TaskEvent, new_job_id,
};
use super::deploy::{Attempt, Deployer, Deployment, LocalDeployer, NotDeployed};
use super::restart::{RestartStrategy, RestartTracker};
use super::status::{JobInfo, JobRegistry, JobState, VertexInfo};
use super::taskmanager::{TaskManager, TaskReport};
use crate::checkpoint::{CheckpointConfig, CheckpointingMode, Location, RestorePoint};
use crate::dataflow::{JobGraph, Partitioning, Vertex};
use crate::error::{Result, RunnelError};

/// How a finished job ended.
#[derive(Debug)]
pub struct JobOutcome {
    /// The job's id.
    pub job_id: String,
    /// Wall-clock run time.
    pub duration: Duration,
    /// Number of subtasks that ran.
    pub subtasks: usize,
    /// Set when the job was stopped with a savepoint: its folder.
    pub stopped_with_savepoint: Option<Location>,
    /// Whether it was cancelled.
    pub cancelled: bool,
}

/// How a deployment ended without failing.
enum Ended {
    /// Every task reached the end of its input, or stopped after a savepoint (its folder).
    Done(Option<Location>),
    /// Cancelled.
    Cancelled,
    /// Stopped with a savepoint (in `dir`) to go on as `graph` at another parallelism.
    Rescaled {
        dir: Location,
        graph: JobGraph,
        parallelism: u32,
    },
}

/// A rescale under way: the job at the new parallelism, and the savepoint it starts from.
struct Rescale {
    graph: JobGraph,
    parallelism: u32,
    /// Until the savepoint's outcome is known.
    savepoint: Option<oneshot::Receiver<Result<Location>>>,
}

/// Plans the job again at another parallelism (the same SQL, so the same operators and uids).
pub type Replanner = Arc<dyn Fn(u32) -> Result<JobGraph> + Send + Sync>;

/// How to run a job beyond its graph: checkpointing, what to restore, and a command channel.
#[derive(Default)]
pub struct JobOptions {
    /// The job id; a new random one when unset.
    pub job_id: Option<String>,
    /// Checkpoint and savepoint settings.
    pub checkpoint: Option<CheckpointConfig>,
    /// A checkpoint or savepoint to start from.
    pub restore: Option<RestorePoint>,
    /// Skip state of operators the job no longer has instead of refusing to start.
    pub allow_non_restored_state: bool,
    /// Take ownership of the restored checkpoint (Flink's CLAIM restore mode): it is deleted
    /// once this job has completed a checkpoint of its own. Savepoints are never claimed.
    pub claim_restored: bool,
    /// Savepoint requests from outside.
    pub commands: Option<mpsc::UnboundedReceiver<JobCommand>>,
    /// What to do when a task fails (no restarts when unset).
    pub restart: Option<RestartStrategy>,
    /// Where the job's state and checkpoints are reported (for the REST API).
    pub registry: Option<JobRegistry>,
    /// Told of each completed checkpoint (high availability keeps a pointer to the latest).
    pub checkpoint_hook: Option<CheckpointHook>,
    /// Makes the job's graph at another parallelism, for rescaling it while it runs.
    pub replan: Option<Replanner>,
}

/// Schedules one job's subtasks onto TaskManagers and follows them to the end.
pub struct JobMaster {
    graph: JobGraph,
    options: JobOptions,
    /// The parallelism the job was rescaled to, if it was.
    rescaled: Option<u32>,
}

/// The uid of a vertex's source reader, for its state in snapshots.
pub fn source_uid(v: &Vertex) -> String {
    format!("{}/source", v.uid)
}

/// The uid of the `i`-th chained operator of a vertex.
pub fn operator_uid(v: &Vertex, i: usize) -> String {
    v.chain_uids[i].clone()
}

impl JobMaster {
    /// A JobMaster for `graph`.
    pub fn new(graph: JobGraph) -> Self {
        Self::with_options(graph, JobOptions::default())
    }

    /// A JobMaster with checkpointing, restore or commands; a job with a registry is listed
    /// there (state CREATED) from now on.
    pub fn with_options(graph: JobGraph, mut options: JobOptions) -> Self {
        let job_id = options.job_id.get_or_insert_with(new_job_id).clone();
        if let Some(r) = &options.registry {
            r.add(JobInfo {
                id: job_id,
                name: graph.name.clone(),
                state: JobState::Created,
                timestamps: Default::default(),
                max_parallelism: graph.max_parallelism,
                vertices: vertex_infos(&graph),
                finished_subtasks: 0,
                checkpoints: Vec::new(),
                restored: None,
                restores: 0,
                subtask_metrics: Vec::new(),
                exceptions: Vec::new(),
            });
        }
        JobMaster {
            graph,
            options,
            rescaled: None,
        }
    }

    /// The job's id.
    pub fn job_id(&self) -> &str {
        self.options.job_id.as_deref().unwrap_or_default()
    }

    /// Refuses a snapshot with state for operators this job lacks, unless allowed.
    fn check_restore(&self) -> Result<()> {
        let Some(rp) = &self.options.restore else {
            return Ok(());
        };
        if rp.metadata.max_parallelism != self.graph.max_parallelism {
            return Err(RunnelError::State(format!(
                "cannot restore from {}: it was taken with {} key groups \
                 (pipeline.max-parallelism) and this job has {}",
                rp.dir, rp.metadata.max_parallelism, self.graph.max_parallelism
            )));
        }
        let mut uids = BTreeSet::new();
        for v in &self.graph.vertices {
            uids.insert(source_uid(v));
            for i in 0..v.chain.len() {
                uids.insert(operator_uid(v, i));
            }
        }
        if self.options.allow_non_restored_state {
            return Ok(());
        }
        for op in &rp.metadata.operators {
            if !uids.contains(&op.uid) {
                return Err(RunnelError::State(format!(
                    "cannot restore from {}: it has state for operator {} ({}) that this job \
                     does not have; run with --allow-non-restored-state to start without it",
                    rp.dir, op.uid, op.name
                )));
            }
        }
        Ok(())
    }

    /// Deploys every subtask and waits until all finish. When one fails, the rest are
    /// cancelled and the restart strategy decides: the job is redeployed from its latest
    /// completed checkpoint (or its initial restore point) after the strategy's delay, or it
    /// fails with that failure.
    pub async fn run(self, task_managers: Vec<TaskManager>) -> Result<JobOutcome> {
        self.run_on(&LocalDeployer { task_managers }).await
    }

    /// As [`JobMaster::run`], on the TaskManagers `deployer` deploys to.
    pub(crate) async fn run_on(mut self, deployer: &impl Deployer) -> Result<JobOutcome> {
        let started = Instant::now();
        self.check_restore()?;
        let config = match self.options.checkpoint.take() {
            Some(c) => c,
            None => CheckpointConfig::from_options(&Default::default())?,
        };
        let exactly_once = config.mode == CheckpointingMode::ExactlyOnce;
        let job_id = self.options.job_id.clone().unwrap_or_else(new_job_id);
        let initial = self.options.restore.take().map(Arc::new);
        let first_id = initial
            .as_ref()
            .map(|r| r.metadata.checkpoint_id + 1)
            .unwrap_or(1);
        let dirs = deployer.snapshot_dirs();
        let mut coordinator = Coordinator::new(
            config,
            job_id.clone(),
            self.graph.name.clone(),
            self.graph.max_parallelism,
            dirs.clone(),
            first_id,
        );
        let registry = self.options.registry.clone();
        let report = |state: JobState| {
            if let Some(r) = &registry {
                r.set_state(&job_id, state);
            }
        };
        let record_failure = |e: &RunnelError| {
            if let Some(r) = &registry {
                r.exception(&job_id, e.to_string());
            }
        };
        if let Some(r) = &registry {
            coordinator.report_to(r.clone());
        }
        if let Some(hook) = self.options.checkpoint_hook.take() {
            coordinator.on_complete(hook);
        }
        if let Some(rp) = &initial
            && self.options.claim_restored
            && rp.metadata.kind == crate::checkpoint::SnapshotKind::Checkpoint
        {
            coordinator.claim(rp.dir.clone());
        }
        let mut restarts = RestartTracker::new(
            self.options
                .restart
                .clone()
                .unwrap_or(RestartStrategy::None),
        );
        let mut commands = self.options.commands.take();
        let mut restore = initial.clone();
        loop {
            let attempt = Attempt {
                graph: &self.graph,
                exactly_once,
                dirs: &dirs,
                restore: restore.clone(),
                parallelism: self.rescaled,
            };
            if let (Some(r), Some(point)) = (&registry, &restore) {
                r.restoring(&job_id, point);
            }
            report(JobState::Running);
            match self
                .attempt(deployer, attempt, &mut coordinator, &mut commands)
                .await
            {
                // A deployment that cannot even start (operators, state to restore) would fail
                // the same way again.
                Err(Failure::Deploy(e)) => {
                    coordinator.job_ended(true);
                    record_failure(&e);
                    report(JobState::Failed);
                    return Err(e);
                }
                Ok((
                    _,
                    Ended::Rescaled {
                        dir,
                        graph,
                        parallelism,
                    },
                )) => {
                    // Redeploy at the new parallelism from the savepoint just taken, which
                    // the job owns: it goes once the job has a checkpoint of its own.
                    let point = RestorePoint::open(&dir)?;
                    coordinator.claim(dir.clone());
                    eprintln!(
                        "runnel: job {} rescaled to parallelism {parallelism} from {dir}",
                        self.graph.name
                    );
                    self.graph = graph;
                    self.rescaled = Some(parallelism);
                    if let Some(r) = &registry {
                        r.set_vertices(&job_id, vertex_infos(&self.graph));
                    }
                    restore = Some(Arc::new(point));
                }
                Ok((subtasks, ended)) => {
                    coordinator.job_ended(false);
                    let (stopped, cancelled) = match ended {
                        Ended::Done(stopped) => (stopped, false),
                        Ended::Cancelled => (None, true),
                        Ended::Rescaled { .. } => unreachable!("handled above"),
                    };
                    report(if cancelled {
                        JobState::Canceled
                    } else {
                        JobState::Finished
                    });
                    return Ok(JobOutcome {
                        job_id,
                        duration: started.elapsed(),
                        subtasks,
                        stopped_with_savepoint: stopped,
                        cancelled,
                    });
                }
                Err(Failure::Running(e)) => {
                    record_failure(&e);
                    let Some(delay) = restarts.on_failure(Instant::now()) else {
                        coordinator.job_ended(true);
                        report(JobState::Failed);
                        if restarts.restarts() > 0 {
                            return Err(RunnelError::State(format!(
                                "{e} (the job failed again after {} restart(s); the restart strategy gives up)",
                                restarts.restarts()
                            )));
                        }
                        return Err(e);
                    };
                    restore = match coordinator.latest_completed() {
                        Some(dir) => Some(Arc::new(RestorePoint::open(&dir)?)),
                        None => initial.clone(),
                    };
                    eprintln!(
                        "runnel: job {} failed: {e}; restart {} in {} ms from {}",
                        self.graph.name,
                        restarts.restarts(),
                        delay.as_millis(),
                        restore
                            .as_ref()
                            .map(|r| r.dir.to_string())
                            .unwrap_or_else(|| "the beginning".into())
                    );
                    report(JobState::Restarting);
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    /// Deploys the job once and follows it until it ends or a task fails.
    async fn attempt(
        &self,
        deployer: &impl Deployer,
        a: Attempt<'_>,
        coordinator: &mut Coordinator,
        commands: &mut Option<mpsc::UnboundedReceiver<JobCommand>>,
    ) -> std::result::Result<(usize, Ended), Failure> {
        coordinator.reset_tasks();
        let mut deployment = deployer.deploy(a).await.map_err(|e| match e {
            NotDeployed::Invalid(e) => Failure::Deploy(e),
            NotDeployed::Unavailable(e) => Failure::Running(e),
        })?;
        coordinator.tasks = std::mem::take(&mut deployment.tasks);
        eprintln!(
            "runnel: deployed {}: {} subtasks running",
            self.graph.name,
            coordinator.tasks.len()
        );
        let outcome = self.follow(&mut deployment, coordinator, commands).await;
        (deployment.cancel)();
        outcome.map_err(Failure::Running)
    }

    /// Follows a deployment: acknowledgements, ticks, commands, until every task has ended or
    /// one failed (then the others are cancelled).
    async fn follow(
        &self,
        d: &mut Deployment,
        coordinator: &mut Coordinator,
        commands: &mut Option<mpsc::UnboundedReceiver<JobCommand>>,
    ) -> Result<(usize, Ended)> {
        let subtasks = coordinator.tasks.len();
        let (report_rx, ack_rx) = (&mut d.reports, &mut d.events);
        let mut rescale: Option<Rescale> = None;
        let mut remaining = subtasks;
        let mut drained = 0;
        let mut stopped = None;
        let mut tick = tokio::time::interval(Coordinator::TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let failure = loop {
            if remaining == 0 {
                break None;
            }
            tokio::select! {
                report = report_rx.recv() => {
                    let Some(report) = report else { break None };
                    remaining -= 1;
                    coordinator.task_finished(report.task);
                    match report.result {
                        Ok(()) => {}
                        // Stopping after a savepoint: a task that found its peer gone (in
                        // this process or across the network) is fine.
                        Err(RunnelError::Cancelled | RunnelError::Network(_))
                            if stopped.is_some() => {}
                        Err(e) => break Some(root_cause(e, report_rx).await),
                    }
                }
                Some(event) = ack_rx.recv() => match event {
                    TaskEvent::Ack(ack) => match coordinator.on_ack(ack) {
                        Ok(Completion::Continue) => {}
                        Ok(Completion::Stop(path)) => stopped = Some(path),
                        Err(e) => break Some(e),
                    },
                    TaskEvent::Drained(task) => {
                        drained += 1;
                        coordinator.task_finished(task);
                        if drained == subtasks {
                            coordinator.finish_all();
                        }
                    }
                },
                _ = tick.tick() => {
                    if let Err(e) = coordinator.tick() {
                        break Some(e);
                    }
                }
                Some((task, sample)) = d.metrics.recv() => {
                    if let (Some(r), Some(id)) = (&self.options.registry, &self.options.job_id) {
                        r.record_metrics(id, task, sample);
                    }
                }
                Some(cmd) = recv_command(commands) => match cmd {
                    JobCommand::Savepoint { dir, stop, reply } => {
                        coordinator.savepoint(dir, stop, reply);
                    }
                    JobCommand::Checkpoint { reply } => coordinator.checkpoint(reply),
                    JobCommand::Cancel => return Ok((subtasks, Ended::Cancelled)),
                    JobCommand::Rescale { parallelism, reply } => {
                        let started = self.start_rescale(parallelism, rescale.is_some(), coordinator);
                        let _ = reply.send(started.map(|r| rescale = r));
                    }
                },
                Some(outcome) = rescale_outcome(&mut rescale) => {
                    if let Err(e) = outcome {
                        eprintln!(
                            "runnel: rescaling job {} failed, it goes on as it was: {e}",
                            self.graph.name
                        );
                        rescale = None;
                    }
                }
            }
        };
        if let Some(e) = failure {
            return Err(e);
        }
        Ok(match (stopped, rescale) {
            (Some(dir), Some(r)) => (
                subtasks,
                Ended::Rescaled {
                    dir,
                    graph: r.graph,
                    parallelism: r.parallelism,
                },
            ),
            (stopped, _) => (subtasks, Ended::Done(stopped)),
        })
    }

    /// Starts a rescale to `parallelism`: plans the job again and takes a savepoint that
    /// stops it, to be redeployed from. `None` when there is nothing to do.
    fn start_rescale(
        &self,
        parallelism: u32,
        busy: bool,
        coordinator: &mut Coordinator,
    ) -> Result<Option<Rescale>> {
        if busy {
            return Err(RunnelError::State(
                "the job is already being rescaled".into(),
            ));
        }
        let Some(replan) = &self.options.replan else {
            return Err(RunnelError::Cluster(
                "this job cannot be rescaled while it runs: run it on a cluster \
                 (runnel jobmanager) or restart it from a savepoint at the new parallelism"
                    .into(),
            ));
        };
        if parallelism == 0 {
            return Err(RunnelError::Plan("parallelism must be at least 1".into()));
        }
        let graph = replan(parallelism)?;
        let same = graph
            .vertices
            .iter()
            .zip(&self.graph.vertices)
            .all(|(a, b)| a.parallelism == b.parallelism);
        if same && graph.vertices.len() == self.graph.vertices.len() {
            return Ok(None);
        }
        let (reply, savepoint) = oneshot::channel();
        coordinator.savepoint(Some(coordinator.rescale_dir()), true, reply);
        Ok(Some(Rescale {
            graph,
            parallelism,
            savepoint: Some(savepoint),
        }))
    }
}

/// The outcome of a rescale's savepoint, once, when one is under way.
async fn rescale_outcome(rescale: &mut Option<Rescale>) -> Option<Result<Location>> {
    let Some(rx) = rescale.as_mut().and_then(|r| r.savepoint.as_mut()) else {
        return std::future::pending().await;
    };
    let outcome = rx
        .await
        .unwrap_or_else(|_| Err(RunnelError::State("the savepoint was abandoned".into())));
    if let Some(r) = rescale.as_mut() {
        r.savepoint = None;
    }
    Some(outcome)
}

/// The vertices of `graph` as the REST API shows them.
fn vertex_infos(graph: &JobGraph) -> Vec<VertexInfo> {
    graph
        .vertices
        .iter()
        .map(|v| VertexInfo {
            id: v.uid.clone(),
            name: v.name.clone(),
            parallelism: v.parallelism,
            inputs: graph
                .inputs_of(v.id)
                .into_iter()
                .map(|e| {
                    let strategy = match e.partitioning {
                        Partitioning::Forward => "FORWARD",
                        Partitioning::Hash(_) => "HASH",
                        Partitioning::Rebalance => "REBALANCE",
                        Partitioning::Broadcast => "BROADCAST",
                        Partitioning::Single => "GLOBAL",
                    };
                    (graph.vertices[e.source].uid.clone(), strategy)
                })
                .collect(),
        })
        .collect()
}

/// Why a deployment ended early.
enum Failure {
    /// It could not start; retrying would not help.
    Deploy(RunnelError),
    /// A task failed while running; the restart strategy decides.
    Running(RunnelError),
}

async fn recv_command(
    commands: &mut Option<mpsc::UnboundedReceiver<JobCommand>>,
) -> Option<JobCommand> {
    match commands {
        Some(rx) => {
            let cmd = rx.recv().await;
            if cmd.is_none() {
                *commands = None;
            }
            cmd
        }
        None => std::future::pending().await,
    }
}

/// A cancelled peer is a consequence; prefer the root cause if one follows shortly.
async fn root_cause(
    e: RunnelError,
    reports: &mut mpsc::UnboundedReceiver<TaskReport>,
) -> RunnelError {
    if matches!(e, RunnelError::Cancelled) {
        while let Ok(Some(r)) =
            tokio::time::timeout(Duration::from_millis(200), reports.recv()).await
        {
            if let Err(root) = r.result
                && !matches!(root, RunnelError::Cancelled)
            {
                return root;
            }
        }
    }
    e
}
