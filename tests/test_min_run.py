"""LoadGen's minimum-run rule (harness/analysis/metrics.py `min_run_check`) on whole frames."""

from __future__ import annotations

from harness.analysis import min_run_check
from harness.schedule import build


def _measured_s(rate: float, duration: float) -> float:
    """The measured part a run of `rate` for `duration` has: its frames' interval times count."""
    return len(build(rate_fps=rate, duration_s=duration)) / rate


def test_a_run_of_the_whole_duration_passes_when_rate_x_duration_is_not_whole() -> None:
    """1.5 x the adaptive lab bound for 10 s: 1240.5 frames round to 1240, 9.996 s measured."""
    spec = {"rate_fps": 124.05, "duration_s": 10, "min_duration_s": 10, "min_frames": 1}
    length = _measured_s(124.05, 10)
    assert length < 10
    info, why = min_run_check(spec, length, 1240)
    assert why == "" and info["ok"]


def test_a_run_short_by_more_than_half_a_frame_still_fails() -> None:
    spec = {"rate_fps": 124.05, "duration_s": 10, "min_duration_s": 10, "min_frames": 1}
    info, why = min_run_check(spec, 10 - 1.0 / 124.05, 1239)
    assert not info["ok"] and "shorter than --min-duration 10 s" in why


def test_several_sources_shrink_the_slack_with_the_merged_rate() -> None:
    spec = {"rate_fps": 1.0, "sources": 4, "min_duration_s": 10, "min_frames": 1}
    assert min_run_check(spec, 10 - 0.1, 40)[0]["ok"]  # half of 0.25 s allowed
    assert not min_run_check(spec, 10 - 0.2, 40)[0]["ok"]
