"""Stage files (.npz) and running their dense layers in numpy float32.

Layout (docs/architecture.md): kernel_<i> (in, out), bias_<i> (out,), activation_<i> (0-d
string), i = 0, 1, ... All shapes are checked at load time so a mismatched export fails at
startup with the file name, not on the first frame.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class StageError(ValueError):
    """A stage file is missing, malformed or does not chain with its neighbours."""


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, np.float32(0.0))


def _linear(x: np.ndarray) -> np.ndarray:
    return x


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


# The contract names relu and linear; softmax is accepted because Keras output layers use it.
ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "relu": _relu,
    "linear": _linear,
    "softmax": _softmax,
}


@dataclass(frozen=True)
class DenseLayer:
    kernel: np.ndarray  # (in, out) float32
    bias: np.ndarray  # (out,) float32
    activation: str

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.kernel.shape[0]), int(self.kernel.shape[1])

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return ACTIVATIONS[self.activation](x @ self.kernel + self.bias)


@dataclass(frozen=True)
class Stage:
    name: str
    layers: tuple[DenseLayer, ...]

    @property
    def n_in(self) -> int:
        return self.layers[0].shape[0]

    @property
    def n_out(self) -> int:
        return self.layers[-1].shape[1]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        for layer in self.layers:
            x = layer(x)
        return x


def load_stage(path: str | Path) -> Stage:
    """Load one .npz stage; raises StageError naming the file and the bad array."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError) as e:
        raise StageError(f"stage file {path}: cannot load: {e}") from e
    layers: list[DenseLayer] = []
    i = 0
    while f"kernel_{i}" in arrays:
        kernel = np.ascontiguousarray(arrays[f"kernel_{i}"], dtype=np.float32)
        bias = np.ascontiguousarray(arrays.get(f"bias_{i}"), dtype=np.float32)
        if f"bias_{i}" not in arrays:
            raise StageError(f"stage file {path}: kernel_{i} has no bias_{i}")
        act_arr = arrays.get(f"activation_{i}", np.array("linear"))
        act = str(act_arr.item() if act_arr.ndim == 0 else act_arr)
        if kernel.ndim != 2 or bias.shape != (kernel.shape[1],):
            raise StageError(
                f"stage file {path}: layer {i} kernel {kernel.shape} / bias {bias.shape} "
                "do not form a dense layer (kernel (in, out), bias (out,))"
            )
        if act not in ACTIVATIONS:
            raise StageError(
                f"stage file {path}: activation_{i} is {act!r}; known: {', '.join(ACTIVATIONS)}"
            )
        if layers and layers[-1].shape[1] != kernel.shape[0]:
            raise StageError(
                f"stage file {path}: layer {i} expects {kernel.shape[0]} inputs but layer "
                f"{i - 1} gives {layers[-1].shape[1]}"
            )
        layers.append(DenseLayer(kernel, bias, act))
        i += 1
    if not layers:
        raise StageError(f"stage file {path}: no kernel_0 found (keys: {sorted(arrays)})")
    return Stage(name=path.stem, layers=tuple(layers))


@dataclass(frozen=True)
class Pipeline:
    """The stages a node runs, in order."""

    stages: tuple[Stage, ...]

    @property
    def shapes(self) -> list[tuple[int, int]]:
        return [layer.shape for stage in self.stages for layer in stage.layers]

    @property
    def weights_bytes(self) -> int:
        """Bytes of the loaded weight arrays (kernels + biases): the node's model memory."""
        return sum(
            int(layer.kernel.nbytes + layer.bias.nbytes)
            for stage in self.stages
            for layer in stage.layers
        )

    def __call__(self, x: np.ndarray) -> np.ndarray:
        for stage in self.stages:
            x = stage(x)
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
