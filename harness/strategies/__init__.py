"""Distribution strategies: one small module each, all with the same interface.

A strategy module has `NAME`, `DEFAULT_HOSTS` (how many cluster hosts it needs)
and `plan(spec, hosts, sink) -> Plan`. The plan says which stages each node runs,
where each node forwards, where the client sends, and the capacity bound. Node
behaviour beyond that lives in node_app; the harness only configures it.
"""

from __future__ import annotations

from types import ModuleType

from harness.spec import SpecError
from harness.strategies import baseline
from harness.strategies.plan import NodePlan, Plan

__all__ = ["NodePlan", "Plan", "get", "IMPLEMENTED"]

IMPLEMENTED: dict[str, ModuleType] = {baseline.NAME: baseline}

# Accepted by the CLI and the spec, built by a later issue.
PLANNED = {"cao1": "issue 4", "cao2": "issue 4", "cao3": "issue 4"}


def get(name: str) -> ModuleType:
    if name in IMPLEMENTED:
        return IMPLEMENTED[name]
    if name in PLANNED:
        raise SpecError(
            "strategy",
            f"{name!r} is accepted but not built yet ({PLANNED[name]}); "
            f"available now: {', '.join(IMPLEMENTED)}",
        )
    raise SpecError("strategy", f"unknown strategy {name!r}")
