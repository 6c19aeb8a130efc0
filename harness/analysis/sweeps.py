"""Numbers across the runs of a sweep (strategies x X, or x devices), shared by
harness/sweep.py, which runs the sweep, and harness/report.py, which draws it.

It lives here rather than in harness/sweep.py so that the report can mark X* on its plots
without importing the module that runs experiments (that import closed the cycle
experiment -> report -> sweep -> experiment).
"""

from __future__ import annotations

import pandas as pd


def crossing_x(points: pd.DataFrame) -> int | None:
    """X*: the smallest X from which strategy 2's mean coverage stays above the baseline's."""
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
