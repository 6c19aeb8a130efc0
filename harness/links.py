"""Link kinds a host can be on (inventory `link:`) and what a byte sent over each costs.

Energy per delivered frame (harness/analysis/energy.py) charges every byte a node sends at
its link's energy per byte: WiFi costs far more than Ethernet, which is why a strategy that
moves more bytes (mp, tasks) can lose on energy what it wins on fps. The figures are data
in links.json next to this module, each with its basis beside it, like the device profiles
in node_app/profiles.json; a run records the entries it used (spec.json `links`), so its
energy can be recomputed later with the numbers it was priced with.

A link kind may also carry network behaviour (issue 14): `delay_ms` (one way, per direction,
as netem applies it), `jitter_ms` (half-width of a uniform draw around the delay: netem's
default jitter distribution) and `loss_pct` (frames lost, each costing TCP a retransmission
timeout), with `net_basis` saying where the numbers come from. `fab experiment
--link=A-B:NAME` puts such a kind on the link between two hosts of a run
(harness/link_plan.py); a kind without these fields is an energy price only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

LINKS_FILE = Path(__file__).with_name("links.json")
# A host whose inventory says nothing is wired: the lab's veths and a Pi's eth0.
DEFAULT_LINK = "ethernet"


class LinkError(ValueError):
    """An unknown link kind, or a malformed links.json / spec.json `links` entry."""


NET_FIELDS = ("delay_ms", "jitter_ms", "loss_pct")


@dataclass(frozen=True)
class Link:
    """One link kind: its energy per byte sent (J) and where that number comes from, and its
    network behaviour (0 when the entry has none) with the basis of those numbers."""

    name: str
    j_per_byte: float
    basis: str
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    loss_pct: float = 0.0
    net_basis: str = ""

    @property
    def has_net(self) -> bool:
        """Does this kind change a frame's travel (delay, jitter or loss)?"""
        return bool(self.delay_ms or self.jitter_ms or self.loss_pct)

    @property
    def mean_delay_ms(self) -> float:
        """The mean one-way delay the uniform draw gives: the delay, raised by the part of
        the draw clipped at 0 when the jitter exceeds the delay."""
        d, j = self.delay_ms, self.jitter_ms
        if j <= d:
            return d
        return (d + j) ** 2 / (4.0 * j)  # E[max(0, U(d - j, d + j))]

    @classmethod
    def from_entry(cls, name: str, entry: Any, where: str = "links") -> Link:
        if not isinstance(entry, dict):
            raise LinkError(f"{where}: link {name!r} must be an object")
        value = entry.get("j_per_byte")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise LinkError(f"{where}: link {name!r} j_per_byte must be a non-negative "
                            f"number (J per byte sent), got {value!r}")
        net = {f: _net_number(name, entry, f, where) for f in NET_FIELDS}
        if net["loss_pct"] > 100.0:
            raise LinkError(f"{where}: link {name!r} loss_pct must be a percentage in [0, 100], "
                            f"got {entry['loss_pct']!r}")
        basis = entry.get("net_basis")
        if any(f in entry for f in NET_FIELDS) and (not isinstance(basis, str)
                                                   or not basis.strip()):
            raise LinkError(f"{where}: link {name!r} net_basis must say where its delay, jitter "
                            f"and loss come from (a source and the arithmetic), got {basis!r}")
        return cls(name, float(value), str(entry.get("energy_basis") or ""),
                   net_basis=str(basis or ""), **net)


def _net_number(name: str, entry: dict, field_name: str, where: str) -> float:
    """A network field of a links.json entry: absent is 0; else a finite number >= 0."""
    if field_name not in entry:
        return 0.0
    value = entry[field_name]
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not 0.0 <= float(value) < float("inf"):
        unit = "a percentage" if field_name == "loss_pct" else "milliseconds"
        raise LinkError(f"{where}: link {name!r} {field_name} must be a non-negative number "
                        f"({unit}), got {value!r}")
    return float(value)


@cache
def link_table() -> dict[str, Any]:
    """Every link kind's JSON entry by name, as links.json holds it."""
    try:
        table = json.loads(LINKS_FILE.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise LinkError(f"links file {LINKS_FILE}: cannot load: {e}") from e
    if not isinstance(table, dict) or not table:
        raise LinkError(f"links file {LINKS_FILE}: top level must be a non-empty object")
    return table


def known_links() -> list[str]:
    return sorted(link_table())


def load_link(name: str) -> Link:
    """The named link kind; an unknown name lists the known ones."""
    table = link_table()
    if name not in table:
        raise LinkError(f"unknown link kind {name!r}; known: {', '.join(known_links())}")
    return Link.from_entry(name, table[name], str(LINKS_FILE))


def net_links() -> list[str]:
    """The link kinds with network behaviour: what `--link` accepts."""
    return [n for n in known_links() if load_link(n).has_net]


def check_table() -> None:
    """Every entry of links.json parses (a bad field names the entry and the field)."""
    for name in known_links():
        load_link(name)
