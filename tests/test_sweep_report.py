"""`fab sweep` without a lab: repeated points as mean +/- 95 % CI (the error bars are
repeat.py's interval), --queue from the command line to the spec, the prediction and the
report, dp/mp/tasks against K with their bounds, and Cao's numbers beside ours.

Points are built as harness/sweep.py's `_point` builds them from a summary (tests/
test_report.py does the same for DeepThings' sweep); run pages from synthetic run
directories (tests/test_analysis.py's `make_run`).
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.container import ErrorbarContainer
from test_analysis import make_run  # tests/ is on sys.path (pytest rootdir)
from test_report import EXTERNAL

from harness import plots
from harness.analysis import load_run, point_stats, scaling_curves, summarize
from harness.errors import SpecError
from harness.repeat import interval
from harness.report import write_comparison, write_run_report, write_sweep
from harness.seeds import cao
from harness.sweep import SweepSpec, predicted_curves

# Three repetitions of each point: (strategy, X) -> coverages; fps = 30 x coverage.
REPEATED = {
    ("baseline", None): (0.81, 0.83, 0.82),
    ("cao2", 1): (0.25, 0.31, 0.28),
    ("cao2", 50): (0.84, 0.86, 0.83),
    ("cao2", 100): (0.90, 0.93, 0.91),
    ("cao3", None): (1.0, 0.999, 1.0),
}


def _pt(run_id: str, strategy: str, coverage: float, x: int | None = None,
        k: int | None = None, queue: int = 5, capacity: float | None = None,
        fps: float | None = None, p50: float = 40.0, model: str = "cao-dense") -> dict:
    return {"run_id": run_id, "strategy": strategy, "x": x, "k": k, "grid": None,
            "sched": None, "queue_size": queue, "model": model, "capacity_fps": capacity,
            "capacity_note": None, "coverage": coverage,
            "delivered_fps": 30 * coverage if fps is None else fps,
            "latency_p50_ms": p50, "latency_p95_ms": 2 * p50,
            "predicted_coverage": None, "predicted_delivered_fps": None,
            "predicted_latency_p50_ms": None, "switches": 0, "warnings": ""}


def _repeated() -> pd.DataFrame:
    return pd.DataFrame([_pt(f"{s}-{x}-{i}", s, cov, x=x, p50=40.0 + 5 * i)
                         for (s, x), covs in REPEATED.items() for i, cov in enumerate(covs)])


def _errorbars(fig) -> dict[str, list[tuple[float, float]]]:
    """Each errorbar line of a figure (by legend label): its (x, half-length) per point."""
    out = {}
    for container in fig.axes[0].containers:
        if isinstance(container, ErrorbarContainer):
            line, _caps, (bars,) = container.lines
            out[str(container.get_label())] = [
                (float(seg[0][0]), float(abs(seg[1][1] - seg[0][1]) / 2))
                for seg in bars.get_segments()]
    return out


def test_repeated_points_are_mean_and_ci_of_repeat_py() -> None:
    stats = point_stats(_repeated())
    assert len(stats) == len(REPEATED) and set(stats["runs"]) == {3}
    for (strategy, x), covs in REPEATED.items():
        row = stats[(stats["strategy"] == strategy)
                    & (stats["x"].isna() if x is None else stats["x"] == x)].iloc[0]
        want = interval(list(covs))
        assert row["coverage"] == pytest.approx(want["mean"])
        assert row["coverage_ci95"] == pytest.approx(want["ci95"]) and want["ci95"] > 0
        fps = interval([30 * c for c in covs])
        assert row["delivered_fps_ci95"] == pytest.approx(fps["ci95"])
        assert row["latency_p50_ms_ci95"] == pytest.approx(interval([40, 45, 50])["ci95"])
    # One run per point: a mean and no interval (as `fab experiment` without --repeat).
    once = point_stats(_repeated().groupby(["strategy", "x"], dropna=False).head(1))
    assert set(once["runs"]) == {1} and once["coverage_ci95"].isna().all()


def test_error_bars_on_the_curves_are_the_95_ci() -> None:
    stats = point_stats(_repeated())
    fig = plots.sweep_curve.figure(stats, "coverage", "coverage", "Coverage against X")
    bars = _errorbars(fig)
    assert set(bars) == {"strategy 2"}  # baseline and strategy 3 are lines with bands
    want = [(x, interval(list(REPEATED[("cao2", x)]))["ci95"]) for x in (1, 50, 100)]
    got = bars["strategy 2"]
    assert [x for x, _ in got] == [x for x, _ in want]
    assert [h for _, h in got] == pytest.approx([h for _, h in want], rel=1e-6)
    assert "95 % CI" in fig.axes[0].get_title()


def test_sweep_page_tables_give_mean_plus_minus_ci(tmp_path: Path) -> None:
    html = write_sweep(_repeated(), pd.DataFrame(), {"rate_fps": 30},
                       tmp_path / "sweep.html").read_text()
    assert not EXTERNAL.search(html)
    assert "the error bars on the curves are that\ninterval" in html
    for (strategy, x), covs in REPEATED.items():
        ci = interval(list(covs))
        fps = interval([30 * c for c in covs])
        assert f"{ci['mean']:.4f} ± {ci['ci95']:.4f}" in html, (strategy, x)
        assert f"{fps['mean']:.2f} ± {fps['ci95']:.2f}" in html, (strategy, x)
    assert "<b>X* = 50</b>" in html  # strategy 2's mean above the baseline's mean from 50
    assert html.count("<svg") == 2


def test_queue_reaches_every_point_the_prediction_and_the_report(tmp_path, monkeypatch):
    sweep = SweepSpec(strategies=["0", "2"], xs=[1, 100], queues=["1", 5, "10"], repeats=2)
    specs = sweep.specs()
    assert sorted({(s.strategy, s.x if s.strategy == "cao2" else None, s.queue_size)
                   for s in specs}) == sorted(
        [("baseline", None, q) for q in (1, 5, 10)]
        + [("cao2", x, q) for x in (1, 100) for q in (1, 5, 10)])
    assert len(specs) == 2 * 9
    # Repetitions of a point differ in their seeds only (seed + i, as fab experiment --repeat).
    pairs = [specs[i:i + 2] for i in range(0, len(specs), 2)]
    assert all((b.seed, b.arrival_seed) == (a.seed + 1, int(a.arrival_seed or 0) + 1)
               and b.queue_size == a.queue_size for a, b in pairs)

    # The discrete-event model's curves: one per strategy and queue size; the queue matters.
    monkeypatch.setenv("TESTBED_RESULTS_DIR", str(tmp_path))
    points = pd.DataFrame([_pt(f"b{q}", "baseline", 0.82, queue=q) for q in (1, 5, 10)]
                          + [_pt(f"c{q}-{x}", "cao2", 0.5, x=x, queue=q)
                             for q in (1, 5, 10) for x in (1, 100)])
    pred = predicted_curves(sweep, points)
    assert set(pred["queue_size"]) == {1, 5, 10}
    x0 = 56  # on the curves' grid (1.25^k rounded)
    at = pred[(pred["strategy"] == "cao2") & (pred["x"] == x0)].set_index("queue_size")
    assert at.loc[10, "coverage"] > at.loc[1, "coverage"]  # a longer queue loses less
    # The same as predicting one spec at that queue size (no run on disk: no nodes to read).
    from harness.predict import predict_spec

    one = sweep.make("cao2", x0, queue=10)
    doc = {**one.to_dict(), "warmup_frames": one.warmup_frames,
           "measure_frames": one.measure_frames, "profile": "rpi3bplus"}
    from harness.overhead import bench_hop_ms

    assert at.loc[10, "coverage"] == pytest.approx(
        predict_spec(doc, hop_ms=bench_hop_ms(), hop_basis="t")["coverage"])

    # The report: a queue column, X* per queue size beside the model's.
    measured = pd.DataFrame(
        [_pt(f"b{q}", "baseline", 0.82, queue=q) for q in (1, 5, 10)]
        + [_pt(f"c{q}-{x}", "cao2", cov, x=x, queue=q)
           for q, covs in ((1, (0.3, 0.7)), (5, (0.3, 0.85)), (10, (0.9, 0.95)))
           for x, cov in zip((1, 100), covs, strict=True)])
    html = write_sweep(measured, pd.DataFrame(), {"queue_size": 5}, tmp_path / "s.html",
                       pred).read_text()
    assert "<b>X* not reached</b> at queue 1" in html
    assert "<b>X* = 100</b> at queue 5" in html and "<b>X* = 1</b> at queue 10" in html
    predicted_x = {q: re.search(rf"at queue {q}: .*?discrete-event model's X\*: (\d+)",
                                html).group(1) for q in (1, 5, 10)}
    assert int(predicted_x[10]) < int(predicted_x[5]) < int(predicted_x[1])
    assert re.search(r'<td class="">cao2</td><td class="">100</td><td class=""></td>'
                     r'<td class="">10</td>', html)


def test_queue_option_of_fab_sweep_reaches_the_sweep(monkeypatch) -> None:
    """`fab sweep --queue=1,5,10` (the task's own parsing): three queue sizes, each a point
    knob; one size is the template's queue_size; a bad one is an error naming --queue."""
    import fabfile
    import harness.sweep

    got: list[SweepSpec] = []
    monkeypatch.setattr(harness.sweep, "run_sweep", lambda spec: got.append(spec))
    fabfile.sweep.body(None, strategies="0,2", x="1,50", queue="1,5,10", repeat="2")
    assert got[-1].queues == [1, 5, 10] and got[-1].repeats == 2
    assert {s.queue_size for s in got[-1].specs()} == {1, 5, 10}
    fabfile.sweep.body(None, strategies="0", queue="10")
    assert got[-1].queues == [] and {s.queue_size for s in got[-1].specs()} == {10}
    from invoke.exceptions import Exit

    with pytest.raises(Exit, match="--queue: every queue size must be >= 1"):
        fabfile.sweep.body(None, strategies="0", queue="5,0")
    with pytest.raises(SpecError, match="queue_size"):
        SweepSpec(strategies=["0"], xs=[], queues=["x"])


# dp, mp, tasks against K: fps per K (two repetitions), the bound grows with K.
SCALING = {("dp", 1): (24.0, 24.4, 25.0), ("dp", 2): (48.0, 47.0, 49.6),
           ("dp", 3): (70.0, 71.0, 74.5), ("mp", 1): (22.0, 22.2, 25.0),
           ("mp", 2): (40.0, 41.0, 47.5), ("tasks", 2): (30.0, 31.0, 40.0)}


def _scaling_points() -> pd.DataFrame:
    return pd.DataFrame([_pt(f"{s}-k{k}-{i}", s, fps / 120, k=k, capacity=cap, fps=fps,
                             p50=100.0 / k + i)
                         for (s, k), (f1, f2, cap) in SCALING.items()
                         for i, fps in enumerate((f1, f2))])


def test_scaling_curves_give_speedup_bound_and_ci() -> None:
    curves = scaling_curves(point_stats(_scaling_points())).set_index(["line", "k"])
    dp2 = curves.loc[("dp", 2)]
    assert dp2["delivered_fps"] == pytest.approx(47.5)
    assert dp2["delivered_fps_ci95"] == pytest.approx(interval([48.0, 47.0])["ci95"])
    assert dp2["speedup"] == pytest.approx(47.5 / 24.2)
    assert dp2["bound_speedup"] == pytest.approx(49.6 / 25.0)
    assert pd.isna(curves.loc[("tasks", 2)]["speedup"])  # no K = 1 point for tasks
    fig = plots.against_k.figure(curves.reset_index(), "delivered_fps", "fps", "t",
                                 bound="capacity_fps")
    bars = _errorbars(fig)
    assert [h for _, h in bars["dp"]] == pytest.approx(
        [interval(list(SCALING[("dp", k)][:2]))["ci95"] for k in (1, 2, 3)])
    bound = [ln for ln in fig.axes[0].lines if ln.get_linestyle() == "--"]
    assert any(list(ln.get_ydata()) == [25.0, 49.6, 74.5] for ln in bound)


def test_scaling_section_of_the_sweep_page(tmp_path: Path) -> None:
    html = write_sweep(_scaling_points(), pd.DataFrame(), {"rate_fps": 120},
                       tmp_path / "k.html").read_text()
    assert "Sweep: strategies against K" in html and "Against K: dp, mp, tasks</h2>" in html
    assert html.count("<svg") == 3  # fps, speedup, latency; no X plots without Cao's
    assert "Delivered fps against K (dashed: capacity bound)" in html
    assert "No K = 1 point for tasks" in html
    assert "is below the capacity bound" not in html  # 120 fps is above every bound
    assert "seed reported" not in html  # dp, mp, tasks: no counterpart in the seeds
    low = write_sweep(_scaling_points(), pd.DataFrame(), {"rate_fps": 30},
                      tmp_path / "low.html").read_text()
    assert "The offered rate (30 fps) is below the capacity bound of dp at K = 2" in low
    # the hint names the rate that clears every bound of this sweep, not a fixed example
    top = _scaling_points()["capacity_fps"].max()
    assert f"--rate above {top:.1f} here" in low, low[low.find("offer more"):][:200]


def test_sweep_seed_column_only_where_the_seed_has_a_counterpart(tmp_path: Path) -> None:
    html = write_sweep(_repeated(), pd.DataFrame(), {}, tmp_path / "cao.html").read_text()
    header = re.search(r"<h2>Every point</h2>\s*<table><tr>(.*?)</tr>", html, re.S).group(1)
    assert "seed reported" in header
    row = re.search(r'<tr><td class="">cao3</td>.*?</tr>', html, re.S).group(0)
    assert "coverage 100 %, 30 f/s" in row
    assert "Beside Cao" in html and cao.STRATEGY3 in html and cao.SLIDES in html
    assert "worse below X* = 50, better from it" in html  # strategy 2 against the baseline
    assert "/work/" not in html and "../shared" not in html  # seeds by file name only
    # The same sweep on another model: no counterpart, no column.
    other = _repeated().assign(model="yolov2-16")
    html = write_sweep(other, pd.DataFrame(), {}, tmp_path / "other.html").read_text()
    assert "seed reported" not in html and "Beside Cao" not in html


def _page(tmp_path: Path, run_id: str, **kw) -> tuple[str, dict]:
    run_dir = make_run(tmp_path, run_id, **kw)
    summary = summarize(load_run(run_dir))
    html = write_run_report(run_dir, summary, tmp_path / f"{run_id}.html").read_text()
    return html, summary


def _seed_table(html: str) -> list[list[str]]:
    found = re.search(r"<h2>Beside the seed: .*?</table>", html, re.S)
    assert found, "no seed table"
    return [re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)
            for r in re.findall(r"<tr>(.*?)</tr>", found.group(0), re.S)[1:]]


def test_strategy_3_run_report_has_the_seeds_numbers(tmp_path: Path) -> None:
    html, s = _page(tmp_path, "s3", extra_spec={"strategy": "cao3"}, b_drops=False)
    assert s["coverage"] == 1.0
    rows = _seed_table(html)
    assert [r[0] for r in rows] == ["strategy 3 coverage", "strategy 3 processing rate"]
    assert rows[0][1:3] == ["100.0 %", "100 %"]
    assert rows[1][1].startswith(f"{s['delivered_fps']:.2f} frames/s") and rows[1][2] == "30 f/s"
    assert rows[0][3] == "Achieve 100 % data coverage and 30 f / s image processing rate"
    assert rows[0][4] == "000_55cd7242d85774ac.txt"


def test_the_seeds_words_are_quoted_exactly() -> None:
    """Every sentence harness/seeds/cao.py quotes is in the seed file it names (the seeds
    sit beside the repository, ../shared/seeds, and are not shipped with it)."""
    from harness.paths import REPO

    seeds = REPO.parent / "shared" / "seeds"
    if not seeds.is_dir():
        pytest.skip(f"the seed texts are not beside the repository ({seeds})")
    quoted = [(r.wording, r.source) for rs in cao.BY_STRATEGY.values() for r in rs
              if r.what != "strategy 2 beyond a threshold X"]
    quoted += [(cao.STRATEGY2_BETTER, cao.SLIDES), (cao.FIGURE2, cao.SLIDES)]
    for words, source in quoted:
        assert words in (seeds / source).read_text(), (source, words)


def test_baseline_and_fig2_run_reports_quote_the_seed(tmp_path: Path) -> None:
    html, s = _page(tmp_path, "b")
    rows = _seed_table(html)
    b_ms = s["nodes"]["B"]["measured_service_ms_mean"]
    assert rows[1][:3] == ["L2 (2000 -&gt; 2000) time per frame on B",
                           f"{b_ms / 1000:.4f} s (B, measured mean)", "about 0.04 s"]
    assert "0.004 seconds" in rows[0][3] and rows[0][4] == cao.REPORT
    html, s = _page(tmp_path, "f2", extra_spec={"scenario": "cao-fig2"})
    rows = _seed_table(html)
    dropped_b = sum(s["drops"]["B"].values())
    assert rows == [["Fig. 2: B at a tenth of A&#39;s speed",
                     f"coverage {s['coverage']:.4f}; dropped at B (B): {dropped_b} of "
                     f"{s['sent']} ({dropped_b / s['sent']:.0%})",
                     "drops 9 of 10 frames (coverage 0.1)",
                     cao.FIGURE2.replace("'", "&#39;"), cao.SLIDES]]


@pytest.mark.parametrize("extra", [{"strategy": "dp", "k": 2}, {"model": "yolov2-16"}])
def test_no_seed_table_without_a_counterpart(tmp_path: Path, extra: dict) -> None:
    html, _ = _page(tmp_path, "x", extra_spec=extra)
    assert "Beside the seed" not in html and "seed reported" not in html


def test_comparison_has_a_seed_row_when_a_run_has_a_counterpart(tmp_path: Path) -> None:
    s3 = make_run(tmp_path, "s3", extra_spec={"strategy": "cao3"}, b_drops=False)
    dp = make_run(tmp_path, "dp", extra_spec={"strategy": "dp", "k": 2})
    html = write_comparison([s3, dp], tmp_path / "c.html").read_text()
    row = re.search(r"<tr><td[^>]*>seed reported \(Cao.*?</tr>", html, re.S).group(0)
    assert "coverage 100 %, 30 f/s" in row and "<td" in row and "–" in row
    html = write_comparison([dp], tmp_path / "c2.html").read_text()
    assert "seed reported (Cao" not in html
