use std::sync::Arc;
use std::time::Duration;

use runnel_types::ChangeBatch;
use tokio::sync::mpsc;

use super::chain::Chain;
use super::checkpointing::{SnapshotDirs, TaskAck, TaskControl, TaskEvent};
use super::gate::{GateEvent, InputGate};
use super::metrics::{TaskMetrics, Wait};
use super::output::OutputEdge;
use crate::checkpoint::{Location, OperatorPart, OperatorSnapshot, encode_subtask};
use crate::connectors::{Source, SourcePoll};
use crate::dataflow::{Barrier, Message};
use crate::error::{Result, RunnelError};
use crate::operators::SubtaskContext;

/// Where a subtask's records come from.
pub(crate) enum TaskInput {
    /// A source reader (the vertex has no input edges).
    Source(Box<dyn Source>),
    /// The channels of its input edges.
    Gate(InputGate),
}

/// A subtask's link to the checkpoint coordinator.
pub(crate) struct TaskCheckpointing {
    /// Triggers (sources), completions and stop requests.
    pub(crate) control: mpsc::UnboundedReceiver<TaskControl>,
    /// Acknowledgements and the end of input.
    pub(crate) events: mpsc::UnboundedSender<TaskEvent>,
    /// Folders of checkpoints in flight.
    pub(crate) dirs: SnapshotDirs,
    /// This task's number in the coordinator's list.
    pub(crate) index: usize,
    /// The file this subtask writes in a checkpoint folder.
    pub(crate) file: String,
    /// (uid, name) of the source (if any), then of each chained operator.
    pub(crate) source_uid: Option<(String, String)>,
    pub(crate) operator_uids: Vec<(String, String)>,
}

/// Everything one subtask needs to run, as the TaskManager receives it.
pub(crate) struct Task {
    pub(crate) ctx: SubtaskContext,
    pub(crate) input: TaskInput,
    pub(crate) chain: Chain,
    pub(crate) outputs: Vec<OutputEdge>,
    pub(crate) checkpointing: TaskCheckpointing,
    pub(crate) metrics: Arc<TaskMetrics>,
}

/// Why a task's loop ended.
enum Ended {
    /// Its input ended: flush and forward the end.
    Input,
    /// Stopped after a stop-with-savepoint: no flush.
    Stopped,
}

impl Task {
    /// Runs the subtask to the end of its input (or until stopped).
    pub(crate) async fn run(mut self) -> Result<()> {
        let mut pending = Vec::new();
        let input = std::mem::replace(&mut self.input, TaskInput::Gate(InputGate::new(Vec::new())));
        let ended = match input {
            TaskInput::Source(source) => self.run_source(source, &mut pending).await?,
            TaskInput::Gate(gate) => self.run_gate(gate, &mut pending).await?,
        };
        if let Ended::Stopped = ended {
            return Ok(());
        }
        self.chain.end(&mut pending)?;
        pending.push(Message::EndOfInput);
        self.flush(&mut pending).await?;
        // Staged output becomes visible only once every task got here (Flink's final
        // checkpoint): a failure elsewhere before that restarts the job without duplicates.
        let _ = self
            .checkpointing
            .events
            .send(TaskEvent::Drained(self.checkpointing.index));
        loop {
            match self.checkpointing.control.recv().await {
                Some(TaskControl::Finish) => return self.chain.finish(),
                Some(TaskControl::Complete(id)) => self.chain.checkpoint_complete(id)?,
                Some(TaskControl::Stop) => return Ok(()),
                Some(TaskControl::Trigger(_)) => {}
                None => return Err(RunnelError::Cancelled),
            }
        }
    }

    async fn run_source(
        &mut self,
        mut source: Box<dyn Source>,
        pending: &mut Vec<Message>,
    ) -> Result<Ended> {
        loop {
            while let Ok(ctrl) = self.checkpointing.control.try_recv() {
                if let Some(ended) = self
                    .on_control(ctrl, Some(source.as_mut()), pending)
                    .await?
                {
                    return Ok(ended);
                }
            }
            let poll = source.poll_next()?;
            self.metrics.pending(source.pending_records());
            match poll {
                poll @ (SourcePoll::Batch(_) | SourcePoll::SplitBatch(..)) => {
                    let b = match poll {
                        SourcePoll::SplitBatch(split, b) => {
                            self.chain.on_source_split(split);
                            b
                        }
                        SourcePoll::Batch(b) => ChangeBatch::inserts(b),
                        _ => unreachable!("matched above"),
                    };
                    self.chain.process(0, Message::Data(b), pending)?;
                    self.flush(pending).await?;
                    // Sources never wait on a channel when downstream keeps up; let the
                    // other subtasks of this thread run between batches.
                    tokio::task::yield_now().await;
                }
                SourcePoll::Split(split) => self.chain.on_source_split(split),
                SourcePoll::Idle => {
                    self.chain.process(0, Message::Idle, pending)?;
                    self.flush(pending).await?;
                }
                SourcePoll::Wait(d) => {
                    self.chain.idle_tick(pending)?;
                    self.flush(pending).await?;
                    if let Some(ended) = self.idle(d, source.as_mut(), pending).await? {
                        return Ok(ended);
                    }
                }
                SourcePoll::End => return Ok(Ended::Input),
            }
        }
    }

    /// Sleeps while a source has nothing, still answering the coordinator.
    async fn idle(
        &mut self,
        d: Duration,
        source: &mut dyn Source,
        pending: &mut Vec<Message>,
    ) -> Result<Option<Ended>> {
        self.metrics.begin_wait(Wait::Input);
        tokio::select! {
            () = tokio::time::sleep(d) => {
                self.metrics.end_wait();
                Ok(None)
            }
            ctrl = self.checkpointing.control.recv() => {
                self.metrics.end_wait();
                match ctrl {
                    Some(ctrl) => self.on_control(ctrl, Some(source), pending).await,
                    None => Ok(None),
                }
            }
        }
    }

    async fn run_gate(&mut self, mut gate: InputGate, pending: &mut Vec<Message>) -> Result<Ended> {
        loop {
            self.metrics.begin_wait(Wait::Input);
            tokio::select! {
                biased;
                ctrl = self.checkpointing.control.recv() => {
                    self.metrics.end_wait();
                    if let Some(ctrl) = ctrl
                        && let Some(ended) = self.on_control(ctrl, None, pending).await?
                    {
                        return Ok(ended);
                    }
                }
                ev = gate.next() => {
                    self.metrics.end_wait();
                    match ev {
                        GateEvent::Message(input, msg) => {
                            if let Message::Data(b) = &msg {
                                self.metrics.records_in(b.num_rows());
                            }
                            self.chain.process(input, msg, pending)?;
                        }
                        GateEvent::Watermark(w) => {
                            self.chain.process(0, Message::Watermark(w), pending)?;
                        }
                        GateEvent::Idle => self.chain.process(0, Message::Idle, pending)?,
                        GateEvent::Barrier(b) => self.barrier(b, None, pending).await?,
                        GateEvent::End => return Ok(Ended::Input),
                        GateEvent::Gone => return self.upstream_gone(pending).await,
                    }
                },
            }
            self.flush(pending).await?;
        }
    }

    /// An upstream task went away without ending its output: wait for this task's own stop
    /// (after a stop-with-savepoint, handling completions meanwhile); anything else means the
    /// job is being torn down.
    async fn upstream_gone(&mut self, pending: &mut Vec<Message>) -> Result<Ended> {
        let deadline = tokio::time::sleep(Duration::from_secs(10));
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                ctrl = self.checkpointing.control.recv() => match ctrl {
                    Some(ctrl) => {
                        if let Some(ended) = self.on_control(ctrl, None, pending).await? {
                            return Ok(ended);
                        }
                    }
                    None => return Err(RunnelError::Cancelled),
                },
                () = &mut deadline => return Err(RunnelError::Cancelled),
            }
        }
    }

    async fn on_control(
        &mut self,
        ctrl: TaskControl,
        source: Option<&mut dyn Source>,
        pending: &mut Vec<Message>,
    ) -> Result<Option<Ended>> {
        match ctrl {
            TaskControl::Trigger(b) => self.barrier(b, source, pending).await?,
            TaskControl::Complete(id) => {
                self.chain.checkpoint_complete(id)?;
                if let Some(s) = source {
                    s.checkpoint_complete(id)?;
                }
            }
            TaskControl::Stop => return Ok(Some(Ended::Stopped)),
            // Only sent once every task drained; a running task cannot see it.
            TaskControl::Finish => {}
        }
        Ok(None)
    }

    /// Snapshots the source and operators, writes the state file, acknowledges, and forwards
    /// the barrier. The write happens here, synchronously: an asynchronous phase needs
    /// copy-on-write state first (handing the encoded file to a blocking thread cost more
    /// throughput on two cores than it saved).
    async fn barrier(
        &mut self,
        barrier: Barrier,
        source: Option<&mut dyn Source>,
        pending: &mut Vec<Message>,
    ) -> Result<()> {
        let dir = self.checkpointing.dirs.wait(barrier.id).await;
        let result = self
            .snapshot(barrier, dir, source)
            .and_then(|(target, parts, done)| target.write_parts(parts).map(|()| done));
        let ack = TaskAck {
            checkpoint_id: barrier.id,
            task: self.checkpointing.index,
            result: result.map_err(|e| e.to_string()),
        };
        let _ = self.checkpointing.events.send(TaskEvent::Ack(ack));
        pending.push(Message::Barrier(barrier));
        self.flush(pending).await
    }

    /// The encoded state file of this subtask for `barrier`, where it goes, and its handles.
    fn snapshot(
        &mut self,
        barrier: Barrier,
        dir: Option<Location>,
        source: Option<&mut dyn Source>,
    ) -> Result<(Location, Vec<Vec<u8>>, crate::checkpoint::SubtaskAck)> {
        let ck = &self.checkpointing;
        let dir = dir.ok_or_else(|| {
            RunnelError::State(format!("checkpoint {} is no longer in flight", barrier.id))
        })?;
        let mut parts = Vec::new();
        if let (Some(source), Some((uid, name))) = (source, &ck.source_uid) {
            let mut snapshot = OperatorSnapshot::new(barrier.savepoint);
            for entry in source.snapshot()? {
                snapshot.add_operator_entry(entry);
            }
            parts.push(OperatorPart {
                uid: uid.clone(),
                name: name.clone(),
                snapshot,
                native: Vec::new(),
                uploaded: 0,
            });
        }
        let stem = ck.file.trim_end_matches(".state");
        for (i, ((uid, name), mut snapshot)) in ck
            .operator_uids
            .iter()
            .zip(self.chain.snapshot(barrier.id, barrier.savepoint)?)
            .enumerate()
        {
            let (mut native, mut uploaded) = (Vec::new(), 0);
            for copy in snapshot.take_native() {
                let (handle, bytes) = copy.upload(&dir, barrier.id, &format!("{stem}-{i}"))?;
                native.push(handle);
                uploaded += bytes;
            }
            parts.push(OperatorPart {
                uid: uid.clone(),
                name: name.clone(),
                snapshot,
                native,
                uploaded,
            });
        }
        let (parts, ack) = encode_subtask(&ck.file, self.ctx.index, parts);
        Ok((dir.join(&ck.file), parts, ack))
    }

    async fn flush(&mut self, pending: &mut Vec<Message>) -> Result<()> {
        for msg in pending.drain(..) {
            if let Message::Data(b) = &msg {
                self.metrics.records_out(b.num_rows());
            }
            for out in &mut self.outputs {
                out.send(&msg, &self.metrics).await?;
            }
        }
        Ok(())
    }

    /// The subtask's identity, for error messages.
    pub(crate) fn context(&self) -> &SubtaskContext {
        &self.ctx
    }
}
