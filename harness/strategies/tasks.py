"""Task sharing: a gateway cuts L2 into T neuron-block tasks, idle helpers pull them.

Source: ../shared/seeds/003_7ec46a3d574542d9.txt.

client -> A (gateway: L1, then T tasks per frame on its task queue) <- H0..H(K-1) pull
(`POST /task/next`, long poll), compute block i = L2's columns [i*2000//T, (i+1)*2000//T),
return it (`POST /task/result`); A assembles the frame when all T blocks are back and sends
it to the sink. node_app/roles/task_gateway.py and task_helper.py; run.json `tasks` on A, `pull` on
each helper.

Pull, not push: a helper asks only when idle, so each takes tasks at its own speed and a
helper twice as slow takes about half as many; A needs no knowledge of helper speeds.
Each helper's speed is its own device profile per block (a dense 2000 x 2000/T layer), so
heterogeneous helpers come from the inventory's `device_profile` per host (e.g.
`rpi3bplus_half_speed`). The gateway computes no blocks itself: on a Pi it is busy with L1,
reading and assembling, and keeping it out makes the helpers' share easy to read.

capacity_fps: min(A's L1 rate, sum over helpers of 1 / (their time for all T blocks)),
e.g. Pi 3, T = 4: a block is 11.6 ms, so a helper does 21.6 frames/s and K = 2 helpers
43.2 fps (less than dp's 50: the per-layer fixed cost is paid T times per frame).
Tasks per helper: A's /stats `tasks_by_helper`, in summary.json and the report.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.capacity import layer_ms, node_fps
from harness.errors import SpecError
from harness.inventory import Host
from harness.models import describe
from harness.strategies.plan import NodePlan, Plan

if TYPE_CHECKING:
    from harness.spec import RunSpec

NAME = "tasks"
ALIASES = ("tasks",)
USES = ("k", "tasks")
DEFAULT_HOSTS = 3  # gateway + 2 helpers; hosts_needed() gives the number for the spec's K


def hosts_needed(spec: RunSpec) -> int:
    return 1 + spec.k


def helper_frame_ms(profile: str, blocks: int, model: str) -> float:
    """One helper's time for all T blocks of one frame (fixed cost paid per block)."""
    info = describe(model)
    return sum(layer_ms(profile, info.block(i, blocks)) for i in range(blocks))


def capacity_fps(a_profile: str, helper_profiles: list[str], blocks: int, model: str) -> float:
    times = [helper_frame_ms(p, blocks, model) for p in helper_profiles]
    if any(t <= 0 for t in times):
        return float("inf")  # a profile that adds no time gives no bound
    first = describe(model).pipeline[0]
    return min(node_fps(a_profile, [first], model), sum(1000.0 / t for t in times))


def check(spec: RunSpec) -> None:
    """T at most the split stage's neurons (a block has at least one), checked with the
    spec so that a sweep fails before its first run, not at this point's plan."""
    info = describe(spec.model)
    width = info.split_layer.output_shape[-1]
    if spec.tasks > width:
        raise SpecError("tasks", f"must be <= {width} ({info.split_stage}'s neurons in model "
                        f"{info.name}), got {spec.tasks}")


def plan(spec: RunSpec, hosts: list[Host], sink: Host) -> Plan:
    info = describe(spec.model)
    width = info.split_layer.output_shape[-1]
    a, helpers = hosts[0], hosts[1 : 1 + spec.k]
    t = spec.tasks
    nodes = [NodePlan(a, "A", [info.pipeline[0]], [sink.endpoint],
                      extra={"tasks": {"blocks": t, "width": width}})]
    nodes += [NodePlan(h, f"H{i}", [info.split_stage], [],
                       extra={"pull": {"gateway": a.endpoint, "blocks": t}})
              for i, h in enumerate(helpers)]
    nodes.append(NodePlan(sink, "sink", []))
    capacity = capacity_fps(a.profile, [h.profile for h in helpers], t, spec.model)
    return Plan(nodes=nodes, targets=[a.endpoint], capacity_fps=capacity,
                input_size=info.input_size)
