"""Model parallelism at the sink: assemble a frame from its K output slices (run.json `slices`).

Why the sink merges (and not a merge node on a Pi): every slice has to travel to some node
anyway, the sink already is the end of every pipeline and runs on the controller, and merging
is a copy, not compute. A separate merge device would add one more hop (latency, a second
full-frame transfer) and one more device whose queue could drop frames, and would need its
own weights-free role. So slice nodes forward straight to the sink, which records
`slice_received` (detail `i/K`) per slice and `received` once all K are in: a frame counts as
delivered only when complete, at the arrival of its last slice. Frames still incomplete when
the sink stops are traced `dropped` with reason `missing_slice`, so they count as lost with a
reason.

Slice i holds output columns block_bounds(i, K, width) (node_app/stage.py), the same rule
harness/model.py uses to cut L2 into L2_s<i>of<K>.npz. The X-Slice header and each slice's
size are checked before a slice gets here (node_app/validate.py, `slices`).

Bounds (packet ids are what peers send): at most MAX_PARTIAL frames are being assembled at
once (MAX_PARTIAL * input_size * 4 bytes; 8 MiB for a 2000-float output). A slice of a new
frame when that many are open evicts the oldest open frame, which is traced `dropped` with
reason `missing_slice` (as at stop: it was missing a slice) and counted in /stats
`partials_evicted`; a slice that arrives later for an evicted or completed frame is refused
(`accepted: false`). The finished ids are a bitmap (validate.SeenIds), at most 2 MiB.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from node_app.node import Node
from node_app.roles.sink import Sink
from node_app.stage import block_bounds
from node_app.validate import SeenIds

MAX_PARTIAL = 1024  # frames assembled at once (a slice node dead or far behind fills this)


class SliceMerger:
    """Partial frames by packet id; thread-safe (request threads of the sink call add())."""

    def __init__(self, width: int, slices: int):
        self.width = width
        self.slices = slices
        self._lock = threading.Lock()
        self._parts: dict[int, tuple[np.ndarray, set[int]]] = {}  # oldest first
        self._done = SeenIds()  # completed or evicted frames
        self.evicted: list[int] = []  # evicted packet ids not yet taken by take_evicted()

    def add(self, packet_id: int, index: int, body: bytes) -> tuple[str, bytes | None]:
        """Store one slice: ("dup", None) if seen (or its frame is done or evicted),
        ("partial", None), or ("complete", frame). Opening a frame when MAX_PARTIAL are open
        evicts the oldest (see take_evicted)."""
        lo, hi = block_bounds(index, self.slices, self.width)
        with self._lock:
            if packet_id in self._done:
                return "dup", None
            part = self._parts.get(packet_id)
            if part is None:
                while len(self._parts) >= MAX_PARTIAL:
                    oldest = next(iter(self._parts))
                    del self._parts[oldest]
                    self._done.add(oldest)
                    self.evicted.append(oldest)
                part = self._parts[packet_id] = (np.zeros(self.width, dtype="<f4"), set())
            out, have = part
            if index in have:
                return "dup", None
            out[lo:hi] = np.frombuffer(body, dtype="<f4")
            have.add(index)
            if len(have) < self.slices:
                return "partial", None
            del self._parts[packet_id]
            self._done.add(packet_id)
            return "complete", out.tobytes()

    def take_evicted(self) -> list[int]:
        """Packet ids evicted since the last call (each is returned once)."""
        with self._lock:
            evicted, self.evicted = self.evicted, []
            return evicted

    def incomplete(self) -> dict[int, list[int]]:
        """Packet id -> slice indexes still missing, for frames with at least one slice."""
        with self._lock:
            return {
                pid: [i for i in range(self.slices) if i not in have]
                for pid, (_out, have) in sorted(self._parts.items())
            }


class MergeSink(Sink):
    """A sink whose frames arrive as K slices (X-Slice): `admit_slice` per slice; the whole
    frame then goes through `admit`, so it is `received` (and kept) once all K are in."""

    def __init__(self, node: Node):
        super().__init__(node)
        self.slices = node.run.slices
        self.merger = SliceMerger(node.run.input_size, self.slices)
        self._lock = threading.Lock()
        self.slices_received = 0
        self.partials_evicted = 0

    def admit_slice(
        self, packet_id: int, index: int, body: bytes
    ) -> tuple[dict[str, Any], bytes | None]:
        """Record one slice; the frame is returned (to be admitted, `received`) once all K
        are in."""
        with self._lock:
            self.slices_received += 1
        self.node.trace.write(packet_id, "slice_received", f"{index}/{self.slices}")
        state, frame = self.merger.add(packet_id, index, body)
        evicted = self.merger.take_evicted()
        if evicted:
            with self._lock:
                self.partials_evicted += len(evicted)
            for pid in evicted:
                self.node.drop(pid, "missing_slice")
        reply = {"accepted": state != "dup", "overloaded": False, "queue_depth": 0,
                 "service_ms": 0.0}
        return reply, frame

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {"slices_received": self.slices_received,
                    "partials_evicted": self.partials_evicted}

    def describe(self) -> str:
        return f" merges slices={self.slices}"

    def close(self) -> None:
        """Frames still missing a slice are lost: traced `dropped` with `missing_slice`."""
        for pid in self.merger.incomplete():
            self.node.drop(pid, "missing_slice")
        super().close()
