"""Per data source numbers of a run with several sources (`--sources=S`, issue 12).

DeepThings measures two things as sources grow: the throughput of the whole cluster (frames
of every source delivered per second) and the maximum latency over the sources (the worst
camera's wait). A run's summary already holds the total (`delivered_fps`); this adds one row
per source and the worst source's latency. A frame's source is read off its packet ID
(harness/schedule.py: source i's IDs are i * ID_STRIDE + 0, 1, ...), so the analysis needs
nothing beyond the traces and the spec; latency is still from each frame's intended send time.

`max_source_latency_ms` is the highest of the sources' median latencies: DeepThings' "maximum
latency" over sources, robust to one late frame (each source's own max is in its row too).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.analysis.derived import derive
from harness.analysis.loading import Run
from harness.analysis.rounding import rounded
from harness.schedule import first_id, source_of, sources_of


def _pcts(x: np.ndarray) -> dict[str, float | None]:
    if not len(x):
        return dict.fromkeys(("p50", "p99", "max"))
    p50, p99 = np.percentile(x, [50, 99])
    return {"p50": rounded(p50), "p99": rounded(p99), "max": rounded(x.max())}


def source_rows(run: Run) -> list[dict[str, Any]] | None:
    """One dict per source of a multi-source run, None for a run with one source: its first
    packet ID, the entry its frames were posted to, measure frames sent and delivered,
    coverage, delivered fps over the run's measure window, latency and send lag p50/p99/max."""
    count = sources_of(run.spec)
    if count <= 1:
        return None
    d = derive(run)
    src = source_of(d.ids.ids, count)
    length = d.window_end - d.window_start
    delivered_mask = ~np.isnan(d.arrival)
    lat = (d.arrival - d.intended) * 1000.0
    lag = (d.sent_t - d.intended) * 1000.0
    targets = list(run.spec.get("targets") or [])
    rows = []
    for s in range(count):
        mine = src == s
        sent = int(mine.sum())
        delivered = int((mine & delivered_mask).sum())
        ok_lag = mine & ~np.isnan(lag)
        rows.append({
            "source": s, "first_id": first_id(s),
            "target": targets[s % len(targets)] if targets else None,
            "sent": sent, "delivered": delivered,
            "coverage": rounded(delivered / sent, 6) if sent else None,
            "delivered_fps": rounded(delivered / length) if length > 0 else None,
            "latency_ms": _pcts(lat[mine & delivered_mask]),
            "send_lag_ms": _pcts(lag[ok_lag]),
        })
    return rows


def sources_summary(run: Run) -> dict[str, Any]:
    """The summary's fields for a multi-source run ({} for one source): `sources` (the rows),
    `max_source_latency_ms` (the worst source's p50, None when no source delivered) and
    `throughput_fps` (every source's delivered frames per second: DeepThings' throughput,
    the same number as `delivered_fps`, named as the paper names it)."""
    rows = source_rows(run)
    if rows is None:
        return {}
    d = derive(run)
    length = d.window_end - d.window_start
    p50s = [r["latency_ms"]["p50"] for r in rows if r["latency_ms"]["p50"] is not None]
    delivered = sum(r["delivered"] for r in rows)
    return {"sources": rows, "max_source_latency_ms": max(p50s) if p50s else None,
            "throughput_fps": rounded(delivered / length) if length > 0 else None}
