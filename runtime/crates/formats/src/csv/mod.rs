//! Flink's `csv` format: one record per line (quoted fields may hold line ends), columns in
//! schema order, no header. ARRAY elements and nested ROW fields are separated by
//! `csv.array-element-delimiter` inside one field.
//!
//! The decoder tokenizes records itself and appends values to column buffers that can drop a
//! half-appended row, so a bad record is either reported as `path:line` or, with
//! `csv.ignore-parse-errors`, skipped (a malformed record) or given NULLs (unparsable values),
//! as Flink does.

mod buffers;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;

use crate::options::CsvOptions;
use crate::text::count_newlines;
use crate::values::{Col, TextStyle, write_scalar};
use crate::{BATCH_SIZE, Decoder, Encoder, FormatError, Origin, strip_bom};
use buffers::{Buf, Ctx};

/// Decodes csv records; see the module docs.
pub(crate) struct CsvDecoder {
    options: CsvOptions,
    schema: SchemaRef,
    columns: Vec<Buf>,
    rows: usize,
    /// An unfinished record kept from the previous `decode` call, and the line it starts on.
    tail: Vec<u8>,
    tail_line: u64,
    /// The current record's field bytes, and where each field ends in it.
    field_buf: Vec<u8>,
    field_ends: Vec<usize>,
}

/// What the tokenizer found at a position.
enum Scan {
    /// A record, whose fields are in `field_buf`/`field_ends`; `next` is where the next starts.
    Record { next: usize, newlines: u64 },
    /// A blank or comment line.
    Skip { next: usize, newlines: u64 },
    /// The record goes on past the end of the buffer.
    Incomplete,
    /// A record that cannot be tokenized; `next` is past its line.
    Malformed {
        next: usize,
        newlines: u64,
        message: String,
    },
}

impl CsvDecoder {
    pub(crate) fn try_new(options: CsvOptions, schema: SchemaRef) -> Result<Self, FormatError> {
        crate::json::check_schema(&schema, "csv", false)?;
        let columns = schema.fields().iter().map(|f| Buf::new(f)).collect();
        Ok(CsvDecoder {
            options,
            schema,
            columns,
            rows: 0,
            tail: Vec::new(),
            tail_line: 1,
            field_buf: Vec::new(),
            field_ends: Vec::new(),
        })
    }

    fn reset(&mut self) {
        self.columns = self.schema.fields().iter().map(|f| Buf::new(f)).collect();
        self.rows = 0;
    }

    fn flush(&mut self, out: &mut Vec<RecordBatch>) -> Result<(), FormatError> {
        if self.rows == 0 {
            return Ok(());
        }
        let arrays = self
            .columns
            .iter_mut()
            .map(|c| c.finish())
            .collect::<Result<Vec<_>, _>>()?;
        self.rows = 0;
        out.push(RecordBatch::try_new(self.schema.clone(), arrays)?);
        Ok(())
    }

    /// Tokenizes one record at `buf[pos..]`; `at_eof`: the buffer is the end of the input.
    fn scan(&mut self, buf: &[u8], pos: usize, at_eof: bool) -> Scan {
        let o = &self.options;
        let len = buf.len();
        let delim = o.field_delimiter;
        let line_end = |from: usize| buf[from..].iter().position(|b| *b == b'\n');
        // Blank lines and comments.
        let first = buf[pos];
        if first == b'\n' || (first == b'\r' && buf.get(pos + 1) == Some(&b'\n')) {
            let next = if first == b'\n' { pos + 1 } else { pos + 2 };
            return Scan::Skip { next, newlines: 1 };
        }
        if o.allow_comments && first == b'#' {
            return match line_end(pos) {
                Some(i) => Scan::Skip {
                    next: pos + i + 1,
                    newlines: 1,
                },
                None if at_eof => Scan::Skip {
                    next: len,
                    newlines: 0,
                },
                None => Scan::Incomplete,
            };
        }
        self.field_buf.clear();
        self.field_ends.clear();
        let mut i = pos;
        let mut newlines = 0;
        let malformed = |i: usize, newlines: u64, message: &str| {
            let next = line_end(i.min(len)).map_or(len, |e| i + e + 1);
            Scan::Malformed {
                next,
                newlines: newlines + count_newlines(&buf[i.min(len)..next]),
                message: message.to_string(),
            }
        };
        loop {
            if o.quote_character.is_some() && i < len && Some(buf[i]) == o.quote_character {
                let q = buf[i];
                i += 1;
                loop {
                    if i >= len {
                        return if at_eof {
                            malformed(len, newlines, "unterminated quoted field")
                        } else {
                            Scan::Incomplete
                        };
                    }
                    let b = buf[i];
                    if Some(b) == o.escape_character && b != q {
                        if i + 1 >= len {
                            if !at_eof {
                                return Scan::Incomplete;
                            }
                            i += 1;
                            continue;
                        }
                        self.field_buf.push(buf[i + 1]);
                        if buf[i + 1] == b'\n' {
                            newlines += 1;
                        }
                        i += 2;
                        continue;
                    }
                    if b == q {
                        if i + 1 >= len && !at_eof {
                            return Scan::Incomplete;
                        }
                        if buf.get(i + 1) == Some(&q) {
                            self.field_buf.push(q);
                            i += 2;
                            continue;
                        }
                        i += 1;
                        break;
                    }
                    if b == b'\n' {
                        newlines += 1;
                    }
                    self.field_buf.push(b);
                    i += 1;
                }
                if i < len && buf[i] == b'\r' {
                    if i + 1 >= len && !at_eof {
                        return Scan::Incomplete;
                    }
                    if i + 1 >= len || buf[i + 1] == b'\n' {
                        i += 1;
                    }
                }
                if i < len && buf[i] != delim && buf[i] != b'\n' {
                    return malformed(
                        i,
                        newlines,
                        &format!(
                            "unexpected character '{}' after a closing quote",
                            (buf[i] as char).escape_default()
                        ),
                    );
                }
            } else {
                let field_start = self.field_buf.len();
                loop {
                    if i >= len {
                        if !at_eof {
                            return Scan::Incomplete;
                        }
                        break;
                    }
                    let b = buf[i];
                    if b == delim || b == b'\n' {
                        break;
                    }
                    if Some(b) == o.escape_character {
                        if i + 1 >= len {
                            if !at_eof {
                                return Scan::Incomplete;
                            }
                            i += 1;
                            continue;
                        }
                        self.field_buf.push(buf[i + 1]);
                        if buf[i + 1] == b'\n' {
                            newlines += 1;
                        }
                        i += 2;
                        continue;
                    }
                    self.field_buf.push(b);
                    i += 1;
                }
                if (i >= len || buf[i] == b'\n')
                    && self.field_buf.len() > field_start
                    && self.field_buf.last() == Some(&b'\r')
                {
                    self.field_buf.pop();
                }
            }
            self.field_ends.push(self.field_buf.len());
            if i >= len {
                return Scan::Record {
                    next: len,
                    newlines,
                };
            }
            if buf[i] == b'\n' {
                return Scan::Record {
                    next: i + 1,
                    newlines: newlines + 1,
                };
            }
            // A delimiter: another field follows.
            i += 1;
        }
    }

    /// Appends the tokenized record as a row; on failure the row is rolled back.
    fn append_record(&mut self) -> Result<(), String> {
        let text =
            std::str::from_utf8(&self.field_buf).map_err(|e| format!("invalid UTF-8: {e}"))?;
        let ncols = self.columns.len();
        let nfields = self.field_ends.len();
        // Too few fields are NULL-padded when errors are ignored; too many are always an
        // error (Flink's parser rejects them, and ignore-parse-errors skips the record).
        if nfields > ncols || (nfields < ncols && !self.options.ignore_parse_errors) {
            return Err(format!(
                "row length mismatch: {ncols} fields expected but was {nfields}"
            ));
        }
        let ctx = Ctx {
            array_delimiter: &self.options.array_element_delimiter,
            null_literal: self.options.null_literal.as_deref(),
            ignore: self.options.ignore_parse_errors,
        };
        let mut start = 0;
        for (j, col) in self.columns.iter_mut().enumerate() {
            let value = self.field_ends.get(j).map(|&end| {
                let v = &text[start..end];
                start = end;
                v
            });
            let value = value.filter(|v| Some(*v) != ctx.null_literal);
            if let Err(e) = col.append(value, &ctx) {
                let name = self.schema.field(j).name();
                for c in &mut self.columns[..=j] {
                    c.truncate(self.rows);
                }
                return Err(format!("column '{name}': {e}"));
            }
        }
        self.rows += 1;
        Ok(())
    }

    /// Decodes `buf` (whose first byte is on line `first_line`); returns where the unfinished
    /// tail starts and its line.
    fn decode_buf(
        &mut self,
        buf: &[u8],
        first_line: u64,
        at_eof: bool,
        path: &str,
        out: &mut Vec<RecordBatch>,
    ) -> Result<(usize, u64), FormatError> {
        let mut pos = 0;
        let mut line = first_line;
        while pos < buf.len() {
            let (next, newlines, error) = match self.scan(buf, pos, at_eof) {
                Scan::Incomplete => break,
                Scan::Skip { next, newlines } => (next, newlines, None),
                Scan::Record { next, newlines } => {
                    let error = self.append_record().err();
                    (next, newlines, error)
                }
                Scan::Malformed {
                    next,
                    newlines,
                    message,
                } => (next, newlines, Some(message)),
            };
            if let Some(message) = error
                && !self.options.ignore_parse_errors
            {
                self.reset();
                return Err(FormatError::Malformed {
                    path: path.to_string(),
                    line,
                    message,
                });
            }
            pos = next;
            line += newlines;
            if self.rows >= BATCH_SIZE {
                self.flush(out)?;
            }
        }
        self.flush(out)?;
        Ok((pos, line))
    }
}

impl Decoder for CsvDecoder {
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
        let mut out = Vec::new();
        let (pos, line) = self.decode_buf(buf, first_line, false, origin.path, &mut out)?;
        self.tail.extend_from_slice(&buf[pos..]);
        self.tail_line = line;
        Ok(out)
    }

    fn finish(&mut self, origin: Origin<'_>) -> Result<Option<RecordBatch>, FormatError> {
        let tail = std::mem::take(&mut self.tail);
        if tail.is_empty() {
            return Ok(None);
        }
        let mut out = Vec::new();
        self.decode_buf(&tail, self.tail_line, true, origin.path, &mut out)?;
        Ok(out.pop())
    }
}

/// Writes one line per row: fields in schema order, separated by `csv.field-delimiter`,
/// quoted when they hold a delimiter, quote, escape or line end.
pub(crate) struct CsvEncoder {
    options: CsvOptions,
    style: TextStyle,
    scratch: String,
    field: Vec<u8>,
}

impl CsvEncoder {
    pub(crate) fn try_new(options: CsvOptions, schema: SchemaRef) -> Result<Self, FormatError> {
        crate::json::check_schema(&schema, "csv", false)?;
        Ok(CsvEncoder {
            style: TextStyle {
                timestamp_separator: b' ',
                plain_decimals: !options.write_bigdecimal_in_scientific_notation,
                time_seconds_only: false,
            },
            options,
            scratch: String::new(),
            field: Vec::new(),
        })
    }

    /// The text of a value: scalars as Flink writes them, ARRAY and ROW joined by the
    /// array element delimiter, NULL as the null literal (or nothing).
    fn write_text(&mut self, col: &Col<'_>, row: usize, out: &mut Vec<u8>) {
        if col.is_null(row) {
            if let Some(n) = &self.options.null_literal {
                out.extend_from_slice(n.as_bytes());
            }
            return;
        }
        match col {
            Col::List(list, values) => {
                let offsets = list.value_offsets();
                for i in offsets[row] as usize..offsets[row + 1] as usize {
                    if i > offsets[row] as usize {
                        out.extend_from_slice(self.options.array_element_delimiter.as_bytes());
                    }
                    self.write_text(values, i, out);
                }
            }
            Col::Struct(_, children) => {
                for (k, (_, child)) in children.iter().enumerate() {
                    if k > 0 {
                        out.extend_from_slice(self.options.array_element_delimiter.as_bytes());
                    }
                    self.write_text(child, row, out);
                }
            }
            scalar => {
                write_scalar(scalar, row, self.style, out, &mut self.scratch);
            }
        }
    }

    fn write_field(&self, text: &[u8], out: &mut Vec<u8>) {
        let o = &self.options;
        let special = |b: u8| {
            b == o.field_delimiter
                || b == b'\n'
                || b == b'\r'
                || Some(b) == o.quote_character
                || Some(b) == o.escape_character
        };
        if !text.iter().any(|b| special(*b)) {
            out.extend_from_slice(text);
            return;
        }
        match (o.quote_character, o.escape_character) {
            (Some(q), esc) => {
                out.push(q);
                for &b in text {
                    if b == q {
                        out.push(esc.unwrap_or(q));
                    } else if Some(b) == esc {
                        out.push(b);
                    }
                    out.push(b);
                }
                out.push(q);
            }
            (None, Some(esc)) => {
                for &b in text {
                    if special(b) {
                        out.push(esc);
                    }
                    out.push(b);
                }
            }
            (None, None) => out.extend_from_slice(text),
        }
    }
}

impl Encoder for CsvEncoder {
    fn encode(&mut self, batch: &RecordBatch, out: &mut Vec<u8>) -> Result<(), FormatError> {
        let cols = batch
            .columns()
            .iter()
            .map(|c| Col::new(c.as_ref()))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| FormatError::Encode {
                format: "csv",
                message: "the batch has a column type the csv format cannot write".to_string(),
            })?;
        let mut field = std::mem::take(&mut self.field);
        for row in 0..batch.num_rows() {
            for (j, col) in cols.iter().enumerate() {
                if j > 0 {
                    out.push(self.options.field_delimiter);
                }
                field.clear();
                self.write_text(col, row, &mut field);
                self.write_field(&field, out);
            }
            out.push(b'\n');
        }
        self.field = field;
        Ok(())
    }
}
