"""Analysis on small synthetic runs whose every figure is known in advance.

The default run: 10 warm-up frames then 100 measure frames at 10 fps (intended times
T0 + 0.1 i), client -> A -> B -> sink. Each frame reaches the sink 50 ms after its intended
send time; B drops measure frames 20..39 (`queue_full`). Scenarios add a stalled client send,
a frame that vanishes, client errors, and B dying mid-run.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from harness.analysis import (
    latencies_ms,
    load_run,
    per_second_counts,
    queue_depth_per_second,
    summarize,
    utilisation_per_second,
)

T0 = 1_700_000_000.0
RATE = 10.0
WARMUP = 10
MEASURE = 100
B_DROPS = range(WARMUP + 10, WARMUP + 30)  # 20 measure IDs (20..39)


def make_run(
    root: Path,
    run_id: str = "r1",
    *,
    stall_ids: tuple[int, ...] = (),
    vanish_ids: tuple[int, ...] = (),
    client_error_ids: tuple[int, ...] = (),
    rejected_ids: tuple[int, ...] = (),
    b_dies_at: float | None = None,
    bool_words: bool = False,
    b_drops: bool = True,
    extra_spec: dict | None = None,
) -> Path:
    """Write a run directory; see the module docstring for what it contains.

    stall_ids: the client sends these 1 s late (their sink arrival is 1 s late too).
    vanish_ids: A forwards them, then no trace anywhere mentions them again.
    client_error_ids: the client got no answer (status 0); no node saw them.
    rejected_ids: A answered 400 and traced `rejected bad_body_size`.
    b_dies_at: B and everything after it stop at this offset (s from T0); A then records
        `forward_failed connect_error` for the frames it could not hand to B.
    b_drops: False = B drops nothing (every frame is delivered: a clean run).
    """
    run_dir = root / run_id
    (run_dir / "traces").mkdir(parents=True)
    spec = {
        "run_id": run_id, "strategy": "baseline", "rate_fps": RATE, "duration_s": 10.0,
        "warmup_s": 1.0, "profile": "rpi3bplus", "capacity_fps": 16.0, "started_at": T0,
        "git_commit": "abc123", "versions": {"numpy": np.__version__},
        "nodes": [
            {"name": "A", "role": "A", "stages": ["L1"], "address": "198.18.0.11:12345"},
            {"name": "B", "role": "B", "stages": ["L2"], "address": "198.18.0.12:12345"},
            {"name": "sink", "role": "sink", "stages": [], "address": "198.18.0.1:12345"},
        ],
        **(extra_spec or {}),
    }
    (run_dir / "spec.json").write_text(json.dumps(spec))
    client, a, b, sink = [], [], [], []
    yes, no = ("True", "False") if bool_words else ("1", "0")
    for pid in range(WARMUP + MEASURE):
        intended = T0 + pid / RATE
        sent = intended + 0.001 + (1.0 if pid in stall_ids else 0.0)
        phase = "warmup" if pid < WARMUP else "measure"
        status = 0 if pid in client_error_ids else 400 if pid in rejected_ids else 200
        accepted = yes if status == 200 else no
        client.append([pid, phase, f"{intended:.6f}", f"{sent:.6f}", status, accepted, no,
                       1 if status == 200 else "", 1.5, "198.18.0.11:12345"])
        if status == 0:
            continue
        if status == 400:
            a.append([sent + 0.001, pid, "A", "rejected", "bad_body_size"])
            continue
        a += [[sent + 0.001, pid, "A", "received", 1], [sent + 0.002, pid, "A", "started", 0],
              [sent + 0.012, pid, "A", "finished", "2.0:10.0"]]
        if b_dies_at is not None and intended >= T0 + b_dies_at:
            a.append([sent + 0.013, pid, "A", "forward_failed", "connect_error"])
            continue
        a.append([sent + 0.013, pid, "A", "forwarded", "198.18.0.12:12345"])
        if pid in vanish_ids:
            continue
        if b_drops and pid in B_DROPS:
            b.append([sent + 0.014, pid, "B", "dropped", "queue_full"])
            continue
        b += [[sent + 0.014, pid, "B", "received", 2], [sent + 0.015, pid, "B", "started", 1],
              [sent + 0.035, pid, "B", "finished", "5.0:20.0"],
              [sent + 0.036, pid, "B", "forwarded", "198.18.0.1:12345"]]
        late = 5.0 if phase == "warmup" else 0.0  # warm-up latency must not leak in
        sink.append([intended + 0.050 + late + (sent - intended - 0.001), pid, "sink",
                     "received", ""])
    write_run_files(run_dir, client, {"A": a, "B": b, "sink": sink})
    return run_dir


def _write(path: Path, header: str, rows: list[list]) -> None:
    with path.open("w", newline="") as fh:
        fh.write(header + "\n")
        csv.writer(fh, lineterminator="\n").writerows(rows)


def write_run_files(run_dir: Path, client: list[list], traces: dict[str, list[list]]) -> None:
    """A synthetic run's client.csv and one trace per node (rows [t, packet_id, node, event,
    detail], written in time order as a node writes them)."""
    _write(run_dir / "client.csv", "packet_id,phase,intended_t,sent_t,status,accepted,"
           "overloaded,queue_depth,reply_ms,target", client)
    for name, rows in traces.items():
        rows = [[f"{r[0]:.6f}", *r[1:]] for r in sorted(rows, key=lambda r: r[0])]
        _write(run_dir / "traces" / f"{name}.csv", "t,packet_id,node,event,detail", rows)


@pytest.fixture()
def base(tmp_path: Path) -> dict:
    return summarize(load_run(make_run(tmp_path)))


def test_counts_rates_and_coverage(base: dict) -> None:
    assert base["run_id"] == "r1"
    assert base["strategy"] == "baseline"
    assert base["sent"] == 100
    assert base["delivered"] == 80
    assert base["coverage"] == 0.8
    assert base["offered_fps"] == 10.0
    assert base["achieved_send_fps"] == pytest.approx(10.0, abs=1e-3)
    assert base["window"]["start"] == pytest.approx(T0 + 1.0)
    assert base["window"]["length_s"] == pytest.approx(10.0)
    assert base["delivered_fps"] == pytest.approx(8.0)
    assert base["capacity_fps"] == 16.0
    assert base["efficiency"] == pytest.approx(0.8)
    assert base["warmup_frames"] == 10


def test_drops_and_accounting(base: dict) -> None:
    assert base["drops"] == {"B": {"queue_full": 20}}
    assert base["drops_total"] == 20
    assert base["lost"] == 20
    assert base["lost_unaccounted"] == 0
    assert base["warnings"] == []
    assert base["traces_ending_early"] == []


def test_latency_from_intended_time_excludes_warmup(base: dict) -> None:
    lat = base["latency_ms"]
    assert lat["p50"] == pytest.approx(50.0, abs=1e-3)
    assert lat["p99"] == pytest.approx(50.0, abs=1e-3)
    assert lat["max"] == pytest.approx(50.0, abs=1e-3)  # warm-up frames took 5050 ms


def test_stalled_send_shows_in_p99(tmp_path: Path) -> None:
    run = load_run(make_run(tmp_path, stall_ids=(60,)))
    s = summarize(run)
    lat = s["latency_ms"]
    # 79 frames at 50 ms, one at 1050 ms (49 ms after its late actual send)
    assert lat["p50"] == pytest.approx(50.0, abs=1e-3)
    assert lat["p95"] == pytest.approx(50.0, abs=1e-3)
    assert lat["p99"] == pytest.approx(50.0 + 0.21 * 1000.0, abs=1e-2)  # linear interpolation
    assert lat["max"] == pytest.approx(1050.0, abs=1e-3)
    assert lat["mean"] == pytest.approx(62.5, abs=1e-3)
    assert len(latencies_ms(run)) == 80


def test_node_stats(base: dict) -> None:
    a, b, sink = base["nodes"]["A"], base["nodes"]["B"], base["nodes"]["sink"]
    assert (a["received"], a["processed"], a["dropped"], a["forwarded"]) == (100, 100, 0, 100)
    assert (b["received"], b["processed"], b["dropped"]) == (80, 80, 20)
    assert a["service_ms_mean"] == 10.0 and a["real_ms_mean"] == 2.0
    assert b["service_ms_mean"] == 20.0 and b["real_ms_mean"] == 5.0
    assert a["utilisation"] == pytest.approx(0.1, abs=1e-4)  # 100 x 10 ms in 10 s
    assert b["utilisation"] == pytest.approx(0.16, abs=1e-4)  # 80 x 20 ms in 10 s
    assert (a["queue_depth_mean"], a["queue_depth_max"]) == (1.0, 1)
    assert (b["queue_depth_mean"], b["queue_depth_max"]) == (2.0, 2)
    assert sink["received"] == 80 and sink["queue_depth_mean"] is None
    assert a["role"] == "A" and b["stages"] == ["L2"]


def test_vanished_frame_is_unaccounted(tmp_path: Path) -> None:
    s = summarize(load_run(make_run(tmp_path, vanish_ids=(100,))))
    assert s["delivered"] == 79
    assert s["lost_unaccounted"] == 1
    assert any("lost_unaccounted" in w for w in s["warnings"])


def test_client_errors_and_rejects(tmp_path: Path) -> None:
    s = summarize(load_run(make_run(tmp_path, client_error_ids=(105,), rejected_ids=(106,),
                                    bool_words=True)))
    assert s["drops"]["client"] == {"client_error": 1}
    assert s["drops"]["A"] == {"rejected:bad_body_size": 1}
    assert s["drops"]["B"] == {"queue_full": 20}
    assert s["delivered"] == 78
    assert s["lost_unaccounted"] == 0


def test_accepts_true_false_words(tmp_path: Path) -> None:
    run = load_run(make_run(tmp_path, client_error_ids=(105,), bool_words=True))
    assert run.client["accepted"].dtype == bool
    assert int(run.client["accepted"].sum()) == 109


def test_node_dying_is_flagged(tmp_path: Path) -> None:
    s = summarize(load_run(make_run(tmp_path, b_dies_at=6.0)))
    assert s["drops"]["A"] == {"forward_failed:connect_error": 50}
    assert s["delivered"] == 30
    assert s["lost_unaccounted"] == 0
    assert s["traces_ending_early"] == ["B", "sink"]  # both stop ~5 s before A
    assert s["trace_ends"]["A"] == pytest.approx(T0 + 10.9 + 0.014, abs=1e-6)


def test_flags_copied_from_spec(tmp_path: Path) -> None:
    s = summarize(load_run(make_run(tmp_path, extra_spec={"interrupted": "SIGINT"})))
    assert s["interrupted"] == "SIGINT"
    assert s["warnings"] == ["run was interrupted: SIGINT"]


def test_torn_trace_line_is_tolerated(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path)
    with (run_dir / "traces" / "B.csv").open("a") as fh:
        fh.write("1700000011.000000,109,B,fini")  # node killed mid-write
    s = summarize(load_run(run_dir))
    assert s["delivered"] == 80 and s["nodes"]["B"]["processed"] == 80


def test_timeseries(tmp_path: Path) -> None:
    run = load_run(make_run(tmp_path))
    counts = per_second_counts(run)
    assert counts["sent"].sum() == 100 and counts["delivered"].sum() == 80
    assert counts["dropped"].sum() == 20
    assert counts["sent"].iloc[0] == 10
    util = utilisation_per_second(run)
    assert list(util.columns) == ["A", "B"]
    assert util["A"].sum() == pytest.approx(1.0, abs=1e-4)
    assert util["B"].sum() == pytest.approx(1.6, abs=1e-4)
    depth = queue_depth_per_second(run)
    assert set(depth["node"]) == {"A", "B"}
    assert depth.loc[depth["node"] == "B", "max"].max() == 2


def test_empty_run(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path)
    (run_dir / "client.csv").write_text("packet_id,phase,intended_t,sent_t,status,accepted,"
                                        "overloaded,queue_depth,reply_ms,target\n")
    s = summarize(load_run(run_dir))
    assert s["sent"] == 0 and s["coverage"] is None and s["latency_ms"]["p50"] is None
    json.dumps(s)


def test_stopped_event_separates_a_dead_node_from_an_idle_one(tmp_path):
    """With `stopped` rows (node_app writes one on a clean stop) a node whose trace ends
    early but closed cleanly is idle, not dead; a node without one died."""
    run_dir = make_run(tmp_path, b_dies_at=T0 + 5.0)
    for name in ("A", "B", "sink"):
        trace = run_dir / "traces" / f"{name}.csv"
        rows = trace.read_text().splitlines()
        last_t = float(rows[-1].split(",")[0])
        trace.write_text("\n".join(rows + [f"{last_t + 0.01:.6f},-1,{name},stopped,"]) + "\n")
    assert summarize(load_run(run_dir))["traces_ending_early"] == []  # B stopped cleanly
    b = run_dir / "traces" / "B.csv"
    b.write_text("\n".join(b.read_text().splitlines()[:-1]) + "\n")  # B killed: no `stopped`
    assert summarize(load_run(run_dir))["traces_ending_early"] == ["B"]


# --- capacity bound not known (native) or absent (zero) ------------------------------------


def test_unknown_capacity_is_said_in_words_not_taken_for_no_bound(tmp_path: Path) -> None:
    """`native` has no cost model: spec.json capacity_fps null. The summary must say why,
    and efficiency (delivered / min(offered, capacity)) is not known either."""
    s = summarize(load_run(make_run(tmp_path, extra_spec={
        "profile": "native", "capacity_fps": None, "profiles": {"native": None}})))
    assert s["capacity_fps"] is None and s["efficiency"] is None
    assert s["capacity_note"] == ("no capacity bound: profile native has no cost model; "
                                  "calibrate it (issue 14) or use a device profile")


def test_no_bound_from_a_zero_time_profile_keeps_efficiency(tmp_path: Path) -> None:
    """`zero` adds no time: capacity inf (no bound), not unknown: efficiency against offered."""
    s = summarize(load_run(make_run(tmp_path, extra_spec={"capacity_fps": float("inf")})))
    assert s["capacity_fps"] is None
    assert "profiles add no time" in s["capacity_note"]
    assert s["efficiency"] == pytest.approx(0.8)


def test_a_known_bound_has_no_note(base: dict) -> None:
    assert base["capacity_fps"] == 16.0 and base["capacity_note"] is None


# --- task sharing: helpers' work is task_started / task_finished ----------------------------

BLOCKS = 4
BLOCK_S = 0.010


def make_tasks_run(root: Path, blocks_in_spec: bool = True) -> Path:
    """client -> gateway A (L1, 5 ms) -> 4 tasks per frame; H0 computes blocks 0, 1 and H1
    blocks 2, 3, 10 ms each, back to back; A forwards the assembled frame to the sink.
    Same schedule as make_run (10 warm-up + 100 measure frames at 10 fps)."""
    run_dir = root / "tasks"
    (run_dir / "traces").mkdir(parents=True)
    pull = {"pull": {"gateway": "198.18.0.11:12345", "blocks": BLOCKS}} if blocks_in_spec else {}
    spec = {
        "run_id": "tasks", "strategy": "tasks", "rate_fps": RATE, "duration_s": 10.0,
        "warmup_s": 1.0, "profile": "rpi3bplus", "capacity_fps": 43.2, "started_at": T0,
        "k": 2, "tasks": BLOCKS,
        "nodes": [
            {"name": "A", "role": "A", "stages": ["L1"],
             "tasks": {"blocks": BLOCKS, "width": 2000}},
            {"name": "H0", "role": "H0", "stages": ["L2"], **pull},
            {"name": "H1", "role": "H1", "stages": ["L2"], **pull},
            {"name": "sink", "role": "sink", "stages": []},
        ],
    }
    (run_dir / "spec.json").write_text(json.dumps(spec))
    client, a, helpers, sink = [], [], {"H0": [], "H1": []}, []
    for pid in range(WARMUP + MEASURE):
        intended = T0 + pid / RATE
        sent = intended + 0.001
        client.append([pid, "warmup" if pid < WARMUP else "measure", f"{intended:.6f}",
                       f"{sent:.6f}", 200, "1", "0", 1, 1.5, "198.18.0.11:12345"])
        a += [[sent + 0.001, pid, "A", "received", 1], [sent + 0.002, pid, "A", "started", 0],
              [sent + 0.007, pid, "A", "finished", "1.0:5.0"]]
        for h, first in (("H0", 0), ("H1", 2)):
            t = sent + 0.008
            for block in (first, first + 1):
                a.append([t, pid, "A", "task_sent", f"{h}:{block}"])
                helpers[h] += [[t + 0.0001, pid, h, "task_started", f"{block}/{BLOCKS}"],
                               [t + 0.0001 + BLOCK_S, pid, h, "task_finished", "1.0:10.0"]]
                a.append([t + 0.0002 + BLOCK_S, pid, "A", "task_done", f"{h}:{block}"])
                t += BLOCK_S + 0.0005
        done = sent + 0.008 + 2 * (BLOCK_S + 0.0005)
        a.append([done + 0.001, pid, "A", "forwarded", "198.18.0.1:12345"])
        sink.append([done + 0.002, pid, "sink", "received", ""])
    write_run_files(run_dir, client, {"A": a, "sink": sink, **helpers})
    return run_dir


@pytest.mark.parametrize("blocks_in_spec", [True, False])
def test_task_helpers_busy_time_and_work_are_counted(tmp_path: Path,
                                                     blocks_in_spec: bool) -> None:
    """Each helper computes 2 of 4 blocks of each of the 100 measure frames, 10 ms each:
    200 tasks = 50 frames' worth, busy 2 s of the 10 s window. Without `pull.blocks` in
    the spec, T comes from the `i/T` of task_started."""
    run = load_run(make_tasks_run(tmp_path, blocks_in_spec))
    s = summarize(run)
    assert s["coverage"] == 1.0
    for h in ("H0", "H1"):
        node = s["nodes"][h]
        assert node["tasks_processed"] == 200
        assert node["processed"] == 50.0
        assert node["utilisation"] == pytest.approx(0.2, abs=0.002)
        assert node["service_ms_mean"] == 10.0
        assert node["measured_service_ms_mean"] == pytest.approx(10.0, abs=0.01)
    assert s["nodes"]["A"]["processed"] == 100 and s["nodes"]["A"]["tasks_processed"] == 0
    util = utilisation_per_second(run)
    assert util["H0"].iloc[1:9].to_numpy() == pytest.approx(0.2, abs=0.002)


def test_service_error_compares_the_measure_frames_with_their_own_profile_times(
        tmp_path: Path) -> None:
    """B ran its warm-up frames 3x faster than its measure frames (a `slow` fault can make a
    run's service time change like this): each set kept its profile, so no error. Before,
    the measured mean took in the warm-up frames and the profile mean did not (-6 %)."""
    run_dir = make_run(tmp_path)
    path = run_dir / "traces" / "B.csv"
    rows = list(csv.reader(path.open()))
    started = {r[1]: float(r[0]) for r in rows[1:] if r[3] == "started"}
    for r in rows[1:]:
        if r[3] == "finished" and int(r[1]) < WARMUP:
            r[0], r[4] = f"{started[r[1]] + 0.00667:.6f}", "5.0:6.67"
    _write(path, ",".join(rows[0]), rows[1:])
    b = summarize(load_run(run_dir))["nodes"]["B"]
    assert b["measured_service_ms_mean"] == pytest.approx(20.0, abs=0.01)
    assert b["service_error"] == pytest.approx(0.0, abs=0.001)
