"""The device side of a node, as roles see it: queue, stats, trace, compute and forward.

Roles (node_app/roles/) get this object, not the HTTP server: it is everything a role may
use, and importing it does not import server.py, so the package has no import cycles
(server -> registry -> roles -> role -> node -> core modules).

The single worker thread that models the device runs a role's `work()`; `compute()` is one
frame through a pipeline plus the profile's waiting, `forward()` one send with its counts and
trace rows. Both are shared by every role, so a frame is traced the same way whatever the
strategy.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from node_app.config import NodeConfig, RunConfig
from node_app.forwarder import Forwarder
from node_app.memory import MemoryMeter
from node_app.outbox import Outbox, Then
from node_app.profile import Profile, sleep_until
from node_app.stage import Pipeline, load_pipeline
from node_app.stats import Stats
from node_app.trace import TraceWriter
from node_app.workqueue import WorkQueue

Frame = tuple[int, bytes]  # (packet id, float32 body)


class Node:
    """One node's device state; the HTTP server owns one and hands it to its role."""

    trace: TraceWriter  # set by open_trace(), once the server has bound its port

    def __init__(self, config: NodeConfig, run: RunConfig, profile: Profile,
                 pipeline: Pipeline):
        self.config = config
        self.run = run
        self.profile = profile
        self.pipeline = pipeline
        self.profile_ms = profile.frame_ms(pipeline.costs)  # None: native, no waiting
        # Service-time distributions (profile `stage_ms`): each frame of this node's own
        # pipeline waits a drawn time, from an RNG seeded by the run's seed and the node's
        # name, so a run's waits are reproducible and differ between nodes.
        self.dists = profile.dists_for(run.stages)
        self.rng = np.random.default_rng([run.seed, zlib.crc32(config.node.encode())])
        if self.dists is not None:
            self.profile_ms = sum(d.mean for d in self.dists)
        self.stats = Stats(self.profile_ms or 0.0)
        self.memory = MemoryMeter()  # per-layer buffers while computing, /stats `memory`
        self.queue = WorkQueue(run.queue_size)  # frames for the worker (None: stop)
        self.served: list[WorkQueue] = [self.queue]  # every queue a serve loop works through
        self.forwarders = [self.forwarder(hop) for hop in run.next_hops]
        self.stopping = threading.Event()
        # The port the server listens on: node.json's until the bind, then the bound one
        # (port 0 in tests); a work-stealing source tells its gateway where thieves reach it.
        self.port = config.port
        # The `slow` fault (run.json slow_factor, applied on SIGUSR1 by slow_down()): every
        # profile time of compute() is multiplied by this from then on.
        self.slowdown = 1.0
        # run.json `send: overlap`: outputs go through an outbox and its sender thread
        # (node_app/outbox.py), made on the first send, so a node that never sends has none.
        self.outbox: Outbox | None = None

    def forwarder(self, hop: str) -> Forwarder:
        """A Forwarder to `hop`, emulating run.json's link to it if there is one (every role
        gets its forwarders here, so no send bypasses the link)."""
        return Forwarder(hop, link=self.run.link(hop))

    def open_trace(self) -> None:
        """Open `<trace_dir>/<run_id>.csv`; only after bind, so a failed start leaves none."""
        self.trace = TraceWriter(Path(self.config.trace_dir) / f"{self.run.run_id}.csv",
                                 self.config.node, clock_offset_s=self.config.clock_offset_s)

    def load(self, stages: Sequence[str]) -> Pipeline:
        """Load stages from this node's stages_dir (a helping node's model switch)."""
        return load_pipeline(self.config.stages_dir, stages, self.run.input_size)

    # request side ------------------------------------------------------------------------

    def enqueue(self, packet_id: int, body: bytes) -> dict[str, Any]:
        """Queue a valid frame for the worker; the /message reply (queue_full when full)."""
        st = self.stats
        t = time.time()  # stamped before put so `received` never sorts after `started`
        try:
            self.queue.put_nowait((packet_id, body))
            accepted = True
        except queue.Full:
            accepted = False
        depth = self.queue.qsize()
        with st.lock:
            st.received += 1
            if accepted:
                st.accepted += 1
            else:
                st.dropped["queue_full"] = st.dropped.get("queue_full", 0) + 1
            service_ms = st.service_ms
        if accepted:
            self.trace.write(packet_id, "received", str(depth), t=t)
        else:
            self.trace.write(packet_id, "dropped", "queue_full", t=t)
        return {
            "accepted": accepted,
            "overloaded": not accepted or self.queue.full(),
            "queue_depth": depth,
            "service_ms": round(service_ms, 3),
        } | self.feedback(depth)

    def feedback(self, depth: int | None = None) -> dict[str, Any]:
        """What an upstream entry steers by (node_app/feedback.py), in every /message reply
        and GET /feedback (the heartbeat): queue depth and size, the service EWMA overall and
        per stage, frames taken off the queue so far, and this node's share of the work."""
        st = self.stats
        with st.lock:
            return {
                "queue_depth": self.queue.qsize() if depth is None else depth,
                "queue_size": self.run.queue_size,
                "service_ms": round(st.service_ms, 3),
                "stage_ms": {k: round(v, 3) for k, v in st.stage_ms.items()},
                "taken": st.taken,
                "share": st.share,
            }

    def note_share(self, text: str | None) -> None:
        """Record the share of the work an entry says it gives this node (X-Share: 0..1);
        anything else is ignored: the share is a report, nothing here acts on it."""
        if not text:
            return
        try:
            share = float(text)
        except ValueError:
            return
        if 0.0 <= share <= 1.0:
            with self.stats.lock:
                self.stats.share = share

    def slow_down(self) -> None:
        """The `slow` fault: multiply profile times by run.json slow_factor from now on
        (SIGUSR1, node_app/__main__.py). Traced `slowed` with the factor; without a
        slow_factor the signal is traced and changes nothing."""
        factor = self.run.slow_factor
        if factor > 0:
            self.slowdown = factor
        self.trace.write(-1, "slowed", f"x{factor:g}" if factor > 0 else "no_slow_factor")

    def drop(self, packet_id: int, reason: str) -> None:
        """Count and trace one frame as lost, with its reason."""
        self.stats.count(self.stats.dropped, reason)
        self.trace.write(packet_id, "dropped", reason)

    def drop_queued(self, reason: str) -> None:
        while True:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                self.drop(item[0], reason)
                self.queue.finished()

    def snapshot(self) -> dict[str, Any]:
        """The /stats fields every node has (role fields and rss_kb are added by the server)."""
        st = self.stats
        memory = self.memory.snapshot(  # its own lock, never nested in stats.lock
            [la for stage in self.pipeline.stages for la in stage.layers],
            self.pipeline.weights_bytes)
        depth, _ = self.queue.counts()
        busy = sum(q.counts()[1] for q in self.served)
        if self.outbox is not None:  # outputs computed and not yet sent are the node's too
            busy += self.outbox.counts()[0]
        with st.lock:
            return {
                "node": self.config.node,
                "run_id": self.run.run_id,
                "received": st.received,
                "accepted": st.accepted,
                "dropped": dict(st.dropped),
                "rejected": dict(st.rejected),
                "processed": st.processed,
                "forwarded": st.forwarded,
                "forward_failed": st.forward_failed,
                "queue_depth": depth,
                "busy": busy,
                "service_ms": round(st.service_ms, 3),
                "uptime_s": round(time.monotonic() - st.started, 3),
                "switches": st.switches,
                "helping": st.helping,
                "weights_bytes": self.pipeline.weights_bytes,
                "bytes_out": st.bytes_out,
                "taken": st.taken,
                "stage_ms": {k: round(v, 3) for k, v in st.stage_ms.items()},
                "share": st.share,
                "slowdown": self.slowdown,
                "overruns": st.overruns,
                "link_delay_ms": round(st.link_delay_ms, 3),
                "link_lost": st.link_lost,
            } | {"memory": memory}

    # worker side -------------------------------------------------------------------------

    def serve(self, q: WorkQueue, fn: Callable[[int, bytes], Any]) -> None:
        """Call fn(packet_id, body) for each item of `q`, guarded, until a None arrives:
        the loop of every thread that works through frames (the worker, a gateway's
        sender). A frame counts as `busy` in /stats from the moment it leaves `q` until fn
        returns (node_app/workqueue.py says why that moment matters)."""
        if q not in self.served:
            self.served.append(q)
        own = q is self.queue
        while (item := q.get()) is not None:
            if own:
                with self.stats.lock:
                    self.stats.taken += 1
            try:
                self.guarded(item[0], fn, *item)
            finally:
                q.finished()

    def guarded(self, packet_id: int, fn: Callable[..., Any], *args: Any) -> None:
        """Run fn(*args) for one frame; an exception is traced, never kills the worker."""
        try:
            fn(*args)
        except Exception as e:  # never let one bad frame kill the device model
            print(f"node_app: worker error on packet {packet_id}: {e!r}", file=sys.stderr)
            self.trace.write(packet_id, "error", type(e).__name__)

    def run_frame(
        self,
        packet_id: int,
        body: bytes,
        pipeline: Pipeline,
        profile_ms: float | None,
        fwd: Forwarder | None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any] | None:
        """Compute one frame, wait out its profile time, send it on: the hop's reply or None.

        `profile_ms` None = native (no waiting, the real time is recorded).
        With run.json `send: overlap` the output is handed to the outbox and None returned:
        roles that steer by the reply (dp's router, Cao's helping A) run with `inline` only
        (node_app/config.py refuses the rest).
        """
        out = self.compute(packet_id, body, pipeline, profile_ms)
        if fwd is None:
            return None
        data = out.astype("<f4", copy=False).tobytes()
        if self.run.send == "overlap":
            self.post(packet_id, data, fwd, headers)
            return None
        return self.forward(packet_id, data, fwd, headers)

    def compute(
        self, packet_id: int, body: bytes, pipeline: Pipeline, profile_ms: float | None
    ) -> np.ndarray:
        """Run the stages on one frame and wait out the profile time (trace started/finished)."""
        self.trace.write(packet_id, "started", str(self.queue.qsize()))
        t0 = time.perf_counter()
        out = pipeline(np.frombuffer(body, dtype="<f4"), self.memory)
        real_ms = (time.perf_counter() - t0) * 1000.0
        if self.dists is not None and pipeline is self.pipeline and profile_ms is not None:
            profile_ms = sum(d.draw(self.rng) for d in self.dists)
        claimed_ms = self.wait_out(packet_id, t0, real_ms, profile_ms,
                                   "+".join(s.name for s in pipeline.stages))
        self.trace.write(packet_id, "finished", f"{real_ms:.2f}:{claimed_ms:.2f}")
        return out

    def wait_out(self, packet_id: int, t0: float, real_ms: float,
                 profile_ms: float | None, stage: str = "") -> float:
        """Wait until `profile_ms` after t0 (the work started at t0 took real_ms), count the
        service time; the time to claim in the trace (real_ms for native).

        The emulation checks itself (the Mininet-HiFi rule: a result from an overloaded
        emulator is not a result): when the real work plus overhead up to here already took
        longer than the profile allows, there is nothing left to wait out and the frame is
        slower than the device it stands for: counted in /stats `overruns` and traced as
        `overrun` (`<work_ms>:<profile_ms>`). A late wake-up from the wait is not an overrun
        (the host, not the work, was slow); it shows in the summary's `service_error`. A
        profile time of 0 (`zero`, the testbed's own overhead) has no time to keep: no check.

        The `slow` fault (`slowdown`, issue 13) multiplies the profile time (native: stretches
        the real time). The service time also feeds the EWMA of `stage` (the stages run,
        joined by "+"), which the feedback reports per stage.
        """
        work_ms = (time.perf_counter() - t0) * 1000.0
        slowdown = self.slowdown
        if profile_ms is not None:
            profile_ms *= slowdown
            sleep_until(t0 + profile_ms / 1000.0)
        elif slowdown > 1.0:
            sleep_until(t0 + real_ms * slowdown / 1000.0)
        self.stats.observe_service((time.perf_counter() - t0) * 1000.0, stage)
        if profile_ms is None:
            return real_ms
        if 0.0 < profile_ms < work_ms:
            with self.stats.lock:
                self.stats.overruns += 1
            self.trace.write(packet_id, "overrun", f"{work_ms:.2f}:{profile_ms:.2f}")
        return profile_ms

    def forward(
        self, packet_id: int, data: bytes, fwd: Forwarder, headers: dict[str, str] | None = None
    ) -> dict[str, Any] | None:
        """Send one output to a hop (extra `headers`, e.g. X-Slice); the hop's reply or None."""
        return self.send(packet_id, data, fwd, headers)[0]

    def send(
        self, packet_id: int, data: bytes, fwd: Forwarder, headers: dict[str, str] | None = None
    ) -> tuple[dict[str, Any] | None, str | None]:
        """forward(), with the failure's reason: (reply, None) or (None, reason)."""
        reply, failure = fwd.send(packet_id, data, headers)
        if fwd.last_link is not None:
            self.note_link(packet_id, fwd)
        with self.stats.lock:
            if failure is None:
                self.stats.forwarded += 1
                self.stats.bytes_out += len(data)
            else:
                self.stats.forward_failed += 1
        if failure is None:
            self.trace.write(packet_id, "forwarded", fwd.hop)
        else:
            self.trace.write(packet_id, "forward_failed", failure)
        return reply, failure

    def post(self, packet_id: int, data: bytes, fwd: Forwarder,
             headers: dict[str, str] | None = None, then: Then | None = None) -> None:
        """Send one output as run.json `send` says: `inline`, now, and `then(reply,
        failure)`; `overlap`, through the outbox, whose sender calls `then` once the hop
        replied (node_app/outbox.py)."""
        if self.run.send != "overlap":
            reply, failure = self.send(packet_id, data, fwd, headers)
            if then is not None:
                then(reply, failure)
            return
        if self.outbox is None:
            self.outbox = Outbox(self.send, self.serve, self.stopping)
        self.outbox.post(packet_id, data, fwd, headers, then)

    def flush_sends(self) -> None:
        """Send what the outbox still holds (after the worker stopped, before any
        forwarder closes)."""
        if self.outbox is not None:
            self.outbox.flush()

    def note_link(self, packet_id: int, fwd: Forwarder) -> None:
        """Count and trace the link's wait before this send: `link_delayed` at the time the
        wait began, detail `<ms>` or `<ms>:lost` (the RTO included), so the analysis can take
        the emulated link out of the node's own forward time (harness/overhead.py) and show
        it on the hop instead; /stats `link_delay_ms` (total) and `link_lost`."""
        assert fwd.last_link is not None
        started, ms, lost = fwd.last_link
        fwd.last_link = None
        with self.stats.lock:
            self.stats.link_delay_ms += ms
            self.stats.link_lost += int(lost)
        self.trace.write(packet_id, "link_delayed", f"{ms:.3f}" + (":lost" if lost else ""),
                         t=started)

    def close_forwarders(self) -> None:
        for fwd in self.forwarders:
            fwd.close()
