"""Link kinds a host can be on (inventory `link:`) and what a byte sent over each costs.

Energy per delivered frame (harness/analysis/energy.py) charges every byte a node sends at
its link's energy per byte: WiFi costs far more than Ethernet, which is why a strategy that
moves more bytes (mp, tasks) can lose on energy what it wins on fps. The figures are data
in links.json next to this module, each with its basis beside it, like the device profiles
in node_app/profiles.json; a run records the entries it used (spec.json `links`), so its
energy can be recomputed later with the numbers it was priced with.
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


@dataclass(frozen=True)
class Link:
    """One link kind: its energy per byte sent (J) and where that number comes from."""

    name: str
    j_per_byte: float
    basis: str

    @classmethod
    def from_entry(cls, name: str, entry: Any, where: str = "links") -> Link:
        if not isinstance(entry, dict):
            raise LinkError(f"{where}: link {name!r} must be an object")
        value = entry.get("j_per_byte")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise LinkError(f"{where}: link {name!r} j_per_byte must be a non-negative "
                            f"number (J per byte sent), got {value!r}")
        return cls(name, float(value), str(entry.get("energy_basis") or ""))


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
