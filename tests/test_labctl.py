"""labctl's pure parts, without a lab: which prohibit routes a `lab up` deletes as the
leftovers of a partition that was never healed (a run killed mid-partition)."""

from __future__ import annotations

import importlib.util
from types import ModuleType

from harness.inventory import REPO


def _labctl() -> ModuleType:
    """playbooks/roles/lab/files/labctl.py, a script the lab role runs, read as a module."""
    path = REPO / "playbooks/roles/lab/files/labctl.py"
    spec = importlib.util.spec_from_file_location("labctl", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_lab_up_deletes_partition_routes_and_keeps_the_confinement_routes() -> None:
    """`ip -j route show type prohibit` in a lab host's namespace (a host route's dst has no
    /32): the three private ranges confine the host and stay; a /32 (or a narrower net)
    inside the lab's /24 is a partition left behind and goes."""
    routes = [{"type": "prohibit", "dst": "10.0.0.0/8", "flags": []},
              {"type": "prohibit", "dst": "172.16.0.0/12", "flags": []},
              {"type": "prohibit", "dst": "192.168.0.0/16", "flags": []},
              {"type": "prohibit", "dst": "198.18.0.12", "flags": []},
              {"type": "prohibit", "dst": "198.18.0.16/30", "flags": []},
              {"type": "prohibit", "dst": "198.18.1.12", "flags": []},
              {"type": "prohibit", "dst": "default", "flags": []}]
    stray = _labctl().stray_partitions(routes, "198.18.0.11/24")
    assert stray == ["198.18.0.12/32", "198.18.0.16/30"]


def test_a_host_with_no_prohibit_routes_has_nothing_to_heal() -> None:
    assert _labctl().stray_partitions([], "198.18.0.11/24") == []
