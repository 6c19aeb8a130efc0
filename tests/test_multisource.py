"""`--sources=S` (issue 12): S data sources, each a camera with its own schedule and packet
ID range; where each source's frames enter (ftp's wst: device Di; wsh and bodp: the gateway);
what the spec refuses before anything starts; and the sweep's sources knob.

(tests/test_sources.py is about the seeds this project cites, not data sources.)
"""

from __future__ import annotations

import numpy as np
import pytest

from harness.schedule import (
    ID_STRIDE,
    MAX_SOURCES,
    build,
    first_id,
    frames,
    portion,
    share,
    source_of,
    sources_of_client,
)
from harness.spec import RunSpec, SpecError

PARAMS = {"arrival": "constant", "seed": 3, "rate_fps": 10.0, "warmup_s": 1.0,
          "duration_s": 4.0, "rates": [], "step_s": 0.0}


def test_one_source_is_exactly_the_single_schedule() -> None:
    for arrival in ("constant", "poisson"):
        params = {**PARAMS, "arrival": arrival}
        one, fr = build(**params), frames(params, 1)
        assert np.array_equal(fr.pid, one.ids)  # IDs 0, 1, 2, ... as ever
        assert np.array_equal(fr.offset_s, one.offset_s)  # bit for bit
        assert np.array_equal(fr.step, one.step) and not fr.source.any()
        assert np.array_equal(portion(fr, 1, 3), np.array(share(len(one), 1, 3)))


def test_each_source_has_its_own_schedule_and_id_range() -> None:
    fr = frames(PARAMS, 3)
    n = len(build(**PARAMS))
    assert len(fr) == 3 * n
    assert np.all(np.diff(fr.offset_s) >= 0)  # one send order, by intended time
    for s in range(3):
        mine = fr.source == s
        assert np.array_equal(fr.pid[mine], first_id(s) + np.arange(n))
        assert np.array_equal(source_of(fr.pid[mine], 3), np.full(n, s))
        # the single schedule, a third of a frame interval later per source (not in phase)
        np.testing.assert_allclose(fr.offset_s[mine], build(**PARAMS).offset_s + s / 3 / 10.0)
        assert np.array_equal(fr.step[mine], build(**PARAMS).step)
    assert first_id(2) == 2 * ID_STRIDE == 2_000_000 and len(set(fr.pid)) == len(fr)
    assert fr.offset_s.max() < build(**PARAMS).total_s  # every frame inside the run
    assert source_of(2_000_017, 3) == 2 and source_of(2_000_017, 1) == 0


def test_poisson_sources_are_independent_draws_of_the_run_seed() -> None:
    params = {**PARAMS, "arrival": "poisson", "rate_fps": 50.0}
    fr, again = frames(params, 2), frames(params, 2)
    assert np.array_equal(fr.offset_s, again.offset_s)  # reproducible
    a, b = (fr.offset_s[fr.source == s] for s in (0, 1))
    assert np.array_equal(a, build(**params).offset_s)  # source 0 is the single source
    assert len(a) != len(b) or not np.allclose(a, b)


def test_clients_send_whole_sources_round_robin() -> None:
    fr = frames(PARAMS, 3)
    parts = [portion(fr, i, 2) for i in range(2)]
    assert sorted(np.concatenate(parts).tolist()) == list(range(len(fr)))  # each row once
    assert set(fr.source[parts[0]]) == {0, 2} and set(fr.source[parts[1]]) == {1}
    assert sources_of_client(3, 0, 2) == [0, 2] and sources_of_client(1, 0, 2) == []
    with pytest.raises(ValueError, match="client index 2"):
        portion(fr, 2, 2)


def _spec(**kw) -> RunSpec:
    return RunSpec(**{"strategy": "ftp", "model": "yolov2-16", "grid": "2x2", "k": 2,
                      "sched": "wst", "rate_fps": 0.5, "duration_s": 10, **kw})


def test_spec_takes_sources_for_ftp_and_bodp_and_names_it_in_the_run_id() -> None:
    assert _spec(sources="2").sources == 2
    assert "-s2-" in _spec(sources=2, run_id="").run_id
    assert RunSpec(strategy="bodp", model="yolov2-16", k=3, sources=3).sources == 3
    assert _spec().sources == 1 and "-s" not in _spec().run_id.split("-k2")[1]


@pytest.mark.parametrize(("kw", "words"), [
    ({"strategy": "baseline", "model": "cao-dense", "sources": 2}, "baseline has one entry"),
    ({"strategy": "dp", "model": "cao-dense", "sources": 2}, "several sources are for ftp, bodp"),
    ({"sources": 3}, "3 sources need 3 devices"),
    ({"sources": 0}, f"1 .. {MAX_SOURCES}"),
    ({"sources": MAX_SOURCES + 1, "k": MAX_SOURCES + 1}, "id"),
    ({"sources": 2, "clients": "pi5,pi6,pi4"}, "3 clients"),
    ({"sources": "two"}, "must be an integer"),
])
def test_spec_refuses_bad_sources_by_the_option(kw: dict, words: str) -> None:
    with pytest.raises(SpecError, match=words) as err:
        _spec(**kw)
    assert err.value.field == "sources" and err.value.cli_message().startswith("--sources:")


def test_a_source_holds_at_most_its_id_range_of_frames() -> None:
    with pytest.raises(SpecError, match="at most 1000000") as err:
        _spec(sources=2, rate_fps=1000, duration_s=1000, warmup_s=1)
    assert err.value.field == "duration_s"
    _spec(sources=1, rate_fps=1000, duration_s=1000, warmup_s=1)  # one source: 24-bit IDs


def _plan(strategy: str, sched: str = "wsh", sources: int = 1, k: int = 3):
    from harness import strategies
    from harness.inventory import Host

    hosts = [Host(f"pi{i}", f"198.18.0.{10 + i}", "root", "", "rpi3bplus", True)
             for i in range(1, 2 + k)]
    sink = Host("sink", "198.18.0.1", "", "", "native", False)
    spec = RunSpec(strategy=strategy, model="yolov2-16", grid="2x2", k=k, sched=sched,
                   sources=sources)
    return spec, hosts, strategies.get(strategy).plan(spec, hosts, sink)


def test_each_source_posts_to_its_device_under_stealing_and_to_g_otherwise() -> None:
    from harness.experiment import _run_file
    from node_app.config import RunConfig

    for sched in ("wst", "wst-s"):
        spec, hosts, plan = _plan("ftp", sched, sources=2)
        assert plan.targets == [hosts[1].endpoint, hosts[2].endpoint]  # D0, D1; G is pi1
        client = "198.18.0.2"
        peers = {n.role: set(RunConfig.from_dict(_run_file(spec, plan, n, client)).peers)
                 for n in plan.workers}
        assert client in peers["D0"] and client in peers["D1"]
        assert client not in peers["D2"] and client not in peers["G"]
    assert _plan("ftp", "wst", sources=1)[2].targets == [_plan("ftp", "wst")[1][1].endpoint]
    for strategy, sched in (("ftp", "wsh"), ("bodp", "wsh")):
        _spec_, hosts, plan = _plan(strategy, sched, sources=3)
        assert plan.targets == [hosts[0].endpoint]  # G, the single source's one path


def test_load_config_carries_the_sources() -> None:
    from harness.load import load_config

    spec = _spec(sources=2)
    cfg = load_config(spec, ["a:1", "b:2"], 10, "out.csv")
    assert cfg["sources"] == 2 and cfg["targets"] == ["a:1", "b:2"]
    assert load_config(_spec(), ["a:1"], 10, "out.csv")["sources"] == 1


def test_sweep_runs_every_listed_source_count_up_to_each_k(monkeypatch) -> None:
    from harness.sweep import SweepSpec, _id_part, point_label

    sweep = SweepSpec(strategies=["ftp", "bodp", "baseline"], xs=[], devices=[1, 2, 3],
                      sources=["1", "2", "3"], scheds=["wst"],
                      run={"model": "yolov2-16", "grid": "2x2", "rate_fps": 0.5,
                           "duration_s": 10, "inventory": "inventory/lab.yml"})
    got = sorted((s.strategy, s.k, s.sources) for s in sweep.specs())
    want = sorted([(st, k, s) for st in ("ftp", "bodp") for k in (1, 2, 3)
                   for s in (1, 2, 3) if s <= k] + [("baseline", 2, 1)])
    assert got == want
    s3 = next(s for s in sweep.specs() if s.sources == 3 and s.strategy == "ftp")
    assert point_label(s3).endswith("wst S=3") and _id_part(s3).endswith("-wst-s3")
    with pytest.raises(SpecError, match="only ftp, bodp use it"):
        SweepSpec(strategies=["baseline"], xs=[], sources=["2"], run={})


@pytest.mark.parametrize(("task", "args", "message"), [
    ("experiment", ["--strategy=0", "--sources=2"],
     "--sources: baseline has one entry and one data source; several sources are for ftp, "
     "bodp, got 2"),
    ("experiment", ["--strategy=ftp", "--model=yolov2-16", "--devices=2", "--sources=3"],
     "--sources: 3 sources need 3 devices (source i is device Di), but --devices is 2"),
    ("sweep", ["--strategies=0", "--sources=1,2"], "--sources: only ftp, bodp use it"),
])
def test_fab_refuses_bad_sources_before_anything_starts(task, args, message) -> None:
    from lab_cli import fab, run_ids

    before = run_ids()
    proc = fab(task, *args, check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert "capacity bound" not in proc.stdout and "[1/" not in proc.stdout
    assert run_ids() == before


def test_fab_help_says_the_rate_is_per_source() -> None:
    from lab_cli import fab

    for task in ("experiment", "sweep"):
        text = " ".join(fab("--help", task).stdout.split())
        assert "--sources" in text and "per source" in text, text


# --------------------------------------------------------------------------- analysis

T0 = 1_700_000_000.0
LATENCY_S = (0.100, 0.300)  # source 0's frames take 100 ms, source 1's 300 ms
LOST = 1_000_003  # source 1's fourth frame is dropped at D1


def make_two_source_run(root, **spec_extra):
    """A hand-made ftp wst run with 2 sources at 2 fps each for 5 s (no warm-up), frames
    timed by the very schedule the load sends (harness/schedule.py `frames_of`)."""
    import json

    from test_analysis import write_run_files

    from harness.schedule import frames_of

    run_dir = root / "two"
    (run_dir / "traces").mkdir(parents=True)
    spec = {"run_id": "two", "strategy": "ftp", "sched": "wst", "k": 2, "sources": 2,
            "rate_fps": 2.0, "duration_s": 5.0, "warmup_s": 0.0, "arrival": "constant",
            "seed": 0, "started_at": T0, "profile": "zero",
            "targets": ["198.18.0.12:12345", "198.18.0.13:12345"],
            "nodes": [{"name": n, "role": r, "stages": [], "address": f"198.18.0.{a}:12345"}
                      for n, r, a in (("pi1", "G", 11), ("pi2", "D0", 12), ("pi3", "D1", 13),
                                      ("sink", "sink", 1))], **spec_extra}
    (run_dir / "spec.json").write_text(json.dumps(spec))
    fr = frames_of(spec)
    client, traces = [], {"pi2": [], "pi3": [], "sink": []}
    for off, pid, src, step in zip(fr.offset_s, fr.pid, fr.source, fr.step, strict=True):
        t = T0 + off
        node = ("pi2", "pi3")[src]
        client.append([pid, "warmup" if step < 0 else "measure", f"{t:.6f}", f"{t + 0.001:.6f}",
                       200, 1, 0, 0, 1.0, spec["targets"][src]])
        traces[node].append([t + 0.002, pid, node, "received", 0])
        if pid == LOST:
            traces[node].append([t + 0.003, pid, node, "dropped", "register_failed"])
            continue
        traces["sink"].append([t + LATENCY_S[src], pid, "sink", "received", ""])
    write_run_files(run_dir, client, traces)
    return run_dir


def test_summary_gives_each_source_and_the_worst(tmp_path) -> None:
    from harness.analysis import load_run, summarize

    s = summarize(load_run(make_two_source_run(tmp_path)))
    assert s["offered_fps"] == 4.0  # 2 sources x 2 fps
    assert s["sent"] == 20 and s["delivered"] == 19
    first, second = s["sources"]
    assert (first["source"], first["first_id"], first["target"]) == (0, 0, "198.18.0.12:12345")
    assert (second["source"], second["first_id"]) == (1, 1_000_000)
    assert (first["sent"], first["delivered"], second["sent"], second["delivered"]) == (
        10, 10, 10, 9)
    assert second["coverage"] == 0.9
    for row, lat in zip(s["sources"], LATENCY_S, strict=True):
        for p in ("p50", "p99", "max"):
            assert row["latency_ms"][p] == pytest.approx(lat * 1000, abs=1e-3)
        assert row["send_lag_ms"]["p99"] == pytest.approx(1.0, abs=1e-3)
    # the measure window is the run's 5 s, though source 1 starts a quarter second late
    assert s["window"]["length_s"] == pytest.approx(5.0)
    assert (first["delivered_fps"], second["delivered_fps"]) == (2.0, 1.8)
    assert s["max_source_latency_ms"] == pytest.approx(300.0, abs=1e-3)
    assert s["throughput_fps"] == 3.8 == s["delivered_fps"]
    assert s["drops"] == {"pi3": {"register_failed": 1}}


def test_a_single_source_summary_has_no_source_fields(tmp_path) -> None:
    from test_analysis import make_run

    from harness.analysis import load_run, summarize

    s = summarize(load_run(make_run(tmp_path)))
    assert "sources" not in s and "max_source_latency_ms" not in s and s["offered_fps"] == 10.0


def test_rate_steps_count_every_sources_frames(tmp_path) -> None:
    from harness.analysis import load_run, step_table

    run = load_run(make_two_source_run(tmp_path, rates=[2.0], step_s=5.0))
    steps = step_table(run)
    assert steps["scheduled"].tolist() == [20] and steps["sent"].tolist() == [20]
    assert steps["delivered"].tolist() == [19]


def test_no_prediction_for_several_sources() -> None:
    from harness.predict import why_not

    spec = {"strategy": "ftp", "sched": "wsh", "sources": 2, "arrival": "constant"}
    assert "one data source" in why_not(spec)


def test_run_report_has_the_source_table(tmp_path) -> None:
    from harness.analysis import load_run, summarize
    from harness.report import write_run_report

    run_dir = make_two_source_run(tmp_path)
    s = summarize(load_run(run_dir))
    html = write_run_report(run_dir, s, tmp_path / "two.html").read_text()
    assert "<h2>Data sources</h2>" in html and "offered fps (2 sources)" in html
    assert "1000000" in html and "198.18.0.13:12345" in html and "300.0" in html
    single = tmp_path / "one"
    single.mkdir()
    from test_analysis import make_run

    one = make_run(single)
    assert "Data sources" not in write_run_report(one, None, single / "one.html").read_text()


# --------------------------------------------------------------------------- Locust

SRC_RATE = 20.0  # per source
SRC_S = 1.5


def _nodes(n: int):
    import threading

    from test_load import StallNode

    nodes = [StallNode(None) for _ in range(n)]
    for node in nodes:
        threading.Thread(target=node.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
    return nodes


def _stop(nodes) -> None:
    for node in nodes:
        node.shutdown()
        node.server_close()


def _config(run_dir, nodes, sources: int) -> dict:
    return {"schedule": {"arrival": "constant", "seed": 0, "rate_fps": SRC_RATE,
                         "warmup_s": 0.0, "duration_s": SRC_S},
            "sources": sources, "frame_seed": 0, "input_size": 100,
            "targets": [n.endpoint for n in nodes], "out": str(run_dir / "client.csv"),
            "max_in_flight": 100}


def test_one_locust_run_sends_each_source_to_its_own_entry(tmp_path) -> None:
    """Two sources, two entries: each entry gets exactly its source's frames (IDs in the
    source's range), each at its intended time, one client.csv for both."""
    import json

    from harness.analysis import load_run
    from harness.load import run_load

    run_dir = tmp_path / "local"
    run_dir.mkdir()
    nodes = _nodes(2)
    try:
        code = run_load(_config(run_dir, nodes, 2), run_dir,
                        out=open("/dev/null", "w"))  # noqa: SIM115
    finally:
        _stop(nodes)
    assert code == 0, (run_dir / "locust.log").read_text()[-2000:]
    n = int(SRC_RATE * SRC_S)
    for s, node in enumerate(nodes):
        assert sorted(pid for _t, pid in node.rows) == [first_id(s) + i for i in range(n)]
    sched = _config(run_dir, nodes, 2)["schedule"]
    (run_dir / "spec.json").write_text(json.dumps({"run_id": "local", **sched, "sources": 2}))
    c = load_run(run_dir).client.sort_values("intended_t")
    fr = frames(sched | {"rates": [], "step_s": 0.0}, 2)
    assert c["packet_id"].tolist() == fr.pid.tolist()  # the merged schedule, in its order
    intended = c["intended_t"].to_numpy(float)
    np.testing.assert_allclose(intended - intended[0], fr.offset_s - fr.offset_s[0], atol=2e-6)
    assert set(c["target"].astype(str)) == {nodes[0].endpoint, nodes[1].endpoint}
    by_target = c.groupby(c["target"].astype(str))["packet_id"].min().to_dict()
    assert by_target == {nodes[0].endpoint: 0, nodes[1].endpoint: ID_STRIDE}


def test_distributed_load_splits_whole_sources_round_robin(tmp_path) -> None:
    """Three sources, two Locust workers (distributed mode): w0 sends sources 0 and 2 whole,
    w1 source 1; one merged client.csv and one summary with a row per source."""
    import json

    from harness.analysis import load_run, summarize
    from harness.load_dist import Worker, run_distributed

    run_dir = tmp_path / "dist"
    run_dir.mkdir()
    nodes = _nodes(3)
    cfg = _config(run_dir, nodes, 3)
    try:
        code = run_distributed(cfg, run_dir, [Worker("w0"), Worker("w1")], "127.0.0.1",
                               out=open("/dev/null", "w"))  # noqa: SIM115
    finally:
        _stop(nodes)
    logs = "\n".join(p.read_text(errors="replace")[-1500:] for p in run_dir.glob("locust*.log"))
    assert code == 0, logs
    n = int(SRC_RATE * SRC_S)
    for s, node in enumerate(nodes):
        assert sorted(pid for _t, pid in node.rows) == [first_id(s) + i for i in range(n)]
    spec = {"run_id": "dist", "strategy": "ftp", "sources": 3, **cfg["schedule"],
            "lag_threshold_ms": 50.0, "min_duration_s": 1.0, "min_frames": 10,
            "client": "controller", "clients": ["w0", "w1"], "targets": cfg["targets"],
            "nodes": [{"name": "sink", "role": "sink", "stages": []}]}
    (run_dir / "spec.json").write_text(json.dumps(spec))
    c = load_run(run_dir).client
    got = {w: sorted(set(source_of(g["packet_id"].to_numpy(), 3)))
           for w, g in c.groupby(c["worker"].astype(str))}
    assert got == {"w0": [0, 2], "w1": [1]}
    done = json.loads((run_dir / "workers.json").read_text())["done"]
    assert {w: (d["sources"], d["sent"]) for w, d in done.items()} == {
        "w0": ([0, 2], 2 * n), "w1": ([1], n)}
    trace = run_dir / "traces" / "sink.csv"
    rows = [(t, pid) for node in nodes for t, pid in node.rows]
    nodes[0].rows = sorted(rows)
    nodes[0].write_trace(trace)
    s = summarize(load_run(run_dir))
    assert [r["sent"] for r in s["sources"]] == [n, n, n]
    assert [r["delivered"] for r in s["sources"]] == [n, n, n]
    assert s["offered_fps"] == 3 * SRC_RATE and s["max_source_latency_ms"] is not None
    assert abs(s["throughput_fps"] / (3 * SRC_RATE) - 1) < 0.01


def test_distributed_load_refuses_more_workers_than_sources(tmp_path) -> None:
    from harness.load_dist import Worker, run_distributed

    cfg = {"schedule": {"arrival": "constant", "rate_fps": 1.0, "duration_s": 1.0},
           "sources": 2, "targets": ["127.0.0.1:1"]}
    with pytest.raises(ValueError, match="3 workers need at least as many sources"):
        run_distributed(cfg, tmp_path, [Worker(f"w{i}") for i in range(3)], "127.0.0.1")


# --------------------------------------------------------------------------- sweep report

SWEEP = {  # (strategy, S) -> (throughput fps, worst source's p50 ms), K = 6
    ("ftp", 1): (0.20, 2000.0), ("ftp", 2): (0.26, 2600.0), ("ftp", 6): (0.30, 6000.0),
    ("bodp", 1): (0.09, 3000.0), ("bodp", 6): (0.10, 12000.0),
}


def _sweep_point(strategy: str, sources: int, fps: float, lat: float) -> dict:
    ftp = strategy == "ftp"
    return {"run_id": f"t-{strategy}-s{sources}", "strategy": strategy, "x": None, "k": 6,
            "grid": "3x3" if ftp else None, "sched": "wst-s" if ftp else None,
            "sources": sources, "model": "yolov2-16", "queue_size": 5, "seed": 0,
            "profile": "rpi3bplus", "capacity_fps": None, "capacity_note": None,
            "coverage": 1.0, "delivered_fps": fps, "latency_p50_ms": lat,
            "latency_p95_ms": lat, "max_source_latency_ms": lat,
            "predicted_coverage": None, "predicted_delivered_fps": None,
            "predicted_latency_p50_ms": None, "predicted_hop_ms": None,
            "wire_bytes_per_frame": None, "l2_weights_bytes_per_device": None,
            "peak_memory_bytes_per_device": None, "switches": 0, "warnings": ""}


def test_sweep_page_draws_throughput_and_max_latency_against_sources(tmp_path) -> None:
    import re

    import pandas as pd

    from harness.analysis import source_curves
    from harness.report import write_sweep

    points = pd.DataFrame([_sweep_point(st, s, *v) for (st, s), v in SWEEP.items()])
    curves = source_curves(points)
    got = {(r.line, r.sources): (r.throughput_fps, r.latency_ratio) for r in curves.itertuples()}
    assert got[("ftp 3x3 wst-s K=6", 6)] == (0.30, 3.0)
    assert got[("bodp K=6", 6)] == (0.10, 4.0) and got[("ftp 3x3 wst-s K=6", 1)][1] == 1.0
    html = write_sweep(points, pd.DataFrame(), {"rate_fps": 0.5}, tmp_path / "s.html").read_text()
    assert "Throughput against data sources" in html and "Maximum latency against data" in html
    assert "DeepThings reported: FTP-WST-S 0.29 FPS" in html  # the star's legend
    assert "DeepThings reported: FTP-WST-S 3.1x" in html
    row = re.search(r'<tr><td class="l">ftp 3x3 wst-s K=6</td><td class="">6</td>(.*?)</tr>',
                    html, re.S)
    assert row, html[-3000:]
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1))
    assert cells[:4] == ["0.3", "6000", "3", "0.29 FPS; 3.1x"]  # _fmt drops trailing zeros
    assert '<td class="l">bodp K=6</td><td class="">6</td><td class="">0.1</td>' in html
    assert "0.12 FPS</td>" in html
    # the single-source points still make the devices figures; the note points below
    assert "in the section below" in html
    assert "ftp 3x3 wst-s S=6" in html  # every point's row names its sources
    # a sweep at one source count draws no sources figures
    one = points[points["sources"] == 1]
    assert source_curves(one).empty
    html1 = write_sweep(one, pd.DataFrame(), {}, tmp_path / "one.html").read_text()
    assert "Throughput against data sources" not in html1 and "not in this sweep" in html1


def test_deepthings_rows_work_out_the_source_numbers() -> None:
    from harness.seeds import deepthings

    runs = []
    for (strategy, s), (fps, lat) in SWEEP.items():
        spec = {"strategy": strategy, "k": 6, "sources": s,
                "grid": "3x3" if strategy == "ftp" else None,
                "sched": "wst-s" if strategy == "ftp" else "wsh"}
        summary = {"delivered_fps": fps, "latency_ms": {"p50": lat}}
        if s > 1:  # a multi-source summary's list over the spec's number, as merged
            summary |= {"sources": [{}] * s, "max_source_latency_ms": lat}
        runs.append({**spec, **summary})
    rows = {r[0]: r[1] for r in deepthings.rows(runs)}
    assert rows["throughput with 6 data sources, FTP vs BODP"] == (
        "0.30 FPS (ftp 3x3 wst-s k 6) vs 0.10 FPS (bodp k 6)")
    assert rows["max latency from 1 to 6 data sources, FTP"] == (
        "3.0x (ftp 3x3 wst-s k 6, 2.00 s -> 6.00 s)")
    # single-source figures never take a multi-source run: with a single device at 4 s the
    # speedup at 6 devices is over the one-source run's 2 s, not a six-source run's 6 s
    single = {"strategy": "ftp", "k": 1, "grid": "1x1", "sched": "wsh",
              "latency_ms": {"p50": 4000.0}}
    six_first = sorted(runs, key=lambda r: -deepthings.source_count(r))
    rows = {r[0]: r[1] for r in deepthings.rows([single, *six_first])}
    assert rows["speedup, FTP at 6 devices"] == "2.0x (ftp wst-s, 2.00 s)"
    no_six = [r for r in runs if deepthings.source_count(r) != 6]
    rows = {r[0]: r[1] for r in deepthings.rows(no_six)}
    assert rows["throughput with 6 data sources, FTP vs BODP"].startswith("not measured")
