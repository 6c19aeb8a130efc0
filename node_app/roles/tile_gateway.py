"""Fused Tile Partitioning (DeepThings, seed 002), gateway side: tiles are the tasks.

The gateway (run.json `tasks` with `tiles`) takes each client frame, and puts the N x M
tiles of the output of the first `fused` layers on its task board (node_app/roles/
task_gateway.py): a tile's task input is the frame region that node_app/tiles.py walks back
to for it, overlap included, so every tile runs its whole stack of fused layers on one
device without talking to the others. Edge devices pull tiles when idle (work sharing: one
queue at the gateway; equal devices then take every K-th tile, DeepThings' round robin), and
return the tile's output, which the board places into the fused layer's output map. When
all tiles are in, the gateway runs the layers after the fused ones itself (it holds the
whole stage; with --fused equal to the stage's depth there are none) and forwards the
frame. Why the gateway and not another device: the merged map is already there, and
DeepThings' gateway does the same ("merge FTP partition results, process remaining
layers").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from node_app.config import TilesConfig
from node_app.conv import ConvLayer, PoolLayer
from node_app.node import Node
from node_app.roles.task_gateway import TaskBoard, TaskGateway, _Frame
from node_app.stage import Pipeline, Stage
from node_app.tiles import Pads, Region, grid, walk_back

MapLayer = ConvLayer | PoolLayer


@dataclass(frozen=True)
class TileStacks:
    """The node's one stage cut as run.json `tiles` says: the fused layers, the grid's
    tiles over their output, each tile's walk back (input region and pads per layer), and
    the layers after the fused ones. Gateway and device build it the same way."""

    fused: list[MapLayer]
    rest: list[MapLayer]
    tiles: list[Region]
    steps: list[list[tuple[Region, Pads]]]

    @classmethod
    def of(cls, node: Node, cfg: TilesConfig) -> TileStacks:
        """Raises ValueError naming the run.json problem."""
        stages = node.pipeline.stages
        layers = [la for st in stages for la in st.layers]
        if len(stages) != 1 or not all(isinstance(la, (ConvLayer, PoolLayer)) for la in layers):
            raise ValueError("run.json 'tiles': the node needs one stage of conv and pool "
                             f"layers, got stages {[st.name for st in stages]}")
        if cfg.fused > len(layers):
            raise ValueError(f"run.json 'tiles': fused {cfg.fused} > the stage's "
                             f"{len(layers)} layers")
        fused = layers[: cfg.fused]
        out = fused[-1].out_shape
        if cfg.grid[0] > out[0] or cfg.grid[1] > out[1]:
            raise ValueError(f"run.json 'tiles': grid {cfg.grid} exceeds the fused output "
                             f"{out[0]} x {out[1]}")
        tiles = grid(out[:2], *cfg.grid)
        return cls(fused, layers[cfg.fused:], tiles,  # type: ignore[arg-type]
                   [walk_back(fused, t) for t in tiles])

    def input_region(self, tile: int) -> Region:
        return self.steps[tile][0][0]


class TileBoard(TaskBoard):
    """A task board whose tasks are the tiles of a grid over a fused stack's output."""

    def __init__(self, node: Node, *args: Any) -> None:
        super().__init__(node, *args)
        assert self.cfg.tiles is not None
        self.stacks = TileStacks.of(node, self.cfg.tiles)
        self.in_shape = self.stacks.fused[0].in_shape
        self.out_shape = self.stacks.fused[-1].out_shape
        rest = self.stacks.rest
        self.rest = (Pipeline((Stage("rest", tuple(rest), rest[0].in_shape),)) if rest
                     else None)
        self.rest_ms = node.profile.frame_ms(self.rest.costs) if self.rest else None

    def _frame(self, x: np.ndarray) -> _Frame:
        return _Frame(x.reshape(self.in_shape), np.zeros(self.out_shape, "<f4"),
                      set(range(len(self.stacks.tiles))))

    def _task_input(self, frame: _Frame, block: int) -> bytes:
        r = self.stacks.input_region(block)
        return np.ascontiguousarray(frame.x[r.r1:r.r2, r.c1:r.c2], dtype="<f4").tobytes()

    def _result_bytes(self, block: int) -> int:
        t = self.stacks.tiles[block]
        return t.rows * t.cols * self.out_shape[2] * 4

    def _place(self, out: np.ndarray, block: int, body: bytes) -> None:
        t = self.stacks.tiles[block]
        out[t.r1:t.r2, t.c1:t.c2] = np.frombuffer(body, "<f4").reshape(t.rows, t.cols, -1)

    def finish(self, packet_id: int, out: bytes) -> bytes:
        if self.rest is None:
            return out
        y = self.node.compute(packet_id, out, self.rest, self.rest_ms)
        return y.astype("<f4", copy=False).tobytes()


class TileGateway(TaskGateway):
    """Cut each queued frame into its tiles' input regions; merge; run the rest; forward."""

    board_class = TileBoard
    board: TileBoard

    def process(self, packet_id: int, body: bytes) -> None:
        self.node.trace.write(packet_id, "tiles_queued", str(len(self.board.stacks.tiles)))
        self.board.put(packet_id, np.frombuffer(body, dtype="<f4"))

    def describe(self) -> str:
        t = self.board.cfg.tiles
        assert t is not None
        return f" FTP gateway grid={t.grid[0]}x{t.grid[1]} fused={t.fused}"
