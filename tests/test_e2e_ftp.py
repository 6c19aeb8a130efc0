"""DeepThings' FTP and MoDNN's BODP on the emulated lab: a gateway and two devices, real HTTP
between them.

One short run of yolov2-16 (160 x 160, 1444 ms a frame on rpi3bplus) with a 2x2 grid at
0.5 fps, under the 0.64 fps the two devices can do: every frame must arrive, equal to the
model's output, with its four tiles shared by both devices. The same for BODP at 0.5 fps,
under its 1.35 fps bound: each of every frame's 16 layers cut into two equal row bands,
one per device.
"""

from __future__ import annotations

import pytest
from lab_cli import fab, latest_run  # tests/ is on sys.path (pytest rootdir)

pytestmark = pytest.mark.lab


def test_ftp_delivers_the_models_output_with_tiles_on_both_devices(provisioned_lab):
    fab("experiment", "--strategy=ftp", "--model=yolov2-16", "--devices=2", "--grid=2x2",
        "--rate=0.5", "--duration=16", "--warmup=0", "--min-frames=5")
    spec, summary = latest_run()
    assert spec["strategy"] == "ftp" and spec["grid"] == "2x2"
    frames = summary["sent"]
    assert summary["coverage"] == 1.0, summary
    assert summary["output_check"]["checked"] >= 5
    assert summary["output_check"]["mismatched"] == 0, summary["output_check"]
    tiles = summary["tasks_per_helper"]
    assert sum(tiles.values()) == 4 * frames, tiles
    assert min(tiles.values()) >= frames, tiles  # both devices pull: neither idles


def test_bodp_delivers_the_models_output_with_every_layer_on_both_devices(provisioned_lab):
    fab("experiment", "--strategy=bodp", "--model=yolov2-16", "--devices=2",
        "--rate=0.5", "--duration=16", "--warmup=0", "--min-frames=5")
    spec, summary = latest_run()
    assert spec["strategy"] == "bodp" and spec["k"] == 2
    frames = summary["sent"]
    assert summary["coverage"] == 1.0, summary
    assert summary["output_check"]["checked"] >= 5
    assert summary["output_check"]["mismatched"] == 0, summary["output_check"]
    bands = summary["tasks_per_helper"]
    # Equal devices, equal speeds: each takes its own band of all 16 layers of every frame.
    assert sorted(bands.values()) == [16 * frames, 16 * frames], bands
