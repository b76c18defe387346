#!/usr/bin/env python3
"""Nexmark q5 on a Runnel cluster and on an Apache Flink 2.3 standalone cluster, in one run.

Each system runs as separate processes on this machine: a JobManager and one TaskManager per
slot (one slot each), so at parallelism 2 the job's data crosses between TaskManagers. Both
read the same JSON file of Nexmark events into q5 with a blackhole sink. For parallelism 1 and
2 the table shows events/s (events over the job's duration as its REST API reports it) and
events per CPU-second (machine-wide busy CPU during the job, from /proc/stat).

Recovery: q5 at parallelism 2 on three TaskManagers (one spare), checkpoints every second,
fixed-delay restarts (1 s). A TaskManager running tasks is killed with SIGKILL; the time from
the kill until every task runs again is reported (Runnel: its JobManager's "deployed" log
line; Flink: its REST API shows the job RUNNING with all tasks RUNNING).

Usage: python3 bench/cluster.py [--events 5000000] [--parallelism 1,2] [--skip-flink]
       [--skip-recovery]
Flink comes from ~/.cache/runnel/flink-venv (pip install apache-flink==2.3.0), whose
distribution has the standalone cluster scripts.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nexmark import (FLINK_STATEMENTS, compose, ensure_flink, events_file,  # noqa: E402
                     process_tree, runnel_bin)

CLK = os.sysconf("SC_CLK_TCK")

# Submits a script's statements to a standalone Flink cluster and prints the INSERT's job id.
SUBMIT = FLINK_STATEMENTS + r'''
import sys
from pyflink.table import EnvironmentSettings, TableEnvironment
env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
conf = env.get_config()
conf.set("execution.target", "remote")
conf.set("rest.address", "localhost")
conf.set("rest.port", "PORT")
conf.set("table.local-time-zone", "UTC")
for s, r in run_statements(env, open(sys.argv[1]).read()):
    if s.upper().startswith("INSERT"):
        print("JOB", r.get_job_client().get_job_id(), flush=True)
'''


def tree_cpu(pids):
    """CPU seconds used so far by processes `pids` and all their descendants."""
    total = 0
    for p in process_tree(pids):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, ValueError, IndexError):
            pass
    return total / CLK


def http(method, url, body=None, headers=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    with urllib.request.urlopen(req, timeout=10) as r:
        text = r.read().decode()
        return json.loads(text) if text else None


def wait_for(what, check, timeout=120, every=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = check()
        if v:
            return v
        time.sleep(every)
    raise RuntimeError(f"timed out waiting for {what}")


class Processes:
    """A cluster's processes (in `self.procs`), killed when the `with` block ends."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            p.kill()
            p.wait()


class Runnel(Processes):
    """A JobManager and TaskManagers of Runnel, with their logs in a folder."""

    def __init__(self, binary, workdir, tms):
        self.binary, self.dir, self.procs = binary, Path(workdir), []
        common = ["-D", "heartbeat.interval=1 s", "-D", "heartbeat.timeout=10 s"]
        self.jm_log = self.dir / "jm.log"
        self.jm = subprocess.Popen([str(binary), "jobmanager", "-D", "jobmanager.rpc.port=0",
                                    "-D", "rest.port=0", "-D", "cluster.evenly-spread-out-slots=true"]
                                   + common, stderr=open(self.jm_log, "w"), stdout=subprocess.DEVNULL)
        self.procs.append(self.jm)
        rpc = wait_for("the JobManager", lambda: self.line("runnel: JobManager listening for TaskManagers at "))
        self.rest = "http://" + wait_for("its REST API", lambda: self.line("runnel: REST API at http://"))
        self.tms = []
        for i in range(tms):
            tm = subprocess.Popen([str(binary), "taskmanager", "-D", f"jobmanager.rpc.port={rpc.rsplit(':', 1)[1]}",
                                   "-D", "taskmanager.numberOfTaskSlots=1"] + common,
                                  stderr=open(self.dir / f"tm{i}.log", "w"), stdout=subprocess.DEVNULL)
            self.procs.append(tm)
            self.tms.append(tm)
        wait_for("the TaskManagers", lambda: len(http("GET", self.rest + "/taskmanagers")["taskmanagers"]) == tms)

    def line(self, prefix):
        for l in self.jm_log.read_text().splitlines():
            if l.startswith(prefix):
                return l[len(prefix):].strip()
        return None

    def submit(self, script, parallelism):
        return http("POST", self.rest + "/jobs/sql",
                    {"script": script, "config": {"parallelism.default": str(parallelism)}})["jobid"]

    def job(self, jid):
        return http("GET", f"{self.rest}/jobs/{jid}")

    def busy_task_manager(self):
        busy = [t["id"] for t in http("GET", self.rest + "/taskmanagers")["taskmanagers"]
                if t["freeSlots"] < t["slotsNumber"]]
        for i, _ in enumerate(self.tms):
            first = (self.dir / f"tm{i}.log").read_text().splitlines()[0]
            if any(f"TaskManager {b} " in first for b in busy):
                return self.tms[i]
        raise RuntimeError("no busy TaskManager")


class Flink(Processes):
    """A standalone Flink cluster from PyFlink's distribution: a JobManager and TaskManagers."""

    def __init__(self, py, workdir, tms, checkpoints=None):
        self.py = py
        self.home = Path(subprocess.check_output(
            [str(py), "-c", "import pyflink, os; print(os.path.dirname(pyflink.__file__))"], text=True).strip())
        self.dir = Path(workdir)
        conf = self.dir / "conf"
        shutil.copytree(self.home / "conf", conf)
        port = 18300 + os.getpid() % 500
        settings = {
            "jobmanager.rpc.address": "localhost",
            "jobmanager.bind-host": "localhost",
            "taskmanager.bind-host": "localhost",
            "taskmanager.host": "localhost",
            "rest.address": "localhost",
            "rest.bind-address": "localhost",
            "rest.port": str(port),
            "taskmanager.numberOfTaskSlots": "1",
            "jobmanager.memory.process.size": "1024m",
            "taskmanager.memory.process.size": "1728m",
            "heartbeat.interval": "1000",
            "heartbeat.timeout": "10000",
            "metrics.fetcher.update-interval": "500",
            "table.local-time-zone": "UTC",
        }
        if checkpoints:
            settings.update({
                "execution.checkpointing.interval": "1 s",
                "execution.checkpointing.dir": f"file://{self.dir}/checkpoints",
                "restart-strategy.type": "fixed-delay",
                "restart-strategy.fixed-delay.attempts": "10",
                "restart-strategy.fixed-delay.delay": "1 s",
            })
        (conf / "config.yaml").write_text("".join(f"{k}: {v}\n" for k, v in settings.items()))
        self.env = {**os.environ, "FLINK_CONF_DIR": str(conf), "FLINK_LOG_DIR": str(self.dir / "log"),
                    "FLINK_HOME": str(self.home)}
        self.rest = f"http://localhost:{port}"
        self.procs = [subprocess.Popen(["bash", str(self.home / "bin" / "jobmanager.sh"), "start-foreground"],
                                       env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
        wait_for("Flink's REST API", lambda: self.try_get("/overview"), timeout=120, every=0.5)
        self.tms = []
        for _ in range(tms):
            p = subprocess.Popen(["bash", str(self.home / "bin" / "taskmanager.sh"), "start-foreground"],
                                 env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.procs.append(p)
            self.tms.append(p)
        wait_for("Flink's TaskManagers", lambda: (self.try_get("/overview") or {}).get("taskmanagers") == tms,
                 timeout=120, every=0.5)

    def try_get(self, path):
        try:
            return http("GET", self.rest + path)
        except Exception:
            return None

    def submit(self, script, parallelism):
        """Submits through PyFlink's TableEnvironment with `execution.target: remote` (the
        SQL client is not in PyFlink's distribution); the job id."""
        path = self.dir / "job.sql"
        path.write_text(f"SET 'parallelism.default' = '{parallelism}';\n" + script)
        runner = self.dir / "submit.py"
        runner.write_text(SUBMIT.replace("PORT", self.rest.rsplit(":", 1)[1]))
        out = subprocess.run([str(self.py), str(runner), str(path)], check=True, capture_output=True,
                             text=True).stdout
        return next(l.split()[1] for l in out.splitlines() if l.startswith("JOB "))

    def job(self, jid):
        return http("GET", f"{self.rest}/jobs/{jid}")

    def busy_task_manager(self):
        # The JVM of a TaskManager runs under the launcher script: kill the process that holds
        # a slot, found through its data port's owner is overkill; any TM with a slot will do.
        busy = [t for t in http("GET", self.rest + "/taskmanagers")["taskmanagers"] if t["freeSlots"] == 0]
        if not busy:
            raise RuntimeError("no busy TaskManager")
        pid = self.pid_of(busy[0]["id"])
        return pid

    def pid_of(self, tm_id):
        # Flink's TaskManager id is "host:port-suffix"; find the JVM listening on that port.
        port = tm_id.split(":")[1].split("-")[0]
        out = subprocess.run(["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True).stdout
        return int(out.split("pid=")[1].split(",")[0])

    def __exit__(self, *exc):
        super().__exit__(*exc)
        subprocess.run(["pkill", "-9", "-f", str(self.dir)], check=False)


def throughput(system, script, parallelism, events):
    """Events per second of the job's duration, and per CPU-second of the cluster's processes
    (JobManager and TaskManagers; not Flink's submitting client)."""
    pids = [p.pid for p in system.procs]
    cpu0 = tree_cpu(pids)
    jid = system.submit(script, parallelism)
    job = wait_for("the job to finish", lambda: (lambda j: j if j["state"] in ("FINISHED", "FAILED", "CANCELED") else None)(system.job(jid)),
                   timeout=1800, every=0.2)
    cpu = tree_cpu(pids) - cpu0
    if job["state"] != "FINISHED":
        raise RuntimeError(f"job {jid} ended {job['state']}")
    seconds = job["duration"] / 1000
    return events / seconds, events / cpu


def recovery(system, script, kill):
    """Runs `script` at parallelism 2 until it completed a few checkpoints, then `kill(job)`
    (which returns the recovery time)."""
    jid = system.submit(script, 2)
    wait_for("a few checkpoints", lambda: (system.job(jid)["state"] == "RUNNING"
                                          and (http("GET", f"{system.rest}/jobs/{jid}/checkpoints")["counts"]["completed"] >= 3)),
             timeout=300, every=0.2)
    return kill(jid)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=5_000_000)
    ap.add_argument("--parallelism", default="1,2")
    ap.add_argument("--skip-flink", action="store_true")
    ap.add_argument("--skip-recovery", action="store_true")
    ap.add_argument("--skip-throughput", action="store_true")
    args = ap.parse_args()
    n = args.events
    binary = runnel_bin()
    data = events_file(binary, n)
    py = None if args.skip_flink else ensure_flink()
    script = compose("q5", EVENTS_PATH=data).replace("SET 'parallelism.default' = '1';\n", "")
    rows = []
    for p in [] if args.skip_throughput else [int(x) for x in args.parallelism.split(",")]:
        row = {"p": p}
        with tempfile.TemporaryDirectory() as d, Runnel(binary, d, p) as c:
            row["r_eps"], row["r_epc"] = throughput(c, script, p, n)
        if py:
            with tempfile.TemporaryDirectory() as d, Flink(py, d, p) as c:
                row["f_eps"], row["f_epc"] = throughput(c, script, p, n)
        rows.append(row)
        print(row, flush=True)

    if rows:
        print(f"\nNexmark q5, {n:,} events from a JSON file, one slot per TaskManager, separate processes")
        print("| parallelism | Runnel ev/s | Flink ev/s | Runnel ev/CPU-s | Flink ev/CPU-s | ratio ev/CPU-s |")
        print("|---|---|---|---|---|---|")
        for r in rows:
            if "f_eps" in r:
                print(f"| {r['p']} | {r['r_eps']:,.0f} | {r['f_eps']:,.0f} | {r['r_epc']:,.0f} | {r['f_epc']:,.0f} | {r['r_epc'] / r['f_epc']:.2f}x |")
            else:
                print(f"| {r['p']} | {r['r_eps']:,.0f} | - | {r['r_epc']:,.0f} | - | - |")

    if args.skip_recovery:
        return
    # Long enough to be running when the TaskManager dies: the events again and again.
    loop = compose("q5", source="source-generator.sql", EVENTS=100_000_000).replace(
        "SET 'parallelism.default' = '1';\n", "")
    ckpt = ("SET 'execution.checkpointing.interval' = '1 s';\n"
            "SET 'restart-strategy.type' = 'fixed-delay';\n"
            "SET 'restart-strategy.fixed-delay.attempts' = '10';\n"
            "SET 'restart-strategy.fixed-delay.delay' = '1 s';\n")
    with tempfile.TemporaryDirectory() as d, Runnel(binary, d, 3) as c:
        def deployments():
            return sum("runnel: deployed " in l for l in c.jm_log.read_text().splitlines())

        def kill(_):
            victim, before = c.busy_task_manager(), deployments()
            t = time.time()
            victim.send_signal(signal.SIGKILL)
            wait_for("the job to run again", lambda: deployments() > before, timeout=300, every=0.01)
            return time.time() - t
        s = ckpt + f"SET 'state.checkpoints.dir' = '{d}/checkpoints';\n" + loop
        runnel_recovery = recovery(c, s, kill)
    print(f"\nRunnel: TaskManager killed -> all tasks running again: {runnel_recovery:.2f} s")
    if not py:
        return
    # Flink's nexmark generator is not in its distribution: the same JSON file, read again
    # and again by a continuous file source, keeps the job busy.
    with tempfile.TemporaryDirectory() as d, Flink(py, d, 3, checkpoints=True) as c:
        def kill(jid):
            pid = c.busy_task_manager()
            t = time.time()
            os.kill(pid, signal.SIGKILL)
            seen_down = False

            def back():
                nonlocal seen_down
                j = c.job(jid)
                running = j["state"] == "RUNNING" and all(
                    v["tasks"]["RUNNING"] == v["parallelism"] for v in j["vertices"])
                seen_down = seen_down or not running
                return seen_down and running
            wait_for("Flink's job to run again", back, timeout=300, every=0.05)
            return time.time() - t
        fscript = ckpt + f"SET 'execution.checkpointing.dir' = 'file://{d}/checkpoints';\n" + \
            script.replace("'format' = 'json'", "'format' = 'json', 'source.monitor-interval' = '1 h'")
        flink_recovery = recovery(c, fscript, kill)
    print(f"Flink:  TaskManager killed -> all tasks running again: {flink_recovery:.2f} s")


if __name__ == "__main__":
    main()
