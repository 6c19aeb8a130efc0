"""Distribution strategies: one small module each, all with the same interface.

A strategy module has `NAME`, `DEFAULT_HOSTS` (how many cluster hosts it needs)
and `plan(spec, hosts, sink) -> Plan`. The plan says which stages each node runs,
where each node forwards, where the client sends, and the capacity bound. Node
behaviour beyond that lives in node_app; the harness only configures it.
"""

from __future__ import annotations

from types import ModuleType

from harness.spec import SpecError
from harness.strategies import baseline, cao1, cao2, cao3, dp, mp, tasks
from harness.strategies.plan import NodePlan, Plan

__all__ = ["NodePlan", "Plan", "get", "hosts_needed", "IMPLEMENTED"]

IMPLEMENTED: dict[str, ModuleType] = {
    m.NAME: m for m in (baseline, cao1, cao2, cao3, dp, mp, tasks)
}

# Accepted by the CLI and the spec, built by a later issue.
PLANNED: dict[str, str] = {}


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


def hosts_needed(module: ModuleType, spec) -> int:
    """Hosts a run needs: `hosts_needed(spec)` where the strategy has one (dp, mp, tasks
    depend on K), else its DEFAULT_HOSTS."""
    fn = getattr(module, "hosts_needed", None)
    return int(fn(spec)) if fn is not None else int(module.DEFAULT_HOSTS)
