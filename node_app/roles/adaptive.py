"""The adaptive strategy's entry node (run.json `route: adaptive`, issue 13).

A runs its own stages (L1) on each frame and sends the result to ONE of its next hops, the
workers, each of which holds the whole heavy stage (L2) and forwards to the sink. The split
is by frames, in proportion to the workers' measured service rates (1000 / their service
EWMA, from every reply and every heartbeat: node_app/feedback.py), re-weighted on every
frame, so a worker that slows down (another load on it, a `slow` fault, a slower board) gets
fewer frames within a few of its own frames.

Why by frames and not by neuron slices (as mp cuts L2): a proportional neuron split would
need every worker to hold all of L2 anyway (the cut moves), every frame would wait for its
slowest slice and be lost with any one of them, and the sink would need each frame's cut
to merge it. By frames, a frame is one worker's whole job: no merge, a slow worker delays
only its own frames, and re-balancing is only a change of weights: no model switch and no
weight reload on the hot path (each worker loads L2 once, at start). The price is latency:
a frame takes a whole L2 on one device, not 1/K of it. A holds only L1 and sends each frame
to exactly one worker (`routed`), so the wire carries one L1 output per frame.

Choosing: smooth weighted round robin (nginx's) over the workers that have room, weights =
rates; so with rates 2:1 the frames go A-B-A A-B-A ... and the shares (weight / sum, sent to
each worker as `X-Share` and shown in /stats `shares`) are 2/3 and 1/3. Admission (`whole`,
the default the harness writes): a worker has room when the frames sent to it minus those it
reported taken are below its queue size (node_app/feedback.py); when no worker has room the
frame is dropped at once at A, reason `admission`, before any work: above the capacity bound
the excess is refused at the entry, and no worker ever drops on a full queue. `none` sends
regardless (the workers' queues drop, as in dp).

Trace: `shares` (packet -1, detail `<hop>=<share>` joined by `,`) when a share moved by more
than SHARE_TRACE_STEP since the last such row, at most every SHARE_TRACE_S: the report's
shares over time.
"""

from __future__ import annotations

import time
from typing import Any

from node_app.feedback import Downstream, Heartbeat
from node_app.node import Node
from node_app.role import Role

SHARE_TRACE_STEP = 0.02
SHARE_TRACE_S = 0.25


class AdaptiveEntry(Role):
    """Compute own stages, send each frame to one worker in proportion to measured rates."""

    def __init__(self, node: Node):
        super().__init__(node)
        run = node.run
        n = len(node.forwarders)
        self.whole = run.admission == "whole"
        self.down = Downstream(n, run.queue_size)
        self.beat = Heartbeat(run.next_hops, run.heartbeat_ms / 1000.0, self.down.observe)
        self.current = [0.0] * n  # smooth weighted round robin state
        self.routed = [0] * n
        self._traced: list[float] | None = None
        self._traced_at = 0.0

    def shares(self) -> list[float]:
        """Each worker's share: its rate (1000 / service EWMA) over the sum. A worker that has
        not reported yet counts as fast as the mean of those that have (all equal at start)."""
        with self.down.lock:
            service = list(self.down.service_ms)
        rates = [1000.0 / s if s > 0 else 0.0 for s in service]
        known = [r for r in rates if r > 0]
        fill = sum(known) / len(known) if known else 1.0
        rates = [r if r > 0 else fill for r in rates]
        total = sum(rates)
        return [r / total for r in rates]

    def choose(self, shares: list[float]) -> int | None:
        """The next worker (smooth weighted round robin over those with room), or None."""
        cand = [i for i in range(len(shares)) if not self.whole or self.down.has_room(i)]
        if not cand:
            return None
        for i in cand:
            self.current[i] += shares[i]
        best = max(cand, key=lambda i: self.current[i])
        self.current[best] -= sum(shares[i] for i in cand)
        return best

    def work(self) -> None:
        self.beat.start()  # rates must stay fresh even for a worker A sends little to
        super().work()

    def process(self, packet_id: int, body: bytes) -> None:
        node = self.node
        shares = self.shares()
        self._trace_shares(shares)
        i = self.choose(shares)
        if i is None:
            node.drop(packet_id, "admission")
            return
        out = node.compute(packet_id, body, node.pipeline, node.profile_ms)
        data = out.astype("<f4", copy=False).tobytes()
        self.routed[i] += 1
        self.down.sending(i)
        self.down.replied(i, *node.send(packet_id, data, node.forwarders[i],
                                        {"X-Share": f"{shares[i]:.4f}"}))

    def _trace_shares(self, shares: list[float]) -> None:
        now = time.monotonic()
        old = self._traced
        if old is not None and (now - self._traced_at < SHARE_TRACE_S or max(
                abs(a - b) for a, b in zip(old, shares, strict=True)) <= SHARE_TRACE_STEP):
            return
        self._traced, self._traced_at = shares, now
        self.node.trace.write(-1, "shares", ",".join(
            f"{hop}={s:.3f}" for hop, s in zip(self.node.run.next_hops, shares, strict=True)))

    def stats(self) -> dict[str, Any]:
        hops = self.node.run.next_hops
        return {"routed": dict(zip(hops, self.routed, strict=True)),
                "shares": {h: round(s, 4) for h, s in zip(hops, self.shares(), strict=True)},
                "downstream": self.down.snapshot()}

    def describe(self) -> str:
        return f" route=adaptive admission={self.node.run.admission}"

    def close(self) -> None:
        self.beat.stop()
