"""Stage files (.npz) and running their layers in numpy float32.

Layout (docs/architecture.md), i = 0, 1, ...: `kind_<i>` (0-d string: dense, conv or pool;
absent means dense, the original layout), `kernel_<i>` (dense (in, out); conv (k, k, C_in,
C_out)), `bias_<i>`, `activation_<i>` (0-d string), `padding_<i>` (conv: same or valid),
`pool_<i>` (pool: size = stride). A stage of conv layers also has `input_shape` (H, W, C):
a frame is flat float32 on the wire and the stage knows its map's shape. All shapes are
checked at load time so a mismatched export fails at startup with the file name, not on
the first frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from node_app.activations import ACTIVATIONS
from node_app.conv import ConvLayer, PoolLayer
from node_app.memory import MemoryMeter
from node_app.profile import Cost
from node_app.tiles import Region, walk_back


class StageError(ValueError):
    """A stage file is missing, malformed or does not chain with its neighbours."""


@dataclass(frozen=True)
class DenseLayer:
    kernel: np.ndarray  # (in, out) float32
    bias: np.ndarray  # (out,) float32
    activation: str

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.kernel.shape[0]), int(self.kernel.shape[1])

    @property
    def weights_bytes(self) -> int:
        return int(self.kernel.nbytes + self.bias.nbytes)

    def cost(self) -> Cost:
        return Cost.dense(*self.shape)

    def __call__(self, x: np.ndarray, made: list[np.ndarray] | None = None) -> np.ndarray:
        y = x @ self.kernel + self.bias
        out = ACTIVATIONS[self.activation](y)
        if made is not None:
            made += [y, out]
        return out


AnyLayer = DenseLayer | ConvLayer | PoolLayer


def map_cost(layer: Any, out: Region) -> Cost:
    """The cost of computing output region `out` of a conv or pool layer (a whole map, a
    tile or a row band): conv by its multiply-accumulates, pool by the inputs it reads.
    `layer` is a ConvLayer or PoolLayer, or anything with their `kind`, `size`, `macs()`
    and `in_shape` (the harness prices its layer table the same way)."""
    if layer.kind == "conv":
        return Cost("conv", macs=layer.macs(out))
    return Cost("pool", elements=out.rows * out.cols * layer.size ** 2 * layer.in_shape[2])


def stack_costs(layers: Sequence[Any], out: Region) -> list[Cost]:
    """The cost of each layer of a fused stack that computes output region `out` (an FTP
    tile): each layer priced on the region of its own output the walk back needs, so the
    overlap a tile recomputes is paid for."""
    regions = [region for region, _pads in walk_back(layers, out)[1:]] + [out]
    return [map_cost(layer, r) for layer, r in zip(layers, regions, strict=True)]


@dataclass(frozen=True)
class Stage:
    name: str
    layers: tuple[AnyLayer, ...]
    input_shape: tuple[int, ...] = ()  # (H, W, C) for a stage of conv/pool layers

    @property
    def n_in(self) -> int:
        first = self.layers[0]
        return first.shape[0] if isinstance(first, DenseLayer) else int(np.prod(first.in_shape))

    @property
    def n_out(self) -> int:
        last = self.layers[-1]
        return last.shape[1] if isinstance(last, DenseLayer) else int(np.prod(last.out_shape))

    def costs(self) -> list[Cost]:
        return [layer.cost() if isinstance(layer, DenseLayer)
                else map_cost(layer, Region.whole(layer.out_shape[:2]))
                for layer in self.layers]

    def __call__(self, x: np.ndarray, meter: MemoryMeter | None = None) -> np.ndarray:
        """One frame through the layers; `meter` records each layer's buffers."""
        if self.input_shape:
            x = x.reshape(self.input_shape)
        for layer in self.layers:
            if meter is None:
                x = layer(x)
                continue
            made: list[np.ndarray] = []
            y = layer(x, made)
            meter.layer(layer, x, made)
            x = y
        return x


def _text(arrays: dict[str, np.ndarray], key: str, default: str) -> str:
    arr = arrays.get(key, np.array(default))
    return str(arr.item() if arr.ndim == 0 else arr)


def _dense(path: Path, arrays: dict[str, np.ndarray], i: int, prev: AnyLayer | None
           ) -> DenseLayer:
    kernel = np.ascontiguousarray(arrays[f"kernel_{i}"], dtype=np.float32)
    bias = np.ascontiguousarray(arrays[f"bias_{i}"], dtype=np.float32)
    if kernel.ndim != 2 or bias.shape != (kernel.shape[1],):
        raise StageError(
            f"stage file {path}: layer {i} kernel {kernel.shape} / bias {bias.shape} "
            "do not form a dense layer (kernel (in, out), bias (out,))"
        )
    if isinstance(prev, DenseLayer) and prev.shape[1] != kernel.shape[0]:
        raise StageError(
            f"stage file {path}: layer {i} expects {kernel.shape[0]} inputs but layer "
            f"{i - 1} gives {prev.shape[1]}"
        )
    if prev is not None and not isinstance(prev, DenseLayer):
        raise StageError(f"stage file {path}: layer {i} is dense after a {prev.kind} layer "
                         "(flatten is not supported)")
    return DenseLayer(kernel, bias, _text(arrays, f"activation_{i}", "linear"))


def _map_layer(path: Path, arrays: dict[str, np.ndarray], i: int, kind: str,
               shape: tuple[int, int, int]) -> ConvLayer | PoolLayer:
    """A conv or pool layer whose input map has `shape` (H, W, C)."""
    if kind == "pool":
        size = int(np.asarray(arrays.get(f"pool_{i}", 0)))
        if size < 1 or shape[0] < size or shape[1] < size:
            raise StageError(f"stage file {path}: layer {i} pool size {size} does not fit "
                             f"its input {shape}")
        return PoolLayer(size, shape[:2], shape[2])
    kernel = np.ascontiguousarray(arrays[f"kernel_{i}"], dtype=np.float32)
    bias = np.ascontiguousarray(arrays[f"bias_{i}"], dtype=np.float32)
    padding = _text(arrays, f"padding_{i}", "same")
    if (kernel.ndim != 4 or kernel.shape[0] != kernel.shape[1] or kernel.shape[0] % 2 == 0
            or kernel.shape[2] != shape[2] or bias.shape != (kernel.shape[3],)):
        raise StageError(
            f"stage file {path}: layer {i} kernel {kernel.shape} / bias {bias.shape} is not a "
            f"conv layer with an odd square kernel over {shape[2]} input channels"
        )
    if padding not in ("same", "valid"):
        raise StageError(f"stage file {path}: padding_{i} is {padding!r}; known: same, valid")
    return ConvLayer(kernel, bias, _text(arrays, f"activation_{i}", "linear"), shape[:2],
                     padding == "same")


def load_stage(path: str | Path) -> Stage:
    """Load one .npz stage; raises StageError naming the file and the bad array."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError) as e:
        raise StageError(f"stage file {path}: cannot load: {e}") from e
    input_shape = tuple(int(v) for v in arrays.get("input_shape", np.zeros(0, "i8")))
    shape = input_shape
    layers: list[AnyLayer] = []
    i = 0
    while f"kernel_{i}" in arrays or f"kind_{i}" in arrays:
        kind = _text(arrays, f"kind_{i}", "dense")
        if kind != "pool" and f"bias_{i}" not in arrays:
            raise StageError(f"stage file {path}: kernel_{i} has no bias_{i}")
        layer: AnyLayer
        if kind == "dense":
            layer = _dense(path, arrays, i, layers[-1] if layers else None)
        elif kind in ("conv", "pool"):
            if len(shape) != 3:
                raise StageError(f"stage file {path}: layer {i} is {kind} but the stage has "
                                 f"no 3-d input_shape (got {input_shape})")
            layer = _map_layer(path, arrays, i, kind, shape)  # type: ignore[arg-type]
            shape = layer.out_shape
        else:
            raise StageError(f"stage file {path}: kind_{i} is {kind!r}; known: dense, conv, "
                             "pool")
        if layer.activation not in ACTIVATIONS:
            raise StageError(f"stage file {path}: activation_{i} is {layer.activation!r}; "
                             f"known: {', '.join(ACTIVATIONS)}")
        layers.append(layer)
        i += 1
    if not layers:
        raise StageError(f"stage file {path}: no kernel_0 found (keys: {sorted(arrays)})")
    return Stage(name=path.stem, layers=tuple(layers), input_shape=input_shape)


@dataclass(frozen=True)
class Pipeline:
    """The stages a node runs, in order."""

    stages: tuple[Stage, ...]

    @property
    def costs(self) -> list[Cost]:
        """What each layer of one whole frame costs, for the device profile to price."""
        return [c for stage in self.stages for c in stage.costs()]

    @property
    def weights_bytes(self) -> int:
        """Bytes of the loaded weight arrays (kernels + biases): the node's model memory."""
        return sum(layer.weights_bytes for stage in self.stages for layer in stage.layers)

    def __call__(self, x: np.ndarray, meter: MemoryMeter | None = None) -> np.ndarray:
        for stage in self.stages:
            x = stage(x, meter)
        return np.asarray(x, dtype=np.float32)


def block_bounds(index: int, count: int, width: int) -> tuple[int, int]:
    """Columns [lo, hi) of neuron block `index` of `count` over `width` outputs.

    The one split rule shared by model-parallel slices (harness/model.py writes the same
    bounds into L2_s<i>of<K>.npz) and task-sharing blocks, so partial outputs line up.
    """
    return index * width // count, (index + 1) * width // count


def load_pipeline(stages_dir: str | Path, names: Sequence[str], input_size: int) -> Pipeline:
    """Load `<stages_dir>/<name>.npz` for each name and check they chain from input_size."""
    stages = tuple(load_stage(Path(stages_dir) / f"{name}.npz") for name in names)
    width = input_size
    for stage in stages:
        if stage.n_in != width:
            raise StageError(
                f"stage {stage.name} expects {stage.n_in} inputs but receives {width} "
                "(run.json input_size or the previous stage's output)"
            )
        width = stage.n_out
    return Pipeline(stages)
