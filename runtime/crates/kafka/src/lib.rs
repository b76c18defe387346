//! A small async Kafka client, written for Runnel's Kafka connector.
//!
//! It speaks the Kafka protocol (through the `kafka-protocol` message definitions) with what a
//! stream processor needs and no more: cluster metadata, offsets by time, fetches with
//! read-committed filtering, consumer-group offsets for a group without members, and an
//! idempotent, transactional producer. Unlike the Java client and librdkafka, a transaction
//! can be finished by a process other than the one that started it, from the
//! [`PendingTransaction`] stored in a checkpoint: that is what makes a two-phase-commit sink
//! exactly-once across a crash between a checkpoint's completion and its commit.

/// Evaluates `$call` (an awaited call on `$client`) again while it fails with a retriable
/// error (a coordinator that moved or is loading), up to the client's request timeout.
macro_rules! retrying {
    ($client:expr, $call:expr) => {{
        let deadline = tokio::time::Instant::now() + $client.config().request_timeout;
        loop {
            match $call {
                Err(e) if e.is_retriable() && tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                result => break result,
            }
        }
    }};
}

mod client;
mod conn;
mod error;
mod fetch;
mod partitioner;
mod producer;

pub use client::{Client, ClientConfig, EARLIEST, Isolation, LATEST};
pub use error::{Error, Result};
pub use fetch::{FetchConfig, Fetched, Message, Positions};
pub use kafka_protocol::ResponseError as ErrorCode;
pub use kafka_protocol::records::Compression;
pub use partitioner::murmur2_partition;
pub use producer::{Acks, PendingTransaction, Producer, abort_lingering, end_transaction};
