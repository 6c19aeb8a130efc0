"""Headline metrics of a run: the summary.json dict and the warnings shown as a banner.

Every figure is computed from `measure`-phase packet IDs only (warm-up frames are
counted, never mixed in), latency is taken from the client's *intended* send time (so a
stalled client or queue cannot hide delay: coordinated omission), and frames that vanish
without any drop record are counted (`lost_unaccounted`) instead of silently lowering
coverage. The field-by-field schema is in docs/results.md.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis.accounting import drop_records, node_stats, trace_ends
from harness.analysis.clocks import clock_summary
from harness.analysis.derived import derive, end_rate
from harness.analysis.energy import energy_of
from harness.analysis.fidelity import (
    SERVICE_ERROR_MAX,
    apply_fidelity,
    drifted,
    percentiles_off,
)
from harness.analysis.hops import clock_warnings, hop_latencies
from harness.analysis.loading import Run
from harness.analysis.profilesource import profile_sources
from harness.analysis.rounding import rounded
from harness.analysis.servicetimes import service_percentiles
from harness.analysis.sources import sources_summary
from harness.analysis.switches import model_switches, switch_summary
from harness.monitor import read_samples
from harness.schedule import sources_of

SCHEMA_VERSION = 1
# Measured vs predicted coverage may differ by this much before a report says so.
PREDICTION_TOLERANCE = 0.05
MODELLED_FAULTS = {"slow"}  # harness/des.py models these; other faults are not (Params.slow)


def latencies_ms(run: Run) -> np.ndarray:
    """Latency of every delivered measure frame, ms, from intended send to sink arrival."""
    d = derive(run)
    ok = ~np.isnan(d.arrival)
    return (d.arrival[ok] - d.intended[ok]) * 1000.0


def send_lag_ms(run: Run) -> np.ndarray:
    """Send lag of every sent measure frame, ms: actual minus intended send time. Large
    values mean the load generator itself could not keep to the schedule."""
    d = derive(run)
    ok = ~np.isnan(d.sent_t) & ~np.isnan(d.intended)
    return (d.sent_t[ok] - d.intended[ok]) * 1000.0


def clients_of(run: Run) -> list[dict[str, Any]] | None:
    """Per load client of a run with several (`--clients`, client.csv's `worker` column):
    its measure frames, achieved send rate and send lag; None for a run with one client."""
    c = run.client
    if not len(c) or "worker" not in c:
        return None
    m = c[c["phase"].astype(str) == "measure"]
    out = []
    for name, g in m.groupby(m["worker"].astype(str), sort=True, observed=True):
        st = np.sort(g["sent_t"].to_numpy(float))
        st = st[~np.isnan(st)]
        achieved = (len(st) - 1) / (st[-1] - st[0]) if len(st) >= 2 and st[-1] > st[0] else None
        lag = ((g["sent_t"] - g["intended_t"]).to_numpy(float)) * 1000.0
        out.append({"worker": name, "sent": len(g),
                    "achieved_send_fps": rounded(achieved) if achieved is not None else None,
                    "send_lag_ms": _pcts(lag[~np.isnan(lag)])})
    return out


def _pcts(x: np.ndarray) -> dict[str, float | None]:
    """p50 / p99 / max of `x`, all None when empty (a run that sent nothing)."""
    if not len(x):
        return dict.fromkeys(("p50", "p99", "max"))
    p50, p99 = np.percentile(x, [50, 99])
    return {"p50": rounded(p50), "p99": rounded(p99), "max": rounded(x.max())}


def step_table(run: Run) -> pd.DataFrame:
    """Per rate step (runs with `rates`): offered and delivered fps, coverage, latency.

    Frames belong to the step their intended time falls in; the schedule is rebuilt from
    the spec (harness/schedule.py), so this needs no timing guesswork at step edges.
    delivered_fps = frames of the step that reached the sink / step length.
    """
    cols = ["step", "rate_fps", "offered_fps", "scheduled", "sent", "delivered",
            "delivered_fps", "coverage", "latency_p50_ms", "latency_p99_ms", "send_lag_p99_ms"]
    spec = run.spec
    if not spec.get("rates"):
        return pd.DataFrame(columns=cols)
    from harness.schedule import frames_of, from_spec

    sched = from_spec(spec)
    fr = frames_of(spec)  # every source's frames: a step holds each source's share of it
    d = derive(run)
    ids = d.ids.ids
    by_pid = np.argsort(fr.pid, kind="stable")
    pos = np.minimum(np.searchsorted(fr.pid[by_pid], ids), max(len(fr) - 1, 0))
    step = np.full(len(ids), -2, dtype=np.int64)
    if len(fr):
        found = fr.pid[by_pid][pos] == ids
        step[found] = fr.step[by_pid][pos][found]
    lat = (d.arrival - d.intended) * 1000.0
    lag = (d.sent_t - d.intended) * 1000.0
    rows = []
    for seg in sched.steps:
        m = step == seg.step
        scheduled = int((fr.step == seg.step).sum())
        delivered = int((m & ~np.isnan(d.arrival)).sum())
        sent = int(m.sum())
        ls = lat[m & ~np.isnan(lat)]
        lg = lag[m & ~np.isnan(lag)]
        rows.append([
            seg.step, seg.rate_fps, scheduled / seg.duration_s, scheduled, sent, delivered,
            delivered / seg.duration_s, delivered / sent if sent else np.nan,
            np.percentile(ls, 50) if len(ls) else np.nan,
            np.percentile(ls, 99) if len(ls) else np.nan,
            np.percentile(lg, 99) if len(lg) else np.nan,
        ])
    return pd.DataFrame(rows, columns=cols)


def min_run_check(spec: dict[str, Any], length_s: float, frames: int) -> tuple[dict, str]:
    """LoadGen's minimum-run rule: (details, reason it fails or '').

    A schedule holds whole frames, round(rate x duration) of them, and the measured part
    ends one frame interval after the last: at 124.05 fps for 10 s that is 1240 frames and
    9.996 s. A part short of --min-duration by less than half a frame interval is the whole
    duration asked for, not a short run."""
    min_s = float(spec.get("min_duration_s") or 0.0)
    min_n = int(spec.get("min_frames") or 0)
    rate = end_rate(spec)
    slack = 0.5 / rate if rate > 0 else 0.0
    reasons = []
    if length_s + slack + 1e-6 < min_s:
        reasons.append(f"measured part {length_s:.3f} s is shorter than --min-duration "
                       f"{min_s:g} s")
    if frames < min_n:
        reasons.append(f"{frames} measure frames are fewer than --min-frames {min_n}")
    info = {"min_duration_s": min_s, "min_frames": min_n, "measured_s": rounded(length_s, 6),
            "frames": frames, "ok": not reasons}
    return info, "; ".join(reasons)


NO_BOUND_ZERO = "no capacity bound: the profiles add no time (none is needed)"


def capacity_of(spec: dict[str, Any]) -> tuple[float | None, str | None]:
    """The run's capacity bound and, when there is no number, why, in words.

    spec.json `capacity_fps` is a number, inf (the profiles add no time: there is no
    bound) or null (a profile has no cost model, e.g. `native` on real Pis: the bound is
    not known; `capacity_note` says which). summary.json cannot hold inf, so both kinds of
    "no number" become null there and `capacity_note` tells them apart."""
    if "capacity_fps" not in spec:
        return None, None  # a spec written before capacity bounds (or a synthetic one)
    capacity = spec["capacity_fps"]
    if capacity is None:
        why = spec.get("capacity_note")
        if not why:
            profiles = spec.get("profiles")
            unknown = sorted(p for p, e in profiles.items()
                             if e is None and _worker_uses(spec, p)) if isinstance(
                profiles, dict) else []
            why = (f"profile {', '.join(unknown)} has no cost model; calibrate it (issue 14) "
                   "or use a device profile") if unknown else "a profile has no cost model"
        return None, f"no capacity bound: {why}"
    capacity = float(capacity)
    if math.isinf(capacity):
        return capacity, NO_BOUND_ZERO
    return capacity, None


def _worker_uses(spec: dict[str, Any], profile: str) -> bool:
    workers = [n.get("profile") for n in spec.get("nodes") or []
               if n.get("role") != "sink" and n.get("profile")]
    return profile in (workers or str(spec.get("profile") or "").split(","))


def summarize(run: Run) -> dict[str, Any]:
    """The summary.json dict of a run (schema: docs/results.md)."""
    d = derive(run)
    spec = run.spec
    sent = len(d.ids)
    delivered_mask = ~np.isnan(d.arrival)
    delivered = int(delivered_mask.sum())
    length = d.window_end - d.window_start
    drops, has_drop, _, _ = drop_records(run, d)
    drops_total = int(sum(sum(r.values()) for r in drops.values()))
    lost_unaccounted = int((~delivered_mask & ~has_drop).sum())

    st = d.sent_t[~np.isnan(d.sent_t)]
    if len(st) >= 2 and st.max() > st.min():
        achieved = (len(st) - 1) / (st.max() - st.min())
    else:
        achieved = sent / length if length > 0 else float("nan")
    delivered_fps = delivered / length if length > 0 else float("nan")

    lat = latencies_ms(run)
    latency: dict[str, float | None] = dict.fromkeys(("p50", "p95", "p99", "mean", "max"))
    if len(lat):
        p50, p95, p99 = np.percentile(lat, [50, 95, 99])
        latency = {"p50": rounded(p50), "p95": rounded(p95), "p99": rounded(p99),
                   "mean": rounded(lat.mean()), "max": rounded(lat.max())}

    offered = float(spec.get("rate_fps") or 0.0)
    if spec.get("rates"):  # equal-length steps: the mean offered rate of the measured part
        offered = float(np.mean([float(r) for r in spec["rates"]]))
    offered *= sources_of(spec)  # the rate is per data source (`--sources`)
    capacity, capacity_note = capacity_of(spec)
    if capacity is None and capacity_note:
        efficiency = float("nan")  # delivered / min(offered, capacity): capacity not known
    else:
        bound = min(offered, float(capacity)) if capacity else offered
        efficiency = delivered_fps / bound if bound and bound > 0 else float("nan")
    ends, early, missing = trace_ends(run, d)
    warmup = int((run.client["phase"].astype(str) == "warmup").sum()) if len(run.client) else 0

    summary: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "run_id": spec.get("run_id", run.run_dir.name),
        "strategy": spec.get("strategy"),
        "profile": spec.get("profile"),
        "started_at": spec.get("started_at"),
        "duration_s": spec.get("duration_s"),
        "offered_fps": rounded(offered),
        "achieved_send_fps": rounded(achieved),
        "delivered_fps": rounded(delivered_fps),
        "capacity_fps": rounded(capacity) if capacity is not None else None,
        "capacity_note": capacity_note,
        "efficiency": rounded(efficiency, 4),
        "sent": sent,
        "delivered": delivered,
        "coverage": rounded(delivered / sent, 6) if sent else None,
        "lost": sent - delivered,
        "drops": drops,
        "drops_total": drops_total,
        "lost_unaccounted": lost_unaccounted,
        "latency_ms": latency,
        "nodes": _with_percentiles(node_stats(run, d), service_percentiles(run)),
        "profile_sources": profile_sources(run.spec),
        "energy": energy_of(run, d, delivered),
        "warmup_frames": warmup,
        "window": {"start": rounded(d.window_start, 6), "end": rounded(d.window_end, 6),
                   "length_s": rounded(length, 6)},
        "trace_ends": ends,
        "traces_ending_early": early,
        "missing_traces": missing,
        "switches": switch_summary(model_switches(run)),
        "arrival": spec.get("arrival", "constant"),
        "arrival_seed": spec.get("arrival_seed"),
        "client": spec.get("client", "controller"),
        "clocks": clock_summary(run.clocks if run.corrected else {}),
        "hops": hop_latencies(run),
    }
    lag = send_lag_ms(run)
    threshold = spec.get("lag_threshold_ms")
    summary["send_lag_ms"] = {**_pcts(lag), "threshold": threshold}
    summary["send_lag_flagged"] = bool(
        threshold is not None and len(lag) and np.percentile(lag, 99) > float(threshold))
    clients = clients_of(run)
    if clients is not None:
        summary["clients"] = clients
    summary.update(sources_summary(run))  # several data sources: a row each, the worst
    steps = step_table(run)
    if len(steps):
        summary["steps"] = [{k: (rounded(v) if isinstance(v, float) else int(v))
                             for k, v in row.items()} for row in steps.to_dict("records")]
    summary["min_run"], why = min_run_check(spec, length, sent)
    for flag in ("invalid", "interrupted"):
        if spec.get(flag):
            summary[flag] = spec[flag]
    if why:
        summary["invalid"] = "; ".join(x for x in (summary.get("invalid"), why) if x)
    # The emulation's own check (idle CPU, service-time error, send lag): a run that broke
    # it is invalid too, with the reason (harness/analysis/fidelity.py).
    apply_fidelity(summary, read_samples(run.run_dir))
    summary["warnings"] = warnings_of(summary)
    return summary


def _with_percentiles(nodes: dict[str, dict[str, Any]],
                      pcts: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each node's `service_ms_percentiles` (None for a node with no service time: a sink)."""
    for name, n in nodes.items():
        n["service_ms_percentiles"] = pcts.get(name)
    return nodes


def emulation_warnings(summary: dict[str, Any]) -> list[str]:
    """The emulation checks itself (the Mininet-HiFi rule: a result from an overloaded
    emulator is not a result): a node whose real compute plus overhead outlasted its
    profile time (`overruns`), whose measured mean service time drifts from the profile's
    (`drifted`), or whose measured p50/p90/p99 leave the profile's distribution
    (`percentiles_off`; harness/analysis/fidelity.py has the limits and why)."""
    out = []
    for name, n in (summary.get("nodes") or {}).items():
        if n.get("overruns"):
            out.append(f"node {name}: {n['overruns']} frame(s) overran the profile time "
                       f"({n.get('profile')}): the host computed slower than the device it "
                       "emulates, so this node's times are the host's, not the profile's")
        err = n.get("service_error")
        if err is not None and drifted(n):
            out.append(f"node {name}: measured mean service time "
                       f"{n.get('measured_service_ms_mean')} ms differs from the profile's "
                       f"{n.get('service_ms_mean')} ms by {err:+.1%} "
                       f"(> {SERVICE_ERROR_MAX:.0%}): the emulation did not keep to "
                       "its profile")
        off = percentiles_off(n)
        if off:
            pct = n["service_ms_percentiles"]
            diffs = ", ".join(f"{k} {pct['measured'][k]:.2f} ms vs {pct['profile'][k]:.2f} ms "
                              f"({pct['difference'][k]:+.1%})" for k in off)
            out.append(f"node {name}: measured service-time percentiles differ from its "
                       f"profile's distribution ({n.get('profile')}) by more than "
                       f"{SERVICE_ERROR_MAX:.0%} over {pct['frames']} frames: {diffs}; the "
                       "emulation did not keep to the distribution it was given")
    return out


def dead_reasons(summary: dict[str, Any]) -> dict[str, str]:
    """Why a node whose trace ended early (or never began) died, where it is known: the
    kernel's OOM killer ended it under `--enforce-memory` (memory.json, harness/memcap.py)."""
    hosts = ((summary.get("memory") or {}).get("cgroups") or {}).get("hosts") or {}
    dead = set(summary.get("traces_ending_early") or []) | set(summary.get("missing_traces")
                                                                or [])
    return {n: h["oom_reason"] for n, h in hosts.items()
            if n in dead and isinstance(h, dict) and h.get("oom_reason")}


def _with_reason(node: str, why: dict[str, str]) -> str:
    return f"{node} ({why[node]})" if node in why else node


def memory_warnings(summary: dict[str, Any]) -> list[str]:
    """A node measured holding more memory than its device has (it would not fit there),
    and OOM kills on a host whose node lived on (a helper process was ended instead)."""
    mem = summary.get("memory") or {}
    out = []
    for name, n in (mem.get("nodes") or {}).items():
        if n.get("rss_over_ram"):
            out.append(f"node {name}: measured RSS {int(n['rss_peak_kb']) / 1024:.0f} MB exceeds "
                       f"its device's RAM ({n.get('ram_mb')} MB): it would not fit on the "
                       "device (--enforce-memory caps the lab host to show what happens)")
    dead = dead_reasons(summary)
    for name, h in ((mem.get("cgroups") or {}).get("hosts") or {}).items():
        if isinstance(h, dict) and h.get("oom_reason") and name not in dead:
            out.append(f"host {name}: {h.get('oom_kills')} process(es) {h['oom_reason']}, "
                       "while its node kept running (an SSH session or a Locust client there)")
    return out


def warnings_of(summary: dict[str, Any]) -> list[str]:
    """Human-readable reasons not to trust a run as is (shown as a banner in reports)."""
    out = []
    if summary.get("invalid"):
        out.append(f"run marked invalid: {summary['invalid']}")
    if summary.get("interrupted"):
        out.append(f"run was interrupted: {summary['interrupted']}")
    if summary.get("send_lag_flagged"):
        lag = summary.get("send_lag_ms") or {}
        out.append(f"send lag p99 {lag.get('p99')} ms exceeds {lag.get('threshold')} ms: the "
                   "load generator could not keep to the schedule (offered load was lower and "
                   "burstier than asked)")
    if summary.get("lost_unaccounted"):
        out.append(f"{summary['lost_unaccounted']} measure frames vanished without any drop "
                   "record (lost_unaccounted)")
    why = dead_reasons(summary)
    if summary.get("traces_ending_early"):
        out.append("trace(s) ending > 2 s before the others (node died or hung?): "
                   + ", ".join(_with_reason(n, why) for n in summary["traces_ending_early"]))
    if summary.get("missing_traces"):
        out.append("no trace rows for: "
                   + ", ".join(_with_reason(n, why) for n in summary["missing_traces"]))
    out += memory_warnings(summary)
    out += clock_warnings(summary)
    out += emulation_warnings(summary)
    for f in summary.get("faults") or []:
        out.append(f"fault injected: {f['kind']} on {f['host']}"
                   + ("" if f.get("ok", True) else f" (not applied: {f.get('detail')})")
                   + " - the numbers describe a run with a failure, shaded on the timelines")
    pred = summary.get("predicted") or {}
    if pred.get("coverage") is not None and summary.get("coverage") is not None:
        gap = summary["coverage"] - pred["coverage"]
        faults = sorted({f["kind"] for f in summary.get("faults") or []} - MODELLED_FAULTS)
        if abs(gap) > PREDICTION_TOLERANCE:
            out.append(
                f"measured coverage {summary['coverage']:.3f} differs from the discrete-event "
                f"model's {pred['coverage']:.3f} by {gap:+.3f} (> {PREDICTION_TOLERANCE}): "
                + (f"the model runs without the injected fault ({', '.join(faults)}), so a "
                   "gap is expected" if faults else "an emulation artefact or a modelling "
                   "error; compare the timelines before trusting either"))
    return out



def verdict(summary: dict[str, Any]) -> tuple[str, list[str]]:
    """Can this run be used as it is? `valid` (no warnings), `invalid` (marked invalid or
    interrupted, which includes a failed minimum-run rule: the numbers do not describe the
    run that was asked for) or `check` (complete, but a warning says what to look at before
    trusting it); with the reasons. The report's card and the ledger both say this, so it is
    decided once, here. Summaries written before `warnings` was stored get them recomputed."""
    reasons = summary.get("warnings")
    reasons = list(reasons) if reasons is not None else warnings_of(summary)
    if summary.get("invalid") or summary.get("interrupted"):
        return "invalid", reasons
    return ("check" if reasons else "valid"), reasons


def write_summary(run_dir: str | Path, summary: dict[str, Any]) -> Path:
    """Write summary.json next to the run's traces."""
    path = Path(run_dir) / "summary.json"
    path.write_text(json.dumps(summary, indent=2, sort_keys=False))
    return path
