//! The HA records of a cluster in a ConfigMap (`<cluster-id>-cluster-config-map`): the
//! leader's address under `leader` and its identity under `leader-id`, and each job under
//! `job-<id>` (its SQL, its own options, its state and the folder of its latest completed
//! checkpoint). A JobManager writes job records only while `leader-id` names it: a leader that
//! a successor replaced (one frozen past its Lease, say) cannot record a checkpoint pointer
//! over the successor's, and exits instead. The ConfigMap has no owner:
//! it outlives the JobManager's Deployment, which is what lets a new Deployment resume the
//! job from its latest checkpoint (`upgradeMode: last-state`); the operator deletes it with
//! the resource.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};
use kube::core::ObjectMeta;

use super::KubernetesOptions;
use super::api::{Kube, api_error, conflict};
use super::lease::{self, LeaseHolder};
use crate::cluster::ha::JobRecord;
use crate::error::{Result, RunnelError};

const JOB_PREFIX: &str = "job-";
const LEADER_ID: &str = "leader-id";

/// A cluster's HA ConfigMap.
#[derive(Clone, Debug)]
pub(crate) struct KubeStore {
    kube: Kube,
    options: KubernetesOptions,
    timing: runnel_lease::Timing,
    /// This JobManager's identity in the Lease, once it leads.
    identity: Arc<OnceLock<String>>,
}

impl KubeStore {
    pub(crate) fn new(
        kube: Kube,
        options: KubernetesOptions,
        timing: runnel_lease::Timing,
    ) -> Self {
        KubeStore {
            kube,
            options,
            timing,
            identity: Arc::default(),
        }
    }

    /// The cluster id, which fixes the application job's id.
    pub(crate) fn cluster_id(&self) -> &str {
        &self.options.cluster_id
    }

    fn name(&self) -> String {
        format!("{}-cluster-config-map", self.options.cluster_id)
    }

    fn api(&self) -> Api<ConfigMap> {
        Api::namespaced(self.kube.client(), &self.options.namespace)
    }

    /// Waits until this JobManager holds the cluster's Lease.
    pub(crate) async fn lead(&self) -> Result<LeaseHolder> {
        let identity = std::env::var("POD_NAME")
            .or_else(|_| std::env::var("HOSTNAME"))
            .unwrap_or_else(|_| "jobmanager".into());
        let identity = format!("{identity}-{:08x}", crate::checkpoint::random_u64() as u32);
        let holder =
            lease::acquire(&self.kube, &self.options, identity.clone(), self.timing).await?;
        let _ = self.identity.set(identity);
        Ok(holder)
    }

    /// Changes the ConfigMap's data with `f`, creating it when missing: one read and one write,
    /// again (with `f` applied to what is there then) when the write lost a race.
    fn modify(&self, mut f: impl FnMut(&mut BTreeMap<String, String>) -> Result<()>) -> Result<()> {
        let name = self.name();
        for _ in 0..10 {
            let mut cm = match self.get()? {
                Some(cm) => cm,
                None => {
                    let mut labels = self.options.labels("jobmanager");
                    labels.insert("configmap-type".into(), "high-availability".into());
                    ConfigMap {
                        metadata: ObjectMeta {
                            name: Some(name.clone()),
                            labels: Some(labels),
                            ..Default::default()
                        },
                        ..Default::default()
                    }
                }
            };
            f(cm.data.get_or_insert_with(BTreeMap::new))?;
            let (api, create) = (self.api(), cm.metadata.resource_version.is_none());
            let written = Kube::block(async move {
                if create {
                    api.create(&PostParams::default(), &cm).await
                } else {
                    let name = cm.metadata.name.clone().unwrap_or_default();
                    api.replace(&name, &PostParams::default(), &cm).await
                }
            });
            match written {
                Ok(_) => return Ok(()),
                Err(e) if conflict(&e) => continue,
                Err(e) => return Err(api_error(format!("writing ConfigMap {name}"), e)),
            }
        }
        Err(RunnelError::Cluster(format!(
            "ConfigMap {name}: ten writes in a row lost a race with another writer"
        )))
    }

    /// The ConfigMap, if it exists.
    fn get(&self) -> Result<Option<ConfigMap>> {
        let (api, name) = (self.api(), self.name());
        Kube::block(async move {
            api.get_opt(&name)
                .await
                .map_err(|e| api_error(format!("reading ConfigMap {name}"), e))
        })
    }

    /// Publishes the leader's control-plane address and identity: from then on, only this
    /// JobManager writes job records.
    pub(crate) fn publish_leader(&self, rpc: &str) -> Result<()> {
        let identity = self.identity.get().cloned().unwrap_or_default();
        self.modify(|data| {
            data.insert("leader".into(), rpc.to_string());
            data.insert(LEADER_ID.into(), identity.clone());
            Ok(())
        })
    }

    /// Changes job records with `f` while the ConfigMap names this JobManager the leader; a
    /// JobManager another replaced exits rather than write over its successor's records.
    fn modify_as_leader(
        &self,
        mut f: impl FnMut(&mut BTreeMap<String, String>) -> Result<()>,
    ) -> Result<()> {
        let Some(me) = self.identity.get() else {
            return self.modify(f);
        };
        self.modify(|data| {
            let named = data.get(LEADER_ID).map(String::as_str).unwrap_or("");
            if named != me.as_str() {
                eprintln!(
                    "runnel: JobManager {me} no longer leads cluster {} (its HA ConfigMap names \
                     '{named}'); exiting",
                    self.options.cluster_id
                );
                std::process::exit(1);
            }
            f(data)
        })
    }

    /// Records a job (replacing its record).
    pub(crate) fn save(&self, job: &JobRecord) -> Result<()> {
        let (key, json) = (
            format!("{JOB_PREFIX}{}", job.id),
            serde_json::to_string(job).expect("job records encode as JSON"),
        );
        self.modify_as_leader(|data| {
            data.insert(key.clone(), json.clone());
            Ok(())
        })
    }

    /// Changes a recorded job (`f` runs again on the record as it is then if the write lost a
    /// race).
    pub(crate) fn update(&self, id: &str, f: impl Fn(&mut JobRecord)) -> Result<()> {
        let key = format!("{JOB_PREFIX}{id}");
        let name = self.name();
        self.modify_as_leader(|data| {
            let text = data.get(&key).ok_or_else(|| {
                RunnelError::State(format!("HA ConfigMap {name}: no record of job {id}"))
            })?;
            let mut job: JobRecord = serde_json::from_str(text)
                .map_err(|e| RunnelError::State(format!("HA ConfigMap {name}: {key}: {e}")))?;
            f(&mut job);
            data.insert(
                key.clone(),
                serde_json::to_string(&job).expect("job records encode as JSON"),
            );
            Ok(())
        })
    }

    /// Every recorded job; unreadable records are reported and skipped.
    pub(crate) fn jobs(&self) -> Result<Vec<JobRecord>> {
        let mut jobs = Vec::new();
        let data = self.get()?.and_then(|cm| cm.data).unwrap_or_default();
        for (key, text) in data {
            if !key.starts_with(JOB_PREFIX) {
                continue;
            }
            match serde_json::from_str(&text) {
                Ok(job) => jobs.push(job),
                Err(e) => eprintln!("runnel: HA ConfigMap {}: skipping {key}: {e}", self.name()),
            }
        }
        Ok(jobs)
    }
}
