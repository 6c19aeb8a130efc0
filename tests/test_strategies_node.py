"""Cao's strategies 1 and 2 in node_app: real servers on 127.0.0.1, real stage files.

Node A's worker is held back until every frame is queued, so which frame goes where is decided
by the policy alone and not by how fast this machine happens to be. B is a real L2 node whose
replies claim `overloaded` for chosen packet ids, so the switch points are exact.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_node_app import (  # tests/ is on sys.path (pytest rootdir)
    CapturingSink,
    read_trace,
    reference,
    request,
    send_frame,
    wait_for,
    write_configs,
    write_stage,
)

from node_app.config import ConfigError, NodeConfig, RunConfig
from node_app.profile import Profile, load_profile
from node_app.server import NodeServer, build_server
from node_app.stage import load_pipeline

RNG = np.random.default_rng(11)
L1 = [(RNG.standard_normal((16, 32)), RNG.standard_normal(32), "relu")]
L2 = [(RNG.standard_normal((32, 8)), RNG.standard_normal(8), "linear")]
SWITCH_MS = 150.0
# Defined only here: fast layers, a visible model switch.
TEST_FAST = Profile(
    name="test_fast", dense_ms={"16x32": 1.0, "32x8": 2.0}, model_switch_ms=SWITCH_MS
)


class GatedA(NodeServer):
    """Node A whose worker starts only when `gate` is set (all frames queued by then)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.gate = threading.Event()

    def _work(self) -> None:
        self.gate.wait(10)
        super()._work()


class ScriptedB(NodeServer):
    """A real L2 node; its reply says overloaded for the packet ids in `overload_on`."""

    overload_on: set[int] = set()

    def admit(self, packet_id: int, body: bytes) -> dict[str, Any]:
        reply = super().admit(packet_id, body)
        if packet_id in self.overload_on:
            reply["overloaded"] = True
        return reply


@pytest.fixture
def stage_dir(tmp_path: Path) -> Path:
    d = tmp_path / "stages"
    d.mkdir()
    write_stage(d / "L1.npz", L1)
    write_stage(d / "L2.npz", L2)
    write_stage(d / "L1L2.npz", L1 + L2)
    return d


@pytest.fixture
def start() -> Iterator[Callable[..., NodeServer]]:
    """Start a NodeServer subclass with a given profile; stops them all at the end."""
    running: list[tuple[NodeServer, threading.Thread]] = []

    def _start(node_file: Path, cls: type[NodeServer], profile: Profile | None = None):
        node = NodeConfig.load(node_file)
        run = RunConfig.load(node.run_file)
        server = cls(
            node,
            run,
            profile or load_profile(node.profile),
            load_pipeline(node.stages_dir, run.stages, run.input_size),
            ("127.0.0.1", 0),
        )
        thread = threading.Thread(target=server.run, kwargs={"log": False}, daemon=True)
        thread.start()
        running.append((server, thread))
        return server

    yield _start
    for server, thread in running:
        if thread.is_alive():
            server.request_stop()
            thread.join(timeout=10)


def add_help(node_file: Path, **help_cfg: Any) -> None:
    run_file = Path(json.loads(node_file.read_text())["run_file"])
    run = json.loads(run_file.read_text())
    run["help"] = help_cfg
    run_file.write_text(json.dumps(run))


def run_helping(
    tmp_path: Path, stage_dir: Path, start, policy: str, x: int, n: int, overload_on: set[int],
    profile: Profile = TEST_FAST,
) -> tuple[NodeServer, NodeServer, NodeServer, dict[int, np.ndarray]]:
    """sink <- B (L2) <- A (L1, helping); send n frames to A; wait until all reached the sink."""
    sink = start(
        write_configs(tmp_path, "sink", stages=[], next_hops=[], input_size=8), CapturingSink
    )
    ScriptedB.overload_on = overload_on
    b = start(
        write_configs(
            tmp_path,
            "b",
            stages=["L2"],
            next_hops=[f"127.0.0.1:{sink.port}"],
            input_size=32,
            queue_size=50,
            stages_dir=stage_dir,
        ),
        ScriptedB,
    )
    a_file = write_configs(
        tmp_path,
        "a",
        stages=["L1"],
        next_hops=[f"127.0.0.1:{b.port}"],
        input_size=16,
        queue_size=50,
        stages_dir=stage_dir,
    )
    add_help(
        a_file,
        policy=policy,
        x=x,
        help_stages=["L1L2"],
        own_stages=["L1"],
        direct_hop=f"127.0.0.1:{sink.port}",
    )
    a = start(a_file, GatedA, profile)
    xs = {pid: RNG.standard_normal(16).astype(np.float32) for pid in range(n)}
    for pid, x_in in xs.items():
        assert send_frame(a.port, pid, x_in)[1]["accepted"] is True
    a.gate.set()
    assert wait_for(lambda: len(sink.frames) == n), sorted(sink.frames)
    for pid, x_in in xs.items():  # both paths give the model's answer
        assert np.allclose(sink.frames[pid], reference(x_in, L1 + L2), atol=1e-4), pid
    return a, b, sink, xs


def script(a: NodeServer, b_port: int) -> list[str]:
    """A's worker, in order: `<pid>>B` / `<pid>>S` (forwarded to B / sink), switch events."""
    out = []
    for row in read_trace(a.trace.path):
        if row["event"] == "forwarded":
            where = "B" if row["detail"] == f"127.0.0.1:{b_port}" else "S"
            out.append(f"{row['packet_id']}>{where}")
        elif row["event"] == "switch_started":
            out.append(f"switch:{row['detail']}")
        elif row["event"] == "switch_finished":
            out.append("done")
    return out


def stop_all(*servers: NodeServer) -> None:
    for s in servers:
        s.request_stop()
    for s in servers:
        wait_for(lambda s=s: s.trace._file.closed)


def check_switch_rows(a: NodeServer, count: int) -> None:
    rows = read_trace(a.trace.path)
    started = [r for r in rows if r["event"] == "switch_started"]
    finished = [r for r in rows if r["event"] == "switch_finished"]
    assert len(started) == len(finished) == count
    for s, f in zip(started, finished, strict=True):
        assert s["packet_id"] == f["packet_id"] == "-1"
        real_ms, profile_ms = f["detail"].split(":")
        assert profile_ms == f"{SWITCH_MS:.2f}" and 0 < float(real_ms) < SWITCH_MS
        assert float(f["t"]) - float(s["t"]) >= SWITCH_MS / 1000 - 0.002  # waited it out
    # Full frames are traced with the full profile time (L1 + L2), own frames with L1's.
    profiles = {r["detail"].split(":")[1] for r in rows if r["event"] == "finished"}
    assert profiles <= {"1.00", "3.00"}


def test_cao1_helps_x_frames_to_the_sink_then_switches_back(
    tmp_path: Path, stage_dir: Path, start
) -> None:
    a, b, sink, _ = run_helping(tmp_path, stage_dir, start, "cao1", x=3, n=10, overload_on={0})
    assert wait_for(lambda: request(a.port, "GET", "/stats")[1]["switches"] == 2)
    stats = request(a.port, "GET", "/stats")[1]
    assert stats["helping"] is False and stats["dropped"] == {}
    stop_all(a, b, sink)

    assert script(a, b.port) == [
        "0>B",
        "switch:L1L2",
        "done",
        "1>S",
        "2>S",
        "3>S",
        "switch:L1",
        "done",
        *[f"{pid}>B" for pid in range(4, 10)],
    ]
    check_switch_rows(a, 2)
    fin = {
        r["packet_id"]: r["detail"] for r in read_trace(a.trace.path) if r["event"] == "finished"
    }
    assert {pid: fin[pid].split(":")[1] for pid in ("0", "1", "3", "4")} == {
        "0": "1.00",
        "1": "3.00",
        "3": "3.00",
        "4": "1.00",
    }
    # B saw only the frames A did not compute in full.
    b_rows = [r for r in read_trace(b.trace.path) if r["event"] == "received"]
    assert sorted(int(r["packet_id"]) for r in b_rows) == [0, 4, 5, 6, 7, 8, 9]


def test_cao2_feeds_b_one_frame_per_full_frame_and_ignores_overload_while_helping(
    tmp_path: Path, stage_dir: Path, start
) -> None:
    # 2 is sent to B while A helps: its overload flag must be ignored. 7 starts a second episode.
    a, b, sink, _ = run_helping(
        tmp_path, stage_dir, start, "cao2", x=2, n=12, overload_on={0, 2, 7}
    )
    assert wait_for(lambda: request(a.port, "GET", "/stats")[1]["switches"] == 4)
    assert request(a.port, "GET", "/stats")[1]["helping"] is False
    stop_all(a, b, sink)

    episode = ["switch:L1L2", "done"]
    back = ["switch:L1", "done"]
    assert script(a, b.port) == [
        "0>B",
        *episode,
        "1>S",
        "2>B",
        "3>S",
        "4>B",
        *back,
        "5>B",
        "6>B",
        "7>B",
        *episode,
        "8>S",
        "9>B",
        "10>S",
        "11>B",
        *back,
    ]
    check_switch_rows(a, 4)
    b_rows = [r for r in read_trace(b.trace.path) if r["event"] == "received"]
    assert sorted(int(r["packet_id"]) for r in b_rows) == [0, 2, 4, 5, 6, 7, 9, 11]


def test_real_overload_switches_and_frames_wait_or_drop_during_the_switch(
    tmp_path: Path, stage_dir: Path, start
) -> None:
    """B (queue 1, 30 ms a frame) really fills up; A's queue of 3 overflows while it switches."""
    sink = start(
        write_configs(tmp_path, "sink", stages=[], next_hops=[], input_size=8), CapturingSink
    )
    b = start(
        write_configs(
            tmp_path,
            "b",
            stages=["L2"],
            next_hops=[f"127.0.0.1:{sink.port}"],
            input_size=32,
            queue_size=1,
            stages_dir=stage_dir,
        ),
        NodeServer,
        Profile(name="slow_b", dense_ms={"32x8": 30.0}),
    )
    a_file = write_configs(
        tmp_path,
        "a",
        stages=["L1"],
        next_hops=[f"127.0.0.1:{b.port}"],
        input_size=16,
        queue_size=3,
        stages_dir=stage_dir,
    )
    add_help(
        a_file,
        policy="cao1",
        x=2,
        help_stages=["L1L2"],
        own_stages=["L1"],
        direct_hop=f"127.0.0.1:{sink.port}",
    )
    # A long switch, so the frames below surely arrive while A is still switching.
    a = start(a_file, NodeServer, Profile(name="slow_switch", model_switch_ms=1000.0))

    def stats() -> dict[str, Any]:
        return request(a.port, "GET", "/stats")[1]

    pid = 0
    while not stats()["helping"]:  # one frame at a time until B's reply says overloaded
        assert pid < 10, "B never said overloaded"
        assert send_frame(a.port, pid, np.ones(16, np.float32))[1]["accepted"]
        pid += 1
        wait_for(lambda p=pid: stats()["forwarded"] >= p or stats()["helping"])
    sent = list(range(pid, pid + 5))
    replies = [send_frame(a.port, p, np.ones(16, np.float32))[1] for p in sent]
    assert [r["accepted"] for r in replies] == [True, True, True, False, False]
    assert replies[-1]["overloaded"] is True
    assert wait_for(lambda: stats()["switches"] >= 2)
    # A still owes B the frame it queued during the switch; a stop would drop it.
    assert wait_for(lambda: stats()["queue_depth"] == 0 and stats()["busy"] == 0)
    stop_all(a, b, sink)
    rows = read_trace(a.trace.path)
    dropped = [(int(r["packet_id"]), r["detail"]) for r in rows if r["event"] == "dropped"]
    assert dropped == [(sent[3], "queue_full"), (sent[4], "queue_full")]
    steps = script(a, b.port)
    first = steps.index(f"{sent[0]}>S")
    # (B's queue of 1 is full again at once, so the last frame may start another episode.)
    assert steps[first : first + 5] == [
        f"{sent[0]}>S",
        f"{sent[1]}>S",
        "switch:L1",
        "done",
        f"{sent[2]}>B",
    ]


def test_help_config_errors_name_the_field(tmp_path: Path, stage_dir: Path) -> None:
    node_file = write_configs(
        tmp_path,
        "a",
        stages=["L1"],
        next_hops=["127.0.0.1:9"],
        input_size=16,
        stages_dir=stage_dir,
    )
    good = dict(
        policy="cao1", x=5, help_stages=["L1L2"], own_stages=["L1"], direct_hop="127.0.0.1:9"
    )
    cases = [
        ({"policy": "cao3"}, r"field 'help'.*'policy' must be one of cao1, cao2"),
        ({"x": 0}, r"field 'help'.*'x' must be >= 1"),
        ({"help_stages": []}, r"field 'help'.*'help_stages' must be a non-empty list"),
        ({"own_stages": ["L2"]}, r"'help'.own_stages \['L2'\] must equal 'stages'"),
        ({"direct_hop": "sink"}, r"field 'help'.*'direct_hop'"),
        ({"help_stages": ["nope"]}, r"nope\.npz"),
    ]
    for change, message in cases:
        add_help(node_file, **{**good, **change})
        with pytest.raises(Exception, match=message):
            build_server(node_file, address=("127.0.0.1", 0)).server_close()
    add_help(node_file, **{**good, "X": 5})
    with pytest.raises(ConfigError, match=r"unknown field\(s\) X"):
        build_server(node_file, address=("127.0.0.1", 0))


def test_profiles_price_a_switch_by_the_weights_it_loads() -> None:
    """Cao's switch to help loads L1+L2 (16.8 MB), the switch back L1 only (0.8 MB): read
    from the SD card at the profile's rate, plus the build."""
    rpi = load_profile("rpi3bplus")
    assert rpi.switch_ms((100 * 2000 + 2000 + 2000 * 2000 + 2000) * 4) == pytest.approx(850.8)
    assert rpi.switch_ms((100 * 2000 + 2000) * 4) == pytest.approx(50.4)
    assert load_profile("zero").switch_ms(10**9) == 0.0
    assert load_profile("native").switch_ms(10**9) is None
    table = json.loads((Path(__file__).parents[1] / "node_app" / "profiles.json").read_text())
    assert "SD" in table["rpi3bplus"]["storage_basis"]
    assert "1.4 GHz" in table["rpi3bplus"]["basis"]  # why it is a 3 B+, not a 3 B


def test_a_switch_waits_for_its_own_load(tmp_path: Path, stage_dir: Path, start) -> None:
    """The switch to help (L1 and L2's weights) takes longer than the switch back (L1's)."""
    slow_sd = Profile(name="slow_sd", dense_ms={"16x32": 1.0, "32x8": 2.0},
                      read_mb_s=0.01, build_ms=5.0)  # 10 kB/s: the small test layers show
    a, b, sink, _ = run_helping(tmp_path, stage_dir, start, "cao1", x=2, n=6, overload_on={0},
                                profile=slow_sd)
    assert wait_for(lambda: request(a.port, "GET", "/stats")[1]["switches"] == 2)
    stop_all(a, b, sink)
    rows = read_trace(a.trace.path)
    started = [float(r["t"]) for r in rows if r["event"] == "switch_started"]
    finished = [r for r in rows if r["event"] == "switch_finished"]
    claimed = [float(r["detail"].split(":")[1]) for r in finished]
    l1, l2 = (16 * 32 + 32) * 4, (32 * 8 + 8) * 4
    assert claimed == pytest.approx([(l1 + l2) / 1e4 * 1000 + 5.0, l1 / 1e4 * 1000 + 5.0],
                                    abs=0.01)
    for t0, row, ms in zip(started, finished, claimed, strict=True):
        assert float(row["t"]) - t0 >= ms / 1000 - 0.002  # waited it out


@pytest.mark.controller
def test_harness_plans_give_valid_run_files_and_capacity_bounds() -> None:
    from harness.experiment import _run_file
    from harness.inventory import Host
    from harness.spec import RunSpec
    from harness.strategies import get

    a, b = (
        Host(n, f"198.18.0.1{i}", "root", "k", "rpi3bplus", True)
        for i, n in ((1, "pi1"), (2, "pi2"))
    )
    sink = Host("sink", "198.18.0.1", "u", "k", "native", False)
    expected = {"baseline": 25.0, "cao1": 25 + 900 / 44, "cao2": 25 + 900 / 44, "cao3": 2000 / 44}
    for name, capacity in expected.items():
        spec = RunSpec(strategy=name, x=7)
        plan = get(name).plan(spec, [a, b], sink)
        assert plan.capacity_fps == pytest.approx(capacity)
        runs = {n.role: RunConfig.from_dict(_run_file(spec, plan, n)) for n in plan.workers}
        helper = runs["A"].help
        if name in ("cao1", "cao2"):
            assert helper is not None and (helper.policy, helper.x) == (name, 7)
            assert helper.direct_hop == sink.endpoint and runs["A"].next_hops == (b.endpoint,)
        else:
            assert helper is None and runs["B"].help is None
    assert get("cao3").plan(RunSpec(strategy="3"), [a, b], sink).targets == [
        a.endpoint,
        b.endpoint,
    ]
