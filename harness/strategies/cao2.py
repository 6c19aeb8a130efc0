"""Strategy 2 of Cao: as strategy 1, but while A helps it still feeds B, at A's pace.

While helping, after each frame A computes in full (L1L2, to the sink) it takes the next
queued frame (if any), runs only L1 on it and sends it to B, so B gets one frame per full
frame of A (Cao: "the fast node will send one data to the slow node after it finishes one
computation"). X counts the full frames only. Node behaviour: node_app/roles/helping.py;
plan and capacity bound as in strategy 1 (harness/strategies/common.py), which this strategy can
approach because B keeps working while A helps. See docs/strategies.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.des import Params
from harness.inventory import Host
from harness.strategies.common import help_plan, help_predict
from harness.strategies.plan import Plan

if TYPE_CHECKING:
    from harness.spec import RunSpec

NAME = "cao2"
ALIASES = ("2", "cao2")
USES = ("x",)
DEFAULT_HOSTS = 2


def plan(spec: RunSpec, hosts: list[Host], sink: Host) -> Plan:
    return help_plan("cao2", spec, hosts, sink)


def predict(p: Params) -> dict[str, Any]:
    return help_predict(p, feed_b=True)
