"""Turn one run directory into numbers: load the traces, join them by packet ID, summarise.

The summary is what a researcher compares strategies by, so every figure is computed from
`measure`-phase packet IDs only (warm-up frames are counted, never mixed in), latency is
taken from the client's *intended* send time (so a stalled client or queue cannot hide
delay: coordinated omission), and frames that vanish without any drop record are counted
(`lost_unaccounted`) instead of silently lowering coverage. The field-by-field schema is in
docs/results.md.

Speed matters: an hour at a few hundred frames/s is a million packets and several million
trace rows, so loading uses the C CSV parser with fixed dtypes and every join is a
vectorised numpy operation on packet IDs (no per-row Python).
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

EVENTS = ("received", "dropped", "rejected", "started", "finished", "forwarded", "forward_failed",
          "stopped")
DROP_EVENTS = ("dropped", "forward_failed", "rejected")
TRACE_COLUMNS = ["t", "packet_id", "node", "event", "detail"]
TRACE_DTYPES = {
    "t": "float64",
    "packet_id": "int64",
    "node": "category",
    "event": "category",
    "detail": "object",
}
CLIENT_DTYPES = {
    "packet_id": "int64",
    "phase": "category",
    "intended_t": "float64",
    "sent_t": "float64",
    "status": "float64",
    "accepted": "category",
    "overloaded": "category",
    "queue_depth": "float64",
    "reply_ms": "float64",
    "target": "category",
}
TRUE_STRINGS = frozenset({"1", "1.0", "true", "True", "TRUE", "yes"})
EARLY_END_S = 2.0
SCHEMA_VERSION = 1


@dataclass
class Run:
    """One run as loaded from `runs/<run-id>/`.

    spec: the resolved spec.json (extra keys kept as they are).
    client: client.csv; `accepted`/`overloaded` as bool, `status` as int (0 = client error).
    events: every trace concatenated; `node` and `event` categorical so grouping is cheap.
    """

    run_dir: Path
    spec: dict[str, Any]
    client: pd.DataFrame
    events: pd.DataFrame
    trace_files: dict[str, Path] = field(default_factory=dict)
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


# --------------------------------------------------------------------------- loading


def _bool_column(col: pd.Series) -> pd.Series:
    """0/1 and True/False both mean what they say; map the few categories, not the rows."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        truth = np.asarray([str(c) in TRUE_STRINGS for c in col.cat.categories], dtype=bool)
        codes = col.cat.codes.to_numpy()
        out = np.zeros(len(col), dtype=bool)
        ok = codes >= 0
        out[ok] = truth[codes[ok]]
        return pd.Series(out, index=col.index)
    return col.astype(str).isin(TRUE_STRINGS)


def _read_client(path: Path) -> pd.DataFrame:
    """Read client.csv with fixed dtypes (fast path) or tolerantly if a row is damaged."""
    if not path.exists():
        return pd.DataFrame({c: pd.Series(dtype=d) for c, d in CLIENT_DTYPES.items()})
    try:
        df = pd.read_csv(path, dtype=CLIENT_DTYPES, engine="c")
    except (ValueError, TypeError):
        df = pd.read_csv(path, dtype=str, engine="c", on_bad_lines="skip")
        for col in ("packet_id", "intended_t", "sent_t", "status", "queue_depth", "reply_ms"):
            if col in df:
                df[col] = pd.to_numeric(df[col], errors="coerce")
        df = df[df["packet_id"].notna()].copy()
        df["packet_id"] = df["packet_id"].astype("int64")
        for col in ("phase", "accepted", "overloaded", "target"):
            if col in df:
                df[col] = df[col].astype("category")
    for col in ("accepted", "overloaded"):
        if col in df:
            df[col] = _bool_column(df[col])
    if "status" in df:
        df["status"] = df["status"].fillna(0).astype("int64")
    return df


def _read_trace(path: Path) -> pd.DataFrame:
    """Read one node trace. A node killed mid-write can leave a torn last line, so a
    failing fast parse falls back to a tolerant one that drops unparseable rows."""
    try:
        df = pd.read_csv(path, dtype=TRACE_DTYPES, engine="c", usecols=TRACE_COLUMNS)
    except (ValueError, TypeError):
        df = pd.read_csv(path, dtype=str, engine="c", on_bad_lines="skip")
        df["t"] = pd.to_numeric(df["t"], errors="coerce")
        df["packet_id"] = pd.to_numeric(df["packet_id"], errors="coerce")
        df = df[df["t"].notna() & df["packet_id"].notna() & df["event"].notna()].copy()
        df["packet_id"] = df["packet_id"].astype("int64")
        df["node"] = df["node"].fillna(path.stem).astype("category")
        df["event"] = df["event"].astype("category")
        df["detail"] = df["detail"].astype(object)
    return df[TRACE_COLUMNS]


def _concat_events(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate traces keeping `node`/`event` categorical (pandas would fall back to
    object dtype if the category sets differed)."""
    nodes: list[str] = []
    events: list[str] = list(EVENTS)
    for f in frames:
        nodes += [str(c) for c in f["node"].cat.categories if str(c) not in nodes]
        events += [str(c) for c in f["event"].cat.categories if str(c) not in events]
    node_type = pd.CategoricalDtype(nodes)
    event_type = pd.CategoricalDtype(events)
    fixed = []
    for f in frames:
        f = f.copy(deep=False)
        f["node"] = f["node"].astype(node_type)
        f["event"] = f["event"].astype(event_type)
        fixed.append(f)
    if not fixed:
        return pd.DataFrame(
            {
                "t": pd.Series(dtype="float64"),
                "packet_id": pd.Series(dtype="int64"),
                "node": pd.Categorical([], dtype=node_type),
                "event": pd.Categorical([], dtype=event_type),
                "detail": pd.Series(dtype="object"),
            }
        )
    return pd.concat(fixed, ignore_index=True)


def load_run(run_dir: str | Path) -> Run:
    """Load spec.json, client.csv and every traces/<node>.csv of one run directory."""
    run_dir = Path(run_dir)
    spec = json.loads((run_dir / "spec.json").read_text())
    trace_files = {p.stem: p for p in sorted((run_dir / "traces").glob("*.csv"))}
    # The C parser releases the GIL while tokenising, so two threads use both cores.
    with ThreadPoolExecutor(max_workers=2) as pool:
        client_f = pool.submit(_read_client, run_dir / "client.csv")
        frames = list(pool.map(_read_trace, trace_files.values()))
        client = client_f.result()
    frames = [f for f in frames if len(f)]
    return Run(run_dir, spec, client, _concat_events(frames), trace_files)


# --------------------------------------------------------------------------- joins


class _IdIndex:
    """Position of packet IDs in the sorted array of measure IDs (a vectorised join key).

    A dense lookup table is used when IDs are compact (the usual case: 0..N), else a
    binary search; both avoid hashing millions of Python objects.
    """

    def __init__(self, ids: np.ndarray) -> None:
        ids = np.sort(np.asarray(ids, dtype=np.int64))
        keep = np.ones(len(ids), dtype=bool)
        keep[1:] = ids[1:] != ids[:-1]
        self.ids = ids[keep]
        self._lut: np.ndarray | None = None
        if len(self.ids) and self.ids[0] >= 0 and self.ids[-1] < 4 * len(self.ids) + 1_000_000:
            lut = np.full(int(self.ids[-1]) + 1, -1, dtype=np.int64)
            lut[self.ids] = np.arange(len(self.ids))
            self._lut = lut

    def __len__(self) -> int:
        return len(self.ids)

    def pos(self, pids: np.ndarray) -> np.ndarray:
        """Index into `ids` for each pid, -1 when the pid is not a measure ID."""
        pids = np.asarray(pids, dtype=np.int64)
        if not len(self.ids):
            return np.full(len(pids), -1, dtype=np.int64)
        if self._lut is not None:
            ok = (pids >= 0) & (pids < len(self._lut))
            out = np.full(len(pids), -1, dtype=np.int64)
            out[ok] = self._lut[pids[ok]]
            return out
        p = np.searchsorted(self.ids, pids)
        p_clip = np.minimum(p, len(self.ids) - 1)
        return np.where(self.ids[p_clip] == pids, p_clip, -1)


def _numeric(details: np.ndarray) -> np.ndarray:
    """Queue depths from `detail` strings (empty at the sink -> NaN)."""
    return pd.to_numeric(pd.Series(details, dtype=object), errors="coerce").to_numpy(float)


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


def _busy_cumulative(starts: np.ndarray, ends: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Busy seconds of intervals [starts, ends] before each time in `at`.

    The overlap of [s, e] with (-inf, T] is (T - s)+ - (T - e)+, so prefix sums over the
    sorted starts and ends give every bin at once, exactly, even for overlapping workers.
    """
    s = np.sort(starts)
    e = np.sort(ends)
    cs = np.concatenate([[0.0], np.cumsum(s)])
    ce = np.concatenate([[0.0], np.cumsum(e)])
    ns = np.searchsorted(s, at, side="right")
    ne = np.searchsorted(e, at, side="right")
    return (ns * at - cs[ns]) - (ne * at - ce[ne])


@dataclass
class _Derived:
    """Everything the summary and the plots share, computed once per Run."""

    ids: _IdIndex
    intended: np.ndarray  # per measure ID
    sent_t: np.ndarray  # per measure ID (NaN if never sent)
    status: np.ndarray  # per measure ID
    window_start: float
    window_end: float
    nodes: list[str]
    sink_nodes: list[str]
    ev_t: np.ndarray
    ev_node: np.ndarray  # codes into `nodes_cat`
    ev_event: np.ndarray  # codes into `events_cat`
    ev_pos: np.ndarray  # position in ids or -1
    nodes_cat: list[str]
    events_cat: list[str]
    arrival: np.ndarray  # per measure ID: first sink arrival, NaN if not delivered
    busy: dict[str, tuple[np.ndarray, np.ndarray]]  # node -> (starts, ends)


def _code(cats: list[str], name: str) -> int:
    return cats.index(name) if name in cats else -2


def _pair_busy(d_t: np.ndarray, d_node: np.ndarray, d_ev: np.ndarray, d_pid: np.ndarray,
               started: int, finished: int, nodes_cat: list[str]
               ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Pair each `started` with the `finished` of the same packet on the same node.

    Rows are stable-sorted by (node, packet_id); a trace is written in time order, so the
    started row of a packet precedes its finished row and a pair is two adjacent rows.
    The key is nearly sorted already (IDs grow with time), which keeps timsort linear.
    """
    sel = (d_ev == started) | (d_ev == finished)
    t, node, ev, pid = d_t[sel], d_node[sel], d_ev[sel], d_pid[sel]
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if not len(t):
        return out
    span = int(pid.max() - pid.min()) + 1
    key = node.astype(np.int64) * span + (pid - pid.min())
    order = np.argsort(key, kind="stable")
    t, node, ev, key = t[order], node[order], ev[order], key[order]
    pair = (key[:-1] == key[1:]) & (ev[:-1] == started) & (ev[1:] == finished)
    s, e, n = t[:-1][pair], t[1:][pair], node[:-1][pair]
    for code in np.flatnonzero(np.bincount(n)):
        m = n == code
        out[nodes_cat[code]] = (s[m], e[m])
    return out


def _derive(run: Run) -> _Derived:
    if "derived" in run._cache:
        return run._cache["derived"]
    c = run.client
    meas = c[c["phase"].astype(str) == "measure"] if len(c) else c
    meas = meas.drop_duplicates("packet_id", keep="first")
    ids = _IdIndex(meas["packet_id"].to_numpy(np.int64))
    order = np.argsort(meas["packet_id"].to_numpy(np.int64), kind="stable")
    intended = meas["intended_t"].to_numpy(float)[order]
    sent_t = meas["sent_t"].to_numpy(float)[order]
    status = meas["status"].to_numpy(np.int64)[order]

    rate = float(run.spec.get("rate_fps") or 0.0)
    if run.spec.get("rates"):  # rate steps: the measured part ends in the last step
        rate = float(run.spec["rates"][-1])
    duration = float(run.spec.get("duration_s") or 0.0)
    if len(intended):
        start = float(np.nanmin(intended))
        last = float(np.nanmax(intended))
        end = last + 1.0 / rate if rate > 0 else (start + duration if duration > 0 else last)
    else:
        start = float(run.spec.get("started_at") or 0.0) + float(run.spec.get("warmup_s") or 0)
        end = start + duration

    ev = run.events
    nodes_cat = [str(x) for x in ev["node"].cat.categories]
    events_cat = [str(x) for x in ev["event"].cat.categories]
    spec_nodes = [str(n.get("name")) for n in run.spec.get("nodes", []) if n.get("name")]
    nodes = spec_nodes + [n for n in nodes_cat if n not in spec_nodes]
    sink_nodes = [str(n["name"]) for n in run.spec.get("nodes", [])
                  if n.get("role") == "sink" and n.get("name")]
    if not sink_nodes:
        sink_nodes = ["sink"]

    ev_t = ev["t"].to_numpy(float)
    ev_node = ev["node"].cat.codes.to_numpy(np.int64)
    ev_event = ev["event"].cat.codes.to_numpy(np.int64)
    ev_pid = ev["packet_id"].to_numpy(np.int64)
    ev_pos = ids.pos(ev_pid)

    # First arrival at a sink per measure ID = delivery time.
    arrival = np.full(len(ids), np.nan)
    sink_codes = [nodes_cat.index(s) for s in sink_nodes if s in nodes_cat]
    recv = _code(events_cat, "received")
    m = np.isin(ev_node, sink_codes) & (ev_event == recv) & (ev_pos >= 0)
    if m.any():
        pos, t = ev_pos[m], ev_t[m]
        o = np.argsort(t, kind="stable")[::-1]  # latest first so the earliest write wins
        arrival[pos[o]] = t[o]

    busy = _pair_busy(ev_t, ev_node, ev_event, ev_pid, _code(events_cat, "started"),
                      _code(events_cat, "finished"), nodes_cat)
    d = _Derived(ids, intended, sent_t, status, start, end, nodes, sink_nodes, ev_t, ev_node,
                 ev_event, ev_pos, nodes_cat, events_cat, arrival, busy)
    run._cache["derived"] = d
    return d


# --------------------------------------------------------------------------- summary


def _f(x: Any, nd: int = 3) -> float | None:
    """JSON-safe rounded float (NaN/inf -> None)."""
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) or math.isinf(x) else round(x, nd)


def _drop_records(run: Run, d: _Derived) -> tuple[dict[str, dict[str, int]], np.ndarray,
                                                  np.ndarray, np.ndarray]:
    """Drops of measure IDs by node and reason, plus a per-ID 'has a drop record' mask
    and the (time, node) of every drop for the per-second series."""
    has_drop = np.zeros(len(d.ids), dtype=bool)
    drops: dict[str, dict[str, int]] = {}
    codes = {e: _code(d.events_cat, e) for e in DROP_EVENTS}
    m = np.isin(d.ev_event, list(codes.values())) & (d.ev_pos >= 0)
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
    table = pd.DataFrame({"node": d.ev_node[idx], "reason": reasons})
    for (node, reason), n in table.groupby(["node", "reason"], sort=True).size().items():
        drops.setdefault(d.nodes_cat[int(node)], {})[str(reason)] = int(n)
    has_drop[d.ev_pos[idx]] = True
    drop_t = d.ev_t[idx]

    # Client-side failures: no answer at all, or an HTTP error the node did not trace.
    rejected_ids = np.zeros(len(d.ids), dtype=bool)
    rej = m & (d.ev_event == codes["rejected"])
    rejected_ids[d.ev_pos[rej]] = True
    client_err = (d.status != 200) & ~((d.status != 0) & rejected_ids)
    if client_err.any():
        st = d.status[client_err]
        labels = np.where(st == 0, "client_error", np.char.add("http_", st.astype(str)))
        for reason, n in zip(*np.unique(labels, return_counts=True), strict=True):
            drops.setdefault("client", {})[str(reason)] = int(n)
        has_drop |= client_err
        t_err = np.where(np.isnan(d.sent_t), d.intended, d.sent_t)[client_err]
        drop_t = np.concatenate([drop_t, t_err])
    return drops, has_drop, drop_t, idx


def _node_stats(run: Run, d: _Derived) -> dict[str, dict[str, Any]]:
    """Per-node counts (measure IDs), service times, utilisation and queue depth."""
    n_nodes, n_ev = len(d.nodes_cat), len(d.events_cat)
    meas = d.ev_pos >= 0
    counts = np.bincount(d.ev_node[meas] * n_ev + d.ev_event[meas],
                         minlength=n_nodes * n_ev).reshape(n_nodes, n_ev) if n_nodes else None
    detail = run.events["detail"].to_numpy(object)
    fin = meas & (d.ev_event == _code(d.events_cat, "finished"))
    real, prof = _split_finished(detail[fin])
    fin_node = d.ev_node[fin]
    rec = meas & (d.ev_event == _code(d.events_cat, "received"))
    depth = _numeric(detail[rec])
    rec_node = d.ev_node[rec]
    length = d.window_end - d.window_start
    spec_by_name = {str(n.get("name")): n for n in run.spec.get("nodes", [])}
    out: dict[str, dict[str, Any]] = {}
    for name in d.nodes:
        info = spec_by_name.get(name, {})
        code = d.nodes_cat.index(name) if name in d.nodes_cat else -1

        def count(event: str, code: int = code) -> int:
            e = _code(d.events_cat, event)
            return int(counts[code, e]) if code >= 0 and e >= 0 and counts is not None else 0

        dep = depth[rec_node == code] if code >= 0 else np.empty(0)
        dep = dep[~np.isnan(dep)]
        r = real[fin_node == code] if code >= 0 else np.empty(0)
        p = prof[fin_node == code] if code >= 0 else np.empty(0)
        measured = None
        if name in d.busy and len(d.busy[name][0]):
            s, e = d.busy[name]
            measured = (e - s) * 1000.0
        util = None
        if name in d.busy and length > 0:
            s, e = d.busy[name]
            b = _busy_cumulative(s, e, np.array([d.window_start, d.window_end]))
            util = _f((b[1] - b[0]) / length, 4)
        elif code >= 0 and length > 0 and name not in d.sink_nodes:
            util = 0.0
        out[name] = {
            "role": info.get("role"),
            "stages": info.get("stages"),
            "received": count("received"),
            "dropped": count("dropped"),
            "rejected": count("rejected"),
            "processed": count("finished"),
            "forwarded": count("forwarded"),
            "forward_failed": count("forward_failed"),
            "service_ms_mean": _f(np.nanmean(p)) if len(p) and not np.isnan(p).all() else None,
            "real_ms_mean": _f(np.nanmean(r)) if len(r) and not np.isnan(r).all() else None,
            "measured_service_ms_mean": _f(measured.mean()) if measured is not None else None,
            "measured_service_ms_p95": (_f(np.percentile(measured, 95))
                                        if measured is not None else None),
            "utilisation": util,
            "queue_depth_mean": _f(dep.mean()) if len(dep) else None,
            "queue_depth_max": int(dep.max()) if len(dep) else None,
        }
    return out


def _trace_ends(run: Run, d: _Derived) -> tuple[dict[str, float | None], list[str], list[str]]:
    """Last event time per node; nodes whose trace ends early (a node that died or hung)
    and spec nodes with no trace rows at all.

    node_app ends every trace it closes with a `stopped` event, so when the run's traces
    carry them, "ended early" means "has none": an idle node (say B while A helps in
    strategy 1) is not mistaken for a dead one. Older traces fall back to "stops > 2 s
    before the others"."""
    ends: dict[str, float | None] = {n: None for n in d.nodes}
    if len(d.ev_t):
        last = pd.Series(d.ev_t).groupby(d.ev_node).max()
        for code, t in last.items():
            ends[d.nodes_cat[int(code)]] = float(t)
    present = {n: t for n, t in ends.items() if t is not None}
    stopped_code = _code(d.events_cat, "stopped")
    if stopped_code >= 0 and (d.ev_event == stopped_code).any():
        clean = {d.nodes_cat[int(c)] for c in np.unique(d.ev_node[d.ev_event == stopped_code])}
        early = [n for n in present if n not in clean]
        missing = [n for n, t in ends.items() if t is None]
        return {n: _f(t, 6) for n, t in ends.items()}, early, missing
    early = []
    for n, t in present.items():
        others = [u for m, u in present.items() if m != n]
        if others and t < max(others) - EARLY_END_S:
            early.append(n)
    missing = [n for n, t in ends.items() if t is None]
    return {n: _f(t, 6) for n, t in ends.items()}, early, missing


def latencies_ms(run: Run) -> np.ndarray:
    """Latency of every delivered measure frame, ms, from intended send to sink arrival."""
    d = _derive(run)
    ok = ~np.isnan(d.arrival)
    return (d.arrival[ok] - d.intended[ok]) * 1000.0


def send_lag_ms(run: Run) -> np.ndarray:
    """Send lag of every sent measure frame, ms: actual minus intended send time. Large
    values mean the load generator itself could not keep to the schedule."""
    d = _derive(run)
    ok = ~np.isnan(d.sent_t) & ~np.isnan(d.intended)
    return (d.sent_t[ok] - d.intended[ok]) * 1000.0


def _pcts(x: np.ndarray) -> dict[str, float | None]:
    if not len(x):
        return dict.fromkeys(("p50", "p99", "max"))
    p50, p99 = np.percentile(x, [50, 99])
    return {"p50": _f(p50), "p99": _f(p99), "max": _f(x.max())}


def step_table(run: Run) -> pd.DataFrame:
    """Per rate step (runs with `rates`): offered and delivered fps, coverage, latency.

    Frames belong to the step their intended time falls in; the schedule is rebuilt from
    the spec (harness/schedule.py), so this needs no timing guesswork at step edges.
    delivered_fps = frames of the step that reached the sink / step length.
    """
    cols = ["step", "rate_fps", "offered_fps", "scheduled", "sent", "delivered",
            "delivered_fps", "coverage", "latency_p50_ms", "latency_p99_ms", "send_lag_p99_ms"]
    spec = run.spec
    if not spec.get("rates"):
        return pd.DataFrame(columns=cols)
    from harness.schedule import from_spec

    sched = from_spec(spec)
    d = _derive(run)
    ids = d.ids.ids
    step = np.full(len(ids), -2, dtype=np.int64)
    inside = ids < len(sched)
    step[inside] = sched.step[ids[inside]]
    lat = (d.arrival - d.intended) * 1000.0
    lag = (d.sent_t - d.intended) * 1000.0
    rows = []
    for seg in sched.steps:
        m = step == seg.step
        scheduled = int((sched.step == seg.step).sum())
        delivered = int((m & ~np.isnan(d.arrival)).sum())
        sent = int(m.sum())
        ls = lat[m & ~np.isnan(lat)]
        lg = lag[m & ~np.isnan(lag)]
        rows.append([
            seg.step, seg.rate_fps, scheduled / seg.duration_s, scheduled, sent, delivered,
            delivered / seg.duration_s, delivered / sent if sent else np.nan,
            np.percentile(ls, 50) if len(ls) else np.nan,
            np.percentile(ls, 99) if len(ls) else np.nan,
            np.percentile(lg, 99) if len(lg) else np.nan,
        ])
    return pd.DataFrame(rows, columns=cols)


def min_run_check(spec: dict[str, Any], length_s: float, frames: int) -> tuple[dict, str]:
    """LoadGen's minimum-run rule: (details, reason it fails or '')."""
    min_s = float(spec.get("min_duration_s") or 0.0)
    min_n = int(spec.get("min_frames") or 0)
    reasons = []
    if length_s + 1e-6 < min_s:
        reasons.append(f"measured part {length_s:.3f} s is shorter than --min-duration "
                       f"{min_s:g} s")
    if frames < min_n:
        reasons.append(f"{frames} measure frames are fewer than --min-frames {min_n}")
    info = {"min_duration_s": min_s, "min_frames": min_n, "measured_s": _f(length_s, 6),
            "frames": frames, "ok": not reasons}
    return info, "; ".join(reasons)


def summarize(run: Run) -> dict[str, Any]:
    """The summary.json dict of a run (schema: docs/results.md)."""
    d = _derive(run)
    spec = run.spec
    sent = len(d.ids)
    delivered_mask = ~np.isnan(d.arrival)
    delivered = int(delivered_mask.sum())
    length = d.window_end - d.window_start
    drops, has_drop, _, _ = _drop_records(run, d)
    drops_total = int(sum(sum(r.values()) for r in drops.values()))
    lost_unaccounted = int((~delivered_mask & ~has_drop).sum())

    st = d.sent_t[~np.isnan(d.sent_t)]
    if len(st) >= 2 and st.max() > st.min():
        achieved = (len(st) - 1) / (st.max() - st.min())
    else:
        achieved = sent / length if length > 0 else float("nan")
    delivered_fps = delivered / length if length > 0 else float("nan")

    lat = latencies_ms(run)
    latency: dict[str, float | None] = dict.fromkeys(("p50", "p95", "p99", "mean", "max"))
    if len(lat):
        p50, p95, p99 = np.percentile(lat, [50, 95, 99])
        latency = {"p50": _f(p50), "p95": _f(p95), "p99": _f(p99), "mean": _f(lat.mean()),
                   "max": _f(lat.max())}

    offered = float(spec.get("rate_fps") or 0.0)
    if spec.get("rates"):  # equal-length steps: the mean offered rate of the measured part
        offered = float(np.mean([float(r) for r in spec["rates"]]))
    capacity = spec.get("capacity_fps")
    bound = min(offered, float(capacity)) if capacity else offered
    efficiency = delivered_fps / bound if bound and bound > 0 else float("nan")
    ends, early, missing = _trace_ends(run, d)
    warmup = int((run.client["phase"].astype(str) == "warmup").sum()) if len(run.client) else 0

    summary: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "run_id": spec.get("run_id", run.run_dir.name),
        "strategy": spec.get("strategy"),
        "profile": spec.get("profile"),
        "started_at": spec.get("started_at"),
        "duration_s": spec.get("duration_s"),
        "offered_fps": _f(offered),
        "achieved_send_fps": _f(achieved),
        "delivered_fps": _f(delivered_fps),
        "capacity_fps": _f(capacity) if capacity is not None else None,
        "efficiency": _f(efficiency, 4),
        "sent": sent,
        "delivered": delivered,
        "coverage": _f(delivered / sent, 6) if sent else None,
        "lost": sent - delivered,
        "drops": drops,
        "drops_total": drops_total,
        "lost_unaccounted": lost_unaccounted,
        "latency_ms": latency,
        "nodes": _node_stats(run, d),
        "warmup_frames": warmup,
        "window": {"start": _f(d.window_start, 6), "end": _f(d.window_end, 6),
                   "length_s": _f(length, 6)},
        "trace_ends": ends,
        "traces_ending_early": early,
        "missing_traces": missing,
        "switches": _switch_summary(model_switches(run)),
        "arrival": spec.get("arrival", "constant"),
        "arrival_seed": spec.get("arrival_seed"),
        "client": spec.get("client", "controller"),
    }
    lag = send_lag_ms(run)
    threshold = spec.get("lag_threshold_ms")
    summary["send_lag_ms"] = {**_pcts(lag), "threshold": threshold}
    summary["send_lag_flagged"] = bool(
        threshold is not None and len(lag) and np.percentile(lag, 99) > float(threshold))
    steps = step_table(run)
    if len(steps):
        summary["steps"] = [{k: (_f(v) if isinstance(v, float) else int(v))
                             for k, v in row.items()} for row in steps.to_dict("records")]
    summary["min_run"], why = min_run_check(spec, length, sent)
    for flag in ("invalid", "interrupted"):
        if spec.get(flag):
            summary[flag] = spec[flag]
    if why:
        summary["invalid"] = "; ".join(x for x in (summary.get("invalid"), why) if x)
    summary["warnings"] = warnings_of(summary)
    return summary


def warnings_of(summary: dict[str, Any]) -> list[str]:
    """Human-readable reasons not to trust a run as is (shown as a banner in reports)."""
    out = []
    if summary.get("invalid"):
        out.append(f"run marked invalid: {summary['invalid']}")
    if summary.get("interrupted"):
        out.append(f"run was interrupted: {summary['interrupted']}")
    if summary.get("send_lag_flagged"):
        lag = summary.get("send_lag_ms") or {}
        out.append(f"send lag p99 {lag.get('p99')} ms exceeds {lag.get('threshold')} ms: the "
                   "load generator could not keep to the schedule (offered load was lower and "
                   "burstier than asked)")
    if summary.get("lost_unaccounted"):
        out.append(f"{summary['lost_unaccounted']} measure frames vanished without any drop "
                   "record (lost_unaccounted)")
    if summary.get("traces_ending_early"):
        out.append("trace(s) ending > 2 s before the others (node died or hung?): "
                   + ", ".join(summary["traces_ending_early"]))
    if summary.get("missing_traces"):
        out.append("no trace rows for: " + ", ".join(summary["missing_traces"]))
    for f in summary.get("faults") or []:
        out.append(f"fault injected: {f['kind']} on {f['host']}"
                   + ("" if f.get("ok", True) else f" (not applied: {f.get('detail')})")
                   + " - the numbers describe a run with a failure, shaded on the timelines")
    pred = summary.get("predicted") or {}
    if pred.get("coverage") is not None and summary.get("coverage") is not None:
        gap = summary["coverage"] - pred["coverage"]
        if abs(gap) > PREDICTION_TOLERANCE:
            out.append(
                f"measured coverage {summary['coverage']:.3f} differs from the discrete-event "
                f"model's {pred['coverage']:.3f} by {gap:+.3f} (> {PREDICTION_TOLERANCE}): an "
                "emulation artefact or a modelling error; compare the timelines before trusting "
                "either")
    return out


# Measured vs predicted coverage may differ by this much before a report says so.
PREDICTION_TOLERANCE = 0.05


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


def _switch_summary(sw: pd.DataFrame) -> dict[str, dict[str, Any]]:
    out = {}
    for node, g in sw.groupby("node"):
        d = g["duration_ms"].dropna()
        out[str(node)] = {"count": int(len(g)), "mean_ms": _f(d.mean()) if len(d) else None,
                          "total_ms": _f(d.sum()) if len(d) else None}
    return out


def write_summary(run_dir: str | Path, summary: dict[str, Any]) -> Path:
    """Write summary.json next to the run's traces."""
    path = Path(run_dir) / "summary.json"
    path.write_text(json.dumps(summary, indent=2, sort_keys=False))
    return path


# --------------------------------------------------------------------------- timeseries


def _bins(d: _Derived, times: Iterable[np.ndarray]) -> int:
    last = max([float(np.nanmax(t)) for t in times if len(t) and not np.isnan(t).all()]
               + [d.window_end])
    return max(1, int(math.ceil(last - d.window_start)))


def per_second_counts(run: Run) -> pd.DataFrame:
    """Measure frames sent / delivered / dropped in each second after the window start."""
    d = _derive(run)
    _, _, drop_t, _ = _drop_records(run, d)
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
    d = _derive(run)
    rec = d.ev_event == _code(d.events_cat, "received")
    rec &= ~np.isin(d.ev_node, [d.nodes_cat.index(s) for s in d.sink_nodes
                                if s in d.nodes_cat])
    rec &= d.ev_t >= d.window_start
    idx = np.flatnonzero(rec)
    depth = _numeric(run.events["detail"].to_numpy(object)[idx])
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
    d = _derive(run)
    ends = [e for _, e in d.busy.values()]
    n = _bins(d, ends)
    edges = d.window_start + np.arange(n + 1, dtype=float)
    cols = {name: np.diff(_busy_cumulative(s, e, edges)) for name, (s, e) in d.busy.items()}
    ordered = {n_: cols[n_] for n_ in d.nodes if n_ in cols}
    return pd.DataFrame(ordered, index=pd.RangeIndex(n, name="second"))


def drops_per_second_by_node(run: Run) -> pd.DataFrame:
    """Measure frames dropped per second, one column per node: where the losses happen."""
    d = _derive(run)
    ev = run.events
    sel = (ev["event"] == "dropped").to_numpy() & (d.ev_pos >= 0)
    if not sel.any():
        return pd.DataFrame()
    sec = np.floor(d.ev_t[sel] - d.window_start).astype(np.int64)
    frame = pd.DataFrame({"second": sec, "node": ev["node"].to_numpy()[sel].astype(str)})
    table = frame.groupby(["second", "node"]).size().unstack(fill_value=0)
    n = _bins(d, [d.ev_t[sel]])
    return table.reindex(range(n), fill_value=0).rename_axis("second").reset_index()
