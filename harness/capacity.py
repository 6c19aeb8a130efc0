"""How fast a node can be, from the device profile: the bound a run is judged against.

The numbers come from the same `node_app/profiles.json` the nodes sleep by, so the
capacity line in a report and the emulated devices cannot drift apart.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

PROFILES_FILE = Path(__file__).resolve().parent.parent / "node_app" / "profiles.json"

# Dense layers of each exported stage, (inputs, outputs), in order (see harness/model.py).
STAGE_LAYERS: dict[str, list[tuple[int, int]]] = {
    "L1": [(100, 2000)],
    "L2": [(2000, 2000)],
    "L1L2": [(100, 2000), (2000, 2000)],
}
L2_WIDTH = 2000
# Model-parallel slices of L2 (harness/model.py SLICES): L2_s<i>of<K> = columns
# [i*2000//K, (i+1)*2000//K), so K need not divide 2000.
for _k in range(1, 9):
    for _i in range(_k):
        STAGE_LAYERS[f"L2_s{_i}of{_k}"] = [(2000, (_i + 1) * L2_WIDTH // _k - _i * L2_WIDTH // _k)]


def weights_bytes(stages: list[str]) -> int:
    """Bytes of float32 weights (kernels + biases) a node holds for these stages."""
    return sum((i * o + o) * 4 for s in stages for i, o in STAGE_LAYERS[s])


@cache
def _profiles() -> dict:
    return json.loads(PROFILES_FILE.read_text())


def layer_ms(profile: str, n_in: int, n_out: int) -> float:
    """Profiled time of one dense layer; 0 for `native` (unknown until measured)."""
    profiles = _profiles()
    if profile not in profiles:
        raise KeyError(f"unknown device profile {profile!r}; known: {', '.join(profiles)}")
    entry = profiles[profile]
    if entry is None:
        return 0.0
    listed = entry.get("dense_ms", {}).get(f"{n_in}x{n_out}")
    if listed is not None:
        return float(listed)
    fit = entry["dense_fit"]
    return float(fit["fixed_ms"]) + float(fit["ms_per_mac"]) * n_in * n_out


def stage_ms(profile: str, stages: list[str]) -> float:
    """Profiled time for one frame through the given stages on one node."""
    return sum(layer_ms(profile, i, o) for s in stages for i, o in STAGE_LAYERS[s])


def node_fps(profile: str, stages: list[str]) -> float:
    """Frames per second one node can serve; inf when the profile adds no time."""
    ms = stage_ms(profile, stages)
    return 1000.0 / ms if ms > 0 else float("inf")
