//! High availability: one JobManager of a cluster leads at a time, and the jobs it runs are
//! recorded with a pointer to their latest completed checkpoint, so a JobManager that takes
//! over resumes every job where it was. Two stores: a shared directory
//! (`high-availability.type: filesystem`) and Kubernetes (`kubernetes`: a Lease and a
//! ConfigMap).

mod files;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::kubernetes::{Kube, KubeStore, KubernetesOptions, LeaseHolder};
use crate::error::{Result, RunnelError};

pub(crate) use files::FileStore;

/// A job as the HA store keeps it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct JobRecord {
    pub(crate) id: String,
    pub(crate) script: String,
    pub(crate) config: BTreeMap<String, String>,
    /// RUNNING until the job reaches a terminal state (then its Flink name).
    pub(crate) state: String,
    /// The latest completed checkpoint's folder.
    pub(crate) checkpoint: Option<String>,
}

/// The HA store of one cluster.
#[derive(Clone, Debug)]
pub(crate) enum HaStore {
    Files(FileStore),
    Kubernetes(KubeStore),
}

/// Held while this process is the leader; dropping it (or dying) gives leadership up.
pub(crate) enum Leadership {
    /// The lock on the directory's `leader.lock`.
    File(#[allow(dead_code)] std::fs::File),
    /// The renewed Lease.
    Lease(#[allow(dead_code)] LeaseHolder),
}

impl HaStore {
    /// The store the options configure; `None` without high availability.
    pub(crate) fn from_options(options: &BTreeMap<String, String>) -> Result<Option<Self>> {
        match options.get("high-availability.type").map(|s| s.trim()) {
            None | Some("none" | "NONE") => Ok(None),
            Some("filesystem") => Ok(Some(HaStore::Files(FileStore::from_options(options)?))),
            Some("kubernetes") => {
                let mut k8s = options.clone();
                // Flink's default: the HA cluster id is the Kubernetes cluster id.
                if let Some(id) = options.get("high-availability.cluster-id") {
                    k8s.insert("kubernetes.cluster-id".into(), id.clone());
                }
                let timing = super::kubernetes::timing(options)?;
                Ok(Some(HaStore::Kubernetes(KubeStore::new(
                    Kube::connect()?,
                    KubernetesOptions::from_options(&k8s)?,
                    timing,
                ))))
            }
            Some(other) => Err(RunnelError::bad_option(
                "high-availability.type",
                other,
                "none, filesystem or kubernetes",
            )),
        }
    }

    /// Waits until this process is the leader.
    pub(crate) async fn lead(&self) -> Result<Leadership> {
        match self {
            HaStore::Files(s) => s.lead().await.map(Leadership::File),
            HaStore::Kubernetes(s) => s.lead().await.map(Leadership::Lease),
        }
    }

    /// The id of the application-mode job of this cluster: the same for every JobManager
    /// that leads it.
    pub(crate) fn application_job_id(&self) -> String {
        let name = match self {
            HaStore::Files(s) => s.name(),
            HaStore::Kubernetes(s) => s.cluster_id().to_string(),
        };
        let (a, b) = (
            crc_fast::checksum(crc_fast::CrcAlgorithm::Crc64Nvme, name.as_bytes()),
            crc_fast::checksum(crc_fast::CrcAlgorithm::Crc64Ecma182, name.as_bytes()),
        );
        format!("{a:016x}{b:016x}")
    }

    /// Publishes the leader's control-plane address.
    pub(crate) fn publish_leader(&self, rpc: &str) -> Result<()> {
        match self {
            HaStore::Files(s) => s.publish_leader(rpc),
            HaStore::Kubernetes(s) => s.publish_leader(rpc),
        }
    }

    /// Records a job (replacing its record).
    pub(crate) fn save(&self, job: &JobRecord) -> Result<()> {
        match self {
            HaStore::Files(s) => s.save(job),
            HaStore::Kubernetes(s) => s.save(job),
        }
    }

    /// Changes a recorded job.
    pub(crate) fn update(&self, id: &str, f: impl Fn(&mut JobRecord)) -> Result<()> {
        match self {
            HaStore::Files(s) => s.update(id, f),
            HaStore::Kubernetes(s) => s.update(id, f),
        }
    }

    /// Every recorded job; unreadable records are reported and skipped.
    pub(crate) fn jobs(&self) -> Result<Vec<JobRecord>> {
        match self {
            HaStore::Files(s) => Ok(s.jobs()),
            HaStore::Kubernetes(s) => s.jobs(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::options;

    #[test]
    fn options_are_checked() {
        assert!(HaStore::from_options(&options(&[])).unwrap().is_none());
        for (kv, want) in [
            (
                vec![("high-availability.type", "zookeeper")],
                "none, filesystem or kubernetes",
            ),
            (
                vec![("high-availability.type", "filesystem")],
                "needs 'high-availability.storageDir'",
            ),
            (
                vec![
                    ("high-availability.type", "filesystem"),
                    ("high-availability.storageDir", "relative/dir"),
                ],
                "an absolute local path",
            ),
        ] {
            let e = HaStore::from_options(&options(&kv))
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{e}");
        }
    }
}
