"""Issue 15's sweeps on the emulated lab, small: repeated points with error bars; mp over
the slices of K = 5 (exported for the scaling sweep) delivering the Keras model's output. (A
strategy-3 run's page with Cao's numbers beside ours is checked on
tests/test_e2e_strategies.py's strategy-3 run; tests/test_sweep_report.py holds the same pages
on synthetic runs.)
"""

from __future__ import annotations

import json
import re

import pytest
from lab_cli import fab, latest_run  # tests/ is on sys.path (pytest rootdir)

from harness.analysis.intervals import interval
from harness.paths import runs_dir

pytestmark = pytest.mark.lab


def test_repeated_sweep_reports_mean_and_ci_per_point(provisioned_lab):
    """dp at K = 1, 2 with a queue of 3, two repetitions each: 4 normal runs, the sweep file
    lists them with their queue and seed, and the page gives each point's delivered fps as
    mean ± the 95 % CI of its two runs (repeat.py's interval), with the K section. (Several
    queue sizes in one sweep: tests/test_sweep_report.py, without a lab; every lab run
    already sends its queue size to the nodes.)"""
    proc = fab("sweep", "--strategies=dp", "--k=1,2", "--queue=3", "--repeat=2",
               "--rate=60", "--duration=2", "--warmup=0", "--min-duration=2",
               "--min-frames=50", timeout_s=1200)
    report = re.search(r"^report: (.*sweep-(\S+)\.html)$", proc.stdout, re.M)
    assert report, proc.stdout[-2000:]
    points = json.loads((runs_dir() / "sweeps" / f"{report.group(2)}.json").read_text())["runs"]
    assert sorted((p["k"], p["queue_size"], p["seed"]) for p in points) == sorted(
        (k, 3, s) for k in (1, 2) for s in (0, 1))
    html = open(report.group(1), encoding="utf-8").read()
    assert "Against K: dp</h2>" in html and "Delivered fps against K" in html
    for k in (1, 2):
        fps = interval([p["delivered_fps"] for p in points if p["k"] == k])
        assert f"{fps['mean']:.2f} ± {fps['ci95']:.2f}" in html, k
    assert "The offered rate (60 fps) is below the capacity bound of dp at K = 2" not in html


def test_mp_over_five_slices_delivers_the_models_output(provisioned_lab):
    """K = 5 slices (uneven: 2000 / 5 = 400 each; K = 6 would need a 7th host) exported by
    re-provisioning; every frame equal to the Keras model's output."""
    fab("experiment", "--strategy=mp", "--k=5", "--rate=20", "--duration=3", "--warmup=1",
        "--min-duration=3", "--min-frames=50")
    spec, summary = latest_run()
    assert spec["k"] == 5 and summary["coverage"] > 0.95, summary["coverage"]
    assert summary["output_check"]["checked"] > 0
    assert summary["output_check"]["mismatched"] == 0, summary["output_check"]
