"""Sending a frame while the worker computes the next one (run.json `send: overlap`).

With `send: inline` (the default) the worker thread computes a frame, waits out its profile
time, then POSTs the output and waits for the next hop's reply before it takes the next
frame: every send (about 0.7-1 ms on the lab, more on a Pi) is time the device is not
computing. At the capacity bound, where the profile's stage times are the only budget, that
is what kept the adaptive strategy at 0.94-0.96 of its bound and a six-device mix at 0.74
(docs/measurements.md, "Adaptive on mixed devices").

With `send: overlap` the worker hands the output to this outbox and goes on; one sender
thread per node POSTs the outputs in the order they were handed over, each over its hop's
kept-alive connection (so every Forwarder is still used by one thread only), and hands the
reply to the caller's `then`. A device with a spare core (every Pi from the 3 on has four)
sends while it computes, as a network stack with its own buffers does anyway.

The outbox is bounded (OUTBOX_FRAMES): when the sender cannot keep up (a slow link), the
worker waits to hand over, so the outbox never hides a bottleneck or grows without end, and
the node's queue fills and refuses as it would inline. Frames waiting here count as `busy`
in /stats, so the harness's drain waits for them (node_app/workqueue.py says why that
matters). At stop the outbox is flushed before the forwarders close: a frame computed is
sent, not lost.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

from node_app.forwarder import Forwarder
from node_app.workqueue import WorkQueue

OUTBOX_FRAMES = 4  # outputs computed and not yet sent; the worker waits when it is full
FLUSH_S = 10.0  # at stop: how long the sender may take to send what is left

Reply = tuple[dict[str, Any] | None, str | None]  # (the hop's reply, None) or (None, reason)
Then = Callable[[dict[str, Any] | None, str | None], None]
Send = Callable[[int, bytes, Forwarder, dict[str, str] | None], Reply]
Serve = Callable[[WorkQueue, Callable[..., Any]], None]


class Outbox:
    """A bounded queue of outputs and the one thread that sends them (`send(...)` is
    Node.send: counts, trace rows and link emulation stay where they are for inline sends)."""

    def __init__(self, send: Send, serve: Serve, stopping: threading.Event,
                 size: int = OUTBOX_FRAMES):
        self._send = send
        self._stopping = stopping
        self.q = WorkQueue(size)
        self.thread = threading.Thread(target=serve, args=(self.q, self._one),
                                       name="sender", daemon=True)
        self.thread.start()

    def post(self, packet_id: int, data: bytes, fwd: Forwarder,
             headers: dict[str, str] | None = None, then: Then | None = None) -> None:
        """Hand one output over; waits while OUTBOX_FRAMES are waiting (back-pressure)."""
        item = (packet_id, data, fwd, headers, then)
        while True:
            try:
                self.q.put(item, timeout=0.2)
                return
            except queue.Full:
                if self._stopping.is_set() and not self.thread.is_alive():
                    raise RuntimeError("outbox: the sender has stopped") from None

    def _one(self, packet_id: int, data: bytes, fwd: Forwarder,
             headers: dict[str, str] | None, then: Then | None) -> None:
        reply, failure = self._send(packet_id, data, fwd, headers)
        if then is not None:
            then(reply, failure)

    def counts(self) -> tuple[int, int]:
        """(outputs waiting, outputs being sent)."""
        return self.q.counts()

    def flush(self) -> None:
        """Send what is waiting, then stop the sender (called once, after the worker stopped
        and before the forwarders close)."""
        if not self.thread.is_alive():
            return
        self.q.put(None)
        self.thread.join(timeout=FLUSH_S)
