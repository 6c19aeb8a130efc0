"""The per-packet join: every trace row mapped to its measure ID, as plain numpy arrays.

The summary, the node table and every time series need the same joins (which trace rows
belong to a measure frame, when each frame reached the sink, when each node was busy), so
they are computed once per `Run` by `derive` and cached on it. Joins are vectorised on
packet IDs (a lookup table or a binary search), never per-row Python, which is what keeps
a million-packet run at a few seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis.loading import Run
from harness.schedule import sources_of


class IdIndex:
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
            lut = np.full(int(self.ids[-1]) + 3, -1, dtype=np.int64)  # ends: "not an ID"
            lut[self.ids + 1] = np.arange(len(self.ids))
            self._lut = lut

    def __len__(self) -> int:
        return len(self.ids)

    def pos(self, pids: np.ndarray) -> np.ndarray:
        """Index into `ids` for each pid, -1 when the pid is not a measure ID."""
        pids = np.asarray(pids, dtype=np.int64)
        if not len(self.ids):
            return np.full(len(pids), -1, dtype=np.int64)
        if self._lut is not None:
            # One clipped gather from a table with -1 at both ends (an ID below 0 or above
            # the largest lands there): a boolean-masked scatter over millions of trace rows
            # costs ten times as much.
            return np.take(self._lut, pids + 1, mode="clip")
        p = np.searchsorted(self.ids, pids)
        p_clip = np.minimum(p, len(self.ids) - 1)
        return np.where(self.ids[p_clip] == pids, p_clip, -1)


def in_codes(codes: np.ndarray, wanted: list[int] | tuple[int, ...], n: int) -> np.ndarray:
    """`np.isin(codes, wanted)` for category codes in [-1, n): a lookup in a table of n + 1
    booleans (the last one for -1, a missing value), one pass where np.isin sorts or loops.
    Codes of `wanted` outside [0, n) (code_of's -2 for an absent name) match nothing."""
    table = np.zeros(n + 1, dtype=bool)
    for w in wanted:
        if 0 <= w < n:
            table[w] = True
    return table[codes]


def distinct(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values of an object array (in order of first appearance) and each row's
    code into them, so an elementwise parse can run once per distinct value.

    A detail column repeats few strings (queue depths, one address per hop, a few thousand
    service times), so parsing the distinct ones and indexing by code is exact and turns
    seconds into milliseconds. Missing values (NaN, None) become one NaN, the last value,
    when there are any: a parse of numbers reads both as missing."""
    codes, uniques = pd.factorize(np.asarray(values, dtype=object))
    uniques = np.asarray(uniques, dtype=object)
    if len(codes) and codes.min() < 0:  # code -1 indexes the NaN appended last
        uniques = np.append(uniques, np.array([np.nan], dtype=object))
    return codes, uniques


def numeric_details(details: np.ndarray) -> np.ndarray:
    """Queue depths from `detail` strings (empty at the sink -> NaN); each distinct string
    is parsed once."""
    codes, uniques = distinct(details)
    return _to_float(uniques)[codes]


def _to_float(details: np.ndarray) -> np.ndarray:
    return pd.to_numeric(pd.Series(details, dtype=object), errors="coerce").to_numpy(float)



def is_phase(client: pd.DataFrame, phase: str) -> np.ndarray:
    """Rows of client.csv in `phase`; the categorical's few categories are compared as text,
    not every row turned into a string."""
    col = client["phase"]
    if isinstance(col.dtype, pd.CategoricalDtype):
        hit = np.array([str(c) == phase for c in col.cat.categories] + [str(np.nan) == phase])
        return hit[col.cat.codes.to_numpy()]
    return (col.astype(str) == phase).to_numpy()


def measure_rows(client: pd.DataFrame) -> np.ndarray:
    """Positions in client.csv of the measure frames, the first row of each packet ID, in
    file order: `client[phase == "measure"].drop_duplicates("packet_id")` as row numbers,
    so the columns needed are taken as arrays instead of copying the frame."""
    if not len(client):
        return np.zeros(0, dtype=np.int64)
    rows = np.flatnonzero(is_phase(client, "measure"))
    pids = pd.Series(client["packet_id"].to_numpy(np.int64)[rows])
    return rows[~pids.duplicated(keep="first").to_numpy()]


def busy_cumulative(starts: np.ndarray, ends: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Busy seconds of intervals [starts, ends] before each time in `at`.

    The overlap of [s, e] with (-inf, T] is (T - s)+ - (T - e)+, so prefix sums over the
    sorted starts and ends give every bin at once, exactly, even for overlapping workers.
    """
    s = np.sort(starts, kind="stable")  # nearly sorted already: timsort is linear on them
    e = np.sort(ends, kind="stable")
    cs = np.concatenate([[0.0], np.cumsum(s)])
    ce = np.concatenate([[0.0], np.cumsum(e)])
    ns = np.searchsorted(s, at, side="right")
    ne = np.searchsorted(e, at, side="right")
    return (ns * at - cs[ns]) - (ne * at - ce[ne])


@dataclass
class Derived:
    """Everything the summary and the plots share, computed once per Run."""

    ids: IdIndex
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
    busy: dict[str, tuple[np.ndarray, np.ndarray]]  # node -> (starts, ends); tasks included
    client_rows: np.ndarray  # rows of run.client that are measure frames (measure_rows)
    # measure_pairs' answer, once computed (node_stats and service_times both need it)
    pairs: tuple[dict, dict] | None = field(default=None, repr=False)


def code_of(cats: list[str], name: str) -> int:
    """Category code of `name`, or -2 (matches no row, unlike -1 = missing) if absent:
    a run without, say, any `rejected` event must still compare cleanly."""
    return cats.index(name) if name in cats else -2


def pair_busy(d_t: np.ndarray, d_node: np.ndarray, d_ev: np.ndarray, d_pid: np.ndarray,
               started: int, finished: int, nodes_cat: list[str]
               ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Pair each `started` with the `finished` of the same packet on the same node.

    Rows are stable-sorted by (node, packet_id); a trace is written in time order, so the
    started row of a packet precedes its finished row and a pair is two adjacent rows.
    The key is nearly sorted already (IDs grow with time), which keeps timsort linear.
    """
    rows = np.flatnonzero((d_ev == started) | (d_ev == finished))
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if not len(rows):
        return out
    pid = d_pid[rows]
    low = pid.min()
    key = d_node[rows].astype(np.int64)  # (node, pid) as one integer, built in place
    key *= int(pid.max() - low) + 1
    key += pid
    key -= low
    order = np.argsort(key, kind="stable")
    rows, key = rows[order], key[order]
    ev = d_ev[rows]
    pair = (key[:-1] == key[1:]) & (ev[:-1] == started) & (ev[1:] == finished)
    first = rows[:-1][pair]  # each pair's started row; its finished row is the next one
    s, e, n = d_t[first], d_t[rows[1:][pair]], d_node[first]
    for code in np.flatnonzero(np.bincount(n)):
        m = n == code
        out[nodes_cat[code]] = (s[m], e[m])
    return out


Pairs = dict[str, tuple[np.ndarray, np.ndarray]]


def end_rate(spec: dict[str, Any]) -> float:
    """Frames/s at the end of the measured part, every source together: its window ends one
    frame interval at this rate after the last frame (constant arrivals: exactly)."""
    rate = float(spec.get("rate_fps") or 0.0)
    if spec.get("rates"):  # rate steps: the measured part ends in the last step
        rate = float(spec["rates"][-1])
    # Several sources (`--sources`) send S x the rate, spread over each frame interval.
    return rate * sources_of(spec)


def measure_pairs(d: Derived) -> tuple[Pairs, Pairs]:
    """(stage pairs, task-helper pairs) of the measure frames only: node -> (starts, ends).

    `d.busy` pairs every frame (warm-up frames occupy a worker inside the window too, which
    utilisation must count); a service time set against the profile times the measure frames
    recorded must come from the same frames, or a run whose service time changes (a `slow`
    fault after the warm-up) compares two different sets of frames. Cached on `d`."""
    if d.pairs is not None:
        return d.pairs
    codes = [code_of(d.events_cat, e)
             for e in ("started", "finished", "task_started", "task_finished")]
    # A measure row's position in the measure IDs stands for its packet ID in the pairing.
    rows = np.flatnonzero(in_codes(d.ev_event, codes, len(d.events_cat)) & (d.ev_pos >= 0))
    t, node, ev, pos = d.ev_t[rows], d.ev_node[rows], d.ev_event[rows], d.ev_pos[rows]
    d.pairs = (pair_busy(t, node, ev, pos, codes[0], codes[1], d.nodes_cat),
               pair_busy(t, node, ev, pos, codes[2], codes[3], d.nodes_cat))
    return d.pairs


def derive(run: Run) -> Derived:
    """The joined arrays of `run`, computed on first use and cached on the Run: the summary
    and each plot need them, and recomputing would double the analysis time."""
    if "derived" in run._cache:
        return run._cache["derived"]
    c = run.client
    rows = measure_rows(c)
    pids = c["packet_id"].to_numpy(np.int64)[rows]
    ids = IdIndex(pids)
    by_id = rows[np.argsort(pids, kind="stable")]
    intended = c["intended_t"].to_numpy(float)[by_id]
    sent_t = c["sent_t"].to_numpy(float)[by_id]
    status = c["status"].to_numpy(np.int64)[by_id]

    rate = end_rate(run.spec)
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
    recv = code_of(events_cat, "received")
    m = in_codes(ev_node, sink_codes, len(nodes_cat)) & (ev_event == recv) & (ev_pos >= 0)
    if m.any():
        pos, t = ev_pos[m], ev_t[m]
        o = np.argsort(t, kind="stable")[::-1]  # latest first so the earliest write wins
        arrival[pos[o]] = t[o]

    busy = pair_busy(ev_t, ev_node, ev_event, ev_pid, code_of(events_cat, "started"),
                      code_of(events_cat, "finished"), nodes_cat)
    # Task helpers (task sharing) trace their work as task_started / task_finished, one
    # pair per block; a helper has one worker, so its pairs alternate like a stage's.
    tasks = pair_busy(ev_t, ev_node, ev_event, ev_pid, code_of(events_cat, "task_started"),
                       code_of(events_cat, "task_finished"), nodes_cat)
    for name, (s, e) in tasks.items():
        if name in busy:
            s0, e0 = busy[name]
            order = np.argsort(np.concatenate([s0, s]), kind="stable")
            busy[name] = (np.concatenate([s0, s])[order], np.concatenate([e0, e])[order])
        else:
            busy[name] = (s, e)
    d = Derived(ids, intended, sent_t, status, start, end, nodes, sink_nodes, ev_t, ev_node,
                 ev_event, ev_pos, nodes_cat, events_cat, arrival, busy, rows)
    run._cache["derived"] = d
    return d
