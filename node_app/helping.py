"""Cao's strategies 1 and 2 at the fast node A: help the slow next hop B when it is overloaded.

Everything runs on the node's single worker thread, so while A switches models the frames
wait in its bounded queue (and are dropped with `queue_full` when it fills), as on a Pi:

    normal   run own_stages (L1), send to B, read B's reply.
             reply says overloaded -> switch to help_stages:
                 load them from <stages_dir>/<stage>.npz, wait out the profile's
                 model_switch_ms (trace: switch_started, switch_finished) -> helping
    helping  take the next queued frame, compute it in full (help_stages, e.g. L1L2) and send
             it to direct_hop (the sink); nothing goes to B.
             cao2 only: after each full frame, take the next queued frame (if any), run
             own_stages on it and send it to B (B is fed at the rate A completes full frames).
             after x full frames -> switch back: reload own_stages from disk, wait out
             model_switch_ms again -> normal

B's replies while helping (cao2) are ignored; a switch sends nothing, so there are none then.
"""

from __future__ import annotations

import queue
import time
from typing import TYPE_CHECKING

from node_app.config import HelpConfig
from node_app.profile import sleep_until
from node_app.stage import Pipeline, load_pipeline

if TYPE_CHECKING:
    from node_app.server import Forwarder, NodeServer

SWITCH_PACKET_ID = -1  # switch events are about the node, not one frame


class Helper:
    """The help policy; NodeServer's worker calls process() for every frame it dequeues."""

    def __init__(self, srv: NodeServer, cfg: HelpConfig, direct: Forwarder):
        self.srv = srv
        self.cfg = cfg
        self.direct = direct
        self.to_next = srv.forwarders[0]
        self.own = srv.pipeline
        self.help: Pipeline | None = None  # loaded at each switch, dropped at the switch back
        self.left = 0  # full frames still to compute in this help episode; 0 = normal
        # Fail at startup, naming the file, if the help stages are missing or do not chain;
        # the result is not kept: every switch loads from disk again.
        shapes = self._load(cfg.help_stages).shapes
        self.help_ms = srv.profile.frame_ms(shapes)  # None: native

    # called by the worker -----------------------------------------------------------------

    def process(self, packet_id: int, body: bytes) -> None:
        srv = self.srv
        if self.help is None:
            reply = srv.run_frame(packet_id, body, self.own, srv.profile_ms, self.to_next)
            if reply is not None and reply.get("overloaded") is True:
                self._switch_to_help()
            return
        srv.run_frame(packet_id, body, self.help, self.help_ms, self.direct)
        self.left -= 1
        if self.cfg.policy == "cao2":
            self._feed_next_hop()
        if self.left == 0:
            self._switch_back()

    def close(self) -> None:
        self.direct.close()

    # internals ----------------------------------------------------------------------------

    def _feed_next_hop(self) -> None:
        """cao2: one frame from the queue (if any) through own_stages to B; reply ignored."""
        srv = self.srv
        if srv.stopping.is_set():
            return
        try:
            item = srv.queue.get_nowait()
        except queue.Empty:
            return
        if item is None:  # the stop marker: leave it for the worker loop
            srv.queue.put(None)
            return
        pid, body = item
        srv.guarded(pid, srv.run_frame, pid, body, self.own, srv.profile_ms, self.to_next)

    def _switch_to_help(self) -> None:
        self._set_helping(True)
        try:
            self.help = self._switch(self.cfg.help_stages)
        except BaseException:
            self._set_helping(False)
            raise
        self.left = self.cfg.x

    def _switch_back(self) -> None:
        self.help = None  # A holds one model at a time, as on a 1 GB Pi
        try:
            self.own = self._switch(self.cfg.own_stages)
        finally:  # a failed reload keeps the model in memory: carry on with it
            self._set_helping(False)

    def _switch(self, stages: tuple[str, ...]) -> Pipeline:
        """Load stages from disk, wait out model_switch_ms; traced as switch_started/finished."""
        srv = self.srv
        srv.trace.write(SWITCH_PACKET_ID, "switch_started", "+".join(stages))
        t0 = time.perf_counter()
        pipeline = self._load(stages)
        real_ms = (time.perf_counter() - t0) * 1000.0
        switch_ms = srv.profile.switch_ms()  # None: native, the real load time is the cost
        if switch_ms is not None:
            sleep_until(t0 + switch_ms / 1000.0)
        claimed_ms = real_ms if switch_ms is None else switch_ms
        with srv.stats.lock:
            srv.stats.switches += 1
        srv.trace.write(SWITCH_PACKET_ID, "switch_finished", f"{real_ms:.2f}:{claimed_ms:.2f}")
        return pipeline

    def _load(self, stages: tuple[str, ...]) -> Pipeline:
        return load_pipeline(self.srv.node.stages_dir, stages, self.srv.run_cfg.input_size)

    def _set_helping(self, value: bool) -> None:
        with self.srv.stats.lock:
            self.srv.stats.helping = value
