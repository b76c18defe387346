//! The physical expression nodes.

use std::fmt;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BooleanArray, BooleanBufferBuilder, Date32Array,
    Decimal128Array, DurationMillisecondArray, Float32Array, Float64Array, Int8Array, Int16Array,
    Int32Array, Int64Array, IntervalYearMonthArray, RecordBatch, StringArray, StructArray,
    TimestampMillisecondArray, UInt32Array, make_array, new_null_array,
};
use arrow::buffer::NullBuffer;
use arrow::compute::kernels::{boolean, cmp, numeric, zip::zip};
use arrow::compute::{filter_record_batch, take};
use arrow::datatypes::{
    ArrowPrimitiveType, DataType, Date32Type, Decimal128Type, Float32Type, Float64Type, Int8Type,
    Int16Type, Int32Type, Int64Type, IntervalUnit, TimeUnit, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType,
};

use crate::cast::{CastOptions, cast_array_with};
use crate::datetime::{MILLIS_PER_DAY, millis_to_naive, naive_to_millis};
use crate::decimal::decimal_arith;
use crate::error::ExprError;
use crate::types::ArithOp;
use crate::{ColumnarValue, ExprRef, PhysicalExpr};

/// A constant, for planners that build expressions directly.
#[derive(Debug, Clone, PartialEq)]
pub enum ScalarValue {
    /// A typed NULL.
    Null(DataType),
    /// BOOLEAN.
    Boolean(bool),
    /// TINYINT.
    Int8(i8),
    /// SMALLINT.
    Int16(i16),
    /// INT.
    Int32(i32),
    /// BIGINT.
    Int64(i64),
    /// FLOAT.
    Float32(f32),
    /// DOUBLE.
    Float64(f64),
    /// DECIMAL(p, s) as an unscaled value.
    Decimal128(i128, u8, i8),
    /// STRING.
    Utf8(String),
    /// BYTES.
    Binary(Vec<u8>),
    /// DATE, days since the epoch.
    Date32(i32),
    /// TIMESTAMP(3), epoch milliseconds of the wall-clock time.
    TimestampMillis(i64),
    /// TIMESTAMP_LTZ(3), epoch milliseconds of the instant.
    TimestampLtzMillis(i64),
    /// A day-time interval in milliseconds.
    DurationMillis(i64),
    /// A year-month interval in months.
    IntervalMonths(i32),
}

impl ScalarValue {
    /// The value as a one-row Arrow array.
    pub fn to_array(&self) -> ArrayRef {
        match self {
            ScalarValue::Null(dt) => new_null_array(dt, 1),
            ScalarValue::Boolean(v) => Arc::new(BooleanArray::from(vec![*v])),
            ScalarValue::Int8(v) => Arc::new(Int8Array::from(vec![*v])),
            ScalarValue::Int16(v) => Arc::new(Int16Array::from(vec![*v])),
            ScalarValue::Int32(v) => Arc::new(Int32Array::from(vec![*v])),
            ScalarValue::Int64(v) => Arc::new(Int64Array::from(vec![*v])),
            ScalarValue::Float32(v) => Arc::new(Float32Array::from(vec![*v])),
            ScalarValue::Float64(v) => Arc::new(Float64Array::from(vec![*v])),
            ScalarValue::Decimal128(v, p, s) => Arc::new(
                Decimal128Array::from(vec![*v])
                    .with_precision_and_scale(*p, *s)
                    .unwrap_or_else(|_| Decimal128Array::from(vec![*v])),
            ),
            ScalarValue::Utf8(v) => Arc::new(StringArray::from(vec![v.as_str()])),
            ScalarValue::Binary(v) => Arc::new(BinaryArray::from(vec![v.as_slice()])),
            ScalarValue::Date32(v) => Arc::new(Date32Array::from(vec![*v])),
            ScalarValue::TimestampMillis(v) => Arc::new(TimestampMillisecondArray::from(vec![*v])),
            ScalarValue::TimestampLtzMillis(v) => {
                Arc::new(TimestampMillisecondArray::from(vec![*v]).with_timezone("UTC"))
            }
            ScalarValue::DurationMillis(v) => Arc::new(DurationMillisecondArray::from(vec![*v])),
            ScalarValue::IntervalMonths(v) => Arc::new(IntervalYearMonthArray::from(vec![*v])),
        }
    }
}

impl From<bool> for ScalarValue {
    fn from(v: bool) -> Self {
        ScalarValue::Boolean(v)
    }
}
impl From<i32> for ScalarValue {
    fn from(v: i32) -> Self {
        ScalarValue::Int32(v)
    }
}
impl From<i64> for ScalarValue {
    fn from(v: i64) -> Self {
        ScalarValue::Int64(v)
    }
}
impl From<f64> for ScalarValue {
    fn from(v: f64) -> Self {
        ScalarValue::Float64(v)
    }
}
impl From<&str> for ScalarValue {
    fn from(v: &str) -> Self {
        ScalarValue::Utf8(v.to_string())
    }
}
impl From<String> for ScalarValue {
    fn from(v: String) -> Self {
        ScalarValue::Utf8(v)
    }
}

/// A reference to input column `index`, for planners that wire operators directly.
pub fn column(index: usize, data_type: DataType, nullable: bool) -> ExprRef {
    Arc::new(Column {
        index,
        data_type,
        nullable,
    })
}

/// A constant expression from a [`ScalarValue`] (or anything convertible: `bool`, `i32`,
/// `i64`, `f64`, `&str`).
pub fn literal(value: impl Into<ScalarValue>) -> ExprRef {
    literal_array(value.into().to_array())
}

/// A constant expression from a one-row array (its type is the array's type).
pub fn literal_array(value: ArrayRef) -> ExprRef {
    debug_assert_eq!(value.len(), 1, "a literal is one value");
    Arc::new(Literal {
        data_type: value.data_type().clone(),
        value,
        precision: None,
    })
}

/// A constant TIMESTAMP / TIMESTAMP_LTZ of declared precision `precision` (see
/// [`PhysicalExpr::timestamp_precision`]).
pub(crate) fn literal_timestamp(value: ArrayRef, precision: Option<u8>) -> ExprRef {
    debug_assert_eq!(value.len(), 1, "a literal is one value");
    Arc::new(Literal {
        data_type: value.data_type().clone(),
        value,
        precision,
    })
}

#[derive(Debug)]
pub(crate) struct Column {
    pub index: usize,
    pub data_type: DataType,
    pub nullable: bool,
}

impl PhysicalExpr for Column {
    fn data_type(&self) -> &DataType {
        &self.data_type
    }
    fn nullable(&self) -> bool {
        self.nullable
    }
    fn evaluate_value(&self, batch: &RecordBatch) -> Result<ColumnarValue, ExprError> {
        if self.index >= batch.num_columns() {
            return Err(ExprError::Eval(format!(
                "column index {} out of range for a batch of {} columns",
                self.index,
                batch.num_columns()
            )));
        }
        Ok(ColumnarValue::Array(batch.column(self.index).clone()))
    }
}

pub(crate) struct Literal {
    pub value: ArrayRef,
    pub data_type: DataType,
    /// The declared precision of a timestamp constant, where the unit does not tell it.
    pub precision: Option<u8>,
}

impl fmt::Debug for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        runnel_types::FlinkFormatter::Sql.write_value(self.value.as_ref(), 0, &mut s);
        write!(f, "Literal({s}: {})", self.data_type)
    }
}

impl PhysicalExpr for Literal {
    fn data_type(&self) -> &DataType {
        &self.data_type
    }
    fn nullable(&self) -> bool {
        crate::scalar_is_null(&self.value)
    }
    fn evaluate_value(&self, _batch: &RecordBatch) -> Result<ColumnarValue, ExprError> {
        Ok(ColumnarValue::Scalar(self.value.clone()))
    }
    fn literal_value(&self) -> Option<&ArrayRef> {
        Some(&self.value)
    }
    fn timestamp_precision(&self) -> Option<u8> {
        self.precision
    }
}

/// Applies `f` to the array inside a value, keeping it a scalar when it was one.
pub(crate) fn map_value(
    v: ColumnarValue,
    f: impl FnOnce(&ArrayRef) -> Result<ArrayRef, ExprError>,
) -> Result<ColumnarValue, ExprError> {
    Ok(match v {
        ColumnarValue::Array(a) => ColumnarValue::Array(f(&a)?),
        ColumnarValue::Scalar(s) => ColumnarValue::Scalar(f(&s)?),
    })
}

/// Wraps a kernel result: a scalar when both inputs were scalars.
fn wrap(result: ArrayRef, scalar: bool) -> ColumnarValue {
    if scalar {
        ColumnarValue::Scalar(result)
    } else {
        ColumnarValue::Array(result)
    }
}

/// Access to a field of a ROW value (`person.name`); NULL when the row itself is NULL.
#[derive(Debug)]
pub(crate) struct FieldAccess {
    pub input: ExprRef,
    pub index: usize,
    pub data_type: DataType,
}

pub(crate) fn struct_field(parent: &ArrayRef, index: usize) -> ArrayRef {
    let s: &StructArray = parent.as_struct();
    let child = s.column(index).clone();
    match NullBuffer::union(s.nulls(), child.nulls()) {
        Some(nulls) if nulls.null_count() != child.null_count() => {
            let data = child.to_data().into_builder().nulls(Some(nulls));
            // SAFETY-free path: build checked array data
            match data.build() {
                Ok(d) => make_array(d),
                Err(_) => child,
            }
        }
        _ => child,
    }
}

impl PhysicalExpr for FieldAccess {
    fn data_type(&self) -> &DataType {
        &self.data_type
    }
    fn nullable(&self) -> bool {
        true
    }
    fn evaluate_value(&self, batch: &RecordBatch) -> Result<ColumnarValue, ExprError> {
        let v = self.input.evaluate_value(batch)?;
        map_value(v, |a| Ok(struct_field(a, self.index)))
    }
}

/// Numeric `+ - * / %` on operands already cast to `compute` (or DECIMAL operands).
#[derive(Debug)]
pub(crate) struct Arith {
    pub op: ArithOp,
    pub left: ExprRef,
    pub right: ExprRef,
    pub data_type: DataType,
    pub nullable: bool,
    pub text: String,
}

impl PhysicalExpr for Arith {
    fn data_type(&self) -> &DataType {
        &self.data_type
    }
    fn nullable(&self) -> bool {
        self.nullable
    }
    fn evaluate_value(&self, batch: &RecordBatch) -> Result<ColumnarValue, ExprError> {
        let l = self.left.evaluate_value(batch)?;
        let r = self.right.evaluate_value(batch)?;
        let scalar = l.is_scalar() && r.is_scalar();
        if let DataType::Decimal128(p, s) = self.data_type {
            return Ok(wrap(
                decimal_arith(self.op, &l, &r, p, s, &self.text)?,
                scalar,
            ));
        }
        let float = matches!(l.data_type(), DataType::Float32 | DataType::Float64);
        let res = match self.op {
            ArithOp::Add => numeric::add_wrapping(&l, &r),
            ArithOp::Sub => numeric::sub_wrapping(&l, &r),
            ArithOp::Mul => numeric::mul_wrapping(&l, &r),
            ArithOp::Div => numeric::div(&l, &r),
            ArithOp::Mod => numeric::rem(&l, &r),
        };
        let res = res.map_err(|e| match e {
            arrow::error::ArrowError::DivideByZero => ExprError::DivideByZero(self.text.clone()),
            arrow::error::ArrowError::ArithmeticOverflow(_) if !float => {
                ExprError::Eval(format!("integer overflow in `{}`", self.text))
            }
            other => other.into(),
        })?;
        let res = if res.data_type() != &self.data_type {
            cast_array_with(&res, &self.data_type, &CastOptions::default())?
        } else {
            res
        };
        Ok(wrap(res, scalar))
    }
}

/// Unary minus.
#[derive(Debug)]
pub(crate) struct Negate {
    pub input: ExprRef,
}

impl PhysicalExpr for Negate {
    fn data_type(&self) -> &DataType {
        self.input.data_type()
    }
    fn nullable(&self) -> bool {
        self.input.nullable()
    }
    fn evaluate_value(&self, batch: &RecordBatch) -> Result<ColumnarValue, ExprError> {
        let v = self.input.evaluate_value(batch)?;
        map_value(v, |a| match a.data_type() {
            DataType::Decimal128(p, s) => {
                let arr: Decimal128Array = a
                    .as_primitive::<Decimal128Type>()
                    .unary::<_, Decimal128Type>(|x| -x);
                Ok(Arc::new(arr.with_precision_and_scale(*p, *s)?))
            }
            _ => Ok(numeric::neg_wrapping(a.as_ref())?),
        })
    }
}

/// TIMESTAMP / DATE / TIMESTAMP_LTZ plus or minus an interval (right operand), sign ±1.
#[derive(Debug)]
pub(crate) struct TemporalArith {
    pub input: ExprRef,
    pub interval: ExprRef,
    pub negate: bool,
    pub nullable: bool,
}

fn add_months(ms: i64, months: i32) -> Option<i64> {
    let dt = millis_to_naive(ms)?;
    let moved = if months >= 0 {
        dt.checked_add_months(chrono::Months::new(months as u32))?
    } else {
        dt.checked_sub_months(chrono::Months::new(months.unsigned_abs()))?
    };
    Some(naive_to_millis(&moved))
}

impl PhysicalExpr for TemporalArith {
    fn data_type(&self) -> &DataType {
        self.input.data_type()
    }
    fn nullable(&self) -> bool {
        self.nullable
    }
    fn evaluate_value(&self, batch: &RecordBatch) -> Result<ColumnarValue, ExprError> {
        let base = self.input.evaluate_value(batch)?;
        let iv = self.interval.evaluate_value(batch)?;
        let scalar = base.is_scalar() && iv.is_scalar();
        let n = if scalar {
            1
        } else if base.is_scalar() {
            iv.array().len()
        } else {
            base.array().len()
        };
        let base_arr = if base.is_scalar() && !scalar {
            base.clone().into_array(n)?
        } else {
            base.array().clone()
        };
        let iv_arr = if iv.is_scalar() && !scalar {
            iv.clone().into_array(n)?
        } else {
            iv.array().clone()
        };
        let sign = if self.negate { -1 } else { 1 };
        let out: ArrayRef = match iv_arr.data_type() {
            DataType::Duration(_) => {
                let d = iv_arr.as_primitive::<arrow::datatypes::DurationMillisecondType>();
                match base_arr.data_type() {
                    DataType::Date32 => {
                        let b = base_arr.as_primitive::<Date32Type>();
                        let r: Date32Array = arrow::compute::binary(b, d, |days, ms| {
                            days + (sign * ms).div_euclid(MILLIS_PER_DAY) as i32
                        })?;
                        Arc::new(r)
                    }
                    DataType::Timestamp(unit, tz) => {
                        let per_ms = unit_per_milli(unit);
                        let generic = ts_values(&base_arr)?;
                        let vals: Vec<Option<i64>> = generic
                            .iter()
                            .zip(d.iter())
                            .map(|(t, ms)| match (t, ms) {
                                (Some(t), Some(ms)) => {
                                    Some(t.wrapping_add((sign * ms).wrapping_mul(per_ms)))
                                }
                                _ => None,
                            })
                            .collect();
                        ts_from_values(vals, unit, tz.clone())
                    }
                    other => {
                        return Err(ExprError::Eval(format!(
                            "cannot add an interval to {other}"
                        )));
                    }
                }
            }
            DataType::Interval(IntervalUnit::YearMonth) => {
                let m = iv_arr.as_primitive::<arrow::datatypes::IntervalYearMonthType>();
                match base_arr.data_type() {
                    DataType::Date32 => {
                        let b = base_arr.as_primitive::<Date32Type>();
                        let vals: Vec<Option<i32>> = b
                            .iter()
                            .zip(m.iter())
                            .map(|(d, m)| match (d, m) {
                                (Some(d), Some(m)) => {
                                    add_months(d as i64 * MILLIS_PER_DAY, sign as i32 * m)
                                        .map(|ms| ms.div_euclid(MILLIS_PER_DAY) as i32)
                                }
                                _ => None,
                            })
                            .collect();
                        Arc::new(Date32Array::from(vals))
                    }
                    DataType::Timestamp(unit, tz) => {
                        let per_ms = unit_per_milli(unit);
                        let generic = ts_values(&base_arr)?;
                        let vals: Vec<Option<i64>> = generic
                            .iter()
                            .zip(m.iter())
                            .map(|(t, m)| match (t, m) {
                                (Some(t), Some(m)) => {
                                    let ms = t.div_euclid(per_ms);
                                    let rem = t.rem_euclid(per_ms);
                                    add_months(ms, sign as i32 * m).map(|x| x * per_ms + rem)
                                }
                                _ => None,
                            })
                            .collect();
                        ts_from_values(vals, unit, tz.clone())
                    }
                    other => {
                        return Err(ExprError::Eval(format!(
                            "cannot add an interval to {other}"
                        )));
                    }
                }
            }
            other => return Err(ExprError::Eval(format!("not an interval: {other}"))),
        };
        Ok(wrap(out, scalar))
    }
}

/// Units of a timestamp per millisecond (0 for seconds is not used: seconds are rare).
pub(crate) fn unit_per_milli(unit: &TimeUnit) -> i64 {
    match unit {
        TimeUnit::Second => 1,
        TimeUnit::Millisecond => 1,
        TimeUnit::Microsecond => 1_000,
        TimeUnit::Nanosecond => 1_000_000,
    }
}

/// The raw i64 values of any timestamp array.
pub(crate) fn ts_values(a: &ArrayRef) -> Result<Vec<Option<i64>>, ExprError> {
    Ok(match a.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => {
            a.as_primitive::<TimestampSecondType>().iter().collect()
        }
        DataType::Timestamp(TimeUnit::Millisecond, _) => a
            .as_primitive::<TimestampMillisecondType>()
            .iter()
            .collect(),
        DataType::Timestamp(TimeUnit::Microsecond, _) => a
            .as_primitive::<TimestampMicrosecondType>()
            .iter()
            .collect(),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            a.as_primitive::<TimestampNanosecondType>().iter().collect()
        }
        other => return Err(ExprError::Eval(format!("not a timestamp: {other}"))),
    })
}

/// Builds a timestamp array of `unit` and zone from raw values.
pub(crate) fn ts_from_values(
    vals: Vec<Option<i64>>,
    unit: &TimeUnit,
    tz: Option<Arc<str>>,
) -> ArrayRef {
    use arrow::array::PrimitiveArray;
    match unit {
        TimeUnit::Second => {
            Arc::new(PrimitiveArray::<TimestampSecondType>::from(vals).with_timezone_opt(tz))
        }
        TimeUnit::Millisecond => {
            Arc::new(PrimitiveArray::<TimestampMillisecondType>::from(vals).with_timezone_opt(tz))
        }
        TimeUnit::Microsecond => {
            Arc::new(PrimitiveArray::<TimestampMicrosecondType>::from(vals).with_timezone_opt(tz))
        }
        TimeUnit::Nanosecond => {
            Arc::new(PrimitiveArray::<TimestampNanosecondType>::from(vals).with_timezone_opt(tz))
        }
    }
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
    Distinct,
    NotDistinct,
}

/// `l op r` on operands of one common type.
#[derive(Debug)]
pub(crate) struct Compare {
    pub op: CmpOp,
    pub left: ExprRef,
    pub right: ExprRef,
}

pub(crate) fn compare_values(
    op: CmpOp,
    l: &ColumnarValue,
    r: &ColumnarValue,
) -> Result<BooleanArray, ExprError> {
    Ok(match op {
        CmpOp::Eq => cmp::eq(l, r)?,
        CmpOp::NotEq => cmp::neq(l, r)?,
        CmpOp::Lt => cmp::lt(l, r)?,
        CmpOp::LtEq => cmp::lt_eq(l, r)?,
        CmpOp::Gt => cmp::gt(l, r)?,
        CmpOp::GtEq => cmp::gt_eq(l, r)?,
        CmpOp::Distinct => cmp::distinct(l, r)?,
        CmpOp::NotDistinct => cmp::not_distinct(l, r)?,
    })
}

impl PhysicalExpr for Compare {
    fn data_type(&self) -> &DataType {
        &DataType::Boolean
    }
    fn nullable(&self) -> bool {
        !matches!(self.op, CmpOp::Distinct | CmpOp::NotDistinct)
            && (self.left.nullable() || self.right.nullable())
    }
    fn evaluate_value(&self, batch: &RecordBatch) -> Result<ColumnarValue, ExprError> {
        let l = self.left.evaluate_value(batch)?;
        let r = self.right.evaluate_value(batch)?;
        let scalar = l.is_scalar() && r.is_scalar();
        Ok(wrap(Arc::new(compare_values(self.op, &l, &r)?), scalar))
    }
}

/// Rows where `mask` is true (NULL counts as false).
fn true_mask(mask: &BooleanArray) -> BooleanArray {
    match mask.nulls() {
        None => mask.clone(),
        Some(_) => arrow::compute::prep_null_mask_filter(mask),
    }
}

/// Evaluates `expr` for the rows selected by `mask` (others may hold anything). Evaluates all
/// rows first, which is cheapest; only when that fails (a division by zero or a bad CAST in
/// a row the surrounding CASE / AND / OR would not reach) it retries on the selected rows,
/// so guarded expressions behave as Flink's short-circuiting generated code.
pub(crate) fn eval_selected(
    expr: &ExprRef,
    batch: &RecordBatch,
    mask: &BooleanArray,
) -> Result<ColumnarValue, ExprError> {
    match expr.evaluate_value(batch) {
        Ok(v) => Ok(v),
        Err(e) => {
            let mask = true_mask(mask);
            let selected = mask.true_count();
            if selected == batch.num_rows() {
                return Err(e);
            }
            if selected == 0 {
                return Ok(ColumnarValue::Scalar(new_null_array(expr.data_type(), 1)));
            }
            let sub = filter_record_batch(batch, &mask)?;
            let values = expr.evaluate(&sub)?;
            let mut next = 0u32;
            let indices: UInt32Array = mask
                .values()
                .iter()
                .map(|m| {
                    if m {
                        next += 1;
                        Some(next - 1)
                    } else {
                        None
                    }
                })
                .collect();
            Ok(ColumnarValue::Array(take(values.as_ref(), &indices, None)?))
        }
    }
}

fn to_bool(v: &ColumnarValue, n: usize) -> Result<BooleanArray, ExprError> {
    let a = v.clone().into_array(n)?;
    Ok(a.as_boolean().clone())
}

/// AND / OR with SQL three-valued logic; the right side is only needed (and only may fail)
/// where the left side does not decide.
#[derive(Debug)]
pub(crate) struct Logic {
    pub and: bool,
    pub left: ExprRef,
    pub right: ExprRef,
}

impl PhysicalExpr for Logic {
    fn data_type(&self) -> &DataType {
        &DataType::Boolean
    }
    fn nullable(&self) -> bool {
        self.left.nullable() || self.right.nullable()
    }
    fn evaluate_value(&self, batch: &RecordBatch) -> Result<ColumnarValue, ExprError> {
        let l = self.left.evaluate_value(batch)?;
        if let ColumnarValue::Scalar(s) = &l {
            let b = s.as_boolean();
            if b.is_valid(0) && b.value(0) != self.and {
                // FALSE AND x = FALSE, TRUE OR x = TRUE
                return Ok(l);
            }
        }
        let n = batch.num_rows();
        let la = to_bool(&l, n)?;
        // Rows the left side decides: false for AND, true for OR.
        let decided = if self.and {
            boolean::not(&la)?
        } else {
            la.clone()
        };
        let decided = true_mask(&decided);
        if decided.true_count() == n {
            return Ok(ColumnarValue::Array(Arc::new(la)));
        }
        let undecided = boolean::not(&decided)?;
        let r = eval_selected(&self.right, batch, &undecided)?;
        if l.is_scalar() && r.is_scalar() {
            let ls = l.array().as_boolean();
            let rs = r.array().as_boolean();
            let out = if self.and {
                boolean::and_kleene(ls, rs)?
            } else {
                boolean::or_kleene(ls, rs)?
            };
            return Ok(ColumnarValue::Scalar(Arc::new(out)));
        }
        let ra = to_bool(&r, n)?;
        let out = if self.and {
            boolean::and_kleene(&la, &ra)?
        } else {
            boolean::or_kleene(&la, &ra)?
        };
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

/// NOT.
#[derive(Debug)]
pub(crate) struct Not {
    pub input: ExprRef,
}

impl PhysicalExpr for Not {
    fn data_type(&self) -> &DataType {
        &DataType::Boolean
    }
    fn nullable(&self) -> bool {
        self.input.nullable()
    }
    fn evaluate_value(&self, batch: &RecordBatch) -> Result<ColumnarValue, ExprError> {
        let v = self.input.evaluate_value(batch)?;
        map_value(v, |a| Ok(Arc::new(boolean::not(a.as_boolean())?)))
    }
}

/// The null tests: IS [NOT] NULL, IS [NOT] TRUE, IS [NOT] FALSE (never NULL themselves).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::enum_variant_names)]
pub(crate) enum NullTest {
    IsNull,
    IsNotNull,
    IsTrue,
    IsNotTrue,
    IsFalse,
    IsNotFalse,
}

#[derive(Debug)]
pub(crate) struct IsTest {
    pub test: NullTest,
    pub input: ExprRef,
}

impl PhysicalExpr for IsTest {
    fn data_type(&self) -> &DataType {
        &DataType::Boolean
    }
    fn nullable(&self) -> bool {
        false
    }
    fn evaluate_value(&self, batch: &RecordBatch) -> Result<ColumnarValue, ExprError> {
        let v = self.input.evaluate_value(batch)?;
        let test = self.test;
        map_value(v, |a| {
            let out = match test {
                NullTest::IsNull => boolean::is_null(a.as_ref())?,
                NullTest::IsNotNull => boolean::is_not_null(a.as_ref())?,
                _ => {
                    let b = a.as_boolean();
                    let want = matches!(test, NullTest::IsTrue | NullTest::IsNotTrue);
                    let negate = matches!(test, NullTest::IsNotTrue | NullTest::IsNotFalse);
                    let mut builder = BooleanBufferBuilder::new(b.len());
                    for i in 0..b.len() {
                        let hit = b.is_valid(i) && b.value(i) == want;
                        builder.append(hit != negate);
                    }
                    BooleanArray::new(builder.finish(), None)
                }
            };
            Ok(Arc::new(out) as ArrayRef)
        })
    }
}

/// Searched CASE (simple CASE is compiled to equalities); branches are evaluated only for
/// the rows that reach them when evaluating them on all rows fails.
#[derive(Debug)]
pub(crate) struct Case {
    pub whens: Vec<(ExprRef, ExprRef)>,
    pub otherwise: Option<ExprRef>,
    pub data_type: DataType,
}

impl PhysicalExpr for Case {
    fn data_type(&self) -> &DataType {
        &self.data_type
    }
    fn nullable(&self) -> bool {
        self.otherwise.as_ref().is_none_or(|e| e.nullable())
            || self.whens.iter().any(|(_, t)| t.nullable())
    }
    fn evaluate_value(&self, batch: &RecordBatch) -> Result<ColumnarValue, ExprError> {
        let n = batch.num_rows();
        let mut acc: ColumnarValue = ColumnarValue::Scalar(new_null_array(&self.data_type, 1));
        let mut remaining = BooleanArray::from(vec![true; n]);
        let mut any_array = false;
        for (when, then) in &self.whens {
            let cond = eval_selected(when, batch, &remaining)?;
            let cond = true_mask(&to_bool(&cond, n)?);
            let hit = boolean::and(&remaining, &cond)?;
            if hit.true_count() == 0 {
                continue;
            }
            let value = eval_selected(then, batch, &hit)?;
            acc = ColumnarValue::Array(zip(&hit, &value, &acc)?);
            any_array = true;
            remaining = boolean::and_not(&remaining, &hit)?;
            if remaining.true_count() == 0 {
                return Ok(acc);
            }
        }
        if let Some(other) = &self.otherwise {
            let value = eval_selected(other, batch, &remaining)?;
            if !any_array {
                return Ok(value);
            }
            acc = ColumnarValue::Array(zip(&remaining, &value, &acc)?);
        }
        Ok(acc)
    }
}

/// COALESCE / IFNULL: the first non-NULL argument.
#[derive(Debug)]
pub(crate) struct Coalesce {
    pub args: Vec<ExprRef>,
    pub data_type: DataType,
}

impl PhysicalExpr for Coalesce {
    fn data_type(&self) -> &DataType {
        &self.data_type
    }
    fn nullable(&self) -> bool {
        self.args.iter().all(|a| a.nullable())
    }
    fn evaluate_value(&self, batch: &RecordBatch) -> Result<ColumnarValue, ExprError> {
        let mut acc = self.args[0].evaluate_value(batch)?;
        for arg in &self.args[1..] {
            if acc.array().null_count() == 0 {
                return Ok(acc);
            }
            let n = batch.num_rows();
            let acc_arr = acc.clone().into_array(n)?;
            let present = boolean::is_not_null(acc_arr.as_ref())?;
            let missing = boolean::not(&present)?;
            let next = eval_selected(arg, batch, &missing)?;
            acc = ColumnarValue::Array(zip(&present, &acc_arr, &next)?);
        }
        Ok(acc)
    }
}

/// CAST / TRY_CAST.
#[derive(Debug)]
pub(crate) struct Cast {
    pub input: ExprRef,
    pub to: DataType,
    pub options: CastOptions,
    pub nullable: bool,
}

impl PhysicalExpr for Cast {
    fn data_type(&self) -> &DataType {
        &self.to
    }
    fn nullable(&self) -> bool {
        self.nullable
    }
    fn evaluate_value(&self, batch: &RecordBatch) -> Result<ColumnarValue, ExprError> {
        let v = self.input.evaluate_value(batch)?;
        map_value(v, |a| cast_array_with(a, &self.to, &self.options))
    }
    fn timestamp_precision(&self) -> Option<u8> {
        match self.to {
            DataType::Timestamp(_, _) => self.options.timestamp_precision,
            _ => None,
        }
    }
}

/// A function implemented by a closure over evaluated arguments.
pub(crate) type FnImpl =
    Arc<dyn Fn(&[ColumnarValue], usize) -> Result<ColumnarValue, ExprError> + Send + Sync>;

pub(crate) struct ScalarFn {
    pub name: String,
    pub args: Vec<ExprRef>,
    pub data_type: DataType,
    pub nullable: bool,
    pub f: FnImpl,
}

impl fmt::Debug for ScalarFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({:?}) -> {}", self.name, self.args, self.data_type)
    }
}

impl PhysicalExpr for ScalarFn {
    fn data_type(&self) -> &DataType {
        &self.data_type
    }
    fn nullable(&self) -> bool {
        self.nullable
    }
    fn evaluate_value(&self, batch: &RecordBatch) -> Result<ColumnarValue, ExprError> {
        let args = self
            .args
            .iter()
            .map(|a| a.evaluate_value(batch))
            .collect::<Result<Vec<_>, _>>()?;
        let all_scalar = args.iter().all(|a| a.is_scalar());
        let n = if all_scalar { 1 } else { batch.num_rows() };
        let out = (self.f)(&args, n)?;
        Ok(match out {
            ColumnarValue::Array(a) if all_scalar && a.len() == 1 => ColumnarValue::Scalar(a),
            other => other,
        })
    }
}

/// Values of the set an IN list tests against.
#[derive(Debug)]
pub(crate) enum InSet {
    Int(ahash::HashSet<i64>),
    Float(ahash::HashSet<u64>),
    Decimal(ahash::HashSet<i128>),
    Str(ahash::HashSet<Box<str>>),
    Bool([bool; 2]),
}

/// `x [NOT] IN (literals..)` with a hash set.
#[derive(Debug)]
pub(crate) struct InList {
    pub input: ExprRef,
    pub set: InSet,
    pub list_has_null: bool,
    pub negated: bool,
}

fn float_key(v: f64) -> u64 {
    if v == 0.0 { 0 } else { v.to_bits() }
}

/// The non-null values of a primitive column, each mapped through `f`, collected.
fn valid_values<T: ArrowPrimitiveType, R, C: FromIterator<R>>(
    values: &ArrayRef,
    f: impl Fn(T::Native) -> R,
) -> C {
    values.as_primitive::<T>().iter().flatten().map(f).collect()
}

impl InList {
    pub(crate) fn build_set(values: &ArrayRef) -> Option<InSet> {
        Some(match values.data_type() {
            DataType::Int8 => InSet::Int(valid_values::<Int8Type, _, _>(values, |v| v as i64)),
            DataType::Int16 => InSet::Int(valid_values::<Int16Type, _, _>(values, |v| v as i64)),
            DataType::Int32 => InSet::Int(valid_values::<Int32Type, _, _>(values, |v| v as i64)),
            DataType::Date32 => InSet::Int(valid_values::<Date32Type, _, _>(values, |v| v as i64)),
            DataType::Int64 => InSet::Int(valid_values::<Int64Type, _, _>(values, |v| v)),
            DataType::Timestamp(_, _) => {
                InSet::Int(ts_values(values).ok()?.into_iter().flatten().collect())
            }
            DataType::Float32 => InSet::Float(valid_values::<Float32Type, _, _>(values, |v| {
                float_key(v as f64)
            })),
            DataType::Float64 => InSet::Float(valid_values::<Float64Type, _, _>(values, float_key)),
            DataType::Decimal128(_, _) => {
                InSet::Decimal(valid_values::<Decimal128Type, _, _>(values, |v| v))
            }
            DataType::Utf8 => InSet::Str(
                values
                    .as_string::<i32>()
                    .iter()
                    .flatten()
                    .map(Box::from)
                    .collect(),
            ),
            DataType::Boolean => {
                let mut b = [false; 2];
                for v in values.as_boolean().iter().flatten() {
                    b[v as usize] = true;
                }
                InSet::Bool(b)
            }
            _ => return None,
        })
    }

    fn probe(&self, a: &ArrayRef) -> Result<BooleanArray, ExprError> {
        let n = a.len();
        let mut values = BooleanBufferBuilder::new(n);
        let mut valid = BooleanBufferBuilder::new(n);
        let mut push = |present: Option<bool>| match present {
            None => {
                values.append(false);
                valid.append(false);
            }
            Some(true) => {
                values.append(!self.negated);
                valid.append(true);
            }
            Some(false) if self.list_has_null => {
                values.append(false);
                valid.append(false);
            }
            Some(false) => {
                values.append(self.negated);
                valid.append(true);
            }
        };
        macro_rules! ints {
            ($t:ty, $set:expr) => {{
                let arr = a.as_primitive::<$t>();
                for i in 0..n {
                    push(if arr.is_null(i) {
                        None
                    } else {
                        Some($set.contains(&(arr.value(i) as i64)))
                    });
                }
            }};
        }
        match (&self.set, a.data_type()) {
            (InSet::Int(s), DataType::Int8) => ints!(Int8Type, s),
            (InSet::Int(s), DataType::Int16) => ints!(Int16Type, s),
            (InSet::Int(s), DataType::Int32) => ints!(Int32Type, s),
            (InSet::Int(s), DataType::Int64) => ints!(Int64Type, s),
            (InSet::Int(s), DataType::Date32) => ints!(Date32Type, s),
            (InSet::Int(s), DataType::Timestamp(_, _)) => {
                for v in ts_values(a)? {
                    push(v.map(|v| s.contains(&v)));
                }
            }
            (InSet::Float(s), DataType::Float32) => {
                let arr = a.as_primitive::<Float32Type>();
                for v in arr.iter() {
                    push(v.map(|v| s.contains(&float_key(v as f64))));
                }
            }
            (InSet::Float(s), DataType::Float64) => {
                let arr = a.as_primitive::<Float64Type>();
                for v in arr.iter() {
                    push(v.map(|v| s.contains(&float_key(v))));
                }
            }
            (InSet::Decimal(s), DataType::Decimal128(_, _)) => {
                let arr = a.as_primitive::<Decimal128Type>();
                for v in arr.iter() {
                    push(v.map(|v| s.contains(&v)));
                }
            }
            (InSet::Str(s), DataType::Utf8) => {
                for v in a.as_string::<i32>().iter() {
                    push(v.map(|v| s.contains(v)));
                }
            }
            (InSet::Bool(b), DataType::Boolean) => {
                for v in a.as_boolean().iter() {
                    push(v.map(|v| b[v as usize]));
                }
            }
            (_, other) => {
                return Err(ExprError::Eval(format!(
                    "IN list does not match input type {other}"
                )));
            }
        }
        let valid = valid.finish();
        let nulls = NullBuffer::new(valid);
        Ok(BooleanArray::new(
            values.finish(),
            if nulls.null_count() > 0 {
                Some(nulls)
            } else {
                None
            },
        ))
    }
}

impl PhysicalExpr for InList {
    fn data_type(&self) -> &DataType {
        &DataType::Boolean
    }
    fn nullable(&self) -> bool {
        self.input.nullable() || self.list_has_null
    }
    fn evaluate_value(&self, batch: &RecordBatch) -> Result<ColumnarValue, ExprError> {
        let v = self.input.evaluate_value(batch)?;
        map_value(v, |a| Ok(Arc::new(self.probe(a)?) as ArrayRef))
    }
}

/// `s [NOT] LIKE pattern` where the pattern is already in Arrow's syntax (backslash escapes).
#[derive(Debug)]
pub(crate) struct Like {
    pub input: ExprRef,
    pub pattern: ExprRef,
    /// The ESCAPE character, when the pattern is not a literal translated at compile time.
    pub escape: Option<Option<char>>,
    pub negated: bool,
}

/// Rewrites a Flink LIKE pattern (with an optional ESCAPE character; without one, no
/// character escapes) into Arrow's LIKE syntax, whose escape is the backslash.
pub(crate) fn translate_like(pattern: &str, escape: Option<char>) -> Result<String, String> {
    let mut out = String::with_capacity(pattern.len() + 4);
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if Some(c) == escape {
            match chars.next() {
                Some(n) if n == '%' || n == '_' || Some(n) == escape => {
                    out.push('\\');
                    out.push(n);
                }
                _ => {
                    return Err(format!(
                        "invalid escape sequence in LIKE pattern '{pattern}' (the escape character must precede '%', '_' or itself)"
                    ));
                }
            }
        } else if c == '\\' {
            out.push_str("\\\\");
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

impl PhysicalExpr for Like {
    fn data_type(&self) -> &DataType {
        &DataType::Boolean
    }
    fn nullable(&self) -> bool {
        self.input.nullable() || self.pattern.nullable()
    }
    fn evaluate_value(&self, batch: &RecordBatch) -> Result<ColumnarValue, ExprError> {
        let s = self.input.evaluate_value(batch)?;
        let mut p = self.pattern.evaluate_value(batch)?;
        if let Some(escape) = self.escape {
            let arr = p.array().as_string::<i32>();
            let mut translated = Vec::with_capacity(arr.len());
            for v in arr.iter() {
                translated.push(match v {
                    Some(v) => Some(translate_like(v, escape).map_err(ExprError::Eval)?),
                    None => None,
                });
            }
            let t: ArrayRef = Arc::new(StringArray::from(translated));
            p = if p.is_scalar() {
                ColumnarValue::Scalar(t)
            } else {
                ColumnarValue::Array(t)
            };
        }
        let scalar = s.is_scalar() && p.is_scalar();
        let out = if self.negated {
            arrow::compute::kernels::comparison::nlike(&s, &p)?
        } else {
            arrow::compute::kernels::comparison::like(&s, &p)?
        };
        Ok(wrap(Arc::new(out), scalar))
    }
}

/// A sub-expression used more than once in an expression: evaluated once per batch, the
/// result kept for the other uses (keyed by the batch's column arrays, which the cache holds
/// alive, so a match is always the same data).
pub(crate) struct Shared {
    inner: ExprRef,
    last: std::sync::Mutex<Option<(RecordBatch, ColumnarValue)>>,
}

impl Shared {
    pub(crate) fn new(inner: ExprRef) -> Shared {
        Shared {
            inner,
            last: std::sync::Mutex::new(None),
        }
    }
}

fn same_batch(a: &RecordBatch, b: &RecordBatch) -> bool {
    a.num_rows() == b.num_rows()
        && a.num_columns() == b.num_columns()
        && a.columns()
            .iter()
            .zip(b.columns())
            .all(|(x, y)| Arc::ptr_eq(x, y))
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Shared({:?})", self.inner)
    }
}

impl PhysicalExpr for Shared {
    fn data_type(&self) -> &DataType {
        self.inner.data_type()
    }
    fn nullable(&self) -> bool {
        self.inner.nullable()
    }
    fn evaluate_value(&self, batch: &RecordBatch) -> Result<ColumnarValue, ExprError> {
        {
            let last = self.last.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((b, v)) = last.as_ref()
                && same_batch(b, batch)
            {
                return Ok(v.clone());
            }
        }
        let v = self.inner.evaluate_value(batch)?;
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some((batch.clone(), v.clone()));
        Ok(v)
    }
    fn literal_value(&self) -> Option<&ArrayRef> {
        self.inner.literal_value()
    }
    fn timestamp_precision(&self) -> Option<u8> {
        self.inner.timestamp_precision()
    }
}
