"""Strategy 0, the layer pipeline of Musical Chair that Cao starts from.

client -> A (L1, 4 ms on a Pi 3) -> B (L2, 40 ms) -> sink. B is the bottleneck:
above ~25 fps its small queue fills and it drops; A never hears about it.
"""

from __future__ import annotations

from harness.capacity import node_fps
from harness.inventory import Host
from harness.spec import RunSpec
from harness.strategies.plan import NodePlan, Plan

NAME = "baseline"
DEFAULT_HOSTS = 2


def plan(spec: RunSpec, hosts: list[Host], sink: Host) -> Plan:
    a, b = hosts[0], hosts[1]
    nodes = [
        NodePlan(a, "A", ["L1"], [b.endpoint]),
        NodePlan(b, "B", ["L2"], [sink.endpoint]),
        NodePlan(sink, "sink", []),
    ]
    capacity = min(node_fps(a.profile, ["L1"]), node_fps(b.profile, ["L2"]))
    return Plan(nodes=nodes, targets=[a.endpoint], capacity_fps=capacity)
