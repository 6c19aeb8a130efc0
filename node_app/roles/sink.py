"""The sink: the end of every pipeline (no stages, no next hop); it records arrivals.

It has no queue and no worker: a frame counts as delivered when its request arrives, so the
sink adds no queueing of its own to the latencies measured. The first `keep_outputs` frames
are kept and written to `outputs_file` (.npz, key = packet id) at stop, so the controller
can check the distributed result against the model.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from node_app.node import Node
from node_app.role import Role


class Sink(Role):
    """Record each frame (`received`, empty detail); keep the first frames for output checks."""

    worker: ClassVar[bool] = False
    is_sink: ClassVar[bool] = True

    def __init__(self, node: Node):
        super().__init__(node)
        self.kept: dict[int, bytes] = {}  # at most run.json keep_outputs frames
        # Handler threads add to `kept` while close() may be writing it: one lock for both,
        # so the count never passes keep_outputs and close() never sees it change.
        self._kept_lock = threading.Lock()

    def admit(self, packet_id: int, body: bytes) -> dict[str, Any]:
        node = self.node
        st = node.stats
        with st.lock:
            st.received += 1
            st.accepted += 1
        node.trace.write(packet_id, "received", "")
        if node.run.keep_outputs:
            with self._kept_lock:
                if len(self.kept) < node.run.keep_outputs:
                    self.kept.setdefault(packet_id, body)
        return {"accepted": True, "overloaded": False, "queue_depth": 0, "service_ms": 0.0}

    def close(self) -> None:
        with self._kept_lock:
            kept = dict(self.kept)
        if kept:
            self._write_outputs(kept)

    def _write_outputs(self, kept: dict[int, bytes]) -> None:
        arrays = {str(pid): np.frombuffer(body, dtype="<f4") for pid, body in kept.items()}
        tmp = self.node.run.outputs_file + ".tmp.npz"
        np.savez(tmp, **arrays)
        Path(tmp).replace(self.node.run.outputs_file)
