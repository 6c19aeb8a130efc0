"""Which next hop gets a frame, when a node has several (run.json `route`).

`least_queue` is Musical Chair's data parallelism: the heavy stage runs on K replicas and each
frame goes to ANY ONE of them. Blind round robin would keep feeding a replica that has fallen
behind (a slower device, a stall), so the choice follows the replicas' own feedback: every
/message reply carries `queue_depth` (frames waiting after this one was queued) and
`service_ms` (the replica's EWMA service time). Per replica the router keeps

    depth     the queue depth of its last reply
    at        when that reply came
    service   its reported service_ms
    unacked   frames sent since its last reply (a send that got no reply counts here)

and estimates the replica's backlog now as

    max(0, depth - (now - at) / service) + unacked

i.e. the last reported queue, drained at the replica's own reported pace since then, plus what
was sent without an answer. The frame goes to the smallest estimate; ties (e.g. all idle) are
broken round robin, starting after the replica chosen last, so equal replicas share evenly.
A replica that never answered yet has estimate 0 (+ unacked): it is tried. A replica that
refused a frame (`accepted: false`) reported a full queue, so it is avoided until it drains.

`all` is model parallelism's fan-out: every hop gets every frame (each holds one slice).

Used only by the node's single worker thread, so no locking.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


class LeastQueueRouter:
    """Pick one of n replicas by estimated backlog (module docstring); `clock` for tests."""

    def __init__(self, n: int, clock: Callable[[], float] = time.monotonic):
        self.n = n
        self.clock = clock
        self.depth = [0.0] * n
        self.at = [0.0] * n
        self.service_ms = [0.0] * n
        self.unacked = [0] * n
        self.sent = [0] * n
        self._last = n - 1  # round robin starts at replica 0

    def estimate(self, i: int, now: float | None = None) -> float:
        now = self.clock() if now is None else now
        drained = 0.0
        if self.service_ms[i] > 0:
            drained = (now - self.at[i]) * 1000.0 / self.service_ms[i]
        return max(0.0, self.depth[i] - drained) + self.unacked[i]

    def choose(self) -> int:
        now = self.clock()
        order = [(self._last + 1 + k) % self.n for k in range(self.n)]
        best = min(order, key=lambda i: self.estimate(i, now))  # min keeps the first of ties
        self._last = best
        self.unacked[best] += 1
        self.sent[best] += 1
        return best

    def observe(self, i: int, reply: dict[str, Any] | None) -> None:
        """Record replica i's reply to the frame just sent (None: no reply, stays unacked)."""
        if reply is None:
            return
        self.unacked[i] = 0
        depth = reply.get("queue_depth")
        if isinstance(depth, (int, float)) and not isinstance(depth, bool):
            self.depth[i] = float(depth)
            if reply.get("accepted") is False:
                self.depth[i] += 1.0  # full: it could not even take this one
        service = reply.get("service_ms")
        if isinstance(service, (int, float)) and not isinstance(service, bool) and service > 0:
            self.service_ms[i] = float(service)
        self.at[i] = self.clock()
