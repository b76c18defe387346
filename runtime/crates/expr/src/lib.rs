//! Flink SQL scalar expressions, compiled from `sqlparser` ASTs into physical expressions that
//! evaluate over Arrow [`RecordBatch`]es with Apache Flink 2.x semantics (types, coercions,
//! null handling, error behaviour).
//!
//! The entry point is [`compile`]: it resolves names against a [`Scope`], derives Flink's result
//! types, inserts the implicit casts Flink would insert, and returns an [`ExprRef`] whose
//! [`PhysicalExpr::evaluate`] runs vectorised Arrow kernels.

#![warn(missing_docs)]

mod cast;
mod compile;
mod datetime;
mod decimal;
mod dialect;
mod error;
mod functions;
mod json;
mod physical;
mod timezone;
mod types;

#[cfg(test)]
mod tests;

use std::fmt::Debug;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Datum, RecordBatch, new_null_array};
use arrow::datatypes::{DataType, Schema};

pub use cast::{CastOptions, can_cast, cast_array, cast_array_with};
pub use compile::compile;
pub use datetime::parse_time_zone_offset;
pub use dialect::{FlinkDialect, parse_flink_data_type};
pub use error::{ExprError, PlanError};
pub use physical::{ScalarValue, column, literal, literal_array};
pub use timezone::SessionTimeZone;
pub use types::{common_type, interval_millis, sql_data_type};

/// A compiled expression: evaluated once per batch, it yields one value per row.
pub trait PhysicalExpr: Send + Sync + Debug {
    /// The Arrow type of the result (fixed at compile time, as in Flink's planner).
    fn data_type(&self) -> &DataType;
    /// Whether the result may contain nulls; planners use it for the output schema.
    fn nullable(&self) -> bool;
    /// Evaluates over every row; the result has batch.num_rows() rows.
    fn evaluate(&self, batch: &RecordBatch) -> Result<ArrayRef, ExprError> {
        self.evaluate_value(batch)?.into_array(batch.num_rows())
    }
    /// Evaluates to an array or, for constant sub-expressions, a single scalar, so literal
    /// operands reach Arrow kernels as `Scalar` datums instead of repeated arrays.
    fn evaluate_value(&self, batch: &RecordBatch) -> Result<ColumnarValue, ExprError>;
    /// The constant value (a one-row array) when this expression is a literal, so compilers
    /// can precompute things such as regular expressions or date patterns.
    fn literal_value(&self) -> Option<&ArrayRef> {
        None
    }
    /// The declared fraction-of-second precision (0 to 9) of a TIMESTAMP / TIMESTAMP_LTZ
    /// result where its Arrow unit holds more digits: TIMESTAMP(0) to TIMESTAMP(2) are carried
    /// in milliseconds (the unit the rest of the runtime works in), their values truncated, so
    /// this tells `CAST(.. AS STRING)` how many fraction digits to print. `None`: the unit's
    /// own (3, 6 or 9).
    fn timestamp_precision(&self) -> Option<u8> {
        None
    }
}

/// A shared, immutable compiled expression.
pub type ExprRef = Arc<dyn PhysicalExpr>;

/// The result of evaluating an expression: a full column, or one value standing for all rows.
#[derive(Debug, Clone)]
pub enum ColumnarValue {
    /// One value per row.
    Array(ArrayRef),
    /// A one-row array whose value applies to every row.
    Scalar(ArrayRef),
}

impl ColumnarValue {
    /// Expands to a column of `num_rows` values.
    pub fn into_array(self, num_rows: usize) -> Result<ArrayRef, ExprError> {
        match self {
            ColumnarValue::Array(a) => Ok(a),
            ColumnarValue::Scalar(s) => repeat_scalar(&s, num_rows),
        }
    }

    /// The values as an array (a scalar stays one row long).
    pub fn array(&self) -> &ArrayRef {
        match self {
            ColumnarValue::Array(a) | ColumnarValue::Scalar(a) => a,
        }
    }

    /// Whether this is a single value standing for all rows.
    pub fn is_scalar(&self) -> bool {
        matches!(self, ColumnarValue::Scalar(_))
    }

    /// The Arrow type of the values.
    pub fn data_type(&self) -> &DataType {
        self.array().data_type()
    }
}

impl Datum for ColumnarValue {
    fn get(&self) -> (&dyn Array, bool) {
        match self {
            ColumnarValue::Array(a) => (a.as_ref(), false),
            ColumnarValue::Scalar(s) => (s.as_ref(), true),
        }
    }
}

/// Whether a one-row value is NULL (also for the untyped NULL literal's NullArray).
pub(crate) fn scalar_is_null(a: &ArrayRef) -> bool {
    a.data_type() == &DataType::Null || a.is_null(0)
}

/// Repeats the single value of `scalar` `n` times.
pub(crate) fn repeat_scalar(scalar: &ArrayRef, n: usize) -> Result<ArrayRef, ExprError> {
    if scalar_is_null(scalar) {
        return Ok(new_null_array(scalar.data_type(), n));
    }
    if n == 1 {
        return Ok(scalar.clone());
    }
    let indices = arrow::array::UInt32Array::from_value(0, n);
    Ok(arrow::compute::take(scalar.as_ref(), &indices, None)?)
}

/// What names an expression can see: the input batch's columns, with optional table qualifiers.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// The input columns, in batch order (column `i` of the scope is column `i` of the batch).
    pub columns: Vec<ScopeColumn>,
    /// Whole sub-expressions already computed upstream (an aggregate call, a GROUP BY
    /// expression), matched structurally before anything else: such a sub-expression
    /// compiles to a reference to that column.
    pub bindings: Vec<(sqlparser::ast::Expr, usize)>,
}

/// One column visible to expressions, as `qualifier.name` or plain `name`.
#[derive(Debug, Clone, PartialEq)]
pub struct ScopeColumn {
    /// The table name or alias that may prefix the column (`t` in `t.a`).
    pub qualifier: Option<String>,
    /// The column name (case-sensitive, as in Flink).
    pub name: String,
    /// The column's Arrow type.
    pub data_type: DataType,
    /// Whether the column may hold nulls.
    pub nullable: bool,
}

impl ScopeColumn {
    /// A column without qualifier, so tests and planners can build scopes tersely.
    pub fn new(name: impl Into<String>, data_type: DataType, nullable: bool) -> Self {
        ScopeColumn {
            qualifier: None,
            name: name.into(),
            data_type,
            nullable,
        }
    }
}

impl Scope {
    /// A scope over a batch schema, every column under the same optional qualifier.
    pub fn from_schema(schema: &Schema, qualifier: Option<&str>) -> Self {
        Scope {
            columns: schema
                .fields()
                .iter()
                .map(|f| ScopeColumn {
                    qualifier: qualifier.map(str::to_string),
                    name: f.name().clone(),
                    data_type: f.data_type().clone(),
                    nullable: f.is_nullable(),
                })
                .collect(),
            bindings: Vec::new(),
        }
    }
}

/// Session settings that change what an expression means.
#[derive(Debug, Clone)]
pub struct CompileContext {
    /// `table.local-time-zone`: a region such as `Asia/Tokyo` (with its daylight-saving
    /// rules), `UTC`, or a fixed offset such as `+08:00` / `GMT-03:00` (see
    /// [`SessionTimeZone::parse`]); used to convert between TIMESTAMP_LTZ values and local
    /// wall-clock time. An unknown name is a plan error for expressions that need the zone.
    pub session_time_zone: String,
    /// The statement's start time (epoch milliseconds), returned by CURRENT_TIMESTAMP, NOW(),
    /// LOCALTIMESTAMP, CURRENT_DATE and UNIX_TIMESTAMP().
    pub statement_time_millis: i64,
}

impl Default for CompileContext {
    fn default() -> Self {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        CompileContext {
            session_time_zone: "UTC".to_string(),
            statement_time_millis: now,
        }
    }
}
