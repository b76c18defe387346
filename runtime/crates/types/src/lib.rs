//! Runnel's data model, shared by the SQL layer, the operators and the connectors.
//!
//! Records travel as Arrow [`RecordBatch`](arrow::record_batch::RecordBatch)es. Updating
//! results (the changelog of a non-windowed aggregate, say) carry one [`RowKind`] per row
//! beside the data, as Flink's `RowData` does, so append-only streams pay nothing for it.

mod changelog;
mod display;
mod flink_type;

pub use changelog::{ChangeBatch, RowKind};
pub use display::{FlinkFormatter, format_row};
pub use flink_type::{flink_type_name, is_integer, is_numeric, time_zone_utc};
