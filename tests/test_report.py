"""HTML reports and the ledger: offline, escaped, and loud about runs not to trust."""

from __future__ import annotations

import re
from pathlib import Path

from test_analysis import make_run  # tests/ is on sys.path (pytest rootdir)

from harness.analysis import load_run, summarize, write_summary
from harness.ledger import list_runs, record
from harness.report import write_comparison, write_index, write_run_report

EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//|<link\b|<script\b|@import""",
                      re.I)


def _report(tmp_path: Path, **kw) -> tuple[str, dict]:
    run_dir = make_run(tmp_path, **kw)
    run = load_run(run_dir)
    summary = summarize(run)
    out = write_run_report(run_dir, summary, tmp_path / "reports" / "r1.html")
    assert out.exists()
    return out.read_text(encoding="utf-8"), summary


def test_run_report_is_self_contained(tmp_path: Path) -> None:
    html, _ = _report(tmp_path)
    assert not EXTERNAL.search(html)
    assert "http://" not in html and "https://" not in html
    assert "r1" in html and "baseline" in html
    assert re.search(r"coverage</th><td>0\.8</td>", html)
    # throughput, switches + drops by node, queue depth, utilisation, latency, send lag
    assert html.count("<svg") == 6
    assert 'class="banner"' not in html
    assert "queue_full" in html


def test_banner_on_unaccounted_loss(tmp_path: Path) -> None:
    html, summary = _report(tmp_path, vanish_ids=(100,))
    assert summary["lost_unaccounted"] == 1
    assert 'class="banner"' in html and "lost_unaccounted" in html


def test_banner_on_early_trace_end_and_interrupt(tmp_path: Path) -> None:
    html, _ = _report(tmp_path, b_dies_at=6.0, extra_spec={"interrupted": True})
    assert 'class="banner"' in html
    assert "node died or hung" in html and "interrupted" in html


def test_text_is_escaped(tmp_path: Path) -> None:
    html, _ = _report(tmp_path, extra_spec={"strategy": "<script>alert(1)</script>"})
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_ledger_index_and_comparison(tmp_path: Path) -> None:
    db = tmp_path / "results.sqlite"
    dirs = []
    for i, kw in enumerate([{}, {"vanish_ids": (100,)}]):
        run_dir = make_run(tmp_path, f"run-{i}", extra_spec={"started_at": 1000.0 + i}, **kw)
        run = load_run(run_dir)
        summary = summarize(run)
        write_summary(run_dir, summary)
        record(db, run.spec, summary)
        record(db, run.spec, summary)  # upsert: no duplicate row
        dirs.append(run_dir)
    runs = list_runs(db)
    assert list(runs["run_id"]) == ["run-1", "run-0"]  # newest first
    assert list(runs["coverage"]) == [0.79, 0.8]
    assert runs.loc[0, "latency_p95"] == 50.0 and runs.loc[0, "strategy"] == "baseline"

    index = write_index(db, tmp_path / "index.html").read_text()
    assert index.index('href="run-1.html"') < index.index('href="run-0.html"')
    assert not EXTERNAL.search(index)

    comp = write_comparison(dirs, tmp_path / "compare.html").read_text()
    assert "run-0" in comp and "run-1" in comp and comp.count("<svg") == 4
    assert "http://" not in comp and 'class="banner"' in comp


def test_sweep_page_marks_x_star_and_escapes(tmp_path: Path) -> None:
    import pandas as pd

    from harness.report import write_sweep

    def point(run_id: str, strategy: str, x: int | None, coverage: float, warnings: str = ""):
        return {"run_id": run_id, "strategy": strategy, "x": x, "coverage": coverage,
                "delivered_fps": 10 * coverage, "latency_p95_ms": 40.0,
                "predicted_coverage": None, "predicted_delivered_fps": None, "switches": 1,
                "warnings": warnings}

    points = pd.DataFrame([point("b", "baseline", None, 0.5),
                           point("s2-1", "cao2", 1, 0.4, "<b>odd</b>"),
                           point("s2-5", "cao2", 5, 0.6), point("s2-9", "cao2", 9, 0.7)])
    html = write_sweep(points, pd.DataFrame(), {"profile": "<rpi>"},
                       tmp_path / "sweep.html").read_text()
    assert "<b>X* = 5</b>" in html and html.count("<svg") == 2
    assert 'href="s2-5.html"' in html and 'class="banner"' in html
    assert "&lt;b&gt;odd&lt;/b&gt;" in html and "profile=&lt;rpi&gt;" in html
    assert not EXTERNAL.search(html)


def test_report_imports_neither_sweep_nor_experiment() -> None:
    """experiment imports report and sweep imports experiment: report must not import back
    (not even inside a function), or the modules form an import cycle."""
    import ast

    import harness.report

    tree = ast.parse(Path(harness.report.__file__).read_text())
    imported = {f"{n.module}.{a.name}" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not imported & {"harness.sweep", "harness.experiment"}


def test_native_run_says_why_there_is_no_bound_and_no_prediction(tmp_path: Path) -> None:
    """A real-Pi run (`native`) has no cost model: the report says so in words where the
    capacity and the prediction would be, and shows no 'differs from the model' banner."""
    from harness.predict import predict_spec

    native = {"profile": "native", "capacity_fps": None, "profiles": {"native": None},
              "x": 1, "queue_size": 5, "warmup_frames": 10, "measure_frames": 100}
    run_dir = make_run(tmp_path, extra_spec=native)
    run = load_run(run_dir)
    summary = summarize(run)
    summary["predicted"] = predict_spec(run.spec, 1.0, "test")
    html = write_run_report(run_dir, summary, tmp_path / "r1.html").read_text(encoding="utf-8")
    why = "profile native has no cost model; calibrate it (issue 14) or use a device profile"
    assert f"capacity fps</th><td>no capacity bound: {why}" in html
    assert f"prediction (discrete-event model)</th><td>none: {why}" in html
    assert 'class="banner"' not in html


def test_task_helpers_show_their_work_in_the_report(tmp_path: Path) -> None:
    from test_analysis import make_tasks_run

    run_dir = make_tasks_run(tmp_path)
    html = write_run_report(run_dir, None, tmp_path / "t.html").read_text(encoding="utf-8")
    row = re.search(r"<tr><td[^>]*>H0</td>(.*?)</tr>", html, re.S)
    assert row is not None
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1))
    # role, profile, received, dropped, rejected, processed, tasks_processed, ..., utilisation
    assert cells[5] == "50" and cells[6] == "200"
    assert "0.2" in cells


def test_ftp_comparison_has_deepthings_reported_beside_ours(tmp_path: Path) -> None:
    """Runs written as the experiment writes them (traces, node_stats.json, summary.json);
    the comparison shows the seed's numbers, in its words, beside our ratio."""
    from harness import resources
    from harness.seeds.deepthings import REPORTED

    dirs = []
    for run_id, spec, peak in [("one", {"strategy": "ftp", "k": 1, "grid": "1x1"}, 1000),
                               ("ftp3", {"strategy": "ftp", "k": 2, "grid": "3x3"}, 400),
                               ("bodp4", {"strategy": "bodp", "k": 4}, 450)]:
        run_dir = make_run(tmp_path, run_id, extra_spec=spec)
        memory = {"weights_bytes": 100, "peak_layer_bytes": peak - 50,
                  "peak_footprint_bytes": peak, "per_layer": []}
        resources.save_node_stats(run_dir, {"A": {"weights_bytes": 0, "bytes_out": 0},
                                            "B": {"weights_bytes": 100, "bytes_out": 0,
                                                  "memory": memory}})
        run = load_run(run_dir)
        summary = summarize(run)
        summary.update(resources.summarize(run_dir, run.spec))  # as harness/experiment.py
        write_summary(run_dir, summary)
        dirs.append(run_dir)
    html = write_comparison(dirs, tmp_path / "compare.html").read_text()
    assert "DeepThings reported" in html
    for r in REPORTED:
        assert f"<td class=\"\">{r.reported}</td>" in html
    assert "-58 %" in html and "-68 %" in html and "-61 %" in html and "3.5x" in html
    assert "6.8 s vs 8.1 s" in html and "0.29 vs 0.12 FPS" in html and "3.1x" in html
    assert "-27 %" in html and "-52 %" in html
    assert "-60 % (k 2)" in html  # FTP 3x3: 400 against the single device's 1000
    assert "-55 % (k 4)" in html  # 4-way BODP
    assert "no ftp run with grid 5x5 with measured memory" in html
    assert "not measured: --sources is not built" in html
    # not for runs of other strategies
    base = write_comparison([make_run(tmp_path, "b0")], tmp_path / "b.html").read_text()
    assert "DeepThings reported" not in base
