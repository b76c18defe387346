//! The Nexmark benchmark event generator, as Flink's `nexmark` connector (the nexmark-flink
//! project) runs it, producing Arrow [`RecordBatch`](arrow::record_batch::RecordBatch)es in the
//! layout of that connector's table (see [`schema`]).
//!
//! Events are numbered 0, 1, 2, … across the whole job. Every field of event `e` is a pure
//! function of the configuration and `e` (each event seeds its own random stream from its
//! number), so the event set does not depend on how it is split: split `k` of `n` generates the
//! event numbers `≡ k (mod n)`, and the union over all splits is the same for every `n`.
//!
//! ```
//! use runnel_nexmark::{NexmarkConfig, NexmarkGenerator};
//!
//! let config = NexmarkConfig { events_num: 1000, ..NexmarkConfig::default() };
//! let mut generator = NexmarkGenerator::new(config, 0, 1).unwrap();
//! let mut rows = 0;
//! while let Some(batch) = generator.next_batch(256) {
//!     rows += batch.num_rows();
//! }
//! assert_eq!(rows, 1000);
//! ```

mod config;
mod generator;
mod rng;
mod text;

pub use config::{NexmarkConfig, NexmarkError, RateShape};
pub use generator::{Emitted, NexmarkGenerator, schema};
