#!/usr/bin/env python3
"""Reading Kafka: Runnel and Apache Flink 2.3 on the same topic, in one run.

A real broker (Apache Kafka in KRaft mode, started with e2e/scripts/kafka.sh) holds N JSON
records ({"id", "k", "v"}, 1,000 keys) in one topic, written by Runnel's Kafka sink (its rate
is reported too). Both engines then read the topic from the earliest to the latest offset at
parallelism 1 and count and sum per key into a `blackhole` sink. The table shows records/s,
records per CPU-second (machine-wide busy CPU while the job runs, so the broker's share counts
against both alike) and peak memory of the engine's process tree.

Flink's Kafka connector (org.apache.flink:flink-sql-connector-kafka:5.0.0-2.2, the newest
for Flink 2.x on Maven Central) is fetched with Maven on first use.

Usage: python3 bench/kafka.py [--records 2000000] [--partitions 4] [--skip-flink]
"""
import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import nexmark as nx  # noqa: E402  (shared measuring helpers)

ROOT = nx.ROOT
KAFKA_SH = ROOT / "e2e" / "scripts" / "kafka.sh"
CONNECTOR = ("org.apache.flink", "flink-sql-connector-kafka", "5.0.0-2.2")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_broker(workdir):
    subprocess.run(["bash", str(KAFKA_SH), "install"], check=True)
    port, controller = free_port(), free_port()
    log = open(workdir / "kafka.log", "w")
    proc = subprocess.Popen(["bash", str(KAFKA_SH), "run", str(workdir / "kafka"), str(port),
                             str(controller)], stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.PIPE)
    bootstrap = f"127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        r = subprocess.run(["bash", str(KAFKA_SH), "topic", bootstrap, "create", "probe", "1"],
                           capture_output=True)
        if r.returncode == 0:
            return proc, bootstrap
        time.sleep(1)
    proc.kill()
    raise RuntimeError("the Kafka broker did not start (see kafka.log)")


def connector_jar():
    g, a, v = CONNECTOR
    jar = Path.home() / ".m2" / "repository" / g.replace(".", "/") / a / v / f"{a}-{v}.jar"
    if not jar.exists():
        subprocess.run(["mvn", "-q", "dependency:get", f"-Dartifact={g}:{a}:{v}",
                        "-Dtransitive=false"], check=True)
    return jar


def fill(binary, bootstrap, n):
    script = f"""
CREATE TABLE gen (id BIGINT, k BIGINT, v BIGINT) WITH ('connector' = 'datagen',
  'rows-per-second' = '0', 'fields.id.kind' = 'sequence', 'fields.id.start' = '1',
  'fields.id.end' = '{n}', 'fields.k.min' = '0', 'fields.k.max' = '999',
  'fields.v.min' = '0', 'fields.v.max' = '1000');
CREATE TABLE bench (id BIGINT, k BIGINT, v BIGINT) WITH ('connector' = 'kafka',
  'topic' = 'bench', 'properties.bootstrap.servers' = '{bootstrap}', 'format' = 'json');
INSERT INTO bench SELECT * FROM gen;
"""
    return nx.run_runnel(binary, script)


QUERY = """
CREATE TABLE src (id BIGINT, k BIGINT, v BIGINT) WITH ('connector' = 'kafka',
  'topic' = 'bench', 'properties.bootstrap.servers' = '{bootstrap}', 'format' = 'json',
  'properties.group.id' = 'bench-{engine}', 'scan.startup.mode' = 'earliest-offset',
  'scan.bounded.mode' = 'latest-offset');
CREATE TABLE sink (k BIGINT, c BIGINT, s BIGINT) WITH ('connector' = 'blackhole');
INSERT INTO sink SELECT k, COUNT(*), SUM(v) FROM src GROUP BY k;
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=2_000_000)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--skip-flink", action="store_true")
    args = ap.parse_args()
    n = args.records
    binary = nx.runnel_bin()
    py = None if args.skip_flink else nx.ensure_flink()
    jar = None if args.skip_flink else connector_jar()
    with tempfile.TemporaryDirectory(prefix="runnel-bench-kafka-") as d:
        workdir = Path(d)
        broker, bootstrap = start_broker(workdir)
        try:
            subprocess.run(["bash", str(KAFKA_SH), "topic", bootstrap, "create", "bench",
                            str(args.partitions)], check=True)
            w, c, _ = fill(binary, bootstrap, n)
            print(f"runnel kafka sink (at-least-once, json): {n / w:,.0f} records/s, "
                  f"{n / max(c, 1e-9):,.0f} records/CPU-s")
            rw, rc, rm = nx.run_runnel(binary, "SET 'parallelism.default' = '1';\n"
                                       + QUERY.format(bootstrap=bootstrap, engine="runnel"))
            print(f"{'engine':<8} {'records/s':>12} {'records/CPU-s':>14} {'peak MiB':>9}")
            print(f"{'runnel':<8} {n / rw:>12,.0f} {n / max(rc, 1e-9):>14,.0f} {rm / 2**20:>9.0f}")
            if py:
                fw, fc, fm = nx.run_flink(py, QUERY.format(bootstrap=bootstrap, engine="flink"),
                                          jars=f"file://{jar}")
                print(f"{'flink':<8} {n / fw:>12,.0f} {n / max(fc, 1e-9):>14,.0f} {fm / 2**20:>9.0f}")
                print(f"runnel/flink: {fw / rw:.2f}x records/s, {fc / max(rc, 1e-9):.2f}x records/CPU-s, "
                      f"{rm / max(fm, 1):.2f}x memory")
        finally:
            broker.terminate()
            try:
                broker.wait(timeout=60)
            except subprocess.TimeoutExpired:
                broker.kill()


if __name__ == "__main__":
    main()
