"""Per-layer memory a node actually holds while computing: DeepThings' footprint, measured.

DeepThings (seed 002) compares strategies by each device's memory footprint per layer: an
FTP tile or a BODP band needs much smaller input and output buffers than a whole frame.
Here every layer a node computes reports the numpy arrays it made (the padded input, the
im2col matrix, the product, the activation's output) together with the input it read, and
this meter sums the distinct buffers behind them (an array that is a view of another counts
its base once, so a reshape costs nothing). These are the buffers alive together at the end
of the layer: the layer's peak, as allocated, not as a formula says it should be. BLAS
workspace and the HTTP body of the request are outside it (the body is the first layer's
input when it is read in place, and then it is counted as that input).

Why not tracemalloc: it is process-wide, so the HTTP threads' allocations would count (and,
in the tests, other nodes of the same process), and it slows every allocation while on.
This meter costs a list and a few attribute reads per layer, only while computing.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np


def _root(a: np.ndarray) -> np.ndarray:
    """The array that owns (or wraps) `a`'s memory: follow `.base` while it is an array."""
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


def buffer_bytes(arrays: Sequence[np.ndarray]) -> int:
    """Bytes of the distinct buffers behind `arrays` (views counted once, by their base)."""
    roots: dict[int, int] = {}
    for a in arrays:
        r = _root(a)
        roots[id(r)] = r.nbytes
    return sum(roots.values())


class MemoryMeter:
    """The largest buffer footprint seen per layer over a run, for /stats `memory`."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._peak: dict[int, int] = {}
        self._layers: dict[int, Any] = {}  # keeps each layer alive: its id stays its own

    def layer(self, layer: Any, x_in: np.ndarray, made: Sequence[np.ndarray]) -> None:
        """Layer `layer` read `x_in` and made `made` (its output last)."""
        nbytes = buffer_bytes([x_in, *made])
        key = id(layer)
        with self.lock:
            if nbytes > self._peak.get(key, -1):
                self._peak[key] = nbytes
                self._layers[key] = layer

    def snapshot(self, layers: Sequence[Any], weights_bytes: int) -> dict[str, Any]:
        """`weights_bytes` (as loaded), `peak_layer_bytes` (the largest layer's buffers),
        `peak_footprint_bytes` (the largest of a layer's buffers plus its own weights:
        DeepThings' per-layer footprint) and `per_layer` in the order of `layers` (the
        node's pipeline; a layer it computed outside it, e.g. after a switch, comes last)."""
        with self.lock:
            peak, seen = dict(self._peak), dict(self._layers)
        order = [id(la) for la in layers]
        keys = [k for k in order if k in peak] + [k for k in peak if k not in order]
        per_layer = []
        for k in keys:
            la = seen[k]
            per_layer.append({"index": order.index(k) if k in order else None,
                              "kind": getattr(la, "kind", "dense"),
                              "buffer_bytes": peak[k],
                              "weights_bytes": int(getattr(la, "weights_bytes", 0))})
        return {
            "weights_bytes": int(weights_bytes),
            "peak_layer_bytes": max((p["buffer_bytes"] for p in per_layer), default=None),
            "peak_footprint_bytes": max((p["buffer_bytes"] + p["weights_bytes"]
                                         for p in per_layer), default=None),
            "per_layer": per_layer,
        }
