"""Each node's service times: the profile's distribution beside the measured one (issue 14).

A profile may give a stage's time as a distribution (`stage_ms`, node_app/profile.py
`Dist`); the node then draws every frame's time from it. Whether the emulation kept to it
is a question about the whole distribution, not its mean: a node that waits out every
draw but wakes late on long ones keeps its mean and loses its tail. So per node this puts
the profile's CDF next to the measured CDF and their p50, p90 and p99 side by side.

- measured: `finished.t - started.t` of each measure frame on the node (a task helper's
  `task_started`/`task_finished`, one per block). Warm-up frames are left out: the first
  frames of a run pay for cold caches, and with a few hundred frames two slow ones would be
  the p99.
- the profile, by what the profile says about the node's stages:
  `distribution`: the node's stages all have `stage_ms`, and it ran only them: a node
  that switched models (strategies 1 and 2: A then runs L1+L2 at a constant) or computed
  task blocks draws from the distribution only for some of its work (node_app/node.py
  `compute`), so such a node is judged by what it recorded, below. One stage: its quantile function,
  exactly. Several: a frame's time is one draw per stage summed (as the node draws it), whose
  quantiles have no closed form, so they are read off MC_DRAWS sums drawn with a fixed
  seed (a p99 to well under 0.1 % of its value: the same every time the run is analysed).
  `constant`: a cost model without distributions; the time the node recorded in each
  `finished` row (`<real_ms>:<profile_ms>`) is that constant, so its line is a step there.
  `recorded`: those recorded times vary (a node that runs different stages in one run, as
  strategy 1's A does while helping): their empirical distribution.
  None: no profile time at all (`native`, or a node without trace rows of its own).

The profile is the one the run recorded (spec.json `profiles`), as for energy and the
discrete-event model, so an old run is judged by the numbers it ran with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.analysis.accounting import split_finished
from harness.analysis.derived import code_of, derive, in_codes, measure_pairs
from harness.analysis.loading import Run
from harness.analysis.profilesource import profile_of
from harness.analysis.rounding import rounded
from harness.analysis.switches import model_switches
from node_app.profile import Dist, ProfileError, parse_profile

PERCENTILES = (50, 90, 99)
MC_DRAWS = 200_000
MC_SEED = 14  # issue 14; any fixed number: the analysis must be repeatable
CDF_POINTS = 400  # points of a drawn CDF line; a page has one panel per node


@dataclass(frozen=True)
class ServiceTimes:
    """One node's service times, measured and as its profile gives them.

    `cdf_ms`/`cdf_q` trace the profile's CDF (ms against the fraction of frames at most
    that long; empty without a profile time), `pcts` its p50/p90/p99."""

    node: str
    profile: str | None
    kind: str | None  # "distribution", "constant", "recorded" or None (see the module)
    measured: np.ndarray  # ms, one per measure frame (task helpers: per block)
    cdf_ms: np.ndarray
    cdf_q: np.ndarray
    pcts: dict[str, float] | None

    def measured_pcts(self) -> dict[str, float] | None:
        if not len(self.measured):
            return None
        values = np.percentile(self.measured, PERCENTILES)
        return {f"p{p}": float(v) for p, v in zip(PERCENTILES, values, strict=True)}

    def summary(self) -> dict[str, Any]:
        """The node's `service_ms_percentiles` (docs/results.md): profile, measured, their
        relative difference ((measured - profile) / profile; None where the profile's
        value is 0, as in `zero`), the profile's kind and how many frames were measured."""
        measured = self.measured_pcts()
        diff = None
        if measured is not None and self.pcts is not None:
            diff = {k: (_relative(measured[k], v) if v > 0 else None)
                    for k, v in self.pcts.items()}
        return {
            "profile": _round(self.pcts),
            "measured": _round(measured),
            "difference": diff,
            "kind": self.kind,
            "frames": int(len(self.measured)),
        }


def _relative(measured: float, profile: float) -> float | None:
    """(measured - profile) / profile, rounded; + 0.0 so that equal values read 0.0, not
    the -0.0 a rounding error below the fourth decimal would leave."""
    value = rounded((measured - profile) / profile, 4)
    return None if value is None else value + 0.0


def _round(pcts: dict[str, float] | None) -> dict[str, float] | None:
    return None if pcts is None else {k: rounded(v, 4) for k, v in pcts.items()}


def _quantiles(dist: Dist, u: np.ndarray) -> np.ndarray:
    """Dist.quantile for many u at once (the same interpolation, vectorised)."""
    if len(dist.q) == 1:
        return np.full(len(u), dist.ms[0])
    return np.interp(u, dist.q, dist.ms)


def dist_cdf(dists: list[Dist]) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """The CDF line (ms, fraction) and p50/p90/p99 of a frame that takes one draw of each
    of `dists`, summed (see the module docstring)."""
    if len(dists) == 1:
        d = dists[0]
        q = np.array(d.q if len(d.q) > 1 else (0.0, 1.0))
        ms = np.array(d.ms if len(d.ms) > 1 else (d.ms[0], d.ms[0]))
        # Flat below the lowest and above the highest point: the mass there is a jump.
        cdf_ms = np.concatenate([[ms[0]], ms, [ms[-1]]])
        cdf_q = np.concatenate([[0.0], q, [1.0]])
        pcts = {f"p{p}": d.quantile(p / 100.0) for p in PERCENTILES}
        return cdf_ms, cdf_q, pcts
    rng = np.random.default_rng(MC_SEED)
    total = sum((_quantiles(d, rng.random(MC_DRAWS)) for d in dists), np.zeros(MC_DRAWS))
    levels = np.linspace(0.0, 1.0, CDF_POINTS)
    pcts = {f"p{p}": float(v)
            for p, v in zip(PERCENTILES, np.percentile(total, PERCENTILES), strict=True)}
    return np.quantile(total, levels), levels, pcts


def _recorded_cdf(times: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, float],
                                                 str]:
    """The recorded profile times' CDF: a step at the value when they are one constant."""
    lo, hi = float(times.min()), float(times.max())
    if hi - lo <= 1e-6 * max(1.0, hi):
        return (np.array([lo, lo]), np.array([0.0, 1.0]),
                {f"p{p}": lo for p in PERCENTILES}, "constant")
    levels = np.linspace(0.0, 1.0, min(CDF_POINTS, len(times)))
    pcts = {f"p{p}": float(v)
            for p, v in zip(PERCENTILES, np.percentile(times, PERCENTILES), strict=True)}
    return np.quantile(times, levels), levels, pcts, "recorded"


def _stage_dists(run: Run, info: dict[str, Any]) -> tuple[str | None, list[Dist] | None,
                                                          bool]:
    """The node's profile name, its stages' distributions (None when it has none) and
    whether it is `native` (the node claims its real time: there is no profile time)."""
    name, entry, found = profile_of(run.spec, info)
    if name == "native" or (found and entry is None):
        return name, None, True
    if not found:
        return name, None, False
    try:
        prof = parse_profile(str(name), entry, "spec.json profiles")
    except ProfileError:
        return name, None, False  # the energy block says why it cannot be read
    return name, prof.dists_for([str(s) for s in info.get("stages") or []]), False


def service_times(run: Run) -> dict[str, ServiceTimes]:
    """Every node with a service time (measured or profiled), in the summary's node order;
    cached on the run (the summary and the report's figure both need it)."""
    if "service_times" in run._cache:
        return run._cache["service_times"]
    d = derive(run)
    code = {e: code_of(d.events_cat, e)
            for e in ("started", "finished", "task_started", "task_finished")}
    # Only the measure frames' rows, as measure_pairs takes them (a long run has millions).
    rows = np.flatnonzero(in_codes(d.ev_event, list(code.values()), len(d.events_cat))
                          & (d.ev_pos >= 0))
    node, ev = d.ev_node[rows], d.ev_event[rows]
    pairs, tasks = measure_pairs(d)
    fin = (ev == code["finished"]) | (ev == code["task_finished"])
    _, recorded = split_finished(run.events["detail"].to_numpy(object)[rows[fin]])
    fin_node = node[fin]
    spec_by_name = {str(n.get("name")): n for n in run.spec.get("nodes", [])}
    switched = set(model_switches(run)["node"])
    out: dict[str, ServiceTimes] = {}
    for name in d.nodes:
        info = spec_by_name.get(name, {})
        if name in d.sink_nodes or info.get("role") == "sink":
            continue
        parts = [p[name] for p in (pairs, tasks) if name in p]
        measured = (np.concatenate([(e - s) * 1000.0 for s, e in parts]) if parts
                    else np.empty(0))
        profile, dists, native = _stage_dists(run, info)
        node_code = d.nodes_cat.index(name) if name in d.nodes_cat else -1
        times = recorded[fin_node == node_code]
        times = times[~np.isnan(times)]
        kind: str | None = None
        cdf_ms = cdf_q = np.empty(0)
        pcts = None
        if dists is not None and name not in switched and name not in tasks:
            cdf_ms, cdf_q, pcts = dist_cdf(dists)
            kind = "distribution"
        elif len(times) and not native:
            cdf_ms, cdf_q, pcts, kind = _recorded_cdf(times)
        if kind is None and not len(measured):
            continue
        out[name] = ServiceTimes(name, profile, kind, measured, cdf_ms, cdf_q, pcts)
    run._cache["service_times"] = out
    return out


def service_percentiles(run: Run) -> dict[str, dict[str, Any]]:
    """node -> its summary `service_ms_percentiles`."""
    return {name: st.summary() for name, st in service_times(run).items()}
