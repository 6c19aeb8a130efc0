"""YOLOv2's first 16 layers at DeepThings' own 608 x 608 input (38 x 38 x 256 out).

The same layers and cut points as `yolov2-16` (harness/models/yolov2_16.py); only the input
size differs. One frame is 26.2 GFLOP: about 24 s on one Pi 3 profile, as DeepThings
reports, so use it for a few frames, not for sweeps.
"""

from __future__ import annotations

from typing import Any

from harness.models import yolov2_16 as _base

NAME = "yolov2-16-608"
DESCRIPTION = "YOLOv2 layers 0-15 at 608x608x3 -> 38x38x256 (DeepThings' input size)"
SIDE = 608
INPUT_SHAPE = (SIDE, SIDE, 3)
STAGES = {f"yolo{SIDE}": _base.NAMES}
PIPELINE = (f"yolo{SIDE}",)
WHOLE = f"yolo{SIDE}"
FUSED_STAGE = WHOLE
SPLIT_STAGE = _base.SPLIT_STAGE
SLICE_COUNTS = _base.SLICE_COUNTS


def build(seed: int) -> Any:
    return _base.build(seed, SIDE)
