"""A grid of runs (strategies x X x K x queue ...) and one comparison report: `fab sweep`.

The sweep reproduces Cao's figures: coverage and delivered fps against X for
strategies 1 and 2, with the baseline and strategy 3 as horizontal lines; dp, mp and
tasks against K (delivered fps, speedup over K = 1, latency, each with its capacity bound);
and the queue size as a knob of every point (`--queue=1,5,10`), since it moves Cao's X*.
Each point is a normal run (its own directory, report and ledger row), so a sweep can
be stopped and its runs still count. `--repeat=N` runs each point N times with the seeds
`fab experiment --repeat` uses (seed + i), and the report gives each point's mean and 95 %
confidence interval; reruns of the same spec from earlier sweeps show up as spread.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from harness import ledger, strategies
from harness.analysis import crossing_x
from harness.analysis.sweeps import source_latency_ms
from harness.paths import runs_dir
from harness.spec import RunSpec, SpecError, _integer, resolve_strategy

MAX_EXTENDED_X = 3200  # the search for X* doubles X up to here, then gives up


@dataclass
class SweepSpec:
    """A sweep: every strategy once, or at every X, K, grid and scheduler where they apply.

    strategies: strategy ids as typed (0, 1, 2, 3, baseline, ...).
    xs: X values for strategies 1 and 2.
    repeats: runs per point (`--repeat`); repetition i runs with seed + i and arrival_seed
        + i (harness/repeat.py's rule), and the report shows mean +/- 95 % CI per point.
    extend_to_crossing: keep doubling X for strategy 2 until it beats the baseline.
    run: template for every run (rate, duration, warm-up, queue, profile, model, fused,
        inventory, ...).
    ks: K values for dp, mp, tasks, ftp and bodp (iterated as X is for strategies 1 and 2;
        empty = the run template's k).
    devices: the same list under the name ftp and bodp use (`--devices`); give one of the
        two. Errors about K then name `--devices`.
    grids: FTP's tile grids (`NxM`), ftp only (empty = the template's grid).
    scheds: FTP's schedulers (wsh, wst, wst-s), ftp only (empty = the template's sched).
    queues: queue sizes per node (`--queue=1,5,10`), a knob of every strategy (empty = the
        template's queue_size).
    sources: data sources (`--sources=1,2,4,6`), ftp and bodp only (empty = the template's,
        one); a point's S never exceeds its K (source i is device Di): larger S are left out
        at that K, so `--devices=1,2,4,6 --sources=1,2,4,6` runs every listed S up to K at each K.

    A point is one strategy at one value of each knob it uses (strategies.uses): ftp runs
    at every K x grid x sched, bodp at every K only, the baseline once. Every point is
    checked as a RunSpec (and by its strategy's own `check`) and against the inventory's
    size before the first run starts, so a bad one costs a second, not the runs before it.
    """

    strategies: list[str]
    xs: list[int]
    repeats: int = 1
    extend_to_crossing: bool = True
    run: dict = field(default_factory=dict)
    ks: list[int] = field(default_factory=list)
    devices: list[int] = field(default_factory=list)
    grids: list[str] = field(default_factory=list)
    scheds: list[str] = field(default_factory=list)
    queues: list[int] = field(default_factory=list)
    sources: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.strategies:
            raise SpecError("strategies", "give at least one, e.g. --strategies=0,1,2,3")
        self.strategies = [resolve_strategy(s) for s in self.strategies]
        if any(strategies.uses(s, "x") for s in self.strategies) and not self.xs:
            raise SpecError("x", "strategies 1 and 2 need X values, e.g. --x=1,2,5,10")
        self.xs = [_integer("x", x) for x in self.xs]
        if any(x < 1 for x in self.xs):
            raise SpecError("x", f"every X must be >= 1, got {self.xs}")
        if self.devices and self.ks:
            raise SpecError("devices", "give --devices or --k, not both (the same list)")
        self.devices = [_integer("devices", k) for k in self.devices]
        self.ks = self.devices or [_integer("ks", k) for k in self.ks]
        if any(k < 1 for k in self.ks):
            raise SpecError(self.k_field, f"every K must be >= 1, got {self.ks}")
        self.sources = [_integer("sources", v) for v in self.sources]
        for name, knob, values, who in (("grid", "grid", self.grids, "ftp"),
                                        ("sched", "sched", self.scheds, "ftp"),
                                        ("sources", "sources", self.sources, "ftp, bodp"),
                                        ("devices", "k", self.devices, "ftp, bodp, dp, mp, tasks")):
            if values and not any(strategies.uses(s, knob) for s in self.strategies):
                raise SpecError(name, f"only {who} use{'s' * (who == 'ftp')} it; none of "
                                f"the strategies {', '.join(self.strategies)} does")
        self.queues = [_integer("queue_size", q) for q in self.queues]
        if any(q < 1 for q in self.queues):
            raise SpecError("queue_size", f"every queue size must be >= 1, got {self.queues}")
        self.repeats = _integer("repeats", self.repeats)
        if self.repeats < 1:
            raise SpecError("repeats", f"must be >= 1, got {self.repeats}")
        RunSpec(**self.run)  # validate the run template before anything starts
        try:
            points = self.specs()  # and every point (mp's K, ftp's grid against the model)
        except SpecError as exc:
            raise self._named(exc) from None
        self.check_hosts(points)

    @property
    def k_field(self) -> str:
        """The option K came from, for errors: `devices` or `ks` (both mean K)."""
        return "devices" if self.devices else "ks"

    def _named(self, exc: SpecError) -> SpecError:
        """A point's error about K, named by the option the sweep's K came from."""
        return SpecError(self.k_field, exc.problem) if exc.field in ("k", "ks") else exc

    def check_hosts(self, points: list[RunSpec] | None = None) -> None:
        """Every point fits the inventory (dp, mp, tasks: A + K; ftp and bodp: a gateway + K
        devices), else the error names --devices (or --k), the inventory's size, and the
        emulated lab that holds the sweep's largest point (`fab lab-inventory --pis=N`)."""
        from harness.inventory import load_inventory

        points = self.specs() if points is None else points
        if not points:
            return
        inventory = load_inventory(points[0].inventory)
        largest = max((strategies.hosts_needed(strategies.get(p.strategy), p) for p in points
                       if not p.hosts), default=0)  # named hosts are checked by name
        for spec in points:
            strategies.check_host_count(spec, len(inventory.hosts), inventory.path,
                                        self.k_field, largest)

    def specs(self) -> list[RunSpec]:
        """Every run of the sweep: each point `repeats` times, repetition i with seed + i."""
        out = []
        for strategy in self.strategies:
            for knobs in self._knobs(strategy):
                out += self.repetitions(self.make(strategy, **knobs))
        return out

    def repetitions(self, spec: RunSpec) -> list[RunSpec]:
        """A point's `repeats` runs: repetition i runs with seed + i and arrival_seed + i
        (harness/repeat.py's SEED_RULE), so repetitions are distinct draws and repetition
        0 is exactly the point run once."""
        return [dataclasses.replace(spec, seed=spec.seed + i,
                                    arrival_seed=int(spec.arrival_seed or 0) + i)
                if i else spec for i in range(self.repeats)]

    def _knobs(self, strategy: str) -> list[dict]:
        """The product of the values of every knob this strategy uses, X first."""
        def values(knob: str, given: list, default: object) -> list:
            return (given or [self.run.get(knob, default)]) if strategies.uses(strategy, knob) \
                else [None]

        xs = self.xs if strategies.uses(strategy, "x") else [self.run.get("x", 10)]
        return [{"x": x, "k": k, "grid": g, "sched": sc, "queue": q, "sources": s}
                for q in self.queues or [None]
                for x in xs for k in values("k", self.ks, 2)
                for g in values("grid", self.grids, "3x3")
                for sc in values("sched", self.scheds, "wsh")
                for s in values("sources", self.sources, 1)
                # S <= K: a source is a device; only a list the user gave is trimmed, so a
                # single S too large is still an error that names --sources
                if s is None or k is None or not self.sources or int(s) <= int(k)]

    def make(self, strategy: str, x: int, k: int | None = None, grid: str | None = None,
             sched: str | None = None, queue: int | None = None,
             sources: int | None = None) -> RunSpec:
        knobs = {name: v for name, v in (("k", k), ("grid", grid), ("sched", sched),
                                         ("queue_size", queue), ("sources", sources))
                 if v is not None}
        return RunSpec(**{**self.run, "strategy": strategy, "x": x, "run_id": "", **knobs})


def run_sweep(sweep: SweepSpec, out=sys.stdout) -> Path:
    """Run every point, extend X if strategy 2 has not crossed the baseline, write the report."""
    from harness.experiment import run_experiment

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
        rep = f"-s{spec.seed}" if sweep.repeats > 1 else ""
        spec.run_id = (f"{now}-{spec.strategy}{_id_part(spec, queue=len(sweep.queues) > 1)}"
                       f"-r{spec.rate_fps:g}{rep}")
        summary = run_experiment(spec, out=out)
        rows.append(_point(spec, summary))

    for spec in specs:
        one(spec, point_label(spec, queue=len(sweep.queues) > 1)
            + (f" seed {spec.seed}" if sweep.repeats > 1 else ""))
    if sweep.extend_to_crossing and "cao2" in sweep.strategies and "baseline" in sweep.strategies:
        for queue in sweep.queues or [None]:  # X* moves with the queue: extend each
            x = max(sweep.xs)
            while crossing_x(_at_queue(pd.DataFrame(rows), queue)) is None \
                    and x * 2 <= MAX_EXTENDED_X:
                x *= 2
                at = f" (queue {queue})" if queue is not None else ""
                out.write(f"\nstrategy 2 has not beaten the baseline up to X={x // 2}{at}: "
                          f"extending to X={x}\n")
                extra = sweep.repetitions(sweep.make("cao2", x, queue=queue))
                specs.extend(extra)
                for spec in extra:
                    one(spec, f"cao2 X={x}{at} (extension)")

    points = pd.DataFrame(rows)
    report = write_report(sweep, points, stamp)
    verdict = ""
    if {"cao2", "baseline"} <= set(sweep.strategies):
        found = {q: crossing_x(_at_queue(points, q)) for q in sweep.queues or [None]}
        verdict = "; " + ", ".join(
            f"X* = {x if x is not None else 'not reached'}"
            + (f" at queue {q}" if q is not None else "") for q, x in found.items())
    out.write(f"\nsweep done in {(time.monotonic() - started) / 60:.1f} min: {len(points)} runs"
              f"{verdict}\nreport: {report}\n")
    return report


def write_report(sweep: SweepSpec, points: pd.DataFrame, stamp: str) -> Path:
    """After the runs: runs/sweeps/<stamp>.json, reports/sweep-<stamp>.html (read from the
    points and their run directories: summaries for the DeepThings table) and the index."""
    from harness.paths import ledger_path, reports_dir
    from harness.report import write_index, write_sweep

    write_sweep_file(stamp, points, sweep.run)
    run_dirs = [runs_dir() / str(r) for r in points.get("run_id", [])]
    report = write_sweep(points, spread_from_ledger(ledger_path(), points), sweep.run,
                         reports_dir() / f"sweep-{stamp}.html", predicted_curves(sweep, points),
                         run_dirs=[d for d in run_dirs if (d / "summary.json").exists()])
    write_index(ledger_path(), reports_dir() / "index.html")
    return report


def _at_queue(points: pd.DataFrame, queue: int | None) -> pd.DataFrame:
    """The points run with this queue size (all of them for None)."""
    if queue is None or points.empty or "queue_size" not in points:
        return points
    return points[points["queue_size"] == queue]


def point_label(spec: RunSpec, queue: bool = False) -> str:
    """`ftp K=2 grid 3x3 wsh`: the strategy and the knobs it uses, for the console; `Q=10`
    too when the sweep varies the queue."""
    uses = strategies.uses
    return (f"{spec.strategy}" + (f" X={spec.x}" if uses(spec.strategy, "x") else "")
            + (f" K={spec.k}" if uses(spec.strategy, "k") else "")
            + (f" grid {spec.grid}" if uses(spec.strategy, "grid") else "")
            + (f" {spec.sched}" if uses(spec.strategy, "sched") else "")
            + (f" S={spec.sources}" if spec.sources > 1 else "")
            + (f" Q={spec.queue_size}" if queue else ""))


def _id_part(spec: RunSpec, queue: bool = False) -> str:
    """`-k2-g3x3-wsh`: the knobs a point's run id carries (those its strategy uses; `-q10`
    when the sweep varies the queue)."""
    uses = strategies.uses
    return ((f"-x{spec.x}" if uses(spec.strategy, "x") else "")
            + (f"-k{spec.k}" if uses(spec.strategy, "k") else "")
            + (f"-g{spec.grid}" if uses(spec.strategy, "grid") else "")
            + (f"-{spec.sched}" if uses(spec.strategy, "sched") else "")
            + (f"-s{spec.sources}" if spec.sources > 1 else "")
            + (f"-q{spec.queue_size}" if queue else ""))


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
        "grid": spec.grid if strategies.uses(spec.strategy, "grid") else None,
        "sched": spec.sched if strategies.uses(spec.strategy, "sched") else None,
        "sources": spec.sources if strategies.uses(spec.strategy, "sources") else None,
        "model": spec.model, "queue_size": spec.queue_size, "seed": spec.seed,
        "capacity_fps": summary.get("capacity_fps"),
        "capacity_note": summary.get("capacity_note"),
        "predicted_hop_ms": pred.get("hop_ms"),
        "wire_bytes_per_frame": (summary.get("wire") or {}).get("bytes_per_frame"),
        "l2_weights_bytes_per_device": (summary.get("memory") or {}).get(
            "l2_weights_bytes_per_device_max"),
        "coverage": summary.get("coverage"), "delivered_fps": summary.get("delivered_fps"),
        "latency_p50_ms": (summary.get("latency_ms") or {}).get("p50"),
        "latency_p95_ms": (summary.get("latency_ms") or {}).get("p95"),
        # DeepThings' multi-source figures: the worst source's median latency (harness/
        # analysis/sources.py; a single source's own p50); delivered_fps is the throughput.
        "max_source_latency_ms": source_latency_ms(summary),
        "predicted_latency_p50_ms": (pred.get("latency_ms") or {}).get("p50"),
        # DeepThings' per-device footprint: the largest over the nodes that computed layers
        # of the buffers they allocated plus their weights (harness/resources.py).
        "peak_memory_bytes_per_device": (summary.get("memory") or {}).get(
            "peak_footprint_bytes_per_device_max"),
        "predicted_coverage": pred.get("coverage"),
        "predicted_delivered_fps": pred.get("delivered_fps"),
        "switches": sum(v.get("count", 0) for v in (summary.get("switches") or {}).values()),
        "warnings": "; ".join(summary.get("warnings") or []),
    }


def predicted_curves(sweep: SweepSpec, points: pd.DataFrame) -> pd.DataFrame:
    """The discrete-event model on a dense X grid, for the dashed lines of the sweep plots,
    one curve per strategy and queue size (`queue_size` column: a queue of 10 moves X*).

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
        for queue in sweep.queues or [None]:  # one curve per queue size (it moves X*)
            for x in grid if strategies.uses(strategy, "x") else [None]:
                spec = sweep.make(strategy, x or 1, queue=queue)
                doc = {**spec.to_dict(), "warmup_frames": spec.warmup_frames,
                       "measure_frames": spec.measure_frames, "profile": profile}
                nodes = _nodes_of(points, strategy)
                if nodes:
                    doc["nodes"] = nodes
                pred = predict_spec(doc, hop_ms=hop, hop_basis=basis)
                if pred.get("skipped"):
                    continue  # e.g. a profile without a cost model: no curve to draw
                rows.append({"strategy": strategy, "x": x, "queue_size": spec.queue_size,
                             "coverage": pred["coverage"],
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

    "Same spec" = same strategy and the knobs it uses (X, K, grid, sched, sources), and the rate,
    duration, queue, profile and model of this sweep; so reruns from earlier sweeps widen
    the spread a reader sees, and ftp at K = 2 is never pooled with ftp at K = 4.
    """
    from harness.models import DEFAULT_MODEL

    runs = ledger.list_runs(db)
    if runs.empty or points.empty:
        return pd.DataFrame()
    specs = [json.loads(j) for j in runs["spec_json"]]
    knobs = ("x", "k", "grid", "sched", "sources")
    df = pd.DataFrame({
        "run_id": runs["run_id"], "coverage": runs["coverage"],
        "delivered_fps": runs["delivered_fps"],
        **{k: [sp.get(k) for sp in specs]
           for k in ("strategy", *knobs, "rate_fps", "duration_s", "queue_size", "profile")},
        "sources": [int(sp.get("sources") or 1) for sp in specs],  # runs before it: one
        "model": [sp.get("model") or DEFAULT_MODEL for sp in specs],
    }).astype({k: object for k in knobs})
    for knob in knobs:  # a knob the strategy ignores does not tell runs apart
        df.loc[~df["strategy"].map(lambda s, knob=knob: _uses(s, knob)), knob] = None
    cond = ["rate_fps", "duration_s", "queue_size", "profile", "model"]
    mine = df[df["run_id"].isin(points["run_id"])][cond].drop_duplicates()
    df = df.merge(mine, on=cond)
    g = df.groupby(["strategy", *knobs, "queue_size"], dropna=False)
    return g.agg(runs=("coverage", "size"), coverage_min=("coverage", "min"),
                 coverage_max=("coverage", "max"), fps_min=("delivered_fps", "min"),
                 fps_max=("delivered_fps", "max")).reset_index()


def _uses(strategy: object, knob: str) -> bool:
    """strategies.uses for a ledger row; a strategy no longer known keeps the knob."""
    try:
        return strategies.uses(str(strategy), knob)
    except SpecError:
        return True
