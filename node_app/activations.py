"""Activation functions by the name a stage file gives them (`activation_<i>`)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

LEAKY_SLOPE = np.float32(0.1)  # darknet's leaky ReLU (YOLOv2)


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, np.float32(0.0))


def _linear(x: np.ndarray) -> np.ndarray:
    return x


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


def leaky(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, x * LEAKY_SLOPE)


# The contract names relu and linear; softmax is accepted because Keras output layers use it.
ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "relu": _relu,
    "linear": _linear,
    "softmax": _softmax,
    "leaky": leaky,
}
