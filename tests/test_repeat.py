"""Repetitions (harness/repeat.py): the interval is Student's t, computed on summaries the
real tail of `fab experiment` wrote (experiment.finish_run on test_analysis.make_run's
traces, as tests/test_report.py builds runs), and the group file and page carry it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from test_analysis import make_run  # tests/ is on sys.path (pytest rootdir)

from harness import experiment, repeat, rerun
from harness.paths import RESULTS_ENV
from harness.spec import RunSpec, SpecError

BASE = {"queue_size": 5, "x": 10, "warmup_frames": 10, "measure_frames": 100}


@pytest.fixture()
def root(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    return tmp_path


@pytest.mark.parametrize("df", [*range(1, 40), 50, 99, 100, 250, 1000, 10_000])
def test_t_quantile_is_students(df: int) -> None:
    assert repeat.t975(df) == pytest.approx(stats.t.ppf(0.975, df), abs=2e-6)


def test_interval_is_the_t_interval_and_one_value_has_none() -> None:
    xs = [24.1, 24.6, 23.9, 24.4]
    got = repeat.interval(xs)
    low, high = stats.t.interval(0.95, len(xs) - 1, loc=np.mean(xs), scale=stats.sem(xs))
    assert got["mean"] == pytest.approx(np.mean(xs))
    assert got["sd"] == pytest.approx(np.std(xs, ddof=1))
    assert (got["low"], got["high"]) == (pytest.approx(low), pytest.approx(high))
    assert got["ci95"] == pytest.approx((high - low) / 2)
    one = repeat.interval([24.1, None])
    assert (one["n"], one["missing"], one["mean"], one["ci95"]) == (1, 1, 24.1, None)
    assert repeat.interval([None])["mean"] is None


def test_repetition_specs_derive_seeds_and_ids_from_the_first() -> None:
    spec = RunSpec(strategy="0", rate_fps=30, duration_s=10, seed=4, arrival="poisson",
                   arrival_seed=9, run_id="g")
    specs = repeat.repetition_specs(spec, 3)
    assert [(s.run_id, s.seed, s.arrival_seed) for s in specs] == [
        ("g-rep1", 4, 9), ("g-rep2", 5, 10), ("g-rep3", 6, 11)]
    first = specs[0].to_dict() | {"run_id": "g"}
    assert first == spec.to_dict()  # repetition 0 is the run without --repeat
    with pytest.raises(SpecError) as err:
        repeat.run_repeated(spec, "0")
    assert err.value.cli_message().startswith("--repeat: ")


def test_aggregation_of_finished_runs(root: Path) -> None:
    """Three runs that differ (B drops 20 frames, none, 20 with a stalled send) through
    finish_run; the group's every headline interval is the t interval of their summaries."""
    variants = [{}, {"b_drops": False}, {"stall_ids": (60, 61)}]
    specs, summaries = [], []
    for i, kw in enumerate(variants):
        run_id = f"g-rep{i + 1}"
        run_dir = make_run(root / "runs", run_id, extra_spec={**BASE, "seed": i}, **kw)
        summaries.append(experiment.finish_run(run_dir, say=lambda _m: None))
        specs.append(RunSpec(strategy="0", rate_fps=10, duration_s=10, seed=i, run_id=run_id))
    assert len({s["coverage"] for s in summaries}) == 2  # the runs really differ
    agg = repeat.aggregate("g", specs, summaries)
    assert [r["seed"] for r in agg["runs"]] == [0, 1, 2]
    # The group's spec is its first, without the run id: what `fab rerun g` runs again.
    rebuilt = rerun.spec_from_document({"run_spec": agg["spec"]})
    assert rebuilt.to_dict() | {"run_id": "g-rep1"} == specs[0].to_dict()
    for key, *_ in repeat.HEADLINE:
        head, _, tail = key.partition(".")
        xs = [s[head][tail] if tail else s[head] for s in summaries]
        m = agg["metrics"][key]
        assert m["values"] == xs and m["n"] == 3
        assert m["mean"] == pytest.approx(np.mean(xs)), key
        if np.std(xs) > 0:
            low, high = stats.t.interval(0.95, 2, loc=np.mean(xs), scale=stats.sem(xs))
            assert (m["low"], m["high"]) == (pytest.approx(low), pytest.approx(high)), key
        else:
            assert m["ci95"] == 0.0
    cov = agg["metrics"]["coverage"]
    assert cov["ci95"] > 0 and cov["low"] < min(cov["values"]) <= max(cov["values"]) < cov["high"]

    lines = repeat.console_lines(agg)
    fps = agg["metrics"]["delivered_fps"]
    assert f"  delivered: {fps['mean']:.2f} +/- {fps['ci95']:.2f} fps" in lines
    assert any(line.startswith("  coverage: ") and "+/-" in line for line in lines)
    assert "seeds [0, 1, 2]" in lines[0] and "seed + i" in lines[0]

    page = repeat.write_group(agg)
    assert json.loads(repeat.group_file("g").read_text())["metrics"]["coverage"]["mean"] \
        == pytest.approx(cov["mean"])
    html = page.read_text()
    assert f"{cov['mean']:.4f} ± {cov['ci95']:.4f}" in html
    assert all(f'href="g-rep{i}.html"' in html for i in (1, 2, 3))
    assert repeat.load_group("g")["group"] == "g" and repeat.load_group("none") is None


def test_a_metric_no_run_has_is_not_a_number(root: Path) -> None:
    agg = repeat.aggregate("h", [RunSpec(run_id="h-rep1")], [{"coverage": 0.5}])
    assert repeat.ci_text(agg["metrics"]["latency_ms.p99"]).startswith("n/a")
    assert repeat.ci_text(agg["metrics"]["coverage"]) == "0.5000 (one run: no interval)"
