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

from typing import TYPE_CHECKING, Any

from harness.capacity import fps_min, layer_ms, node_fps
from harness.des import GatewayNode, Params, PullHelper, parts, simulate, start
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


def block_ms(profile: str, blocks: int, model: str) -> list[float] | None:
    """One helper's time for each of the T blocks (a dense n_in x width/T layer each);
    None when the profile has no cost model (native)."""
    info = describe(model)
    times = [layer_ms(profile, info.block(i, blocks)) for i in range(blocks)]
    return None if any(t is None for t in times) else times  # type: ignore[return-value]


def helper_frame_ms(profile: str, blocks: int, model: str) -> float | None:
    """One helper's time for all T blocks of one frame (fixed cost paid per block)."""
    times = block_ms(profile, blocks, model)
    return None if times is None else sum(times, 0.0)


def capacity_fps(a_profile: str, helper_profiles: list[str], blocks: int,
                 model: str) -> float | None:
    """None when a profile has no cost model (native); inf when the helpers add no time."""
    times = [helper_frame_ms(p, blocks, model) for p in helper_profiles]
    first = describe(model).pipeline[0]
    if any(t is None for t in times):
        return None
    if any(t <= 0 for t in times):  # type: ignore[operator]
        helpers = float("inf")  # a profile that adds no time gives no bound
    else:
        helpers = sum(1000.0 / t for t in times)  # type: ignore[operator]
    return fps_min([node_fps(a_profile, [first], model), helpers])


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
                      extra={"tasks": {"blocks": t, "width": width},
                             "admission": spec.admission})]
    nodes += [NodePlan(h, f"H{i}", [info.split_stage], [],
                       extra={"pull": {"gateway": a.endpoint, "blocks": t}})
              for i, h in enumerate(helpers)]
    nodes.append(NodePlan(sink, "sink", []))
    capacity = capacity_fps(a.profile, [h.profile for h in helpers], t, spec.model)
    return Plan(nodes=nodes, targets=[a.endpoint], capacity_fps=capacity,
                input_size=info.input_size)


def predict(p: Params) -> dict[str, Any]:
    """Gateway A (first stage, then T tasks per frame, at most queue_size frames on the
    board) and K pulling helpers (their T block times, `p.parts_ms`); a task costs a helper
    its block time plus two round trips (pull, result)."""
    sim, sink, drops, common = start(p)
    helpers_ms = parts(p, "tasks")
    blocks = len(helpers_ms[0])
    a = GatewayNode(sim, "A", service_ms=p.first_ms, blocks=blocks, sink=sink, **common)
    helpers = [PullHelper(sim, f"H{i}", a, ms, p.hop_ms) for i, ms in enumerate(helpers_ms)]
    for h in helpers:
        h.pull(0.0)  # idle from the start: waiting in a long poll
    return simulate(sim, sink, [a], [a, *helpers], drops, p)


def part_jobs_ms(profiles: list[str], tasks: int,
                 model: str) -> tuple[tuple[float, ...], ...] | None:
    """Each helper's T block times on its own profile (None: a profile has no cost)."""
    times = [block_ms(p, tasks, model) for p in profiles]
    return None if any(t is None for t in times) else tuple(tuple(t) for t in times)  # type: ignore[arg-type]
