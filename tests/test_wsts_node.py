"""FTP with work stealing and data reuse (`--sched=wst-s`) on real nodes over loopback HTTP,
and the reuse geometry (node_app/reuse.py) against a brute-force walk of every cell.

The client sends frames to the source D0; tiles are queued in checkerboard order;
independent tiles hand the gateway the overlap of their intermediate layers with their
results; dependent tiles fetch it and compute only the rest. The merged output the sink
receives equals the Keras model's predict."""

from __future__ import annotations

import numpy as np
import pytest
import test_node_app
from test_ftp_node import start_ftp, yolo_stages  # noqa: F401 - the module's fixture, shared
from test_node_app import events, request, send_frame, wait_for
from test_wst_node import stats, steal

from harness.strategies.common import map_shapes
from node_app.reuse import ReusePlan, is_dependent, neighbours
from node_app.tiles import checkerboard

start = test_node_app.start  # the fixture that starts NodeServers in threads
BIG = 1 << 23


def start_wsts(tmp, stages, info, start, k, grid, fused=16, profiles=None, queue_size=4):
    return start_ftp(tmp, stages, info, start, k, grid, fused, profiles, "wst-s", queue_size)


@pytest.mark.parametrize(("grid", "k"), [((2, 2), 1), ((2, 2), 3), ((3, 3), 2), ((3, 3), 3),
                                         ((5, 5), 1), ((5, 5), 3)])
def test_wsts_merged_output_equals_keras(tmp_path, yolo_stages, start, grid, k):  # noqa: F811
    stages, info, xs, ref = yolo_stages
    sink, gw, devices = start_wsts(tmp_path, stages, info, start, k, grid)
    for pid, x in enumerate(xs):  # the client's target is the source, D0
        status, reply = send_frame(devices[0].port, pid, x.reshape(-1))
        assert status == 200 and reply["accepted"], reply
    assert wait_for(lambda: len(sink.server.frames) == len(xs), 120)
    for pid in range(len(xs)):
        np.testing.assert_allclose(sink.server.frames[pid].reshape(ref[pid].shape), ref[pid],
                                   rtol=1e-4, atol=1e-4)
    n, m = grid
    tiles = n * m
    dependent = sum(is_dependent(t, m) for t in range(tiles))
    # A device counts a tile done after its result is posted, so the last count can follow
    # the sink's frame by a moment: wait for it (the sum must still be exact).
    assert wait_for(lambda: sum(stats(d)["tasks_done"] for d in devices) == tiles * len(xs))
    done = [stats(d) for d in devices]
    g = stats(gw)
    assert sum(d["reuse_tiles"] + d["reuse_fallback"] for d in done) == dependent * len(xs)
    assert sum(d["reused_bytes"] for d in done) == g["reuse_bytes_out"]
    assert sum(d["gave_bytes"] for d in done) == g["reuse_bytes_in"]
    assert g["reuse_served"] == sum(d["reuse_tiles"] for d in done)
    assert all(d["pull_errors"] == {} for d in done), [d["pull_errors"] for d in done]
    gw.server.trace.flush()
    assert events(tmp_path / "gw" / "traces" / "r1.csv", "dropped") == []


def test_a_dependent_tile_reuses_its_neighbours_overlap(tmp_path, yolo_stages, start):  # noqa: F811
    """One device works through the checkerboard alone, so every dependent tile finds its
    neighbours in: each reuses data, computes less than its whole stack, and waits out
    less profiled time than the same tile without reuse."""
    stages, info, xs, ref = yolo_stages
    sink, gw, (d0,) = start_wsts(tmp_path, stages, info, start, 1, (3, 3),
                                 profiles=["rpi3bplus"])
    send_frame(d0.port, 0, xs[0].reshape(-1))
    assert wait_for(lambda: 0 in sink.server.frames, 120)
    np.testing.assert_allclose(sink.server.frames[0].reshape(ref[0].shape), ref[0],
                               rtol=1e-4, atol=1e-4)
    s = stats(d0)
    assert s["reuse_tiles"] == 4 and s["reuse_fallback"] == 0, s
    assert s["reused_bytes"] > 0 and s["gave_bytes"] == s["reused_bytes"], s
    assert s["macs_done"] < 0.7 * s["macs_without_reuse"], s
    d0.server.trace.flush()
    trace = tmp_path / "d0" / "traces" / "r1.csv"
    reused = events(trace, "reused")
    assert sorted(int(r["detail"].split(":")[0]) for r in reused) == [1, 3, 5, 7]
    for r in reused:
        _tile, nbytes, macs = r["detail"].split(":")
        done, whole = (int(v) for v in macs.split("/"))
        assert int(nbytes) > 0 and done < whole
    # the profiled wait of each tile (task_finished `<real>:<profile>`), in queue order:
    # independent tiles first, then dependent ones, each cheaper than its whole stack
    started = [int(r["detail"].split("/")[0]) for r in events(trace, "task_started")]
    assert started == checkerboard(3, 3)
    claimed = [float(r["detail"].split(":")[1]) for r in events(trace, "task_finished")]
    role = d0.server.role
    for tile, ms in zip(started, claimed, strict=True):
        assert ms == pytest.approx(role.reduced_ms[tile] if tile in role.reduced_ms
                                   else role.block_ms[tile], abs=0.01)  # traced to 0.01 ms
        if tile in role.reduced_ms:
            assert ms < role.block_ms[tile]


def test_gateway_serves_reuse_only_when_ready_and_only_to_the_lease_holder(
        tmp_path, yolo_stages, start):  # noqa: F811
    """Before its neighbours are in, a dependent tile's reuse is a 204 (the device then
    computes the whole tile, DeepThings' fallback); only the lease holder may fetch; a lease
    moved to a thief says whether the reuse is ready (no devices run: requests made here)."""
    stages, info, _xs, _ref = yolo_stages
    sink, gw, _ = start_wsts(tmp_path, stages, info, start, 0, (2, 2), queue_size=2)
    board = gw.server.role.board
    reg = {"X-Packet-Id": "7", "X-Tiles": "4", "X-Port": "9"}
    assert steal(gw.port, "/steal/register", "d0", **reg)[:2] == (200, {"ok": True})

    def reuse(name, tile):
        return steal(gw.port, "/steal/reuse", name, **{"X-Packet-Id": "7",
                                                        "X-Block": f"{tile}/4"})

    assert reuse("d0", 1)[0] == 204  # tiles 0 and 3 are not in
    assert reuse("d1", 1)[1]["error"] == "not_leased"
    assert reuse("d0", 0)[1]["error"] == "unknown_task"  # 0 is independent
    lease = {"X-Packet-Id": "7", "X-Block": "1/4", "X-Thief": "d1"}
    assert steal(gw.port, "/steal/lease", "d0", **lease)[:2] == (
        200, {"ok": True, "reuse": False})

    def result(name, block, body):
        return request(gw.port, "POST", "/task/result", body, {
            "X-Node": name, "X-Packet-Id": "7", "X-Block": f"{block}/4"})

    rng = np.random.default_rng(0)
    bodies = {t: rng.standard_normal(board._result_bytes(t) // 4).astype("<f4").tobytes()
              for t in (0, 3)}
    assert result("d0", 0, bodies[0]) == (200, {"ok": True})
    assert reuse("d1", 1)[0] == 204  # 3 is still out
    assert result("d0", 3, bodies[3]) == (200, {"ok": True})
    status, _obj, data = reuse("d1", 1)
    assert status == 200
    # what it serves is what 0 and 3 sent for tile 1, in the plan's order
    plan = board.plan
    tile_bytes = {t: len(bodies[t]) - board.give_bytes[t] for t in (0, 3)}
    want = []
    for p in plan.reduced[1].pieces:
        at = tile_bytes[p.src]
        for q in board.gives[p.src]:
            size = q.region.rows * q.region.cols * board.channels[q.layer] * 4
            if q == p:
                want.append(bodies[p.src][at:at + size])
            at += size
    assert data == b"".join(want) and len(data) > 0
    lease2 = {"X-Packet-Id": "7", "X-Block": "2/4", "X-Thief": "d2"}
    assert steal(gw.port, "/steal/lease", "d0", **lease2)[1] == {"ok": True, "reuse": True}
    g = stats(gw)
    assert (g["reuse_served"], g["reuse_not_ready"], g["reuse_bytes_out"]) == (1, 2, len(data))
    assert g["reuse_bytes_in"] == board.give_bytes[0] + board.give_bytes[3]


# the geometry against brute force --------------------------------------------------------

def _back_mask(layer, out_mask):
    """Cells of a layer's input that the cells of out_mask need (one by one)."""
    h, w = layer.in_hw
    need = np.zeros((h, w), bool)
    for r, c in zip(*np.nonzero(out_mask), strict=True):
        if layer.kind == "pool":
            s = layer.size
            need[r * s:(r + 1) * s, c * s:(c + 1) * s] = True
        else:
            half = layer.size // 2 if layer.same else 0
            r0, c0 = r - half, c - half
            need[max(r0, 0):r0 + layer.size, max(c0, 0):c0 + layer.size] = True
    return need


def _mask(shape, region):
    m = np.zeros(shape, bool)
    if not region.empty:
        m[region.r1:region.r2, region.c1:region.c2] = True
    return m


@pytest.mark.parametrize(("model", "grid"), [("yolov2-16", (2, 2)), ("yolov2-16", (3, 3)),
                                             ("yolov2-16", (5, 5)), ("yolov2-16", (2, 3)),
                                             ("yolov2-16-608", (3, 3)),
                                             ("yolov2-16-608", (5, 5))])
def test_overlap_geometry_equals_a_brute_force_walk(model, grid):
    """For every dependent tile and fused layer l: the cells of l's output it needs are
    exactly what it computes plus the pieces its neighbours give, each cell once; every
    piece lies inside what its giver computes anyway (its brute-force walk back); every
    needed cell no neighbour holds is computed; and what it needs at l - 1 is exactly what
    its computed cells of l need."""
    layers = map_shapes(model)
    if model.endswith("608"):
        layers = layers[:9]  # the 608 walk cell by cell is slow; the pools come early
    n, m = grid
    plan = ReusePlan.of(layers, n, m)
    shapes = [(la.out_hw[0], la.out_hw[1]) for la in layers]
    walked = []  # per tile, per layer: the brute-force region it computes without reuse
    for tile in plan.tiles:
        masks = [_mask(shapes[-1], tile)]
        for layer in range(len(layers) - 1, 0, -1):
            masks.append(_back_mask(layers[layer], masks[-1]))
        walked.append(masks[::-1])
    for t in range(n * m):
        for layer in range(len(layers)):
            assert np.array_equal(walked[t][layer], _mask(shapes[layer], plan.full[t][layer]))
    assert sorted(plan.reduced) == [t for t in range(n * m) if is_dependent(t, m)]
    gave = 0
    for t, red in plan.reduced.items():
        side = neighbours(t, n, m)
        assert all(not plan.dependent(s) for s in side.values())
        for layer in range(len(layers)):
            need = _mask(shapes[layer], red.needed[layer])
            comp = _mask(shapes[layer], red.computed[layer])
            cover = comp.astype(int)
            for p in red.pieces:
                if p.layer != layer:
                    continue
                assert p.dst == t and p.src in side.values()
                piece = _mask(shapes[layer], p.region)
                assert not (piece & ~walked[p.src][layer]).any()
                cover += piece
                gave += 1
            assert np.array_equal(cover, need.astype(int)), (t, layer)
            held = np.zeros(shapes[layer], bool)
            for s in side.values():
                held |= walked[s][layer]
            assert not (need & ~held & ~comp).any()
            if layer == len(layers) - 1:
                assert np.array_equal(need, _mask(shapes[layer], plan.tiles[t]))
            if layer > 0:
                back = _back_mask(layers[layer], comp)
                assert np.array_equal(back, _mask(shapes[layer - 1], red.needed[layer - 1]))
            else:
                assert np.array_equal(_back_mask(layers[0], comp),
                                      _mask(layers[0].in_hw, red.input))
        assert red.computed[-1] == plan.tiles[t]
    assert gave > 0
    # each giver's wire list is exactly the pieces that name it
    for src in range(n * m):
        mine = [p for r in plan.reduced.values() for p in r.pieces if p.src == src]
        assert sorted(plan.gives(src), key=id) == sorted(mine, key=id)


def test_wsts_configs_pick_the_reuse_roles_and_the_spec_takes_wst_s():
    from harness.spec import RunSpec
    from node_app.config import ConfigError, RunConfig
    from node_app.registry import choose

    base = {"run_id": "r", "stages": ["s"], "queue_size": 1, "max_body_bytes": 8,
            "input_size": 2}
    tiles = {"grid": [2, 2], "fused": 3, "sched": "wst-s"}
    gw = {**base, "next_hops": ["127.0.0.1:1"], "tasks": {"blocks": 4, "width": 8,
                                                         "tiles": tiles}}
    dev = {**base, "next_hops": [], "pull": {"gateway": "127.0.0.1:1", "blocks": 4,
                                             "tiles": tiles}}
    assert [choose(RunConfig.from_dict(d)).__name__ for d in (gw, dev)] == [
        "ReuseGateway", "ReuseDevice"]
    dev["pull"]["tiles"] = {**tiles, "sched": "wst-x"}
    with pytest.raises(ConfigError, match="'sched' must be one of wsh, wst, wst-s"):
        RunConfig.from_dict(dev)
    assert RunSpec(strategy="ftp", model="yolov2-16", sched="WST-S").sched == "wst-s"
