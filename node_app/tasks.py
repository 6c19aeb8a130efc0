"""Task sharing of a dense layer among idle helpers (seed 003), both sides.

Gateway (run.json `tasks`): its worker runs its own stages (L1) on each frame as usual, then
cuts the next layer (L2, width `width`) into T = `blocks` neuron-block tasks and puts them on
a queue (TaskBoard.put). Helpers PULL: `POST /task/next` long-polls up to LONG_POLL_S and
returns one task (headers `X-Packet-Id`, `X-Block: i/T`, body = the layer input, float32), or
204 when there is none. `POST /task/result` (same headers, body = the block's outputs)
returns it. When all T blocks of a frame are back, the gateway's sender thread forwards the
assembled frame to its next hop (the sink). Pull, not push: a helper asks only when idle, so
a helper twice as slow asks half as often and gets about half the tasks; the gateway needs to
know nothing about helper speeds.

Bounds: at most `max_frames` (the gateway's queue_size) frames are in flight on the board;
the worker waits for room, so when helpers cannot keep up the backlog shows up as the
gateway's own queue filling and dropping (`queue_full`), as in every other strategy. A task
handed out and not returned within LEASE_S (a helper died) goes back on the queue. Frames
still incomplete at stop are traced `dropped` with reason `tasks_incomplete`.

Helper (run.json `pull`): instead of serving a queue, its worker loops: pull a task, compute
the block with its single dense layer's columns block_bounds(i, T, width) (node_app/stage.py),
wait out its own profile's time for a dense n_in x (hi - lo) layer, send the result. Trace:
`task_started` (detail `i/T`), `task_finished` (`<real_ms>:<profile_ms>`) on the helper;
`task_sent` / `task_done` (detail `<helper>:<i>`) on the gateway.
"""

from __future__ import annotations

import http.client
import queue
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from node_app.config import PullConfig, TasksConfig, parse_hostport
from node_app.profile import sleep_until
from node_app.stage import ACTIVATIONS, block_bounds

if TYPE_CHECKING:
    from node_app.server import Forwarder, NodeServer

LONG_POLL_S = 1.0
_SMALL_INT = re.compile(r"^[0-9]{1,9}$")
LEASE_S = 5.0
RETRY_S = 0.2


def parse_block(text: str | None, blocks: int) -> int | None:
    """`i/T` -> i if T matches and 0 <= i < T, else None."""
    if not text:
        return None
    i, sep, t = text.strip().partition("/")
    # ASCII digits only and short: str.isdigit() also takes "²", which int() refuses.
    if not sep or not _SMALL_INT.match(i) or not _SMALL_INT.match(t) or int(t) != blocks:
        return None
    return int(i) if int(i) < blocks else None


@dataclass
class _Frame:
    x: bytes
    out: np.ndarray
    left: set[int]
    by: dict[int, str] = field(default_factory=dict)


class TaskBoard:
    """The gateway's task queue, in-flight frames and result assembly."""

    def __init__(self, srv: NodeServer, cfg: TasksConfig, fwd: Forwarder, max_frames: int):
        self.srv = srv
        self.cfg = cfg
        self.fwd = fwd
        self.max_frames = max_frames
        self.cond = threading.Condition()
        self.todo: deque[tuple[int, int]] = deque()
        self.frames: dict[int, _Frame] = {}
        self.leased: dict[tuple[int, int], tuple[str, float]] = {}
        self.by_helper: dict[str, int] = {}
        self.out: queue.Queue[tuple[int, bytes] | None] = queue.Queue()
        self.sender = threading.Thread(target=self._send, name="task-sender", daemon=True)
        self.sender.start()

    # worker side ---------------------------------------------------------------------------

    def put(self, packet_id: int, x: np.ndarray) -> None:
        """Queue T tasks for one frame; waits while max_frames frames are in flight."""
        body = x.astype("<f4", copy=False).tobytes()
        with self.cond:
            while len(self.frames) >= self.max_frames and not self.srv.stopping.is_set():
                self.cond.wait(0.2)
            if self.srv.stopping.is_set():
                self.srv.trace.write(packet_id, "dropped", "shutdown")
                self.srv.stats.count(self.srv.stats.dropped, "shutdown")
                return
            n = self.cfg.blocks
            self.frames[packet_id] = _Frame(body, np.zeros(self.cfg.width, "<f4"), set(range(n)))
            self.todo.extend((packet_id, i) for i in range(n))
            self.cond.notify_all()

    # request side --------------------------------------------------------------------------

    def next(self, helper: str, wait_s: float = LONG_POLL_S) -> tuple[int, int, bytes] | None:
        """The next task for `helper` (packet id, block, input bytes), or None after wait_s."""
        deadline = time.monotonic() + wait_s
        with self.cond:
            task = self._take(helper)
            while task is None:
                left = deadline - time.monotonic()
                if left <= 0 or self.srv.stopping.is_set():
                    return None
                self.cond.wait(min(left, 0.2))
                task = self._take(helper)
        # Lock order is board -> stats, never the reverse (see NodeServer.stats_snapshot);
        # this count needs neither held together.
        with self.srv.stats.lock:
            self.srv.stats.bytes_out += len(task[2])
        return task

    def _take(self, helper: str) -> tuple[int, int, bytes] | None:
        """Lease the next open task to `helper`; call with self.cond held."""
        self._requeue_expired()
        while self.todo:
            pid, block = self.todo.popleft()
            frame = self.frames.get(pid)
            if frame is None or block not in frame.left:
                continue  # finished meanwhile (a re-leased task came back twice)
            self.leased[(pid, block)] = (helper, time.monotonic())
            self.srv.trace.write(pid, "task_sent", f"{helper}:{block}")
            return pid, block, frame.x
        return None

    def result(self, helper: str, packet_id: int, block: int, body: bytes) -> str | None:
        """Store one block's outputs; an error reason, or None when accepted."""
        lo, hi = block_bounds(block, self.cfg.blocks, self.cfg.width)
        if len(body) != (hi - lo) * 4:
            return "bad_body_size"
        with self.cond:
            self.leased.pop((packet_id, block), None)
            frame = self.frames.get(packet_id)
            if frame is None or block not in frame.left:
                return "unknown_task"
            frame.out[lo:hi] = np.frombuffer(body, dtype="<f4")
            frame.left.discard(block)
            frame.by[block] = helper
            self.by_helper[helper] = self.by_helper.get(helper, 0) + 1
            self.srv.trace.write(packet_id, "task_done", f"{helper}:{block}")
            if frame.left:
                return None
            del self.frames[packet_id]
            self.cond.notify_all()  # room for the worker's next frame
        self.out.put((packet_id, frame.out.tobytes()))
        return None

    def tasks_by_helper(self) -> dict[str, int]:
        with self.cond:
            return dict(self.by_helper)

    def _requeue_expired(self) -> None:
        now = time.monotonic()
        for key, (_helper, t) in list(self.leased.items()):
            if now - t > LEASE_S:
                del self.leased[key]
                self.todo.appendleft(key)

    # sender and shutdown -------------------------------------------------------------------

    def _send(self) -> None:
        srv = self.srv
        while True:
            item = self.out.get()
            if item is None:
                return
            pid, body = item
            srv.guarded(pid, srv.forward, pid, body, self.fwd)

    def close(self) -> None:
        """Trace frames still incomplete as lost; let the sender finish what is assembled."""
        with self.cond:
            for pid in sorted(self.frames):
                self.srv.trace.write(pid, "dropped", "tasks_incomplete")
                self.srv.stats.count(self.srv.stats.dropped, "tasks_incomplete")
            self.frames.clear()
            self.todo.clear()
            self.cond.notify_all()
        self.out.put(None)
        self.sender.join(timeout=10)
        self.fwd.close()


class Puller:
    """A helper's worker loop: pull a task when idle, compute its block, return the result."""

    def __init__(self, srv: NodeServer, cfg: PullConfig):
        self.srv = srv
        self.cfg = cfg
        self.host, self.port = parse_hostport(cfg.gateway)
        layers = [layer for stage in srv.pipeline.stages for layer in stage.layers]
        if len(layers) != 1:
            raise ValueError(f"run.json 'pull': a helper needs one dense layer, got {len(layers)}")
        self.layer = layers[0]
        n_in, width = self.layer.shape
        if cfg.blocks > width:
            raise ValueError(f"run.json 'pull': blocks {cfg.blocks} > layer width {width}")
        self.bounds = [block_bounds(i, cfg.blocks, width) for i in range(cfg.blocks)]
        prof = srv.profile
        self.block_ms = [prof.frame_ms([(n_in, hi - lo)]) for lo, hi in self.bounds]
        self.n_in = n_in
        self.tasks_done = 0
        self._conn: http.client.HTTPConnection | None = None

    def run(self) -> None:
        srv = self.srv
        while not srv.stopping.is_set():
            try:
                task = self._next()
            except (OSError, http.client.HTTPException):
                self._close()
                srv.stopping.wait(RETRY_S)  # gateway not up yet, or gone
                continue
            if task is not None:
                srv.guarded(task[0], self._do, *task)

    def _request(self, path: str, headers: dict[str, str], body: bytes = b"") -> tuple[
        int, dict[str, str], bytes
    ]:
        if self._conn is None:
            self._conn = http.client.HTTPConnection(
                self.host, self.port, timeout=LONG_POLL_S + 5.0
            )
        headers = {"X-Node": self.srv.node.node, "Content-Type": "application/octet-stream",
                   **headers}
        self._conn.request("POST", path, body=body, headers=headers)
        resp = self._conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data

    def _next(self) -> tuple[int, int, bytes] | None:
        status, headers, data = self._request("/task/next", {})
        if status != 200:
            if status != 204:
                self.srv.stopping.wait(RETRY_S)
            return None
        block = parse_block(headers.get("x-block"), self.cfg.blocks)
        pid_text = headers.get("x-packet-id", "")
        if block is None or not pid_text.isdigit() or len(data) != self.n_in * 4:
            raise http.client.HTTPException(f"malformed task: {headers}")
        return int(pid_text), block, data

    def _do(self, packet_id: int, block: int, data: bytes) -> None:
        srv = self.srv
        lo, hi = self.bounds[block]
        srv.trace.write(packet_id, "task_started", f"{block}/{self.cfg.blocks}")
        t0 = time.perf_counter()
        x = np.frombuffer(data, dtype="<f4")
        kernel, bias = self.layer.kernel[:, lo:hi], self.layer.bias[lo:hi]
        out = np.asarray(ACTIVATIONS[self.layer.activation](x @ kernel + bias), dtype="<f4")
        real_ms = (time.perf_counter() - t0) * 1000.0
        profile_ms = self.block_ms[block]
        if profile_ms is not None:
            sleep_until(t0 + profile_ms / 1000.0)
        srv.stats.observe_service((time.perf_counter() - t0) * 1000.0)
        claimed = real_ms if profile_ms is None else profile_ms
        srv.trace.write(packet_id, "task_finished", f"{real_ms:.2f}:{claimed:.2f}")
        body = out.tobytes()
        headers = {"X-Packet-Id": str(packet_id), "X-Block": f"{block}/{self.cfg.blocks}"}
        status, _h, _d = self._request("/task/result", headers, body)
        with srv.stats.lock:
            if status == 200:
                self.tasks_done += 1
                srv.stats.bytes_out += len(body)
            else:
                srv.stats.forward_failed += 1
        if status != 200:
            srv.trace.write(packet_id, "forward_failed", f"http_{status}")

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def close(self) -> None:
        self._close()
