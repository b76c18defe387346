//! Runnel's data model, shared by the SQL layer, the operators and the connectors.
//!
//! Records travel as Arrow [`RecordBatch`](arrow::record_batch::RecordBatch)es. Updating
//! results (the changelog of a non-windowed aggregate, say) carry one [`RowKind`] per row
//! beside the data, as Flink's `RowData` does, so append-only streams pay nothing for it.

mod changelog;
mod display;
mod flink_type;
mod java_map;

pub use changelog::{ChangeBatch, RowKind};
pub use display::{FlinkFormatter, format_row};
pub use flink_type::{flink_type_name, is_integer, is_numeric, time_zone_utc};
pub use java_map::{
    JavaKeys, binary_string_hash, hash_map_order, java_hash_code, java_hash_map_order,
    java_string_hash, to_generic_map_layout,
};
