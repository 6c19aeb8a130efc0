"""Cao's strategies 1 and 2 at the fast node A: help the slow next hop B when it is overloaded.

Everything runs on the node's single worker thread, so while A switches models the frames
wait in its bounded queue (and are dropped with `queue_full` when it fills), as on a Pi:

    normal   run own_stages (L1), send to B, read B's reply.
             reply says overloaded -> switch to help_stages:
                 load them from <stages_dir>/<stage>.npz, wait out the profile's switch time
                 for their weights (bytes / storage read rate + build; trace:
                 switch_started, switch_finished) -> helping
    helping  take the next queued frame, compute it in full (help_stages, e.g. L1L2) and send
             it to direct_hop (the sink); nothing goes to B.
             cao2 only: after each full frame, take the next queued frame (if any), run
             own_stages on it and send it to B (B is fed at the rate A completes full frames).
             after x full frames -> switch back: reload own_stages from disk, wait out
             the (smaller) switch time for their weights -> normal

B's replies while helping (cao2) are ignored; a switch sends nothing, so there are none then.
"""

from __future__ import annotations

import queue
import time

from node_app.node import Node
from node_app.profile import sleep_until
from node_app.role import Role
from node_app.stage import Pipeline

SWITCH_PACKET_ID = -1  # switch events are about the node, not one frame


class Helper(Role):
    """The help policy (run.json `help`); the worker calls process() for every frame."""

    def __init__(self, node: Node):
        super().__init__(node)
        cfg = node.run.help
        assert cfg is not None, "Helper needs run.json 'help'"
        self.cfg = cfg
        self.direct = node.forwarder(cfg.direct_hop)
        self.to_next = node.forwarders[0]
        self.own = node.pipeline
        self.help: Pipeline | None = None  # loaded at each switch, dropped at the switch back
        self.left = 0  # full frames still to compute in this help episode; 0 = normal
        # Fail at startup, naming the file, if the help stages are missing or do not chain;
        # the result is not kept: every switch loads from disk again.
        costs = node.load(cfg.help_stages).costs
        self.help_ms = node.profile.frame_ms(costs)  # None: native

    # called by the worker -----------------------------------------------------------------

    def process(self, packet_id: int, body: bytes) -> None:
        node = self.node
        if self.help is None:
            reply = node.run_frame(packet_id, body, self.own, node.profile_ms, self.to_next)
            if reply is not None and reply.get("overloaded") is True:
                self._switch_to_help()
            return
        node.run_frame(packet_id, body, self.help, self.help_ms, self.direct)
        self.left -= 1
        if self.cfg.policy == "cao2":
            self._feed_next_hop()
        if self.left == 0:
            self._switch_back()

    def describe(self) -> str:
        hlp = self.cfg
        return (
            f" help={hlp.policy} x={hlp.x} help_stages={list(hlp.help_stages)} "
            f"direct_hop={hlp.direct_hop} switch={self._switch_rule()}"
        )

    def close(self) -> None:
        self.direct.close()

    # internals ----------------------------------------------------------------------------

    def _feed_next_hop(self) -> None:
        """cao2: one frame from the queue (if any) through own_stages to B; reply ignored."""
        node = self.node
        if node.stopping.is_set():
            return
        try:
            item = node.queue.get_nowait()
        except queue.Empty:
            return
        if item is None:  # the stop marker: leave it for the worker loop
            node.queue.put(None)
            return
        pid, body = item
        try:
            node.guarded(pid, node.run_frame, pid, body, self.own, node.profile_ms, self.to_next)
        finally:
            node.queue.finished()

    def _switch_to_help(self) -> None:
        self._set_helping(True)
        try:
            self.help = self._switch(self.cfg.help_stages)
        except BaseException:
            self._set_helping(False)
            raise
        self.left = self.cfg.x

    def _switch_back(self) -> None:
        # Drop the help model (L1L2) before reloading own_stages. A does not hold one model at
        # a time: own_stages stay loaded while it helps (cao2 feeds B through them), so during
        # an episode it holds both (L1 + L1L2, about 17.6 MB for Cao's model), and the
        # pipeline the node started with (node.pipeline, what /stats weights_bytes counts)
        # stays referenced after the reload too.
        self.help = None
        try:
            self.own = self._switch(self.cfg.own_stages)
        finally:  # a failed reload keeps the model in memory: carry on with it
            self._set_helping(False)

    def _switch(self, stages: tuple[str, ...]) -> Pipeline:
        """Load stages from disk, wait out model_switch_ms; traced as switch_started/finished."""
        node = self.node
        node.trace.write(SWITCH_PACKET_ID, "switch_started", "+".join(stages))
        t0 = time.perf_counter()
        pipeline = node.load(stages)
        real_ms = (time.perf_counter() - t0) * 1000.0
        # The profile's cost of loading these weights; None: native, the real time counts.
        switch_ms = node.profile.switch_ms(pipeline.weights_bytes)
        if switch_ms is not None:
            sleep_until(t0 + switch_ms / 1000.0)
        claimed_ms = real_ms if switch_ms is None else switch_ms
        with node.stats.lock:
            node.stats.switches += 1
        node.trace.write(SWITCH_PACKET_ID, "switch_finished", f"{real_ms:.2f}:{claimed_ms:.2f}")
        return pipeline

    def _switch_rule(self) -> str:
        """How the profile prices a switch, for the startup line."""
        prof = self.node.profile
        if prof.native:
            return "real load time"
        if prof.model_switch_ms is not None:
            return f"{prof.model_switch_ms:g} ms"
        read = f"bytes / {prof.read_mb_s:g} MB/s + " if prof.read_mb_s else ""
        return f"{read}{prof.build_ms:g} ms"

    def _set_helping(self, value: bool) -> None:
        with self.node.stats.lock:
            self.node.stats.helping = value
