"""Task sharing, helper side (run.json `pull`): see node_app/roles/task_gateway.py.

Instead of serving a queue, the helper's worker loops: pull a task from the gateway when
idle, compute the block with its single dense layer's columns block_bounds(i, T, width)
(node_app/stage.py), wait out its own profile's time for a dense n_in x (hi - lo) layer, send
the result. Trace: `task_started` (detail `i/T`), `task_finished` (`<real_ms>:<profile_ms>`).
"""

from __future__ import annotations

import http.client
import time
from typing import Any

import numpy as np

from node_app.config import parse_hostport
from node_app.node import Node
from node_app.profile import sleep_until
from node_app.role import Role
from node_app.roles.task_gateway import LONG_POLL_S
from node_app.stage import ACTIVATIONS, DenseLayer, block_bounds
from node_app.validate import parse_block

RETRY_S = 0.2


class TaskHelper(Role):
    """A helper's worker loop: pull a task when idle, compute its block, return the result."""

    def __init__(self, node: Node):
        super().__init__(node)
        cfg = node.run.pull
        assert cfg is not None, "TaskHelper needs run.json 'pull'"
        self.cfg = cfg
        self.host, self.port = parse_hostport(cfg.gateway)
        self.tasks_done = 0
        self._conn: http.client.HTTPConnection | None = None
        self.setup()

    def setup(self) -> None:
        """Check the node's stage fits the tasks and price each task on the profile."""
        node, cfg = self.node, self.cfg
        layers = [layer for stage in node.pipeline.stages for layer in stage.layers]
        if len(layers) != 1 or not isinstance(layers[0], DenseLayer):
            raise ValueError(f"run.json 'pull': a helper needs one dense layer, got {len(layers)}")
        self.layer = layers[0]
        n_in, width = self.layer.shape
        if cfg.blocks > width:
            raise ValueError(f"run.json 'pull': blocks {cfg.blocks} > layer width {width}")
        self.bounds = [block_bounds(i, cfg.blocks, width) for i in range(cfg.blocks)]
        prof = node.profile
        self.block_ms = [prof.frame_ms([(n_in, hi - lo)]) for lo, hi in self.bounds]
        self.n_in = n_in

    def work(self) -> None:
        """Pull instead of serving the queue (frames posted to a helper just wait there)."""
        node = self.node
        while not node.stopping.is_set():
            try:
                task = self._next()
            except (OSError, http.client.HTTPException):
                self._close()
                node.stopping.wait(RETRY_S)  # gateway not up yet, or gone
                continue
            if task is not None:
                node.guarded(task[0], self._do, *task)

    def stats(self) -> dict[str, Any]:
        return {"tasks_done": self.tasks_done}

    def describe(self) -> str:
        return f" task helper of {self.cfg.gateway} blocks={self.cfg.blocks}"

    def close(self) -> None:
        self._close()

    # internals ----------------------------------------------------------------------------

    def _request(self, path: str, headers: dict[str, str], body: bytes = b"") -> tuple[
        int, dict[str, str], bytes
    ]:
        if self._conn is None:
            self._conn = http.client.HTTPConnection(
                self.host, self.port, timeout=LONG_POLL_S + 5.0
            )
        headers = {"X-Node": self.node.config.node, "Content-Type": "application/octet-stream",
                   **headers}
        self._conn.request("POST", path, body=body, headers=headers)
        resp = self._conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data

    def _next(self) -> tuple[int, int, bytes] | None:
        status, headers, data = self._request("/task/next", {})
        if status != 200:
            if status != 204:
                self.node.stopping.wait(RETRY_S)
            return None
        block = parse_block(headers.get("x-block"), self.cfg.blocks)
        pid_text = headers.get("x-packet-id", "")
        if block is None or not pid_text.isdigit() or len(data) != self.input_bytes(block):
            raise http.client.HTTPException(f"malformed task: {headers}")
        return int(pid_text), block, data

    # what a task is: a neuron block here, a tile in node_app/roles/tile_helper.py ----------

    def input_bytes(self, block: int) -> int:
        return self.n_in * 4

    def compute(self, block: int, data: bytes) -> np.ndarray:
        lo, hi = self.bounds[block]
        x = np.frombuffer(data, dtype="<f4")
        kernel, bias = self.layer.kernel[:, lo:hi], self.layer.bias[lo:hi]
        return np.asarray(ACTIVATIONS[self.layer.activation](x @ kernel + bias), dtype="<f4")

    def _do(self, packet_id: int, block: int, data: bytes) -> None:
        node = self.node
        node.trace.write(packet_id, "task_started", f"{block}/{self.cfg.blocks}")
        t0 = time.perf_counter()
        out = self.compute(block, data)
        real_ms = (time.perf_counter() - t0) * 1000.0
        profile_ms = self.block_ms[block]
        if profile_ms is not None:
            sleep_until(t0 + profile_ms / 1000.0)
        node.stats.observe_service((time.perf_counter() - t0) * 1000.0)
        claimed = real_ms if profile_ms is None else profile_ms
        node.trace.write(packet_id, "task_finished", f"{real_ms:.2f}:{claimed:.2f}")
        body = out.tobytes()
        headers = {"X-Packet-Id": str(packet_id), "X-Block": f"{block}/{self.cfg.blocks}"}
        status, _h, _d = self._request("/task/result", headers, body)
        with node.stats.lock:
            if status == 200:
                self.tasks_done += 1
                node.stats.bytes_out += len(body)
            else:
                node.stats.forward_failed += 1
        if status != 200:
            node.trace.write(packet_id, "forward_failed", f"http_{status}")

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
