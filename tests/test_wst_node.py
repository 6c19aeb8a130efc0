"""FTP with work stealing (`--sched=wst`) on real nodes over loopback HTTP: the client sends
frames to the data source D0, which cuts them into tiles and works on them; idle devices ask
the gateway for a victim and steal tiles from it peer to peer; the gateway merges, runs the
rest and forwards. The merged output the sink receives equals the Keras model's predict."""

from __future__ import annotations

import http.client
import json

import numpy as np
import pytest
import test_node_app
from test_ftp_node import start_ftp, yolo_stages  # noqa: F401 - the module's fixture, shared
from test_node_app import events, request, send_frame, wait_for

start = test_node_app.start  # the fixture that starts NodeServers in threads
BIG = 1 << 23


def start_wst(tmp, stages, info, start, k, grid, fused=16, profiles=None, queue_size=4):
    return start_ftp(tmp, stages, info, start, k, grid, fused, profiles, "wst", queue_size)


def stats(r):
    status, body = request(r.port, "GET", "/stats")
    assert status == 200
    return body


def steal(port, path, name, **headers):
    """A bodyless POST /steal/*: (status, JSON or None, raw body)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        c.request("POST", path, body=b"", headers={"X-Node": name, **headers})
        resp = c.getresponse()
        data = resp.read()
        is_json = resp.getheader("Content-Type") == "application/json"
        return resp.status, (json.loads(data) if is_json else None), data
    finally:
        c.close()


@pytest.mark.parametrize(("grid", "fused", "k"), [((1, 1), 16, 1), ((2, 2), 16, 2),
                                                  ((3, 3), 16, 3), ((5, 5), 16, 2),
                                                  ((3, 3), 8, 2)])
def test_wst_merged_output_equals_keras(tmp_path, yolo_stages, start, grid, fused, k):  # noqa: F811
    stages, info, xs, ref = yolo_stages
    sink, gw, devices = start_wst(tmp_path, stages, info, start, k, grid, fused)
    for pid, x in enumerate(xs):  # the client's target is the source, D0
        status, reply = send_frame(devices[0].port, pid, x.reshape(-1))
        assert status == 200 and reply["accepted"], reply
    assert wait_for(lambda: len(sink.server.frames) == len(xs), 90)
    for pid in range(len(xs)):
        np.testing.assert_allclose(sink.server.frames[pid].reshape(ref[pid].shape), ref[pid],
                                   rtol=1e-4, atol=1e-4)
    tiles = grid[0] * grid[1]
    g = stats(gw)
    assert sum(g["tasks_by_helper"].values()) == tiles * len(xs)
    done = [stats(d) for d in devices]
    assert sum(d["tasks_done"] for d in done) == tiles * len(xs)
    assert sum(d["tiles_own"] + d["tiles_stolen"] for d in done) == tiles * len(xs)
    assert done[0]["tiles_given"] == sum(d["tiles_stolen"] for d in done[1:])
    assert sum(g["tiles_stolen_by"].values()) == done[0]["tiles_given"]
    assert all(d["pull_errors"] == {} for d in done), [d["pull_errors"] for d in done]
    gw.server.trace.flush()
    assert events(tmp_path / "gw" / "traces" / "r1.csv", "dropped") == []


def test_an_idle_device_steals_tiles_from_the_source(tmp_path, yolo_stages, start):  # noqa: F811
    """D0 waits out a Pi's 783 ms for its first 2x2 tile; D1 (no wait) steals the other
    three from the back of D0's queue meanwhile: the traces, /stats and the gateway's leases
    all show it, and the frame is still the model's."""
    stages, info, xs, ref = yolo_stages
    sink, gw, (d0, d1) = start_wst(tmp_path, stages, info, start, 2, (2, 2),
                                   profiles=["rpi3bplus", "zero"])
    status, reply = send_frame(d0.port, 0, xs[0].reshape(-1))
    assert status == 200 and reply["accepted"], reply
    assert wait_for(lambda: 0 in sink.server.frames, 60)
    np.testing.assert_allclose(sink.server.frames[0].reshape(ref[0].shape), ref[0],
                               rtol=1e-4, atol=1e-4)
    s0, s1, g = stats(d0), stats(d1), stats(gw)
    assert s1["tiles_stolen"] >= 1 and s1["tasks_done"] == s1["tiles_stolen"], s1
    assert s0["tiles_given"] == s1["tiles_stolen"] and s0["tiles_own"] >= 1, s0
    assert g["tiles_stolen_by"] == {"d1": s1["tiles_stolen"]}, g
    assert g["tasks_by_helper"]["d1"] == s1["tiles_stolen"], g
    for d in (d0, d1):
        d.server.trace.flush()  # the flusher writes every FLUSH_INTERVAL_S; read it all now
    stole = events(tmp_path / "d1" / "traces" / "r1.csv", "stole")
    given = events(tmp_path / "d0" / "traces" / "r1.csv", "tile_stolen")
    assert sorted(r["detail"] for r in stole) == sorted(
        f"d0:{r['detail'].split(':')[1]}" for r in given)
    assert "3" in {r["detail"].split(":")[1] for r in stole}  # thieves take from the back
    assert [r["detail"] for r in events(tmp_path / "d0" / "traces" / "r1.csv",
                                        "tiles_queued")] == ["4"]


def test_a_steal_from_a_victim_with_nothing_left_is_a_clean_204(tmp_path, yolo_stages,  # noqa: F811
                                                                  start):
    stages, info, xs, _ref = yolo_stages
    sink, gw, (d0, d1) = start_wst(tmp_path, stages, info, start, 2, (2, 2))
    status, _obj, data = steal(d0.port, "/steal/tile", "d1")
    assert (status, data) == (204, b"")
    send_frame(d0.port, 0, xs[0].reshape(-1))
    assert wait_for(lambda: 0 in sink.server.frames, 60)
    status, _obj, data = steal(d0.port, "/steal/tile", "d1")  # all four done: nothing left
    assert (status, data) == (204, b"")
    assert wait_for(lambda: steal(gw.port, "/steal/victim", "d1")[0] == 204, 5)
    assert stats(d0)["rejected"] == {}
    # a gateway's route is not a device's, and the reverse
    assert steal(d0.port, "/steal/victim", "d1")[:2] == (
        404, {"error": "not_found", "detail": "/steal/victim: not on a device"})
    assert steal(gw.port, "/steal/tile", "d1")[0] == 404


def test_gateway_takes_results_only_from_the_lease_holder(tmp_path, yolo_stages, start):  # noqa: F811
    """Registration leases every tile to the source; a victim moves one lease to a thief;
    a result from anyone else is 409 not_leased (no devices run: the requests are made
    here, over the same HTTP)."""
    stages, info, _xs, _ref = yolo_stages
    sink, gw, _ = start_wst(tmp_path, stages, info, start, 0, (2, 2), queue_size=2)
    board = gw.server.role.board
    body = np.zeros(board._result_bytes(0) // 4, "<f4").tobytes()

    def result(name, block):
        return request(gw.port, "POST", "/task/result", body, {
            "X-Node": name, "X-Packet-Id": "7", "X-Block": f"{block}/4"})

    reg = {"X-Packet-Id": "7", "X-Tiles": "4", "X-Port": "9"}
    assert steal(gw.port, "/steal/register", "d0", **reg)[:2] == (200, {"ok": True})
    assert steal(gw.port, "/steal/register", "d0", **reg)[1]["error"] == "duplicate_packet_id"
    assert result("d1", 0) == (409, {"error": "not_leased",
                                     "detail": "block 0 of packet 7 is not leased to d1"})
    lease = {"X-Packet-Id": "7", "X-Block": "1/4", "X-Thief": "d1"}
    assert steal(gw.port, "/steal/lease", "d2", **lease)[1]["error"] == "not_leased"
    assert steal(gw.port, "/steal/lease", "d0", **lease)[:2] == (200, {"ok": True})
    assert result("d0", 1)[0] == 409  # the lease is the thief's now
    assert result("d1", 1) == (200, {"ok": True})
    assert result("d0", 0) == (200, {"ok": True})
    assert stats(gw)["rejected"] == {"duplicate_packet_id": 1, "not_leased": 3}
    # the registry: the asker never gets itself; the address is the registration's source
    assert steal(gw.port, "/steal/victim", "d1")[1] == {"victim": "d0",
                                                        "address": "127.0.0.1:9"}
    assert steal(gw.port, "/steal/victim", "d0")[0] == 204
    assert steal(gw.port, "/steal/cancel", "d0")[0] == 200
    assert steal(gw.port, "/steal/victim", "d1")[0] == 204
    # bounded: queue_size 2 frames registered and incomplete, then 429
    assert steal(gw.port, "/steal/register", "d0", **{**reg, "X-Packet-Id": "8"})[0] == 200
    assert steal(gw.port, "/steal/register", "d0", **{**reg, "X-Packet-Id": "9"})[:2] == (
        429, {"error": "too_many_frames", "detail": "packet 9 from d0"})
    assert steal(gw.port, "/steal/register", "d0", **{**reg, "X-Tiles": "9"})[1]["error"] == \
        "bad_tiles"
    gw.server.request_stop()
    gw.thread.join(10)
    dropped = events(tmp_path / "gw" / "traces" / "r1.csv", "dropped")
    assert [(r["packet_id"], r["detail"]) for r in dropped] == [
        ("7", "tasks_incomplete"), ("8", "tasks_incomplete")]


def test_wsh_and_wst_tiles_configs_pick_their_roles():
    from node_app.config import ConfigError, RunConfig
    from node_app.registry import choose

    base = {"run_id": "r", "stages": ["s"], "queue_size": 1, "max_body_bytes": 8,
            "input_size": 2}
    tiles = {"grid": [2, 2], "fused": 3}
    gw = {**base, "next_hops": ["127.0.0.1:1"], "tasks": {"blocks": 4, "width": 8,
                                                         "tiles": tiles}}
    dev = {**base, "next_hops": [], "pull": {"gateway": "127.0.0.1:1", "blocks": 4,
                                             "tiles": tiles}}
    names = [choose(RunConfig.from_dict(d)).__name__ for d in (gw, dev)]
    assert names == ["TileGateway", "TileHelper"]
    wst = {**tiles, "sched": "wst"}
    gw["tasks"]["tiles"] = dev["pull"]["tiles"] = wst
    names = [choose(RunConfig.from_dict(d)).__name__ for d in (gw, dev)]
    assert names == ["StealGateway", "StealDevice"]
    dev["pull"]["tiles"] = {**tiles, "sched": "wst-x"}
    with pytest.raises(ConfigError, match="'sched' must be one of wsh, wst"):
        RunConfig.from_dict(dev)


def test_wst_plan_targets_the_source_and_lets_devices_steal_from_each_other():
    """ftp.plan under --sched=wst: the client sends to D0, G is its own host, every device
    may reach every other (strict peers), node_app picks the stealing roles from the run
    files the harness writes, and the bound is the same tile rate as under sharing."""
    from harness import strategies
    from harness.experiment import _run_file
    from harness.inventory import Host
    from harness.spec import RunSpec
    from node_app.config import RunConfig
    from node_app.registry import choose

    hosts = [Host(f"pi{i}", f"198.18.0.{10 + i}", "root", "", "rpi3bplus", True)
             for i in range(1, 5)]
    sink = Host("sink", "198.18.0.1", "", "", "native", False)
    module = strategies.get("ftp")
    plans = {s: module.plan(RunSpec(strategy="ftp", model="yolov2-16", grid="3x3", k=3,
                                    sched=s), hosts, sink) for s in ("wsh", "wst")}
    plan = plans["wst"]
    assert [n.role for n in plan.nodes] == ["D0", "D1", "D2", "G", "sink"]
    assert plan.targets == [hosts[1].endpoint]  # D0, not the gateway (pi1)
    assert plan.capacity_fps == pytest.approx(plans["wsh"].capacity_fps)
    spec = RunSpec(strategy="ftp", model="yolov2-16", grid="3x3", k=3, sched="wst")
    client = "198.18.0.2"
    roles, peers = {}, {}
    for n in plan.workers:
        run = RunConfig.from_dict(_run_file(spec, plan, n, client))
        roles[n.role] = choose(run).__name__
        peers[n.role] = set(run.peers)
    assert roles == {"D0": "StealDevice", "D1": "StealDevice", "D2": "StealDevice",
                     "G": "StealGateway"}
    devices = {h.address for h in hosts[1:4]}
    assert peers["G"] == devices
    assert peers["D0"] == {client} | devices - {hosts[1].address}
    assert peers["D1"] == devices - {hosts[2].address}


def test_the_spec_takes_wst_and_refuses_an_unknown_scheduler_by_name():
    from harness.spec import RunSpec, SpecError

    assert RunSpec(strategy="ftp", model="yolov2-16", sched="WST").sched == "wst"
    with pytest.raises(SpecError, match="must be one of wsh, wst, wst-s"):
        RunSpec(strategy="ftp", model="yolov2-16", sched="wst-x")
