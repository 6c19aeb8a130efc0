"""The adaptive strategy on the mixed lab (issue 13): short runs on inventory/lab-mixed.yml.

A = pi1 (rpi3bplus: L1 4 ms, L2 40 ms), workers pi2 (rpi4b: L2 20.79 ms, 48.1 fps) and pi4
(rpizero2w: L2 56 ms, 17.9 fps): the workers take 66.0 fps, A keeps (1000 - 66.0 * 4) / 44 =
16.7 more: bound 82.7 fps. Below it every frame arrives; at 1.5x it every loss is at pi1
before any work (`admission`, or pi1's own queue while it runs its share) and no worker
drops; after `slow:pi2@5s:x3` (pi2's L2 62.4 ms, new bound 33.9 + 19.6 = 53.5 fps) a 40 fps
load still arrives whole.

Measured on the lab (2026-11-28, quiet box): with pi1 and the workers sending while they
compute the next frame (`send: overlap`, the strategy's default) and pi1 keeping only what
balances the load, 1.5x the bound delivered 82.63 fps = 0.999 of it (the model: 81.9);
before, waiting for each send, 77.7 fps = 0.94. The test asks 0.92 (a margin for a box
with one core busy, `make test-stress`) and the model within 5 % of the bound; the 0.95 of
issue 13 is held by the quiet-box numbers in docs/measurements.md.
"""

from __future__ import annotations

import pytest
from lab_cli import fab, latest_run, measured  # tests/ is on sys.path (pytest rootdir)

pytestmark = pytest.mark.lab

MIXED = ("--strategy=adaptive", "--inventory=inventory/lab-mixed.yml", "--hosts=pi1,pi2,pi4",
         "--k=2", "--duration=10", "--warmup=2", "--min-duration=10")
BOUND = 82.7
# The runs that must lose nothing give every queue 10 frames instead of 5: a stall of the
# whole box (once, 2026-11-28: the load generator 73 ms late, then 7 frames in 31 ms while
# pi1 ran a 44 ms frame of its own) overflowed pi1's queue of 5 at 60 fps and lost 3 of 720
# frames. Ten frames hold 166 ms at 60 fps. Queue 5 below the bound: docs/measurements.md.
ROOMY = "--queue=10"


def checked(summary: dict) -> dict:
    assert summary["lost_unaccounted"] == 0, summary
    assert summary["output_check"]["checked"] > 0, summary["output_check"]
    assert summary["output_check"]["mismatched"] == 0, summary["output_check"]
    return summary


def test_adaptive_below_the_bound_delivers_every_frame(provisioned_lab):
    fab("experiment", *MIXED, "--rate=60", ROOMY)
    spec, summary = latest_run()
    checked(summary)
    measured(summary)
    assert spec["capacity_fps"] == pytest.approx(BOUND, abs=0.2)
    assert summary["coverage"] == 1.0, summary["drops"]
    assert summary["predicted"]["coverage"] == 1.0


def test_adaptive_above_the_bound_refuses_only_at_the_entry(provisioned_lab):
    fab("experiment", *MIXED, f"--rate={1.5 * BOUND:g}")
    _spec, summary = latest_run()
    checked(summary)
    measured(summary)
    # Issue 13's acceptance is 0.95 x the bound; 0.999 measured (the module docstring).
    assert summary["delivered_fps"] >= 0.92 * BOUND, summary["delivered_fps"]
    assert abs(summary["delivered_fps"] - summary["predicted"]["delivered_fps"]) \
        <= 0.05 * BOUND, (summary["delivered_fps"], summary["predicted"])
    drops = summary["drops"]
    assert set(drops) <= {"pi1"}, drops
    assert set(drops.get("pi1", {})) <= {"admission", "queue_full"}, drops


def test_adaptive_absorbs_a_slow_fault(provisioned_lab):
    fab("experiment", *MIXED, "--rate=40", "--fault=slow:pi2@5s:x3", ROOMY)
    _spec, summary = latest_run()
    checked(summary)
    measured(summary)
    windows = [f for f in summary.get("faults", []) if f["kind"] == "slow"]
    assert len(windows) == 1 and windows[0]["ok"], summary.get("faults")
    assert summary["coverage"] == 1.0, summary["drops"]
    assert summary["predicted"]["coverage"] == 1.0  # the model takes the fault: still 1.000
