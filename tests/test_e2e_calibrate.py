"""Issue 14's `fab calibrate` end to end on the emulated lab: measure pi1 over SSH with
node_app's own code, then run a short baseline emulating what was measured, through `fab`
exactly as a user types it (see tests/test_e2e.py for the lab fixture).

The profile goes to a temporary profiles directory (TESTBED_PROFILES_DIR, inherited by the
fab processes), so the test never adds a file to the user's profiles/."""

from __future__ import annotations

import json

import pytest
from lab_cli import fab, latest_run  # tests/ is on sys.path (rootdir)

from harness.capacity import PROFILES_DIR_ENV
from node_app.profile import parse_profile

pytestmark = pytest.mark.lab


def test_calibrate_pi1_then_a_baseline_emulates_it(provisioned_lab, tmp_path, monkeypatch):
    monkeypatch.setenv(PROFILES_DIR_ENV, str(tmp_path))
    proc = fab("calibrate", "--hosts=pi1", "--repeat=5", timeout_s=900)
    path = tmp_path / "calibrated-pi1.json"
    assert path.exists(), proc.stdout + proc.stderr
    assert "--profile=calibrated-pi1" in proc.stdout
    entry = json.loads(path.read_text())
    prof = parse_profile("calibrated-pi1", entry)
    assert entry["basis"].startswith("calibrated on pi1 at ")
    assert "by fab calibrate, 5 repeats" in entry["basis"]
    assert {"L1", "L2", "L1L2"} <= set(prof.stage_dists)
    assert all(v["warm"] > 0 for v in entry["load_ms"].values())
    # lab hosts are reached as root: cold loads are measured where drop_caches is writable
    cold = entry["calibration"]["page_cache"] != "warm only"
    assert all((v["cold"] is not None) == cold for v in entry["load_ms"].values())
    assert entry["ram_mb"] > 0 and entry["calibration"]["device"]["cores"] >= 1

    fab("experiment", "--strategy=0", "--rate=10", "--duration=5", "--warmup=1",
        "--min-duration=5", "--min-frames=50", "--profile=calibrated-pi1", timeout_s=600)
    spec, summary = latest_run()
    assert spec["profile"] == "calibrated-pi1"
    assert spec["profiles"]["calibrated-pi1"]["basis"] == entry["basis"]  # recorded as run
    assert spec["capacity_fps"] is not None and spec["capacity_fps"] > 0
    assert summary["coverage"] > 0.9, summary
