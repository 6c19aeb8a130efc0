"""Data reuse between FTP tiles (DeepThings' `wst-s`, seed 002): who computes what, who
gives which rows and columns of which layer to whom.

Without reuse every tile walks back through the fused layers on its own (node_app/tiles.py
walk_back), so neighbouring tiles compute the same rows and columns of every intermediate
layer twice (the overlap). DeepThings' reuse_aware_schedule colours the grid like a
checkerboard: an *independent* tile ((i + j) even) is computed whole, as without reuse, and
hands the gateway the parts of its intermediate outputs that its neighbours would otherwise
recompute; a *dependent* tile ((i + j) odd: all four neighbours are independent) computes
per layer only what none of its neighbours has, and stitches the rest in from them
(ftp.c remove_and_record_overlapped_region_at_output).

Our geometry, walked from the last fused layer back, for a dependent tile:

- `needed[L-1]` is the tile; `computed[l]` is `needed[l]` with each side trimmed where the
  neighbour on that side holds the rows/columns (the neighbour's whole region at layer l);
  `needed[l-1]` is the input `computed[l]` needs (tiles.input_region). Once a layer has
  nothing left to compute, the layers before it have nothing either.
- What is not computed is stitched in as strips: the top strip (rows above `computed`,
  corners included) from the tile above, the bottom strip from the tile below, the left and
  right strips (the computed rows only) from the tiles beside. So each cell comes from
  exactly one place, nothing is sent twice, and a strip must lie inside its giver's region:
  ReusePlan refuses a geometry where it does not (it never happens for stride-1 convs and
  pools whose stride is their size; tests/test_wsts_node.py checks it by brute force).

DeepThings sends both corner copies (the strips of two neighbours overlap there); we send
each cell once. Both the nodes (what to send, what to fetch, how to stitch) and the harness
(bytes and FLOPs per frame) use this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from node_app.tiles import Geometry, Pads, Region, grid, input_region, walk_back

EMPTY = Region(0, 0, 0, 0)


@dataclass(frozen=True)
class Piece:
    """Rows/columns `region` (coordinates of the whole map) of fused layer `layer`'s output,
    computed by independent tile `src` and reused by dependent tile `dst`."""

    layer: int
    src: int
    dst: int
    region: Region


@dataclass(frozen=True)
class Reduced:
    """How a dependent tile runs with reuse: per fused layer, the output region it must hold
    (`needed`), the part of it it computes (`computed`: empty for the first layers when
    its neighbours hold all it needs there) with its `pads`; the region of the stack's input
    it needs (`input`: empty when the first layer computes nothing), and the pieces it
    stitches in, in wire order (by giver, then layer)."""

    needed: tuple[Region, ...]
    computed: tuple[Region, ...]
    pads: tuple[Pads, ...]
    input: Region
    pieces: tuple[Piece, ...]


def intersect(a: Region, b: Region) -> Region:
    r = Region(max(a.r1, b.r1), min(a.r2, b.r2), max(a.c1, b.c1), min(a.c2, b.c2))
    return EMPTY if r.empty else r


def contains(outer: Region, inner: Region) -> bool:
    return inner.empty or (outer.r1 <= inner.r1 and inner.r2 <= outer.r2
                           and outer.c1 <= inner.c1 and inner.c2 <= outer.c2)


def is_dependent(tile: int, m: int) -> bool:
    """DeepThings' schedule 1: (i + j) odd; its four neighbours are all independent."""
    return sum(divmod(tile, m)) % 2 == 1


def neighbours(tile: int, n: int, m: int) -> dict[str, int]:
    """The tiles above, below, left and right of `tile` that exist, by side."""
    i, j = divmod(tile, m)
    out = {}
    if i > 0:
        out["up"] = tile - m
    if i + 1 < n:
        out["down"] = tile + m
    if j > 0:
        out["left"] = tile - 1
    if j + 1 < m:
        out["right"] = tile + 1
    return out


@dataclass(frozen=True)
class ReusePlan:
    """The reuse geometry of an N x M grid over a fused stack (layers first to last)."""

    n: int
    m: int
    tiles: tuple[Region, ...]
    full: tuple[tuple[Region, ...], ...]  # per tile, per layer: output region without reuse
    full_pads: tuple[tuple[Pads, ...], ...]
    reduced: dict[int, Reduced]  # the dependent tiles

    @classmethod
    def of(cls, layers: Sequence[Geometry], n: int, m: int) -> ReusePlan:
        """Raises ValueError when a strip would not lie inside its giver's region."""
        out_hw = _out_hw(layers[-1])
        tiles = grid(out_hw, n, m)
        full, full_pads = [], []
        for t in tiles:
            steps = walk_back(layers, t)
            full.append(tuple([r for r, _p in steps[1:]] + [t]))
            full_pads.append(tuple(p for _r, p in steps))
        reduced = {t: _reduce(layers, t, n, m, tiles[t], full)
                   for t in range(n * m) if is_dependent(t, m)}
        return cls(n, m, tuple(tiles), tuple(full), tuple(full_pads), reduced)

    def dependent(self, tile: int) -> bool:
        return tile in self.reduced

    def gives(self, src: int) -> list[Piece]:
        """What independent tile `src` sends the gateway with its result, in wire order
        (by dependent tile, then layer)."""
        return sorted((p for r in self.reduced.values() for p in r.pieces if p.src == src),
                      key=lambda p: (p.dst, p.layer))


def _out_hw(layer: Geometry) -> tuple[int, int]:
    h, w = layer.in_hw
    if layer.kind == "pool":
        return h // layer.size, w // layer.size
    shrink = 0 if layer.same else layer.size - 1
    return h - shrink, w - shrink


def _reduce(layers: Sequence[Geometry], tile: int, n: int, m: int, out: Region,
            full: list[tuple[Region, ...]]) -> Reduced:
    side = neighbours(tile, n, m)
    count = len(layers)
    needed: list[Region] = [EMPTY] * count
    computed: list[Region] = [EMPTY] * count
    pads: list[Pads] = [Pads()] * count
    pieces: list[Piece] = []
    need = out
    first_input = EMPTY
    for layer in range(count - 1, -1, -1):
        needed[layer] = need
        if need.empty:
            continue
        have = {s: full[t][layer] for s, t in side.items()}
        r1 = max(need.r1, have["up"].r2) if "up" in have else need.r1
        r2 = min(need.r2, have["down"].r1) if "down" in have else need.r2
        c1 = max(need.c1, have["left"].c2) if "left" in have else need.c1
        c2 = min(need.c2, have["right"].c1) if "right" in have else need.c2
        r2, c2 = max(r1, r2), max(c1, c2)  # nothing left: an empty region where it ends
        comp = Region(r1, r2, c1, c2)
        strips = {"up": Region(need.r1, r1, need.c1, need.c2),
                  "down": Region(r2, need.r2, need.c1, need.c2),
                  "left": Region(r1, r2, need.c1, c1),
                  "right": Region(r1, r2, c2, need.c2)}
        for s, strip in strips.items():
            if strip.empty:
                continue
            if s not in side or not contains(have[s], strip):
                raise ValueError(f"reuse: tile {tile} layer {layer}: strip {s} {strip} is "
                                 f"not inside its neighbour's region {have.get(s)}")
            pieces.append(Piece(layer, side[s], tile, strip))
        if comp.empty:
            need = EMPTY
            continue
        computed[layer] = comp
        region, pads[layer] = input_region(layers[layer], comp)
        need = region
        if layer == 0:
            first_input = region
    pieces.sort(key=lambda p: (p.src, p.layer))
    return Reduced(tuple(needed), tuple(computed), tuple(pads), first_input, tuple(pieces))


# computing with it (the nodes) ------------------------------------------------------------

def piece_bytes(piece: Piece, channels: Sequence[int]) -> int:
    """float32 bytes of a piece; channels[l] is fused layer l's output channels."""
    return piece.region.rows * piece.region.cols * channels[piece.layer] * 4


def cut(pieces: Sequence[Piece], outs: Sequence[np.ndarray],
        regions: Sequence[Region]) -> bytes:
    """The bytes of `pieces` (their wire order) out of a tile's layer outputs `outs`, each
    holding its layer's `regions[l]` of the map."""
    parts = []
    for p in pieces:
        at, r = regions[p.layer], p.region
        parts.append(np.ascontiguousarray(
            outs[p.layer][r.r1 - at.r1:r.r2 - at.r1, r.c1 - at.c1:r.c2 - at.c1], "<f4"))
    return b"".join(a.tobytes() for a in parts)


def run_reduced(layers: Sequence[Any], red: Reduced, x: np.ndarray, reused: bytes
                ) -> np.ndarray:
    """A dependent tile's output: per layer, compute `red.computed` from the previous
    layer's `needed` map and stitch the reused pieces (`reused`, their wire order) around
    it. `x` is the stack's input over `red.input`. Raises ValueError on a wrong size."""
    channels = [_channels(la) for la in layers]
    if len(reused) != sum(piece_bytes(p, channels) for p in red.pieces):
        raise ValueError(f"reused data is {len(reused)} bytes, the pieces need "
                         f"{sum(piece_bytes(p, channels) for p in red.pieces)}")
    by_layer: dict[int, list[tuple[Region, np.ndarray]]] = {}
    at = 0
    for p in red.pieces:
        size = piece_bytes(p, channels)
        arr = np.frombuffer(reused, "<f4", size // 4, at).reshape(
            p.region.rows, p.region.cols, channels[p.layer])
        by_layer.setdefault(p.layer, []).append((p.region, arr))
        at += size
    if red.input.empty:
        x = np.zeros((0, 0, layers[0].in_shape[2]), "<f4")
    elif x.shape != (red.input.rows, red.input.cols, layers[0].in_shape[2]):
        raise ValueError(f"reduced input has shape {x.shape}, region {red.input} needs "
                         f"{(red.input.rows, red.input.cols)}")
    for layer, (need, comp, pads) in enumerate(zip(red.needed, red.computed, red.pads,
                                                   strict=True)):
        y = np.empty((need.rows, need.cols, channels[layer]), "<f4")
        if not comp.empty:
            y[comp.r1 - need.r1:comp.r2 - need.r1, comp.c1 - need.c1:comp.c2 - need.c1] = \
                layers[layer].forward(x, pads)
        for r, arr in by_layer.get(layer, []):
            y[r.r1 - need.r1:r.r2 - need.r1, r.c1 - need.c1:r.c2 - need.c1] = arr
        x = y
    return x


def _channels(layer: Any) -> int:
    """Output channels of a ConvLayer/PoolLayer (out_shape) or a harness MapShape (c_out)."""
    c = getattr(layer, "c_out", None)
    return int(c) if c is not None else int(layer.out_shape[2])
