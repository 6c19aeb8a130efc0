"""MoDNN's biased one-dimensional partition (BODP, the comparison of seed 002), gateway side.

The gateway (run.json `tasks` with `bands`) runs the layers of the node's one conv/pool
stage one at a time, on its task board (node_app/roles/task_gateway.py). For layer l of a
frame it cuts l's OUTPUT rows into one band per device in proportion to the devices' speeds
(node_app/tiles.py biased_rows; full width), and queues band k as a task that only device k
may take: MoDNN assigns the partition statically, so a device that asks gets its own band
or nothing (a name not in `bands.devices` is refused, `not_a_band_device`; a result for a
band leased to another is `not_leased`, 409). A band's task input is the rows of l's input
that the band needs (node_app/tiles.py input_region over that one layer: a 3x3 conv one row
more each side, clipped at the map's border, a 2x2 pool twice the rows). When every
non-empty band of layer l is back, the gateway has l's whole output map and queues the
layer l+1 bands cut from it (MoDNN's data delivery: every layer's output goes through the
gateway); after the last layer the frame goes to the sink. Empty bands (a layer with fewer
rows than devices, or a device too slow for even one row) are not queued.

Why the board, not a loop per frame: frames overlap. While frame n waits at layer l's
barrier for the slowest device, the others take their bands of frame n+1, as far as the
board's `max_frames` allows; so the barrier costs latency, and throughput only when too
few frames are in flight (harness/strategies/bodp.py, capacity_fps).

A dead device stalls its frames: its leased band goes back on the queue after LEASE_S, for
the same device only (no work stealing in MoDNN). Device side: node_app/roles/band_helper.py.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from node_app.config import BandsConfig, TasksConfig
from node_app.conv import ConvLayer, PoolLayer
from node_app.forwarder import Forwarder
from node_app.node import Node
from node_app.roles.task_gateway import TaskBoard, TaskGateway, _Frame
from node_app.tiles import Region, biased_rows, input_region

MapLayer = ConvLayer | PoolLayer


@dataclass(frozen=True)
class Bands:
    """The node's one stage cut as run.json `bands` says: for task (block) b = l * K + k,
    device k's band of layer l's output rows and the rows of l's input it needs. Gateway
    and devices build it the same way, so they agree on every band's size."""

    layers: list[MapLayer]
    devices: tuple[str, ...]
    bands: list[Region]
    inputs: list[Region]

    @classmethod
    def of(cls, node: Node, cfg: BandsConfig, blocks: int) -> Bands:
        """Raises ValueError naming the run.json problem."""
        stages = node.pipeline.stages
        layers = [la for st in stages for la in st.layers]
        if len(stages) != 1 or not all(isinstance(la, (ConvLayer, PoolLayer)) for la in layers):
            raise ValueError("run.json 'bands': the node needs one stage of conv and pool "
                             f"layers, got stages {[st.name for st in stages]}")
        k = len(cfg.devices)
        if blocks != len(layers) * k:
            raise ValueError(f"run.json 'blocks' ({blocks}) must be the stage's {len(layers)} "
                             f"layers x the {k} devices of 'bands' = {len(layers) * k}")
        bands, inputs = [], []
        for layer in layers:
            h, w = layer.out_shape[:2]
            for r1, r2 in biased_rows(h, cfg.speeds):
                band = Region(r1, r2, 0, w)
                bands.append(band)
                inputs.append(band if band.empty else input_region(layer, band)[0])
        return cls(layers, cfg.devices, bands, inputs)  # type: ignore[arg-type]

    @property
    def k(self) -> int:
        return len(self.devices)

    def layer_of(self, block: int) -> MapLayer:
        return self.layers[block // self.k]

    def device_of(self, block: int) -> int:
        return block % self.k

    def live(self, layer: int) -> list[int]:
        """The blocks of layer `layer` whose band has rows, in device order."""
        first = layer * self.k
        return [b for b in range(first, first + self.k) if not self.bands[b].empty]


@dataclass
class _LayerFrame(_Frame):
    layer: int = 0  # the layer whose bands are out (x: its input map, out: its output map)


class BandBoard(TaskBoard):
    """A task board whose tasks are the row bands of one layer at a time, each leased only
    to the device it was cut for."""

    def __init__(self, node: Node, cfg: TasksConfig, fwd: Forwarder, max_frames: int) -> None:
        assert cfg.bands is not None
        self.bands = Bands.of(node, cfg.bands, cfg.blocks)  # before the sender thread starts
        self.index = {name: k for k, name in enumerate(cfg.bands.devices)}
        self.rows_by: dict[str, int] = {}
        super().__init__(node, cfg, fwd, max_frames)

    def admit_helper(self, helper: str) -> str | None:
        if helper not in self.index:
            return "not_a_band_device"
        return super().admit_helper(helper)

    def order(self) -> list[int]:
        return self.bands.live(0)

    def _frame(self, x: np.ndarray) -> _Frame:
        first = self.bands.layers[0]
        return _LayerFrame(x.reshape(first.in_shape), np.zeros(first.out_shape, "<f4"),
                           set(self.bands.live(0)))

    def _take(self, helper: str) -> tuple[int, int, bytes] | None:
        """Lease `helper` the oldest open band cut for it (others' bands stay queued); call
        with self.cond held."""
        self._requeue_expired()
        mine = self.index.get(helper)
        for key in list(self.todo):
            pid, block = key
            frame = self.frames.get(pid)
            if frame is None or block not in frame.left:
                self.todo.remove(key)  # finished meanwhile (a re-leased band came back twice)
                continue
            if self.bands.device_of(block) != mine:
                continue
            self.todo.remove(key)
            self.leased[key] = (helper, time.monotonic())
            self.node.trace.write(pid, "task_sent", f"{helper}:{block}")
            return pid, block, self._task_input(frame, block)
        return None

    def _task_input(self, frame: _Frame, block: int) -> bytes:
        r = self.bands.inputs[block]  # full width: the rows are the band's whole input
        return np.ascontiguousarray(frame.x[r.r1:r.r2], dtype="<f4").tobytes()

    def _result_bytes(self, block: int) -> int:
        band = self.bands.bands[block]
        return band.rows * band.cols * self.bands.layer_of(block).out_shape[2] * 4

    def _place(self, out: np.ndarray, block: int, body: bytes) -> None:
        band = self.bands.bands[block]
        out[band.r1:band.r2] = np.frombuffer(body, "<f4").reshape(band.rows, band.cols, -1)

    def _advance(self, packet_id: int, frame: _Frame) -> bool:
        """Layer l is whole: its output is layer l+1's input; queue l+1's bands."""
        assert isinstance(frame, _LayerFrame)
        frame.layer += 1
        if frame.layer == len(self.bands.layers):
            return False
        frame.x, frame.out = frame.out, np.zeros(self.bands.layers[frame.layer].out_shape, "<f4")
        live = self.bands.live(frame.layer)
        frame.left = set(live)
        self.todo.extend((packet_id, b) for b in live)
        return True

    def result(self, helper: str, packet_id: int, block: int, body: bytes) -> str | None:
        error = super().result(helper, packet_id, block, body)
        if error is None:
            with self.cond:
                self.rows_by[helper] = self.rows_by.get(helper, 0) + self.bands.bands[block].rows
        return error

    def rows_by_helper(self) -> dict[str, int]:
        """Output rows each device computed, summed over layers and frames: BODP's bias."""
        with self.cond:
            return dict(self.rows_by)


class BandGateway(TaskGateway):
    """Queue each frame's first layer as bands; each layer's bands in, queue the next; the
    last layer's output is the frame, forwarded."""

    board_class = BandBoard
    board: BandBoard

    def process(self, packet_id: int, body: bytes) -> None:
        bands = self.board.bands
        self.node.trace.write(packet_id, "bands_queued", f"{len(bands.layers)}x{bands.k}")
        self.board.put(packet_id, np.frombuffer(body, dtype="<f4"))

    def stats(self) -> dict[str, Any]:
        return {**super().stats(), "rows_by_helper": self.board.rows_by_helper()}

    def describe(self) -> str:
        b = self.board.bands
        return f" BODP gateway layers={len(b.layers)} devices={','.join(b.devices)}"
