"""`fab calibrate` without the lab (issue 14): node_app.calibrate measures this machine on
exported stage files, its output loads as a profile, the harness finds it in a profiles
directory and bounds a run by it, and a real node emulates it over loopback.

The SSH leg (fab calibrate --hosts=pi1) is tests/test_e2e_calibrate.py, a lab test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import test_node_app
from test_node_app import CapturingSink, read_trace, send_frame, wait_for
from test_parallel_node import hop, node

from harness import calibrate as hcal
from harness import capacity
from harness import model as hm
from harness.experiment import _profile_entry
from harness.inventory import Host
from harness.models import describe
from harness.spec import SpecError
from node_app import calibrate as ncal
from node_app.profile import load_profile, parse_profile

start = test_node_app.start  # the fixture that starts NodeServers in threads
MODEL = "cao-dense"
REPEAT = 5


@pytest.fixture(scope="module")
def stages(tmp_path_factory) -> Path:
    return hm.export_stages(tmp_path_factory.mktemp("stages"))["manifest"].parent


@pytest.fixture(scope="module")
def measured(stages, tmp_path_factory) -> dict:
    """node_app.calibrate run as on a host: its own process, one BLAS thread."""
    out = tmp_path_factory.mktemp("cal") / "out.json"
    env = {**os.environ, "PYTHONPATH": str(test_node_app.REPO), "OPENBLAS_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "node_app.calibrate", "--stages-dir", str(stages),
                    "--model-manifest", str(stages / "manifest.json"), "--model", MODEL,
                    "--repeat", str(REPEAT), "--host", "here", "--warm-only", "--out", str(out)],
                   env=env, check=True, timeout=300)
    return json.loads(out.read_text())


@pytest.fixture
def profiles(tmp_path, monkeypatch, measured) -> Path:
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "calibrated-here.json").write_text(json.dumps(measured))
    monkeypatch.setenv(capacity.PROFILES_DIR_ENV, str(folder))
    return folder


def test_the_output_is_a_profile_with_ordered_positive_times(measured, stages):
    path = stages.parent / "as-profiles-json.json"
    path.write_text(json.dumps({"calibrated-here": measured}))
    prof = load_profile("calibrated-here", path)  # node_app's own loader
    names = sorted(describe(MODEL).stage_names())
    assert sorted(measured["stage_ms"]) == names
    assert prof.dists_for(names) is not None and not prof.native
    for name, entry in measured["stage_ms"].items():
        pct = [entry["percentiles"][q] for q in ("10", "50", "90", "99")]
        assert pct[0] > 0 and pct == sorted(pct), name
        assert pct[0] <= entry["mean"] <= pct[-1] and entry["n"] == REPEAT
        # each layer timed inside the same runs: the layers add up to (at most) the stage
        layers = measured["layer_ms"][name]
        assert sum(layer["mean"] for layer in layers) <= entry["mean"] * 1.001
    assert measured["dense_fit"]["ms_per_mac"] > 0
    assert set(measured["dense_ms"]) >= {"100x2000", "2000x2000"}
    # the big layer is slower than the small one on any device
    assert measured["dense_ms"]["2000x2000"] > measured["dense_ms"]["100x2000"]
    assert all(v["warm"] > 0 and v["cold"] is None and v["bytes"] > 0
               for v in measured["load_ms"].values())
    assert measured["calibration"]["page_cache"] == ncal.WARM_ONLY
    assert measured["basis"].startswith("calibrated on here at ")
    assert f"by fab calibrate, {REPEAT} repeats" in measured["basis"]
    dev = measured["calibration"]["device"]
    assert dev["cores"] >= 1 and dev["python"] and dev["numpy"] == np.__version__
    assert measured["ram_mb"] == dev["ram_mb"] > 0


def test_an_unknown_model_or_no_repeat_is_refused(stages, tmp_path):
    with pytest.raises(ncal.CalibrationError, match="no stages of model 'nope'"):
        ncal.calibrate(stages, stages / "manifest.json", "nope", 1)
    with pytest.raises(ncal.CalibrationError, match="at least 1"):
        ncal.calibrate(stages, stages / "manifest.json", MODEL, 0)
    assert ncal.main(["--stages-dir", str(tmp_path), "--out", str(tmp_path / "o.json")]) == 1


def test_the_fits_price_what_was_measured():
    """Two dense layers measured on a line: the fit is that line; one size: through zero."""
    assert ncal._fit([(100.0, 3.0), (300.0, 7.0)]) == pytest.approx((1.0, 0.02))
    assert ncal._fit([(200.0, 4.0)]) == (0.0, 0.02)
    assert ncal._fit([(100.0, 7.0), (300.0, 3.0)]) == pytest.approx((0.0, 0.025))


def test_the_harness_finds_it_and_bounds_a_run_by_it(profiles, measured):
    assert "calibrated-here" in capacity.profile_names()
    assert "rpi3bplus" in capacity.profile_names()  # the shipped ones stay
    assert capacity.has_cost_model("calibrated-here") and not capacity.shipped("calibrated-here")
    dist_mean = parse_profile("x", measured).stage_dists["L2"].mean
    assert capacity.stage_ms("calibrated-here", ["L2"], MODEL) == pytest.approx(dist_mean)
    # a baseline pipeline L1 -> L2: the bound is the slower node's rate
    bound = capacity.fps_min([capacity.node_fps("calibrated-here", [s], MODEL)
                              for s in ("L1", "L2")])
    assert bound == pytest.approx(1000.0 / dist_mean)
    # a stage set without a distribution for each is priced by the fitted layer line
    assert capacity.stage_ms("rpi3bplus", ["L2"], MODEL) == pytest.approx(40.0)
    # a profile the nodes do not have travels in the run file; a shipped one does not
    assert _profile_entry("calibrated-here") == {"profile_entry": measured}
    assert _profile_entry("rpi3bplus") == {} and _profile_entry("native") == {}


def test_a_profile_written_later_is_seen_and_a_clash_with_a_shipped_name_refused(profiles):
    assert "later" not in capacity.profile_names()
    (profiles / "later.json").write_text(json.dumps({"dense_ms": {}, "dense_fit": {
        "fixed_ms": 1.0, "ms_per_mac": 0.0}}))
    assert capacity.device_profile("later").fixed_ms == 1.0
    (profiles / "rpi3bplus.json").write_text("{}")
    with pytest.raises(ValueError, match="rpi3bplus"):
        capacity.profile_names()


def test_harness_calibrate_writes_one_profile_per_host(stages, profiles, tmp_path):
    """harness.calibrate with node_app.calibrate run here in place of over SSH."""
    def here(host: Host, model: str, repeat: int) -> dict:
        return ncal.calibrate(stages, stages / "manifest.json", model, repeat, host.name,
                              warm_only=True)

    hosts = [Host(n, "127.0.0.1", "root", "", "native", True) for n in ("pi1", "pi2")]
    said: list[str] = []
    written = hcal.calibrate(hosts, MODEL, 2, "bench", measure=here, say=said.append)
    assert {p.name for p in written.values()} == {"bench-pi1.json", "bench-pi2.json"}
    assert capacity.device_profile("bench-pi2").dists_for(["L1", "L2"]) is not None
    assert "calibrated on pi2" in json.loads(written["pi2"].read_text())["basis"]
    assert len(said) == 2 and "--profile=bench-pi1" in " ".join(said)
    assert hcal.profile_name("pi1", "", False) == "calibrated-pi1"
    with pytest.raises(SpecError, match="profiles.json"):
        hcal.profile_name("pi1", "rpi3b", False)

    def broken(host: Host, model: str, repeat: int) -> dict:
        if host.name == "pi2":
            raise OSError("no route to host")
        return here(host, model, repeat)

    with pytest.raises(RuntimeError, match="pi2: OSError: no route to host"):
        hcal.calibrate(hosts, MODEL, 1, "again", measure=broken, say=said.append)
    assert (profiles / "again-pi1.json").exists()  # the host that answered is kept


def test_the_remote_command_runs_node_apps_module_with_one_blas_thread():
    pi = Host("pi1", "198.18.0.11", "ubuntu", "", "native", False)
    cmd = hcal.remote_command(pi, "/tmp/node_app-calibrate.abc", MODEL, 7)
    assert cmd.startswith("cd /opt/node_app && sudo -n env OPENBLAS_NUM_THREADS=1 ")
    assert ("/usr/bin/python3 -m node_app.calibrate --stages-dir /opt/node_app/stages "
            "--model-manifest /opt/node_app/stages/manifest.json --model cao-dense --repeat 7 "
            "--host pi1 --out /tmp/node_app-calibrate.abc") in cmd


def test_a_node_emulates_the_calibrated_profile_over_loopback(stages, measured, tmp_path,
                                                              start):
    """The entry as the harness sends it (run.json profile_entry): a real node computes the
    Keras model's answer and waits out times drawn from the calibrated distribution."""
    sink = start(test_node_app.write_configs(tmp_path, "sink", stages=[], next_hops=[],
                                             input_size=2000, max_body_bytes=1 << 16),
                 CapturingSink)
    a = start(node(tmp_path, "A", stages, {"profile": "calibrated-here",
                                           "profile_entry": measured, "seed": 1},
                   stages=["L1L2"], next_hops=[hop(sink)], input_size=100, queue_size=20))
    xs = np.random.default_rng(5).standard_normal((8, 100)).astype(np.float32)
    for pid, x in enumerate(xs):
        status, reply = send_frame(a.port, pid, x)
        assert status == 200 and reply["accepted"], reply
    assert wait_for(lambda: len(sink.server.frames) == len(xs), 30)
    want = hm.predict(xs, model=MODEL)
    for pid in range(len(xs)):
        np.testing.assert_allclose(sink.server.frames[pid], want[pid], rtol=1e-5, atol=1e-5)
    a.stop()
    pct = measured["stage_ms"]["L1L2"]["percentiles"]
    drawn = [float(r["detail"].split(":")[1]) for r in read_trace(a.trace_path)
             if r["event"] == "finished"]
    assert len(drawn) == len(xs)
    assert all(pct["10"] - 1e-9 <= d <= pct["99"] + 1e-9 for d in drawn), (drawn, pct)
