"""Drive one run's client load with Locust and show progress while it runs.

Locust runs headless as a child process (its own gevent loop, its own core);
this process polls the nodes' `/stats` once a second for the progress line, so
what the user sees is what the nodes counted, not what the client hoped.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from harness.inventory import REPO
from harness.nodeapi import try_stats
from harness.spec import RunSpec


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


def users_for(rate_fps: float) -> int:
    """Enough users that a reply slower than 100 ms never delays the next frame."""
    return max(4, min(200, math.ceil(rate_fps * 0.1) + 2))


def run_locust(
    spec: RunSpec, targets: list[str], input_size: int, run_dir: Path,
    node_endpoints: list[str], sink_endpoint: str, out=sys.stdout,
) -> int:
    """Run the schedule to its end; returns Locust's exit code (1 = some requests failed)."""
    config = {
        "rate_fps": spec.rate_fps, "warmup_frames": spec.warmup_frames,
        "measure_frames": spec.measure_frames, "seed": spec.seed, "input_size": input_size,
        "targets": targets, "out": str(run_dir / "client.csv"),
    }
    cfg_path = run_dir / "load.json"
    cfg_path.write_text(json.dumps(config, indent=2))
    total_s = spec.warmup_s + spec.duration_s
    users = users_for(spec.rate_fps)
    cmd = [
        sys.executable, "-m", "locust", "-f", str(REPO / "harness" / "locustfile.py"),
        "--headless", "--only-summary", "--loglevel", "WARNING",
        "-u", str(users), "-r", str(users * 10), "--host", f"http://{targets[0]}",
        "--run-time", f"{int(total_s + 30)}s", "--stop-timeout", "5",
        "--load-config", str(cfg_path),
    ]
    log = open(run_dir / "locust.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    started = time.monotonic()
    tty = out.isatty()
    last_print = 0.0
    try:
        while proc.poll() is None:
            time.sleep(1.0)
            elapsed = time.monotonic() - started
            line = poll(targets, node_endpoints, sink_endpoint).line(elapsed, total_s + 1)
            if tty:
                out.write("\r" + line)
                out.flush()
            elif elapsed - last_print >= 5:
                out.write(line + "\n")
                last_print = elapsed
    except KeyboardInterrupt:
        proc.terminate()
        proc.wait(timeout=15)
        raise
    finally:
        log.close()
        if proc.poll() is None:
            proc.kill()
    if tty:
        out.write("\n")
    return proc.returncode
