"""Numbers across the runs of a sweep (strategies x X, or x devices), shared by
harness/sweep.py, which runs the sweep, and harness/report.py, which draws it.

It lives here rather than in harness/sweep.py so that the report can mark X* on its plots
without importing the module that runs experiments (that import closed the cycle
experiment -> report -> sweep -> experiment).
"""

from __future__ import annotations

import pandas as pd

from harness.analysis.intervals import interval

# A sweep point is one strategy at one value of each knob (a column of the points; absent or
# None where the strategy ignores it); its repetitions are the runs that share all of them.
POINT_KEYS = ("strategy", "x", "k", "grid", "sched", "sources", "queue_size", "model")
# The measured numbers a point reports as mean +/- 95 % CI over its repetitions.
STAT_METRICS = ("coverage", "delivered_fps", "latency_p50_ms", "latency_p95_ms")
# Numbers every repetition shares (the plan's) or that the model predicts: their mean.
MEAN_COLUMNS = ("capacity_fps", "predicted_coverage", "predicted_delivered_fps",
                "predicted_latency_p50_ms", "switches")


def point_stats(points: pd.DataFrame) -> pd.DataFrame:
    """One row per sweep point: for each of STAT_METRICS its mean (`<metric>`), the half-width
    of its 95 % Student-t interval (`<metric>_ci95`, NaN with one run: no interval) and the
    runs it is over (`<metric>_n`), by harness/analysis/intervals.py's `interval`, the very
    function `fab experiment --repeat` reports with; plus `runs`, `run_ids`, the mean of
    MEAN_COLUMNS, the capacity note and the runs' warnings."""
    if points.empty or "strategy" not in points:
        return pd.DataFrame()
    pts = points.copy()
    keys = [c for c in POINT_KEYS if c in pts]
    for col in (*STAT_METRICS, *MEAN_COLUMNS):
        pts[col] = pd.to_numeric(pts[col], errors="coerce") if col in pts else float("nan")
    rows = []
    for key, g in pts.astype({c: object for c in keys}).groupby(keys, dropna=False, sort=True):
        row = dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True))
        row = {k: (None if _missing(v) else v) for k, v in row.items()}
        for metric in STAT_METRICS:
            ci = interval([None if _missing(v) else float(v) for v in g[metric]])
            row[metric] = _nan(ci["mean"])
            row[f"{metric}_ci95"] = _nan(ci["ci95"])
            row[f"{metric}_n"] = ci["n"]
        for col in MEAN_COLUMNS:
            row[col] = float(g[col].mean()) if g[col].notna().any() else float("nan")
        notes = g["capacity_note"].dropna() if "capacity_note" in g else pd.Series(dtype=str)
        row["capacity_note"] = str(notes.iloc[0]) if len(notes) else ""
        row["runs"] = len(g)
        row["run_ids"] = [str(i) for i in g["run_id"]] if "run_id" in g else []
        warnings = g["warnings"] if "warnings" in g else pd.Series(dtype=str)
        row["warnings"] = "; ".join(sorted({str(w) for w in warnings if w and not _missing(w)}))
        rows.append(row)
    return pd.DataFrame(rows)


def _missing(v: object) -> bool:
    return v is None or (isinstance(v, float) and v != v)


def _nan(v: float | None) -> float:
    return float("nan") if v is None else float(v)


def scaling_curves(stats: pd.DataFrame) -> pd.DataFrame:
    """dp, mp, tasks, adaptive (every strategy shaped by K but ftp and bodp, which have their own
    figures) against K, one row per (strategy, queue, K) of `point_stats`: delivered fps and
    latency p50 with their intervals, the capacity bound, `speedup` = mean delivered fps at
    K over that at K = 1 (same strategy and queue; NaN without a K = 1 point) and
    `bound_speedup`, the same ratio of the capacity bounds: what the strategy could gain."""
    if stats.empty or "k" not in stats:
        return pd.DataFrame()
    pts = stats[stats["k"].notna() & ~stats["strategy"].isin(DEVICE_STRATEGIES)].copy()
    if pts.empty:
        return pd.DataFrame()
    pts["k"] = pts["k"].astype(int)
    if "queue_size" not in pts:
        pts["queue_size"] = None
    pts["line"] = [str(s) if q is None or len(set(pts["queue_size"])) == 1 else f"{s} Q={q}"
                   for s, q in zip(pts["strategy"], pts["queue_size"], strict=True)]
    pts = pts.sort_values(["line", "k"]).reset_index(drop=True)
    one = pts[pts["k"] == 1].set_index("line")
    ref_fps = pts["line"].map(one["delivered_fps"])
    ref_cap = pts["line"].map(one["capacity_fps"])
    pts["speedup"] = pts["delivered_fps"].to_numpy(float) / ref_fps.to_numpy(float)
    pts["bound_speedup"] = pts["capacity_fps"].to_numpy(float) / ref_cap.to_numpy(float)
    return pts


def crossing_x(points: pd.DataFrame) -> int | None:
    """X*: the smallest X from which strategy 2's mean coverage stays above the baseline's.
    Give it one queue size's points: the queue moves X* (crossing_by_queue)."""
    if points.empty or "strategy" not in points:
        return None
    base = points.loc[points["strategy"] == "baseline", "coverage"]
    s2 = points[points["strategy"] == "cao2"].groupby("x")["coverage"].mean().sort_index()
    if base.empty or s2.empty:
        return None
    above = s2 > base.mean()
    if not above.iloc[-1]:
        return None
    xstar = int(above.index[-1])
    for x in reversed(above.index):
        if not above[x]:
            break
        xstar = int(x)
    return xstar


def crossing_by_queue(points: pd.DataFrame) -> dict[int | None, int | None]:
    """X* at each queue size of the points ({None: X*} when they have no queue column or
    one size)."""
    if points.empty or "queue_size" not in points or points["queue_size"].nunique() < 2:
        return {None: crossing_x(points)}
    return {int(q): crossing_x(points[points["queue_size"] == q])
            for q in sorted(points["queue_size"].dropna().unique())}


# DeepThings' figures (seed 002): FTP and BODP against the number of devices K.
DEVICE_STRATEGIES = ("ftp", "bodp")
DEVICE_COLUMNS = ("latency_p50_ms", "predicted_latency_p50_ms", "peak_memory_bytes_per_device",
                  "wire_bytes_per_frame")


def line_of(strategy: object, grid: object = None, sched: object = None) -> str:
    """The curve a point belongs to: `ftp 3x3 wsh`, `bodp` (K is the x axis)."""
    parts = [str(strategy)] + [str(v) for v in (grid, sched)
                               if v is not None and not pd.isna(v) and str(v)]
    return " ".join(parts)


def device_curves(points: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """ftp and bodp points against K, one row per (line, K) (repeats averaged), with the
    speedup over one device of the measured p50 latency and of the discrete-event model's.

    One device: the unpartitioned model on one device, i.e. an ftp run with grid 1x1 at
    K = 1 (DeepThings' reference, and harness/seeds/deepthings.py's); without one, bodp at
    K = 1 (the whole of every layer on one device, through the gateway); without either,
    each line's own K = 1 point (so a 5x5 line's speedup is over 5x5 tiles on one device,
    overlap included). Returns the rows and the reference in words ("" when there is no
    ftp or bodp point). Predicted speedup is the model's latency at one device over its
    latency at K, by the same reference; the model predicts wsh and bodp only, so wst and
    wst-s lines have none.
    """
    if points.empty or "strategy" not in points:
        return pd.DataFrame(), ""
    pts = points[points["strategy"].isin(DEVICE_STRATEGIES)].copy()
    if "k" in pts:
        pts = pts[pts["k"].notna()]
    if "sources" in pts:  # single-source runs only: several sources have their own figures
        pts = pts[pd.to_numeric(pts["sources"], errors="coerce").fillna(1) == 1]
    if pts.empty:
        return pd.DataFrame(), ""
    for col in ("grid", "sched", *DEVICE_COLUMNS):
        if col not in pts:
            pts[col] = None
    pts["line"] = [line_of(s, g, sc) for s, g, sc in
                   zip(pts["strategy"], pts["grid"], pts["sched"], strict=True)]
    pts["k"] = pts["k"].astype(int)
    numeric = pts[list(DEVICE_COLUMNS)].apply(pd.to_numeric, errors="coerce")
    pts = pd.concat([pts.drop(columns=list(DEVICE_COLUMNS)), numeric], axis=1)
    curves = (pts.groupby(["line", "k"], sort=True)
              .agg(strategy=("strategy", "first"), grid=("grid", "first"),
                   sched=("sched", "first"), runs=("run_id", "size"),
                   run_ids=("run_id", lambda ids: [str(i) for i in ids]),
                   **{c: (c, "mean") for c in DEVICE_COLUMNS})
              .reset_index())
    one = curves[curves["k"] == 1]
    unpartitioned = one[(one["strategy"] == "ftp") & (one["grid"].astype(str) == "1x1")]
    bodp_one = one[one["strategy"] == "bodp"]
    chosen = next((r for r in (unpartitioned.sort_values("sched", key=_wsh_first), bodp_one)
                   if not r.empty), None)
    if chosen is not None:
        ref = chosen.iloc[0]
        what = ("the unpartitioned model on one device" if ref["strategy"] == "ftp" else
                "BODP on one device (every layer whole, through the gateway)")
        base = pd.DataFrame({"line": curves["line"], "ref": ref["latency_p50_ms"],
                             "ref_pred": ref["predicted_latency_p50_ms"]})
        words = (f"{what}: {ref['line']} at K = 1, latency p50 "
                 f"{_ms(ref['latency_p50_ms'])} (predicted {_ms(ref['predicted_latency_p50_ms'])})")
    else:
        own = one.set_index("line")
        base = pd.DataFrame({"line": curves["line"],
                             "ref": curves["line"].map(own["latency_p50_ms"]),
                             "ref_pred": curves["line"].map(own["predicted_latency_p50_ms"])})
        words = ("each line's own K = 1 point (no ftp 1x1 or bodp run at K = 1 in this sweep)"
                 if not one.empty else
                 "none: no run at K = 1 in this sweep, so no speedup (add 1 to --devices)")
    curves["speedup"] = base["ref"].to_numpy(float) / curves["latency_p50_ms"].to_numpy(float)
    curves["predicted_speedup"] = (base["ref_pred"].to_numpy(float)
                                   / curves["predicted_latency_p50_ms"].to_numpy(float))
    return curves, words


def _wsh_first(sched: pd.Series) -> pd.Series:
    return sched.map(lambda s: 0 if s == "wsh" else 1)


def _ms(v: object) -> str:
    return "–" if v is None or pd.isna(v) else f"{float(v):.0f} ms"  # type: ignore[arg-type]


def source_latency_ms(summary: dict) -> float | None:
    """A run's worst source's median latency (`max_source_latency_ms`); a run with one source
    has one, so its own p50 (summaries of single-source runs carry no source fields)."""
    v = summary.get("max_source_latency_ms")
    if v is None:
        v = (summary.get("latency_ms") or {}).get("p50")
    return None if v is None else float(v)


def source_curves(points: pd.DataFrame) -> pd.DataFrame:
    """ftp and bodp points against the number of data sources S (DeepThings' multi-source
    figures), one row per (line, K, S): the line is the strategy with its grid, scheduler and
    K (`ftp 3x3 wst-s K=6`), `throughput_fps` the mean total delivered fps over the sources,
    `max_source_latency_ms` the mean worst-source median latency, and `latency_ratio` that
    over the same line's S = 1 point (NaN without one): DeepThings' "3.1x from 1 to 6". Empty
    when no line was run at two or more source counts (the sweep does not vary sources)."""
    if points.empty or "sources" not in points or "strategy" not in points:
        return pd.DataFrame()
    pts = points[points["strategy"].isin(DEVICE_STRATEGIES) & points["sources"].notna()].copy()
    if pts.empty:
        return pd.DataFrame()
    for col in ("grid", "sched", "k"):
        if col not in pts:
            pts[col] = None
    pts["sources"] = pts["sources"].astype(int)
    pts["line"] = [line_of(s, g, sc) + (f" K={int(k)}" if not pd.isna(k) else "")
                   for s, g, sc, k in zip(pts["strategy"], pts["grid"], pts["sched"], pts["k"],
                                          strict=True)]
    for col in ("delivered_fps", "max_source_latency_ms"):
        pts[col] = pd.to_numeric(pts[col], errors="coerce") if col in pts else float("nan")
    curves = (pts.groupby(["line", "sources"], sort=True)
              .agg(strategy=("strategy", "first"), grid=("grid", "first"),
                   sched=("sched", "first"), k=("k", "first"), runs=("run_id", "size"),
                   run_ids=("run_id", lambda ids: [str(i) for i in ids]),
                   throughput_fps=("delivered_fps", "mean"),
                   max_source_latency_ms=("max_source_latency_ms", "mean"))
              .reset_index())
    if curves.groupby("line")["sources"].nunique().max() < 2:
        return pd.DataFrame()
    one = curves[curves["sources"] == 1].set_index("line")["max_source_latency_ms"]
    curves["latency_ratio"] = (curves["max_source_latency_ms"].to_numpy(float)
                               / curves["line"].map(one).to_numpy(float))
    return curves
