"""Fused Tile Partitioning, edge device side: pull a tile, run the fused stack on it.

The device (run.json `pull` with `tiles`) holds the model's fused stage; a task is tile i
of the grid (node_app/roles/tile_gateway.py): its body is the tile's input region, walked
back through the fused layers (node_app/tiles.py), and the device computes the tile's
output region layer by layer with the zero padding the region needs at the map's border,
then waits out its profile's time for exactly that work (each layer priced on its own
region, so overlap costs what it costs). Everything else (pulling, leases, results, trace
rows `task_started`/`task_finished`) is the task helper's (node_app/roles/task_helper.py).
"""

from __future__ import annotations

import numpy as np

from node_app.conv import run_region
from node_app.roles.task_helper import TaskHelper
from node_app.roles.tile_gateway import TileStacks
from node_app.stage import stack_costs


class TileHelper(TaskHelper):
    def setup(self) -> None:
        assert self.cfg.tiles is not None
        self.stacks = st = TileStacks.of(self.node, self.cfg.tiles)
        c_in = st.fused[0].in_shape[2]
        self.in_bytes = [st.input_region(i).rows * st.input_region(i).cols * c_in * 4
                         for i in range(len(st.tiles))]
        self.max_task_bytes = max(self.in_bytes)
        self.block_ms = [self.node.profile.frame_ms(stack_costs(st.fused, t)) for t in st.tiles]

    def input_bytes(self, block: int) -> int:
        return self.in_bytes[block]

    def compute(self, block: int, data: bytes) -> np.ndarray:
        first = self.stacks.input_region(block)
        x = np.frombuffer(data, dtype="<f4").reshape(first.rows, first.cols, -1)
        return np.asarray(run_region(self.stacks.fused, x, self.stacks.tiles[block],
                                     self.node.memory), dtype="<f4")

    def describe(self) -> str:
        t = self.cfg.tiles
        assert t is not None
        return f" FTP device of {self.cfg.gateway} grid={t.grid[0]}x{t.grid[1]} fused={t.fused}"
