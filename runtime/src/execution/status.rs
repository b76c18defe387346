//! What the JobManager knows about its jobs while they run: state and its history, vertices,
//! subtasks and checkpoint statistics, shared with the REST API.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use super::checkpointing::JobCommand;
use super::metrics::{MetricsSample, TaskRates};
use crate::checkpoint::{RestorePoint, SnapshotKind};

/// A job's state, with Flink's names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum JobState {
    /// Accepted, not deployed yet.
    Created,
    /// Deployed and processing.
    Running,
    /// A task failed; waiting to redeploy from the latest checkpoint.
    Restarting,
    /// Reached the end of its input (or stopped with a savepoint).
    Finished,
    /// Failed for good.
    Failed,
    /// Cancelled by the user.
    Canceled,
}

impl JobState {
    /// Flink's name of the state.
    pub fn name(self) -> &'static str {
        match self {
            JobState::Created => "CREATED",
            JobState::Running => "RUNNING",
            JobState::Restarting => "RESTARTING",
            JobState::Finished => "FINISHED",
            JobState::Failed => "FAILED",
            JobState::Canceled => "CANCELED",
        }
    }

    /// Whether the job will not change state again.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobState::Finished | JobState::Failed | JobState::Canceled
        )
    }
}

/// One vertex of a job, as the REST API shows it.
#[derive(Clone, Debug)]
pub struct VertexInfo {
    /// Stable id (the vertex uid).
    pub id: String,
    /// Description.
    pub name: String,
    /// Subtasks.
    pub parallelism: u32,
    /// The vertices it reads from, in input order, with how records are routed to it
    /// (Flink's ship strategy: FORWARD, HASH, REBALANCE, BROADCAST, GLOBAL).
    pub inputs: Vec<(String, &'static str)>,
}

/// One checkpoint or savepoint as the REST API shows it.
#[derive(Clone, Debug)]
pub struct CheckpointInfo {
    /// Checkpoint id.
    pub id: u64,
    /// Savepoint or checkpoint.
    pub is_savepoint: bool,
    /// `IN_PROGRESS`, `COMPLETED` or `FAILED`.
    pub status: &'static str,
    /// Trigger time, epoch millis.
    pub trigger_timestamp: i64,
    /// Last acknowledgement (completion) time, epoch millis.
    pub latest_ack_timestamp: i64,
    /// Full state size.
    pub state_size: u64,
    /// Bytes this checkpoint wrote.
    pub checkpointed_size: u64,
    /// Subtasks that acknowledged, of all.
    pub acknowledged: usize,
    /// Subtasks of the job.
    pub subtasks: usize,
    /// Where it is stored.
    pub external_path: String,
    /// Why it failed.
    pub failure: Option<String>,
}

/// Everything known about one job.
#[derive(Clone, Debug)]
pub struct JobInfo {
    /// Job id (32 hex digits).
    pub id: String,
    /// Job name.
    pub name: String,
    /// Current state.
    pub state: JobState,
    /// When each state was entered, epoch millis.
    pub timestamps: BTreeMap<JobState, i64>,
    /// Key groups.
    pub max_parallelism: u32,
    /// Vertices in topological order.
    pub vertices: Vec<VertexInfo>,
    /// Subtasks that ended (reached the end of input) in the current deployment.
    pub finished_subtasks: usize,
    /// Checkpoints, oldest first (the latest few hundred).
    pub checkpoints: Vec<CheckpointInfo>,
    /// The snapshot this job's current run started from, if any.
    pub restored: Option<Restored>,
    /// How many runs of this job started from a snapshot (Flink's `counts.restored`).
    pub restores: usize,
    /// Figures of each subtask of the current deployment, in task order (vertices in order,
    /// then subtask index).
    pub subtask_metrics: Vec<SubtaskMetrics>,
    /// Failures that restarted or ended the job, oldest first (the latest few).
    pub exceptions: Vec<ExceptionInfo>,
}

/// A snapshot a run of a job started from, as Flink's `latest.restored` reports it: the
/// operator and users tell a restore from a fresh start by it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    /// The checkpoint id in the snapshot.
    pub id: u64,
    /// Whether it is a savepoint (else a checkpoint).
    pub is_savepoint: bool,
    /// Its folder.
    pub path: String,
    /// When the run started from it, epoch millis.
    pub at: i64,
}

/// A subtask's latest counters and rates.
#[derive(Clone, Debug, Default)]
pub struct SubtaskMetrics {
    /// The counters as last sampled.
    pub sample: Option<MetricsSample>,
    /// The rates between the last two samples.
    pub rates: Option<TaskRates>,
}

/// A failure of a job.
#[derive(Clone, Debug)]
pub struct ExceptionInfo {
    /// When, epoch millis.
    pub timestamp: i64,
    /// What happened (names the vertex and subtask, or the TaskManager).
    pub message: String,
}

impl JobInfo {
    /// Slots the job holds while it runs: its highest parallelism (pipelines share slots).
    pub fn slots(&self) -> u32 {
        self.vertices
            .iter()
            .map(|v| v.parallelism)
            .max()
            .unwrap_or(0)
    }

    /// The task number of subtask `subtask` of vertex `vertex` (an index into
    /// `subtask_metrics`).
    pub fn task_number(&self, vertex: usize, subtask: u32) -> usize {
        self.vertices[..vertex]
            .iter()
            .map(|v| v.parallelism as usize)
            .sum::<usize>()
            + subtask as usize
    }

    /// Subtasks of all vertices.
    pub fn subtasks(&self) -> usize {
        self.vertices.iter().map(|v| v.parallelism as usize).sum()
    }

    /// When the job started (was created), epoch millis.
    pub fn start_time(&self) -> i64 {
        self.timestamps
            .get(&JobState::Created)
            .copied()
            .unwrap_or_default()
    }

    /// When it ended, epoch millis; `None` while it runs.
    pub fn end_time(&self) -> Option<i64> {
        self.state
            .is_terminal()
            .then(|| self.timestamps.get(&self.state).copied())
            .flatten()
    }
}

/// How many checkpoints a job's history keeps.
const HISTORY: usize = 256;

/// How many failures a job's history keeps.
const EXCEPTIONS: usize = 16;

/// Where a savepoint asked for through the REST API stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TriggerStatus {
    /// Not complete yet.
    InProgress,
    /// Complete, at this location.
    Completed(String),
    /// Failed, with the reason.
    Failed(String),
}

/// The jobs of this JobManager, shared by the JobMasters that update them and the REST API
/// that reads them and sends them commands.
#[derive(Clone, Default, Debug)]
pub struct JobRegistry {
    jobs: Arc<Mutex<Vec<JobInfo>>>,
    commands: Arc<Mutex<HashMap<String, mpsc::UnboundedSender<JobCommand>>>>,
    triggers: Arc<Mutex<HashMap<String, TriggerStatus>>>,
}

impl JobRegistry {
    /// Lets the REST API send job `id` commands (savepoints, cancel) through `commands`.
    pub fn attach(&self, id: &str, commands: mpsc::UnboundedSender<JobCommand>) {
        self.commands
            .lock()
            .expect("commands")
            .insert(id.to_string(), commands);
    }

    /// Sends job `id` a command; false when the job takes none (unknown or ended).
    pub fn command(&self, id: &str, command: JobCommand) -> bool {
        let running = self.job(id).is_some_and(|j| !j.state.is_terminal());
        running
            && self
                .commands
                .lock()
                .expect("commands")
                .get(id)
                .is_some_and(|tx| tx.send(command).is_ok())
    }

    /// Starts tracking a savepoint request; returns its trigger id.
    pub fn new_trigger(&self) -> String {
        let id = format!(
            "{:016x}{:016x}",
            crate::checkpoint::random_u64(),
            crate::checkpoint::random_u64()
        );
        self.triggers
            .lock()
            .expect("triggers")
            .insert(id.clone(), TriggerStatus::InProgress);
        id
    }

    /// Records the outcome of savepoint request `trigger`.
    pub fn trigger_done(&self, trigger: &str, status: TriggerStatus) {
        self.triggers
            .lock()
            .expect("triggers")
            .insert(trigger.to_string(), status);
    }

    /// Where savepoint request `trigger` stands.
    pub fn trigger(&self, trigger: &str) -> Option<TriggerStatus> {
        self.triggers
            .lock()
            .expect("triggers")
            .get(trigger)
            .cloned()
    }

    /// Adds a job in state CREATED.
    pub fn add(&self, mut job: JobInfo) {
        job.state = JobState::Created;
        job.timestamps.insert(JobState::Created, now());
        self.jobs.lock().expect("jobs").push(job);
    }

    /// Records a job that failed before it could start (its script did not plan, its state
    /// could not be found), so the REST API reports it FAILED with the reason.
    pub fn add_failed(&self, id: &str, name: &str, message: String) {
        self.add(JobInfo {
            id: id.into(),
            name: name.into(),
            state: JobState::Created,
            timestamps: BTreeMap::new(),
            max_parallelism: 0,
            vertices: Vec::new(),
            finished_subtasks: 0,
            checkpoints: Vec::new(),
            restored: None,
            restores: 0,
            subtask_metrics: Vec::new(),
            exceptions: Vec::new(),
        });
        self.exception(id, message);
        self.set_state(id, JobState::Failed);
    }

    /// Every job, oldest first.
    pub fn jobs(&self) -> Vec<JobInfo> {
        self.jobs.lock().expect("jobs").clone()
    }

    /// The job with `id`.
    pub fn job(&self, id: &str) -> Option<JobInfo> {
        self.jobs
            .lock()
            .expect("jobs")
            .iter()
            .find(|j| j.id == id)
            .cloned()
    }

    fn update(&self, id: &str, f: impl FnOnce(&mut JobInfo)) {
        if let Some(j) = self
            .jobs
            .lock()
            .expect("jobs")
            .iter_mut()
            .find(|j| j.id == id)
        {
            f(j);
        }
    }

    /// Records that job `id` starts a run from the snapshot `point`.
    pub fn restoring(&self, id: &str, point: &RestorePoint) {
        self.update(id, |j| {
            j.restores += 1;
            j.restored = Some(Restored {
                id: point.metadata.checkpoint_id,
                is_savepoint: point.metadata.kind == SnapshotKind::Savepoint,
                path: point.dir.to_string(),
                at: now(),
            });
        });
    }

    /// Moves job `id` to `state`.
    pub fn set_state(&self, id: &str, state: JobState) {
        self.update(id, |j| {
            j.state = state;
            j.timestamps.insert(state, now());
            if state == JobState::Running {
                j.finished_subtasks = 0;
                j.subtask_metrics = vec![SubtaskMetrics::default(); j.subtasks()];
            }
        });
    }

    /// Records a sample of task `task` of job `id`, and the rates since its previous one.
    pub fn record_metrics(&self, id: &str, task: usize, sample: MetricsSample) {
        self.update(id, |j| {
            let Some(m) = j.subtask_metrics.get_mut(task) else {
                return;
            };
            if let Some(rates) = m.sample.and_then(|p| TaskRates::between(&p, &sample)) {
                m.rates = Some(rates);
            }
            m.sample = Some(sample);
        });
    }

    /// Records a failure of job `id`.
    pub fn exception(&self, id: &str, message: String) {
        self.update(id, |j| {
            j.exceptions.push(ExceptionInfo {
                timestamp: now(),
                message,
            });
            if j.exceptions.len() > EXCEPTIONS {
                j.exceptions.remove(0);
            }
        });
    }

    /// Job `id` runs with these vertices now (after a rescale).
    pub fn set_vertices(&self, id: &str, vertices: Vec<VertexInfo>) {
        self.update(id, |j| j.vertices = vertices);
    }

    /// One more subtask of job `id` reached the end of its input.
    pub fn subtask_finished(&self, id: &str) {
        self.update(id, |j| j.finished_subtasks += 1);
    }

    /// Records a checkpoint's progress (a new one, or a change of one already recorded).
    pub fn checkpoint(&self, id: &str, info: CheckpointInfo) {
        self.update(id, |j| {
            match j.checkpoints.iter_mut().find(|c| c.id == info.id) {
                Some(c) => *c = info,
                None => j.checkpoints.push(info),
            }
            if j.checkpoints.len() > HISTORY {
                j.checkpoints.remove(0);
            }
        });
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
