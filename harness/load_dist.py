"""Several load clients through Locust's own distributed mode (issue 17, `--clients`).

One schedule, several senders: a Locust master on the controller (headless,
`--expect-workers=N`, bound to the controller's lab address, never 0.0.0.0) and one Locust
worker per client host, started over SSH the way `--client` starts Locust (harness/load.py),
or as processes on this machine (the tests). Worker i of N sends frames i, i + N, ... of the
schedule (harness/schedule.py `share`), or, in a run with several data sources (`--sources`),
the whole sources i, i + N, ... (round robin; `portion`), so each camera's stream leaves one
client, against one start time the master sends
(harness/locustfile.py); each writes its part of client.csv, and the parts are fetched and
merged here into the run's client.csv (the same columns plus `worker`), so the analysis
reads one file: intended-time latency and send lag of every client in one summary.

Every process is bounded in time: the master by `--expect-workers-max-wait`, `--run-time`
and `--stop-timeout`, a remote worker by coreutils `timeout`; whichever outlives its bound
is stopped by its PID (a local process through Popen, a remote one by the PID file it wrote).
"""

from __future__ import annotations

import csv
import json
import shlex
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.inventory import REPO
from harness.load_common import REMOTE_PYTHON, REMOTE_REPO, REMOTE_WORKDIR, watch
from harness.schedule import build

WORKERS_WAIT_S = 60  # the master gives up when the workers have not all connected by then
STOP_TIMEOUT_S = 5
GRACE_S = 30  # past its own bounds before a process is stopped by PID


@dataclass(frozen=True)
class Worker:
    """One load client: `name` is its `worker` column (the inventory host's name); `host` is
    the inventory Host it runs on over SSH, None for a process on this machine."""

    name: str
    host: Any = None
    clock_offset_s: float = 0.0  # its clock minus the controller's (harness/clocks.py)


def free_port(bind_host: str) -> int:
    """A TCP port free on bind_host now, for the master's worker channel."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((bind_host, 0))
        return int(s.getsockname()[1])


def _locust(python: str, repo: str | Path, cfg_path: str | Path, target: str) -> list[str]:
    return [python, "-m", "locust", "-f", str(Path(repo) / "harness" / "locustfile.py"),
            "--headless", "--only-summary", "--loglevel", "WARNING",
            "--host", f"http://{target}", "--load-config", str(cfg_path)]


def master_command(python: str, repo: str | Path, cfg_path: str | Path, target: str,
                   bind_host: str, port: int, workers: int, run_time_s: float) -> list[str]:
    """The master: one user per worker, all spawned at once; it sends nothing itself."""
    return _locust(python, repo, cfg_path, target) + [
        "--master", "--master-bind-host", bind_host, "--master-bind-port", str(port),
        "--expect-workers", str(workers), "--expect-workers-max-wait", str(WORKERS_WAIT_S),
        "-u", str(workers), "-r", str(workers),
        "--run-time", f"{int(run_time_s)}s", "--stop-timeout", str(STOP_TIMEOUT_S),
    ]


def worker_command(python: str, repo: str | Path, cfg_path: str | Path, target: str,
                   master_host: str, port: int) -> list[str]:
    return _locust(python, repo, cfg_path, target) + [
        "--worker", "--master-host", master_host, "--master-port", str(port)]


def worker_config(config: dict, worker: Worker, index: int, count: int, out: str) -> dict:
    """A worker's JSON: the run's config (harness/load.py load_config) and its share."""
    return {**config, "out": out, "role": "worker", "share": [index, count],
            "worker": worker.name, "clock_offset_s": worker.clock_offset_s}


def master_config(config: dict, workers: int, out: str, start_delay_s: float = 2.0) -> dict:
    """The master's JSON: how many `share_done` reports end the test; where to keep them.
    The start is start_delay_s after the test starts, room for the spawn messages."""
    return {**config, "out": out, "role": "master", "workers": workers,
            "start_delay_s": start_delay_s}


@dataclass
class Merged:
    """What merge_parts found: rows per worker, parts missing, packet IDs sent twice."""

    rows: dict[str, int]
    missing: list[str]
    duplicates: list[int]


def merge_parts(parts: dict[str, Path], out: Path) -> Merged:
    """The workers' client.csv parts -> one client.csv sorted by packet ID.

    Every part has the same header, ending in `worker`; a row whose `worker` is not its
    part's name is an error (a part fetched from the wrong host must not be merged). A part
    that is missing (its worker died) is reported, and the others are still merged."""
    header: list[str] | None = None
    rows: list[list[str]] = []
    counts: dict[str, int] = {}
    missing = []
    for name, path in parts.items():
        if not path.exists() or path.stat().st_size == 0:
            missing.append(name)
            continue
        with open(path, newline="") as fh:
            reader = csv.reader(fh)
            head = next(reader)
            if head[-1:] != ["worker"] or (header is not None and head != header):
                raise ValueError(f"{path}: header {head} is not a worker part's {header}")
            header = head
            mine = [r for r in reader if r]
        wrong = {r[-1] for r in mine} - {name}
        if wrong:
            raise ValueError(f"{path}: rows of worker(s) {sorted(wrong)} in {name}'s part")
        counts[name] = len(mine)
        rows += mine
    rows.sort(key=lambda r: int(r[0]))
    ids = [int(r[0]) for r in rows]
    dups = sorted({a for a, b in zip(ids, ids[1:], strict=False) if a == b})
    if header is not None:
        with open(out, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            writer.writerows(rows)
    return Merged(counts, missing, dups)


class _LocalWorker:
    """A worker process on this machine; its part is written straight into the run dir."""

    def __init__(self, worker: Worker, run_dir: Path) -> None:
        self.worker = worker
        self.run_dir = run_dir
        self.part = run_dir / f"client-{worker.name}.csv"
        self.proc: subprocess.Popen | None = None

    def prepare(self, config: dict, index: int, count: int) -> None:
        self.cfg = self.run_dir / f"load-{self.worker.name}.json"
        doc = worker_config(config, self.worker, index, count, str(self.part))
        self.cfg.write_text(json.dumps(doc, indent=2))

    def start(self, target: str, master_host: str, port: int, bound_s: float) -> None:
        cmd = worker_command(sys.executable, REPO, self.cfg, target, master_host, port)
        with open(self.run_dir / f"locust-{self.worker.name}.log", "wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def fetch(self, out) -> Path:
        return self.part


class _RemoteWorker:
    """A worker on an inventory host over SSH (Fabric), in a fresh `mktemp -d` folder there;
    its config goes up and its part and log come back by SFTP (a real Pi shares nothing)."""

    def __init__(self, worker: Worker, run_dir: Path) -> None:
        self.worker = worker
        self.run_dir = run_dir
        self.part = run_dir / f"client-{worker.name}.csv"
        self.thread: threading.Thread | None = None
        self.code: int | None = None

    def prepare(self, config: dict, index: int, count: int) -> None:
        from harness.cluster import connect, remote_mktemp

        with connect(self.worker.host, timeout_s=10) as c:
            self.remote = remote_mktemp(c, REMOTE_WORKDIR, directory=True)
            doc = worker_config(config, self.worker, index, count, f"{self.remote}/client.csv")
            local = self.run_dir / f"load-{self.worker.name}.json"
            local.write_text(json.dumps(doc, indent=2))
            c.put(str(local), f"{self.remote}/load.json")

    def line(self, target: str, master_host: str, port: int, bound_s: float) -> str:
        """`timeout` bounds the worker; its PID (the one `kill` is sent to) is in locust.pid."""
        q = shlex.quote(self.remote)
        cmd = worker_command(REMOTE_PYTHON, REMOTE_REPO, f"{self.remote}/load.json", target,
                             master_host, port)
        return (f"cd {shlex.quote(REMOTE_REPO)} && echo $$ > {q}/locust.pid && "
                f"exec timeout -k 5 {int(bound_s)} env PYTHONPATH={shlex.quote(REMOTE_REPO)} "
                + " ".join(shlex.quote(c) for c in cmd) + f" > {q}/locust.log 2>&1")

    def start(self, target: str, master_host: str, port: int, bound_s: float) -> None:
        from harness.cluster import connect

        line = self.line(target, master_host, port, bound_s)

        def work() -> None:
            with connect(self.worker.host, timeout_s=10) as c:
                res = c.run(f"bash -c {shlex.quote(line)}", hide=True, warn=True,
                            timeout=bound_s + GRACE_S)
                self.code = res.exited

        self.thread = threading.Thread(target=work, daemon=True)
        self.thread.start()

    def alive(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def stop(self) -> None:
        from harness.cluster import connect

        if not self.alive():
            return
        with connect(self.worker.host, timeout_s=10) as c:
            c.run(f"kill $(cat {shlex.quote(self.remote)}/locust.pid)", hide=True, warn=True,
                  timeout=20)
        self.thread.join(timeout=15)

    def fetch(self, out) -> Path:
        from harness.cluster import connect

        with connect(self.worker.host, timeout_s=10) as c:
            for name, dest in (("client.csv", self.part),
                               ("locust.log", self.run_dir / f"locust-{self.worker.name}.log")):
                try:
                    c.get(f"{self.remote}/{name}", str(dest))
                except OSError as exc:
                    out.write(f"warning: could not fetch {name} from {self.worker.name}: "
                              f"{exc}\n")
            c.run(f"rm -rf {shlex.quote(self.remote)}", hide=True, warn=True, timeout=20)
        return self.part


def run_distributed(config: dict, run_dir: Path, workers: list[Worker], bind_host: str,
                    progress=None, out=sys.stdout) -> int:
    """Run the schedule with a master here and `workers`; returns the master's exit code
    (0, or 1 when some requests failed; 2 when it had to be killed).

    Writes run_dir/client.csv (merged), client-<worker>.csv parts, load*.json, locust*.log
    and workers.json (what each worker reported to the master when its share was sent)."""
    if not workers:
        raise ValueError("distributed load needs at least one worker")
    names = [w.name for w in workers]
    if len(set(names)) != len(names):
        raise ValueError(f"worker names must be distinct, got {names}")
    sources = int(config.get("sources") or 1)
    if 1 < sources < len(workers):
        raise ValueError(f"each worker sends whole sources: {len(workers)} workers need at "
                         f"least as many sources, got {sources}")
    total_s = build(**config["schedule"]).total_s
    run_time_s = total_s + 30
    bound_s = WORKERS_WAIT_S + run_time_s + STOP_TIMEOUT_S + GRACE_S
    target = config["targets"][0]
    port = free_port(bind_host)
    handles = [(_LocalWorker if w.host is None else _RemoteWorker)(w, run_dir) for w in workers]
    for i, h in enumerate(handles):
        h.prepare(config, i, len(handles))
    cfg = run_dir / "load.json"
    cfg.write_text(json.dumps(master_config(config, len(workers),
                                            str(run_dir / "workers.json")), indent=2))
    cmd = master_command(sys.executable, REPO, cfg, target, bind_host, port, len(workers),
                         run_time_s)
    log = open(run_dir / "locust.log", "wb")  # noqa: SIM115 - closed below
    master = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    deadline = time.monotonic() + bound_s
    code = None
    try:
        for h in handles:
            h.start(target, bind_host, port, bound_s)

        def done() -> int | None:
            if master.poll() is not None:
                return master.returncode
            return 2 if time.monotonic() > deadline else None

        watch(done, progress, total_s, out)
        code = master.poll()
        # The master tells every worker to quit as it ends: give them a moment to go.
        until = time.monotonic() + STOP_TIMEOUT_S + 10
        while any(h.alive() for h in handles) and time.monotonic() < until:
            time.sleep(0.1)
    finally:
        if master.poll() is None:
            master.terminate()
            try:
                master.wait(timeout=15)
            except subprocess.TimeoutExpired:
                master.kill()
                master.wait(timeout=10)
        log.close()
        for h in handles:
            h.stop()
        parts = {h.worker.name: h.fetch(out) for h in handles}
    merged = merge_parts(parts, run_dir / "client.csv")
    for name in merged.missing:
        out.write(f"warning: load client {name} left no client.csv part; see "
                  f"{run_dir / f'locust-{name}.log'}\n")
    if merged.duplicates:
        out.write(f"warning: {len(merged.duplicates)} packet id(s) sent by more than one "
                  f"client: {merged.duplicates[:10]}\n")
    return 2 if code is None else code
