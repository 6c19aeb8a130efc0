"""Per-strategy extras from the traces: the model switches nodes make (strategies 1 and 2
reload stages at run time, and a switch is time in which a node serves nothing), and the
adaptive entry's shares of the work over time (issue 13: what a slow fault moves).

Tasks per helper and weight memory per device come from the nodes' /stats, not from the
traces, so they live in harness/resources.py.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from harness.analysis.loading import Run
from harness.analysis.rounding import rounded


def model_switches(run: Run) -> pd.DataFrame:
    """Each model switch a node made: node, start, end (Unix s), duration_ms, stages switched to.

    Pairs `switch_started` with the node's next `switch_finished`; a switch still open when
    the trace ends gets end = NaN (the node died or was stopped mid-switch).
    """
    ev = run.events
    sw = ev[ev["event"].isin(["switch_started", "switch_finished"])]
    rows = []
    for node, g in sw.groupby("node", observed=True):
        open_start, target = None, ""
        for t, event, detail in zip(g["t"], g["event"].astype(str), g["detail"], strict=True):
            if event == "switch_started":
                open_start, target = float(t), str(detail)
            elif open_start is not None:
                rows.append((str(node), open_start, float(t), (float(t) - open_start) * 1000.0,
                             target))
                open_start = None
        if open_start is not None:
            rows.append((str(node), open_start, float("nan"), float("nan"), target))
    return pd.DataFrame(rows, columns=["node", "start", "end", "duration_ms", "to"])


def switch_summary(sw: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Per node: how many switches, mean and total ms (open switches count, have no ms)."""
    out = {}
    for node, g in sw.groupby("node"):
        d = g["duration_ms"].dropna()
        out[str(node)] = {"count": int(len(g)), "mean_ms": rounded(d.mean()) if len(d) else None,
                          "total_ms": rounded(d.sum()) if len(d) else None}
    return out


def share_series(run: Run) -> pd.DataFrame:
    """Each `shares` row of an adaptive entry (node_app/roles/adaptive.py), one row per
    member: t (Unix s, as the other events), node (the entry), member (a worker's
    host:port, or `local`), share (0..1). Empty for every other strategy."""
    ev = run.events
    rows = []
    sh = ev[ev["event"] == "shares"]
    for t, node, detail in zip(sh["t"], sh["node"].astype(str), sh["detail"], strict=True):
        for part in str(detail).split(","):
            member, _, share = part.rpartition("=")
            try:
                rows.append((float(t), node, member, float(share)))
            except ValueError:
                continue  # a malformed row is skipped, never fatal to a report
    return pd.DataFrame(rows, columns=["t", "node", "member", "share"])
