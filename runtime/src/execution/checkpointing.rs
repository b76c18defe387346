//! The execution side of checkpoints: control messages to tasks, acknowledgements back, and
//! the JobMaster's checkpoint coordinator.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use super::status::{CheckpointInfo, JobRegistry};
use crate::checkpoint::random_u64;
use crate::checkpoint::{
    CheckpointConfig, FORMAT_VERSION, FORMAT_VERSION_NATIVE, Location, OperatorState, RestorePoint,
    SnapshotKind, SnapshotMetadata, SubtaskAck, prune_shared, write_metadata,
};
use crate::dataflow::Barrier;
use crate::error::{Result, RunnelError};

/// What the JobMaster tells a running task.
#[derive(Debug)]
pub(crate) enum TaskControl {
    /// Sources only: inject this barrier (after snapshotting).
    Trigger(Barrier),
    /// A checkpoint completed.
    Complete(u64),
    /// Stop now, without flushing (after a stop-with-savepoint).
    Stop,
    /// Every task has drained its input: commit what the end of input staged, then exit.
    Finish,
}

/// What a running task tells the JobMaster.
#[derive(Debug)]
pub(crate) enum TaskEvent {
    /// Its answer to a barrier.
    Ack(TaskAck),
    /// It reached the end of its input and flushed; it waits for [`TaskControl::Finish`].
    Drained(usize),
}

/// A task's answer to a barrier.
#[derive(Debug)]
pub(crate) struct TaskAck {
    pub(crate) checkpoint_id: u64,
    pub(crate) task: usize,
    pub(crate) result: std::result::Result<SubtaskAck, String>,
}

/// The folders of checkpoints in flight, by id: the coordinator registers one before
/// triggering; tasks look it up when the barrier reaches them. In cluster mode each
/// TaskManager has its own, filled from the JobManager's through a listener.
#[derive(Clone, Default, Debug)]
pub(crate) struct SnapshotDirs(Arc<DirsInner>);

#[derive(Default, Debug)]
struct DirsInner {
    dirs: Mutex<Dirs>,
    added: tokio::sync::Notify,
    listener: Option<mpsc::UnboundedSender<DirChange>>,
}

/// Folders of the checkpoints in flight, and which ids are over.
#[derive(Default, Debug)]
struct Dirs {
    in_flight: HashMap<u64, Location>,
    /// Ids that were in flight and are over (the latest few): a barrier of one of them does
    /// not wait for its folder.
    over: BTreeSet<u64>,
}

/// A change of the folders in flight, for those who mirror them.
#[derive(Debug, Clone)]
pub(crate) enum DirChange {
    /// Checkpoint `id` writes into this folder.
    Added(u64, Location),
    /// Checkpoint `id` completed or was abandoned.
    Removed(u64),
}

impl SnapshotDirs {
    /// Folders whose changes are also sent to `listener`.
    pub(crate) fn with_listener(listener: mpsc::UnboundedSender<DirChange>) -> Self {
        SnapshotDirs(Arc::new(DirsInner {
            listener: Some(listener),
            ..Default::default()
        }))
    }

    pub(crate) fn insert(&self, id: u64, dir: Location) {
        if let Some(l) = &self.0.listener {
            let _ = l.send(DirChange::Added(id, dir.clone()));
        }
        self.0
            .dirs
            .lock()
            .expect("snapshot dirs")
            .in_flight
            .insert(id, dir);
        self.0.added.notify_waiters();
    }

    pub(crate) fn remove(&self, id: u64) {
        let removed = {
            let mut dirs = self.0.dirs.lock().expect("snapshot dirs");
            let removed = dirs.in_flight.remove(&id).is_some();
            if removed {
                dirs.over.insert(id);
                while dirs.over.len() > 1024 {
                    dirs.over.pop_first();
                }
            }
            removed
        };
        if removed {
            if let Some(l) = &self.0.listener {
                let _ = l.send(DirChange::Removed(id));
            }
            self.0.added.notify_waiters();
        }
    }

    /// The folder of checkpoint `id` while it is in flight; `Err` once it is over.
    fn lookup(&self, id: u64) -> std::result::Result<Option<Location>, ()> {
        let dirs = self.0.dirs.lock().expect("snapshot dirs");
        match dirs.in_flight.get(&id) {
            Some(dir) => Ok(Some(dir.clone())),
            None if dirs.over.contains(&id) => Err(()),
            None => Ok(None),
        }
    }

    /// The folder of checkpoint `id`, waiting a while for it: on a TaskManager a barrier
    /// from another TaskManager may overtake the JobManager's word of its folder. `None` at
    /// once for a checkpoint that is already over (abandoned, or completed without this
    /// task), so a late barrier never holds its task up.
    pub(crate) async fn wait(&self, id: u64) -> Option<Location> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let changed = self.0.added.notified();
            match self.lookup(id) {
                Ok(Some(dir)) => return Some(dir),
                Err(()) => return None,
                Ok(None) => {}
            }
            if tokio::time::timeout_at(deadline.into(), changed)
                .await
                .is_err()
            {
                return None;
            }
        }
    }
}

/// A request from outside the job (CLI signal, REST) for a savepoint.
#[derive(Debug)]
pub enum JobCommand {
    /// Take a savepoint into `dir` (or the configured savepoint dir); with `stop`, stop the
    /// job once it is complete. The reply carries the savepoint's folder.
    Savepoint {
        /// Target folder; a new `savepoint-…` folder is made inside it.
        dir: Option<Location>,
        /// Stop the job after the savepoint.
        stop: bool,
        /// Where the outcome goes.
        reply: oneshot::Sender<Result<Location>>,
    },
    /// Take a checkpoint now (Flink's checkpoint trigger), besides the periodic ones. The
    /// reply carries the checkpoint's folder.
    Checkpoint {
        /// Where the outcome goes.
        reply: oneshot::Sender<Result<Location>>,
    },
    /// Cancel the job now (Flink's cancel): no savepoint, tasks stop where they are.
    Cancel,
    /// Go on at another parallelism: stop with a savepoint, redeploy, restore. The reply
    /// comes once the rescale has started (or was refused).
    Rescale {
        /// The new parallelism.
        parallelism: u32,
        /// Whether it started.
        reply: oneshot::Sender<Result<()>>,
    },
}

/// One task as the coordinator sees it.
pub(crate) struct TaskEntry {
    pub(crate) control: mpsc::UnboundedSender<TaskControl>,
    pub(crate) is_source: bool,
    pub(crate) finished: bool,
}

struct Pending {
    kind: SnapshotKind,
    dir: Location,
    started: Instant,
    triggered_at: i64,
    acked: std::collections::BTreeSet<usize>,
    operators: BTreeMap<String, OperatorState>,
    bytes: u64,
    written: u64,
    reply: Option<oneshot::Sender<Result<Location>>>,
    stop: bool,
}

/// A retained checkpoint.
struct Completed {
    dir: Location,
    /// The job's shared files it refers to.
    shared: BTreeSet<String>,
}

/// What a completed snapshot means for the job.
pub(crate) enum Completion {
    /// Keep running.
    Continue,
    /// A stop-with-savepoint completed: stop every task.
    Stop(Location),
}

/// Triggers checkpoints and savepoints, collects acknowledgements, completes or aborts them,
/// and keeps the configured number of checkpoints.
pub(crate) struct Coordinator {
    config: CheckpointConfig,
    job_id: String,
    job_name: String,
    max_parallelism: u32,
    dirs: SnapshotDirs,
    pub(crate) tasks: Vec<TaskEntry>,
    next_id: u64,
    pending: BTreeMap<u64, Pending>,
    completed: VecDeque<Completed>,
    last_trigger: Option<Instant>,
    last_completion: Option<Instant>,
    failures: u32,
    /// A checkpoint of an earlier run this job took over (recovery): that run's checkpoints
    /// are deleted once this job has a checkpoint of its own or finishes, so a later recovery
    /// cannot go back to them.
    claimed: Option<Location>,
    /// Where checkpoint statistics go for the REST API.
    registry: Option<JobRegistry>,
    /// Told of every completed checkpoint before older ones are deleted.
    hook: Option<CheckpointHook>,
}

/// Records a completed checkpoint as the job's latest (the HA store's pointer); it runs
/// before retention deletes older checkpoints, so the pointer never names a deleted one.
pub type CheckpointHook = Arc<dyn Fn(&Location) -> Result<()> + Send + Sync>;

impl Coordinator {
    pub(crate) fn new(
        config: CheckpointConfig,
        job_id: String,
        job_name: String,
        max_parallelism: u32,
        dirs: SnapshotDirs,
        first_id: u64,
    ) -> Self {
        Coordinator {
            config,
            job_id,
            job_name,
            max_parallelism,
            dirs,
            tasks: Vec::new(),
            next_id: first_id,
            pending: BTreeMap::new(),
            completed: VecDeque::new(),
            last_trigger: None,
            last_completion: None,
            failures: 0,
            claimed: None,
            registry: None,
            hook: None,
        }
    }

    /// Calls `hook` with each completed checkpoint.
    pub(crate) fn on_complete(&mut self, hook: CheckpointHook) {
        self.hook = Some(hook);
    }

    /// Forgets the tasks of a failed deployment and the snapshots they cannot finish.
    pub(crate) fn reset_tasks(&mut self) {
        for (id, p) in std::mem::take(&mut self.pending) {
            self.dirs.remove(id);
            p.dir.delete_all();
            if let Some(r) = p.reply {
                let _ = r.send(Err(RunnelError::State(format!(
                    "snapshot {id} abandoned: the job failed"
                ))));
            }
        }
        self.tasks.clear();
        self.last_trigger = None;
    }

    /// Reports checkpoint statistics to `registry` (the job is registered there).
    pub(crate) fn report_to(&mut self, registry: JobRegistry) {
        self.registry = Some(registry);
    }

    /// Records the state of snapshot `id` for the REST API.
    fn record(&self, id: u64, p: &Pending, status: &'static str, failure: Option<String>) {
        let Some(registry) = &self.registry else {
            return;
        };
        registry.checkpoint(
            &self.job_id,
            CheckpointInfo {
                id,
                is_savepoint: p.kind == SnapshotKind::Savepoint,
                status,
                trigger_timestamp: p.triggered_at,
                latest_ack_timestamp: chrono::Utc::now().timestamp_millis(),
                state_size: p.bytes,
                checkpointed_size: p.written,
                acknowledged: p.acked.len(),
                subtasks: self.tasks.len(),
                external_path: p.dir.to_string(),
                failure,
            },
        );
    }

    /// The newest completed checkpoint of this job, to restart from.
    pub(crate) fn latest_completed(&self) -> Option<Location> {
        self.completed.back().map(|c| c.dir.clone())
    }

    /// Takes ownership of the checkpoint the job was restored from.
    pub(crate) fn claim(&mut self, dir: Location) {
        self.claimed = Some(dir);
    }

    /// Deletes the claimed checkpoint and every earlier run's folder of this job under the
    /// checkpoint dir (their checkpoints are older, or left half-deleted by a run that was
    /// killed while cleaning up). A run that kept the job id (a JobManager recovering it
    /// after a failover) shares the job's folder: there, the checkpoints this run did not
    /// take go.
    fn release_claimed(&mut self) {
        let Some(dir) = self.claimed.take() else {
            return;
        };
        let own = self.job_dir().to_string();
        for job_dir in self.config.dir.children() {
            if job_dir.to_string() == own {
                continue;
            }
            let ours = job_dir.children().iter().any(|chk| {
                RestorePoint::open(chk).is_ok_and(|rp| rp.metadata.job_name == self.job_name)
            });
            if ours {
                job_dir.delete_all();
            }
        }
        let mine: BTreeSet<String> = self
            .completed
            .iter()
            .map(|c| c.dir.to_string())
            .chain(self.pending.values().map(|p| p.dir.to_string()))
            .collect();
        for chk in self.job_dir().children() {
            if chk.name().starts_with("chk-") && !mine.contains(&chk.to_string()) {
                chk.delete_all();
            }
        }
        dir.delete_all();
    }

    /// How often the JobMaster calls [`Coordinator::tick`]: often enough for short intervals
    /// and timeouts, rarely enough to cost nothing.
    pub(crate) const TICK: Duration = Duration::from_millis(100);

    fn job_dir(&self) -> Location {
        self.config.dir.join(&self.job_id)
    }

    /// Where the savepoints that carry a job across a rescale go.
    pub(crate) fn rescale_dir(&self) -> Location {
        self.job_dir().join("rescales")
    }

    /// Periodic work: trigger a checkpoint when due, abort those past their timeout.
    pub(crate) fn tick(&mut self) -> Result<()> {
        let now = Instant::now();
        let expired: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| now.duration_since(p.started) > self.config.timeout)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            let timeout = self.config.timeout;
            self.abort(
                id,
                format!("checkpoint {id} expired before completing ({timeout:?})"),
            )?;
        }
        let Some(interval) = self.config.interval else {
            return Ok(());
        };
        let due = self
            .last_trigger
            .is_none_or(|t| now.duration_since(t) >= interval)
            && self
                .last_completion
                .is_none_or(|t| now.duration_since(t) >= self.config.min_pause)
            && self.pending.len() < self.config.max_concurrent;
        if due && self.can_trigger() {
            let id = self.next_id;
            let dir = self.job_dir().join(&format!("chk-{id}"));
            self.trigger(SnapshotKind::Checkpoint, dir, None, false)?;
        }
        Ok(())
    }

    /// Barriers can only start while every source runs.
    fn can_trigger(&self) -> bool {
        self.tasks.iter().all(|t| !(t.is_source && t.finished))
    }

    /// Starts a savepoint for a user request.
    pub(crate) fn savepoint(
        &mut self,
        dir: Option<Location>,
        stop: bool,
        reply: oneshot::Sender<Result<Location>>,
    ) {
        let Some(base) = dir.or_else(|| self.config.savepoint_dir.clone()) else {
            let _ = reply.send(Err(RunnelError::State(
                "no savepoint folder given and 'execution.checkpointing.savepoint-dir' \
                 (state.savepoints.dir) is not set"
                    .into(),
            )));
            return;
        };
        if !self.can_trigger() {
            let _ = reply.send(Err(RunnelError::State(
                "cannot take a savepoint: some sources have already finished".into(),
            )));
            return;
        }
        let dir = base.join(&format!(
            "savepoint-{}-{:012x}",
            &self.job_id[..6],
            random_u64() & 0xffff_ffff_ffff
        ));
        if let Err(e) = self.trigger(SnapshotKind::Savepoint, dir, Some(reply), stop) {
            tracing_error(&e);
        }
    }

    /// Starts a checkpoint for a user request.
    pub(crate) fn checkpoint(&mut self, reply: oneshot::Sender<Result<Location>>) {
        if !self.can_trigger() {
            let _ = reply.send(Err(RunnelError::State(
                "cannot take a checkpoint: some sources have already finished".into(),
            )));
            return;
        }
        let dir = self.job_dir().join(&format!("chk-{}", self.next_id));
        if let Err(e) = self.trigger(SnapshotKind::Checkpoint, dir, Some(reply), false) {
            tracing_error(&e);
        }
    }

    fn trigger(
        &mut self,
        kind: SnapshotKind,
        dir: Location,
        reply: Option<oneshot::Sender<Result<Location>>>,
        stop: bool,
    ) -> Result<()> {
        let id = self.next_id;
        self.next_id += 1;
        self.last_trigger = Some(Instant::now());
        if let Err(err) = dir.ensure() {
            if let Some(r) = reply {
                let _ = r.send(Err(RunnelError::State(err.to_string())));
            }
            return self.failed(id, err.to_string());
        }
        self.dirs.insert(id, dir.clone());
        let barrier = Barrier {
            id,
            timestamp: chrono::Utc::now().timestamp_millis(),
            savepoint: kind == SnapshotKind::Savepoint,
        };
        self.pending.insert(
            id,
            Pending {
                kind,
                dir,
                started: Instant::now(),
                triggered_at: barrier.timestamp,
                acked: Default::default(),
                operators: BTreeMap::new(),
                bytes: 0,
                written: 0,
                reply,
                stop,
            },
        );
        self.record(id, &self.pending[&id], "IN_PROGRESS", None);
        for t in self.tasks.iter().filter(|t| t.is_source) {
            let _ = t.control.send(TaskControl::Trigger(barrier));
        }
        Ok(())
    }

    /// Takes one task's acknowledgement; completes the snapshot when it is the last.
    pub(crate) fn on_ack(&mut self, ack: TaskAck) -> Result<Completion> {
        let id = ack.checkpoint_id;
        let Some(p) = self.pending.get_mut(&id) else {
            return Ok(Completion::Continue); // aborted meanwhile
        };
        let sub = match ack.result {
            Ok(sub) => sub,
            Err(e) => {
                self.abort(id, format!("checkpoint {id} declined by a subtask: {e}"))?;
                return Ok(Completion::Continue);
            }
        };
        if !p.acked.insert(ack.task) {
            return Ok(Completion::Continue); // a duplicate cannot count twice
        }
        p.bytes += sub.bytes;
        p.written += sub.written;
        for (uid, name, state) in sub.operators {
            let op = p
                .operators
                .entry(uid.clone())
                .or_insert_with(|| OperatorState {
                    uid,
                    name,
                    parallelism: 0,
                    subtasks: Vec::new(),
                });
            op.subtasks.push(state);
        }
        if p.acked.len() < self.tasks.len() {
            self.record(id, &self.pending[&id], "IN_PROGRESS", None);
            return Ok(Completion::Continue);
        }
        let p = self.pending.remove(&id).expect("pending");
        self.dirs.remove(id);
        self.complete(id, p)
    }

    fn complete(&mut self, id: u64, mut p: Pending) -> Result<Completion> {
        let mut operators: Vec<OperatorState> =
            std::mem::take(&mut p.operators).into_values().collect();
        for op in &mut operators {
            op.subtasks.sort_by_key(|s| s.subtask);
            op.parallelism = op.subtasks.len() as u32;
        }
        let native = operators
            .iter()
            .flat_map(|o| &o.subtasks)
            .any(|s| !s.native.is_empty());
        let shared: BTreeSet<String> = operators
            .iter()
            .flat_map(|o| &o.subtasks)
            .flat_map(|s| &s.native)
            .flat_map(|n| &n.shared)
            .map(|f| f.path.clone())
            .collect();
        let meta = SnapshotMetadata {
            format: if native {
                FORMAT_VERSION_NATIVE
            } else {
                FORMAT_VERSION
            },
            kind: p.kind,
            job_id: self.job_id.clone(),
            job_name: self.job_name.clone(),
            checkpoint_id: id,
            triggered_at: p.triggered_at,
            completed_at: chrono::Utc::now().timestamp_millis(),
            max_parallelism: self.max_parallelism,
            state_bytes: p.bytes,
            checkpointed_bytes: p.written,
            operators,
        };
        if let Err(e) = write_metadata(&p.dir, &meta) {
            self.record(id, &p, "FAILED", Some(e.to_string()));
            if let Some(r) = p.reply {
                let _ = r.send(Err(RunnelError::State(e.to_string())));
            }
            return self.failed(id, e.to_string()).map(|_| Completion::Continue);
        }
        // The pointer to the latest checkpoint (high availability) moves before any task
        // hears of the completion (sinks commit then): a JobManager that takes over must
        // never restore an older checkpoint than what was committed.
        if p.kind == SnapshotKind::Checkpoint
            && let Some(hook) = &self.hook
            && let Err(e) = hook(&p.dir)
        {
            let reason = format!("checkpoint {id} could not be recorded as the latest: {e}");
            self.record(id, &p, "FAILED", Some(reason.clone()));
            p.dir.delete_all();
            return self.failed(id, reason).map(|_| Completion::Continue);
        }
        self.record(id, &p, "COMPLETED", None);
        self.failures = 0;
        self.last_completion = Some(Instant::now());
        for t in &self.tasks {
            let _ = t.control.send(TaskControl::Complete(id));
        }
        // Older in-flight checkpoints can no longer complete usefully.
        let older: Vec<u64> = self.pending.range(..id).map(|(k, _)| *k).collect();
        for old in older {
            self.abort(old, format!("checkpoint {old} subsumed by {id}"))?;
        }
        if p.kind == SnapshotKind::Checkpoint {
            self.completed.push_back(Completed {
                dir: p.dir.clone(),
                shared,
            });
            self.release_claimed();
            let mut dropped = false;
            while self.completed.len() > self.config.retained {
                let old = self.completed.pop_front().expect("non-empty");
                old.dir.delete_all();
                dropped = true;
            }
            if dropped || native {
                let retained: BTreeSet<String> = self
                    .completed
                    .iter()
                    .flat_map(|c| c.shared.iter().cloned())
                    .collect();
                prune_shared(&self.job_dir(), id, &retained);
            }
        }
        // Logged once retention has pruned, so "complete" means the folder set is final.
        eprintln!(
            "runnel: {} {id} complete: {} bytes ({} written) in {} ms at {}",
            match p.kind {
                SnapshotKind::Checkpoint => "checkpoint",
                SnapshotKind::Savepoint => "savepoint",
            },
            p.bytes,
            p.written,
            p.started.elapsed().as_millis(),
            p.dir
        );
        if let Some(r) = p.reply {
            let _ = r.send(Ok(p.dir.clone()));
        }
        if p.stop {
            for t in &self.tasks {
                let _ = t.control.send(TaskControl::Stop);
            }
            return Ok(Completion::Stop(p.dir));
        }
        Ok(Completion::Continue)
    }

    fn abort(&mut self, id: u64, reason: String) -> Result<()> {
        let Some(p) = self.pending.remove(&id) else {
            return Ok(());
        };
        self.dirs.remove(id);
        p.dir.delete_all();
        self.record(id, &p, "FAILED", Some(reason.clone()));
        if let Some(r) = p.reply {
            let _ = r.send(Err(RunnelError::State(reason.clone())));
        }
        if reason.contains("subsumed") {
            return Ok(());
        }
        self.failed(id, reason)
    }

    /// Counts a failed checkpoint; the job fails after more than the tolerated number in a row.
    fn failed(&mut self, id: u64, reason: String) -> Result<()> {
        self.failures += 1;
        eprintln!("runnel: checkpoint {id} failed: {reason}");
        if self.failures > self.config.tolerable_failures {
            return Err(RunnelError::State(format!(
                "{reason}; {} checkpoint(s) failed in a row, more than \
                 'execution.checkpointing.tolerable-failed-checkpoints' = {}",
                self.failures, self.config.tolerable_failures
            )));
        }
        Ok(())
    }

    /// Every task drained its input: let them commit and exit.
    pub(crate) fn finish_all(&self) {
        for t in &self.tasks {
            let _ = t.control.send(TaskControl::Finish);
        }
    }

    /// A task ended (or drained its input): snapshots it had not acknowledged can no longer
    /// complete.
    pub(crate) fn task_finished(&mut self, task: usize) {
        if std::mem::replace(&mut self.tasks[task].finished, true) {
            return;
        }
        if let Some(registry) = &self.registry {
            registry.subtask_finished(&self.job_id);
        }
        let ids: Vec<u64> = self.pending.keys().copied().collect();
        for id in ids {
            let p = self.pending.remove(&id).expect("pending");
            self.dirs.remove(id);
            p.dir.delete_all();
            let reason =
                format!("snapshot {id} abandoned: a task finished before acknowledging it");
            self.record(id, &p, "FAILED", Some(reason.clone()));
            if let Some(r) = p.reply {
                let _ = r.send(Err(RunnelError::State(reason)));
            }
        }
    }

    /// The job ended: checkpoints are removed when it finished or was cancelled (unless told
    /// to retain them); savepoints always stay. A job that finished keeps a `_finished` marker
    /// in its folder (as Flink keeps a job's result): a recovery of it after a kill, even one
    /// that came after all the cleanup, must not run it again.
    pub(crate) fn job_ended(&mut self, failed: bool) {
        for (id, p) in std::mem::take(&mut self.pending) {
            self.dirs.remove(id);
            p.dir.delete_all();
        }
        let delete =
            !failed && self.config.retention == crate::checkpoint::Retention::DeleteOnCancellation;
        // Noted before anything is deleted: a kill during the cleanup must not make a later
        // recovery replay the finished job from a half-deleted checkpoint.
        if delete
            && (self.config.interval.is_some() || self.claimed.is_some())
            && let Err(e) = crate::checkpoint::mark_finished(&self.job_dir(), &self.job_name)
        {
            eprintln!("runnel: marking {} finished: {e}", self.job_dir());
        }
        if !failed {
            self.release_claimed();
        }
        if delete {
            for c in self.completed.drain(..) {
                c.dir.delete_all();
            }
            self.job_dir()
                .join(crate::checkpoint::SHARED_DIR)
                .delete_all();
            if let Some(dir) = self.job_dir().as_local() {
                // Empty unless the marker is there.
                let _ = std::fs::remove_dir(dir);
            }
        }
    }
}

fn tracing_error(e: &RunnelError) {
    eprintln!("runnel: {e}");
}

/// A new job id: 32 hex digits, as Flink's.
pub fn new_job_id() -> String {
    format!("{:016x}{:016x}", random_u64(), random_u64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_barrier_waits_for_its_folder_but_not_for_one_that_is_over() {
        let dirs = SnapshotDirs::default();
        let dir = Location::Local(std::env::temp_dir().join("chk-1"));
        // Announced later (on a TaskManager, the folder may come after the barrier).
        let waiting = {
            let dirs = dirs.clone();
            tokio::spawn(async move { dirs.wait(1).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        dirs.insert(1, dir.clone());
        let got = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("woken by the folder")
            .unwrap();
        assert_eq!(got.map(|d| d.to_string()), Some(dir.to_string()));
        // Over (abandoned): a late barrier gets no folder, at once.
        dirs.remove(1);
        let late = tokio::time::timeout(Duration::from_millis(500), dirs.wait(1)).await;
        assert!(matches!(late, Ok(None)), "a late barrier waited");
    }
}
