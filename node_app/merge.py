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
harness/model.py uses to cut L2 into L2_s<i>of<K>.npz.
"""

from __future__ import annotations

import threading

import numpy as np

from node_app.stage import block_bounds


class SliceMerger:
    """Partial frames by packet id; thread-safe (request threads of the sink call add())."""

    def __init__(self, width: int, slices: int):
        self.width = width
        self.slices = slices
        self._lock = threading.Lock()
        self._parts: dict[int, tuple[np.ndarray, set[int]]] = {}
        self._done: set[int] = set()

    def slice_bytes(self, index: int) -> int:
        lo, hi = block_bounds(index, self.slices, self.width)
        return (hi - lo) * 4

    def add(self, packet_id: int, index: int, body: bytes) -> tuple[str, bytes | None]:
        """Store one slice: ("dup", None) if seen, ("partial", None), or ("complete", frame)."""
        lo, hi = block_bounds(index, self.slices, self.width)
        with self._lock:
            if packet_id in self._done:
                return "dup", None
            out, have = self._parts.setdefault(
                packet_id, (np.zeros(self.width, dtype="<f4"), set())
            )
            if index in have:
                return "dup", None
            out[lo:hi] = np.frombuffer(body, dtype="<f4")
            have.add(index)
            if len(have) < self.slices:
                return "partial", None
            del self._parts[packet_id]
            self._done.add(packet_id)
            return "complete", out.tobytes()

    def incomplete(self) -> dict[int, list[int]]:
        """Packet id -> slice indexes still missing, for frames with at least one slice."""
        with self._lock:
            return {
                pid: [i for i in range(self.slices) if i not in have]
                for pid, (_out, have) in sorted(self._parts.items())
            }
