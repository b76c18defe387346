use crate::checkpoint::OperatorSnapshot;
use crate::dataflow::Message;
use crate::error::Result;
use crate::operators::{Operator, Output};

/// The operators of one vertex, applied in order inside one subtask (Flink's operator chain).
pub(crate) struct Chain {
    ops: Vec<Box<dyn Operator>>,
    scratch: Vec<Output>,
}

impl Chain {
    pub(crate) fn new(ops: Vec<Box<dyn Operator>>) -> Self {
        let scratch = (0..ops.len()).map(|_| Output::default()).collect();
        Chain { ops, scratch }
    }

    /// Feeds one message to the head of the chain; what falls out of the tail goes to `out`.
    pub(crate) fn process(
        &mut self,
        input: usize,
        msg: Message,
        out: &mut Vec<Message>,
    ) -> Result<()> {
        self.feed(0, input, msg, out)
    }

    fn feed(
        &mut self,
        at: usize,
        input: usize,
        msg: Message,
        out: &mut Vec<Message>,
    ) -> Result<()> {
        if at == self.ops.len() {
            out.push(msg);
            return Ok(());
        }
        let mut local = std::mem::take(&mut self.scratch[at]);
        match msg {
            Message::Data(b) => self.ops[at].on_batch(input, b, &mut local)?,
            Message::Watermark(w) => self.ops[at].on_watermark(w, &mut local)?,
            other => local.push(other),
        }
        let result = self.forward(at, &mut local, out);
        self.scratch[at] = local;
        result
    }

    fn forward(&mut self, at: usize, local: &mut Output, out: &mut Vec<Message>) -> Result<()> {
        let msgs: Vec<Message> = local.drain().collect();
        for m in msgs {
            self.feed(at + 1, 0, m, out)?;
        }
        Ok(())
    }

    /// The source has nothing right now: operators do their time-driven work.
    pub(crate) fn idle_tick(&mut self, out: &mut Vec<Message>) -> Result<()> {
        for at in 0..self.ops.len() {
            let mut local = std::mem::take(&mut self.scratch[at]);
            let result = self.ops[at]
                .on_idle_tick(&mut local)
                .and_then(|()| self.forward(at, &mut local, out));
            self.scratch[at] = local;
            result?;
        }
        Ok(())
    }

    /// The rows that follow come from `split` of the vertex's source.
    pub(crate) fn on_source_split(&mut self, split: u32) {
        for op in &mut self.ops {
            op.on_source_split(split);
        }
    }

    /// Snapshots every operator, head to tail (`portable` for savepoints).
    pub(crate) fn snapshot(
        &mut self,
        checkpoint_id: u64,
        portable: bool,
    ) -> Result<Vec<OperatorSnapshot>> {
        self.ops
            .iter_mut()
            .map(|op| {
                let mut snap = OperatorSnapshot::new(portable);
                op.snapshot(checkpoint_id, &mut snap)?;
                Ok(snap)
            })
            .collect()
    }

    /// Tells every operator that a checkpoint completed.
    pub(crate) fn checkpoint_complete(&mut self, checkpoint_id: u64) -> Result<()> {
        for op in &mut self.ops {
            op.checkpoint_complete(checkpoint_id)?;
        }
        Ok(())
    }

    /// Tells every operator that the whole job reached the end of its input.
    pub(crate) fn finish(&mut self) -> Result<()> {
        for op in &mut self.ops {
            op.finish()?;
        }
        Ok(())
    }

    /// Every input ended: flushes the operators head to tail, each seeing what the ones before
    /// it flushed first.
    pub(crate) fn end(&mut self, out: &mut Vec<Message>) -> Result<()> {
        for at in 0..self.ops.len() {
            let mut local = std::mem::take(&mut self.scratch[at]);
            self.ops[at].on_end(&mut local)?;
            let result = self.forward(at, &mut local, out);
            self.scratch[at] = local;
            result?;
        }
        Ok(())
    }
}
