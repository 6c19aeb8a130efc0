"""DeepThings' FTP and MoDNN's BODP on the emulated lab: a gateway and two devices, real HTTP
between them.

One short run of yolov2-16 (160 x 160, 1444 ms a frame on rpi3bplus) with a 2x2 grid at
0.5 fps, under the 0.64 fps the two devices can do: every frame must arrive, equal to the
model's output, with its four tiles shared by both devices (work sharing), or, under work
stealing, queued at the source D0 and partly stolen by D1. The same for BODP at 0.5 fps,
under its 1.35 fps bound: each of every frame's 16 layers cut into two equal row bands,
one per device.
"""

from __future__ import annotations

import pytest
from lab_cli import fab, latest_run  # tests/ is on sys.path (pytest rootdir)

pytestmark = pytest.mark.lab


RUN = ("--model=yolov2-16", "--devices=2", "--rate=0.5", "--duration=6", "--warmup=0",
       "--min-duration=6", "--min-frames=3")


def _delivered_every_frame(summary: dict) -> int:
    """Every frame arrived, equal to the model's output; returns the frames sent."""
    assert summary["coverage"] == 1.0, summary
    assert summary["output_check"]["checked"] >= 3
    assert summary["output_check"]["mismatched"] == 0, summary["output_check"]
    return summary["sent"]


@pytest.mark.parametrize("sched", ["wsh", "wst", "wst-s"])
def test_ftp_delivers_the_models_output_with_tiles_on_both_devices(provisioned_lab, sched):
    """wsh: both devices pull tiles from G. wst: the client sends to D0, which cuts each
    frame into its 2x2 tiles and works on them; D1 asks G for a victim and steals from D0
    (a lookup and a lease round trip, well inside the 2 s between frames). wst-s: as wst,
    tiles in checkerboard order (0, 3 first); 1 and 2 reuse the overlap 0 and 3 sent G with
    their results, or are computed whole when a neighbour is late (never dearer than wst, so
    the same 0.64 fps bound holds)."""
    fab("experiment", "--strategy=ftp", "--grid=2x2", f"--sched={sched}", *RUN)
    spec, summary = latest_run()
    assert spec["strategy"] == "ftp" and spec["grid"] == "2x2" and spec["sched"] == sched
    if sched != "wsh":
        d0 = next(n for n in spec["nodes"] if n["role"] == "D0")
        assert [t.rpartition(":")[0] for t in spec["targets"]] == [d0["address"]]
    frames = _delivered_every_frame(summary)
    tiles = summary["tasks_per_helper"]
    assert sum(tiles.values()) == 4 * frames, tiles
    if sched == "wsh":
        assert min(tiles.values()) >= frames, tiles  # both devices pull: neither idles
    elif sched == "wst":
        assert min(tiles.values()) >= 1, tiles  # D1 stole: both devices computed tiles


def test_bodp_delivers_the_models_output_with_every_layer_on_both_devices(provisioned_lab):
    fab("experiment", "--strategy=bodp", *RUN)
    spec, summary = latest_run()
    assert spec["strategy"] == "bodp" and spec["k"] == 2
    frames = _delivered_every_frame(summary)
    bands = summary["tasks_per_helper"]
    # Equal devices, equal speeds: each takes its own band of all 16 layers of every frame.
    assert sorted(bands.values()) == [16 * frames, 16 * frames], bands


def test_device_sweep_writes_one_report_with_deepthings_figures(provisioned_lab):
    """A small `fab sweep` of DeepThings' comparison: ftp (grid 1x1, the reference every
    speedup is over) and bodp at K = 1 and 2, one frame per point at 0.25 fps; 4 runs, each
    a normal run that delivers the model's output, and one report with the three plots
    against K and the DeepThings table. (Tiles on several devices: the ftp tests above.)"""
    import json
    import re

    from harness.paths import runs_dir

    proc = fab("sweep", "--strategies=ftp,bodp", "--model=yolov2-16", "--devices=1,2",
               "--grid=1x1", "--rate=0.25", "--duration=5", "--warmup=0",
               "--min-frames=1", timeout_s=900)
    report = re.search(r"^report: (.*sweep-(\S+)\.html)$", proc.stdout, re.M)
    assert report, proc.stdout[-2000:]
    points = json.loads((runs_dir() / "sweeps" / f"{report.group(2)}.json").read_text())["runs"]
    assert sorted((p["strategy"], p["k"], p["grid"]) for p in points) == [
        ("bodp", 1, None), ("bodp", 2, None), ("ftp", 1, "1x1"), ("ftp", 2, "1x1")]
    for p in points:
        summary = json.loads((runs_dir() / p["run_id"] / "summary.json").read_text())
        assert summary["coverage"] == 1.0, (p["run_id"], summary["coverage"])
        assert summary["output_check"]["mismatched"] == 0, summary["output_check"]
        assert p["peak_memory_bytes_per_device"] and p["wire_bytes_per_frame"], p
    html = open(report.group(1), encoding="utf-8").read()
    assert html.count("<svg") == 3 and "DeepThings reported" in html
    assert "the unpartitioned model on one device: ftp 1x1 wsh at K = 1" in html
    assert "not in this sweep; run ftp and bodp at several, e.g. `--sources=1,2,4,6`" in html
