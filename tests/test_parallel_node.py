"""dp, mp and tasks in node_app: real servers on 127.0.0.1, real stage files, real traces.

Correctness: for K in {1, 2, 4} the sink's assembled output of every sent frame equals the
numpy reference L2(L1(x)). Behaviour: dp avoids a stalled replica (queue-depth feedback),
mp counts a frame with a missing slice as lost (`missing_slice`), and a half-speed task
helper pulls about half as many tasks as a full-speed one.
"""

from __future__ import annotations

import http.client
import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import test_node_app
from test_node_app import (  # tests/ is on sys.path (pytest rootdir)
    CapturingSink,
    events,
    free_port,
    read_trace,
    reference,
    request,
    send_frame,
    wait_for,
    write_configs,
    write_stage,
)

from node_app.config import ConfigError, RunConfig
from node_app.roles import task_gateway
from node_app.routing import LeastQueueRouter
from node_app.server import NodeServer
from node_app.stage import block_bounds

start = test_node_app.start  # the fixture that starts NodeServers in threads

RNG = np.random.default_rng(5)
L1 = [(RNG.standard_normal((16, 32)), RNG.standard_normal(32), "relu")]
L2 = [(RNG.standard_normal((32, 8)), RNG.standard_normal(8), "linear")]
N_FRAMES = 12


def inputs(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(99)
    return [rng.standard_normal(16).astype(np.float32) for _ in range(n)]


@pytest.fixture
def stage_dir(tmp_path: Path) -> Path:
    """L1, L2 and L2's output slices L2_s<i>of<K> (same bounds as harness/model.py)."""
    d = tmp_path / "stages"
    d.mkdir()
    write_stage(d / "L1.npz", L1)
    write_stage(d / "L2.npz", L2)
    kernel, bias, act = L2[0]
    for k in (1, 2, 4):
        for i in range(k):
            lo, hi = block_bounds(i, k, kernel.shape[1])
            write_stage(d / f"L2_s{i}of{k}.npz", [(kernel[:, lo:hi], bias[lo:hi], act)])
    return d


def node(tmp: Path, name: str, stage_dir: Path, extra: dict[str, Any] | None = None,
         **kw: Any) -> Path:
    """write_configs plus extra run.json fields (route, slice, slices, tasks, pull)."""
    node_file = write_configs(tmp, name, stages_dir=stage_dir, **kw)
    if extra:
        run_file = Path(json.loads(node_file.read_text())["run_file"])
        run_file.write_text(json.dumps({**json.loads(run_file.read_text()), **extra}))
    return node_file


def hop(r: Any) -> str:
    return f"127.0.0.1:{r.port}"


def send_all(port: int, xs: list[np.ndarray]) -> None:
    for pid, x in enumerate(xs):
        status, reply = send_frame(port, pid, x)
        assert status == 200 and reply["accepted"], reply


def check_outputs(sink: Any, xs: list[np.ndarray]) -> None:
    assert wait_for(lambda: len(sink.server.frames) == len(xs), 10), sorted(sink.server.frames)
    for pid, x in enumerate(xs):
        np.testing.assert_allclose(sink.server.frames[pid], reference(x, L1 + L2).astype(
            np.float32), rtol=1e-5, atol=1e-5)


# dp ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 2, 4])
def test_dp_outputs_equal_reference(tmp_path: Path, stage_dir: Path, start, k: int) -> None:
    sink = start(write_configs(tmp_path, "sink", stages=[], next_hops=[], input_size=8),
                 CapturingSink)
    reps = [start(node(tmp_path, f"b{i}", stage_dir, stages=["L2"], next_hops=[hop(sink)],
                       input_size=32, queue_size=20)) for i in range(k)]
    a = start(node(tmp_path, "a", stage_dir, {"route": "least_queue"}, stages=["L1"],
                   next_hops=[hop(r) for r in reps], input_size=16, queue_size=20))
    xs = inputs(N_FRAMES)
    send_all(a.port, xs)
    check_outputs(sink, xs)
    _, stats = request(a.port, "GET", "/stats")
    assert sum(stats["routed"].values()) == N_FRAMES
    assert all(n > 0 for n in stats["routed"].values()), stats["routed"]
    # Each frame went to exactly one replica.
    for r in reps:
        r.server.trace.flush()
    assert sum(len(events(r.trace_path, "received")) for r in reps) == N_FRAMES


class StalledReplica(NodeServer):
    """An L2 replica whose worker never starts: its queue only grows."""

    release = threading.Event()

    def _work(self) -> None:
        self.release.wait(30)
        super()._work()


def test_dp_avoids_a_stalled_replica(tmp_path: Path, stage_dir: Path, start) -> None:
    sink = start(write_configs(tmp_path, "sink", stages=[], next_hops=[], input_size=8),
                 CapturingSink)
    StalledReplica.release.clear()
    stalled = start(node(tmp_path, "b0", stage_dir, stages=["L2"], next_hops=[hop(sink)],
                         input_size=32, queue_size=50), StalledReplica)
    live = start(node(tmp_path, "b1", stage_dir, stages=["L2"], next_hops=[hop(sink)],
                      input_size=32, queue_size=50))
    a = start(node(tmp_path, "a", stage_dir, {"route": "least_queue"}, stages=["L1"],
                   next_hops=[hop(stalled), hop(live)], input_size=16, queue_size=50))
    xs = inputs(30)
    send_all(a.port, xs)
    assert wait_for(lambda: request(a.port, "GET", "/stats")[1]["forwarded"] == 30, 10)
    routed = request(a.port, "GET", "/stats")[1]["routed"]
    to_stalled, to_live = routed[hop(stalled)], routed[hop(live)]
    assert to_stalled + to_live == 30
    # Round robin would give it 15. Least-queue sends it a frame only while its reported
    # depth is not above the live replica's, so how many depends on how fast the live one
    # drains (5 on an idle box, 6 with both cores busy); a stalled replica at a quarter of
    # the frames or fewer is avoided.
    assert 4 * to_stalled <= to_live + to_stalled, routed
    StalledReplica.release.set()
    check_outputs(sink, xs)  # the stalled replica's frames still arrive once it runs


def test_router_prefers_least_backlog_and_round_robins_ties() -> None:
    now = [0.0]
    r = LeastQueueRouter(3, clock=lambda: now[0])
    assert [r.choose() for _ in range(3)] == [0, 1, 2]  # all unknown: round robin
    for i in range(3):
        r.observe(i, {"accepted": True, "queue_depth": [4, 0, 2][i], "service_ms": 100.0})
    assert r.choose() == 1
    r.observe(1, {"accepted": True, "queue_depth": 3, "service_ms": 100.0})
    assert r.choose() == 2  # 4, 3, 2
    r.observe(2, None)  # no reply: 2 + 1 unanswered
    now[0] = 0.25  # 2.5 frames drained everywhere at 100 ms each
    assert r.estimate(0) == pytest.approx(1.5) and r.estimate(1) == pytest.approx(0.5)
    assert r.choose() == 1


def test_route_fields_are_validated() -> None:
    base = {"run_id": "r", "stages": ["L1"], "queue_size": 1, "max_body_bytes": 4096,
            "input_size": 16}
    two = ["127.0.0.1:1", "127.0.0.1:2"]
    with pytest.raises(ConfigError, match="field 'route' is required"):
        RunConfig.from_dict({**base, "next_hops": two})
    with pytest.raises(ConfigError, match="field 'route' must be one of"):
        RunConfig.from_dict({**base, "next_hops": two, "route": "random"})
    with pytest.raises(ConfigError, match="field 'slice'.*index"):
        RunConfig.from_dict({**base, "next_hops": two[:1], "slice": {"index": 2, "of": 2}})
    with pytest.raises(ConfigError, match="field 'slices' is for a sink"):
        RunConfig.from_dict({**base, "next_hops": two[:1], "slices": 2})
    with pytest.raises(ConfigError, match="field 'pull'.*gateway"):
        RunConfig.from_dict({**base, "next_hops": [], "pull": {"gateway": "x", "blocks": 2}})
    with pytest.raises(ConfigError, match="field 'tasks'.*blocks"):
        RunConfig.from_dict({**base, "next_hops": two[:1], "tasks": {"blocks": 0, "width": 8}})
    ok = RunConfig.from_dict({**base, "next_hops": two, "route": "least_queue"})
    assert ok.route == "least_queue"


# mp ----------------------------------------------------------------------------------------


def start_mp(tmp: Path, stage_dir: Path, start, k: int, dead: set[int] = frozenset()):
    sink = start(node(tmp, "sink", stage_dir, {"slices": k}, stages=[], next_hops=[],
                      input_size=8), CapturingSink)
    slices = []
    for i in range(k):
        to = f"127.0.0.1:{free_port()}" if i in dead else hop(sink)  # nobody listens there
        slices.append(start(node(tmp, f"m{i}", stage_dir, {"slice": {"index": i, "of": k}},
                                 stages=[f"L2_s{i}of{k}"], next_hops=[to], input_size=32,
                                 queue_size=20)))
    a = start(node(tmp, "a", stage_dir, {"route": "all"}, stages=["L1"],
                   next_hops=[hop(s) for s in slices], input_size=16, queue_size=20))
    return sink, slices, a


@pytest.mark.parametrize("k", [1, 2, 4])
def test_mp_outputs_equal_reference(tmp_path: Path, stage_dir: Path, start, k: int) -> None:
    sink, slices, a = start_mp(tmp_path, stage_dir, start, k)
    xs = inputs(N_FRAMES)
    send_all(a.port, xs)
    check_outputs(sink, xs)
    # Each device holds only its slice: K-fold less weight memory than L2's 32*8+8 floats.
    full = (32 * 8 + 8) * 4
    held = [request(s.port, "GET", "/stats")[1]["weights_bytes"] for s in slices]
    assert sum(held) == full and max(held) == full // k
    sink.stop()
    assert len(events(sink.trace_path, "slice_received")) == k * N_FRAMES
    assert len(events(sink.trace_path, "received")) == N_FRAMES
    assert not events(sink.trace_path, "dropped")


def test_mp_missing_slice_counts_frames_lost(tmp_path: Path, stage_dir: Path, start) -> None:
    sink, slices, a = start_mp(tmp_path, stage_dir, start, 2, dead={1})
    xs = inputs(6)
    send_all(a.port, xs)
    assert wait_for(lambda: request(sink.port, "GET", "/stats")[1]["slices_received"] == 6, 10)
    assert request(sink.port, "GET", "/stats")[1]["received"] == 0
    sink.stop()
    dropped = events(sink.trace_path, "dropped")
    assert sorted(int(r["packet_id"]) for r in dropped) == list(range(6))
    assert {r["detail"] for r in dropped} == {"missing_slice"}
    assert not events(sink.trace_path, "received")


def test_mp_sink_rejects_bad_slice_header(tmp_path: Path, stage_dir: Path, start) -> None:
    sink = start(node(tmp_path, "sink", stage_dir, {"slices": 2}, stages=[], next_hops=[],
                      input_size=8))
    body = np.zeros(4, "<f4").tobytes()
    status, reply = request(sink.port, "POST", "/message", body,
                            {"X-Packet-Id": "1", "X-Slice": "2/2"})
    assert status == 400 and reply["error"] == "bad_slice"
    status, reply = request(sink.port, "POST", "/message", body[:8],
                            {"X-Packet-Id": "1", "X-Slice": "0/2"})
    assert status == 400 and reply["error"] == "bad_body_size"


# tasks -------------------------------------------------------------------------------------


def start_tasks(tmp: Path, stage_dir: Path, start, k: int, blocks: int, profiles: list[str],
                queue_size: int = 20, width: int = 8, n_in: int = 32, l1_in: int = 16):
    big = 1 << 20
    sink = start(write_configs(tmp, "sink", stages=[], next_hops=[], input_size=width,
                               max_body_bytes=big), CapturingSink)
    gw = start(node(tmp, "gw", stage_dir, {"tasks": {"blocks": blocks, "width": width}},
                    stages=["L1"], next_hops=[hop(sink)], input_size=l1_in,
                    queue_size=queue_size, max_body_bytes=big))
    helpers = [start(node(tmp, f"h{i}", stage_dir, {"pull": {"gateway": hop(gw),
                                                             "blocks": blocks}},
                          stages=["L2"], next_hops=[], input_size=n_in, profile=profiles[i],
                          max_body_bytes=big))
               for i in range(k)]
    return sink, gw, helpers


@pytest.mark.parametrize("k", [1, 2, 4])
def test_tasks_outputs_equal_reference(tmp_path: Path, stage_dir: Path, start, k: int) -> None:
    sink, gw, helpers = start_tasks(tmp_path, stage_dir, start, k, 4, ["zero"] * k)
    xs = inputs(N_FRAMES)
    send_all(gw.port, xs)
    check_outputs(sink, xs)
    by_helper = request(gw.port, "GET", "/stats")[1]["tasks_by_helper"]
    assert sum(by_helper.values()) == 4 * N_FRAMES
    assert set(by_helper) <= {f"h{i}" for i in range(k)}
    done = [request(h.port, "GET", "/stats")[1]["tasks_done"] for h in helpers]
    assert sum(done) == 4 * N_FRAMES


def test_tasks_gateway_answers_stats_while_tasks_flow(tmp_path: Path, stage_dir: Path,
                                                       start) -> None:
    """The harness polls /stats every second during a run; polling must never wedge the
    gateway (a lock-order inversion between /stats and the task board once did)."""
    sink, gw, _helpers = start_tasks(tmp_path, stage_dir, start, 2, 4, ["zero"] * 2)
    stop = threading.Event()
    answered: list[int] = []

    def poll() -> None:
        while not stop.is_set():
            answered.append(request(gw.port, "GET", "/stats")[0])

    pollers = [threading.Thread(target=poll, daemon=True) for _ in range(3)]
    for t in pollers:
        t.start()
    xs = inputs(N_FRAMES)
    send_all(gw.port, xs)
    check_outputs(sink, xs)
    stop.set()
    for t in pollers:
        t.join(timeout=5)
        assert not t.is_alive(), "a /stats request hung"
    assert answered and set(answered) == {200}


@pytest.fixture(scope="module")
def big_stages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Pi-sized layers (100->2000, 2000->2000), so the rpi3bplus profiles apply per block."""
    d = tmp_path_factory.mktemp("bigstages")
    rng = np.random.default_rng(3)
    write_stage(d / "L1.npz", [(rng.standard_normal((100, 2000)) * 0.1,
                                np.zeros(2000), "relu")])
    write_stage(d / "L2.npz", [(rng.standard_normal((2000, 2000)) * 0.01,
                                np.zeros(2000), "linear")])
    return d


def test_tasks_half_speed_helper_gets_half_the_tasks(tmp_path: Path, big_stages: Path,
                                                     start) -> None:
    n = 50
    sink, gw, helpers = start_tasks(tmp_path, big_stages, start, 2, 4,
                                    ["rpi3bplus", "rpi3bplus_half_speed"], queue_size=n, width=2000,
                                    n_in=2000, l1_in=100)
    rng = np.random.default_rng(1)
    for pid in range(n):
        status, _ = send_frame(gw.port, pid, rng.standard_normal(100).astype(np.float32))
        assert status == 200
    assert wait_for(lambda: len(sink.server.frames) == n)
    by = request(gw.port, "GET", "/stats")[1]["tasks_by_helper"]
    for h in helpers:
        h.stop()
    # Pull-based sharing gives each helper tasks in proportion to its speed. The profiles
    # say h1 takes twice as long; what each really took is in its own trace (a loaded
    # machine can stretch the fast one's real compute past its profile time), so the split
    # is checked against the measured speeds, within 20 %, and the slow helper gets fewer.
    busy = {}
    for h in helpers:
        rows = read_trace(h.trace_path)
        started = [float(r["t"]) for r in rows if r["event"] == "task_started"]
        finished = [float(r["t"]) for r in rows if r["event"] == "task_finished"]
        spans = [f - s for s, f in zip(started, finished, strict=True)]
        busy[h.server.node.node] = sum(spans) / len(spans)
    assert busy["h1"] > 1.5 * busy["h0"], busy  # the profiles make h1 the slow one
    ratio, expected = by["h1"] / by["h0"], busy["h0"] / busy["h1"]
    assert by["h1"] < by["h0"] and abs(ratio / expected - 1) <= 0.2, (by, busy)


# harness: plans, run files, capacity and resources -----------------------------------------


@pytest.mark.controller
@pytest.mark.parametrize("strategy", ["dp", "mp", "tasks"])
@pytest.mark.parametrize("k", [1, 2, 4])
def test_harness_plans_give_valid_run_files(strategy: str, k: int, tmp_path: Path) -> None:
    from harness import resources, strategies
    from harness.experiment import _run_file
    from harness.inventory import Host
    from harness.spec import RunSpec

    spec = RunSpec(strategy=strategy, k=k, tasks=4)
    module = strategies.get(strategy)
    hosts = [Host(f"pi{i}", f"198.18.0.{10 + i}", "root", "", "rpi3bplus", True)
             for i in range(1, 1 + strategies.hosts_needed(module, spec))]
    sink = Host("sink", "198.18.0.1", "", "", "native", False)
    plan = module.plan(spec, hosts, sink)
    assert len(plan.workers) == 1 + k
    for n in plan.workers:
        RunConfig.from_dict(_run_file(spec, plan, n))  # node_app accepts what the harness writes
    sink_run = {"run_id": "r", "stages": [], "next_hops": [], "queue_size": 1,
                "max_body_bytes": 1 << 20, "input_size": 2000, **plan.sink.extra}
    RunConfig.from_dict(sink_run)
    expected = {"dp": {1: 25.0, 2: 50.0, 4: 100.0}, "mp": {1: 25.0, 2: 47.5, 4: 86.4},
                "tasks": {1: 21.6, 2: 43.2, 4: 86.4}}[strategy][k]
    assert plan.capacity_fps == pytest.approx(expected, abs=0.05)
    doc = {"targets": plan.targets,
           "nodes": [{"name": n.host.name, "role": n.role, "stages": n.stages,
                      "address": n.host.address, "next_hops": n.next_hops, **n.extra}
                     for n in plan.nodes]}
    wire = {"dp": 400 + 8000 + 8000, "mp": 400 + k * 8000 + 8000,
            "tasks": 400 + 4 * 8000 + 8000 + 8000}[strategy]
    assert resources.planned_wire_bytes(doc) == wire
    out = resources.summarize(tmp_path, doc)  # no node_stats.json: planned memory only
    per_device = out["memory"]["l2_weights_bytes_per_device_max"]
    l2 = (2000 * 2000 + 2000) * 4
    assert per_device == (l2 // k if strategy == "mp" else l2)
    assert ("tasks_per_helper" in out) == (strategy == "tasks")


def pull(port: int, helper: str) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("POST", "/task/next", b"", {"X-Node": helper})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def test_task_result_only_from_the_lease_holder(tmp_path: Path, stage_dir: Path,
                                                 start) -> None:
    """Another helper's result for a leased block is refused (409, counted) and leaves the
    lease alone: the holder's result is still taken."""
    sink, gw, _ = start_tasks(tmp_path, stage_dir, start, 0, 2, [])
    x = inputs(1)[0]
    assert send_frame(gw.port, 0, x)[0] == 200
    status, headers, _data = pull(gw.port, "h1")
    assert status == 200 and headers["x-packet-id"] == "0"
    block = int(headers["x-block"].split("/")[0])
    lo, hi = block_bounds(block, 2, 8)
    body = np.zeros(hi - lo, "<f4").tobytes()  # the right size is all the gateway checks
    hdr = {"X-Packet-Id": "0", "X-Block": f"{block}/2"}
    status, reply = request(gw.port, "POST", "/task/result", body,
                            {**hdr, "X-Node": "intruder"})
    assert (status, reply["error"]) == (409, "not_leased")
    status, reply = request(gw.port, "POST", "/task/result", body, {**hdr, "X-Node": "h1"})
    assert (status, reply) == (200, {"ok": True})
    status, reply = request(gw.port, "POST", "/task/result", body, {**hdr, "X-Node": "h1"})
    assert (status, reply["error"]) == (400, "unknown_task")
    st = request(gw.port, "GET", "/stats")[1]
    assert st["rejected"] == {"not_leased": 1, "unknown_task": 1}
    assert st["tasks_by_helper"] == {"h1": 1}
    gw.stop()
    # Traced, but not as packet 0's loss: the frame itself was delivered.
    assert [(r["packet_id"], r["detail"]) for r in events(gw.trace_path, "rejected")] == [
        ("-1", "not_leased"), ("-1", "unknown_task")]


def test_a_result_with_x_next_brings_the_helpers_next_task(tmp_path: Path, stage_dir: Path,
                                                          start) -> None:
    """`X-Next: 1` on a result: the reply is the next waiting task (200, as a pull's), and 204
    when none is waiting (the result still taken): a busy helper makes one round trip per
    task. Without the header the reply stays the JSON acknowledgement."""
    sink, gw, _ = start_tasks(tmp_path, stage_dir, start, 0, 2, [])
    assert send_frame(gw.port, 0, inputs(1)[0])[0] == 200
    status, headers, task_input = pull(gw.port, "h1")
    assert status == 200
    first = int(headers["x-block"].split("/")[0])

    def result(block: int, extra: dict[str, str]) -> http.client.HTTPResponse:
        lo, hi = block_bounds(block, 2, 8)
        conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=5)
        conn.request("POST", "/task/result", np.zeros(hi - lo, "<f4").tobytes(),
                     {"X-Node": "h1", "X-Packet-Id": "0", "X-Block": f"{block}/2", **extra})
        resp = conn.getresponse()
        resp.body = resp.read()
        conn.close()
        return resp

    resp = result(first, {"X-Next": "1"})  # the frame's other block is waiting: it comes back
    assert resp.status == 200 and resp.getheader("X-Packet-Id") == "0"
    second = int(resp.getheader("X-Block").split("/")[0])
    assert second == 1 - first and len(resp.body) == len(task_input)
    resp = result(second, {"X-Next": "1"})  # nothing is waiting now
    assert (resp.status, resp.body) == (204, b"")
    st = request(gw.port, "GET", "/stats")[1]
    assert st["tasks_by_helper"] == {"h1": 2} and st["rejected"] == {}
    # both results were taken: the frame was assembled and sent on (of zeros, as sent here)
    assert wait_for(lambda: 0 in sink.server.frames, 10)


def test_gateway_serves_a_bounded_set_of_helper_names(tmp_path: Path, stage_dir: Path,
                                                      start, monkeypatch) -> None:
    """X-Node is client input: a name must be a node name, and a gateway serves at most
    MAX_HELPERS of them (tasks_by_helper cannot grow without bound); refusals counted."""
    monkeypatch.setattr(task_gateway, "MAX_HELPERS", 2)
    sink, gw, _ = start_tasks(tmp_path, stage_dir, start, 0, 4, [])
    assert send_frame(gw.port, 0, inputs(1)[0])[0] == 200
    assert pull(gw.port, "h1")[0] == 200
    assert pull(gw.port, "h2")[0] == 200
    status, _h, data = pull(gw.port, "h3")
    assert status == 429 and json.loads(data)["error"] == "too_many_helpers"
    assert pull(gw.port, "h1")[0] == 200  # a known name still pulls
    for bad in ("", "a b", "x" * 65, "h1,evil"):
        status, _h, data = pull(gw.port, bad)
        assert status == 400 and json.loads(data)["error"] == "bad_node", bad
    assert request(gw.port, "GET", "/stats")[1]["rejected"] == {"too_many_helpers": 1,
                                                                "bad_node": 4}


def test_a_lease_outlasts_a_slow_links_transfers_only_on_shaped_links() -> None:
    """The harness raises read_timeout_s only when links are shaped; the lease then covers a
    task's way out and its result's way back (BODP's 608 bands at 100 Mbit/s outlived 5 s)."""
    from node_app.roles.task_gateway import LEASE_S, lease_s

    assert lease_s(5.0) == LEASE_S == 5.0  # node_app's default deadline: unchanged
    assert lease_s(11.4) == 22.8
