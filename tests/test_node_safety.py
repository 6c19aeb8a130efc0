"""node_app under concurrent or hostile use (issue 18): the sink's kept outputs, bounded
tables keyed by what peers send, and a task helper that survives any gateway reply.

Nodes run in this process on 127.0.0.1 (test_node_app's fixtures); the misbehaving gateway
is a real HTTP server on 127.0.0.1 too.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import test_node_app
from test_node_app import (  # tests/ is on sys.path (pytest rootdir)
    events,
    request,
    wait_for,
    write_configs,
    write_stage,
)

from node_app.roles import merge
from node_app.server import build_server

start = test_node_app.start  # the fixture that starts NodeServers in threads


def sink_server(tmp: Path, keep: int, **run: object):
    node_file = write_configs(tmp, "sink", stages=[], next_hops=[], input_size=1)
    run_file = Path(json.loads(node_file.read_text())["run_file"])
    run_file.write_text(json.dumps({**json.loads(run_file.read_text()), "keep_outputs": keep,
                                    "outputs_file": str(tmp / "outputs.npz"), **run}))
    return build_server(node_file, address=("127.0.0.1", 0))


def test_sink_keeps_outputs_safely_while_handler_threads_add_and_it_closes(
        tmp_path: Path) -> None:
    """Handler threads admit frames while close() writes the kept ones: close() must not see
    the dict change under it, and no more than keep_outputs frames are ever kept."""
    keep = 40_000
    server = sink_server(tmp_path, keep)
    role = server.role
    body = np.zeros(1, "<f4").tobytes()
    errors: list[BaseException] = []
    go = threading.Event()
    next_id = iter(range(10**7))
    lock = threading.Lock()

    def hammer() -> None:
        go.wait()
        try:
            while True:
                with lock:
                    pid = next(next_id)
                if pid >= 3 * keep:
                    return
                role.admit(pid, body)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    go.set()
    try:
        while len(role.kept) < keep // 2 and any(t.is_alive() for t in threads):
            pass
        role.close()  # while the threads still add
    finally:
        for t in threads:
            t.join(timeout=60)
        server.core.trace.close()
        server.server_close()
    assert not errors, errors
    assert len(role.kept) == keep
    with np.load(tmp_path / "outputs.npz") as saved:
        assert keep // 2 <= len(saved.files) <= keep



def test_merging_sink_holds_a_bounded_number_of_open_frames(tmp_path: Path, start,
                                                           monkeypatch) -> None:
    """Packet ids are peer input: one slice each of many frames must not grow the merge
    table without bound. The oldest open frame is evicted (dropped, missing_slice, counted);
    its late slices are refused; every lost frame is traced exactly once."""
    monkeypatch.setattr(merge, "MAX_PARTIAL", 8, raising=False)
    node_file = write_configs(tmp_path, "sink", stages=[], next_hops=[], input_size=8)
    run_file = Path(json.loads(node_file.read_text())["run_file"])
    run_file.write_text(json.dumps({**json.loads(run_file.read_text()), "slices": 2}))
    sink = start(node_file)
    half = np.ones(4, "<f4").tobytes()

    def slice_(pid: int, i: int) -> dict:
        status, reply = request(sink.port, "POST", "/message", half,
                                {"X-Packet-Id": str(pid), "X-Slice": f"{i}/2"})
        assert status == 200, reply
        return reply

    for pid in range(20):
        assert slice_(pid, 0)["accepted"] is True
    assert len(sink.server.role.merger._parts) == 8
    st = request(sink.port, "GET", "/stats")[1]
    assert (st["partials_evicted"], st["dropped"]) == (12, {"missing_slice": 12})
    assert slice_(0, 1)["accepted"] is False  # its frame was evicted
    assert slice_(19, 1)["accepted"] is True  # an open frame still completes
    assert request(sink.port, "GET", "/stats")[1]["received"] == 1
    sink.stop()
    lost = [int(r["packet_id"]) for r in events(sink.trace_path, "dropped")]
    assert sorted(lost) == list(range(19))
    assert [int(r["packet_id"]) for r in events(sink.trace_path, "received")] == [19]


# A task helper and a gateway that misbehaves ----------------------------------------------

N_IN, WIDTH, BLOCKS = 4, 4, 2
TASK = np.arange(N_IN, dtype="<f4").tobytes()


def task_reply(pid: bytes, block: bytes = b"0/2", body: bytes = TASK, status: bytes = b"200 OK",
               length: bytes | None = None) -> bytes:
    """A raw /task/next reply: the fake gateway writes these bytes as they are."""
    n = str(len(body)).encode() if length is None else length
    return (b"HTTP/1.1 " + status + b"\r\nContent-Length: " + n + b"\r\nX-Packet-Id: " + pid
            + b"\r\nX-Block: " + block + b"\r\n\r\n" + body)


class FakeGateway(ThreadingHTTPServer):
    """/task/next answers with the queued raw replies, then 204 (after a short long-poll);
    /task/result is recorded."""

    daemon_threads = True

    def __init__(self, replies: list[bytes]) -> None:
        super().__init__(("127.0.0.1", 0), _FakeGatewayHandler)
        self.replies = deque(replies)
        self.results: list[tuple[str, str, bytes]] = []


class _FakeGatewayHandler(BaseHTTPRequestHandler):
    server: FakeGateway
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/task/result":
            self.server.results.append((self.headers["X-Packet-Id"], self.headers["X-Block"],
                                        body))
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{\"ok\": true}")
            return
        try:
            raw = self.server.replies.popleft()
        except IndexError:
            time.sleep(0.05)
            raw = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"
        self.wfile.write(raw)
        if not raw.startswith(b"HTTP/1.1 2"):
            self.close_connection = True


def test_task_helper_survives_any_gateway_reply_and_counts_it(tmp_path: Path, start) -> None:
    """Malformed replies must not kill the helper's worker: each is counted in /stats
    pull_errors and the helper keeps pulling until a good task comes, which it computes."""
    rng = np.random.default_rng(0)
    kernel, bias = rng.standard_normal((N_IN, WIDTH)), rng.standard_normal(WIDTH)
    write_stage(tmp_path / "L2.npz", [(kernel, bias, "linear")])
    bad = [
        task_reply("\u00b2".encode("latin-1")),  # "²": str.isdigit() but int() raises
        task_reply("\u0661".encode()),  # "١" as UTF-8 bytes (latin-1 on the helper's side)
        task_reply(b"1", block=b"2/2"),  # block out of range
        task_reply(b"1", body=TASK[:-4]),  # one float short
        task_reply(b"1", length=b"999999999"),  # a body far over a task's size
        task_reply(b"1", status=b"500 Internal Server Error", body=b"{}"),
        b"HTTP/1.1 banana\r\n\r\n",  # not HTTP at all
    ]
    gw = FakeGateway([*bad, task_reply(b"7", block=b"1/2")])
    threading.Thread(target=gw.serve_forever, kwargs={"poll_interval": 0.05},
                     daemon=True).start()
    try:
        node_file = write_configs(tmp_path, "h0", stages=["L2"], next_hops=[], input_size=N_IN)
        run_file = Path(json.loads(node_file.read_text())["run_file"])
        run_file.write_text(json.dumps({
            **json.loads(run_file.read_text()),
            "pull": {"gateway": f"127.0.0.1:{gw.server_address[1]}", "blocks": BLOCKS}}))
        helper = start(node_file)
        assert wait_for(lambda: gw.results, 20), request(helper.port, "GET", "/stats")[1]
        pid, block, body = gw.results[0]
        assert (pid, block) == ("7", "1/2")
        want = (np.arange(N_IN) @ kernel[:, 2:] + bias[2:]).astype("<f4")
        np.testing.assert_allclose(np.frombuffer(body, "<f4"), want, rtol=1e-5)
        st = request(helper.port, "GET", "/stats")[1]
        assert st["tasks_done"] == 1
        assert st["pull_errors"] == {"bad_task": 4, "too_large": 1, "bad_status": 1,
                                     "connection": 1}, st["pull_errors"]
        assert helper.server._worker is not None and helper.server._worker.is_alive()
    finally:
        gw.shutdown()
        gw.server_close()


class _ClosesIdleHandler(BaseHTTPRequestHandler):
    """Answers each POST and then closes the connection without saying so (no
    `Connection: close`), as node_app does to a kept-alive connection idle past
    read_timeout_s: the client finds out only on its next request."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.requests += 1  # type: ignore[attr-defined]
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n{\"ok\": true}")
        self.wfile.flush()
        self.close_connection = True


def test_a_helpers_link_reconnects_when_the_gateway_closed_it_while_idle() -> None:
    """A helper computing a 20 s tile of yolov2-16-608 found its kept-alive connection to the
    gateway closed (read_timeout_s), lost the result (BrokenPipe), and the tile went round
    and round. The link now sends once more on a fresh connection."""
    from node_app.roles.task_helper import Link

    server = ThreadingHTTPServer(("127.0.0.1", 0), _ClosesIdleHandler)
    server.requests = 0  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        link = Link("127.0.0.1", server.server_address[1], "h1", 5.0)
        for _ in range(3):  # each post after the first finds the old connection closed
            status, _headers, data = link.post("/task/result", {}, b"x" * 1000)
            assert (status, json.loads(data)) == (200, {"ok": True})
        assert server.requests == 3  # every result arrived, none twice
    finally:
        server.shutdown()
        server.server_close()
