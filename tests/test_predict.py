"""The discrete-event model against what can be worked out by hand (harness/predict.py).

If these closed-form cases hold, a gap between predicted and measured coverage in a
report is about the lab or the strategy code, not about the model's bookkeeping.
"""

from __future__ import annotations

import time

import pytest

from harness.capacity import stage_ms
from harness.predict import predict, predict_spec

HOP = 0.7
L1, L2 = stage_ms("rpi3bplus", ["L1"]), stage_ms("rpi3bplus", ["L2"])
S = 800.0


def run(strategy: str, rate: float = 30.0, x: int = 10, switch_ms: float = S,
        seconds: float = 60.0, queue: int = 5) -> dict:
    return predict(strategy, rate_fps=rate, warmup_frames=int(5 * rate),
                   measure_frames=int(seconds * rate), queue_size=queue, x=x,
                   l1_ms=L1, l2_ms=L2, switch_ms=switch_ms, hop_ms=HOP)


def test_profile_times_are_cao_s():
    assert (L1, L2) == (4.0, 40.0)


def test_baseline_under_capacity_delivers_everything_at_service_plus_hops():
    r = run("baseline", rate=10)
    assert r["coverage"] == 1.0
    assert r["delivered_fps"] == pytest.approx(10.0)
    assert r["drops"] == {}
    assert r["switches"] == 0
    assert r["latency_ms"]["p50"] == pytest.approx(L1 + L2 + 2 * HOP)


def test_baseline_over_capacity_is_bound_by_b_and_drops_only_there():
    r = run("baseline", rate=30)
    b_fps = 1000.0 / (L2 + HOP)  # B serves and forwards, ~24.6 fps
    assert r["coverage"] == pytest.approx(25 / 30, abs=0.02)
    assert r["delivered_fps"] == pytest.approx(b_fps, abs=0.3)
    assert set(r["drops"]) == {"B"}
    assert sum(r["drops"]["B"].values()) == round((1 - r["coverage"]) * 1800)
    # A full queue of 5 ahead of each frame at B: ~5-6 services of 40.7 ms.
    assert 5 * (L2 + HOP) < r["latency_ms"]["p50"] < 6.5 * (L2 + HOP)


def test_cao3_two_whole_models_keep_up_with_30_fps():
    r = run("cao3", rate=30)
    assert r["coverage"] == 1.0
    assert r["delivered_fps"] == pytest.approx(30.0)
    assert r["latency_ms"]["p99"] == pytest.approx(L1 + L2 + HOP)


@pytest.mark.parametrize("x", [1, 10, 100])
def test_cao1_is_worse_than_the_baseline(x):
    """A alone at 44.7 ms per frame is slower than B, and every switch costs 800 ms."""
    r = run("cao1", x=x)
    assert r["coverage"] < run("baseline")["coverage"]
    assert r["switches"] > 0


def test_cao2_improves_with_x_and_beats_the_baseline_at_large_x():
    cov = {x: run("cao2", x=x)["coverage"] for x in (1, 20, 200, 300)}
    assert cov[1] < cov[20] < cov[200]
    assert cov[300] > run("baseline")["coverage"]
    assert run("cao2", x=20)["switches"] > 0


def test_cao2_without_switch_cost_clearly_beats_the_baseline():
    base = run("baseline")["coverage"]
    assert run("cao2", x=1000, switch_ms=0)["coverage"] > base + 0.1


def test_helping_switches_there_and_back_and_moves_drops_to_a():
    """Each help episode is two switches; while A switches, its own queue overflows."""
    r = run("cao1", x=10)
    assert r["switches"] >= 2
    assert "A" in r["drops"]


def test_deterministic_and_fast():
    t = time.perf_counter()
    first = run("cao2", x=50)
    assert time.perf_counter() - t < 1.0
    assert run("cao2", x=50) == first
    t = time.perf_counter()
    predict("cao2", 300.0, 1500, 180_000, 5, 50, L1, L2, S)
    assert time.perf_counter() - t < 5.0


def test_predict_spec_reads_the_profile_like_a_written_spec():
    spec = {"strategy": "baseline", "rate_fps": 30.0, "duration_s": 30.0, "warmup_s": 5.0,
            "x": 10, "queue_size": 5, "profile": "", "warmup_frames": 150,
            "measure_frames": 900,
            "nodes": [{"role": "A", "profile": "rpi3bplus"}, {"role": "B", "profile": "rpi3bplus"},
                      {"role": "sink", "profile": "native"}]}
    direct = predict("baseline", 30.0, 150, 900, 5, 10, L1, L2, 0.0)
    assert predict_spec(spec) == direct
    assert predict_spec({**spec, "profile": "rpi3bplus", "nodes": []}) == direct


def test_predict_spec_prices_each_switch_by_what_it_loads():
    """To help, A loads L1+L2 (16.8 MB); back, L1 alone (0.8 MB): 850.8 and 50.4 ms."""
    spec = {"strategy": "cao1", "rate_fps": 30.0, "warmup_frames": 150, "measure_frames": 900,
            "x": 10, "queue_size": 5, "profile": "rpi3bplus"}
    assert predict_spec(spec) == predict("cao1", 30.0, 150, 900, 5, 10, L1, L2, 850.8,
                                         switch_back_ms=50.4)
    # A run's recorded profile wins over today's profiles.json (a fixed switch cost here).
    recorded = {"dense_ms": {}, "dense_fit": {"fixed_ms": 0, "ms_per_mac": 0},
                "model_switch_ms": 123.0}
    spec["profiles"] = {"rpi3bplus": recorded}
    assert predict_spec(spec) == predict("cao1", 30.0, 150, 900, 5, 10, L1, L2, 123.0)


def test_a_cheaper_switch_back_helps():
    assert run("cao2", x=20)["coverage"] < predict(
        "cao2", 30.0, 150, 1800, 5, 20, L1, L2, S, HOP, switch_back_ms=50.0)["coverage"]


def test_rejects_unknown_strategy():
    with pytest.raises(ValueError, match="unknown strategy"):
        run("cao9")
