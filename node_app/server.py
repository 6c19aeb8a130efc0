"""HTTP layer server: request handler, bounded queue, worker thread and forwarder.

Request threads only validate, enqueue and reply, so the reply time measured by the client is
the network plus admission cost; the single worker thread models the device (one frame at a
time), and queue overflow is the overload signal the experiments are about.
"""

from __future__ import annotations

import hmac
import http.client
import json
import queue
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from node_app import validate
from node_app.config import NodeConfig, RunConfig, parse_hostport
from node_app.conn import RequestReader
from node_app.helping import Helper
from node_app.merge import SliceMerger
from node_app.profile import Profile, load_profile, sleep_until
from node_app.routing import LeastQueueRouter
from node_app.stage import Pipeline, load_pipeline
from node_app.tasks import Puller, TaskBoard, parse_block
from node_app.trace import TraceWriter

EWMA_ALPHA = 0.2
FORWARD_TIMEOUT_S = 2.0
_DATA_PATHS = ("/message", "/task/next", "/task/result")  # strict_peers applies to these
# Reasons for statuses the stdlib parser raises (bad request line, header limits, ...).
_ERRORS = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 408: "read_timeout",
           414: "uri_too_long", 431: "headers_too_large", 505: "http_version_not_supported"}
_ROUTES = {
    "/message": "POST",
    "/health": "GET",
    "/stats": "GET",
    "/control/flush": "POST",
    "/control/stop": "POST",
    "/task/next": "POST",  # task sharing: gateway only (node_app/tasks.py)
    "/task/result": "POST",
}
_MAX_DRAIN = 1 << 20  # larger bodies on non-/message routes are not read: connection closed


class Forwarder:
    """One kept-alive HTTP connection to a next hop (used by the single worker thread)."""

    def __init__(self, hop: str, timeout: float = FORWARD_TIMEOUT_S):
        self.hop = hop
        self.host, self.port = parse_hostport(hop)
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def send(
        self, packet_id: int, body: bytes, extra: dict[str, str] | None = None
    ) -> tuple[dict[str, Any] | None, str | None]:
        """POST one frame; (the peer's reply JSON, None) on success, else (None, reason).

        The reply is `{}` if the peer's 200 body is not a JSON object (not a node_app).

        A kept-alive connection may have been closed by the peer since the last frame, so a
        connection error is retried once on a fresh connection. A timeout is not retried:
        the peer may have the frame already.
        """
        reason = "connect_error"
        for _attempt in range(2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self._conn.request(
                    "POST",
                    "/message",
                    body=body,
                    headers={
                        "X-Packet-Id": str(packet_id),
                        "Content-Type": "application/octet-stream",
                        **(extra or {}),
                    },
                )
                resp = self._conn.getresponse()
                data = resp.read()
            except TimeoutError:
                self.close()
                return None, "timeout"
            except (OSError, http.client.HTTPException):
                self.close()
                reason = "connect_error"
                continue
            if resp.status != 200:
                return None, f"http_{resp.status}"
            try:
                reply = json.loads(data)
            except ValueError:
                reply = {}
            return (reply if isinstance(reply, dict) else {}), None
        return None, reason

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class Stats:
    """Counters for GET /stats; one lock, because handler threads and the worker update them."""

    def __init__(self, service_ms: float):
        self.lock = threading.Lock()
        self.started = time.monotonic()
        self.received = 0
        self.accepted = 0
        self.dropped: dict[str, int] = {}
        self.rejected: dict[str, int] = {}
        self.processed = 0
        self.forwarded = 0
        self.forward_failed = 0
        self.service_ms = service_ms
        self.switches = 0  # model switches completed (helping nodes only)
        self.helping = False
        self.bytes_out = 0  # payload bytes this node sent (frames, slices, tasks, results)
        self.slices_received = 0  # merging sink only

    def count(self, table: dict[str, int], reason: str) -> None:
        with self.lock:
            table[reason] = table.get(reason, 0) + 1

    def observe_service(self, ms: float) -> None:
        with self.lock:
            self.service_ms = EWMA_ALPHA * ms + (1.0 - EWMA_ALPHA) * self.service_ms
            self.processed += 1


class NodeServer(ThreadingHTTPServer):
    """The node: HTTP front end plus (unless it is a sink) a queue, a worker and forwarders."""

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
        self.profile = profile
        self.pipeline = pipeline
        self.profile_ms = profile.frame_ms(pipeline.shapes)  # None: native, no waiting
        self.is_sink = run.is_sink
        self.stats = Stats(self.profile_ms or 0.0)
        self.queue: queue.Queue[tuple[int, bytes] | None] = queue.Queue(run.queue_size)
        self.forwarders = [Forwarder(hop) for hop in run.next_hops]
        # Data parallelism: one replica per frame, chosen by the replies (node_app/routing.py).
        self.router: LeastQueueRouter | None = None
        if run.route == "least_queue":
            self.router = LeastQueueRouter(len(self.forwarders))
        # Model parallelism: a slice node tags its output; a merging sink assembles slices.
        self.slice_header: dict[str, str] = {}
        if run.slice is not None:
            self.slice_header = {"X-Slice": f"{run.slice.index}/{run.slice.of}"}
        self.merger: SliceMerger | None = None
        if run.slices:
            self.merger = SliceMerger(run.input_size, run.slices)
        # Task sharing (node_app/tasks.py): a gateway's board, or a helper's pull loop.
        self.board: TaskBoard | None = None
        if run.tasks is not None:
            self.board = TaskBoard(self, run.tasks, self.forwarders[0], run.queue_size)
        self.puller: Puller | None = Puller(self, run.pull) if run.pull is not None else None
        # Cao's strategies 1 and 2: the worker hands frames to the help policy.
        self.helper: Helper | None = None
        if run.help is not None:
            self.helper = Helper(self, run.help, Forwarder(run.help.direct_hop))
        self.kept: dict[int, bytes] = {}  # sink only: first frames, for output checks
        # Input checks (node_app/validate.py): duplicate keys, and who may send data.
        self.seen = validate.SeenIds(run.slices or 1)
        self.peers = frozenset(validate.normalise_ip(p) for p in run.peers)
        self.stopping = threading.Event()
        self._stop_requested = threading.Lock()
        self._worker: threading.Thread | None = None
        super().__init__(address or (node.bind, node.port), Handler)
        # Only after bind succeeded: a failed start must not leave an empty trace behind.
        self.trace = TraceWriter(Path(node.trace_dir) / f"{run.run_id}.csv", node.node)

    def server_bind(self) -> None:
        """Bind without HTTPServer's socket.getfqdn(), which can stall on DNS for seconds."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def describe(self) -> str:
        timing = "native" if self.profile_ms is None else f"{self.profile_ms:.2f} ms/frame"
        role = " (sink)" if self.is_sink else ""
        hlp = self.run_cfg.help
        helping = ""
        if hlp is not None:
            helping = (
                f" help={hlp.policy} x={hlp.x} help_stages={list(hlp.help_stages)} "
                f"direct_hop={hlp.direct_hop} model_switch_ms={self.profile.switch_ms()}"
            )
        return (
            f"node_app: node={self.node.node}{role} run_id={self.run_cfg.run_id} "
            f"listen={self.server_name}:{self.port} profile={self.profile.name} ({timing}) "
            f"stages={list(self.run_cfg.stages)} next_hops={list(self.run_cfg.next_hops)} "
            f"queue_size={self.run_cfg.queue_size}{helping}{self._describe_parallel()}"
        )

    def _describe_parallel(self) -> str:
        run = self.run_cfg
        parts = []
        if run.route:
            parts.append(f"route={run.route}")
        if run.slice is not None:
            parts.append(f"slice={run.slice.index}/{run.slice.of}")
        if run.slices:
            parts.append(f"merges slices={run.slices}")
        if run.tasks is not None:
            parts.append(f"task gateway blocks={run.tasks.blocks} width={run.tasks.width}")
        if run.pull is not None:
            parts.append(f"task helper of {run.pull.gateway} blocks={run.pull.blocks}")
        parts.append(f"weights_bytes={self.pipeline.weights_bytes}")
        return " " + " ".join(parts)

    # lifecycle ---------------------------------------------------------------------------

    def run(self, log: bool = True) -> None:
        """Serve until request_stop(), then flush and release everything."""
        if not self.is_sink:
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
        self.stopping.set()
        if self._worker is not None:
            while True:  # frames still queued are lost: say so in the trace
                self._drop_queued("shutdown")
                try:
                    self.queue.put_nowait(None)
                    break
                except queue.Full:
                    continue
            self._worker.join(timeout=10)
            self._drop_queued("shutdown")
        if self.board is not None:
            self.board.close()
        if self.puller is not None:
            self.puller.close()
        if self.merger is not None:
            for pid in self.merger.incomplete():
                self.stats.count(self.stats.dropped, "missing_slice")
                self.trace.write(pid, "dropped", "missing_slice")
        for fwd in self.forwarders:
            fwd.close()
        if self.helper is not None:
            self.helper.close()
        if self.kept:
            self._write_outputs()
        self.trace.close()
        self.server_close()

    def _write_outputs(self) -> None:
        arrays = {str(pid): np.frombuffer(body, dtype="<f4") for pid, body in self.kept.items()}
        tmp = self.run_cfg.outputs_file + ".tmp.npz"
        np.savez(tmp, **arrays)
        Path(tmp).replace(self.run_cfg.outputs_file)

    def _drop_queued(self, reason: str) -> None:
        while True:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                self.stats.count(self.stats.dropped, reason)
                self.trace.write(item[0], "dropped", reason)

    # request side ------------------------------------------------------------------------

    def reject(self, packet_id: int, reason: str) -> None:
        self.stats.count(self.stats.rejected, reason)
        self.trace.write(packet_id, "rejected", reason)

    def admit_slice(self, packet_id: int, index: int, body: bytes) -> dict[str, Any]:
        """Merging sink: record one slice; the frame is `received` once all K are in."""
        assert self.merger is not None
        st = self.stats
        with st.lock:
            st.slices_received += 1
        self.trace.write(packet_id, "slice_received", f"{index}/{self.merger.slices}")
        state, frame = self.merger.add(packet_id, index, body)
        if frame is not None:
            self.admit(packet_id, frame)
        return {"accepted": state != "dup", "overloaded": False, "queue_depth": 0,
                "service_ms": 0.0}

    def admit(self, packet_id: int, body: bytes) -> dict[str, Any]:
        """Enqueue a valid frame (or, for a sink, just record it); the /message reply."""
        st = self.stats
        if self.is_sink:
            with st.lock:
                st.received += 1
                st.accepted += 1
            self.trace.write(packet_id, "received", "")
            if len(self.kept) < self.run_cfg.keep_outputs:
                self.kept.setdefault(packet_id, body)
            return {"accepted": True, "overloaded": False, "queue_depth": 0, "service_ms": 0.0}
        t = time.time()  # stamped before put so `received` never sorts after `started`
        try:
            self.queue.put_nowait((packet_id, body))
            accepted = True
        except queue.Full:
            accepted = False
        depth = self.queue.qsize()
        with st.lock:
            st.received += 1
            if accepted:
                st.accepted += 1
            else:
                st.dropped["queue_full"] = st.dropped.get("queue_full", 0) + 1
            service_ms = st.service_ms
        if accepted:
            self.trace.write(packet_id, "received", str(depth), t=t)
        else:
            self.trace.write(packet_id, "dropped", "queue_full", t=t)
        return {
            "accepted": accepted,
            "overloaded": not accepted or self.queue.full(),
            "queue_depth": depth,
            "service_ms": round(service_ms, 3),
        }

    def stats_snapshot(self) -> dict[str, Any]:
        st = self.stats
        with st.lock:
            out = {
                "node": self.node.node,
                "run_id": self.run_cfg.run_id,
                "received": st.received,
                "accepted": st.accepted,
                "dropped": dict(st.dropped),
                "rejected": dict(st.rejected),
                "processed": st.processed,
                "forwarded": st.forwarded,
                "forward_failed": st.forward_failed,
                "queue_depth": self.queue.qsize(),
                "service_ms": round(st.service_ms, 3),
                "uptime_s": round(time.monotonic() - st.started, 3),
                "switches": st.switches,
                "helping": st.helping,
                "weights_bytes": self.pipeline.weights_bytes,
                "bytes_out": st.bytes_out,
            }
        # Outside stats.lock: the task board takes its own lock and, while holding it,
        # counts into stats (lock order board -> stats); nesting them here the other way
        # round deadlocked a gateway polled for /stats.
        out["rss_kb"] = rss_kb()
        out.update(self._parallel_stats())
        return out

    def _parallel_stats(self) -> dict[str, Any]:
        """Extra /stats of the dp/mp/tasks roles; never called under stats.lock."""
        out: dict[str, Any] = {}
        if self.router is not None:
            out["routed"] = dict(zip(self.run_cfg.next_hops, self.router.sent, strict=True))
        if self.merger is not None:
            out["slices_received"] = self.stats.slices_received
        if self.board is not None:
            out["tasks_by_helper"] = self.board.tasks_by_helper()
        if self.puller is not None:
            out["tasks_done"] = self.puller.tasks_done
        return out

    # worker side -------------------------------------------------------------------------

    def _work(self) -> None:
        if self.puller is not None:  # a task helper pulls work instead of serving a queue
            self.puller.run()
            return
        while True:
            item = self.queue.get()
            if item is None:
                return
            handle = self._process if self.helper is None else self.helper.process
            self.guarded(item[0], handle, *item)

    def guarded(self, packet_id: int, fn: Any, *args: Any) -> None:
        """Run fn(*args) for one frame; an exception is traced, never kills the worker."""
        try:
            fn(*args)
        except Exception as e:  # never let one bad frame kill the device model
            print(f"node_app: worker error on packet {packet_id}: {e!r}", file=sys.stderr)
            self.trace.write(packet_id, "error", type(e).__name__)

    def _process(self, packet_id: int, body: bytes) -> None:
        if self.router is not None:  # dp: one replica, by the replies' queue depths
            i = self.router.choose()
            fwd = self.forwarders[i]
            self.router.observe(i, self.run_frame(packet_id, body, self.pipeline,
                                                  self.profile_ms, fwd))
        elif self.run_cfg.route == "all":  # mp: every slice node gets L1's output
            out = self.compute(packet_id, body, self.pipeline, self.profile_ms)
            data = out.astype("<f4", copy=False).tobytes()
            for fwd in self.forwarders:
                self.forward(packet_id, data, fwd)
        elif self.board is not None:  # tasks: L1 here, L2 as blocks pulled by helpers
            self.board.put(packet_id, self.compute(packet_id, body, self.pipeline,
                                                   self.profile_ms))
        else:
            fwd = self.forwarders[0] if self.forwarders else None
            self.run_frame(packet_id, body, self.pipeline, self.profile_ms, fwd)

    def run_frame(
        self,
        packet_id: int,
        body: bytes,
        pipeline: Pipeline,
        profile_ms: float | None,
        fwd: Forwarder | None,
    ) -> dict[str, Any] | None:
        """Compute one frame, wait out its profile time, send it on: the hop's reply or None.

        `profile_ms` None = native (no waiting, the real time is recorded).
        """
        out = self.compute(packet_id, body, pipeline, profile_ms)
        if fwd is None:
            return None
        return self.forward(packet_id, out.astype("<f4", copy=False).tobytes(), fwd)

    def compute(
        self, packet_id: int, body: bytes, pipeline: Pipeline, profile_ms: float | None
    ) -> np.ndarray:
        """Run the stages on one frame and wait out the profile time (trace started/finished)."""
        self.trace.write(packet_id, "started", str(self.queue.qsize()))
        t0 = time.perf_counter()
        out = pipeline(np.frombuffer(body, dtype="<f4"))
        real_ms = (time.perf_counter() - t0) * 1000.0
        if profile_ms is not None:
            sleep_until(t0 + profile_ms / 1000.0)
        service_ms = (time.perf_counter() - t0) * 1000.0
        claimed_ms = real_ms if profile_ms is None else profile_ms
        self.stats.observe_service(service_ms)
        self.trace.write(packet_id, "finished", f"{real_ms:.2f}:{claimed_ms:.2f}")
        return out

    def forward(self, packet_id: int, data: bytes, fwd: Forwarder) -> dict[str, Any] | None:
        """Send one output to a hop (with X-Slice on a slice node); the hop's reply or None."""
        reply, failure = fwd.send(packet_id, data, self.slice_header)
        with self.stats.lock:
            if failure is None:
                self.stats.forwarded += 1
                self.stats.bytes_out += len(data)
            else:
                self.stats.forward_failed += 1
        if failure is None:
            self.trace.write(packet_id, "forwarded", fwd.hop)
        else:
            self.trace.write(packet_id, "forward_failed", failure)
        return reply


class Handler(BaseHTTPRequestHandler):
    """Routes of docs/architecture.md; every reply is JSON with a Content-Length."""

    server: NodeServer
    rfile: RequestReader  # type: ignore[assignment]
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "node_app/0.1"

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
        # Headers and body in one write: one TCP segment per small reply (none for HEAD).
        self._headers_buffer.append(  # type: ignore[attr-defined]
            b"\r\n" + (b"" if self.command == "HEAD" else data))
        self.flush_headers()

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
        elif path is not None:
            self._drain()
            if self._token_ok():
                if path == "/control/flush":
                    self._send_json(200, {"ok": True, "flushed": self.server.trace.flush()})
                else:
                    self._send_json(200, {"ok": True, "stopping": True}, close=True)
                    self.server.request_stop()

    def _peer_ok(self) -> bool:
        """strict_peers: data only from the run's upstream addresses (run.json `peers`)."""
        srv = self.server
        peer = validate.normalise_ip(self.client_address[0])
        if not srv.node.strict_peers or peer in srv.peers:
            return True
        srv.reject(-1, "not_a_peer")
        self._send_json(403, {"error": "not_a_peer", "detail": peer}, close=True)
        return False

    def _token_ok(self) -> bool:
        got = self.headers.get("X-Token", "").encode("utf-8", "replace")
        if hmac.compare_digest(got, self.server.node.token.encode()):
            return True
        host, port = self.client_address[:2]
        print(f"node_app: bad token from {host}:{port} on {self.path[:100]!r}",
              file=sys.stderr, flush=True)
        self.server.reject(-1, "bad_token")
        self._send_json(401, {"error": "bad_token"})
        return False

    def _message(self) -> None:
        srv = self.server
        v = validate.read_message(self.headers, self.rfile, srv.run_cfg, srv.merger)
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
        if v.slice_index is not None:
            self._send_json(200, srv.admit_slice(v.packet_id, v.slice_index, v.body))
            return
        self._send_json(200, srv.admit(v.packet_id, v.body))

    def _task(self, path: str) -> None:
        """Task sharing, gateway side (node_app/tasks.py): hand out a task, take a result."""
        srv = self.server
        board = srv.board
        if board is None:
            self._drain()
            self._send_json(404, {"error": "not_found", "detail": "not a task gateway"})
            return
        helper = self.headers.get("X-Node", "").strip() or "unknown"
        if path == "/task/next":
            self._drain()
            task = None if srv.stopping.is_set() else board.next(helper)
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
            self.send_header("X-Block", f"{block}/{board.cfg.blocks}")
            self.end_headers()
            self.wfile.write(data)
            return
        length, _reason = validate.content_length(self.headers)
        pid, bad_pid, _detail = validate.packet_id(self.headers.get("X-Packet-Id"))
        block = parse_block(self.headers.get("X-Block"), board.cfg.blocks)
        if length is None or length > srv.run_cfg.max_body_bytes:
            self.close_connection = True
            self._send_json(400, {"error": "bad_body_size"}, close=True)
            return
        body = self.rfile.read(length) if length else b""
        if block is None or bad_pid:
            self._send_json(400, {"error": "bad_task", "detail": "X-Packet-Id / X-Block"})
            return
        error = board.result(helper, pid, block, body)
        if error is not None:
            self._send_json(400, {"error": error})
        else:
            self._send_json(200, {"ok": True})


def rss_kb() -> int:
    """This process's resident set (VmRSS, kB) for /stats, so a soak can watch for leaks; 0
    where there is no /proc."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


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
    profile = load_profile(run.profile or node.profile)
    pipeline = load_pipeline(node.stages_dir, run.stages, run.input_size)
    return NodeServer(node, run, profile, pipeline, address)
