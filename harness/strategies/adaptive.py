"""Adaptive sharing of the heavy stage by measured rates, with admission at the entry (ours,
issue 13).

client -> A (L1) -> one of W0..W(K-1) (the split stage, L2, each) -> sink, or A keeps the
frame (L1 + L2 on A) -> sink. A sends each frame to ONE worker, in proportion to the
workers' measured service rates (1000 / the service EWMA that every reply and every
heartbeat carries), re-weighted on every frame, and keeps a share itself, weighted by the
time its own L1 leaves it (run.json `route: adaptive` and `local`,
node_app/roles/adaptive.py). Above the capacity bound A
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

capacity_fps: Cao's optimum for strategies 1 and 2 (docs/strategies.md), with K workers: A
spends t1 (its L1) on every frame and t1 + t2 (L1 + L2 on A) on a frame it keeps; the
workers take b = min(sum of their L2 rates, 1000 / t1) frames/s, and A keeps
a = (1000 - b t1) / (t1 + t2) more. Two Pi 3 B+ (Cao's pair, K = 1): 25 + 20.45 = 45.5 fps;
A rpi3bplus with rpi4b + rpizero2w workers: 66.0 + 16.7 = 82.7 fps.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from harness.capacity import fps_sum, node_fps, stage_ms
from harness.des import AdaptiveNode, Node, Params, parts, simulate, start
from harness.errors import SpecError
from harness.inventory import Host
from harness.models import describe
from harness.strategies.plan import NodePlan, Plan
from node_app.feedback import entry_shares

if TYPE_CHECKING:
    from harness.spec import RunSpec

NAME = "adaptive"
ALIASES = ("adaptive",)
USES = ("k",)
DEFAULT_HOSTS = 3  # A + 2 workers; hosts_needed() gives the number for the spec's K
MAX_WORKERS = 5  # N = 2..6 hosts, as the issue asks
# A and the workers send while they compute the next frame (node_app/outbox.py): at the
# bound a send waited for inline is time the profile does not have (docs/strategies.md).
SENDS = ("overlap", "inline")


def hosts_needed(spec: RunSpec) -> int:
    return 1 + spec.k


def check(spec: RunSpec) -> None:
    if not 1 <= spec.k <= MAX_WORKERS:
        raise SpecError("k", f"strategy adaptive shares the split stage over K = 1.."
                        f"{MAX_WORKERS} workers (2..{MAX_WORKERS + 1} hosts with A), "
                        f"got {spec.k}")


def split(a_profile: str, worker_profiles: list[str], model: str
          ) -> tuple[float, float] | None:
    """(b, a): frames/s through the workers and kept by A at the bound (module docstring);
    None when a profile has no cost model (native); inf entries when it adds no time."""
    info = describe(model)
    t1 = stage_ms(a_profile, [info.pipeline[0]], model)
    t2 = stage_ms(a_profile, [info.split_stage], model)
    workers = fps_sum(node_fps(p, [info.split_stage], model) for p in worker_profiles)
    if t1 is None or t2 is None or workers is None:
        return None
    b = min(workers, 1000.0 / t1) if t1 > 0 else workers
    if t1 + t2 <= 0:
        return b, float("inf")
    return b, max(0.0, 1000.0 - (b * t1 if b != float("inf") else 0.0)) / (t1 + t2)


def capacity_fps(a_profile: str, worker_profiles: list[str], model: str) -> float | None:
    """b + a (`split`); None when a profile has no cost model (native)."""
    shares = split(a_profile, worker_profiles, model)
    return None if shares is None else shares[0] + shares[1]


def plan(spec: RunSpec, hosts: list[Host], sink: Host) -> Plan:
    info = describe(spec.model)
    a, workers = hosts[0], hosts[1 : 1 + spec.k]
    nodes = [NodePlan(a, "A", [info.pipeline[0]], [w.endpoint for w in workers],
                      extra={"route": "adaptive", "admission": spec.admission,
                             "local": {"stages": [info.split_stage],
                                       "direct_hop": sink.endpoint}})]
    nodes += [NodePlan(w, f"W{i}", [info.split_stage], [sink.endpoint])
              for i, w in enumerate(workers)]
    nodes.append(NodePlan(sink, "sink", []))
    capacity = capacity_fps(a.profile, [w.profile for w in workers], spec.model)
    return Plan(nodes=nodes, targets=[a.endpoint], capacity_fps=capacity,
                input_size=info.input_size)


def predict(p: Params) -> dict[str, Any]:
    """A (first stage) sends each frame to one worker, or keeps it (the whole model,
    `p.whole_ms`, then the sink), by weighted round robin; A keeps node_app's `keep_fps` of
    the offered rate (at A's profile times, plus the hop where A waits for its sends), the
    workers share the rest in proportion to their L2 rates from `p.parts_ms`: the weights
    node_app's measured ones settle at. A worker whose turn it is without room passes it
    to the next worker with room, else A drops the frame (admission `whole`; `none`: sends
    anyway). The rates are the profiles', times a `slow` fault's factor once it has landed
    (`p.slow`): A re-weighs from the next frame, as node_app's measured EWMAs do within a
    few."""
    sim, sink, drops, common = start(p)
    jobs = parts(p, "adaptive")
    workers = [Node(sim, f"W{i}", service_ms=ms[0], next_node=sink, **common)
               for i, ms in enumerate(jobs)]
    hop = p.hop_ms if p.send == "inline" else 0.0  # overlap: the sender's time, not A's

    def weigh(services: Sequence[float], a_factor: float) -> list[float]:
        # A takes nearly every frame off its queue (a refusal costs it nothing), so the rate
        # node_app's entry measures and keeps its share of is the offered one.
        return entry_shares([1000.0 / ms if ms > 0 else 1e9 for ms in services], p.rate_fps,
                            p.first_ms * a_factor + hop, p.whole_ms * a_factor + hop)

    a = AdaptiveNode(sim, "A", service_ms=p.first_ms, replicas=workers, weigh=weigh,
                     local_ms=p.whole_ms, sink=sink, whole=p.admission == "whole", **common)
    return simulate(sim, sink, [a], [a, *workers], drops, p)


def part_jobs_ms(profiles: list[str], tasks: int,
                 model: str) -> tuple[tuple[float, ...], ...] | None:
    """Each worker's job: the split stage (L2) on its own profile (None: no cost model)."""
    stage = describe(model).split_stage
    times = [stage_ms(p, [stage], model) for p in profiles]
    return None if any(t is None for t in times) else tuple((t,) for t in times)  # type: ignore[misc]
