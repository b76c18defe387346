//! The native Kubernetes resource manager: the JobManager creates a TaskManager pod for every
//! `taskmanager.numberOfTaskSlots` slots a job is short of, deletes the pod of a TaskManager it
//! lost, releases TaskManagers idle for `resourcemanager.taskmanager-timeout`, and keeps
//! `slotmanager.number-of-slots.min` slots' worth of pods. Pods come from the template in
//! `kubernetes.pod-template-file.taskmanager` (the operator writes it with the image,
//! environment, Secret references and resources) and are owned by the JobManager's pod (or
//! `kubernetes.jobmanager.owner.reference`), so they go with it. Pods that fail before they
//! register (a bad image, a crashing command) are deleted with the reason, and the pods kept
//! for the minimum are made again only after a growing pause.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use k8s_openapi::api::core::v1::{
    Container, EnvVar, EnvVarSource, ObjectFieldSelector, Pod, PodSpec,
};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use tokio::sync::mpsc;

use super::KubernetesOptions;
use super::api::{Kube, api_error, not_found};
use crate::cluster::ClusterConfig;
use crate::cluster::resources::ResourceManager;
use crate::error::{Result, RunnelError};

/// The name of the Runnel container in a TaskManager pod template.
pub(crate) const CONTAINER: &str = "taskmanager";
/// How often pending pods are checked for failures.
const POLL: Duration = Duration::from_secs(3);
/// The longest pause before the minimum's pods are made again after failed starts.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// Reasons a container waits with that no wait will cure.
const STUCK: [&str; 5] = [
    "ImagePullBackOff",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "CrashLoopBackOff",
];

/// Asks Kubernetes for TaskManager pods; the work happens on the client's runtime.
pub(crate) struct KubernetesResources {
    events: mpsc::UnboundedSender<Event>,
    pods: Arc<Mutex<Known>>,
}

/// The pods of this JobManager's TaskManagers, shared with the slot pool's thread so an idle
/// TaskManager is released (and forgotten by the pool) in one step.
#[derive(Default)]
struct Known {
    /// Created (or adopted), not registered yet.
    pending: BTreeSet<String>,
    registered: BTreeSet<String>,
    /// Pods kept whatever the load.
    min_pods: u32,
}

impl Known {
    fn count(&self) -> u32 {
        (self.pending.len() + self.registered.len()) as u32
    }
}

enum Event {
    Request(u32),
    Registered(String),
    Lost(String),
    Released(String),
}

impl ResourceManager for KubernetesResources {
    fn request_slots(&self, missing: u32) {
        let _ = self.events.send(Event::Request(missing));
    }

    fn task_manager_registered(&self, id: &str) {
        let _ = self.events.send(Event::Registered(id.into()));
    }

    fn task_manager_lost(&self, id: &str) {
        let _ = self.events.send(Event::Lost(id.into()));
    }

    /// Released above the minimum: forgotten here and by the slot pool now, its pod deleted
    /// next.
    fn task_manager_idle(&self, id: &str) -> bool {
        let mut known = self.pods.lock().expect("pods");
        let released = known.count() > known.min_pods && known.registered.remove(id);
        drop(known);
        if released {
            let _ = self.events.send(Event::Released(id.into()));
        }
        released
    }
}

impl KubernetesResources {
    /// Reads the template and starts the pod manager; pods of an earlier JobManager of the
    /// same cluster are adopted (their TaskManagers register with this one).
    pub(crate) fn start(
        kube: &Kube,
        k8s: KubernetesOptions,
        options: &BTreeMap<String, String>,
        config: &ClusterConfig,
    ) -> Result<Self> {
        let template = match options.get("kubernetes.pod-template-file.taskmanager") {
            Some(path) => {
                let text = std::fs::read_to_string(path.trim()).map_err(|e| {
                    RunnelError::io(
                        format!("kubernetes.pod-template-file.taskmanager {path}"),
                        e,
                    )
                })?;
                serde_yaml::from_str::<Pod>(&text).map_err(|e| {
                    RunnelError::Plan(format!(
                        "kubernetes.pod-template-file.taskmanager {path}: not a Pod: {e}"
                    ))
                })?
            }
            None => Pod::default(),
        };
        let image = options.get("kubernetes.container.image.ref").cloned();
        let has_image = template
            .spec
            .as_ref()
            .and_then(|s| s.containers.iter().find(|c| c.name == CONTAINER))
            .is_some_and(|c| c.image.is_some());
        if image.is_none() && !has_image {
            return Err(RunnelError::Plan(format!(
                "native Kubernetes needs the TaskManager image: 'kubernetes.container.image.ref', \
                 or a '{CONTAINER}' container with an image in the pod template"
            )));
        }
        let min_slots = match options.get("slotmanager.number-of-slots.min") {
            Some(v) => v.trim().parse().map_err(|_| {
                RunnelError::bad_option("slotmanager.number-of-slots.min", v, "a number of slots")
            })?,
            None => 0u32,
        };
        // What a TaskManager needs to find and serve this JobManager; jobs bring the rest.
        let mut args = vec!["taskmanager".to_string()];
        let mut set = |k: &str, v: &str| args.extend(["-D".into(), format!("{k}={v}")]);
        set("jobmanager.rpc.address", &config.rpc_address);
        set("jobmanager.rpc.port", &config.rpc_port.to_string());
        set("taskmanager.host", "$(POD_IP)");
        set("taskmanager.bind-host", "0.0.0.0");
        for (k, v) in options {
            let passed = (k.starts_with("taskmanager.") || k.starts_with("heartbeat."))
                && !matches!(
                    k.as_str(),
                    "taskmanager.host" | "taskmanager.bind-host" | "taskmanager.resource-id"
                );
            if passed {
                set(k, v);
            }
        }
        let (events, rx) = mpsc::unbounded_channel();
        let known = Arc::new(Mutex::new(Known {
            min_pods: min_slots.div_ceil(config.slots.max(1)),
            ..Default::default()
        }));
        let pods = Pods {
            api: Api::namespaced(kube.client(), &k8s.namespace),
            prefix: format!(
                "{}-taskmanager-{:04x}",
                k8s.cluster_id,
                crate::checkpoint::random_u64() as u16
            ),
            k8s,
            template,
            image,
            args,
            slots: config.slots.max(1),
            next: 0,
            known: known.clone(),
            failures: 0,
            pause_until: None,
        };
        Kube::spawn(pods.run(rx));
        Ok(KubernetesResources {
            events,
            pods: known,
        })
    }
}

/// The TaskManager pods of one JobManager.
struct Pods {
    api: Api<Pod>,
    k8s: KubernetesOptions,
    template: Pod,
    image: Option<String>,
    args: Vec<String>,
    slots: u32,
    prefix: String,
    next: u32,
    known: Arc<Mutex<Known>>,
    /// Pods that failed before registering since one last registered.
    failures: u32,
    /// No pod is made for the minimum before then (after failed starts).
    pause_until: Option<tokio::time::Instant>,
}

impl Pods {
    fn known(&self) -> MutexGuard<'_, Known> {
        self.known.lock().expect("pods")
    }

    async fn run(mut self, mut events: mpsc::UnboundedReceiver<Event>) {
        self.adopt().await;
        self.keep_minimum().await;
        let mut poll = tokio::time::interval(POLL);
        loop {
            let watch = {
                let known = self.known();
                !known.pending.is_empty() || known.count() < known.min_pods
            };
            tokio::select! {
                event = events.recv() => match event {
                    None => return,
                    Some(Event::Request(missing)) => {
                        let coming = self.known().pending.len() as u32 * self.slots;
                        let pods = missing.saturating_sub(coming).div_ceil(self.slots);
                        for _ in 0..pods {
                            self.create().await;
                        }
                    }
                    Some(Event::Registered(id)) => {
                        {
                            let mut known = self.known();
                            known.pending.remove(&id);
                            known.registered.insert(id);
                        }
                        self.failures = 0;
                        self.pause_until = None;
                    }
                    Some(Event::Lost(id)) => {
                        {
                            let mut known = self.known();
                            known.registered.remove(&id);
                            known.pending.remove(&id);
                        }
                        self.delete(&id).await;
                        self.keep_minimum().await;
                    }
                    Some(Event::Released(id)) => {
                        eprintln!("runnel: releasing idle TaskManager pod {id}");
                        self.delete(&id).await;
                    }
                },
                _ = poll.tick(), if watch => {
                    self.check_pending().await;
                    self.keep_minimum().await;
                }
            }
        }
    }

    fn selector(&self) -> String {
        format!("app={},component=taskmanager", self.k8s.cluster_id)
    }

    /// Counts the TaskManager pods already there (an earlier JobManager's) as coming; failed
    /// ones are deleted, and ones already going are left to go.
    async fn adopt(&mut self) {
        let list = match self
            .api
            .list(&ListParams::default().labels(&self.selector()))
            .await
        {
            Ok(list) => list,
            Err(e) => {
                eprintln!("runnel: listing TaskManager pods: {}", api_error("", e));
                return;
            }
        };
        for pod in list.items {
            let Some(name) = pod.metadata.name.clone() else {
                continue;
            };
            if pod.metadata.deletion_timestamp.is_some() {
                continue;
            }
            match failure(&pod) {
                Some(_) => self.delete(&name).await,
                None => {
                    eprintln!("runnel: adopting TaskManager pod {name}");
                    self.known().pending.insert(name);
                }
            }
        }
    }

    /// Makes pods up to the minimum, unless failed starts asked for a pause.
    async fn keep_minimum(&mut self) {
        if self
            .pause_until
            .is_some_and(|t| tokio::time::Instant::now() < t)
        {
            return;
        }
        loop {
            let short = {
                let known = self.known();
                known.count() < known.min_pods
            };
            if !short || !self.create().await {
                return;
            }
        }
    }

    /// Creates one pod; false when Kubernetes refused it (the reason is logged, and the job's
    /// slot request times out and restarts per its strategy).
    async fn create(&mut self) -> bool {
        self.next += 1;
        let name = format!("{}-{}", self.prefix, self.next);
        let pod = self.pod(&name);
        match self.api.create(&PostParams::default(), &pod).await {
            Ok(_) => {
                eprintln!("runnel: created TaskManager pod {name}");
                self.known().pending.insert(name);
                true
            }
            Err(e) => {
                eprintln!(
                    "runnel: {}",
                    api_error(format!("creating TaskManager pod {name}"), e)
                );
                false
            }
        }
    }

    async fn delete(&self, name: &str) {
        match self.api.delete(name, &DeleteParams::default()).await {
            Ok(_) => eprintln!("runnel: deleted TaskManager pod {name}"),
            Err(e) if not_found(&e) => {}
            Err(e) => eprintln!(
                "runnel: {}",
                api_error(format!("deleting TaskManager pod {name}"), e)
            ),
        }
    }

    /// Forgets pending pods that failed, are stuck, or vanished before registering (the
    /// failed and stuck ones deleted, with the reason); each failure doubles the pause before
    /// the minimum's pods are made again.
    async fn check_pending(&mut self) {
        let Ok(list) = self
            .api
            .list(&ListParams::default().labels(&self.selector()))
            .await
        else {
            return;
        };
        let mut alive = BTreeSet::new();
        for pod in &list.items {
            let Some(name) = &pod.metadata.name else {
                continue;
            };
            if pod.metadata.deletion_timestamp.is_some() {
                continue;
            }
            if let Some(reason) = failure(pod) {
                if self.known().pending.contains(name) {
                    eprintln!("runnel: TaskManager pod {name} failed before registering: {reason}");
                    self.delete(name).await;
                    self.failures += 1;
                    let pause = Duration::from_secs(1 << self.failures.min(9)).min(MAX_BACKOFF);
                    self.pause_until = Some(tokio::time::Instant::now() + pause);
                }
                continue;
            }
            alive.insert(name.clone());
        }
        self.known().pending.retain(|p| alive.contains(p));
    }

    /// The pod for `name`: the template with the cluster's labels, owners, image and command.
    fn pod(&self, name: &str) -> Pod {
        let mut pod = self.template.clone();
        let meta = &mut pod.metadata;
        meta.name = Some(name.into());
        meta.namespace = None;
        meta.labels
            .get_or_insert_with(BTreeMap::new)
            .extend(self.k8s.labels("taskmanager"));
        if !self.k8s.owners.is_empty() {
            meta.owner_references = Some(self.k8s.owners.clone());
        }
        let spec = pod.spec.get_or_insert_with(PodSpec::default);
        spec.restart_policy = Some("Never".into());
        if !spec.containers.iter().any(|c| c.name == CONTAINER) {
            spec.containers.insert(
                0,
                Container {
                    name: CONTAINER.into(),
                    ..Default::default()
                },
            );
        }
        let container = spec
            .containers
            .iter_mut()
            .find(|c| c.name == CONTAINER)
            .expect("added above");
        if let Some(image) = &self.image {
            container.image.get_or_insert_with(|| image.clone());
        }
        let mut args = self.args.clone();
        args.extend(["-D".into(), format!("taskmanager.resource-id={name}")]);
        container.args = Some(args);
        let env = container.env.get_or_insert_with(Vec::new);
        env.retain(|e| e.name != "POD_IP");
        env.insert(
            0,
            EnvVar {
                name: "POD_IP".into(),
                value_from: Some(EnvVarSource {
                    field_ref: Some(ObjectFieldSelector {
                        field_path: "status.podIP".into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            },
        );
        pod
    }
}

/// Why a pod will not come up: it failed, or a container waits for something no wait cures.
fn failure(pod: &Pod) -> Option<String> {
    let status = pod.status.as_ref()?;
    if status.phase.as_deref() == Some("Failed") {
        return Some(
            status
                .message
                .clone()
                .or(status.reason.clone())
                .unwrap_or_else(|| "the pod failed".into()),
        );
    }
    status
        .container_statuses
        .iter()
        .flatten()
        .filter_map(|c| c.state.as_ref()?.waiting.as_ref())
        .find(|w| w.reason.as_deref().is_some_and(|r| STUCK.contains(&r)))
        .map(|w| {
            let reason = w.reason.clone().unwrap_or_default();
            match &w.message {
                Some(m) => format!("{reason}: {m}"),
                None => reason,
            }
        })
}
