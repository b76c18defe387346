#!/usr/bin/env python3
"""Records the JSON shapes of Apache Flink 2.3's REST API, which Runnel's REST API follows.

Runs a small streaming job (datagen into blackhole, checkpoints every second) on a PyFlink
local MiniCluster with its REST endpoint on a fixed port, calls the endpoints Runnel serves
while the job runs, and writes each answer's shape (field names and JSON types, lists reduced
to their first element) to flink_shapes.json next to this script. The test compares Runnel's
answers against these shapes.

Usage: ~/.cache/runnel/flink-venv/bin/python runtime/tests/rest/record_flink_shapes.py
"""
import json
import time
import urllib.request
from pathlib import Path

from pyflink.table import EnvironmentSettings, TableEnvironment

PORT = 18082


def shape(v):
    if isinstance(v, dict):
        return {k: shape(x) for k, x in sorted(v.items())}
    if isinstance(v, list):
        return [shape(v[0])] if v else []
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if v is None:
        return "null"
    return "string"


def get(path):
    return json.load(urllib.request.urlopen(f"http://localhost:{PORT}{path}", timeout=10))


def call(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://localhost:{PORT}{path}", data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        text = r.read().decode()
        return r.status, (json.loads(text) if text else None)


def main():
    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    conf = env.get_config()
    conf.set("parallelism.default", "1")
    conf.set("rest.port", str(PORT))
    conf.set("execution.checkpointing.interval", "1 s")
    env.execute_sql(
        "CREATE TABLE src (k BIGINT) WITH ('connector' = 'datagen', 'rows-per-second' = '100')"
    )
    env.execute_sql("CREATE TABLE snk (k BIGINT, c BIGINT) WITH ('connector' = 'blackhole')")
    result = env.execute_sql("INSERT INTO snk SELECT k, COUNT(*) FROM src GROUP BY k")
    job = str(result.get_job_client().get_job_id())
    time.sleep(6)  # a few checkpoints
    shapes = {}
    for path in ["/config", "/overview", "/jobs", "/jobs/overview", f"/jobs/{job}",
                 f"/jobs/{job}/checkpoints", f"/jobs/{job}/exceptions", "/taskmanagers"]:
        shapes[path.replace(job, ":jobid")] = shape(get(path))
    # Metrics of the aggregating vertex (the last), per subtask and over subtasks.
    vertex = get(f"/jobs/{job}")["vertices"][-1]["id"]
    metrics = "busyTimeMsPerSecond,backPressuredTimeMsPerSecond,idleTimeMsPerSecond," \
              "numRecordsInPerSecond,numRecordsOutPerSecond"
    shapes["/jobs/:jobid/vertices/:vertexid/subtasks/metrics?get=..."] = shape(
        get(f"/jobs/{job}/vertices/{vertex}/subtasks/metrics?get={metrics}"))
    shapes["/jobs/:jobid/vertices/:vertexid/metrics?get=0.busyTimeMsPerSecond"] = shape(
        get(f"/jobs/{job}/vertices/{vertex}/metrics?get=0.busyTimeMsPerSecond"))
    # A savepoint by REST, polled until it completes, then a cancel by REST.
    status, trigger = call("POST", f"/jobs/{job}/savepoints",
                           {"target-directory": "file:///tmp/runnel-flink-shapes-savepoints",
                            "cancel-job": False})
    shapes["POST /jobs/:jobid/savepoints"] = {"status": status, "body": shape(trigger)}
    path = f"/jobs/{job}/savepoints/{trigger['request-id']}"
    for _ in range(100):
        answer = get(path)
        if answer["status"]["id"] == "COMPLETED":
            break
        time.sleep(0.2)
    shapes["/jobs/:jobid/savepoints/:triggerid"] = shape(answer)
    status, body = call("PATCH", f"/jobs/{job}?mode=cancel")
    shapes["PATCH /jobs/:jobid"] = {"status": status, "body": shape(body)}
    out = Path(__file__).with_name("flink_shapes.json")
    out.write_text(json.dumps(shapes, indent=1, sort_keys=True) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
