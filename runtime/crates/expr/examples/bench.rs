//! Rough per-row costs of common Nexmark-style expressions over 1M rows (not a test):
//! `cargo run --release -p runnel-expr --example bench [filter]`; `REPS=n` repeats.

use std::sync::Arc;
use std::time::Instant;

use arrow::array::*;
use arrow::datatypes::*;
use runnel_expr::*;
use sqlparser::parser::Parser;

fn main() {
    let n = 1_000_000usize;
    let price: Int64Array = (0..n as i64).map(|i| Some(i % 10_000)).collect();
    let ts: TimestampMillisecondArray = (0..n as i64)
        .map(|i| Some(1_700_000_000_000 + i * 37))
        .collect();
    let url: StringArray = (0..n)
        .map(|i| {
            Some(format!(
                "https://www.nexmark.com/abc/item.htm?query=1&channel_id={}",
                i % 1000
            ))
        })
        .collect();
    let auction: Int64Array = (0..n as i64).map(Some).collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("price", DataType::Int64, true),
        Field::new("dateTime", ts.data_type().clone(), true),
        Field::new("url", DataType::Utf8, true),
        Field::new("auction", DataType::Int64, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(price),
            Arc::new(ts),
            Arc::new(url),
            Arc::new(auction),
        ],
    )
    .unwrap();
    let scope = Scope::from_schema(&schema, None);
    let ctx = CompileContext::default();
    let only: Option<String> = std::env::args().nth(1);
    for text in [
        "price * 0.908",
        "auction % 123 = 0",
        "price > 5000 AND auction < 300000",
        "DATE_FORMAT(dateTime, 'yyyy-MM-dd')",
        "DATE_FORMAT(dateTime, 'HH:mm')",
        "HOUR(dateTime)",
        "CASE WHEN HOUR(dateTime) >= 8 AND HOUR(dateTime) <= 18 THEN 'dayTime' WHEN HOUR(dateTime) <= 6 OR HOUR(dateTime) >= 20 THEN 'nightTime' ELSE 'otherTime' END",
        "SPLIT_INDEX(url, '/', 3)",
        "REGEXP_EXTRACT(url, '(&|^)channel_id=([^&]*)', 2)",
        "LOWER(url) = 'apple'",
        "auction IN (1007, 1020, 2001, 2019, 2087)",
        "CAST(dateTime AS STRING)",
        "url LIKE '%channel_id=1%'",
        "SUBSTRING(url, 5, 10)",
        "CAST(price AS STRING)",
        "dateTime + INTERVAL '1' HOUR",
        "FLOOR(dateTime TO MINUTE)",
    ] {
        if only.as_deref().is_some_and(|o| !text.contains(o)) {
            continue;
        }
        let e = Parser::new(&FlinkDialect)
            .try_with_sql(text)
            .unwrap()
            .parse_expr()
            .unwrap();
        let c = compile(&e, &scope, &ctx).unwrap();
        let _ = c.evaluate(&batch).unwrap();
        let t = Instant::now();
        let cpu0 = cpu_ns();
        for _ in 0..reps() {
            let _ = c.evaluate(&batch).unwrap();
        }
        let cpu = cpu_ns() - cpu0;
        println!(
            "{:>8.1} cpu-ns/row {:>8.1} wall-ns/row  {text}",
            cpu as f64 / (reps() * n) as f64,
            t.elapsed().as_nanos() as f64 / (reps() * n) as f64
        );
    }
}

/// Nanoseconds this thread has spent on a CPU (robust against a loaded machine).
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|x| x.parse().ok()))
        .unwrap_or(0)
}

fn reps() -> usize {
    std::env::var("REPS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5)
}
