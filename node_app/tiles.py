"""Regions of a feature map and how they travel back through conv and pool layers.

Fused Tile Partitioning (DeepThings, seed 002) cuts the output of the last fused layer into
a grid; a tile's input region is found by walking back through the fused layers (a conv
layer of kernel k grows a region by k // 2 per side, clipped at the map's border; a pool of
stride s multiplies it by s), so each tile's stack of layers runs on its own, overlap
included. MoDNN's biased one-dimensional partition (BODP) is the same walk over one layer
with the output cut into row bands. Both the harness (planning, bytes on the wire, the
discrete-event model) and the nodes (checking and computing a region) use this module, so
the two sides cannot disagree about a region.

Regions are half-open row and column ranges [r1, r2) x [c1, c2) of an (H, W, C) map.
Only what YOLOv2's first 16 layers need is supported: stride-1 convolutions with odd
kernels ('same' or 'valid') and max-pools whose stride equals their size; anything else is
refused by name when a stage is loaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


class Geometry(Protocol):
    """What the walk needs to know of a layer (node_app.conv.ConvLayer and PoolLayer)."""

    kind: str  # "conv" or "pool"
    in_hw: tuple[int, int]  # input rows, columns of the whole map
    size: int  # conv kernel or pool size (square)
    same: bool  # conv: 'same' padding (pads k // 2 per side); pool: ignored


@dataclass(frozen=True)
class Region:
    r1: int
    r2: int
    c1: int
    c2: int

    @property
    def rows(self) -> int:
        return self.r2 - self.r1

    @property
    def cols(self) -> int:
        return self.c2 - self.c1

    @property
    def empty(self) -> bool:
        return self.rows <= 0 or self.cols <= 0

    def header(self) -> str:
        """The wire form, `r1,r2,c1,c2` (HTTP header X-Region)."""
        return f"{self.r1},{self.r2},{self.c1},{self.c2}"

    @classmethod
    def parse(cls, text: str | None) -> Region | None:
        """A region from its wire form, or None if malformed."""
        if not text:
            return None
        parts = text.split(",")
        if len(parts) != 4 or not all(p.isascii() and p.isdigit() for p in parts):
            return None
        r1, r2, c1, c2 = (int(p) for p in parts)
        return cls(r1, r2, c1, c2)

    @classmethod
    def whole(cls, hw: tuple[int, int]) -> Region:
        return cls(0, hw[0], 0, hw[1])


@dataclass(frozen=True)
class Pads:
    top: int = 0
    bottom: int = 0
    left: int = 0
    right: int = 0


def _back(o1: int, o2: int, layer: Geometry, extent: int) -> tuple[int, int, int, int]:
    """Input range and zero padding (before, after) that give output range [o1, o2)."""
    if layer.kind == "pool":
        s = layer.size
        return o1 * s, o2 * s, 0, 0
    half = layer.size // 2 if layer.same else 0
    lo, hi = o1 - half, o2 + (layer.size - 1 - half)
    return max(lo, 0), min(hi, extent), max(-lo, 0), max(hi - extent, 0)


def input_region(layer: Geometry, out: Region) -> tuple[Region, Pads]:
    """The part of a layer's input that output region `out` needs, and the zero padding
    that completes it at the map's border."""
    h, w = layer.in_hw
    r1, r2, top, bottom = _back(out.r1, out.r2, layer, h)
    c1, c2, left, right = _back(out.c1, out.c2, layer, w)
    return Region(r1, r2, c1, c2), Pads(top, bottom, left, right)


def walk_back(layers: Sequence[Geometry], out: Region) -> list[tuple[Region, Pads]]:
    """(input region, pads) of each layer of a fused stack, first layer first, for the
    stack's output region `out`."""
    steps: list[tuple[Region, Pads]] = []
    for layer in reversed(layers):
        region, pads = input_region(layer, out)
        steps.append((region, pads))
        out = region
    return steps[::-1]


def bounds(index: int, count: int, extent: int) -> tuple[int, int]:
    """[lo, hi) of part `index` of `count` equal parts of `extent` (sizes differ by at most
    one and none is empty while count <= extent). DeepThings' own grid uses ceil-sized
    parts, which leaves the last tiles empty when the grid is close to the map's size (10
    columns in 6 parts of 2); this rule never does."""
    return index * extent // count, (index + 1) * extent // count


def grid(out_hw: tuple[int, int], n: int, m: int) -> list[Region]:
    """The N x M tiles of a fused stack's output, row-major (tile id = i * M + j)."""
    h, w = out_hw
    return [Region(*bounds(i, n, h), *bounds(j, m, w)) for i in range(n) for j in range(m)]


def checkerboard(n: int, m: int) -> list[int]:
    """Tile ids in data-reuse order (DeepThings' reuse_aware_schedule): the independent
    tiles, (i + j) even, first; then the tiles that depend on their neighbours."""
    ids = [i * m + j for i in range(n) for j in range(m)]
    return [t for t in ids if sum(divmod(t, m)) % 2 == 0] + \
           [t for t in ids if sum(divmod(t, m)) % 2 == 1]


def biased_rows(rows: int, speeds: Sequence[float]) -> list[tuple[int, int]]:
    """MoDNN's biased one-dimensional partition: `rows` output rows cut into one band per
    device in proportion to its speed (largest remainder, so bands add up exactly); a band
    may be empty when a layer has fewer rows than devices."""
    if not speeds or any(s <= 0 for s in speeds):
        raise ValueError(f"speeds must be positive, got {list(speeds)}")
    total = float(sum(speeds))
    exact = [rows * s / total for s in speeds]
    counts = [int(e) for e in exact]
    order = sorted(range(len(speeds)), key=lambda i: (counts[i] - exact[i], i))
    for i in order[: rows - sum(counts)]:
        counts[i] += 1
    out, lo = [], 0
    for c in counts:
        out.append((lo, lo + c))
        lo += c
    return out
