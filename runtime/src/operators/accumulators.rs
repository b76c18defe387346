//! Aggregate functions as per-key accumulators that can also retract, so one implementation
//! serves append-only windows and updating (changelog) aggregates.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Decimal128Builder, Float64Builder, Int64Builder,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Decimal128Type, Float64Type, Int64Type};
use arrow::row::{OwnedRow, RowConverter, Rows, SortField};

use crate::checkpoint::{StateReader, StateWriter};
use crate::error::{Result, RunnelError};

/// Which aggregate function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AggFunc {
    /// `COUNT(*)`.
    CountStar,
    /// `COUNT(x)`: non-null values.
    Count,
    /// `SUM(x)`.
    Sum,
    /// `AVG(x)`, in the argument's type family as Flink computes it.
    Avg,
    /// `MIN(x)`.
    Min,
    /// `MAX(x)`.
    Max,
}

/// One aggregate call of a query, bound to the columns of the pre-aggregation batch.
#[derive(Clone, Debug)]
pub struct AggSpec {
    /// The function.
    pub func: AggFunc,
    /// `DISTINCT` in the call.
    pub distinct: bool,
    /// Column holding the argument (none for `COUNT(*)`).
    pub arg: Option<usize>,
    /// Column holding the `FILTER (WHERE ..)` condition.
    pub filter: Option<usize>,
    /// Type of the argument.
    pub arg_type: DataType,
    /// Type of the result, as Flink derives it.
    pub output_type: DataType,
}

impl AggSpec {
    /// Flink's result type of `func` over `arg`.
    pub fn result_type(func: AggFunc, arg: &DataType) -> Result<DataType> {
        Ok(match func {
            AggFunc::CountStar | AggFunc::Count => DataType::Int64,
            AggFunc::Min | AggFunc::Max => arg.clone(),
            AggFunc::Sum => match arg {
                DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => arg.clone(),
                DataType::Float32 | DataType::Float64 => DataType::Float64,
                DataType::Decimal128(_, s) => DataType::Decimal128(38, *s),
                other => return Err(bad_arg("SUM", other)),
            },
            AggFunc::Avg => match arg {
                DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => arg.clone(),
                DataType::Float32 | DataType::Float64 => DataType::Float64,
                DataType::Decimal128(_, s) => DataType::Decimal128(38, (*s).max(6)),
                other => return Err(bad_arg("AVG", other)),
            },
        })
    }
}

fn bad_arg(f: &str, t: &DataType) -> RunnelError {
    RunnelError::Plan(format!(
        "{f} does not accept an argument of type {}",
        runnel_types::flink_type_name(t)
    ))
}

/// An argument column prepared once per batch in the form its accumulator reads.
pub enum ArgColumn {
    /// No argument (`COUNT(*)`).
    None,
    /// Only whether the argument is NULL matters (`COUNT(x)`).
    Validity(ArrayRef),
    /// Integers widened to BIGINT.
    I64(ArrayRef),
    /// Floating point as DOUBLE.
    F64(ArrayRef),
    /// Decimals, unscaled.
    Dec(ArrayRef),
    /// Any type as order-preserving row bytes (MIN, MAX, DISTINCT), with a validity copy.
    Rows(Rows, ArrayRef),
}

/// Per-aggregate machinery shared by all keys: converters between values and row bytes.
pub struct AggRuntime {
    /// The call.
    pub spec: AggSpec,
    converter: Option<RowConverter>,
    /// Whether the input retracts rows (MIN/MAX then keep every value).
    retractions: bool,
}

impl AggRuntime {
    /// Prepares the call.
    pub fn new(mut spec: AggSpec, retractions: bool) -> Result<Self> {
        // DISTINCT changes nothing for MIN and MAX.
        if matches!(spec.func, AggFunc::Min | AggFunc::Max) {
            spec.distinct = false;
        }
        let needs_rows = spec.distinct || matches!(spec.func, AggFunc::Min | AggFunc::Max);
        let converter = if needs_rows {
            Some(RowConverter::new(vec![SortField::new(
                spec.arg_type.clone(),
            )])?)
        } else {
            None
        };
        Ok(AggRuntime {
            spec,
            converter,
            retractions,
        })
    }

    /// A fresh accumulator.
    pub fn create(&self) -> Acc {
        let inner = match self.spec.func {
            AggFunc::CountStar | AggFunc::Count => AccInner::Count(0),
            AggFunc::Sum | AggFunc::Avg => match self.spec.arg_type {
                DataType::Float32 | DataType::Float64 => AccInner::SumF(0.0, 0),
                DataType::Decimal128(_, _) => AccInner::SumD(0, 0),
                _ => AccInner::SumI(0, 0),
            },
            AggFunc::Min | AggFunc::Max if self.retractions => AccInner::Ordered(BTreeMap::new()),
            AggFunc::Min => AccInner::Extreme(None, Extreme::Min),
            AggFunc::Max => AccInner::Extreme(None, Extreme::Max),
        };
        if self.spec.distinct {
            Acc::Distinct(HashMap::new(), Box::new(inner))
        } else {
            Acc::Plain(inner)
        }
    }

    /// Converts the argument column of a batch.
    pub fn prepare(&self, columns: &[ArrayRef]) -> Result<ArgColumn> {
        let Some(i) = self.spec.arg else {
            return Ok(ArgColumn::None);
        };
        let col = &columns[i];
        if let Some(conv) = &self.converter {
            return Ok(ArgColumn::Rows(
                conv.convert_columns(std::slice::from_ref(col))?,
                col.clone(),
            ));
        }
        if self.spec.func == AggFunc::Count {
            return Ok(ArgColumn::Validity(col.clone()));
        }
        Ok(match col.data_type() {
            DataType::Float32 | DataType::Float64 => ArgColumn::F64(cast(col, &DataType::Float64)?),
            DataType::Decimal128(_, _) => ArgColumn::Dec(col.clone()),
            DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => {
                ArgColumn::I64(cast(col, &DataType::Int64)?)
            }
            _ => ArgColumn::I64(cast(col, &DataType::Int64)?),
        })
    }

    /// Whether row `row` passes the call's FILTER.
    pub fn passes(&self, columns: &[ArrayRef], row: usize) -> bool {
        match self.spec.filter {
            None => true,
            Some(f) => {
                let b: &BooleanArray = columns[f].as_boolean();
                b.is_valid(row) && b.value(row)
            }
        }
    }

    /// Turns finished values into a column of the output type.
    pub fn build(&self, values: Vec<AggValue>) -> Result<ArrayRef> {
        let out = &self.spec.output_type;
        if matches!(self.spec.func, AggFunc::Min | AggFunc::Max) {
            let conv = self.converter.as_ref().expect("min/max have a converter");
            let mut rows = Vec::with_capacity(values.len());
            let mut nulls = Vec::new();
            for (i, v) in values.iter().enumerate() {
                match v {
                    AggValue::Row(r) => rows.push(r.row()),
                    _ => nulls.push(i),
                }
            }
            if nulls.is_empty() {
                let mut cols = conv.convert_rows(rows)?;
                return Ok(cols.remove(0));
            }
            // Nulls (empty groups) are rare: build per value.
            let null_row =
                conv.convert_columns(&[arrow::array::new_null_array(&self.spec.arg_type, 1)])?;
            let null_owned = null_row.row(0).owned();
            let owned: Vec<OwnedRow> = values
                .iter()
                .map(|v| match v {
                    AggValue::Row(r) => r.clone(),
                    _ => null_owned.clone(),
                })
                .collect();
            let mut cols = conv.convert_rows(owned.iter().map(|r| r.row()))?;
            return Ok(cols.remove(0));
        }
        let arr: ArrayRef = match out {
            DataType::Float32 | DataType::Float64 => {
                let mut b = Float64Builder::with_capacity(values.len());
                for v in &values {
                    match v {
                        AggValue::F64(x) => b.append_value(x.0),
                        _ => b.append_null(),
                    }
                }
                Arc::new(b.finish())
            }
            DataType::Decimal128(p, s) => {
                let mut b = Decimal128Builder::with_capacity(values.len());
                for v in &values {
                    match v {
                        AggValue::Dec(x) => b.append_value(*x),
                        _ => b.append_null(),
                    }
                }
                return Ok(Arc::new(b.finish().with_precision_and_scale(*p, *s)?));
            }
            _ => {
                let mut b = Int64Builder::with_capacity(values.len());
                for v in &values {
                    match v {
                        AggValue::I64(x) => b.append_value(*x),
                        _ => b.append_null(),
                    }
                }
                Arc::new(b.finish())
            }
        };
        if arr.data_type() == out {
            Ok(arr)
        } else {
            Ok(cast(&arr, out)?)
        }
    }

    /// Adds (or, with `retract`, removes) row `row` into `acc`.
    pub fn update(&self, acc: &mut Acc, arg: &ArgColumn, row: usize, retract: bool) {
        match acc {
            Acc::Plain(inner) => inner.update(arg, row, retract),
            Acc::Distinct(seen, inner) => {
                let ArgColumn::Rows(rows, col) = arg else {
                    return;
                };
                if col.is_null(row) {
                    return;
                }
                let key = rows.row(row);
                let before = seen.get(key.as_ref()).copied().unwrap_or(0);
                let after = before + if retract { -1 } else { 1 };
                if after <= 0 {
                    seen.remove(key.as_ref());
                } else if before == 0 {
                    seen.insert(key.as_ref().into(), after);
                } else if let Some(c) = seen.get_mut(key.as_ref()) {
                    *c = after;
                }
                if before == 0 && after > 0 {
                    inner.update_distinct(col, row, false);
                } else if before > 0 && after <= 0 {
                    inner.update_distinct(col, row, true);
                }
            }
        }
    }

    /// The current result of `acc`.
    pub fn value(&self, acc: &Acc) -> AggValue {
        let inner = match acc {
            Acc::Plain(i) => i,
            Acc::Distinct(_, i) => i,
        };
        let avg = self.spec.func == AggFunc::Avg;
        match inner {
            AccInner::Count(c) => AggValue::I64(*c),
            AccInner::SumI(s, n) => {
                if *n == 0 {
                    AggValue::Null
                } else if avg {
                    AggValue::I64(s / n)
                } else {
                    AggValue::I64(*s)
                }
            }
            AccInner::SumF(s, n) => {
                if *n == 0 {
                    AggValue::Null
                } else if avg {
                    AggValue::F64(F64Eq(s / *n as f64))
                } else {
                    AggValue::F64(F64Eq(*s))
                }
            }
            AccInner::SumD(s, n) => {
                if *n == 0 {
                    AggValue::Null
                } else if avg {
                    let (in_scale, out_scale) = match (&self.spec.arg_type, &self.spec.output_type)
                    {
                        (DataType::Decimal128(_, a), DataType::Decimal128(_, b)) => (*a, *b),
                        _ => (0, 0),
                    };
                    let scaled = s * 10i128.pow((out_scale - in_scale).max(0) as u32);
                    // Round half up, as BigDecimal division in Flink's AVG.
                    let q = scaled / *n as i128;
                    let r = scaled % *n as i128;
                    let q = if (r.abs() * 2) >= (*n as i128) {
                        q + scaled.signum()
                    } else {
                        q
                    };
                    AggValue::Dec(q)
                } else {
                    AggValue::Dec(*s)
                }
            }
            AccInner::Ordered(_) | AccInner::Extreme(..) => {
                let v = match inner {
                    AccInner::Ordered(m) if self.spec.func == AggFunc::Min => m.keys().next(),
                    AccInner::Ordered(m) => m.keys().next_back(),
                    AccInner::Extreme(v, _) => v.as_ref(),
                    _ => unreachable!("matched above"),
                };
                match v {
                    Some(bytes) => {
                        let conv = self.converter.as_ref().expect("min/max have a converter");
                        AggValue::Row(conv.parser().parse(bytes).owned())
                    }
                    None => AggValue::Null,
                }
            }
        }
    }
}

/// Turns rows of finished values (one `Vec` per output row, one value per call) into columns.
pub fn build_columns(aggs: &[AggRuntime], values: Vec<Vec<AggValue>>) -> Result<Vec<ArrayRef>> {
    let n = values.len();
    let mut per_agg: Vec<Vec<AggValue>> = (0..aggs.len()).map(|_| Vec::with_capacity(n)).collect();
    for row in values {
        for (i, v) in row.into_iter().enumerate() {
            per_agg[i].push(v);
        }
    }
    aggs.iter().zip(per_agg).map(|(a, v)| a.build(v)).collect()
}

/// A finished aggregate value, before it goes into a column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AggValue {
    /// No value (SUM over no non-null input).
    Null,
    /// An integer result.
    I64(i64),
    /// A decimal result, unscaled.
    Dec(i128),
    /// A value of any type in row format (MIN, MAX).
    Row(OwnedRow),
    /// A floating-point result.
    F64(F64Eq),
}

/// An `f64` compared by bits, so unchanged aggregates are detected exactly.
#[derive(Clone, Copy, Debug)]
pub struct F64Eq(pub f64);

impl PartialEq for F64Eq {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}
impl Eq for F64Eq {}

/// The state of one aggregate call for one key.
pub enum Acc {
    /// Plain accumulation.
    Plain(AccInner),
    /// DISTINCT: counts per distinct value, feeding the inner accumulator once per value.
    Distinct(HashMap<Box<[u8]>, i64>, Box<AccInner>),
}

/// The running value of an aggregate.
pub enum AccInner {
    /// COUNT.
    Count(i64),
    /// Integer SUM/AVG: sum and count of non-null inputs.
    SumI(i64, i64),
    /// Floating SUM/AVG.
    SumF(f64, i64),
    /// Decimal SUM/AVG, unscaled.
    SumD(i128, i64),
    /// MIN/MAX with retraction: value bytes and multiplicity.
    Ordered(BTreeMap<Box<[u8]>, i64>),
    /// MIN/MAX of an append-only input: the extreme value's bytes so far.
    Extreme(Option<Box<[u8]>>, Extreme),
}

/// Which end an append-only MIN/MAX keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Extreme {
    /// The smallest value.
    Min,
    /// The largest value.
    Max,
}

impl AccInner {
    fn update(&mut self, arg: &ArgColumn, row: usize, retract: bool) {
        let d: i64 = if retract { -1 } else { 1 };
        match (self, arg) {
            (AccInner::Count(c), ArgColumn::None) => *c += d,
            (AccInner::Count(c), ArgColumn::Rows(_, a))
            | (AccInner::Count(c), ArgColumn::Validity(a))
            | (AccInner::Count(c), ArgColumn::I64(a))
            | (AccInner::Count(c), ArgColumn::F64(a))
            | (AccInner::Count(c), ArgColumn::Dec(a))
                if a.is_valid(row) =>
            {
                *c += d
            }
            (AccInner::SumI(s, n), ArgColumn::I64(a)) if a.is_valid(row) => {
                *s = s.wrapping_add(d * a.as_primitive::<Int64Type>().value(row));
                *n += d;
            }
            (AccInner::SumF(s, n), ArgColumn::F64(a)) if a.is_valid(row) => {
                *s += d as f64 * a.as_primitive::<Float64Type>().value(row);
                *n += d;
            }
            (AccInner::SumD(s, n), ArgColumn::Dec(a)) if a.is_valid(row) => {
                *s += d as i128 * a.as_primitive::<Decimal128Type>().value(row);
                *n += d;
            }
            (AccInner::Extreme(v, end), ArgColumn::Rows(rows, a)) if a.is_valid(row) => {
                let new = rows.row(row);
                let better = match v.as_deref() {
                    None => true,
                    Some(old) => match end {
                        Extreme::Min => new.as_ref() < old,
                        Extreme::Max => new.as_ref() > old,
                    },
                };
                if better {
                    *v = Some(new.as_ref().into());
                }
            }
            (AccInner::Ordered(m), ArgColumn::Rows(rows, a)) if a.is_valid(row) => {
                let key: Box<[u8]> = rows.row(row).as_ref().into();
                let e = m.entry(key).or_insert(0);
                *e += d;
                if *e <= 0 {
                    let key: Box<[u8]> = rows.row(row).as_ref().into();
                    m.remove(&key);
                }
            }
            _ => {}
        }
    }

    fn update_distinct(&mut self, col: &ArrayRef, row: usize, retract: bool) {
        let d: i64 = if retract { -1 } else { 1 };
        match self {
            AccInner::Count(c) => *c += d,
            AccInner::SumI(s, n) => {
                if let Ok(v) = cast(&col.slice(row, 1), &DataType::Int64) {
                    *s += d * v.as_primitive::<Int64Type>().value(0);
                    *n += d;
                }
            }
            AccInner::SumF(s, n) => {
                if let Ok(v) = cast(&col.slice(row, 1), &DataType::Float64) {
                    *s += d as f64 * v.as_primitive::<Float64Type>().value(0);
                    *n += d;
                }
            }
            AccInner::SumD(s, n) => {
                *s += d as i128 * col.as_primitive::<Decimal128Type>().value(row);
                *n += d;
            }
            AccInner::Ordered(_) | AccInner::Extreme(..) => {}
        }
    }
}

impl Acc {
    /// Writes the accumulator into a checkpoint blob.
    pub fn write(&self, w: &mut StateWriter) {
        match self {
            Acc::Plain(inner) => {
                w.u64(0);
                inner.write(w);
            }
            Acc::Distinct(counts, inner) => {
                w.u64(1);
                w.u64(counts.len() as u64);
                for (value, n) in counts {
                    w.bytes(value);
                    w.i64(*n);
                }
                inner.write(w);
            }
        }
    }

    /// Reads what [`Acc::write`] wrote.
    pub fn read(r: &mut StateReader<'_>) -> Result<Self> {
        match r.u64()? {
            0 => Ok(Acc::Plain(AccInner::read(r)?)),
            1 => {
                let n = r.count()?;
                let mut counts = HashMap::with_capacity(n);
                for _ in 0..n {
                    let value: Box<[u8]> = r.bytes()?.into();
                    counts.insert(value, r.i64()?);
                }
                Ok(Acc::Distinct(counts, Box::new(AccInner::read(r)?)))
            }
            t => Err(RunnelError::State(format!("unknown accumulator tag {t}"))),
        }
    }
}

impl AccInner {
    fn write(&self, w: &mut StateWriter) {
        match self {
            AccInner::Count(c) => {
                w.u64(0);
                w.i64(*c);
            }
            AccInner::SumI(s, n) => {
                w.u64(1);
                w.i64(*s);
                w.i64(*n);
            }
            AccInner::SumF(s, n) => {
                w.u64(2);
                w.f64(*s);
                w.i64(*n);
            }
            AccInner::SumD(s, n) => {
                w.u64(3);
                w.i128(*s);
                w.i64(*n);
            }
            AccInner::Extreme(v, end) => {
                w.u64(5);
                w.bool(*end == Extreme::Max);
                w.bool(v.is_some());
                if let Some(v) = v {
                    w.bytes(v);
                }
            }
            AccInner::Ordered(m) => {
                w.u64(4);
                w.u64(m.len() as u64);
                for (value, n) in m {
                    w.bytes(value);
                    w.i64(*n);
                }
            }
        }
    }

    fn read(r: &mut StateReader<'_>) -> Result<Self> {
        Ok(match r.u64()? {
            0 => AccInner::Count(r.i64()?),
            1 => AccInner::SumI(r.i64()?, r.i64()?),
            2 => AccInner::SumF(r.f64()?, r.i64()?),
            3 => AccInner::SumD(r.i128()?, r.i64()?),
            4 => {
                let n = r.count()?;
                let mut m = BTreeMap::new();
                for _ in 0..n {
                    let value: Box<[u8]> = r.bytes()?.into();
                    m.insert(value, r.i64()?);
                }
                AccInner::Ordered(m)
            }
            5 => {
                let end = if r.bool()? {
                    Extreme::Max
                } else {
                    Extreme::Min
                };
                let v = if r.bool()? {
                    Some(r.bytes()?.into())
                } else {
                    None
                };
                AccInner::Extreme(v, end)
            }
            t => return Err(RunnelError::State(format!("unknown accumulator tag {t}"))),
        })
    }
}
