//! Turning a job graph into running subtasks: where each subtask runs, the channels between
//! them, and each subtask's operators restored from a snapshot. Local mode builds every
//! subtask in one process; in cluster mode each TaskManager builds its own from the same
//! graph, counting subtasks and channels the same way, so both ends of a channel agree on its
//! number.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::CHANNEL_CAPACITY;
use super::chain::Chain;
use super::checkpointing::{SnapshotDirs, TaskEntry, TaskEvent};
use super::gate::InputGate;
use super::jobmaster::{operator_uid, source_uid};
use super::metrics::{MetricsSample, SAMPLE_INTERVAL, TaskMetrics};
use super::output::OutputEdge;
use super::task::{Task, TaskCheckpointing, TaskInput};
use super::taskmanager::{TaskManager, TaskReport};
use crate::checkpoint::RestorePoint;
use crate::dataflow::{
    JobGraph, Message, Partitioning, Vertex, VertexKind, key_group_range_for_subtask,
};
use crate::error::{Result, RunnelError};
use crate::operators::SubtaskContext;

/// Which TaskManager runs each slot. With slot sharing, subtask `s` of every vertex runs in
/// slot `s`, so a pipeline's subtasks sit together and the job needs as many slots as its
/// highest parallelism.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Placement {
    /// TaskManager (by position in the deployment) of each slot.
    slots: Vec<usize>,
}

impl Placement {
    /// A placement giving slot `i` to TaskManager `slots[i]`.
    pub(crate) fn new(slots: Vec<usize>) -> Self {
        Placement { slots }
    }

    /// The TaskManager that runs subtask `subtask` (of any vertex).
    pub(crate) fn task_manager(&self, subtask: u32) -> usize {
        self.slots[subtask as usize]
    }

    /// Slot owners, in slot order.
    pub(crate) fn slots(&self) -> &[usize] {
        &self.slots
    }
}

/// The subtasks of `graph` in the order everyone numbers them: vertices in order, then
/// subtask index.
pub(crate) fn task_order(graph: &JobGraph) -> Vec<(usize, u32)> {
    graph
        .vertices
        .iter()
        .flat_map(|v| (0..v.parallelism).map(move |s| (v.id, s)))
        .collect()
}

/// The receiving end of a channel into a subtask, with the input it belongs to.
type InputChannel = (usize, mpsc::Receiver<Message>);

/// The ends of one channel held in this process.
pub(crate) type ChannelEnds = (
    Option<mpsc::Sender<Message>>,
    Option<mpsc::Receiver<Message>>,
);

/// Makes the channels between subtasks: in memory when both ends are in this process, over
/// the network otherwise.
pub(crate) trait ChannelFactory {
    /// The ends held here of channel `index`, from a subtask on TaskManager `from` to one on
    /// TaskManager `to`.
    fn channel(&mut self, index: u32, from: usize, to: usize) -> Result<ChannelEnds>;
}

/// Every channel in memory: local mode, where all TaskManagers share the process.
pub(crate) struct InMemory;

impl ChannelFactory for InMemory {
    fn channel(&mut self, _: u32, _: usize, _: usize) -> Result<ChannelEnds> {
        let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
        Ok((Some(tx), Some(rx)))
    }
}

/// One subtask, built and ready to start, with the coordinator's handle on it.
pub(crate) struct BuiltTask {
    /// Its number in [`task_order`].
    pub(crate) index: usize,
    /// Its subtask index.
    pub(crate) subtask: u32,
    pub(crate) task: Task,
    pub(crate) entry: TaskEntry,
    /// Its counters, for the sampler.
    pub(crate) metrics: Arc<TaskMetrics>,
}

/// What building the subtasks of one deployment needs.
pub(crate) struct Build<'a> {
    pub(crate) graph: &'a JobGraph,
    pub(crate) placement: &'a Placement,
    /// The TaskManager building (its subtasks only); `None` builds every subtask.
    pub(crate) here: Option<usize>,
    pub(crate) restore: Option<&'a RestorePoint>,
    pub(crate) exactly_once: bool,
    pub(crate) dirs: &'a SnapshotDirs,
    /// Where the tasks send acknowledgements and their end of input.
    pub(crate) events: &'a mpsc::UnboundedSender<TaskEvent>,
}

impl Build<'_> {
    fn is_here(&self, subtask: u32) -> bool {
        self.here
            .is_none_or(|h| self.placement.task_manager(subtask) == h)
    }

    /// Wires the channels, makes and restores the operators of every subtask placed here.
    pub(crate) fn tasks(&self, channels: &mut dyn ChannelFactory) -> Result<Vec<BuiltTask>> {
        let g = self.graph;
        // receivers[v][s] = channels into subtask s of vertex v, with their input index.
        let mut receivers: Vec<Vec<Vec<InputChannel>>> = g
            .vertices
            .iter()
            .map(|v| (0..v.parallelism).map(|_| Vec::new()).collect())
            .collect();
        // senders[v][s] = output edges of subtask s of vertex v.
        let mut senders: Vec<Vec<Vec<OutputEdge>>> = g
            .vertices
            .iter()
            .map(|v| (0..v.parallelism).map(|_| Vec::new()).collect())
            .collect();
        let mut index = 0u32;
        let mut next = |from: u32, to: u32| -> Result<ChannelEnds> {
            let ends = channels.channel(
                index,
                self.placement.task_manager(from),
                self.placement.task_manager(to),
            );
            index += 1;
            ends
        };
        for edge in &g.edges {
            let up = g.vertices[edge.source].parallelism;
            let down = g.vertices[edge.target].parallelism;
            let forward = matches!(edge.partitioning, Partitioning::Forward);
            if forward && up != down {
                return Err(RunnelError::Plan(format!(
                    "forward edge {} -> {} joins parallelism {up} to {down}",
                    edge.source, edge.target
                )));
            }
            // (upstream, downstream) subtask pairs: one channel each.
            let pairs: Vec<(u32, u32)> = if forward {
                (0..up).map(|s| (s, s)).collect()
            } else {
                let targets = if matches!(edge.partitioning, Partitioning::Single) {
                    0..1
                } else {
                    0..down
                };
                targets.flat_map(|t| (0..up).map(move |s| (s, t))).collect()
            };
            let mut per_source: Vec<Vec<mpsc::Sender<Message>>> =
                (0..up).map(|_| Vec::new()).collect();
            for (s, t) in pairs {
                let (tx, rx) = next(s, t)?;
                if let Some(rx) = rx {
                    receivers[edge.target][t as usize].push((edge.input, rx));
                }
                if let Some(tx) = tx {
                    per_source[s as usize].push(tx);
                }
            }
            for (s, txs) in per_source.into_iter().enumerate() {
                if self.is_here(s as u32) {
                    senders[edge.source][s].push(OutputEdge::new(
                        edge.partitioning.clone(),
                        txs,
                        g.max_parallelism,
                        s as u32,
                    ));
                }
            }
        }

        let mut built = Vec::new();
        for (index, (v, s)) in task_order(g).into_iter().enumerate() {
            if !self.is_here(s) {
                continue;
            }
            let v = &g.vertices[v];
            let inputs = std::mem::take(&mut receivers[v.id][s as usize]);
            let outputs = std::mem::take(&mut senders[v.id][s as usize]);
            built.push(self.task(v, s, index, inputs, outputs)?);
        }
        Ok(built)
    }

    /// Makes and restores subtask `s` of `v`.
    fn task(
        &self,
        v: &Vertex,
        s: u32,
        index: usize,
        inputs: Vec<InputChannel>,
        outputs: Vec<OutputEdge>,
    ) -> Result<BuiltTask> {
        let g = self.graph;
        let ctx = SubtaskContext {
            vertex_name: v.name.clone(),
            index: s,
            parallelism: v.parallelism,
            max_parallelism: g.max_parallelism,
            key_groups: key_group_range_for_subtask(g.max_parallelism, v.parallelism, s),
            state_ttl: g.state_ttl,
            state_backend: g.state_backend.clone(),
        };
        let mut ops = v
            .chain
            .iter()
            .map(|f| f(&ctx))
            .collect::<Result<Vec<_>>>()?;
        let is_source = matches!(v.kind, VertexKind::Source(_));
        let input = match &v.kind {
            VertexKind::Source(f) => {
                let mut source = f(&ctx)?;
                if let Some(rp) = self.restore {
                    let state = rp.restore(&source_uid(v), ctx.key_groups, s, v.parallelism)?;
                    source.restore(state).map_err(|e| restore_err(v, &e))?;
                }
                TaskInput::Source(source)
            }
            VertexKind::Operators => {
                TaskInput::Gate(InputGate::with_alignment(inputs, self.exactly_once))
            }
        };
        if let Some(rp) = self.restore {
            for (i, op) in ops.iter_mut().enumerate() {
                let state = rp.restore(&operator_uid(v, i), ctx.key_groups, s, v.parallelism)?;
                op.restore(state).map_err(|e| restore_err(v, &e))?;
            }
        }
        let (control_tx, control_rx) = mpsc::unbounded_channel();
        let checkpointing = TaskCheckpointing {
            control: control_rx,
            events: self.events.clone(),
            dirs: self.dirs.clone(),
            index,
            file: format!("{}-{s}.state", sanitize(&v.uid)),
            source_uid: is_source.then(|| (source_uid(v), format!("{} (source)", v.name))),
            operator_uids: (0..v.chain.len())
                .map(|i| {
                    let name = v.chain_names.get(i).cloned().unwrap_or_default();
                    (operator_uid(v, i), name)
                })
                .collect(),
        };
        let metrics = Arc::new(TaskMetrics::default());
        Ok(BuiltTask {
            index,
            subtask: s,
            metrics: metrics.clone(),
            task: Task {
                ctx,
                input,
                chain: Chain::new(ops),
                outputs,
                checkpointing,
                metrics,
            },
            entry: TaskEntry {
                control: control_tx,
                is_source,
                finished: false,
            },
        })
    }
}

fn restore_err(v: &Vertex, e: &RunnelError) -> RunnelError {
    RunnelError::State(format!("restoring the state of {}: {e}", v.name))
}

/// A vertex uid as a file name.
fn sanitize(uid: &str) -> String {
    uid.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Samples the counters of `tasks` every [`SAMPLE_INTERVAL`] and hands each sample to `send`
/// until it returns false.
pub(crate) fn spawn_sampler(
    tasks: Vec<(usize, Arc<TaskMetrics>)>,
    mut send: impl FnMut(usize, MetricsSample) -> bool + Send + 'static,
) -> tokio::task::AbortHandle {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SAMPLE_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            for (index, m) in &tasks {
                if !send(*index, m.sample()) {
                    return;
                }
            }
        }
    })
    .abort_handle()
}

/// One deployment of a job, from the JobMaster's side.
pub(crate) struct Deployment {
    /// The coordinator's handle on every task, in [`task_order`].
    pub(crate) tasks: Vec<TaskEntry>,
    /// Each task's end (and a lost TaskManager's, as failures of its tasks).
    pub(crate) reports: mpsc::UnboundedReceiver<TaskReport>,
    /// Acknowledgements and ends of input.
    pub(crate) events: mpsc::UnboundedReceiver<TaskEvent>,
    /// Samples of the tasks' counters, by task number.
    pub(crate) metrics: mpsc::UnboundedReceiver<(usize, MetricsSample)>,
    /// Stops whatever still runs and frees what the deployment holds.
    pub(crate) cancel: Box<dyn Fn() + Send + Sync>,
}

/// What one deployment of a job needs to know.
pub(crate) struct Attempt<'a> {
    pub(crate) graph: &'a JobGraph,
    pub(crate) restore: Option<Arc<RestorePoint>>,
    pub(crate) exactly_once: bool,
    pub(crate) dirs: &'a SnapshotDirs,
    /// The parallelism the job was rescaled to (remote TaskManagers plan with it).
    pub(crate) parallelism: Option<u32>,
}

/// Why a deployment did not start.
#[derive(Debug)]
pub(crate) enum NotDeployed {
    /// The job cannot start as it is (its plan, its state): trying again fails the same way.
    Invalid(RunnelError),
    /// The cluster cannot run it now (no slots, a TaskManager lost or unreachable): the
    /// restart strategy decides, as for a failure while running.
    Unavailable(RunnelError),
}

impl From<RunnelError> for NotDeployed {
    fn from(e: RunnelError) -> Self {
        NotDeployed::Invalid(e)
    }
}

/// Where a JobMaster's subtasks run: TaskManagers in this process, or remote ones.
pub(crate) trait Deployer: Sync {
    /// The folders of checkpoints in flight, as the coordinator fills them (remote
    /// deployers pass them on to their TaskManagers).
    fn snapshot_dirs(&self) -> SnapshotDirs {
        SnapshotDirs::default()
    }

    /// Starts every subtask of one attempt.
    fn deploy(
        &self,
        attempt: Attempt<'_>,
    ) -> impl Future<Output = std::result::Result<Deployment, NotDeployed>> + Send;
}

/// TaskManagers in this process (local mode).
pub(crate) struct LocalDeployer {
    pub(crate) task_managers: Vec<TaskManager>,
}

impl Deployer for LocalDeployer {
    async fn deploy(&self, a: Attempt<'_>) -> std::result::Result<Deployment, NotDeployed> {
        let tms = &self.task_managers;
        let offered: u32 = tms.iter().map(|t| t.slots()).sum();
        let needed = a.graph.slots_needed();
        if offered < needed {
            return Err(NotDeployed::Invalid(RunnelError::Plan(format!(
                "the job needs {needed} slots (its highest parallelism) but the TaskManagers offer {offered}"
            ))));
        }
        let placement = Placement::new(
            tms.iter()
                .enumerate()
                .flat_map(|(i, t)| std::iter::repeat_n(i, t.slots() as usize))
                .take(needed as usize)
                .collect(),
        );
        let (events_tx, events) = mpsc::unbounded_channel();
        let built = Build {
            graph: a.graph,
            placement: &placement,
            here: None,
            restore: a.restore.as_deref(),
            exactly_once: a.exactly_once,
            dirs: a.dirs,
            events: &events_tx,
        }
        .tasks(&mut InMemory)?;
        let (report_tx, reports) = mpsc::unbounded_channel();
        let mut tasks = Vec::new();
        let mut handles = Vec::new();
        let mut counters = Vec::new();
        for b in built {
            let tm = &tms[placement.task_manager(b.subtask)];
            handles.push(tm.deploy(b.task, report_tx.clone()));
            tasks.push(b.entry);
            counters.push((b.index, b.metrics));
        }
        let (metrics_tx, metrics) = mpsc::unbounded_channel();
        handles.push(spawn_sampler(counters, move |index, sample| {
            metrics_tx.send((index, sample)).is_ok()
        }));
        Ok(Deployment {
            tasks,
            reports,
            events,
            metrics,
            cancel: Box::new(move || handles.iter().for_each(|h| h.abort())),
        })
    }
}
