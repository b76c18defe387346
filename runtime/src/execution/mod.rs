//! Running a job graph: the JobManager side schedules subtasks into TaskManager slots and
//! watches them; the TaskManager side runs each subtask as an async task over bounded channels.
//!
//! Local mode (`runnel run`) puts one JobManager and its TaskManagers in one process; the same
//! pieces will sit behind gRPC in cluster mode.

mod blocking;
mod chain;
mod checkpointing;
mod deploy;
mod gate;
mod jobmaster;
mod metrics;
mod output;
mod restart;
mod status;
mod task;
mod taskmanager;

pub(crate) use blocking::block_on;
pub use checkpointing::new_job_id;
pub use checkpointing::{CheckpointHook, JobCommand};
pub(crate) use checkpointing::{
    DirChange, SnapshotDirs, TaskAck, TaskControl, TaskEntry, TaskEvent,
};
pub(crate) use deploy::{
    Attempt, Build, ChannelEnds, ChannelFactory, Deployer, Deployment, NotDeployed, Placement,
    spawn_sampler, task_order,
};
pub use jobmaster::{JobMaster, JobOptions, JobOutcome, Replanner, operator_uid, source_uid};
pub use metrics::{MetricsSample, TaskRates};
pub use restart::RestartStrategy;
pub use status::{CheckpointInfo, JobInfo, JobRegistry, JobState, TriggerStatus, VertexInfo};
pub use taskmanager::TaskManager;
pub(crate) use taskmanager::TaskReport;

/// Capacity, in messages, of every channel between two subtasks; small, so backpressure is
/// felt quickly and memory stays bounded.
pub const CHANNEL_CAPACITY: usize = 8;
