"""DeepThings' reported numbers (seed 002: ../shared/seeds/002_c74a58487069c681.txt), each
with the seed's own wording, and our ratio for each from a set of runs.

The seed's numbers are copied exactly as the seed states them (`reported`) with the line
they come from (`wording`); `ours` works the same ratio out of our runs' summaries, or
says in words which run is missing or what is not built. DeepThings ran YOLOv2's first 16
layers at 608 x 608 on up to 6 Raspberry Pi 3B over WiFi; our runs say their own model,
profile and network, so a ratio beside the seed's is a direction to check, not a match.

Runs are matched by their spec (strategy, k, grid, sched, sources; one source unless the
number is about several: DeepThings' single-source figures are single-source runs of ours
too): the single-device reference
for memory and speedup is an ftp run with grid 1x1 and k 1 (one device, the whole frame,
the unpartitioned model), the `fab experiment --strategy=ftp --grid=1x1 --devices=1` run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

Run = dict[str, Any]  # a summary.json merged with its run's spec.json

SEED = "seed 002 (DeepThings, Zhao, Mirzazad, Gerstlauer)"


@dataclass(frozen=True)
class Reported:
    """One number DeepThings reports: what it compares, the number as the seed writes it,
    the seed's line, and how to work ours out of a set of runs."""

    what: str
    reported: str
    wording: str
    ours: Callable[[Sequence[Run]], str]


def source_count(run: Run) -> int:
    """A run's data sources: spec.json's number, or the length of summary.json's `sources`
    list when the summary was merged over the spec; 1 for runs without either."""
    n = run.get("sources")
    return len(n) if isinstance(n, list) else int(n or 1)


def _find(runs: Sequence[Run], strategy: str, k: int | None = None, grid: str | None = None,
          sched: str | None = None, sources: int = 1) -> Run | None:
    for r in runs:
        if r.get("strategy") != strategy or source_count(r) != sources:
            continue
        if k is not None and int(r.get("k") or 0) != k:
            continue
        if grid is not None and str(r.get("grid")) != grid:
            continue
        if sched is not None and str(r.get("sched") or "wsh") != sched:
            continue
        return r
    return None


def _get(run: Run | None, dotted: str) -> float | None:
    v: Any = run
    for part in dotted.split("."):
        v = v.get(part) if isinstance(v, dict) else None
    return float(v) if isinstance(v, (int, float)) else None


def _single(runs: Sequence[Run]) -> Run | None:
    return _find(runs, "ftp", k=1, grid="1x1")


MEMORY = "memory.peak_footprint_bytes_per_device_max"
NO_SINGLE = "no single-device run (ftp --grid=1x1 --devices=1) to compare with"


def _memory_cut(strategy: str, k: int | None, grid: str | None) -> Callable[[Sequence[Run]], str]:
    def ours(runs: Sequence[Run]) -> str:
        whole = _get(_single(runs), MEMORY)
        run = _find(runs, strategy, k=k, grid=grid)
        part = _get(run, MEMORY)
        if whole is None:
            return NO_SINGLE
        if part is None:
            return f"no {strategy} run{f' with grid {grid}' if grid else ''}" \
                   f"{f' with k {k}' if k else ''} with measured memory"
        return f"{(part / whole - 1) * 100:+.0f} % (k {run.get('k') if run else '?'})"
    return ours


def _speedup(strategy: str, k: int) -> Callable[[Sequence[Run]], str]:
    def ours(runs: Sequence[Run]) -> str:
        one = _get(_single(runs), "latency_ms.p50")
        run = _find(runs, strategy, k=k)
        lat = _get(run, "latency_ms.p50")
        if one is None:
            return NO_SINGLE
        if lat is None:
            return f"no {strategy} run with k {k}"
        label = f"{strategy} {run.get('sched') or ''}".strip() if run else strategy
        return f"{one / lat:.1f}x ({label}, {lat / 1000:.2f} s)"
    return ours


def _latencies(runs: Sequence[Run]) -> str:
    ftp, bodp = _find(runs, "ftp", k=6), _find(runs, "bodp", k=6)
    parts = [f"{name} {_get(r, 'latency_ms.p50') / 1000:.2f} s"  # type: ignore[operator]
             for name, r in (("ftp", ftp), ("bodp", bodp))
             if _get(r, "latency_ms.p50") is not None]
    return " vs ".join(parts) if parts else "no ftp or bodp run with k 6"


def _wire(runs: Sequence[Run]) -> str:
    """WST-S's bytes on the wire per frame against WSH's (same grid where there is one)."""
    wsts = _find(runs, "ftp", sched="wst-s")
    grid = str(wsts.get("grid")) if wsts else None
    wsh = _find(runs, "ftp", grid=grid, sched="wsh") or _find(runs, "ftp", sched="wsh")
    a, b = _get(wsts, "wire.bytes_per_frame"), _get(wsh, "wire.bytes_per_frame")
    if a is None or b is None:
        return "not measured: needs an ftp wst-s and an ftp wsh run"
    return f"{(a / b - 1) * 100:+.0f} % (grid {grid}, k {wsts.get('k') if wsts else '?'})"


def _reuse(runs: Sequence[Run]) -> str:
    """WST-S's single-source latency (p50) against WST's at the same K and grid."""
    wsts = _find(runs, "ftp", sched="wst-s")
    if wsts is None:
        return "not measured: needs an ftp wst-s and an ftp wst run"
    wst = _find(runs, "ftp", k=int(wsts.get("k") or 0), grid=str(wsts.get("grid")),
                sched="wst")
    a, b = _get(wsts, "latency_ms.p50"), _get(wst, "latency_ms.p50")
    if a is None or b is None:
        return (f"not measured: needs an ftp wst run with k {wsts.get('k')} and grid "
                f"{wsts.get('grid')} beside the wst-s one")
    return f"{(a / b - 1) * 100:+.0f} % (grid {wsts.get('grid')}, k {wsts.get('k')})"


# DeepThings' multi-source numbers as numbers, for the sweep's plots beside ours (the rows
# below quote the seed's words for them).
SOURCES_REPORTED = 6
THROUGHPUT_FPS = {"ftp": 0.29, "bodp": 0.12}  # FTP-WST-S, MoDNN, 6 data sources
MAX_LATENCY_RATIO = 3.1  # FTP-WST-S, max latency at 6 sources over at 1


def _at_six(runs: Sequence[Run], strategy: str) -> Run | None:
    """The run with DeepThings' 6 sources (FTP: wst-s preferred, the paper's scheduler)."""
    return (_find(runs, strategy, sched="wst-s", sources=SOURCES_REPORTED) if strategy == "ftp"
            else None) or _find(runs, strategy, sources=SOURCES_REPORTED)


def _label(run: Run) -> str:
    return " ".join(str(v) for v in (run.get("strategy"), run.get("grid") if
                                     run.get("strategy") == "ftp" else None,
                                     run.get("sched") if run.get("strategy") == "ftp" else None,
                                     f"k {run.get('k')}") if v)


def _throughput(runs: Sequence[Run]) -> str:
    """Total delivered fps over 6 sources, FTP against BODP."""
    parts = [f"{_get(r, 'delivered_fps'):.2f} FPS ({_label(r)})"  # type: ignore[operator]
             for r in (_at_six(runs, "ftp"), _at_six(runs, "bodp"))
             if r is not None and _get(r, "delivered_fps") is not None]
    return " vs ".join(parts) if parts else (
        f"not measured: needs ftp and bodp runs with --sources={SOURCES_REPORTED}")


def _source_latency(run: Run | None) -> float | None:
    """The worst source's median latency; one source's own p50."""
    return _get(run, "max_source_latency_ms") or _get(run, "latency_ms.p50")


def _max_latency(runs: Sequence[Run]) -> str:
    """FTP's worst-source latency at 6 sources over the same line's at 1 source."""
    six = _at_six(runs, "ftp")
    if six is None:
        return f"not measured: needs an ftp run with --sources={SOURCES_REPORTED}"
    one = _find(runs, "ftp", k=int(six.get("k") or 0), grid=str(six.get("grid")),
                sched=str(six.get("sched") or "wsh"))
    a, b = _source_latency(six), _source_latency(one)
    if a is None or b is None:
        return f"not measured: needs the same ftp line ({_label(six)}) with one source"
    return f"{a / b:.1f}x ({_label(six)}, {b / 1000:.2f} s -> {a / 1000:.2f} s)"


REPORTED: tuple[Reported, ...] = (
    Reported("max memory per device, FTP 3x3", "-58 %",
             "Maximum memory usage reduction: 61% in 4-way BODP, 58% and 68% for FTP 3x3 and "
             "5x5", _memory_cut("ftp", None, "3x3")),
    Reported("max memory per device, FTP 5x5", "-68 %",
             "Maximum memory usage reduction: 61% in 4-way BODP, 58% and 68% for FTP 3x3 and "
             "5x5", _memory_cut("ftp", None, "5x5")),
    Reported("max memory per device, 4-way BODP", "-61 %",
             "Maximum memory usage reduction: 61% in 4-way BODP, 58% and 68% for FTP 3x3 and "
             "5x5", _memory_cut("bodp", 4, None)),
    Reported("speedup, FTP at 6 devices", "3.5x",
             "6.8s with 3.5x speedup in FTP-WST-S, 6-device network", _speedup("ftp", 6)),
    Reported("speedup, BODP (MoDNN) at 6 devices", "2.1x",
             "8.1s with 2.1x speedup MoDNN, 6-device network", _speedup("bodp", 6)),
    Reported("single-source latency at 6 devices, FTP vs BODP", "6.8 s vs 8.1 s",
             "6.8s with 3.5x speedup in FTP-WST-S, 6-device network; 8.1s with 2.1x speedup "
             "MoDNN, 6-device network", _latencies),
    Reported("latency saving from data reuse (WST-S vs WST)", "-27 %",
             "Data-reuse aware scheduling reduces 27% latency", _reuse),
    Reported("communication, WST-S vs WSH", "-52 %",
             "Work stealing with scheduling (WST-S): An average of 52% reduction comparing "
             "with WSH", _wire),
    Reported("throughput with 6 data sources, FTP vs BODP", "0.29 vs 0.12 FPS",
             "Throughput: MoDNN: 0.12 FPS with 6 data sources; FTP-WST-S: 0.29 FPS with 6 "
             "data sources", _throughput),
    Reported("max latency from 1 to 6 data sources, FTP", "3.1x",
             "Maximum latency: FTP-WST-S: 3.1x with data source(s) increasing from 1 to 6",
             _max_latency),
)


def applies(runs: Sequence[Run]) -> bool:
    """Has this set of runs any ftp or bodp run (the runs DeepThings' numbers are about)?"""
    return any(r.get("strategy") in ("ftp", "bodp") for r in runs)


def rows(runs: Sequence[Run]) -> list[list[str]]:
    """[what, ours, DeepThings reported, the seed's wording] per reported number."""
    return [[r.what, r.ours(runs), r.reported, r.wording] for r in REPORTED]
