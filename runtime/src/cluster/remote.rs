//! Deploying a job onto remote TaskManagers: the JobMaster's [`Deployer`] in cluster mode.
//! Slots come from the standalone slot pool ([`Members`]); each TaskManager gets the job's
//! SQL and configuration and builds its own subtasks; control messages and the folders of
//! checkpoints in flight follow them over the control plane.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use super::members::{Answer, Instructions, Members, Route};
use super::proto;
use super::proto::instruction::Kind;
use super::wire::control_to_proto;
use crate::dataflow::{JobGraph, VertexKind};
use crate::error::RunnelError;
use crate::execution::{
    Attempt, Deployer, Deployment, DirChange, NotDeployed, Placement, SnapshotDirs, TaskControl,
    TaskEntry, task_order,
};

/// A job as the cluster ships it: a Flink SQL script that plans into one job, and the
/// configuration it is planned with. TaskManagers plan it again and must get the same graph.
#[derive(Clone, Debug)]
pub struct JobSpec {
    /// The script.
    pub script: String,
    /// Options set before the script's own `SET`s.
    pub config: BTreeMap<String, String>,
}

/// What the graph's subtasks and channels depend on; a TaskManager that plans something else
/// (another Runnel version) refuses the deployment instead of mixing up channels.
pub(crate) fn plan_fingerprint(g: &JobGraph) -> String {
    let vertices: Vec<String> = g
        .vertices
        .iter()
        .map(|v| format!("{}x{}", v.uid, v.parallelism))
        .collect();
    let edges: Vec<String> = g
        .edges
        .iter()
        .map(|e| format!("{}>{}.{}", e.source, e.target, e.input))
        .collect();
    format!(
        "{}|{}|{}",
        g.max_parallelism,
        vertices.join(","),
        edges.join(",")
    )
}

/// The TaskManagers of the deployment now running, where checkpoint folders are announced.
type Current = Arc<Mutex<Option<(u32, Vec<Instructions>)>>>;

/// Deploys one job's attempts onto the cluster's TaskManagers.
pub(crate) struct RemoteDeployer {
    members: Arc<Members>,
    spec: JobSpec,
    job_id: String,
    slot_timeout: Duration,
    spread: bool,
    /// The JobManager's deployment counter (channel ids carry it).
    numbers: Arc<AtomicU32>,
    current: Current,
    dirs: SnapshotDirs,
}

impl RemoteDeployer {
    pub(crate) fn new(
        members: Arc<Members>,
        spec: JobSpec,
        job_id: String,
        config: &super::ClusterConfig,
        numbers: Arc<AtomicU32>,
    ) -> Self {
        let (tx, mut changes) = mpsc::unbounded_channel::<DirChange>();
        let current: Current = Arc::default();
        let announce = current.clone();
        tokio::spawn(async move {
            while let Some(change) = changes.recv().await {
                let (checkpoint_id, location) = match change {
                    DirChange::Added(id, dir) => (id, dir.to_string()),
                    DirChange::Removed(id) => (id, String::new()),
                };
                if let Some((deployment, tms)) = &*announce.lock().expect("current") {
                    for tm in tms {
                        let dir = proto::SnapshotDir {
                            deployment: *deployment,
                            checkpoint_id,
                            location: location.clone(),
                        };
                        let _ = tm.send(Ok(proto::Instruction {
                            kind: Some(Kind::SnapshotDir(dir)),
                        }));
                    }
                }
            }
        });
        RemoteDeployer {
            members,
            spec,
            job_id,
            slot_timeout: config.slot_request_timeout,
            spread: config.spread_slots,
            numbers,
            current,
            dirs: SnapshotDirs::with_listener(tx),
        }
    }
}

impl Deployer for RemoteDeployer {
    fn snapshot_dirs(&self) -> SnapshotDirs {
        self.dirs.clone()
    }

    async fn deploy(&self, a: Attempt<'_>) -> std::result::Result<Deployment, NotDeployed> {
        let number = self.numbers.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        let g = a.graph;
        let slots = self
            .members
            .allocate(number, g.slots_needed(), self.spread, self.slot_timeout)
            .await
            .map_err(NotDeployed::Unavailable)?;
        // The deployment's TaskManagers, in the order of their first slot.
        let mut tms: Vec<String> = Vec::new();
        let placement = Placement::new(
            slots
                .iter()
                .map(|id| match tms.iter().position(|t| t == id) {
                    Some(i) => i,
                    None => {
                        tms.push(id.clone());
                        tms.len() - 1
                    }
                })
                .collect(),
        );
        let mut contacts = Vec::new();
        for id in &tms {
            match self.members.contact(id) {
                Some(c) => contacts.push(c),
                None => {
                    self.members.end(number);
                    return Err(NotDeployed::Unavailable(RunnelError::Cluster(format!(
                        "TaskManager {id} left while the job was being deployed"
                    ))));
                }
            }
        }
        let order = task_order(g);
        let mut task_on = HashMap::new();
        for (index, (_, s)) in order.iter().enumerate() {
            task_on
                .entry(tms[placement.task_manager(*s)].clone())
                .or_insert(index);
        }
        let (reports_tx, reports) = mpsc::unbounded_channel();
        let (events_tx, events) = mpsc::unbounded_channel();
        let (answers_tx, mut answers) = mpsc::unbounded_channel();
        let (metrics_tx, metrics) = mpsc::unbounded_channel();
        self.members.add_route(
            number,
            Route {
                task_on,
                reports: reports_tx,
                events: events_tx,
                metrics: metrics_tx,
                deployed: answers_tx,
            },
        );
        let instructions: Vec<Instructions> = contacts.iter().map(|(i, _)| i.clone()).collect();
        let cancel = {
            let (members, instructions, current) = (
                self.members.clone(),
                instructions.clone(),
                self.current.clone(),
            );
            move || {
                for tm in &instructions {
                    let _ = tm.send(Ok(proto::Instruction {
                        kind: Some(Kind::Cancel(proto::Cancel { deployment: number })),
                    }));
                }
                members.end(number);
                let mut current = current.lock().expect("current");
                if current.as_ref().is_some_and(|(d, _)| *d == number) {
                    *current = None;
                }
            }
        };
        let deploy = proto::Deploy {
            deployment: number,
            job_id: self.job_id.clone(),
            script: self.spec.script.clone(),
            config: {
                let mut config = self.spec.config.clone();
                if let Some(p) = a.parallelism {
                    config.insert("parallelism.default".into(), p.to_string());
                }
                config.into_iter().collect()
            },
            restore: a
                .restore
                .as_ref()
                .map(|r| r.dir.to_string())
                .unwrap_or_default(),
            slots: placement.slots().iter().map(|&i| i as u32).collect(),
            task_managers: contacts.iter().map(|(_, addr)| addr.clone()).collect(),
            here: 0,
            plan: plan_fingerprint(g),
        };
        for (here, tm) in instructions.iter().enumerate() {
            let deploy = proto::Deploy {
                here: here as u32,
                ..deploy.clone()
            };
            let _ = tm.send(Ok(proto::Instruction {
                kind: Some(Kind::Deploy(deploy)),
            }));
        }
        // Every TaskManager answers: built, failed to build (the job cannot start), or lost
        // (the deployment fails like a task and the restart strategy decides).
        let mut waiting = tms.len();
        while waiting > 0 {
            let answer = tokio::time::timeout(self.slot_timeout, answers.recv()).await;
            match answer {
                Ok(Some((_, Answer::Ready | Answer::Lost))) => waiting -= 1,
                Ok(Some((tm, Answer::Failed { message, transient }))) => {
                    cancel();
                    let e = RunnelError::Remote {
                        task_manager: tm,
                        message,
                    };
                    return Err(if transient {
                        NotDeployed::Unavailable(e)
                    } else {
                        NotDeployed::Invalid(e)
                    });
                }
                Ok(None) | Err(_) => {
                    cancel();
                    return Err(NotDeployed::Unavailable(RunnelError::Cluster(format!(
                        "the TaskManagers did not start the job within {} s",
                        self.slot_timeout.as_secs()
                    ))));
                }
            }
        }
        *self.current.lock().expect("current") = Some((number, instructions.clone()));
        let tasks = order
            .iter()
            .enumerate()
            .map(|(index, &(v, s))| {
                let tm = instructions[placement.task_manager(s)].clone();
                let (control, mut rx) = mpsc::unbounded_channel::<TaskControl>();
                tokio::spawn(async move {
                    while let Some(c) = rx.recv().await {
                        let control = control_to_proto(number, index, c);
                        let sent = tm.send(Ok(proto::Instruction {
                            kind: Some(Kind::Control(control)),
                        }));
                        if sent.is_err() {
                            return;
                        }
                    }
                });
                TaskEntry {
                    control,
                    is_source: matches!(g.vertices[v].kind, VertexKind::Source(_)),
                    finished: false,
                }
            })
            .collect();
        Ok(Deployment {
            tasks,
            reports,
            events,
            metrics,
            cancel: Box::new(cancel),
        })
    }
}
