"""`make bench`: what the testbed itself costs, written to bench/results.json.

1. node overhead per frame on the `zero` profile: time a frame spends in a node
   beyond its real numpy compute (HTTP parse, queue hand-off, forward), p50/p95;
2. the highest rate a two-node zero-time pipeline carries with coverage >= 0.99
   on this box (Locust, nodes and sink share its cores: that is the point), with the nodes
   sending inline and again overlapped (`send: overlap`, node_app/outbox.py);
3. analysis time for a synthetic 1,000,000-packet run;
4. the load generator itself (bench/bench_load.py, no lab): achieved send rate and send
   lag at 10, 30, 100, 300 fps against a local zero-time node;
5. scale (bench/scale.py, issue 17): labs of 6, 12, 24 and 48 emulated Pi 3s, each brought
   up, run (dp, K = N - 1, 80 % of the bound) and taken down, and the largest N the box
   holds honestly. It runs after the six-Pi lab is down again, and only if no lab is up:
   a lab the bench did not bring up is left alone and the section says it was skipped.

The lab is brought up and provisioned with `ansible-playbook site.yml` (idempotent);
if the bench brought it up, it takes it down again at the end. `--sections=node` (or any of
analysis, load, node, scale) runs only those and keeps the other sections of results.json.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from bench.bench_analysis import bench_analysis
from bench.bench_load import bench_load
from bench.scale import PIS, run_scale
from harness.experiment import run_experiment
from harness.paths import runs_dir
from harness.playbooks import ansible_playbook, lab_down
from harness.spec import RunSpec

OUT = Path(__file__).resolve().parent / "results.json"
RATES = [50, 100, 200, 400, 600, 800, 1000, 1300, 1600, 2000]  # stops at the first miss


def lab_is_up() -> bool:
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return "dnnlab-" in names


def node_overhead(run_id: str) -> dict:
    """Per node: received -> forwarded minus the real compute time, in ms."""
    out = {}
    for trace in sorted((runs_dir() / run_id / "traces").glob("pi*.csv")):
        ev = pd.read_csv(trace)
        recv = ev[ev.event == "received"].groupby("packet_id").t.first()
        fwd = ev[ev.event == "forwarded"].groupby("packet_id").t.first()
        fin = ev[ev.event == "finished"].set_index("packet_id").detail
        real_ms = fin.str.split(":").str[0].astype(float)
        total_ms = (fwd - recv).dropna() * 1000.0
        over = (total_ms - real_ms.reindex(total_ms.index)).dropna()
        out[trace.stem] = {
            "p50_ms": round(float(over.quantile(0.5)), 3),
            "p95_ms": round(float(over.quantile(0.95)), 3),
            "real_compute_ms_p50": round(float(real_ms.quantile(0.5)), 3),
            "frames": int(len(over)),
        }
    return out


def quiet_run(**kw) -> dict:
    spec = RunSpec(profile="zero", **kw)
    print(f"  {spec.strategy} at {spec.rate_fps:g} fps for {spec.duration_s:g} s"
          + (f" (send {spec.send})" if spec.send != "inline" else "") + " ...", flush=True)
    summary = run_experiment(spec, out=io.StringIO())
    print(f"    coverage {summary['coverage']:.4f}, delivered {summary['delivered_fps']:.1f} fps",
          flush=True)
    return summary


def max_rate(send: str) -> dict:
    """The highest rate of RATES a two-node zero-time pipeline carries with coverage >= 0.99,
    its nodes sending `send` (inline: each worker waits for its send; overlap: a sender
    thread sends while the worker takes the next frame, node_app/outbox.py)."""
    points = []
    for rate in RATES:
        s = quiet_run(rate_fps=rate, duration_s=10, warmup_s=2, send=send)
        points.append({"rate_fps": rate, "coverage": s["coverage"],
                       "delivered_fps": s["delivered_fps"],
                       "latency_p99_ms": s["latency_ms"]["p99"], "run_id": s["run_id"]})
        if s["coverage"] < 0.99:
            break
    ok = [p["rate_fps"] for p in points if p["coverage"] >= 0.99]
    return {"send": send, "highest_rate_fps_coverage_099": max(ok, default=0),
            "limit_found": len(ok) < len(points),  # False: every tested rate passed
            "points": points}


def node_sections() -> dict:
    """Sections 1 and 2 (the latter once per send mode), on the six-Pi lab."""
    out: dict = {}
    brought_up = not lab_is_up()
    ansible_playbook("site.yml", capture=True)
    try:
        print("node overhead on the zero profile ...", flush=True)
        s = quiet_run(rate_fps=20, duration_s=15, warmup_s=2)
        out["node_overhead_zero_profile"] = {"rate_fps": 20, **node_overhead(s["run_id"]),
                                             "goal_ms": 1.0}
        for send, key in (("inline", "max_rate_zero_profile"),
                          ("overlap", "max_rate_zero_profile_overlap")):
            print(f"highest rate with coverage >= 0.99 (2-node zero-time pipeline, send "
                  f"{send}) ...", flush=True)
            out[key] = max_rate(send)
    finally:
        if brought_up:
            lab_down()
    return out


SECTIONS = ("analysis", "load", "node", "scale")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help=f"comma-separated, of {', '.join(SECTIONS)} (default: all); the "
                             "others keep what results.json had")
    args = parser.parse_args(argv)
    wanted = [x.strip() for x in args.sections.split(",") if x.strip()]
    unknown = sorted(set(wanted) - set(SECTIONS))
    if unknown or not wanted:
        parser.error(f"--sections: {', '.join(unknown) or 'none given'}; known: "
                     f"{', '.join(SECTIONS)}")
    results: dict = json.loads(OUT.read_text()) if OUT.exists() else {}
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    # When each section was last measured: a partial run keeps the others' numbers and dates.
    results.setdefault("measured_at", {}).update(dict.fromkeys(wanted, stamp))
    results.update({"started": stamp,
                    "machine": {"cpus": os.cpu_count(), "python": platform.python_version()}})
    if "analysis" in wanted:
        print("analysis of a synthetic 1,000,000-packet run ...", flush=True)
        results["analysis_1m"] = bench_analysis(1_000_000)
        print(f"  {results['analysis_1m']}", flush=True)
    if "load" in wanted:
        print("load generator: send rate and lag against a local zero-time node ...",
              flush=True)
        results["load"] = bench_load()
    if "node" in wanted:
        results.update(node_sections())
    if "scale" in wanted:
        print("scale: labs of " + ", ".join(map(str, PIS)) + " emulated Pis ...", flush=True)
        results["scale"] = run_scale(PIS)
    OUT.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({k: v for k, v in results.items() if k != "scale"}, indent=2))
    print(f"written to {OUT} (sections run: {', '.join(wanted)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
