"""What several strategy modules share, so that they never import each other.

Cao's strategies 1 and 2 differ only in node A's policy: the plan, the capacity bound and
the discrete-event wiring are here, once. FTP and BODP both price regions of the model's
fused conv stack with node_app's own geometry and costs: its layers as MapShape are here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.capacity import stage_ms
from harness.des import HelperNode, Node, Params, simulate, start
from harness.errors import SpecError
from harness.inventory import Host
from harness.models import describe
from harness.models.layers import Layer
from harness.strategies.plan import NodePlan, Plan
from node_app.tiles import Region

if TYPE_CHECKING:
    from harness.spec import RunSpec


def help_capacity_fps(a_profile: str, b_profile: str, model: str) -> float | None:
    """Upper bound on frames/s when A may compute whole frames itself (cao1's docstring);
    None when a profile has no cost model (native), inf when one adds no time (zero)."""
    info = describe(model)
    first, second = info.pipeline
    times = [stage_ms(a_profile, [first], model), stage_ms(a_profile, [info.whole], model),
             stage_ms(b_profile, [second], model)]
    if any(t is None for t in times):
        return None
    t_l1, t_full, t_l2 = (t / 1000.0 for t in times)  # type: ignore[operator]
    if t_l1 <= 0 or t_full <= 0 or t_l2 <= 0:
        return float("inf")  # a profile that adds no time (zero) gives no bound
    b = min(1.0 / t_l2, 1.0 / t_l1)
    a = (1.0 - b * t_l1) / t_full
    return b + a


def help_plan(policy: str, spec: RunSpec, hosts: list[Host], sink: Host) -> Plan:
    """The plan of strategies 1 and 2; only the node policy differs."""
    info = describe(spec.model)
    first, second = info.pipeline
    a, b = hosts[0], hosts[1]
    help_cfg = {
        "policy": policy,
        "x": spec.x,
        "help_stages": [info.whole],
        "own_stages": [first],
        "direct_hop": sink.endpoint,
    }
    nodes = [
        NodePlan(a, "A", [first], [b.endpoint], help=help_cfg),
        NodePlan(b, "B", [second], [sink.endpoint]),
        NodePlan(sink, "sink", []),
    ]
    capacity = help_capacity_fps(a.profile, b.profile, spec.model)
    return Plan(nodes=nodes, targets=[a.endpoint], capacity_fps=capacity,
                input_size=info.input_size)


def help_predict(p: Params, feed_b: bool) -> dict[str, Any]:
    """A (first stage, helping with the whole model) -> B (second stage) -> sink."""
    sim, sink, drops, common = start(p)
    b = Node(sim, "B", service_ms=p.second_ms, next_node=sink, **common)
    a = HelperNode(sim, "A", service_ms=p.first_ms, next_node=b, full_ms=p.whole_ms,
                   l1_only_ms=p.first_ms, switch_ms=p.switch_ms,
                   switch_back_ms=p.back_ms, x=p.x, sink=sink,
                   feed_b=feed_b, **common)
    return simulate(sim, sink, [a], [a, b], drops, p)


@dataclass(frozen=True)
class MapShape:
    """A conv or pool layer of the model's table as node_app's walk and prices see it
    (node_app.tiles.Geometry, and what node_app.stage.map_cost reads)."""

    kind: str
    in_shape: tuple[int, ...]
    out_hw: tuple[int, int]
    c_out: int
    size: int
    same: bool

    @property
    def in_hw(self) -> tuple[int, int]:
        return self.in_shape[0], self.in_shape[1]

    @classmethod
    def of(cls, layer: Layer) -> MapShape:
        key = "pool_size" if layer.kind == "pool" else "kernel_size"
        return cls(layer.kind, layer.input_shape, layer.output_shape[:2], layer.output_shape[-1],
                   int(layer.config[key][0]), layer.config.get("padding") == "same"
                   and layer.kind == "conv")

    def macs(self, out: Region) -> int:
        return out.rows * out.cols * self.size ** 2 * self.in_shape[2] * self.c_out


def map_shapes(model: str) -> list[MapShape]:
    """The layers of the model's fused stage (FTP's tiles, BODP's bands) as shapes; a model
    without one is a SpecError on `model`."""
    try:
        layers = describe(model).fused_layers
    except KeyError as exc:
        raise SpecError("model", str(exc.args[0])) from None
    return [MapShape.of(layer) for layer in layers]
