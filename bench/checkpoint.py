#!/usr/bin/env python3
"""What checkpoints cost, on both state backends, against Apache Flink in the same run.

1. Nexmark q5 on Runnel's built-in generator (at 100,000 events per second of event time, so
   windows close along the run), on the heap (`hashmap`) and on the RocksDB
   backend (incremental), each without checkpoints and with checkpoints every 10 s:
   throughput and CPU, and what the checkpoints cost.
2. A large keyed state: `SELECT k, COUNT(*), SUM(v), MAX(s) FROM datagen GROUP BY k` over
   `--keys` keys (default 10 million; about 1 GB of state) and `--rows` rows, checkpointed every
   10 s into a local folder, on Runnel and on Flink 2.3 (PyFlink MiniCluster), each with the
   `hashmap` and the `rocksdb` backend (`execution.checkpointing.incremental: true`). For each:
   rows/s, CPU-seconds (machine-wide busy CPU while the job runs), peak resident memory, the
   number of checkpoints, the full size of the last one, the largest upload of one checkpoint
   (the whole state on `hashmap`, the new files on `rocksdb`) and the longest checkpoint.
   Runnel's figures come from its log lines, Flink's from its REST API
   (`/jobs/:id/checkpoints`), polled while the job runs.

Everything runs at parallelism 1. Flink comes from ~/.cache/runnel/flink-venv (created on first
use: pip install apache-flink==2.3.0); Runnel is built with the `rocksdb` feature (Debian's
librocksdb-dev and libclang-dev must be installed, as scripts/test.sh does).

Usage: python3 bench/checkpoint.py [--events 60000000] [--keys 10000000] [--rows 20000000]
                                  [--interval '10 s'] [--skip-flink] [--parts q5,state]
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import nexmark  # noqa: E402
from nexmark import Measure, busy_jiffies, ensure_flink  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
NEXMARK = ROOT / "examples" / "nexmark"
CACHE = Path(os.environ.get("RUNNEL_CACHE", Path.home() / ".cache" / "runnel"))
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", CACHE / "target"))
CHECKPOINT_LINE = re.compile(r"checkpoint (\d+) complete: (\d+) bytes \((\d+) written\) in (\d+) ms")
REST_PORT = 18081

STATE_QUERY = """
CREATE TABLE src (k BIGINT, v BIGINT, s STRING) WITH (
  'connector' = 'datagen', 'number-of-rows' = '{rows}', 'rows-per-second' = '1000000000',
  'fields.k.min' = '0', 'fields.k.max' = '{max_key}', 'fields.s.length' = '40');
CREATE TABLE totals (k BIGINT, c BIGINT, t BIGINT, m STRING) WITH ('connector' = 'blackhole');
INSERT INTO totals SELECT k, COUNT(*), SUM(v), MAX(s) FROM src GROUP BY k;
"""

BACKENDS = {
    "hashmap": {"state.backend.type": "hashmap"},
    "rocksdb": {"state.backend.type": "rocksdb", "execution.checkpointing.incremental": "true"},
}



def build():
    subprocess.run(
        ["cargo", "build", "--release", "-p", "runnel", "--features", "rocksdb"],
        cwd=ROOT,
        check=True,
        env={
            **os.environ,
            "CARGO_TARGET_DIR": str(TARGET),
            "ROCKSDB_LIB_DIR": os.environ.get("ROCKSDB_LIB_DIR", "/usr/lib/x86_64-linux-gnu"),
        },
    )
    return TARGET / "release" / "runnel"


def settings(workdir, interval, backend):
    s = ["SET 'parallelism.default' = '1';"]
    s += [f"SET '{k}' = '{v}';" for k, v in BACKENDS[backend].items()]
    if backend == "rocksdb":
        s.append(f"SET 'state.backend.rocksdb.localdir' = '{workdir}/rocksdb';")
    if interval:
        s += [
            f"SET 'execution.checkpointing.interval' = '{interval}';",
            f"SET 'execution.checkpointing.dir' = 'file://{workdir}/checkpoints';",
        ]
    return "\n".join(s) + "\n"


def measure(cmd):
    """Runs `cmd`; returns (wall s, busy CPU s, peak RSS bytes, stdout, stderr)."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    m = Measure(p.pid)
    cpu0, t0 = busy_jiffies(), time.time()
    out, err = p.communicate()
    wall, cpu = time.time() - t0, (busy_jiffies() - cpu0) / os.sysconf("SC_CLK_TCK")
    peak = m.stop()
    if p.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({p.returncode}):\n{err[-3000:]}")
    return wall, cpu, peak, out, err


def run_runnel(runnel, workdir, name, body, interval, backend, rows):
    path = Path(workdir) / f"{name}.sql"
    path.write_text(settings(workdir, interval, backend) + body)
    wall, cpu, peak, _, err = measure([str(runnel), "run", str(path)])
    cps = [tuple(map(int, c)) for c in CHECKPOINT_LINE.findall(err)]
    return {
        "rows_per_s": rows / wall,
        "cpu": cpu,
        "peak_mb": peak / 2**20,
        "checkpoints": len(cps),
        "last_bytes": cps[-1][1] if cps else 0,
        "max_written": max((c[2] for c in cps), default=0),
        "max_ms": max((c[3] for c in cps), default=0),
    }


def run_flink(py, workdir, interval, backend, body, rows):
    # Flink's parser takes no comments: the settings and the body are plain statements.
    stats = {}
    wall, cpu, peak = nexmark.run_flink(
        py, settings(workdir, interval, backend) + body, rest_port=REST_PORT, stats=stats
    )
    history = [h for h in stats.get("history", []) if h.get("status") == "COMPLETED"]
    return {
        "rows_per_s": rows / wall,
        "cpu": cpu,
        "peak_mb": peak / 2**20,
        "checkpoints": stats.get("counts", {}).get("completed", 0),
        "last_bytes": history[0]["state_size"] if history else 0,
        "max_written": max((h["checkpointed_size"] for h in history), default=0),
        "max_ms": max((h["end_to_end_duration"] for h in history), default=0),
    }


def row(name, r):
    print(
        f"{name:28} {r['rows_per_s']/1e6:7.3f} M/s {r['cpu']:7.1f} CPU-s {r['peak_mb']:7.0f} MiB "
        f"{r['checkpoints']:4d} chk  last {r['last_bytes']/2**20:8.1f} MiB  "
        f"largest upload {r['max_written']/2**20:8.1f} MiB  longest {r['max_ms']:6d} ms"
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=60_000_000)
    ap.add_argument("--keys", type=int, default=10_000_000)
    ap.add_argument("--rows", type=int, default=20_000_000)
    ap.add_argument("--interval", default="10 s")
    ap.add_argument("--skip-flink", action="store_true")
    ap.add_argument("--parts", default="q5,state", help="which parts to run: q5, state")
    args = ap.parse_args()
    runnel = build()
    py = None if args.skip_flink else ensure_flink()
    q5 = (NEXMARK / "q5.sql").read_text().replace("'print'", "'blackhole'")
    # At the example's 10 million events per second of event time, a run spans a few seconds
    # of event time and no window closes: the state would only grow. At 100,000 per second
    # windows close all along, as in a live stream, and the state stays bounded.
    rate = "'first-event.rate' = '10000000'"
    source = (NEXMARK / "source-generator.sql").read_text()
    assert rate in source, "the example source changed"
    source = source.replace(rate, "'first-event.rate' = '100000'").replace(
        "${EVENTS}", str(args.events)
    )
    q5 = source + "\n" + (NEXMARK / "views.sql").read_text() + "\n" + q5
    with tempfile.TemporaryDirectory(prefix="runnel-bench-checkpoint-") as work:
        parts = args.parts.split(",")
        print(f"Nexmark q5 on Runnel, {args.events:,} events, parallelism 1")
        for backend in BACKENDS if "q5" in parts else []:
            base = run_runnel(runnel, work, f"q5-{backend}-none", q5, None, backend, args.events)
            row(f"{backend}, no checkpoints", base)
            r = run_runnel(runnel, work, f"q5-{backend}", q5, args.interval, backend, args.events)
            row(f"{backend}, every {args.interval}", r)
            print(
                f"{'':28} throughput {100 * (1 - r['rows_per_s'] / base['rows_per_s']):+.1f}% lower, "
                f"CPU {100 * (r['cpu'] / base['cpu'] - 1):+.1f}% against no checkpoints"
            )
        print()
        body = STATE_QUERY.format(rows=args.rows, max_key=args.keys - 1)
        print(
            f"Keyed state: GROUP BY over {args.keys:,} keys, {args.rows:,} rows, "
            f"checkpoints every {args.interval}"
        )
        for backend in BACKENDS if "state" in parts else []:
            r = run_runnel(runnel, work, f"state-{backend}", body, args.interval, backend, args.rows)
            row(f"Runnel {backend}", r)
            if py:
                f = run_flink(py, work, args.interval, backend, body, args.rows)
                row(f"Flink {backend}", f)
                print(
                    f"{'':28} Runnel/Flink: throughput {r['rows_per_s'] / f['rows_per_s']:.1f}x, "
                    f"memory {r['peak_mb'] / f['peak_mb']:.2f}x"
                    + (
                        f", checkpoint size {r['last_bytes'] / f['last_bytes']:.2f}x"
                        if f["last_bytes"] and r["last_bytes"]
                        else ""
                    )
                )


if __name__ == "__main__":
    main()
