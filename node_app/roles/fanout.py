"""Model parallelism's two compute roles (docs/strategies.md, mp).

Fanout (run.json `route: all`, node A): runs its stages (L1) once and sends the output to
EVERY next hop, one per slice node. With `admission: whole` (issue 13) it first checks that
every slice node has room for the frame (node_app/feedback.py: frames sent minus frames the
node reported taken, below its queue size; a heartbeat keeps that fresh) and otherwise drops
the frame at once, reason `admission`, before computing anything: a frame is refused whole at
the entry instead of one slice node dropping its slice, which loses the frame anyway after
the others did their work (`missing_slice` at the sink).

SliceStage (run.json `slice: {index, of}`): a stage that computes one slice of the next
layer's outputs and tags what it sends with `X-Slice: <index>/<of>`, so the merging sink
(node_app/roles/merge.py) knows where the partial output belongs.
"""

from __future__ import annotations

from typing import Any

from node_app.feedback import Downstream, Heartbeat
from node_app.node import Node
from node_app.role import Role
from node_app.roles.stage import Stage


class Fanout(Role):
    """Compute once, send the same output to all next hops (one kept-alive connection each);
    with admission `whole`, only frames every hop has room for."""

    def __init__(self, node: Node):
        super().__init__(node)
        run = node.run
        self.whole = run.admission == "whole"
        self.down = Downstream(len(node.forwarders), run.queue_size)
        self.beat = Heartbeat(run.next_hops, run.heartbeat_ms / 1000.0, self.down.observe)

    def work(self) -> None:
        if self.whole:
            self.beat.start()
        super().work()

    def process(self, packet_id: int, body: bytes) -> None:
        node = self.node
        if self.whole and not self.down.all_have_room():
            node.drop(packet_id, "admission")
            return
        out = node.compute(packet_id, body, node.pipeline, node.profile_ms)
        data = out.astype("<f4", copy=False).tobytes()
        for i, fwd in enumerate(node.forwarders):
            self.down.sending(i)
            self.down.replied(i, *node.send(packet_id, data, fwd))

    def stats(self) -> dict[str, Any]:
        return {"downstream": self.down.snapshot()} if self.whole else {}

    def describe(self) -> str:
        return f" route={self.node.run.route} admission={self.node.run.admission}"

    def close(self) -> None:
        self.beat.stop()


class SliceStage(Stage):
    """A pipeline stage whose output is slice i of K: forwarded with `X-Slice: i/K`."""

    def __init__(self, node: Node):
        super().__init__(node)
        cfg = node.run.slice
        assert cfg is not None, "SliceStage needs run.json 'slice'"
        self.label = f"{cfg.index}/{cfg.of}"
        self.header = {"X-Slice": self.label}

    def process(self, packet_id: int, body: bytes) -> None:
        node = self.node
        node.run_frame(packet_id, body, node.pipeline, node.profile_ms, self.next_hop(),
                       self.header)

    def describe(self) -> str:
        return f" slice={self.label}"
