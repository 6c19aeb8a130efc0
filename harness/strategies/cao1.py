"""Strategy 1 of Cao: A helps B by computing whole frames when B says it is overloaded.

client -> A (L1) -> B (L2) -> sink, as in the baseline, until a reply from B says
`overloaded` (B's queue is full). Then A switches to the whole model (loads stage L1L2 from
disk, pays the profile's model_switch_ms), computes the next X queued frames in full and
sends them straight to the sink, sending nothing to B; then switches back (model_switch_ms
again) and feeds B again. The policy runs in node_app (node_app/roles/helping.py); the harness only
writes run.json `help` for A. See docs/strategies.md.

capacity_fps: the baseline's bound, min(A, B) = B's 25 fps on Pi 3 profiles, is no longer an
upper bound once A also finishes frames itself. What A and B can deliver together, ignoring
switch costs (they only lower it), is the best split of the offered frames: b frames/s go
through B (each costs A t_L1 and B t_L2), a frames/s are computed in full on A (each costs A
t_L1L2). Maximise a + b subject to A: a*t_L1L2 + b*t_L1 <= 1 s and B: b*t_L2 <= 1 s. A frame
moved from A to B frees t_L1L2 - t_L1 > 0 of A's time, so the optimum feeds B to its limit:
b = min(1/t_L2, 1/t_L1), a = (1 s - b*t_L1)/t_L1L2. On Pi 3 profiles: b = 25, a = 0.9/0.044 =
20.5, so 45.5 fps. The naive sum 1/t_L1L2 + 1/t_L2 = 47.7 fps overcounts: it forgets that A
also spends t_L1 on every frame it sends to B. The bound is never below the pipeline bound
(a = 0). Strategy 1 itself cannot reach it (B idles while A helps); strategy 2 can come close.
"""

from __future__ import annotations

from harness.capacity import stage_ms
from harness.inventory import Host
from harness.spec import RunSpec
from harness.strategies.plan import NodePlan, Plan

NAME = "cao1"
DEFAULT_HOSTS = 2
POLICY = "cao1"


def help_capacity_fps(a_profile: str, b_profile: str) -> float:
    """Upper bound on frames/s when A may compute whole frames itself (module docstring)."""
    t_l1 = stage_ms(a_profile, ["L1"]) / 1000.0
    t_full = stage_ms(a_profile, ["L1L2"]) / 1000.0
    t_l2 = stage_ms(b_profile, ["L2"]) / 1000.0
    if t_l1 <= 0 or t_full <= 0 or t_l2 <= 0:
        return float("inf")  # a profile that adds no time (native, zero) gives no bound
    b = min(1.0 / t_l2, 1.0 / t_l1)
    a = (1.0 - b * t_l1) / t_full
    return b + a


def help_plan(policy: str, spec: RunSpec, hosts: list[Host], sink: Host) -> Plan:
    """The plan shared by strategies 1 and 2; only the node policy differs."""
    a, b = hosts[0], hosts[1]
    help_cfg = {
        "policy": policy,
        "x": spec.x,
        "help_stages": ["L1L2"],
        "own_stages": ["L1"],
        "direct_hop": sink.endpoint,
    }
    nodes = [
        NodePlan(a, "A", ["L1"], [b.endpoint], help=help_cfg),
        NodePlan(b, "B", ["L2"], [sink.endpoint]),
        NodePlan(sink, "sink", []),
    ]
    capacity = help_capacity_fps(a.profile, b.profile)
    return Plan(nodes=nodes, targets=[a.endpoint], capacity_fps=capacity)


def plan(spec: RunSpec, hosts: list[Host], sink: Host) -> Plan:
    return help_plan(POLICY, spec, hosts, sink)
