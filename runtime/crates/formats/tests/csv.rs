use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Field, Fields, Float64Type, Int32Type, Int64Type, Schema,
    SchemaRef, Time32MillisecondType, TimeUnit, TimestampMillisecondType,
};
use runnel_formats::{CsvOptions, Format, FormatError, Origin};

fn opts(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn csv(pairs: &[(&str, &str)]) -> Format {
    Format::from_options("csv", &opts(pairs)).unwrap().0
}

fn origin() -> Origin<'static> {
    Origin {
        path: "data.csv",
        first_line: 1,
    }
}

fn decode(format: &Format, schema: &SchemaRef, input: &str) -> Result<RecordBatch, FormatError> {
    let mut d = format.decoder(schema.clone())?;
    let mut batches = d.decode(input.as_bytes(), origin())?;
    batches.extend(d.finish(origin())?);
    Ok(arrow::compute::concat_batches(schema, &batches).unwrap())
}

fn encode(format: &Format, batch: &RecordBatch) -> String {
    let mut e = format.encoder(batch.schema()).unwrap();
    let mut out = Vec::new();
    e.encode(batch, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
        Field::new("price", DataType::Decimal128(10, 2), true),
        Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), true),
    ]))
}

#[test]
fn options_are_parsed_and_checked() {
    let (f, keys) = Format::from_options(
        "csv",
        &opts(&[
            ("csv.field-delimiter", "\\t"),
            ("csv.quote-character", "'"),
            ("csv.allow-comments", "true"),
            ("csv.ignore-parse-errors", "true"),
            ("csv.array-element-delimiter", "|"),
            ("csv.escape-character", "\\\\"),
            ("csv.null-literal", "NULL"),
            ("csv.write-bigdecimal-in-scientific-notation", "false"),
            ("json.fail-on-missing-field", "true"),
        ]),
    )
    .unwrap();
    assert_eq!(
        f,
        Format::Csv(CsvOptions {
            field_delimiter: b'\t',
            quote_character: Some(b'\''),
            allow_comments: true,
            ignore_parse_errors: true,
            array_element_delimiter: "|".into(),
            escape_character: Some(b'\\'),
            null_literal: Some("NULL".into()),
            write_bigdecimal_in_scientific_notation: false,
        })
    );
    assert_eq!(keys.len(), 8);

    let err = Format::from_options("csv", &opts(&[("csv.field-delimiter", ";;")]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("csv.field-delimiter") && err.contains(";;"),
        "{err}"
    );
    let err = Format::from_options(
        "csv",
        &opts(&[
            ("csv.disable-quote-character", "true"),
            ("csv.quote-character", "'"),
        ]),
    )
    .unwrap_err();
    assert!(matches!(err, FormatError::ConflictingOptions(_)));
    let err = Format::from_options("csv", &opts(&[("csv.header", "true")])).unwrap_err();
    assert!(err.to_string().contains("'csv.header'"), "{err}");

    let (f, _) =
        Format::from_options("csv", &opts(&[("csv.disable-quote-character", "true")])).unwrap();
    let Format::Csv(o) = f else { panic!() };
    assert_eq!(o.quote_character, None);
}

#[test]
fn decodes_and_round_trips() {
    let s = schema();
    let input = "1,plain,1.50,2024-01-01 00:00:01.5\n2,\"quoted, with \"\"quotes\"\"\nand a newline\",-0.01,2024-01-01 00:00:00\n3,,,\n";
    let f = csv(&[]);
    let b = decode(&f, &s, input).unwrap();
    assert_eq!(b.num_rows(), 3);
    let name = b.column(1).as_string::<i32>();
    assert_eq!(name.value(1), "quoted, with \"quotes\"\nand a newline");
    assert_eq!(
        name.value(2),
        "",
        "an empty STRING field is an empty string"
    );
    assert!(b.column(2).is_null(2), "an empty DECIMAL field is NULL");
    assert_eq!(b.column(2).as_primitive::<Decimal128Type>().value(0), 150);
    assert_eq!(
        b.column(3)
            .as_primitive::<TimestampMillisecondType>()
            .value(0),
        1_704_067_201_500
    );
    let out = encode(&f, &b);
    assert_eq!(
        out,
        "1,plain,1.50,2024-01-01 00:00:01.5\n2,\"quoted, with \"\"quotes\"\"\nand a newline\",-0.01,2024-01-01 00:00:00\n3,,,\n"
    );
    assert_eq!(decode(&f, &s, &out).unwrap(), b);
}

#[test]
fn malformed_records_with_and_without_ignore() {
    let s = schema();
    let input = "1,a,1.00,2024-01-01 00:00:00\n\"2,\"b\"\n3,c,x,2024-01-01 00:00:00\n4,d\n5,e,5.00,2024-01-01 00:00:00";
    let err = decode(&csv(&[]), &s, input).unwrap_err().to_string();
    assert!(err.starts_with("data.csv:2: "), "{err}");

    let err = decode(&csv(&[]), &s, "1,a,x,\n").unwrap_err().to_string();
    assert_eq!(
        err,
        "data.csv:1: column 'price': cannot parse \"x\" as DECIMAL(10, 2)"
    );
    let err = decode(&csv(&[]), &s, "1,a,1.0,\n\n4,d\n")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("data.csv:3: row length mismatch"), "{err}");

    let b = decode(&csv(&[("csv.ignore-parse-errors", "true")]), &s, input).unwrap();
    // Line 2 is skipped (bad quoting); line 3 keeps its row with a NULL price; line 4 is short:
    // its missing fields are NULL.
    assert_eq!(
        b.column(0).as_primitive::<Int64Type>().values(),
        &[1, 3, 4, 5]
    );
    assert!(b.column(2).is_null(1));
    assert!(b.column(3).is_null(2));
}

#[test]
fn delimiters_quotes_escapes_comments_null_literal() {
    let s = Arc::new(Schema::new(vec![
        Field::new("a", DataType::Utf8, true),
        Field::new("b", DataType::Int32, true),
    ]));
    let f = csv(&[
        ("csv.field-delimiter", "|"),
        ("csv.quote-character", "'"),
        ("csv.allow-comments", "true"),
        ("csv.null-literal", "N/A"),
    ]);
    let b = decode(&f, &s, "# a comment\n'x|y'|1\nN/A|N/A\n'it''s'|3\n").unwrap();
    let a = b.column(0).as_string::<i32>();
    assert_eq!(a.value(0), "x|y");
    assert!(a.is_null(1) && b.column(1).is_null(1));
    assert_eq!(a.value(2), "it's");
    assert_eq!(encode(&f, &b), "'x|y'|1\nN/A|N/A\n'it''s'|3\n");

    // Without allow-comments a '#' line is data.
    let err = decode(&csv(&[]), &s, "#,x\n").unwrap_err().to_string();
    assert!(err.starts_with("data.csv:1: column 'b'"), "{err}");

    let esc = csv(&[
        ("csv.escape-character", "\\\\"),
        ("csv.disable-quote-character", "true"),
    ]);
    let b = decode(&esc, &s, "a\\,b,1\n\"q\",2\n").unwrap();
    let a = b.column(0).as_string::<i32>();
    assert_eq!(a.value(0), "a,b");
    assert_eq!(a.value(1), "\"q\"");
    assert_eq!(encode(&esc, &b), "a\\,b,1\n\"q\",2\n");

    let tab = csv(&[("csv.field-delimiter", "\\t")]);
    let b = decode(&tab, &s, "x,y\t7\n").unwrap();
    assert_eq!(b.column(0).as_string::<i32>().value(0), "x,y");
    assert_eq!(encode(&tab, &b), "x,y\t7\n");
}

#[test]
fn arrays_and_nested_rows() {
    let s = Arc::new(Schema::new(vec![
        Field::new("tags", DataType::new_list(DataType::Int32, true), true),
        Field::new(
            "r",
            DataType::Struct(Fields::from(vec![
                Field::new("x", DataType::Utf8, true),
                Field::new("y", DataType::Float64, true),
            ])),
            true,
        ),
    ]));
    let f = csv(&[("csv.null-literal", "null")]);
    let b = decode(&f, &s, "1;2;null,a;1.5\n,b;2\nnull,null\n").unwrap();
    let tags = b.column(0).as_list::<i32>();
    let first = tags.value(0);
    let first = first.as_primitive::<Int32Type>();
    assert_eq!(first.len(), 3);
    assert!(first.is_null(2));
    assert_eq!(tags.value(1).len(), 0);
    assert!(tags.is_null(2));
    let r = b.column(1).as_struct();
    assert_eq!(r.column(1).as_primitive::<Float64Type>().value(1), 2.0);
    assert!(r.is_null(2));
    assert_eq!(encode(&f, &b), "1;2;null,a;1.5\n,b;2.0\nnull,null\n");

    let other = csv(&[("csv.array-element-delimiter", "|")]);
    let b = decode(&other, &s, "1|2,a|3\n").unwrap();
    assert_eq!(b.column(0).as_list::<i32>().value(0).len(), 2);
}

#[test]
fn dates_times_decimals_bytes() {
    let s = Arc::new(Schema::new(vec![
        Field::new("d", DataType::Date32, true),
        Field::new("t", DataType::Time32(TimeUnit::Millisecond), true),
        Field::new("n", DataType::Decimal128(12, 9), true),
        Field::new("y", DataType::Binary, true),
        Field::new(
            "z",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            true,
        ),
        Field::new("ok", DataType::Boolean, true),
    ]));
    let input = "2024-01-01,12:34:56.789,0.000000027,aGk=,2024-01-01 00:00:00Z,TRUE\n";
    let b = decode(&csv(&[]), &s, input).unwrap();
    assert_eq!(b.column(0).as_primitive::<Date32Type>().value(0), 19_723);
    assert_eq!(
        b.column(1).as_primitive::<Time32MillisecondType>().value(0),
        45_296_789
    );
    assert_eq!(b.column(3).as_binary::<i32>().value(0), b"hi");
    assert!(b.column(5).as_boolean().value(0));
    assert_eq!(
        encode(&csv(&[]), &b),
        "2024-01-01,12:34:56.789,2.7E-8,aGk=,2024-01-01 00:00:00Z,true\n"
    );
    assert_eq!(
        encode(
            &csv(&[("csv.write-bigdecimal-in-scientific-notation", "false")]),
            &b
        ),
        "2024-01-01,12:34:56.789,0.000000027,aGk=,2024-01-01 00:00:00Z,true\n"
    );
}

#[test]
fn chunks_split_anywhere_and_line_numbers_follow_quoted_newlines() {
    let s = schema();
    let input = "1,\"multi\nline\",1.00,2024-01-01 00:00:00\r\n2,b,2.00,2024-01-01 00:00:00\r\n3,c,3.00,2024-01-01 00:00:00";
    let whole = decode(&csv(&[]), &s, input).unwrap();
    assert_eq!(whole.num_rows(), 3);
    assert_eq!(whole.column(1).as_string::<i32>().value(0), "multi\nline");
    for chunk in [1, 2, 5, 17] {
        let mut d = csv(&[]).decoder(s.clone()).unwrap();
        let mut batches = Vec::new();
        for c in input.as_bytes().chunks(chunk) {
            batches.extend(d.decode(c, origin()).unwrap());
        }
        batches.extend(d.finish(origin()).unwrap());
        let b = arrow::compute::concat_batches(&s, &batches).unwrap();
        assert_eq!(b, whole, "chunk size {chunk}");
    }
    let bad = "1,\"multi\nline\",1.00,\n2,b,oops,\n";
    let err = decode(&csv(&[]), &s, bad).unwrap_err().to_string();
    assert!(err.starts_with("data.csv:3: "), "{err}");
    let err = decode(&csv(&[]), &s, "1,\"never closed\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("unterminated"), "{err}");
}

#[test]
fn many_rows_make_bounded_batches() {
    let s = Arc::new(Schema::new(vec![Field::new("i", DataType::Int32, false)]));
    let input: String = (0..20_000).map(|i| format!("{i}\n")).collect();
    let mut d = csv(&[]).decoder(s.clone()).unwrap();
    let batches = d.decode(input.as_bytes(), origin()).unwrap();
    assert!(
        batches
            .iter()
            .all(|b| b.num_rows() <= runnel_formats::BATCH_SIZE)
    );
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 20_000);
    // A NULL for a NOT NULL column fails the record (and is skipped with ignore-parse-errors).
    let err = decode(&csv(&[("csv.null-literal", "x")]), &s, "1\nx\n")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("data.csv:2: column 'i'"), "{err}");
    let b = decode(
        &csv(&[
            ("csv.null-literal", "x"),
            ("csv.ignore-parse-errors", "true"),
        ]),
        &s,
        "1\nx\nbad\n4\n",
    )
    .unwrap();
    assert_eq!(b.column(0).as_primitive::<Int32Type>().values(), &[1, 4]);
}

#[test]
fn maps_are_not_supported() {
    let s = Arc::new(Schema::new(vec![Field::new(
        "m",
        DataType::Map(
            Arc::new(Field::new(
                "entries",
                DataType::Struct(Fields::from(vec![
                    Field::new("key", DataType::Utf8, false),
                    Field::new("value", DataType::Utf8, true),
                ])),
                false,
            )),
            false,
        ),
        true,
    )]));
    assert!(matches!(
        csv(&[]).decoder(s.clone()).err().unwrap(),
        FormatError::UnsupportedType { .. }
    ));
    assert!(csv(&[]).encoder(s).is_err());
}
