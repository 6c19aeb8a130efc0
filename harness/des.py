"""Discrete-event model of a run: what the strategies *should* do, put beside what they did.

This module is the engine (queues, workers, switches, the client); each strategy module
wires its own nodes from it in `predict(params)` (harness/strategies/), and
harness/predict.py turns a run's spec into those parameters.

A measured coverage means little on its own: 0.82 at 30 fps is exactly right for the
baseline (B serves 40 ms frames, so ~25 of 30 fps get through) and would be a bug for
strategy 3. This module replays a run's schedule through an idealised copy of the
system, with the service times the emulated nodes sleep by (node_app/profiles.json), so
a report can show "predicted" next to "measured" and a gap points at either an emulation
artefact or a wrong idea of how a strategy behaves.

The model (times in ms; see docs/strategies.md, "Predicted vs measured"):

- The client sends frame i at its intended time i / rate (warm-up frames first, then the
  measure frames; only measure frames count), straight into the entry node's queue.
- Every node has one bounded FIFO queue (frames waiting, not the one in service) and one
  worker. A frame arriving at a full queue is dropped (`queue_full` at that node).
- The worker serves the head of the queue for the service time, then forwards it, which
  takes `hop_ms` during which the worker stays busy (node_app forwards synchronously and
  waits for the reply). The frame reaches the next node at the end of the forward; the
  reply (accepted, overloaded = rejected or queue full after it) arrives at that instant.
  With `send: overlap` (Params.send; node_app/outbox.py) the worker is busy for the service
  time only and hands the frame to the node's one sender, which forwards one frame after
  the other, `hop_ms` each; when OUTBOX_FRAMES wait for the sender, the worker waits to
  hand over, as node_app's does.
- A sink only records the arrival time; latency is sink arrival minus intended send time.
- Message size (`Links`, the gateway boards of ftp and bodp): a message also costs its
  bytes / the link's rate (bytes per ms): a tile's or band's input and result, the frame
  from the client (its bytes only: no strategy prices the client's fixed cost), the output
  to the sink. Each message is priced alone: two messages through one host at once do not
  slow each other (no contention for the gateway's link or CPU).

It is an event-driven simulation on a heap of (time, sequence) events; the sequence
number makes simultaneous events run in the order they were scheduled, so a prediction
is a pure function of its arguments. The only randomness is a profile's service-time
distribution (Params.dists), drawn from a seeded RNG: the same seed, the same prediction.
"""

from __future__ import annotations

import heapq
import itertools
import math
import zlib
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from node_app.outbox import OUTBOX_FRAMES
from node_app.profile import Dist


@dataclass(frozen=True)
class Links:
    """What a message's bytes cost on top of its hop: bytes / rate, rates in bytes per ms.

    shaped: node name (`G`, `D0`, ...) -> the rate its host's link is shaped to (the lab's
        tc tbf, both directions, inventory var `link_rate`): a message between two nodes
        goes at the lower of their shaped rates; the client, the sink and an unshaped host
        do not limit it.
    rate: the rate of a message between nodes none of which is shaped: the effective rate
        fitted on the run's own traces (harness/overhead.py); None: their bytes cost nothing.
    """

    rate: float | None = None
    shaped: tuple[tuple[str, float], ...] = ()

    def ms(self, a: str, b: str, nbytes: int) -> float:
        """The bytes' time of a message of `nbytes` between nodes `a` and `b`."""
        shaped = dict(self.shaped)
        limits = [shaped[n] for n in (a, b) if n in shaped]
        rate = min(limits) if limits else self.rate
        return nbytes / rate if rate and nbytes > 0 else 0.0


@dataclass(frozen=True)
class ReuseTile:
    """wst-s: what data reuse changes for one tile (node_app/reuse.py, priced as
    node_app/roles/reuse_device.py waits it out). A dependent tile (`neighbours`: the tiles
    whose results it reuses) computes its reduced stack (`ms`, per device) from its smaller
    input (`in_bytes`) once it has fetched its pieces from G (`fetch_bytes`); an independent
    tile (no neighbours) is computed whole and its result carries `give_bytes` of pieces."""

    neighbours: tuple[int, ...] = ()
    ms: tuple[float, ...] = ()
    in_bytes: int = 0
    fetch_bytes: int = 0
    give_bytes: int = 0

    @property
    def dependent(self) -> bool:
        return bool(self.neighbours)


@dataclass(frozen=True)
class Params:
    """Everything a strategy's prediction depends on (times in ms).

    first_ms, second_ms: the model's two pipeline stages, each on its own node's device
        (first on A's, second on B's: a mixed run prices each node by its own profile).
    whole_ms: the whole model on A's device (Cao's strategies 1-3).
    b_whole_ms: the whole model on B's device (strategy 3's second replica); None: as
        whole_ms (the same device).
    switch_ms: A's switch to help (loading the whole model; Cao's strategies 1, 2).
    switch_back_ms: A's switch back to its own stage (a smaller load).
    hop_ms: node overhead per forward (HTTP round trip to the next hop).
    parts_ms: dp, mp and tasks: per part node (replica, slice node, helper, in plan order)
        the times of its jobs: dp `(L2 ms,)`, mp `(its slice's ms,)`, tasks the T block
        times on that helper's profile; so heterogeneous nodes are modelled as they are.
        ftp and bodp: per device, its time for each task of a frame (FTP: tile i; BODP:
        block l * K + k, its own band of layer l, 0 for the others' blocks).
    rounds: a gateway board's rounds of tasks per frame, each a tuple of task numbers; the
        next round is queued only when the last task of the one before is back (BODP: one
        round per layer, its non-empty bands: the layer barrier). Empty: one round of
        every task (tasks, FTP).
    owners: task -> the one device that may take it (BODP's static assignment); empty: any.
    rest_ms: the gateway's own work on an assembled frame before it forwards it (FTP: the
        layers after the fused ones, on the gateway's profile); its sender does this and
        the forward one frame at a time.
    send: `inline` (every strategy before issue 13's last round) or `overlap`: whether a
        Node's worker forwards (`hop_ms` busy) or hands the frame to its sender (`Node.
        forward_job`); only the plain Node and AdaptiveNode honour it (the spec refuses
        `overlap` for the strategies of the others).
    admission: `whole` (the spec's default since issue 13): mp's and adaptive's entry drops
        a frame (reason `admission`) when a node it would go to has a full queue; `none`:
        it sends anyway and the downstream queue drops.
    dists: node name -> the service-time distributions of its stages (profile `stage_ms`):
        that node's service time is drawn per frame (one draw per stage, summed) instead of
        its constant, from an RNG seeded by `seed` and the name, as node_app draws them.
    links: what a message's bytes cost (`Links`; default: nothing, the hop only).
    task_bytes: ftp, bodp: per task, (its input's bytes, its result's bytes), the two
        messages of a task; empty: tasks carry no bytes.
    frame_bytes: ftp, bodp: (the client's frame, the gateway's output to the sink), bytes.
    sched: ftp's scheduler: `wsh` (the devices pull from G's board), `wst`, `wst-s` (the
        source queues its tiles, the others steal them: harness/des_steal.py); the one
        round of `rounds` is then the order a frame's tiles are queued in.
    reuse: wst-s: per tile its reuse prices (`ReuseTile`).
    link_ms: node name -> ms an emulated link adds to each of its forwards (`--link`: the
        link's mean delay + loss x TCP's RTO, per forward; harness/link_plan.py): that
        node's worker stays busy hop_ms + link_ms per forward, and the frame arrives then.
    client_link_ms: entry node name -> ms the client's link to it adds to each frame's
        arrival there (the client does not wait: its sends are open-loop).
    slow: (node name, ms after the first frame's intended time, factor) of each `slow`
        fault: from then on the node's service times are that many times longer (the jobs
        of `Node.job_ms`, the adaptive entry's own share, Cao's helping A's L1-only and whole
        frames, a pulling helper's tasks, a work-stealing device's tiles; switches are loads,
        not compute, and are not scaled); other faults are not modelled.
    """

    rate_fps: float
    warmup_frames: int
    measure_frames: int
    queue_size: int
    x: int
    first_ms: float
    second_ms: float
    whole_ms: float
    switch_ms: float
    hop_ms: float
    switch_back_ms: float | None = None  # None: as switch_ms
    parts_ms: tuple[tuple[float, ...], ...] = ()
    b_whole_ms: float | None = None  # None: as whole_ms
    rounds: tuple[tuple[int, ...], ...] = ()
    owners: tuple[int, ...] = ()
    rest_ms: float = 0.0
    admission: str = "whole"
    send: str = "inline"
    dists: tuple[tuple[str, tuple[Dist, ...]], ...] = ()
    seed: int = 0
    links: Links = Links()
    task_bytes: tuple[tuple[int, int], ...] = ()
    frame_bytes: tuple[int, int] = (0, 0)
    sched: str = "wsh"
    reuse: tuple[ReuseTile, ...] = ()
    link_ms: tuple[tuple[str, float], ...] = ()
    client_link_ms: tuple[tuple[str, float], ...] = ()
    slow: tuple[tuple[str, float, float], ...] = ()

    @property
    def back_ms(self) -> float:
        return self.switch_ms if self.switch_back_ms is None else self.switch_back_ms

    @property
    def whole_b_ms(self) -> float:
        return self.whole_ms if self.b_whole_ms is None else self.b_whole_ms

    def check(self) -> None:
        if self.rate_fps <= 0 or self.measure_frames < 1 or self.warmup_frames < 0:
            raise ValueError("need rate_fps > 0, measure_frames >= 1 and warmup_frames >= 0")
        if self.queue_size < 1 or self.x < 1:
            raise ValueError("queue_size and x must be >= 1")


@dataclass(frozen=True)
class BoardJobs:
    """What a gateway board's strategy (ftp, bodp) adds to `Params`: the devices' task
    times, the rounds, the owners, the gateway's rest, the messages' bytes, the scheduler
    and its reuse prices (see `Params`)."""

    parts_ms: tuple[tuple[float, ...], ...]
    rounds: tuple[tuple[int, ...], ...] = ()
    owners: tuple[int, ...] = ()
    rest_ms: float = 0.0
    task_bytes: tuple[tuple[int, int], ...] = ()
    frame_bytes: tuple[int, int] = (0, 0)
    sched: str = "wsh"
    reuse: tuple[ReuseTile, ...] = ()


class Sim:
    """The event loop: a heap of (time_ms, seq, callback, args)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[..., None], tuple]] = []
        self._seq = itertools.count()

    def at(self, t: float, fn: Callable[..., None], *args: Any) -> None:
        heapq.heappush(self._heap, (t, next(self._seq), fn, args))

    def run(self) -> None:
        heap = self._heap
        while heap:
            t, _, fn, args = heapq.heappop(heap)
            fn(t, *args)


class Delayed:
    """The client's frame on its way to `node`: it arrives after its bytes' time on the link
    (`delay_ms`); the reply the client gets is not modelled (the client ignores it)."""

    def __init__(self, sim: Sim, node: Any, delay_ms: float) -> None:
        self.sim, self.node, self.delay_ms = sim, node, delay_ms
        self.name = str(getattr(node, "name", ""))  # a client link to it is keyed by name

    def admit(self, frame: int, t: float) -> bool:
        if self.delay_ms <= 0:
            return bool(self.node.admit(frame, t))
        self.sim.at(t + self.delay_ms, lambda t2: self.node.admit(frame, t2))
        return False


class Sink:
    """Records when each frame arrives; the first arrival is its delivery."""

    def __init__(self) -> None:
        self.arrival: dict[int, float] = {}

    def admit(self, frame: int, t: float) -> bool:
        self.arrival.setdefault(frame, t)
        return False  # a sink is never overloaded


class Slowable:
    """What a `slow` fault does to a node's compute in the model (Params.slow): from
    `slow_at_ms` on its times are `slow_factor` times longer; set by `simulate`."""

    slow_at_ms: float = math.inf
    slow_factor: float = 1.0

    def factor_at(self, t: float) -> float:
        """The `slow` fault's factor on this node's times at t (1 before the fault)."""
        return self.slow_factor if t >= self.slow_at_ms else 1.0


class Node(Slowable):
    """One worker node: bounded queue, single worker, forwards to `next_node`.

    Subclasses decide what the worker does next (`next_job`); the base class owns the
    queue, the busy flag and the drop bookkeeping, so every strategy drops the same way.
    """

    def __init__(self, sim: Sim, name: str, queue_size: int, service_ms: float,
                 hop_ms: float, next_node: Node | Sink, drops: dict[int, str]) -> None:
        self.sim, self.name, self.queue_size = sim, name, queue_size
        self.service_ms, self.hop_ms, self.next_node = service_ms, hop_ms, next_node
        self.queue: deque[int] = deque()
        self.busy = False
        self.drops = drops  # shared: frame -> node that dropped it (`node:reason`, else queue_full)
        self.switches = 0
        self.draw: Callable[[], float] | None = None  # set by `simulate` from Params.dists
        self.overlap = False  # set by `simulate` from Params.send
        self.sender_free = 0.0  # overlap: when the sender has sent all it was handed
        self.sending: deque[float] = deque()  # overlap: when each handed frame is sent
        self.now = 0.0  # the time of the job being chosen (set by _kick)

    def job_ms(self) -> float:
        """This frame's service time: drawn from the node's distribution, else the constant;
        times the `slow` fault's factor once it has landed."""
        ms = self.service_ms if self.draw is None else self.draw()
        return ms * self.factor_at(self.now)

    def admit(self, frame: int, t: float) -> bool:
        """Enqueue or drop a frame; return the reply's `overloaded` flag.

        Fullness is checked right after the put and before an idle worker takes the frame,
        as node_app's request thread does (`not accepted or queue.full()`).
        """
        if len(self.queue) >= self.queue_size:
            self.drops.setdefault(frame, self.name)
            return True
        self.queue.append(frame)
        overloaded = len(self.queue) >= self.queue_size
        self._kick(t)
        return overloaded

    def _kick(self, t: float) -> None:
        """Start the worker's next job if it is idle and has one."""
        if self.busy:
            return
        self.now = t
        job = self.next_job()
        if job is None:
            return
        duration, done = job
        self.busy = True
        self.sim.at(t + duration, self._finish, done)

    def _finish(self, t: float, done: Callable[[float], None]) -> None:
        self.busy = False
        done(t)
        self._kick(t)

    def next_job(self) -> tuple[float, Callable[[float], None]] | None:
        """Serve the head of the queue and forward it to the next node (pipeline stage)."""
        if not self.queue:
            return None
        frame = self.queue.popleft()
        return self.forward_job(self.job_ms(), lambda t: self.on_reply(
            self.next_node.admit(frame, t), t))

    def forward_job(self, job_ms: float, deliver: Callable[[float], None]
                    ) -> tuple[float, Callable[[float], None]]:
        """A job that ends in one forward: (the worker's busy time, what happens when it
        ends). Inline: the job and the hop, then `deliver`. Overlap: the job (and any wait
        for room in the outbox); the sender sends the frame when it has sent those before
        it, `hop_ms` each, and it is delivered then."""
        if not self.overlap:
            return job_ms + self.hop_ms, deliver
        end = self.now + job_ms
        sending = self.sending  # when each frame handed over is sent, in order
        while sending and sending[0] <= end:
            sending.popleft()
        # node_app's outbox holds OUTBOX_FRAMES waiting beside the one being sent; with it
        # full the worker waits until the sender has finished enough to make room.
        over = len(sending) - OUTBOX_FRAMES
        handed = end if over <= 0 else max(end, sending[over - 1])
        self.sender_free = max(self.sender_free, handed) + self.hop_ms
        sending.append(self.sender_free)
        self.sim.at(self.sender_free, deliver)
        return handed - self.now, lambda t: None

    def on_reply(self, overloaded: bool, t: float) -> None:
        """A plain pipeline node ignores the next node's overload flag (the baseline)."""


class HelperNode(Node):
    """Node A of Cao's strategies 1 and 2: on B's overload signal it helps with L2.

    Modes: `pipe` (L1, forward to B) -> switch (S ms) -> `help` (X frames through L1+L2
    straight to the sink; strategy 2 also passes one L1-only frame to B after each) ->
    switch back (S ms) -> `pipe`. Overload signals outside `pipe` are ignored.
    """

    def __init__(self, *args: Any, full_ms: float, l1_only_ms: float, switch_ms: float,
                 x: int, sink: Sink, feed_b: bool, switch_back_ms: float | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.full_ms, self.l1_only_ms, self.switch_ms = full_ms, l1_only_ms, switch_ms
        self.switch_back_ms = switch_ms if switch_back_ms is None else switch_back_ms
        self.x, self.sink, self.feed_b = x, sink, feed_b
        self.mode = "pipe"
        self.switch_pending = False  # B said overloaded; switch before the next frame
        self.remaining = 0  # full frames still to do in this help episode
        self.owe_l1 = False  # strategy 2: an L1-only frame for B is due

    def on_reply(self, overloaded: bool, t: float) -> None:
        if self.mode == "pipe" and overloaded:
            self.switch_pending = True

    def next_job(self) -> tuple[float, Callable[[float], None]] | None:
        if self.mode == "pipe":
            if self.switch_pending:
                self.switch_pending = False
                return self._switch("help")
            return super().next_job()
        # help mode
        if self.owe_l1:
            self.owe_l1 = False
            if self.queue:  # "the next frame in its queue (if any)"
                frame = self.queue.popleft()
                # Reply ignored: overload signals during help do not count.
                return (self.l1_only_ms * self.factor_at(self.now) + self.hop_ms,
                        lambda t: self.next_node.admit(frame, t))
        if self.remaining == 0:
            return self._switch("pipe")
        if not self.queue:
            return None
        frame = self.queue.popleft()
        return (self.full_ms * self.factor_at(self.now) + self.hop_ms,
                lambda t: self._full_done(frame, t))

    def _full_done(self, frame: int, t: float) -> None:
        self.sink.admit(frame, t)
        self.remaining -= 1
        self.owe_l1 = self.feed_b

    def _switch(self, mode: str) -> tuple[float, Callable[[float], None]]:
        """Load the other model: the worker is busy for the switch (the whole model's load
        to help, the own stage's load back) and serves nothing meanwhile."""
        self.switches += 1

        def done(t: float) -> None:
            self.mode = mode
            if mode == "help":
                self.remaining = self.x

        return (self.switch_ms if mode == "help" else self.switch_back_ms), done


class RouterNode(Node):
    """dp's node A (run.json `route: least_queue`): each frame to ONE replica, the one
    with the least backlog (frames queued + the one in service), ties round robin from the
    replica after the last one chosen. node_app estimates the backlog from the replicas'
    replies; the model uses the exact figure, the estimate's ideal."""

    def __init__(self, *args: Any, replicas: Sequence[Node], **kwargs: Any) -> None:
        super().__init__(*args, next_node=replicas[0], **kwargs)
        self.replicas, self.last = list(replicas), len(replicas) - 1

    def next_job(self) -> tuple[float, Callable[[float], None]] | None:
        if not self.queue:
            return None
        frame = self.queue.popleft()
        return self.job_ms() + self.hop_ms, lambda t: self._route(frame, t)

    def _route(self, frame: int, t: float) -> None:
        n = len(self.replicas)
        order = [(self.last + 1 + j) % n for j in range(n)]
        choice = min(order, key=lambda i: len(self.replicas[i].queue) + self.replicas[i].busy)
        self.last = choice
        self.replicas[choice].admit(frame, t)


class AdaptiveNode(Node):
    """The adaptive entry (run.json `route: adaptive` + `local`, node_app/roles/adaptive.py):
    each frame to ONE worker, or kept (`local_ms`: the whole model on A, then the sink), by
    smooth weighted round robin over weights (one per worker, then A's own) that
    `weigh(worker service ms, A's slow factor)` gives for the times of the moment: a `slow`
    fault on a worker or on A re-weighs from the frame after it lands (node_app's measured
    EWMAs follow within a few frames). A worker whose turn it is without room (queue at
    queue_size: the ideal of node_app's sent - taken credit) passes it to the next worker
    with room, never to A; with none, A drops the frame before its first layer (admission).
    `whole=False`: every frame is sent (queues drop)."""

    def __init__(self, *args: Any, replicas: Sequence[Node],
                 weigh: Callable[[Sequence[float], float], Sequence[float]],
                 local_ms: float, sink: Sink, whole: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, next_node=replicas[0], **kwargs)
        self.replicas, self.whole, self.local_ms, self.sink = list(replicas), whole, local_ms, sink
        self.weigh = weigh
        self.weighed: tuple[float, ...] = ()  # the times the shares were weighed for
        self.shares: list[float] = []
        self.current = [0.0] * (len(self.replicas) + 1)
        self.in_flight = [0] * len(self.replicas)  # overlap: on A's sender, not yet arrived

    def _reweigh(self) -> None:
        times = (*(r.service_ms * r.factor_at(self.now) for r in self.replicas),
                 self.factor_at(self.now))
        if times != self.weighed:
            self.weighed = times
            weights = self.weigh(times[:-1], times[-1])
            self.shares = [w / sum(weights) for w in weights]

    def next_job(self) -> tuple[float, Callable[[float], None]] | None:
        if not self.queue:
            return None
        frame = self.queue.popleft()
        self._reweigh()
        n, members = len(self.replicas), range(len(self.shares))
        for i in members:
            self.current[i] += self.shares[i]
        choice = max(members, key=lambda i: self.current[i])
        room = [i for i in range(n)  # sent and not yet taken, as node_app's credits count
                if len(self.replicas[i].queue) + self.in_flight[i] < self.replicas[i].queue_size]
        if choice < n and self.whole and choice not in room:
            if not room:  # the refused frame uses up the worker's turn, as in node_app
                self.current[choice] -= 1.0
                self.drops.setdefault(frame, f"{self.name}:admission")
                return 0.0, lambda t: None
            choice = max(room, key=lambda i: self.current[i])
        self.current[choice] -= 1.0
        if choice == n:
            return self.forward_job(self.local_ms * self.factor_at(self.now),
                                    lambda t: self.sink.admit(frame, t))
        self.in_flight[choice] += 1

        def arrive(t: float) -> None:
            self.in_flight[choice] -= 1
            self.replicas[choice].admit(frame, t)
        return self.forward_job(self.job_ms(), arrive)


class FanoutNode(Node):
    """mp's node A (run.json `route: all`): every frame to every slice node, one forward
    after the other (so the worker is busy for K hops); the frame reaches all of them when
    the last forward ends. `whole`: a frame some slice node has no room for is dropped at
    A before L1 (admission; node_app/roles/fanout.py)."""

    def __init__(self, *args: Any, parts: Sequence[Node], whole: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(*args, next_node=parts[0], **kwargs)
        self.parts, self.whole = list(parts), whole

    def next_job(self) -> tuple[float, Callable[[float], None]] | None:
        if not self.queue:
            return None
        frame = self.queue.popleft()
        if self.whole and any(len(p.queue) >= p.queue_size for p in self.parts):
            self.drops.setdefault(frame, f"{self.name}:admission")  # refused whole, at A
            return 0.0, lambda t: None

        def done(t: float) -> None:
            for part in self.parts:
                part.admit(frame, t)

        return self.job_ms() + len(self.parts) * self.hop_ms, done


class MergeSink(Sink):
    """mp's merging sink: a frame is delivered when the K-th slice arrives."""

    def __init__(self, k: int) -> None:
        super().__init__()
        self.k = k
        self.seen: dict[int, int] = {}

    def admit(self, frame: int, t: float) -> bool:
        self.seen[frame] = self.seen.get(frame, 0) + 1
        if self.seen[frame] == self.k:
            self.arrival.setdefault(frame, t)
        return False


class GatewayNode(Node):
    """The task gateway (run.json `tasks`): runs its stage on a frame, then puts the frame's
    tasks on the board; with `queue_size` frames on the board its worker waits (busy)
    until one completes. Idle helpers pull tasks in order (only their own under `owners`);
    a frame's tasks come in `rounds` (default: one round of all `blocks`), the next round
    queued when the last task of the one before is back. When the last round is in, the
    sender thread does `finish_ms` of work (FTP's layers after the fused ones) and forwards
    the frame to the sink (one hop and `out_ms`, its bytes), one frame at a time."""

    def __init__(self, *args: Any, blocks: int, sink: Sink,
                 rounds: Sequence[Sequence[int]] = (), owners: Sequence[int] = (),
                 finish_ms: float = 0.0, out_ms: float = 0.0, **kwargs: Any) -> None:
        super().__init__(*args, next_node=sink, **kwargs)
        self.out_ms = out_ms  # the output's bytes on the way to the sink
        self.blocks, self.sink = blocks, sink
        self.rounds = [list(r) for r in rounds if r] or [list(range(blocks))]
        self.owners, self.finish_ms = list(owners), finish_ms
        self.todo: deque[tuple[int, int]] = deque()
        self.left: dict[int, int] = {}  # frame -> results of its current round still out
        self.round: dict[int, int] = {}  # frame -> its current round
        self.held: int | None = None  # a frame waiting for room on the board
        self.idle: deque[PullHelper] = deque()
        self.sender_free = 0.0  # when the sender thread is done with what it has

    def next_job(self) -> tuple[float, Callable[[float], None]] | None:
        if not self.queue:
            return None
        frame = self.queue.popleft()
        return self.job_ms(), lambda t: self._put(frame, t)

    def _put(self, frame: int, t: float) -> None:
        if len(self.left) >= self.queue_size:
            self.held, self.busy = frame, True  # the worker waits in put()
            return
        self._queue_round(frame, 0, t)

    def _queue_round(self, frame: int, r: int, t: float) -> None:
        self.round[frame], self.left[frame] = r, len(self.rounds[r])
        self.todo.extend((frame, b) for b in self.rounds[r])
        idle, self.idle = self.idle, deque()
        for helper in idle:  # each asks once; one that finds nothing of its own waits again
            helper.pull(t)

    def take(self, helper: PullHelper) -> tuple[int, int] | None:
        for i, (_frame, block) in enumerate(self.todo):
            if not self.owners or self.owners[block] == helper.index:
                task = self.todo[i]
                del self.todo[i]
                return task
        self.idle.append(helper)
        return None

    def result(self, frame: int, t: float) -> None:
        self.left[frame] -= 1
        if self.left[frame]:
            return
        nxt = self.round[frame] + 1
        if nxt < len(self.rounds):
            self._queue_round(frame, nxt, t)
            return
        del self.left[frame], self.round[frame]
        self.sender_free = max(self.sender_free, t) + self.finish_ms + self.hop_ms + self.out_ms
        self.sim.at(self.sender_free, lambda t2: self.sink.admit(frame, t2))
        if self.held is not None:
            held, self.held = self.held, None
            self.busy = False
            self._put(held, t)
            self._kick(t)


class Wire:
    """One direction of a shaped link that several messages share: tc's tbf sends one
    byte at a time, so a message starts when the one before it on this wire has gone.
    BODP's gateway sends every layer's bands out and takes every result back over its own
    link; priced each on its own, six devices' bands overlapped and the model said 8.1 s
    for a 608 x 608 frame the lab took 26.2 s over 100 Mbit/s."""

    def __init__(self) -> None:
        self.free = 0.0

    def send(self, t: float, ms: float) -> float:
        """When a message of `ms` on this wire, ready at `t`, has arrived."""
        if ms <= 0.0:
            return t
        self.free = max(t, self.free) + ms
        return self.free


class PullHelper(Slowable):
    """A task helper (run.json `pull`): when idle it pulls the next task (one its gateway
    lets device `index` take), computes it in its own profile's time (times a `slow`
    fault's factor once it has landed) and returns the
    result; a task costs its time plus two HTTP round trips (the pull that brings it, the
    post that returns it) plus its messages' bytes (`bytes_ms`, per task: (input, result)
    on this device's link to the gateway; empty: none). With `wires` (the gateway's shaped
    link, out and in) every device's inputs queue on the first and results on the second."""

    def __init__(self, sim: Sim, name: str, gateway: GatewayNode, block_ms: Sequence[float],
                 hop_ms: float, index: int = 0,
                 bytes_ms: Sequence[tuple[float, float]] = (),
                 wires: tuple[Wire, Wire] | None = None) -> None:
        self.sim, self.name, self.gateway = sim, name, gateway
        self.block_ms, self.hop_ms, self.index = list(block_ms), hop_ms, index
        self.bytes_ms = list(bytes_ms) or [(0.0, 0.0)] * len(self.block_ms)
        self.wires = wires
        self.switches = 0
        self.tasks = 0

    def pull(self, t: float) -> None:
        task = self.gateway.take(self)
        if task is None:
            return
        frame, block = task
        in_ms, out_ms = self.bytes_ms[block]
        if self.wires is None:
            compute = self.block_ms[block] * self.factor_at(t + self.hop_ms + in_ms)
            self.sim.at(t + compute + 2 * self.hop_ms + in_ms + out_ms, self._done, frame)
            return
        arrived = self.wires[0].send(t + self.hop_ms, in_ms)
        self.sim.at(arrived + self.block_ms[block] * self.factor_at(arrived), self._computed,
                    frame, out_ms)

    def _computed(self, t: float, frame: int, out_ms: float) -> None:
        assert self.wires is not None
        self.sim.at(self.wires[1].send(t + self.hop_ms, out_ms), self._done, frame)

    def _done(self, t: float, frame: int) -> None:
        self.tasks += 1
        self.gateway.result(frame, t)
        self.pull(t)


def board(p: Params, what: str) -> tuple[Sim, Sink, dict[int, str], GatewayNode,
                                         list[PullHelper], Delayed]:
    """A gateway G whose board serves `p.parts_ms`'s devices D0..D(K-1) (ftp, bodp): its
    worker only queues a frame's tasks (cutting tiles and bands is copies, not priced),
    its sender runs `p.rest_ms` before each forward; the devices start idle. The last item
    is the client's way into G (the frame's bytes on G's link): the entry to simulate."""
    sim, sink, drops, common = start(p)
    devices = parts(p, what)
    frame_in, frame_out = p.frame_bytes
    g = GatewayNode(sim, "G", service_ms=p.first_ms, blocks=len(devices[0]), sink=sink,
                    rounds=p.rounds, owners=p.owners, finish_ms=p.rest_ms,
                    out_ms=p.links.ms("G", "sink", frame_out), **common)
    # A shaped gateway link is one wire each way that every device's messages share (tbf);
    # unshaped, a message's bytes cost is a per-message fit (CPU, copies), not a queue.
    wires = (Wire(), Wire()) if "G" in dict(p.links.shaped) else None
    helpers = [PullHelper(sim, f"D{i}", g, ms, p.hop_ms, index=i, wires=wires,
                          bytes_ms=[(p.links.ms("G", f"D{i}", b_in),
                                     p.links.ms("G", f"D{i}", b_out))
                                    for b_in, b_out in p.task_bytes])
               for i, ms in enumerate(devices)]
    for h in helpers:
        h.pull(0.0)
    return sim, sink, drops, g, helpers, Delayed(sim, g, p.links.ms("client", "G", frame_in))


def parts(p: Params, what: str) -> tuple[tuple[float, ...], ...]:
    """`p.parts_ms`, checked: dp, mp and tasks need one entry per part node."""
    if not p.parts_ms or any(not ms for ms in p.parts_ms):
        raise ValueError(f"{what} needs parts_ms: the job times of each part node")
    return p.parts_ms


def start(p: Params) -> tuple[Sim, Sink, dict[int, str], dict[str, Any]]:
    """A fresh simulation for `p`: the loop, the sink, the shared drop record, and the
    keyword arguments every Node of it takes (queue size, hop time, drops)."""
    p.check()
    drops: dict[int, str] = {}
    return Sim(), Sink(), drops, {"queue_size": p.queue_size, "hop_ms": p.hop_ms,
                                  "drops": drops}


def _drawer(dists: Sequence[Dist], seed: int, name: str) -> Callable[[], float]:
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    return lambda: sum(d.draw(rng) for d in dists)


def simulate(sim: Sim, sink: Sink, entries: Sequence[Node | Delayed], nodes: Sequence[Any],
             drops: dict[int, str], p: Params) -> dict[str, Any]:
    """Send the schedule into `entries` (frame i to entries[i % len]), run, and summarise
    like summary.json (`nodes`: every node and helper, each with `switches`): coverage and
    delivered_fps over measure frames (delivered_fps over the measure window,
    measure_frames / rate); drops of measure frames by node and reason;
    switches of every node in the whole run, warm-up included, as the traces count them;
    latency from the intended send time to the sink, ms."""
    total = p.warmup_frames + p.measure_frames
    period_ms = 1000.0 / p.rate_fps
    dists = dict(p.dists)
    links = dict(p.link_ms)
    slow = {name: (at_ms, factor) for name, at_ms, factor in p.slow}
    for n in nodes:
        if isinstance(n, Node) and n.name in dists:
            n.draw = _drawer(dists[n.name], p.seed, n.name)
        if n.name in links:  # a node's forwards over an emulated link take that much longer
            n.hop_ms += links[n.name]
        if isinstance(n, Node):
            n.overlap = p.send == "overlap"
        if isinstance(n, Slowable) and n.name in slow:
            n.slow_at_ms, n.slow_factor = slow[n.name]
    client_links = dict(p.client_link_ms)

    def arrive(t: float, entry: Node, i: int) -> None:
        entry.admit(i, t)

    def send(t: float, i: int) -> None:
        # One pending client event at a time keeps the heap small at high rates.
        entry = entries[i % len(entries)]
        if client_links.get(entry.name):
            sim.at(t + client_links[entry.name], arrive, entry, i)
        else:
            entry.admit(i, t)
        if i + 1 < total:
            sim.at((i + 1) * period_ms, send, i + 1)

    sim.at(0.0, send, 0)
    sim.run()

    measured = range(p.warmup_frames, total)
    lat = np.array([sink.arrival[i] - i * period_ms for i in measured if i in sink.arrival])
    by_node: dict[str, dict[str, int]] = {}
    for i in measured:
        if i in drops and i not in sink.arrival:
            node, _, reason = drops[i].partition(":")  # "<node>[:<reason>]"
            reasons = by_node.setdefault(node, {})
            reason = reason or "queue_full"
            reasons[reason] = reasons.get(reason, 0) + 1
    latency: dict[str, float | None] = dict.fromkeys(("p50", "p95", "p99"))
    if len(lat):
        p50, p95, p99 = np.percentile(lat, [50, 95, 99])
        latency = {"p50": round(float(p50), 3), "p95": round(float(p95), 3),
                   "p99": round(float(p99), 3)}
    return {
        "coverage": round(len(lat) / p.measure_frames, 6),
        "delivered_fps": round(len(lat) / (p.measure_frames / p.rate_fps), 3),
        "drops": by_node,
        "switches": sum(n.switches for n in nodes),
        "latency_ms": latency,
    }
