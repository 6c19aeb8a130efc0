"""BODP on real nodes over loopback HTTP: a gateway runs the model's conv stack one layer at
a time, each layer's output rows cut into one band per device in proportion to its speed;
each device takes only its own bands; the frame the sink receives equals the Keras model's
predict."""

from __future__ import annotations

import http.client
import json

import numpy as np
import pytest
import test_node_app
from test_node_app import CapturingSink, events, request, send_frame, wait_for, write_configs
from test_parallel_node import hop, node

from harness import model as hm
from harness.models import describe
from harness.strategies import bodp
from node_app.config import ConfigError, RunConfig
from node_app.tiles import biased_rows

start = test_node_app.start  # the fixture that starts NodeServers in threads
MODEL = "yolov2-16"
BIG = 1 << 23
TOL = {"rtol": 1e-4, "atol": 1e-4}  # as tests/test_ftp_node.py


@pytest.fixture(scope="module")
def yolo(tmp_path_factory):
    paths = hm.export_stages(tmp_path_factory.mktemp("stages"))
    info = describe(MODEL)
    rng = np.random.default_rng(7)
    xs = [rng.standard_normal(info.input_shape).astype(np.float32) for _ in range(2)]
    return paths["manifest"].parent, info, xs, hm.predict(np.stack(xs), model=MODEL)


def bands_of(speeds, names=None):
    return {"devices": names or [f"d{i}" for i in range(len(speeds))], "speeds": speeds}


def start_bodp(tmp, stages, info, start, speeds, profiles=None, names=None, blocks=None,
               devices=True):
    """Sink, gateway and (unless devices=False) one device per speed, named d0, d1, ..."""
    layers = len(info.fused_layers)
    bands = bands_of(speeds, names)
    blocks = blocks or layers * len(speeds)
    sink = start(write_configs(tmp, "sink", stages=[], next_hops=[],
                               input_size=info.output_size, max_body_bytes=BIG), CapturingSink)
    gw = start(node(tmp, "gw", stages, {"tasks": {"blocks": blocks, "width": info.output_size,
                                                  "bands": bands}},
                    stages=[info.fused_stage], next_hops=[hop(sink)],
                    input_size=info.input_size, queue_size=4,
                    max_body_bytes=bodp.gateway_body_bytes(MODEL, bands["speeds"])))
    devs = [start(node(tmp, f"d{i}", stages, {"pull": {"gateway": hop(gw), "blocks": blocks,
                                                       "bands": bands}},
                       stages=[info.fused_stage], next_hops=[], input_size=info.input_size,
                       profile=(profiles or ["zero"] * len(speeds))[i], max_body_bytes=BIG))
            for i in range(len(speeds) if devices else 0)]
    return sink, gw, devs


def expected_bands(info, speeds):
    """Per device: (non-empty bands, output rows) over one frame's layers."""
    tasks, rows = [0] * len(speeds), [0] * len(speeds)
    for layer in info.fused_layers:
        for k, (r1, r2) in enumerate(biased_rows(layer.output_shape[0], speeds)):
            tasks[k] += r2 > r1
            rows[k] += r2 - r1
    return tasks, rows


@pytest.mark.parametrize("speeds", [[1], [1, 1], [2, 1, 1], [1, 1, 1, 1], [1] * 5,
                                    [3, 1, 1, 1, 2, 1],
                                    [1, 1, 1, 1, 1, 0.05]],  # d5: no rows of a 10-row layer
                         ids=["k1", "k2", "k3", "k4", "k5", "k6", "k6-empty-bands"])
def test_bodp_output_equals_keras(tmp_path, yolo, start, speeds):
    stages, info, xs, ref = yolo
    sink, gw, devs = start_bodp(tmp_path, stages, info, start, speeds)
    for pid, x in enumerate(xs):
        status, reply = send_frame(gw.port, pid, x.reshape(-1))
        assert status == 200 and reply["accepted"], reply
    assert wait_for(lambda: len(sink.server.frames) == len(xs), 60)
    for pid in range(len(xs)):
        np.testing.assert_allclose(sink.server.frames[pid].reshape(ref[pid].shape), ref[pid],
                                   **TOL)
    # MoDNN's static assignment: device k did exactly its own non-empty bands, every frame.
    tasks, rows = expected_bands(info, speeds)
    names = [f"d{i}" for i in range(len(speeds))]
    st = request(gw.port, "GET", "/stats")[1]
    assert st["tasks_by_helper"] == {n: t * len(xs) for n, t in zip(names, tasks, strict=True) if t}
    assert st["rows_by_helper"] == {n: r * len(xs) for n, r in zip(names, rows, strict=True) if r}
    assert [request(d.port, "GET", "/stats")[1]["tasks_done"] for d in devs] == \
        [t * len(xs) for t in tasks]
    if speeds[-1] < 1:  # the slow device's empty bands were skipped, not sent
        assert tasks[-1] < len(info.fused_layers)
    gw.stop()
    assert len(events(gw.trace_path, "task_sent")) == sum(tasks) * len(xs)


def test_a_half_speed_device_gets_half_the_rows(tmp_path, yolo, start):
    """Speeds as the harness derives them from the profiles: the half-speed device computes
    about half the rows, so both spend about the same profiled time on a frame."""
    stages, info, xs, ref = yolo
    profiles = ["rpi3bplus", "rpi3bplus_half_speed"]
    speeds = bodp.device_speeds(profiles, MODEL)
    assert speeds[1] / speeds[0] == pytest.approx(0.5, rel=1e-3)
    sink, gw, devs = start_bodp(tmp_path, stages, info, start, speeds, profiles)
    assert send_frame(gw.port, 0, xs[0].reshape(-1))[0] == 200
    assert wait_for(lambda: len(sink.server.frames) == 1, 30)
    np.testing.assert_allclose(sink.server.frames[0].reshape(ref[0].shape), ref[0], **TOL)
    rows = request(gw.port, "GET", "/stats")[1]["rows_by_helper"]
    assert 0.45 < rows["d1"] / rows["d0"] < 0.55, rows
    busy = []
    for d in devs:
        d.stop()
        busy.append(sum(float(r["detail"].split(":")[1])
                        for r in events(d.trace_path, "task_finished")))
    assert busy[1] == pytest.approx(busy[0], rel=0.1), busy  # the bias balances the work


def pull(port, helper):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("POST", "/task/next", b"", {"X-Node": helper})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def test_a_device_gets_only_its_own_bands(tmp_path, yolo, start):
    """Static assignment: each device is leased its own band of the current layer and
    nothing else; another's result is refused (409), a stranger may not pull (403); the
    next layer's bands appear only when every band of this one is in."""
    stages, info, xs, _ref = yolo
    _sink, gw, _ = start_bodp(tmp_path, stages, info, start, [1, 1], devices=False)
    blocks = 2 * len(info.fused_layers)
    assert send_frame(gw.port, 0, xs[0].reshape(-1))[0] == 200
    got = {}
    for name in ("d1", "d0"):
        status, headers, data = pull(gw.port, name)
        assert status == 200 and headers["x-packet-id"] == "0"
        got[name] = int(headers["x-block"].split("/")[0]), data
    assert {n: b for n, (b, _d) in got.items()} == {"d0": 0, "d1": 1}
    assert pull(gw.port, "d0")[0] == 204  # d1's band is not d0's to take
    status, _h, data = pull(gw.port, "intruder")
    assert (status, json.loads(data)["error"]) == (403, "not_a_band_device")
    first = info.fused_layers[0]
    h, w, c = first.output_shape
    band = np.zeros((h // 2, w, c), "<f4").tobytes()  # the right size is all that is checked
    hdr = {"X-Packet-Id": "0", "X-Block": f"1/{blocks}"}
    status, reply = request(gw.port, "POST", "/task/result", band, {**hdr, "X-Node": "d0"})
    assert (status, reply["error"]) == (409, "not_leased")
    assert request(gw.port, "POST", "/task/result", band, {**hdr, "X-Node": "d1"})[0] == 200
    assert pull(gw.port, "d1")[0] == 204  # layer 0 still waits for d0's band
    hdr = {"X-Packet-Id": "0", "X-Block": f"0/{blocks}"}
    assert request(gw.port, "POST", "/task/result", band, {**hdr, "X-Node": "d0"})[0] == 200
    status, headers, _data = pull(gw.port, "d1")
    assert status == 200 and headers["x-block"] == f"3/{blocks}"  # layer 1, band 1
    st = request(gw.port, "GET", "/stats")[1]
    assert st["rejected"] == {"not_a_band_device": 1, "not_leased": 1}
    assert st["rows_by_helper"] == {"d0": h // 2, "d1": h // 2}


BASE = {"run_id": "r", "stages": ["s"], "next_hops": ["127.0.0.1:9"], "queue_size": 2,
        "max_body_bytes": 1 << 20, "input_size": 4}


@pytest.mark.parametrize(("bands", "blocks", "field"), [
    ({"devices": ["d0", "d1"], "speeds": [1]}, 4, "'speeds'"),
    ({"devices": ["d0", "d1"], "speeds": [1, 0]}, 4, "'speeds'"),
    ({"devices": ["d0", "d1"], "speeds": [1, True]}, 4, "'speeds'"),
    ({"devices": ["d0", "d1"], "speeds": [1, float("nan")]}, 4, "'speeds'"),
    ({"devices": ["d0", "d0"], "speeds": [1, 1]}, 4, "'devices'"),
    ({"devices": [], "speeds": []}, 4, "'devices'"),
    ({"devices": ["d 0"], "speeds": [1]}, 4, "'devices'"),
    ({"speeds": [1]}, 4, "devices"),
    ({"devices": ["d0"], "speeds": [1], "rows": 3}, 4, "rows"),
    ({"devices": ["d0", "d1"], "speeds": [1, 1]}, 5, "'blocks'"),
    ([1, 1], 4, "'bands'"),
])
def test_bad_bands_config_names_the_field(bands, blocks, field):
    for section, extra in (("tasks", {"width": 100}), ("pull", {"gateway": "127.0.0.1:9"})):
        data = {**BASE, section: {"blocks": blocks, "bands": bands, **extra}}
        if section == "pull":
            data["next_hops"] = []
        with pytest.raises(ConfigError, match=field) as exc:
            RunConfig.from_dict(data)
        assert "'bands'" in str(exc.value) or field == "'blocks'", exc.value


def test_tiles_and_bands_cannot_be_combined():
    data = {**BASE, "tasks": {"blocks": 4, "width": 100, "bands": bands_of([1, 1]),
                              "tiles": {"grid": [2, 2], "fused": 1}}}
    with pytest.raises(ConfigError, match="'tiles' and 'bands'"):
        RunConfig.from_dict(data)


def test_a_role_refuses_bands_that_do_not_fit_its_stage(tmp_path, yolo, start):
    """blocks must be the stage's layers x devices; a device must be named in `devices`."""
    stages, info, _xs, _ref = yolo
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with pytest.raises(ValueError, match=r"'blocks' \(30\) must be the stage's 16 layers"):
        start_bodp(tmp_path / "a", stages, info, start, [1, 1], blocks=30)
    with pytest.raises(ValueError, match="does not name this node"):
        start_bodp(tmp_path / "b", stages, info, start, [1, 1], names=["d0", "x1"])


def hosts(profiles):
    from harness.inventory import Host
    return [Host(f"pi{i}", f"198.18.0.{10 + i}", "root", "", p, True)
            for i, p in enumerate(profiles, start=1)]


@pytest.mark.parametrize(("model", "k", "fps"), [
    ("yolov2-16", 1, 1000 / 1444.4), ("yolov2-16", 2, 1.3531), ("yolov2-16", 6, 3.3294),
    ("yolov2-16-608", 6, 0.27889)])
def test_bodp_plan_gives_valid_run_files_and_the_band_bound(model, k, fps, tmp_path):
    """node_app accepts what the harness writes (device names in band order, as X-Node
    names them); the bound is the slowest device's bands summed over the layers."""
    from harness import resources, strategies
    from harness.experiment import _run_file
    from harness.spec import RunSpec

    spec = RunSpec(strategy="modnn", model=model, k=k)
    assert spec.strategy == "bodp" and f"-bodp-k{k}-" in spec.run_id
    module = strategies.get("bodp")
    assert strategies.hosts_needed(module, spec) == 1 + k
    cluster = hosts(["rpi3bplus"] * (1 + k))
    plan = module.plan(spec, cluster, hosts(["native"])[0])
    assert [n.role for n in plan.nodes] == ["G", *(f"D{i}" for i in range(k)), "sink"]
    layers = len(describe(model).fused_layers)
    for n in plan.workers:
        run = RunConfig.from_dict(_run_file(spec, plan, n))
        bands = (run.tasks or run.pull).bands
        assert bands.devices == tuple(h.name for h in cluster[1:])
        assert (run.tasks or run.pull).blocks == layers * k
        assert len(set(bands.speeds)) == 1  # equal devices, equal speeds
        if run.tasks:  # G takes every band's output back: the largest must fit its limit
            largest = max((r2 - r1) * la.output_shape[1] * la.output_shape[2] * 4
                          for la in describe(model).fused_layers
                          for r1, r2 in biased_rows(la.output_shape[0], bands.speeds))
            assert run.max_body_bytes >= largest > (1 << 20) // k
    assert plan.capacity_fps == pytest.approx(fps, rel=1e-3)
    doc = {"targets": plan.targets, "model": model,
           "nodes": [{"name": n.host.name, "role": n.role, "stages": n.stages,
                      "address": n.host.address, "next_hops": n.next_hops, **n.extra}
                     for n in plan.nodes]}
    resources.summarize(tmp_path, doc)  # a BODP plan is summarized, not a crash


def test_bodp_speeds_follow_the_profiles_and_the_barrier_binds_one_frame_at_a_time():
    from harness.spec import RunSpec

    fast, slow = bodp.device_speeds(["rpi3bplus", "rpi3bplus_half_speed"], MODEL)
    assert slow / fast == pytest.approx(0.5, rel=1e-3)
    assert bodp.device_speeds(["native", "rpi3bplus"], MODEL) == [1.0, 1.0]
    assert bodp.device_speeds(["zero", "rpi3bplus"], MODEL) == [1.0, 1.0]
    devices = hosts(["rpi3bplus", "rpi3bplus_half_speed"])
    table = bodp.band_ms(["rpi3bplus", "rpi3bplus_half_speed"], MODEL)
    per_device = [sum(row[k] for row in table) for k in range(2)]
    latency = sum(max(row) for row in table)
    assert per_device[1] == pytest.approx(per_device[0], rel=0.02)  # biased: balanced
    assert latency > max(per_device)  # the slowest band differs by layer
    def spec(queue_size):
        return RunSpec(strategy="bodp", model=MODEL, k=2, queue_size=queue_size)

    five, one = (bodp.capacity_fps(spec(q), devices) for q in (5, 1))
    assert five == pytest.approx(1000 / max(per_device))
    assert one == pytest.approx(1000 / latency) and one < five
    assert bodp.capacity_fps(spec(5), hosts(["native"] * 2)) is None


def test_bodp_refuses_a_model_without_conv_layers():
    from harness.errors import SpecError
    from harness.spec import RunSpec

    with pytest.raises(SpecError, match="model"):
        RunSpec(strategy="bodp", model="cao-dense")
