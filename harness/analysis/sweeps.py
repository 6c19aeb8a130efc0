"""Numbers across the runs of a sweep (strategies x X), shared by harness/sweep.py, which
runs the sweep, and harness/report.py, which draws it.

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
