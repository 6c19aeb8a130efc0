"""Per-node accounting of a run: where measure frames were dropped, per-node counts and
service times, and whose trace ended early.

These feed `summarize` (harness/analysis/metrics.py) and the drops-over-time series; a
frame is only "lost unaccounted" if no node and no client error explains it, so the drop
bookkeeping has to be exact, including client-side failures no node ever saw.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis.derived import (
    Derived,
    busy_cumulative,
    code_of,
    distinct,
    in_codes,
    measure_pairs,
    numeric_details,
)
from harness.analysis.loading import DROP_EVENTS, Run
from harness.analysis.rounding import rounded

# A trace without `stopped` events that ends this much before the others is "ending early".
EARLY_END_S = 2.0


def drop_table(run: Run, d: Derived) -> pd.DataFrame:
    """Every drop record of a measure ID, one row each, in the order they are counted:

    `pos` (into `d.ids`), `t`, `node` (categorical: the trace nodes, then `client`),
    `reason` (see docs/results.md) and `row` (the trace row in `run.events`, -1 for a client
    failure). Trace rows are `dropped` / `forward_failed` / `rejected`; then the client's own
    failures: no answer at all, or an HTTP error the node did not trace. The summary counts
    these (drop_records); harness.results shows each frame's own."""
    codes = {e: code_of(d.events_cat, e) for e in DROP_EVENTS}
    m = in_codes(d.ev_event, list(codes.values()), len(d.events_cat)) & (d.ev_pos >= 0)
    idx = np.flatnonzero(m)
    details = run.events["detail"].to_numpy(object)[idx]
    evs = d.ev_event[idx]
    reasons = pd.Series(details, dtype=object).fillna("").astype(str).to_numpy(object)
    prefix = {codes["forward_failed"]: "forward_failed:", codes["rejected"]: "rejected:"}
    for code, pre in prefix.items():
        sel = evs == code
        if sel.any():
            reasons[sel] = pre + pd.Series(reasons[sel], dtype=object)
    empty = reasons == ""
    reasons[empty] = "unknown"

    rejected_ids = np.zeros(len(d.ids), dtype=bool)
    rej = m & (d.ev_event == codes["rejected"])
    rejected_ids[d.ev_pos[rej]] = True
    client_err = (d.status != 200) & ~((d.status != 0) & rejected_ids)
    st = d.status[client_err]
    labels = np.where(st == 0, "client_error", np.char.add("http_", st.astype(str)))
    t_err = np.where(np.isnan(d.sent_t), d.intended, d.sent_t)[client_err]

    cats = d.nodes_cat + ([] if "client" in d.nodes_cat else ["client"])
    node_codes = np.concatenate([d.ev_node[idx],
                                 np.full(len(st), cats.index("client"), dtype=np.int64)])
    return pd.DataFrame({
        "pos": np.concatenate([d.ev_pos[idx], np.flatnonzero(client_err)]).astype(np.int64),
        "t": np.concatenate([d.ev_t[idx], t_err]),
        "node": pd.Categorical.from_codes(node_codes, categories=cats),
        "reason": np.concatenate([reasons, labels.astype(object)]),
        "row": np.concatenate([idx, np.full(len(st), -1, dtype=np.int64)]).astype(np.int64),
    })


def drop_records(run: Run, d: Derived) -> tuple[dict[str, dict[str, int]], np.ndarray,
                                                 np.ndarray, np.ndarray]:
    """Drops of measure IDs by node and reason, plus a per-ID 'has a drop record' mask,
    the time of every drop (for the per-second series) and the trace rows among them."""
    table = drop_table(run, d)
    drops: dict[str, dict[str, int]] = {}
    counts = table.groupby(["node", "reason"], sort=True, observed=True).size()
    for (node, reason), n in counts.items():
        drops.setdefault(str(node), {})[str(reason)] = int(n)
    has_drop = np.zeros(len(d.ids), dtype=bool)
    has_drop[table["pos"].to_numpy()] = True
    rows = table["row"].to_numpy()
    return drops, has_drop, table["t"].to_numpy(float), rows[rows >= 0]


def node_stats(run: Run, d: Derived) -> dict[str, dict[str, Any]]:
    """Per-node counts (measure IDs), service times, utilisation and queue depth."""
    n_nodes, n_ev = len(d.nodes_cat), len(d.events_cat)
    meas = d.ev_pos >= 0
    counts = np.bincount(d.ev_node[meas] * n_ev + d.ev_event[meas],
                         minlength=n_nodes * n_ev).reshape(n_nodes, n_ev) if n_nodes else None
    detail = run.events["detail"].to_numpy(object)
    # A task helper's work is task_finished rows (one per block, `<real_ms>:<profile_ms>`).
    fin = meas & in_codes(d.ev_event, [code_of(d.events_cat, "finished"),
                                       code_of(d.events_cat, "task_finished")], n_ev)
    real, prof = split_finished(detail[fin])
    fin_node = d.ev_node[fin]
    rec = meas & (d.ev_event == code_of(d.events_cat, "received"))
    depth = numeric_details(detail[rec])
    rec_node = d.ev_node[rec]
    length = d.window_end - d.window_start
    work = measure_pairs(d)  # the measure frames' service times, as `prof` has them
    spec_by_name = {str(n.get("name")): n for n in run.spec.get("nodes", [])}
    out: dict[str, dict[str, Any]] = {}
    for name in d.nodes:
        info = spec_by_name.get(name, {})
        code = d.nodes_cat.index(name) if name in d.nodes_cat else -1

        def count(event: str, code: int = code) -> int:
            e = code_of(d.events_cat, event)
            return int(counts[code, e]) if code >= 0 and e >= 0 and counts is not None else 0

        dep = depth[rec_node == code] if code >= 0 else np.empty(0)
        dep = dep[~np.isnan(dep)]
        r = real[fin_node == code] if code >= 0 else np.empty(0)
        p = prof[fin_node == code] if code >= 0 else np.empty(0)
        measured = None
        parts = [p[name] for p in work if name in p and len(p[name][0])]
        if parts:
            measured = np.concatenate([(e - s) * 1000.0 for s, e in parts])
        util = None
        busy = busy_seconds(d, name)
        if busy is not None and length > 0:
            util = rounded(busy / length, 4)
        elif code >= 0 and length > 0 and name not in d.sink_nodes:
            util = 0.0
        profile_mean = float(np.nanmean(p)) if len(p) and not np.isnan(p).all() else None
        tasks_done = count("task_finished")
        processed: float = count("finished")
        blocks = _blocks_of(run, d, info, code)
        if tasks_done:  # a task helper: frames-equivalent of the blocks it computed
            processed = rounded(processed + tasks_done / blocks, 3) if blocks else processed
        out[name] = {
            "role": info.get("role"),
            "profile": info.get("profile"),
            "stages": info.get("stages"),
            "received": count("received"),
            "dropped": count("dropped"),
            "rejected": count("rejected"),
            "processed": processed,
            "tasks_processed": tasks_done,
            "forwarded": count("forwarded"),
            "forward_failed": count("forward_failed"),
            "service_ms_mean": rounded(np.nanmean(p)) if len(p) and not np.isnan(p).all() else None,
            "real_ms_mean": rounded(np.nanmean(r)) if len(r) and not np.isnan(r).all() else None,
            "measured_service_ms_mean": rounded(measured.mean()) if measured is not None else None,
            "measured_service_ms_p95": (rounded(np.percentile(measured, 95))
                                        if measured is not None else None),
            **{f"measured_service_ms_p{q}": (rounded(np.percentile(measured, q))
                                             if measured is not None and len(measured) else None)
               for q in (50, 90, 99)},
            "overruns": count("overrun"),
            "service_error": _service_error(measured, profile_mean, info.get("profile")),
            "utilisation": util,
            "queue_depth_mean": rounded(dep.mean()) if len(dep) else None,
            "queue_depth_max": int(dep.max()) if len(dep) else None,
        }
    return out


def busy_seconds(d: Derived, name: str) -> float | None:
    """Worker-seconds node `name` spent between `started` and `finished` (task helpers:
    `task_started`/`task_finished`) inside the measure window, every packet's work counted
    (warm-up frames occupy the worker too); None for a node with no such pairs (a sink).
    Utilisation is this over the window's length; energy prices it at the busy power."""
    if name not in d.busy:
        return None
    s, e = d.busy[name]
    b = busy_cumulative(s, e, np.array([d.window_start, d.window_end]))
    return float(b[1] - b[0])


def _service_error(measured: np.ndarray | None, profile_mean: float | None,
                   profile: Any) -> float | None:
    """(measured mean service time - the profile's) / the profile's: how far the node's
    real started-to-finished time drifted from what it was meant to emulate; None for a
    native node (it has no profile time to keep) or when either side is missing."""
    if (profile == "native" or measured is None or not len(measured) or profile_mean is None
            or profile_mean <= 0):
        return None
    return rounded((float(measured.mean()) - profile_mean) / profile_mean, 4)


def _blocks_of(run: Run, d: Derived, info: dict[str, Any], code: int) -> int | None:
    """T, the blocks per frame a task helper computes: its spec node's `pull.blocks`, else
    the `i/T` of its task_started rows; None when neither says."""
    pull = info.get("pull")
    if isinstance(pull, dict) and isinstance(pull.get("blocks"), int) and pull["blocks"] > 0:
        return int(pull["blocks"])
    m = (d.ev_node == code) & (d.ev_event == code_of(d.events_cat, "task_started"))
    idx = np.flatnonzero(m)[:1]
    if not len(idx):
        return None
    text = str(run.events["detail"].to_numpy(object)[idx[0]])
    t = text.split("/", 1)[1] if "/" in text else ""
    return int(t) if t.isdigit() and int(t) > 0 else None


def trace_ends(run: Run, d: Derived) -> tuple[dict[str, float | None], list[str], list[str]]:
    """Last event time per node; nodes whose trace ends early (a node that died or hung)
    and spec nodes with no trace rows at all.

    node_app ends every trace it closes with a `stopped` event, so when the run's traces
    carry them, "ended early" means "has none": an idle node (say B while A helps in
    strategy 1) is not mistaken for a dead one. Older traces fall back to "stops > 2 s
    before the others"."""
    ends: dict[str, float | None] = {n: None for n in d.nodes}
    # A pass per node (there are few) instead of a groupby; fmax skips NaN stamps as max did.
    for code in np.flatnonzero(np.bincount(d.ev_node + 1, minlength=1)[1:]):
        ends[d.nodes_cat[int(code)]] = float(np.fmax.reduce(d.ev_t[d.ev_node == code]))
    present = {n: t for n, t in ends.items() if t is not None}
    stopped_code = code_of(d.events_cat, "stopped")
    if stopped_code >= 0 and (d.ev_event == stopped_code).any():
        clean = {d.nodes_cat[int(c)] for c in np.unique(d.ev_node[d.ev_event == stopped_code])}
        early = [n for n in present if n not in clean]
        missing = [n for n, t in ends.items() if t is None]
        return {n: rounded(t, 6) for n, t in ends.items()}, early, missing
    early = []
    for n, t in present.items():
        others = [u for m, u in present.items() if m != n]
        if others and t < max(others) - EARLY_END_S:
            early.append(n)
    missing = [n for n, t in ends.items() if t is None]
    return {n: rounded(t, 6) for n, t in ends.items()}, early, missing


def split_finished(details: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`_split_finished` of each distinct detail once (a run repeats its few thousand
    `<real_ms>:<profile_ms>` texts over a million rows). A text with a quote or a line break
    could make the C parser join rows, which depends on their order, so then every row is
    parsed as before."""
    if details.dtype != object:
        return _split_finished(details)
    codes, uniques = distinct(details)
    if any(isinstance(u, str) and ('"' in u or "\n" in u or "\r" in u) for u in uniques):
        return _split_finished(details)
    real, prof = _split_finished(uniques)
    return real[codes], prof[codes]


def _split_finished(details: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Parse `<real_ms>:<profile_ms>` for many rows at once by handing the joined text to
    the C CSV parser (str.split on a million strings would take seconds)."""
    if not len(details):
        return np.empty(0), np.empty(0)
    text = "\n".join(str(d) for d in details) if details.dtype != object else None
    try:
        if text is None:
            text = "\n".join(details.tolist())
        parsed = pd.read_csv(
            io.StringIO(text), sep=":", header=None, names=["real", "profile"],
            dtype="float64", engine="c", skip_blank_lines=False,
        )
        if len(parsed) == len(details):
            return parsed["real"].to_numpy(), parsed["profile"].to_numpy()
    except (ValueError, TypeError, pd.errors.ParserError):
        pass
    parts = pd.Series(details, dtype=object).astype(str).str.split(":", n=1, expand=True)
    real = pd.to_numeric(parts[0], errors="coerce").to_numpy(float)
    prof = (pd.to_numeric(parts[1], errors="coerce").to_numpy(float) if parts.shape[1] > 1
            else np.full(len(details), np.nan))
    return real, prof
