#!/usr/bin/env python3
"""What checkpoints cost Runnel: Nexmark q5 with 10 s checkpoints against none, and the
duration and size of checkpoints of a large keyed state (a GROUP BY over every
(bidder, auction) pair, grown toward 1 GB).

Both read Runnel's built-in Nexmark generator at parallelism 1, write to a `blackhole` sink
and checkpoint to a local folder (the in-memory state backend; RocksDB is not built yet).
For each run the table shows events/s, CPU-seconds (user+system of the runnel process) and,
from the job's own log lines, the number of checkpoints and their largest size and duration.

Usage: python3 bench/checkpoint.py [--events 60000000] [--state-events 40000000]
"""
import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NEXMARK = ROOT / "examples" / "nexmark"
CACHE = Path(os.environ.get("RUNNEL_CACHE", Path.home() / ".cache" / "runnel"))
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", CACHE / "target"))
CHECKPOINT_LINE = re.compile(r"checkpoint (\d+) complete: (\d+) bytes in (\d+) ms")

STATE_QUERY = """
CREATE TABLE pairs (bidder BIGINT, auction BIGINT, bids BIGINT, total BIGINT)
  WITH ('connector' = 'blackhole');
INSERT INTO pairs
SELECT bidder, auction, COUNT(*), SUM(price) FROM bid GROUP BY bidder, auction;
"""


def build():
    subprocess.run(
        ["cargo", "build", "--release", "-p", "runnel"],
        cwd=ROOT,
        check=True,
        env={**os.environ, "CARGO_TARGET_DIR": str(TARGET)},
    )
    return TARGET / "release" / "runnel"


def script(workdir, events, body, interval):
    source = (NEXMARK / "source-generator.sql").read_text().replace("${EVENTS}", str(events))
    views = (NEXMARK / "views.sql").read_text()
    settings = ["SET 'parallelism.default' = '1';"]
    if interval:
        settings += [
            f"SET 'execution.checkpointing.interval' = '{interval}';",
            f"SET 'state.checkpoints.dir' = '{workdir}/checkpoints';",
        ]
    path = Path(workdir) / f"job-{interval or 'none'}.sql"
    path.write_text("\n".join(settings) + "\n" + source + "\n" + views + "\n" + body)
    return path


def run(runnel, path, events):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.time()
    proc = subprocess.run(
        [str(runnel), "run", str(path)], capture_output=True, text=True
    )
    elapsed = time.time() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"runnel failed on {path}:\n{proc.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    cps = [(int(i), int(b), int(ms)) for i, b, ms in CHECKPOINT_LINE.findall(proc.stderr)]
    return {
        "elapsed": elapsed,
        "cpu": cpu,
        "events_per_s": events / elapsed,
        "checkpoints": len(cps),
        "max_bytes": max((b for _, b, _ in cps), default=0),
        "max_ms": max((ms for _, _, ms in cps), default=0),
        "mean_ms": sum(ms for _, _, ms in cps) / len(cps) if cps else 0,
        "peak_rss_mb": after.ru_maxrss / 1024,
    }


def row(name, r):
    print(
        f"{name:28} {r['events_per_s']/1e6:8.2f} M/s {r['cpu']:8.1f} CPU-s "
        f"{r['checkpoints']:4d} chk  max {r['max_bytes']/2**20:8.1f} MiB "
        f"in {r['max_ms']:6d} ms (mean {r['mean_ms']:6.0f} ms)"
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=60_000_000)
    ap.add_argument("--state-events", type=int, default=40_000_000)
    ap.add_argument("--interval", default="10 s")
    args = ap.parse_args()
    runnel = build()
    q5 = (NEXMARK / "q5.sql").read_text().replace("'print'", "'blackhole'")
    with tempfile.TemporaryDirectory(prefix="runnel-bench-checkpoint-") as work:
        print(f"Nexmark q5, {args.events:,} events, parallelism 1")
        base = run(runnel, script(work, args.events, q5, None), args.events)
        row("q5, no checkpoints", base)
        with_cp = run(runnel, script(work, args.events, q5, args.interval), args.events)
        row(f"q5, checkpoints every {args.interval}", with_cp)
        print(
            f"checkpoint cost: throughput {100 * (1 - with_cp['events_per_s'] / base['events_per_s']):+.1f}% "
            f"lower, CPU {100 * (with_cp['cpu'] / base['cpu'] - 1):+.1f}%"
        )
        print()
        print(f"Large keyed state: GROUP BY bidder, auction over {args.state_events:,} events")
        state = run(runnel, script(work, args.state_events, STATE_QUERY, args.interval), args.state_events)
        row(f"state job, every {args.interval}", state)
        print(f"peak resident memory of the state job: {state['peak_rss_mb']:.0f} MiB")


if __name__ == "__main__":
    main()
