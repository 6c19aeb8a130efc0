"""Distribution strategies: one module each, all with the same small interface.

A strategy module has:

- `NAME` (canonical, used in run ids and the ledger) and `ALIASES` (what a user may type);
- `USES`: the spec fields that shape it (`x`, `k`, `tasks`), for run ids and sweeps;
- `DEFAULT_HOSTS`, or `hosts_needed(spec)` when that depends on the spec;
- `plan(spec, hosts, sink) -> Plan`: which stages of the spec's model each node runs,
  where each node forwards, where the client sends, and the capacity bound;
- optionally `check(spec)`: raise `SpecError` for what only this strategy rejects (mp: a K
  without exported slices); RunSpec calls it, so a bad spec fails before anything starts;
- optionally `predict(params) -> dict`: the discrete-event model of it (harness/des.py);
- optionally `SENDS`: the run.json `send` modes its nodes take, its default first (absent:
  inline only); the harness writes a spec's `send` into every node's run.json.

Node behaviour beyond the plan lives in a node_app role; the harness only configures it.
Adding a strategy is one module here plus `register(module)` (built-ins are registered
below); docs/architecture.md walks through an example.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from harness.errors import SpecError
from harness.strategies import adaptive, baseline, bodp, cao1, cao2, cao3, dp, ftp, mp, tasks
from harness.strategies.plan import NodePlan, Plan

__all__ = ["NodePlan", "Plan", "check_host_count", "get", "hosts_needed", "lab_fix", "register",
           "resolve", "IMPLEMENTED"]

IMPLEMENTED: dict[str, ModuleType] = {}
_ALIASES: dict[str, str] = {}
_REQUIRED = ("NAME", "ALIASES", "USES", "plan")


def register(module: ModuleType) -> ModuleType:
    """Make a strategy module available to specs, the CLI, sweeps and predictions."""
    missing = [a for a in _REQUIRED if not hasattr(module, a)]
    if missing or not (hasattr(module, "DEFAULT_HOSTS") or hasattr(module, "hosts_needed")):
        raise TypeError(f"strategy module {module.__name__} lacks "
                        f"{', '.join(missing) or 'DEFAULT_HOSTS or hosts_needed'}")
    taken = [a for a in (module.NAME, *module.ALIASES)
             if _ALIASES.get(a.lower(), module.NAME) != module.NAME]
    if taken:
        raise ValueError(f"strategy {module.NAME}: name(s) {', '.join(taken)} already taken")
    IMPLEMENTED[module.NAME] = module
    for alias in (module.NAME, *module.ALIASES):
        _ALIASES[alias.lower()] = module.NAME
    return module


for _module in (baseline, cao1, cao2, cao3, dp, mp, tasks, ftp, bodp, adaptive):
    register(_module)


def resolve(name: str) -> str:
    """The canonical name of what a user typed (`2` -> `cao2`)."""
    key = str(name).strip().lower()
    if key not in _ALIASES:
        raise SpecError("strategy", f"unknown strategy {name!r}; known: "
                        f"{', '.join(sorted(_ALIASES))}")
    return _ALIASES[key]


def get(name: str) -> ModuleType:
    return IMPLEMENTED[resolve(name)]


def uses(name: str, field: str) -> bool:
    """Does this strategy depend on spec field `field` (`x`, `k`, `tasks`)?"""
    return field in get(name).USES


def hosts_needed(module: ModuleType, spec: Any) -> int:
    """Hosts a run needs: `hosts_needed(spec)` where the strategy has one (dp, mp, tasks
    depend on K), else its DEFAULT_HOSTS."""
    fn = getattr(module, "hosts_needed", None)
    return int(fn(spec)) if fn is not None else int(module.DEFAULT_HOSTS)


def check_host_count(spec: Any, available: int, inventory: str, field: str = "k",
                     largest: int | None = None) -> None:
    """Raise SpecError(field) when a run with no `--hosts` needs more hosts than the
    inventory has, before anything starts: the error says how many it needs and has, for
    strategies shaped by K the largest K that fits (ftp with K = 6 on a 6-host lab needs 7:
    the gateway and 6 devices), and how to get a lab that holds it (`fab lab-inventory
    --pis=N`, N the hosts needed, or `largest` when a sweep's biggest point needs more)."""
    if getattr(spec, "hosts", None):
        return  # named hosts are checked by name when the run picks them
    module = get(spec.strategy)
    needed = hosts_needed(module, spec)
    if needed <= available:
        return
    fix = lab_fix(max(needed, largest or 0))
    if "k" in module.USES:
        most = available - (needed - int(spec.k))
        fits = f"at most K={most} fits" if most >= 1 else "no K fits"
        raise SpecError(field, f"{spec.strategy} with K={spec.k} needs {needed} hosts, but "
                               f"{inventory} has {available} ({fits}); {fix}")
    raise SpecError(field, f"{spec.strategy} needs {needed} hosts, but {inventory} has "
                           f"{available}; {fix}")


def lab_fix(pis: int) -> str:
    """How to get an emulated lab of `pis` hosts (docs/lab.md, "Lab size"); real Pis need
    that many in the inventory."""
    return (f"an emulated lab of {pis}: `fab lab-inventory --pis={pis} > "
            f"inventory/lab-{pis}.yml`, bring it up (docs/lab.md, Lab size) and pass "
            f"--inventory=inventory/lab-{pis}.yml (real Pis: {pis} hosts in the inventory)")
