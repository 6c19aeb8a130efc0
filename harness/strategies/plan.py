"""What a strategy decides for one run, as plain data the harness carries out."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.inventory import Host


@dataclass
class NodePlan:
    """One node's part in a run.

    host: the inventory host (the sink is a Host for the controller).
    role: a short label for reports (`A`, `B`, `sink`).
    stages: stage files the node runs in order (empty for the sink).
    next_hops: `address:port` the node forwards its output to.
    help: run.json `help` object (Cao's strategies 1 and 2: node A helps B), or None.
    extra: further run.json fields of the dp/mp/tasks roles (`route`, `slice`, `slices`,
        `tasks`, `pull`; docs/architecture.md), merged into the node's run.json.
    steals_from: endpoints this node may steal work from peer to peer (FTP work stealing:
        the gateway names the victim at run time, so every other device), for `peers` only.
    """

    host: Host
    role: str
    stages: list[str]
    next_hops: list[str] = field(default_factory=list)
    help: dict | None = None
    extra: dict = field(default_factory=dict)
    steals_from: list[str] = field(default_factory=list)

    def sends_to(self) -> list[str]:
        """Every endpoint this node sends data to: next hops, Cao's direct hop to the sink,
        the gateway a task helper pulls from, the adaptive entry's own hop to the sink, the
        devices it may steal tiles from."""
        return [*self.next_hops, *filter(None, [(self.help or {}).get("direct_hop"),
                                                (self.extra.get("pull") or {}).get("gateway"),
                                                (self.extra.get("local") or {}).get("direct_hop")]),
                *self.steals_from]


@dataclass
class Plan:
    """Everything a run needs beyond the spec.

    nodes: every node including the sink, entry nodes first.
    targets: `address:port` the client sends to, in the order it cycles through them.
    capacity_fps: upper bound on delivered frames/s given the profiles and nodes; inf when
        the profiles add no time (no bound), None when one has no cost model (native: unknown).
    input_size: floats in one client frame.
    """

    nodes: list[NodePlan]
    targets: list[str]
    capacity_fps: float | None
    input_size: int = 100

    @property
    def sink(self) -> NodePlan:
        return next(n for n in self.nodes if n.role == "sink")

    @property
    def workers(self) -> list[NodePlan]:
        return [n for n in self.nodes if n.role != "sink"]

    def peers_of(self, node: NodePlan, client_address: str | list[str] = "") -> list[str]:
        """Who may send data to `node` (run.json `peers`, enforced with strict_peers): the
        client (or the several load clients of `--clients`) for entry nodes, and every node
        that sends to it: the plan's edges, inverted.
        Derived here, once, so a new strategy gets it right without writing it."""
        me = node.host.endpoint
        clients = {client_address} if isinstance(client_address, str) else set(client_address)
        peers = {a for a in clients if a} if me in self.targets else set()
        peers |= {up.host.address for up in self.nodes if me in up.sends_to()}
        return sorted(peers)


def body_limit(floats: int) -> int:
    """max_body_bytes for frames of `floats` float32 values: 1 MiB, or twice a frame when
    frames are bigger (yolov2-16-608's input is 4.4 MB). A strategy whose nodes take bigger
    bodies (BODP's bands of a layer's output) sets max_body_bytes in the node's extra."""
    return max(1 << 20, 2 * 4 * floats)
