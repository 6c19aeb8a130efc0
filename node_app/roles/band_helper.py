"""MoDNN's biased one-dimensional partition (BODP), device side: pull my band, run one layer.

The device (run.json `pull` with `bands`) holds the whole conv/pool stage and is named in
`bands.devices`; the gateway (node_app/roles/band_gateway.py) leases it only its own band k
of each layer. A task is block b = l * K + k: the body is the rows of layer l's input that
band k of l's output needs (node_app/tiles.py input_region, pads at the map's border), and
the device computes that one layer on the band (node_app/conv.py run_region), then waits out
its profile's time for exactly that work (node_app/stage.py stack_costs on the band, as the
tile helper does). Pulling, results and trace rows (`task_started`/`task_finished`) are the
task helper's (node_app/roles/task_helper.py).
"""

from __future__ import annotations

import numpy as np

from node_app.conv import run_region
from node_app.roles.band_gateway import Bands
from node_app.roles.task_helper import TaskHelper
from node_app.stage import stack_costs


class BandHelper(TaskHelper):
    def setup(self) -> None:
        bands_cfg = self.cfg.bands
        assert bands_cfg is not None
        name = self.node.config.node
        if name not in bands_cfg.devices:
            raise ValueError(f"run.json 'pull': field 'bands'.devices {list(bands_cfg.devices)} "
                             f"does not name this node ({name}): no band would be its own")
        self.bands = b = Bands.of(self.node, bands_cfg, self.cfg.blocks)
        self.me = bands_cfg.devices.index(name)
        self.in_bytes = [r.rows * r.cols * b.layer_of(i).in_shape[2] * 4
                         for i, r in enumerate(b.inputs)]
        self.max_task_bytes = max((n for i, n in enumerate(self.in_bytes)
                                   if b.device_of(i) == self.me and not b.bands[i].empty),
                                  default=0)  # a device too slow for any row gets no task
        self.block_ms = [None if band.empty else
                         self.node.profile.frame_ms(stack_costs([b.layer_of(i)], band))
                         for i, band in enumerate(b.bands)]

    def input_bytes(self, block: int) -> int:
        """Only my own non-empty bands are tasks; any other block is a bad task (-1)."""
        mine = self.bands.device_of(block) == self.me and not self.bands.bands[block].empty
        return self.in_bytes[block] if mine else -1

    def compute(self, block: int, data: bytes) -> np.ndarray:
        first = self.bands.inputs[block]
        x = np.frombuffer(data, dtype="<f4").reshape(first.rows, first.cols, -1)
        return np.asarray(run_region([self.bands.layer_of(block)], x, self.bands.bands[block],
                                     self.node.memory), dtype="<f4")

    def describe(self) -> str:
        return (f" BODP device {self.me} of {len(self.bands.devices)} of {self.cfg.gateway} "
                f"layers={len(self.bands.layers)}")
