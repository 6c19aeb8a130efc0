"""Mean and a 95 % Student-t confidence interval of repeated measurements.

Shared by `fab experiment --repeat` (harness/repeat.py, one group of runs) and the sweep
report (harness/report.py, one interval per sweep point), so the error bar a sweep draws is
the very interval a repetition group reports. It lives in the analysis package, below both,
because the report may not import harness.repeat (which imports the report to write its page).

The interval is Student's t: mean +/- t(0.975, n - 1) * sd / sqrt(n), sd with n - 1; the
runs are taken as independent draws of one number (each is a whole run with its own nodes
started fresh). With n = 1 there is no interval (None).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

# t(0.975, df) for df = 1..30 (scipy.stats.t.ppf, 6 decimals); beyond 30, the expansion
# in `t975`. tests/test_repeat.py holds both to scipy.
_T975 = (12.706205, 4.302653, 3.182446, 2.776445, 2.570582, 2.446912, 2.364624, 2.306004,
         2.262157, 2.228139, 2.200985, 2.178813, 2.160369, 2.144787, 2.131450, 2.119905,
         2.109816, 2.100922, 2.093024, 2.085963, 2.079614, 2.073873, 2.068658, 2.063899,
         2.059539, 2.055529, 2.051831, 2.048407, 2.045230, 2.042272)
_Z975 = 1.959963984540054


def t975(df: int) -> float:
    """The two-sided 95 % quantile of Student's t with df degrees of freedom.

    A table to df = 30, then Cornish-Fisher's expansion in 1/df around the normal quantile
    (Abramowitz and Stegun 26.7.5, four terms: within 3e-8 of the exact value for df > 30),
    so the harness needs no scipy at run time."""
    if df < 1:
        raise ValueError(f"df must be >= 1, got {df}")
    if df <= len(_T975):
        return _T975[df - 1]
    z = _Z975
    g = ((z**3 + z) / 4, (5 * z**5 + 16 * z**3 + 3 * z) / 96,
         (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384,
         (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160)
    return z + sum(gi / df ** (i + 1) for i, gi in enumerate(g))


def interval(values: Sequence[float | None]) -> dict[str, Any]:
    """Mean and 95 % Student-t interval of the values that are numbers; `missing` counts
    the runs that had none (a run that delivered nothing has no latency)."""
    xs = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    out: dict[str, Any] = {"n": len(xs), "missing": len(values) - len(xs), "values": xs,
                           "mean": None, "sd": None, "ci95": None, "low": None, "high": None}
    if not xs:
        return out
    n = len(xs)
    mean = sum(xs) / n
    out["mean"] = mean
    if n >= 2:
        sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))
        half = t975(n - 1) * sd / math.sqrt(n)
        out.update(sd=sd, ci95=half, low=mean - half, high=mean + half)
    return out
