"""End-to-end tests of node_app: real servers on 127.0.0.1, real stage files, real traces."""

from __future__ import annotations

import csv
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from node_app.config import ConfigError, NodeConfig, RunConfig
from node_app.profile import ProfileError, load_profile
from node_app.server import NodeServer, build_server
from node_app.stage import load_pipeline

REPO = Path(__file__).resolve().parents[1]
TOKEN = "s3cret-token"


# helpers ---------------------------------------------------------------------------------


def write_stage(path: Path, layers: list[tuple[np.ndarray, np.ndarray, str]]) -> None:
    """Write a stage .npz in the contract layout (kernel_i, bias_i, activation_i)."""
    arrays: dict[str, np.ndarray] = {}
    for i, (kernel, bias, act) in enumerate(layers):
        arrays[f"kernel_{i}"] = kernel.astype(np.float32)
        arrays[f"bias_{i}"] = bias.astype(np.float32)
        arrays[f"activation_{i}"] = np.array(act)
    np.savez(path, **arrays)


def reference(x: np.ndarray, layers: list[tuple[np.ndarray, np.ndarray, str]]) -> np.ndarray:
    for kernel, bias, act in layers:
        x = x @ kernel + bias
        if act == "relu":
            x = np.maximum(x, 0)
    return x


def write_configs(
    tmp: Path,
    name: str,
    *,
    stages: list[str],
    next_hops: list[str],
    input_size: int,
    profile: str = "zero",
    queue_size: int = 5,
    max_body_bytes: int = 4096,
    port: int = 0,
    stages_dir: Path | None = None,
) -> Path:
    node_dir = tmp / name
    node_dir.mkdir()
    run_file = node_dir / "run.json"
    run_file.write_text(
        json.dumps(
            {
                "run_id": "r1",
                "stages": stages,
                "next_hops": next_hops,
                "queue_size": queue_size,
                "max_body_bytes": max_body_bytes,
                "input_size": input_size,
                # Every node here sends from loopback; strict_peers is on by default.
                "peers": ["127.0.0.1"],
            }
        )
    )
    node_file = node_dir / "node.json"
    node_file.write_text(
        json.dumps(
            {
                "node": name,
                "bind": "127.0.0.1",
                "port": port,
                "profile": profile,
                "stages_dir": str(stages_dir or tmp),
                "trace_dir": str(node_dir / "traces"),
                "run_file": str(run_file),
            }
        )
    )
    return node_file


@dataclass
class Running:
    server: NodeServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def trace_path(self) -> Path:
        return self.server.trace.path

    def stop(self) -> None:
        self.server.request_stop()
        self.thread.join(timeout=10)
        assert not self.thread.is_alive()


@pytest.fixture
def start() -> Iterator[Callable[..., Running]]:
    """Start NodeServers in threads; stops whatever a test left running."""
    running: list[Running] = []

    def _start(node_file: Path, server_cls: type[NodeServer] = NodeServer) -> Running:
        if server_cls is NodeServer:
            server = build_server(node_file, address=("127.0.0.1", 0))
        else:
            node = NodeConfig.load(node_file)
            run = RunConfig.load(node.run_file)
            server = server_cls(
                node,
                run,
                load_profile(node.profile),
                load_pipeline(node.stages_dir, run.stages, run.input_size),
                ("127.0.0.1", 0),
            )
        thread = threading.Thread(target=server.run, kwargs={"log": False}, daemon=True)
        thread.start()
        r = Running(server, thread)
        running.append(r)
        return r

    yield _start
    for r in running:
        if r.thread.is_alive():
            r.stop()


def request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    conn: http.client.HTTPConnection | None = None,
) -> tuple[int, dict[str, Any]]:
    own = conn is None
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        c.request(method, path, body=body, headers=headers or {})
        resp = c.getresponse()
        data = resp.read()
        assert resp.getheader("Content-Length") == str(len(data))
        return resp.status, json.loads(data)
    finally:
        if own:
            c.close()


def send_frame(port: int, packet_id: int, x: np.ndarray, **kw: Any) -> tuple[int, dict]:
    body = x.astype("<f4").tobytes()
    return request(port, "POST", "/message", body, {"X-Packet-Id": str(packet_id)}, **kw)


def raw_request(port: int, head: str, body: bytes = b"") -> tuple[int, dict, bool]:
    """Send hand-made request bytes; returns status, JSON body, whether the server closed."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        resp = http.client.HTTPResponse(s)
        resp.begin()
        data = json.loads(resp.read())
        closed = resp.getheader("Connection", "").lower() == "close"
        if closed:
            s.settimeout(2)
            try:
                closed = s.recv(1) == b""
            except ConnectionResetError:
                closed = True
        return resp.status, data, closed


def read_trace(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# How long a test waits for an event (a trace row, a /stats counter) before it gives up.
# It only bounds a hang: a test waits for the event, never for a guessed duration, so a
# busy machine makes it slower, not red.
EVENT_TIMEOUT_S = 60.0


def wait_for(predicate: Callable[[], Any], timeout: float = EVENT_TIMEOUT_S) -> Any:
    """Poll until `predicate()` is truthy; its last value (falsy after the timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.02)


def idle(port: int, processed: int) -> bool:
    """The node has processed `processed` frames and holds none: nothing a stop would drop."""
    st = request(port, "GET", "/stats")[1]
    return st["processed"] >= processed and st["queue_depth"] == 0 and st["busy"] == 0


def events(path: Path, event: str) -> list[dict[str, str]]:
    if not path.exists():
        return []
    return [row for row in read_trace(path) if row["event"] == event]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# fixtures --------------------------------------------------------------------------------

RNG = np.random.default_rng(7)
SMALL_LAYERS = [
    (RNG.standard_normal((16, 32)), RNG.standard_normal(32), "relu"),
    (RNG.standard_normal((32, 8)), RNG.standard_normal(8), "linear"),
]


@pytest.fixture(scope="module")
def big_stage_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One 2000x2000 dense layer: 40 ms in the rpi3bplus profile, a few ms for numpy here."""
    d = tmp_path_factory.mktemp("big")
    kernel = np.full((2000, 2000), 1e-3, dtype=np.float32)
    write_stage(d / "L2.npz", [(kernel, np.zeros(2000, np.float32), "relu")])
    return d


class CapturingSink(NodeServer):
    """A real sink node that also keeps the frames it received, so outputs can be compared."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.frames: dict[int, np.ndarray] = {}

    def admit(self, packet_id: int, body: bytes) -> dict[str, Any]:
        self.frames[packet_id] = np.frombuffer(body, dtype="<f4")
        return super().admit(packet_id, body)


# tests -----------------------------------------------------------------------------------


def test_two_node_pipeline_delivers_numpy_result(tmp_path: Path, start) -> None:
    write_stage(tmp_path / "S1.npz", SMALL_LAYERS)
    sink = start(
        write_configs(tmp_path, "sink", stages=[], next_hops=[], input_size=8),
        CapturingSink,
    )
    node = start(
        write_configs(
            tmp_path, "n1", stages=["S1"], next_hops=[f"127.0.0.1:{sink.port}"], input_size=16
        )
    )
    xs = {pid: RNG.standard_normal(16).astype(np.float32) for pid in range(5)}
    conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=5)
    for pid, x in xs.items():
        status, reply = send_frame(node.port, pid, x, conn=conn)
        assert status == 200 and reply["accepted"] is True
        assert set(reply) == {"accepted", "overloaded", "queue_depth", "service_ms",
                              "queue_size", "stage_ms", "taken", "share"}  # feedback, issue 13
    conn.close()

    assert wait_for(lambda: len(sink.server.frames) == len(xs))
    for pid, x in xs.items():
        assert np.allclose(sink.server.frames[pid], reference(x, SMALL_LAYERS), atol=1e-5)

    assert wait_for(lambda: request(node.port, "GET", "/stats")[1]["forwarded"] == len(xs))
    node.stop()
    sink.stop()
    n1 = read_trace(node.trace_path)
    assert {r["event"] for r in n1} == {"received", "started", "finished", "forwarded", "stopped"}
    assert n1[-1]["event"] == "stopped"  # a clean stop ends the trace; a killed node has none
    assert {r["detail"] for r in n1 if r["event"] == "forwarded"} == {f"127.0.0.1:{sink.port}"}
    received = events(sink.trace_path, "received")
    assert sorted(int(r["packet_id"]) for r in received) == list(xs)
    assert all(r["node"] == "sink" and r["detail"] == "" for r in received)


def test_bad_frames_are_rejected_counted_traced_and_node_keeps_serving(
    tmp_path: Path, start
) -> None:
    write_stage(tmp_path / "S1.npz", SMALL_LAYERS)
    node = start(
        write_configs(
            tmp_path, "n1", stages=["S1"], next_hops=[], input_size=16, max_body_bytes=1000
        )
    )
    good = np.zeros(16, "<f4").tobytes()
    cases = [
        # (request head, body, expected status, reason, traced packet id, connection closed)
        (
            f"POST /message HTTP/1.1\nContent-Length: {len(good)}\n",
            good,
            400,
            "missing_packet_id",
            -1,
            False,
        ),
        (
            f"POST /message HTTP/1.1\nX-Packet-Id: -3\nContent-Length: {len(good)}\n",
            good,
            400,
            "bad_packet_id",
            -1,
            False,
        ),
        (
            f"POST /message HTTP/1.1\nX-Packet-Id: abc\nContent-Length: {len(good)}\n",
            good,
            400,
            "bad_packet_id",
            -1,
            False,
        ),
        # 411 Length Required (node_app/validate.py: a missing length is not a malformed one)
        ("POST /message HTTP/1.1\nX-Packet-Id: 7\n", b"", 411, "missing_content_length", 7, True),
        (
            "POST /message HTTP/1.1\nX-Packet-Id: 8\nContent-Length: 50000000\n",
            b"",
            413,
            "body_too_large",
            8,
            True,
        ),
        (
            "POST /message HTTP/1.1\nX-Packet-Id: 9\nContent-Length: 8\n",
            b"12345678",
            400,
            "bad_body_size",
            9,
            False,
        ),
    ]
    for head, body, status, reason, _pid, closed in cases:
        got_status, reply, got_closed = raw_request(node.port, head, body)
        assert (got_status, reply["error"]) == (status, reason)
        assert got_closed == closed, reason

    status, stats = request(node.port, "GET", "/stats")
    assert stats["rejected"] == {
        "missing_packet_id": 1,
        "bad_packet_id": 2,
        "missing_content_length": 1,
        "body_too_large": 1,
        "bad_body_size": 1,
    }
    assert stats["received"] == 0

    status, reply = send_frame(node.port, 42, np.ones(16))
    assert status == 200 and reply["accepted"] is True
    assert wait_for(lambda: events(node.trace_path, "finished"))

    node.stop()
    rejected = [(int(r["packet_id"]), r["detail"]) for r in events(node.trace_path, "rejected")]
    assert rejected == [(pid, reason) for _, _, _, reason, pid, _ in cases]


def test_full_queue_drops_and_reply_says_overloaded(
    tmp_path: Path, big_stage_dir: Path, start
) -> None:
    node = start(
        write_configs(
            tmp_path,
            "n1",
            stages=["L2"],
            next_hops=[],
            input_size=2000,
            profile="rpi3bplus",
            queue_size=1,
            max_body_bytes=10000,
            stages_dir=big_stage_dir,
        )
    )
    conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=5)
    replies = [send_frame(node.port, pid, np.ones(2000), conn=conn)[1] for pid in range(6)]
    conn.close()

    dropped = [r for r in replies if not r["accepted"]]
    assert dropped, replies
    assert all(r["overloaded"] is True and r["queue_depth"] <= 1 for r in dropped)
    assert replies[0]["accepted"] is True
    assert replies[0]["service_ms"] == pytest.approx(40.0)

    stats = request(node.port, "GET", "/stats")[1]
    assert stats["dropped"] == {"queue_full": len(dropped)}
    assert stats["accepted"] + len(dropped) == stats["received"] == 6
    node.stop()
    traced = events(node.trace_path, "dropped")
    assert [r["detail"] for r in traced][: len(dropped)] == ["queue_full"] * len(dropped)


def test_finished_records_profile_time_and_the_node_waits_it_out(
    tmp_path: Path, big_stage_dir: Path, start
) -> None:
    node = start(
        write_configs(
            tmp_path,
            "n1",
            stages=["L2"],
            next_hops=[],
            input_size=2000,
            profile="rpi3bplus",
            max_body_bytes=10000,
            stages_dir=big_stage_dir,
        )
    )
    for pid in range(3):
        assert send_frame(node.port, pid, np.ones(2000))[1]["accepted"]
    assert wait_for(lambda: request(node.port, "GET", "/stats")[1]["processed"] == 3)
    stats = request(node.port, "GET", "/stats")[1]
    node.stop()

    rows = read_trace(node.trace_path)
    for pid in range(3):
        mine = {r["event"]: r for r in rows if r["packet_id"] == str(pid)}
        real_ms, profile_ms = mine["finished"]["detail"].split(":")
        assert profile_ms == "40.00"
        assert 0 < float(real_ms) < 40.0
        busy_ms = (float(mine["finished"]["t"]) - float(mine["started"]["t"])) * 1000
        # It waited the profile's time out; how little it overshoots on an idle machine is
        # the emulator's fidelity, measured by make bench, not asserted on a busy one.
        assert busy_ms >= 39.0
    assert stats["service_ms"] >= 39.0


def test_unknown_routes_are_json_and_there_are_no_control_endpoints(tmp_path: Path,
                                                                     start) -> None:
    """POST /control/stop and /control/flush went in issue 18 (node_app-ctl stops a node
    with SIGTERM); with the token that once guarded them they are unknown paths."""
    node = start(write_configs(tmp_path, "sink", stages=[], next_hops=[], input_size=4))
    assert request(node.port, "POST", "/control/flush", b"", {"X-Token": TOKEN}) == (
        404, {"error": "not_found", "detail": "/control/flush"})
    assert request(node.port, "POST", "/control/stop", b"", {"X-Token": TOKEN})[0] == 404
    assert request(node.port, "GET", "/nope")[0] == 404
    assert request(node.port, "GET", "/message")[0] == 405
    assert request(node.port, "DELETE", "/stats")[0] == 405
    status, health = request(node.port, "GET", "/health")
    assert (status, health) == (200, {"ok": True, "node": "sink", "run_id": "r1"})
    # Unknown paths and methods are rejections too (issue 7): counted with their reason.
    assert request(node.port, "GET", "/stats")[1]["rejected"] == {
        "not_found": 3, "method_not_allowed": 2}
    assert node.thread.is_alive()
    node.stop()
    assert [r["detail"] for r in events(node.trace_path, "rejected")] == ["not_found"] * 3 + [
        "method_not_allowed", "method_not_allowed"]


def test_trace_is_flushed_while_running_and_complete_after_stop(tmp_path: Path, start) -> None:
    write_stage(tmp_path / "S1.npz", SMALL_LAYERS)
    node = start(write_configs(tmp_path, "n1", stages=["S1"], next_hops=[], input_size=16))
    for pid in range(3):
        send_frame(node.port, pid, np.ones(16))
    # The node still running: the flusher thread alone gets rows to disk.
    assert wait_for(lambda: len(events(node.trace_path, "finished")) == 3)

    for pid in range(3, 6):
        send_frame(node.port, pid, np.ones(16))
    # Stop once the node has done all six (a stop drops frames still queued, by design), not
    # once the flusher wrote them: the last rows reach the file through close() alone.
    assert wait_for(lambda: idle(node.port, processed=6))
    node.stop()  # as SIGTERM does (test_sigterm_leaves_complete_trace)

    assert node.trace_path.read_text().splitlines()[0] == "t,packet_id,node,event,detail"
    rows = read_trace(node.trace_path)
    for event in ("received", "started", "finished"):
        assert sorted(int(r["packet_id"]) for r in rows if r["event"] == event) == list(range(6))
    assert all(len(r["t"].split(".")[1]) == 6 for r in rows)


def _interpreters() -> list[str]:
    """The test interpreter, plus Debian's python3 (what real nodes run) if it has numpy."""
    found = [sys.executable]
    system = shutil.which("python3", path="/usr/bin")
    if (
        system
        and subprocess.run([system, "-c", "import numpy"], capture_output=True).returncode == 0
    ):
        found.append(system)
    return found


@pytest.mark.parametrize("python", _interpreters())
def test_sigterm_leaves_complete_trace(tmp_path: Path, python: str) -> None:
    write_stage(tmp_path / "S1.npz", SMALL_LAYERS)
    port = free_port()
    node_file = write_configs(tmp_path, "n1", stages=["S1"], next_hops=[], input_size=16, port=port)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [python, "-m", "node_app", "--config", str(node_file)],
        cwd=tmp_path,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def healthy() -> bool:
            try:
                return request(port, "GET", "/health")[0] == 200
            except OSError:
                return False

        assert wait_for(healthy), proc.stderr and proc.poll()
        for pid in range(4):
            assert send_frame(port, pid, np.ones(16))[1]["accepted"]
        assert wait_for(lambda: request(port, "GET", "/stats")[1]["processed"] == 4)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = proc.stderr.read() if proc.stderr else ""
    assert "node=n1" in stderr and "run_id=r1" in stderr and "stages=['S1']" in stderr
    trace = tmp_path / "n1" / "traces" / "r1.csv"
    rows = read_trace(trace)
    for event in ("received", "started", "finished"):
        assert sorted(int(r["packet_id"]) for r in rows if r["event"] == event) == [0, 1, 2, 3]


def test_bad_config_names_the_field(tmp_path: Path) -> None:
    node_file = write_configs(tmp_path, "n1", stages=[], next_hops=[], input_size=4)
    run_file = tmp_path / "n1" / "run.json"
    run = json.loads(run_file.read_text())
    del run["queue_size"]
    run_file.write_text(json.dumps(run))
    with pytest.raises(ConfigError, match="queue_size"):
        build_server(node_file, address=("127.0.0.1", 0))
    run["queue_size"] = 0
    run_file.write_text(json.dumps(run))
    with pytest.raises(ConfigError, match="'queue_size' must be >= 1"):
        build_server(node_file, address=("127.0.0.1", 0))
    run.update(queue_size=1, next_hops=["no-port"])
    run_file.write_text(json.dumps(run))
    with pytest.raises(ConfigError, match=r"next_hops'\[0\]"):
        build_server(node_file, address=("127.0.0.1", 0))


def test_profiles_follow_cao_measurements() -> None:
    rpi = load_profile("rpi3bplus")
    assert rpi.frame_ms([(100, 2000)]) == 4.0
    assert rpi.frame_ms([(100, 2000), (2000, 2000)]) == 44.0
    # Unlisted shapes use the line through both measurements.
    assert rpi.frame_ms([(1000, 1000)]) == pytest.approx(2.105 + 9.474e-06 * 1e6)
    assert load_profile("zero").frame_ms([(2000, 2000)]) == 0.0
    assert load_profile("native").frame_ms([(2000, 2000)]) is None
    half = load_profile("rpi3bplus_half_speed")  # heterogeneous task helpers: every time x 2
    for shape in [(100, 2000), (2000, 2000), (2000, 500), (1000, 1000)]:
        assert half.frame_ms([shape]) == pytest.approx(2 * rpi.frame_ms([shape]))
    assert half.switch_ms(16_816_000) == pytest.approx(2 * rpi.switch_ms(16_816_000))
    with pytest.raises(ProfileError, match="native, rpi3b, rpi3bplus, rpi3bplus_half_speed, "
                                           "rpi4b, rpi5, rpizero2w, zero"):
        load_profile("rpi4")


def test_forward_failures_are_traced_with_reason(tmp_path: Path, start) -> None:
    write_stage(tmp_path / "S1.npz", SMALL_LAYERS)
    # The sink expects 4 values but gets 8: it answers 400, the sender records http_400.
    wrong_sink = start(write_configs(tmp_path, "sink", stages=[], next_hops=[], input_size=4))
    to_sink = start(
        write_configs(
            tmp_path,
            "a",
            stages=["S1"],
            next_hops=[f"127.0.0.1:{wrong_sink.port}"],
            input_size=16,
        )
    )
    to_nowhere = start(
        write_configs(
            tmp_path, "b", stages=["S1"], next_hops=[f"127.0.0.1:{free_port()}"], input_size=16
        )
    )
    for node in (to_sink, to_nowhere):
        for pid in range(2):
            assert send_frame(node.port, pid, np.ones(16))[1]["accepted"]
    for node in (to_sink, to_nowhere):
        assert wait_for(lambda n=node: request(n.port, "GET", "/stats")[1]["forward_failed"] == 2)
        node.stop()
    assert [r["detail"] for r in events(to_sink.trace_path, "forward_failed")] == ["http_400"] * 2
    assert [r["detail"] for r in events(to_nowhere.trace_path, "forward_failed")] == [
        "connect_error"
    ] * 2
    assert request(wrong_sink.port, "GET", "/stats")[1]["rejected"] == {"bad_body_size": 2}
