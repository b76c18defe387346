//! Streaming operators over Arrow batches.
//!
//! An operator is synchronous and single-threaded: its task feeds it one message at a time and
//! forwards what it emits. Keeping I/O out of operators keeps them easy to test and lets the
//! task layer own backpressure, alignment and cancellation.

mod accumulators;
mod aggregate;
mod calc;
mod collect;
mod interval_join;
mod join;
mod rank;
mod session;
mod union;
mod watermark;
mod window;

pub use accumulators::{AggFunc, AggSpec};
pub use aggregate::{Aggregate, AggregateLayout, WindowKeys};
pub use calc::Calc;
pub use collect::Collect;
pub use interval_join::{IntervalBounds, IntervalJoin};
pub use join::{Join, JoinSpec, JoinType};
pub use rank::{Rank, RankMode, RankSpec};
pub use session::{SessionAggregate, SessionLayout};
pub use union::Union;
pub use watermark::WatermarkAssigner;
pub use window::{WindowAssigner, WindowSpec};

use runnel_types::ChangeBatch;

use crate::checkpoint::{OperatorSnapshot, RestoredState};
use crate::dataflow::{KeyGroupRange, Message};
use crate::error::Result;

/// Where a subtask sits in its job: what an operator needs to know about its own instance.
#[derive(Clone, Debug)]
pub struct SubtaskContext {
    /// Name of the vertex.
    pub vertex_name: String,
    /// This subtask's index.
    pub index: u32,
    /// The vertex's parallelism.
    pub parallelism: u32,
    /// Number of key groups in the job.
    pub max_parallelism: u32,
    /// Key groups owned by this subtask.
    pub key_groups: KeyGroupRange,
    /// Time to live of idle keyed state in non-windowed operators (`table.exec.state.ttl`).
    pub state_ttl: Option<std::time::Duration>,
    /// Where keyed state lives (`state.backend.type`).
    pub state_backend: crate::state::StateBackend,
}

/// Collects what an operator emits while handling one message.
#[derive(Default)]
pub struct Output {
    messages: Vec<Message>,
}

impl Output {
    /// Emits rows (empty batches are dropped).
    pub fn emit(&mut self, batch: ChangeBatch) {
        if batch.num_rows() > 0 {
            self.messages.push(Message::Data(batch));
        }
    }

    /// Emits a watermark.
    pub fn watermark(&mut self, wm: i64) {
        self.messages.push(Message::Watermark(wm));
    }

    /// Emits any message.
    pub fn push(&mut self, msg: Message) {
        self.messages.push(msg);
    }

    /// Takes what was collected.
    pub fn drain(&mut self) -> std::vec::Drain<'_, Message> {
        self.messages.drain(..)
    }

    /// Whether nothing was collected.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }
}

/// A streaming operator. Watermarks reach it already min-combined over its inputs.
pub trait Operator: Send {
    /// Rows arrived on input `input`.
    fn on_batch(&mut self, input: usize, batch: ChangeBatch, out: &mut Output) -> Result<()>;

    /// In a source's chain: the rows that follow (until the next call) were read from this
    /// split, so watermark generation can track each split (Kafka partition) on its own.
    fn on_source_split(&mut self, _split: u32) {}

    /// In a source's chain, while the source has nothing to read: time-driven work such as
    /// marking an idle source (`table.exec.source.idle-timeout`).
    fn on_idle_tick(&mut self, _out: &mut Output) -> Result<()> {
        Ok(())
    }

    /// The event-time clock advanced to `watermark`; the default forwards it.
    fn on_watermark(&mut self, watermark: i64, out: &mut Output) -> Result<()> {
        out.watermark(watermark);
        Ok(())
    }

    /// Every input has ended; flush what is left. The end itself is forwarded by the task.
    fn on_end(&mut self, _out: &mut Output) -> Result<()> {
        Ok(())
    }

    /// A checkpoint barrier passed: write the state that reflects exactly the records before
    /// it. Stateless operators write nothing.
    fn snapshot(&mut self, _checkpoint_id: u64, _snap: &mut OperatorSnapshot) -> Result<()> {
        Ok(())
    }

    /// Before the first record: load what `snapshot` wrote (possibly by subtasks of another
    /// parallelism; keyed state arrives for exactly this subtask's key groups).
    fn restore(&mut self, state: RestoredState) -> Result<()> {
        if state.key_groups.is_empty() && state.operator.is_empty() {
            Ok(())
        } else {
            Err(crate::RunnelError::State(
                "the snapshot has state for an operator that keeps none".into(),
            ))
        }
    }

    /// Checkpoint `id` completed everywhere: effects staged up to it may become visible
    /// (transactional sinks commit here).
    fn checkpoint_complete(&mut self, _checkpoint_id: u64) -> Result<()> {
        Ok(())
    }

    /// Every task of the job reached the end of its input: what `on_end` staged may become
    /// visible. Until then a failure elsewhere restarts the job and nothing may show twice.
    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}

/// A TIMESTAMP(3) column of `values`, carrying the time zone of `data_type` (TIMESTAMP_LTZ).
pub(crate) fn timestamps(
    values: impl IntoIterator<Item = i64>,
    data_type: &arrow::datatypes::DataType,
) -> arrow::array::ArrayRef {
    let tz = match data_type {
        arrow::datatypes::DataType::Timestamp(_, tz) => tz.clone(),
        _ => None,
    };
    std::sync::Arc::new(
        arrow::array::TimestampMillisecondArray::from_iter_values(values).with_timezone_opt(tz),
    )
}
