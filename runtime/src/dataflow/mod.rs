//! The job graph and what flows along its edges.
//!
//! A job is a DAG of [`Vertex`]es, each a chain of operators run `parallelism` wide. Edges say
//! how records move between the subtasks of two vertices ([`Partitioning`]). Records travel as
//! [`Message`]s through bounded channels, beside the control messages (watermarks, barriers,
//! end of input) that give a stream its event time and its consistent cuts.

mod graph;
mod keygroup;
mod message;

pub use graph::{
    Edge, JobGraph, OperatorFactory, Partitioning, SourceFactory, Vertex, VertexId, VertexKind,
};
pub use keygroup::{
    KeyGroupRange, assign_key_group, key_group_range_for_subtask, subtask_for_key_group,
};
pub use message::{Barrier, Message};
