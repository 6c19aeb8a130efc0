"""Issue 15 end to end on the emulated lab: a shipped scenario, --repeat and fab rerun,
through `fab` exactly as a user types them (see tests/test_e2e.py for the lab fixture)."""

from __future__ import annotations

import json

import pytest
from lab_cli import fab, latest_run, measured, report_of, run_ids  # tests/ is on sys.path (rootdir)

from harness.paths import runs_dir

pytestmark = pytest.mark.lab


def test_cao_fig2_scenario_drops_nine_of_ten_at_b(provisioned_lab):
    """Cao's Fig. 2: B takes a tenth of the frames A passes it (scenarios/cao-fig2.yml: A the
    rpi3bplus pi1, B the half-speed pi3 of lab-hetero.yml, 12.5 frames/s, fed at 125 fps),
    so coverage is about 0.1 and B is where frames drop."""
    proc = fab("experiment", "--scenario=cao-fig2", timeout_s=900)
    spec, summary = latest_run()
    assert spec["scenario"] == "cao-fig2" and spec["rate_fps"] == 125.0
    assert 0.08 <= summary["coverage"] <= 0.12, summary
    drops = {node: sum(reasons.values()) for node, reasons in summary["drops"].items()}
    assert drops.get("pi3", 0) >= 0.8 * summary["sent"], drops  # 9 of 10, at B
    assert drops.get("pi1", 0) <= 0.02 * summary["sent"], drops  # A is half busy
    assert summary["drops"]["pi3"].get("queue_full", 0) > 0, summary["drops"]
    assert "9 of 10" in summary["scenario"]["seed_reported"]
    assert "seed reported (scenario cao-fig2)" in proc.stdout
    assert "9 of 10" in report_of(spec["run_id"])
    assert summary["lost_unaccounted"] == 0


def test_repeat_three_then_rerun_lands_within_three_percent(provisioned_lab):
    before = run_ids()
    proc = fab("experiment", "--strategy=0", "--rate=30", "--duration=3", "--warmup=0",
               "--min-duration=3", "--min-frames=80", "--repeat=3", timeout_s=900)
    out = proc.stdout
    assert "repetitions: 3 of 3 finished" in out, out[-3000:]
    assert "  delivered: " in out and " +/- " in out, out[-3000:]
    groups = sorted((runs_dir() / "repeats").glob("*.json"), key=lambda p: p.stat().st_mtime)
    group = json.loads(groups[-1].read_text())
    assert [r["seed"] for r in group["runs"]] == [0, 1, 2]
    assert {r["run_id"] for r in group["runs"]} <= run_ids() - before
    fps = group["metrics"]["delivered_fps"]
    assert fps["n"] == 3 and fps["ci95"] is not None
    assert fps["low"] <= fps["mean"] <= fps["high"]
    for r in group["runs"]:  # each repetition's spec.json has its own seed
        spec = json.loads((runs_dir() / r["run_id"] / "spec.json").read_text())
        assert spec["seed"] == r["seed"] and spec["run_spec"]["hosts"] == ["pi1", "pi2"]

    proc = fab("rerun", group["group"], timeout_s=900)
    out = proc.stdout
    # Same commit, so no "made at commit" warning; a checkout with uncommitted changes (a
    # developer's, never CI's clean clone) rightly gets the "uncommitted changes" one.
    assert f"re-running {group['group']}" in out and "warning: the run was made at" not in out
    again = json.loads(sorted((runs_dir() / "repeats").glob("*.json"),
                              key=lambda p: p.stat().st_mtime)[-1].read_text())
    assert again["group"] != group["group"]
    assert [r["seed"] for r in again["runs"]] == [0, 1, 2]
    spec = json.loads((runs_dir() / again["runs"][0]["run_id"] / "spec.json").read_text())
    assert spec["rerun_of"] == group["group"]
    measured(*[json.loads((runs_dir() / r["run_id"] / "summary.json").read_text())
               for r in group["runs"] + again["runs"]])
    mean, mean_again = fps["mean"], again["metrics"]["delivered_fps"]["mean"]
    assert abs(mean_again - mean) <= 0.03 * mean, (mean, mean_again)
