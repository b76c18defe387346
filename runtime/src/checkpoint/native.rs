//! Incremental checkpoints of state kept in RocksDB: a state's checkpoint is the set of its
//! database's files at the barrier. SST files never change once written, so each is uploaded
//! once, into the job's `shared/` folder, and every later checkpoint that still has it refers to
//! that copy; the small files that say which SSTs make up the database (MANIFEST, CURRENT,
//! OPTIONS) go into the checkpoint's own folder. The coordinator deletes a shared file once no
//! retained checkpoint refers to it.
//!
//! ```text
//! <checkpoint dir>/<job id>/shared/chk-<n>-<owner>-<state>-<file>.sst   uploaded by checkpoint n
//! <checkpoint dir>/<job id>/chk-<m>/<owner>-<state>-MANIFEST-…         this checkpoint's own
//! ```

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::location::Location;
use crate::dataflow::KeyGroupRange;
use crate::error::{Result, RunnelError};

/// The folder of a job's shared files, next to its `chk-<n>` folders.
pub const SHARED_DIR: &str = "shared";

/// The job folder a checkpoint folder lies in, where its shared files are.
fn job_dir_of(snapshot_dir: &Location) -> Result<Location> {
    snapshot_dir.parent().ok_or_else(|| {
        RunnelError::State(format!(
            "snapshot {snapshot_dir} has RocksDB state but no job folder above it"
        ))
    })
}

/// One file of a native state snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileHandle {
    /// The file's name in the database folder.
    pub name: String,
    /// Where it is stored: under the job folder for shared files (`shared/…`), in the
    /// snapshot folder for private ones.
    pub path: String,
    /// Its size.
    pub bytes: u64,
}

/// A keyed state's database as of one checkpoint.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NativeStateHandle {
    /// Which keyed state of the operator (its name).
    pub state: String,
    /// The store: `rocksdb`.
    pub backend: String,
    /// First key group in the database.
    pub key_group_start: u32,
    /// Last key group in the database (inclusive).
    pub key_group_end: u32,
    /// SST files, in the job's shared folder.
    pub shared: Vec<FileHandle>,
    /// The other files, in the snapshot folder.
    pub private: Vec<FileHandle>,
}

impl NativeStateHandle {
    /// The key groups in the database.
    pub fn key_groups(&self) -> KeyGroupRange {
        KeyGroupRange {
            start: self.key_group_start,
            end: self.key_group_end,
        }
    }

    /// Bytes of all its files.
    pub fn bytes(&self) -> u64 {
        self.shared
            .iter()
            .chain(&self.private)
            .map(|f| f.bytes)
            .sum()
    }

    /// Every file with where it lies, given the snapshot folder.
    pub fn locations(&self, snapshot_dir: &Location) -> Result<Vec<(&FileHandle, Location)>> {
        let job_dir = job_dir_of(snapshot_dir)?;
        Ok(self
            .shared
            .iter()
            .map(|f| (f, job_dir.join(&f.path)))
            .chain(self.private.iter().map(|f| (f, snapshot_dir.join(&f.path))))
            .collect())
    }

    /// Downloads every file into the new local folder `into`, under its database name.
    pub fn download(&self, snapshot_dir: &Location, into: &Path) -> Result<()> {
        std::fs::create_dir_all(into)
            .map_err(|e| RunnelError::io(format!("creating {}", into.display()), e))?;
        for (f, at) in self.locations(snapshot_dir)? {
            at.download_to(&into.join(&f.name)).map_err(|e| {
                RunnelError::State(format!(
                    "cannot restore from {snapshot_dir}: state file {at} is missing ({e})"
                ))
            })?;
        }
        Ok(())
    }
}

/// The SST files a keyed state has uploaded, by database file name: what its next checkpoint
/// can refer to instead of uploading again.
#[derive(Clone, Default, Debug)]
pub struct SharedFiles(Arc<Mutex<HashMap<String, FileHandle>>>);

/// A keyed state's database copy taken at a barrier (hard links in a local folder), to be
/// uploaded by the task before it acknowledges.
#[derive(Debug)]
pub struct NativeSnapshot {
    /// Which keyed state of the operator.
    pub state: String,
    /// Its key groups.
    pub key_groups: KeyGroupRange,
    /// The local copy (hard links); deleted with this value, uploaded or not.
    pub dir: PathBuf,
    /// Its files and their sizes.
    pub files: Vec<(String, u64)>,
    /// What earlier checkpoints uploaded.
    pub uploaded: SharedFiles,
}

impl NativeSnapshot {
    /// Uploads what is new: SSTs not uploaded before into the job's shared folder, the rest
    /// into `snapshot_dir`. `owner` makes names unique in the job (subtask and operator).
    /// Returns the handle and the bytes uploaded.
    pub fn upload(
        self,
        snapshot_dir: &Location,
        checkpoint_id: u64,
        owner: &str,
    ) -> Result<(NativeStateHandle, u64)> {
        // The local copy goes when `self` does, uploaded or not (see `Drop`).
        let job_dir = job_dir_of(snapshot_dir)?;
        let shared_dir = job_dir.join(SHARED_DIR);
        shared_dir.ensure()?;
        let mut uploaded = self.uploaded.0.lock().expect("shared files");
        let mut live = HashMap::new();
        let (mut shared, mut private, mut new_bytes) = (Vec::new(), Vec::new(), 0);
        for (name, bytes) in &self.files {
            let local = self.dir.join(name);
            if name.ends_with(".sst") {
                let handle = match uploaded.get(name) {
                    Some(h) if h.bytes == *bytes => h.clone(),
                    _ => {
                        let file = format!("chk-{checkpoint_id}-{owner}-{}-{name}", self.state);
                        shared_dir.join(&file).upload_from(&local)?;
                        new_bytes += bytes;
                        FileHandle {
                            name: name.clone(),
                            path: format!("{SHARED_DIR}/{file}"),
                            bytes: *bytes,
                        }
                    }
                };
                live.insert(name.clone(), handle.clone());
                shared.push(handle);
            } else {
                let file = format!("{owner}-{}-{name}", self.state);
                snapshot_dir.join(&file).upload_from(&local)?;
                new_bytes += bytes;
                private.push(FileHandle {
                    name: name.clone(),
                    path: file,
                    bytes: *bytes,
                });
            }
        }
        // Only files still in the database can be referred to again.
        *uploaded = live;
        Ok((
            NativeStateHandle {
                state: self.state.clone(),
                backend: "rocksdb".into(),
                key_group_start: self.key_groups.start,
                key_group_end: self.key_groups.end,
                shared,
                private,
            },
            new_bytes,
        ))
    }
}

impl Drop for NativeSnapshot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Deletes the shared files of `job_dir` that checkpoints up to `up_to` uploaded and that no
/// checkpoint in `retained` refers to (files of later checkpoints may belong to one in flight).
pub fn prune_shared(job_dir: &Location, up_to: u64, retained: &BTreeSet<String>) {
    for file in job_dir.join(SHARED_DIR).children() {
        let name = file.name();
        let uploaded_by = name
            .strip_prefix("chk-")
            .and_then(|rest| rest.split('-').next())
            .and_then(|n| n.parse::<u64>().ok());
        let path = format!("{SHARED_DIR}/{name}");
        if uploaded_by.is_some_and(|n| n <= up_to)
            && !retained.contains(&path)
            && let Err(e) = file.delete_file()
        {
            eprintln!("runnel: {e}");
        }
    }
}
