"""Which role a node plays in this run, from run.json: the one place that decides.

RunConfig (node_app/config.py) refuses, naming the file and the fields, every combination
of fields that no single role can serve (e.g. `route` with `help`, or a `slice` node that
also routes); so here each run.json it accepts maps to exactly one role, tested in order.

Adding a strategy's node behaviour: write one module in node_app/roles/ with a Role subclass,
and add its run.json test to `choose()` (docs/architecture.md, "node_app roles").
"""

from __future__ import annotations

from node_app.config import RunConfig
from node_app.node import Node
from node_app.role import Role
from node_app.roles.adaptive import AdaptiveEntry
from node_app.roles.band_gateway import BandGateway
from node_app.roles.band_helper import BandHelper
from node_app.roles.fanout import Fanout, SliceStage
from node_app.roles.helping import Helper
from node_app.roles.merge import MergeSink
from node_app.roles.reuse_device import ReuseDevice
from node_app.roles.reuse_gateway import ReuseGateway
from node_app.roles.router import Router
from node_app.roles.sink import Sink
from node_app.roles.stage import Stage
from node_app.roles.steal_device import StealDevice
from node_app.roles.steal_gateway import StealGateway
from node_app.roles.task_gateway import TaskGateway
from node_app.roles.task_helper import TaskHelper
from node_app.roles.tile_gateway import TileGateway
from node_app.roles.tile_helper import TileHelper


def choose(run: RunConfig) -> type[Role]:
    """The role class for a run.json (already validated by RunConfig.from_dict)."""
    if run.is_sink:
        return MergeSink if run.slices else Sink
    if run.pull is not None:
        if run.pull.bands is not None:
            return BandHelper
        if run.pull.tiles is None:
            return TaskHelper
        return {"wst": StealDevice, "wst-s": ReuseDevice}.get(run.pull.tiles.sched,
                                                              TileHelper)
    if run.help is not None:
        return Helper
    if run.route == "least_queue":
        return Router
    if run.route == "all":
        return Fanout
    if run.route == "adaptive":
        return AdaptiveEntry
    if run.tasks is not None:
        if run.tasks.bands is not None:
            return BandGateway
        if run.tasks.tiles is None:
            return TaskGateway
        return {"wst": StealGateway, "wst-s": ReuseGateway}.get(run.tasks.tiles.sched,
                                                               TileGateway)
    if run.slice is not None:
        return SliceStage
    return Stage


def make_role(node: Node) -> Role:
    """Build the node's role; may load stage files or raise ValueError, before the bind."""
    return choose(node.run)(node)
