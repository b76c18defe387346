use runnel_types::ChangeBatch;

use super::chain::Chain;
use super::gate::{GateEvent, InputGate};
use super::output::OutputEdge;
use crate::connectors::{Source, SourcePoll};
use crate::dataflow::Message;
use crate::error::Result;
use crate::operators::SubtaskContext;

/// Where a subtask's records come from.
pub(crate) enum TaskInput {
    /// A source reader (the vertex has no input edges).
    Source(Box<dyn Source>),
    /// The channels of its input edges.
    Gate(InputGate),
}

/// Everything one subtask needs to run, as the TaskManager receives it.
pub(crate) struct Task {
    pub(crate) ctx: SubtaskContext,
    pub(crate) input: TaskInput,
    pub(crate) chain: Chain,
    pub(crate) outputs: Vec<OutputEdge>,
}

impl Task {
    /// Runs the subtask to the end of its input.
    pub(crate) async fn run(mut self) -> Result<()> {
        let mut pending = Vec::new();
        match std::mem::replace(&mut self.input, TaskInput::Gate(InputGate::new(Vec::new()))) {
            TaskInput::Source(mut source) => loop {
                match source.poll_next()? {
                    SourcePoll::Batch(b) => {
                        self.chain.process(
                            0,
                            Message::Data(ChangeBatch::inserts(b)),
                            &mut pending,
                        )?;
                        self.flush(&mut pending).await?;
                        // Sources never wait on a channel when downstream keeps up; let the
                        // other subtasks of this thread run between batches.
                        tokio::task::yield_now().await;
                    }
                    SourcePoll::Wait(d) => tokio::time::sleep(d).await,
                    SourcePoll::End => break,
                }
            },
            TaskInput::Gate(mut gate) => loop {
                match gate.next().await {
                    GateEvent::Message(input, msg) => {
                        self.chain.process(input, msg, &mut pending)?;
                    }
                    GateEvent::Watermark(w) => {
                        self.chain.process(0, Message::Watermark(w), &mut pending)?;
                    }
                    GateEvent::End => break,
                }
                self.flush(&mut pending).await?;
            },
        }
        self.chain.end(&mut pending)?;
        pending.push(Message::EndOfInput);
        self.flush(&mut pending).await
    }

    async fn flush(&mut self, pending: &mut Vec<Message>) -> Result<()> {
        for msg in pending.drain(..) {
            for out in &mut self.outputs {
                out.send(&msg).await?;
            }
        }
        Ok(())
    }

    /// The subtask's identity, for error messages.
    pub(crate) fn context(&self) -> &SubtaskContext {
        &self.ctx
    }
}
