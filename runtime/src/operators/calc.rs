use arrow::array::{Array, ArrayRef, BooleanArray};
use arrow::compute::prep_null_mask_filter;
use arrow::datatypes::SchemaRef;
use runnel_expr::ExprRef;
use runnel_types::ChangeBatch;

use super::{Operator, Output};
use crate::error::Result;

/// Filter then projection, fused like Flink's `Calc`: the stateless core of most queries.
pub struct Calc {
    filter: Option<ExprRef>,
    projection: Vec<ExprRef>,
    schema: SchemaRef,
}

impl Calc {
    /// A calc emitting `projection` (one expression per `schema` field) of rows passing `filter`.
    pub fn new(filter: Option<ExprRef>, projection: Vec<ExprRef>, schema: SchemaRef) -> Self {
        Calc {
            filter,
            projection,
            schema,
        }
    }

    /// Applies the calc to one batch.
    pub fn apply(&self, batch: ChangeBatch) -> Result<ChangeBatch> {
        let batch = match &self.filter {
            None => batch,
            Some(f) => {
                let mask = f.evaluate(&batch.data)?;
                let mask = mask
                    .as_any()
                    .downcast_ref::<BooleanArray>()
                    .expect("filter expressions are BOOLEAN");
                if mask.null_count() == 0 && mask.true_count() == mask.len() {
                    batch
                } else {
                    let mask = if mask.null_count() > 0 {
                        prep_null_mask_filter(mask)
                    } else {
                        mask.clone()
                    };
                    batch.filter(&mask)?
                }
            }
        };
        if batch.num_rows() == 0 {
            return Ok(batch);
        }
        let cols: Vec<ArrayRef> = self
            .projection
            .iter()
            .map(|e| e.evaluate(&batch.data))
            .collect::<std::result::Result<_, _>>()?;
        Ok(batch.with_columns(self.schema.clone(), cols)?)
    }
}

impl Operator for Calc {
    fn on_batch(&mut self, _input: usize, batch: ChangeBatch, out: &mut Output) -> Result<()> {
        out.emit(self.apply(batch)?);
        Ok(())
    }
}
