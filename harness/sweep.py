"""A grid of runs (strategies x X) and one comparison report: `fab sweep`.

The sweep reproduces Cao's figures: coverage and delivered fps against X for
strategies 1 and 2, with the baseline and strategy 3 as horizontal lines. Each
point is a normal run (its own directory, report and ledger row), so a sweep can
be stopped and its runs still count; reruns of the same spec show up as spread.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from harness import ledger, strategies
from harness.analysis import crossing_x
from harness.paths import runs_dir
from harness.spec import RunSpec, SpecError, _integer, resolve_strategy

MAX_EXTENDED_X = 3200  # the search for X* doubles X up to here, then gives up


@dataclass
class SweepSpec:
    """A sweep: every strategy once, or at every X where X applies.

    strategies: strategy ids as typed (0, 1, 2, 3, baseline, ...).
    xs: X values for strategies 1 and 2.
    repeats: runs per point (spread is shown when > 1, or from earlier sweeps).
    extend_to_crossing: keep doubling X for strategy 2 until it beats the baseline.
    run: template for every run (rate, duration, warm-up, queue, profile, ...).
    ks: K values for dp, mp and tasks (iterated as X is for strategies 1 and 2; empty =
        the run template's k).
    """

    strategies: list[str]
    xs: list[int]
    repeats: int = 1
    extend_to_crossing: bool = True
    run: dict = field(default_factory=dict)
    ks: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.strategies:
            raise SpecError("strategies", "give at least one, e.g. --strategies=0,1,2,3")
        self.strategies = [resolve_strategy(s) for s in self.strategies]
        if any(strategies.uses(s, "x") for s in self.strategies) and not self.xs:
            raise SpecError("x", "strategies 1 and 2 need X values, e.g. --x=1,2,5,10")
        self.xs = [_integer("x", x) for x in self.xs]
        if any(x < 1 for x in self.xs):
            raise SpecError("x", f"every X must be >= 1, got {self.xs}")
        self.ks = [_integer("ks", k) for k in self.ks]
        if any(k < 1 for k in self.ks):
            raise SpecError("ks", f"every K must be >= 1, got {self.ks}")
        self.repeats = _integer("repeats", self.repeats)
        if self.repeats < 1:
            raise SpecError("repeats", f"must be >= 1, got {self.repeats}")
        RunSpec(**self.run)  # validate the run template before anything starts
        self.specs()  # and every point (mp's K, task counts), so no run starts before a bad one

    def specs(self) -> list[RunSpec]:
        out = []
        for strategy in self.strategies:
            xs = self.xs if strategies.uses(strategy, "x") else [self.run.get("x", 10)]
            ks = (self.ks or [self.run.get("k", 2)]) if strategies.uses(strategy, "k") else [None]
            for x in xs:
                for k in ks:
                    for _ in range(self.repeats):
                        out.append(self.make(strategy, x, k))
        return out

    def make(self, strategy: str, x: int, k: int | None = None) -> RunSpec:
        kk = {"k": k} if k is not None else {}
        return RunSpec(**{**self.run, "strategy": strategy, "x": x, "run_id": "", **kk})


def run_sweep(sweep: SweepSpec, out=sys.stdout) -> Path:
    """Run every point, extend X if strategy 2 has not crossed the baseline, write the report."""
    from harness.experiment import run_experiment
    from harness.paths import ledger_path, reports_dir
    from harness.report import write_index, write_sweep

    specs = sweep.specs()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    started = time.monotonic()
    rows: list[dict] = []

    def one(spec: RunSpec, label: str) -> None:
        elapsed = time.monotonic() - started
        done = len(rows)
        eta = f", about {elapsed / done * (len(specs) - done) / 60:.0f} min left" if done else ""
        out.write(f"\n[{done + 1}/{len(specs)}] {label} (elapsed {elapsed / 60:.1f} min{eta})\n")
        now = time.strftime("%Y%m%d-%H%M%S")
        x_part = f"-x{spec.x}" if strategies.uses(spec.strategy, "x") else ""
        x_part += f"-k{spec.k}" if strategies.uses(spec.strategy, "k") else ""
        spec.run_id = f"{now}-{spec.strategy}{x_part}-r{spec.rate_fps:g}"
        summary = run_experiment(spec, out=out)
        rows.append(_point(spec, summary))

    for spec in specs:
        one(spec, f"{spec.strategy}"
            + (f" X={spec.x}" if strategies.uses(spec.strategy, "x") else "")
            + (f" K={spec.k}" if strategies.uses(spec.strategy, "k") else ""))
    if sweep.extend_to_crossing and "cao2" in sweep.strategies and "baseline" in sweep.strategies:
        x = max(sweep.xs)
        while crossing_x(pd.DataFrame(rows)) is None and x * 2 <= MAX_EXTENDED_X:
            x *= 2
            out.write(f"\nstrategy 2 has not beaten the baseline up to X={x // 2}: extending to "
                      f"X={x}\n")
            extra = [sweep.make("cao2", x) for _ in range(sweep.repeats)]
            specs.extend(extra)
            for spec in extra:
                one(spec, f"cao2 X={x} (extension)")

    points = pd.DataFrame(rows)
    write_sweep_file(stamp, points, sweep.run)
    report = write_sweep(points, spread_from_ledger(ledger_path(), points), sweep.run,
                         reports_dir() / f"sweep-{stamp}.html", predicted_curves(sweep, points))
    write_index(ledger_path(), reports_dir() / "index.html")
    xstar = crossing_x(points)
    verdict = ""
    if {"cao2", "baseline"} <= set(sweep.strategies):
        verdict = f"; X* = {xstar if xstar is not None else 'not reached'}"
    out.write(f"\nsweep done in {(time.monotonic() - started) / 60:.1f} min: {len(points)} runs"
              f"{verdict}\nreport: {report}\n")
    return report


def write_sweep_file(stamp: str, points: pd.DataFrame, run_template: dict) -> Path:
    """runs/sweeps/<stamp>.json: the sweep's points (each with its run id), which is how
    the ledger (harness.results.ledger) knows which runs a sweep made."""
    sweep_file = runs_dir() / "sweeps" / f"{stamp}.json"
    sweep_file.parent.mkdir(parents=True, exist_ok=True)
    sweep_file.write_text(json.dumps({"sweep": stamp, "runs": points.to_dict("records"),
                                      "run_template": run_template}, indent=2, default=str))
    return sweep_file


def _point(spec: RunSpec, summary: dict) -> dict:
    pred = summary.get("predicted") or {}
    return {
        "run_id": summary["run_id"], "strategy": spec.strategy, "profile": summary.get("profile"),
        "x": spec.x if strategies.uses(spec.strategy, "x") else None,
        "k": spec.k if strategies.uses(spec.strategy, "k") else None,
        "capacity_fps": summary.get("capacity_fps"),
        "capacity_note": summary.get("capacity_note"),
        "predicted_hop_ms": pred.get("hop_ms"),
        "wire_bytes_per_frame": (summary.get("wire") or {}).get("bytes_per_frame"),
        "l2_weights_bytes_per_device": (summary.get("memory") or {}).get(
            "l2_weights_bytes_per_device_max"),
        "coverage": summary.get("coverage"), "delivered_fps": summary.get("delivered_fps"),
        "latency_p95_ms": (summary.get("latency_ms") or {}).get("p95"),
        "predicted_coverage": pred.get("coverage"),
        "predicted_delivered_fps": pred.get("delivered_fps"),
        "switches": sum(v.get("count", 0) for v in (summary.get("switches") or {}).values()),
        "warnings": "; ".join(summary.get("warnings") or []),
    }


def predicted_curves(sweep: SweepSpec, points: pd.DataFrame) -> pd.DataFrame:
    """The discrete-event model on a dense X grid, for the dashed lines of the sweep plots.

    The per-hop overhead is the median of the points' own (each run's traces), else the
    bench's; without either the curves are drawn without one. Strategies that vary with K
    (dp, mp, tasks) get no line: their per-run prediction is in each point's summary.
    Each node is priced by its own profile as in the sweep's runs of that strategy (their
    spec.json `nodes`), so a sweep over a mixed inventory is predicted as it ran."""
    from harness.overhead import bench_hop_ms
    from harness.predict import predict_spec

    hops = (points["predicted_hop_ms"].dropna() if "predicted_hop_ms" in points
            else pd.Series(dtype=float))
    hop = float(hops.median()) if len(hops) else bench_hop_ms()
    basis = "median of the sweep's runs" if len(hops) else "bench/results.json"

    xs = points["x"].dropna() if not points.empty else pd.Series(dtype=float)
    top = int(xs.max()) if len(xs) else max(sweep.xs or [1])
    grid = sorted({int(round(v)) for v in
                   [1.25 ** k for k in range(0, 80) if 1.25 ** k <= top]} | {top})
    measured = points["profile"].dropna() if "profile" in points else pd.Series(dtype=str)
    profile = sweep.run.get("profile") or (measured.iloc[0] if len(measured) else "rpi3bplus")
    rows = []
    for strategy in sweep.strategies:
        if not hasattr(strategies.get(strategy), "predict") or strategies.uses(strategy, "k"):
            continue  # no discrete-event model of this strategy, or one per K
        for x in grid if strategies.uses(strategy, "x") else [None]:
            spec = sweep.make(strategy, x or 1)
            doc = {**spec.to_dict(), "warmup_frames": spec.warmup_frames,
                   "measure_frames": spec.measure_frames, "profile": profile}
            nodes = _nodes_of(points, strategy)
            if nodes:
                doc["nodes"] = nodes
            pred = predict_spec(doc, hop_ms=hop, hop_basis=basis)
            if pred.get("skipped"):
                continue  # e.g. a profile without a cost model: no curve to draw
            rows.append({"strategy": strategy, "x": x, "coverage": pred["coverage"],
                         "delivered_fps": pred["delivered_fps"]})
    return pd.DataFrame(rows)


def _nodes_of(points: pd.DataFrame, strategy: str) -> list[dict] | None:
    """The plan's nodes, each with its host's profile, of one of the sweep's runs of this
    strategy (runs/<id>/spec.json); None when none of them is on disk."""
    if points.empty or "run_id" not in points or "strategy" not in points:
        return None
    for run_id in points.loc[points["strategy"] == strategy, "run_id"]:
        try:
            nodes = json.loads((runs_dir() / str(run_id) / "spec.json").read_text()).get("nodes")
        except (OSError, ValueError, AttributeError):
            continue
        if nodes:
            return list(nodes)
    return None


def spread_from_ledger(db: Path, points: pd.DataFrame) -> pd.DataFrame:
    """Min / max / count of coverage and fps over every ledger run with the same spec.

    "Same spec" = same strategy and X, and the rate, duration, queue and profile of this
    sweep; so reruns from earlier sweeps widen the spread a reader sees.
    """
    runs = ledger.list_runs(db)
    if runs.empty or points.empty:
        return pd.DataFrame()
    specs = [json.loads(j) for j in runs["spec_json"]]
    df = pd.DataFrame({
        "run_id": runs["run_id"], "coverage": runs["coverage"],
        "delivered_fps": runs["delivered_fps"],
        **{k: [sp.get(k) for sp in specs]
           for k in ("strategy", "x", "rate_fps", "duration_s", "queue_size", "profile")},
    })
    df.loc[~df["strategy"].map(lambda s: strategies.uses(s, "x")), "x"] = None
    cond = ["rate_fps", "duration_s", "queue_size", "profile"]
    mine = df[df["run_id"].isin(points["run_id"])][cond].drop_duplicates()
    df = df.merge(mine, on=cond)
    g = df.groupby(["strategy", "x"], dropna=False)
    return g.agg(runs=("coverage", "size"), coverage_min=("coverage", "min"),
                 coverage_max=("coverage", "max"), fps_min=("delivered_fps", "min"),
                 fps_max=("delivered_fps", "max")).reset_index()
