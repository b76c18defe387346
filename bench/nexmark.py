#!/usr/bin/env python3
"""Nexmark q0-q5, q7, q8 on Runnel and on Apache Flink 2.3, side by side, in one run.

Both read the same JSON file of Nexmark events (written by Runnel's `nexmark` source) at
parallelism 1 and write to a `blackhole` sink. For each query the table shows events/s,
events per CPU-second (machine-wide busy CPU during the run, from /proc/stat), peak memory
(resident set of the whole process tree), and the Runnel/Flink ratios. Runnel's throughput
reading straight from its `nexmark` generator is reported too.

Usage: python3 bench/nexmark.py [--events 5000000] [--queries q0,q1,...] [--skip-flink]
Flink comes from ~/.cache/runnel/flink-venv (created on first use: pip install apache-flink==2.3.0).
"""
import argparse
import math
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NEXMARK = ROOT / "examples" / "nexmark"
CACHE = Path(os.environ.get("RUNNEL_CACHE", Path.home() / ".cache" / "runnel"))
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", CACHE / "target"))
VENV = CACHE / "flink-venv"
QUERIES = ["q0", "q1", "q2", "q3", "q4", "q5", "q7", "q8"]

# Flink-side helper shared by the scripts that drive PyFlink: a SQL script's statements.
FLINK_STATEMENTS = r'''
import re


def run_statements(env, sql):
    """Runs a script's statements: SETs change the configuration, the others are executed;
    yields each executed statement with its result."""
    conf = env.get_config()
    text = "\n".join(l for l in sql.splitlines() if not l.strip().startswith("--"))
    for s in [s.strip() for s in text.split(";") if s.strip()]:
        m = re.match(r"SET\s+'([^']+)'\s*=\s*'([^']*)'$", s, re.I)
        if m:
            conf.set(m.group(1), m.group(2))
            continue
        yield s, env.execute_sql(s)
'''

# Runs a script's statements on a local MiniCluster. With a REST port (third argument), it
# polls each INSERT job's checkpoint statistics while it runs (the local cluster goes away
# with the job) and prints the last answer on a `STATS` line.
FLINK_RUNNER = FLINK_STATEMENTS + r'''
import json, sys, time, urllib.request
from pyflink.table import EnvironmentSettings, TableEnvironment
sql = open(sys.argv[1]).read()
env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
conf = env.get_config()
conf.set("parallelism.default", "1")
conf.set("table.local-time-zone", "UTC")
if len(sys.argv) > 2 and sys.argv[2]:
    conf.set("pipeline.jars", sys.argv[2])
port = sys.argv[3] if len(sys.argv) > 3 else None
if port:
    conf.set("rest.port", port)


def poll_checkpoints(job):
    base = "http://localhost:%s/jobs/%s" % (port, job)
    stats = None
    while True:
        try:
            stats = json.load(urllib.request.urlopen(base + "/checkpoints", timeout=5))
            state = json.load(urllib.request.urlopen(base, timeout=5))["state"]
            if state in ("FINISHED", "FAILED", "CANCELED"):
                return stats
        except Exception:
            return stats
        time.sleep(0.5)


print("READY", flush=True)
start = time.time()
for s, r in run_statements(env, sql):
    if s.upper().startswith("INSERT"):
        if port:
            stats = poll_checkpoints(str(r.get_job_client().get_job_id()))
            print("STATS " + json.dumps(stats), flush=True)
        r.wait()
print("ELAPSED %.3f" % (time.time() - start), flush=True)
'''


def busy_jiffies():
    with open("/proc/stat") as f:
        parts = f.readline().split()[1:]
    vals = [int(x) for x in parts]
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
    return sum(vals[:8]) - idle


def process_tree(pids):
    """Processes `pids` and all their descendants."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(d))
        except (OSError, ValueError, IndexError):
            pass
    out, stack = [], list(pids)
    while stack:
        p = stack.pop()
        out.append(p)
        stack.extend(children.get(p, []))
    return out


def tree_rss(pid):
    """Resident bytes of a process and all its descendants."""
    total = 0
    for p in process_tree([pid]):
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            pass
    return total


class Measure:
    """Peak RSS of a process tree, sampled every 50 ms."""

    def __init__(self, pid):
        self.pid, self.peak, self.done = pid, 0, False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.done:
            self.peak = max(self.peak, tree_rss(self.pid))
            time.sleep(0.05)

    def stop(self):
        self.done = True
        self.t.join()
        return self.peak


def compose(query, sink="blackhole", source="source-json.sql", **subst):
    text = "SET 'parallelism.default' = '1';\n"
    for f in (source, "views.sql", f"{query}.sql"):
        text += (NEXMARK / f).read_text() + "\n"
    text = text.replace("'connector' = 'print'", f"'connector' = '{sink}'")
    for k, v in subst.items():
        text = text.replace("${" + k + "}", str(v))
    return text


def runnel_bin():
    subprocess.run(["cargo", "build", "--release", "-p", "runnel"], cwd=ROOT, check=True,
                   env={**os.environ, "CARGO_TARGET_DIR": str(TARGET)})
    return TARGET / "release" / "runnel"


def events_file(binary, n):
    out = CACHE / f"nexmark-events-{n}"
    if out.exists() and any(p.name.startswith("part-") for p in out.iterdir()):
        return out
    out.mkdir(parents=True, exist_ok=True)
    sql = (NEXMARK / "write-events.sql").read_text().replace("${EVENTS}", str(n)).replace("${OUT_DIR}", str(out))
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(sql)
    subprocess.run([str(binary), "run", f.name], check=True)
    return out


def run_runnel(binary, script):
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(script)
    cpu0, t0 = busy_jiffies(), time.time()
    p = subprocess.Popen([str(binary), "run", f.name], stdout=subprocess.DEVNULL)
    m = Measure(p.pid)
    rc = p.wait()
    wall, cpu = time.time() - t0, (busy_jiffies() - cpu0) / os.sysconf("SC_CLK_TCK")
    peak = m.stop()
    if rc != 0:
        raise RuntimeError(f"runnel failed with exit code {rc}")
    return wall, cpu, peak


def ensure_flink():
    py = VENV / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "apache-flink==2.3.0"], check=True)
    return py


def run_flink(py, script, jars=None, rest_port=None, stats=None):
    """Runs a SQL script on Flink; `jars` (file:// URLs, `;`-separated) adds connectors. With
    `rest_port`, the checkpoint statistics of the last INSERT job are put in `stats`."""
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(script)
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as r:
        r.write(FLINK_RUNNER)
    args = [jars or ""] + ([str(rest_port)] if rest_port else [])
    p = subprocess.Popen([str(py), r.name, f.name] + args, stdout=subprocess.PIPE, text=True)
    m = Measure(p.pid)
    line = p.stdout.readline()  # READY: the JVM is up; measure the job alone
    if not line.startswith("READY"):
        raise RuntimeError("flink runner did not start")
    cpu0, t0 = busy_jiffies(), time.time()
    rest = p.stdout.read()
    rc = p.wait()
    wall, cpu = time.time() - t0, (busy_jiffies() - cpu0) / os.sysconf("SC_CLK_TCK")
    peak = m.stop()
    if rc != 0:
        raise RuntimeError(f"flink failed with exit code {rc}")
    for l in rest.splitlines():
        if l.startswith("ELAPSED"):
            wall = float(l.split()[1])
        if l.startswith("STATS ") and stats is not None:
            stats.update(json.loads(l[6:]) or {})
    return wall, cpu, peak


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=5_000_000)
    ap.add_argument("--queries", default=",".join(QUERIES))
    ap.add_argument("--skip-flink", action="store_true")
    args = ap.parse_args()
    n = args.events
    binary = runnel_bin()
    data = events_file(binary, n)
    py = None if args.skip_flink else ensure_flink()

    gen = compose("q0", source="source-generator.sql", EVENTS=n)
    w, c, m = run_runnel(binary, gen)
    print(f"runnel nexmark source -> q0 -> blackhole: {n / w:,.0f} events/s, {n / max(c, 1e-9):,.0f} events/CPU-s, peak {m / 2**20:.0f} MiB")

    rows = []
    for q in args.queries.split(","):
        script = compose(q, EVENTS_PATH=data)
        rw, rc, rm = run_runnel(binary, script)
        row = {"q": q, "r_eps": n / rw, "r_epc": n / max(rc, 1e-9), "r_mem": rm}
        if py:
            fw, fc, fm = run_flink(py, script)
            row.update({"f_eps": n / fw, "f_epc": n / max(fc, 1e-9), "f_mem": fm})
        rows.append(row)
        print(row, flush=True)

    print()
    print(f"Nexmark, {n:,} events from a JSON file, parallelism 1")
    hdr = "| query | Runnel ev/s | Flink ev/s | Runnel ev/CPU-s | Flink ev/CPU-s | ratio ev/CPU-s | Runnel peak MiB | Flink peak MiB |"
    print(hdr)
    print("|" + "---|" * 8)
    ratios = []
    for r in rows:
        if "f_eps" in r:
            ratio = r["r_epc"] / r["f_epc"]
            ratios.append(ratio)
            print(f"| {r['q']} | {r['r_eps']:,.0f} | {r['f_eps']:,.0f} | {r['r_epc']:,.0f} | {r['f_epc']:,.0f} | {ratio:.2f}x | {r['r_mem'] / 2**20:.0f} | {r['f_mem'] / 2**20:.0f} |")
        else:
            print(f"| {r['q']} | {r['r_eps']:,.0f} | - | {r['r_epc']:,.0f} | - | - | {r['r_mem'] / 2**20:.0f} | - |")
    if ratios:
        gm = math.exp(sum(math.log(x) for x in ratios) / len(ratios))
        print(f"\ngeometric mean of events/CPU-second ratios (Runnel/Flink): {gm:.2f}x")


if __name__ == "__main__":
    main()
