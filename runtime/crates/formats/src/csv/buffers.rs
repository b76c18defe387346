//! Column buffers for csv decoding: values parsed from text, appended row by row, and able to
//! drop a half-appended row (`truncate`) when a later column of it fails.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, ArrowPrimitiveType, BinaryArray, ListArray, NullArray, PrimitiveArray, StringArray,
    StructArray,
};
use arrow::buffer::{NullBuffer, OffsetBuffer};
use arrow::compute::kernels::cast_utils::parse_decimal;
use arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Field, FieldRef, Fields, Float32Type, Float64Type,
    Int8Type, Int16Type, Int32Type, Int64Type, Time32MillisecondType, TimeUnit,
};
use arrow::error::ArrowError;

use crate::text::{
    decode_base64, flink_name, parse_date, parse_time_millis, parse_timestamp, timestamp_array,
    timestamp_pattern, to_unit,
};

/// What appending needs from the options.
pub(crate) struct Ctx<'a> {
    pub(crate) array_delimiter: &'a str,
    pub(crate) null_literal: Option<&'a str>,
    /// `csv.ignore-parse-errors`: unparsable values become NULL.
    pub(crate) ignore: bool,
}

/// Values and validity of a primitive column.
pub(crate) struct Prim<T> {
    values: Vec<T>,
    valid: Vec<bool>,
}

impl<T: Default> Prim<T> {
    fn new() -> Self {
        Prim {
            values: Vec::new(),
            valid: Vec::new(),
        }
    }
    fn push(&mut self, v: Option<T>) {
        self.valid.push(v.is_some());
        self.values.push(v.unwrap_or_default());
    }
    fn truncate(&mut self, n: usize) {
        self.values.truncate(n);
        self.valid.truncate(n);
    }
    fn take(&mut self) -> (Vec<T>, Option<NullBuffer>) {
        let nulls = take_nulls(&mut self.valid);
        (std::mem::take(&mut self.values), nulls)
    }
}

fn take_nulls(valid: &mut Vec<bool>) -> Option<NullBuffer> {
    let v = std::mem::take(valid);
    if v.iter().all(|b| *b) {
        None
    } else {
        Some(NullBuffer::from(v))
    }
}

/// Variable-length values (STRING, BYTES).
pub(crate) struct Bytes {
    data: Vec<u8>,
    offsets: Vec<i32>,
    valid: Vec<bool>,
}

impl Bytes {
    fn new() -> Self {
        Bytes {
            data: Vec::new(),
            offsets: vec![0],
            valid: Vec::new(),
        }
    }
    fn push(&mut self, v: Option<&[u8]>) {
        if let Some(v) = v {
            self.data.extend_from_slice(v);
        }
        self.offsets.push(self.data.len() as i32);
        self.valid.push(v.is_some());
    }
    fn truncate(&mut self, n: usize) {
        if n < self.valid.len() {
            self.data.truncate(self.offsets[n] as usize);
            self.offsets.truncate(n + 1);
            self.valid.truncate(n);
        }
    }
    fn take(&mut self) -> (OffsetBuffer<i32>, arrow::buffer::Buffer, Option<NullBuffer>) {
        let offsets = std::mem::replace(&mut self.offsets, vec![0]);
        let data = std::mem::take(&mut self.data);
        (
            OffsetBuffer::new(offsets.into()),
            data.into(),
            take_nulls(&mut self.valid),
        )
    }
}

enum Kind {
    Null(usize),
    Bool(Prim<bool>),
    I8(Prim<i8>),
    I16(Prim<i16>),
    I32(Prim<i32>),
    I64(Prim<i64>),
    F32(Prim<f32>),
    F64(Prim<f64>),
    Decimal(Prim<i128>, u8, i8),
    Str(Bytes),
    Bin(Bytes),
    Date(Prim<i32>),
    Time(Prim<i32>),
    Ts(Prim<i64>, DataType, TimeUnit, bool),
    List {
        offsets: Vec<i32>,
        valid: Vec<bool>,
        child: Box<Buf>,
        field: FieldRef,
    },
    Struct {
        fields: Fields,
        children: Vec<Buf>,
        valid: Vec<bool>,
    },
}

/// One column (or nested field) being built.
pub(crate) struct Buf {
    kind: Kind,
    data_type: DataType,
    nullable: bool,
}

impl Buf {
    pub(crate) fn new(field: &Field) -> Buf {
        let dt = field.data_type().clone();
        let kind = match &dt {
            DataType::Boolean => Kind::Bool(Prim::new()),
            DataType::Int8 => Kind::I8(Prim::new()),
            DataType::Int16 => Kind::I16(Prim::new()),
            DataType::Int32 => Kind::I32(Prim::new()),
            DataType::Int64 => Kind::I64(Prim::new()),
            DataType::Float32 => Kind::F32(Prim::new()),
            DataType::Float64 => Kind::F64(Prim::new()),
            DataType::Decimal128(p, s) => Kind::Decimal(Prim::new(), *p, *s),
            DataType::Utf8 => Kind::Str(Bytes::new()),
            DataType::Binary => Kind::Bin(Bytes::new()),
            DataType::Date32 => Kind::Date(Prim::new()),
            DataType::Time32(_) => Kind::Time(Prim::new()),
            DataType::Timestamp(unit, tz) => Kind::Ts(Prim::new(), dt.clone(), *unit, tz.is_some()),
            DataType::List(f) => Kind::List {
                offsets: vec![0],
                valid: Vec::new(),
                child: Box::new(Buf::new(f)),
                field: f.clone(),
            },
            DataType::Struct(fields) => Kind::Struct {
                fields: fields.clone(),
                children: fields.iter().map(|f| Buf::new(f)).collect(),
                valid: Vec::new(),
            },
            // check_schema admits nothing else.
            _ => Kind::Null(0),
        };
        Buf {
            kind,
            data_type: dt,
            nullable: field.is_nullable(),
        }
    }

    /// Appends NULL because the enclosing ROW is NULL (allowed even when not nullable).
    fn append_masked_null(&mut self) {
        match &mut self.kind {
            Kind::Null(n) => *n += 1,
            Kind::Bool(p) => p.push(None),
            Kind::I8(p) => p.push(None),
            Kind::I16(p) => p.push(None),
            Kind::I32(p) => p.push(None),
            Kind::I64(p) => p.push(None),
            Kind::F32(p) => p.push(None),
            Kind::F64(p) => p.push(None),
            Kind::Decimal(p, ..) => p.push(None),
            Kind::Str(b) | Kind::Bin(b) => b.push(None),
            Kind::Date(p) => p.push(None),
            Kind::Time(p) => p.push(None),
            Kind::Ts(p, ..) => p.push(None),
            Kind::List { offsets, valid, .. } => {
                offsets.push(*offsets.last().expect("offsets start with 0"));
                valid.push(false);
            }
            Kind::Struct {
                children, valid, ..
            } => {
                for c in children {
                    c.append_masked_null();
                }
                valid.push(false);
            }
        }
    }

    /// Appends the value of `text` (`None`: NULL). Non-string values are trimmed, and empty
    /// text is NULL for them. A value that does not parse is an error, or NULL with `ignore`.
    pub(crate) fn append(&mut self, text: Option<&str>, ctx: &Ctx<'_>) -> Result<(), String> {
        let Some(raw) = text else {
            if !self.nullable {
                return Err(format!(
                    "NULL for a NOT NULL {} value",
                    flink_name(&self.data_type)
                ));
            }
            self.append_masked_null();
            return Ok(());
        };
        let t = raw.trim();
        if t.is_empty()
            && !matches!(
                self.kind,
                Kind::Str(_) | Kind::Bin(_) | Kind::List { .. } | Kind::Struct { .. }
            )
        {
            return self.append(None, ctx);
        }
        let dt = &self.data_type;
        let bad = |what: &str| -> String {
            match what {
                "" => format!("cannot parse \"{raw}\" as {}", flink_name(dt)),
                w => format!("cannot parse \"{raw}\" as {}: {w}", flink_name(dt)),
            }
        };
        let parsed: Result<(), String> = match &mut self.kind {
            Kind::Null(n) => {
                *n += 1;
                Ok(())
            }
            Kind::Bool(p) => {
                p.push(Some(t.eq_ignore_ascii_case("true")));
                Ok(())
            }
            Kind::I8(p) => t.parse().map(|v| p.push(Some(v))).map_err(|_| bad("")),
            Kind::I16(p) => t.parse().map(|v| p.push(Some(v))).map_err(|_| bad("")),
            Kind::I32(p) => t.parse().map(|v| p.push(Some(v))).map_err(|_| bad("")),
            Kind::I64(p) => t.parse().map(|v| p.push(Some(v))).map_err(|_| bad("")),
            Kind::F32(p) => t.parse().map(|v| p.push(Some(v))).map_err(|_| bad("")),
            Kind::F64(p) => t.parse().map(|v| p.push(Some(v))).map_err(|_| bad("")),
            Kind::Decimal(p, precision, scale) => {
                match parse_decimal::<Decimal128Type>(t, *precision, *scale) {
                    Ok(v) => {
                        p.push(Some(v));
                        Ok(())
                    }
                    // Too large for the precision: NULL, as Flink's DecimalData makes it.
                    Err(_) if parse_decimal::<Decimal128Type>(t, 38, *scale).is_ok() => {
                        p.push(None);
                        Ok(())
                    }
                    Err(_) => Err(bad("")),
                }
            }
            Kind::Str(b) => {
                b.push(Some(raw.as_bytes()));
                Ok(())
            }
            Kind::Bin(b) => {
                let mut bytes = Vec::new();
                match decode_base64(t, &mut bytes) {
                    Some(()) => {
                        b.push(Some(&bytes));
                        Ok(())
                    }
                    None => Err(bad("not base64")),
                }
            }
            Kind::Date(p) => parse_date(t.as_bytes())
                .map(|v| p.push(Some(v)))
                .ok_or_else(|| bad("expected 'yyyy-MM-dd'")),
            Kind::Time(p) => parse_time_millis(t.as_bytes())
                .map(|v| p.push(Some(v)))
                .ok_or_else(|| bad("expected 'HH:mm:ss[.SSS]'")),
            Kind::Ts(p, _, unit, zulu) => parse_timestamp(t.as_bytes(), b' ', *zulu)
                .and_then(|(s, n)| to_unit(s, n, *unit))
                .map(|v| p.push(Some(v)))
                .ok_or_else(|| bad(&format!("expected '{}'", timestamp_pattern(b' ', *zulu)))),
            Kind::List {
                offsets,
                valid,
                child,
                ..
            } => {
                let before = child.len();
                if !raw.is_empty() {
                    for element in raw.split(ctx.array_delimiter) {
                        let element = Some(element).filter(|e| Some(*e) != ctx.null_literal);
                        if let Err(e) = child.append(element, ctx) {
                            child.truncate(before);
                            return Err(format!("array element: {e}"));
                        }
                    }
                }
                offsets.push(child.len() as i32);
                valid.push(true);
                Ok(())
            }
            Kind::Struct {
                fields,
                children,
                valid,
            } => {
                let n = valid.len();
                let parts: Vec<&str> = raw.split(ctx.array_delimiter).collect();
                if parts.len() < children.len() && !ctx.ignore {
                    return Err(format!(
                        "row length mismatch: {} fields expected but was {}",
                        children.len(),
                        parts.len()
                    ));
                }
                for (k, child) in children.iter_mut().enumerate() {
                    let part = parts
                        .get(k)
                        .copied()
                        .filter(|e| Some(*e) != ctx.null_literal);
                    if let Err(e) = child.append(part, ctx) {
                        for c in &mut children[..=k] {
                            c.truncate(n);
                        }
                        return Err(format!("field '{}': {e}", fields[k].name()));
                    }
                }
                valid.push(true);
                Ok(())
            }
        };
        match parsed {
            // Unparsable values are NULL with ignore-parse-errors; a NOT NULL one fails the row.
            Err(e)
                if ctx.ignore && !matches!(self.kind, Kind::List { .. } | Kind::Struct { .. }) =>
            {
                self.append(None, ctx).map_err(|_| e)
            }
            other => other,
        }
    }

    fn len(&self) -> usize {
        match &self.kind {
            Kind::Null(n) => *n,
            Kind::Bool(p) => p.valid.len(),
            Kind::I8(p) => p.valid.len(),
            Kind::I16(p) => p.valid.len(),
            Kind::I32(p) => p.valid.len(),
            Kind::I64(p) => p.valid.len(),
            Kind::F32(p) => p.valid.len(),
            Kind::F64(p) => p.valid.len(),
            Kind::Decimal(p, ..) => p.valid.len(),
            Kind::Str(b) | Kind::Bin(b) => b.valid.len(),
            Kind::Date(p) => p.valid.len(),
            Kind::Time(p) => p.valid.len(),
            Kind::Ts(p, ..) => p.valid.len(),
            Kind::List { valid, .. } | Kind::Struct { valid, .. } => valid.len(),
        }
    }

    /// Drops the rows from `n` on.
    pub(crate) fn truncate(&mut self, n: usize) {
        match &mut self.kind {
            Kind::Null(c) => *c = (*c).min(n),
            Kind::Bool(p) => p.truncate(n),
            Kind::I8(p) => p.truncate(n),
            Kind::I16(p) => p.truncate(n),
            Kind::I32(p) => p.truncate(n),
            Kind::I64(p) => p.truncate(n),
            Kind::F32(p) => p.truncate(n),
            Kind::F64(p) => p.truncate(n),
            Kind::Decimal(p, ..) => p.truncate(n),
            Kind::Str(b) | Kind::Bin(b) => b.truncate(n),
            Kind::Date(p) => p.truncate(n),
            Kind::Time(p) => p.truncate(n),
            Kind::Ts(p, ..) => p.truncate(n),
            Kind::List {
                offsets,
                valid,
                child,
                ..
            } => {
                if n < valid.len() {
                    child.truncate(offsets[n] as usize);
                    offsets.truncate(n + 1);
                    valid.truncate(n);
                }
            }
            Kind::Struct {
                children, valid, ..
            } => {
                for c in children {
                    c.truncate(n);
                }
                valid.truncate(n);
            }
        }
    }

    /// The built array; the buffer starts over empty.
    pub(crate) fn finish(&mut self) -> Result<ArrayRef, ArrowError> {
        fn prim<T: ArrowPrimitiveType>(p: &mut Prim<T::Native>, dt: &DataType) -> ArrayRef {
            let (values, nulls) = p.take();
            Arc::new(PrimitiveArray::<T>::new(values.into(), nulls).with_data_type(dt.clone()))
        }
        let dt = &self.data_type;
        Ok(match &mut self.kind {
            Kind::Null(n) => Arc::new(NullArray::new(std::mem::take(n))),
            Kind::Bool(p) => {
                let (values, nulls) = p.take();
                Arc::new(arrow::array::BooleanArray::new(
                    arrow::buffer::BooleanBuffer::from_iter(values),
                    nulls,
                ))
            }
            Kind::I8(p) => prim::<Int8Type>(p, dt),
            Kind::I16(p) => prim::<Int16Type>(p, dt),
            Kind::I32(p) => prim::<Int32Type>(p, dt),
            Kind::I64(p) => prim::<Int64Type>(p, dt),
            Kind::F32(p) => prim::<Float32Type>(p, dt),
            Kind::F64(p) => prim::<Float64Type>(p, dt),
            Kind::Decimal(p, ..) => prim::<Decimal128Type>(p, dt),
            Kind::Date(p) => prim::<Date32Type>(p, dt),
            Kind::Time(p) => prim::<Time32MillisecondType>(p, dt),
            Kind::Ts(p, dt, ..) => {
                let (values, nulls) = p.take();
                timestamp_array(dt, values, nulls)
            }
            Kind::Str(b) => {
                let (offsets, data, nulls) = b.take();
                Arc::new(StringArray::try_new(offsets, data, nulls)?)
            }
            Kind::Bin(b) => {
                let (offsets, data, nulls) = b.take();
                Arc::new(BinaryArray::try_new(offsets, data, nulls)?)
            }
            Kind::List {
                offsets,
                valid,
                child,
                field,
            } => {
                let offsets = std::mem::replace(offsets, vec![0]);
                let nulls = take_nulls(valid);
                Arc::new(ListArray::try_new(
                    field.clone(),
                    OffsetBuffer::new(offsets.into()),
                    child.finish()?,
                    nulls,
                )?)
            }
            Kind::Struct {
                fields,
                children,
                valid,
            } => {
                let nulls = take_nulls(valid);
                let arrays = children
                    .iter_mut()
                    .map(|c| c.finish())
                    .collect::<Result<Vec<_>, _>>()?;
                Arc::new(StructArray::try_new(fields.clone(), arrays, nulls)?)
            }
        })
    }
}
