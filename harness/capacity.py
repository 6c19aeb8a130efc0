"""How fast a node can be, from the device profile and the model's layer table.

The cost of a layer is node_app's own cost model (node_app/profile.py, the numbers in
node_app/profiles.json) applied to the layer table read off the Keras model
(harness/models), so the capacity line in a report, the discrete-event model and the
emulated devices cannot drift apart: one function prices a layer for all three.
"""

from __future__ import annotations

import json
from functools import cache

from harness.models import DEFAULT_MODEL, describe
from harness.models.layers import Layer
from node_app.profile import DEFAULT_PROFILES, Profile, load_profile

PROFILES_FILE = DEFAULT_PROFILES


@cache
def profile_names() -> tuple[str, ...]:
    return tuple(json.loads(PROFILES_FILE.read_text()))


@cache
def device_profile(name: str) -> Profile:
    """The named profile of profiles.json, parsed once per process."""
    return load_profile(name, PROFILES_FILE)


def layer_ms(profile: str, layer: Layer) -> float:
    """Profiled time of one layer on one device; 0 for `native` (unknown until measured)."""
    if profile not in profile_names():
        raise KeyError(f"unknown device profile {profile!r}; known: {', '.join(profile_names())}")
    if layer.kind != "dense":
        raise ValueError(f"profile {profile!r} has no cost for {layer.kind} layers "
                         f"({layer.name}); node_app/profile.py prices dense layers")
    return device_profile(profile).dense_layer_ms(layer.input_shape[-1], layer.output_shape[-1])


def stage_ms(profile: str, stages: list[str], model: str = DEFAULT_MODEL) -> float:
    """Profiled time for one frame through the given stages on one node."""
    info = describe(model)
    return sum(layer_ms(profile, layer) for s in stages for layer in info.stage_layers(s))


def node_fps(profile: str, stages: list[str], model: str = DEFAULT_MODEL) -> float:
    """Frames per second one node can serve; inf when the profile adds no time."""
    ms = stage_ms(profile, stages, model)
    return 1000.0 / ms if ms > 0 else float("inf")


def weights_bytes(stages: list[str], model: str = DEFAULT_MODEL) -> int:
    """Bytes of float32 weights (kernels + biases) a node holds for these stages."""
    return describe(model).weights_bytes(stages)
