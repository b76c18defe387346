//! `table.exec.state.ttl` and the `STATE_TTL` hint: group and join state that is not written
//! for longer than the TTL is dropped, so a key seen again after a pause starts over (Flink's
//! idle state retention), while state written within the TTL carries on.

use std::process::Command;

/// Four rows one second apart, all of one key, counted; returns the printed changelog.
fn counts(ttl: &str) -> Vec<String> {
    run(
        &format!("counts-{ttl}"),
        &format!("SET 'table.exec.state.ttl' = '{ttl}';"),
        "INSERT INTO out SELECT 'k', COUNT(*), MAX(n) FROM ticks GROUP BY 'k';",
    )
    .expect("the job runs")
}

/// Runs `settings`, the `ticks` table (4 rows, 1 s apart), a one-row `dim` table and `query`
/// into `out` (print); returns the printed lines, or the error.
fn run(name: &str, settings: &str, query: &str) -> Result<Vec<String>, String> {
    let dir = std::env::temp_dir().join(format!(
        "runnel-ttl-{}-{}",
        std::process::id(),
        name.replace(' ', "")
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("job.sql");
    std::fs::write(
        &script,
        format!(
            "{settings}
             CREATE TABLE ticks (n BIGINT) WITH ('connector' = 'datagen', 'rows-per-second' = '1',
               'number-of-rows' = '4', 'fields.n.kind' = 'sequence', 'fields.n.start' = '1', 'fields.n.end' = '4');
             CREATE TABLE dim (d BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '1',
               'fields.d.kind' = 'sequence', 'fields.d.start' = '1', 'fields.d.end' = '1');
             CREATE TABLE out (k STRING, c BIGINT, last_n BIGINT) WITH ('connector' = 'print');
             {query}"
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_runnel"))
        .args(["run", script.to_str().unwrap()])
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect())
}

#[test]
fn idle_group_state_expires_and_the_key_starts_over() {
    // Rows arrive a second apart: a 200 ms TTL drops the count in between.
    assert_eq!(
        counts("200 ms"),
        ["+I[k, 1, 1]", "+I[k, 1, 2]", "+I[k, 1, 3]", "+I[k, 1, 4]"]
    );
    // A TTL longer than the pauses keeps the state.
    assert_eq!(
        counts("1 h"),
        [
            "+I[k, 1, 1]",
            "-U[k, 1, 1]",
            "+U[k, 2, 2]",
            "-U[k, 2, 2]",
            "+U[k, 3, 3]",
            "-U[k, 3, 3]",
            "+U[k, 4, 4]"
        ]
    );
}

#[test]
fn state_ttl_hints_override_the_job_setting() {
    // The hint on the aggregation's input applies where the job sets no TTL...
    let hinted = run(
        "agg-hint",
        "",
        "INSERT INTO out SELECT /*+ STATE_TTL('ticks' = '200 ms') */ 'k', COUNT(*), MAX(n)
         FROM ticks GROUP BY 'k';",
    )
    .unwrap();
    assert_eq!(
        hinted,
        ["+I[k, 1, 1]", "+I[k, 1, 2]", "+I[k, 1, 3]", "+I[k, 1, 4]"]
    );
    // ...and wins over a job-wide TTL.
    let kept = run(
        "agg-hint-long",
        "SET 'table.exec.state.ttl' = '200 ms';",
        "INSERT INTO out SELECT /*+ STATE_TTL('ticks' = '1 h') */ 'k', COUNT(*), MAX(n)
         FROM ticks GROUP BY 'k';",
    )
    .unwrap();
    assert_eq!(
        kept.last().map(String::as_str),
        Some("+U[k, 4, 4]"),
        "{kept:?}"
    );
}

#[test]
fn join_sides_keep_their_own_ttl() {
    let join = |hint: &str| {
        run(
            &format!("join-{hint}"),
            "",
            &format!(
                "INSERT INTO out SELECT /*+ STATE_TTL({hint}) */ 'k', d, n
                 FROM ticks JOIN dim ON n >= d;"
            ),
        )
        .unwrap()
    };
    // The dimension row (written once, at the start) expires after 200 ms: later ticks find
    // nothing to join with.
    let short = join("'dim' = '200 ms'");
    assert!(
        !short.iter().any(|l| l.ends_with(", 4]")) && short.len() <= 1,
        "{short:?}"
    );
    // Only the tick side expires: every tick still meets the dimension row.
    let long = join("'ticks' = '200 ms', 'dim' = '1 h'");
    assert_eq!(long.len(), 4, "{long:?}");
}

#[test]
fn state_ttl_hints_name_their_inputs() {
    let cases = [
        (
            "hint-typo",
            "STATE_TTL('tick' = '1 h')",
            "STATE_TTL('tick')",
        ),
        (
            "hint-unknown",
            "STAT_TTL('ticks' = '1 h')",
            "unknown query hint 'STAT_TTL'",
        ),
        ("hint-duration", "STATE_TTL('ticks' = 'soon')", "'soon'"),
    ];
    for (name, hint, needle) in cases {
        let query = format!(
            "INSERT INTO out SELECT /*+ {hint} */ 'k', COUNT(*), MAX(n) FROM ticks GROUP BY 'k';"
        );
        let err = run(name, "", &query).unwrap_err();
        assert!(err.contains(needle), "{name}: {err}");
    }
}
