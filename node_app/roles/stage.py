"""A pipeline stage: run this node's stages on each frame and send the result to the one next
hop (or nowhere, if there is none). Baseline, and node B of Cao's strategies."""

from __future__ import annotations

from node_app.forwarder import Forwarder
from node_app.role import Role


class Stage(Role):
    """Compute, wait out the profile time, forward; the frame's reply is not used."""

    def process(self, packet_id: int, body: bytes) -> None:
        node = self.node
        node.run_frame(packet_id, body, node.pipeline, node.profile_ms, self.next_hop())

    def next_hop(self) -> Forwarder | None:
        return self.node.forwarders[0] if self.node.forwarders else None
