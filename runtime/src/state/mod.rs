//! Keyed state, organised by key group so it can be snapshotted per group and redistributed
//! when parallelism changes.

mod backend;
mod disk;
mod filter;
mod hash;
mod keyed;
#[cfg(feature = "rocksdb")]
mod rocks;
mod snapshot;
mod store;
mod timers;

pub use backend::{RocksDbOptions, StateBackend};
pub use hash::hash_columns;
pub use keyed::{KeyedState, StateKey, ValueCodec};
pub use timers::{EventTimers, TimerKey};
