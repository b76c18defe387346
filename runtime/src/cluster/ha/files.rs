//! High availability in a directory (`high-availability.type: filesystem`): one JobManager
//! at a time is the leader (it holds an exclusive lock on a file, which the operating system
//! releases when the process dies, however it dies), the leader's address is published for
//! TaskManagers, and each submitted job is recorded with a pointer to its latest completed
//! checkpoint, so a JobManager that takes over resumes every job where it was.
//!
//! ```text
//! <high-availability.storageDir>/<high-availability.cluster-id>/
//!   leader.lock     locked by the leader
//!   leader          the leader's control-plane address (host:port)
//!   jobs/<id>.json  a job: its SQL and configuration, state, latest checkpoint
//! ```
//!
//! The directory must be one every JobManager and TaskManager sees (a shared volume).

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use super::JobRecord;
use crate::error::{Result, RunnelError};

/// The HA directory of one cluster.
#[derive(Clone, Debug)]
pub(crate) struct FileStore {
    dir: PathBuf,
}

impl FileStore {
    /// Where a TaskManager finds the leader's address: the directory with filesystem HA.
    /// (With Kubernetes HA it reaches the leader through the JobManager's Service, which
    /// only the leader's pod is ready behind.)
    pub(crate) fn leader_directory(options: &BTreeMap<String, String>) -> Result<Option<Self>> {
        match options.get("high-availability.type").map(|s| s.trim()) {
            Some("filesystem") => Self::from_options(options).map(Some),
            _ => Ok(None),
        }
    }

    /// The store in `high-availability.storageDir`.
    pub(crate) fn from_options(options: &BTreeMap<String, String>) -> Result<Self> {
        let Some(dir) = options.get("high-availability.storageDir") else {
            return Err(RunnelError::Plan(
                "high-availability.type 'filesystem' needs 'high-availability.storageDir'".into(),
            ));
        };
        let dir = dir.trim();
        let dir = dir.strip_prefix("file://").unwrap_or(dir);
        if !dir.starts_with('/') {
            return Err(RunnelError::bad_option(
                "high-availability.storageDir",
                dir,
                "an absolute local path (a shared volume)",
            ));
        }
        let cluster = options
            .get("high-availability.cluster-id")
            .map_or("default", |s| s.trim());
        if cluster.is_empty() || cluster.contains('/') {
            return Err(RunnelError::bad_option(
                "high-availability.cluster-id",
                cluster,
                "a name without '/'",
            ));
        }
        Ok(FileStore {
            dir: Path::new(dir).join(cluster),
        })
    }

    fn io(&self, what: &str, e: std::io::Error) -> RunnelError {
        RunnelError::io(format!("HA store {}: {what}", self.dir.display()), e)
    }

    /// Waits until this process is the leader.
    pub(crate) async fn lead(&self) -> Result<File> {
        std::fs::create_dir_all(self.dir.join("jobs")).map_err(|e| self.io("creating", e))?;
        let path = self.dir.join("leader.lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| self.io("opening leader.lock", e))?;
        let mut waiting = false;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(file),
                Err(std::fs::TryLockError::WouldBlock) => {
                    if !waiting {
                        eprintln!(
                            "runnel: another JobManager leads {}; standing by",
                            self.dir.display()
                        );
                        waiting = true;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(self.io("locking leader.lock", e));
                }
            }
        }
    }

    /// What names the cluster (its folder).
    pub(crate) fn name(&self) -> String {
        self.dir.to_string_lossy().into_owned()
    }

    /// Publishes the leader's control-plane address.
    pub(crate) fn publish_leader(&self, rpc: &str) -> Result<()> {
        self.write(&self.dir.join("leader"), rpc.as_bytes())
    }

    /// The published leader's control-plane address.
    pub(crate) fn leader(&self) -> Option<String> {
        std::fs::read_to_string(self.dir.join("leader"))
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    }

    fn job_path(&self, id: &str) -> PathBuf {
        self.dir.join("jobs").join(format!("{id}.json"))
    }

    /// Records a job (replacing its record).
    pub(crate) fn save(&self, job: &JobRecord) -> Result<()> {
        let json = serde_json::to_vec_pretty(job).expect("job records encode as JSON");
        self.write(&self.job_path(&job.id), &json)
    }

    /// Changes a recorded job.
    pub(crate) fn update(&self, id: &str, f: impl Fn(&mut JobRecord)) -> Result<()> {
        let path = self.job_path(id);
        let text = std::fs::read(&path).map_err(|e| self.io(&format!("reading job {id}"), e))?;
        let mut job: JobRecord = serde_json::from_slice(&text).map_err(|e| {
            RunnelError::State(format!("HA store: job record {}: {e}", path.display()))
        })?;
        f(&mut job);
        self.save(&job)
    }

    /// Every recorded job; unreadable records are reported and skipped.
    pub(crate) fn jobs(&self) -> Vec<JobRecord> {
        let Ok(entries) = std::fs::read_dir(self.dir.join("jobs")) else {
            return Vec::new();
        };
        let mut jobs = Vec::new();
        for e in entries.flatten() {
            let path = e.path();
            if path.extension().is_none_or(|x| x != "json") {
                continue;
            }
            match std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|t| serde_json::from_slice(&t).map_err(|e| e.to_string()))
            {
                Ok(job) => jobs.push(job),
                Err(e) => eprintln!("runnel: HA store: skipping {}: {e}", path.display()),
            }
        }
        jobs.sort_by(|a: &JobRecord, b| a.id.cmp(&b.id));
        jobs
    }

    /// Writes a file whole: a reader sees the old content or the new, never a part.
    fn write(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, bytes)
            .and_then(|()| File::open(&tmp)?.sync_all())
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| self.io(&format!("writing {}", path.display()), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::options;

    fn store(dir: &Path) -> FileStore {
        FileStore::from_options(&options(&[
            ("high-availability.type", "filesystem"),
            ("high-availability.storageDir", dir.to_str().unwrap()),
            ("high-availability.cluster-id", "c1"),
        ]))
        .unwrap()
    }

    #[tokio::test]
    async fn one_leader_at_a_time_and_records_survive_it() {
        let dir = std::env::temp_dir().join(format!("runnel-ha-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (a, b) = (store(&dir), store(&dir));
        let lead = a.lead().await.unwrap();
        a.publish_leader("127.0.0.1:7001").unwrap();
        let standby = tokio::spawn(async move { b.lead().await.map(|_| ()) });
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        assert!(!standby.is_finished(), "two leaders at once");
        let job = JobRecord {
            id: "j1".into(),
            script: "INSERT INTO t SELECT 1".into(),
            config: BTreeMap::from([("parallelism.default".into(), "2".into())]),
            state: "RUNNING".into(),
            checkpoint: None,
        };
        a.save(&job).unwrap();
        a.update("j1", |j| j.checkpoint = Some("/c/j1/chk-3".into()))
            .unwrap();
        drop(lead);
        standby.await.unwrap().unwrap();
        let c = store(&dir);
        assert_eq!(c.leader().as_deref(), Some("127.0.0.1:7001"));
        let jobs = c.jobs();
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].checkpoint.as_deref(), Some("/c/j1/chk-3"));
        assert_eq!(jobs[0].config, job.config);
        std::fs::write(dir.join("c1/jobs/bad.json"), "{").unwrap();
        assert_eq!(c.jobs().len(), 1, "an unreadable record is skipped");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
