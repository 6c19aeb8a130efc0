"""Musical Chair's data parallelism: L2 replicated on K devices, each frame to ONE of them.

client -> A (L1) -> one of B0..B(K-1) (L2 each) -> sink. A picks the replica per frame from
the replicas' own replies (run.json `route: least_queue`, node_app/routing.py): the smallest
estimated backlog (last reported queue depth, drained at the replica's reported service time
since that reply, plus frames sent without a reply yet), ties round robin. So a replica that
falls behind (slower device, a stall) gets fewer frames, which blind round robin would not do.
With K = 1 this is the baseline pipeline (plus a router that has one choice).

capacity_fps: min(A's L1 rate, sum of the replicas' L2 rates) = min(250, K x 25) fps on
Pi 3 profiles: 25, 50, 100 fps for K = 1, 2, 4.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.capacity import node_fps
from harness.inventory import Host
from harness.models import describe
from harness.strategies.plan import NodePlan, Plan

if TYPE_CHECKING:
    from harness.spec import RunSpec

NAME = "dp"
ALIASES = ("dp",)
USES = ("k",)
DEFAULT_HOSTS = 3  # A + 2 replicas; hosts_needed() gives the number for the spec's K


def hosts_needed(spec: RunSpec) -> int:
    return 1 + spec.k


def capacity_fps(a_profile: str, replica_profiles: list[str], model: str) -> float:
    info = describe(model)
    return min(node_fps(a_profile, [info.pipeline[0]], model),
               sum(node_fps(p, [info.split_stage], model) for p in replica_profiles))


def plan(spec: RunSpec, hosts: list[Host], sink: Host) -> Plan:
    info = describe(spec.model)
    a, replicas = hosts[0], hosts[1 : 1 + spec.k]
    nodes = [NodePlan(a, "A", [info.pipeline[0]], [r.endpoint for r in replicas],
                      extra={"route": "least_queue"})]
    nodes += [NodePlan(r, f"B{i}", [info.split_stage], [sink.endpoint])
              for i, r in enumerate(replicas)]
    nodes.append(NodePlan(sink, "sink", []))
    capacity = capacity_fps(a.profile, [r.profile for r in replicas], spec.model)
    return Plan(nodes=nodes, targets=[a.endpoint], capacity_fps=capacity,
                input_size=info.input_size)
