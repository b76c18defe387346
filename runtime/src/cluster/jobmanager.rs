//! `runnel jobmanager`: the gRPC control plane the TaskManagers register with, the JobMasters
//! of submitted jobs, and the REST API.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::AtomicU32;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tonic::{Request, Response, Status};

use super::config::flag;
use super::ha::{HaStore, JobRecord, Leadership};
use super::kubernetes::{self, Kube, KubernetesOptions, KubernetesResources};
use super::members::Members;
use super::proto;
use super::proto::job_manager_server::{JobManager as JobManagerRpc, JobManagerServer};
use super::remote::{JobSpec, RemoteDeployer};
use super::resources::{ResourceManager, Standalone};
use super::{ClusterConfig, plan_job};
use crate::checkpoint::{Location, RestorePoint};
use crate::error::{Result, RunnelError};
use crate::execution::{
    CheckpointHook, JobMaster, JobOptions, JobOutcome, JobRegistry, JobState, Replanner, new_job_id,
};
use crate::rest::{ClusterView, RestConfig, TaskManagerInfo};

/// A running JobManager.
pub struct JobManager {
    config: ClusterConfig,
    /// Its configuration: the base every job is planned on.
    options: BTreeMap<String, String>,
    members: Arc<Members>,
    jobs: JobRegistry,
    /// Numbers deployments, so channel ids never repeat in a TaskManager.
    deployments: Arc<AtomicU32>,
    rpc: SocketAddr,
    rest: OnceLock<SocketAddr>,
    ha: Option<HaStore>,
    /// Held while it leads.
    _leadership: Option<Leadership>,
}

impl JobManager {
    /// Starts a session cluster: the control plane on `jobmanager.rpc.port`, the watch over
    /// heartbeats, and the REST API on `rest.port` (default 8081).
    pub async fn start(options: BTreeMap<String, String>) -> Result<Arc<Self>> {
        Self::launch(options, false).await
    }

    /// Starts an application cluster for `script` and its job: with high availability a
    /// JobManager that takes over (or a new deployment of the same cluster id) runs the script
    /// it was given from the job's latest recorded checkpoint, and `None` comes back when the
    /// job already ended. With `execution.shutdown-on-application-finish: false` (as the
    /// operator runs it) a job that cannot start is reported FAILED by the REST API, with the
    /// reason, instead of ending the process.
    pub async fn start_application(
        options: BTreeMap<String, String>,
        script: String,
    ) -> Result<(Arc<Self>, Option<JobHandle>)> {
        let jm = Self::launch(options, true).await?;
        match jm.run_application(script) {
            Ok(job) => Ok((jm, job)),
            Err(e) if !jm.shutdown_on_application_finish()? => {
                let id = jm
                    .ha
                    .as_ref()
                    .map_or_else(new_job_id, |ha| ha.application_job_id());
                eprintln!("runnel: the application's job {id} cannot start: {e}");
                jm.jobs.add_failed(&id, "application", e.to_string());
                Ok((jm, None))
            }
            Err(e) => Err(e),
        }
    }

    /// `execution.shutdown-on-application-finish` (default true): whether the JobManager
    /// exits when the application's job ends.
    pub fn shutdown_on_application_finish(&self) -> Result<bool> {
        match self.options.get("execution.shutdown-on-application-finish") {
            None => Ok(true),
            Some(_) => flag(&self.options, "execution.shutdown-on-application-finish"),
        }
    }

    async fn launch(mut options: BTreeMap<String, String>, application: bool) -> Result<Arc<Self>> {
        let config = ClusterConfig::from_options(&options)?;
        let ha = HaStore::from_options(&options)?;
        // A standby serves nothing until it leads.
        let leadership = match &ha {
            Some(ha) => Some(ha.lead().await?),
            None => None,
        };
        let bind = config.rpc_bind()?;
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .map_err(|e| RunnelError::io(format!("JobManager: listening on {bind}"), e))?;
        let rpc = listener
            .local_addr()
            .map_err(|e| RunnelError::io("JobManager: its address", e))?;
        let resources: Box<dyn ResourceManager> = if kubernetes::is_native(&options)? {
            let k8s = KubernetesOptions::from_options(&options)?;
            Box::new(KubernetesResources::start(
                &Kube::connect()?,
                k8s,
                &options,
                &config,
            )?)
        } else {
            Box::new(Standalone)
        };
        let members = Arc::new(Members::new(resources));
        let service = Service {
            members: members.clone(),
        };
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(JobManagerServer::new(service))
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
        );
        let watch = members.clone();
        let (interval, timeout, idle) = (
            config.heartbeat_interval,
            config.heartbeat_timeout,
            config.idle_timeout,
        );
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval / 2);
            loop {
                tick.tick().await;
                watch.expire(timeout);
                watch.release_idle(idle);
            }
        });
        options
            .entry("rest.port".into())
            .or_insert_with(|| "8081".into());
        let jm = Arc::new(JobManager {
            config,
            options,
            members,
            jobs: JobRegistry::default(),
            // A random start: TaskManagers that outlive a JobManager still drop late frames
            // of its deployments by number, so the next one must not reuse them.
            deployments: Arc::new(AtomicU32::new(crate::checkpoint::random_u64() as u32)),
            rpc,
            rest: OnceLock::new(),
            ha: ha.clone(),
            _leadership: leadership,
        });
        if let Some(rc) = RestConfig::from_options(&jm.options)? {
            let addr = crate::rest::serve(&rc, jm.jobs.clone(), jm.clone()).await?;
            let _ = jm.rest.set(addr);
        }
        if let Some(ha) = &ha {
            let advertised = SocketAddr::new(
                jm.config.rpc_address.parse().unwrap_or(rpc.ip()),
                rpc.port(),
            );
            ha.publish_leader(&advertised.to_string())?;
            eprintln!("runnel: JobManager leads the cluster; recovering its jobs");
            let skip = application.then(|| ha.application_job_id());
            jm.recover(ha, skip.as_deref())?;
        }
        eprintln!("runnel: JobManager listening for TaskManagers at {rpc}");
        if let Some(addr) = jm.rest.get() {
            eprintln!("runnel: REST API at http://{addr}");
        }
        Ok(jm)
    }

    /// Where TaskManagers register.
    pub fn rpc_address(&self) -> SocketAddr {
        self.rpc
    }

    /// Where the REST API listens.
    pub fn rest_address(&self) -> Option<SocketAddr> {
        self.rest.get().copied()
    }

    /// Plans and starts a job on the cluster; returns its id and the JobMaster's outcome.
    /// The JobManager's options come first, then the submission's, then the script's `SET`s.
    pub fn submit(&self, spec: JobSpec) -> Result<(String, JobHandle)> {
        let job_id = new_job_id();
        let handle = self.start_job(job_id.clone(), spec, None)?;
        eprintln!("runnel: job {job_id} submitted");
        Ok((job_id, handle))
    }

    /// Application mode: runs the script given at start as the cluster's one job. With high
    /// availability its id is fixed by the cluster id, so a JobManager that takes over finds
    /// its record: a running job resumes from its latest checkpoint (with this script, which
    /// may be a new version of it), an ended one is not run again (`None`).
    fn run_application(&self, script: String) -> Result<Option<JobHandle>> {
        let spec = JobSpec {
            script,
            config: BTreeMap::new(),
        };
        let Some(ha) = &self.ha else {
            return self.submit(spec).map(|(_, h)| Some(h));
        };
        let job_id = ha.application_job_id();
        let Some(record) = ha.jobs()?.into_iter().find(|j| j.id == job_id) else {
            return self.start_job(job_id, spec, None).map(Some);
        };
        if record.state != JobState::Running.name() {
            eprintln!(
                "runnel: the application's job {job_id} already ended ({})",
                record.state
            );
            return Ok(None);
        }
        let point = record
            .checkpoint
            .as_deref()
            .map(|dir| Self::recorded_checkpoint(&job_id, dir))
            .transpose()?;
        self.start_job(job_id, spec, point.flatten()).map(Some)
    }

    /// Opens a job's recorded checkpoint (`None` when it has none yet, so it starts as
    /// submitted); one that cannot be read is an error, never a silent fresh start.
    fn recorded_checkpoint(id: &str, dir: &str) -> Result<Option<RestorePoint>> {
        let point = Location::parse("HA checkpoint pointer", dir)
            .and_then(|l| RestorePoint::open(&l))
            .map_err(|e| {
                RunnelError::State(format!("job {id}: its recorded checkpoint {dir}: {e}"))
            })?;
        eprintln!(
            "runnel: recovering job {id} from checkpoint {} at {}",
            point.metadata.checkpoint_id, point.dir
        );
        Ok(Some(point))
    }

    /// Starts a job: from `recovered` (a checkpoint it took before a failover, which it then
    /// owns) or else from `execution.savepoint.path`, if set. The HA store records the job's
    /// own options (`submitted`), never the JobManager's (its REST token, say): a JobManager
    /// that takes over plans it with its own.
    fn start_job(
        &self,
        job_id: String,
        submitted: JobSpec,
        recovered: Option<RestorePoint>,
    ) -> Result<JobHandle> {
        let mut config = self.options.clone();
        config.extend(submitted.config.clone());
        let spec = JobSpec {
            script: submitted.script.clone(),
            config,
        };
        let job = plan_job(&spec)?;
        let claim = recovered.is_some();
        let restore = match (recovered, spec.config.get("execution.savepoint.path")) {
            (Some(point), _) => Some(point),
            (None, Some(p)) => Some(RestorePoint::open(&Location::parse(
                "execution.savepoint.path",
                p,
            )?)?),
            (None, None) => None,
        };
        let allow_non_restored_state =
            flag(&spec.config, "execution.savepoint.ignore-unclaimed-state")?;
        let checkpoint_hook = match &self.ha {
            Some(ha) => {
                if !claim {
                    ha.save(&JobRecord {
                        id: job_id.clone(),
                        script: submitted.script,
                        config: submitted.config,
                        state: JobState::Running.name().into(),
                        checkpoint: None,
                    })?;
                }
                let (ha, id) = (ha.clone(), job_id.clone());
                let hook: CheckpointHook = Arc::new(move |dir: &Location| {
                    ha.update(&id, |j| j.checkpoint = Some(dir.to_string()))
                });
                Some(hook)
            }
            None => None,
        };
        // Rescaling plans the same SQL at another parallelism; with HA the record keeps it,
        // so a JobManager that takes over plans the job as it runs now.
        let replan: Replanner = {
            let (spec, ha, id) = (spec.clone(), self.ha.clone(), job_id.clone());
            Arc::new(move |parallelism: u32| {
                let mut spec = spec.clone();
                spec.config
                    .insert("parallelism.default".into(), parallelism.to_string());
                let graph = plan_job(&spec)?.graph;
                if let Some(ha) = &ha {
                    ha.update(&id, |j| {
                        j.config
                            .insert("parallelism.default".into(), parallelism.to_string());
                    })?;
                }
                Ok(graph)
            })
        };
        let (commands, rx) = mpsc::unbounded_channel();
        let options = JobOptions {
            job_id: Some(job_id.clone()),
            checkpoint: Some(job.checkpoint),
            restart: Some(job.restart),
            registry: Some(self.jobs.clone()),
            commands: Some(rx),
            restore,
            claim_restored: claim,
            allow_non_restored_state,
            checkpoint_hook,
            replan: Some(replan),
        };
        let master = JobMaster::with_options(job.graph, options);
        self.jobs.attach(&job_id, commands);
        // TaskManagers serve no REST API: its options (the token) stay here.
        let mut for_task_managers = spec;
        for_task_managers
            .config
            .retain(|k, _| !k.starts_with("rest."));
        let deployer = RemoteDeployer::new(
            self.members.clone(),
            for_task_managers,
            job_id.clone(),
            &self.config,
            self.deployments.clone(),
        );
        let (ha, jobs) = (self.ha.clone(), self.jobs.clone());
        Ok(tokio::spawn(async move {
            let outcome = master.run_on(&deployer).await;
            match &outcome {
                Ok(o) if o.cancelled => eprintln!("runnel: job {job_id} cancelled"),
                Ok(o) => eprintln!(
                    "runnel: job {job_id} finished in {} ms",
                    o.duration.as_millis()
                ),
                Err(e) => eprintln!("runnel: job {job_id} failed: {e}"),
            }
            if let (Some(ha), Some(info)) = (&ha, jobs.job(&job_id)) {
                let state = info.state.name().to_string();
                if let Err(e) = ha.update(&job_id, |j| j.state.clone_from(&state)) {
                    eprintln!("runnel: recording the end of job {job_id}: {e}");
                }
            }
            outcome
        }))
    }

    /// Resumes the jobs the HA store records as running (but the application's, `skip`, which
    /// [`JobManager::run_application`] resumes with its script), each from its latest
    /// checkpoint (a job without one starts as it was submitted). A job whose recorded
    /// checkpoint cannot be read fails with the reason instead of starting without its state.
    fn recover(&self, ha: &HaStore, skip: Option<&str>) -> Result<()> {
        for record in ha.jobs()? {
            if record.state != JobState::Running.name() || Some(record.id.as_str()) == skip {
                continue;
            }
            let id = record.id.clone();
            let spec = JobSpec {
                script: record.script,
                config: record.config,
            };
            let started = match &record.checkpoint {
                None => {
                    eprintln!("runnel: recovering job {id} (no checkpoint yet)");
                    Ok(None)
                }
                Some(dir) => Self::recorded_checkpoint(&id, dir),
            }
            .and_then(|point| self.start_job(id.clone(), spec, point));
            match started {
                // The JobMaster runs on; its outcome is recorded when it ends.
                Ok(_running) => {}
                Err(e) => {
                    eprintln!("runnel: cannot recover job {id}: {e}");
                    let failed = JobState::Failed.name().to_string();
                    if let Err(e) = ha.update(&id, |j| j.state.clone_from(&failed)) {
                        eprintln!("runnel: recording the failure of job {id}: {e}");
                    }
                }
            }
        }
        Ok(())
    }
}

/// A job's JobMaster, to its outcome.
pub type JobHandle = JoinHandle<Result<JobOutcome>>;

impl ClusterView for JobManager {
    fn task_managers(&self) -> Vec<TaskManagerInfo> {
        self.members.infos()
    }

    fn submit_sql(&self, script: String, config: BTreeMap<String, String>) -> Result<String> {
        self.submit(JobSpec { script, config }).map(|(id, _)| id)
    }
}

/// The control plane's server side.
struct Service {
    members: Arc<Members>,
}

#[tonic::async_trait]
impl JobManagerRpc for Service {
    type RegisterStream = InstructionStream;

    async fn register(
        &self,
        request: Request<proto::RegisterRequest>,
    ) -> Result<Response<Self::RegisterStream>, Status> {
        let req = request.into_inner();
        if req.task_manager_id.is_empty() || req.slots == 0 {
            return Err(Status::invalid_argument(
                "a TaskManager registers with an id and at least one slot",
            ));
        }
        if req.data_address.parse::<SocketAddr>().is_err() {
            return Err(Status::invalid_argument(format!(
                "data address '{}' is not host:port",
                req.data_address
            )));
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let epoch = self.members.register(&req, tx);
        Ok(Response::new(InstructionStream {
            rx,
            members: self.members.clone(),
            id: req.task_manager_id,
            epoch,
        }))
    }

    async fn report(
        &self,
        request: Request<proto::ReportRequest>,
    ) -> Result<Response<proto::ReportResponse>, Status> {
        let req = request.into_inner();
        for update in req.updates {
            self.members
                .update(&req.task_manager_id, update)
                .map_err(|e| Status::invalid_argument(e.to_string()))?;
        }
        Ok(Response::new(proto::ReportResponse {}))
    }

    async fn heartbeat(
        &self,
        request: Request<proto::HeartbeatRequest>,
    ) -> Result<Response<proto::HeartbeatResponse>, Status> {
        let known = self.members.heartbeat(&request.get_ref().task_manager_id);
        Ok(Response::new(proto::HeartbeatResponse { known }))
    }
}

/// The instructions of one registration; when the TaskManager's connection closes, tonic
/// drops it and the TaskManager is lost at once (no need to wait for the heartbeat timeout).
pub(crate) struct InstructionStream {
    rx: mpsc::UnboundedReceiver<Result<proto::Instruction, Status>>,
    members: Arc<Members>,
    id: String,
    epoch: u64,
}

impl futures_util::Stream for InstructionStream {
    type Item = Result<proto::Instruction, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

impl Drop for InstructionStream {
    fn drop(&mut self) {
        self.members
            .lose(&self.id, Some(self.epoch), "its connection closed");
    }
}
