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
from node_app.roles.tile_gateway import map_layers
from node_app.stage import map_cost
from node_app.tiles import grid, walk_back


class TileHelper(TaskHelper):
    def setup(self) -> None:
        tiles = self.cfg.tiles
        assert tiles is not None
        layers = map_layers(self.node)
        if tiles.fused > len(layers):
            raise ValueError(f"run.json 'pull': fused {tiles.fused} > the stage's "
                             f"{len(layers)} layers")
        self.fused = layers[: tiles.fused]
        self.tiles = grid(self.fused[-1].out_shape[:2], *tiles.grid)
        self.steps = [walk_back(self.fused, t) for t in self.tiles]
        c_in = self.fused[0].in_shape[2]
        self.in_bytes = [s[0][0].rows * s[0][0].cols * c_in * 4 for s in self.steps]
        self.max_task_bytes = max(self.in_bytes)
        prof = self.node.profile
        self.block_ms = []
        for tile, steps in zip(self.tiles, self.steps, strict=True):
            outs = [region for region, _pads in steps[1:]] + [tile]
            self.block_ms.append(prof.frame_ms(
                [map_cost(la, o) for la, o in zip(self.fused, outs, strict=True)]))

    def input_bytes(self, block: int) -> int:
        return self.in_bytes[block]

    def compute(self, block: int, data: bytes) -> np.ndarray:
        first = self.steps[block][0][0]
        x = np.frombuffer(data, dtype="<f4").reshape(first.rows, first.cols, -1)
        return np.asarray(run_region(self.fused, x, self.tiles[block]), dtype="<f4")

    def describe(self) -> str:
        t = self.cfg.tiles
        assert t is not None
        return f" FTP device of {self.cfg.gateway} grid={t.grid[0]}x{t.grid[1]} fused={t.fused}"
