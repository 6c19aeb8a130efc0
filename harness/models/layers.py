"""A model's layers as data, read off the Keras model itself.

Everything that needs a layer's size (stage files, slices, capacity bounds, weight memory,
the discrete-event model) reads this table, so a number is never typed twice: change the
Keras definition and every consumer follows. The table is plain data (a dataclass per
layer) so it can be cached as JSON and read without importing TensorFlow.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

# Keras layer class -> our kind. A profile prices each kind by its own unit (dense: MACs,
# conv: FLOPs, pool and element-wise layers: output elements).
KINDS = {
    "Dense": "dense",
    "Conv2D": "conv",
    "MaxPooling2D": "pool",
    "AveragePooling2D": "pool",
    "LeakyReLU": "elementwise",
    "ReLU": "elementwise",
    "Activation": "elementwise",
    "BatchNormalization": "elementwise",
    "Add": "elementwise",
    "Flatten": "reshape",
    "Reshape": "reshape",
}


@dataclass(frozen=True)
class Layer:
    """One computing layer.

    kind: `dense`, `conv`, `pool`, `elementwise` or `reshape` (KINDS).
    input_shape, output_shape: per frame, without the batch axis.
    macs: multiply-accumulates per frame (dense, conv); 0 for the others.
    weight_bytes: float32 bytes of its weights (kernel + bias), what a device must hold.
    activation: the fused activation (`relu`, `linear`, ...), "" if none.
    config: what a runtime needs beyond the shapes (kernel size, strides, padding, pool).
    """

    name: str
    kind: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    macs: int
    weight_bytes: int
    activation: str = ""
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def flops(self) -> int:
        return 2 * self.macs

    @property
    def output_elements(self) -> int:
        return math.prod(self.output_shape)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["input_shape"], d["output_shape"] = list(self.input_shape), list(self.output_shape)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Layer:
        return cls(**{**d, "input_shape": tuple(d["input_shape"]),
                      "output_shape": tuple(d["output_shape"])})

    def columns(self, lo: int, hi: int) -> Layer:
        """Output neurons [lo, hi) of a dense layer: a model-parallel slice or a task block."""
        if self.kind != "dense":
            raise ValueError(f"layer {self.name} is {self.kind}; only dense layers split by "
                             f"output neuron")
        n_in, width = self.input_shape[-1], hi - lo
        return Layer(self.name, "dense", self.input_shape, (width,), n_in * width,
                     (n_in * width + width) * 4, self.activation, {**self.config,
                                                                   "columns": [lo, hi]})


def _shape(tensor_shape: Any) -> tuple[int, ...]:
    return tuple(int(d) for d in tuple(tensor_shape)[1:])


def layers_of(keras_model: Any) -> tuple[Layer, ...]:
    """The computing layers of a functional Keras model, in order, with their costs."""
    out = []
    for layer in keras_model.layers:
        cls = type(layer).__name__
        if cls == "InputLayer":
            continue
        if cls not in KINDS:
            raise ValueError(f"layer {layer.name}: Keras {cls} has no kind in "
                             f"harness/models/layers.py KINDS; add it with its cost unit")
        kind = KINDS[cls]
        in_shape, out_shape = _shape(layer.input.shape), _shape(layer.output.shape)
        weight_bytes = sum(int(w.size) * 4 for w in layer.get_weights())
        activation = getattr(getattr(layer, "activation", None), "__name__", "") or ""
        macs, config = 0, {}
        if kind == "dense":
            macs = in_shape[-1] * out_shape[-1]
        elif kind == "conv":
            kh, kw = layer.kernel_size
            macs = math.prod(out_shape) * kh * kw * in_shape[-1]
            config = {"kernel_size": [kh, kw], "strides": list(layer.strides),
                      "padding": layer.padding}
        elif kind == "pool":
            config = {"pool_size": list(layer.pool_size), "strides": list(layer.strides),
                      "padding": layer.padding}
        out.append(Layer(layer.name, kind, in_shape, out_shape, macs, weight_bytes,
                         activation, config))
    return tuple(out)
