"""Host clocks -> the controller's clock, from the run's clocks.json (harness/clocks.py).

A node's stamp t_node = t_controller + offset, with the offset measured at the start and end
of the run; between them it is interpolated linearly (a crystal's drift is steady over
minutes), outside them held at the nearer measurement. One measurement: a constant offset;
none (the host did not answer): the stamps stay as they are and the summary says so.

Pure functions on arrays and the clocks.json dict; loading.py applies them to a Run.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.analysis.rounding import rounded

# A per-hop interval between two hosts is only as good as both clocks' bounds; above this a
# run's per-hop figures get a warning (the hops in this testbed take about a millisecond).
UNCERTAINTY_LIMIT_MS = 1.0


def _points(entry: dict[str, Any] | None) -> list[tuple[float, float, float]]:
    """(at, offset_s, uncertainty_ms) of the usable measurements of one host, by time."""
    pts = []
    for when in ("start", "end"):
        m = (entry or {}).get(when) or {}
        if m.get("offset_ms") is not None and m.get("at") is not None:
            pts.append((float(m["at"]), float(m["offset_ms"]) / 1000.0,
                        float(m.get("uncertainty_ms") or 0.0)))
    return sorted(pts)


def offset_s(entry: dict[str, Any] | None, t: np.ndarray) -> np.ndarray | None:
    """The host's clock offset (s) at host times `t`; None when it was never measured."""
    pts = _points(entry)
    if not pts:
        return None
    at = np.array([p[0] for p in pts])
    off = np.array([p[1] for p in pts])
    # Interpolate in host time (at + offset): the difference from controller time is the
    # offset times the drift, nanoseconds.
    return np.interp(np.asarray(t, dtype=float), at + off, off)


def to_controller(entry: dict[str, Any] | None, t: np.ndarray) -> np.ndarray:
    """Host stamps `t` on the controller's clock (unchanged when the host has no figure)."""
    t = np.asarray(t, dtype=float)
    off = offset_s(entry, t)
    return t if off is None else t - off


def uncertainty_ms(entry: dict[str, Any] | None) -> float | None:
    """The wider of the host's start/end bounds; None when never measured."""
    pts = _points(entry)
    return max(p[2] for p in pts) if pts else None


def clients_uncertainty_ms(clocks: dict[str, Any]) -> float | None:
    """The widest bound of several load clients' clocks (`--clients`); None when one of
    them was never measured (or there are none)."""
    entries = list((clocks.get("clients") or {}).values())
    bounds = [uncertainty_ms(e) for e in entries]
    return None if not bounds or None in bounds else max(b for b in bounds if b is not None)


def host_entries(clocks: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Trace node name -> its clocks.json entry (the sink is the controller: none)."""
    return dict(clocks.get("hosts") or {})


def clock_summary(clocks: dict[str, Any]) -> dict[str, Any]:
    """summary.json `clocks`: per host offset at start and end, uncertainty, drift."""
    if not clocks:
        return {"measured": False}
    out: dict[str, Any] = {"measured": True, "reference": "controller", "hosts": {}}
    entries = dict(host_entries(clocks))
    if clocks.get("client"):
        entries["client"] = clocks["client"]
    for name, entry in (clocks.get("clients") or {}).items():  # `--clients`: one per worker
        entries[f"client {name}"] = entry
    for name, entry in entries.items():
        start, end = entry.get("start") or {}, entry.get("end") or {}
        row: dict[str, Any] = {
            "offset_ms_start": start.get("offset_ms"),
            "offset_ms_end": end.get("offset_ms"),
            "uncertainty_ms": rounded(uncertainty_ms(entry), 4),
            "drift_ppm": None,
            "corrected": bool(_points(entry)),
        }
        if entry.get("host"):
            row["host"] = entry["host"]
        if start.get("offset_ms") is not None and end.get("offset_ms") is not None:
            span = float(end["at"]) - float(start["at"])
            if span > 0:  # ms per s = 1000 ppm
                row["drift_ppm"] = rounded(
                    (float(end["offset_ms"]) - float(start["offset_ms"])) / span * 1000.0, 3)
        errors = [f"{w}: {m['error']}" for w, m in (("start", start), ("end", end))
                  if m.get("error")]
        if errors:
            row["errors"] = errors
        out["hosts"][name] = row
    return out
