"""Several load clients through Locust's distributed mode (harness/load_dist.py, issue 17).

A real distributed run on loopback: a Locust master and two Locust workers as processes on
this machine (no SSH), against a real HTTP node on 127.0.0.1 (tests/test_load.py's
StallNode, without a stall) that is its own sink. Two clients at 100 fps each share one
schedule of 200 fps: every frame is sent exactly once, each worker its interleaved half,
all against the one start time the master sent, and the merged client.csv gives one summary.
Worker w1 is told its clock is 20 ms ahead of the controller's (one kernel clock here, so it
really sends 20 ms late), and clocks.json says so: the analysis puts its stamps back on the
controller's clock, and the merged intended times are again the one schedule.
"""

from __future__ import annotations

import csv
import json
import threading
from pathlib import Path

import numpy as np
import pytest
from test_load import StallNode  # tests/ is on sys.path (rootdir)

from harness.analysis import load_run, summarize
from harness.load_dist import Worker, merge_parts, run_distributed
from harness.report import write_run_report
from harness.schedule import build, share

RATE = 200.0  # 2 x 100 fps
MEASURE_S = 3.0
WARMUP_S = 0.5
WORKERS = ("w0", "w1")
W1_OFFSET_S = 0.020  # w1's clock minus the controller's, as if measured (harness/clocks.py)


def test_shares_cover_the_schedule_once_and_interleave() -> None:
    for n in (0, 1, 7, 600):
        for count in (1, 2, 3, 5):
            parts = [list(share(n, i, count)) for i in range(count)]
            assert sorted(sum(parts, [])) == list(range(n)), (n, count)
            for i, p in enumerate(parts):
                assert all(pid % count == i for pid in p)
    with pytest.raises(ValueError, match="client index 2"):
        share(10, 2, 2)


def _part(path: Path, worker: str, ids: list[int]) -> Path:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["packet_id", "sent_t", "worker"])
        w.writerows([pid, f"{pid / 10:.6f}", worker] for pid in ids)
    return path


def test_merge_sorts_by_packet_id_and_reports_a_missing_part(tmp_path: Path) -> None:
    parts = {"pi5": _part(tmp_path / "a.csv", "pi5", [0, 2, 4]),
             "pi6": _part(tmp_path / "b.csv", "pi6", [1, 3]),
             "pi7": tmp_path / "never-written.csv"}
    merged = merge_parts(parts, tmp_path / "client.csv")
    assert merged.rows == {"pi5": 3, "pi6": 2} and merged.missing == ["pi7"]
    assert merged.duplicates == []
    with open(tmp_path / "client.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["packet_id", "sent_t", "worker"]
    assert [(int(r[0]), r[2]) for r in rows[1:]] == [
        (0, "pi5"), (1, "pi6"), (2, "pi5"), (3, "pi6"), (4, "pi5")]


def test_merge_refuses_a_part_holding_another_workers_rows(tmp_path: Path) -> None:
    parts = {"pi5": _part(tmp_path / "a.csv", "pi6", [0, 2])}
    with pytest.raises(ValueError, match="rows of worker"):
        merge_parts(parts, tmp_path / "client.csv")
    twice = {"pi5": _part(tmp_path / "c.csv", "pi5", [0, 2]),
             "pi6": _part(tmp_path / "d.csv", "pi6", [1, 2])}
    assert merge_parts(twice, tmp_path / "client.csv").duplicates == [2]


@pytest.fixture(scope="module")
def dist_run(tmp_path_factory) -> tuple[Path, int]:
    """One distributed run: master + 2 local workers, 2 x 100 fps for 3 s (+0.5 s warm-up)."""
    run_dir = tmp_path_factory.mktemp("dist") / "dist"
    run_dir.mkdir()
    node = StallNode(None)
    thread = threading.Thread(target=node.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    sched = {"arrival": "constant", "seed": 0, "rate_fps": RATE, "warmup_s": WARMUP_S,
             "duration_s": MEASURE_S}
    config = {"schedule": sched, "frame_seed": 0, "input_size": 100,
              "targets": [node.endpoint], "out": str(run_dir / "client.csv"),
              "max_in_flight": 1000}
    try:
        workers = [Worker("w0"), Worker("w1", clock_offset_s=W1_OFFSET_S)]
        code = run_distributed(config, run_dir, workers, "127.0.0.1",
                               out=open("/dev/null", "w"))  # noqa: SIM115
    finally:
        node.shutdown()
        node.server_close()
    node.write_trace(run_dir / "traces" / "sink.csv")
    spec = {"run_id": "dist", "strategy": "baseline", **sched, "lag_threshold_ms": 5.0,
            "min_duration_s": 3.0, "min_frames": 100, "client": "controller",
            "clients": list(WORKERS), "nodes": [{"name": "sink", "role": "sink", "stages": []}]}
    (run_dir / "spec.json").write_text(json.dumps(spec))
    measured = {"offset_ms": W1_OFFSET_S * 1000, "uncertainty_ms": 0.0, "rtt_ms": 0.0,
                "at": 0.0, "samples": 1}
    clocks = {"hosts": {}, "clients": {
        "w0": {"host": "w0", "start": {**measured, "offset_ms": 0.0}},
        "w1": {"host": "w1", "start": measured}}}
    (run_dir / "clocks.json").write_text(json.dumps(clocks))
    return run_dir, code


def _logs(run_dir: Path) -> str:
    return "\n".join(f"== {p.name}\n{p.read_text(errors='replace')[-1500:]}"
                     for p in sorted(run_dir.glob("locust*.log")))


def test_every_frame_is_sent_once_each_worker_its_interleaved_share(dist_run) -> None:
    run_dir, code = dist_run
    assert code == 0, _logs(run_dir)
    total = len(build(arrival="constant", rate_fps=RATE, warmup_s=WARMUP_S,
                      duration_s=MEASURE_S))
    c = load_run(run_dir).client
    assert sorted(c["packet_id"]) == list(range(total)), _logs(run_dir)
    for i, name in enumerate(WORKERS):
        mine = c[c["worker"].astype(str) == name]["packet_id"].to_numpy()
        assert sorted(mine) == list(share(total, i, len(WORKERS)))
        part = run_dir / f"client-{name}.csv"  # the worker's own part, as it wrote it
        assert sum(1 for _ in open(part)) == len(mine) + 1
    assert (c["status"] == 200).all()
    # Locust's distributed mode carried it: the master got each worker's report, from two
    # distinct Locust workers.
    done = json.loads((run_dir / "workers.json").read_text())["done"]
    assert {n: d["sent"] for n, d in done.items()} == {n: total // 2 for n in WORKERS}
    assert sorted(d["locust_worker_index"] for d in done.values()) == [0, 1]


def test_one_start_time_for_both_workers(dist_run) -> None:
    """On the controller's clock the merged intended times are the one schedule's offsets
    from one start: the workers did not each start their own clock, and w1 added its
    measured offset to the master's start (its raw stamps are 20 ms later than w0's)."""
    run_dir, _ = dist_run
    sched = build(arrival="constant", rate_fps=RATE, warmup_s=WARMUP_S, duration_s=MEASURE_S)
    c = load_run(run_dir).client.sort_values("packet_id")
    intended = c["intended_t"].to_numpy(float)
    np.testing.assert_allclose(intended - intended[0], sched.offset_s - sched.offset_s[0],
                               atol=2e-6)
    raw = load_run(run_dir, correct=False).client.sort_values("packet_id")
    shift = raw["intended_t"].to_numpy(float) - intended
    w1 = raw["worker"].astype(str).to_numpy() == "w1"
    np.testing.assert_allclose(shift[w1], W1_OFFSET_S, atol=2e-6)
    np.testing.assert_allclose(shift[~w1], 0.0, atol=2e-6)


def test_one_summary_lists_both_workers_at_the_target_rate(dist_run, tmp_path: Path) -> None:
    run_dir, _ = dist_run
    s = summarize(load_run(run_dir))
    assert s["sent"] == int(RATE * MEASURE_S) and s["delivered"] == s["sent"]
    assert abs(s["achieved_send_fps"] / RATE - 1) < 0.02, s["achieved_send_fps"]
    assert [c["worker"] for c in s["clients"]] == list(WORKERS)
    for c in s["clients"]:
        assert c["sent"] == int(RATE * MEASURE_S) // 2
        assert abs(c["achieved_send_fps"] / (RATE / 2) - 1) < 0.02, c
        assert c["send_lag_ms"]["p99"] is not None and c["send_lag_ms"]["p50"] >= 0
    lags = [c["send_lag_ms"]["max"] for c in s["clients"]]
    assert s["send_lag_ms"]["max"] == max(lags)
    assert s["clocks"]["hosts"]["client w1"]["offset_ms_start"] == W1_OFFSET_S * 1000
    html = write_run_report(run_dir, s, tmp_path / "dist.html").read_text()
    assert "load clients" in html and "w0: 300" in html and "w1: 300" in html


def test_clock_log_measures_each_client_and_gives_its_offset() -> None:
    """ClockLog with `clients`: each worker host's clock over SSH, by name, and the offsets
    a worker adds to the master's start (0 for one that could not be measured)."""
    from harness.clocks import ClockLog
    from harness.inventory import Host

    hosts = [Host(n, a, "root", "", "rpi3bplus", True)
             for n, a in (("pi5", "198.18.0.15"), ("pi6", "198.18.0.16"))]

    def ssh(host):
        if host.name == "pi6":
            raise OSError("no route to host")
        return {"offset_ms": 4.5, "uncertainty_ms": 1.0, "at": 1.0, "via": "ssh"}

    log = ClockLog({}, None, clients=hosts)
    log.measure("start", ssh_fn=ssh)
    assert log.doc["clients"]["pi5"]["start"]["offset_ms"] == 4.5
    assert "no route" in log.doc["clients"]["pi6"]["start"]["error"]
    assert log.client_offsets_s("start") == {"pi5": 0.0045, "pi6": 0.0}


def test_entry_nodes_accept_frames_from_every_client() -> None:
    """strict_peers: the entry node's peers are all the workers' addresses."""
    from harness import strategies
    from harness.experiment import _run_file
    from harness.inventory import Host
    from harness.spec import RunSpec

    spec = RunSpec(strategy="baseline", clients="pi5,pi6")
    hosts = [Host(f"pi{i}", f"198.18.0.{10 + i}", "root", "", "rpi3bplus", True)
             for i in (1, 2)]
    plan = strategies.get("baseline").plan(spec, hosts,
                                           Host("sink", "198.18.0.1", "", "", "native", False))
    clients = ["198.18.0.15", "198.18.0.16"]
    entry, second = plan.workers[0], plan.workers[1]
    assert set(clients) <= set(_run_file(spec, plan, entry, clients)["peers"])
    assert not set(clients) & set(_run_file(spec, plan, second, clients)["peers"])
