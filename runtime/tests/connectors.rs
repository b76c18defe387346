//! The built-in connectors through whole jobs: `datagen` honours its options, the `filesystem`
//! sink writes what a later job reads back unchanged, and `nexmark` keeps its proportions.

use std::path::PathBuf;
use std::process::Command;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("runnel-connectors-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs a script (with `${DIR}` replaced by a scratch directory) and returns its stdout lines.
fn run(name: &str, sql: &str, parallelism: u32) -> Vec<String> {
    let dir = scratch(name);
    let path = dir.join("job.sql");
    std::fs::write(&path, sql.replace("${DIR}", dir.to_str().unwrap())).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_runnel"))
        .args([
            "run",
            path.to_str().unwrap(),
            "--parallelism",
            &parallelism.to_string(),
        ])
        .output()
        .expect("run runnel");
    assert!(
        out.status.success(),
        "{name} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.to_string())
        .collect();
    lines.sort();
    lines
}

#[test]
fn datagen_sequences_are_exact_and_random_values_stay_in_range() {
    for p in [1, 3] {
        let lines = run(
            &format!("datagen-{p}"),
            "CREATE TABLE g (id BIGINT, v INT, s STRING) WITH ('connector' = 'datagen', \
               'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '1000', \
               'fields.v.min' = '5', 'fields.v.max' = '9', 'fields.s.length' = '7', 'rows-per-second' = '0');\n\
             CREATE TABLE o (n BIGINT, ids BIGINT, lo INT, hi INT, minlen INT, maxlen INT) WITH ('connector' = 'print');\n\
             INSERT INTO o SELECT COUNT(*), SUM(id), MIN(v), MAX(v), MIN(CHAR_LENGTH(s)), MAX(CHAR_LENGTH(s)) FROM g;",
            p,
        );
        let last = lines
            .iter()
            .find(|l| l.starts_with("+I[1000,") || l.starts_with("+U[1000,"))
            .unwrap_or_else(|| panic!("no final count in {lines:?}"));
        let fields: Vec<i64> = last[3..last.len() - 1]
            .split(", ")
            .map(|f| f.parse().unwrap())
            .collect();
        assert_eq!(fields[0], 1000, "every sequence value once");
        assert_eq!(fields[1], 500_500, "the sequence 1..=1000 exactly");
        assert!(
            fields[2] >= 5 && fields[3] <= 9,
            "random INT within min/max: {fields:?}"
        );
        assert_eq!(
            (fields[4], fields[5]),
            (7, 7),
            "strings of the given length"
        );
    }
}

#[test]
fn filesystem_sink_output_reads_back_unchanged() {
    for (format, partitioned) in [
        ("json", false),
        ("csv", false),
        ("parquet", false),
        ("csv", true),
        ("parquet", true),
    ] {
        let name = format!("roundtrip-{format}-{partitioned}");
        let by = if partitioned {
            "PARTITIONED BY (ok)"
        } else {
            ""
        };
        let lines = run(
            &name,
            &format!(
                "CREATE TABLE g (id BIGINT, price DECIMAL(10, 2), ts TIMESTAMP(3), ok BOOLEAN, name STRING) WITH ('connector' = 'datagen', \
                   'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '500', 'fields.price.min' = '0', 'fields.price.max' = '1000', \
                   'fields.name.length' = '5', 'rows-per-second' = '0');\n\
                 CREATE TABLE files (id BIGINT, price DECIMAL(10, 2), ts TIMESTAMP(3), ok BOOLEAN, name STRING) {by} \
                   WITH ('connector' = 'filesystem', 'path' = '${{DIR}}/out', 'format' = '{format}');\n\
                 CREATE TABLE direct (id BIGINT, price DECIMAL(10, 2), ts TIMESTAMP(3), ok BOOLEAN, name STRING) WITH ('connector' = 'print', 'print-identifier' = 'direct');\n\
                 EXECUTE STATEMENT SET BEGIN\n\
                   INSERT INTO files SELECT * FROM g;\n\
                   INSERT INTO direct SELECT * FROM g;\n\
                 END;\n\
                 CREATE TABLE back (id BIGINT, price DECIMAL(10, 2), ts TIMESTAMP(3), ok BOOLEAN, name STRING) {by} \
                   WITH ('connector' = 'filesystem', 'path' = '${{DIR}}/out', 'format' = '{format}');\n\
                 CREATE TABLE reread (id BIGINT, price DECIMAL(10, 2), ts TIMESTAMP(3), ok BOOLEAN, name STRING) WITH ('connector' = 'print', 'print-identifier' = 'reread');\n\
                 INSERT INTO reread SELECT * FROM back;"
            ),
            2,
        );
        let strip = |prefix: &str| -> Vec<String> {
            let mut v: Vec<String> = lines
                .iter()
                .filter_map(|l| l.strip_prefix(prefix))
                .map(|l| l.split_once("> ").map_or(l, |(_, r)| r).to_string())
                .collect();
            v.sort();
            v
        };
        let direct = strip("direct");
        let reread = strip("reread");
        assert_eq!(direct.len(), 500, "{format}: all rows printed");
        assert_eq!(
            direct, reread,
            "{format}: the files hold exactly the rows written"
        );
        let out = std::env::temp_dir()
            .join(format!("runnel-connectors-{}-{name}", std::process::id()))
            .join("out");
        let folders: Vec<String> = std::fs::read_dir(&out)
            .unwrap()
            .flatten()
            .filter(|e| e.path().is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        if partitioned {
            // Hive's layout, and the partition column is not repeated inside the files.
            let mut sorted = folders.clone();
            sorted.sort();
            assert_eq!(sorted, ["ok=false", "ok=true"], "{format}");
            if format == "csv" {
                let part = std::fs::read_dir(out.join("ok=true"))
                    .unwrap()
                    .flatten()
                    .find(|e| !e.file_name().to_string_lossy().starts_with('.'))
                    .unwrap();
                let text = std::fs::read_to_string(part.path()).unwrap();
                let first = text.lines().next().unwrap();
                assert_eq!(first.split(',').count(), 4, "{first}");
            }
        } else {
            assert!(folders.is_empty(), "{format}: {folders:?}");
        }
    }
}

#[test]
fn nexmark_keeps_its_event_proportions_at_any_parallelism() {
    for p in [1, 4] {
        let lines = run(
            &format!("nexmark-{p}"),
            "CREATE TABLE n (event_type INT) WITH ('connector' = 'nexmark', 'events.num' = '50000');\n\
             SELECT event_type, COUNT(*) AS c FROM n GROUP BY event_type;",
            p,
        );
        // The last change per event type holds its count.
        let mut last = std::collections::BTreeMap::new();
        for l in &lines {
            let cells: Vec<&str> = l.trim_matches('|').split('|').map(|c| c.trim()).collect();
            if let [kind, t, c] = cells.as_slice()
                && kind.starts_with('+')
                && let (Ok(t), Ok(c)) = (t.parse::<i32>(), c.parse::<i64>())
            {
                let e = last.entry(t).or_insert(0);
                *e = (*e).max(c);
            }
        }
        let want: std::collections::BTreeMap<i32, i64> = [(0, 1000), (1, 3000), (2, 46000)].into();
        assert_eq!(last, want, "Person:Auction:Bid = 1:3:46 at parallelism {p}");
    }
}
