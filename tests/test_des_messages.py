"""The model's message sizes and FTP's schedulers, against answers worked out by hand
(harness/des.py Links, harness/des_steal.py, harness/overhead.py message_fit).

Issue 12: the model underestimated BODP's latency as K grew because a message cost the same
whatever its bytes, and it did not model FTP's work stealing at all. These cases pin what
the model now charges: bytes / rate per message, three round trips and a poll per steal,
the reuse prices of wst-s.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.des import Links, Params, ReuseTile
from harness.errors import SpecError
from harness.inventory import link_rate_bytes, load_inventory
from harness.overhead import MessageFit, message_fit, task_messages
from harness.predict import predict_spec
from harness.spec import RunSpec
from harness.strategies import ftp

HOP = 1.0
SPECS = Path(__file__).parent / "specs"

# yolov2-16 at 160 x 160: a frame is 160 x 160 x 3 floats in, 10 x 10 x 256 floats out; a
# 1x1 grid's one tile walks back to the whole frame ("same" convs and 2 x 2 pools).
FRAME_IN, FRAME_OUT = 160 * 160 * 3 * 4, 10 * 10 * 256 * 4


def _ftp_spec(k: int, grid: str, sched: str = "wsh", **extra) -> dict:
    return {"strategy": "ftp", "rate_fps": 0.02, "warmup_frames": 0, "measure_frames": 2,
            "x": 1, "k": k, "queue_size": 5, "profile": "rpi3bplus", "model": "yolov2-16",
            "grid": grid, "sched": sched, **extra}


def _fit(rate: float | None) -> MessageFit:
    return MessageFit(HOP, rate, "test", 10)


def _p50(spec: dict, fit: MessageFit | None = None) -> float:
    p = predict_spec(spec, HOP, "t", fit=fit)
    assert p.get("skipped") is None and p["coverage"] == 1.0
    return p["latency_ms"]["p50"]


# --- bytes / rate ---------------------------------------------------------------------------


def test_one_device_one_tile_grows_by_exactly_its_bytes_over_the_rate():
    """A frame's four messages (client -> G, the tile's input G -> D0, its output D0 -> G,
    G -> sink) each add their bytes / rate, and nothing else changes."""
    rate = 100.0  # bytes per ms
    free = _p50(_ftp_spec(1, "1x1"), _fit(None))
    priced = _p50(_ftp_spec(1, "1x1"), _fit(rate))
    assert priced - free == pytest.approx((FRAME_IN + FRAME_IN + FRAME_OUT + FRAME_OUT) / rate)


def test_a_shaped_link_prices_the_bytes_that_cross_it_at_its_tc_rate():
    """D0 shaped to 100 mbit (12 500 bytes per ms), G unshaped and no fitted rate: only the
    tile's two messages cross D0's link."""
    nodes = [{"role": "G", "profile": "rpi3bplus"},
             {"role": "D0", "profile": "rpi3bplus", "link_rate": "100mbit"},
             {"role": "sink"}]
    free = _p50(_ftp_spec(1, "1x1"))
    shaped = predict_spec(_ftp_spec(1, "1x1", nodes=nodes, profile=""), HOP, "t")
    assert shaped["latency_ms"]["p50"] - free == pytest.approx((FRAME_IN + FRAME_OUT) / 12500.0)
    assert "D0 shaped to 12.5 kB/ms" in shaped["rate_basis"]


def test_links_take_the_slower_shaped_end_else_the_fitted_rate():
    links = Links(rate=1000.0, shaped=(("G", 50.0), ("D1", 20.0)))
    assert links.ms("G", "D0", 1000) == pytest.approx(20.0)  # G's 50
    assert links.ms("G", "D1", 1000) == pytest.approx(50.0)  # D1's 20
    assert links.ms("D0", "D2", 1000) == pytest.approx(1.0)  # neither shaped: the fit
    assert Links().ms("G", "D0", 10**9) == 0.0  # no rate: bytes are free


def test_a_shaped_gateway_sends_one_message_at_a_time():
    """G shaped to 100 mbit: its link is one wire each way (tbf), so the tiles' inputs to
    several devices queue on it instead of overlapping, as do their results; devices
    shaped alone each have their own wire. BODP's 608 x 608 frame over 100 Mbit/s: the
    model said 8.1 s with overlapping messages, the lab took 26.2 s, the queue says 22.9."""
    def nodes(k: int, shaped: str) -> list[dict]:
        return ([{"role": "G", "profile": "rpi3bplus",
                  **({"link_rate": "100mbit"} if shaped == "G" else {})}]
                + [{"role": f"D{i}", "profile": "rpi3bplus",
                    **({"link_rate": "100mbit"} if shaped == "D" else {})} for i in range(k)]
                + [{"role": "sink"}])

    def p50(k: int, shaped: str) -> float:
        spec = _ftp_spec(k, "2x2", nodes=nodes(k, shaped), profile="")
        return predict_spec(spec, HOP, "t")["latency_ms"]["p50"]

    frame = (FRAME_IN + FRAME_OUT) / 12500.0  # the frame's own messages cross G's link only
    # one device: its tiles go one after another either way, so a shared wire adds nothing
    assert p50(1, "G") - p50(1, "D") == pytest.approx(frame)
    # four devices take the four tiles at once: on their own links the inputs overlap, on
    # G's one wire the last waits for the three before it (and the results queue likewise)
    tile_in = ftp.task_bytes(RunSpec(strategy="ftp", model="yolov2-16", k=4, grid="2x2"),
                             ["rpi3bplus"] * 4)[0][0]
    assert p50(4, "G") - p50(4, "D") - frame >= 3 * tile_in / 12500.0 - 1e-6


def test_bodp_bands_carry_their_rows_and_the_first_layers_weigh_most():
    """K = 1: each layer's one band is the whole map, in and out."""
    from harness.spec import RunSpec
    from harness.strategies import bodp

    layers = bodp.task_bytes(RunSpec(strategy="bodp", model="yolov2-16", k=1), ["rpi3bplus"])
    assert layers[0] == (FRAME_IN, 160 * 160 * 32 * 4)  # conv 3 -> 32 at 160 x 160
    assert layers[1] == (160 * 160 * 32 * 4, 80 * 80 * 32 * 4)  # its 2 x 2 pool
    assert layers[-1][1] == FRAME_OUT


def test_link_rate_parses_as_the_lab_shapes_and_bad_ones_name_host_and_field(tmp_path):
    assert link_rate_bytes("100mbit") == 12_500_000
    assert link_rate_bytes("2mbps") == 2_000_000
    inv = tmp_path / "inv.yml"
    inv.write_text("all:\n  children:\n    cluster:\n      hosts:\n        pi1:\n"
                   "          ansible_host: 198.18.0.11\n          link_rate: 100mbit\n"
                   "        pi2:\n          ansible_host: 198.18.0.12\n")
    hosts = load_inventory(str(inv)).hosts
    assert (hosts["pi1"].link_rate, hosts["pi2"].link_rate) == ("100mbit", "")
    inv.write_text(inv.read_text().replace("100mbit", "fast"))
    with pytest.raises(SpecError, match="pi1: link_rate: bad link_rate 'fast'"):
        load_inventory(str(inv))


# --- the fit on a run's own task messages ---------------------------------------------------


def _board_events(tasks: list[tuple[int, float, float]]) -> pd.DataFrame:
    """Traces of one frame: per task (block, compute ms, comm ms) the gateway's sent/done
    and device d<block>'s started/finished (each on its own clock, offset 1000 s)."""
    rows = []
    for block, compute, comm in tasks:
        dev, t0 = f"d{block}", 10.0 * block
        rows += [(t0, 0, "G", "task_sent", f"{dev}:{block}"),
                 (t0 + (compute + comm) / 1000.0, 0, "G", "task_done", f"{dev}:{block}"),
                 (1000.0 + t0, 0, dev, "task_started", f"{block}/9"),
                 (1000.0 + t0 + compute / 1000.0, 0, dev, "task_finished", "1.0:2.0")]
    return pd.DataFrame(rows, columns=["t", "packet_id", "node", "event", "detail"])


def test_message_fit_recovers_the_hop_and_the_rate_of_the_traces():
    sizes = [1000 * (i + 1) for i in range(9)]
    events = _board_events([(b, 40.0, 2 * 0.5 + sizes[b] / 250.0) for b in range(9)])
    assert list(task_messages(events)["block"]) == list(range(9))
    fit = message_fit(events, sizes)
    assert fit is not None and fit.tasks == 9
    assert fit.hop_ms == pytest.approx(0.5, abs=1e-3)
    assert fit.rate == pytest.approx(250.0, rel=1e-3)
    assert "kB/ms" in fit.basis


def test_message_fit_without_a_trend_keeps_the_per_message_cost_and_says_so():
    sizes = [1000 * (i + 1) for i in range(9)]
    rng = np.random.default_rng(0)
    events = _board_events([(b, 40.0, 3.0 - sizes[b] / 1e4 + rng.uniform(0, 0.1))
                            for b in range(9)])
    fit = message_fit(events, sizes)
    assert fit is not None and fit.rate is None
    median = float(np.median(task_messages(events)["comm_ms"]))
    assert fit.hop_ms == pytest.approx(median / 2, abs=1e-3)
    assert "no usable fit" in fit.basis and "bytes not priced" in fit.basis
    assert message_fit(_board_events([]).iloc[0:0], sizes) is None


# --- wsh against wst, wst against wst-s: hand cases -----------------------------------------


def _params(sched: str, k: int, tile_ms: list[float], **extra) -> Params:
    return Params(rate_fps=0.1, warmup_frames=0, measure_frames=1, queue_size=5, x=1,
                  first_ms=0.0, second_ms=0.0, whole_ms=0.0, switch_ms=0.0, hop_ms=HOP,
                  parts_ms=tuple(tuple(tile_ms) for _ in range(k)),
                  rounds=(tuple(range(len(tile_ms))),), sched=sched, **extra)


def _latency(p: Params) -> float:
    out = ftp.predict(p)
    assert out["coverage"] == 1.0
    return out["latency_ms"]["p50"]


def test_stealing_pays_a_poll_and_three_round_trips_sharing_pulls_at_once():
    """Two devices, two 100 ms tiles, no bytes. wsh: both pull a tile at once: 100 + 2 hops,
    then G forwards (1 hop): 103. wst: D0 finds no victim (1 hop), takes the frame and
    registers it (1 hop), computes tile 0 and returns it (101): 103. D1 found no victim at
    t = 0 and waits 100 ms from t = 1: at 101 it asks for a victim (1 hop), steals tile 1
    from D0 (the steal and D0's lease at G: 2 hops), computes and returns it (101): 205,
    then G forwards: 206."""
    assert _latency(_params("wsh", 2, [100.0, 100.0])) == pytest.approx(103.0)
    assert _latency(_params("wst", 2, [100.0, 100.0])) == pytest.approx(206.0)


def test_stealing_beats_sharing_when_the_source_keeps_its_heavy_tile_inputs():
    """One device, two 100 ms tiles of 1000 bytes in and 100 out at 10 bytes per ms. wsh
    ships each input from G: per tile 100 + 2 hops + 110: 424, then G forwards: 425. wst's
    source already holds the frame: 2 hops to register, then per tile 100 + 1 hop + 10 (the
    result only): 224, then G forwards: 225."""
    bytes_ = {"task_bytes": ((1000, 100), (1000, 100)), "links": Links(rate=10.0)}
    assert _latency(_params("wsh", 1, [100.0, 100.0], **bytes_)) == pytest.approx(425.0)
    assert _latency(_params("wst", 1, [100.0, 100.0], **bytes_)) == pytest.approx(225.0)


def test_reuse_saves_the_dependent_tile_s_work_less_its_pieces():
    """A 1 x 2 grid on one device: tile 0 independent (its result carries 50 bytes of
    pieces), tile 1 dependent on it (fetches the 50 bytes, then 40 ms instead of 100), at
    10 bytes per ms. wst: 2 + 101 + 101 + 1 = 205. wst-s: 2 + (100 + 1 + 5) + (1 + 5 + 40
    + 1) + 1 = 156."""
    reuse = (ReuseTile(give_bytes=50), ReuseTile(neighbours=(0,), ms=(40.0,), fetch_bytes=50))
    links = Links(rate=10.0)
    assert _latency(_params("wst", 1, [100.0, 100.0], links=links)) == pytest.approx(205.0)
    assert _latency(_params("wst-s", 1, [100.0, 100.0], links=links, reuse=reuse)) == \
        pytest.approx(156.0)


def test_a_dependent_tile_whose_neighbour_is_not_in_is_computed_whole():
    """1 x 2 grid, two devices, tile 0 (independent) 150 ms on D0, dependent tile 1 200 ms
    whole or 40 ms reduced. D1 steals tile 1 at 102 (as in the wsh/wst case above) and
    has it at 104, when tile 0 is not in (153): G answers 204 (1 hop) and D1 computes the
    whole tile: 104 + 1 + 200 + 1 = 306, G forwards: 307. With a 1 ms tile 0, D0 has it in
    at 4 and takes tile 1 itself before D1 asks, reduced: 4 + 1 (its pieces) + 40 + 1 = 46,
    G forwards: 47."""
    reuse = (ReuseTile(), ReuseTile(neighbours=(0,), ms=(40.0, 40.0)))
    assert _latency(_params("wst-s", 2, [150.0, 200.0], reuse=reuse)) == pytest.approx(307.0)
    assert _latency(_params("wst-s", 2, [1.0, 200.0], reuse=reuse)) == pytest.approx(47.0)


def test_wst_s_is_cheaper_than_wst_by_node_app_s_reuse_prices():
    """yolov2-16, 3x3, one device, no bytes: the source computes every tile in turn, and in
    checkerboard order every dependent tile finds its neighbours in; so wst-s saves exactly
    what harness/ftp_reuse.py says data reuse saves on rpi3bplus, less one round trip per
    dependent tile (fetching its pieces)."""
    from harness.ftp_reuse import savings

    s = savings("yolov2-16", 3, 3)
    wst, wst_s = _p50(_ftp_spec(1, "3x3", "wst")), _p50(_ftp_spec(1, "3x3", "wst-s"))
    dependent = 4  # tiles 1, 3, 5, 7
    assert wst - wst_s == pytest.approx(s.ms_plain - s.ms_reuse - dependent * HOP, abs=2e-3)
    assert s.ms_plain - s.ms_reuse > 2000  # the 45 % of docs/measurements.md


# --- a recorded spec ------------------------------------------------------------------------


@pytest.mark.parametrize("sched", ["wsh", "wst", "wst-s"])
def test_a_recorded_ftp_spec_is_predicted_under_every_scheduler(sched):
    """spec.json of the lab's ftp K = 6, 3x3 run (2026-11-28), its scheduler swapped."""
    spec = json.loads((SPECS / "ftp-k6-g3x3-wsh.json").read_text()) | {"sched": sched}
    p = predict_spec(spec, HOP, "t", fit=_fit(200_000.0))
    assert p.get("skipped") is None
    assert p["coverage"] == 1.0 and 1000.0 < p["latency_ms"]["p50"] < 3000.0
    assert p["rate_bytes_per_ms"] == 200_000.0



def test_repredict_takes_a_folder_or_a_run_id_and_names_what_it_cannot_find(
        tmp_path, monkeypatch, capsys):
    from test_analysis import make_run  # tests/ is on sys.path (pytest rootdir)

    from harness import repredict

    monkeypatch.setenv("TESTBED_RESULTS_DIR", str(tmp_path))
    folder = make_run(tmp_path / "runs", "r1", extra_spec={"queue_size": 5, "x": 1})
    from harness import analysis  # the run's summary.json, as fab experiment writes it

    summary = analysis.summarize(analysis.load_run(folder))
    (folder / "summary.json").write_text(json.dumps(summary, default=str))
    assert repredict.main([str(folder)]) == 0
    assert repredict.main(["r1"]) == 0  # an id, in the results' runs/
    assert capsys.readouterr().out.count("| r1 |") == 2
    assert repredict.main(["r1", "nope"]) == 2
    assert "no run 'nope'" in capsys.readouterr().err
