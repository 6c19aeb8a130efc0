"""Convolution and max-pool layers in plain numpy, on whole maps or on regions of them.

A Pi runs these with numpy alone (no new dependency): a convolution is im2col (a strided
view of the padded input, copied once into a matrix) times the reshaped kernel, which is
one BLAS call per layer; a 1x1 convolution is the matrix product alone. Maps are (H, W, C)
float32, kernels (kh, kw, C_in, C_out) as Keras stores them.

`forward(x, pads)` computes the layer's output for an input region plus the zero padding
that node_app.tiles.input_region says completes it, so the same code runs a whole frame
(pads of 'same' on every side), an FTP tile (pads only where the tile touches the border)
and a BODP row band.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from node_app.activations import ACTIVATIONS
from node_app.memory import MemoryMeter
from node_app.tiles import Pads, Region, input_region, walk_back


@dataclass(frozen=True)
class ConvLayer:
    """Stride-1 convolution with an odd square kernel, 'same' or 'valid' padding."""

    kernel: np.ndarray  # (k, k, C_in, C_out) float32
    bias: np.ndarray  # (C_out,) float32
    activation: str
    in_hw: tuple[int, int]
    same: bool
    kind: str = "conv"

    @property
    def size(self) -> int:
        return int(self.kernel.shape[0])

    @property
    def in_shape(self) -> tuple[int, int, int]:
        return (*self.in_hw, int(self.kernel.shape[2]))

    @property
    def out_shape(self) -> tuple[int, int, int]:
        h, w = self.in_hw
        shrink = 0 if self.same else self.size - 1
        return h - shrink, w - shrink, int(self.kernel.shape[3])

    @property
    def weights_bytes(self) -> int:
        return int(self.kernel.nbytes + self.bias.nbytes)

    def macs(self, out: Region) -> int:
        k, c_in, c_out = self.size, self.kernel.shape[2], self.kernel.shape[3]
        return out.rows * out.cols * k * k * int(c_in) * int(c_out)

    def forward(self, x: np.ndarray, pads: Pads, made: list[np.ndarray] | None = None
                ) -> np.ndarray:
        """`made`: if given, gets every array this call makes (node_app/memory.py)."""
        keep = made.append if made is not None else _discard
        k = self.size
        if any((pads.top, pads.bottom, pads.left, pads.right)):
            x = np.pad(x, ((pads.top, pads.bottom), (pads.left, pads.right), (0, 0)))
            keep(x)
        c_in, c_out = self.kernel.shape[2], self.kernel.shape[3]
        if k == 1:
            cols = x.reshape(-1, c_in)
            rows_out, cols_out = x.shape[0], x.shape[1]
        else:
            rows_out, cols_out = x.shape[0] - k + 1, x.shape[1] - k + 1
            # (rows, cols, C, k, k) -> (rows, cols, k, k, C): the kernel's own order
            view = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(0, 1))
            cols = view.transpose(0, 1, 3, 4, 2).reshape(rows_out * cols_out, k * k * c_in)
        keep(cols)
        y = cols @ self.kernel.reshape(k * k * c_in, c_out) + self.bias
        keep(y)
        out = ACTIVATIONS[self.activation](y).reshape(rows_out, cols_out, c_out)
        keep(out)
        return out

    def __call__(self, x: np.ndarray, made: list[np.ndarray] | None = None) -> np.ndarray:
        out = Region.whole(self.out_shape[:2])
        _region, pads = input_region(self, out)
        return self.forward(x, pads, made)


@dataclass(frozen=True)
class PoolLayer:
    """Max-pool whose stride equals its size ('valid': a ragged last row/column is cut)."""

    size: int
    in_hw: tuple[int, int]
    channels: int
    kind: str = "pool"
    same: bool = False
    activation: str = "linear"
    weights_bytes: int = 0

    @property
    def in_shape(self) -> tuple[int, int, int]:
        return (*self.in_hw, self.channels)

    @property
    def out_shape(self) -> tuple[int, int, int]:
        return self.in_hw[0] // self.size, self.in_hw[1] // self.size, self.channels

    def forward(self, x: np.ndarray, pads: Pads, made: list[np.ndarray] | None = None
                ) -> np.ndarray:
        s = self.size
        h, w = x.shape[0] // s, x.shape[1] // s
        x = x[: h * s, : w * s].reshape(h, s, w, s, x.shape[2])
        out = x.max(axis=(1, 3))
        if made is not None:
            made += [x, out]
        return out

    def __call__(self, x: np.ndarray, made: list[np.ndarray] | None = None) -> np.ndarray:
        return self.forward(x, Pads(), made)


def _discard(_a: np.ndarray) -> None:
    """What a layer does with its arrays when nobody measures them."""


def run_region(layers: Sequence[ConvLayer | PoolLayer], x: np.ndarray, out: Region,
               meter: MemoryMeter | None = None) -> np.ndarray:
    """Output region `out` of a fused stack of layers, from the input region that
    node_app.tiles.walk_back gives for it (an FTP tile's stack, or a BODP band of one layer);
    raises ValueError when `x` is not that region's shape. `meter` records each layer's
    buffers (node_app/memory.py). Only the current layer's output is kept alive."""
    return run_layers(layers, x, out, meter, keep=False)[-1]


def run_layers(layers: Sequence[ConvLayer | PoolLayer], x: np.ndarray, out: Region,
               meter: MemoryMeter | None = None, keep: bool = True) -> list[np.ndarray]:
    """As run_region, but every layer's output (its walked-back region), first layer first:
    FTP with data reuse hands parts of the intermediate ones to neighbouring tiles. With
    keep=False only the last one is returned (and the others freed as it goes)."""
    steps = walk_back(layers, out)
    first, _pads = steps[0]
    want = (first.rows, first.cols, layers[0].in_shape[2])
    if x.shape != want:
        raise ValueError(f"region input has shape {x.shape}, region {first} needs {want}")
    outs: list[np.ndarray] = []
    for layer, (_region, pads) in zip(layers, steps, strict=True):
        if meter is None:
            y = layer.forward(x, pads)
        else:
            made: list[np.ndarray] = []
            y = layer.forward(x, pads, made)
            meter.layer(layer, x, made)
        x = y
        if keep:
            outs.append(x)
    return outs if keep else [x]
