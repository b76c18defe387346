//! Helpers shared by the tests that drive the `runnel` binary: Nexmark jobs with filesystem
//! sinks, their committed output, and HTTP calls to the REST API.
#![allow(dead_code)] // each test crate uses its own subset

pub mod cluster;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;

use serde_json::Value;

/// Checkpointing settings and `events` Nexmark events with the source and views of
/// `examples/nexmark`, at Nexmark's default 10,000 events per second of event time, so windows
/// close all along the run. `${DIR}` stands for the test's scratch folder.
pub fn bids(events: u64) -> String {
    let settings = include_str!("../checkpoint/settings.sql");
    let generator = include_str!("../../../examples/nexmark/source-generator.sql");
    let rate = "'first-event.rate' = '10000000'";
    assert!(
        generator.contains(rate),
        "the example source changed: {generator}"
    );
    let source = generator
        .replace(rate, "'first-event.rate' = '10000'")
        .replace("${EVENTS}", &events.to_string());
    let views = include_str!("../../../examples/nexmark/views.sql");
    format!("{settings}\n{source}\n{views}")
}

/// A windowed aggregation and an interval join, one job (statement set), two sinks.
pub const WINDOWS_AND_JOIN: &str = "
CREATE TABLE per_window (window_start TIMESTAMP(3), auction BIGINT, bids BIGINT, total BIGINT)
  WITH ('connector' = 'filesystem', 'path' = '${DIR}/out/per_window', 'format' = 'csv');
CREATE TABLE sold (auction BIGINT, seller BIGINT, price BIGINT)
  WITH ('connector' = 'filesystem', 'path' = '${DIR}/out/sold', 'format' = 'csv');
EXECUTE STATEMENT SET BEGIN
INSERT INTO per_window
  SELECT window_start, auction, COUNT(*), SUM(price)
  FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '10' SECOND))
  GROUP BY window_start, window_end, auction;
INSERT INTO sold
  SELECT B.auction, A.seller, B.price
  FROM (SELECT * FROM bid WHERE MOD(bidder, 10) = 0) B
  JOIN (SELECT * FROM auction WHERE MOD(seller, 4) = 0) A ON B.auction = A.id
   AND B.`dateTime` BETWEEN A.`dateTime` AND A.`dateTime` + INTERVAL '2' SECOND;
END;
";

/// Every committed row of a filesystem sink's folder, sorted (hidden in-progress files are
/// not output).
pub fn committed_rows(dir: &Path) -> Vec<String> {
    let mut rows = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        rows.extend(
            std::fs::read_to_string(e.path())
                .unwrap()
                .lines()
                .map(str::to_string),
        );
    }
    rows.sort();
    rows
}

/// The message of Flink's error body `{"errors": [message]}`.
pub fn error_message(body: &Value) -> &str {
    body["errors"][0]
        .as_str()
        .unwrap_or_else(|| panic!("not an error body: {body}"))
}

/// The vertex ids of a `GET /jobs/:id` answer, in order.
pub fn vertex_ids(job: &Value) -> Vec<String> {
    job["vertices"]
        .as_array()
        .unwrap_or_else(|| panic!("no vertices in {job}"))
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect()
}

/// `GET path`: status and JSON body.
pub fn get(addr: &str, path: &str) -> (u16, Value) {
    call(addr, "GET", path, None, None)
}

/// `GET path`: status and body as text.
pub fn get_text(addr: &str, path: &str) -> (u16, String) {
    request(addr, "GET", path, None, None)
}

/// `method path` with an optional bearer token and JSON body: status and JSON body.
pub fn call(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, Value) {
    let (status, body) = request(addr, method, path, token, body);
    (
        status,
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}")),
    )
}

/// One HTTP/1.1 exchange: status and body.
fn request(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(t) = token {
        head.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    let body = body.unwrap_or("");
    if !body.is_empty() {
        head.push_str("Content-Type: application/json\r\n");
    }
    write!(s, "{head}Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP answer");
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, body.to_string())
}
