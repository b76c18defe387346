use runnel_types::ChangeBatch;
use tokio::sync::mpsc;

use super::{Operator, Output};
use crate::error::{Result, RunnelError};

/// The sink of a bare `SELECT`: hands every batch to the client that asked, like Flink's
/// collect sink behind `TableResult.print()`.
pub struct Collect {
    tx: mpsc::UnboundedSender<ChangeBatch>,
}

impl Collect {
    /// Sends batches to `tx`.
    pub fn new(tx: mpsc::UnboundedSender<ChangeBatch>) -> Self {
        Collect { tx }
    }
}

impl Operator for Collect {
    fn on_batch(&mut self, _input: usize, batch: ChangeBatch, _out: &mut Output) -> Result<()> {
        self.tx.send(batch).map_err(|_| RunnelError::Cancelled)
    }

    fn on_watermark(&mut self, _watermark: i64, _out: &mut Output) -> Result<()> {
        Ok(())
    }
}
