//! Checkpoints and savepoints: consistent snapshots of a running job's state, taken with
//! barriers that flow with the records (Flink's asynchronous barrier snapshotting), stored as
//! per-key-group blobs so a job can restore at another parallelism.
//!
//! The coordinator (in the JobMaster) triggers a checkpoint at the sources; each subtask
//! snapshots its operators when the barrier has arrived on all its input channels, writes one
//! file, and acknowledges; the coordinator writes `_metadata` once all have, which completes
//! the checkpoint, and then tells every subtask so sinks can commit.

mod codec;
mod config;
mod location;
mod native;
mod snapshot;
mod storage;

pub use codec::{StateReader, StateWriter};
pub use config::{CheckpointConfig, CheckpointingMode, Retention, default_checkpoint_dir};
pub use location::Location;
pub use native::{
    FileHandle, NativeSnapshot, NativeStateHandle, SHARED_DIR, SharedFiles, prune_shared,
};
pub use snapshot::{OperatorSnapshot, RestoredState};
pub use storage::{
    FINISHED_FILE, FORMAT_VERSION, FORMAT_VERSION_NATIVE, METADATA_FILE, OperatorPart,
    OperatorState, RestorePoint, SnapshotKind, SnapshotMetadata, SubtaskAck, SubtaskState,
    encode_subtask, find_checkpoints, finished_runs, mark_finished, write_metadata,
};

/// A random 64-bit number (job ids, savepoint names) without a random-number crate.
pub(crate) fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    h.finish()
}
