//! `table.exec.state.ttl`: group state that is not written for longer than the TTL is dropped,
//! so a key seen again after a pause starts over (Flink's idle state retention), while state
//! written within the TTL carries on.

use std::process::Command;

/// Four rows one second apart, all of one key, counted; returns the printed changelog.
fn counts(ttl: &str) -> Vec<String> {
    let dir = std::env::temp_dir().join(format!(
        "runnel-ttl-{}-{}",
        std::process::id(),
        ttl.replace(' ', "")
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("job.sql");
    std::fs::write(
        &script,
        format!(
            "SET 'table.exec.state.ttl' = '{ttl}';
             CREATE TABLE ticks (n BIGINT) WITH ('connector' = 'datagen', 'rows-per-second' = '1',
               'number-of-rows' = '4', 'fields.n.kind' = 'sequence', 'fields.n.start' = '1', 'fields.n.end' = '4');
             CREATE TABLE out (k STRING, c BIGINT, last_n BIGINT) WITH ('connector' = 'print');
             INSERT INTO out SELECT 'k', COUNT(*), MAX(n) FROM ticks GROUP BY 'k';"
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_runnel"))
        .args(["run", script.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
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
