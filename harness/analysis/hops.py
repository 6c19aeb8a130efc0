"""Per-hop intervals: how long a frame takes from one host to the next, on the controller's clock.

A hop's interval is stamped by two hosts, so it is only as good as their clocks: the stamps
are corrected when the Run is loaded (clocks.json, harness/analysis/clocks.py) and each hop
carries the sum of both hosts' uncertainty bounds (the controller's is 0).

- `client->X`: X's `received` minus the client's `sent_t` (client.csv `target` names X).
- `X->Y`: Y's `received` minus X's `finished` of the same packet (at a task gateway: its last
  `task_done`, when the assembled frame is ready), for every `forwarded` row of X whose
  detail is Y's address: the send, the network and Y's admission. Edges come from the
  traces, so Cao's direct hop to the sink and dp's replicas appear as they happened. A merging
  sink (mp) records `received` when the last slice is in, so hops into it include the wait
  for the other slices; they are listed with `"merging": true`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis.clocks import UNCERTAINTY_LIMIT_MS, host_entries, uncertainty_ms
from harness.analysis.derived import Derived, code_of, derive, in_codes
from harness.analysis.loading import Run
from harness.analysis.rounding import rounded


def _host(address: str) -> str:
    host = address.rsplit(":", 1)[0] if address.count(":") == 1 or "]:" in address else address
    return host.strip("[]")


def address_names(spec: dict[str, Any]) -> dict[str, str]:
    """`address:port` or bare address -> node name, from spec.json's nodes; an address that
    two nodes share (loopback tests) maps only with its port."""
    full: dict[str, str] = {}
    bare: dict[str, list[str]] = {}
    for n in spec.get("nodes", []):
        name, addr = n.get("name"), str(n.get("address") or "")
        if not name or not addr:
            continue
        if _host(addr) != addr.strip("[]"):  # it carries a port
            full[addr] = str(name)
        bare.setdefault(_host(addr), []).append(str(name))
    out = {a: names[0] for a, names in bare.items() if len(names) == 1}
    out.update(full)
    return out


def name_of(names: dict[str, str], endpoint: str) -> str | None:
    """The node at `endpoint` (`address:port` or bare address), by `address_names`."""
    return names.get(endpoint) or names.get(_host(endpoint))


def _first_per_id(d: Derived, node_code: int, event_codes: list[int] | int,
                  latest: bool = False) -> np.ndarray:
    """Per measure ID: the earliest (or latest) time of any of `event_codes` on node
    `node_code` (NaN if none)."""
    out = np.full(len(d.ids), np.nan)
    codes = [event_codes] if isinstance(event_codes, int) else event_codes
    m = (d.ev_node == node_code) & in_codes(d.ev_event, codes, len(d.events_cat)) & (d.ev_pos >= 0)
    if m.any():
        pos, t = d.ev_pos[m], d.ev_t[m]
        o = np.argsort(t, kind="stable")  # the last write wins: latest first for earliest
        o = o if latest else o[::-1]
        out[pos[o]] = t[o]
    return out


def _as_text(col: pd.Series) -> np.ndarray:
    """`col.astype(str)` as an object array; a categorical's few categories are made text,
    not its million rows (NaN reads "nan", as astype(str) writes it)."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        labels = np.array([str(c) for c in col.cat.categories] + ["nan"], dtype=object)
        return labels[col.cat.codes.to_numpy()]
    return col.astype(str).to_numpy(object)


def _figures(ms: np.ndarray, unc: float | None, merging: bool) -> dict[str, Any]:
    ms = ms[~np.isnan(ms)]
    p50, p99 = np.percentile(ms, [50, 99])
    row = {"n": len(ms), "p50_ms": rounded(p50, 3), "p99_ms": rounded(p99, 3),
           "min_ms": rounded(ms.min(), 3), "mean_ms": rounded(ms.mean(), 3),
           "uncertainty_ms": rounded(unc, 4) if unc is not None else None}
    if merging:
        row["merging"] = True
    return row


@dataclass
class HopSamples:
    """One hop's intervals, a frame each: `pos` (into the measure IDs), `start` (the client's
    `sent_t`, or the sender's `finished` / last `task_done`) and `end` (the receiver's
    `received`), both on the controller's clock; frames that never reached `dst` are left
    out (NaN). `hop_latencies` sums these up; harness.results lists them per frame."""

    src: str
    dst: str
    pos: np.ndarray
    start: np.ndarray
    end: np.ndarray
    uncertainty_ms: float | None
    merging: bool

    @property
    def name(self) -> str:
        return f"{self.src}->{self.dst}"

    @property
    def ms(self) -> np.ndarray:
        return (self.end - self.start) * 1000.0


def hop_samples(run: Run) -> list[HopSamples]:
    """Every hop of the run with its per-frame intervals: `client->X` first (in the order the
    client's targets first appear), then `X->Y` by sender and address (see the module
    docstring for what each interval spans)."""
    d = derive(run)
    names = address_names(run.spec)
    clocks = run.clocks if run.corrected else {}
    entries = host_entries(clocks)
    controller = set(d.sink_nodes)
    if not (clocks.get("client") or {}).get("host"):
        controller.add("client")

    def unc(name: str) -> float | None:
        if not clocks:
            return None
        if name in controller:
            return 0.0
        entry = clocks.get("client") if name == "client" else entries.get(name)
        return uncertainty_ms(entry)

    def pair_unc(a: str, b: str) -> float | None:
        ua, ub = unc(a), unc(b)
        return None if ua is None or ub is None else ua + ub

    recv_code = code_of(d.events_cat, "received")
    merging = {d.nodes_cat[c] for c in
               np.unique(d.ev_node[d.ev_event == code_of(d.events_cat, "slice_received")])}
    received: dict[str, np.ndarray] = {}

    def recv_of(name: str) -> np.ndarray:
        if name not in received:
            code = d.nodes_cat.index(name) if name in d.nodes_cat else -2
            received[name] = _first_per_id(d, code, recv_code)
        return received[name]

    def sample(src: str, dst: str, pos: np.ndarray, start: np.ndarray) -> HopSamples | None:
        end = recv_of(dst)[pos]
        ok = ~np.isnan(end - start)
        if not ok.any():
            return None
        return HopSamples(src, dst, pos[ok], start[ok], end[ok], pair_unc(src, dst),
                          dst in merging)

    out: list[HopSamples] = []
    c = run.client
    if len(c) and "target" in c:  # client -> entry node
        rows = d.client_rows
        pos = d.ids.pos(c["packet_id"].to_numpy(np.int64)[rows])
        targets = _as_text(c["target"])[rows]
        sent = c["sent_t"].to_numpy(float)[rows]
        for target in pd.unique(targets):
            name = name_of(names, str(target))
            if name is None:
                continue
            m = (targets == target) & (pos >= 0)
            hop = sample("client", name, pos[m], sent[m])
            if hop is not None:
                out.append(hop)

    fwd = (d.ev_event == code_of(d.events_cat, "forwarded")) & (d.ev_pos >= 0)
    if fwd.any():
        idx = np.flatnonzero(fwd)
        # Group the forwarded rows by (node, next hop's address as text), in that sorted
        # order; the addresses are few, so each distinct detail is made text once.
        codes, uniques = pd.factorize(run.events["detail"].to_numpy(object)[idx],
                                      use_na_sentinel=False)  # None and NaN stay apart
        texts = np.array([str(u) for u in uniques], dtype=object)
        addresses = np.array(sorted(set(texts)), dtype=object)
        hop = np.searchsorted(addresses, texts)[codes] if len(texts) else codes
        width = max(len(addresses), 1)
        key = (d.ev_node[idx] + 1) * width + hop  # node code -1 (no name) sorts first
        ready = [code_of(d.events_cat, "finished"), code_of(d.events_cat, "task_done")]
        for k in np.flatnonzero(np.bincount(key)):
            node_code, hop_code = int(k // width) - 1, int(k % width)
            src = d.nodes_cat[node_code]
            dst = name_of(names, str(addresses[hop_code]))
            if dst is None:
                continue
            p = d.ev_pos[idx[key == k]]
            hop_t = sample(src, dst, p, _first_per_id(d, node_code, ready, latest=True)[p])
            if hop_t is not None:
                out.append(hop_t)
    return out


def hop_latencies(run: Run) -> dict[str, dict[str, Any]]:
    """`"X->Y"` -> {n, p50_ms, p99_ms, min_ms, mean_ms, uncertainty_ms} over measure frames.

    uncertainty_ms: None when the run has no clocks.json (stamps as recorded); else the sum of
    both ends' bounds, a host without a measurement making it None too."""
    return {h.name: _figures(h.ms, h.uncertainty_ms, h.merging) for h in hop_samples(run)}


def clock_warnings(summary: dict[str, Any]) -> list[str]:
    """Reasons not to trust the per-hop figures: a clock bound wider than the limit, a host
    whose clock was not measured, an interval the clocks make negative."""
    out = []
    clocks = summary.get("clocks") or {}
    hops = summary.get("hops") or {}
    wide = {h: f["uncertainty_ms"] for h, f in hops.items()
            if f.get("uncertainty_ms") is not None and f["uncertainty_ms"] > UNCERTAINTY_LIMIT_MS}
    if wide:
        out.append(f"clock uncertainty exceeds {UNCERTAINTY_LIMIT_MS:g} ms on per-hop figures ("
                   + ", ".join(f"{h} ±{u:g} ms" for h, u in sorted(wide.items()))
                   + "): those hop latencies are not trustworthy to better than that")
    if clocks.get("measured"):
        unmeasured = sorted(n for n, h in (clocks.get("hosts") or {}).items()
                            if not h.get("corrected"))
        if unmeasured:
            out.append("clock offset not measured for " + ", ".join(unmeasured)
                       + ": their stamps are uncorrected, cross-host intervals may be off")
    negative = sorted(h for h, f in hops.items() if f.get("min_ms") is not None
                      and f["min_ms"] < -(f.get("uncertainty_ms") or 0.0))
    if negative:
        out.append("negative per-hop intervals on " + ", ".join(negative)
                   + ": a frame arrived before it was sent by the stamps, the clocks disagree "
                   "by more than was measured (or were not measured)")
    return out
