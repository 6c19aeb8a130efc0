"""The HTTP layer: routes, request checks, replies, and the node's lifecycle.

Request threads only validate, hand the frame to the node's role (usually: enqueue) and
reply, so the reply time measured by the client is the network plus admission cost; the
single worker thread models the device (one frame at a time), and queue overflow is the
overload signal the experiments are about. What the node does with a frame is its role's
business (node_app/role.py, chosen by node_app/registry.py); the device state the roles share
is node_app/node.py. Nothing here depends on the strategy.
"""

from __future__ import annotations

import json
import queue
import socketserver
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from node_app import validate
from node_app.config import NodeConfig, RunConfig
from node_app.conn import RequestReader
from node_app.node import Node
from node_app.profile import Profile, load_profile, parse_profile
from node_app.registry import make_role
from node_app.role import TaskSource
from node_app.stage import Pipeline, load_pipeline
from node_app.stats import Stats, rss_kb, rss_peak_kb
from node_app.trace import TraceWriter

# FTP work stealing (node_app/roles/steal_gateway.py, steal_device.py): the gateway's victim
# registry and leases, and a device's local tile queue that thieves steal from; with data
# reuse (reuse_gateway.py) a dependent tile's overlap data from the gateway.
_STEAL_PATHS = ("/steal/register", "/steal/cancel", "/steal/victim", "/steal/lease",
                "/steal/tile", "/steal/reuse")
# strict_peers applies to these
_DATA_PATHS = ("/message", "/task/next", "/task/result", *_STEAL_PATHS)
# Reasons for statuses the stdlib parser raises (bad request line, header limits, ...).
_ERRORS = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 408: "read_timeout",
           414: "uri_too_long", 431: "headers_too_large", 505: "http_version_not_supported"}
_ROUTES = {
    "/message": "POST",
    "/health": "GET",
    "/stats": "GET",
    "/clock": "GET",  # the trace clock, for the controller's NTP-style exchange (no token)
    "/feedback": "GET",  # the heartbeat an upstream entry polls (node_app/feedback.py)
    "/task/next": "POST",  # task sharing: gateway only (node_app/roles/task_gateway.py)
    "/task/result": "POST",
    **dict.fromkeys(_STEAL_PATHS, "POST"),
}
_MAX_DRAIN = 1 << 20  # larger bodies on non-/message routes are not read: connection closed


class NodeServer(ThreadingHTTPServer):
    """The node's HTTP front end; the device state is `core` (node_app/node.py) and what the
    node does with frames is its `role` (node_app/role.py, chosen by node_app/registry.py)."""

    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True

    def __init__(
        self,
        node: NodeConfig,
        run: RunConfig,
        profile: Profile,
        pipeline: Pipeline,
        address: tuple[str, int] | None = None,
    ):
        self.node = node
        self.run_cfg = run
        self.core = Node(node, run, profile, pipeline)
        self.role = make_role(self.core)  # before the bind: a bad role config binds nothing
        # Input checks (node_app/validate.py): duplicate keys, and who may send data.
        self.seen = validate.SeenIds(self.role.slices or 1)
        self.peers = frozenset(validate.normalise_ip(p) for p in run.peers)
        self._stop_requested = threading.Lock()
        self._worker: threading.Thread | None = None
        super().__init__(address or (node.bind, node.port), Handler)
        self.core.port = self.port
        # Only after bind succeeded: a failed start must not leave an empty trace behind.
        self.core.open_trace()

    def server_bind(self) -> None:
        """Bind without HTTPServer's socket.getfqdn(), which can stall on DNS for seconds."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def trace(self) -> TraceWriter:
        return self.core.trace

    @property
    def stats(self) -> Stats:
        return self.core.stats

    @property
    def stopping(self) -> threading.Event:
        return self.core.stopping

    def describe(self) -> str:
        core = self.core
        timing = "native" if core.profile_ms is None else f"{core.profile_ms:.2f} ms/frame"
        sink = " (sink)" if self.role.is_sink else ""
        return (
            f"node_app: node={self.node.node}{sink} run_id={self.run_cfg.run_id} "
            f"listen={self.server_name}:{self.port} profile={core.profile.name} ({timing}) "
            f"stages={list(self.run_cfg.stages)} next_hops={list(self.run_cfg.next_hops)} "
            f"queue_size={self.run_cfg.queue_size}{self.role.describe()} "
            f"peers={sorted(self.peers) if self.node.strict_peers else 'any'} "
            f"weights_bytes={core.pipeline.weights_bytes}"
        )

    # lifecycle ---------------------------------------------------------------------------

    def run(self, log: bool = True) -> None:
        """Serve until request_stop(), then flush and release everything."""
        if self.role.worker:
            self._worker = threading.Thread(target=self._work, name="worker", daemon=True)
            self._worker.start()
        if log:
            print(self.describe(), file=sys.stderr, flush=True)
        try:
            self.serve_forever(poll_interval=0.2)
        finally:
            self.close()

    def request_stop(self) -> None:
        """Ask serve_forever to return; callable from a handler thread or a signal handler."""
        if self._stop_requested.acquire(blocking=False):
            self.stopping.set()
            threading.Thread(target=self.shutdown, name="shutdown", daemon=True).start()

    def close(self) -> None:
        core = self.core
        core.stopping.set()
        if self._worker is not None:
            while True:  # frames still queued are lost: say so in the trace
                core.drop_queued("shutdown")
                try:
                    core.queue.put_nowait(None)
                    break
                except queue.Full:
                    continue
            self._worker.join(timeout=10)
            core.drop_queued("shutdown")
        core.flush_sends()
        self.role.close()
        core.close_forwarders()
        core.trace.close()
        self.server_close()

    def _work(self) -> None:
        """The worker thread: the role's loop (queue, or a task helper's pulling)."""
        self.role.work()

    # request side ------------------------------------------------------------------------

    def admit(self, packet_id: int, body: bytes) -> dict[str, Any]:
        """A checked whole frame (a merged one too) to the role; the /message reply."""
        return self.role.admit(packet_id, body)

    def reject(self, packet_id: int, reason: str) -> None:
        self.stats.count(self.stats.rejected, reason)
        self.trace.write(packet_id, "rejected", reason)

    def stats_snapshot(self) -> dict[str, Any]:
        out = self.core.snapshot()
        # Outside stats.lock: a role may take its own lock and, while holding it, count into
        # stats (the task board: lock order board -> stats); nesting them here the other way
        # round deadlocked a gateway polled for /stats.
        out["rss_kb"] = rss_kb()
        out["rss_peak_kb"] = rss_peak_kb()
        out.update(self.role.stats())
        return out


class Handler(BaseHTTPRequestHandler):
    """Routes of docs/architecture.md; every reply is JSON with a Content-Length."""

    server: NodeServer
    rfile: RequestReader  # type: ignore[assignment]
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "node_app/0.1"
    # A buffered wfile: end_headers() only fills the buffer and each reply is sent by one
    # flush (headers and body together), as the stdlib advises with disable_nagle_algorithm.
    wbufsize = 1 << 16

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request logging: the trace is the record, the log is for errors."""

    def setup(self) -> None:
        super().setup()
        self.rfile = RequestReader(self.connection, self.server.run_cfg.read_timeout_s)

    def handle_one_request(self) -> None:
        """The stdlib's, with a per-request deadline (node_app/conn.py) and JSON errors."""
        self.request_version, self.command, self.requestline = "HTTP/1.1", "", ""
        self.rfile.begin()
        try:
            self.raw_requestline = self.rfile.readline(65537)
            if len(self.raw_requestline) > 65536:
                self.send_error(414, "request line too long")
            elif not self.raw_requestline:
                self.close_connection = True
            elif self.parse_request():
                if self.request_version == "HTTP/0.9":  # no headers, no length: refuse
                    self.send_error(400, "HTTP/0.9 requests are not supported")
                    return
                getattr(self, "do_" + self.command, self._unknown_method)()
                self.wfile.flush()  # a reply not sent by _send_json (the /task/next ones)
        except TimeoutError:  # the request was not complete by its deadline
            self.close_connection = True
            if self.rfile.partial:
                self.send_error(408, f"request not complete within "
                                f"{self.server.run_cfg.read_timeout_s:g} s")

    def _unknown_method(self) -> None:
        self.send_error(405, f"unsupported method {self.command[:20]!r}")

    def _send_json(self, code: int, obj: dict[str, Any], close: bool = False) -> None:
        data = json.dumps(obj).encode()
        if self.request_version == "HTTP/0.9":  # stdlib would send no status line, no headers
            self.request_version = "HTTP/1.1"
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()  # into the buffered wfile (wbufsize): nothing sent yet
        if self.command != "HEAD":
            self.wfile.write(data)
        self.wfile.flush()  # headers and body in one write: one TCP segment per small reply

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """JSON instead of HTML for errors raised by the stdlib parser (bad request line,
        unsupported method, header limits, ...), counted and traced like every rejection.
        The body may be unread, so the connection is closed."""
        if code == 501:
            code = 405
        error = _ERRORS.get(code, f"http_{code}")
        self.server.reject(-1, error)
        self._send_json(code, {"error": error, "detail": message or ""}, close=True)

    def _route(self, method: str) -> str | None:
        path = urlsplit(self.path).path
        allowed = _ROUTES.get(path)
        if allowed is None:
            self._drain()
            self.server.reject(-1, "not_found")
            self._send_json(404, {"error": "not_found", "detail": path[:200]})
            return None
        if allowed != method:
            self._drain()
            self.server.reject(-1, "method_not_allowed")
            self._send_json(405, {"error": "method_not_allowed", "detail": f"use {allowed}"})
            return None
        return path

    def _drain(self) -> None:
        """Consume a small request body so the keep-alive connection stays in sync."""
        length, _reason = validate.content_length(self.headers)
        if length is None and (self.headers.get("Transfer-Encoding")
                               or self.headers.get("Content-Length")):
            self.close_connection = True
        elif length is not None and length > _MAX_DRAIN:
            self.close_connection = True
        elif length:
            if len(self.rfile.read(length)) < length:
                self.close_connection = True

    def do_GET(self) -> None:
        path = self._route("GET")
        if path == "/health":
            srv = self.server
            self._send_json(200, {"ok": True, "node": srv.node.node, "run_id": srv.run_cfg.run_id})
        elif path == "/stats":
            self._send_json(200, self.server.stats_snapshot())
        elif path == "/feedback":
            self._send_json(200, {"node": self.server.node.node} | self.server.core.feedback())
        elif path == "/clock":  # read as late as possible: the reply is what is timed
            self._send_json(200, {"node": self.server.node.node, "t": self.server.trace.clock()})

    # Every other verb: 404 for an unknown path, else 405 naming the allowed method.
    def do_HEAD(self) -> None:
        self._route("HEAD")

    def do_PUT(self) -> None:
        self._route("PUT")

    def do_DELETE(self) -> None:
        self._route("DELETE")

    def do_PATCH(self) -> None:
        self._route("PATCH")

    def do_OPTIONS(self) -> None:
        self._route("OPTIONS")

    def do_POST(self) -> None:
        path = self._route("POST")
        if path in _DATA_PATHS and not self._peer_ok():
            return
        if path == "/message":
            self._message()
        elif path in ("/task/next", "/task/result"):
            self._task(path)
        elif path in _STEAL_PATHS:
            self._steal(path)

    def _peer_ok(self) -> bool:
        """strict_peers: data only from the run's upstream addresses (run.json `peers`)."""
        srv = self.server
        peer = validate.normalise_ip(self.client_address[0])
        if not srv.node.strict_peers or peer in srv.peers:
            return True
        srv.reject(-1, "not_a_peer")
        self._send_json(403, {"error": "not_a_peer", "detail": peer}, close=True)
        return False

    def _message(self) -> None:
        srv = self.server
        v = validate.read_message(self.headers, self.rfile, srv.run_cfg, srv.role.slices)
        if not v.reason and not srv.seen.add(v.packet_id, v.slice_index):
            v.fail(400, "duplicate_packet_id", f"packet {v.packet_id}"
                   + ("" if v.slice_index is None else f" slice {v.slice_index}")
                   + " was already received")
        if v.close:
            self.close_connection = True
        if v.reason:
            srv.reject(v.packet_id, v.reason)
            self._send_json(v.code, {"error": v.reason, "detail": v.detail},
                            close=self.close_connection)
            return
        if srv.stopping.is_set():
            self._send_json(503, {"error": "stopping"}, close=True)
            return
        srv.core.note_share(self.headers.get("X-Share"))
        if v.slice_index is not None:
            reply, frame = srv.role.admit_slice(v.packet_id, v.slice_index, v.body)
            if frame is not None:
                srv.admit(v.packet_id, frame)
            self._send_json(200, reply)
            return
        self._send_json(200, srv.admit(v.packet_id, v.body))

    def _task(self, path: str) -> None:
        """Task sharing, gateway side (node_app/roles/task_gateway.py): hand out a task, take a
        result."""
        srv = self.server
        board = srv.role.tasks()
        if board is None:
            self._drain()
            self._send_json(404, {"error": "not_found", "detail": "not a task gateway"})
            return
        helper = self.headers.get("X-Node", "").strip()
        if not validate.NODE_NAME.match(helper):
            self._drain()
            self._task_refused(400, "bad_node", f"X-Node must match "
                               f"{validate.NODE_NAME.pattern}, got {helper[:40]!r}")
            return
        if path == "/task/next":
            self._drain()
            self._hand_out(board, helper)
            return
        length, _reason = validate.content_length(self.headers)
        pid, bad_pid, _detail = validate.packet_id(self.headers.get("X-Packet-Id"))
        block = validate.parse_block(self.headers.get("X-Block"), board.blocks)
        if length is None or length > srv.run_cfg.max_body_bytes:
            self._task_refused(400, "bad_body_size", "Content-Length", close=True)
            return
        body = self.rfile.read(length) if length else b""
        if block is None or bad_pid:
            self._task_refused(400, "bad_task", "X-Packet-Id / X-Block")
            return
        error = board.result(helper, pid, block, body)
        if error == "not_leased":
            self._task_refused(409, error, f"block {block} of packet {pid} is not "
                               f"leased to {helper}")
        elif error is not None:
            self._task_refused(400, error, f"block {block} of packet {pid}")
        elif self.headers.get("X-Next", "").strip() == "1":
            # The result is taken; the reply is the helper's next task if one is waiting (as
            # /task/next's would be, without its long poll: the helper learns at once that its
            # result was taken), so a busy helper makes one round trip per task, not two.
            self._hand_out(board, helper, wait_s=0.0)
        else:
            self._send_json(200, {"ok": True})

    def _hand_out(self, board: TaskSource, helper: str, wait_s: float | None = None) -> None:
        """The reply of a pull: the helper's next task (200, X-Packet-Id and X-Block), 204 when
        none came within `wait_s` (None: the board's long poll), or the refusal of a helper
        this gateway does not serve."""
        refused = board.admit_helper(helper)
        if refused == "too_many_helpers":
            self._task_refused(429, refused, "this gateway serves no more helper names this run")
            return
        if refused is not None:
            self._task_refused(403, refused, f"{helper} may not pull from this gateway")
            return
        if self.server.stopping.is_set():
            task = None
        else:
            task = board.next(helper) if wait_s is None else board.next(helper, wait_s=wait_s)
        if task is None:
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        pid, block, data = task
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Packet-Id", str(pid))
        self.send_header("X-Block", f"{block}/{board.blocks}")
        self.end_headers()
        self.wfile.write(data)

    def _steal(self, path: str) -> None:
        """FTP work stealing (node_app/role.py StealService): requests without a body,
        named by X-Node; the role's Reply is sent as it is, refusals counted and traced."""
        srv = self.server
        service = srv.role.steal()
        self._drain()
        if service is None:
            self._send_json(404, {"error": "not_found", "detail": "not a work-stealing node"})
            return
        name = self.headers.get("X-Node", "").strip()
        if not validate.NODE_NAME.match(name):
            self._task_refused(400, "bad_node", f"X-Node must match "
                               f"{validate.NODE_NAME.pattern}, got {name[:40]!r}")
            return
        if srv.stopping.is_set():
            self._send_json(503, {"error": "stopping"}, close=True)
            return
        peer = validate.normalise_ip(self.client_address[0])
        reply = service.steal_request(path, name, peer, self.headers)
        if reply.code >= 400:
            obj = reply.obj or {}
            self._task_refused(reply.code, str(obj.get("error", f"http_{reply.code}")),
                               str(obj.get("detail", "")))
        elif reply.obj is not None:
            self._send_json(reply.code, reply.obj)
        else:
            self.send_response(reply.code)
            if reply.data:
                self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(reply.data)))
            for key, value in reply.headers:
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(reply.data)

    def _task_refused(self, code: int, reason: str, detail: str, close: bool = False) -> None:
        """A refused /task/* request: counted in /stats `rejected`, traced, JSON reason.
        Traced with packet id -1: a refused task or result is not a lost frame (the block is
        still leased, or goes back on the queue), and the analysis counts a `rejected` row
        with a packet id as that frame's drop."""
        self.server.reject(-1, reason)
        self._send_json(code, {"error": reason, "detail": detail}, close=close)


def build_server(
    config_path: str | Path,
    run_path: str | Path | None = None,
    address: tuple[str, int] | None = None,
) -> NodeServer:
    """Load node.json, run.json (node.run_file unless overridden), profile and stages; bind.

    `address` overrides node.json's bind/port (tests use port 0).
    """
    node = NodeConfig.load(config_path)
    run = RunConfig.load(run_path or node.run_file)
    profile = (parse_profile(run.profile, run.profile_entry, f"{run_path or node.run_file}")
               if run.profile_entry is not None else load_profile(run.profile or node.profile))
    pipeline = load_pipeline(node.stages_dir, run.stages, run.input_size)
    return NodeServer(node, run, profile, pipeline, address)
