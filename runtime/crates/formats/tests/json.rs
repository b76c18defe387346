use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BooleanArray, Date32Array, Decimal128Array,
    Float64Array, Int32Array, ListArray, MapArray, RecordBatch, StringArray, StructArray,
    Time32MillisecondArray,
};
use arrow::buffer::{NullBuffer, OffsetBuffer};
use arrow::datatypes::{
    DataType, Decimal128Type, Field, Fields, Int32Type, Int64Type, Schema, SchemaRef, TimeUnit,
    TimestampMillisecondType,
};
use runnel_formats::{Format, FormatError, JsonOptions, MapNullKeyMode, Origin, TimestampStandard};

fn opts(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn json(pairs: &[(&str, &str)]) -> Format {
    Format::from_options("json", &opts(pairs)).unwrap().0
}

fn origin(first_line: u64) -> Origin<'static> {
    Origin {
        path: "events.json",
        first_line,
    }
}

/// Decodes `input` in one chunk, then finishes; all rows in one batch.
fn decode(format: &Format, schema: &SchemaRef, input: &str) -> Result<RecordBatch, FormatError> {
    let mut d = format.decoder(schema.clone())?;
    let mut batches = d.decode(input.as_bytes(), origin(1))?;
    batches.extend(d.finish(origin(1))?);
    Ok(arrow::compute::concat_batches(schema, &batches).unwrap())
}

fn encode(format: &Format, batch: &RecordBatch) -> String {
    let mut e = format.encoder(batch.schema()).unwrap();
    let mut out = Vec::new();
    e.encode(batch, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

fn simple_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
    ]))
}

fn ts_ms() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, None)
}

fn ltz_ms() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

#[test]
fn options_are_parsed_and_reported() {
    let (f, keys) = Format::from_options(
        "json",
        &opts(&[
            ("json.fail-on-missing-field", "true"),
            ("json.timestamp-format.standard", "ISO-8601"),
            ("json.map-null-key.mode", "LITERAL"),
            ("json.map-null-key.literal", "N/A"),
            ("json.encode.decimal-as-plain-number", "TRUE"),
            ("json.encode.ignore-null-fields", "true"),
            ("connector", "filesystem"),
            ("csv.field-delimiter", "|"),
        ]),
    )
    .unwrap();
    assert_eq!(
        f,
        Format::Json(JsonOptions {
            fail_on_missing_field: true,
            ignore_parse_errors: false,
            timestamp_standard: TimestampStandard::Iso8601,
            map_null_key_mode: MapNullKeyMode::Literal,
            map_null_key_literal: "N/A".into(),
            encode_decimal_as_plain_number: true,
            encode_ignore_null_fields: true,
        })
    );
    assert_eq!(keys.len(), 6);
    assert!(!keys.contains(&"connector".to_string()));
    assert!(!keys.contains(&"csv.field-delimiter".to_string()));

    let err = Format::from_options("json", &opts(&[("json.foo", "1")])).unwrap_err();
    assert!(matches!(err, FormatError::UnknownOption { .. }));
    assert!(err.to_string().contains("'json.foo'"), "{err}");

    let err = Format::from_options("json", &opts(&[("json.ignore-parse-errors", "yes")]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("json.ignore-parse-errors") && err.contains("'yes'"),
        "{err}"
    );

    let err = Format::from_options("json", &opts(&[("json.timestamp-format.standard", "RFC")]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("json.timestamp-format.standard") && err.contains("RFC"),
        "{err}"
    );

    let err = Format::from_options(
        "json",
        &opts(&[
            ("json.fail-on-missing-field", "true"),
            ("json.ignore-parse-errors", "true"),
        ]),
    )
    .unwrap_err();
    assert!(matches!(err, FormatError::ConflictingOptions(_)));

    assert!(matches!(
        Format::from_options("avro", &HashMap::new()).unwrap_err(),
        FormatError::UnknownFormat(_)
    ));
}

#[test]
fn decodes_flat_lines_and_coerces_like_flink() {
    let schema = simple_schema();
    let b = decode(
        &json(&[]),
        &schema,
        "\u{feff}{\"id\": 1, \"name\": \"a\"}\n\n{\"id\": \"12\", \"name\": 42}\r\n{\"name\": {\"x\": [1, true]}, \"extra\": 5}\n",
    )
    .unwrap();
    assert_eq!(b.num_rows(), 3);
    let id = b.column(0).as_primitive::<Int64Type>();
    assert_eq!(id.value(0), 1);
    assert_eq!(id.value(1), 12);
    assert!(id.is_null(2), "missing field is NULL by default");
    let name = b.column(1).as_string::<i32>();
    assert_eq!(name.value(0), "a");
    assert_eq!(name.value(1), "42");
    assert_eq!(name.value(2), "{\"x\":[1,true]}");
}

#[test]
fn malformed_line_fails_with_path_and_line() {
    let schema = simple_schema();
    let input = "{\"id\": 1}\n{\"id\": 2}\n{\"id\": oops}\n{\"id\": 4}\n";
    let err = decode(&json(&[]), &schema, input).unwrap_err().to_string();
    assert!(err.starts_with("events.json:3: "), "{err}");

    // A value of the wrong type names the field and the value.
    let err = decode(&json(&[]), &schema, "{\"id\": 1}\n{\"id\": \"abc\"}\n")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("events.json:2: field 'id'"), "{err}");
    assert!(err.contains("abc") && err.contains("BIGINT"), "{err}");

    // Not an object.
    let err = decode(&json(&[]), &schema, "{\"id\": 1}\n[1, 2]\n")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("events.json:2: "), "{err}");

    // A truncated line, then a good one.
    let err = decode(&json(&[]), &schema, "{\"id\": 1\n{\"id\": 2}\n")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("events.json:1: "), "{err}");

    // Line numbers continue from the origin.
    let mut d = json(&[]).decoder(schema.clone()).unwrap();
    let err = d
        .decode(b"{\"id\": 1}\n{\"id\" 2}\n", origin(41))
        .unwrap_err();
    assert!(err.to_string().starts_with("events.json:42: "), "{err}");
}

#[test]
fn ignore_parse_errors_skips_bad_lines_only() {
    let schema = simple_schema();
    let mut input = String::new();
    for i in 0..20_000 {
        if i % 7_001 == 3 {
            input.push_str("{\"id\": oops\n");
        } else if i == 10 {
            input.push_str("{\"id\": \"not a number\", \"name\": \"kept\"}\n");
        } else {
            input.push_str(&format!("{{\"id\": {i}, \"name\": \"n{i}\"}}\n"));
        }
    }
    let f = json(&[("json.ignore-parse-errors", "true")]);
    let mut d = f.decoder(schema.clone()).unwrap();
    let batches = d.decode(input.as_bytes(), origin(1)).unwrap();
    assert!(
        batches
            .iter()
            .all(|b| b.num_rows() <= runnel_formats::BATCH_SIZE)
    );
    let b = arrow::compute::concat_batches(&schema, &batches).unwrap();
    assert_eq!(b.num_rows(), 20_000 - 3);
    let id = b.column(0).as_primitive::<Int64Type>();
    // Order is kept; the unparsable value became NULL, its row stays.
    assert_eq!(id.value(0), 0);
    assert_eq!(id.value(3), 4);
    assert!(id.is_null(9));
    assert_eq!(b.column(1).as_string::<i32>().value(9), "kept");
    assert_eq!(id.value(b.num_rows() - 1), 19_999);
}

#[test]
fn missing_fields_with_and_without_fail_on_missing_field() {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new(
            "person",
            DataType::Struct(Fields::from(vec![
                Field::new("name", DataType::Utf8, true),
                Field::new("city", DataType::Utf8, true),
            ])),
            true,
        ),
    ]));
    let input = "{\"id\": 1, \"person\": {\"name\": \"a\", \"city\": null}}\n{\"id\": 2, \"person\": null}\n{\"id\": 3, \"person\": {\"name\": \"b\"}}\n";
    let b = decode(&json(&[]), &schema, input).unwrap();
    assert_eq!(b.num_rows(), 3);
    let person = b.column(1).as_struct();
    assert!(person.is_null(1));
    assert!(person.column(1).is_null(2));

    let strict = json(&[("json.fail-on-missing-field", "true")]);
    // Explicit nulls count as present; a null parent hides its fields.
    let ok = "{\"id\": 1, \"person\": {\"name\": \"a\", \"city\": null}}\n{\"id\": 2, \"person\": null}\n";
    assert_eq!(decode(&strict, &schema, ok).unwrap().num_rows(), 2);
    let err = decode(&strict, &schema, input).unwrap_err().to_string();
    assert!(err.starts_with("events.json:3: "), "{err}");
    assert!(
        err.contains("person.city") && err.contains("missing"),
        "{err}"
    );
    let err = decode(&strict, &schema, "{\"person\": null}\n")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("events.json:1: field 'id'"), "{err}");
}

fn nested_schema() -> SchemaRef {
    let bid = DataType::Struct(Fields::from(vec![
        Field::new("auction", DataType::Int64, true),
        Field::new("price", DataType::Int64, true),
        Field::new("dateTime", ts_ms(), true),
        Field::new("tags", DataType::new_list(DataType::Utf8, true), true),
    ]));
    Arc::new(Schema::new(vec![
        Field::new("event_type", DataType::Int32, true),
        Field::new("bid", bid, true),
        Field::new(
            "attrs",
            DataType::Map(
                Arc::new(Field::new(
                    "entries",
                    DataType::Struct(Fields::from(vec![
                        Field::new("key", DataType::Utf8, false),
                        Field::new("value", DataType::Int32, true),
                    ])),
                    false,
                )),
                false,
            ),
            true,
        ),
        Field::new("scores", DataType::new_list(DataType::Float64, true), true),
    ]))
}

#[test]
fn nested_rows_arrays_maps_round_trip() {
    let schema = nested_schema();
    let input = concat!(
        r#"{"event_type":2,"bid":{"auction":1000,"price":52,"dateTime":"2015-07-15 00:00:00.123","tags":["a","b"]},"attrs":{"x":1,"y":null},"scores":[1.5,null,1.0E7]}"#,
        "\n",
        r#"{"event_type":0,"bid":null,"attrs":{},"scores":[]}"#,
        "\n",
        r#"{"event_type":1,"bid":{"auction":7,"price":null,"dateTime":null,"tags":null},"attrs":null,"scores":null}"#,
        "\n",
    );
    let f = json(&[]);
    let b = decode(&f, &schema, input).unwrap();
    assert_eq!(b.num_rows(), 3);
    let bid = b.column(1).as_struct();
    assert_eq!(bid.column(0).as_primitive::<Int64Type>().value(0), 1000);
    let ts = bid.column(2).as_primitive::<TimestampMillisecondType>();
    assert_eq!(ts.value(0), 1_436_918_400_123);
    let tags = bid.column(3).as_list::<i32>();
    assert_eq!(tags.value(0).as_string::<i32>().value(1), "b");
    let attrs = b.column(2).as_map();
    assert_eq!(attrs.value(0).len(), 2);
    assert!(attrs.is_null(2));
    let scores = b.column(3).as_list::<i32>();
    assert!(scores.value(0).is_null(1));

    // Flink writes compact objects, fields in declared order; the timestamp drops no digits.
    let out = encode(&f, &b);
    assert_eq!(out, input);
    // And what it writes reads back the same.
    assert_eq!(decode(&f, &schema, &out).unwrap(), b);
}

#[test]
fn timestamps_in_both_standards() {
    let schema = Arc::new(Schema::new(vec![
        Field::new("ts", ts_ms(), true),
        Field::new("ltz", ltz_ms(), true),
    ]));
    let sql = json(&[]);
    let iso = json(&[("json.timestamp-format.standard", "ISO-8601")]);

    let b = decode(
        &sql,
        &schema,
        "{\"ts\": \"2024-01-01 00:00:01.5\", \"ltz\": \"2024-01-01 00:00:00Z\"}\n",
    )
    .unwrap();
    let ts = b.column(0).as_primitive::<TimestampMillisecondType>();
    assert_eq!(ts.value(0), 1_704_067_201_500);
    let ltz = b.column(1).as_primitive::<TimestampMillisecondType>();
    assert_eq!(ltz.value(0), 1_704_067_200_000);
    assert_eq!(
        encode(&sql, &b),
        "{\"ts\":\"2024-01-01 00:00:01.5\",\"ltz\":\"2024-01-01 00:00:00Z\"}\n"
    );
    assert_eq!(
        encode(&iso, &b),
        "{\"ts\":\"2024-01-01T00:00:01.5\",\"ltz\":\"2024-01-01T00:00:00Z\"}\n"
    );
    let b2 = decode(
        &iso,
        &schema,
        "{\"ts\": \"2024-01-01T00:00:01.500\", \"ltz\": \"2024-01-01T00:00:00.000Z\"}\n",
    )
    .unwrap();
    assert_eq!(b2, b);

    // The other standard's text is an error naming the expected pattern.
    let err = decode(&sql, &schema, "{\"ts\": \"2024-01-01T00:00:01\"}\n")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("events.json:1: field 'ts'"), "{err}");
    assert!(err.contains("yyyy-MM-dd HH:mm:ss"), "{err}");
    // TIMESTAMP_LTZ needs its 'Z'.
    assert!(decode(&iso, &schema, "{\"ltz\": \"2024-01-01T00:00:01\"}\n").is_err());
}

#[test]
fn decimals_as_numbers_and_strings() {
    let schema = Arc::new(Schema::new(vec![Field::new(
        "d",
        DataType::Decimal128(10, 3),
        true,
    )]));
    let b = decode(
        &json(&[]),
        &schema,
        "{\"d\": 1.5}\n{\"d\": \"-2.0005\"}\n{\"d\": 12345678.9}\n{\"d\": 0.000000027}\n{\"d\": 1e2}\n",
    )
    .unwrap();
    let d = b.column(0).as_primitive::<Decimal128Type>();
    assert_eq!(d.value(0), 1500);
    assert_eq!(d.value(1), -2001, "rounded half up");
    assert!(
        d.is_null(2),
        "too large for DECIMAL(10, 3): NULL, as in Flink"
    );
    assert_eq!(d.value(3), 0);
    assert_eq!(d.value(4), 100_000);

    let schema = Arc::new(Schema::new(vec![Field::new(
        "d",
        DataType::Decimal128(12, 9),
        true,
    )]));
    let arr = Decimal128Array::from(vec![Some(27), Some(1_500_000_000), None])
        .with_precision_and_scale(12, 9)
        .unwrap();
    let b = RecordBatch::try_new(schema.clone(), vec![Arc::new(arr)]).unwrap();
    assert_eq!(
        encode(&json(&[]), &b),
        "{\"d\":2.7E-8}\n{\"d\":1.500000000}\n{\"d\":null}\n"
    );
    assert_eq!(
        encode(
            &json(&[("json.encode.decimal-as-plain-number", "true")]),
            &b
        ),
        "{\"d\":0.000000027}\n{\"d\":1.500000000}\n{\"d\":null}\n"
    );
    assert_eq!(
        decode(&json(&[]), &schema, &encode(&json(&[]), &b)).unwrap(),
        b
    );
}

#[test]
fn all_scalar_types_round_trip() {
    let schema = Arc::new(Schema::new(vec![
        Field::new("b", DataType::Boolean, true),
        Field::new("i", DataType::Int32, true),
        Field::new("f", DataType::Float64, true),
        Field::new("s", DataType::Utf8, true),
        Field::new("y", DataType::Binary, true),
        Field::new("d", DataType::Date32, true),
        Field::new("t", DataType::Time32(TimeUnit::Millisecond), true),
    ]));
    let cols: Vec<ArrayRef> = vec![
        Arc::new(BooleanArray::from(vec![Some(true), None])),
        Arc::new(Int32Array::from(vec![Some(-7), None])),
        Arc::new(Float64Array::from(vec![Some(0.1), None])),
        Arc::new(StringArray::from(vec![Some("q\"u\\o\nte\u{1} é"), None])),
        Arc::new(BinaryArray::from(vec![Some(&b"\x00\xffhi"[..]), None])),
        Arc::new(Date32Array::from(vec![Some(19_723), None])),
        Arc::new(Time32MillisecondArray::from(vec![Some(45_296_000), None])),
    ];
    let b = RecordBatch::try_new(schema.clone(), cols).unwrap();
    let f = json(&[]);
    let out = encode(&f, &b);
    assert_eq!(
        out,
        concat!(
            r#"{"b":true,"i":-7,"f":0.1,"s":"q\"u\\o\nte\u0001 é","y":"AP9oaQ==","d":"2024-01-01","t":"12:34:56"}"#,
            "\n",
            r#"{"b":null,"i":null,"f":null,"s":null,"y":null,"d":null,"t":null}"#,
            "\n"
        )
    );
    assert_eq!(decode(&f, &schema, &out).unwrap(), b);

    let ignore_nulls = json(&[("json.encode.ignore-null-fields", "true")]);
    let out = encode(&ignore_nulls, &b);
    assert!(out.ends_with("\n{}\n"), "{out}");

    // Booleans from strings, as Java's Boolean.parseBoolean.
    let b = decode(&f, &schema, "{\"b\": \"TRUE\"}\n{\"b\": \"yes\"}\n").unwrap();
    let col = b.column(0).as_boolean();
    assert!(col.value(0) && !col.value(1));
}

fn map_batch() -> RecordBatch {
    let entries = Fields::from(vec![
        Field::new("key", DataType::Int32, false),
        Field::new("value", DataType::Utf8, true),
    ]);
    let keys: ArrayRef = Arc::new(Int32Array::from(vec![1, 2, 3]));
    let values: ArrayRef = Arc::new(StringArray::from(vec![Some("a"), None, Some("c")]));
    let map = MapArray::try_new(
        Arc::new(Field::new(
            "entries",
            DataType::Struct(entries.clone()),
            false,
        )),
        OffsetBuffer::new(vec![0, 2, 2, 3].into()),
        StructArray::try_new(entries, vec![keys, values], None).unwrap(),
        Some(NullBuffer::from(vec![true, false, true])),
        false,
    )
    .unwrap();
    let schema = Arc::new(Schema::new(vec![Field::new(
        "m",
        map.data_type().clone(),
        true,
    )]));
    RecordBatch::try_new(schema, vec![Arc::new(map)]).unwrap()
}

#[test]
fn maps_with_non_string_keys() {
    // Arrow map keys are never NULL, so 'json.map-null-key.*' only shapes what cannot occur;
    // keys of other types are written as their text and parsed back from it.
    let b = map_batch();
    let f = json(&[("json.map-null-key.mode", "DROP")]);
    let out = encode(&f, &b);
    assert_eq!(
        out,
        "{\"m\":{\"1\":\"a\",\"2\":null}}\n{\"m\":null}\n{\"m\":{\"3\":\"c\"}}\n"
    );
    assert_eq!(decode(&f, &b.schema(), &out).unwrap(), b);
}

#[test]
fn chunks_split_anywhere_give_the_same_rows() {
    let schema = nested_schema();
    let line = r#"{"event_type":2,"bid":{"auction":1000,"price":52,"dateTime":"2015-07-15 00:00:00.123","tags":["a","b"]},"attrs":{"x":1},"scores":[1.5]}"#;
    let input: String = (0..50).map(|_| format!("{line}\n")).collect::<String>() + line;
    let whole = decode(&json(&[]), &schema, &input).unwrap();
    assert_eq!(whole.num_rows(), 51);
    for chunk in [1, 7, 100, 1000] {
        let mut d = json(&[]).decoder(schema.clone()).unwrap();
        let mut batches = Vec::new();
        let mut line_no = 1;
        for c in input.as_bytes().chunks(chunk) {
            batches.extend(d.decode(c, origin(line_no)).unwrap());
            line_no += c.iter().filter(|b| **b == b'\n').count() as u64;
        }
        batches.extend(d.finish(origin(line_no)).unwrap());
        let b = arrow::compute::concat_batches(&schema, &batches).unwrap();
        assert_eq!(b, whole, "chunk size {chunk}");
    }
    // A bad line in the kept tail is reported on its own line.
    let mut d = json(&[]).decoder(schema.clone()).unwrap();
    d.decode(format!("{line}\n{{\"event_type\": x").as_bytes(), origin(1))
        .unwrap();
    let err = d.finish(origin(1)).unwrap_err().to_string();
    assert!(err.starts_with("events.json:2: "), "{err}");
}

#[test]
fn not_null_columns_reject_nulls() {
    let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
    let err = decode(&json(&[]), &schema, "{\"id\": 1}\n{\"id\": null}\n")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("events.json:2: "), "{err}");
    let b = decode(
        &json(&[("json.ignore-parse-errors", "true")]),
        &schema,
        "{\"id\": 1}\n{}\n{\"id\": 3}\n",
    )
    .unwrap();
    assert_eq!(b.column(0).as_primitive::<Int64Type>().values(), &[1, 3]);
}

#[test]
fn unsupported_types_fail_up_front() {
    let schema = Arc::new(Schema::new(vec![Field::new("u", DataType::UInt32, true)]));
    let err = json(&[]).decoder(schema.clone()).err().unwrap();
    assert!(matches!(err, FormatError::UnsupportedType { .. }), "{err}");
}

#[test]
fn encodes_list_of_rows_and_nulls_inside() {
    let row = Fields::from(vec![Field::new("x", DataType::Int32, true)]);
    let structs = StructArray::try_new(
        row.clone(),
        vec![Arc::new(Int32Array::from(vec![Some(1), None, Some(3)]))],
        Some(NullBuffer::from(vec![true, true, false])),
    )
    .unwrap();
    let list = ListArray::try_new(
        Arc::new(Field::new("item", DataType::Struct(row), true)),
        OffsetBuffer::new(vec![0, 3].into()),
        Arc::new(structs),
        None,
    )
    .unwrap();
    let schema = Arc::new(Schema::new(vec![Field::new(
        "l",
        list.data_type().clone(),
        true,
    )]));
    let b = RecordBatch::try_new(schema.clone(), vec![Arc::new(list)]).unwrap();
    let out = encode(&json(&[]), &b);
    assert_eq!(out, "{\"l\":[{\"x\":1},{\"x\":null},null]}\n");
    let back = decode(&json(&[]), &schema, &out).unwrap();
    let l = back.column(0).as_list::<i32>().value(0);
    assert_eq!(
        l.as_struct().column(0).as_primitive::<Int32Type>().value(0),
        1
    );
    assert!(l.is_null(2));
}
