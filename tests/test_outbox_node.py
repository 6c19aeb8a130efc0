"""run.json `send: overlap` (node_app/outbox.py): a node sends while it computes the next frame.

Real node_app servers on 127.0.0.1; the sink can be held (its request threads wait on an
event), so the tests see the outbox full and the worker waiting, not guess at timing.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import test_node_app as nodes  # tests/ is on sys.path (pytest rootdir)
from test_parallel_node import hop, node

from node_app.config import ConfigError, RunConfig
from node_app.outbox import OUTBOX_FRAMES

start = nodes.start


class HeldSink(nodes.CapturingSink):
    """A sink whose requests wait until `release` is set: the sender's POST does not return."""

    release = threading.Event()

    def admit(self, packet_id: int, body: bytes) -> dict[str, Any]:
        self.release.wait(30)
        return super().admit(packet_id, body)


@pytest.fixture
def held(tmp_path: Path, start):
    """A stage (SMALL_LAYERS, queue 20, `send: overlap`) in front of a held sink."""
    nodes.write_stage(tmp_path / "S1.npz", nodes.SMALL_LAYERS)
    HeldSink.release.clear()
    sink = start(nodes.write_configs(tmp_path, "sink", stages=[], next_hops=[], input_size=8),
                 HeldSink)
    stage = start(node(tmp_path, "a", tmp_path, {"send": "overlap"}, stages=["S1"],
                       next_hops=[hop(sink)], input_size=16, queue_size=20))
    yield sink, stage
    HeldSink.release.set()


def frames(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(11)
    return [rng.standard_normal(16).astype(np.float32) for _ in range(n)]


def holding(port: int) -> int:
    st = nodes.request(port, "GET", "/stats")[1]
    return int(st["queue_depth"]) + int(st["busy"])


def test_overlap_holds_every_frame_until_sent_then_delivers_all_in_order(held) -> None:
    """With the next hop stalled, the node holds all 8 frames (queued, in the worker, in the
    outbox, being sent: /stats `queue_depth + busy` counts each, so a drain waits for them);
    released, all 8 arrive in order, each equal to the nodes.reference."""
    sink, stage = held
    xs = frames(8)
    for i, x in enumerate(xs):
        assert nodes.send_frame(stage.port, i, x)[0] == 200
    # 1 being sent, OUTBOX_FRAMES waiting, 1 in the worker (waiting to hand over), 2 queued
    assert nodes.wait_for(lambda: nodes.request(stage.port, "GET", "/stats")[1]["queue_depth"]
                    == 8 - OUTBOX_FRAMES - 2)
    assert holding(stage.port) == 8
    assert nodes.request(stage.port, "GET", "/stats")[1]["forwarded"] == 0
    HeldSink.release.set()
    assert nodes.wait_for(lambda: len(sink.server.frames) == 8)
    assert nodes.wait_for(lambda: holding(stage.port) == 0)
    for i, x in enumerate(xs):
        np.testing.assert_allclose(sink.server.frames[i], nodes.reference(x, nodes.SMALL_LAYERS),
                                   rtol=1e-5, atol=1e-6)
    stage.server.trace.flush()
    sent = [int(r["packet_id"]) for r in nodes.events(stage.trace_path, "forwarded")]
    assert sent == list(range(8))


def test_overlap_at_stop_sends_what_was_computed_and_traces_the_rest(held) -> None:
    """Stopping with frames in the outbox: the computed ones are sent before the forwarders
    close; frames never started are traced `dropped shutdown`; none is lost unaccounted."""
    sink, stage = held
    for i, x in enumerate(frames(8)):
        assert nodes.send_frame(stage.port, i, x)[0] == 200
    assert nodes.wait_for(lambda: holding(stage.port) == 8
                    and nodes.request(stage.port, "GET", "/stats")[1]["queue_depth"] == 2)
    stopper = threading.Thread(target=stage.stop)
    stopper.start()
    assert nodes.wait_for(lambda: stage.server.stopping.is_set())
    HeldSink.release.set()
    stopper.join(timeout=20)
    assert not stopper.is_alive()
    rows = nodes.read_trace(stage.trace_path)
    dropped = {int(r["packet_id"]) for r in rows if r["event"] == "dropped"}
    assert all(r["detail"] == "shutdown" for r in rows if r["event"] == "dropped")
    assert nodes.wait_for(lambda: set(sink.server.frames) | dropped == set(range(8)))
    assert len(sink.server.frames) >= OUTBOX_FRAMES + 1, sorted(sink.server.frames)


@pytest.mark.parametrize("extra, words", [
    ({"send": "async"}, "field 'send' must be one of inline, overlap"),
    ({"send": "overlap", "route": "least_queue", "next_hops": ["127.0.0.1:1", "127.0.0.1:2"]},
     "not with 'route'"),
    ({"send": "overlap", "tasks": {"blocks": 2, "width": 4}}, "not with 'tasks'"),
])
def test_send_mode_is_checked_and_refused_where_a_role_steers_by_replies(extra, words) -> None:
    base = {"run_id": "r1", "stages": ["S1"], "next_hops": ["127.0.0.1:1"], "queue_size": 5,
            "max_body_bytes": 4096, "input_size": 16}
    with pytest.raises(ConfigError) as err:
        RunConfig.from_dict(base | extra)
    assert words in str(err.value)
    assert RunConfig.from_dict(base | {"send": "overlap"}).send == "overlap"
    assert RunConfig.from_dict(base).send == "inline"


@pytest.mark.controller
def test_spec_send_defaults_per_strategy_and_refuses_overlap_where_replies_steer() -> None:
    from harness.errors import SpecError
    from harness.spec import RunSpec

    assert RunSpec(strategy="adaptive").send == "overlap"
    assert RunSpec(strategy="adaptive", send="inline").send == "inline"
    assert RunSpec(strategy="0").send == "inline"
    assert RunSpec(strategy="0", send="overlap").send == "overlap"
    for strategy in ("dp", "2", "mp", "tasks"):
        with pytest.raises(SpecError) as err:
            RunSpec(strategy=strategy, send="overlap")
        assert err.value.field == "send" and "--send" in err.value.cli_message()
    with pytest.raises(SpecError) as err:
        RunSpec(strategy="adaptive", send="later")
    assert err.value.field == "send"


@pytest.mark.controller
def test_model_of_overlap_takes_the_hop_off_the_bottleneck() -> None:
    """DES, the baseline at 30 fps with a 2 ms hop: inline, B's worker is busy 40 + 2 ms a
    frame (23.8 fps); overlap, 40 ms (25 fps), its sender sending the while."""
    from harness.predict import predict

    common = {"warmup_frames": 100, "measure_frames": 1500, "queue_size": 5, "x": 1,
              "l1_ms": 4.0, "l2_ms": 40.0, "switch_ms": 0.0, "hop_ms": 2.0}
    inline = predict("baseline", 30.0, send="inline", **common)
    overlap = predict("baseline", 30.0, send="overlap", **common)
    assert inline["delivered_fps"] == pytest.approx(1000 / 42, rel=0.01)
    assert overlap["delivered_fps"] == pytest.approx(25.0, rel=0.01)
    # a sender slower than the worker is the bottleneck itself: 50 ms a send, 20 fps
    slow = predict("baseline", 30.0, send="overlap", **(common | {"hop_ms": 50.0}))
    assert slow["delivered_fps"] == pytest.approx(20.0, rel=0.01)
