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

from typing import TYPE_CHECKING, Any

from harness.capacity import fps_min, fps_sum, node_fps, stage_ms
from harness.des import Node, Params, RouterNode, parts, simulate, start
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


def capacity_fps(a_profile: str, replica_profiles: list[str], model: str) -> float | None:
    """None when a profile has no cost model (native)."""
    info = describe(model)
    return fps_min([node_fps(a_profile, [info.pipeline[0]], model),
                    fps_sum(node_fps(p, [info.split_stage], model) for p in replica_profiles)])


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


def predict(p: Params) -> dict[str, Any]:
    """A (first stage) routes each frame to the replica with the least backlog; each
    replica (its own L2 time, `p.parts_ms`) forwards to the sink."""
    sim, sink, drops, common = start(p)
    replicas = [Node(sim, f"B{i}", service_ms=ms[0], next_node=sink, **common)
                for i, ms in enumerate(parts(p, "dp"))]
    a = RouterNode(sim, "A", service_ms=p.first_ms, replicas=replicas, **common)
    return simulate(sim, sink, [a], [a, *replicas], drops, p)


def part_jobs_ms(profiles: list[str], tasks: int,
                 model: str) -> tuple[tuple[float, ...], ...] | None:
    """Each replica's job: its L2 time on its own profile (None: a profile has no cost)."""
    stage = describe(model).split_stage
    times = [stage_ms(p, [stage], model) for p in profiles]
    return None if any(t is None for t in times) else tuple((t,) for t in times)  # type: ignore[misc]
