"""harness.results, the notebook API: its tables are the joins the summary is a sum of.

Runs are built as tests/test_report.py builds them: test_analysis.make_run's traces through
the real tail of `fab experiment` (experiment.finish_run: summary, prediction, ledger row,
report), so every number checked here is one the report shows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_analysis import T0, make_run  # tests/ is on sys.path (pytest rootdir)

from harness import experiment, results
from harness.analysis import load_run as analysis_load_run
from harness.analysis import per_second_counts
from harness.paths import RESULTS_ENV

BASE = {"queue_size": 5, "x": 10, "warmup_frames": 10, "measure_frames": 100}
DAY = 86400.0


def _finish(root: Path, run_id: str, extra: dict | None = None, **kw) -> dict:
    run_dir = make_run(root / "runs", run_id, extra_spec={**BASE, **(extra or {})}, **kw)
    return experiment.finish_run(run_dir, say=lambda _m: None)


@pytest.fixture()
def root(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    return tmp_path


def test_frames_add_up_to_the_summary(root: Path) -> None:
    summary = _finish(root, "r1", client_error_ids=(105,), rejected_ids=(106,),
                      vanish_ids=(100,), stall_ids=(60,))
    r = results.load_run("r1")
    assert r.run_id == "r1" and r.summary == summary and r.spec["strategy"] == "baseline"
    f = r.frames
    assert list(f["packet_id"]) == list(range(10, 110))  # measure frames only, in id order
    assert len(f) == summary["sent"] and f["delivered"].sum() == summary["delivered"]
    lat = f.loc[f["delivered"], "latency_ms"].to_numpy()
    p50, p95, p99 = np.percentile(lat, [50, 95, 99])
    assert (round(p50, 3), round(p95, 3), round(p99, 3)) == tuple(
        summary["latency_ms"][k] for k in ("p50", "p95", "p99"))
    assert f.loc[f["packet_id"] == 60, "latency_ms"].item() == pytest.approx(1050.0, abs=0.01)
    assert f.loc[f["packet_id"] == 60, "send_lag_ms"].item() == pytest.approx(1001.0, abs=0.01)

    # Where and why: one record per lost frame here, so the counts are the summary's drops.
    by = f[f["dropped"]].groupby(["dropped_at", "drop_reason"], observed=True).size()
    assert {n: {r_: int(c) for (n2, r_), c in by.items() if n2 == n}
            for n in {n for n, _ in by.index}} == summary["drops"]
    assert set(f.loc[f["dropped_at"] == "B", "packet_id"]) == set(range(20, 40))
    row = f.set_index("packet_id")
    assert row.loc[105, "dropped_at"] == "client" and row.loc[105, "status"] == 0
    assert row.loc[106, "drop_reason"] == "rejected:bad_body_size"
    assert row.loc[100, "lost_unaccounted"] and not row.loc[100, "dropped"]
    assert f["lost_unaccounted"].sum() == summary["lost_unaccounted"] == 1
    assert (f["entry"] == "A").all()

    # The report's frames-over-time plot, from the frames table.
    delivered = np.bincount(np.floor(f["delivered_s"].dropna()).astype(int))
    plotted = per_second_counts(analysis_load_run(r.run_dir))["delivered"].to_numpy()
    assert list(delivered) == list(plotted[:len(delivered)]) and not plotted[len(delivered):].any()
    assert r.per_second.equals(per_second_counts(analysis_load_run(r.run_dir)))
    assert f["delivered"].sum() / summary["window"]["length_s"] == summary["delivered_fps"]


def test_hops_are_the_summarys_per_frame(root: Path) -> None:
    summary = _finish(root, "h1", vanish_ids=(100,))
    hops = results.load_run("h1").hops
    assert list(hops["hop"].cat.categories) == list(summary["hops"])  # client->A, A->B, B->sink
    for name, fig in summary["hops"].items():
        ms = hops.loc[hops["hop"] == name, "ms"].to_numpy()
        assert len(ms) == fig["n"], name
        assert round(float(np.percentile(ms, 50)), 3) == fig["p50_ms"], name
    # A hop ends at the next host's `received`: a frame B dropped from a full queue (traced
    # `dropped`, not `received`) and one that vanished after A forwarded it stop at A.
    assert list(hops.loc[hops["packet_id"] == 25, "hop"]) == ["client->A"]
    assert list(hops.loc[hops["packet_id"] == 100, "hop"]) == ["client->A"]
    assert list(hops.loc[hops["packet_id"] == 50, "hop"]) == ["client->A", "A->B", "B->sink"]
    one = hops[hops["packet_id"] == 50].set_index("hop")
    assert (one["end_t"] - one["start_t"]).mul(1000).to_numpy() == pytest.approx(
        one["ms"].to_numpy())
    assert one.loc["A->B", "src"] == "A" and one.loc["A->B", "dst"] == "B"


def test_nodes_are_the_summarys(root: Path) -> None:
    summary = _finish(root, "n1", client_error_ids=(105,), rejected_ids=(106,))
    nodes = results.load_run(root / "runs" / "n1").nodes  # a path works as well as an id
    assert list(nodes.index) == ["A", "B", "sink"]
    for name, stats in summary["nodes"].items():
        for key in ("received", "dropped", "processed", "utilisation", "service_ms_mean"):
            assert nodes.loc[name, key] == stats[key] or (
                stats[key] is None and pd.isna(nodes.loc[name, key])), (name, key)
    assert nodes.loc["B", "drops"] == 20 and nodes.loc["A", "drops"] == 1  # A: the rejected
    assert nodes.loc["A", "trace_end"] == summary["trace_ends"]["A"]


def test_latest_and_a_missing_run(root: Path) -> None:
    _finish(root, "old")
    _finish(root, "new")
    assert results.load_run().run_id == "new"  # finish_run points runs/latest at it
    with pytest.raises(FileNotFoundError, match="no run 'nope'.*TESTBED_RESULTS_DIR"):
        results.load_run("nope")


def test_a_run_without_summary_is_analysed_on_load(root: Path) -> None:
    run_dir = make_run(root / "runs", "bare")
    r = results.load_run(run_dir)
    assert r.summary["coverage"] == 0.8 and len(r.frames) == 100


def test_ledger_lists_and_filters(root: Path) -> None:
    from harness.sweep import _point, write_sweep_file

    plan = [("b10", {"strategy": "baseline", "rate_fps": 10.0, "started_at": T0}),
            ("b30", {"strategy": "baseline", "rate_fps": 30.0, "started_at": T0 + DAY}),
            ("c2", {"strategy": "cao2", "x": 50, "rate_fps": 30.0, "started_at": T0 + DAY + 60}),
            ("mix", {"strategy": "baseline", "rate_fps": 10.0, "started_at": T0 + 2 * DAY,
                     "profile": "rpi3bplus,rpi3bplus_half_speed"}),
            ("yolo", {"strategy": "baseline", "rate_fps": 10.0, "started_at": T0 + 3 * DAY,
                      "model": "yolov2-16", "capacity_fps": None, "profile": "native",
                      "profiles": {"native": None}, "nodes": [
                          {"name": "A", "role": "A", "stages": ["yolo160"],
                           "address": "198.18.0.11:12345"},
                          {"name": "B", "role": "B", "stages": [], "address": "198.18.0.12:12345"},
                          {"name": "sink", "role": "sink", "stages": [],
                           "address": "198.18.0.1:12345"}]})]
    sums = {rid: _finish(root, rid, extra) for rid, extra in plan}
    from harness.spec import RunSpec

    points = pd.DataFrame([_point(RunSpec(strategy=s, x=50, rate_fps=30.0), sums[rid])
                           for rid, s in (("b30", "baseline"), ("c2", "cao2"))])
    write_sweep_file("20231115-000000", points, {"rate_fps": 30.0})

    table = results.ledger()
    assert list(table["run_id"]) == ["yolo", "mix", "c2", "b30", "b10"]  # newest first
    c2 = table.set_index("run_id").loc["c2"]
    assert c2["x"] == 50 and c2["strategy"] == "cao2" and c2["coverage"] == sums["c2"]["coverage"]
    assert pd.isna(table.set_index("run_id").loc["b30", "x"])  # baseline has no X
    from harness.analysis import verdict

    assert list(table["verdict"]) == [verdict(sums[r])[0] for r in table["run_id"]]
    assert table["started"].iloc[-1] == pd.Timestamp(T0, unit="s", tz="UTC")

    def ids(**kw) -> list[str]:
        return list(results.ledger(**kw)["run_id"])

    assert ids(strategy="2") == ["c2"] and ids(strategy=["0"]) == ["yolo", "mix", "b30", "b10"]
    assert ids(rate=30) == ["c2", "b30"] and ids(rate=[10, 30], strategy="cao2") == ["c2"]
    assert ids(profile="rpi3bplus_half_speed") == ["mix"]
    assert ids(profile="rpi3bplus") == ["mix", "c2", "b30", "b10"]
    assert ids(model="yolov2-16") == ["yolo"]
    assert ids(sweep="20231115-000000") == ["c2", "b30"]
    day2 = pd.Timestamp(T0 + DAY, unit="s", tz="UTC")
    assert ids(date=day2.strftime("%Y-%m-%d")) == ["c2", "b30"]
    assert ids(since=day2, until=day2 + pd.Timedelta(days=1)) == ["c2", "b30"]
    assert ids(strategy="dp") == []
    assert results.ledger(root / "elsewhere.sqlite").empty  # an empty ledger is a frame too
