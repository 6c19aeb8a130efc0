"""Rounding for summary.json: every float a reader sees goes through `rounded`."""

from __future__ import annotations

import math
from typing import Any


def rounded(x: Any, nd: int = 3) -> float | None:
    """JSON-safe rounded float (NaN/inf -> None)."""
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) or math.isinf(x) else round(x, nd)
