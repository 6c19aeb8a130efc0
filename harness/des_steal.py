"""FTP's work stealing in the discrete-event model (`--sched=wst`, `wst-s`; harness/des.py
is the engine, harness/strategies/ftp.py wires it).

What node_app does (node_app/roles/steal_device.py, steal_gateway.py, reuse_device.py,
reuse_gateway.py) and what the model keeps of it; times in ms, a request to a peer and its
reply is one `hop`, and a message's bytes cost `Links.ms` on the link between the two:

- The client sends every frame to the data source D0 (its /message queue, queue_size
  frames; a full queue drops). D0's worker, with no tile of its own left, takes the next
  frame, registers it at G (a round trip; G refuses beyond queue_size frames registered and
  incomplete, and D0 drops the frame, `register_failed`) and queues its T tiles (row-major;
  wst-s: checkerboard, independent tiles first). It works on its queue's front: a tile's
  profiled ms, then the result to G (a hop and the tile's bytes). When it pops its last tile
  it first cuts the next waiting frame, so thieves have work while it computes that tile.
  With nothing of its own it cancels its registration (a round trip) and steals like the
  others.
- A thief asks G for a victim (a hop); G names the registered devices round robin. With a
  victim it posts /steal/tile to it (a hop): the victim pops the back of its queue (wst-s:
  the front), moves the tile's lease at G (a hop) and hands the tile's input over (its bytes
  on the victim-thief link). No victim, or an empty queue (204): the device waits
  STEAL_WAIT_MS on its own /message queue (a frame arriving ends the wait) and asks again.
- wst-s: an independent tile's result carries the pieces its dependent neighbours reuse;
  a dependent tile asks G for its pieces (a round trip and their bytes) and, when all its
  neighbours' results are in, computes only its reduced stack, else the whole one (the
  fallback). A victim hands a thief a dependent tile whose neighbours are in at the lease
  with its reduced input only (node_app's `X-Reuse`).
- G merges: when a frame's T results are in, its sender runs `rest_ms` and forwards (a hop
  and the output's bytes), one frame at a time, as on the work-sharing board.

Not modelled: G's own service of these requests (each is priced as its hop alone) and any
contention for G's link or CPU, as on the work-sharing board.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from harness.des import Delayed, Params, Sim, Sink, Slowable, parts, simulate, start

STEAL_WAIT_MS = 100.0  # node_app/roles/steal_device.py STEAL_WAIT_S

Task = tuple[int, int]  # frame, tile


class StealGateway:
    """G under stealing: the victim registry, the frames registered and incomplete, the
    results, the merge and the forward to the sink."""

    switches = 0  # simulate() counts every node's model switches

    def __init__(self, sim: Sim, p: Params, sink: Sink) -> None:
        self.sim, self.p, self.sink, self.name = sim, p, sink, "G"
        self.left: dict[int, set[int]] = {}  # frame -> its tiles whose results are not in
        self.turn: deque[StealDevice] = deque()  # registered devices, round-robin order
        self.devices: list[StealDevice] = []
        self.sender_free = 0.0
        self.out_ms = p.links.ms("G", "sink", p.frame_bytes[1])
        self.last_arrival = 0.0  # when the client's last frame reaches the source

    def register(self, device: StealDevice, frame: int) -> bool:
        if len(self.left) >= self.p.queue_size:
            return False
        self.left[frame] = set(range(len(self.p.parts_ms[0])))
        if device not in self.turn:
            self.turn.append(device)
        return True

    def cancel(self, device: StealDevice) -> None:
        if device in self.turn:
            self.turn.remove(device)

    def victim(self, thief: StealDevice) -> StealDevice | None:
        """The next registered device other than `thief`, round robin."""
        for _ in range(len(self.turn)):
            device = self.turn[0]
            self.turn.rotate(-1)
            if device is not thief:
                return device
        return None

    def ready(self, frame: int, tile: int) -> bool:
        """Are all the neighbours' results of dependent `tile` in (its pieces at G)?"""
        left = self.left.get(frame, set())
        return all(n not in left for n in self.p.reuse[tile].neighbours)

    def result(self, frame: int, tile: int, t: float) -> None:
        left = self.left[frame]
        left.discard(tile)
        if left:
            return
        del self.left[frame]
        p = self.p
        self.sender_free = max(self.sender_free, t) + p.rest_ms + p.hop_ms + self.out_ms
        self.sim.at(self.sender_free, lambda t2: self.sink.admit(frame, t2))

    def over(self, t: float) -> bool:
        """No work can come any more: the last frame is in and no device holds any."""
        return t > self.last_arrival and not any(d.queue or d.local or d.cutting
                                                 for d in self.devices)


class StealDevice(Slowable):
    """One device's worker loop (node_app's StealDevice.work): own tiles, else a stolen one,
    else a wait; and the victim's side of a steal (`give`)."""

    switches = 0

    def __init__(self, sim: Sim, index: int, g: StealGateway, p: Params,
                 drops: dict[int, str]) -> None:
        self.sim, self.index, self.g, self.p, self.drops = sim, index, g, p, drops
        self.name = f"D{index}"
        self.queue: deque[int] = deque()  # frames on /message: only the source gets any
        self.local: deque[Task] = deque()
        self.registered = False
        self.cutting = 0  # frames taken off the queue, their registration under way
        self.waiting = 0  # > 0: the token of the wait in progress
        self.tokens = 0
        self.tasks = 0

    # the client's and the thieves' side -------------------------------------------------

    def admit(self, frame: int, t: float) -> bool:
        if len(self.queue) >= self.p.queue_size:
            self.drops.setdefault(frame, self.name)
            return True
        self.queue.append(frame)
        if self.waiting:  # the worker waits on its queue: the frame ends the wait
            self.waiting = 0
            self.step(t)
        return len(self.queue) >= self.p.queue_size

    def give(self) -> Task | None:
        """A thief's /steal/tile: the back of the queue (wst-s: the front)."""
        if not self.local:
            return None
        return self.local.popleft() if self.p.sched == "wst-s" else self.local.pop()

    # the worker -------------------------------------------------------------------------

    def step(self, t: float) -> None:
        hop = self.p.hop_ms
        if self.local:
            task = self.local.popleft()
            if not self.local and self.queue:  # cut the next frame before this last tile
                self._cut(t, task)
                return
            self._run(t, *task)
        elif self.queue:
            self._cut(t, None)
        else:
            if self.registered:  # nothing of our own: cancel, then steal
                self.registered = False
                self.g.cancel(self)
                t += hop
            self.sim.at(t, self._steal)

    def _cut(self, t: float, task: Task | None) -> None:
        """Take the next frame off the queue and register it at G (a round trip)."""
        self.cutting += 1
        self.sim.at(t + self.p.hop_ms, self._registered, self.queue.popleft(), task)

    def _registered(self, t: float, frame: int, task: Task | None) -> None:
        self.cutting -= 1
        if self.g.register(self, frame):
            order = self.p.rounds[0] if self.p.rounds else range(len(self.p.parts_ms[0]))
            self.local.extend((frame, i) for i in order)
            self.registered = True
        else:
            self.drops.setdefault(frame, f"{self.name}:register_failed")
        if task is None:
            self.step(t)
        else:
            self._run(t, *task)

    def _steal(self, t: float) -> None:
        victim = self.g.victim(self)
        if victim is None:
            self.sim.at(t + self.p.hop_ms, self._wait)
        else:
            self.sim.at(t + self.p.hop_ms, self._take, victim)

    def _take(self, t: float, victim: StealDevice) -> None:
        """/steal/tile at the victim: it pops a tile, moves the lease at G (a round trip)
        and hands the input over; 204 when it has none."""
        p = self.p
        task = victim.give()
        if task is None:
            self.sim.at(t + p.hop_ms, self._wait)
            return
        frame, tile = task
        crop = bool(p.reuse) and p.reuse[tile].dependent and self.g.ready(frame, tile)
        nbytes = (p.reuse[tile].in_bytes if crop else
                  p.task_bytes[tile][0] if p.task_bytes else 0)
        arrive = t + 2 * p.hop_ms + p.links.ms(victim.name, self.name, nbytes)
        self.sim.at(arrive, lambda t2: self._run(t2, frame, tile))

    def _wait(self, t: float) -> None:
        """Wait up to STEAL_WAIT_MS for a frame of our own, then try again."""
        if self.queue:
            self.step(t)
            return
        if self.g.over(t):
            return  # the run is over: stop asking, so the simulation ends
        self.tokens += 1
        self.waiting = token = self.tokens
        self.sim.at(t + STEAL_WAIT_MS, self._woke, token)

    def _woke(self, t: float, token: int) -> None:
        if self.waiting == token:
            self.waiting = 0
            self.step(t)

    def _run(self, t: float, frame: int, tile: int) -> None:
        """Compute a tile (wst-s: a dependent one first asks G for its pieces), send the
        result to G."""
        p = self.p
        slow = self.factor_at(t)  # a `slow` fault stretches the compute, not the messages
        ms = p.parts_ms[self.index][tile] * slow
        out = p.task_bytes[tile][1] if p.task_bytes else 0
        if p.reuse:
            reuse = p.reuse[tile]
            if not reuse.dependent:
                out += reuse.give_bytes
            elif self.g.ready(frame, tile):
                ms = p.hop_ms + p.links.ms("G", self.name, reuse.fetch_bytes) + \
                    reuse.ms[self.index] * slow
            else:
                ms += p.hop_ms  # 204: computed whole
        done = t + ms + p.hop_ms + p.links.ms(self.name, "G", out)
        self.sim.at(done, self._done, frame, tile)

    def _done(self, t: float, frame: int, tile: int) -> None:
        self.tasks += 1
        self.g.result(frame, tile, t)
        self.step(t)


def steal_predict(p: Params) -> dict[str, Any]:
    """The source D0 (the client's entry, through its link), K - 1 thieves and G."""
    sim, sink, drops, _common = start(p)
    k = len(parts(p, "ftp"))
    g = StealGateway(sim, p, sink)
    g.devices = [StealDevice(sim, i, g, p, drops) for i in range(k)]
    delay = p.links.ms("client", "D0", p.frame_bytes[0])
    total = p.warmup_frames + p.measure_frames
    g.last_arrival = (total - 1) * 1000.0 / p.rate_fps + delay
    for device in g.devices:
        device.step(0.0)
    return simulate(sim, sink, [Delayed(sim, g.devices[0], delay)], [g, *g.devices], drops, p)
