"""Strategy 3 of Cao: the whole model on both nodes, the client alternates between them.

client -> A (L1L2) -> sink and client -> B (L1L2) -> sink; packet i goes to
targets[i % 2]. No feedback, no switching: two independent replicas. Cao reports 100 %
coverage at 30 fps offered.

capacity_fps: each node finishes 1/t_L1L2 frames/s, so 2 x 1000/44 = 45.5 fps on Pi 3
profiles. With alternating targets each node receives half the offered rate, so the
slower node's replica caps it at 2 x min(node rates).
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

NAME = "cao3"
ALIASES = ("3", "cao3")
USES: tuple[str, ...] = ()
DEFAULT_HOSTS = 2


def plan(spec: RunSpec, hosts: list[Host], sink: Host) -> Plan:
    info = describe(spec.model)
    a, b = hosts[0], hosts[1]
    nodes = [
        NodePlan(a, "A", [info.whole], [sink.endpoint]),
        NodePlan(b, "B", [info.whole], [sink.endpoint]),
        NodePlan(sink, "sink", []),
    ]
    slowest = fps_min([node_fps(a.profile, [info.whole], spec.model),
                       node_fps(b.profile, [info.whole], spec.model)])
    capacity = None if slowest is None else 2 * slowest
    return Plan(nodes=nodes, targets=[a.endpoint, b.endpoint], capacity_fps=capacity,
                input_size=info.input_size)


def predict(p: Params) -> dict[str, Any]:
    """Two independent whole-model nodes, each at its own device's speed; the client
    alternates, frame 0 to A."""
    sim, sink, drops, common = start(p)
    a = Node(sim, "A", service_ms=p.whole_ms, next_node=sink, **common)
    b = Node(sim, "B", service_ms=p.whole_b_ms, next_node=sink, **common)
    return simulate(sim, sink, [a, b], [a, b], drops, p)
