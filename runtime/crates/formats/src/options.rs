//! The `json.*` and `csv.*` table options, with Flink's names, defaults and checks.

use std::collections::HashMap;

use crate::FormatError;

/// How TIMESTAMP and TIMESTAMP_LTZ values are written as text (`json.timestamp-format.standard`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TimestampStandard {
    /// `yyyy-MM-dd HH:mm:ss[.fraction]` (LTZ: with a trailing `Z`); Flink's default.
    #[default]
    Sql,
    /// `yyyy-MM-ddTHH:mm:ss[.fraction]` (LTZ: with a trailing `Z`).
    Iso8601,
}

impl TimestampStandard {
    /// The byte between date and time.
    pub(crate) fn separator(self) -> u8 {
        match self {
            TimestampStandard::Sql => b' ',
            TimestampStandard::Iso8601 => b'T',
        }
    }
}

/// What the json encoder does with a MAP entry whose key is NULL (`json.map-null-key.mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MapNullKeyMode {
    /// Fail the record (Flink's default).
    #[default]
    Fail,
    /// Leave the entry out.
    Drop,
    /// Write the key as `json.map-null-key.literal`.
    Literal,
}

/// Flink's `json` format options.
#[derive(Clone, Debug, PartialEq)]
pub struct JsonOptions {
    /// `json.fail-on-missing-field`: a field absent from an object fails the record (else NULL).
    pub fail_on_missing_field: bool,
    /// `json.ignore-parse-errors`: skip lines that are not JSON; unparsable values become NULL.
    pub ignore_parse_errors: bool,
    /// `json.timestamp-format.standard`.
    pub timestamp_standard: TimestampStandard,
    /// `json.map-null-key.mode`.
    pub map_null_key_mode: MapNullKeyMode,
    /// `json.map-null-key.literal` (default `null`).
    pub map_null_key_literal: String,
    /// `json.encode.decimal-as-plain-number`: write `0.000000027` instead of `2.7E-8`.
    pub encode_decimal_as_plain_number: bool,
    /// `json.encode.ignore-null-fields`: leave NULL fields out of written objects.
    pub encode_ignore_null_fields: bool,
}

impl Default for JsonOptions {
    fn default() -> Self {
        JsonOptions {
            fail_on_missing_field: false,
            ignore_parse_errors: false,
            timestamp_standard: TimestampStandard::Sql,
            map_null_key_mode: MapNullKeyMode::Fail,
            map_null_key_literal: "null".to_string(),
            encode_decimal_as_plain_number: false,
            encode_ignore_null_fields: false,
        }
    }
}

const JSON_KEYS: &[&str] = &[
    "json.fail-on-missing-field",
    "json.ignore-parse-errors",
    "json.timestamp-format.standard",
    "json.map-null-key.mode",
    "json.map-null-key.literal",
    "json.encode.decimal-as-plain-number",
    "json.encode.ignore-null-fields",
    // Flink 1.19+: chooses Jackson's streaming parser; no effect here, accepted for compatibility.
    "json.decode.json-parser.enabled",
];

impl JsonOptions {
    /// Reads the `json.*` keys of `options`; returns the keys consumed.
    pub fn from_options(
        options: &HashMap<String, String>,
    ) -> Result<(JsonOptions, Vec<String>), FormatError> {
        let keys = consume("json", JSON_KEYS, options)?;
        let mut o = JsonOptions::default();
        for key in &keys {
            let value = options[key].as_str();
            match key.as_str() {
                "json.fail-on-missing-field" => o.fail_on_missing_field = parse_bool(key, value)?,
                "json.ignore-parse-errors" => o.ignore_parse_errors = parse_bool(key, value)?,
                "json.timestamp-format.standard" => {
                    o.timestamp_standard = match value.to_ascii_uppercase().as_str() {
                        "SQL" => TimestampStandard::Sql,
                        "ISO-8601" => TimestampStandard::Iso8601,
                        _ => return Err(invalid(key, value, "expected 'SQL' or 'ISO-8601'")),
                    }
                }
                "json.map-null-key.mode" => {
                    o.map_null_key_mode = match value.to_ascii_uppercase().as_str() {
                        "FAIL" => MapNullKeyMode::Fail,
                        "DROP" => MapNullKeyMode::Drop,
                        "LITERAL" => MapNullKeyMode::Literal,
                        _ => {
                            return Err(invalid(
                                key,
                                value,
                                "expected 'FAIL', 'DROP' or 'LITERAL'",
                            ));
                        }
                    }
                }
                "json.map-null-key.literal" => o.map_null_key_literal = value.to_string(),
                "json.encode.decimal-as-plain-number" => {
                    o.encode_decimal_as_plain_number = parse_bool(key, value)?
                }
                "json.encode.ignore-null-fields" => {
                    o.encode_ignore_null_fields = parse_bool(key, value)?
                }
                "json.decode.json-parser.enabled" => {
                    parse_bool(key, value)?;
                }
                _ => unreachable!("consume() returns known keys only"),
            }
        }
        if o.fail_on_missing_field && o.ignore_parse_errors {
            return Err(FormatError::ConflictingOptions(
                "'json.fail-on-missing-field' and 'json.ignore-parse-errors' cannot both be true"
                    .to_string(),
            ));
        }
        Ok((o, keys))
    }
}

/// Flink's `csv` format options.
#[derive(Clone, Debug, PartialEq)]
pub struct CsvOptions {
    /// `csv.field-delimiter` (default `,`; Java escapes such as `\t` allowed).
    pub field_delimiter: u8,
    /// `csv.quote-character` (default `"`); `None` when `csv.disable-quote-character` is true.
    pub quote_character: Option<u8>,
    /// `csv.allow-comments`: skip lines starting with `#`.
    pub allow_comments: bool,
    /// `csv.ignore-parse-errors`: skip malformed records; unparsable values become NULL.
    pub ignore_parse_errors: bool,
    /// `csv.array-element-delimiter` (default `;`): separates ARRAY elements and nested ROW fields.
    pub array_element_delimiter: String,
    /// `csv.escape-character` (default none).
    pub escape_character: Option<u8>,
    /// `csv.null-literal`: the text read as (and written for) NULL; default none.
    pub null_literal: Option<String>,
    /// `csv.write-bigdecimal-in-scientific-notation` (default true): `2.7E-8` vs `0.000000027`.
    pub write_bigdecimal_in_scientific_notation: bool,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            field_delimiter: b',',
            quote_character: Some(b'"'),
            allow_comments: false,
            ignore_parse_errors: false,
            array_element_delimiter: ";".to_string(),
            escape_character: None,
            null_literal: None,
            write_bigdecimal_in_scientific_notation: true,
        }
    }
}

const CSV_KEYS: &[&str] = &[
    "csv.field-delimiter",
    "csv.disable-quote-character",
    "csv.quote-character",
    "csv.allow-comments",
    "csv.ignore-parse-errors",
    "csv.array-element-delimiter",
    "csv.escape-character",
    "csv.null-literal",
    "csv.write-bigdecimal-in-scientific-notation",
];

impl CsvOptions {
    /// Reads the `csv.*` keys of `options`; returns the keys consumed.
    pub fn from_options(
        options: &HashMap<String, String>,
    ) -> Result<(CsvOptions, Vec<String>), FormatError> {
        let keys = consume("csv", CSV_KEYS, options)?;
        let mut o = CsvOptions::default();
        let mut disable_quote = false;
        let mut quote_set = false;
        for key in &keys {
            let value = options[key].as_str();
            match key.as_str() {
                "csv.field-delimiter" => o.field_delimiter = single_char(key, value)?,
                "csv.disable-quote-character" => disable_quote = parse_bool(key, value)?,
                "csv.quote-character" => {
                    o.quote_character = Some(single_char(key, value)?);
                    quote_set = true;
                }
                "csv.allow-comments" => o.allow_comments = parse_bool(key, value)?,
                "csv.ignore-parse-errors" => o.ignore_parse_errors = parse_bool(key, value)?,
                "csv.array-element-delimiter" => {
                    let v = unescape_java(value).map_err(|r| invalid(key, value, &r))?;
                    if v.is_empty() {
                        return Err(invalid(key, value, "must not be empty"));
                    }
                    o.array_element_delimiter = v;
                }
                "csv.escape-character" => o.escape_character = Some(single_char(key, value)?),
                "csv.null-literal" => o.null_literal = Some(value.to_string()),
                "csv.write-bigdecimal-in-scientific-notation" => {
                    o.write_bigdecimal_in_scientific_notation = parse_bool(key, value)?
                }
                _ => unreachable!("consume() returns known keys only"),
            }
        }
        if disable_quote {
            if quote_set {
                return Err(FormatError::ConflictingOptions(
                    "'csv.quote-character' cannot be set when 'csv.disable-quote-character' is true"
                        .to_string(),
                ));
            }
            o.quote_character = None;
        }
        if Some(o.field_delimiter) == o.quote_character {
            return Err(FormatError::ConflictingOptions(
                "'csv.field-delimiter' and 'csv.quote-character' must differ".to_string(),
            ));
        }
        if matches!(o.field_delimiter, b'\n' | b'\r') {
            return Err(invalid(
                "csv.field-delimiter",
                &(o.field_delimiter as char).to_string(),
                "a line end cannot separate fields",
            ));
        }
        Ok((o, keys))
    }
}

/// The keys of `options` under `prefix.`, checked against `known`.
fn consume(
    prefix: &'static str,
    known: &[&str],
    options: &HashMap<String, String>,
) -> Result<Vec<String>, FormatError> {
    let dotted = format!("{prefix}.");
    let mut keys: Vec<String> = options
        .keys()
        .filter(|k| k.starts_with(&dotted))
        .cloned()
        .collect();
    keys.sort();
    if let Some(bad) = keys.iter().find(|k| !known.contains(&k.as_str())) {
        return Err(FormatError::UnknownOption {
            format: prefix,
            key: bad.clone(),
            supported: known
                .iter()
                .map(|k| format!("'{k}'"))
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    Ok(keys)
}

fn invalid(key: &str, value: &str, reason: &str) -> FormatError {
    FormatError::InvalidOption {
        key: key.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

/// Flink's boolean options: `true` or `false`, any case.
fn parse_bool(key: &str, value: &str) -> Result<bool, FormatError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(invalid(key, value, "expected 'true' or 'false'")),
    }
}

/// One character after Java unescaping (`\t`, `\u0001`, ...); only ASCII fits a byte-level parser.
fn single_char(key: &str, value: &str) -> Result<u8, FormatError> {
    let v = unescape_java(value).map_err(|r| invalid(key, value, &r))?;
    let mut chars = v.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if c.is_ascii() => Ok(c as u8),
        (Some(_), None) => Err(invalid(key, value, "only ASCII characters are supported")),
        _ => Err(invalid(key, value, "must be a single character")),
    }
}

/// Resolves Java string escapes (`\t`, `\n`, `\\`, `\uXXXX`, ...), as Flink does for delimiters.
fn unescape_java(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('0') => out.push('\0'),
            Some('\\') => out.push('\\'),
            Some('\'') => out.push('\''),
            Some('"') => out.push('"'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                let code = u32::from_str_radix(&hex, 16)
                    .ok()
                    .filter(|_| hex.len() == 4)
                    .and_then(char::from_u32)
                    .ok_or_else(|| format!("invalid unicode escape '\\u{hex}'"))?;
                out.push(code);
            }
            Some(other) => return Err(format!("invalid escape '\\{other}'")),
            None => return Err("ends with a lone backslash".to_string()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_escapes() {
        assert_eq!(unescape_java("\\t").unwrap(), "\t");
        assert_eq!(unescape_java("\\u0001").unwrap(), "\u{1}");
        assert_eq!(unescape_java("|").unwrap(), "|");
        assert!(unescape_java("\\q").is_err());
    }
}
