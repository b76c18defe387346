//! Checkpoint and savepoint folders on a file system, with a self-describing `_metadata` file.
//!
//! ```text
//! <checkpoint dir>/<job id>/chk-<n>/_metadata        written last: its presence completes the checkpoint
//! <checkpoint dir>/<job id>/chk-<n>/<vertex>-<i>.state  one file per subtask, all its operators
//! <savepoint dir>/savepoint-<job id prefix>-<random>/... the same layout, owned by the user
//! ```

use serde::{Deserialize, Serialize};

use super::location::Location;
use super::native::NativeStateHandle;
use super::snapshot::{OperatorSnapshot, RestoredState};
use crate::dataflow::KeyGroupRange;
use crate::error::{Result, RunnelError};

/// The metadata file's name, as Flink's.
pub const METADATA_FILE: &str = "_metadata";
/// The layout of every snapshot without native (RocksDB) state, which older builds read too.
pub const FORMAT_VERSION: u32 = 1;
/// The layout of a checkpoint that refers to native state files: a build that reads only
/// version 1 would restore without that state, so it must refuse the checkpoint instead.
pub const FORMAT_VERSION_NATIVE: u32 = 2;

/// Whether a snapshot was taken by the job on its own or for the user.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SnapshotKind {
    /// Periodic, owned by the job, deleted when no longer retained.
    Checkpoint,
    /// Triggered by the user, who owns it.
    Savepoint,
}

/// Where one key group's blob lies in a subtask file.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GroupHandle {
    /// Key group.
    pub kg: u32,
    /// Byte offset in the file.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
}

/// Where one operator list-state entry lies in a subtask file.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EntryHandle {
    /// Byte offset in the file.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
}

/// One operator's state in one subtask.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubtaskState {
    /// Subtask index at snapshot time.
    pub subtask: u32,
    /// File in the snapshot folder.
    pub file: String,
    /// Keyed state blobs.
    pub key_groups: Vec<GroupHandle>,
    /// Operator list-state entries.
    pub operator_state: Vec<EntryHandle>,
    /// Bytes of this operator's state in the file.
    pub bytes: u64,
    /// CRC-64/NVME of the whole file, checked before a restore.
    pub file_checksum: u64,
    /// Size of the whole file.
    pub file_bytes: u64,
    /// Keyed states kept as database files (RocksDB, incremental checkpoints).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub native: Vec<NativeStateHandle>,
}

/// One stateful operator of the job.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperatorState {
    /// Stable id the operator is matched by on restore.
    pub uid: String,
    /// Its description, for people.
    pub name: String,
    /// Parallelism at snapshot time.
    pub parallelism: u32,
    /// Per subtask.
    pub subtasks: Vec<SubtaskState>,
}

/// The `_metadata` of a checkpoint or savepoint.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotMetadata {
    /// Layout version.
    pub format: u32,
    /// Checkpoint or savepoint.
    pub kind: SnapshotKind,
    /// Job id (32 hex digits).
    pub job_id: String,
    /// Job name.
    pub job_name: String,
    /// Checkpoint id.
    pub checkpoint_id: u64,
    /// Trigger time, epoch millis.
    pub triggered_at: i64,
    /// Completion time, epoch millis.
    pub completed_at: i64,
    /// Key groups of the job.
    pub max_parallelism: u32,
    /// Total state bytes (the full size, including files earlier checkpoints uploaded).
    pub state_bytes: u64,
    /// Bytes this checkpoint wrote; less than `state_bytes` when it is incremental.
    #[serde(default)]
    pub checkpointed_bytes: u64,
    /// Stateful operators.
    pub operators: Vec<OperatorState>,
}

/// What a subtask hands the coordinator after writing its file (in cluster mode, as JSON
/// from its TaskManager).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SubtaskAck {
    /// Per operator uid: name and state handle.
    pub operators: Vec<(String, String, SubtaskState)>,
    /// Bytes of its state, in full.
    pub bytes: u64,
    /// Bytes written for this checkpoint (new files only).
    pub written: u64,
}

/// One operator's part of a subtask's snapshot: uid, name, what it wrote, and the handles of
/// its native state files, already uploaded (with the bytes that took).
pub struct OperatorPart {
    /// Stable uid.
    pub uid: String,
    /// Description.
    pub name: String,
    /// Blobs and entries.
    pub snapshot: OperatorSnapshot,
    /// Uploaded database copies.
    pub native: Vec<NativeStateHandle>,
    /// Bytes the upload wrote.
    pub uploaded: u64,
}

/// Lays out one subtask's operator snapshots as the parts of its state file (written one after
/// another), with the handles that say where each part is and a CRC-64 of the whole file.
pub fn encode_subtask(
    file: &str,
    subtask: u32,
    snapshots: Vec<OperatorPart>,
) -> (Vec<Vec<u8>>, SubtaskAck) {
    let mut parts: Vec<Vec<u8>> = Vec::new();
    let mut offset = 0u64;
    let mut crc = crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Nvme);
    let mut operators = Vec::new();
    let mut uploaded = 0;
    let mut push = |blob: Vec<u8>, parts: &mut Vec<Vec<u8>>| {
        let at = offset;
        offset += blob.len() as u64;
        crc.update(&blob);
        parts.push(blob);
        at
    };
    for part in snapshots {
        if part.snapshot.is_empty() && part.native.is_empty() {
            continue;
        }
        let (groups, entries) = part.snapshot.into_parts();
        let mut key_groups = Vec::with_capacity(groups.len());
        let mut bytes: u64 = part.native.iter().map(|n| n.bytes()).sum();
        uploaded += part.uploaded;
        for (kg, blob) in groups {
            let len = blob.len() as u64;
            bytes += len;
            key_groups.push(GroupHandle {
                kg,
                offset: push(blob, &mut parts),
                len,
            });
        }
        let mut operator_state = Vec::with_capacity(entries.len());
        for e in entries {
            let len = e.len() as u64;
            bytes += len;
            operator_state.push(EntryHandle {
                offset: push(e, &mut parts),
                len,
            });
        }
        operators.push((
            part.uid,
            part.name,
            SubtaskState {
                subtask,
                file: file.to_string(),
                key_groups,
                operator_state,
                bytes,
                file_checksum: 0,
                file_bytes: 0,
                native: part.native,
            },
        ));
    }
    let checksum = crc.finalize();
    let total: u64 = parts.iter().map(|p| p.len() as u64).sum();
    for (_, _, st) in &mut operators {
        st.file_checksum = checksum;
        st.file_bytes = total;
    }
    let bytes = total
        + operators
            .iter()
            .flat_map(|(_, _, st)| &st.native)
            .map(|n| n.bytes())
            .sum::<u64>();
    (
        parts,
        SubtaskAck {
            operators,
            bytes,
            written: total + uploaded,
        },
    )
}

/// Writes `_metadata` last and atomically: a folder without it is an unfinished checkpoint.
pub fn write_metadata(dir: &Location, meta: &SnapshotMetadata) -> Result<()> {
    let json = serde_json::to_vec_pretty(meta).expect("metadata serializes");
    match dir {
        // A local file appears whole through a rename; an S3 object always does.
        Location::Local(_) => {
            let tmp = dir.join(&format!("{METADATA_FILE}.inprogress"));
            tmp.write(json)?;
            tmp.rename_to(&dir.join(METADATA_FILE))
        }
        Location::S3 { .. } => dir.join(METADATA_FILE).write(json),
    }
}

/// Written into a job's checkpoint folder when the job has finished, before its checkpoints
/// are deleted, and kept: a run killed during (or after) that cleanup leaves it behind, so a
/// later recovery knows the job completed and does not replay it. A new run of the job that
/// does not recover (no `--from-checkpoint`) removes it.
pub const FINISHED_FILE: &str = "_finished";

/// Marks the job folder `job_dir` of `job_name` as finished.
pub fn mark_finished(job_dir: &Location, job_name: &str) -> Result<()> {
    let json = serde_json::json!({
        "jobName": job_name,
        "finishedAt": chrono::Utc::now().timestamp_millis(),
    });
    job_dir.ensure()?;
    job_dir
        .join(FINISHED_FILE)
        .write(serde_json::to_vec(&json).expect("marker serializes"))
}

/// Job folders under `root` whose run of `job_name` finished but whose cleanup did not.
pub fn finished_runs(root: &Location, job_name: &str) -> Vec<Location> {
    root.children()
        .into_iter()
        .filter(|dir| {
            dir.join(FINISHED_FILE).read().ok().is_some_and(|bytes| {
                serde_json::from_slice::<serde_json::Value>(&bytes)
                    .ok()
                    .is_some_and(|v| v["jobName"] == job_name)
            })
        })
        .collect()
}

/// A completed checkpoint or savepoint to restore from.
#[derive(Debug, Clone)]
pub struct RestorePoint {
    /// Its folder.
    pub dir: Location,
    /// Its metadata.
    pub metadata: SnapshotMetadata,
}

impl RestorePoint {
    /// Opens a snapshot folder (or its `_metadata` file).
    pub fn open(path: &Location) -> Result<Self> {
        let dir = match path.parent() {
            Some(parent) if path.name() == METADATA_FILE => parent,
            _ => path.clone(),
        };
        let meta_path = dir.join(METADATA_FILE);
        let raw = meta_path.read().map_err(|e| {
            RunnelError::State(format!(
                "cannot restore from {dir}: {e}; a checkpoint folder without _metadata was not completed"
            ))
        })?;
        let metadata: SnapshotMetadata = serde_json::from_slice(&raw).map_err(|e| {
            RunnelError::State(format!(
                "cannot restore from {dir}: its _metadata is corrupt: {e}"
            ))
        })?;
        if metadata.format != FORMAT_VERSION && metadata.format != FORMAT_VERSION_NATIVE {
            return Err(RunnelError::State(format!(
                "cannot restore from {dir}: metadata format {} is not supported (this build reads {FORMAT_VERSION} and {FORMAT_VERSION_NATIVE})",
                metadata.format
            )));
        }
        Ok(RestorePoint { dir, metadata })
    }

    /// Checks that every state file is there, whole and unchanged, so a damaged snapshot is
    /// refused before the job starts rather than halfway through restoring.
    pub fn verify(&self) -> Result<()> {
        let mut seen = std::collections::BTreeSet::new();
        for op in &self.metadata.operators {
            for st in &op.subtasks {
                for native in &st.native {
                    self.verify_native(native)?;
                }
                if !seen.insert(st.file.as_str()) {
                    continue;
                }
                let path = self.dir.join(&st.file);
                let bytes = path.read().map_err(|e| {
                    RunnelError::State(format!(
                        "snapshot {}: state file {path} cannot be read ({e})",
                        self.dir
                    ))
                })?;
                let checksum = crc_fast::checksum(crc_fast::CrcAlgorithm::Crc64Nvme, &bytes);
                if bytes.len() as u64 != st.file_bytes || checksum != st.file_checksum {
                    return Err(RunnelError::State(format!(
                        "snapshot {}: state file {} is corrupt ({} bytes, checksum {:016x}; \
                         the metadata says {} bytes, {:016x})",
                        self.dir,
                        path,
                        bytes.len(),
                        checksum,
                        st.file_bytes,
                        st.file_checksum
                    )));
                }
            }
        }
        Ok(())
    }

    /// Checks that every file of a database copy is there with its size (RocksDB checks its
    /// own blocks' checksums as it reads).
    fn verify_native(&self, native: &NativeStateHandle) -> Result<()> {
        for (f, at) in native.locations(&self.dir)? {
            let size = at.size().map_err(|e| {
                RunnelError::State(format!(
                    "snapshot {}: state file {at} cannot be read ({e})",
                    self.dir
                ))
            })?;
            if size != f.bytes {
                return Err(RunnelError::State(format!(
                    "snapshot {}: state file {at} is corrupt ({size} bytes; the metadata says {})",
                    self.dir, f.bytes
                )));
            }
        }
        Ok(())
    }

    /// The operator with `uid`, if the snapshot has state for it.
    pub fn operator(&self, uid: &str) -> Option<&OperatorState> {
        self.metadata.operators.iter().find(|o| o.uid == uid)
    }

    /// The state of operator `uid` for a subtask that owns `range` and is number `subtask` of
    /// `parallelism`: its key groups from whichever old subtasks held them, and its round-robin
    /// share of the operator list state.
    pub fn restore(
        &self,
        uid: &str,
        range: KeyGroupRange,
        subtask: u32,
        parallelism: u32,
    ) -> Result<RestoredState> {
        let Some(op) = self.operator(uid) else {
            return Ok(RestoredState::default());
        };
        let mut state = RestoredState::default();
        let mut index = 0u32;
        for st in &op.subtasks {
            for native in &st.native {
                let theirs = native.key_groups();
                if theirs.start <= range.end && range.start <= theirs.end {
                    state.native.push(native.clone());
                    state.dir = Some(self.dir.clone());
                }
            }
            for g in st.key_groups.iter().filter(|g| range.contains(g.kg)) {
                let blob = self.read(&st.file, g.offset, g.len)?;
                state.key_groups.push((g.kg, blob));
            }
            for e in &st.operator_state {
                let entry = self.read(&st.file, e.offset, e.len)?;
                if index % parallelism == subtask {
                    state.operator.push(entry.clone());
                }
                state.union.push(entry);
                index += 1;
            }
        }
        Ok(state)
    }

    fn read(&self, name: &str, offset: u64, len: u64) -> Result<Vec<u8>> {
        let path = self.dir.join(name);
        path.read_range(offset, len).map_err(|e| {
            RunnelError::State(format!(
                "cannot restore from {}: state file {path} is missing or truncated ({e})",
                self.dir
            ))
        })
    }
}

/// The completed checkpoints under `root` (a checkpoint dir, or one job's folder in it) for a
/// job called `job_name`, newest first.
pub fn find_checkpoints(root: &Location, job_name: &str) -> Vec<RestorePoint> {
    let mut found: Vec<RestorePoint> = Vec::new();
    let mut dirs = vec![root.clone()];
    dirs.extend(root.children());
    for dir in dirs {
        for path in dir.children() {
            if !path.name().starts_with("chk-") {
                continue;
            }
            if let Ok(rp) = RestorePoint::open(&path)
                && rp.metadata.job_name == job_name
            {
                found.push(rp);
            }
        }
    }
    found
        .sort_by_key(|rp| std::cmp::Reverse((rp.metadata.completed_at, rp.metadata.checkpoint_id)));
    found
}
