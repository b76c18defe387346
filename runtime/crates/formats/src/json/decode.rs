//! JSON lines into record batches: arrow-json's tape decoder with Flink's value rules.

use std::sync::Arc;

use arrow::array::builder::NullBufferBuilder;
use arrow::array::builder::{BinaryBuilder, BooleanBuilder, PrimitiveBuilder, StringBuilder};
use arrow::array::{ArrayRef, RecordBatch};
use arrow::compute::kernels::cast_utils::parse_decimal;
use arrow::datatypes::{DataType, Decimal128Type, FieldRef, Fields, SchemaRef, TimeUnit};
use arrow::error::ArrowError;
use arrow::json::reader::{
    ArrayDecoder, Decoder as TapeRowDecoder, DecoderContext, DecoderFactory, ReaderBuilder, Tape,
    TapeElement,
};

use crate::options::{JsonOptions, TimestampStandard};
use crate::text::{
    count_newlines, decode_base64, flink_name, flink_type_names_in, parse_timestamp,
    timestamp_array, timestamp_pattern, to_unit, write_json_string,
};
use crate::{BATCH_SIZE, Decoder, FormatError, Origin, strip_bom};

/// Decodes JSON lines; see the module docs of `json` for the fast and the careful path.
pub(crate) struct JsonDecoder {
    builder: ReaderBuilder,
    inner: TapeRowDecoder,
    schema: SchemaRef,
    ignore_parse_errors: bool,
    /// An unfinished last line kept from the previous `decode` call.
    tail: Vec<u8>,
    /// The line number of `tail[0]`.
    tail_line: u64,
}

/// One non-blank line of a chunk: byte range and line number.
#[derive(Clone, Copy)]
struct Line {
    start: usize,
    end: usize,
    number: u64,
}

impl JsonDecoder {
    pub(crate) fn try_new(options: JsonOptions, schema: SchemaRef) -> Result<Self, FormatError> {
        super::check_schema(&schema, "json", true)?;
        let factory = FlinkJsonDecoders {
            standard: options.timestamp_standard,
            fail_on_missing_field: options.fail_on_missing_field,
        };
        let builder = ReaderBuilder::new(schema.clone())
            .with_batch_size(BATCH_SIZE)
            .with_coerce_primitive(true)
            .with_ignore_type_conflicts(options.ignore_parse_errors)
            .with_decoder_factory(Arc::new(factory));
        let inner = builder.clone().build_decoder()?;
        Ok(JsonDecoder {
            builder,
            inner,
            schema,
            ignore_parse_errors: options.ignore_parse_errors,
            tail: Vec::new(),
            tail_line: 1,
        })
    }

    /// A fresh tape decoder: after an error the old one holds a half-decoded batch.
    fn reset(&mut self) -> Result<(), FormatError> {
        self.inner = self.builder.clone().build_decoder()?;
        Ok(())
    }

    /// Decodes `buf`, which holds whole lines, the first of which is line `first_line`.
    fn decode_lines(
        &mut self,
        buf: &[u8],
        first_line: u64,
        path: &str,
        out: &mut Vec<RecordBatch>,
    ) -> Result<(), FormatError> {
        let mut pos = 0;
        while pos < buf.len() {
            let start = pos;
            let ok = match self.inner.decode(&buf[pos..]) {
                Ok(n) => {
                    pos += n;
                    if self.inner.has_partial_record() {
                        false
                    } else {
                        match self.inner.flush() {
                            Ok(Some(b)) => {
                                out.push(b);
                                true
                            }
                            Ok(None) => true,
                            Err(_) => false,
                        }
                    }
                }
                Err(_) => false,
            };
            if !ok {
                // The careful path takes over for the rest of the buffer.
                self.reset()?;
                let first = first_line + count_newlines(&buf[..start]);
                return self.recover(buf, start, first, path, out);
            }
            if pos == start {
                break;
            }
        }
        Ok(())
    }

    /// Decodes `buf[start..]` line by line where needed: halves of the range are decoded in
    /// bulk, and a half that fails is split again, until single bad lines remain.
    fn recover(
        &mut self,
        buf: &[u8],
        start: usize,
        first_line: u64,
        path: &str,
        out: &mut Vec<RecordBatch>,
    ) -> Result<(), FormatError> {
        let mut lines = Vec::new();
        let mut number = first_line;
        let mut s = start;
        while s < buf.len() {
            let e = buf[s..]
                .iter()
                .position(|b| *b == b'\n')
                .map_or(buf.len(), |i| s + i + 1);
            if !buf[s..e].iter().all(u8::is_ascii_whitespace) {
                lines.push(Line {
                    start: s,
                    end: e,
                    number,
                });
            }
            number += 1;
            s = e;
        }
        let mut pieces = Vec::new();
        self.bisect(buf, &lines, path, &mut pieces)?;
        coalesce(&self.schema, pieces, out)
    }

    fn bisect(
        &mut self,
        buf: &[u8],
        lines: &[Line],
        path: &str,
        pieces: &mut Vec<RecordBatch>,
    ) -> Result<(), FormatError> {
        let (Some(first), Some(last)) = (lines.first(), lines.last()) else {
            return Ok(());
        };
        match self.try_decode(&buf[first.start..last.end]) {
            Ok(batches) => {
                pieces.extend(batches);
                Ok(())
            }
            Err(e) if lines.len() == 1 => {
                if self.ignore_parse_errors {
                    Ok(())
                } else {
                    Err(FormatError::Malformed {
                        path: path.to_string(),
                        line: first.number,
                        message: describe(&e),
                    })
                }
            }
            Err(_) => {
                let mid = lines.len() / 2;
                self.bisect(buf, &lines[..mid], path, pieces)?;
                self.bisect(buf, &lines[mid..], path, pieces)
            }
        }
    }

    /// Decodes `bytes` completely, or fails (leaving a fresh tape decoder behind).
    fn try_decode(&mut self, bytes: &[u8]) -> Result<Vec<RecordBatch>, ArrowError> {
        let r = decode_all(&mut self.inner, bytes);
        if r.is_err() {
            self.reset()
                .map_err(|e| ArrowError::JsonError(e.to_string()))?;
        }
        r
    }
}

fn decode_all(d: &mut TapeRowDecoder, bytes: &[u8]) -> Result<Vec<RecordBatch>, ArrowError> {
    let mut out = Vec::new();
    let mut pos = 0;
    loop {
        let n = d.decode(&bytes[pos..])?;
        pos += n;
        if d.has_partial_record() {
            return Err(ArrowError::JsonError(
                "incomplete JSON value: the line ends before the value does".to_string(),
            ));
        }
        if let Some(b) = d.flush()? {
            out.push(b);
        }
        if pos >= bytes.len() || n == 0 {
            return Ok(out);
        }
    }
}

/// Joins small batches into batches of at most [`BATCH_SIZE`] rows.
pub(crate) fn coalesce(
    schema: &SchemaRef,
    pieces: Vec<RecordBatch>,
    out: &mut Vec<RecordBatch>,
) -> Result<(), FormatError> {
    let mut group: Vec<RecordBatch> = Vec::new();
    let mut rows = 0;
    let flush = |group: &mut Vec<RecordBatch>, out: &mut Vec<RecordBatch>| {
        match group.len() {
            0 => {}
            1 => out.push(group.pop().expect("one batch")),
            _ => out.push(arrow::compute::concat_batches(schema, group.iter())?),
        }
        group.clear();
        Ok::<(), ArrowError>(())
    };
    for p in pieces {
        if rows + p.num_rows() > BATCH_SIZE {
            flush(&mut group, out)?;
            rows = 0;
        }
        rows += p.num_rows();
        group.push(p);
    }
    flush(&mut group, out)?;
    Ok(())
}

impl Decoder for JsonDecoder {
    fn decode(
        &mut self,
        bytes: &[u8],
        origin: Origin<'_>,
    ) -> Result<Vec<RecordBatch>, FormatError> {
        let bytes = strip_bom(bytes, &self.tail, origin.first_line);
        let owned;
        let (buf, first_line): (&[u8], u64) = if self.tail.is_empty() {
            (bytes, origin.first_line)
        } else {
            let mut t = std::mem::take(&mut self.tail);
            t.extend_from_slice(bytes);
            owned = t;
            (&owned, self.tail_line)
        };
        let cut = buf.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let (complete, rest) = buf.split_at(cut);
        let mut out = Vec::new();
        let r = self.decode_lines(complete, first_line, origin.path, &mut out);
        if r.is_ok() && !rest.is_empty() {
            self.tail_line = first_line + count_newlines(complete);
            self.tail.extend_from_slice(rest);
        }
        r.map(|()| out)
    }

    fn finish(&mut self, origin: Origin<'_>) -> Result<Option<RecordBatch>, FormatError> {
        let tail = std::mem::take(&mut self.tail);
        if tail.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        let mut out = Vec::new();
        self.decode_lines(&tail, self.tail_line, origin.path, &mut out)?;
        match out.len() {
            0 => Ok(None),
            1 => Ok(out.pop()),
            _ => Ok(Some(arrow::compute::concat_batches(&self.schema, &out)?)),
        }
    }
}

/// A decoding error as the user should read it: `field 'a.b': cannot parse "x" as INT`.
fn describe(e: &ArrowError) -> String {
    let raw = match e {
        ArrowError::JsonError(s) | ArrowError::ParseError(s) => s.clone(),
        other => other.to_string(),
    };
    let mut rest = raw.as_str();
    let mut path = Vec::new();
    while let Some(r) = rest.strip_prefix("whilst decoding field '") {
        let Some(end) = r.find("': ") else { break };
        path.push(&r[..end]);
        rest = &r[end + 3..];
    }
    let rest = if let Some(v) = rest.strip_prefix("expected { got ") {
        format!("not a JSON object: {v}")
    } else if let Some(f) =
        rest.strip_prefix("Encountered unmasked nulls in non-nullable StructArray child: ")
    {
        let name = ["name: \"", "Field { \""]
            .iter()
            .find_map(|p| f.split_once(p))
            .and_then(|(_, r)| r.split_once('"'))
            .map_or(f, |(n, _)| n);
        format!("NULL (or missing) value for NOT NULL field '{name}'")
    } else if let Some(v) = rest.strip_prefix("expected primitive got ") {
        format!("expected a number or a string, got {v}")
    } else if let Some(v) = rest.strip_prefix("failed to parse ") {
        format!("cannot parse {v}")
    } else if rest.starts_with("Encountered") {
        format!("invalid JSON: {rest}")
    } else {
        rest.to_string()
    };
    let msg = if path.is_empty() {
        rest
    } else {
        format!("field '{}': {rest}", path.join("."))
    };
    flink_type_names_in(&msg)
}

// ---------------------------------------------------------------------------------------------
// Flink's value rules, as decoders plugged into arrow-json.

#[derive(Debug)]
struct FlinkJsonDecoders {
    standard: TimestampStandard,
    fail_on_missing_field: bool,
}

impl DecoderFactory for FlinkJsonDecoders {
    fn make_default_decoder(
        &self,
        ctx: &DecoderContext,
        field: &FieldRef,
        is_nullable: bool,
    ) -> Result<Option<Box<dyn ArrayDecoder>>, ArrowError> {
        let ignore = ctx.ignore_type_conflicts();
        Ok(match field.data_type() {
            DataType::Boolean => Some(Box::new(BooleanDecoder { ignore })),
            DataType::Utf8 => Some(Box::new(StringDecoder { ignore })),
            DataType::Binary => Some(Box::new(BytesDecoder { ignore })),
            DataType::Decimal128(p, s) => Some(Box::new(DecimalDecoder {
                precision: *p,
                scale: *s,
                ignore,
            })),
            dt @ DataType::Timestamp(unit, tz) => Some(Box::new(TimestampDecoder {
                data_type: dt.clone(),
                unit: *unit,
                separator: self.standard.separator(),
                zulu: tz.is_some(),
                ignore,
            })),
            DataType::Map(_, _) => Some(Box::new(HashMapLayout {
                inner: ctx.make_builtin_decoder(field, is_nullable)?,
            })),
            DataType::Struct(fields) if self.fail_on_missing_field => {
                Some(Box::new(PresenceCheck {
                    inner: ctx.make_builtin_decoder(field, is_nullable)?,
                    fields: fields.clone(),
                    seen: vec![false; fields.len()],
                }))
            }
            _ => None,
        })
    }
}

/// A JSON object read as a MAP: Flink's json format `put`s its fields into a
/// `java.util.HashMap` and wraps that in a `GenericMapData`, so the entries take that map's
/// order (and a repeated key its last value), which decides how the map prints.
struct HashMapLayout {
    inner: Box<dyn ArrayDecoder>,
}

impl ArrayDecoder for HashMapLayout {
    fn decode(&mut self, tape: &Tape<'_>, pos: &[u32]) -> Result<ArrayRef, ArrowError> {
        let decoded = self.inner.decode(tape, pos)?;
        runnel_types::to_generic_map_layout(&decoded)
    }
}

/// `json.fail-on-missing-field`: every declared field must be present (an explicit `null`
/// counts as present), checked before the struct is decoded.
struct PresenceCheck {
    inner: Box<dyn ArrayDecoder>,
    fields: Fields,
    seen: Vec<bool>,
}

impl ArrayDecoder for PresenceCheck {
    fn decode(&mut self, tape: &Tape<'_>, pos: &[u32]) -> Result<ArrayRef, ArrowError> {
        for &p in pos {
            let TapeElement::StartObject(end) = tape.get(p) else {
                continue;
            };
            self.seen.fill(false);
            let mut cur = p + 1;
            while cur < end {
                if let TapeElement::String(s) = tape.get(cur) {
                    let name = tape.get_string(s);
                    if let Some(i) = self.fields.iter().position(|f| f.name() == name) {
                        self.seen[i] = true;
                    }
                }
                cur = tape.next(cur + 1, "field value")?;
            }
            if let Some(i) = self.seen.iter().position(|s| !s) {
                return Err(ArrowError::JsonError(format!(
                    "whilst decoding field '{}': missing, and 'json.fail-on-missing-field' is true",
                    self.fields[i].name()
                )));
            }
        }
        self.inner.decode(tape, pos)
    }
}

/// The JSON text of the value at `p`, for messages and for STRING columns given objects.
fn tape_json(tape: &Tape<'_>, p: u32, out: &mut Vec<u8>) -> u32 {
    match tape.get(p) {
        TapeElement::StartObject(end) => {
            out.push(b'{');
            let mut cur = p + 1;
            let mut first = true;
            while cur < end {
                if !first {
                    out.push(b',');
                }
                first = false;
                cur = tape_json(tape, cur, out);
                out.push(b':');
                cur = tape_json(tape, cur, out);
            }
            out.push(b'}');
            end + 1
        }
        TapeElement::StartList(end) => {
            out.push(b'[');
            let mut cur = p + 1;
            let mut first = true;
            while cur < end {
                if !first {
                    out.push(b',');
                }
                first = false;
                cur = tape_json(tape, cur, out);
            }
            out.push(b']');
            end + 1
        }
        TapeElement::String(s) => {
            write_json_string(out, tape.get_string(s));
            p + 1
        }
        TapeElement::Number(s) => {
            out.extend_from_slice(tape.get_string(s).as_bytes());
            p + 1
        }
        TapeElement::True => {
            out.extend_from_slice(b"true");
            p + 1
        }
        TapeElement::False => {
            out.extend_from_slice(b"false");
            p + 1
        }
        TapeElement::Null => {
            out.extend_from_slice(b"null");
            p + 1
        }
        TapeElement::I32(v) => {
            out.extend_from_slice(v.to_string().as_bytes());
            p + 1
        }
        TapeElement::F32(v) => {
            out.extend_from_slice(f32::from_bits(v).to_string().as_bytes());
            p + 1
        }
        TapeElement::I64(high) => {
            if let TapeElement::I32(low) = tape.get(p + 1) {
                let v = ((high as i64) << 32) | (low as u32) as i64;
                out.extend_from_slice(v.to_string().as_bytes());
            }
            p + 2
        }
        TapeElement::F64(high) => {
            if let TapeElement::F32(low) = tape.get(p + 1) {
                let v = f64::from_bits(((high as u64) << 32) | low as u64);
                out.extend_from_slice(v.to_string().as_bytes());
            }
            p + 2
        }
        TapeElement::EndObject(_) | TapeElement::EndList(_) => p + 1,
        _ => p + 1,
    }
}

fn shown(tape: &Tape<'_>, p: u32) -> String {
    let mut v = Vec::new();
    tape_json(tape, p, &mut v);
    let mut s = String::from_utf8_lossy(&v).into_owned();
    if s.len() > 80 {
        let mut cut = 77;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("...");
    }
    s
}

fn mismatch(tape: &Tape<'_>, p: u32, dt: &DataType) -> ArrowError {
    ArrowError::JsonError(format!(
        "cannot read {} as {}",
        shown(tape, p),
        flink_name(dt)
    ))
}

/// STRING: strings as they are; numbers, booleans, objects and arrays as their JSON text.
struct StringDecoder {
    ignore: bool,
}

impl ArrayDecoder for StringDecoder {
    fn decode(&mut self, tape: &Tape<'_>, pos: &[u32]) -> Result<ArrayRef, ArrowError> {
        let mut b = StringBuilder::with_capacity(pos.len(), pos.len() * 16);
        let mut scratch = Vec::new();
        for &p in pos {
            match tape.get(p) {
                TapeElement::Null => b.append_null(),
                TapeElement::String(s) | TapeElement::Number(s) => {
                    b.append_value(tape.get_string(s))
                }
                TapeElement::True => b.append_value("true"),
                TapeElement::False => b.append_value("false"),
                TapeElement::EndObject(_) | TapeElement::EndList(_) => {
                    if self.ignore {
                        b.append_null()
                    } else {
                        return Err(tape.error(p, "string"));
                    }
                }
                _ => {
                    scratch.clear();
                    tape_json(tape, p, &mut scratch);
                    b.append_value(String::from_utf8_lossy(&scratch));
                }
            }
        }
        Ok(Arc::new(b.finish()))
    }
}

/// BOOLEAN: JSON booleans, and Java's `Boolean.parseBoolean` of any other scalar's text.
struct BooleanDecoder {
    ignore: bool,
}

impl ArrayDecoder for BooleanDecoder {
    fn decode(&mut self, tape: &Tape<'_>, pos: &[u32]) -> Result<ArrayRef, ArrowError> {
        let mut b = BooleanBuilder::with_capacity(pos.len());
        for &p in pos {
            match tape.get(p) {
                TapeElement::Null => b.append_null(),
                TapeElement::True => b.append_value(true),
                TapeElement::False => b.append_value(false),
                TapeElement::String(s) | TapeElement::Number(s) => {
                    b.append_value(tape.get_string(s).trim().eq_ignore_ascii_case("true"))
                }
                TapeElement::I32(_)
                | TapeElement::I64(_)
                | TapeElement::F32(_)
                | TapeElement::F64(_) => b.append_value(false),
                _ if self.ignore => b.append_null(),
                _ => return Err(mismatch(tape, p, &DataType::Boolean)),
            }
        }
        Ok(Arc::new(b.finish()))
    }
}

/// BYTES: base64 strings, as Jackson writes `byte[]`.
struct BytesDecoder {
    ignore: bool,
}

impl ArrayDecoder for BytesDecoder {
    fn decode(&mut self, tape: &Tape<'_>, pos: &[u32]) -> Result<ArrayRef, ArrowError> {
        let mut b = BinaryBuilder::with_capacity(pos.len(), pos.len() * 16);
        let mut scratch = Vec::new();
        for &p in pos {
            match tape.get(p) {
                TapeElement::Null => b.append_null(),
                TapeElement::String(s) => {
                    scratch.clear();
                    let text = tape.get_string(s);
                    match decode_base64(text, &mut scratch) {
                        Some(()) => b.append_value(&scratch),
                        None if self.ignore => b.append_null(),
                        None => {
                            return Err(ArrowError::JsonError(format!(
                                "cannot parse \"{text}\" as BYTES: not base64"
                            )));
                        }
                    }
                }
                _ if self.ignore => b.append_null(),
                _ => return Err(mismatch(tape, p, &DataType::Binary)),
            }
        }
        Ok(Arc::new(b.finish()))
    }
}

/// DECIMAL(p, s): numbers or numeric strings, rounded half up to the scale; a value too large
/// for the precision is NULL, as Flink's `DecimalData.fromBigDecimal` makes it.
struct DecimalDecoder {
    precision: u8,
    scale: i8,
    ignore: bool,
}

impl ArrayDecoder for DecimalDecoder {
    fn decode(&mut self, tape: &Tape<'_>, pos: &[u32]) -> Result<ArrayRef, ArrowError> {
        let dt = DataType::Decimal128(self.precision, self.scale);
        let mut b = PrimitiveBuilder::<Decimal128Type>::with_capacity(pos.len());
        let mut scratch = Vec::new();
        for &p in pos {
            let text: &str = match tape.get(p) {
                TapeElement::Null => {
                    b.append_null();
                    continue;
                }
                TapeElement::String(s) | TapeElement::Number(s) => tape.get_string(s),
                TapeElement::I32(_)
                | TapeElement::I64(_)
                | TapeElement::F32(_)
                | TapeElement::F64(_) => {
                    scratch.clear();
                    tape_json(tape, p, &mut scratch);
                    std::str::from_utf8(&scratch).unwrap_or_default()
                }
                _ if self.ignore => {
                    b.append_null();
                    continue;
                }
                _ => return Err(mismatch(tape, p, &dt)),
            };
            match parse_decimal::<Decimal128Type>(text, self.precision, self.scale) {
                Ok(v) => b.append_value(v),
                Err(_) if self.ignore => b.append_null(),
                Err(_) if parse_decimal::<Decimal128Type>(text, 38, self.scale).is_ok() => {
                    b.append_null()
                }
                Err(_) => {
                    return Err(ArrowError::JsonError(format!(
                        "cannot parse \"{text}\" as {}",
                        flink_name(&dt)
                    )));
                }
            }
        }
        Ok(Arc::new(
            b.finish()
                .with_precision_and_scale(self.precision, self.scale)?,
        ))
    }
}

/// TIMESTAMP / TIMESTAMP_LTZ: strings in the configured standard, exactly as Flink parses them.
struct TimestampDecoder {
    data_type: DataType,
    unit: TimeUnit,
    separator: u8,
    zulu: bool,
    ignore: bool,
}

impl ArrayDecoder for TimestampDecoder {
    fn decode(&mut self, tape: &Tape<'_>, pos: &[u32]) -> Result<ArrayRef, ArrowError> {
        let mut values = Vec::with_capacity(pos.len());
        let mut nulls = NullBufferBuilder::new(pos.len());
        for &p in pos {
            let v = match tape.get(p) {
                TapeElement::Null => None,
                TapeElement::String(s) => {
                    let text = tape.get_string(s);
                    match parse_timestamp(text.as_bytes(), self.separator, self.zulu)
                        .and_then(|(secs, nanos)| to_unit(secs, nanos, self.unit))
                    {
                        Some(v) => Some(v),
                        None if self.ignore => None,
                        None => {
                            return Err(ArrowError::JsonError(format!(
                                "cannot parse \"{text}\" as {}: expected '{}'",
                                flink_name(&self.data_type),
                                timestamp_pattern(self.separator, self.zulu)
                            )));
                        }
                    }
                }
                _ if self.ignore => None,
                _ => return Err(mismatch(tape, p, &self.data_type)),
            };
            values.push(v.unwrap_or_default());
            nulls.append(v.is_some());
        }
        Ok(timestamp_array(&self.data_type, values, nulls.finish()))
    }
}
