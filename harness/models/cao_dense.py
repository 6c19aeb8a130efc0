"""Cao's model: two dense layers, the layer pipeline every strategy splits.

Source: Cao's report, ../shared/seeds/001_f99bf2dc503869cb.txt.

`Input(100) -> Dense(2000, relu, "L1") -> Dense(2000, linear, "L2")`, float32. On a
Raspberry Pi 3 B+ L1 takes 4 ms and L2 40 ms (Cao's measurements), so the second device
is the bottleneck the adaptive strategies are about.

Cut points (stage -> layers): `L1` on the first device, `L2` on the second, `L1L2` the
whole model (Cao's strategies 1-3). `L2` is the split stage: dp replicates it, mp slices it
by output neuron into `L2_s<i>of<K>`, task sharing cuts it into neuron blocks.
"""

from __future__ import annotations

from typing import Any

NAME = "cao-dense"
DESCRIPTION = "Cao's report: Dense(100->2000, relu) -> Dense(2000->2000, linear)"
INPUT_SHAPE = (100,)
STAGES = {"L1": ("L1",), "L2": ("L2",), "L1L2": ("L1", "L2")}
PIPELINE = ("L1", "L2")
WHOLE = "L1L2"
SPLIT_STAGE = "L2"
# mp's K: 1..6, the scaling sweep's (`fab sweep --k=1,2,3,4,5,6`; K = 6 is A + 6 hosts).
SLICE_COUNTS = (1, 2, 3, 4, 5, 6)


def build(seed: int) -> Any:
    """The Keras model with weights drawn from `seed` (a fresh model each call)."""
    import keras

    keras.utils.set_random_seed(seed)
    inp = keras.Input(shape=INPUT_SHAPE, dtype="float32", name="frame")
    x = keras.layers.Dense(2000, activation="relu", name="L1", dtype="float32")(inp)
    x = keras.layers.Dense(2000, activation="linear", name="L2", dtype="float32")(x)
    return keras.Model(inp, x, name=f"cao2019_s{seed}")
