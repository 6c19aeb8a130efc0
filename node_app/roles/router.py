"""Data parallelism's entry node (run.json `route: least_queue`): each frame, after this
node's stages, goes to ONE of its next hops (replicas), chosen by the replicas' own replies
(node_app/routing.py has the rule and why)."""

from __future__ import annotations

from typing import Any

from node_app.node import Node
from node_app.role import Role
from node_app.routing import LeastQueueRouter


class Router(Role):
    """Compute, then forward to the replica with the smallest estimated backlog."""

    def __init__(self, node: Node):
        super().__init__(node)
        self.router = LeastQueueRouter(len(node.forwarders))

    def process(self, packet_id: int, body: bytes) -> None:
        node = self.node
        i = self.router.choose()
        fwd = node.forwarders[i]
        self.router.observe(i, node.run_frame(packet_id, body, node.pipeline,
                                              node.profile_ms, fwd))

    def stats(self) -> dict[str, Any]:
        return {"routed": dict(zip(self.node.run.next_hops, self.router.sent, strict=True))}

    def describe(self) -> str:
        return f" route={self.node.run.route}"
