"""Bench of the load generator itself (no lab needed): is the offered rate what was asked?

A node_app on 127.0.0.1 with the `zero` profile and one small stage (100 float inputs, so
400-byte frames) and no next hop answers every frame; Locust (harness/load.py, the same
code path as `fab experiment`) sends constant arrivals at 10, 30, 100 and 300 fps for 30 s
each. Per rate: achieved send rate (measure frames, first to last actual send) against the
target (goal ±1 %), and send lag = actual - intended send time, p50/p99/max (goal p99 <
2 ms at 100 fps, < 5 ms at 300 fps on the 2-core box). Node, Locust and this process share
the machine's cores, as in the lab.

    .venv/bin/python -m bench.bench_load [--duration 30] [--rates 10,30,100,300] [--write]

`make bench` runs it as the `load` section of bench/results.json; `--write` puts this
section alone into results.json, keeping the other sections.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd

from harness.inventory import REPO
from harness.load import DEFAULT_MAX_IN_FLIGHT, run_load
from harness.sink import terminate

RESULTS = Path(__file__).resolve().parent / "results.json"
RATES = [10, 30, 100, 300]
DURATION_S = 30.0
WARMUP_S = 2.0
GOALS = {"rate_tolerance": 0.01, "lag_p99_ms": {100: 2.0, 300: 5.0}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalNode:
    """node_app as a child process on 127.0.0.1 (its own interpreter, as on a Pi).

    stages: list of (name, kernel in x out); empty + no next hop = a sink.
    profile: device profile name; `zero` waits for nothing.
    """

    def __init__(self, workdir: Path, name: str = "n1", input_size: int = 100,
                 stages: list[tuple[str, int, int]] | None = None, profile: str = "zero",
                 queue_size: int = 5, run_id: str = "bench") -> None:
        self.dir = Path(workdir) / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.name = name
        self.run_id = run_id
        stages = [("S1", input_size, 10)] if stages is None else stages
        rng = np.random.default_rng(0)
        for sname, n_in, n_out in stages:
            np.savez(self.dir / f"{sname}.npz",
                     kernel_0=rng.random((n_in, n_out), dtype=np.float32),
                     bias_0=np.zeros(n_out, dtype=np.float32), activation_0=np.array("relu"))
        run_file = self.dir / "run.json"
        run_file.write_text(json.dumps({
            "run_id": run_id, "stages": [s[0] for s in stages], "next_hops": [],
            "queue_size": queue_size, "max_body_bytes": 1 << 20, "input_size": input_size,
            "peers": ["127.0.0.1"],  # strict_peers is on by default, as on a real node
        }))
        self.config = self.dir / "node.json"
        self.config.write_text(json.dumps({
            "node": name, "bind": "127.0.0.1", "port": self.port,
            "profile": profile, "stages_dir": str(self.dir),
            "trace_dir": str(self.dir / "traces"), "run_file": str(run_file),
        }))
        self.proc: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def trace(self) -> Path:
        return self.dir / "traces" / f"{self.run_id}.csv"

    def __enter__(self) -> LocalNode:
        log = open(self.dir / "node.log", "ab")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "node_app", "--config", str(self.config)],
            stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
            env=dict(os.environ, PYTHONPATH=str(REPO)))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"node exited: {(self.dir / 'node.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://{self.endpoint}/health", timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        self.__exit__()
        raise RuntimeError(f"node did not answer on {self.endpoint}")

    def __exit__(self, *_exc) -> None:
        if self.proc:
            terminate(self.proc)


def send_stats(client_csv: Path, target_fps: float) -> dict:
    """Achieved send rate and send lag of the measure frames of one client.csv."""
    c = pd.read_csv(client_csv)
    m = c[c["phase"] == "measure"].sort_values("packet_id")
    sent = np.sort(m["sent_t"].to_numpy(float))
    lag = (m["sent_t"] - m["intended_t"]).to_numpy(float) * 1000.0
    achieved = (len(sent) - 1) / (sent[-1] - sent[0]) if len(sent) > 1 else float("nan")
    return {
        "target_fps": target_fps,
        "frames": int(len(m)),
        "achieved_fps": round(float(achieved), 4),
        "rate_error": round(float(achieved / target_fps - 1.0), 5),
        "lag_ms": {"p50": round(float(np.percentile(lag, 50)), 3),
                   "p99": round(float(np.percentile(lag, 99)), 3),
                   "max": round(float(lag.max()), 3),
                   "min": round(float(lag.min()), 3)},
        "replies_ok": int((m["status"] == 200).sum()),
        "reply_ms_p99": round(float(m["reply_ms"].quantile(0.99)), 3),
    }


def run_rate(rate: float, duration_s: float, workdir: Path, node: LocalNode,
             arrival: str = "constant", max_in_flight: int = DEFAULT_MAX_IN_FLIGHT) -> dict:
    run_dir = workdir / f"r{rate:g}"
    run_dir.mkdir(parents=True, exist_ok=True)
    config = {
        "schedule": {"arrival": arrival, "seed": 0, "rate_fps": float(rate),
                     "warmup_s": WARMUP_S, "duration_s": float(duration_s)},
        "frame_seed": 0, "input_size": 100, "targets": [node.endpoint],
        "out": str(run_dir / "client.csv"), "max_in_flight": max_in_flight,
    }
    code = run_load(config, run_dir, out=open(os.devnull, "w"))  # noqa: SIM115
    if not (run_dir / "client.csv").exists():
        raise RuntimeError(f"locust exited {code} without client.csv: "
                           f"{(run_dir / 'locust.log').read_text()[-2000:]}")
    stats = send_stats(run_dir / "client.csv", rate)
    stats["locust_exit"] = code
    return stats


def check(points: list[dict]) -> dict:
    """Pass/fail of each goal, with the numbers (never loosened to pass)."""
    out = {}
    for p in points:
        r = int(p["target_fps"])
        ok_rate = abs(p["rate_error"]) <= GOALS["rate_tolerance"]
        out[f"rate_{r}"] = ok_rate
        out[f"replies_ok_{r}"] = p["replies_ok"] == p["frames"]  # every frame answered 200
        if r in GOALS["lag_p99_ms"]:
            out[f"lag_p99_{r}"] = p["lag_ms"]["p99"] < GOALS["lag_p99_ms"][r]
    return out


def bench_load(rates: list[float] | None = None, duration_s: float = DURATION_S) -> dict:
    rates = rates or RATES
    points = []
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        work = Path(tmp)
        for i, rate in enumerate(rates):
            # A fresh node per rate: packet ids restart at 0 and a node rejects an id it
            # has already seen (duplicate_packet_id), as it should within one run.
            with LocalNode(work, name=f"n{i}", input_size=100, stages=[("S1", 100, 10)],
                           run_id=f"bench-{i}") as node:
                print(f"  load at {rate:g} fps for {duration_s:g} s ...", flush=True)
                p = run_rate(rate, duration_s, work, node)
                print(f"    achieved {p['achieved_fps']:.3f} fps ({100 * p['rate_error']:+.3f} %),"
                      f" lag p50/p99/max {p['lag_ms']['p50']:.3f}/{p['lag_ms']['p99']:.3f}/"
                      f"{p['lag_ms']['max']:.3f} ms", flush=True)
                points.append(p)
    return {
        "bench": "load", "node": "node_app zero profile, one 100x10 stage, no next hop",
        "frame_bytes": 400, "arrival": "constant", "duration_s": duration_s,
        "warmup_s": WARMUP_S, "cpus": os.cpu_count(), "points": points,
        "goals": {"rate_tolerance": GOALS["rate_tolerance"],
                  "lag_p99_ms": {str(k): v for k, v in GOALS["lag_p99_ms"].items()}},
        "passed": check(points),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=DURATION_S)
    ap.add_argument("--rates", default=",".join(str(r) for r in RATES))
    ap.add_argument("--write", action="store_true", help="store as results.json's `load`")
    args = ap.parse_args()
    result = bench_load([float(r) for r in args.rates.split(",")], args.duration)
    result["measured"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    print(json.dumps(result, indent=2))
    if args.write:
        doc = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        doc["load"] = result
        RESULTS.write_text(json.dumps(doc, indent=2))
        print(f"written to {RESULTS} (section `load`)")
    return 0 if all(result["passed"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
