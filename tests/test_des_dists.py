"""The discrete-event model with a profile's service-time distribution (issue 14)."""

from __future__ import annotations

import pytest

from harness.des import Params
from harness.strategies import baseline
from node_app.profile import Dist

# B's times: mean 40 ms, spread from 20 to 80 ms (a calibrated-looking right tail).
B_DIST = Dist.from_entry({"percentiles": {"0": 20, "50": 36, "90": 55, "99": 75, "100": 80}},
                         "test")


def params(rate: float, dists=(), queue: int = 2, seed: int = 0) -> Params:
    return Params(rate_fps=rate, warmup_frames=100, measure_frames=4000, queue_size=queue, x=1,
                  first_ms=1.0, second_ms=B_DIST.mean, whole_ms=1.0 + B_DIST.mean,
                  switch_ms=0.0, hop_ms=0.0, dists=dists, seed=seed)


def test_overloaded_coverage_is_the_analytic_capacity_over_the_rate() -> None:
    """Far above capacity B's queue never empties, so it delivers 1 / E[S] frames per ms
    whatever the spread: coverage = 1000 / (E[S] * rate)."""
    rate = 60.0
    p = baseline.predict(params(rate, (("B", (B_DIST,)),)))
    assert p["coverage"] == pytest.approx(1000.0 / (B_DIST.mean * rate), abs=0.01)


def test_spread_costs_frames_below_capacity_and_the_seed_fixes_the_draws() -> None:
    """At 95 % of capacity constant times of the same mean lose nothing, the distribution
    loses frames at B's one-frame queue (queueing from variance); a seed repeats exactly."""
    rate = 0.95 * 1000.0 / B_DIST.mean
    drawn = (("B", (B_DIST,)),)
    constant = baseline.predict(params(rate, queue=1))
    varied = baseline.predict(params(rate, drawn, queue=1))
    assert constant["coverage"] == 1.0
    assert 0.9 < varied["coverage"] < 0.99
    assert baseline.predict(params(rate, drawn, queue=1)) == varied
