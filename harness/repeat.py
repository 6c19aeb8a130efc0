"""Repetitions: `fab experiment ... --repeat=N` runs one spec N times and reports each
headline number as mean +/- a 95 % confidence interval (pyperf's habit: one run is an
anecdote; the spread between runs is what a reader needs to compare two strategies).

Seeds: repetition i (0-based) runs with `seed + i` and `arrival_seed + i`, so repetition 0
is exactly the run without --repeat, every repetition's frames (and Poisson gaps) differ
from the others', and the whole group is a pure function of the first spec: `fab rerun` of
a group re-runs the first repetition's spec N times and gets the same N seeds back. Each
repetition's seeds are in its own spec.json and in the group file.

The interval is Student's t: mean +/- t(0.975, n - 1) * sd / sqrt(n), sd with n - 1
(harness/analysis/intervals.py, which the sweep report uses for its error bars too). With
n = 1 there is no interval, and the summary says so (None).

Where it goes: `runs/repeats/<group>.json` (the runs, their seeds and every interval) and
`reports/repeat-<group>.html`; each repetition is a normal run with its own report.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.analysis.intervals import interval, t975
from harness.paths import ledger_path, reports_dir, runs_dir
from harness.spec import RunSpec, SpecError, _integer

# (summary field, dotted when nested; label; unit; decimals): the numbers a run's verdict
# card leads with.
HEADLINE = (
    ("delivered_fps", "delivered", "fps", 2),
    ("coverage", "coverage", "", 4),
    ("latency_ms.p50", "latency p50", "ms", 1),
    ("latency_ms.p99", "latency p99", "ms", 1),
)
SEED_RULE = "repetition i (from 0) runs with seed + i and arrival_seed + i"

__all__ = ["HEADLINE", "SEED_RULE", "aggregate", "ci_text", "interval", "run_repeated", "t975"]


def _get(summary: dict[str, Any], dotted: str) -> Any:
    value: Any = summary
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def aggregate(group: str, specs: Sequence[RunSpec], summaries: Sequence[dict[str, Any]],
              failed: Sequence[dict[str, str]] = (),
              first: RunSpec | None = None) -> dict[str, Any]:
    """The repetition summary of a group: its runs with their seeds, per headline number
    the interval over the runs that finished, and `spec`, the group's first spec (seeds of
    repetition 0; default specs[0]) without its run id: what `fab rerun GROUP` runs again."""
    if first is None and specs:
        first = specs[0]
    return {
        "group": group,
        "repetitions": len(specs),
        "seed_rule": SEED_RULE,
        "runs": [{"run_id": s.get("run_id"), "seed": sp.seed, "arrival_seed": sp.arrival_seed}
                 for sp, s in zip(specs, summaries, strict=True)],
        "failed": list(failed),
        "metrics": {key: {"label": label, "unit": unit, "decimals": nd,
                          **interval([_get(s, key) for s in summaries])}
                    for key, label, unit, nd in HEADLINE},
        "spec": {k: v for k, v in first.to_dict().items() if k != "run_id"} if first else {},
    }


def ci_text(metric: dict[str, Any]) -> str:
    """`24.38 +/- 0.12 fps` (mean +/- half-width); `24.38 fps (one run: no interval)`."""
    nd, unit = metric["decimals"], metric["unit"]
    tail = f" {unit}" if unit else ""
    if metric["mean"] is None:
        return "n/a (no run has this number)"
    if metric["ci95"] is None:
        return f"{metric['mean']:.{nd}f}{tail} (one run: no interval)"
    return f"{metric['mean']:.{nd}f} +/- {metric['ci95']:.{nd}f}{tail}"


def console_lines(agg: dict[str, Any]) -> list[str]:
    n = agg["repetitions"] - len(agg["failed"])
    lines = [f"repetitions: {n} of {agg['repetitions']} finished; mean +/- 95 % CI "
             f"(Student t, n - 1 = {max(n - 1, 0)}); seeds {[r['seed'] for r in agg['runs']]} "
             f"({agg['seed_rule']})"]
    lines += [f"  {m['label']}: {ci_text(m)}" for m in agg["metrics"].values()]
    lines += [f"  failed: {f['run_id']}: {f['error']}" for f in agg["failed"]]
    return lines


def repetition_specs(spec: RunSpec, n: int) -> list[RunSpec]:
    """The N specs of a group: run ids `<id>-rep<i+1>`, seeds by SEED_RULE."""
    base = spec.run_id
    return [dataclasses.replace(spec, seed=spec.seed + i,
                                arrival_seed=int(spec.arrival_seed or 0) + i,
                                run_id=f"{base}-rep{i + 1}")
            for i in range(n)]


def run_repeated(spec: RunSpec, repeat: int | str = 1, out=sys.stdout) -> dict[str, Any]:
    """`--repeat=N`: one run as before when N is 1; else N runs, the group file, its page
    and the intervals on the console. Returns the last summary (N = 1) or the group."""
    n = _integer("repeat", repeat if repeat != "" else 1)
    if n < 1:
        raise SpecError("repeat", f"must be an integer >= 1, got {n}")
    from harness.experiment import run_experiment as run

    if n == 1:
        return run(spec, out=out)
    base = spec.run_id
    for k in range(2, 100):  # two groups started in the same second get distinct ids
        if not group_file(spec.run_id).exists():
            break
        spec = dataclasses.replace(spec, run_id=f"{base}-{k}")
    specs = repetition_specs(spec, n)
    summaries: list[dict[str, Any]] = []
    done: list[RunSpec] = []
    failed: list[dict[str, str]] = []
    for i, one in enumerate(specs):
        out.write(f"\n[repetition {i + 1}/{n}] seed {one.seed}\n")
        try:
            summaries.append(run(one, out=out))
            done.append(one)
        except (RuntimeError, SpecError) as exc:
            if i == 0 and isinstance(exc, SpecError):
                raise  # the request is wrong (nothing ran): not a repetition that failed
            # One lost run must not lose the others (a host unreachable in repetition 2).
            failed.append({"run_id": one.run_id, "error": str(exc).splitlines()[0]})
            out.write(f"repetition {i + 1} failed: {exc}\n")
    if not summaries:
        raise RuntimeError(f"all {n} repetitions failed; the first: {failed[0]['error']}")
    # The group's spec is repetition 0's with the hosts the runs resolved to.
    first = dataclasses.replace(specs[0], hosts=done[0].hosts, run_id=spec.run_id)
    agg = aggregate(spec.run_id, done, summaries, failed, first=first)
    agg["repetitions"] = n
    page = write_group(agg)
    for line in console_lines(agg):
        out.write(line + "\n")
    out.write(f"repetition report: {page}\n")
    return agg


def group_file(group: str) -> Path:
    return runs_dir() / "repeats" / f"{group}.json"


def write_group(agg: dict[str, Any]) -> Path:
    """runs/repeats/<group>.json and reports/repeat-<group>.html; returns the page."""
    from harness.report import write_index, write_repetitions

    path = group_file(agg["group"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(agg, indent=2, default=str))
    page = write_repetitions(agg, reports_dir() / f"repeat-{agg['group']}.html")
    write_index(ledger_path(), reports_dir() / "index.html")
    return page


def load_group(group: str) -> dict[str, Any] | None:
    path = group_file(group)
    return json.loads(path.read_text()) if path.exists() else None
