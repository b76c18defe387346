use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::CHANNEL_CAPACITY;
use super::chain::Chain;
use super::gate::InputGate;
use super::output::OutputEdge;
use super::task::{Task, TaskInput};
use super::taskmanager::TaskManager;
use crate::dataflow::{JobGraph, Message, Partitioning, VertexKind, key_group_range_for_subtask};
use crate::error::{Result, RunnelError};
use crate::operators::SubtaskContext;

/// How a finished job ended.
#[derive(Debug)]
pub struct JobOutcome {
    /// Wall-clock run time.
    pub duration: Duration,
    /// Number of subtasks that ran.
    pub subtasks: usize,
}

/// Schedules one job's subtasks onto TaskManagers and follows them to the end.
pub struct JobMaster {
    graph: JobGraph,
}

impl JobMaster {
    /// A JobMaster for `graph`.
    pub fn new(graph: JobGraph) -> Self {
        JobMaster { graph }
    }

    /// Deploys every subtask and waits until all finish, or one fails (then cancels the rest
    /// and returns that failure).
    pub async fn run(self, task_managers: &[TaskManager]) -> Result<JobOutcome> {
        let started = Instant::now();
        let g = &self.graph;
        let slots: u32 = task_managers.iter().map(|t| t.slots()).sum();
        let needed = g.vertices.iter().map(|v| v.parallelism).max().unwrap_or(1);
        if slots < needed {
            return Err(RunnelError::Plan(format!(
                "the job needs {needed} slots (its highest parallelism) but the TaskManagers offer {slots}"
            )));
        }

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

        for edge in &g.edges {
            let up = g.vertices[edge.source].parallelism;
            let down = g.vertices[edge.target].parallelism;
            if matches!(edge.partitioning, Partitioning::Forward) {
                if up != down {
                    return Err(RunnelError::Plan(format!(
                        "forward edge {} -> {} joins parallelism {up} to {down}",
                        edge.source, edge.target
                    )));
                }
                for s in 0..up as usize {
                    let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
                    receivers[edge.target][s].push((edge.input, rx));
                    senders[edge.source][s].push(OutputEdge::new(
                        edge.partitioning.clone(),
                        vec![tx],
                        g.max_parallelism,
                        s as u32,
                    ));
                }
                continue;
            }
            let targets: Vec<usize> = if matches!(edge.partitioning, Partitioning::Single) {
                vec![0]
            } else {
                (0..down as usize).collect()
            };
            // One channel per (upstream subtask, downstream subtask) pair.
            let mut per_source: Vec<Vec<mpsc::Sender<Message>>> =
                (0..up).map(|_| Vec::new()).collect();
            for &t in &targets {
                for txs in per_source.iter_mut() {
                    let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
                    receivers[edge.target][t].push((edge.input, rx));
                    txs.push(tx);
                }
            }
            for (s, txs) in per_source.into_iter().enumerate() {
                senders[edge.source][s].push(OutputEdge::new(
                    edge.partitioning.clone(),
                    txs,
                    g.max_parallelism,
                    s as u32,
                ));
            }
        }

        let (report_tx, mut report_rx) = mpsc::unbounded_channel();
        let mut handles = Vec::new();
        let mut slot = 0usize;
        for v in &g.vertices {
            for s in 0..v.parallelism {
                let ctx = SubtaskContext {
                    vertex_name: v.name.clone(),
                    index: s,
                    parallelism: v.parallelism,
                    max_parallelism: g.max_parallelism,
                    key_groups: key_group_range_for_subtask(g.max_parallelism, v.parallelism, s),
                };
                let ops = v
                    .chain
                    .iter()
                    .map(|f| f(&ctx))
                    .collect::<Result<Vec<_>>>()?;
                let input = match &v.kind {
                    VertexKind::Source(f) => TaskInput::Source(f(&ctx)?),
                    VertexKind::Operators => TaskInput::Gate(InputGate::new(std::mem::take(
                        &mut receivers[v.id][s as usize],
                    ))),
                };
                let task = Task {
                    ctx,
                    input,
                    chain: Chain::new(ops),
                    outputs: std::mem::take(&mut senders[v.id][s as usize]),
                };
                // Slot sharing: subtask s of every vertex goes to slot s.
                let tm = &task_managers[pick_task_manager(task_managers, s as usize)];
                handles.push(tm.deploy(task, report_tx.clone()));
                slot += 1;
            }
        }
        drop(report_tx);

        let mut remaining = slot;
        while remaining > 0 {
            let Some(report) = report_rx.recv().await else {
                break;
            };
            remaining -= 1;
            if let Err(e) = report.result {
                for h in &handles {
                    h.abort();
                }
                // A cancelled peer is a consequence; prefer the root cause if one follows.
                if matches!(e, RunnelError::Cancelled) {
                    while let Ok(Some(r)) =
                        tokio::time::timeout(Duration::from_millis(200), report_rx.recv()).await
                    {
                        if let Err(root) = r.result
                            && !matches!(root, RunnelError::Cancelled)
                        {
                            return Err(root);
                        }
                    }
                }
                return Err(e);
            }
        }
        Ok(JobOutcome {
            duration: started.elapsed(),
            subtasks: slot,
        })
    }
}

/// The receiving end of a channel into a subtask, with the input it belongs to.
type InputChannel = (usize, mpsc::Receiver<Message>);

fn pick_task_manager(tms: &[TaskManager], slot: usize) -> usize {
    let mut s = slot;
    for (i, tm) in tms.iter().enumerate() {
        if s < tm.slots() as usize {
            return i;
        }
        s -= tm.slots() as usize;
    }
    0
}
