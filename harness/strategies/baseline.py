"""Strategy 0, the layer pipeline of Musical Chair that Cao starts from.

client -> A (first stage; L1, 4 ms on a Pi 3 B+) -> B (second stage; L2, 40 ms) -> sink.
B is the bottleneck: above ~25 fps its small queue fills and it drops; A never hears
about it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.capacity import fps_min, node_fps
from harness.des import Node, Params, simulate, start
from harness.inventory import Host
from harness.models import describe
from harness.strategies.plan import NodePlan, Plan

if TYPE_CHECKING:
    from harness.spec import RunSpec

NAME = "baseline"
ALIASES = ("0", "baseline")
USES: tuple[str, ...] = ()
DEFAULT_HOSTS = 2
SENDS = ("inline", "overlap")  # inline: the numbers every report since issue 3 has


def plan(spec: RunSpec, hosts: list[Host], sink: Host) -> Plan:
    info = describe(spec.model)
    first, second = info.pipeline
    a, b = hosts[0], hosts[1]
    nodes = [
        NodePlan(a, "A", [first], [b.endpoint]),
        NodePlan(b, "B", [second], [sink.endpoint]),
        NodePlan(sink, "sink", []),
    ]
    capacity = fps_min([node_fps(a.profile, [first], spec.model),
                        node_fps(b.profile, [second], spec.model)])
    return Plan(nodes=nodes, targets=[a.endpoint], capacity_fps=capacity,
                input_size=info.input_size)


def predict(p: Params) -> dict[str, Any]:
    sim, sink, drops, common = start(p)
    b = Node(sim, "B", service_ms=p.second_ms, next_node=sink, **common)
    a = Node(sim, "A", service_ms=p.first_ms, next_node=b, **common)
    return simulate(sim, sink, [a], [a, b], drops, p)
