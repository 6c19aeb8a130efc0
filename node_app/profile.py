"""Device profiles: how long a layer takes on the device a node pretends to be.

A lab host is much faster than a Raspberry Pi 3B, so the node computes the real result and
then sleeps out the rest of the profiled time. The numbers live in profiles.json next to this
module so that they are data, cite their source, and can be reviewed without reading code.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_PROFILES = Path(__file__).with_name("profiles.json")
_SHAPE_KEY = re.compile(r"^(\d+)x(\d+)$")
SPIN_S = 0.0005  # time.sleep() can overshoot; the last half millisecond is spun out


def sleep_until(deadline: float) -> None:
    """Sleep until time.perf_counter() >= deadline, to within tens of microseconds."""
    while True:
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            return
        if remaining > SPIN_S:
            time.sleep(remaining - SPIN_S)


class ProfileError(ValueError):
    """Unknown profile name or a malformed profiles.json entry."""


@dataclass(frozen=True)
class Cost:
    """The work of one layer on one frame (or one region of it), in the unit its kind is
    priced by: dense by its shape (Cao measured shapes), conv by multiply-accumulates, pool
    by the input elements it reads."""

    kind: str
    n_in: int = 0
    n_out: int = 0
    macs: int = 0
    elements: int = 0

    @classmethod
    def dense(cls, n_in: int, n_out: int) -> Cost:
        return cls("dense", n_in, n_out, n_in * n_out)


@dataclass(frozen=True)
class Dist:
    """A service-time distribution (ms) as its quantile function: piecewise linear through
    (q, ms) points, q in [0, 1]. From percentiles {"50": 10, "90": 12, "99": 15} the points
    are those (flat below the lowest and above the highest), so a long draw has exactly the
    given percentiles; from calibrated samples every sample is a point (the empirical
    distribution). Drawing is inverse-transform sampling of one uniform number, so the node
    and the discrete-event model draw the same times from the same seed."""

    q: tuple[float, ...]
    ms: tuple[float, ...]

    @classmethod
    def from_entry(cls, entry: Any, where: str) -> Dist:
        if not isinstance(entry, dict) or (("percentiles" in entry) == ("samples" in entry)):
            raise ProfileError(f"{where} must be an object with 'percentiles' or 'samples'")
        if "samples" in entry:
            raw = entry["samples"]
            if not isinstance(raw, list) or not raw:
                raise ProfileError(f"{where}.samples must be a non-empty list of ms")
            ms = sorted(_number(v, f"{where}.samples") for v in raw)
            n = len(ms)
            q = [0.5] if n == 1 else [i / (n - 1) for i in range(n)]
            return cls(tuple(q), tuple(ms))
        pct = entry["percentiles"]
        if not isinstance(pct, dict) or not pct:
            raise ProfileError(f"{where}.percentiles must be an object {{percentile: ms}}")
        points = []
        for key, value in pct.items():
            try:
                qv = float(key) / 100.0
            except ValueError:
                raise ProfileError(f"{where}.percentiles key {key!r} is not a number") from None
            if not 0.0 <= qv <= 1.0:
                raise ProfileError(f"{where}.percentiles key {key!r} is not in [0, 100]")
            points.append((qv, _number(value, f"{where}.percentiles[{key!r}]")))
        points.sort()
        if any(b[1] < a[1] for a, b in zip(points, points[1:], strict=False)):
            raise ProfileError(f"{where}.percentiles must not decrease with the percentile")
        return cls(tuple(p[0] for p in points), tuple(p[1] for p in points))

    def quantile(self, u: float) -> float:
        """The time at quantile u (0..1)."""
        if len(self.q) == 1:
            return self.ms[0]
        return float(np.interp(u, self.q, self.ms))

    def draw(self, rng: np.random.Generator) -> float:
        return self.quantile(float(rng.random()))

    @property
    def mean(self) -> float:
        """The mean of a draw: the area under the quantile function (flat beyond the ends)."""
        qs = [0.0, *self.q, 1.0]
        ms = [self.ms[0], *self.ms, self.ms[-1]]
        return float(sum((qs[i + 1] - qs[i]) * (ms[i] + ms[i + 1]) / 2
                         for i in range(len(qs) - 1)))


@dataclass(frozen=True)
class Profile:
    """Timing model of one device; `native` means "do not wait, this is the real device"."""

    name: str
    native: bool = False
    dense_ms: dict[str, float] = field(default_factory=dict)
    fixed_ms: float = 0.0
    ms_per_mac: float = 0.0
    read_mb_s: float | None = None  # storage read rate; None: reading costs no time
    build_ms: float = 0.0  # making loaded weights ready to run
    model_switch_ms: float | None = None  # a fixed switch cost, instead of the two above
    conv_ms_per_gflop: float | None = None  # conv and pool; None: no conv cost known
    conv_fixed_ms: float = 0.0  # per conv or pool layer (or region of one)
    ram_mb: int | None = None  # the device's RAM (MB = 2^20 bytes); None: not stated
    # The whole board's power, W, idle and with every core loaded (the harness prices a run's
    # energy with them, harness/analysis/energy.py); None: not stated (energy unknown).
    idle_w: float | None = None
    busy_w: float | None = None
    stage_dists: dict[str, Dist] = field(default_factory=dict)  # stage name -> its times

    def dists_for(self, stages: Iterable[str]) -> list[Dist] | None:
        """The service-time distributions of a node's stages when the profile has one for
        every stage (then a frame's time is drawn, one draw per stage); None otherwise."""
        names = list(stages)
        if self.native or not names or any(n not in self.stage_dists for n in names):
            return None
        return [self.stage_dists[n] for n in names]

    def dense_layer_ms(self, n_in: int, n_out: int) -> float:
        """Measured time if the shape was measured, else the line through the measurements."""
        if self.native:
            return 0.0
        key = f"{n_in}x{n_out}"
        if key in self.dense_ms:
            return self.dense_ms[key]
        return self.fixed_ms + self.ms_per_mac * n_in * n_out

    def cost_ms(self, cost: Cost) -> float:
        """Profiled time of one layer's work: dense as above; conv = fixed + FLOPs / rate
        (2 FLOPs per multiply-accumulate); pool = fixed + inputs read / rate."""
        if self.native:
            return 0.0
        if cost.kind == "dense":
            return self.dense_layer_ms(cost.n_in, cost.n_out)
        if cost.kind not in ("conv", "pool"):
            raise ProfileError(f"profile '{self.name}': no cost for {cost.kind!r} layers")
        if self.conv_ms_per_gflop is None:
            raise ProfileError(f"profile '{self.name}' has no conv cost (conv_fit in "
                               "profiles.json); pick a profile that has one, e.g. rpi3bplus")
        ops = 2 * cost.macs if cost.kind == "conv" else cost.elements
        return self.conv_fixed_ms + ops / 1e9 * self.conv_ms_per_gflop

    def frame_ms(self, costs: Iterable[Cost | tuple[int, int]]) -> float | None:
        """Profiled time of one frame through all layers (a pair (n_in, n_out) is a dense
        layer); None for `native` (no waiting)."""
        if self.native:
            return None
        return sum((self.cost_ms(c if isinstance(c, Cost) else Cost.dense(*c))
                    for c in costs), 0.0)

    def switch_ms(self, weights_bytes: int = 0) -> float | None:
        """Profiled time of a model switch that loads `weights_bytes` of weights: the read
        from storage plus the build, so loading a big model costs more than a small one
        (Cao's switch to help loads L1+L2, 16.8 MB; the switch back L1 only, 0.8 MB).
        None for `native` (the real load time counts)."""
        if self.native:
            return None
        if self.model_switch_ms is not None:
            return self.model_switch_ms
        read_ms = weights_bytes / (self.read_mb_s * 1e6) * 1000.0 if self.read_mb_s else 0.0
        return read_ms + self.build_ms


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ProfileError(f"{where} must be a non-negative number, got {value!r}")
    return float(value)


def _power(entry: dict, where: str) -> tuple[float | None, float | None]:
    """`idle_w` and `busy_w`: both or neither (one alone cannot price a run), each a
    positive number of watts, busy at least idle (a loaded board draws no less)."""
    idle, busy = entry.get("idle_w"), entry.get("busy_w")
    if idle is None and busy is None:
        return None, None
    if idle is None or busy is None:
        missing = "idle_w" if idle is None else "busy_w"
        raise ProfileError(f"{where} has {'busy_w' if idle is None else 'idle_w'} but no "
                           f"{missing}: give both (W) or neither (energy then unknown)")
    idle_w, busy_w = _number(idle, f"{where} idle_w"), _number(busy, f"{where} busy_w")
    if idle_w <= 0:
        raise ProfileError(f"{where} idle_w must be > 0 W, got {idle!r}")
    if busy_w < idle_w:
        raise ProfileError(f"{where} busy_w {busy!r} W is below idle_w {idle!r} W")
    return idle_w, busy_w


def _parse(name: str, entry: Any, where: str) -> Profile:
    if entry is None:
        return Profile(name=name, native=True)
    if not isinstance(entry, dict):
        raise ProfileError(f"{where}: profile '{name}' must be an object or null")
    dense = entry.get("dense_ms", {})
    fit = entry.get("dense_fit")
    if not isinstance(dense, dict) or not isinstance(fit, dict):
        raise ProfileError(f"{where}: profile '{name}' needs objects 'dense_ms' and 'dense_fit'")
    dense_ms: dict[str, float] = {}
    for key, value in dense.items():
        if not _SHAPE_KEY.match(key):
            raise ProfileError(
                f"{where}: profile '{name}' dense_ms key {key!r} is not '<in>x<out>'"
            )
        dense_ms[key] = _number(value, f"{where}: profile '{name}' dense_ms[{key!r}]")
    switch = entry.get("model_switch_ms")
    read = entry.get("storage_read_mb_s")
    if read is not None and not _number(read, f"{where}: profile '{name}' storage_read_mb_s"):
        raise ProfileError(f"{where}: profile '{name}' storage_read_mb_s must be > 0 "
                           "(leave it out for storage that costs no time)")
    ram = entry.get("ram_mb")
    if ram is not None and (isinstance(ram, bool) or not isinstance(ram, int) or ram <= 0):
        raise ProfileError(f"{where}: profile '{name}' ram_mb must be a positive integer "
                           f"(MB of RAM), got {ram!r}")
    idle_w, busy_w = _power(entry, f"{where}: profile '{name}'")
    conv = entry.get("conv_fit")
    if conv is not None and not isinstance(conv, dict):
        raise ProfileError(f"{where}: profile '{name}' conv_fit must be an object")
    stage = entry.get("stage_ms", {})
    if not isinstance(stage, dict):
        raise ProfileError(f"{where}: profile '{name}' stage_ms must be an object "
                           "{stage name: {percentiles or samples}}")
    dists = {str(k): Dist.from_entry(v, f"{where}: profile '{name}' stage_ms[{k!r}]")
             for k, v in stage.items()}
    return Profile(
        name=name,
        stage_dists=dists,
        conv_ms_per_gflop=None if conv is None else _number(
            conv.get("ms_per_gflop"), f"{where}: profile '{name}' conv_fit.ms_per_gflop"),
        conv_fixed_ms=0.0 if conv is None else _number(
            conv.get("fixed_ms", 0.0), f"{where}: profile '{name}' conv_fit.fixed_ms"),
        read_mb_s=None if read is None else float(read),
        ram_mb=ram,
        idle_w=idle_w,
        busy_w=busy_w,
        build_ms=_number(entry.get("model_build_ms", 0.0),
                         f"{where}: profile '{name}' model_build_ms"),
        model_switch_ms=(None if switch is None else
                         _number(switch, f"{where}: profile '{name}' model_switch_ms")),
        dense_ms=dense_ms,
        fixed_ms=_number(fit.get("fixed_ms"), f"{where}: profile '{name}' dense_fit.fixed_ms"),
        ms_per_mac=_number(
            fit.get("ms_per_mac"), f"{where}: profile '{name}' dense_fit.ms_per_mac"
        ),
    )


def parse_profile(name: str, entry: Any, where: str = "profile") -> Profile:
    """A profile from its JSON entry (as profiles.json or a run's spec.json records it)."""
    return _parse(name, entry, where)


def load_profile(name: str, path: str | Path = DEFAULT_PROFILES) -> Profile:
    """Return the named profile; an unknown name lists the known ones."""
    try:
        with open(path, encoding="utf-8") as f:
            table = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise ProfileError(f"profiles file {path}: cannot load: {e}") from e
    if not isinstance(table, dict):
        raise ProfileError(f"profiles file {path}: top level must be an object")
    if name not in table:
        known = ", ".join(sorted(table))
        raise ProfileError(f"unknown profile {name!r} in {path}; known profiles: {known}")
    return _parse(name, table[name], f"profiles file {path}")
