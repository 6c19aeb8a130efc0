"""Task sharing of a dense layer among idle helpers (seed 003), gateway side.

Gateway (run.json `tasks`): its worker runs its own stages (L1) on each frame as usual, then
cuts the next layer (L2, width `width`) into T = `blocks` neuron-block tasks and puts them on
a queue (TaskBoard.put). Helpers PULL: `POST /task/next` long-polls up to LONG_POLL_S and
returns one task (headers `X-Packet-Id`, `X-Block: i/T`, body = the layer input, float32), or
204 when there is none. `POST /task/result` (same headers, body = the block's outputs)
returns it; with `X-Next: 1` its reply is the helper's next task, exactly as a pull's (one
round trip per task instead of two: issue 13 measured the pull's round trip as the gap
between task sharing and its bound). When all T blocks of a frame are back, the gateway's
sender thread forwards the assembled frame to its next hop (the sink). Pull, not push: a
helper asks only when idle, so a helper twice as slow asks half as often and gets about half
the tasks; the gateway needs to know nothing about helper speeds.

Bounds: at most `max_frames` (the gateway's queue_size) frames are in flight on the board;
the worker waits for room, so when helpers cannot keep up the backlog shows up as the
gateway's own queue filling and dropping (`queue_full`), as in every other strategy. With
run.json `admission: whole` (issue 13) the worker does not wait: a frame that finds the board
full is dropped at once, reason `admission`, before the gateway computes anything for it (so
the frames it does take are fresh, and the refusal is named). The same holds for the FTP
sharing and BODP boards, which put frames through the same `put`. A task handed out and not
returned within LEASE_S (a helper died; longer on shaped links: `lease_s`) goes back on the
queue. Frames still incomplete at stop are traced `dropped` with reason `tasks_incomplete`.

Trust: a result is taken only from the helper that holds the lease of that (packet, block)
(else `not_leased`, 409), so nobody else can overwrite a block or free another helper's
lease. Helpers are named by `X-Node` (node_app/validate.py NODE_NAME, else `bad_node`); the
gateway serves at most MAX_HELPERS distinct names per run (a further name gets
`too_many_helpers`, 429), which bounds `tasks_by_helper`; a board may refuse other names
too (BODP: `not_a_band_device`, 403). All are counted in /stats `rejected`
(node_app/server.py).

Helper (run.json `pull`): node_app/roles/task_helper.py. Trace on the gateway: `task_sent` /
`task_done` (detail `<helper>:<i>`).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from node_app.config import DEFAULT_READ_TIMEOUT_S, TasksConfig
from node_app.forwarder import Forwarder
from node_app.node import Node
from node_app.role import Role, TaskSource
from node_app.stage import block_bounds
from node_app.workqueue import WorkQueue

LONG_POLL_S = 1.0
LEASE_S = 5.0
MAX_HELPERS = 64  # distinct X-Node names one gateway serves in a run (a cluster is < 10 Pis)


def lease_s(read_timeout_s: float) -> float:
    """How long a task may be out before it goes back on the queue. LEASE_S, unless the
    run's links are shaped: then the harness raises run.json `read_timeout_s` (a big body
    takes seconds on a slow link) and a lease covers a task's way out and its result's way
    back, each up to that deadline (a BODP band of yolov2-16-608 at 100 Mbit/s outlived a
    5 s lease: recomputed by another device, the first result refused, 409)."""
    if read_timeout_s <= DEFAULT_READ_TIMEOUT_S:
        return LEASE_S
    return max(LEASE_S, 2.0 * read_timeout_s)


@dataclass
class _Frame:
    x: Any  # what tasks are cut from (the layer input: bytes; a tile board: the map)
    out: np.ndarray
    left: set[int]
    by: dict[int, str] = field(default_factory=dict)


class TaskBoard:
    """The gateway's task queue, in-flight frames and result assembly."""

    def __init__(self, node: Node, cfg: TasksConfig, fwd: Forwarder, max_frames: int):
        self.node = node
        self.cfg = cfg
        self.fwd = fwd
        self.max_frames = max_frames
        self.whole = node.run.admission == "whole"
        self.cond = threading.Condition()
        self.todo: deque[tuple[int, int]] = deque()
        self.frames: dict[int, _Frame] = {}
        self.leased: dict[tuple[int, int], tuple[str, float]] = {}
        self.by_helper: dict[str, int] = {}
        self.helpers: set[str] = set()  # names that pulled; at most MAX_HELPERS
        self.lease_s = lease_s(node.run.read_timeout_s)
        self.out = WorkQueue()  # assembled frames for the sender (None: stop)
        self.sender = threading.Thread(target=self._send, name="task-sender", daemon=True)
        self.sender.start()

    # worker side ---------------------------------------------------------------------------

    def full(self) -> bool:
        with self.cond:
            return len(self.frames) >= self.max_frames

    def put(self, packet_id: int, x: np.ndarray) -> None:
        """Queue T tasks for one frame; waits while max_frames frames are in flight (admission
        `whole`: drops the frame, reason `admission`, instead)."""
        if self.whole and self.full():
            self.node.drop(packet_id, "admission")
            return
        frame = self._frame(x)
        with self.cond:
            while len(self.frames) >= self.max_frames and not self.node.stopping.is_set():
                self.cond.wait(0.2)
            if self.node.stopping.is_set():
                self.node.drop(packet_id, "shutdown")
                return
            self.frames[packet_id] = frame
            self.todo.extend((packet_id, i) for i in self.order())
            self.cond.notify_all()

    # request side --------------------------------------------------------------------------

    def admit_helper(self, helper: str) -> str | None:
        """May `helper` pull? None (yes) for known names always, and for new ones while fewer
        than MAX_HELPERS; else the refusal's reason (`too_many_helpers`)."""
        with self.cond:
            if helper not in self.helpers:
                if len(self.helpers) >= MAX_HELPERS:
                    return "too_many_helpers"
                self.helpers.add(helper)
            return None

    def next(self, helper: str, wait_s: float = LONG_POLL_S) -> tuple[int, int, bytes] | None:
        """The next task for `helper` (packet id, block, input bytes), or None after wait_s."""
        deadline = time.monotonic() + wait_s
        with self.cond:
            task = self._take(helper)
            while task is None:
                left = deadline - time.monotonic()
                if left <= 0 or self.node.stopping.is_set():
                    return None
                self.cond.wait(min(left, 0.2))
                task = self._take(helper)
        # Lock order is board -> stats, never the reverse (see NodeServer.stats_snapshot);
        # this count needs neither held together.
        with self.node.stats.lock:
            self.node.stats.bytes_out += len(task[2])
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
            self.node.trace.write(pid, "task_sent", f"{helper}:{block}")
            return pid, block, self._task_input(frame, block)
        return None

    def result(self, helper: str, packet_id: int, block: int, body: bytes) -> str | None:
        """Store one block's outputs; an error reason (`bad_body_size`, `unknown_task`,
        `not_leased`: another helper holds the lease, or nobody), or None when accepted."""
        if len(body) != self._result_bytes(block):
            return "bad_body_size"
        with self.cond:
            frame = self.frames.get(packet_id)
            if frame is None or block not in frame.left:
                return "unknown_task"
            lease = self.leased.get((packet_id, block))
            if lease is None or lease[0] != helper:
                return "not_leased"
            del self.leased[(packet_id, block)]
            self._store(frame, block, body)
            frame.left.discard(block)
            frame.by[block] = helper
            self.by_helper[helper] = self.by_helper.get(helper, 0) + 1
            self.node.trace.write(packet_id, "task_done", f"{helper}:{block}")
            if frame.left:
                return None
            if self._advance(packet_id, frame):
                self.cond.notify_all()  # the frame's next round of tasks is queued
                return None
            del self.frames[packet_id]
            # Queued before the lock is let go, so frames_held() never sees the frame in
            # neither place (a drain looking then would stop the nodes under it).
            self.out.put((packet_id, frame.out.tobytes()))
            self.cond.notify_all()  # room for the worker's next frame
        return None

    # what a task is: a neuron block here, a tile in node_app/roles/tile_gateway.py -----------

    def order(self) -> list[int]:
        """The order a frame's tasks are queued in."""
        return list(range(self.cfg.blocks))

    def _frame(self, x: np.ndarray) -> _Frame:
        return _Frame(x.astype("<f4", copy=False).tobytes(), np.zeros(self.cfg.width, "<f4"),
                      set(range(self.cfg.blocks)))

    def _task_input(self, frame: _Frame, block: int) -> bytes:
        return frame.x  # every block reads the whole layer input

    def _result_bytes(self, block: int) -> int:
        lo, hi = block_bounds(block, self.cfg.blocks, self.cfg.width)
        return (hi - lo) * 4

    def _place(self, out: np.ndarray, block: int, body: bytes) -> None:
        lo, hi = block_bounds(block, self.cfg.blocks, self.cfg.width)
        out[lo:hi] = np.frombuffer(body, dtype="<f4")

    def _store(self, frame: _Frame, block: int, body: bytes) -> None:
        """Keep an accepted result (called with self.cond held): place it in the frame's
        output; FTP with data reuse also keeps the overlap a tile hands its neighbours."""
        self._place(frame.out, block, body)

    def _advance(self, packet_id: int, frame: _Frame) -> bool:
        """All of a frame's open tasks are in: queue its next round and say True, or say
        False when the frame is done. Called with self.cond held. Blocks and tiles come in
        one round; BODP's bands in one per layer (node_app/roles/band_gateway.py)."""
        return False

    def finish(self, packet_id: int, out: bytes) -> bytes:
        """An assembled frame before it is forwarded (a tile board runs the layers after
        the fused ones here)."""
        return out

    def tasks_by_helper(self) -> dict[str, int]:
        with self.cond:
            return dict(self.by_helper)

    def frames_held(self) -> int:
        """Frames on the board (tasks out or waiting) or assembled and not yet sent."""
        with self.cond:
            waiting, sending = self.out.counts()
            return len(self.frames) + waiting + sending

    def _requeue_expired(self) -> None:
        now = time.monotonic()
        for key, (_helper, t) in list(self.leased.items()):
            if now - t > self.lease_s:
                del self.leased[key]
                self.todo.appendleft(key)

    # sender and shutdown -------------------------------------------------------------------

    def _send(self) -> None:
        self.node.serve(self.out, lambda pid, body: self.node.forward(
            pid, self.finish(pid, body), self.fwd))

    def close(self) -> None:
        """Trace frames still incomplete as lost; let the sender finish what is assembled."""
        with self.cond:
            for pid in sorted(self.frames):
                self.node.drop(pid, "tasks_incomplete")
            self.frames.clear()
            self.todo.clear()
            self.cond.notify_all()
        self.out.put(None)
        self.sender.join(timeout=10)
        self.fwd.close()

    @property
    def blocks(self) -> int:
        return self.cfg.blocks


class TaskGateway(Role):
    """Run own stages (L1) on each queued frame, then put its L2 blocks on the task board."""

    board_class: type[TaskBoard] = TaskBoard  # what a task is (FTP: tile_gateway.TileBoard)

    def __init__(self, node: Node):
        super().__init__(node)
        cfg = node.run.tasks
        assert cfg is not None, "TaskGateway needs run.json 'tasks'"
        self.board = self.board_class(node, cfg, node.forwarders[0], node.run.queue_size)

    def process(self, packet_id: int, body: bytes) -> None:
        node = self.node
        if self.board.whole and self.board.full():  # refused before computing anything
            node.drop(packet_id, "admission")
            return
        self.board.put(packet_id, node.compute(packet_id, body, node.pipeline, node.profile_ms))

    def stats(self) -> dict[str, Any]:
        return {"tasks_by_helper": self.board.tasks_by_helper(),
                "frames_held": self.board.frames_held()}

    def describe(self) -> str:
        cfg = self.board.cfg
        return f" task gateway blocks={cfg.blocks} width={cfg.width}"

    def tasks(self) -> TaskSource:
        return self.board

    def close(self) -> None:
        self.board.close()
