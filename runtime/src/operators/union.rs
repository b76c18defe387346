use runnel_types::ChangeBatch;

use super::{Operator, Output};
use crate::error::Result;

/// `UNION ALL`: forwards the rows of every input; watermarks arrive min-combined.
pub struct Union;

impl Operator for Union {
    fn on_batch(&mut self, _input: usize, batch: ChangeBatch, out: &mut Output) -> Result<()> {
        out.emit(batch);
        Ok(())
    }
}
