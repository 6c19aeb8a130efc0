"""Adaptive sharing of the heavy stage by measured rates, with admission at the entry (ours,
issue 13).

client -> A (L1) -> one of W0..W(K-1) (the split stage, L2, each) -> sink. A sends each
frame to ONE worker, in proportion to the workers' measured service rates (1000 / the
service EWMA that every reply and every heartbeat carries), re-weighted on every frame
(run.json `route: adaptive`, node_app/roles/adaptive.py). Above the capacity bound A
refuses the excess itself (`admission`, the default `--admission=whole`): a frame goes to a
worker only when that worker has room, so no frame is lost after its first layer.

Why by frames, not by neuron slices (docs/strategies.md, "adaptive"): a frame is one
worker's whole job, so there is no merge, a slow worker delays only its own frames, and a
re-balance is only a change of weights: no model switch and no weight reload on the hot
path (each worker loads L2 once). A neuron split in proportion to speed would need every
worker to hold all of L2 anyway, make every frame wait for its slowest slice, and lose the
frame with any one slice.

Difference from dp: dp sends a frame to the least backlog (a fast worker idle at low load
gets everything, a stalled one is avoided only once its queue shows it); adaptive shares by
measured rate at every load and refuses at the entry rather than queueing where a drop
would waste A's work. N = 2..6 hosts: A and K = N - 1 workers (`--k`).

capacity_fps: min(A's L1 rate, sum of the workers' L2 rates): as dp, e.g. Pi 3 B+ workers
25 fps each; rpi3bplus + rpi4b workers 25 + 48.1 = 73.1 fps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.capacity import fps_min, fps_sum, node_fps, stage_ms
from harness.des import AdaptiveNode, Node, Params, parts, simulate, start
from harness.errors import SpecError
from harness.inventory import Host
from harness.models import describe
from harness.strategies.plan import NodePlan, Plan

if TYPE_CHECKING:
    from harness.spec import RunSpec

NAME = "adaptive"
ALIASES = ("adaptive",)
USES = ("k",)
DEFAULT_HOSTS = 3  # A + 2 workers; hosts_needed() gives the number for the spec's K
MAX_WORKERS = 5  # N = 2..6 hosts, as the issue asks


def hosts_needed(spec: RunSpec) -> int:
    return 1 + spec.k


def check(spec: RunSpec) -> None:
    if not 1 <= spec.k <= MAX_WORKERS:
        raise SpecError("k", f"strategy adaptive shares the split stage over K = 1.."
                        f"{MAX_WORKERS} workers (2..{MAX_WORKERS + 1} hosts with A), "
                        f"got {spec.k}")


def capacity_fps(a_profile: str, worker_profiles: list[str], model: str) -> float | None:
    """None when a profile has no cost model (native)."""
    info = describe(model)
    return fps_min([node_fps(a_profile, [info.pipeline[0]], model),
                    fps_sum(node_fps(p, [info.split_stage], model) for p in worker_profiles)])


def plan(spec: RunSpec, hosts: list[Host], sink: Host) -> Plan:
    info = describe(spec.model)
    a, workers = hosts[0], hosts[1 : 1 + spec.k]
    nodes = [NodePlan(a, "A", [info.pipeline[0]], [w.endpoint for w in workers],
                      extra={"route": "adaptive", "admission": spec.admission})]
    nodes += [NodePlan(w, f"W{i}", [info.split_stage], [sink.endpoint])
              for i, w in enumerate(workers)]
    nodes.append(NodePlan(sink, "sink", []))
    capacity = capacity_fps(a.profile, [w.profile for w in workers], spec.model)
    return Plan(nodes=nodes, targets=[a.endpoint], capacity_fps=capacity,
                input_size=info.input_size)


def predict(p: Params) -> dict[str, Any]:
    """A (first stage) sends each frame to one worker by weighted round robin over the
    workers with room, weights = their L2 rates (`p.parts_ms`), dropping at A when none has
    room (admission `whole`; `none`: over all of them); each worker forwards to the sink.
    The rates are the profiles' (node_app measures them, which is what a slow fault
    changes: not modelled)."""
    sim, sink, drops, common = start(p)
    workers = [Node(sim, f"W{i}", service_ms=ms[0], next_node=sink, **common)
               for i, ms in enumerate(parts(p, "adaptive"))]
    a = AdaptiveNode(sim, "A", service_ms=p.first_ms, replicas=workers,
                     whole=p.admission == "whole", **common)
    return simulate(sim, sink, [a], [a, *workers], drops, p)


def part_jobs_ms(profiles: list[str], tasks: int,
                 model: str) -> tuple[tuple[float, ...], ...] | None:
    """Each worker's job: the split stage (L2) on its own profile (None: no cost model)."""
    stage = describe(model).split_stage
    times = [stage_ms(p, [stage], model) for p in profiles]
    return None if any(t is None for t in times) else tuple((t,) for t in times)  # type: ignore[misc]
