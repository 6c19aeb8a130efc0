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

from typing import Any

import numpy as np

from node_app.conv import ConvLayer, PoolLayer
from node_app.node import Node
from node_app.roles.task_gateway import TaskBoard, TaskGateway, _Frame
from node_app.stage import Pipeline, Stage
from node_app.tiles import Region, grid, walk_back


def map_layers(node: Node) -> list[ConvLayer | PoolLayer]:
    """The conv and pool layers of the node's one stage, or ValueError naming the problem."""
    stages = node.pipeline.stages
    layers = [la for st in stages for la in st.layers]
    if len(stages) != 1 or not all(isinstance(la, (ConvLayer, PoolLayer)) for la in layers):
        raise ValueError("run.json 'tiles': the node needs one stage of conv and pool layers, "
                         f"got stages {[st.name for st in stages]}")
    return layers  # type: ignore[return-value]


class TileBoard(TaskBoard):
    """A task board whose tasks are the tiles of a grid over a fused stack's output."""

    def __init__(self, node: Node, *args: Any) -> None:
        super().__init__(node, *args)
        tiles = self.cfg.tiles
        assert tiles is not None
        layers = map_layers(node)
        if tiles.fused > len(layers):
            raise ValueError(f"run.json 'tiles': fused {tiles.fused} > the stage's "
                             f"{len(layers)} layers")
        self.fused = layers[: tiles.fused]
        self.in_shape = self.fused[0].in_shape
        out = self.fused[-1].out_shape
        if tiles.grid[0] > out[0] or tiles.grid[1] > out[1]:
            raise ValueError(f"run.json 'tiles': grid {tiles.grid} exceeds the fused output "
                             f"{out[0]} x {out[1]}")
        self.out_shape = out
        self.tiles = grid(out[:2], *tiles.grid)
        self.inputs = [walk_back(self.fused, t)[0][0] for t in self.tiles]
        rest = layers[tiles.fused:]
        self.rest = (Pipeline((Stage("rest", tuple(rest), rest[0].in_shape),)) if rest
                     else None)
        self.rest_ms = node.profile.frame_ms(self.rest.costs) if self.rest else None

    def _frame(self, x: np.ndarray) -> _Frame:
        return _Frame(x.reshape(self.in_shape), np.zeros(self.out_shape, "<f4"),
                      set(range(len(self.tiles))))

    def _task_input(self, frame: _Frame, block: int) -> bytes:
        r = self.inputs[block]
        return np.ascontiguousarray(frame.x[r.r1:r.r2, r.c1:r.c2], dtype="<f4").tobytes()

    def _result_bytes(self, block: int) -> int:
        t: Region = self.tiles[block]
        return t.rows * t.cols * self.out_shape[2] * 4

    def _place(self, out: np.ndarray, block: int, body: bytes) -> None:
        t = self.tiles[block]
        out[t.r1:t.r2, t.c1:t.c2] = np.frombuffer(body, "<f4").reshape(t.rows, t.cols, -1)

    def finish(self, packet_id: int, out: bytes) -> bytes:
        if self.rest is None:
            return out
        y = self.node.compute(packet_id, out, self.rest, self.rest_ms)
        return y.astype("<f4", copy=False).tobytes()


class TileGateway(TaskGateway):
    """Cut each queued frame into its tiles' input regions; merge; run the rest; forward."""

    def __init__(self, node: Node):  # noqa: D107 - a TaskGateway with a TileBoard
        cfg = node.run.tasks
        assert cfg is not None and cfg.tiles is not None, "TileGateway needs 'tasks'.tiles"
        self.node = node
        self.board = TileBoard(node, cfg, node.forwarders[0], node.run.queue_size)

    def process(self, packet_id: int, body: bytes) -> None:
        self.node.trace.write(packet_id, "tiles_queued", str(len(self.board.tiles)))
        self.board.put(packet_id, np.frombuffer(body, dtype="<f4"))

    def describe(self) -> str:
        t = self.board.cfg.tiles
        assert t is not None
        return f" FTP gateway grid={t.grid[0]}x{t.grid[1]} fused={t.fused}"
