use arrow::array::{ArrayRef, UInt32Array};
use tokio::sync::mpsc;

use super::metrics::{TaskMetrics, Wait};

use crate::dataflow::{Message, Partitioning, assign_key_group, subtask_for_key_group};
use crate::error::{Result, RunnelError};
use crate::state::hash_columns;

/// One outgoing edge of a subtask: the senders to its downstream subtasks and the routing rule.
pub(crate) struct OutputEdge {
    pub(crate) partitioning: Partitioning,
    /// For `Forward`, a single sender (to the subtask of the same index).
    pub(crate) senders: Vec<mpsc::Sender<Message>>,
    pub(crate) max_parallelism: u32,
    pub(crate) round_robin: usize,
    hashes: Vec<u64>,
}

impl OutputEdge {
    pub(crate) fn new(
        partitioning: Partitioning,
        senders: Vec<mpsc::Sender<Message>>,
        max_parallelism: u32,
        subtask_index: u32,
    ) -> Self {
        OutputEdge {
            partitioning,
            senders,
            max_parallelism,
            round_robin: subtask_index as usize,
            hashes: Vec::new(),
        }
    }

    /// Sends to one receiver; time spent waiting for room there counts as backpressure.
    async fn send_to(&self, target: usize, msg: Message, metrics: &TaskMetrics) -> Result<()> {
        let sender = &self.senders[target];
        let msg = match sender.try_send(msg) {
            Ok(()) => return Ok(()),
            Err(mpsc::error::TrySendError::Closed(_)) => return Err(RunnelError::Cancelled),
            Err(mpsc::error::TrySendError::Full(msg)) => msg,
        };
        metrics.begin_wait(Wait::Output);
        let sent = sender.send(msg).await;
        metrics.end_wait();
        sent.map_err(|_| RunnelError::Cancelled)
    }

    /// Routes one message; data is split by key, control messages go to every receiver.
    pub(crate) async fn send(&mut self, msg: &Message, metrics: &TaskMetrics) -> Result<()> {
        let Message::Data(batch) = msg else {
            for i in 0..self.senders.len() {
                self.send_to(i, msg.clone(), metrics).await?;
            }
            return Ok(());
        };
        match &self.partitioning {
            Partitioning::Forward | Partitioning::Single => {
                self.send_to(0, msg.clone(), metrics).await
            }
            Partitioning::Broadcast => {
                for i in 0..self.senders.len() {
                    self.send_to(i, msg.clone(), metrics).await?;
                }
                Ok(())
            }
            Partitioning::Rebalance => {
                let i = self.round_robin % self.senders.len();
                self.round_robin = self.round_robin.wrapping_add(1);
                self.send_to(i, msg.clone(), metrics).await
            }
            Partitioning::Hash(keys) => {
                let n = self.senders.len();
                if n == 1 {
                    return self.send_to(0, msg.clone(), metrics).await;
                }
                let cols: Vec<ArrayRef> = keys
                    .iter()
                    .map(|k| k.evaluate(&batch.data))
                    .collect::<std::result::Result<_, _>>()?;
                hash_columns(&cols, batch.num_rows(), &mut self.hashes)?;
                let mut per_target: Vec<Vec<u32>> = vec![Vec::new(); n];
                for (row, h) in self.hashes.iter().enumerate() {
                    let kg = assign_key_group(*h, self.max_parallelism);
                    let t = subtask_for_key_group(kg, self.max_parallelism, n as u32);
                    per_target[t as usize].push(row as u32);
                }
                for (t, rows) in per_target.into_iter().enumerate() {
                    if rows.is_empty() {
                        continue;
                    }
                    let part = if rows.len() == batch.num_rows() {
                        batch.clone()
                    } else {
                        batch.take(&UInt32Array::from(rows))?
                    };
                    self.send_to(t, Message::Data(part), metrics).await?;
                }
                Ok(())
            }
        }
    }
}
