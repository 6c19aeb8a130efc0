"""FTP on real nodes over loopback HTTP: a gateway cuts frames into tiles, devices pull and
compute them, and the merged output the sink receives equals the Keras model's predict."""

from __future__ import annotations

import numpy as np
import pytest
import test_node_app
from test_node_app import CapturingSink, request, send_frame, wait_for, write_configs
from test_parallel_node import hop, node

from harness import model as hm
from harness.models import describe

start = test_node_app.start  # the fixture that starts NodeServers in threads
MODEL = "yolov2-16"
BIG = 1 << 23


@pytest.fixture(scope="module")
def yolo_stages(tmp_path_factory):
    paths = hm.export_stages(tmp_path_factory.mktemp("stages"))
    info = describe(MODEL)
    rng = np.random.default_rng(5)
    xs = [rng.standard_normal(info.input_shape).astype(np.float32) for _ in range(2)]
    return paths["manifest"].parent, info, xs, hm.predict(np.stack(xs), model=MODEL)


def start_ftp(tmp, stages, info, start, k, grid, fused=16, profiles=None, sched="wsh",
              queue_size=4):
    """A sink, an FTP gateway and k devices on loopback, all holding the whole stage;
    `sched` as run.json `tiles.sched` (wsh, wst, wst-s)."""
    n, m = grid
    tiles = {"grid": [n, m], "fused": fused, "sched": sched}
    sink = start(write_configs(tmp, "sink", stages=[], next_hops=[],
                               input_size=info.output_size, max_body_bytes=BIG), CapturingSink)
    gw = start(node(tmp, "gw", stages, {"tasks": {"blocks": n * m, "width": info.output_size,
                                                  "tiles": tiles}},
                    stages=[info.whole], next_hops=[hop(sink)], input_size=info.input_size,
                    queue_size=queue_size, max_body_bytes=BIG))
    devices = [start(node(tmp, f"d{i}", stages, {"pull": {"gateway": hop(gw), "blocks": n * m,
                                                          "tiles": tiles}},
                          stages=[info.whole], next_hops=[], input_size=info.input_size,
                          profile=(profiles or ["zero"] * k)[i], max_body_bytes=BIG))
               for i in range(k)]
    return sink, gw, devices


@pytest.mark.parametrize(("grid", "fused", "k"), [((1, 1), 16, 1), ((2, 2), 16, 2),
                                                  ((3, 3), 16, 2), ((5, 5), 16, 3),
                                                  ((3, 3), 8, 2)])
def test_ftp_merged_output_equals_keras(tmp_path, yolo_stages, start, grid, fused, k):
    stages, info, xs, ref = yolo_stages
    sink, gw, devices = start_ftp(tmp_path, stages, info, start, k, grid, fused)
    for pid, x in enumerate(xs):
        status, reply = send_frame(gw.port, pid, x.reshape(-1))
        assert status == 200 and reply["accepted"], reply
    assert wait_for(lambda: len(sink.server.frames) == len(xs), 60)
    for pid in range(len(xs)):
        np.testing.assert_allclose(sink.server.frames[pid].reshape(ref[pid].shape), ref[pid],
                                   rtol=1e-4, atol=1e-4)
    tiles = grid[0] * grid[1]
    by_device = request(gw.port, "GET", "/stats")[1]["tasks_by_helper"]
    assert sum(by_device.values()) == tiles * len(xs)
    done = [request(d.port, "GET", "/stats")[1]["tasks_done"] for d in devices]
    assert sum(done) == tiles * len(xs)


def test_ftp_gateway_refuses_a_grid_finer_than_the_fused_output(tmp_path, yolo_stages, start):
    stages, info, _xs, _ref = yolo_stages
    with pytest.raises(ValueError, match="exceeds the fused output"):
        start_ftp(tmp_path, stages, info, start, 1, (11, 11), 16)


@pytest.mark.parametrize(("model", "grid", "k", "fps"), [
    ("yolov2-16", "3x3", 2, 2 * 1000 / 5509.46), ("yolov2-16-608", "5x5", 6, 0.1316),
    ("yolov2-16-608", "1x1", 6, 6 * 1000 / 20404.2)])
def test_ftp_plan_gives_valid_run_files_and_the_tile_bound(model, grid, k, fps, tmp_path):
    """node_app accepts what the harness writes; the bound is K devices doing every tile of
    a frame, each tile priced on its own regions (overlap paid for)."""
    from harness import resources, strategies
    from harness.experiment import _run_file
    from harness.inventory import Host
    from harness.spec import RunSpec
    from node_app.config import RunConfig

    spec = RunSpec(strategy="ftp", model=model, grid=grid, k=k)
    module = strategies.get("ftp")
    hosts = [Host(f"pi{i}", f"198.18.0.{10 + i}", "root", "", "rpi3bplus", True)
             for i in range(1, 2 + k)]
    plan = module.plan(spec, hosts, Host("sink", "198.18.0.1", "", "", "native", False))
    assert [n.role for n in plan.nodes] == ["G", *(f"D{i}" for i in range(k)), "sink"]
    for n in plan.workers:
        run = RunConfig.from_dict(_run_file(spec, plan, n))
        assert (run.tasks or run.pull).tiles.grid == spec.grid_nm
    assert plan.capacity_fps == pytest.approx(fps, rel=1e-3)
    doc = {"targets": plan.targets, "model": model,
           "nodes": [{"name": n.host.name, "role": n.role, "stages": n.stages,
                      "address": n.host.address, "next_hops": n.next_hops, **n.extra}
                     for n in plan.nodes]}
    resources.summarize(tmp_path, doc)  # a conv model's plan is summarized, not a crash
