"""Cao's reported numbers (the slides, seed 000_55cd7242d85774ac.txt, and the report, seed
001_f99bf2dc503869cb.txt), each in the seed's own words, and ours beside them.

What the seeds state: the two layer times on a Raspberry Pi (0.004 s and about 0.04 s),
strategy 3's result (100 % coverage, 30 frames/s), the direction of strategies 1 (worse
than the baseline) and 2 (worse for small X, better beyond a threshold), and Fig. 2 (B at
a tenth of A's speed drops 9 of 10 frames; scenarios/cao-fig2.yml). The seeds give no
other number in their text (the figures of coverage against X are images), so every
other cell stays empty rather than guessed.

They are about Cao's model, two dense layers (`cao-dense`): a run of strategies 0-3 on
that model, or of the cao-fig2 scenario, has a counterpart; a run of another strategy or
model has none (`applies` is False and the report shows no "seed reported" column).
Seeds are cited by file name only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Run = dict[str, Any]  # a summary.json merged with its run's spec.json

SLIDES = "000_55cd7242d85774ac.txt"
REPORT = "001_f99bf2dc503869cb.txt"
SEED = f"Cao (seeds {SLIDES}, the slides, and {REPORT}, the report)"
MODEL = "cao-dense"
STRATEGIES = ("baseline", "cao1", "cao2", "cao3")
FIG2 = "cao-fig2"

# The seeds' sentences, exactly as they are written there.
LAYER_TIMES = ("The first one takes 0.004 seconds and the second takes about 0.04 seconds, "
               "so the second is 10X slower than the first one.")
STRATEGY1 = "The proposed strategy has worse coverage and processing speed compared to the baseline"
STRATEGY2_SMALL = ("The strategy 2 has worse stats if number of tasks taken is small (task "
                   "switching overhead)")
STRATEGY2_BETTER = ("The proposed strategy has better coverage and also improved processing "
                    "speed compared to baseline")
STRATEGY3 = "Achieve 100 % data coverage and 30 f / s image processing rate"
FIGURE2 = ("Device A has faster data processing rate than device B. In real time, because "
           "device B is only able to process 1 data packet per second, it will drop 9 out of "
           "10 packets from device A.")


@dataclass(frozen=True)
class Reported:
    """One thing Cao reports: what, the number or direction as the seed states it, the
    seed's sentence, the seed file, and how to read ours off one run."""

    what: str
    reported: str
    wording: str
    source: str
    ours: Callable[[Run], str]


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _node(run: Run, role: str) -> tuple[str, dict[str, Any]] | None:
    for name, node in (run.get("nodes") or {}).items():
        if isinstance(node, dict) and node.get("role") == role:
            return str(name), node
    return None


def _layer_time(role: str) -> Callable[[Run], str]:
    def ours(run: Run) -> str:
        found = _node(run, role)
        if found is None:
            return f"no node {role} in this run"
        name, node = found
        measured = _num(node.get("measured_service_ms_mean"))
        profile = _num(node.get("service_ms_mean"))
        if measured is None and profile is None:
            return f"{name}: no frame served"
        value = measured if measured is not None else profile
        how = "measured" if measured is not None else "profile"
        return f"{value / 1000:.4f} s ({name}, {how} mean)"  # type: ignore[operator]
    return ours


def _coverage_fps(run: Run) -> str:
    cov, fps = _num(run.get("coverage")), _num(run.get("delivered_fps"))
    if cov is None or fps is None:
        return "no measured coverage"
    return f"coverage {cov:.4f}, {fps:.2f} fps at {run.get('offered_fps', '?')} fps offered"


def _direction(run: Run) -> str:
    """A run alone has no baseline beside it: its numbers, and where the direction is read."""
    x = f"X = {run['x']}: " if run.get("x") is not None else ""
    return f"{x}{_coverage_fps(run)}; against the baseline: see a sweep (fab sweep)"


def _coverage(run: Run) -> str:
    cov = _num(run.get("coverage"))
    return "no measured coverage" if cov is None else f"{cov * 100:.1f} %"


def _fps(run: Run) -> str:
    fps = _num(run.get("delivered_fps"))
    return "not measured" if fps is None else \
        f"{fps:.2f} frames/s ({run.get('offered_fps', '?')} offered)"


def _fig2(run: Run) -> str:
    sent = _num(run.get("sent"))
    b = _node(run, "B")
    dropped = sum((run.get("drops") or {}).get(b[0], {}).values()) if b else 0
    cov = _num(run.get("coverage"))
    if not sent or cov is None:
        return "no frames sent"
    where = f"dropped at B ({b[0]}): {dropped} of {sent:.0f} ({dropped / sent:.0%})" if b \
        else "no node B"
    return f"coverage {cov:.4f}; {where}"


BY_STRATEGY: dict[str, tuple[Reported, ...]] = {
    "baseline": (
        Reported("L1 (100 -> 2000) time per frame on A", "0.004 s", LAYER_TIMES, REPORT,
                 _layer_time("A")),
        Reported("L2 (2000 -> 2000) time per frame on B", "about 0.04 s", LAYER_TIMES, REPORT,
                 _layer_time("B")),
    ),
    "cao1": (Reported("strategy 1 against the baseline",
                      "worse coverage and fps than the baseline", STRATEGY1, SLIDES,
                      _direction),),
    "cao2": (Reported("strategy 2 at small X", "worse than the baseline (switching)",
                      STRATEGY2_SMALL, SLIDES, _direction),
             Reported("strategy 2 beyond a threshold X", "better coverage and fps than the "
                      "baseline", STRATEGY2_BETTER, SLIDES, _direction)),
    "cao3": (Reported("strategy 3 coverage", "100 %", STRATEGY3, SLIDES, _coverage),
             Reported("strategy 3 processing rate", "30 f/s", STRATEGY3, SLIDES, _fps)),
}
FIGURE2_ROW = Reported("Fig. 2: B at a tenth of A's speed", "drops 9 of 10 frames (coverage "
                       "0.1)", FIGURE2, SLIDES, _fig2)

# The seed's number for a sweep point of each strategy (the "seed reported" column).
SWEEP_CELL = {
    "baseline": "L1 0.004 s, L2 about 0.04 s per frame",
    "cao1": "worse coverage and fps than the baseline",
    "cao2": "worse than the baseline at small X, better beyond a threshold",
    "cao3": "coverage 100 %, 30 f/s",
}


def is_fig2(run: Run) -> bool:
    name = str(run.get("scenario") or "")
    if isinstance(run.get("scenario"), dict):
        name = str(run["scenario"].get("name") or "")
    return bool(name) and Path(name).stem == FIG2


def applies(run: Run) -> bool:
    """Has this run a counterpart in Cao's seeds: strategies 0-3 on Cao's model, or the
    cao-fig2 scenario?"""
    model = run.get("model") or MODEL
    return model == MODEL and (run.get("strategy") in STRATEGIES or is_fig2(run))


def rows(run: Run) -> list[list[str]]:
    """[what, ours, seed reported, the seed's words, seed file] per number Cao reports for
    this run ([] when none)."""
    if not applies(run):
        return []
    found = [FIGURE2_ROW] if is_fig2(run) else list(BY_STRATEGY.get(str(run["strategy"]), ()))
    return [[r.what, r.ours(run), r.reported, r.wording, r.source] for r in found]


def sweep_cell(strategy: Any, model: Any = MODEL) -> str:
    """The seed's number for a sweep point ('' for a strategy or model Cao did not run)."""
    return SWEEP_CELL.get(str(strategy), "") if (model or MODEL) == MODEL else ""


def cell(run: Run) -> str:
    """The seed's number for one run, in a few words ('' without a counterpart): what a
    comparison page shows in its "seed reported" row."""
    if not applies(run):
        return ""
    return FIGURE2_ROW.reported if is_fig2(run) else sweep_cell(run.get("strategy"))


def sweep_rows(points: Sequence[dict[str, Any]], xstar: int | None) -> list[list[str]]:
    """The seed's directions beside a sweep's: [what, ours, seed reported, the seed's words,
    seed file]. `points` are point_stats rows (strategy, x, coverage, delivered_fps, model
    where known); a direction needs the baseline in the sweep."""
    cao = [p for p in points if (p.get("model") or MODEL) == MODEL]
    base = [p for p in cao if p.get("strategy") == "baseline"]
    out: list[list[str]] = []

    def against(strategy: str) -> str:
        mine = sorted((p for p in cao if p.get("strategy") == strategy),
                      key=lambda p: p.get("x") or 0)
        if not base:
            return "no baseline in this sweep"
        b_cov = base[0]["coverage"]
        above = [p["x"] for p in mine if p["coverage"] > b_cov]
        covs = [p["coverage"] for p in mine]
        span = f"coverage {min(covs):.3f}-{max(covs):.3f} against the baseline's {b_cov:.3f}"
        if not above:
            return f"worse at every X ({span})"
        if strategy == "cao2" and xstar is not None:
            return f"worse below X* = {xstar}, better from it ({span})"
        return f"better at X = {', '.join(str(x) for x in above)} ({span})"

    strategies = {p.get("strategy") for p in cao}
    if "cao1" in strategies:
        out.append(["strategy 1 against the baseline", against("cao1"),
                    "worse coverage and fps than the baseline", STRATEGY1, SLIDES])
    if "cao2" in strategies:
        out.append(["strategy 2 against the baseline", against("cao2"),
                    "worse at small X, better beyond a threshold",
                    f"{STRATEGY2_SMALL}; {STRATEGY2_BETTER}", SLIDES])
    for p in cao:
        if p.get("strategy") == "cao3":
            out.append(["strategy 3", f"coverage {p['coverage'] * 100:.1f} %, "
                        f"{p['delivered_fps']:.2f} fps", "100 % coverage, 30 f/s", STRATEGY3,
                        SLIDES])
    return out
