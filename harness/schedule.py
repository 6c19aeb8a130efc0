"""The arrival schedule of a run: every frame's intended send time, fixed before the run.

A pure function of the spec (arrival process, seed, rates, durations), so the load
generator, the analysis (which frame belongs to which rate step) and tests all rebuild
exactly the same schedule. Packet IDs are assigned in schedule order: frame `i` is the
`i`-th intended send, so IDs grow with intended time.

- `constant`: a camera at N fps; frame k of a segment is due at `seg_start + k / N`.
- `poisson`: MLPerf LoadGen's Server scenario; exponential gaps with mean 1/N drawn from
  a generator seeded with `arrival_seed` (recorded in spec.json), restarted at each
  segment (the process is memoryless, so this is still Poisson within every segment).

Segments: a warm-up at the first rate (`warmup_s`, not counted), then either one measured
segment (`rate_fps` for `duration_s`) or one measured step per entry of `rates`, each
`step_s` long (a delivered-vs-offered curve in one run).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

ARRIVALS = ("constant", "poisson")
# SeedSequence spawn key of the arrival stream, so it never coincides with the frame
# generator's streams (harness/frames.py seeds with [seed, packet_id]).
ARRIVAL_STREAM = (0xA7,)


@dataclass(frozen=True)
class Segment:
    """A stretch of the run at one rate. step = -1 for the warm-up, else 0, 1, ..."""

    step: int
    rate_fps: float
    start_s: float
    duration_s: float

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s


@dataclass(frozen=True)
class Schedule:
    """Frames in send order. `offset_s[i]` = intended send time of packet i after start."""

    arrival: str
    seed: int
    segments: tuple[Segment, ...]
    offset_s: np.ndarray  # float64, non-decreasing
    step: np.ndarray  # int64 per frame, -1 = warm-up

    def __len__(self) -> int:
        return len(self.offset_s)

    @property
    def ids(self) -> np.ndarray:
        return np.arange(len(self.offset_s), dtype=np.int64)

    @property
    def warmup_frames(self) -> int:
        return int((self.step < 0).sum())

    @property
    def measure_frames(self) -> int:
        return int((self.step >= 0).sum())

    @property
    def total_s(self) -> float:
        return self.segments[-1].end_s if self.segments else 0.0

    @property
    def steps(self) -> list[Segment]:
        return [s for s in self.segments if s.step >= 0]

    def counts(self) -> dict[int, int]:
        """Frames per segment (step -1 = warm-up)."""
        return {s.step: int((self.step == s.step).sum()) for s in self.segments}


def segments(rate_fps: float, warmup_s: float, duration_s: float,
             rates: list[float] | None = None, step_s: float = 0.0) -> tuple[Segment, ...]:
    """Warm-up at the first rate, then the measured segment(s)."""
    measured = [(r, step_s) for r in rates] if rates else [(rate_fps, duration_s)]
    out = []
    t = 0.0
    if warmup_s > 0:
        out.append(Segment(-1, float(measured[0][0]), 0.0, float(warmup_s)))
        t = float(warmup_s)
    for i, (rate, dur) in enumerate(measured):
        out.append(Segment(i, float(rate), t, float(dur)))
        t += float(dur)
    return tuple(out)


def _constant(seg: Segment) -> np.ndarray:
    n = int(round(seg.rate_fps * seg.duration_s))
    return seg.start_s + np.arange(n, dtype=np.float64) / seg.rate_fps


def _poisson(seg: Segment, rng: np.random.Generator) -> np.ndarray:
    mean = seg.rate_fps * seg.duration_s
    out: list[np.ndarray] = []
    t = 0.0
    while True:
        n = int(mean + 6.0 * np.sqrt(mean) + 16)
        times = t + np.cumsum(rng.exponential(1.0 / seg.rate_fps, n))
        inside = times[times < seg.duration_s]
        out.append(inside)
        if len(inside) < n:
            break
        t = float(times[-1])
    return seg.start_s + np.concatenate(out)


def build(arrival: str = "constant", seed: int = 0, rate_fps: float = 30.0,
          warmup_s: float = 0.0, duration_s: float = 60.0, rates: list[float] | None = None,
          step_s: float = 0.0) -> Schedule:
    """The schedule of a run. Same arguments, same schedule (bit for bit)."""
    if arrival not in ARRIVALS:
        raise ValueError(f"arrival must be one of {ARRIVALS}, got {arrival!r}")
    segs = segments(rate_fps, warmup_s, duration_s, rates, step_s)
    rng = np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=ARRIVAL_STREAM))
    offsets, steps = [], []
    for seg in segs:
        t = _constant(seg) if arrival == "constant" else _poisson(seg, rng)
        offsets.append(t)
        steps.append(np.full(len(t), seg.step, dtype=np.int64))
    off = np.concatenate(offsets) if offsets else np.empty(0)
    st = np.concatenate(steps) if steps else np.empty(0, dtype=np.int64)
    return Schedule(arrival, int(seed), segs, off, st)


def share(n_frames: int, index: int, count: int) -> range:
    """The packet IDs load client `index` of `count` sends (issue 17, `--clients`): frames
    index, index + count, index + 2 * count, ... of the one schedule, interleaved, so every
    client offers 1/count of the rate at every moment and together they send each frame once."""
    if not 0 <= index < count:
        raise ValueError(f"client index {index} is not in 0 .. {count - 1}")
    return range(index, n_frames, count)


def params_of(spec: Any) -> dict[str, Any]:
    """build() arguments from a RunSpec or a spec.json dict (old runs: constant, no steps)."""
    get = spec.get if isinstance(spec, dict) else lambda k, d=None: getattr(spec, k, d)
    seed = get("arrival_seed")
    if seed is None:
        seed = get("seed", 0)
    return {
        "arrival": str(get("arrival") or "constant"),
        "seed": int(seed or 0),
        "rate_fps": float(get("rate_fps") or 0.0),
        "warmup_s": float(get("warmup_s") or 0.0),
        "duration_s": float(get("duration_s") or 0.0),
        "rates": [float(r) for r in (get("rates") or [])],
        "step_s": float(get("step_s") or 0.0),
    }


def from_spec(spec: Any) -> Schedule:
    return build(**params_of(spec))
