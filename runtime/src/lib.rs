//! Runnel: Flink SQL on a streaming dataflow over Apache Arrow.
//!
//! A script is parsed and planned ([`sql`]) into a [`dataflow::JobGraph`]; a JobManager
//! schedules its subtasks on TaskManagers ([`execution`]), which run [`operators`] between
//! [`connectors`], keeping keyed [`state`] by key group.

pub mod checkpoint;
pub mod cluster;
pub mod connectors;
pub mod dataflow;
pub mod error;
pub mod execution;
pub mod network;
pub mod operators;
pub mod rest;
pub mod sql;
pub mod state;

pub use error::{Result, RunnelError};

#[cfg(test)]
pub(crate) mod test_support {
    use std::collections::BTreeMap;

    /// Configuration options as a session holds them.
    pub(crate) fn options(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
}
