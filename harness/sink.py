"""The end node of every pipeline, run on the controller.

It is node_app in the sink role (no stages, no next hop), started as a local
process so its arrival times share the load generator's clock: latency is then
sink arrival minus the client's intended send time, with no clock skew.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from harness.inventory import NODE_PORT, REPO
from harness.nodeapi import get_json


class Sink:
    """A node_app sink process for one run; `stop()` flushes and collects its trace."""

    KEEP_OUTPUTS = 50  # frames whose output the controller checks against the model

    def __init__(self, address: str, run_id: str, run_dir: Path, input_size: int = 2000,
                 extra: dict | None = None, peers: list[str] | None = None) -> None:
        self.address = address
        self.run_id = run_id
        self.dir = run_dir / "sink"
        self.trace_dir = self.dir / "traces"
        self.input_size = input_size
        self.extra = dict(extra or {})  # further run.json fields, e.g. mp's `slices: K`
        # Who may send frames here (Plan.peers_of): the sink runs strict_peers like every node.
        self.peers = list(peers or [])
        self.outputs_file = self.dir / "outputs.npz"
        self.proc: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"{self.address}:{NODE_PORT}"

    def write_configs(self) -> Path:
        """run.json and node.json (mode 0600, as Ansible writes a node's) in the sink's
        folder; the node.json path. strict_peers is on: frames only from `peers`."""
        self.trace_dir.mkdir(parents=True, exist_ok=True)
        run_file = self.dir / "run.json"
        run_file.write_text(json.dumps({
            "run_id": self.run_id, "stages": [], "next_hops": [],
            "queue_size": 1, "max_body_bytes": max(1 << 20, 8 * self.input_size),
            "input_size": self.input_size,
            "keep_outputs": self.KEEP_OUTPUTS, "outputs_file": str(self.outputs_file),
            "peers": self.peers, **self.extra,
        }))
        config = self.dir / "node.json"
        write_private(config, json.dumps({
            "node": "sink", "bind": self.address, "port": NODE_PORT,
            "profile": "native", "stages_dir": str(self.dir), "trace_dir": str(self.trace_dir),
            "run_file": str(run_file), "strict_peers": True,
        }))
        return config

    def start(self, timeout_s: float = 10.0) -> None:
        config = self.write_configs()
        env = dict(os.environ, PYTHONPATH=str(REPO))
        log = open(self.dir / "sink.log", "ab")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "node_app", "--config", str(config)],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"sink exited with {self.proc.returncode} at start; see {self.dir}/sink.log"
                    f" (is {self.address} on this machine? for the lab: `fab lab-up`)"
                )
            try:
                if get_json(self.endpoint, "/health").get("run_id") == self.run_id:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"sink did not answer on {self.endpoint} within {timeout_s} s")

    def stop(self) -> Path:
        """SIGTERM (the node flushes its trace), then the trace's path."""
        if self.proc:
            terminate(self.proc)
        return self.trace_dir / f"{self.run_id}.csv"


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path` readable by its owner only (0600), also when it existed with
    a wider mode: the file is never world-readable, not even for a moment."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        os.fchmod(f.fileno(), 0o600)
        f.write(text)


def terminate(proc: subprocess.Popen, timeout_s: float = 10.0) -> None:
    """Stop a node_app we started: SIGTERM so it flushes its trace, SIGKILL if it hangs."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
