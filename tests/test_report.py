"""HTML reports and the ledger: offline, escaped, and loud about runs not to trust."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from test_analysis import make_run  # tests/ is on sys.path (pytest rootdir)

from harness.analysis import load_run, summarize, write_summary
from harness.ledger import list_runs, record
from harness.report import write_comparison, write_index, write_run_report

EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//|<link\b|<script\b|@import""",
                      re.I)
# The index inlines its own script (templates/index.js): a <script> with a body and no src.
EXTERNAL_INDEX = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//|<link\b|@import|"""
                            r"""<script\b[^>]*\bsrc\b""", re.I)


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
    # throughput, switches + drops by node, queue depth, utilisation, latency, send lag, and
    # each node's service times beside its profile's (issue 14)
    assert html.count("<svg") == 7
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
    assert not EXTERNAL_INDEX.search(index) and "<script>" in index

    comp = write_comparison(dirs, tmp_path / "compare.html").read_text()
    assert "run-0" in comp and "run-1" in comp and comp.count("<svg") == 5  # + energy
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
    nodes = html.split("<h2>Nodes</h2>")[1].split("<h2>")[0]  # not the energy table's H0
    frames, times = re.findall(r"<tr><td[^>]*>H0</td>(.*?)</tr>", nodes, re.S)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", frames)
    # role, profile, received, dropped, rejected, processed, tasks processed, ...
    assert cells[5] == "50" and cells[6] == "200"
    # service ms, numpy ms, measured mean, p95, utilisation, ...
    assert re.findall(r"<td[^>]*>(.*?)</td>", times)[4] == "0.2"


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
    assert "not measured: needs ftp and bodp runs with --sources=6" in html
    assert "not measured: needs an ftp run with --sources=6" in html
    # not for runs of other strategies
    base = write_comparison([make_run(tmp_path, "b0")], tmp_path / "b.html").read_text()
    assert "DeepThings reported" not in base


# --------------------------------------------------------------------------- issue 16

CONTENT_PX = 1100  # base.html's max-width: a table narrower than this fits a 1400 px page
CHAR_PX, CELL_PX = 9.5, 21  # a generous 16 px character; padding .6em each side + border


def _min_table_px(table: str) -> float:
    """The narrowest a table can be: per column its longest unbreakable word (a header wraps
    at spaces; a left-aligned cell anywhere, so counted at 10 characters at most)."""
    widest: dict[int, int] = {}
    for row in re.findall(r"<tr>(.*?)</tr>", table, re.S):
        cells = re.findall(r'<t([hd]) class="([^"]*)">(.*?)</t[hd]>', row, re.S)
        for i, (kind, cls, text) in enumerate(cells):
            words = re.sub(r"<[^>]+>", "", text).split() or [""]
            longest = max(len(w) for w in words)
            if kind == "d" and "l" in cls.split():
                longest = min(longest, 10)
            widest[i] = max(widest.get(i, 0), longest)
    return sum(CELL_PX + CHAR_PX * n for n in widest.values())


def _finished(tmp_path: Path, monkeypatch, run_id: str, **kw) -> tuple[dict, str]:
    """A run through the real tail of `fab experiment` (experiment.finish_run: summary with
    the prediction, ledger row, report, index) under tmp_path's results root."""
    from harness import experiment
    from harness.paths import RESULTS_ENV

    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    spec = {"queue_size": 5, "x": 10, "warmup_frames": 10, "measure_frames": 100,
            **kw.pop("extra_spec", {})}
    run_dir = make_run(tmp_path / "runs", run_id, extra_spec=spec, **kw)
    summary = experiment.finish_run(run_dir, say=lambda _m: None)
    return summary, (tmp_path / "reports" / f"{run_id}.html").read_text(encoding="utf-8")


def _card(html: str) -> str:
    return html[html.index('<section class="card'):html.index("</section>")]


def _value(summary: dict, dotted: str):
    v = summary
    for part in dotted.split("."):
        v = v[part]
    return v


def test_verdict_card_on_top_holds_the_summarys_numbers(tmp_path, monkeypatch) -> None:
    from harness.analysis import verdict

    summary, html = _finished(tmp_path, monkeypatch, "card", vanish_ids=(100,))
    card = _card(html)
    # On top: after the title, before the summary table, the details and every plot.
    assert html.index('<section class="card') < html.index("<h2>Summary</h2>")
    assert html.index("</section>") < html.index("<svg")
    tiles = re.findall(r'<div class="v" data-field="([^"]+)" data-value="([^"]*)">([^<]*)</div>',
                       card)
    fields = {f: (json.loads(raw.replace("&#34;", '"')) if f != "verdict" else raw, text)
              for f, raw, text in tiles}
    assert set(fields) == {"delivered_fps", "offered_fps", "capacity_fps", "coverage",
                           "latency_ms.p50", "latency_ms.p99", "energy.j_per_frame", "verdict"}
    for field, (raw, text) in fields.items():
        if field == "verdict":
            continue
        assert raw == _value(summary, field), field
        if raw is None:  # energy: this run has no node_stats.json, so no bytes sent
            assert field == "energy.j_per_frame" and text == "unknown"
            continue
        assert float(text) == pytest.approx(raw, abs=0.05), (field, text)
    assert summary["delivered_fps"] == 7.9 and summary["coverage"] == 0.79  # 79 of 100
    word, reasons = verdict(summary)
    assert fields["verdict"][0] == word == "check" and len(reasons) == 2  # vanished, model
    assert "lost_unaccounted" in card and 'class="banner"' in card  # why not, in the card
    # Predicted beside measured, each the summary's own prediction.
    pred = summary["predicted"]
    assert f"predicted {pred['coverage']:g}" in card
    assert f"predicted {pred['delivered_fps']:g}" in card
    assert f"predicted {pred['latency_ms']['p50']:g}" in card
    sentence = re.search(r'<p class="answer">(.*?)</p>', card).group(1)
    assert sentence.startswith("Delivered 7.9 of 10 fps offered (capacity bound 16)")
    assert "coverage 0.79" in sentence and "check before use (2 warnings" in sentence


def test_verdict_card_says_invalid_and_why_no_bound(tmp_path, monkeypatch) -> None:
    native = {"profile": "native", "capacity_fps": None, "profiles": {"native": None},
              "min_frames": 1000}
    summary, html = _finished(tmp_path, monkeypatch, "native", extra_spec=native)
    card = _card(html)
    assert 'data-field="verdict" data-value="invalid"' in card and "not valid" in card
    assert "fewer than --min-frames 1000" in card  # the reason, in the card
    assert 'data-field="capacity_fps" data-value="null">not known<' in card
    assert summary["capacity_note"] in card
    assert "no prediction: profile native has no cost model" in card


def test_a_clean_run_is_valid(tmp_path, monkeypatch) -> None:
    # 10 fps under a 16 fps bound, every frame through: valid, nothing to check.
    summary, html = _finished(tmp_path, monkeypatch, "clean", b_drops=False)
    assert summary["coverage"] == 1.0 and summary["warnings"] == []
    card = _card(html)
    assert 'data-value="valid"' in card and "no warnings" in card
    assert 'class="banner"' not in card and card.startswith('<section class="card valid"')


def test_node_tables_fit_the_page(tmp_path, monkeypatch) -> None:
    """Every table of a run page fits the page's 1100 px column (so a 1400 px window): the
    nodes table is split in two and its headers are words that wrap."""
    from test_analysis import make_tasks_run

    _, html = _finished(tmp_path, monkeypatch, "fit", extra_spec={
        "profile": "rpi3bplus,rpi3bplus_half_speed"})
    tasks_html = write_run_report(make_tasks_run(tmp_path / "t"), None,
                                  tmp_path / "t.html").read_text(encoding="utf-8")
    for page in (html, tasks_html):
        tables = re.findall(r"<table>.*?</table>", page, re.S)
        assert len(tables) >= 3  # summary, nodes (two), drops and memory where there are
        for table in tables:
            assert _min_table_px(table) <= CONTENT_PX, table[:300]
        nodes = page.split("<h2>Nodes</h2>")[1].split("<h2>")[0]
        assert nodes.count("<table>") == 2


def test_the_width_estimate_catches_the_old_nodes_table() -> None:
    """The check above can fail: the nodes table as it was (16 columns, snake_case headers
    that do not wrap) is wider than the page column."""
    header = ["node", "role", "profile", "received", "dropped", "rejected", "processed",
              "tasks_processed", "forwarded", "forward_failed", "service_ms_mean",
              "real_ms_mean", "utilisation", "queue_depth_mean", "queue_depth_max",
              "trace ends"]
    row = ["pi2", "B", "rpi3bplus", "1200", "300", "0", "900", "0", "900", "0", "40",
           "2.5", "0.998", "4.2", "5", "2026-11-28 02:06:15 UTC"]
    table = ("<table><tr>" + "".join(f'<th class="">{h}</th>' for h in header) + "</tr><tr>"
             + "".join(f'<td class="">{c}</td>' for c in row) + "</tr></table>")
    assert _min_table_px(table) > CONTENT_PX


def _svg_text(html: str) -> str:
    """The text drawn in a page's plots (svg.fonttype none: labels stay <text>)."""
    return " ".join(re.sub(r"<[^>]+>", " ", svg) for svg in re.findall(r"<svg.*?</svg>", html,
                                                                         re.S))


def test_comparison_labels_say_what_differs(tmp_path: Path) -> None:
    from harness.report import run_labels

    runs = [("b", {"strategy": "baseline"}), ("c2-5", {"strategy": "cao2", "x": 5}),
            ("c2-50", {"strategy": "cao2", "x": 50})]
    dirs = [make_run(tmp_path, rid, extra_spec={"x": 10, "k": 2, **kw}) for rid, kw in runs]
    comp = write_comparison(dirs, tmp_path / "compare.html").read_text(encoding="utf-8")
    # baseline has no X: its label does not invent one; the cao2 runs differ by X.
    labels = ["baseline", "cao2 · X=5", "cao2 · X=50"]
    header = re.search(r"<tr>(<th.*?)</tr>", comp, re.S).group(1)
    assert re.findall(r"<th[^>]*>(.*?)</th>", header)[1:] == labels
    drawn = _svg_text(comp)
    for label in labels:
        assert drawn.count(label) >= 4, label  # coverage, fps, p95, drops: one tick each
    assert not any(rid in drawn for rid, _ in runs if rid != "b")
    assert all(f'href="{rid}.html"' in comp for rid, _ in runs)  # the ids, linked once

    # Only the rate and the profile differ: that is all the labels say.
    specs = [{"strategy": "baseline", "rate_fps": r, "profile": p, "x": 10}
             for r, p in ((10, "rpi3b"), (30, "rpi3b"), (30, "rpi4b"))]
    sums = [{"offered_fps": float(sp["rate_fps"])} for sp in specs]
    assert run_labels(specs, sums) == ["10 fps · rpi3b", "30 fps · rpi3b", "30 fps · rpi4b"]
    # dp against K; mp at one K: K shows, strategy shows, X (unused by both) never.
    specs = [{"strategy": s, "k": k, "x": 10} for s, k in (("dp", 2), ("dp", 4), ("mp", 4))]
    assert run_labels(specs, [{}] * 3) == ["dp · K=2", "dp · K=4", "mp · K=4"]
    # Repeats of one configuration: what they share, numbered.
    same = [{"strategy": "cao1", "x": 10, "rate_fps": 30}] * 2
    assert run_labels(same, [{"offered_fps": 30.0}] * 2) == ["cao1 · 30 fps #1",
                                                              "cao1 · 30 fps #2"]
    # adaptive sending inline against overlapped, and mp with and without admission
    sends = [{"strategy": "adaptive", "k": 2, "send": m} for m in ("inline", "overlap")]
    assert run_labels(sends, [{}] * 2) == ["send inline", "send overlap"]
    adm = [{"strategy": "mp", "k": 4, "admission": a} for a in ("whole", "none")]
    assert run_labels(adm, [{}] * 2) == ["admission whole", "admission none"]


# --------------------------------------------------------------------------- device sweep
# DeepThings' figures (issue 12): ftp and bodp against K, from run directories written as
# the experiment writes them: the spec document from the strategy's real plan on the lab
# inventory's hosts, traces and node stats as the nodes leave them, then
# experiment.finish_run (summary with the DES prediction and measured memory, ledger row,
# run report) and the sweep's own write_report over the sweep's points.

SWEEP_T0 = 1_700_000_000.0


def _board_run(spec, latency_s: float, peak_bytes: int, bytes_out: int) -> dict:
    """One finished ftp/bodp run of `spec` where every frame reaches the sink `latency_s`
    after its intended send; each device's measured footprint is `peak_bytes` and the
    nodes sent `bytes_out` per frame in all. Returns its summary (finish_run's)."""
    from harness import resources, strategies
    from harness.experiment import _spec_document, finish_run
    from harness.inventory import Host, load_inventory
    from harness.paths import runs_dir

    inventory = load_inventory(spec.inventory)
    module = strategies.get(spec.strategy)
    hosts = inventory.pick(list(inventory.hosts)[:strategies.hosts_needed(module, spec)])
    sink_host = Host("sink", inventory.controller_address, "", "", "native", False)
    plan = module.plan(spec, hosts, sink_host)
    doc = {**_spec_document(spec, plan, inventory.path), "started_at": SWEEP_T0}
    run_dir = runs_dir() / spec.run_id
    (run_dir / "traces").mkdir(parents=True)
    (run_dir / "spec.json").write_text(json.dumps(doc))
    gateway = next(n for n in doc["nodes"] if n["role"] == "G")
    devices = [n for n in doc["nodes"] if n["role"].startswith("D")]
    blocks = gateway["tasks"]["blocks"]
    rows: dict[str, list[list]] = {n["name"]: [] for n in doc["nodes"]}
    client = []
    frames = spec.measure_frames
    for pid in range(frames):
        intended = SWEEP_T0 + pid / spec.rate_fps
        sent, done = intended + 0.001, intended + latency_s
        client.append([pid, "measure", f"{intended:.6f}", f"{sent:.6f}", 200, 1, 0, 0, 1.5,
                       plan.targets[0]])
        g = rows[gateway["name"]]
        g += [[sent + 0.001, pid, "received", 0], [sent + 0.002, pid, "started", 0],
              [sent + 0.003, pid, "tiles_queued", blocks]]
        step = (done - sent - 0.01) / blocks
        for b in range(blocks):
            d = devices[b % len(devices)]["name"]
            t = sent + 0.004 + b * step
            g.append([t, pid, "task_sent", f"{d}:{b}"])
            rows[d] += [[t + 0.0005, pid, "task_started", f"{b}/{blocks}"],
                        [t + step * 0.9, pid, "task_finished", f"5.00:{step * 900:.2f}"]]
            g.append([t + step * 0.95, pid, "task_done", f"{d}:{b}"])
        g += [[done - 0.003, pid, "finished", "1.00:0.00"],
              [done - 0.002, pid, "forwarded", gateway["next_hops"][0]]]
        rows["sink"].append([done, pid, "received", ""])
    with (run_dir / "client.csv").open("w") as fh:
        fh.write("packet_id,phase,intended_t,sent_t,status,accepted,overloaded,queue_depth,"
                 "reply_ms,target\n")
        fh.writelines(",".join(map(str, r)) + "\n" for r in client)
    for name, trace in rows.items():
        with (run_dir / "traces" / f"{name}.csv").open("w") as fh:
            fh.write("t,packet_id,node,event,detail\n")
            fh.writelines(f"{r[0]:.6f},{r[1]},{name},{r[2]},{r[3]}\n"
                          for r in sorted(trace, key=lambda r: r[0]))
    memory = {"weights_bytes": 100, "peak_layer_bytes": peak_bytes - 100,
              "peak_footprint_bytes": peak_bytes, "per_layer": []}
    per_node = bytes_out * frames // (len(devices) + 1)
    stats = {n["name"]: {"weights_bytes": 100, "bytes_out": per_node,
                         **({"memory": memory} if n["role"].startswith("D") else {})}
             for n in [gateway, *devices]}
    resources.save_node_stats(run_dir, stats)
    return finish_run(run_dir, say=lambda _msg: None)


# (strategy, K, grid) -> latency s, peak footprint bytes per device, node bytes out per frame
DEVICE_RUNS = {
    ("ftp", 1, "1x1"): (1.5, 1_000_000, 1_000), ("ftp", 2, "1x1"): (1.5, 1_000_000, 1_000),
    ("ftp", 4, "1x1"): (1.5, 1_000_000, 1_000),
    ("ftp", 1, "3x3"): (6.0, 420_000, 9_000), ("ftp", 2, "3x3"): (3.0, 420_000, 9_000),
    ("ftp", 4, "3x3"): (2.0, 420_000, 9_000),
    ("bodp", 1, None): (1.5, 1_000_000, 32_000), ("bodp", 2, None): (0.75, 600_000, 64_000),
    ("bodp", 4, None): (0.5, 390_000, 128_000),
}


def test_device_sweep_report_has_deepthings_figures_and_table() -> None:
    """`fab sweep --strategies=ftp,bodp --devices=1,2,4 --grid=1x1,3x3`: speedup over one
    device (the unpartitioned ftp 1x1 at K = 1), peak memory per device and bytes per frame
    against K as inline SVG, their numbers in a table, the seed's numbers beside ours, and
    one line saying this sweep has no runs at several data sources."""
    import pandas as pd

    from harness.paths import reports_dir
    from harness.sweep import SweepSpec, _id_part, _point, write_report

    sweep = SweepSpec(strategies=["ftp", "bodp"], xs=[], devices=[1, 2, 4],
                      grids=["1x1", "3x3"],
                      run={"model": "yolov2-16", "rate_fps": 0.1, "duration_s": 30,
                           "warmup_s": 0, "min_frames": 1, "profile": "rpi3bplus"})
    points, sums = [], {}
    for spec in sweep.specs():
        key = (spec.strategy, spec.k, spec.grid if spec.strategy == "ftp" else None)
        spec.run_id = f"t-{spec.strategy}{_id_part(spec)}"
        summary = _board_run(spec, *DEVICE_RUNS[key])
        sums[key] = summary
        points.append(_point(spec, summary))
    assert len(points) == len(DEVICE_RUNS)
    frame_in = 160 * 160 * 3 * 4  # the client's float32 frame, counted once per frame
    assert sums[("bodp", 4, None)]["wire"]["bytes_per_frame"] == frame_in + 128_000
    assert sums[("ftp", 2, "3x3")]["latency_ms"]["p50"] == pytest.approx(3000.0, abs=1)
    assert sums[("ftp", 2, "3x3")]["predicted"]["latency_ms"]["p50"] > 0  # the DES's

    report = write_report(sweep, pd.DataFrame(points), "20231114-000000")
    assert report == reports_dir() / "sweep-20231114-000000.html"
    html = report.read_text(encoding="utf-8")
    assert not EXTERNAL.search(html) and "http://" not in html
    assert html.count("<svg") == 3  # speedup, memory, wire; no X plots for ftp/bodp alone
    for title in ("Speedup over one device against devices", "Peak memory per device",
                  "Bytes on the wire per frame (measured) against devices"):
        assert title in html
    assert "the unpartitioned model on one device: ftp 1x1 wsh at K = 1, latency p50 1500 ms" \
        in html

    def row(line: str, k: int) -> list[str]:
        found = re.search(rf'<tr><td class="l">{re.escape(line)}</td><td class="">{k}</td>'
                          r"(.*?)</tr>", html, re.S)
        assert found, (line, k)
        return re.findall(r"<td[^>]*>(.*?)</td>", found.group(1))

    def predicted(key) -> float:
        return sums[key]["predicted"]["latency_ms"]["p50"]

    one = predicted(("ftp", 1, "1x1"))
    for (strategy, k, grid), (latency, peak, _out) in DEVICE_RUNS.items():
        line = f"ftp {grid} wsh" if strategy == "ftp" else "bodp"
        cells = row(line, k)
        # p50, predicted p50, speedup, predicted speedup, peak memory, bytes / frame, runs
        assert cells[0] == f"{latency * 1000:.0f}"
        assert float(cells[2]) == pytest.approx(1.5 / latency, abs=0.005)
        assert float(cells[3]) == pytest.approx(one / predicted((strategy, k, grid)), abs=0.005)
        assert cells[4] == f"{peak:,}"
        assert cells[5] == f"{sums[(strategy, k, grid)]['wire']['bytes_per_frame']:,.0f}"
        assert f'href="t-{strategy}-k{k}' in cells[6]
    # The DES prices what it models: bodp's bands beat ftp 3x3's overlapping tiles at K = 4.
    assert predicted(("bodp", 4, None)) < predicted(("ftp", 4, "3x3"))

    # The spread over reruns keeps every (strategy, K, grid, sched) apart: 9 rows of 1 run.
    spread = re.search(r"Spread over reruns.*?</table>", html, re.S).group(0)
    assert spread.count("<tr>") == 1 + len(DEVICE_RUNS)
    assert '<td class="">ftp 3x3 wsh</td><td class=""></td><td class="">4</td>' \
           '<td class="">5</td><td class="">1</td>' in spread  # K 4, queue 5, 1 run

    # DeepThings' reported numbers beside ours, worked out of the sweep's own runs.
    assert "DeepThings reported" in html
    assert "-58 %" in html and "-61 %" in html and "3.5x" in html and "2.1x" in html
    assert "-58 % (k 1)" in html  # FTP 3x3: 420 kB per device against the single 1 MB
    assert "-61 % (k 4)" in html  # 4-way BODP: 390 kB against the single device's 1 MB
    assert "no ftp run with grid 5x5 with measured memory" in html
    assert "Throughput and maximum latency against data sources" in html
    assert "not in this sweep; run ftp and bodp at several, e.g. `--sources=1,2,4,6`" in html


def test_speedup_reference_falls_back_and_says_which() -> None:
    """Without the unpartitioned ftp 1x1 at K = 1 the speedup is over bodp at K = 1, then
    over each line's own K = 1; without any K = 1 there is none, and the words say so."""
    import pandas as pd

    from harness.analysis import device_curves

    def pts(*rows):
        return pd.DataFrame([{"run_id": f"r{i}", "strategy": s, "k": k, "grid": g,
                              "sched": "wsh" if s == "ftp" else None, "latency_p50_ms": lat,
                              "predicted_latency_p50_ms": None}
                             for i, (s, k, g, lat) in enumerate(rows)])

    curves, words = device_curves(pts(("bodp", 1, None, 1600.0), ("ftp", 1, "3x3", 6400.0),
                                      ("ftp", 2, "3x3", 3200.0), ("baseline", None, None, 9.0)))
    assert words.startswith("BODP on one device") and "bodp at K = 1" in words
    assert list(curves["speedup"]) == [1.0, 0.25, 0.5]  # bodp 1; ftp 3x3 at K = 1, 2
    assert curves["predicted_speedup"].isna().all()  # no prediction, no dashed line
    curves, words = device_curves(pts(("ftp", 1, "3x3", 6400.0), ("ftp", 2, "3x3", 3200.0)))
    assert words.startswith("each line's own K = 1 point") and list(curves["speedup"]) == [1, 2]
    curves, words = device_curves(pts(("ftp", 2, "3x3", 3200.0)))
    assert "add 1 to --devices" in words and curves["speedup"].isna().all()
    assert device_curves(pts(("baseline", None, None, 9.0)))[0].empty


def test_index_rows_filters_badges_and_embedded_runs(tmp_path: Path) -> None:
    """The index's rows carry what the selects filter by, warnings are badges with their full
    text inside <details>, and the side-by-side JSON cannot end its <script> early."""
    sums = []
    for i, kw in enumerate([{}, {"vanish_ids": (100,)}]):
        run_dir = make_run(tmp_path, f"i-{i}", extra_spec={
            "started_at": 1000.0 + i, "strategy": ["baseline", "</script><b>x"][i]}, **kw)
        sums.append({**summarize(load_run(run_dir)), "spec": load_run(run_dir).spec})
    html = write_index(sums, tmp_path / "index.html").read_text()
    assert 'data-strategy="&lt;/script&gt;&lt;b&gt;x"' in html
    assert 'data-strategy="baseline"' in html
    assert '<option value="baseline">baseline</option>' in html
    data = html[html.index('id="runs-data">'):]
    data = data[len('id="runs-data">'):data.index("</script>")]
    runs = json.loads(data)["runs"]  # the first </script> is the JSON's own end
    assert set(runs) == {"i-0", "i-1"} and runs["i-1"][0] == "</script><b>x"
    assert re.search(r'<details class="badge"><summary>frames vanished</summary><p>1 measure '
                     r'frames vanished', html)
    assert html.count('<details class="badge">') == 1


def test_export_writes_every_figure_as_svg_pdf_and_csv(tmp_path, monkeypatch) -> None:
    """`fab report --export=DIR` (harness.report.export) on runs finished as `fab experiment`
    finishes them: each figure of the comparison and of each run's page in SVG and PDF, in
    plots.STYLE, and the numbers it shows as CSV, equal to the summary's."""
    import matplotlib
    import pandas as pd

    from harness import plots
    from harness.analysis import per_second_counts
    from harness.report import export

    s0, _ = _finished(tmp_path, monkeypatch, "e0")
    s1, _ = _finished(tmp_path, monkeypatch, "e1", vanish_ids=(100,),
                      extra_spec={"strategy": "cao2", "x": 50})
    out = tmp_path / "figures"
    written = export([tmp_path / "runs" / "e0", tmp_path / "runs" / "e1"], out)
    assert all(p.is_file() and p.stat().st_size for p in written)
    assert all(matplotlib.rcParams[k] == v for k, v in plots.STYLE.items())

    table = pd.read_csv(out / "comparison.csv")
    assert list(table["run_id"]) == ["e0", "e1"]
    assert list(table["label"]) == ["baseline", "cao2 · X=50"]  # what differs, as on the page
    assert list(table["coverage"]) == [s0["coverage"], s1["coverage"]]
    assert list(table["latency_ms.p99"]) == [s0["latency_ms"]["p99"], s1["latency_ms"]["p99"]]
    figures = {"comparison-coverage", "comparison-delivered_fps", "comparison-latency_p95",
               "comparison-energy", "comparison-drops"}
    runs = {"throughput", "switches", "queue_depth", "utilisation", "latency", "send_lag"}
    figures |= {f"{r}/{name}" for r in ("e0", "e1") for name in runs}
    for name in figures:
        svg, pdf = (out / f"{name}.svg").read_text(), (out / f"{name}.pdf").read_bytes()
        assert svg.lstrip().startswith("<?xml") and "<text" in svg, name  # text stays text
        assert pdf.startswith(b"%PDF") and b"/FontFile2" in pdf, name  # TrueType embedded
        assert "CreationDate" not in pdf.decode("latin-1"), name  # same numbers, same file
    bars = pd.read_csv(out / "comparison-coverage.csv")
    assert list(bars["coverage"]) == [s0["coverage"], s1["coverage"]]
    drops = pd.read_csv(out / "comparison-drops.csv")
    assert list(drops["B"]) == [sum(s["drops"]["B"].values()) for s in (s0, s1)]
    counts = pd.read_csv(out / "e1" / "throughput.csv")
    expected = per_second_counts(load_run(tmp_path / "runs" / "e1"))
    assert counts[list(expected.columns)].equals(expected.reset_index(drop=True))
    assert counts["delivered"].sum() == s1["delivered"]
    latency = pd.read_csv(out / "e1" / "latency.csv")["latency_ms"]
    assert round(float(latency.quantile(0.99)), 3) == s1["latency_ms"]["p99"]
    assert (out / "e0" / "switches-drops.csv").is_file()


def test_deepthings_reuse_and_wire_rows_compare_like_with_like() -> None:
    """Data reuse is WST-S against WST at the same K and grid; communication is WST-S against
    WSH on the same grid (the seed's two comparisons), from the runs' summaries."""
    from harness.seeds import deepthings

    def run(sched, k, grid, p50, wire):
        return {"strategy": "ftp", "sched": sched, "k": k, "grid": grid,
                "latency_ms": {"p50": p50}, "wire": {"bytes_per_frame": wire}}

    runs = [run("wsh", 2, "3x3", 3000.0, 2_000_000), run("wst", 4, "3x3", 2500.0, 1_500_000),
            run("wst", 2, "3x3", 2800.0, 1_600_000), run("wst-s", 2, "3x3", 2100.0, 960_000)]
    assert deepthings._reuse(runs) == "-25 % (grid 3x3, k 2)"  # against wst k 2, not k 4
    assert deepthings._wire(runs) == "-52 % (grid 3x3, k 2)"
    assert "needs an ftp wst run with k 2" in deepthings._reuse(runs[:1] + runs[3:])
    assert deepthings._wire(runs[:3]).startswith("not measured")


def test_the_report_says_what_a_message_s_bytes_were_priced_at():
    """The run report's summary table shows the rate and its basis beside the hop's."""
    from harness.overhead import MessageFit
    from harness.predict import predict_spec
    from harness.report import _summary_rows

    spec = {"strategy": "ftp", "rate_fps": 0.02, "warmup_frames": 0, "measure_frames": 2,
            "x": 1, "k": 1, "queue_size": 5, "profile": "rpi3bplus", "model": "yolov2-16",
            "grid": "1x1", "sched": "wsh"}
    pred = predict_spec(spec, 1.0, "t", fit=MessageFit(0.5, 2500.0, "fit of 9 tasks", 9))
    rows = dict(_summary_rows({"predicted": pred}))
    assert rows["model's rate for message bytes kB/ms"] == "2.5 (fit of 9 tasks)"
    assert rows["model's per-hop overhead ms"].startswith("0.5")
