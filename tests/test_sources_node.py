"""Two data sources at once on real nodes over loopback HTTP (`--sources=2`, issue 12).

Under work stealing (wst, wst-s) each source is a device: D0 gets source 0's frames, D1
source 1's (packet IDs 1,000,000 + k, harness/schedule.py); each cuts and queues its own
frames, works on them, and steals from the other when its own queue is empty, while D2 steals
from both; the gateway's registry lists both sources as victims. Under sharing (wsh) and BODP
both sources' frames enter at the gateway. Either way every frame of both sources reaches
the sink equal to the Keras model's predict, with nothing dropped.
"""

from __future__ import annotations

import numpy as np
import pytest
import test_node_app
from test_bodp_node import start_bodp, yolo  # noqa: F401 - the module's fixture, shared
from test_ftp_node import start_ftp
from test_node_app import events, request, send_frame, wait_for

from harness.schedule import first_id

start = test_node_app.start  # the fixture that starts NodeServers in threads
TOL = {"rtol": 1e-4, "atol": 1e-4}
# Each source sends both test inputs, in opposite orders, so no two frames of a source
# and no two sources' frames at the same position are the same input.
FRAMES = [(0, 0, 0), (1, 0, 1), (0, 1, 1), (1, 1, 0)]  # (source, k, input index), sent order


def stats(r) -> dict:
    status, body = request(r.port, "GET", "/stats")
    assert status == 200
    return body


def send_both_sources(entries, xs) -> dict[int, int]:
    """Send FRAMES, source s's to entries[s % len(entries)] (one entry: all to it), each
    accepted; returns packet id -> input index."""
    which = {}
    for source, k, i in FRAMES:
        pid = first_id(source) + k
        status, reply = send_frame(entries[source % len(entries)].port, pid, xs[i].reshape(-1))
        assert status == 200 and reply["accepted"], reply
        which[pid] = i
    return which


@pytest.mark.parametrize("sched", ["wst", "wst-s"])
def test_two_sources_each_at_its_own_device_under_stealing(tmp_path, yolo, start, sched):  # noqa: F811
    stages, info, xs, ref = yolo
    # The sources wait out a Pi's tile times, the third device none: it steals from both,
    # and frames of both sources are on the gateway's board at once.
    sink, gw, devices = start_ftp(tmp_path, stages, info, start, 3, (2, 2), 16,
                                  ["rpi3bplus", "rpi3bplus", "zero"], sched, queue_size=4)
    which = send_both_sources(devices, xs)
    assert wait_for(lambda: len(sink.server.frames) == len(FRAMES), 120)
    assert sorted(sink.server.frames) == sorted(which)  # every frame of both sources
    for pid, i in which.items():
        np.testing.assert_allclose(sink.server.frames[pid].reshape(ref[i].shape), ref[i], **TOL)
    tiles = 4 * len(FRAMES)
    assert wait_for(lambda: sum(stats(d)["tasks_done"] for d in devices) == tiles)
    done = [stats(d) for d in devices]
    assert all(d["pull_errors"] == {} for d in done), [d["pull_errors"] for d in done]
    assert done[2]["tiles_own"] == 0 and done[2]["tiles_stolen"] >= 1, done[2]
    # The sources' own frames stayed theirs unless stolen: what each gave, thieves took.
    assert sum(d["tiles_given"] for d in done) == sum(d["tiles_stolen"] for d in done)
    assert sum(d["tiles_own"] + d["tiles_stolen"] for d in done) == tiles
    gw.server.trace.flush()
    registered = events(tmp_path / "gw" / "traces" / "r1.csv", "tiles_registered")
    assert {(int(r["packet_id"]), r["detail"]) for r in registered} == {
        (first_id(s) + k, f"d{s}:4") for s, k, _i in FRAMES}
    assert events(tmp_path / "gw" / "traces" / "r1.csv", "dropped") == []
    for s in (0, 1):  # each source cut exactly its own frames
        devices[s].server.trace.flush()
        queued = events(tmp_path / f"d{s}" / "traces" / "r1.csv", "tiles_queued")
        assert sorted(int(r["packet_id"]) for r in queued) == [first_id(s), first_id(s) + 1]


def test_two_sources_through_the_gateway_under_sharing(tmp_path, yolo, start):  # noqa: F811
    stages, info, xs, ref = yolo
    sink, gw, devices = start_ftp(tmp_path, stages, info, start, 2, (2, 2), 16,
                                  ["rpi3bplus", "zero"], "wsh", queue_size=4)
    which = send_both_sources([gw], xs)
    assert wait_for(lambda: len(sink.server.frames) == len(FRAMES), 120)
    for pid, i in which.items():
        np.testing.assert_allclose(sink.server.frames[pid].reshape(ref[i].shape), ref[i], **TOL)
    assert sum(stats(gw)["tasks_by_helper"].values()) == 4 * len(FRAMES)
    gw.server.trace.flush()
    assert events(tmp_path / "gw" / "traces" / "r1.csv", "dropped") == []


def test_two_sources_through_the_gateway_under_bodp(tmp_path, yolo, start):  # noqa: F811
    stages, info, xs, ref = yolo
    sink, gw, devs = start_bodp(tmp_path, stages, info, start, [1, 1],
                                profiles=["rpi3bplus", "zero"])
    which = send_both_sources([gw], xs)
    assert wait_for(lambda: len(sink.server.frames) == len(FRAMES), 120)
    for pid, i in which.items():
        np.testing.assert_allclose(sink.server.frames[pid].reshape(ref[i].shape), ref[i], **TOL)
    gw.server.trace.flush()
    assert events(tmp_path / "gw" / "traces" / "r1.csv", "dropped") == []


def test_the_gateway_bounds_registered_frames_per_source(tmp_path, yolo, start):  # noqa: F811
    """queue_size frames registered and incomplete per source, not in all: with S sources
    above the queue size, every source must still get a frame onto the board (a shared
    bound refused the later sources' first frames, `too_many_frames`, at DeepThings' 6)."""
    from test_wst_node import steal

    stages, info, _xs, _ref = yolo
    sink, gw, _ = start_ftp(tmp_path, stages, info, start, 0, (2, 2), sched="wst",
                            queue_size=2)

    def register(name: str, pid: int):
        return steal(gw.port, "/steal/register", name, **{
            "X-Packet-Id": str(pid), "X-Tiles": "4", "X-Port": "9"})[:2]

    for s in range(4):  # four sources, two frames each: all in, at queue_size 2
        for k in range(2):
            assert register(f"d{s}", first_id(s) + k) == (200, {"ok": True}), (s, k)
    assert register("d1", first_id(1) + 2) == (
        429, {"error": "too_many_frames", "detail": f"packet {first_id(1) + 2} from d1"})
    # the registry lists every source with work, round robin, never the asker
    victims = [steal(gw.port, "/steal/victim", "d9")[1]["victim"] for _ in range(8)]
    assert victims == ["d0", "d1", "d2", "d3"] * 2
