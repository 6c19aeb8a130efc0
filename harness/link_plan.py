"""`--link=A-B:NAME`: which links of a run carry a link kind's delay, jitter and loss.

A SPEC names two ends and a link kind of harness/links.json that has network behaviour.
The ends are inventory hosts of the run, `client` (the load client; only as A, its link to
an entry node) or `sink` (the controller's sink; only as B). The link is symmetric: every
frame the plan sends from A to B or from B to A crosses it. A frame is delayed once, one way,
by the kind's delay with its jitter drawn uniformly, and a frame the loss draw marks lost
waits a TCP retransmission timeout more (node_app/link.py).

Checked in two steps, both before anything starts: the text (malformed, unknown kind, a
kind with no network behaviour, the same link twice) when the RunSpec is built; the ends
against the inventory and the strategy's plan in `resolve`, once the plan exists (an unknown
host names the inventory; a pair between which the plan sends no frame is refused rather
than silently doing nothing).

Where it is applied (`mechanism`): netem on the hosts' interfaces where their kernel has it
(harness/netem.py), else node_app's forwarder and the load client sleep the drawn delay
before they send (the fallback; the lab's kernel has no netem). The load client's link is
always the load client's to emulate: the harness does not change the controller's qdiscs.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from harness.errors import SpecError
from harness.links import Link, LinkError, load_link, net_links
from node_app.link import TCP_RTO_MIN_MS

CLIENT = "client"
SINK = "sink"
NETEM, NODE_APP = "netem", "node_app"


@dataclass(frozen=True)
class LinkOption:
    """One `--link` SPEC as typed: `pair` is `A-B` (split at a dash once the hosts are
    known, since host names may hold dashes), `kind` the links.json entry."""

    text: str
    pair: str
    kind: str

    def splits(self) -> list[tuple[str, str]]:
        """Every (A, B) the pair can be read as: one per dash with a name on both sides."""
        out = []
        for i, c in enumerate(self.pair):
            if c == "-" and 0 < i < len(self.pair) - 1:
                out.append((self.pair[:i], self.pair[i + 1:]))
        return out


def parse_options(values: Iterable[str] | str) -> list[LinkOption]:
    """The `--link` SPECs (a comma-separated text or a list), checked as text: each is
    `A-B:NAME`, NAME a link kind with delay, jitter or loss, no link given twice."""
    if isinstance(values, str):
        values = values.split(",")
    options: list[LinkOption] = []
    for raw in values:
        text = str(raw).strip()
        if not text:
            continue
        pair, sep, kind = text.rpartition(":")
        pair, kind = pair.strip(), kind.strip()
        option = LinkOption(text, pair, kind)
        if not sep or not kind or not option.splits():
            raise SpecError("net_links", f"{text!r} is not A-B:NAME (the link between hosts A "
                            "and B, e.g. pi1-pi2:wifi-busy; A may be `client`)")
        try:
            link = load_link(kind)
        except LinkError:
            raise SpecError("net_links", f"{text!r}: unknown link kind {kind!r}; known: "
                            f"{', '.join(net_links())} (harness/links.json)") from None
        if not link.has_net:
            raise SpecError("net_links", f"{text!r}: link kind {kind!r} has no delay_ms, "
                            f"jitter_ms or loss_pct (it prices bytes only); kinds with network "
                            f"behaviour: {', '.join(net_links())}")
        options.append(option)
    seen: dict[frozenset[str], str] = {}
    for o in options:
        key = frozenset([o.pair, "-".join(reversed(o.splits()[0]))])
        for other_key, other in seen.items():
            if key & other_key:
                raise SpecError("net_links", f"{o.text!r} and {other!r} set the same link twice")
        seen[key] = o.text
    return options


@dataclass(frozen=True)
class Edge:
    """One direction frames travel over a link: `src` sends to `hop` (`address:port`)."""

    src: str  # host name, or `client`
    src_role: str  # the plan's role (`A`, `B`, `sink`), or `client`
    dst: str
    dst_role: str
    hop: str
    seed: int

    def params(self, link: Link) -> dict[str, Any]:
        """run.json `links[hop]` (node_app/link.py) / the load client's `links[target]`."""
        return {"delay_ms": link.delay_ms, "jitter_ms": link.jitter_ms,
                "loss_pct": link.loss_pct, "seed": self.seed}


@dataclass
class AppliedLink:
    """A `--link` SPEC resolved: its ends, its kind, the edges frames take over it, and the
    mechanism that emulates it."""

    option: LinkOption
    a: str
    b: str
    link: Link
    edges: list[Edge]
    mechanism: str = NODE_APP

    def record(self, entry: dict[str, Any]) -> dict[str, Any]:
        """spec.json `link_emulation.links[i]`: enough to price and explain the run later."""
        return {"spec": self.option.text, "a": self.a, "b": self.b, "kind": self.link.name,
                "entry": entry, "mechanism": self.mechanism,
                "edges": [{"from": e.src, "from_role": e.src_role, "to": e.dst,
                           "to_role": e.dst_role, "hop": e.hop, "seed": e.seed}
                          for e in self.edges]}


@dataclass
class LinkPlan:
    """Every applied link of a run; empty when the run has none."""

    links: list[AppliedLink] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.links)

    def node_links(self, host: str) -> dict[str, dict[str, Any]]:
        """run.json `links` of `host`: per next hop it forwards to over an applied link that
        node_app emulates, the draw's parameters (netem links are the kernel's)."""
        return {e.hop: e.params(a.link) for a in self.links if a.mechanism == NODE_APP
                for e in a.edges if e.src == host}

    def client_links(self) -> dict[str, dict[str, Any]]:
        """The load client's `links`: per target (entry node) its link's parameters."""
        return {e.hop: e.params(a.link) for a in self.links for e in a.edges
                if e.src == CLIENT}

    def mechanism(self) -> str:
        """`netem`, `node_app`, both joined by `+` when a run used both, "" for no link."""
        used = sorted({a.mechanism for a in self.links})
        return "+".join(used)

    def record(self, table: dict[str, Any]) -> dict[str, Any]:
        """spec.json `link_emulation`."""
        return {"mechanism": self.mechanism(),
                "links": [a.record(table[a.link.name]) for a in self.links]}


def resolve(options: list[LinkOption], plan: Any, inventory: Any, seed: int,
            client_name: str = CLIENT) -> LinkPlan:
    """Resolve the SPECs against the inventory and the plan (harness/strategies/plan.py):
    each end a host of the inventory (or `client`/`sink`), each link one the plan sends
    frames over. SpecError (field `net_links`) otherwise, naming the host or the pair."""
    by_endpoint = {n.host.endpoint: n for n in plan.nodes}
    in_run = {n.host.name: n for n in plan.workers}
    out = LinkPlan()
    for option in options:
        a, b = _ends(option, inventory)
        for end in (a, b):
            if end not in (CLIENT, SINK) and end not in in_run:
                raise SpecError("net_links", f"{option.text!r}: host {end} is not a node of this "
                                f"run (its nodes: {', '.join(in_run)})")
        edges = []
        for src, dst in ((a, b), (b, a)):
            if src == CLIENT:
                node = in_run.get(dst)
                if node is not None and node.host.endpoint in plan.targets:
                    edges.append(_edge(option, CLIENT, CLIENT, node, node.host.endpoint, seed))
                continue
            if src == SINK or dst == CLIENT:
                continue
            sender = in_run[src]
            for hop in forward_hops(sender):
                node = by_endpoint.get(hop)
                if node is not None and (node.host.name == dst
                                         or (dst == SINK and node.role == SINK)):
                    edges.append(_edge(option, src, sender.role, node, hop, seed))
        if not edges:
            raise SpecError("net_links", f"{option.text!r}: the plan forwards no frame between "
                            f"{a} and {b} (it forwards {_edges_text(plan)})")
        out.links.append(AppliedLink(option, a, b, load_link(option.kind), edges))
    return out


def forward_hops(node: Any) -> list[str]:
    """The hops `node` forwards frames to through node_app's Forwarder (node_app/link.py
    emulates those): its next hops and a direct hop to the sink (Cao's help, adaptive's
    local share). A task helper's pulls and a thief's steals are not frames sent on and
    carry no link."""
    return [*node.next_hops, *filter(None, [(node.help or {}).get("direct_hop"),
                                            (node.extra.get("local") or {}).get("direct_hop")])]


def _ends(option: LinkOption, inventory: Any) -> tuple[str, str]:
    """(A, B) of a SPEC: the split whose both names are known; an unknown host is named with
    the inventory it is not in."""
    known = set(inventory.hosts) | {CLIENT, SINK}
    fits = [(a, b) for a, b in option.splits() if a in known and b in known]
    if len(fits) > 1:
        raise SpecError("net_links", f"{option.text!r}: {option.pair} reads as more than one "
                        f"pair of hosts ({', '.join('-'.join(f) for f in fits)})")
    if not fits:
        a, b = option.splits()[0]
        unknown = next(x for x in (a, b) if x not in known) if (a not in known
                                                               or b not in known) else a
        raise SpecError("net_links", f"{option.text!r}: unknown host {unknown!r}: not in "
                        f"{inventory.path} (known: {', '.join(inventory.hosts)}, and "
                        f"`{CLIENT}` for the load client)")
    a, b = fits[0]
    if a == b:
        raise SpecError("net_links", f"{option.text!r}: a link joins two different hosts")
    if b == CLIENT:
        raise SpecError("net_links", f"{option.text!r}: write the load client first "
                        f"({CLIENT}-{a}:{option.kind})")
    if a == SINK:
        raise SpecError("net_links", f"{option.text!r}: write the sink last "
                        f"({b}-{SINK}:{option.kind})")
    return a, b


def _edge(option: LinkOption, src: str, src_role: str, node: Any, hop: str,
          seed: int) -> Edge:
    """One direction of a link; its seed is a pure function of the run's seed and the
    edge, so a re-run draws the same delays and a different link draws others."""
    edge_seed = zlib.crc32(f"{seed}:{src}>{hop}".encode())
    return Edge(src, src_role, node.host.name if node.role != SINK else SINK, node.role, hop,
                edge_seed)


def _edges_text(plan: Any) -> str:
    """`client -> pi1, pi1 -> pi2, pi2 -> sink`: where the plan sends frames."""
    by_endpoint = {n.host.endpoint: n for n in plan.nodes}

    def name(n: Any) -> str:
        return SINK if n.role == SINK else n.host.name

    pairs = [f"{CLIENT} -> {name(by_endpoint[t])}" for t in plan.targets if t in by_endpoint]
    for n in plan.workers:
        pairs += [f"{name(n)} -> {name(by_endpoint[h])}" for h in forward_hops(n)
                  if h in by_endpoint]
    return ", ".join(dict.fromkeys(pairs))


def expected_ms(link: Link) -> float:
    """What the link adds to a frame on average: the mean of the clipped uniform delay, and
    for the share of frames lost, TCP's minimum retransmission timeout (node_app/link.py)."""
    return link.mean_delay_ms + link.loss_pct / 100.0 * TCP_RTO_MIN_MS


def model_link_ms(spec: dict[str, Any]) -> tuple[dict[str, float], dict[str, float], str]:
    """The discrete-event model's view of a run's links (spec.json `link_emulation`), by
    role: per sending node the ms its links add per forward, averaged over its forward hops
    (exact for a node with one hop and for mp's fan-out to all hops, the mean for dp's
    one-of-K), and per entry node the ms the client's link adds; and how, in words."""
    doc = spec.get("link_emulation") or {}
    hops: dict[str, int] = {}
    for n in spec.get("nodes") or []:
        hops[str(n.get("role"))] = len(n.get("next_hops") or []) + int(bool(n.get("local")))
    per_node: dict[str, float] = {}
    client: dict[str, float] = {}
    for applied in doc.get("links") or []:
        ms = expected_ms(Link.from_entry(str(applied.get("kind")), applied.get("entry"),
                                         "spec.json link_emulation"))
        for e in applied.get("edges") or []:
            if e.get("from_role") == CLIENT:
                client[str(e["to_role"])] = ms
            else:
                role = str(e.get("from_role"))
                per_node[role] = per_node.get(role, 0.0) + ms
    per_node = {r: ms / max(1, hops.get(r, 1)) for r, ms in per_node.items()}
    if not per_node and not client:
        return {}, {}, ""
    parts = [f"{r} +{ms:.3g} ms per forward" for r, ms in sorted(per_node.items())]
    parts += [f"client -> {r} +{ms:.3g} ms" for r, ms in sorted(client.items())]
    return per_node, client, ("each link's mean delay + loss x 200 ms RTO: " + ", ".join(parts))
