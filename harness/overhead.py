"""The testbed's own per-hop overhead, measured in a run's traces.

The discrete-event model needs the time a worker stays busy after computing a frame (the
forward: HTTP round trip to the next hop). A constant from an idle machine's bench is
wrong on a busy one, and on real Pis it is whatever their network gives; the run's own
traces hold the real figure: `forwarded` minus `finished` of the same packet on the
same node. Without any forward in the run, `make bench`'s node overhead
(bench/results.json) stands in; without that, nothing does (`hop_ms` says so).

A gateway board's messages (ftp's tiles, bodp's bands) differ in size by an order of
magnitude, so for them a message costs a fixed part plus its bytes at a rate, both fitted on
the run's own task messages (`message_fit`), as `hop_ms` is measured on its forwards.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
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


# A message's bytes: the gateway boards (ftp, bodp) ---------------------------------------

MIN_TASKS = 8  # fewer task messages than this: no fit
MIN_SPREAD = 2.0  # the largest message must be this many times the smallest
MIN_R = 0.3  # the bytes must explain some of the time (correlation), else no fit


@dataclass(frozen=True)
class MessageFit:
    """A gateway board's message cost from the run's own traces: a message takes
    `hop_ms` + its bytes / `rate` (bytes per ms); rate None: no usable fit, so the
    prediction prices each message at `hop_ms` alone (`basis` says which and why)."""

    hop_ms: float | None
    rate: float | None
    basis: str
    tasks: int


def task_messages(events: pd.DataFrame) -> pd.DataFrame:
    """Per task a gateway handed out and took back (its `task_sent` and `task_done`, detail
    `<device>:<block>`) and the device computed (`task_started` `<block>/<T>`, then
    `task_finished`): `block` and `comm_ms`, the gateway's sent-to-done time minus the
    device's started-to-finished time. That is the task's two messages (its input out, its
    result back) with their fixed costs and bytes, each difference on one node's own clock,
    so no clock offset enters. Tiles a stealing source computes itself have no `task_sent`
    and are left out. Empty when the run has no such tasks."""
    empty = pd.DataFrame({"block": pd.Series(dtype=int), "comm_ms": pd.Series(dtype=float)})
    g = events[events["event"].isin(["task_sent", "task_done"])]
    dev = events[events["event"].isin(["task_started", "task_finished"])].sort_values("t")
    if g.empty or dev.empty:
        return empty
    g = g.assign(device=g["detail"].astype(str).str.split(":").str[0],
                 block=pd.to_numeric(g["detail"].astype(str).str.split(":").str[1],
                                     errors="coerce"))
    at_g = g.dropna(subset=["block"]).pivot_table(
        index=["packet_id", "device", "block"], columns="event", values="t", aggfunc="min",
        observed=True)
    started = dev["detail"].astype(str).str.split("/").str[0].where(
        dev["event"] == "task_started")
    dev = dev.assign(block=pd.to_numeric(started, errors="coerce"))
    dev["block"] = dev.groupby("node", observed=True)["block"].ffill()
    at_d = dev.dropna(subset=["block"]).pivot_table(
        index=["packet_id", "node", "block"], columns="event", values="t", aggfunc="min",
        observed=True)
    at_d.index = at_d.index.set_names(["packet_id", "device", "block"])
    need = {"task_sent", "task_done", "task_started", "task_finished"}
    both = at_g.join(at_d, how="inner")
    if both.empty or not need <= set(both.columns):
        return empty
    comm = ((both["task_done"] - both["task_sent"])
            - (both["task_finished"] - both["task_started"])) * 1000.0
    out = pd.DataFrame({"block": both.index.get_level_values("block").astype(int),
                        "comm_ms": comm.to_numpy()}).dropna()
    return out[out["comm_ms"] >= 0].reset_index(drop=True)


def message_fit(events: pd.DataFrame | None, task_bytes: list[int]) -> MessageFit | None:
    """Fit the run's task messages: comm_ms = 2 x hop + bytes / rate (least squares), bytes
    = block b's input plus its result (`task_bytes[b]`, from the strategy's geometry). Used
    when the fit is usable (at least MIN_TASKS tasks, messages of at least MIN_SPREAD x
    different sizes, a positive slope, correlation at least MIN_R); else the per-message
    cost alone, half the median task's comm_ms. None when the run has no task messages."""
    if events is None:
        return None
    obs = task_messages(events)
    obs = obs[obs["block"].between(0, len(task_bytes) - 1)]
    if obs.empty:
        return None
    x = np.array([task_bytes[b] for b in obs["block"]], dtype=float)
    y = obs["comm_ms"].to_numpy(dtype=float)
    n = len(y)
    why = None
    if n < MIN_TASKS:
        why = f"{n} tasks (fewer than {MIN_TASKS})"
    elif x.min() <= 0 or x.max() < MIN_SPREAD * x.min():
        why = (f"messages of {x.min() / 1e3:.0f}-{x.max() / 1e3:.0f} kB (less than "
               f"{MIN_SPREAD:g} x apart)")
    else:
        slope, intercept = np.polyfit(x, y, 1)
        r = float(np.corrcoef(x, y)[0, 1])
        if slope <= 0 or r < MIN_R:
            why = f"time does not grow with bytes (slope {slope:.3g} ms/B, r {r:.2f})"
        else:
            hop = round(max(float(intercept), 0.0) / 2.0, 3)
            rate = round(1.0 / float(slope), 1)
            return MessageFit(hop, rate, (
                f"fit of {n} task messages in this run's traces (gateway sent-to-done minus "
                f"device compute, against input + result bytes): {float(intercept):.2f} ms "
                f"per task (2 messages) + bytes / {rate / 1e3:.1f} kB/ms, r {r:.2f}"), n)
    hop = round(float(np.median(y)) / 2.0, 3)
    return MessageFit(hop, None, (
        f"half the median of {n} task messages' time in this run's traces ({hop} ms a "
        f"message); no usable fit against bytes: {why}; bytes not priced"), n)
