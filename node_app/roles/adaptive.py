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

The entry's own share (run.json `local: {stages, direct_hop}`): A may also run the heavy
stage itself on a share of the frames, loaded once at start beside its own stages, and send
those frames straight to the sink. A's worker spends c_sent ms on a frame it sends to a
worker (its stages, and handing the output over: with `send: overlap`, node_app/outbox.py,
the send itself runs on the sender thread) and c_kept on a frame it keeps (EWMAs of its
whole time per frame; before the first of each, its stages' service EWMAs). Of the frames
arriving (a frames/s over the last RATE_WINDOW_S) it keeps `keep_fps(a, W, c_sent, c_kept)`
(node_app/feedback.py), W the workers' summed rates: the split that makes A and the workers
equally busy, capped by what A's time allows once the workers take all they can. At the
capacity bound that is Cao's optimum (docs/strategies.md, "Capacity bound of strategies 1
and 2": feed the workers to their limit, keep what A's time allows): 2 x Pi 3 B+, 25 +
20.45 = 45.5 fps. Below it, A keeps no more than balances the load (Cao's pair at 30 fps:
13.5 of 30, both two thirds busy); an entry whose own stage is the bound (a six-device mix)
keeps nothing. The local share is never a fallback: when it is a worker's turn and that
worker has no room, another worker with room takes the frame, or A refuses it; A does not
take on more than its share, which would starve the workers of A's first stage.

Trace: `shares` (packet -1, detail `<hop>=<share>` joined by `,`) when a share moved by more
than SHARE_TRACE_STEP since the last such row, at most every SHARE_TRACE_S: the report's
shares over time.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from node_app.feedback import Downstream, Heartbeat, entry_shares
from node_app.forwarder import Forwarder
from node_app.node import Node
from node_app.role import Role
from node_app.stage import load_pipeline

SHARE_TRACE_STEP = 0.02
SHARE_TRACE_S = 0.25
RATE_WINDOW_S = 1.0  # the arrival rate the entry's own share is a part of
COST_ALPHA = 0.1  # EWMA weight of a frame's whole cost at the entry (as feedback.py's EWMAs)


class AdaptiveEntry(Role):
    """Compute own stages, send each frame to one worker in proportion to measured rates."""

    def __init__(self, node: Node):
        super().__init__(node)
        run = node.run
        n = len(node.forwarders)
        self.whole = run.admission == "whole"
        self.down = Downstream(n, run.queue_size)
        self.beat = Heartbeat(run.next_hops, run.heartbeat_ms / 1000.0, self.down.observe)
        self.n = n
        cfg = run.local
        self.direct: Forwarder | None = None
        if cfg is not None:  # loaded once, here: nothing is loaded on the hot path
            self.full = load_pipeline(node.config.stages_dir, [*run.stages, *cfg.stages],
                                      run.input_size)
            self.full_ms = node.profile.frame_ms(self.full.costs)
            self.direct = node.forwarder(cfg.direct_hop)
            self.own_key = "+".join(st.name for st in node.pipeline.stages)
            self.full_key = "+".join(st.name for st in self.full.stages)
        members = n + (self.direct is not None)
        self.names = [*run.next_hops, *(["local"] if self.direct is not None else [])]
        self.current = [0.0] * members  # smooth weighted round robin state
        self.routed = [0] * members
        self.arrived_at: deque[float] = deque()  # frames the worker took, RATE_WINDOW_S
        self.cost_ms: dict[str, float] = {}  # "sent" / "kept": the worker's ms per frame
        self._traced: list[float] | None = None
        self._traced_at = 0.0
        self.last_shares: list[float] | None = None  # for /stats: only the worker computes

    def shares(self) -> list[float]:
        """Each member's share of the frames. The workers' shares are in proportion to their
        rates, 1000 / their service EWMA; one that has not reported yet counts as fast as
        the mean of those that have (all equal at start). With `local`, the entry's own
        share (last) is `keep_fps` of the arrival rate, and the workers share the rest
        (`entry_shares`)."""
        with self.down.lock:
            service = list(self.down.service_ms)
        rates = [1000.0 / s if s > 0 else 0.0 for s in service]
        known = [r for r in rates if r > 0]
        fill = sum(known) / len(known) if known else self.own_heavy_rate()
        rates = [r if r > 0 else fill for r in rates]
        total = sum(rates)
        if total <= 0:
            rates, total = [1.0] * len(rates), float(len(rates))
        if self.direct is None:
            return [r / total for r in rates]
        return entry_shares(rates, *self.arrivals_and_costs())

    def own_heavy_rate(self) -> float:
        """Before any worker has reported: the heavy stage's rate on the entry's own profile
        (with `local`), else 1 (all workers equal)."""
        if self.direct is None or not self.full_ms or not self.node.profile_ms:
            return 1.0
        return 1000.0 / max(self.full_ms - self.node.profile_ms, 1e-3)

    def arrivals_and_costs(self) -> tuple[float, float, float]:
        """What the entry's own share is worked out from (`entry_shares`,
        node_app/feedback.py): the frames/s that reached its worker over the last
        RATE_WINDOW_S, and its measured costs c_sent and c_kept, ms (before the first of
        each, its stages' service EWMAs, and before those the profile's times)."""
        st = self.node.stats
        with st.lock:
            s1 = st.stage_ms.get(self.own_key)
            full = st.stage_ms.get(self.full_key)
        s1 = s1 if s1 is not None else (self.node.profile_ms or 0.0)
        full = full if full is not None else (self.full_ms or 0.0)
        now = time.monotonic()
        while self.arrived_at and now - self.arrived_at[0] > RATE_WINDOW_S:
            self.arrived_at.popleft()
        return (len(self.arrived_at) / RATE_WINDOW_S, self.cost_ms.get("sent", s1),
                self.cost_ms.get("kept", full))

    def _cost(self, kind: str, t0: float) -> None:
        """Fold one frame's whole time at the entry (since t0) into its EWMA."""
        ms = (time.perf_counter() - t0) * 1000.0
        old = self.cost_ms.get(kind)
        self.cost_ms[kind] = ms if old is None else old + COST_ALPHA * (ms - old)

    def choose(self, shares: list[float]) -> int | None:
        """The next member by smooth weighted round robin over all of them; a worker whose
        turn it is without room gives it to the worker with room next in line, never to
        the entry itself; None (refuse) when no worker has room and it is not the entry's
        turn. A refused frame uses up the turn of the worker it was for: the entry's turns
        then come at its share of every frame it takes, refused ones included, which is
        what its share (`keep_fps` / arrival rate) is a share of. (Leaving the round robin
        as it was after a refusal gave the same worker the next turn and the next: above the
        bound the entry kept a third fewer frames than its time allowed; Cao's pair
        delivered 36.5 of 45.5 fps.)"""
        members = range(len(shares))
        for i in members:
            self.current[i] += shares[i]
        best = max(members, key=lambda i: self.current[i])
        turn = best
        if best < self.n and self.whole and not self.down.has_room(best):
            cand = [i for i in range(self.n) if self.down.has_room(i)]
            if not cand:
                self.current[turn] -= sum(shares)
                return None
            best = max(cand, key=lambda i: self.current[i])
        self.current[best] -= sum(shares)
        return best

    def work(self) -> None:
        self.beat.start()  # rates must stay fresh even for a worker A sends little to
        super().work()

    def process(self, packet_id: int, body: bytes) -> None:
        node = self.node
        self.arrived_at.append(time.monotonic())
        shares = self.last_shares = self.shares()
        self._trace_shares(shares)
        i = self.choose(shares)
        if i is None:
            node.drop(packet_id, "admission")
            return
        self.routed[i] += 1
        t0 = time.perf_counter()
        if i == self.n:  # the entry's own share: the whole model here, then the sink
            assert self.direct is not None
            node.run_frame(packet_id, body, self.full, self.full_ms, self.direct)
            self._cost("kept", t0)
            return
        out = node.compute(packet_id, body, node.pipeline, node.profile_ms)
        data = out.astype("<f4", copy=False).tobytes()
        self.down.sending(i)
        node.post(packet_id, data, node.forwarders[i], {"X-Share": f"{shares[i]:.4f}"},
                  lambda reply, failure: self.down.replied(i, reply, failure))
        self._cost("sent", t0)

    def _trace_shares(self, shares: list[float]) -> None:
        now = time.monotonic()
        old = self._traced
        if old is not None and (now - self._traced_at < SHARE_TRACE_S or max(
                abs(a - b) for a, b in zip(old, shares, strict=True)) <= SHARE_TRACE_STEP):
            return
        self._traced, self._traced_at = shares, now
        self.node.trace.write(-1, "shares", ",".join(
            f"{hop}={s:.3f}" for hop, s in zip(self.names, shares, strict=True)))

    def stats(self) -> dict[str, Any]:
        names = self.names
        shares = self.last_shares or [1.0 / len(names)] * len(names)
        return {"routed": dict(zip(names, self.routed, strict=True)),
                "entry_cost_ms": {k: round(v, 3) for k, v in dict(self.cost_ms).items()},
                "shares": {h: round(s, 4) for h, s in zip(names, shares, strict=True)},
                "downstream": self.down.snapshot()}

    def describe(self) -> str:
        local = f" local={list(self.node.run.local.stages)}" if self.node.run.local else ""
        return f" route=adaptive admission={self.node.run.admission}{local}"

    def close(self) -> None:
        self.beat.stop()
        if self.direct is not None:
            self.direct.close()
