//! Bad input gets one clear error naming the place and the thing, and a non-zero exit, never a
//! panic: malformed SQL, unknown connector or option, missing option, unknown column, type
//! mismatch, and a malformed record (which fails the job with its file and line unless
//! `ignore-parse-errors` is set, in which case the good records are all kept).

use std::path::PathBuf;
use std::process::Command;

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("runnel-bad-input-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run_sql(name: &str, sql: &str) -> Run {
    let dir = scratch(name);
    let path = dir.join("job.sql");
    std::fs::write(&path, sql.replace("${DIR}", dir.to_str().unwrap())).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_runnel"))
        .args(["run", path.to_str().unwrap()])
        .output()
        .expect("run runnel");
    let run = Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(
        !run.stderr.contains("panicked"),
        "a panic reached the user:\n{}",
        run.stderr
    );
    run
}

fn assert_fails(name: &str, sql: &str, needles: &[&str]) {
    let r = run_sql(name, sql);
    assert!(
        !r.ok,
        "{name}: expected a failure, got success:\n{}",
        r.stdout
    );
    for n in needles {
        assert!(
            r.stderr.contains(n),
            "{name}: error should mention `{n}`:\n{}",
            r.stderr
        );
    }
    assert_eq!(
        r.stderr.lines().filter(|l| l.starts_with("error")).count(),
        1,
        "{name}: one error:\n{}",
        r.stderr
    );
}

const SOURCE: &str =
    "CREATE TABLE t (a BIGINT, s STRING) WITH ('connector' = 'datagen', 'number-of-rows' = '3');\n";

#[test]
fn parse_errors_name_line_and_column() {
    assert_fails(
        "parse",
        "CREATE TABLE t (a BIGINT) WITH ('connector' = 'datagen');\nSELEC a FROM t;",
        &["Line: 2", "Column: 1"],
    );
    assert_fails(
        "parse2",
        &format!("{SOURCE}SELECT a FROM t WHERE;"),
        &["Line: 2"],
    );
}

#[test]
fn unknown_connector_is_named_with_the_available_ones() {
    assert_fails(
        "connector",
        "CREATE TABLE t (a BIGINT) WITH ('connector' = 'kafkaa');\nSELECT a FROM t;",
        &["unknown connector 'kafkaa'", "datagen", "filesystem"],
    );
}

#[test]
fn unknown_and_missing_options_are_named() {
    assert_fails(
        "option",
        "CREATE TABLE t (a BIGINT) WITH ('connector' = 'datagen', 'rows-per-secnd' = '5');\nSELECT a FROM t;",
        &["rows-per-secnd", "rows-per-second"],
    );
    assert_fails(
        "missing",
        "CREATE TABLE t (a BIGINT) WITH ('connector' = 'filesystem', 'format' = 'json');\nSELECT a FROM t;",
        &["table `t`", "'path'"],
    );
    assert_fails(
        "bad value",
        "CREATE TABLE t (a BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = 'many');\nSELECT a FROM t;",
        &["number-of-rows", "many"],
    );
}

#[test]
fn unknown_columns_and_tables_are_named_with_their_place() {
    assert_fails(
        "column",
        &format!("{SOURCE}SELECT b FROM t;"),
        &["unknown column `b`", "line 2", "available: a, s"],
    );
    assert_fails(
        "table",
        &format!("{SOURCE}SELECT a FROM u;"),
        &["'u' not found", "t"],
    );
}

#[test]
fn type_mismatches_name_the_operator_and_types() {
    assert_fails(
        "types",
        &format!("{SOURCE}SELECT s + 1 FROM t;"),
        &["STRING", "INT", "line 2"],
    );
    assert_fails(
        "sink types",
        &format!(
            "{SOURCE}CREATE TABLE o (x BOOLEAN) WITH ('connector' = 'print');\nINSERT INTO o SELECT s FROM t;"
        ),
        &["'o'", "BOOLEAN", "STRING"],
    );
    assert_fails(
        "updating sink",
        &format!(
            "{SOURCE}CREATE TABLE o (s STRING, n BIGINT) WITH ('connector' = 'filesystem', 'path' = '${{DIR}}/o', 'format' = 'json');\nINSERT INTO o SELECT s, COUNT(*) FROM t GROUP BY s;"
        ),
        &["'o'", "update"],
    );
}

const JSON_LINES: &str = "{\"a\": 1, \"s\": \"x\"}\n{\"a\": 2, \"s\": \"y\"}\n{\"a\": 3, \"s\": \n{\"a\": 4, \"s\": \"z\"}\n";

fn json_job(name: &str, extra: &str) -> Run {
    let dir = scratch(name);
    std::fs::write(dir.join("in.json"), JSON_LINES).unwrap();
    run_sql(
        name,
        &format!(
            "CREATE TABLE t (a BIGINT, s STRING) WITH ('connector' = 'filesystem', 'path' = '${{DIR}}/in.json', 'format' = 'json'{extra});\n\
             CREATE TABLE o (a BIGINT, s STRING) WITH ('connector' = 'print');\n\
             INSERT INTO o SELECT a, s FROM t;"
        ),
    )
}

#[test]
fn a_malformed_record_fails_the_job_with_file_and_line() {
    let r = json_job("malformed", "");
    assert!(!r.ok, "a malformed record must fail the job");
    assert!(
        r.stderr.contains("in.json:3"),
        "the error names file and line:\n{}",
        r.stderr
    );
}

#[test]
fn ignore_parse_errors_skips_only_the_bad_record() {
    let r = json_job("ignored", ", 'json.ignore-parse-errors' = 'true'");
    assert!(r.ok, "{}", r.stderr);
    let mut lines: Vec<&str> = r.stdout.lines().collect();
    lines.sort();
    assert_eq!(lines, vec!["+I[1, x]", "+I[2, y]", "+I[4, z]"]);
}

#[test]
fn an_unreachable_kafka_broker_fails_the_job_after_its_retries() {
    // Nothing listens on port 1: the source retries for 'properties.default.api.timeout.ms',
    // the job restarts per its strategy, and the last error names the broker.
    let r = run_sql(
        "kafka-unreachable",
        "SET 'restart-strategy.type' = 'fixed-delay';
         SET 'restart-strategy.fixed-delay.attempts' = '1';
         SET 'restart-strategy.fixed-delay.delay' = '10 ms';
         CREATE TABLE src (v STRING) WITH ('connector' = 'kafka', 'topic' = 't',
           'properties.bootstrap.servers' = '127.0.0.1:1', 'format' = 'raw',
           'scan.startup.mode' = 'earliest-offset',
           'properties.default.api.timeout.ms' = '300');
         CREATE TABLE out (v STRING) WITH ('connector' = 'blackhole');
         INSERT INTO out SELECT v FROM src;",
    );
    assert!(!r.ok, "{}", r.stdout);
    assert!(
        r.stderr.contains("table `src`") && r.stderr.contains("'127.0.0.1:1' could be reached"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("restart"),
        "restarted once first:\n{}",
        r.stderr
    );
}

#[test]
fn metadata_columns_are_checked_against_the_connector() {
    assert_fails(
        "metadata-filesystem",
        "CREATE TABLE t (v STRING, ts TIMESTAMP_LTZ(3) METADATA FROM 'timestamp')
           WITH ('connector' = 'filesystem', 'path' = '${DIR}', 'format' = 'csv');
         SELECT * FROM t;",
        &[
            "table `t`",
            "connector 'filesystem' has no metadata key 'timestamp'",
        ],
    );
    assert_fails(
        "metadata-unknown-key",
        "CREATE TABLE t (v STRING, x INT METADATA FROM 'partitoin')
           WITH ('connector' = 'kafka', 'topic' = 't', 'format' = 'raw',
                 'properties.bootstrap.servers' = '127.0.0.1:1',
                 'scan.startup.mode' = 'earliest-offset');
         SELECT * FROM t;",
        &[
            "column `x`",
            "unknown Kafka metadata 'partitoin'",
            "partition",
        ],
    );
    assert_fails(
        "metadata-not-writable",
        "CREATE TABLE src (v STRING) WITH ('connector' = 'datagen', 'number-of-rows' = '1');
         CREATE TABLE t (v STRING, off BIGINT METADATA FROM 'offset')
           WITH ('connector' = 'kafka', 'topic' = 't', 'format' = 'raw',
                 'properties.bootstrap.servers' = '127.0.0.1:1');
         INSERT INTO t SELECT v, 1 FROM src;",
        &["'offset'", "cannot be written", "VIRTUAL"],
    );
}
