"""Strategy 3 of Cao: the whole model on both nodes, the client alternates between them.

client -> A (L1L2) -> sink and client -> B (L1L2) -> sink; packet i goes to
targets[i % 2]. No feedback, no switching: two independent replicas. Cao reports 100 %
coverage at 30 fps offered.

capacity_fps: each node finishes 1/t_L1L2 frames/s, so 2 x 1000/44 = 45.5 fps on Pi 3
profiles. With alternating targets each node receives half the offered rate, so the
slower node's replica caps it at 2 x min(node rates).
"""

from __future__ import annotations

from harness.capacity import node_fps
from harness.inventory import Host
from harness.spec import RunSpec
from harness.strategies.plan import NodePlan, Plan

NAME = "cao3"
DEFAULT_HOSTS = 2


def plan(spec: RunSpec, hosts: list[Host], sink: Host) -> Plan:
    a, b = hosts[0], hosts[1]
    nodes = [
        NodePlan(a, "A", ["L1L2"], [sink.endpoint]),
        NodePlan(b, "B", ["L1L2"], [sink.endpoint]),
        NodePlan(sink, "sink", []),
    ]
    capacity = 2 * min(node_fps(a.profile, ["L1L2"]), node_fps(b.profile, ["L1L2"]))
    return Plan(nodes=nodes, targets=[a.endpoint, b.endpoint], capacity_fps=capacity)
