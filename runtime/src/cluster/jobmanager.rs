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

use super::members::Members;
use super::proto;
use super::proto::job_manager_server::{JobManager as JobManagerRpc, JobManagerServer};
use super::remote::{JobSpec, RemoteDeployer};
use super::{ClusterConfig, plan_job};
use crate::checkpoint::{Location, RestorePoint};
use crate::error::{Result, RunnelError};
use crate::execution::{JobMaster, JobOptions, JobOutcome, JobRegistry, new_job_id};
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
}

impl JobManager {
    /// Starts the control plane on `jobmanager.rpc.port`, the watch over heartbeats, and the
    /// REST API on `rest.port` (default 8081).
    pub async fn start(mut options: BTreeMap<String, String>) -> Result<Arc<Self>> {
        let config = ClusterConfig::from_options(&options)?;
        let bind = config.rpc_bind()?;
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .map_err(|e| RunnelError::io(format!("JobManager: listening on {bind}"), e))?;
        let rpc = listener
            .local_addr()
            .map_err(|e| RunnelError::io("JobManager: its address", e))?;
        let members = Arc::new(Members::default());
        let service = Service {
            members: members.clone(),
        };
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(JobManagerServer::new(service))
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
        );
        let watch = members.clone();
        let (interval, timeout) = (config.heartbeat_interval, config.heartbeat_timeout);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval / 2);
            loop {
                tick.tick().await;
                watch.expire(timeout);
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
            deployments: Arc::default(),
            rpc,
            rest: OnceLock::new(),
        });
        if let Some(rc) = RestConfig::from_options(&jm.options)? {
            let addr = crate::rest::serve(&rc, jm.jobs.clone(), jm.clone()).await?;
            let _ = jm.rest.set(addr);
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
    pub fn submit(&self, spec: JobSpec) -> Result<(String, JoinHandle<Result<JobOutcome>>)> {
        let mut config = self.options.clone();
        config.extend(spec.config);
        let spec = JobSpec {
            script: spec.script,
            config,
        };
        let job = plan_job(&spec)?;
        let restore = match spec.config.get("execution.savepoint.path") {
            Some(p) => Some(RestorePoint::open(&Location::parse(
                "execution.savepoint.path",
                p,
            )?)?),
            None => None,
        };
        let allow_non_restored_state = match spec
            .config
            .get("execution.savepoint.ignore-unclaimed-state")
            .map(|v| v.trim())
        {
            None | Some("false") => false,
            Some("true") => true,
            Some(v) => {
                return Err(RunnelError::bad_option(
                    "execution.savepoint.ignore-unclaimed-state",
                    v,
                    "true or false",
                ));
            }
        };
        let (commands, rx) = mpsc::unbounded_channel();
        let job_id = new_job_id();
        let options = JobOptions {
            job_id: Some(job_id.clone()),
            checkpoint: Some(job.checkpoint),
            restart: Some(job.restart),
            registry: Some(self.jobs.clone()),
            commands: Some(rx),
            restore,
            allow_non_restored_state,
            ..JobOptions::default()
        };
        let master = JobMaster::with_options(job.graph, options);
        self.jobs.attach(&job_id, commands);
        let deployer = RemoteDeployer::new(
            self.members.clone(),
            spec,
            job_id.clone(),
            &self.config,
            self.deployments.clone(),
        );
        let id = job_id.clone();
        let handle = tokio::spawn(async move {
            let outcome = master.run_on(&deployer).await;
            match &outcome {
                Ok(o) if o.cancelled => eprintln!("runnel: job {id} cancelled"),
                Ok(o) => eprintln!("runnel: job {id} finished in {} ms", o.duration.as_millis()),
                Err(e) => eprintln!("runnel: job {id} failed: {e}"),
            }
            outcome
        });
        eprintln!("runnel: job {job_id} submitted");
        Ok((job_id, handle))
    }
}

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
