"""The emulation checks itself, on real nodes over loopback (issue 14).

A node whose profile is faster than the host's own numpy compute cannot keep to it: it
must say so (/stats `overruns`, `overrun` trace rows) and the run's summary and warnings
must say so too; a node whose profile leaves room for the compute counts none. The run
directory is assembled from the nodes' own traces and the test's own client log, and read
by the same analysis every run goes through.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import test_node_app
from test_node_app import (
    CapturingSink,
    read_trace,
    reference,
    request,
    send_frame,
    wait_for,
    write_stage,
)
from test_parallel_node import hop, node

from harness.analysis import load_run, summarize

start = test_node_app.start  # the fixture that starts NodeServers in threads
RNG = np.random.default_rng(14)
N_IN, N_OUT = 3000, 4000  # 48 MB of weights: several ms of numpy per frame on any host
BIG = 1 << 20


def dense_entry(ms: float, shape: tuple[int, int] = (N_IN, N_OUT),
                extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """A profile entry (profiles.json format) pricing one dense shape at `ms`."""
    return {"basis": "test profile", "dense_ms": {f"{shape[0]}x{shape[1]}": ms},
            "dense_fit": {"fixed_ms": 0.0, "ms_per_mac": 0.0}, **(extra or {})}


def big_layers() -> list[tuple[np.ndarray, np.ndarray, str]]:
    kernel = (RNG.standard_normal((N_IN, N_OUT)) / np.sqrt(N_IN)).astype(np.float32)
    return [(kernel, RNG.standard_normal(N_OUT).astype(np.float32), "relu")]


@dataclass
class Process:
    """A node_app started as its own process (`python -m node_app`), as on a lab host: a
    node whose timing is checked must not share a GIL with the test's other nodes."""

    proc: subprocess.Popen
    port: int
    trace_path: Path

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(timeout=10) == 0


def start_process(node_file: Path) -> Process:
    port = json.loads(node_file.read_text())["port"]
    env = {**os.environ, "PYTHONPATH": str(test_node_app.REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "node_app", "--config", str(node_file)],
                            cwd=node_file.parent, env=env, stderr=subprocess.DEVNULL)

    def healthy() -> bool:
        try:
            return request(port, "GET", "/health")[0] == 200
        except OSError:
            return False

    if not wait_for(healthy, 30):
        proc.kill()
        raise AssertionError(f"node {node_file} did not start")
    return Process(proc, port, node_file.parent / "traces" / "r1.csv")


def write_run(root: Path, nodes: list[tuple[str, str, Any]], sent: list[tuple[int, float]],
              profiles: dict[str, Any], extra: dict[str, Any] | None = None) -> Path:
    """runs/<id>/ from real traces: `nodes` (name, role, Running) in pipeline order ending
    with the sink, `sent` the test client's (packet id, send time), every frame measured."""
    run_dir = root / "run"
    (run_dir / "traces").mkdir(parents=True)
    t0 = sent[0][1]
    spec = {"run_id": "r1", "strategy": "baseline", "rate_fps": 10.0, "duration_s": 1.0,
            "warmup_s": 0.0, "started_at": t0 - 0.001, "profiles": profiles,
            "profile": ",".join(sorted(profiles)),
            "nodes": [{"name": n, "role": r, "profile": p}
                      for (n, r, _), p in zip(nodes, [*profiles, "native"], strict=False)],
            **(extra or {})}
    (run_dir / "spec.json").write_text(json.dumps(spec))
    with (run_dir / "client.csv").open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["packet_id", "phase", "intended_t", "sent_t", "status", "accepted",
                    "overloaded", "queue_depth", "reply_ms", "target"])
        for pid, t in sent:
            w.writerow([pid, "measure", f"{t:.6f}", f"{t:.6f}", 200, 1, 0, 0, 1.0, "A"])
    for name, _role, running in nodes:
        running.stop()
        shutil.copy(running.trace_path, run_dir / "traces" / f"{name}.csv")
    return run_dir


def test_a_profile_faster_than_the_host_counts_overruns_and_the_summary_warns(
        tmp_path: Path, start) -> None:
    layers = big_layers()
    write_stage(tmp_path / "S.npz", layers)
    sink = start(test_node_app.write_configs(tmp_path, "sink", stages=[], next_hops=[],
                                             input_size=8, max_body_bytes=BIG),
                 CapturingSink)
    small = [(RNG.standard_normal((N_OUT, 8)).astype(np.float32), np.zeros(8, np.float32),
              "linear")]
    write_stage(tmp_path / "S2.npz", small)
    fast, slow = dense_entry(0.01), dense_entry(40.0, (N_OUT, 8))
    b = start_process(node(tmp_path, "B", tmp_path, {"profile": "slow", "profile_entry": slow},
                           stages=["S2"], next_hops=[hop(sink)], input_size=N_OUT,
                           max_body_bytes=BIG, queue_size=30, port=test_node_app.free_port()))
    a = start(node(tmp_path, "A", tmp_path, {"profile": "fast", "profile_entry": fast},
                   stages=["S"], next_hops=[f"127.0.0.1:{b.port}"], input_size=N_IN,
                   max_body_bytes=BIG, queue_size=30))
    xs = [RNG.standard_normal(N_IN).astype(np.float32) for _ in range(12)]
    sent = []
    for pid, x in enumerate(xs):
        sent.append((pid, time.time()))
        status, reply = send_frame(a.port, pid, x)
        assert status == 200 and reply["accepted"], reply
        time.sleep(0.045)  # B (40 ms) keeps up: nothing queues behind it
    assert wait_for(lambda: len(sink.server.frames) == len(xs), 30)
    for pid, x in enumerate(xs):  # the numbers are still right, only the timing is off
        np.testing.assert_allclose(sink.server.frames[pid], reference(reference(x, layers), small),
                                   rtol=1e-4, atol=1e-4)

    stats_a = request(a.port, "GET", "/stats")[1]
    stats_b = request(b.port, "GET", "/stats")[1]
    assert stats_a["overruns"] == len(xs), stats_a
    assert stats_b["overruns"] == 0, stats_b
    run_dir = write_run(tmp_path, [("A", "A", a), ("B", "B", b), ("sink", "sink", sink)],
                        sent, {"fast": fast, "slow": slow})
    rows = read_trace(run_dir / "traces" / "A.csv")
    over = [r for r in rows if r["event"] == "overrun"]
    assert len(over) == len(xs)
    service, profile = (float(v) for v in over[0]["detail"].split(":"))
    assert profile == 0.01 and service > 0.01
    assert not [r for r in read_trace(run_dir / "traces" / "B.csv") if r["event"] == "overrun"]

    summary = summarize(load_run(run_dir))
    na, nb = summary["nodes"]["A"], summary["nodes"]["B"]
    assert na["overruns"] == len(xs) and nb["overruns"] == 0
    assert na["service_error"] > 10  # its frames took 100s of times the 0.01 ms profiled
    # B's drift is the host's wake-up latency: a few % on an idle host, more on a busy
    # one (then the summary rightly warns), never near A's.
    assert nb["service_error"] is not None and abs(nb["service_error"]) < 1.0, nb
    warned = [w for w in summary["warnings"] if w.startswith("node ")]
    assert any("node A:" in w and "overran the profile time" in w for w in warned), warned
    assert any("node A:" in w and "differs from the profile's" in w for w in warned), warned
    assert not [w for w in warned if "node B:" in w and "overran" in w], warned
    # A profile too fast for the box voids the run (issue 17): the monitor names the node.
    assert summary["fidelity"]["ok"] is False
    assert summary["invalid"].startswith("emulation fidelity: "), summary["invalid"]
    assert "on A (more than 5%): it did not emulate its profile" in summary["invalid"]


PCTS = {"50": 10.0, "90": 15.0, "99": 25.0}


def test_a_node_draws_its_service_times_from_the_profiles_distribution(
        tmp_path: Path, start) -> None:
    """Profile `stage_ms` percentiles: over many frames the node's drawn service-time
    p50/p90/p99 are within 5 % of the profile's, and it waits each one out (measured,
    started to finished, never shorter)."""
    layers = [(RNG.standard_normal((16, 8)).astype(np.float32),
               RNG.standard_normal(8).astype(np.float32), "relu")]
    write_stage(tmp_path / "S.npz", layers)
    entry = dense_entry(1.0, (16, 8), {"stage_ms": {"S": {"percentiles": PCTS}}})
    n = 600
    a = start_process(node(tmp_path, "A", tmp_path, {"profile": "dist", "profile_entry": entry,
                                                     "seed": 3},
                           stages=["S"], next_hops=[], input_size=16, queue_size=n,
                           port=test_node_app.free_port()))
    try:
        for pid in range(n):
            status, reply = send_frame(a.port, pid, RNG.standard_normal(16).astype(np.float32))
            assert status == 200 and reply["accepted"], reply
        assert wait_for(lambda: request(a.port, "GET", "/stats")[1]["processed"] == n, 60)
        # A frame whose compute the busy host delayed past its (small) drawn time is an
        # overrun, counted as such; the emulation holds when that stays rare (the suite's
        # other lane ran beside this once and one frame of 600 overran).
        assert request(a.port, "GET", "/stats")[1]["overruns"] <= n // 100
    finally:
        a.stop()
    rows = read_trace(a.trace_path)
    started = {r["packet_id"]: float(r["t"]) for r in rows if r["event"] == "started"}
    fin = [r for r in rows if r["event"] == "finished"]
    drawn = np.array([float(r["detail"].split(":")[1]) for r in fin])
    measured = np.array([(float(r["t"]) - started[r["packet_id"]]) * 1000.0 for r in fin])
    # drawn, not one constant (half sit at the flat part below p50, 10 ms)
    assert len(drawn) == n and len(set(drawn.round(2))) > n / 4
    for q, want in PCTS.items():
        assert np.percentile(drawn, float(q)) == pytest.approx(want, rel=0.05), q
        # The node never finishes early; how late it wakes is this host's load (1 ms and
        # more on this shared 2-core machine), so the 5 % check of measured percentiles
        # belongs to the lab, where each node has its own cores (not written yet).
        assert np.percentile(measured, float(q)) >= np.percentile(drawn, float(q)) - 0.05, q
