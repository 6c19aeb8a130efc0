"""Benchmark: how long `load_run` + `summarize` take on a large synthetic run.

A real experiment at a few hundred frames/s for an hour yields about a million packets and
several million trace rows; the analysis must stay interactive at that size. This module
writes such a run (baseline shape: client -> A -> B -> sink, B dropping a share of frames
with `queue_full`) into a temporary directory and times the analysis only (not the writing).

Run: `.venv/bin/python bench/bench_analysis.py [n_packets]`; prints one JSON object.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.analysis import load_run, summarize  # noqa: E402

TRACE_HEADER = "t,packet_id,node,event,detail"


def _write_csv(args: tuple[str, pd.DataFrame]) -> None:
    """Write one trace/client file; a top-level function so a process pool can run it."""
    path, frame = args
    frame.to_csv(path, index=False, float_format="%.6f")


def _node_events(
    node: str, pid: np.ndarray, arrive: np.ndarray, service_s: float, rng: np.random.Generator
) -> tuple[pd.DataFrame, np.ndarray]:
    """Events of a single-worker stage node for frames arriving at `arrive`.

    Returns the trace and the time each frame leaves (forwarded), so the next hop can follow.
    """
    n = len(pid)
    depth = rng.integers(1, 5, n)
    started = arrive + 0.0002
    finished = started + service_s
    forwarded = finished + 0.0001
    real_ms = np.round(rng.uniform(0.1, 0.5, n), 3).astype(str)
    detail_fin = np.char.add(np.char.add(real_ms, ":"), f"{service_s * 1000:.3f}")
    t = np.concatenate([arrive, started, finished, forwarded])
    ev = np.repeat(np.array(["received", "started", "finished", "forwarded"]), n)
    detail = np.concatenate(
        [depth.astype(str), (depth - 1).astype(str), detail_fin, np.full(n, "198.18.0.12:12345")]
    )
    frame = pd.DataFrame(
        {"t": t, "packet_id": np.tile(pid, 4), "node": node, "event": ev, "detail": detail}
    )
    return frame, forwarded


def write_synthetic_run(
    run_dir: Path,
    n_packets: int = 1_000_000,
    rate_fps: float = 500.0,
    drop_share_b: float = 0.1,
    warmup_packets: int = 1000,
    seed: int = 1,
) -> dict:
    """Write a baseline-shaped run with `n_packets` measure frames; return its spec.

    run_dir: directory to create (spec.json, client.csv, traces/{A,B,sink}.csv).
    drop_share_b: share of frames B drops with `queue_full` (they only get a `dropped` row).
    """
    rng = np.random.default_rng(seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "traces").mkdir(exist_ok=True)
    total = warmup_packets + n_packets
    t0 = 1_800_000_000.0
    pid = np.arange(total, dtype=np.int64)
    intended = t0 + pid / rate_fps
    sent = intended + rng.uniform(0, 0.002, total)
    service_s = 0.5 / rate_fps
    a_frame, a_out = _node_events("A", pid, sent + 0.0005, service_s, rng)
    drop = rng.random(total) < drop_share_b
    b_pid, b_arr = pid[~drop], a_out[~drop] + 0.0005
    b_frame, b_out = _node_events("B", b_pid, b_arr, service_s, rng)
    b_drop = pd.DataFrame(
        {"t": a_out[drop] + 0.0005, "packet_id": pid[drop], "node": "B", "event": "dropped",
         "detail": "queue_full"}
    )
    b_frame = pd.concat([b_frame, b_drop], ignore_index=True)
    sink = pd.DataFrame(
        {"t": b_out + 0.0005, "packet_id": b_pid, "node": "sink", "event": "received", "detail": ""}
    )
    client = pd.DataFrame(
        {
            "packet_id": pid,
            "phase": np.where(pid < warmup_packets, "warmup", "measure"),
            "intended_t": intended,
            "sent_t": sent,
            "status": 200,
            "accepted": 1,
            "overloaded": 0,
            "queue_depth": rng.integers(0, 5, total),
            "reply_ms": np.round(rng.uniform(0.5, 2.0, total), 3),
            "target": "198.18.0.11:12345",
        }
    )
    jobs = [(str(run_dir / "client.csv"), client)]
    for name, frame in (("A", a_frame), ("B", b_frame), ("sink", sink)):
        ordered = frame.sort_values("t", kind="stable")
        jobs.append((str(run_dir / "traces" / f"{name}.csv"), ordered))
    with ProcessPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        list(pool.map(_write_csv, jobs))
    spec = {
        "run_id": run_dir.name,
        "strategy": "baseline",
        "rate_fps": rate_fps,
        "duration_s": n_packets / rate_fps,
        "warmup_s": warmup_packets / rate_fps,
        "profile": "zero",
        "capacity_fps": rate_fps * 2,
        "nodes": [
            {"name": "A", "role": "A", "stages": ["L1"], "address": "198.18.0.11:12345"},
            {"name": "B", "role": "B", "stages": ["L2"], "address": "198.18.0.12:12345"},
            {"name": "sink", "role": "sink", "stages": [], "address": "198.18.0.1:12345"},
        ],
        "started_at": t0,
        "git_commit": "synthetic",
        "versions": {"numpy": np.__version__, "pandas": pd.__version__},
    }
    (run_dir / "spec.json").write_text(json.dumps(spec, indent=2))
    return spec


def bench_analysis(n_packets: int = 1_000_000) -> dict:
    """Write a synthetic run of `n_packets` measure frames and time load_run + summarize.

    Returns seconds for each step and the total, plus the row counts that were analysed.
    """
    with tempfile.TemporaryDirectory(prefix="bench-analysis-") as tmp:
        run_dir = Path(tmp) / "bench-run"
        t_write = time.perf_counter()
        write_synthetic_run(run_dir, n_packets=n_packets)
        write_s = time.perf_counter() - t_write
        t0 = time.perf_counter()
        run = load_run(run_dir)
        t1 = time.perf_counter()
        summary = summarize(run)
        t2 = time.perf_counter()
        return {
            "bench": "analysis",
            "n_packets": n_packets,
            "client_rows": int(len(run.client)),
            "trace_rows": int(len(run.events)),
            "load_s": round(t1 - t0, 3),
            "summarize_s": round(t2 - t1, 3),
            "total_s": round(t2 - t0, 3),
            "write_s": round(write_s, 3),
            "coverage": summary["coverage"],
            "lost_unaccounted": summary["lost_unaccounted"],
            "cpus": os.cpu_count(),
            "versions": {"pandas": pd.__version__, "pyarrow": pa.__version__},
        }


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    print(json.dumps(bench_analysis(n), indent=2))
