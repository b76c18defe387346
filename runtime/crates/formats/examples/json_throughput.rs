//! Decode (and encode) throughput of the json format on Nexmark-shaped lines: nested ROWs,
//! timestamps, two of three event ROWs NULL per line.
//!
//! `cargo run --release -p runnel-formats --example json_throughput [lines]`

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use runnel_formats::{Format, Origin};

fn ts() -> Field {
    Field::new(
        "dateTime",
        DataType::Timestamp(TimeUnit::Millisecond, None),
        true,
    )
}

fn schema() -> SchemaRef {
    let person = Fields::from(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
        Field::new("emailAddress", DataType::Utf8, true),
        Field::new("creditCard", DataType::Utf8, true),
        Field::new("city", DataType::Utf8, true),
        Field::new("state", DataType::Utf8, true),
        ts(),
        Field::new("extra", DataType::Utf8, true),
    ]);
    let auction = Fields::from(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("itemName", DataType::Utf8, true),
        Field::new("description", DataType::Utf8, true),
        Field::new("initialBid", DataType::Int64, true),
        Field::new("reserve", DataType::Int64, true),
        ts(),
        Field::new(
            "expires",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            true,
        ),
        Field::new("seller", DataType::Int64, true),
        Field::new("category", DataType::Int64, true),
        Field::new("extra", DataType::Utf8, true),
    ]);
    let bid = Fields::from(vec![
        Field::new("auction", DataType::Int64, true),
        Field::new("bidder", DataType::Int64, true),
        Field::new("price", DataType::Int64, true),
        Field::new("channel", DataType::Utf8, true),
        Field::new("url", DataType::Utf8, true),
        ts(),
        Field::new("extra", DataType::Utf8, true),
    ]);
    Arc::new(Schema::new(vec![
        Field::new("event_type", DataType::Int32, true),
        Field::new("person", DataType::Struct(person), true),
        Field::new("auction", DataType::Struct(auction), true),
        Field::new("bid", DataType::Struct(bid), true),
    ]))
}

fn line(i: u64, out: &mut String) {
    use std::fmt::Write;
    let ms = i % 1000;
    let sec = (i / 1000) % 60;
    let min = (i / 60_000) % 60;
    let dt = format!("2015-07-15 00:{min:02}:{sec:02}.{ms:03}");
    match i % 50 {
        0 => writeln!(
            out,
            r#"{{"event_type":0,"person":{{"id":{},"name":"Peter Shultz","emailAddress":"pshultz@nexmark.com","creditCard":"3291 7658 6254 6791","city":"Portland","state":"OR","dateTime":"{dt}","extra":""}},"auction":null,"bid":null}}"#,
            1000 + i / 50
        ),
        1..=3 => writeln!(
            out,
            r#"{{"event_type":1,"person":null,"auction":{{"id":{},"itemName":"wkx mgee","description":"eqrmyf unlm rkqnhh","initialBid":1544,"reserve":2007,"dateTime":"{dt}","expires":"2015-07-15 00:00:10.000","seller":1001,"category":12,"extra":""}},"bid":null}}"#,
            1000 + i / 17
        ),
        _ => writeln!(
            out,
            r#"{{"event_type":2,"person":null,"auction":null,"bid":{{"auction":{},"bidder":{},"price":{},"channel":"Google","url":"https://www.nexmark.com/xbg/ozr/item.htm?query=1&channel_id=1234","dateTime":"{dt}","extra":""}}}}"#,
            1000 + i % 997,
            2000 + i % 4999,
            100 + i % 9000
        ),
    }
    .unwrap();
}

fn main() {
    let lines: u64 = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("number of lines"))
        .unwrap_or(2_000_000);
    let mut text = String::with_capacity(lines as usize * 260);
    for i in 0..lines {
        line(i, &mut text);
    }
    let bytes = text.as_bytes();
    let schema = schema();
    let format = Format::from_options("json", &HashMap::new()).unwrap().0;

    // Chunks of about 4 MiB cut at line ends, as a file source would hand them over.
    let mut chunks = Vec::new();
    let mut start = 0;
    while start < bytes.len() {
        let mut end = (start + (4 << 20)).min(bytes.len());
        while end < bytes.len() && bytes[end - 1] != b'\n' {
            end += 1;
        }
        chunks.push(&bytes[start..end]);
        start = end;
    }

    for round in 0..3 {
        let mut decoder = format.decoder(schema.clone()).unwrap();
        let t = Instant::now();
        let mut rows = 0;
        let mut batches = Vec::new();
        for c in &chunks {
            let origin = Origin {
                path: "nexmark.json",
                first_line: 1,
            };
            for b in decoder.decode(c, origin).unwrap() {
                rows += b.num_rows();
                if round == 2 {
                    batches.push(b);
                }
            }
        }
        let secs = t.elapsed().as_secs_f64();
        println!(
            "decode round {round}: {rows} rows, {:.1} MiB in {secs:.3} s: {:.2} M rows/s, {:.0} MiB/s",
            bytes.len() as f64 / (1 << 20) as f64,
            rows as f64 / secs / 1e6,
            bytes.len() as f64 / (1 << 20) as f64 / secs
        );
        if round == 2 {
            let mut encoder = format.encoder(schema.clone()).unwrap();
            let mut out = Vec::with_capacity(bytes.len());
            let t = Instant::now();
            for b in &batches {
                encoder.encode(b, &mut out).unwrap();
            }
            let secs = t.elapsed().as_secs_f64();
            println!(
                "encode: {rows} rows in {secs:.3} s: {:.2} M rows/s, {:.1} MiB written",
                rows as f64 / secs / 1e6,
                out.len() as f64 / (1 << 20) as f64
            );
        }
    }
}
