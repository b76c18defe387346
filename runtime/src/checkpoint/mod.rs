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
mod snapshot;
mod storage;

pub use codec::{StateReader, StateWriter};
pub use config::{CheckpointConfig, CheckpointingMode, Retention, default_checkpoint_dir};
pub use snapshot::{OperatorSnapshot, RestoredState};
pub use storage::{
    METADATA_FILE, OperatorState, RestorePoint, SnapshotKind, SnapshotMetadata, SubtaskAck,
    SubtaskState, find_checkpoints, write_metadata, write_subtask,
};
