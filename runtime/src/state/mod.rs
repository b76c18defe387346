//! Keyed state, organised by key group so it can be snapshotted per group and redistributed
//! when parallelism changes.

mod hash;
mod keyed;
mod snapshot;
mod timers;

pub use hash::hash_columns;
pub use keyed::{KeyedState, StateKey};
pub use timers::{EventTimers, TimerKey};
