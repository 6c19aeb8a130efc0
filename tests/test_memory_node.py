"""Per-device memory, measured on real nodes over loopback: the buffers each layer actually
allocates (node_app/memory.py), in /stats `memory`, in the direction DeepThings reports
(seed 002): an FTP 5x5 device needs less than a 3x3 one, a 4-way BODP device less than the
whole model, and all of them less than one device running the unpartitioned model."""

from __future__ import annotations

import numpy as np
import pytest
import test_node_app
from test_bodp_node import start_bodp
from test_ftp_node import start_ftp
from test_node_app import request, send_frame, wait_for

from harness import model as hm
from harness.models import describe
from node_app.memory import MemoryMeter, buffer_bytes

start = test_node_app.start  # the fixture that starts NodeServers in threads
MODEL = "yolov2-16"
TOL = {"rtol": 1e-4, "atol": 1e-4}


@pytest.fixture(scope="module")
def yolo(tmp_path_factory):
    paths = hm.export_stages(tmp_path_factory.mktemp("stages"))
    info = describe(MODEL)
    x = np.random.default_rng(11).standard_normal(info.input_shape).astype(np.float32)
    return paths["manifest"].parent, info, x, hm.predict(x[None], model=MODEL)[0]


def _one_frame(sink, entry, x, ref) -> None:
    status, reply = send_frame(entry.port, 0, x.reshape(-1))
    assert status == 200 and reply["accepted"], reply
    assert wait_for(lambda: 0 in sink.server.frames, 60)
    np.testing.assert_allclose(sink.server.frames[0].reshape(ref.shape), ref, **TOL)


def _memory(node) -> dict:
    return request(node.port, "GET", "/stats")[1]["memory"]


def _ftp_device_memory(tmp, yolo, start, grid, k) -> list[dict]:
    stages, info, x, ref = yolo
    tmp.mkdir()
    sink, gw, devices = start_ftp(tmp, stages, info, start, k, grid, 16)
    _one_frame(sink, gw, x, ref)
    assert _memory(gw)["per_layer"] == []  # the gateway only cuts and merges (fused = all)
    return [_memory(d) for d in devices]


def test_memory_of_ftp_and_bodp_devices_against_the_whole_model(tmp_path, yolo, start):
    _stages, info, _x, _ref = yolo
    whole = _ftp_device_memory(tmp_path / "1x1", yolo, start, (1, 1), 1)[0]
    three = _ftp_device_memory(tmp_path / "3x3", yolo, start, (3, 3), 2)
    five = _ftp_device_memory(tmp_path / "5x5", yolo, start, (5, 5), 2)
    stages, info, x, ref = yolo
    (tmp_path / "bodp").mkdir()
    sink, _gw, bands = start_bodp(tmp_path / "bodp", stages, info, start, [1, 1, 1, 1])
    _one_frame(sink, _gw, x, ref)
    bodp = [_memory(d) for d in bands]

    weights = sum(la.weight_bytes for la in info.fused_layers)
    for m in [whole, *three, *five, *bodp]:
        assert m["weights_bytes"] == weights  # every device loads the whole stage
        assert len(m["per_layer"]) == 16
        assert [p["index"] for p in m["per_layer"]] == list(range(16))
    # The whole frame's first layer holds at least its input, the im2col matrix (27 values
    # per output pixel) and its output (32 channels), float32.
    first = whole["per_layer"][0]["buffer_bytes"]
    assert first >= 4 * 160 * 160 * (3 + 27 + 32)
    peak = {name: max(m["peak_layer_bytes"] for m in ms)
            for name, ms in [("3x3", three), ("5x5", five), ("bodp4", bodp)]}
    assert peak["5x5"] < peak["3x3"] < whole["peak_layer_bytes"]
    assert peak["bodp4"] < whole["peak_layer_bytes"]
    foot = {name: max(m["peak_footprint_bytes"] for m in ms)
            for name, ms in [("3x3", three), ("5x5", five), ("bodp4", bodp)]}
    assert foot["5x5"] < foot["3x3"] < whole["peak_footprint_bytes"]


def test_a_whole_frame_node_measures_its_pipeline(tmp_path, yolo, start):
    """node.compute (every strategy's path through a pipeline) records each layer too."""
    from test_node_app import CapturingSink, write_configs
    from test_parallel_node import hop

    stages, info, x, ref = yolo
    sink = start(write_configs(tmp_path, "sink", stages=[], next_hops=[],
                               input_size=info.output_size, max_body_bytes=1 << 23),
                 CapturingSink)
    a = start(write_configs(tmp_path, "a", stages=[info.whole], next_hops=[hop(sink)],
                            input_size=info.input_size, max_body_bytes=1 << 23,
                            stages_dir=stages))
    _one_frame(sink, a, x, ref)
    mem = _memory(a)
    assert len(mem["per_layer"]) == 16 and mem["peak_layer_bytes"] >= 4 * 160 * 160 * 62


def test_views_count_once_and_peaks_are_kept():
    x = np.zeros((10, 10, 4), np.float32)
    y = np.ones(100, np.float32)
    assert buffer_bytes([x, x.reshape(-1), x[2:5], y, y.reshape(10, 10)]) == 1600 + 400
    meter, layer = MemoryMeter(), object()
    meter.layer(layer, x, [y])
    meter.layer(layer, x[:1], [y])  # smaller: the view's base is counted, 2000 again
    meter.layer(layer, y, [])
    snap = meter.snapshot([layer], 7)
    assert snap["per_layer"] == [{"index": 0, "kind": "dense", "buffer_bytes": 2000,
                                  "weights_bytes": 0}]
    assert snap["weights_bytes"] == 7 and snap["peak_layer_bytes"] == 2000
