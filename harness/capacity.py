"""How fast a node can be, from the device profile and the model's layer table.

The cost of a layer is node_app's own cost model (node_app/profile.py, the numbers in
node_app/profiles.json) applied to the layer table read off the Keras model
(harness/models), so the capacity line in a report, the discrete-event model and the
emulated devices cannot drift apart: one function prices a layer for all three.

A profile without a cost model (`native`: real Pis at their own speed) prices nothing:
every time and rate below is then None (not known), never 0 or inf. inf is kept for a
profile that adds no time at all (`zero`): a known absence of a bound.

Profiles come from two places: node_app/profiles.json (shipped, from papers) and
profiles/<name>.json (one profile entry per file, written by `fab calibrate` on a measured
device and kept in the repository by the user). `TESTBED_PROFILES_DIR` moves the second
(tests use it; a researcher may keep a campaign's devices apart). A calibrated profile is not
on the nodes: the harness sends its entry in the run file (run.json `profile_entry`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

from harness.models import DEFAULT_MODEL, describe
from harness.models.layers import Layer
from harness.paths import REPO
from node_app.profile import DEFAULT_PROFILES, Profile, ProfileError, parse_profile

PROFILES_FILE = DEFAULT_PROFILES
PROFILES_DIR_ENV = "TESTBED_PROFILES_DIR"


def profiles_dir() -> Path:
    """Where calibrated profiles live: $TESTBED_PROFILES_DIR, else <repo>/profiles. Read at
    each call, so a test (or a process) that sets the variable gets what it asked for."""
    value = os.environ.get(PROFILES_DIR_ENV, "").strip()
    return Path(value).expanduser().resolve() if value else REPO / "profiles"


def _files() -> tuple[tuple[str, int], ...]:
    """profiles.json and every profiles/*.json with its mtime: the key of the cache below,
    so a profile written by `fab calibrate` is seen by the next call."""
    paths = [PROFILES_FILE, *sorted(profiles_dir().glob("*.json"))]
    return tuple((str(p), p.stat().st_mtime_ns) for p in paths if p.is_file())


@cache
def _table(files: tuple[tuple[str, int], ...]) -> dict[str, Any]:
    table: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for path, _mtime in files:
        p = Path(path)
        try:
            data = json.loads(p.read_text())
        except (OSError, ValueError) as e:
            raise ProfileError(f"profiles file {p}: cannot load: {e}") from e
        entries = data if p == PROFILES_FILE else {p.stem: data}
        if not isinstance(entries, dict):
            raise ProfileError(f"profiles file {p}: top level must be an object")
        for name, entry in entries.items():
            if name in table:
                raise ProfileError(f"profile {name!r} is in {origin[name]} and in {p}; "
                                   "rename the calibrated file (fab calibrate --name=...)")
            table[name], origin[name] = entry, str(p)
    return table


def profile_table() -> dict[str, Any]:
    """Every known profile's JSON entry by name: profiles.json, then profiles/*.json."""
    return _table(_files())


def shipped(name: str) -> bool:
    """Is `name` in node_app/profiles.json, i.e. known to the nodes without its entry?"""
    return name in json.loads(PROFILES_FILE.read_text())


def profile_names() -> tuple[str, ...]:
    return tuple(profile_table())


def device_profile(name: str) -> Profile:
    """The named profile (profiles.json or profiles/<name>.json), parsed once per version of
    the files."""
    return _parsed(_files(), name)


@cache
def _parsed(files: tuple[tuple[str, int], ...], name: str) -> Profile:
    table = _table(files)
    if name not in table:
        raise ProfileError(f"unknown profile {name!r}; known profiles: {', '.join(sorted(table))}"
                           f" (node_app/profiles.json and {profiles_dir()}/*.json)")
    return parse_profile(name, table[name], f"profile {name!r}")


def has_cost_model(profile: str) -> bool:
    """Does this profile say how long a layer takes? `native` (real Pis at their own
    speed) does not: its times are whatever the device measures, unknown beforehand."""
    if profile not in profile_names():
        return False
    return not device_profile(profile).native


def no_cost_reason(profiles: Iterable[str]) -> str | None:
    """Why a run on these profiles has no capacity bound and no prediction, in words;
    None when every profile has a cost model."""
    unknown = sorted({p for p in profiles if not has_cost_model(p)})
    if not unknown:
        return None
    names = ", ".join(unknown)
    verb = "has" if len(unknown) == 1 else "have"
    return (f"profile {names} {verb} no cost model; calibrate it (issue 14) or use a "
            "device profile")


def layer_ms(profile: str, layer: Layer) -> float | None:
    """Profiled time of one layer on one device; None when the profile has no cost model
    (`native`: the real time counts, and it is not known until measured)."""
    if profile not in profile_names():
        raise KeyError(f"unknown device profile {profile!r}; known: {', '.join(profile_names())}")
    if layer.kind != "dense":
        raise ValueError(f"profile {profile!r} has no cost for {layer.kind} layers "
                         f"({layer.name}); node_app/profile.py prices dense layers")
    prof = device_profile(profile)
    if prof.native:
        return None
    return prof.dense_layer_ms(layer.input_shape[-1], layer.output_shape[-1])


def stage_ms(profile: str, stages: list[str], model: str = DEFAULT_MODEL) -> float | None:
    """Profiled time for one frame through the given stages on one node; None when the
    profile has no cost model. A profile with a distribution for every one of the stages
    (`stage_ms`, calibrated) prices them by its means: the node draws each frame's time from
    those distributions, so their mean is its service time."""
    if profile in profile_names():
        dists = device_profile(profile).dists_for(stages)
        if dists is not None:
            return sum((d.mean for d in dists), 0.0)
    info = describe(model)
    times = [layer_ms(profile, layer) for s in stages for layer in info.stage_layers(s)]
    return None if any(t is None for t in times) else sum(times, 0.0)  # type: ignore[arg-type]


def node_fps(profile: str, stages: list[str], model: str = DEFAULT_MODEL) -> float | None:
    """Frames per second one node can serve: inf when the profile adds no time (`zero`:
    no bound), None when the profile has no cost model (`native`: not known)."""
    return fps_of(stage_ms(profile, stages, model))


def fps_of(ms: float | None) -> float | None:
    """Frames per second of a node taking `ms` per frame: inf for 0 (the profile adds no
    time), None when the time is not known."""
    if ms is None:
        return None
    return 1000.0 / ms if ms > 0 else float("inf")


def fps_min(rates: Iterable[float | None]) -> float | None:
    """The smallest of several rates; None (not known) if any of them is not known.
    An unknown rate may be the smallest, so no bound can be given without it."""
    rates = list(rates)
    return None if any(r is None for r in rates) else min(rates)  # type: ignore[type-var]


def fps_sum(rates: Iterable[float | None]) -> float | None:
    """The sum of several rates; None if any of them is not known."""
    rates = list(rates)
    return None if any(r is None for r in rates) else sum(rates, 0.0)  # type: ignore[arg-type]


def weights_bytes(stages: list[str], model: str = DEFAULT_MODEL) -> int:
    """Bytes of float32 weights (kernels + biases) a node holds for these stages."""
    return describe(model).weights_bytes(stages)
