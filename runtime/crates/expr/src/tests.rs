use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float64Array, Int32Array,
    Int64Array, RecordBatch, StringArray, StructArray, TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, Field, Fields, Schema, TimeUnit};
use runnel_types::FlinkFormatter;
use sqlparser::parser::Parser;

use crate::*;

fn parse(text: &str) -> sqlparser::ast::Expr {
    Parser::new(&FlinkDialect)
        .try_with_sql(text)
        .and_then(|mut p| p.parse_expr())
        .unwrap_or_else(|e| panic!("parse `{text}`: {e}"))
}

/// 2024-01-15 10:30:45.123 UTC and friends.
const TS: [Option<i64>; 4] = [
    Some(1_705_314_645_123),
    Some(0),
    None,
    Some(1_709_251_199_999), // 2024-02-29 23:59:59.999
];

fn batch() -> RecordBatch {
    let person_fields = Fields::from(vec![
        Field::new("name", DataType::Utf8, true),
        Field::new(
            "address",
            DataType::Struct(Fields::from(vec![Field::new("city", DataType::Utf8, true)])),
            true,
        ),
    ]);
    let address = StructArray::from(vec![(
        Arc::new(Field::new("city", DataType::Utf8, true)),
        Arc::new(StringArray::from(vec![
            Some("Berlin"),
            Some("Paris"),
            None,
            Some("Rome"),
        ])) as ArrayRef,
    )]);
    let person = StructArray::try_new(
        person_fields.clone(),
        vec![
            Arc::new(StringArray::from(vec![
                Some("ann"),
                Some("bob"),
                Some("x"),
                None,
            ])),
            Arc::new(address),
        ],
        Some(vec![true, true, false, true].into()),
    )
    .unwrap();
    let columns: Vec<(&str, ArrayRef)> = vec![
        (
            "a",
            Arc::new(Int32Array::from(vec![Some(1), Some(2), None, Some(7)])),
        ),
        (
            "b",
            Arc::new(Int32Array::from(vec![Some(2), Some(0), Some(3), Some(2)])),
        ),
        (
            "big",
            Arc::new(Int64Array::from(vec![Some(10), Some(-3), Some(5), None])),
        ),
        (
            "price",
            Arc::new(
                Decimal128Array::from(vec![Some(1500), Some(908), None, Some(-2250)])
                    .with_precision_and_scale(4, 3)
                    .unwrap(),
            ),
        ),
        (
            "d",
            Arc::new(Float64Array::from(vec![
                Some(1.5),
                Some(-2.25),
                Some(0.1),
                None,
            ])),
        ),
        (
            "s",
            Arc::new(StringArray::from(vec![
                Some("hello"),
                Some("a,b,c"),
                None,
                Some("Flink SQL"),
            ])),
        ),
        ("ts", Arc::new(TimestampMillisecondArray::from(TS.to_vec()))),
        (
            "ltz",
            Arc::new(TimestampMillisecondArray::from(TS.to_vec()).with_timezone("UTC")),
        ),
        (
            "flag",
            Arc::new(BooleanArray::from(vec![
                Some(true),
                Some(false),
                None,
                Some(true),
            ])),
        ),
        (
            "dt",
            Arc::new(Date32Array::from(vec![
                Some(19_737),
                Some(0),
                None,
                Some(-1),
            ])),
        ),
        (
            "num",
            Arc::new(StringArray::from(vec![
                Some("12"),
                Some(" 7 "),
                None,
                Some("abc"),
            ])),
        ),
        ("person", Arc::new(person)),
    ];
    let fields: Vec<Field> = columns
        .iter()
        .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
        .collect();
    RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns.into_iter().map(|(_, a)| a).collect(),
    )
    .unwrap()
}

fn scope(batch: &RecordBatch) -> Scope {
    Scope::from_schema(&batch.schema(), Some("t"))
}

fn ctx() -> CompileContext {
    CompileContext {
        session_time_zone: "UTC".into(),
        statement_time_millis: 1_705_314_645_123,
    }
}

fn compile_text(text: &str) -> Result<ExprRef, PlanError> {
    let b = batch();
    compile(&parse(text), &scope(&b), &ctx())
}

fn render(a: &ArrayRef) -> Vec<String> {
    (0..a.len())
        .map(|i| {
            if a.is_null(i) || a.data_type() == &DataType::Null {
                "NULL".to_string()
            } else if let DataType::Boolean = a.data_type() {
                use arrow::array::AsArray;
                a.as_boolean().value(i).to_string()
            } else {
                let mut s = String::new();
                FlinkFormatter::Sql.write_value(a.as_ref(), i, &mut s);
                s
            }
        })
        .collect()
}

/// Evaluates `text` over the test batch, returning the rendered values and the type.
fn eval(text: &str) -> (Vec<String>, DataType) {
    let b = batch();
    let e = compile(&parse(text), &scope(&b), &ctx())
        .unwrap_or_else(|err| panic!("compile `{text}`: {err}"));
    let out = e
        .evaluate(&b)
        .unwrap_or_else(|err| panic!("evaluate `{text}`: {err}"));
    assert_eq!(out.len(), b.num_rows(), "row count of `{text}`");
    assert_eq!(out.data_type(), e.data_type(), "declared type of `{text}`");
    (render(&out), e.data_type().clone())
}

fn vals(text: &str) -> Vec<String> {
    eval(text).0
}

/// Evaluates a constant expression: its single value.
fn one(text: &str) -> String {
    vals(text)[0].clone()
}

fn eval_err(text: &str) -> ExprError {
    let b = batch();
    let e = compile(&parse(text), &scope(&b), &ctx()).unwrap();
    e.evaluate(&b).expect_err(text)
}

fn plan_err(text: &str) -> String {
    compile_text(text).expect_err(text).to_string()
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

#[test]
fn columns_qualifiers_and_nested_fields() {
    assert_eq!(vals("a"), s(&["1", "2", "NULL", "7"]));
    assert_eq!(vals("t.a"), s(&["1", "2", "NULL", "7"]));
    assert_eq!(vals("`a`"), s(&["1", "2", "NULL", "7"]));
    assert_eq!(vals("person.name"), s(&["ann", "bob", "NULL", "NULL"]));
    assert_eq!(vals("t.person.name"), s(&["ann", "bob", "NULL", "NULL"]));
    assert_eq!(
        vals("person.address.city"),
        s(&["Berlin", "Paris", "NULL", "Rome"])
    );
}

#[test]
fn unknown_column_names_position_and_candidates() {
    let msg = plan_err("a +\n  pric");
    assert!(
        msg.starts_with("unknown column `pric` at line 2, column 3 (available: a, b, big, price"),
        "{msg}"
    );
    let msg = plan_err("A + 1");
    assert!(msg.contains("did you mean `a`"), "{msg}");
    let msg = plan_err("person.nme");
    assert!(
        msg.contains("unknown column `nme`") && msg.contains("name, address"),
        "{msg}"
    );
    let msg = plan_err("FOO(a)");
    assert_eq!(msg, "unknown function `FOO` at line 1, column 1");
}

#[test]
fn literals_have_flink_types() {
    assert_eq!(eval("1").1, DataType::Int32);
    assert_eq!(eval("3000000000").1, DataType::Int64);
    assert_eq!(eval("0.908").1, DataType::Decimal128(3, 3));
    assert_eq!(eval("100.50").1, DataType::Decimal128(5, 2));
    assert_eq!(eval("1.5E3").1, DataType::Float64);
    assert_eq!(one("1.5E3"), "1500.0");
    assert_eq!(one("-2147483648"), "-2147483648");
    assert_eq!(eval("-2147483648").1, DataType::Int32);
    assert_eq!(one("'it''s'"), "it's");
    assert_eq!(one("DATE '2024-01-01'"), "2024-01-01");
    assert_eq!(
        one("TIMESTAMP '2024-01-01 10:00:00'"),
        "2024-01-01 10:00:00.000"
    );
    assert_eq!(one("TRUE"), "TRUE".to_lowercase());
    assert_eq!(one("NULL"), "NULL");
}

#[test]
fn integer_arithmetic_stays_integer() {
    assert_eq!(compile_text("a / b").unwrap().data_type(), &DataType::Int32);
    assert_eq!(eval_err("a / b"), ExprError::DivideByZero("a / b".into()));
    assert_eq!(eval_err("a % b").to_string(), "division by zero in `a % b`");
    assert_eq!(one("7 / 2"), "3");
    assert_eq!(one("-7 / 2"), "-3");
    assert_eq!(one("-7 % 3"), "-1");
    let (v, t) = eval("a + big");
    assert_eq!(t, DataType::Int64);
    assert_eq!(v, s(&["11", "-1", "NULL", "NULL"]));
    assert_eq!(eval("big % a").1, DataType::Int32);
    assert_eq!(one("2147483647 + 1"), "-2147483648");
    assert_eq!(vals("-a"), s(&["-1", "-2", "NULL", "-7"]));
    assert_eq!(vals("MOD(a, 2)"), s(&["1", "0", "NULL", "1"]));
}

#[test]
fn division_by_zero_in_unreached_rows_is_fine() {
    assert_eq!(
        vals("CASE WHEN b = 0 THEN -1 ELSE a / b END"),
        s(&["0", "-1", "NULL", "3"])
    );
    assert_eq!(
        vals("b <> 0 AND a / b > 1"),
        s(&["false", "false", "NULL", "true"])
    );
    assert_eq!(vals("IF(b = 0, 0, a / b)"), s(&["0", "0", "NULL", "3"]));
    assert_eq!(vals("a / NULLIF(b, 0)"), s(&["0", "NULL", "NULL", "3"]));
    assert_eq!(
        vals("COALESCE(a / NULLIF(b, 0), -1)"),
        s(&["0", "-1", "-1", "3"])
    );
}

#[test]
fn decimal_arithmetic_types() {
    assert_eq!(eval("big * price").1, DataType::Decimal128(23, 3));
    assert_eq!(
        vals("big * price"),
        s(&["15.000", "-2.724", "NULL", "NULL"])
    );
    assert_eq!(
        vals("0.908 * big"),
        s(&["9.080", "-2.724", "4.540", "NULL"])
    );
    assert_eq!(vals("big - 0.5"), s(&["9.5", "-3.5", "4.5", "NULL"]));
    assert_eq!(vals("1.5 - price"), s(&["0.000", "0.592", "NULL", "3.750"]));
    assert_eq!(
        vals("price + big"),
        s(&["11.500", "-2.092", "NULL", "NULL"])
    );
    assert_eq!(
        vals("price * price"),
        s(&["2.250000", "0.824464", "NULL", "5.062500"])
    );
    assert_eq!(vals("price - a"), s(&["0.500", "-1.092", "NULL", "-9.250"]));
    assert_eq!(vals("big % 0.7"), s(&["0.2", "-0.2", "0.1", "NULL"]));
    assert_eq!(eval("price + price").1, DataType::Decimal128(5, 3));
    assert_eq!(eval("price + a").1, DataType::Decimal128(14, 3));
    // division scale = max(6, s1 + p2 + 1)
    assert_eq!(eval("price / a").1, DataType::Decimal128(15, 14));
    assert_eq!(eval("price / price").1, DataType::Decimal128(12, 8));
    assert_eq!(
        vals("price / 3"),
        s(&[
            "0.50000000000000",
            "0.30266666666667",
            "NULL",
            "-0.75000000000000"
        ])
    );
    assert_eq!(eval("price * 1.5E0").1, DataType::Float64);
    assert_eq!(one("0.1 + 0.2"), "0.3");
    assert_eq!(
        one("CAST(1 AS DECIMAL(38, 0)) * CAST(1 AS DECIMAL(38, 10))"),
        "1.000000"
    );
    assert_eq!(eval("d + a").1, DataType::Float64);
}

#[test]
fn comparisons_and_three_valued_logic() {
    assert_eq!(vals("a < b"), s(&["true", "false", "NULL", "false"]));
    assert_eq!(vals("a = 1.0"), s(&["true", "false", "NULL", "false"]));
    assert_eq!(vals("big >= a"), s(&["true", "false", "NULL", "NULL"]));
    assert_eq!(
        vals("flag AND a > 1"),
        s(&["false", "false", "NULL", "true"])
    );
    assert_eq!(vals("flag OR a > 1"), s(&["true", "true", "NULL", "true"]));
    assert_eq!(vals("NULL AND FALSE"), s(&["false"; 4]));
    assert_eq!(vals("NULL OR TRUE"), s(&["true"; 4]));
    assert_eq!(vals("NOT flag"), s(&["false", "true", "NULL", "false"]));
    assert_eq!(vals("flag IS TRUE"), s(&["true", "false", "false", "true"]));
    assert_eq!(
        vals("flag IS NOT FALSE"),
        s(&["true", "false", "true", "true"])
    );
    assert_eq!(vals("a IS NULL"), s(&["false", "false", "true", "false"]));
    assert_eq!(
        vals("a IS DISTINCT FROM 2"),
        s(&["true", "false", "true", "true"])
    );
    assert_eq!(
        vals("a IS NOT DISTINCT FROM NULL"),
        s(&["false", "false", "true", "false"])
    );
    assert_eq!(vals("s > 'b'"), s(&["true", "false", "NULL", "false"]));
    assert_eq!(
        vals("ts > TIMESTAMP '2024-01-01 00:00:00'"),
        s(&["true", "false", "NULL", "true"])
    );
    assert_eq!(
        vals("ts > '2024-01-01 00:00:00'"),
        s(&["true", "false", "NULL", "true"])
    );
    assert_eq!(
        vals("dt = DATE '1970-01-01'"),
        s(&["false", "true", "NULL", "false"])
    );
    let msg = plan_err("a = s");
    assert_eq!(
        msg,
        "cannot compare INT with STRING in `a = s` at line 1, column 1"
    );
}

#[test]
fn between_and_in() {
    assert_eq!(
        vals("a BETWEEN 1 AND 2"),
        s(&["true", "true", "NULL", "false"])
    );
    assert_eq!(
        vals("a NOT BETWEEN 1 AND 2"),
        s(&["false", "false", "NULL", "true"])
    );
    assert_eq!(
        vals("a IN (1, 7, 9)"),
        s(&["true", "false", "NULL", "true"])
    );
    assert_eq!(
        vals("a NOT IN (1, 7)"),
        s(&["false", "true", "NULL", "false"])
    );
    assert_eq!(vals("a IN (1, NULL)"), s(&["true", "NULL", "NULL", "NULL"]));
    assert_eq!(
        vals("a IN (1.0, 2.5)"),
        s(&["true", "false", "NULL", "false"])
    );
    assert_eq!(
        vals("big IN (10, 5)"),
        s(&["true", "false", "true", "NULL"])
    );
    assert_eq!(
        vals("s IN ('hello', 'x')"),
        s(&["true", "false", "NULL", "false"])
    );
    assert_eq!(vals("a IN (b, 7)"), s(&["false", "false", "NULL", "true"]));
}

#[test]
fn like_with_escapes() {
    assert_eq!(vals("s LIKE 'h%'"), s(&["true", "false", "NULL", "false"]));
    assert_eq!(
        vals("s LIKE '_,b,_'"),
        s(&["false", "true", "NULL", "false"])
    );
    assert_eq!(
        vals("s NOT LIKE '%SQL'"),
        s(&["true", "true", "NULL", "false"])
    );
    assert_eq!(one("'100%' LIKE '100!%' ESCAPE '!'"), "true");
    assert_eq!(one("'1000' LIKE '100!%' ESCAPE '!'"), "false");
    assert_eq!(one("'a_c' LIKE 'a\\_c' ESCAPE '\\'"), "true");
    assert_eq!(one("'abc' LIKE 'a\\_c' ESCAPE '\\'"), "false");
    // without ESCAPE a backslash is an ordinary character
    assert_eq!(one("'a\\bc' LIKE 'a\\b%'"), "true");
    assert_eq!(one("'a.c' LIKE 'a.c'"), "true");
    assert_eq!(one("'a!c' LIKE 'a!!c' ESCAPE '!'"), "true");
    let msg = plan_err("s LIKE 'a!c' ESCAPE '!'");
    assert!(msg.contains("invalid escape sequence"), "{msg}");
    assert_eq!(one("'abc' LIKE 'a.c'"), "false");
    assert_eq!(one("'abc' SIMILAR TO 'a(b|x)c'"), "true");
}

#[test]
fn case_coalesce_and_friends() {
    let (v, t) = eval("CASE WHEN a = 1 THEN 'one' WHEN a = 2 THEN 'two' END");
    assert_eq!(t, DataType::Utf8);
    assert_eq!(v, s(&["one", "two", "NULL", "NULL"]));
    let (v, t) = eval("CASE a WHEN 1 THEN 1 WHEN 7 THEN 2.5 ELSE 0 END");
    assert_eq!(t, DataType::Decimal128(11, 1));
    assert_eq!(v, s(&["1.0", "0.0", "0.0", "2.5"]));
    assert_eq!(vals("COALESCE(a, big, 0)"), s(&["1", "2", "5", "7"]));
    assert_eq!(eval("COALESCE(a, big, 0)").1, DataType::Int64);
    assert_eq!(vals("IFNULL(a, -1)"), s(&["1", "2", "-1", "7"]));
    assert_eq!(vals("NULLIF(a, 2)"), s(&["1", "NULL", "NULL", "7"]));
    assert_eq!(vals("IF(flag, 'y', 'n')"), s(&["y", "n", "n", "y"]));
    assert_eq!(vals("GREATEST(a, b)"), s(&["2", "2", "NULL", "7"]));
}

#[test]
fn casts_follow_flink() {
    match eval_err("CAST(num AS INT)") {
        ExprError::Cast { value, target, .. } => {
            assert_eq!(value, "abc");
            assert_eq!(target, "INT");
        }
        other => panic!("{other:?}"),
    }
    let msg = eval_err("CAST(num AS INT)").to_string();
    assert!(msg.contains("cannot cast 'abc' to INT"), "{msg}");
    assert_eq!(
        vals("TRY_CAST(num AS INT)"),
        s(&["12", "7", "NULL", "NULL"])
    );
    assert_eq!(one("CAST(3.99E0 AS BIGINT)"), "3");
    assert_eq!(one("CAST(-3.99E0 AS INT)"), "-3");
    assert_eq!(one("CAST(300 AS TINYINT)"), "44");
    assert_eq!(one("CAST(2.5 AS INT)"), "2");
    assert_eq!(one("CAST('1.5' AS INT)"), "1");
    assert_eq!(one("CAST(1.25 AS DECIMAL(3, 1))"), "1.3");
    assert_eq!(one("CAST(TRUE AS STRING)"), "TRUE");
    assert_eq!(one("CAST('yes' AS BOOLEAN)"), "true");
    assert_eq!(one("CAST(1.5E10 AS STRING)"), "1.5E10");
    assert_eq!(one("CAST(0.5 AS STRING)"), "0.5");
    assert_eq!(vals("CAST(ts AS STRING)")[0], "2024-01-15 10:30:45.123");
    assert_eq!(vals("CAST(dt AS STRING)")[0], "2024-01-15");
    assert_eq!(
        one("CAST('2024-01-02 03:04:05.6' AS TIMESTAMP(3))"),
        "2024-01-02 03:04:05.600"
    );
    assert_eq!(
        eval("CAST('2024-01-02' AS TIMESTAMP)").1,
        DataType::Timestamp(TimeUnit::Microsecond, None)
    );
    assert_eq!(one("CAST('2024-01-02' AS DATE)"), "2024-01-02");
    assert_eq!(vals("CAST(ts AS DATE)")[0], "2024-01-15");
    assert_eq!(
        eval("CAST(ts AS TIMESTAMP_LTZ(3))").1,
        DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
    );
    assert_eq!(
        eval("CAST(ts AS TIMESTAMP(3) WITH LOCAL TIME ZONE)").1,
        DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
    );
    assert_eq!(eval("CAST(a AS STRING)").0, s(&["1", "2", "NULL", "7"]));
    assert_eq!(
        eval("CAST(person AS ROW<n STRING, addr ROW<c STRING>>)").1,
        DataType::Struct(Fields::from(vec![
            Field::new("n", DataType::Utf8, true),
            Field::new(
                "addr",
                DataType::Struct(Fields::from(vec![Field::new("c", DataType::Utf8, true)])),
                true
            ),
        ]))
    );
    assert_eq!(one("CAST('abcdef' AS VARCHAR(3))"), "abc");
    assert_eq!(one("CAST('ab' AS CHAR(4)) || '|'"), "ab  |");
    assert_eq!(
        vals("CAST(s AS VARCHAR(2))"),
        s(&["he", "a,", "NULL", "Fl"])
    );
    assert_eq!(
        one("CAST(99999999999999999999999999999999999999 AS DECIMAL(38, 0)) + 1"),
        "NULL"
    );
    assert_eq!(one("CAST(12.345 AS DECIMAL(2, 1))"), "NULL");
    assert_eq!(one("CAST(123 AS DECIMAL(2, 0))"), "NULL");
    assert_eq!(one("CAST(1.5E0 AS DECIMAL(1, 1))"), "NULL");
    let msg = plan_err("CAST('abc' AS INT)");
    assert!(msg.contains("cannot cast 'abc' to INT"), "{msg}");
    let msg = plan_err("CAST(flag AS DATE)");
    assert!(msg.contains("cannot cast BOOLEAN to DATE"), "{msg}");
}

#[test]
fn string_functions() {
    assert_eq!(one("SUBSTRING('hello' FROM 2 FOR 3)"), "ell");
    assert_eq!(one("SUBSTRING('hello', 2)"), "ello");
    assert_eq!(one("SUBSTR('hello', 0, 2)"), "he");
    assert_eq!(one("SUBSTR('hello', -3)"), "llo");
    assert_eq!(one("SUBSTR('hello', -3, 2)"), "ll");
    assert_eq!(one("SUBSTR('hello', -9, 2)"), "");
    assert_eq!(one("SUBSTR('hello', 9)"), "");
    assert_eq!(one("SUBSTR('hello', 2, -1)"), "NULL");
    assert_eq!(one("SUBSTR('héllo', 2, 2)"), "él");
    assert_eq!(
        vals("UPPER(s)"),
        s(&["HELLO", "A,B,C", "NULL", "FLINK SQL"])
    );
    assert_eq!(vals("LOWER(s)")[3], "flink sql");
    assert_eq!(one("CONCAT('a', 'b', 'c')"), "abc");
    assert_eq!(
        vals("CONCAT(s, '!')"),
        s(&["hello!", "a,b,c!", "NULL", "Flink SQL!"])
    );
    assert_eq!(vals("s || '?'")[0], "hello?");
    assert_eq!(one("CONCAT_WS('-', 'a', NULL, 'b')"), "a-b");
    assert_eq!(vals("CHAR_LENGTH(s)"), s(&["5", "5", "NULL", "9"]));
    assert_eq!(
        vals("SPLIT_INDEX(s, ',', 1)"),
        s(&["NULL", "b", "NULL", "NULL"])
    );
    assert_eq!(
        vals("SPLIT_INDEX(s, ',', 0)"),
        s(&["hello", "a", "NULL", "Flink SQL"])
    );
    assert_eq!(one("SPLIT_INDEX('a,,b', ',', 1)"), "");
    assert_eq!(one("SPLIT_INDEX('a,b', ',', 5)"), "NULL");
    assert_eq!(one("SPLIT_INDEX('a,b', ',', -1)"), "NULL");
    assert_eq!(
        one("REGEXP_EXTRACT('foothebar', 'foo(.*?)(bar)', 2)"),
        "bar"
    );
    assert_eq!(
        one("REGEXP_EXTRACT('foothebar', 'foo(.*?)(bar)')"),
        "foothebar"
    );
    assert_eq!(one("REGEXP_EXTRACT('foothebar', 'x(.*)', 1)"), "NULL");
    assert_eq!(one("REGEXP_REPLACE('2024-01-02', '-', '/')"), "2024/01/02");
    assert_eq!(one("REGEXP_REPLACE('abc', 'b', '$1')"), "a$1c");
    assert_eq!(one("REGEXP('abc123', '[0-9]+')"), "true");
    assert_eq!(one("TRIM('  ab  ')"), "ab");
    assert_eq!(one("TRIM(LEADING 'x' FROM 'xxabxx')"), "abxx");
    assert_eq!(one("TRIM(TRAILING FROM '  ab  ')"), "  ab");
    assert_eq!(one("TRIM(BOTH 'xy' FROM 'xyaby')"), "ab");
    assert_eq!(one("LTRIM('  ab ')"), "ab ");
    assert_eq!(one("RTRIM('  ab ')"), "  ab");
    assert_eq!(one("REPLACE('banana', 'an', 'AN')"), "bANANa");
    assert_eq!(one("POSITION('b' IN 'abc')"), "2");
    assert_eq!(one("POSITION('z' IN 'abc')"), "0");
    assert_eq!(one("LPAD('hi', 5, 'xy')"), "xyxhi");
    assert_eq!(one("LPAD('hello', 2, 'x')"), "he");
    assert_eq!(one("RPAD('hi', 5, 'xy')"), "hixyx");
    assert_eq!(one("RPAD('hi', 5, '')"), "NULL");
    assert_eq!(one("INITCAP('hello wORLD-foo')"), "Hello World-Foo");
    assert_eq!(one("REPEAT('ab', 3)"), "ababab");
    assert_eq!(one("REVERSE('abc')"), "cba");
    assert_eq!(one("HASH_CODE('abc')"), "96354");
}

#[test]
fn math_functions() {
    assert_eq!(vals("ABS(-a)"), s(&["1", "2", "NULL", "7"]));
    assert_eq!(vals("ABS(price)")[3], "2.250");
    assert_eq!(one("FLOOR(1.7)"), "1");
    assert_eq!(eval("FLOOR(1.7)").1, DataType::Decimal128(2, 0));
    assert_eq!(one("CEIL(1.2E0)"), "2.0");
    assert_eq!(one("CEIL(-1.5)"), "-1");
    assert_eq!(one("ROUND(2.675, 2)"), "2.68");
    assert_eq!(one("ROUND(2.675E0, 2)"), "2.68");
    assert_eq!(one("ROUND(-2.5)"), "-3");
    assert_eq!(one("ROUND(1234, -2)"), "1200");
    assert_eq!(one("TRUNCATE(2.679, 1)"), "2.6");
    assert_eq!(one("POWER(2, 10)"), "1024.0");
    assert_eq!(one("SQRT(16)"), "4.0");
    assert_eq!(one("LN(1)"), "0.0");
    assert_eq!(one("EXP(0)"), "1.0");
    assert_eq!(one("SIGN(-3)"), "-1");
}

#[test]
fn time_functions() {
    assert_eq!(
        vals("DATE_FORMAT(ts, 'yyyy-MM-dd HH:mm:ss')"),
        s(&[
            "2024-01-15 10:30:45",
            "1970-01-01 00:00:00",
            "NULL",
            "2024-02-29 23:59:59"
        ])
    );
    assert_eq!(vals("DATE_FORMAT(ts, 'yyyyMMdd')")[0], "20240115");
    assert_eq!(
        vals("DATE_FORMAT(ts, CAST(NULL AS STRING))"),
        s(&["NULL"; 4])
    );
    // per-row patterns; an invalid one (the letter b) gives NULL
    assert_eq!(vals("DATE_FORMAT(ts, s)")[1], "NULL");
    assert_eq!(vals("DATE_FORMAT(ts, CONCAT(s, ' yyyy'))")[0], "NULL");
    assert_eq!(
        vals("DATE_FORMAT(ts, CONCAT('yyyy', SUBSTR(s, 99)))")[0],
        "2024"
    );
    assert_eq!(vals("DATE_FORMAT(ts, 'HH:mm:ss.SSS')")[0], "10:30:45.123");
    assert_eq!(
        vals("DATE_FORMAT(ts, 'EEE, d MMM yyyy')")[0],
        "Mon, 15 Jan 2024"
    );
    assert_eq!(
        one("DATE_FORMAT('2024-01-02 03:04:05', 'yy/MM/dd')"),
        "24/01/02"
    );
    assert_eq!(
        vals("EXTRACT(YEAR FROM ts)"),
        s(&["2024", "1970", "NULL", "2024"])
    );
    assert_eq!(eval("EXTRACT(YEAR FROM ts)").1, DataType::Int64);
    assert_eq!(vals("EXTRACT(MONTH FROM dt)"), s(&["1", "1", "NULL", "12"]));
    assert_eq!(vals("EXTRACT(DOW FROM ts)")[0], "2");
    assert_eq!(vals("EXTRACT(DOY FROM ts)")[3], "60");
    assert_eq!(vals("EXTRACT(QUARTER FROM ts)")[0], "1");
    assert_eq!(vals("EXTRACT(WEEK FROM ts)")[0], "3");
    assert_eq!(vals("EXTRACT(EPOCH FROM ts)")[0], "1705314645");
    assert_eq!(vals("HOUR(ts)")[0], "10");
    assert_eq!(vals("MINUTE(ts)")[0], "30");
    assert_eq!(vals("SECOND(ts)")[0], "45");
    assert_eq!(vals("DAYOFMONTH(ts)")[3], "29");
    assert_eq!(vals("FLOOR(ts TO HOUR)")[0], "2024-01-15 10:00:00.000");
    assert_eq!(vals("FLOOR(ts TO DAY)")[0], "2024-01-15 00:00:00.000");
    assert_eq!(vals("CEIL(ts TO MINUTE)")[0], "2024-01-15 10:31:00.000");
    assert_eq!(vals("FLOOR(ts TO MONTH)")[3], "2024-02-01 00:00:00.000");
    assert_eq!(vals("ts + INTERVAL '1' HOUR")[0], "2024-01-15 11:30:45.123");
    assert_eq!(
        vals("ts - INTERVAL '1:30' MINUTE TO SECOND")[0],
        "2024-01-15 10:29:15.123"
    );
    assert_eq!(
        vals("ts + INTERVAL '1' MONTH")[0],
        "2024-02-15 10:30:45.123"
    );
    assert_eq!(vals("ts + INTERVAL '1' YEAR")[3], "2025-02-28 23:59:59.999");
    assert_eq!(vals("dt + INTERVAL '2' DAY")[0], "2024-01-17");
    assert_eq!(one("CURRENT_TIMESTAMP"), "2024-01-15 10:30:45.123");
    assert_eq!(
        eval("CURRENT_TIMESTAMP").1,
        DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
    );
    assert_eq!(one("CURRENT_DATE"), "2024-01-15");
    assert_eq!(one("NOW()"), "2024-01-15 10:30:45.123");
    assert_eq!(
        one("TO_TIMESTAMP('2024-01-02 03:04:05')"),
        "2024-01-02 03:04:05.000"
    );
    assert_eq!(
        one("TO_TIMESTAMP('02/01/2024', 'dd/MM/yyyy')"),
        "2024-01-02 00:00:00.000"
    );
    assert_eq!(one("TO_TIMESTAMP('garbage')"), "NULL");
    assert_eq!(one("TO_DATE('2024-03-01')"), "2024-03-01");
    assert_eq!(one("UNIX_TIMESTAMP('1970-01-01 00:01:00')"), "60");
    assert_eq!(one("UNIX_TIMESTAMP()"), "1705314645");
    assert_eq!(one("FROM_UNIXTIME(60)"), "1970-01-01 00:01:00");
    assert_eq!(
        one("TO_TIMESTAMP_LTZ(1705314645123, 3)"),
        "2024-01-15 10:30:45.123"
    );
    assert_eq!(
        one("TO_TIMESTAMP_LTZ(1705314645, 0)"),
        "2024-01-15 10:30:45.000"
    );
    assert_eq!(
        one("TIMESTAMPDIFF(DAY, TIMESTAMP '2024-01-01 00:00:00', TIMESTAMP '2024-01-03 12:00:00')"),
        "2"
    );
    assert_eq!(
        one(
            "TIMESTAMPDIFF(MONTH, TIMESTAMP '2024-01-31 00:00:00', TIMESTAMP '2024-02-29 00:00:00')"
        ),
        "1"
    );
    assert_eq!(
        one(
            "TIMESTAMPDIFF(MONTH, TIMESTAMP '2024-01-31 00:00:00', TIMESTAMP '2024-02-28 00:00:00')"
        ),
        "0"
    );
    assert_eq!(
        one("TIMESTAMPADD(HOUR, 2, TIMESTAMP '2024-01-01 00:00:00')"),
        "2024-01-01 02:00:00.000"
    );
}

#[test]
fn session_time_zone_shifts_ltz() {
    let b = batch();
    let ctx = CompileContext {
        session_time_zone: "+08:00".into(),
        statement_time_millis: 0,
    };
    let e = compile(&parse("CAST(ltz AS STRING)"), &scope(&b), &ctx).unwrap();
    let out = e.evaluate(&b).unwrap();
    assert_eq!(render(&out)[0], "2024-01-15 18:30:45.123");
    let e = compile(&parse("HOUR(ltz)"), &scope(&b), &ctx).unwrap();
    assert_eq!(render(&e.evaluate(&b).unwrap())[0], "18");
    let e = compile(&parse("DATE_FORMAT(ltz, 'HH:mm')"), &scope(&b), &ctx).unwrap();
    assert_eq!(render(&e.evaluate(&b).unwrap())[0], "18:30");
    let e = compile(&parse("CURRENT_DATE"), &scope(&b), &ctx).unwrap();
    assert_eq!(render(&e.evaluate(&b).unwrap())[0], "1970-01-01");
}

#[test]
fn bindings_replace_whole_subexpressions() {
    let b = batch();
    let mut sc = scope(&b);
    sc.bindings.push((parse("SUM(price)"), 3));
    sc.bindings.push((parse("a + b"), 0));
    let e = compile(&parse("SUM(`price`) * 2"), &sc, &ctx()).unwrap();
    assert_eq!(
        render(&e.evaluate(&b).unwrap()),
        s(&["3.000", "1.816", "NULL", "-4.500"])
    );
    let e = compile(&parse("(a + b) * 10"), &sc, &ctx()).unwrap();
    assert_eq!(
        render(&e.evaluate(&b).unwrap()),
        s(&["10", "20", "NULL", "70"])
    );
    let msg = compile(&parse("COUNT(*)"), &scope(&b), &ctx())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("aggregate"), "{msg}");
}

#[test]
fn type_errors_name_operator_and_position() {
    let msg = plan_err("s + 1");
    assert_eq!(
        msg,
        "cannot apply `+` to STRING and INT in `s + 1` at line 1, column 1"
    );
    let msg = plan_err("a AND flag");
    assert!(
        msg.contains("`AND` needs BOOLEAN operands, got INT"),
        "{msg}"
    );
}

#[test]
fn intervals_and_common_types() {
    let ms = |t: &str| interval_millis(&parse(t)).unwrap();
    assert_eq!(ms("INTERVAL '10' SECOND"), 10_000);
    assert_eq!(ms("INTERVAL '1' MINUTE"), 60_000);
    assert_eq!(ms("INTERVAL '2' HOUR"), 7_200_000);
    assert_eq!(ms("INTERVAL '1' DAY"), 86_400_000);
    assert_eq!(ms("INTERVAL '1:30' MINUTE TO SECOND"), 90_000);
    assert_eq!(ms("INTERVAL '1 02:00:00' DAY TO SECOND"), 93_600_000);
    assert_eq!(ms("INTERVAL '0.5' SECOND"), 500);
    assert_eq!(ms("INTERVAL '10' MINUTES"), 600_000);
    assert!(interval_millis(&parse("INTERVAL '1' MONTH")).is_err());
    assert_eq!(
        common_type(&DataType::Int32, &DataType::Int64),
        Some(DataType::Int64)
    );
    assert_eq!(
        common_type(&DataType::Int32, &DataType::Decimal128(4, 3)),
        Some(DataType::Decimal128(13, 3))
    );
    assert_eq!(
        common_type(&DataType::Int32, &DataType::Float64),
        Some(DataType::Float64)
    );
    assert_eq!(common_type(&DataType::Utf8, &DataType::Int32), None);
    assert_eq!(
        common_type(
            &DataType::Date32,
            &DataType::Timestamp(TimeUnit::Millisecond, None)
        ),
        Some(DataType::Timestamp(TimeUnit::Millisecond, None))
    );
}

#[test]
fn sql_types() {
    let ty = |t: &str| {
        let mut p = Parser::new(&FlinkDialect).try_with_sql(t).unwrap();
        sql_data_type(&parse_flink_data_type(&mut p).unwrap()).unwrap()
    };
    assert_eq!(ty("STRING"), DataType::Utf8);
    assert_eq!(ty("VARCHAR(10)"), DataType::Utf8);
    assert_eq!(ty("DECIMAL(10, 2)"), DataType::Decimal128(10, 2));
    assert_eq!(ty("DECIMAL"), DataType::Decimal128(10, 0));
    assert_eq!(
        ty("TIMESTAMP(3)"),
        DataType::Timestamp(TimeUnit::Millisecond, None)
    );
    assert_eq!(
        ty("TIMESTAMP_LTZ(3)"),
        DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
    );
    assert_eq!(ty("BYTES"), DataType::Binary);
    assert!(matches!(ty("ARRAY<ARRAY<INT>>"), DataType::List(_)));
    assert!(matches!(ty("MAP<STRING, ARRAY<INT>>"), DataType::Map(_, _)));
    assert!(matches!(
        ty("ROW<a INT, b ROW<c STRING>>"),
        DataType::Struct(_)
    ));
    assert!(matches!(ty("ROW(a INT, b STRING)"), DataType::Struct(_)));
    assert_eq!(ty("INT NOT NULL"), DataType::Int32);
}

#[test]
fn collections() {
    assert_eq!(one("ARRAY[1, 2, 3][2]"), "2");
    assert_eq!(one("CARDINALITY(ARRAY[1, 2, 3])"), "3");
    assert_eq!(one("ARRAY[1, 2][5]"), "NULL");
    assert_eq!(one("MAP['a', 1, 'b', 2]['b']"), "2");
    assert_eq!(vals("ARRAY[a, b]")[0], "[1, 2]");
}

#[test]
fn scalar_inputs_stay_cheap_and_correct() {
    // All-constant expressions are evaluated once and expanded to the batch.
    assert_eq!(vals("1 + 2 * 3"), s(&["7"; 4]));
    assert_eq!(vals("UPPER('x') || 'y'"), s(&["Xy"; 4]));
}

#[test]
fn repeated_subexpressions_are_shared_but_never_stale() {
    let text = "CASE WHEN HOUR(ts) >= 8 AND HOUR(ts) <= 18 THEN 'day' WHEN HOUR(ts) IS NULL THEN 'none' ELSE 'night' END";
    assert_eq!(vals(text), s(&["day", "night", "none", "night"]));
    let b = batch();
    let e = compile(&parse("HOUR(ts) * 100 + HOUR(ts)"), &scope(&b), &ctx()).unwrap();
    assert_eq!(
        render(&e.evaluate(&b).unwrap()),
        s(&["1010", "0", "NULL", "2323"])
    );
    let tail = b.slice(1, 3);
    assert_eq!(
        render(&e.evaluate(&tail).unwrap()),
        s(&["0", "NULL", "2323"])
    );
    let other = RecordBatch::try_new(
        b.schema(),
        b.columns()
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i == 6 {
                    Arc::new(TimestampMillisecondArray::from(vec![Some(3_600_000); 4])) as ArrayRef
                } else {
                    c.clone()
                }
            })
            .collect(),
    )
    .unwrap();
    assert_eq!(render(&e.evaluate(&other).unwrap()), s(&["101"; 4]));
    assert_eq!(render(&e.evaluate(&b).unwrap())[0], "1010");
}

#[test]
fn json_functions() {
    let doc = r#"'{"a": {"b": [1, 2.5, "x"], "t": true, "n": null}}'"#;
    assert_eq!(one(&format!("JSON_VALUE({doc}, '$.a.b[2]')")), "x");
    assert_eq!(one(&format!("JSON_VALUE({doc}, '$.a.b[1]')")), "2.5");
    assert_eq!(one(&format!("JSON_VALUE({doc}, '$.a.t')")), "true");
    assert_eq!(one(&format!("JSON_VALUE({doc}, '$.a.n')")), "NULL");
    assert_eq!(one(&format!("JSON_VALUE({doc}, '$.a.b')")), "NULL");
    assert_eq!(one(&format!("JSON_VALUE({doc}, '$.missing')")), "NULL");
    assert_eq!(one(&format!("JSON_QUERY({doc}, '$.a.b')")), "[1,2.5,\"x\"]");
    assert_eq!(one(&format!("JSON_EXISTS({doc}, '$.a.n')")), "true");
    assert_eq!(one(&format!("JSON_EXISTS({doc}, '$.a.z')")), "false");
    assert_eq!(one("JSON_VALUE('not json', '$.a')"), "NULL");
}

#[test]
fn more_temporal_cases() {
    assert_eq!(
        one("TIMESTAMPADD(MONTH, 1, DATE '2024-01-31')"),
        "2024-02-29"
    );
    assert_eq!(
        one("TO_TIMESTAMP_LTZ('2024-01-01 08:00:00', 'yyyy-MM-dd HH:mm:ss')"),
        "2024-01-01 08:00:00.000"
    );
    assert_eq!(
        one("CAST(TIMESTAMP '2024-01-01 10:00:00.5' AS DATE)"),
        "2024-01-01"
    );
    assert_eq!(
        one("CAST(DATE '2024-01-01' AS TIMESTAMP(3))"),
        "2024-01-01 00:00:00.000"
    );
    assert_eq!(
        one("EXTRACT(MILLISECOND FROM TIMESTAMP '2024-01-01 10:00:07.250')"),
        "7250"
    );
    assert_eq!(
        vals("CAST(ts AS TIMESTAMP_LTZ(3)) = ltz"),
        s(&["true", "true", "NULL", "true"])
    );
    assert_eq!(one("DATE '2024-03-01' - INTERVAL '1' DAY"), "2024-02-29");
}

/// Compiles and evaluates `text` in session time zone `zone`, rendered as SQL strings.
fn vals_in(zone: &str, text: &str) -> Vec<String> {
    let b = batch();
    let ctx = CompileContext {
        session_time_zone: zone.into(),
        statement_time_millis: 1_705_314_645_123,
    };
    let e = compile(&parse(text), &scope(&b), &ctx).unwrap();
    render(&e.evaluate(&b).unwrap())
}

#[test]
fn named_session_time_zones_follow_daylight_saving() {
    let tokyo = |t: &str| vals_in("Asia/Tokyo", t)[0].clone();
    assert_eq!(tokyo("CAST(ltz AS STRING)"), "2024-01-15 19:30:45.123");
    assert_eq!(
        tokyo("CAST(CAST(TIMESTAMP '2024-01-01 00:00:00' AS TIMESTAMP_LTZ(3)) AS BIGINT)"),
        "1704034800"
    );
    assert_eq!(tokyo("HOUR(ltz)"), "19");
    assert_eq!(
        tokyo("DATE_FORMAT(ltz, 'yyyy-MM-dd HH:mm')"),
        "2024-01-15 19:30"
    );
    assert_eq!(vals_in("Asia/Tokyo", "CAST(ltz AS DATE)")[3], "2024-03-01");
    assert_eq!(tokyo("LOCALTIMESTAMP"), "2024-01-15 19:30:45.123");
    assert_eq!(tokyo("FROM_UNIXTIME(0)"), "1970-01-01 09:00:00");
    assert_eq!(tokyo("UNIX_TIMESTAMP('1970-01-01 09:00:00')"), "0");

    let ny = |t: &str| vals_in("America/New_York", t)[0].clone();
    // Winter is UTC-5, summer UTC-4.
    assert_eq!(
        ny("CAST(TO_TIMESTAMP_LTZ(1704067200000, 3) AS STRING)"),
        "2023-12-31 19:00:00.000"
    );
    assert_eq!(
        ny("CAST(TO_TIMESTAMP_LTZ(1719792000000, 3) AS STRING)"),
        "2024-06-30 20:00:00.000"
    );
    assert_eq!(
        ny("EXTRACT(HOUR FROM TO_TIMESTAMP_LTZ(1719792000, 0))"),
        "20"
    );
    // A local time skipped by the spring change moves forward by the gap, as in java.time.
    assert_eq!(
        ny(
            "CAST(CAST(CAST(TIMESTAMP '2024-03-10 02:30:00' AS TIMESTAMP_LTZ(3)) AS BIGINT) AS STRING)"
        ),
        "1710055800"
    );
    assert_eq!(
        ny("CAST(CAST(TIMESTAMP '2024-03-10 02:30:00' AS TIMESTAMP_LTZ(3)) AS TIMESTAMP(3))"),
        "2024-03-10 03:30:00.000"
    );
    assert_eq!(
        ny("CAST(TO_TIMESTAMP_LTZ('2024-07-04 12:00:00', 'yyyy-MM-dd HH:mm:ss') AS BIGINT)"),
        "1720108800"
    );
    assert_eq!(
        ny("CAST(FLOOR(TO_TIMESTAMP_LTZ(1719792000000, 3) TO DAY) AS STRING)"),
        "2024-06-30 00:00:00.000"
    );
    // Fixed offsets keep working.
    assert_eq!(
        vals_in("GMT-03:00", "CAST(ltz AS STRING)")[0],
        "2024-01-15 07:30:45.123"
    );
}

#[test]
fn unknown_session_time_zone_is_a_plan_error() {
    let b = batch();
    let ctx = CompileContext {
        session_time_zone: "Mars/Olympus".into(),
        statement_time_millis: 0,
    };
    let err = compile(&parse("CAST(ltz AS STRING)"), &scope(&b), &ctx)
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown time zone 'Mars/Olympus'"), "{err}");
    // Expressions without TIMESTAMP_LTZ do not need the zone.
    assert!(compile(&parse("CAST(ts AS STRING)"), &scope(&b), &ctx).is_ok());
}

#[test]
fn timestamp_precision_truncates_and_prints() {
    assert_eq!(
        vals("CAST(CAST(ts AS TIMESTAMP(0)) AS STRING)"),
        s(&[
            "2024-01-15 10:30:45",
            "1970-01-01 00:00:00",
            "NULL",
            "2024-02-29 23:59:59"
        ])
    );
    assert_eq!(
        vals("CAST(ts AS TIMESTAMP(0))"),
        s(&[
            "2024-01-15 10:30:45.000",
            "1970-01-01 00:00:00.000",
            "NULL",
            "2024-02-29 23:59:59.000"
        ])
    );
    // Flink truncates epoch milliseconds toward zero, so before 1970 a value moves up.
    assert_eq!(
        one("CAST(CAST(TIMESTAMP '1969-12-31 23:59:58.500' AS TIMESTAMP(0)) AS STRING)"),
        "1969-12-31 23:59:59"
    );
    assert_eq!(
        one("CAST(CAST(TIMESTAMP '2024-02-03 04:05:06.789' AS TIMESTAMP(1)) AS STRING)"),
        "2024-02-03 04:05:06.7"
    );
    assert_eq!(
        one("CAST(CAST('2024-02-03 04:05:06.789' AS TIMESTAMP(2)) AS STRING)"),
        "2024-02-03 04:05:06.78"
    );
    assert_eq!(
        one("CAST(TIMESTAMP '2024-02-03 04:05:06' AS STRING)"),
        "2024-02-03 04:05:06"
    );
    assert_eq!(
        one("CAST(CAST(TIMESTAMP '2024-02-03 04:05:06.123456' AS TIMESTAMP(4)) AS STRING)"),
        "2024-02-03 04:05:06.1234"
    );
    assert_eq!(
        one("CONCAT('at ', CAST(TIMESTAMP '2024-02-03 04:05:06.789' AS TIMESTAMP(0)))"),
        "at 2024-02-03 04:05:06"
    );
    assert_eq!(
        one("CAST(CAST(TO_TIMESTAMP_LTZ(1500, 3) AS TIMESTAMP_LTZ(0)) AS STRING)"),
        "1970-01-01 00:00:01"
    );
}
