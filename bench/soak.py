"""`make soak` (`python -m bench.soak --minutes=30`): does a node leak or drop over a long run?

A baseline run at 80 % of its capacity bound (20 fps with rpi3bplus: B's L2 takes 40 ms) for
`--minutes`, while a sampler on the controller reads every node's /stats (`rss_kb` = VmRSS
of the node process, `dropped`) every `--every` seconds. Below capacity nothing should be
dropped, and a node's memory should level off once warmed up: a bounded queue, a trace that
is flushed every 0.5 s, a duplicate bitmap of one bit per id. Writes bench/soak.json:

    {"run_id", "rate_fps", "capacity_fps", "minutes", "warm_s",
     "rss_kb": {node: [[t_s, kb], ...]},          # t_s from the sampler's start
     "growth_pct": {node: last vs first sample after warm-up},
     "drops_total", "drops": {node: {reason: n}},   # from the run's summary
     "limits": {"growth_pct": 10, "drops": 0}, "ok": bool}

Bounded: the run stops by itself after warm-up + minutes, the sampler with it. Not part of
`make test` or CI: it needs the provisioned lab and takes the whole lab for its duration.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path

from harness import strategies
from harness.experiment import run_experiment
from harness.inventory import NODE_PORT, Host, load_inventory
from harness.nodeapi import try_stats
from harness.spec import RunSpec

OUT = Path(__file__).resolve().parent / "soak.json"
GROWTH_LIMIT_PCT = 10.0
LOAD_FRACTION = 0.8


def capacity_fps(spec: RunSpec) -> tuple[float, dict[str, str]]:
    """The plan's capacity bound and the endpoints to sample (name -> address:port)."""
    inventory = load_inventory(spec.inventory)
    module = strategies.get(spec.strategy)
    names = spec.hosts or list(inventory.hosts)[: strategies.hosts_needed(module, spec)]
    hosts = inventory.pick(names)
    sink = Host("sink", inventory.controller_address, "", "", "native", False)
    plan = module.plan(spec, hosts, sink)
    endpoints = {h.name: h.endpoint for h in hosts}
    endpoints["sink"] = f"{inventory.controller_address}:{NODE_PORT}"
    return plan.capacity_fps, endpoints


def growth_pct(series: list[list[float]], warm_s: float) -> float | None:
    """Last sample vs the first one after warm-up, in % (None: too few samples)."""
    warmed = [kb for t, kb in series if t >= warm_s and kb > 0]
    if len(warmed) < 2:
        return None
    return round((warmed[-1] - warmed[0]) / warmed[0] * 100.0, 2)


def sample(endpoints: dict[str, str], every_s: float, stop: threading.Event,
           out: dict[str, list[list[float]]]) -> None:
    """Every `every_s`, each node's rss_kb (a node that does not answer is skipped)."""
    t0 = time.monotonic()
    while True:
        t = round(time.monotonic() - t0, 1)
        for name, ep in endpoints.items():
            stats = try_stats(ep)
            if stats and stats.get("rss_kb"):
                out.setdefault(name, []).append([t, int(stats["rss_kb"])])
        if stop.wait(every_s):
            return


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30.0, help="measured minutes (30)")
    parser.add_argument("--rate", type=float, default=0.0,
                        help=f"frames/s (default {LOAD_FRACTION * 100:.0f}%% of capacity)")
    parser.add_argument("--every", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--warm", type=float, default=60.0,
                        help="seconds of samples to skip before the growth baseline "
                             "(at most a quarter of the run)")
    parser.add_argument("--inventory", default="inventory/lab.yml")
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args(argv)

    probe = RunSpec(strategy="baseline", inventory=args.inventory)
    capacity, endpoints = capacity_fps(probe)
    rate = args.rate or round(LOAD_FRACTION * capacity, 2)
    duration_s = args.minutes * 60.0
    spec = RunSpec(strategy="baseline", rate_fps=rate, duration_s=duration_s, warmup_s=5.0,
                   inventory=args.inventory)
    warm_s = min(args.warm, duration_s / 4)
    print(f"soak: baseline at {rate:g} fps ({rate / capacity:.0%} of {capacity:.1f} fps) for "
          f"{args.minutes:g} min; sampling rss_kb of {', '.join(endpoints)} every "
          f"{args.every:g} s", flush=True)

    series: dict[str, list[list[float]]] = {}
    stop = threading.Event()
    sampler = threading.Thread(target=sample, args=(endpoints, args.every, stop, series),
                               name="soak-sampler", daemon=True)
    sampler.start()
    try:
        summary = run_experiment(spec)
    finally:
        stop.set()
        sampler.join(timeout=args.every + 5)

    growth = {name: growth_pct(s, warm_s) for name, s in series.items()}
    drops_total = int(summary.get("drops_total", 0))
    ok = drops_total == 0 and bool(growth) and all(
        g is not None and g < GROWTH_LIMIT_PCT for g in growth.values())
    result = {
        "run_id": spec.run_id, "rate_fps": rate, "capacity_fps": round(capacity, 3),
        "minutes": args.minutes, "warm_s": warm_s, "every_s": args.every,
        "rss_kb": series, "growth_pct": growth,
        "drops_total": drops_total, "drops": summary.get("drops", {}),
        "interrupted": bool(summary.get("interrupted", False)),
        "limits": {"growth_pct": GROWTH_LIMIT_PCT, "drops": 0}, "ok": ok,
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    for name, g in growth.items():
        first, last = series[name][0][1], series[name][-1][1]
        print(f"soak: {name}: rss {first} -> {last} kB, growth after warm-up {g} %")
    print(f"soak: drops {drops_total}; {'OK' if ok else 'FAILED'}; wrote {args.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
