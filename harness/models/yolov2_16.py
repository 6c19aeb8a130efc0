"""YOLOv2's first 16 layers (DeepThings' workload, seed 002) at 160 x 160 input.

The layer structure of darknet's yolov2.cfg up to layer 15, the part DeepThings fuses and
distributes: twelve convolutions (3x3 and 1x1, stride 1, 'same' padding, batch-norm folded
into the convolution's kernel and bias, leaky ReLU with slope 0.1) and four 2x2 max-pools
of stride 2, with YOLOv2's channel counts. The output is 1/16 of the input per side with
256 channels.

Input size: 160 x 160, not DeepThings' 608 x 608. At 160 one frame is 1.81 GFLOP instead
of 26.2, so a Pi 3 profile takes about 1.7 s per frame on one device instead of 24 s and a
lab run of a few dozen frames takes a minute on two cores, while the numpy compute of a
whole frame (~0.1-0.2 s here) stays well below the emulated time. The fused output is
10 x 10, so DeepThings' 5 x 5 grid still has 2 x 2 tiles. `yolov2-16-608` is the same model
at the paper's 608 x 608 (38 x 38 output): it works everywhere, just 14.4 x slower.

Cut points: `yolo160`, the fused stack (all 16 layers: FTP tiles run it on regions, BODP
runs it layer by layer on row bands, one device runs it whole). Stage names are unique
across models, so one export directory holds every model. Random weights with a fixed
seed: the experiments measure time, memory and bytes, not detections.
"""

from __future__ import annotations

from typing import Any

NAME = "yolov2-16"
DESCRIPTION = "YOLOv2 layers 0-15 (12 conv + 4 maxpool, leaky 0.1), 160x160x3 -> 10x10x256"
SIDE = 160
INPUT_SHAPE = (SIDE, SIDE, 3)
# darknet yolov2.cfg layers 0-15: (filters, kernel) for a convolution, "M" for maxpool 2x2/2.
LAYERS: tuple[Any, ...] = (
    (32, 3), "M", (64, 3), "M", (128, 3), (64, 1), (128, 3), "M",
    (256, 3), (128, 1), (256, 3), "M", (512, 3), (256, 1), (512, 3), (256, 1),
)
NAMES = tuple(f"l{i:02d}_{'max' if spec == 'M' else 'conv'}" for i, spec in enumerate(LAYERS))
STAGES = {f"yolo{SIDE}": NAMES}
PIPELINE = (f"yolo{SIDE}",)
WHOLE = f"yolo{SIDE}"
FUSED_STAGE = WHOLE
SPLIT_STAGE = ""
SLICE_COUNTS: tuple[int, ...] = ()
LEAKY_SLOPE = 0.1


def leaky(x: Any) -> Any:
    """darknet's leaky activation (slope 0.1); the function name is the activation's name."""
    import keras

    return keras.activations.leaky_relu(x, negative_slope=LEAKY_SLOPE)


def build(seed: int, side: int = SIDE) -> Any:
    """The Keras model with weights drawn from `seed` (a fresh model each call).

    He-normal kernels keep activations in a sane range through 12 convolutions, so the
    float32 comparison with node_app's numpy stays meaningful; biases stand for the folded
    batch-norm shift.
    """
    import keras

    keras.utils.set_random_seed(seed)
    inp = keras.Input(shape=(side, side, 3), dtype="float32", name="frame")
    x = inp
    for name, spec in zip(NAMES, LAYERS, strict=True):
        if spec == "M":
            x = keras.layers.MaxPooling2D(2, 2, padding="valid", name=name, dtype="float32")(x)
        else:
            filters, k = spec
            x = keras.layers.Conv2D(
                filters, k, padding="same", activation=leaky, name=name, dtype="float32",
                kernel_initializer="he_normal",
                bias_initializer=keras.initializers.RandomUniform(-0.1, 0.1),
            )(x)
    return keras.Model(inp, x, name=f"yolov2_16_s{seed}")
