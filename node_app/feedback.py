"""What an entry node knows of its next hops, and the heartbeat that keeps it fresh (issue 13).

Every /message reply and every GET /feedback answer of a node carries its feedback
(node_app/node.py `Node.feedback`): `queue_depth`, `queue_size`, `service_ms` (EWMA),
`stage_ms` (EWMA per stage), `taken` (frames its worker has taken off its queue so far) and
`share` (the share of the work its entry gives it). An entry that fans frames out (mp's A,
the adaptive entry, a task gateway) keeps one `Downstream` over its next hops.

Whole-frame admission by credits. The entry is the only sender to each of its next hops, so
it knows exactly what it has sent (`sent`, refused sends taken back). A hop's reported
`taken` only grows and is never ahead of the truth, so `sent - taken` is never below the
frames really waiting in (or on the way to) that hop's queue. A frame is admitted only when
that is below the hop's `queue_size` for every hop it will go to; then it finds room there
when it arrives, whatever the timing: no frame is dropped after the entry has started on it.
The cost of a stale `taken` is only that the entry refuses a little early, which is why the
entry also polls GET /feedback every `heartbeat_ms` (`Heartbeat`): when the entry refuses
frames it sends nothing, so no reply would tell it that room has come back.

Why a poll by the entry and not a push by the hops: only the entry steers by it, a hop does
not need to know who its upstream is (no extra run.json field), and the poll is a GET on the
same port, so strict_peers (which guards data POSTs) needs no change.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Callable, Sequence
from typing import Any

from node_app.config import parse_hostport

BEAT_TIMEOUT_S = 1.0


def _number(reply: dict[str, Any], key: str) -> float | None:
    v = reply.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v)


class Downstream:
    """Per next hop: frames sent, frames it reported taken, its queue size and service EWMA.

    Shared by the worker thread (sends, replies) and the heartbeat thread, hence the lock.
    """

    def __init__(self, n: int, default_queue_size: int, default_service_ms: float = 0.0):
        self.lock = threading.Lock()
        self.n = n
        self.sent = [0] * n
        self.taken = [0] * n
        self.queue_size = [default_queue_size] * n
        self.service_ms = [default_service_ms] * n
        self.depth = [0] * n
        self.beats = 0

    def in_flight(self, i: int) -> int:
        """Frames sent to hop i that it has not yet taken off its queue (an upper bound)."""
        with self.lock:
            return self.sent[i] - self.taken[i]

    def has_room(self, i: int) -> bool:
        with self.lock:
            return self.sent[i] - self.taken[i] < self.queue_size[i]

    def all_have_room(self) -> bool:
        with self.lock:
            return all(self.sent[i] - self.taken[i] < self.queue_size[i] for i in range(self.n))

    def sending(self, i: int) -> None:
        """Count a frame as sent to hop i, before the send (so a concurrent beat cannot see
        a `taken` that includes it while `sent` does not)."""
        with self.lock:
            self.sent[i] += 1

    def replied(self, i: int, reply: dict[str, Any] | None, failure: str | None) -> None:
        """Hop i's answer to the frame just sent. A refusal (`accepted: false`) or a send that
        never reached it (connect error, HTTP error) is taken back; a timeout stays counted
        (the hop may hold the frame: counting it only costs room, never a drop)."""
        with self.lock:
            if reply is None:
                if failure is not None and failure != "timeout":
                    self.sent[i] -= 1
                return
            if reply.get("accepted") is False:
                self.sent[i] -= 1
        self.observe(i, reply)

    def observe(self, i: int, reply: dict[str, Any]) -> None:
        """Take hop i's feedback fields (a /message reply or a heartbeat)."""
        taken, size = _number(reply, "taken"), _number(reply, "queue_size")
        service, depth = _number(reply, "service_ms"), _number(reply, "queue_depth")
        with self.lock:
            if taken is not None:
                self.taken[i] = max(self.taken[i], int(taken))
            if size is not None and size >= 1:
                self.queue_size[i] = int(size)
            if service is not None and service > 0:
                self.service_ms[i] = service
            if depth is not None:
                self.depth[i] = int(depth)

    def snapshot(self) -> dict[str, list[Any]]:
        with self.lock:
            return {"sent": list(self.sent), "taken": list(self.taken),
                    "queue_size": list(self.queue_size),
                    "service_ms": [round(s, 3) for s in self.service_ms]}


class Heartbeat:
    """A thread that GETs /feedback from every hop each `period_s` and hands each answer to
    `on_beat(i, reply)`; one kept-alive connection per hop, errors skipped (the next beat
    tries again)."""

    def __init__(self, hops: Sequence[str], period_s: float,
                 on_beat: Callable[[int, dict[str, Any]], None]):
        self.hops = [parse_hostport(h) for h in hops]
        self.period_s = period_s
        self.on_beat = on_beat
        self.stop_event = threading.Event()
        self._conns: list[http.client.HTTPConnection | None] = [None] * len(self.hops)
        self.thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        if self.thread.is_alive():
            self.thread.join(timeout=5)
        for c in self._conns:
            if c is not None:
                c.close()

    def _run(self) -> None:
        while not self.stop_event.wait(self.period_s):
            for i in range(len(self.hops)):
                reply = self._poll(i)
                if reply is not None:
                    self.on_beat(i, reply)

    def _poll(self, i: int) -> dict[str, Any] | None:
        conn = self._conns[i]
        if conn is None:
            host, port = self.hops[i]
            conn = self._conns[i] = http.client.HTTPConnection(host, port,
                                                               timeout=BEAT_TIMEOUT_S)
        try:
            conn.request("GET", "/feedback")
            resp = conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException):
            conn.close()
            self._conns[i] = None
            return None
        if resp.status != 200:
            return None
        try:
            reply = json.loads(data)
        except ValueError:
            return None
        return reply if isinstance(reply, dict) else None


def keep_fps(arrival_fps: float, workers_fps: float, sent_ms: float, kept_ms: float) -> float:
    """Frames/s the adaptive entry should run whole itself (its `local` share), the rest
    going to the workers (together `workers_fps` frames/s at most).

    Every frame costs the entry `sent_ms` when it sends it on (its own stages) and `kept_ms`
    when it keeps it (the whole model), so keeping frames is dear and the entry's time runs
    out first. The split that leaves every device the most headroom makes the entry and the
    workers equally busy: with k kept of an arrival rate a, the entry is busy
    ((a - k) sent_ms + k kept_ms) / 1000 and the workers (a - k) / workers_fps, equal for
    k = a (1/W - s) / (1/W - s + c) (W = workers_fps; s, c the costs in seconds); none when
    the entry, sending everything, is already the busier (a six-device mix whose entry's
    own stage is the bound). Never more than the entry's time allows once the workers take
    all they can: (1000 - min(a, W) sent_ms) / kept_ms (Cao's optimum at the capacity
    bound, docs/strategies.md).

    Before, the entry kept (1000 - r sent_ms) / kept_ms at every load, r its sending rate:
    it planned its whole time even far below the bound, and with a six-device mix at 0.8 of
    the bound it lost 6.6 % of the frames in its own queue (docs/measurements.md).
    """
    if arrival_fps <= 0 or kept_ms <= 0 or workers_fps <= 0:
        return 0.0
    s, c, w_inv = sent_ms / 1000.0, kept_ms / 1000.0, 1.0 / workers_fps
    lead = w_inv - s
    balanced = arrival_fps * lead / (lead + c) if lead > 0 else 0.0
    room = max(0.0, 1000.0 - min(arrival_fps, workers_fps) * sent_ms) / kept_ms
    return min(balanced, room, arrival_fps)


def entry_shares(worker_fps: Sequence[float], arrival_fps: float, sent_ms: float,
                 kept_ms: float) -> list[float]:
    """The adaptive entry's shares of the arriving frames: each worker's in proportion to
    its rate, then the entry's own, `keep_fps` of the arrivals (none while nothing has
    arrived). node_app's entry weighs its round robin by these, the model's by the same."""
    w = sum(worker_fps)
    keep = keep_fps(arrival_fps, w, sent_ms, max(kept_ms, sent_ms))
    local = min(1.0, keep / arrival_fps) if arrival_fps > 0 else 0.0
    return [r / w * (1.0 - local) for r in worker_fps] + [local]
