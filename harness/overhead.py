"""The testbed's own per-hop overhead, measured in a run's traces.

The discrete-event model needs the time a worker stays busy after computing a frame (the
forward: HTTP round trip to the next hop). A constant from an idle machine's bench is
wrong on a busy one, and on real Pis it is whatever their network gives; the run's own
traces hold the real figure: `forwarded` minus `finished` of the same packet on the
same node. Without any forward in the run, `make bench`'s node overhead
(bench/results.json) stands in; without that, nothing does (`hop_ms` says so).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd


def forward_ms(events: pd.DataFrame) -> float | None:
    """Median ms from `finished` to `forwarded` of one packet on one node, over every
    worker node of the run; None when the run forwarded nothing.

    A task gateway (it traces `task_sent`) is left out: between its `finished` (its own
    stage) and `forwarded` (the assembled frame) lie the helpers' tasks, not a hop. An
    emulated link's wait before the send (`link_delayed`, node_app/link.py) is taken out:
    it is the link's, which the model adds per link (harness/link_plan.py), not the
    testbed's overhead, which every hop pays."""
    gateways = events.loc[events["event"] == "task_sent", "node"].unique()
    ev = events[events["event"].isin(["finished", "forwarded"]) & ~events["node"].isin(gateways)]
    if ev.empty:
        return None
    first = (ev.groupby(["node", "packet_id", "event"], observed=True)["t"].min()
             .unstack("event"))
    if "finished" not in first or "forwarded" not in first:
        return None
    gap = (first["forwarded"] - first["finished"]).dropna()
    waited = link_wait_s(events)
    if len(waited):
        gap = gap.sub(waited.reindex(gap.index).fillna(0.0))
    gap = gap[gap >= 0]
    return round(float(gap.median()) * 1000.0, 3) if len(gap) else None


def link_wait_s(events: pd.DataFrame) -> pd.Series:
    """Per (node, packet) the first `link_delayed` wait, s (the one before the node's first
    forward of the packet), from its detail `<ms>[:lost]`; empty without emulated links."""
    rows = events[events["event"] == "link_delayed"]
    if rows.empty:
        return pd.Series(dtype="float64")
    ms = pd.to_numeric(rows["detail"].astype(str).str.partition(":")[0], errors="coerce")
    first = (rows.assign(wait=ms / 1000.0).sort_values("t")
             .groupby(["node", "packet_id"], observed=True)["wait"].first())
    return first.dropna()


def link_summary(spec: dict, events: pd.DataFrame | None) -> dict | None:
    """summary.json `link_emulation`: the mechanism that ran, the links as given, and what
    node_app's forwarders waited per node (frames, mean ms, frames charged an RTO); None for a
    run without `--link`. Under netem the kernel's waits are not traced: no `waited`."""
    doc = spec.get("link_emulation")
    if not doc:
        return None
    out = {"mechanism": doc.get("mechanism", ""),
           "links": [f"{a.get('spec')} ({a.get('mechanism')})" for a in doc.get("links") or []]}
    rows = (events[events["event"] == "link_delayed"] if events is not None
            else pd.DataFrame())
    if len(rows):
        detail = rows["detail"].astype(str)
        ms = pd.to_numeric(detail.str.partition(":")[0], errors="coerce")
        lost = detail.str.endswith(":lost")
        waited = {}
        for node, idx in rows.groupby("node", observed=True).groups.items():
            waited[str(node)] = {"frames": int(len(idx)),
                                 "mean_ms": round(float(ms.loc[idx].mean()), 3),
                                 "lost": int(lost.loc[idx].sum())}
        out["waited"] = waited
    return out


BENCH_RESULTS = Path(__file__).resolve().parent.parent / "bench" / "results.json"


def bench_hop_ms(path: Path = BENCH_RESULTS) -> float | None:
    """The node overhead `make bench` measured (`node_overhead_zero_profile`: received ->
    forwarded minus the real compute, p50, median over its nodes), or None when there is
    no bench result (never a remembered constant: it goes stale as the node changes)."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    section = doc.get("node_overhead_zero_profile") if isinstance(doc, dict) else None
    if not isinstance(section, dict):
        return None
    p50 = [v["p50_ms"] for v in section.values()
           if isinstance(v, dict) and isinstance(v.get("p50_ms"), (int, float))]
    return round(float(np.median(p50)), 3) if p50 else None


def hop_ms(events: pd.DataFrame | None, bench: Path = BENCH_RESULTS) -> tuple[float | None, str]:
    """The per-hop overhead for a prediction and where it came from: this run's traces
    first, else the bench result; (None, why) when neither exists, so the prediction says
    it was made without one instead of inventing a number."""
    measured = forward_ms(events) if events is not None else None
    if measured is not None:
        return measured, "median forwarded - finished in this run's traces"
    benched = bench_hop_ms(bench)
    if benched is not None:
        return benched, (f"{bench.name} node overhead p50 (make bench; this run forwarded "
                         "nothing)")
    return None, "none: no forward in this run's traces and no bench result"
