"""Drive one run's client load with Locust and show progress while it runs.

The load is open-loop (harness/locustfile.py): one user dispatches every frame of the
schedule (harness/schedule.py) at its intended time, whatever the replies do. Locust runs
on the controller (a child process) or, with `--client=<host>`, on a lab host or Pi over
SSH, with client.csv fetched back into the run directory. With `--clients=<h1>,<h2>` it
runs in Locust's distributed mode, each host sending its share (harness/load_dist.py).

Locust runs headless as a child process (its own gevent loop, its own core);
this process polls the nodes' `/stats` once a second for the progress line, so
what the user sees is what the nodes counted, not what the client hoped.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from harness.inventory import REPO
from harness.load_common import REMOTE_PYTHON, REMOTE_REPO, REMOTE_WORKDIR, watch
from harness.load_dist import Worker, run_distributed
from harness.nodeapi import try_stats
from harness.schedule import build, params_of
from harness.spec import RunSpec

# Frames that may wait for their replies at once (locustfile.py; not imported here: importing
# locust monkey-patches this process).
DEFAULT_MAX_IN_FLIGHT = 1000


@dataclass
class Progress:
    """Counts across the nodes at one moment."""

    sent: int = 0
    delivered: int = 0
    dropped: int = 0

    def line(self, elapsed_s: float, total_s: float, width: int = 30) -> str:
        frac = min(1.0, elapsed_s / total_s) if total_s > 0 else 1.0
        bar = "#" * int(frac * width) + "." * (width - int(frac * width))
        return (
            f"[{bar}] {elapsed_s:5.1f}/{total_s:.0f} s  sent {self.sent}  "
            f"delivered {self.delivered}  dropped {self.dropped}"
        )


def poll(entry: list[str], all_nodes: list[str], sink: str) -> Progress:
    """Sent = frames the entry nodes received, delivered = at the sink, dropped = anywhere."""
    p = Progress()
    for ep in all_nodes:
        stats = try_stats(ep)
        if not stats:
            continue
        if ep in entry:
            p.sent += int(stats.get("received", 0)) + sum(stats.get("rejected", {}).values())
        p.dropped += sum(stats.get("dropped", {}).values())
        if ep == sink:
            p.delivered = int(stats.get("received", 0))
    return p


def load_config(spec: RunSpec, targets: list[str], input_size: int, out: str,
                max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
                links: dict[str, dict] | None = None) -> dict:
    """The JSON the locustfile reads: schedule parameters (a pure function of the spec),
    the data sources (each that schedule, source i sent to targets[i]), frame seed, targets,
    where to write client.csv, and the client's links per target (`--link=client-ENTRY:NAME`,
    emulated by the load client; omitted when none)."""
    return {
        "schedule": params_of(spec), "sources": spec.sources, "frame_seed": spec.seed,
        "input_size": input_size, "targets": targets, "out": out,
        "max_in_flight": max_in_flight,
    } | ({"links": links} if links else {})


def locust_command(python: str, repo: str | Path, cfg_path: str | Path, host: str,
                   run_time_s: float) -> list[str]:
    return [
        python, "-m", "locust", "-f", str(Path(repo) / "harness" / "locustfile.py"),
        "--headless", "--only-summary", "--loglevel", "WARNING",
        "-u", "1", "-r", "1", "--host", f"http://{host}",
        "--run-time", f"{int(run_time_s)}s", "--stop-timeout", "5",
        "--load-config", str(cfg_path),
    ]


def run_load(config: dict, run_dir: Path, progress=None, out=sys.stdout,
             total_s: float | None = None) -> int:
    """Run Locust on this machine with `config` (see load_config); returns its exit code.

    Writes run_dir/load.json and run_dir/locust.log; client.csv goes where config says.
    `progress(elapsed_s) -> str` is called about once a second for the progress line.
    """
    if total_s is None:
        total_s = build(**config["schedule"]).total_s
    cfg_path = run_dir / "load.json"
    cfg_path.write_text(json.dumps(config, indent=2))
    cmd = locust_command(sys.executable, REPO, cfg_path, config["targets"][0], total_s + 30)
    log = open(run_dir / "locust.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    try:
        watch(proc.poll, progress, total_s, out)
    except KeyboardInterrupt:
        proc.terminate()
        proc.wait(timeout=15)
        raise
    finally:
        log.close()
        if proc.poll() is None:
            proc.kill()
    return proc.returncode


def run_locust(
    spec: RunSpec, targets: list[str], input_size: int, run_dir: Path,
    node_endpoints: list[str], sink_endpoint: str, out=sys.stdout, client=None,
    clients: list | None = None, master_host: str = "", clock_offsets: dict | None = None,
    client_links: dict[str, dict] | None = None,
) -> int:
    """Run the schedule to its end; returns Locust's exit code (1 = some requests failed).

    client: None = Locust on this machine; a Host = Locust on that host over SSH, its
    client.csv and log fetched back into run_dir (see run_remote).
    clients: several Hosts (`--clients`): Locust's distributed mode, the master here bound to
    master_host, a worker on each host (harness/load_dist.py); clock_offsets: each worker's
    clock minus the controller's, s, by host name.
    client_links: per target, the `client-ENTRY` link the load client emulates.
    """
    def progress(elapsed: float, total: float) -> str:
        return poll(targets, node_endpoints, sink_endpoint).line(elapsed, total)

    if clients:
        config = load_config(spec, targets, input_size, str(run_dir / "client.csv"),
                             links=client_links)
        offsets = clock_offsets or {}
        workers = [Worker(h.name, h, offsets.get(h.name, 0.0)) for h in clients]
        return run_distributed(config, run_dir, workers, master_host, progress, out)
    if client is None:
        config = load_config(spec, targets, input_size, str(run_dir / "client.csv"),
                             links=client_links)
        return run_load(config, run_dir, progress, out)
    return run_remote(client, spec, targets, input_size, run_dir, progress, out,
                      links=client_links)


def remote_locust_line(remote: str, target: str, total_s: float) -> str:
    """The shell line that runs Locust in the remote work dir `remote` (from mktemp -d),
    recording its pid for Ctrl-C and its output in locust.log there."""
    q = shlex.quote(remote)
    cmd = locust_command(REMOTE_PYTHON, REMOTE_REPO, f"{remote}/load.json", target,
                         total_s + 30)
    return (f"cd {shlex.quote(REMOTE_REPO)} && echo $$ > {q}/locust.pid && "
            f"exec env PYTHONPATH={shlex.quote(REMOTE_REPO)} "
            + " ".join(shlex.quote(c) for c in cmd) + f" > {q}/locust.log 2>&1")


def run_remote(host, spec: RunSpec, targets: list[str], input_size: int, run_dir: Path,
               progress=None, out=sys.stdout, links: dict[str, dict] | None = None) -> int:
    """Run Locust on an inventory host over Fabric, then fetch client.csv and the log.

    The remote work dir is a new `mktemp -d` folder (0700) on the host, /tmp/dnn-load.XXXX;
    nothing there is assumed to be shared with the controller (a real Pi shares nothing), so
    files go both ways by SFTP.
    Intended and sink times then come from two clocks: fine in the lab (one kernel), on
    real Pis the clocks must be synchronised (NTP/PTP) or latency carries their offset.
    """
    from harness.cluster import connect, remote_mktemp

    with connect(host, timeout_s=10) as c:
        remote = remote_mktemp(c, REMOTE_WORKDIR, directory=True)
    config = load_config(spec, targets, input_size, f"{remote}/client.csv", links=links)
    total_s = build(**config["schedule"]).total_s
    (run_dir / "load.json").write_text(json.dumps(config, indent=2))
    line = remote_locust_line(remote, targets[0], total_s)
    q = shlex.quote(remote)
    result: dict = {}

    def work() -> None:
        with connect(host, timeout_s=10) as c:
            res = c.run(f"bash -c {shlex.quote(line)}", hide=True, warn=True,
                        timeout=total_s + 90)
            result["code"] = res.exited

    with connect(host, timeout_s=10) as c:
        c.put(str(run_dir / "load.json"), f"{remote}/load.json")
    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    try:
        watch(lambda: None if worker.is_alive() else 0, progress, total_s, out)
    except KeyboardInterrupt:
        with connect(host, timeout_s=10) as c:
            c.run(f"kill $(cat {q}/locust.pid)", hide=True, warn=True, timeout=20)
        worker.join(timeout=15)
        raise
    finally:
        with connect(host, timeout_s=10) as c:
            for name in ("client.csv", "locust.log"):
                try:
                    c.get(f"{remote}/{name}", str(run_dir / name))
                except OSError as exc:
                    out.write(f"warning: could not fetch {name} from {host.name}: {exc}\n")
            c.run(f"rm -rf {q}", hide=True, warn=True, timeout=20)
    return int(result.get("code", 2))
