"""Model parallelism's two compute roles (docs/strategies.md, mp).

Fanout (run.json `route: all`, node A): runs its stages (L1) once and sends the output to
EVERY next hop, one per slice node. SliceStage (run.json `slice: {index, of}`): a stage that
computes one slice of the next layer's outputs and tags what it sends with
`X-Slice: <index>/<of>`, so the merging sink (node_app/roles/merge.py) knows where the
partial output belongs.
"""

from __future__ import annotations

from node_app.node import Node
from node_app.role import Role
from node_app.roles.stage import Stage


class Fanout(Role):
    """Compute once, send the same output to all next hops (one kept-alive connection each)."""

    def process(self, packet_id: int, body: bytes) -> None:
        node = self.node
        out = node.compute(packet_id, body, node.pipeline, node.profile_ms)
        data = out.astype("<f4", copy=False).tobytes()
        for fwd in node.forwarders:
            node.forward(packet_id, data, fwd)

    def describe(self) -> str:
        return f" route={self.node.run.route}"


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
