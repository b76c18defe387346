//! Golden tests: every case under `tests/sql/cases/` runs through the `runnel` binary and its
//! printed rows must equal what Apache Flink 2.3 printed for the same script and input
//! (`expected.out`, recorded by `tests/sql/generate_expected.py`).
//!
//! Rows are compared as multisets of lines (changelog kinds included): Flink and Runnel may
//! emit independent keys or windows in different orders, but every change must match.
//! Cases that Runnel cannot run yet are listed in `tests/sql/unsupported.txt` with the error
//! they must still fail with, so a gap that closes (or a new failure mode) breaks the test.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The settings `generate_expected.py` runs Flink with (its `SETTINGS`), so both engines see
/// the same session: a watermark after every record makes late data independent of timing.
const FLINK_SETTINGS: [&str; 3] = [
    "parallelism.default=1",
    "table.local-time-zone=UTC",
    "pipeline.auto-watermark-interval=0 ms",
];

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sql/cases")
}

/// Lines that carry rows: `+I[..]`-style print lines (optionally `id> ` prefixed) or the data
/// rows of a tableau.
fn row_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let l = line.trim_end();
        if l.starts_with('#') || l.is_empty() {
            continue;
        }
        if l.starts_with("| ") && !l.starts_with("| op ") && !l.contains("|  op |") {
            let cells: Vec<&str> = l.trim_matches('|').split('|').map(|c| c.trim()).collect();
            if cells
                .first()
                .is_some_and(|c| c.len() == 2 && (c.starts_with('+') || c.starts_with('-')))
            {
                out.push(cells.join(" | "));
            }
            continue;
        }
        // `+I[...]`, or `identifier> +I[...]` / `2> +I[...]` when prefixed.
        let body = split_prefix(l).1;
        if body.len() > 3 && matches!(&body[..3], "+I[" | "-U[" | "+U[" | "-D[") {
            out.push(l.to_string());
        }
    }
    out
}

/// Splits `identifier> +I[..]` into its prefix and the change; lines without such a prefix
/// (including tableau rows, whose `<NULL>` looks like one) come back whole.
fn split_prefix(line: &str) -> (Option<&str>, &str) {
    match line.split_once("> ") {
        Some((prefix, rest))
            if !prefix.contains('[')
                && rest.len() > 2
                && matches!(&rest[..2], "+I" | "-U" | "+U" | "-D") =>
        {
            (Some(prefix), rest)
        }
        _ => (None, line),
    }
}

/// The table an updating result describes once every change is applied: `+I`/`+U` add a
/// row, `-U`/`-D` remove one. Errors name a retraction of a row that is not there.
fn materialize(lines: Vec<String>) -> Result<BTreeMap<String, usize>, String> {
    let mut m: BTreeMap<String, usize> = BTreeMap::new();
    for l in lines {
        let (prefix, body) = match split_prefix(&l) {
            (Some(p), rest) => (format!("{p}> "), rest.to_string()),
            (None, _) => (String::new(), l.clone()),
        };
        let row = format!("{prefix}{}", &body[2..]);
        if body.starts_with('+') {
            *m.entry(row).or_insert(0) += 1;
        } else {
            match m.get_mut(&row) {
                Some(c) if *c > 1 => *c -= 1,
                Some(_) => {
                    m.remove(&row);
                }
                None => return Err(format!("`{l}` retracts a row that is not in the result")),
            }
        }
    }
    Ok(m)
}

fn multiset(lines: Vec<String>) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for l in lines {
        *m.entry(l).or_insert(0) += 1;
    }
    m
}

fn unsupported() -> BTreeMap<String, String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sql/unsupported.txt");
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(c, why)| (c.trim().to_string(), why.trim().to_string()))
        .collect()
}

/// Expands `-- !include <path>` lines (paths relative to the including file), as
/// `generate_expected.py` does, so cases can share DDL and Flink's Nexmark queries.
fn expand_includes(path: &Path) -> String {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut out = String::new();
    for line in text.lines() {
        match line.trim().strip_prefix("-- !include ") {
            Some(rel) => out.push_str(&expand_includes(
                &path
                    .parent()
                    .expect("file has a directory")
                    .join(rel.trim()),
            )),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

fn run_case(dir: &Path) -> (bool, String, String) {
    run_case_with(dir, &[])
}

fn run_case_with(dir: &Path, extra_args: &[&str]) -> (bool, String, String) {
    let sql = expand_includes(&dir.join("job.sql"));
    let sql = sql.replace("${CASE_DIR}", dir.to_str().expect("utf-8 path"));
    let tmp = std::env::temp_dir().join(format!(
        "runnel-golden-{}-{}{}.sql",
        dir.file_name().unwrap().to_string_lossy(),
        std::process::id(),
        extra_args.join("")
    ));
    std::fs::write(&tmp, sql).expect("write script");
    let out = Command::new(env!("CARGO_BIN_EXE_runnel"))
        .args(["run", tmp.to_str().unwrap()])
        .args(FLINK_SETTINGS.iter().flat_map(|kv| ["-D", kv]))
        .args(extra_args)
        .output()
        .expect("run runnel");
    let _ = std::fs::remove_file(&tmp);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn flink_golden_cases() {
    let known_gaps = unsupported();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(cases_dir())
        .expect("tests/sql/cases exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("job.sql").exists())
        .collect();
    dirs.sort();
    assert!(!dirs.is_empty(), "no golden cases found");
    let mut failures = Vec::new();
    let mut passed = 0;
    for dir in &dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let (ok, stdout, stderr) = run_case(dir);
        if let Some(reason) = known_gaps.get(&name) {
            if ok {
                failures.push(format!("{name}: listed as unsupported ({reason}) but now runs; check it and remove it from unsupported.txt"));
            } else if !stderr.contains(reason.as_str()) {
                failures.push(format!(
                    "{name}: expected to fail with '{reason}', failed with:\n{stderr}"
                ));
            }
            continue;
        }
        if !ok {
            failures.push(format!("{name}: runnel failed:\n{stderr}"));
            continue;
        }
        let Ok(expected) = std::fs::read_to_string(dir.join("expected.out")) else {
            failures.push(format!(
                "{name}: no expected.out; run tests/sql/generate_expected.py {name}"
            ));
            continue;
        };
        // `-- runnel:compare=final` marks updating queries whose intermediate changes depend on how
        // two inputs interleave (joins feeding aggregates): only the final table is defined.
        let final_only = std::fs::read_to_string(dir.join("job.sql"))
            .unwrap_or_default()
            .lines()
            .any(|l| l.trim() == "-- runnel:compare=final");
        let (want, got) = if final_only {
            match (
                materialize(row_lines(&expected)),
                materialize(row_lines(&stdout)),
            ) {
                (Ok(w), Ok(g)) => (w, g),
                (Err(e), _) => panic!("{name}: expected.out is not a valid changelog: {e}"),
                (_, Err(e)) => {
                    failures.push(format!("{name}: {e}"));
                    continue;
                }
            }
        } else {
            (multiset(row_lines(&expected)), multiset(row_lines(&stdout)))
        };
        if want != got {
            let missing: Vec<_> = want
                .iter()
                .filter(|(k, v)| got.get(*k) != Some(v))
                .map(|(k, v)| format!("  want {v}x {k}"))
                .collect();
            let extra: Vec<_> = got
                .iter()
                .filter(|(k, v)| want.get(*k) != Some(v))
                .map(|(k, v)| format!("  got {v}x {k}"))
                .collect();
            failures.push(format!(
                "{name}: rows differ from Flink's\n{}\n{}",
                missing.into_iter().take(20).collect::<Vec<_>>().join("\n"),
                extra.into_iter().take(20).collect::<Vec<_>>().join("\n")
            ));
            continue;
        }
        passed += 1;
    }
    eprintln!(
        "{passed} golden cases matched Flink, {} known gaps",
        known_gaps.len()
    );
    assert!(
        failures.is_empty(),
        "{} golden case(s) failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// `3> +I[..]` and `sink:3> +I[..]` (parallel print) become `+I[..]` and `sink> +I[..]`.
fn strip_subtask_prefix(line: &str) -> String {
    match split_prefix(line) {
        (Some(prefix), rest) => {
            let name = match prefix.rsplit_once(':') {
                Some((id, n)) if n.chars().all(|c| c.is_ascii_digit()) => Some(id),
                None if prefix.chars().all(|c| c.is_ascii_digit()) => None,
                _ => Some(prefix),
            };
            match name {
                Some(id) => format!("{id}> {rest}"),
                None => rest.to_string(),
            }
        }
        (None, _) => line.to_string(),
    }
}

/// The same cases at parallelism 4: hash exchanges, key groups and watermark alignment
/// across subtasks must not change any result. Parallel subtasks interleave updates
/// differently, so the final table each case describes is compared.
#[test]
fn flink_golden_cases_at_parallelism_4() {
    let known_gaps = unsupported();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(cases_dir())
        .expect("tests/sql/cases exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("job.sql").exists() && p.join("expected.out").exists())
        .collect();
    dirs.sort();
    let mut failures = Vec::new();
    for dir in &dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        if known_gaps.contains_key(&name) {
            continue;
        }
        let (ok, stdout, stderr) = run_case_with(dir, &["--parallelism", "4"]);
        if !ok {
            failures.push(format!("{name}: runnel failed at parallelism 4:\n{stderr}"));
            continue;
        }
        let expected = std::fs::read_to_string(dir.join("expected.out")).unwrap();
        let want = materialize(row_lines(&expected));
        let got = materialize(
            row_lines(&stdout)
                .iter()
                .map(|l| strip_subtask_prefix(l))
                .collect(),
        );
        match (want, got) {
            (Ok(w), Ok(g)) if w == g => {}
            (Ok(w), Ok(g)) => {
                let missing: Vec<_> = w
                    .iter()
                    .filter(|(k, v)| g.get(*k) != Some(v))
                    .map(|(k, v)| format!("  want {v}x {k}"))
                    .take(10)
                    .collect();
                let extra: Vec<_> = g
                    .iter()
                    .filter(|(k, v)| w.get(*k) != Some(v))
                    .map(|(k, v)| format!("  got {v}x {k}"))
                    .take(10)
                    .collect();
                failures.push(format!(
                    "{name}: final result at parallelism 4 differs from Flink's\n{}\n{}",
                    missing.join("\n"),
                    extra.join("\n")
                ));
            }
            (_, Err(e)) | (Err(e), _) => failures.push(format!("{name}: {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed at parallelism 4:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
