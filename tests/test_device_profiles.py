"""The Pi profiles of node_app/profiles.json: they load, order as their bases say, and the
arithmetic written in each basis gives the numbers beside it.

A profile that silently disagreed with its own basis would make every capacity bound and
prediction on it wrong without any test noticing; so the ratios are read back out of the
basis text and recomputed here, and a real node is timed on the new profiles.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from test_node_app import (  # tests/ is on sys.path (pytest rootdir)
    big_stage_dir,  # noqa: F401  (a fixture)
    read_trace,
    request,
    send_frame,
    start,  # noqa: F401  (a fixture)
    wait_for,
    write_configs,
)

from harness.capacity import node_fps
from harness.models import describe
from node_app.profile import DEFAULT_PROFILES, Cost, ProfileError, load_profile, parse_profile

PIS = ("rpi3b", "rpi3bplus", "rpi4b", "rpizero2w", "rpi5")
TABLE = json.loads(DEFAULT_PROFILES.read_text())
L2 = Cost.dense(2000, 2000)
CONV = Cost("conv", macs=10**9)  # 2 GFLOP of convolution


def _ms(name: str, cost: Cost = L2) -> float:
    return load_profile(name).cost_ms(cost)


@pytest.mark.parametrize("name", PIS)
def test_each_pi_profile_loads_prices_dense_and_conv_and_states_its_ram(name):
    prof = load_profile(name)
    assert not prof.native
    assert prof.cost_ms(L2) > 0 and prof.cost_ms(CONV) > 0
    assert prof.read_mb_s and prof.read_mb_s > 0
    entry = TABLE[name]
    for key in ("device", "basis", "dense_fit_basis", "conv_fit_basis", "storage_basis",
                "ram_basis"):
        assert len(entry.get(key) or "") > 20, (name, key)
    assert prof.ram_mb == {"rpi3b": 1024, "rpi3bplus": 1024, "rpi4b": 4096,
                           "rpizero2w": 512, "rpi5": 8192}[name]


def test_the_pis_order_as_their_bases_say():
    """Pi 5 > Pi 4 B > Pi 3 B+ > Pi 3 B > Zero 2 W, for dense and conv alike."""
    order = ["rpi5", "rpi4b", "rpi3bplus", "rpi3b", "rpizero2w"]
    for cost in (L2, Cost.dense(100, 2000), CONV):
        times = [_ms(n, cost) for n in order]
        assert times == sorted(times), (cost, times)
    # The Zero 2 W is a Pi 3's CPU at 1.0 GHz: near a Pi 3 B (1.2 GHz), 1.2 x its times.
    assert _ms("rpizero2w") / _ms("rpi3b") == pytest.approx(1.2, rel=1e-3)
    assert _ms("rpizero2w", CONV) / _ms("rpi3b", CONV) == pytest.approx(1.2, rel=1e-3)


def _numbers(pattern: str, text: str) -> list[float]:
    return [float(x) for x in re.findall(pattern, text)]


def test_the_pi4_and_pi5_ratios_are_the_benchmarks_named_in_their_basis():
    """rpi4b = rpi3bplus / (ncnn vgg16 3B+ ms / 4B ms); rpi5 = rpi4b / (HPL Pi 5 / Pi 4)."""
    text4 = TABLE["rpi4b"]["basis"]
    assert "Tencent/ncnn" in text4 and "benchmark/README.md" in text4
    b_plus, four = _numbers(r"vgg16 avg ([\d.]+) ms", text4)
    r4 = b_plus / four
    text5 = TABLE["rpi5"]["basis"]
    assert "geerlingguy/top500-benchmark" in text5
    pi5, pi4 = _numbers(r"\)' ([\d.]+) Gflops", text5)[:2]
    r5 = r4 * pi5 / pi4
    base = TABLE["rpi3bplus"]
    for name, ratio in (("rpi4b", r4), ("rpi5", r5)):
        e = TABLE[name]
        assert e["dense_ms"]["2000x2000"] == pytest.approx(40.0 / ratio, rel=1e-3)
        assert e["dense_ms"]["100x2000"] == pytest.approx(4.0 / ratio, rel=1e-3)
        assert e["conv_fit"]["ms_per_gflop"] == pytest.approx(
            base["conv_fit"]["ms_per_gflop"] / ratio, rel=1e-3)
        assert e["dense_fit"]["ms_per_mac"] == pytest.approx(
            base["dense_fit"]["ms_per_mac"] / ratio, rel=1e-3)


def test_the_clock_scaled_pis_follow_their_clocks():
    """rpi3b and rpizero2w: the Pi 3 B+'s Cortex-A53 at 1.2 and 1.0 GHz instead of 1.4."""
    assert "1.2 GHz" in TABLE["rpi3b"]["device"]
    assert "1.0 GHz" in TABLE["rpizero2w"]["device"]
    assert "raspberrypi/documentation" in TABLE["rpizero2w"]["basis"]
    assert _ms("rpi3b") == pytest.approx(40.0 * 1.4 / 1.2, rel=1e-3)
    assert _ms("rpizero2w") == pytest.approx(40.0 * 1.4, rel=1e-3)
    # rpi3b's conv cost is the DeepThings Model B figure that rpi3bplus was scaled from.
    assert "913.3" in TABLE["rpi3bplus"]["conv_fit_basis"]
    assert TABLE["rpi3b"]["conv_fit"]["ms_per_gflop"] == 913.3


@pytest.mark.parametrize("name", PIS)
def test_each_line_passes_through_its_own_two_points(name):
    """Shapes off the two measured ones use the line; it must not jump at them."""
    e = TABLE[name]
    fit = e["dense_fit"]
    for key, ms in e["dense_ms"].items():
        n_in, n_out = (int(v) for v in key.split("x"))
        assert fit["fixed_ms"] + fit["ms_per_mac"] * n_in * n_out == pytest.approx(ms, rel=2e-3)


def test_capacity_of_one_node_on_each_pi():
    """L2 (2000 x 2000) per second: Cao's 25 on a Pi 3 B+, ~48 on a Pi 4 B, ~127 on a Pi 5."""
    rates = {n: node_fps(n, [describe().split_stage]) for n in PIS}
    assert rates["rpi3bplus"] == pytest.approx(25.0)
    assert rates["rpi4b"] == pytest.approx(25.0 * 1.924, rel=1e-3)
    assert rates["rpi5"] == pytest.approx(25.0 * 1.924 * 2.646, rel=1e-3)
    assert rates["rpizero2w"] == pytest.approx(25.0 / 1.4, rel=1e-3)


@pytest.mark.parametrize("bad", [0, -512, 1.5, "512", True])
def test_ram_must_be_a_positive_integer(bad):
    entry = {**TABLE["rpi4b"], "ram_mb": bad}
    with pytest.raises(ProfileError, match="ram_mb"):
        parse_profile("x", entry)


@pytest.mark.parametrize("name", ["rpi4b", "rpizero2w"])
def test_a_node_on_a_new_profile_waits_out_that_profile(tmp_path, big_stage_dir, start, name):  # noqa: F811
    """A real node_app server over loopback HTTP, the 2000 x 2000 stage on this profile."""
    want = TABLE[name]["dense_ms"]["2000x2000"]
    node = start(write_configs(tmp_path, "n1", stages=["L2"], next_hops=[], input_size=2000,
                               profile=name, max_body_bytes=10000, stages_dir=big_stage_dir))
    for pid in range(2):
        assert send_frame(node.port, pid, np.ones(2000))[1]["accepted"]
    assert wait_for(lambda: request(node.port, "GET", "/stats")[1]["processed"] == 2)
    node.stop()
    rows = read_trace(node.trace_path)
    for pid in range(2):
        mine = {r["event"]: r for r in rows if r["packet_id"] == str(pid)}
        _real, profile_ms = mine["finished"]["detail"].split(":")
        assert float(profile_ms) == pytest.approx(want, abs=0.01)
        busy_ms = (float(mine["finished"]["t"]) - float(mine["started"]["t"])) * 1000
        assert busy_ms >= want - 1.0
