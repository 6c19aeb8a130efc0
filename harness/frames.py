"""Input frames: the "camera" images the load generator sends and the tests feed the model.

A frame is ``size`` float32 values in [0, 1), fully determined by ``(seed, packet_id)``, so
any process (Locust user, test, analysis) can rebuild the exact input of any packet ID.
"""

from __future__ import annotations

import numpy as np

FRAME_SIZE = 100  # float32 values per frame (= the model's input width)


def frame(packet_id: int, seed: int = 0, size: int = FRAME_SIZE) -> np.ndarray:
    """Return the input tensor of one packet.

    packet_id: the packet's ID (int >= 0), as sent in ``X-Packet-Id``.
    seed: the run's frame seed (int >= 0).
    size: number of float32 values.
    """
    if packet_id < 0 or seed < 0:
        raise ValueError(f"packet_id and seed must be >= 0 (got {packet_id}, {seed})")
    rng = np.random.default_rng([seed, packet_id])
    return rng.random(size, dtype=np.float32)


def frame_bytes(packet_id: int, seed: int = 0, size: int = FRAME_SIZE) -> bytes:
    """Return the HTTP body of one packet: ``frame(...)`` as little-endian float32 bytes."""
    return frame(packet_id, seed, size).astype("<f4", copy=False).tobytes()


def frames(packet_ids, seed: int = 0, size: int = FRAME_SIZE) -> np.ndarray:
    """Return a ``(len(packet_ids), size)`` float32 batch of frames."""
    return np.stack([frame(int(p), seed, size) for p in packet_ids]).astype(np.float32)
