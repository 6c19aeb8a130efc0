"""Per-second series for the report's timelines: frames, queue depth, utilisation, drops.

Seconds count from the start of the measure window, so the plots of different runs line
up; the last bin reaches the latest event (a drain after the schedule shows up rather than
being cut off).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

from harness.analysis.accounting import drop_records
from harness.analysis.derived import Derived, busy_cumulative, code_of, derive, numeric_details
from harness.analysis.loading import Run


def _bins(d: Derived, times: Iterable[np.ndarray]) -> int:
    """Seconds to plot: from the window start to the latest of `times` or the window end."""
    last = max([float(np.nanmax(t)) for t in times if len(t) and not np.isnan(t).all()]
               + [d.window_end])
    return max(1, int(math.ceil(last - d.window_start)))


def per_second_counts(run: Run) -> pd.DataFrame:
    """Measure frames sent / delivered / dropped in each second after the window start."""
    d = derive(run)
    _, _, drop_t, _ = drop_records(run, d)
    sent_t = np.where(np.isnan(d.sent_t), d.intended, d.sent_t)
    arr = d.arrival[~np.isnan(d.arrival)]
    n = _bins(d, [sent_t, arr, drop_t])

    def hist(t: np.ndarray) -> np.ndarray:
        s = np.floor(t - d.window_start).astype(np.int64)
        s = s[(s >= 0) & (s < n)]
        return np.bincount(s, minlength=n)

    return pd.DataFrame({"second": np.arange(n), "sent": hist(sent_t),
                         "delivered": hist(arr), "dropped": hist(drop_t)})


def queue_depth_per_second(run: Run) -> pd.DataFrame:
    """Per node and second: mean and max queue depth seen at `received` (all frames: the
    queue holds warm-up frames too). Long format: second, node, mean, max."""
    d = derive(run)
    rec = d.ev_event == code_of(d.events_cat, "received")
    rec &= ~np.isin(d.ev_node, [d.nodes_cat.index(s) for s in d.sink_nodes
                                if s in d.nodes_cat])
    rec &= d.ev_t >= d.window_start
    idx = np.flatnonzero(rec)
    depth = numeric_details(run.events["detail"].to_numpy(object)[idx])
    ok = ~np.isnan(depth)
    df = pd.DataFrame({
        "second": np.floor(d.ev_t[idx][ok] - d.window_start).astype(np.int64),
        "node": np.asarray(d.nodes_cat, dtype=object)[d.ev_node[idx][ok]],
        "depth": depth[ok],
    })
    if df.empty:
        return pd.DataFrame(columns=["second", "node", "mean", "max"])
    g = df.groupby(["node", "second"], sort=True)["depth"].agg(["mean", "max"]).reset_index()
    return g[["second", "node", "mean", "max"]]


def utilisation_per_second(run: Run) -> pd.DataFrame:
    """Busy share of each second per node (index: second; one column per node)."""
    d = derive(run)
    ends = [e for _, e in d.busy.values()]
    n = _bins(d, ends)
    edges = d.window_start + np.arange(n + 1, dtype=float)
    cols = {name: np.diff(busy_cumulative(s, e, edges)) for name, (s, e) in d.busy.items()}
    ordered = {n_: cols[n_] for n_ in d.nodes if n_ in cols}
    return pd.DataFrame(ordered, index=pd.RangeIndex(n, name="second"))


def drops_per_second_by_node(run: Run) -> pd.DataFrame:
    """Measure frames dropped per second, one column per node: where the losses happen."""
    d = derive(run)
    ev = run.events
    sel = (ev["event"] == "dropped").to_numpy() & (d.ev_pos >= 0)
    if not sel.any():
        return pd.DataFrame()
    sec = np.floor(d.ev_t[sel] - d.window_start).astype(np.int64)
    frame = pd.DataFrame({"second": sec, "node": ev["node"].to_numpy()[sel].astype(str)})
    table = frame.groupby(["second", "node"]).size().unstack(fill_value=0)
    n = _bins(d, [d.ev_t[sel]])
    return table.reindex(range(n), fill_value=0).rename_axis("second").reset_index()
