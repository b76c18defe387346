//! Where a job runs: its own cluster (application mode: deploying is making the cluster, and
//! stopping is deleting it), or a `FlinkSession` (deploying is submitting the SQL over REST,
//! stopping is cancelling or stopping the job there). The lifecycle in `steps` runs the same
//! way on both.

use std::collections::BTreeMap;

use kube::Resource;
use kube::api::Api;
use runnel_crds::{FlinkJob, FlinkJobSpec, FlinkSession, JobManagerDeploymentStatus};

use crate::cluster::{self, Cluster, Script, Workload};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::rest::{self, Endpoint, JobOverview};

/// Where a job runs.
pub enum Placement {
    /// Its own cluster, named after the resource.
    Own,
    /// The JobManager of a `FlinkSession`.
    Session { session: String },
}

/// What the JobManager says of the job, or why it cannot say.
pub struct Observed {
    pub jobmanager: JobManagerDeploymentStatus,
    /// The resource generation the JobManager Deployment was made for (own cluster only).
    pub made_for: Option<i64>,
    /// The `parallelism.default` the JobManager Deployment gives its job (own cluster only).
    pub deployed_parallelism: Option<i64>,
    /// The job, when the REST API answered and knows it.
    pub job: Option<JobOverview>,
    /// Why the REST API could not be asked (the JobManager is starting, or gone).
    pub unreachable: Option<String>,
}

impl Observed {
    pub fn state(&self) -> Option<&str> {
        self.job.as_ref().map(|j| j.state.as_str())
    }
}

impl Placement {
    pub fn of(job: &FlinkJob) -> Self {
        match &job.spec.session_ref {
            Some(session) => Placement::Session {
                session: session.clone(),
            },
            None => Placement::Own,
        }
    }

    /// The name of the cluster the job runs on.
    fn cluster(&self, job: &FlinkJob) -> String {
        match self {
            Placement::Own => job.metadata.name.clone().unwrap_or_default(),
            Placement::Session { session } => session.clone(),
        }
    }

    /// The REST API, for reading.
    pub fn reader(&self, job: &FlinkJob) -> Endpoint {
        let ns = job.metadata.namespace.as_deref().unwrap_or("default");
        Endpoint {
            base: rest::base_url(&self.cluster(job), ns),
            token: None,
        }
    }

    /// The REST API with the cluster's token, for calls that change a job.
    pub async fn writer(&self, ctx: &Context, job: &FlinkJob) -> Result<Endpoint> {
        let ns = job.metadata.namespace.as_deref().unwrap_or("default");
        let token = cluster::token(&ctx.client, ns, &self.cluster(job)).await?;
        Ok(Endpoint {
            token,
            ..self.reader(job)
        })
    }

    /// The job's name in its JobManager: how a session job is found again after an operator
    /// restart (its id is recorded only after the submission answers).
    pub fn pipeline_name(job: &FlinkJob) -> String {
        format!(
            "{}.{}",
            job.metadata.namespace.as_deref().unwrap_or("default"),
            job.metadata.name.as_deref().unwrap_or_default()
        )
    }

    /// Looks at the JobManager and the job (`job_id` when known).
    pub async fn observe(
        &self,
        ctx: &Context,
        job: &FlinkJob,
        job_id: Option<&str>,
    ) -> Result<Observed> {
        let (jobmanager, made_for, deployed_parallelism) = self.jobmanager(ctx, job).await?;
        if jobmanager == JobManagerDeploymentStatus::Missing {
            return Ok(Observed {
                jobmanager,
                made_for,
                deployed_parallelism,
                job: None,
                unreachable: Some("no JobManager".into()),
            });
        }
        match ctx.rest.jobs(&self.reader(job)).await {
            Ok(jobs) => {
                let pipeline = Self::pipeline_name(job);
                let found = match (self, job_id) {
                    (_, Some(id)) => jobs.into_iter().find(|j| j.jid == id),
                    // The application's one job.
                    (Placement::Own, None) => jobs.into_iter().next(),
                    // A submission whose answer was lost: the newest live job of this name.
                    (Placement::Session { .. }, None) => jobs
                        .into_iter()
                        .filter(|j| j.name == pipeline && !terminal(&j.state))
                        .max_by_key(|j| j.start_time),
                };
                Ok(Observed {
                    jobmanager,
                    made_for,
                    deployed_parallelism,
                    job: found,
                    unreachable: None,
                })
            }
            Err(e) => Ok(Observed {
                jobmanager,
                made_for,
                deployed_parallelism,
                job: None,
                unreachable: Some(e.to_string()),
            }),
        }
    }

    /// The JobManager's Deployment (its own, or the session's): its status, the generation
    /// it was made for and its parallelism. A session that does not exist is
    /// [`Error::Invalid`].
    async fn jobmanager(
        &self,
        ctx: &Context,
        job: &FlinkJob,
    ) -> Result<(JobManagerDeploymentStatus, Option<i64>, Option<i64>)> {
        let ns = job.metadata.namespace.as_deref().unwrap_or("default");
        Ok(match self {
            Placement::Own => {
                let name = job.metadata.name.as_deref().unwrap_or_default();
                let jm = cluster::jobmanager_state(&ctx.client, ns, name).await?;
                (jm.status, jm.made_for, jm.parallelism)
            }
            Placement::Session { session } => {
                let api: Api<FlinkSession> = Api::namespaced(ctx.client.clone(), ns);
                match api
                    .get_opt(session)
                    .await
                    .map_err(|e| Error::kube(format!("reading FlinkSession {ns}/{session}"), e))?
                {
                    None => {
                        return Err(Error::Invalid(format!(
                            "FlinkSession {ns}/{session} (spec.sessionRef) does not exist"
                        )));
                    }
                    Some(s) => (
                        s.status
                            .and_then(|s| s.job_manager_deployment_status)
                            .unwrap_or(JobManagerDeploymentStatus::Deploying),
                        None,
                        None,
                    ),
                }
            }
        })
    }

    /// Makes the deployment of `spec` (restoring `restore`).
    pub async fn deploy(
        &self,
        ctx: &Context,
        job: &FlinkJob,
        spec: &FlinkJobSpec,
        restore: Option<String>,
    ) -> Result<Option<String>> {
        let ns = job.metadata.namespace.as_deref().unwrap_or("default");
        let name = job.metadata.name.clone().unwrap_or_default();
        let l = &spec.job.lifecycle;
        match self {
            Placement::Own => {
                let script = match (&spec.job.sql, &spec.job.sql_from, &spec.job.args) {
                    (Some(sql), _, _) => Script::Inline(sql.clone()),
                    (_, Some(from), _) => Script::ConfigMap {
                        name: from.config_map_key_ref.name.clone(),
                        key: from.config_map_key_ref.key.clone(),
                    },
                    (_, _, Some(args)) => Script::Args(args.clone()),
                    _ => return Err(Error::Invalid("spec.job needs sql, sqlFrom or args".into())),
                };
                let owner = job
                    .controller_owner_ref(&())
                    .ok_or_else(|| Error::Invalid("the resource has no uid yet".into()))?;
                let cluster = Cluster {
                    name: &name,
                    namespace: ns,
                    owner,
                    generation: job.metadata.generation.unwrap_or(0),
                    spec: &spec.cluster,
                    workload: Workload::Application {
                        script,
                        parallelism: l.parallelism,
                        restore,
                        allow_non_restored_state: l.allow_non_restored_state,
                    },
                };
                cluster::apply(&ctx.client, ns, &cluster.objects()).await?;
                Ok(None)
            }
            Placement::Session { .. } => {
                let script = match (&spec.job.sql, &spec.job.sql_from) {
                    (Some(sql), _) => sql.clone(),
                    (_, Some(from)) => {
                        read_config_map_key(
                            ctx,
                            ns,
                            &from.config_map_key_ref.name,
                            &from.config_map_key_ref.key,
                        )
                        .await?
                    }
                    _ => {
                        return Err(Error::Invalid(
                            "a job in a session needs spec.job.sql or spec.job.sqlFrom".into(),
                        ));
                    }
                };
                let mut config: BTreeMap<String, String> = spec.cluster.flink_configuration.clone();
                config.insert("pipeline.name".into(), Self::pipeline_name(job));
                if let Some(p) = l.parallelism {
                    config.insert("parallelism.default".into(), p.to_string());
                }
                if let Some(path) = restore {
                    config.insert("execution.savepoint.path".into(), path);
                }
                if l.allow_non_restored_state {
                    config.insert(
                        "execution.savepoint.ignore-unclaimed-state".into(),
                        "true".into(),
                    );
                }
                ctx.rest
                    .submit_sql(&self.writer(ctx, job).await?, &script, &config)
                    .await
                    .map(Some)
            }
        }
    }

    /// Takes the running job down without a savepoint (its own cluster: deleted; a session
    /// job: cancelled); true once it is gone. `keep_ha` keeps the HA records (last-state).
    pub async fn stop(
        &self,
        ctx: &Context,
        job: &FlinkJob,
        job_id: Option<&str>,
        keep_ha: bool,
    ) -> Result<bool> {
        let ns = job.metadata.namespace.as_deref().unwrap_or("default");
        match self {
            Placement::Own => {
                let name = job.metadata.name.clone().unwrap_or_default();
                let gone = cluster::stop(&ctx.client, ns, &name).await?;
                if gone && !keep_ha {
                    cluster::forget_ha(&ctx.client, ns, &name).await?;
                }
                Ok(gone)
            }
            Placement::Session { .. } => {
                match self.jobmanager(ctx, job).await {
                    // The session is gone, and its jobs with it.
                    Err(Error::Invalid(_)) => return Ok(true),
                    Err(e) => return Err(e),
                    Ok((JobManagerDeploymentStatus::Missing, ..)) => return Ok(false),
                    Ok(_) => {}
                }
                // A JobManager that does not answer: wait for it.
                let Ok(jobs) = ctx.rest.jobs(&self.reader(job)).await else {
                    return Ok(false);
                };
                // Every live job of this resource, not only the recorded one: a submission
                // whose answer was lost left one that the status does not name.
                let pipeline = Self::pipeline_name(job);
                let live: Vec<String> = jobs
                    .into_iter()
                    .filter(|j| {
                        (j.name == pipeline || Some(j.jid.as_str()) == job_id)
                            && !terminal(&j.state)
                    })
                    .map(|j| j.jid)
                    .collect();
                if live.is_empty() {
                    return Ok(true);
                }
                let writer = self.writer(ctx, job).await?;
                for jid in live {
                    ctx.rest.cancel(&writer, &jid).await?;
                }
                Ok(false)
            }
        }
    }

    /// The checkpoint high availability recorded for the job (own cluster only).
    pub async fn ha_checkpoint(
        &self,
        ctx: &Context,
        job: &FlinkJob,
    ) -> Result<Option<cluster::HaCheckpoint>> {
        let Placement::Own = self else {
            return Ok(None);
        };
        let ns = job.metadata.namespace.as_deref().unwrap_or("default");
        let name = job.metadata.name.clone().unwrap_or_default();
        Ok(cluster::ha_config_map(&ctx.client, ns, &name)
            .await?
            .as_ref()
            .and_then(cluster::ha_checkpoint))
    }
}

/// Flink's terminal job states.
pub fn terminal(state: &str) -> bool {
    matches!(state, "FINISHED" | "FAILED" | "CANCELED")
}

async fn read_config_map_key(ctx: &Context, ns: &str, name: &str, key: &str) -> Result<String> {
    let api: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(ctx.client.clone(), ns);
    let cm = api
        .get_opt(name)
        .await
        .map_err(|e| Error::kube(format!("reading ConfigMap {ns}/{name}"), e))?
        .ok_or_else(|| {
            Error::Invalid(format!(
                "ConfigMap {ns}/{name} (spec.job.sqlFrom) does not exist"
            ))
        })?;
    cm.data.and_then(|mut d| d.remove(key)).ok_or_else(|| {
        Error::Invalid(format!(
            "ConfigMap {ns}/{name} has no key '{key}' (spec.job.sqlFrom)"
        ))
    })
}
