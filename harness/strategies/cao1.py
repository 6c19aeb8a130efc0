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

from typing import TYPE_CHECKING, Any

from harness.des import Params
from harness.inventory import Host
from harness.strategies.common import help_plan, help_predict
from harness.strategies.plan import Plan

if TYPE_CHECKING:
    from harness.spec import RunSpec

NAME = "cao1"
ALIASES = ("1", "cao1")
USES = ("x",)
DEFAULT_HOSTS = 2


def plan(spec: RunSpec, hosts: list[Host], sink: Host) -> Plan:
    return help_plan("cao1", spec, hosts, sink)


def predict(p: Params) -> dict[str, Any]:
    return help_predict(p, feed_b=False)
