"""Strategy 2 of Cao: as strategy 1, but while A helps it still feeds B, at A's pace.

While helping, after each frame A computes in full (L1L2, to the sink) it takes the next
queued frame (if any), runs only L1 on it and sends it to B, so B gets one frame per full
frame of A (Cao: "the fast node will send one data to the slow node after it finishes one
computation"). X counts the full frames only. Node behaviour: node_app/roles/helping.py; plan and
capacity bound as in strategy 1 (harness/strategies/cao1.py), which this strategy can
approach because B keeps working while A helps. See docs/strategies.md.
"""

from __future__ import annotations

from harness.inventory import Host
from harness.spec import RunSpec
from harness.strategies.cao1 import help_plan
from harness.strategies.plan import Plan

NAME = "cao2"
DEFAULT_HOSTS = 2
POLICY = "cao2"


def plan(spec: RunSpec, hosts: list[Host], sink: Host) -> Plan:
    return help_plan(POLICY, spec, hosts, sink)
