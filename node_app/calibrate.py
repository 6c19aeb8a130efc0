"""Measure this device and write a profile the lab can emulate (`fab calibrate`, issue 14).

The lab stretches each node's compute to a profile's time; the profiles shipped in
profiles.json come from papers. This module is the other source: run on a real Pi (or a lab
host), it times node_app's own compute code on the model's stage files and writes a profile
entry in profiles.json's format, so `--profile=<name>` emulates what was measured here:

- every stage's compute, N times after a warm-up run, through Stage.__call__ (the code a
  node runs), as percentiles p10/p50/p90/p99 and a mean (`stage_ms`: the node and the
  discrete-event model draw each frame's time from these);
- every layer inside those runs (the per-layer hook Stage.__call__ offers its memory meter),
  fitted to the cost model's lines (`dense_fit`, `conv_fit`), so stages that were not
  measured (another cut, a tile) are priced from this device too;
- every stage file loaded cold (page cache dropped first, only where this process may: root
  and a writable /proc/sys/vm/drop_caches; otherwise the entry says "warm only") and warm;
- the device: CPU model, cores, clock, RAM, OS, Python, numpy and its BLAS.

Only stdlib and numpy: it is copied to the Pis with the rest of node_app.
Run as `python3 -m node_app.calibrate --stages-dir D --model-manifest D/manifest.json
--model M --repeat N --out F`.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import socket
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from node_app.profile import Cost, parse_profile
from node_app.stage import Stage, load_stage

PERCENTILES = (10, 50, 90, 99)
DROP_CACHES = Path("/proc/sys/vm/drop_caches")
WARM_ONLY = "warm only"
DROPPED = "dropped before each cold load"


class CalibrationError(RuntimeError):
    """The manifest or the stage files do not allow a calibration (nothing to measure)."""


@dataclass
class LayerClock:
    """Stands in for the memory meter Stage.__call__ reports each layer to, and notes the
    time each layer ended instead: the layer times of a run of node_app's own code."""

    stamps: list[float] = field(default_factory=list)

    def layer(self, layer: Any, x_in: np.ndarray, made: list[np.ndarray]) -> None:
        self.stamps.append(time.perf_counter())


@dataclass
class StageTimes:
    """One stage's measurements: whole-stage ms per run and each layer's ms per run."""

    stage: Stage
    total_ms: list[float]
    layer_ms: list[list[float]]  # [layer index][run]


def time_stage(stage: Stage, repeat: int, seed: int = 0) -> StageTimes:
    """Run `stage` once to warm up (allocations, BLAS threads, caches), then `repeat` times,
    timing the whole call and each layer within it."""
    x = np.random.default_rng(seed).standard_normal(stage.n_in).astype(np.float32)
    stage(x)
    totals: list[float] = []
    per_layer: list[list[float]] = [[] for _ in stage.layers]
    for _ in range(repeat):
        clock = LayerClock()
        t0 = time.perf_counter()
        stage(x, clock)  # type: ignore[arg-type]  # the meter hook, duck-typed
        t1 = time.perf_counter()
        totals.append((t1 - t0) * 1000.0)
        prev = t0
        for i, stamp in enumerate(clock.stamps):
            per_layer[i].append((stamp - prev) * 1000.0)
            prev = stamp
    return StageTimes(stage, totals, per_layer)


def summary(ms: list[float]) -> dict[str, Any]:
    """A profile's distribution entry (stage_ms[...]) from measured times: percentiles, the
    mean and how many runs they summarise."""
    arr = np.asarray(ms, dtype=np.float64)
    return {"percentiles": {str(p): round(float(np.percentile(arr, p)), 4) for p in PERCENTILES},
            "mean": round(float(arr.mean()), 4), "n": len(ms)}


def can_drop_caches(path: Path = DROP_CACHES) -> bool:
    """May this process drop the page cache (root and a writable drop_caches)?"""
    return hasattr(os, "geteuid") and os.geteuid() == 0 and os.access(path, os.W_OK)


def drop_page_cache(path: Path = DROP_CACHES) -> None:
    os.sync()
    path.write_text("1\n")  # 1: the page cache only (not dentries and inodes)


def time_loads(paths: list[Path], repeat: int, cold: bool) -> dict[str, dict[str, Any]]:
    """Load each stage file cold (after dropping the page cache, when `cold`) and then
    `repeat` times warm; ms per load, and the file's bytes."""
    out: dict[str, dict[str, Any]] = {}
    for path in paths:
        cold_ms = None
        if cold:
            drop_page_cache()
            t0 = time.perf_counter()
            load_stage(path)
            cold_ms = round((time.perf_counter() - t0) * 1000.0, 4)
        else:
            load_stage(path)  # the first load warms the cache; not counted
        warm = []
        for _ in range(max(1, repeat)):
            t0 = time.perf_counter()
            load_stage(path)
            warm.append((time.perf_counter() - t0) * 1000.0)
        out[path.stem] = {"cold": cold_ms, "warm": round(float(np.median(warm)), 4),
                          "bytes": path.stat().st_size}
    return out


def _fit(points: list[tuple[float, float]]) -> tuple[float, float]:
    """(fixed_ms, ms per unit) of the least-squares line through (units, ms); through the
    origin when there is one size only or the line would go below zero."""
    xs = np.array([p[0] for p in points], dtype=np.float64)
    ys = np.array([p[1] for p in points], dtype=np.float64)
    if len(set(xs.tolist())) >= 2:
        slope, fixed = np.polyfit(xs, ys, 1)
        if slope > 0 and fixed >= 0:
            return float(fixed), float(slope)
    return 0.0, float(ys.sum() / xs.sum()) if xs.sum() > 0 else 0.0


def cost_fits(times: list[StageTimes]) -> dict[str, Any]:
    """dense_ms (median per measured shape), dense_fit and conv_fit from the layer times,
    priced in the units node_app/profile.py prices them in (MACs; GFLOP for conv and pool)."""
    dense: dict[str, list[float]] = {}
    dense_pts: list[tuple[float, float]] = []
    map_pts: list[tuple[float, float]] = []
    for st in times:
        for cost, ms in zip(st.stage.costs(), st.layer_ms, strict=True):
            med = float(np.median(ms))
            if cost.kind == "dense":
                dense.setdefault(f"{cost.n_in}x{cost.n_out}", []).extend(ms)
                dense_pts.append((cost.macs, med))
            else:
                map_pts.append((_gflop(cost), med))
    out: dict[str, Any] = {"dense_ms": {k: round(float(np.median(v)), 4)
                                        for k, v in sorted(dense.items())}}
    if dense_pts:
        fixed, per_mac = _fit(dense_pts)
        out["dense_fit_basis"] = (f"least-squares line through the median time of "
                                  f"{len(dense_pts)} dense layer(s) against their MACs")
    else:  # no dense layer measured: a dense MAC priced at the measured conv rate
        fixed, per_gflop = _fit(map_pts)
        per_mac = 2 * per_gflop / 1e9
        out["dense_fit_basis"] = ("no dense layer in the model: a MAC priced as 2 FLOP at "
                                  "the conv rate measured here")
    out["dense_fit"] = {"fixed_ms": round(fixed, 6), "ms_per_mac": float(f"{per_mac:.6g}")}
    if map_pts:
        fixed, per_gflop = _fit(map_pts)
        out["conv_fit"] = {"ms_per_gflop": round(per_gflop, 4), "fixed_ms": round(fixed, 6)}
        out["conv_fit_basis"] = (f"least-squares line through the median time of "
                                 f"{len(map_pts)} conv/pool layer(s) against their GFLOP "
                                 "(pool: inputs read)")
    return out


def _gflop(cost: Cost) -> float:
    return (2 * cost.macs if cost.kind == "conv" else cost.elements) / 1e9


def _read(path: str) -> str:
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return ""


def _field(text: str, *names: str) -> str | None:
    """The first `name : value` line of /proc-style text for any of `names`."""
    for name in names:
        for line in text.splitlines():
            key, sep, value = line.partition(":")
            if sep and key.strip() == name and value.strip():
                return value.strip()
    return None


def blas_info() -> str | None:
    """numpy's BLAS as numpy reports it (show_config dicts on numpy >= 1.26, else the
    *_opt_info of np.__config__); None when it says nothing."""
    try:
        cfg = np.show_config(mode="dicts")  # type: ignore[call-arg]
        blas = (cfg or {}).get("Build Dependencies", {}).get("blas", {})
        if blas.get("name"):
            return " ".join(str(blas[k]) for k in ("name", "version") if blas.get(k))
    except TypeError:  # an older numpy: no mode=
        pass
    config = getattr(np, "__config__", None)
    for key in ("blas_opt_info", "openblas_info", "blas_mkl_info", "blas_info"):
        info = getattr(config, key, None) if config is not None else None
        if info:
            return f"{key}: {', '.join(info.get('libraries', [])) or 'yes'}"
    with contextlib.redirect_stdout(io.StringIO()) as text:
        with contextlib.suppress(Exception):
            np.show_config()
    for line in text.getvalue().splitlines():
        if "libraries" in line or "name" in line:
            return line.strip()
    return None


def device_info() -> dict[str, Any]:
    """What this device is: CPU model, cores, clock (MHz, if readable), RAM (MB = 2^20 B),
    OS, Python, numpy and its BLAS, and the BLAS thread settings the times were taken with."""
    cpuinfo = _read("/proc/cpuinfo")
    mem_kb = _field(_read("/proc/meminfo"), "MemTotal")
    max_khz = _read("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq").strip()
    clock = (int(max_khz) / 1000.0 if max_khz.isdigit() else
             float(_field(cpuinfo, "cpu MHz") or 0) or None)
    os_name = _field(_read("/etc/os-release").replace("=", ":"), "PRETTY_NAME")
    return {
        "cpu": (_field(cpuinfo, "Model", "model name", "Hardware", "Processor")
                or platform.processor() or platform.machine()),
        "machine": platform.machine(),
        "cores": os.cpu_count(),
        "clock_mhz": clock,
        "ram_mb": int(mem_kb.split()[0]) // 1024 if mem_kb else None,
        "os": os_name.strip('"') if os_name else platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": blas_info(),
        "threads": {k: os.environ.get(k) for k in
                    ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")},
    }


def stage_files(stages_dir: Path, manifest: Path, model: str | None) -> list[Path]:
    """The stage files of `model` (every model when None) that the manifest lists."""
    try:
        stages = json.loads(manifest.read_text())["stages"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise CalibrationError(f"model manifest {manifest}: cannot read its stages: {e}") from e
    names = sorted(n for n, e in stages.items() if model is None or e.get("model") == model)
    if not names:
        models = sorted({str(e.get("model")) for e in stages.values()})
        raise CalibrationError(f"model manifest {manifest} has no stages of model {model!r}; "
                               f"models: {', '.join(models)}")
    return [stages_dir / stages[n].get("file", f"{n}.npz") for n in names]


def calibrate(stages_dir: Path, manifest: Path, model: str | None, repeat: int,
              host: str | None = None, warm_only: bool = False) -> dict[str, Any]:
    """Measure this device on `model`'s stage files; a profile entry (profiles.json format)."""
    if repeat < 1:
        raise CalibrationError(f"--repeat must be at least 1, got {repeat}")
    paths = stage_files(stages_dir, manifest, model)
    cold = not warm_only and can_drop_caches()
    loads = time_loads(paths, repeat, cold)
    times = [time_stage(load_stage(p), repeat, seed=i) for i, p in enumerate(paths)]
    dev = device_info()
    host = host or socket.gethostname()
    at = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    clock = f" at {dev['clock_mhz']:g} MHz" if dev["clock_mhz"] else ""
    ram = f", {dev['ram_mb']} MB RAM" if dev["ram_mb"] else ""
    words = (f"{dev['cpu']} ({dev['machine']}, {dev['cores']} cores{clock}{ram}), {dev['os']}, "
             f"Python {dev['python']}, numpy {dev['numpy']}, BLAS {dev['blas'] or 'unknown'}")
    page_cache = DROPPED if cold else WARM_ONLY
    entry: dict[str, Any] = {
        "device": words,
        "basis": (f"calibrated on {host} at {at} by fab calibrate, {repeat} repeats"
                  f"{'' if model is None else f' of model {model}'}; device: {words}; "
                  f"stage loads: {page_cache}"),
        "source": "calibrated",
        "calibration": {"host": host, "at": at, "repeat": repeat, "model": model,
                        "page_cache": page_cache, "device": dev},
        **cost_fits(times),
        "stage_ms": {st.stage.name: summary(st.total_ms) for st in times},
        "layer_ms": {st.stage.name: [summary(ms) for ms in st.layer_ms] for st in times},
        "load_ms": loads,
    }
    if dev["ram_mb"]:
        entry["ram_mb"] = dev["ram_mb"]
        entry["ram_basis"] = "MemTotal of /proc/meminfo on the calibrated host"
    if cold:
        size = sum(v["bytes"] for v in loads.values())
        cold_s = sum(v["cold"] for v in loads.values()) / 1000.0
        if size and cold_s > 0:
            entry["storage_read_mb_s"] = round(size / 1e6 / cold_s, 3)
            entry["storage_basis"] = ("the stage files' bytes over their cold load time "
                                      "(page cache dropped; includes parsing the .npz)")
    parse_profile("calibrated", entry, "calibration")  # what we write must load
    return entry


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m node_app.calibrate", description=__doc__
                                .split("\n\n")[0])
    p.add_argument("--stages-dir", type=Path, required=True)
    p.add_argument("--model-manifest", type=Path,
                   help="the export's manifest.json (default: <stages-dir>/manifest.json)")
    p.add_argument("--model", default=None, help="time this model's stages (default: all)")
    p.add_argument("--repeat", type=int, default=30, help="timed runs per stage (default 30)")
    p.add_argument("--host", default=None, help="name in the basis (default: the hostname)")
    p.add_argument("--warm-only", action="store_true",
                   help="never drop the page cache (cold loads are then not measured)")
    p.add_argument("--out", type=Path, required=True, help="where to write the JSON entry")
    args = p.parse_args(argv)
    manifest = args.model_manifest or args.stages_dir / "manifest.json"
    try:
        entry = calibrate(args.stages_dir, manifest, args.model, args.repeat, args.host,
                          args.warm_only)
    except (CalibrationError, ValueError, OSError) as e:
        print(f"calibrate: {e}", file=sys.stderr)
        return 1
    args.out.write_text(json.dumps(entry, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
