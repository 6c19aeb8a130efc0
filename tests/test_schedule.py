"""The arrival schedule (harness/schedule.py): fixed before the run, a pure function of the spec."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from harness.schedule import build, from_spec
from harness.spec import RunSpec, SpecError


def test_constant_schedule_is_a_camera_with_ids_in_order() -> None:
    s = build("constant", 0, rate_fps=30, warmup_s=2, duration_s=10)
    assert len(s) == 60 + 300 and s.warmup_frames == 60 and s.measure_frames == 300
    assert np.array_equal(s.ids, np.arange(len(s)))
    assert np.all(np.diff(s.offset_s) > 0)  # IDs in intended-time order
    np.testing.assert_allclose(np.diff(s.offset_s), 1 / 30, rtol=1e-9)
    assert s.offset_s[60] == pytest.approx(2.0)  # measure starts after the warm-up
    assert list(s.step[:60]) == [-1] * 60 and set(s.step[60:]) == {0}


def test_rate_steps_give_the_right_counts() -> None:
    s = build("constant", 0, rate_fps=10, warmup_s=5, rates=[10, 20, 30, 40, 60], step_s=20)
    assert s.counts() == {-1: 50, 0: 200, 1: 400, 2: 600, 3: 800, 4: 1200}
    assert np.all(np.diff(s.offset_s) > 0) and np.all(np.diff(s.step) >= 0)
    assert s.total_s == pytest.approx(105.0)
    for seg in s.steps:  # every frame of a step lies inside the step
        t = s.offset_s[s.step == seg.step]
        assert t.min() >= seg.start_s - 1e-9 and t.max() < seg.end_s
        np.testing.assert_allclose(np.diff(t), 1 / seg.rate_fps, rtol=1e-9)


def test_poisson_inter_arrivals_are_exponential() -> None:
    rate = 100.0
    s = build("poisson", 7, rate_fps=rate, warmup_s=0, duration_s=100)
    gaps = np.diff(s.offset_s)
    res = stats.kstest(gaps, "expon", args=(0, 1 / rate))
    assert res.pvalue > 0.01, res
    # the count is Poisson(rate * duration): within 5 sigma
    assert abs(len(s) - 10_000) < 5 * 100
    # and a constant camera is *not* exponential: the test can tell them apart
    const = np.diff(build("constant", 7, rate_fps=rate, duration_s=100).offset_s)
    assert stats.kstest(const + 1e-12, "expon", args=(0, 1 / rate)).pvalue < 1e-6


def test_poisson_steps_have_their_own_rates() -> None:
    s = build("poisson", 3, rate_fps=10, warmup_s=0, rates=[20, 200], step_s=50)
    c = s.counts()
    assert abs(c[0] - 1000) < 5 * np.sqrt(1000) and abs(c[1] - 10000) < 5 * 100
    assert np.all(np.diff(s.offset_s) >= 0)
    for seg in s.steps:
        gaps = np.diff(s.offset_s[s.step == seg.step])
        assert stats.kstest(gaps, "expon", args=(0, 1 / seg.rate_fps)).pvalue > 0.01


def test_schedule_is_reproducible_from_the_recorded_seed() -> None:
    a = build("poisson", 11, rate_fps=50, warmup_s=1, duration_s=20)
    b = build("poisson", 11, rate_fps=50, warmup_s=1, duration_s=20)
    c = build("poisson", 12, rate_fps=50, warmup_s=1, duration_s=20)
    assert np.array_equal(a.offset_s, b.offset_s)
    assert not np.array_equal(a.offset_s[:10], c.offset_s[:10])


def test_spec_round_trip_rebuilds_the_same_schedule() -> None:
    spec = RunSpec(arrival="poisson", rates="10,20,30", step_s="5", warmup_s=1, seed=4)
    assert spec.rate_fps == 10 and spec.duration_s == 15 and spec.arrival_seed == 4
    assert spec.measure_frames == 50 + 100 + 150
    doc = spec.to_dict()  # what spec.json holds
    assert np.array_equal(from_spec(spec).offset_s, from_spec(doc).offset_s)
    # old spec.json files (no load fields) mean a constant camera at rate_fps
    old = from_spec({"rate_fps": 20, "duration_s": 3, "warmup_s": 1, "seed": 0})
    assert old.arrival == "constant" and old.measure_frames == 60 and old.warmup_frames == 20


@pytest.mark.parametrize("kw, flag", [
    ({"arrival": "bursty"}, "--arrival"), ({"rates": "10,x"}, "--rates"),
    ({"rates": "10,-5"}, "--rates"), ({"step_s": "0"}, "--step"),
    ({"min_frames": "1.5"}, "--min-frames"), ({"lag_threshold_ms": "0"}, "--lag-threshold"),
])
def test_bad_load_options_name_the_flag(kw: dict, flag: str) -> None:
    with pytest.raises(SpecError) as err:
        RunSpec(**kw)
    assert err.value.cli_message().startswith(flag)
