"""Task sharing, helper side (run.json `pull`): see node_app/roles/task_gateway.py.

Instead of serving a queue, the helper's worker loops: pull a task from the gateway when
idle, compute the block with its single dense layer's columns block_bounds(i, T, width)
(node_app/stage.py), wait out its own profile's time for a dense n_in x (hi - lo) layer, send
the result. Trace: `task_started` (detail `i/T`), `task_finished` (`<real_ms>:<profile_ms>`).

Each result asks for the next task in the same round trip (`X-Next: 1`, node_app/roles/
task_gateway.py): the reply is a task (200), none (204), or, from a gateway that does not know
the header, its JSON acknowledgement; a task in it is the worker's next, without a pull.

The gateway is a peer like any other: whatever it replies, the worker keeps pulling. A reply
that is not a task (status other than 200/204, a bad X-Packet-Id or X-Block, a body of the
wrong size, one larger than a task) is counted in /stats `pull_errors` by reason
(`bad_status`, `bad_task`, `too_large`; `connection` for a gateway that is down or cut the
connection), the connection is dropped and the helper asks again after RETRY_S.
"""

from __future__ import annotations

import http.client
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from node_app.config import parse_hostport
from node_app.node import Node
from node_app.role import Role
from node_app.roles.task_gateway import LONG_POLL_S
from node_app.stage import ACTIVATIONS, DenseLayer, block_bounds
from node_app.validate import packet_id, parse_block

RETRY_S = 0.2
MAX_REPLY_BYTES = 1 << 16  # the JSON reply to /task/result; a task's own size is known


class BadReply(Exception):
    """The gateway's reply is not what the protocol allows; `reason` goes to pull_errors."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


class Link:
    """One kept-alive HTTP/1.1 connection to a peer for POSTs named by X-Node; one user at a
    time (a helper's worker; a victim's steal handlers share theirs under a lock). A reply
    body over max_bytes is not read (BadReply `too_large`), and any failure drops the
    connection: a half-read reply leaves it unusable."""

    def __init__(self, host: str, port: int, name: str, timeout_s: float):
        self.host, self.port, self.name, self.timeout_s = host, port, name, timeout_s
        self._conn: http.client.HTTPConnection | None = None

    def post(self, path: str, headers: dict[str, str], body: bytes = b"",
             max_bytes: int = MAX_REPLY_BYTES) -> tuple[int, dict[str, str], bytes]:
        reused = self._conn is not None
        try:
            return self._post(path, headers, body, max_bytes)
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            if not reused:
                raise
            # The peer closed the kept-alive connection while it was idle (node_app closes
            # one after run.json read_timeout_s: a helper computing a 20 s tile of
            # yolov2-16-608 found it closed and lost every result). Once more, on a new one.
            return self._post(path, headers, body, max_bytes)

    def _post(self, path: str, headers: dict[str, str], body: bytes,
              max_bytes: int) -> tuple[int, dict[str, str], bytes]:
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)
        headers = {"X-Node": self.name, "Content-Type": "application/octet-stream", **headers}
        try:
            self._conn.request("POST", path, body=body, headers=headers)
            resp = self._conn.getresponse()
            if resp.length is not None and resp.length > max_bytes:
                raise BadReply("too_large", f"{path}: Content-Length {resp.length}")
            data = resp.read(max_bytes + 1)
            if len(data) > max_bytes:
                raise BadReply("too_large", f"{path}: more than {max_bytes} bytes")
        except BaseException:
            self.close()
            raise
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class TaskHelper(Role):
    """A helper's worker loop: pull a task when idle, compute its block, return the result."""

    # Ask for the next task with each result (X-Next). A stealing device (steal_device.py)
    # finds its next tile elsewhere, so it does not.
    NEXT_WITH_RESULT = True

    def __init__(self, node: Node):
        super().__init__(node)
        cfg = node.run.pull
        assert cfg is not None, "TaskHelper needs run.json 'pull'"
        self.cfg = cfg
        self.host, self.port = parse_hostport(cfg.gateway)
        self.tasks_done = 0
        self.pull_errors: dict[str, int] = {}  # keys: the fixed reasons of the docstring
        self.link = Link(self.host, self.port, node.config.node, LONG_POLL_S + 5.0)
        self._pending: tuple[int, int, bytes] | None = None  # a task a result's reply brought
        self.setup()

    def setup(self) -> None:
        """Check the node's stage fits the tasks and price each task on the profile."""
        node, cfg = self.node, self.cfg
        layers = [layer for stage in node.pipeline.stages for layer in stage.layers]
        if len(layers) != 1 or not isinstance(layers[0], DenseLayer):
            raise ValueError(f"run.json 'pull': a helper needs one dense layer, got {len(layers)}")
        self.layer = layers[0]
        n_in, width = self.layer.shape
        if cfg.blocks > width:
            raise ValueError(f"run.json 'pull': blocks {cfg.blocks} > layer width {width}")
        self.bounds = [block_bounds(i, cfg.blocks, width) for i in range(cfg.blocks)]
        prof = node.profile
        self.block_ms = [prof.frame_ms([(n_in, hi - lo)]) for lo, hi in self.bounds]
        self.n_in = n_in
        self.max_task_bytes = n_in * 4  # the largest task body the gateway may send

    def work(self) -> None:
        """Pull instead of serving the queue (frames posted to a helper just wait there)."""
        node = self.node
        while self._pending is not None or not node.stopping.is_set():
            task, self._pending = self._pending, None
            if task is not None:
                node.guarded(task[0], self._do, *task)
                continue
            try:
                task = self._next()
            except BadReply as e:
                self._failed(e.reason, e)
                continue
            except (OSError, http.client.HTTPException) as e:
                self._failed("connection", e)  # gateway not up yet, or gone
                continue
            except Exception as e:  # noqa: BLE001 - no reply may kill the worker
                self._failed("bad_task", e)
                continue
            if task is not None:
                node.guarded(task[0], self._do, *task)

    def stats(self) -> dict[str, Any]:
        with self.node.stats.lock:
            return {"tasks_done": self.tasks_done, "pull_errors": dict(self.pull_errors)}

    def describe(self) -> str:
        return f" task helper of {self.cfg.gateway} blocks={self.cfg.blocks}"

    def close(self) -> None:
        self._close()

    # internals ----------------------------------------------------------------------------

    def _failed(self, reason: str, error: BaseException) -> None:
        """Count a pull that brought no task, drop the connection, wait before the next."""
        with self.node.stats.lock:
            self.pull_errors[reason] = self.pull_errors.get(reason, 0) + 1
        self._close()
        self.node.stopping.wait(RETRY_S)

    def _request(self, path: str, headers: dict[str, str], body: bytes = b"",
                 max_bytes: int = MAX_REPLY_BYTES) -> tuple[int, dict[str, str], bytes]:
        """One POST to the gateway (Link.post)."""
        return self.link.post(path, headers, body, max_bytes)

    def _next(self) -> tuple[int, int, bytes] | None:
        status, headers, data = self._request(
            "/task/next", {}, max_bytes=max(self.max_task_bytes, MAX_REPLY_BYTES))
        if status == 204:
            return None
        if status != 200:
            raise BadReply("bad_status", f"/task/next: HTTP {status}")
        return self.parse_task(headers, data)

    def parse_task(self, headers: dict[str, str], data: bytes) -> tuple[int, int, bytes]:
        """(packet id, block, input) of a task reply (lower-case headers), else BadReply."""
        block = parse_block(headers.get("x-block"), self.cfg.blocks)
        # validate.packet_id takes ASCII digits only: str.isdigit() also passes "²", which
        # int() refuses, and "١", which int() reads as 1.
        pid, bad_pid, _detail = packet_id(headers.get("x-packet-id"))
        if block is None or bad_pid or len(data) != self.input_bytes(block):
            raise BadReply("bad_task", f"X-Packet-Id {headers.get('x-packet-id', '')[:20]!r} "
                           f"X-Block {headers.get('x-block', '')[:20]!r} {len(data)} bytes")
        return pid, block, data

    # what a task is: a neuron block here, a tile in node_app/roles/tile_helper.py ----------

    def input_bytes(self, block: int) -> int:
        return self.n_in * 4

    def compute(self, block: int, data: bytes) -> np.ndarray:
        lo, hi = self.bounds[block]
        x = np.frombuffer(data, dtype="<f4")
        kernel, bias = self.layer.kernel[:, lo:hi], self.layer.bias[lo:hi]
        return np.asarray(ACTIVATIONS[self.layer.activation](x @ kernel + bias), dtype="<f4")

    def _do(self, packet_id: int, block: int, data: bytes) -> None:
        self._run(packet_id, block, lambda: self.compute(block, data).tobytes(),
                  self.block_ms[block])

    def _run(self, packet_id: int, block: int, work: Callable[[], bytes],
             profile_ms: float | None) -> None:
        """Compute a task's result body with `work`, wait out `profile_ms` (the profile's
        time for the work really done), send the result to the gateway."""
        node = self.node
        node.trace.write(packet_id, "task_started", f"{block}/{self.cfg.blocks}")
        t0 = time.perf_counter()
        body = work()
        real_ms = (time.perf_counter() - t0) * 1000.0
        claimed = node.wait_out(packet_id, t0, real_ms, profile_ms)
        node.trace.write(packet_id, "task_finished", f"{real_ms:.2f}:{claimed:.2f}")
        headers = {"X-Packet-Id": str(packet_id), "X-Block": f"{block}/{self.cfg.blocks}",
                   **({"X-Next": "1"} if self.NEXT_WITH_RESULT else {})}
        status, reply, data = self._request("/task/result", headers, body,
                                            max_bytes=max(self.max_task_bytes, MAX_REPLY_BYTES))
        taken = status in (200, 204)  # 204: taken, and no next task within the long poll
        with node.stats.lock:
            if taken:
                self.tasks_done += 1
                node.stats.bytes_out += len(body)
            else:
                node.stats.forward_failed += 1
        if not taken:
            node.trace.write(packet_id, "forward_failed", f"http_{status}")
        elif status == 200 and "x-block" in reply:
            try:
                self._pending = self.parse_task(reply, data)
            except BadReply as e:
                self._failed(e.reason, e)

    def _close(self) -> None:
        self.link.close()
