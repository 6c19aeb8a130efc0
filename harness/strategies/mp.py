"""Musical Chair's model parallelism: L2's weights split by output neuron over K devices.

client -> A (L1) -> all of M0..M(K-1) (M_i runs stage L2_s<i>of<K>: L2's output columns
[i*2000//K, (i+1)*2000//K), harness/model.py) -> sink, which merges the K slices.

A fans L1's output out to every slice node (run.json `route: all`). Each slice node forwards
its partial output with header `X-Slice: i/K` (run.json `slice`). The sink is the merge
point (run.json `slices: K`, node_app/roles/merge.py): it traces `slice_received` per slice and
`received` once all K are in; frames still incomplete at stop are `dropped` with reason
`missing_slice`. Why the sink and not a merge device: merging is a copy, every slice must
travel somewhere anyway, and a merge device would add a hop, a queue that can drop and a
second full-frame transfer.

Each device holds only its slice: ~16 MB / K of L2's weights (/stats `weights_bytes`).

capacity_fps: min(A's L1 rate, the slowest slice node's rate); a slice is a dense
2000 x 2000/K layer, on Pi 3 profiles 40 ms (K=1), 21.1 ms (K=2), 11.6 ms (K=4) from the
profile's line through Cao's measurements, so 25, 47.5, 86.4 fps. The fixed cost per layer
(2.1 ms) is why K slices are less than K times as fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.capacity import fps_min, node_fps, stage_ms
from harness.des import FanoutNode, MergeSink, Node, Params, parts, simulate, start
from harness.errors import SpecError
from harness.inventory import Host
from harness.models import describe, module
from harness.strategies.plan import NodePlan, Plan

if TYPE_CHECKING:
    from harness.spec import RunSpec

NAME = "mp"
ALIASES = ("mp",)
USES = ("k",)
DEFAULT_HOSTS = 3  # A + 2 slice nodes; hosts_needed() gives the number for the spec's K


def hosts_needed(spec: RunSpec) -> int:
    return 1 + spec.k


def check(spec: RunSpec) -> None:
    """K must be a slice count the model exports (`SLICE_COUNTS`): a slice node loads
    `L2_s<i>of<K>.npz`, and no other K has stage files, so nodes would fail at start."""
    counts = tuple(module(spec.model).SLICE_COUNTS)
    if spec.k not in counts:
        raise SpecError("k", f"strategy mp slices {spec.model}'s split stage only into K in "
                        f"{', '.join(map(str, counts))} (SLICE_COUNTS: the slice stage files "
                        f"exported), got {spec.k}")


def capacity_fps(a_profile: str, slice_profiles: list[str], model: str) -> float | None:
    """None when a profile has no cost model (native)."""
    info = describe(model)
    k = len(slice_profiles)
    rates = [node_fps(p, [info.slice_stage(i, k)], model) for i, p in enumerate(slice_profiles)]
    return fps_min([node_fps(a_profile, [info.pipeline[0]], model), *rates])


def plan(spec: RunSpec, hosts: list[Host], sink: Host) -> Plan:
    info = describe(spec.model)
    k = spec.k
    a, parts = hosts[0], hosts[1 : 1 + k]
    nodes = [NodePlan(a, "A", [info.pipeline[0]], [m.endpoint for m in parts],
                      extra={"route": "all", "admission": spec.admission})]
    nodes += [NodePlan(m, f"M{i}", [info.slice_stage(i, k)], [sink.endpoint],
                       extra={"slice": {"index": i, "of": k}}) for i, m in enumerate(parts)]
    nodes.append(NodePlan(sink, "sink", [], extra={"slices": k}))
    capacity = capacity_fps(a.profile, [m.profile for m in parts], spec.model)
    return Plan(nodes=nodes, targets=[a.endpoint], capacity_fps=capacity,
                input_size=info.input_size)


def predict(p: Params) -> dict[str, Any]:
    """A (first stage) sends every frame to all K slice nodes (their slice times,
    `p.parts_ms`); the sink delivers a frame when its K-th slice arrives. A slice node
    that drops a frame loses the whole frame; with admission `whole` A drops instead, before
    L1, when a slice node's queue is full."""
    sim, _, drops, common = start(p)
    slices = parts(p, "mp")
    sink = MergeSink(len(slices))
    nodes = [Node(sim, f"M{i}", service_ms=ms[0], next_node=sink, **common)
             for i, ms in enumerate(slices)]
    a = FanoutNode(sim, "A", service_ms=p.first_ms, parts=nodes,
                   whole=p.admission == "whole", **common)
    return simulate(sim, sink, [a], [a, *nodes], drops, p)


def part_jobs_ms(profiles: list[str], tasks: int,
                 model: str) -> tuple[tuple[float, ...], ...] | None:
    """Slice node i's job: slice i of K on its own profile (None: a profile has no cost)."""
    info, k = describe(model), len(profiles)
    times = [stage_ms(p, [info.slice_stage(i, k)], model) for i, p in enumerate(profiles)]
    return None if any(t is None for t in times) else tuple((t,) for t in times)  # type: ignore[misc]
