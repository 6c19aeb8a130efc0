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

Several data sources (`--sources=S`, DeepThings' multi-source runs, issue 12): each source is
a camera of its own with the whole schedule above at the run's rate (the rate is per source),
its own arrival stream (the source's index in the seed's spawn key, so Poisson sources are
independent draws) and its own packet IDs: source i's frames are i * ID_STRIDE + 0, 1, 2, ...
(source 2's frame 17 is 2000017, readable in any trace), so IDs never collide and stay inside
node_app's 24-bit IDs for up to MAX_SOURCES sources of up to ID_STRIDE frames each. Constant
sources are spread evenly over one frame interval (source i starts i / S of a period late):
independent cameras are not synchronised, and S frames landing at the same instant would add
a burst no camera makes. One source (S = 1) is exactly the schedule above: IDs 0, 1, 2, ...,
the same seed, no phase. `frames` merges the sources into one send order (by intended time,
then source) for the one Locust run; `portion` is what each load client sends of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from node_app.validate import MAX_PACKET_ID

ARRIVALS = ("constant", "poisson")
# SeedSequence spawn key of the arrival stream, so it never coincides with the frame
# generator's streams (harness/frames.py seeds with [seed, packet_id]).
ARRIVAL_STREAM = (0xA7,)
# Source i's packet IDs start at i * ID_STRIDE (a decimal stride: the source reads off an ID).
ID_STRIDE = 1_000_000
MAX_SOURCES = (MAX_PACKET_ID + 1) // ID_STRIDE  # 16 sources of up to 1,000,000 frames each


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


def _constant(seg: Segment, phase: float = 0.0) -> np.ndarray:
    """Frame k at seg_start + (k + phase) / rate; phase in [0, 1) keeps every frame inside
    the segment (the last is due before its end)."""
    n = int(round(seg.rate_fps * seg.duration_s))
    return seg.start_s + (np.arange(n, dtype=np.float64) + phase) / seg.rate_fps


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
          step_s: float = 0.0, source: int = 0, sources: int = 1) -> Schedule:
    """The schedule of a run (of its source `source` of `sources`: its own arrival stream
    and phase; source 0 of 1 is the single source). Same arguments, same schedule (bit for
    bit). Its `ids` start at 0 whatever the source: `frames` gives the packet IDs."""
    if arrival not in ARRIVALS:
        raise ValueError(f"arrival must be one of {ARRIVALS}, got {arrival!r}")
    if not 0 <= source < sources:
        raise ValueError(f"source {source} is not in 0 .. {sources - 1}")
    segs = segments(rate_fps, warmup_s, duration_s, rates, step_s)
    stream = ARRIVAL_STREAM + ((int(source),) if source else ())
    rng = np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=stream))
    phase = source / sources
    offsets, steps = [], []
    for seg in segs:
        t = _constant(seg, phase) if arrival == "constant" else _poisson(seg, rng)
        offsets.append(t)
        steps.append(np.full(len(t), seg.step, dtype=np.int64))
    off = np.concatenate(offsets) if offsets else np.empty(0)
    st = np.concatenate(steps) if steps else np.empty(0, dtype=np.int64)
    return Schedule(arrival, int(seed), segs, off, st)


@dataclass(frozen=True)
class Frames:
    """Every source's frames in one send order: by intended time, then source. Row r is
    packet `pid[r]` of source `source[r]`, due `offset_s[r]` after the start, in rate step
    `step[r]` (-1 = warm-up)."""

    sources: int
    offset_s: np.ndarray
    pid: np.ndarray
    source: np.ndarray
    step: np.ndarray

    def __len__(self) -> int:
        return len(self.offset_s)


def first_id(source: int) -> int:
    """Source `source`'s first packet ID."""
    return int(source) * ID_STRIDE


def source_of(pids: np.ndarray | int, sources: int) -> np.ndarray | int:
    """The source of each packet ID of a run with `sources` sources (0 for one source,
    whatever its IDs: a single source may have more than ID_STRIDE frames)."""
    if sources <= 1:
        return np.zeros(len(pids), dtype=np.int64) if isinstance(pids, np.ndarray) else 0
    return pids // ID_STRIDE


def frames(params: dict[str, Any], sources: int = 1) -> Frames:
    """The run's frames from every source (`params` as params_of gives them), merged."""
    sources = int(sources)
    if not 1 <= sources <= MAX_SOURCES:
        raise ValueError(f"sources must be 1 .. {MAX_SOURCES}, got {sources}")
    scheds = [build(**params, source=i, sources=sources) for i in range(sources)]
    if sources > 1 and max(len(s) for s in scheds) > ID_STRIDE:
        raise ValueError(f"a source has more than {ID_STRIDE} frames, its ID range")
    off = np.concatenate([s.offset_s for s in scheds])
    pid = np.concatenate([first_id(i) + s.ids for i, s in enumerate(scheds)])
    src = np.concatenate([np.full(len(s), i, dtype=np.int64) for i, s in enumerate(scheds)])
    step = np.concatenate([s.step for s in scheds])
    order = np.lexsort((src, off))  # stable: one source keeps its own order exactly
    return Frames(sources, off[order], pid[order], src[order], step[order])


def portion(fr: Frames, index: int, count: int) -> np.ndarray:
    """Rows of `fr` load client `index` of `count` sends (issue 17, `--clients`): with one
    source its interleaved `share`; with several, whole sources, round robin (source s goes
    to client s % count), so each source's stream leaves one client in its own order, as a
    camera's would."""
    if fr.sources <= 1:
        return np.asarray(share(len(fr), index, count), dtype=np.int64)
    if not 0 <= index < count:
        raise ValueError(f"client index {index} is not in 0 .. {count - 1}")
    return np.flatnonzero(fr.source % count == index)


def sources_of_client(sources: int, index: int, count: int) -> list[int]:
    """The sources load client `index` of `count` sends (`portion`'s rule), [] with one
    source (it sends an interleaved share of it instead)."""
    return [s for s in range(sources) if s % count == index] if sources > 1 else []


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


def sources_of(spec: Any) -> int:
    """The run's data sources from a RunSpec or a spec.json dict (1 for runs before them)."""
    get = spec.get if isinstance(spec, dict) else lambda k, d=None: getattr(spec, k, d)
    return int(get("sources") or 1)


def from_spec(spec: Any) -> Schedule:
    return build(**params_of(spec))


def frames_of(spec: Any) -> Frames:
    """Every source's frames of a RunSpec or a spec.json dict, merged."""
    return frames(params_of(spec), sources_of(spec))
