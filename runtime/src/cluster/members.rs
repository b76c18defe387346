//! The JobManager's view of its TaskManagers (the standalone resource manager's slot pool):
//! who registered, when each last proved alive, which slots are free, and which deployments
//! run where, so a TaskManager's updates reach its deployment and its loss fails it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::{Notify, mpsc};

use super::proto;
use super::resources::{ResourceManager, Standalone};
use crate::error::RunnelError;
use crate::execution::{MetricsSample, TaskEvent, TaskReport};
use crate::rest::TaskManagerInfo;

/// Where a TaskManager's instructions go: the stream its registration returned.
pub(crate) type Instructions = mpsc::UnboundedSender<Result<proto::Instruction, tonic::Status>>;

/// A registered TaskManager.
struct Member {
    /// Tells this registration from a later one of the same TaskManager.
    epoch: u64,
    data_address: String,
    slots: u32,
    free: u32,
    cpu_cores: u32,
    physical_memory: u64,
    instructions: Instructions,
    last_heartbeat: Instant,
    last_heartbeat_ms: i64,
    /// Since when none of its slots is taken (`None` while some are).
    idle_since: Option<Instant>,
}

/// A TaskManager's answer to a deployment.
pub(crate) enum Answer {
    /// Its tasks run.
    Ready,
    /// It could not build them; `transient` when trying again may help (a peer it could not
    /// reach), else the job cannot start (its plan or state).
    Failed { message: String, transient: bool },
    /// It was lost before answering.
    Lost,
}

/// Where the updates of one deployment go.
pub(crate) struct Route {
    /// A task of each TaskManager, to report its loss as that task's failure.
    pub(crate) task_on: HashMap<String, usize>,
    pub(crate) reports: mpsc::UnboundedSender<TaskReport>,
    pub(crate) events: mpsc::UnboundedSender<TaskEvent>,
    pub(crate) metrics: mpsc::UnboundedSender<(usize, MetricsSample)>,
    /// Each TaskManager's answer to the deployment.
    pub(crate) deployed: mpsc::UnboundedSender<(String, Answer)>,
}

#[derive(Default)]
struct Inner {
    members: BTreeMap<String, Member>,
    routes: HashMap<u32, Route>,
    /// Slots each deployment holds, per TaskManager.
    held: HashMap<u32, Vec<(String, u32)>>,
    /// Slots each deployment waiting for slots needs: what the resource manager is asked
    /// for covers them all, so one job's pods coming do not count for another's.
    waiting: BTreeMap<u32, u32>,
    next_epoch: u64,
}

/// A deployment waiting for slots, counted in what is asked of the resource manager until it
/// has them, gives up, or is dropped (its job cancelled).
struct Waiting<'a> {
    members: &'a Members,
    deployment: u32,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.members.lock().waiting.remove(&self.deployment);
    }
}

/// The TaskManagers of a JobManager.
pub(crate) struct Members {
    inner: Mutex<Inner>,
    /// Wakes those waiting for slots when TaskManagers come or slots are freed.
    changed: Notify,
    /// Told when slots are missing and when a TaskManager is lost.
    resources: Box<dyn ResourceManager>,
}

impl Default for Members {
    fn default() -> Self {
        Members::new(Box::new(Standalone))
    }
}

impl Members {
    pub(crate) fn new(resources: Box<dyn ResourceManager>) -> Self {
        Members {
            inner: Mutex::default(),
            changed: Notify::new(),
            resources,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("members")
    }

    /// Adds a TaskManager (replacing an earlier registration of the same id, which is lost);
    /// returns the registration's epoch.
    pub(crate) fn register(&self, req: &proto::RegisterRequest, instructions: Instructions) -> u64 {
        self.lose(&req.task_manager_id, None, "it registered again");
        let mut inner = self.lock();
        inner.next_epoch += 1;
        let epoch = inner.next_epoch;
        inner.members.insert(
            req.task_manager_id.clone(),
            Member {
                epoch,
                data_address: req.data_address.clone(),
                slots: req.slots,
                free: req.slots,
                cpu_cores: req.cpu_cores,
                physical_memory: req.physical_memory,
                instructions,
                last_heartbeat: Instant::now(),
                idle_since: Some(Instant::now()),
                last_heartbeat_ms: chrono::Utc::now().timestamp_millis(),
            },
        );
        drop(inner);
        self.resources.task_manager_registered(&req.task_manager_id);
        eprintln!(
            "runnel: TaskManager {} registered ({} slots, data at {})",
            req.task_manager_id, req.slots, req.data_address
        );
        self.changed.notify_waiters();
        epoch
    }

    /// Records a heartbeat; false when the TaskManager is not a member (it must register).
    pub(crate) fn heartbeat(&self, id: &str) -> bool {
        let mut inner = self.lock();
        match inner.members.get_mut(id) {
            Some(m) => {
                m.last_heartbeat = Instant::now();
                m.last_heartbeat_ms = chrono::Utc::now().timestamp_millis();
                true
            }
            None => false,
        }
    }

    /// Removes a TaskManager (only the registration `epoch`, when given) and fails the
    /// deployments that had tasks on it.
    pub(crate) fn lose(&self, id: &str, epoch: Option<u64>, why: &str) {
        let mut inner = self.lock();
        let current = inner
            .members
            .get(id)
            .is_some_and(|m| epoch.is_none_or(|e| m.epoch == e));
        if !current {
            return;
        }
        inner.members.remove(id);
        for route in inner.routes.values() {
            if let Some(&task) = route.task_on.get(id) {
                let _ = route.reports.send(TaskReport {
                    task,
                    result: Err(RunnelError::Cluster(format!(
                        "TaskManager {id} was lost: {why}"
                    ))),
                });
                let _ = route.deployed.send((id.to_string(), Answer::Lost));
            }
        }
        drop(inner);
        eprintln!("runnel: TaskManager {id} lost: {why}");
        self.resources.task_manager_lost(id);
        self.changed.notify_waiters();
    }

    /// Declares lost every TaskManager silent for longer than `timeout`.
    pub(crate) fn expire(&self, timeout: Duration) {
        let now = Instant::now();
        let silent: Vec<(String, u64)> = self
            .lock()
            .members
            .iter()
            .filter(|(_, m)| now.duration_since(m.last_heartbeat) > timeout)
            .map(|(id, m)| (id.clone(), m.epoch))
            .collect();
        for (id, epoch) in silent {
            let why = format!("no heartbeat for {} ms", timeout.as_millis());
            self.lose(&id, Some(epoch), &why);
        }
    }

    /// Tells the resource manager of TaskManagers none of whose slots has been taken for
    /// longer than `after` (`resourcemanager.taskmanager-timeout`), which it may release; one
    /// it releases is forgotten in the same step, before any job can take its slots.
    pub(crate) fn release_idle(&self, after: Duration) {
        let now = Instant::now();
        let mut inner = self.lock();
        let idle: Vec<String> = inner
            .members
            .iter()
            .filter(|(_, m)| m.idle_since.is_some_and(|t| now.duration_since(t) > after))
            .map(|(id, _)| id.clone())
            .collect();
        let mut released = false;
        for id in idle {
            if self.resources.task_manager_idle(&id) {
                inner.members.remove(&id);
                released = true;
            }
        }
        drop(inner);
        if released {
            self.changed.notify_waiters();
        }
    }

    /// Takes `needed` slots for `deployment`, waiting up to `timeout` for TaskManagers to
    /// offer them; returns the TaskManager of each slot.
    pub(crate) async fn allocate(
        &self,
        deployment: u32,
        needed: u32,
        spread: bool,
        timeout: Duration,
    ) -> Result<Vec<String>, RunnelError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut waiting = None;
        loop {
            let changed = self.changed.notified();
            if let Some(slots) = self.try_allocate(deployment, needed, spread) {
                return Ok(slots);
            }
            if waiting.is_none() {
                let missing = {
                    let mut inner = self.lock();
                    inner.waiting.insert(deployment, needed);
                    let free: u32 = inner.members.values().map(|m| m.free).sum();
                    let wanted: u32 = inner.waiting.values().sum();
                    wanted.saturating_sub(free)
                };
                waiting = Some(Waiting {
                    members: self,
                    deployment,
                });
                self.resources.request_slots(missing);
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                let (tms, free) = {
                    let inner = self.lock();
                    let free: u32 = inner.members.values().map(|m| m.free).sum();
                    (inner.members.len(), free)
                };
                return Err(RunnelError::Cluster(format!(
                    "the job needs {needed} slots but {tms} TaskManager(s) offer {free} free \
                     after waiting {} s (slot.request.timeout)",
                    timeout.as_secs()
                )));
            }
        }
    }

    fn try_allocate(&self, deployment: u32, needed: u32, spread: bool) -> Option<Vec<String>> {
        let mut inner = self.lock();
        let free: u32 = inner.members.values().map(|m| m.free).sum();
        if free < needed {
            return None;
        }
        let mut slots = Vec::with_capacity(needed as usize);
        let mut taken: BTreeMap<String, u32> = BTreeMap::new();
        if spread {
            // One slot from each TaskManager with the most free slots, in turn.
            for _ in 0..needed {
                let (id, m) = inner
                    .members
                    .iter_mut()
                    .filter(|(_, m)| m.free > 0)
                    .min_by_key(|(_, m)| std::cmp::Reverse(m.free))?;
                m.free -= 1;
                m.idle_since = None;
                slots.push(id.clone());
                *taken.entry(id.clone()).or_default() += 1;
            }
        } else {
            // Fill one TaskManager before the next.
            for (id, m) in inner.members.iter_mut() {
                while m.free > 0 && (slots.len() as u32) < needed {
                    m.free -= 1;
                    m.idle_since = None;
                    slots.push(id.clone());
                    *taken.entry(id.clone()).or_default() += 1;
                }
            }
        }
        inner.held.insert(deployment, taken.into_iter().collect());
        Some(slots)
    }

    /// Instructions channel and data address of a member.
    pub(crate) fn contact(&self, id: &str) -> Option<(Instructions, String)> {
        self.lock()
            .members
            .get(id)
            .map(|m| (m.instructions.clone(), m.data_address.clone()))
    }

    /// Routes the updates of `deployment` to `route`.
    pub(crate) fn add_route(&self, deployment: u32, route: Route) {
        self.lock().routes.insert(deployment, route);
    }

    /// Forgets `deployment`: its updates are dropped and its slots free again.
    pub(crate) fn end(&self, deployment: u32) {
        let mut inner = self.lock();
        inner.routes.remove(&deployment);
        for (id, n) in inner.held.remove(&deployment).unwrap_or_default() {
            if let Some(m) = inner.members.get_mut(&id) {
                m.free = (m.free + n).min(m.slots);
                if m.free == m.slots {
                    m.idle_since = Some(Instant::now());
                }
            }
        }
        drop(inner);
        self.changed.notify_waiters();
    }

    /// Passes a TaskManager's update to its deployment.
    pub(crate) fn update(&self, from: &str, u: proto::TaskUpdate) -> Result<(), RunnelError> {
        use proto::task_update::Kind;
        let inner = self.lock();
        let Some(route) = inner.routes.get(&u.deployment) else {
            // A deployment that ended: what its tasks still say no longer matters.
            return Ok(());
        };
        let task = u.task as usize;
        match u.kind {
            Some(Kind::Deployed(d)) => {
                let answer = if d.error.is_empty() {
                    Answer::Ready
                } else {
                    Answer::Failed {
                        message: d.error,
                        transient: d.transient,
                    }
                };
                let _ = route.deployed.send((from.to_string(), answer));
            }
            Some(Kind::Ack(ack)) => {
                let _ = route
                    .events
                    .send(TaskEvent::Ack(super::wire::ack_from_proto(task, ack)?));
            }
            Some(Kind::Drained(_)) => {
                let _ = route.events.send(TaskEvent::Drained(task));
            }
            Some(Kind::Metrics(m)) => {
                let _ = route
                    .metrics
                    .send((task, super::wire::metrics_from_proto(&m)));
            }
            Some(Kind::Ended(e)) => {
                let _ = route.reports.send(TaskReport {
                    task,
                    result: super::wire::ended_from_proto(from, e),
                });
            }
            None => {}
        }
        Ok(())
    }

    /// The TaskManagers as `/taskmanagers` shows them.
    pub(crate) fn infos(&self) -> Vec<TaskManagerInfo> {
        self.lock()
            .members
            .iter()
            .map(|(id, m)| TaskManagerInfo {
                id: id.clone(),
                data_address: m.data_address.clone(),
                slots: m.slots,
                free_slots: m.free,
                last_heartbeat: m.last_heartbeat_ms,
                cpu_cores: m.cpu_cores,
                physical_memory: m.physical_memory,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn join(
        members: &Members,
        id: &str,
        slots: u32,
    ) -> mpsc::UnboundedReceiver<Result<proto::Instruction, tonic::Status>> {
        let (tx, rx) = mpsc::unbounded_channel();
        members.register(
            &proto::RegisterRequest {
                task_manager_id: id.into(),
                data_address: "127.0.0.1:1".into(),
                slots,
                cpu_cores: 1,
                physical_memory: 0,
            },
            tx,
        );
        rx
    }

    fn free(members: &Members) -> Vec<(String, u32)> {
        members
            .infos()
            .into_iter()
            .map(|t| (t.id, t.free_slots))
            .collect()
    }

    #[tokio::test]
    async fn slots_fill_one_task_manager_first_or_spread_and_come_back() {
        let m = Members::default();
        let _a = join(&m, "a", 2);
        let _b = join(&m, "b", 2);
        let filled = m
            .allocate(1, 3, false, Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(filled, ["a", "a", "b"]);
        m.end(1);
        let spread = m
            .allocate(2, 2, true, Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(spread, ["a", "b"]);
        assert_eq!(free(&m), [("a".into(), 1), ("b".into(), 1)]);
        let e = m
            .allocate(3, 3, false, Duration::from_millis(50))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("needs 3 slots but 2 TaskManager(s) offer 2 free"),
            "{e}"
        );
        m.end(2);
        assert_eq!(free(&m), [("a".into(), 2), ("b".into(), 2)]);
    }

    /// A resource manager that notes what it is asked.
    #[derive(Clone, Default)]
    struct Recorder(std::sync::Arc<Mutex<Vec<String>>>);

    impl ResourceManager for Recorder {
        fn request_slots(&self, missing: u32) {
            self.0.lock().unwrap().push(format!("request {missing}"));
        }

        fn task_manager_lost(&self, id: &str) {
            self.0.lock().unwrap().push(format!("lost {id}"));
        }

        /// Releases the TaskManagers named `release-*`.
        fn task_manager_idle(&self, id: &str) -> bool {
            self.0.lock().unwrap().push(format!("idle {id}"));
            id.starts_with("release-")
        }
    }

    #[tokio::test]
    async fn task_managers_without_taken_slots_for_the_timeout_are_offered_for_release() {
        let asked = Recorder::default();
        let m = Members::new(Box::new(asked.clone()));
        let _a = join(&m, "a", 1);
        let _b = join(&m, "b", 1);
        m.allocate(1, 1, false, Duration::from_secs(1))
            .await
            .unwrap();
        m.release_idle(Duration::from_secs(60));
        assert!(
            asked.0.lock().unwrap().is_empty(),
            "idle for less than the timeout"
        );
        tokio::time::sleep(Duration::from_millis(30)).await;
        m.release_idle(Duration::from_millis(10));
        // `a` holds the job's slot; `b` has been idle since it registered.
        assert_eq!(*asked.0.lock().unwrap(), ["idle b"]);
        m.end(1);
        asked.0.lock().unwrap().clear();
        m.release_idle(Duration::from_millis(10));
        // `a` has only just become idle; `b` still is.
        assert_eq!(*asked.0.lock().unwrap(), ["idle b"]);
        asked.0.lock().unwrap().clear();
        tokio::time::sleep(Duration::from_millis(30)).await;
        m.release_idle(Duration::from_millis(10));
        assert_eq!(*asked.0.lock().unwrap(), ["idle a", "idle b"]);
    }

    #[tokio::test]
    async fn a_released_task_manager_is_forgotten_at_once_and_its_slots_go_to_no_job() {
        let asked = Recorder::default();
        let m = Members::new(Box::new(asked.clone()));
        let _kept = join(&m, "kept", 1);
        let _released = join(&m, "release-me", 1);
        tokio::time::sleep(Duration::from_millis(30)).await;
        m.release_idle(Duration::from_millis(10));
        // Both were offered; the one the platform released is no member any more.
        assert_eq!(*asked.0.lock().unwrap(), ["idle kept", "idle release-me"]);
        assert_eq!(free(&m), [("kept".into(), 1)]);
        // A job wanting two slots waits for a new TaskManager instead of taking the going one.
        let waited = m.allocate(1, 2, false, Duration::from_millis(50)).await;
        assert!(waited.is_err(), "{waited:?}");
        // Its connection closing later changes nothing.
        m.lose("release-me", None, "its pod went");
        assert!(
            !asked
                .0
                .lock()
                .unwrap()
                .iter()
                .any(|a| a == "lost release-me")
        );
    }

    #[tokio::test]
    async fn slots_are_asked_for_all_waiting_jobs_together() {
        let asked = Recorder::default();
        let m = std::sync::Arc::new(Members::new(Box::new(asked.clone())));
        let _first = join(&m, "first", 1);
        let wait = |deployment: u32, needed: u32| {
            let m = m.clone();
            tokio::spawn(async move {
                m.allocate(deployment, needed, false, Duration::from_secs(10))
                    .await
            })
        };
        let two = wait(1, 2);
        tokio::time::sleep(Duration::from_millis(30)).await;
        let three = wait(2, 3);
        tokio::time::sleep(Duration::from_millis(30)).await;
        // The second job's request counts the first's: 2 + 3 needed, 1 free.
        assert_eq!(*asked.0.lock().unwrap(), ["request 1", "request 4"]);
        // A job that stops waiting (cancelled) no longer counts.
        three.abort();
        let _ = three.await;
        let _late = join(&m, "late", 1);
        assert_eq!(two.await.unwrap().unwrap().len(), 2);
        let four = wait(3, 1);
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert_eq!(
            asked.0.lock().unwrap().last().map(String::as_str),
            Some("request 1")
        );
        four.abort();
    }

    #[tokio::test]
    async fn a_job_waiting_for_slots_gets_them_when_a_task_manager_registers() {
        let asked = Recorder::default();
        let m = std::sync::Arc::new(Members::new(Box::new(asked.clone())));
        let _first = join(&m, "first", 1);
        let waiting = {
            let m = m.clone();
            tokio::spawn(async move { m.allocate(1, 2, false, Duration::from_secs(10)).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let _late = join(&m, "late", 1);
        assert_eq!(waiting.await.unwrap().unwrap(), ["first", "late"]);
        m.lose("first", None, "gone");
        // Asked once for the missing slot, and told of the loss.
        assert_eq!(*asked.0.lock().unwrap(), ["request 1", "lost first"]);
    }

    #[tokio::test]
    async fn a_lost_task_manager_fails_its_deployments_once() {
        let m = Members::default();
        let _a = join(&m, "a", 1);
        let (reports, mut reports_rx) = mpsc::unbounded_channel();
        let (events, _) = mpsc::unbounded_channel();
        let (metrics, _) = mpsc::unbounded_channel();
        let (deployed, mut answers) = mpsc::unbounded_channel();
        m.allocate(7, 1, false, Duration::from_secs(1))
            .await
            .unwrap();
        m.add_route(
            7,
            Route {
                task_on: HashMap::from([("a".to_string(), 3)]),
                reports,
                events,
                metrics,
                deployed,
            },
        );
        // A stale registration's end does not remove the current one.
        let epoch = m.lock().members["a"].epoch;
        m.lose("a", Some(epoch + 1), "old connection closed");
        assert!(m.heartbeat("a"));
        m.expire(Duration::from_secs(60));
        assert!(m.heartbeat("a"), "expired before its timeout");
        tokio::time::sleep(Duration::from_millis(20)).await;
        m.expire(Duration::from_millis(1));
        assert!(!m.heartbeat("a"), "a silent TaskManager stays a member");
        let report = reports_rx.try_recv().unwrap();
        assert_eq!(report.task, 3);
        let e = report.result.unwrap_err().to_string();
        assert!(
            e.contains("TaskManager a was lost: no heartbeat for 1 ms"),
            "{e}"
        );
        assert!(matches!(answers.try_recv().unwrap(), (id, Answer::Lost) if id == "a"));
        m.lose("a", None, "again");
        assert!(reports_rx.try_recv().is_err(), "reported twice");
    }
}
