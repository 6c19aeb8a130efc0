"""node_app's roles: which run.json gets which role, and the package's import structure.

The behaviour of each role is tested through real servers in test_node_app.py,
test_parallel_node.py and test_strategies_node.py; here only the wiring that makes
"server.py is the HTTP layer, one module per role" hold: the registry's choice, the refusal
of combinations no single role serves, and no import cycles or foreign imports in node_app
(it is copied alone to each Pi: stdlib + numpy only, nothing from harness).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Any

import pytest

from node_app.config import ConfigError, RunConfig
from node_app.registry import choose

HOP = "127.0.0.1:9"
BASE: dict[str, Any] = {"run_id": "r1", "stages": ["L1"], "next_hops": [HOP], "queue_size": 4,
                        "max_body_bytes": 4096, "input_size": 16}
HELP = {"policy": "cao1", "x": 2, "help_stages": ["L1L2"], "own_stages": ["L1"],
        "direct_hop": HOP}
NODE_APP = Path(__file__).resolve().parents[1] / "node_app"


@pytest.mark.parametrize(("extra", "role"), [
    ({}, "Stage"),
    ({"stages": [], "next_hops": []}, "Sink"),
    ({"stages": [], "next_hops": [], "slices": 2}, "MergeSink"),
    ({"next_hops": [HOP, "127.0.0.1:10"], "route": "least_queue"}, "Router"),
    ({"next_hops": [HOP, "127.0.0.1:10"], "route": "all"}, "Fanout"),
    ({"slice": {"index": 1, "of": 2}}, "SliceStage"),
    ({"help": HELP}, "Helper"),
    ({"tasks": {"blocks": 4, "width": 8}}, "TaskGateway"),
    ({"next_hops": [], "pull": {"gateway": HOP, "blocks": 4}}, "TaskHelper"),
])
def test_registry_picks_one_role_per_run_json(extra: dict[str, Any], role: str) -> None:
    assert choose(RunConfig.from_dict({**BASE, **extra})).__name__ == role


@pytest.mark.parametrize("extra", [
    {"route": "all"},
    {"route": "least_queue"},
    {"help": HELP},
    {"tasks": {"blocks": 4, "width": 8}},
])
def test_slice_with_another_role_is_refused(extra: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="'slice' cannot be combined"):
        RunConfig.from_dict({**BASE, "slice": {"index": 0, "of": 2}, **extra})


def _imports() -> dict[str, set[str]]:
    """node_app module -> top-level names it imports (node_app modules spelled in full)."""
    graph: dict[str, set[str]] = {}
    for path in sorted(NODE_APP.rglob("*.py")):
        parts = path.relative_to(NODE_APP.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        deps: set[str] = set()
        for n in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(n, ast.ImportFrom) and n.module and n.level == 0:
                if n.module == "node_app":
                    deps |= {f"node_app.{a.name}" for a in n.names}
                else:
                    deps.add(n.module)
            elif isinstance(n, ast.Import):
                deps |= {a.name for a in n.names}
        graph[name] = deps - {name}
    return graph


IMPORTS = _imports()


def test_node_app_imports_only_stdlib_and_numpy() -> None:
    allowed = set(sys.stdlib_module_names) | {"numpy", "node_app", "__future__"}
    foreign = {(m, d) for m, deps in IMPORTS.items() for d in deps
               if d.split(".")[0] not in allowed}
    assert not foreign


def test_node_app_has_no_import_cycles() -> None:
    graph = {m: {d for d in deps if d in IMPORTS} for m, deps in IMPORTS.items()}
    done: set[str] = set()

    def visit(m: str, path: list[str]) -> None:
        if m in path:
            raise AssertionError("import cycle: " + " -> ".join(path[path.index(m):] + [m]))
        if m in done:
            return
        for d in sorted(graph[m]):
            visit(d, path + [m])
        done.add(m)

    for m in sorted(graph):
        visit(m, [])


def test_server_imports_no_role_module() -> None:
    """The HTTP layer reaches roles only through the registry (and the Role interface)."""
    assert not {d for d in IMPORTS["node_app.server"] if d.startswith("node_app.roles")}
