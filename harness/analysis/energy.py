"""Energy per delivered frame: what a strategy costs in joules, per node and in total.

Cao's report names energy as future work next to WiFi: a strategy that keeps every device
busy, or moves more bytes, may deliver more frames per second and still cost more per frame.
Each node is priced over the measure window from what the run measured, with the power of
the device it emulates (node_app/profiles.json `idle_w`, `busy_w`, each with its basis) and
the energy per byte of the link it sends on (harness/links.json):

    joules = idle_w x window_s + (busy_w - idle_w) x busy_s + bytes_sent x j_per_byte

- window_s: the measure window's length (every node is powered all of it);
- busy_s: the node's worker-seconds inside the window, the very number its utilisation is
  made of (harness/analysis/accounting.py `busy_seconds`), capped at window_s: busy_w is the
  whole board with every core loaded, so a node cannot draw more than that;
- bytes_sent: the node's /stats `bytes_out` (payload it sent: frames, slices, tasks,
  results), counted over the whole run, times the measure window's share of the frames the
  client got accepted (measure / all, warm-up included), so the bytes match the window;
- received bytes are not counted: nodes count only what they send (no node counts bytes
  in), so every byte between nodes is counted once, at its sender. What is left out is the
  receiver's cost: for a node on WiFi 0.42 uJ per byte received in the source of the WiFi
  figure (harness/links.json), 22 % of a WiFi send; the entry node's receipt of the client's
  frames is left out too (the client is the camera, not a node of the run).

A node whose device power or bytes are not known (`native`, a calibrated profile without
power, no node_stats.json) has energy `null` with the reason in `unknown`, never 0; the
total is then unknown too, and says which nodes are missing. Joules per frame divide by the
measure frames delivered (`delivered` of the summary).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.analysis.accounting import busy_seconds
from harness.analysis.derived import Derived
from harness.analysis.loading import Run
from harness.analysis.profilesource import profile_of
from harness.analysis.rounding import rounded
from harness.links import DEFAULT_LINK, Link, LinkError, link_table
from harness.resources import load_node_stats
from node_app.profile import ProfileError, parse_profile

J_DIGITS = 9  # joules to the nJ: a link's share can be a few mJ over a whole run
METHOD = ("idle_w x window + (busy_w - idle_w) x busy time + bytes sent x J per byte of the "
          "node's link; bytes received not counted")


@dataclass(frozen=True)
class NodeEnergy:
    """Joules of one node over a window, by part (the formula in the module docstring)."""

    idle_j: float
    busy_j: float
    link_j: float

    @property
    def total(self) -> float:
        return self.idle_j + self.busy_j + self.link_j


def node_energy(idle_w: float, busy_w: float, window_s: float, busy_s: float,
                bytes_sent: float, j_per_byte: float) -> NodeEnergy:
    """The energy of one node: idle power all the window, the busy increment while busy (at
    most the whole window), and its link's cost of every byte it sent."""
    busy = min(max(busy_s, 0.0), window_s)
    return NodeEnergy(idle_w * window_s, (busy_w - idle_w) * busy, bytes_sent * j_per_byte)


def _link_of(run: Run, node: dict[str, Any]) -> Link:
    """The node's link kind with its energy per byte: spec.json `links` (as priced when the
    run started), else today's links.json. Older runs, with no `link`, were on ethernet."""
    kind = str(node.get("link") or DEFAULT_LINK)
    recorded = run.spec.get("links")
    if isinstance(recorded, dict) and kind in recorded:
        return Link.from_entry(kind, recorded[kind], "spec.json links")
    table = link_table()
    if kind not in table:
        raise LinkError(f"link kind {kind!r} is in neither spec.json nor harness/links.json")
    return Link.from_entry(kind, table[kind], "harness/links.json")


def _power(name: str | None, entry: Any, found: bool) -> tuple[float | None, float | None,
                                                              str | None]:
    """(idle_w, busy_w, None) or (None, None, why the power is not known)."""
    if name is None:
        return None, None, "no device profile recorded for this node"
    if not found:
        return None, None, f"profile {name!r} is in neither spec.json nor the profile tables"
    try:
        prof = parse_profile(name, entry, "spec.json profiles")
    except ProfileError as e:
        return None, None, f"profile {name!r} cannot be read: {e}"
    if prof.native:
        return None, None, (f"profile {name!r} emulates no device, so it has no power "
                            "figures (a real Pi's energy needs a power meter)")
    if prof.idle_w is None or prof.busy_w is None:
        return None, None, (f"profile {name!r} states no idle_w / busy_w (add them, with "
                            "their basis, to price its energy)")
    return prof.idle_w, prof.busy_w, None


def energy_of(run: Run, d: Derived, delivered: int) -> dict[str, Any]:
    """The summary's `energy` block: per worker node its inputs and joules by part, then the
    total and joules per delivered measure frame (schema: docs/results.md)."""
    window_s = max(d.window_end - d.window_start, 0.0)
    stats = load_node_stats(run.run_dir)
    status = run.client["status"].to_numpy() if len(run.client) else np.empty(0)
    accepted_all = int((status == 200).sum())
    accepted_measure = int((d.status == 200).sum())
    share = accepted_measure / accepted_all if accepted_all else 0.0
    nodes: dict[str, Any] = {}
    for node in run.spec.get("nodes") or []:
        if node.get("role") == "sink" or not node.get("name"):
            continue
        name = str(node["name"])
        profile, entry, found = profile_of(run.spec, node)
        idle_w, busy_w, why = _power(profile, entry, found)
        try:
            link: Link | None = _link_of(run, node)
        except LinkError as e:
            link, why = None, why or str(e)
        busy = busy_seconds(d, name) or 0.0
        out = (stats.get(name) or {}).get("bytes_out")
        bytes_sent = None if isinstance(out, bool) or not isinstance(out, int) else out * share
        if bytes_sent is None:
            why = why or ("bytes sent not known (no bytes_out for this node in node_stats.json, "
                          "which the runner fetches after the drain)")
        row: dict[str, Any] = {
            "profile": profile, "link": link.name if link else node.get("link"),
            "idle_w": idle_w, "busy_w": busy_w,
            "j_per_byte": link.j_per_byte if link else None,
            "window_s": rounded(window_s, 6), "busy_s": rounded(min(busy, window_s), 6),
            "bytes_sent": None if bytes_sent is None else int(round(bytes_sent)),
            "idle_j": None, "busy_j": None, "link_j": None, "joules": None, "j_per_frame": None,
            "unknown": why,
        }
        if why is None and idle_w is not None and busy_w is not None and link is not None \
                and bytes_sent is not None:
            e = node_energy(idle_w, busy_w, window_s, busy, bytes_sent, link.j_per_byte)
            row.update(idle_j=rounded(e.idle_j, J_DIGITS), busy_j=rounded(e.busy_j, J_DIGITS),
                       link_j=rounded(e.link_j, J_DIGITS), joules=rounded(e.total, J_DIGITS),
                       j_per_frame=rounded(e.total / delivered, J_DIGITS) if delivered else None)
        nodes[name] = row
    unknown = [n for n, r in nodes.items() if r["joules"] is None]
    total = None if unknown or not nodes else float(sum(r["joules"] for r in nodes.values()))
    if not nodes:
        why_total = "no worker nodes in the spec"
    elif unknown:
        why_total = "energy of " + "; ".join(f"{n} unknown: {nodes[n]['unknown']}"
                                             for n in unknown)
    elif not delivered:
        why_total = "no measure frame was delivered: no joules per frame"
    else:
        why_total = None
    return {
        "joules": None if total is None else rounded(total, J_DIGITS),
        "j_per_frame": (rounded(total / delivered, J_DIGITS) if total is not None and delivered
                        else None),
        "delivered": delivered,
        "window_s": rounded(window_s, 6),
        "bytes_share": rounded(share, 6),
        "unknown": why_total,
        "method": METHOD,
        "nodes": nodes,
    }
