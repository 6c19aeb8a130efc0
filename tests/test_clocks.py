"""Clocks across hosts (issue 18): a node's injected clock offset is measured by the NTP-style
exchange within its bound, and the analysis puts every host's stamps on the controller's clock
before computing per-hop and end-to-end intervals.

Nodes run in-process on 127.0.0.1 (tests/test_node_app.py's helpers); the analysis tests use
the synthetic run of tests/test_analysis.py with one host's clock shifted.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
import pytest
import test_node_app  # tests/ is on sys.path (rootdir)
from test_analysis import make_run
from test_node_app import read_trace, request, write_configs

from harness import clocks
from harness.analysis import latencies_ms, load_run, summarize
from node_app.config import ConfigError, NodeConfig

OFFSET_S = 0.25
start = test_node_app.start  # the fixture that starts NodeServers in threads


def _with_offset(node_file: Path, offset: float) -> Path:
    cfg = json.loads(node_file.read_text())
    node_file.write_text(json.dumps(cfg | {"clock_offset_s": offset}))
    return node_file


# node side -----------------------------------------------------------------------------


def test_exchange_measures_an_injected_offset_within_its_bound(tmp_path: Path, start) -> None:
    node = start(_with_offset(write_configs(tmp_path, "pi1", stages=[], next_hops=[],
                                            input_size=4), OFFSET_S))
    got = clocks.exchange(f"127.0.0.1:{node.port}", n=8)
    assert got["samples"] == 8
    assert got["uncertainty_ms"] >= 0.0 and got["rtt_ms"] == pytest.approx(
        2 * got["uncertainty_ms"], abs=1e-3)
    # The true offset is 250 ms exactly (same machine clock): within the exchange's bound.
    assert abs(got["offset_ms"] - OFFSET_S * 1000.0) <= got["uncertainty_ms"] + 1e-3, got
    assert got["uncertainty_ms"] < 50.0, got  # loopback: well under a scheduler tick or two


def test_clock_answer_and_trace_rows_carry_the_offset(tmp_path: Path, start) -> None:
    shifted = start(_with_offset(write_configs(tmp_path, "pi1", stages=[], next_hops=[],
                                               input_size=4), -OFFSET_S))
    status, body = request(shifted.port, "GET", "/clock")
    assert status == 200 and body["node"] == "pi1"
    assert abs(body["t"] - (time.time() - OFFSET_S)) < 0.2, body  # 250 ms shift shows
    # No token needed, and any other verb on /clock is refused like every GET route's.
    status, err = request(shifted.port, "POST", "/clock", b"")
    assert status == 405 and err["error"] == "method_not_allowed"
    before = time.time()
    status, _ = request(shifted.port, "POST", "/message", b"\0" * 16, {"X-Packet-Id": "7"})
    assert status == 200
    after = time.time()
    shifted.stop()
    rows = [r for r in read_trace(shifted.trace_path) if r["event"] == "received"]
    assert len(rows) == 1
    assert before - OFFSET_S - 0.01 <= float(rows[0]["t"]) <= after - OFFSET_S + 0.01, rows


def test_clock_offset_is_validated() -> None:
    base = {"node": "pi1", "bind": "127.0.0.1", "port": 0, "token": "t", "profile": "zero",
            "stages_dir": "/tmp", "trace_dir": "/tmp", "run_file": "/tmp/run.json"}
    assert NodeConfig.from_dict(base).clock_offset_s == 0.0
    assert NodeConfig.from_dict(base | {"clock_offset_s": 1}).clock_offset_s == 1.0
    for bad in ("0.25", True, float("nan"), 1e9, None):
        with pytest.raises(ConfigError, match="clock_offset_s"):
            NodeConfig.from_dict(base | {"clock_offset_s": bad})


def test_estimate_keeps_the_minimum_rtt_sample() -> None:
    # Host clock = controller + 0.1 s. The slow sample's reply was delayed on the way back
    # (asymmetric): it alone would give offset 100 - 20 = 80 ms.
    samples = [(10.0, 10.1 + 0.001, 10.002), (11.0, 11.1 + 0.001, 11.042)]
    got = clocks.estimate(samples)
    assert got["offset_ms"] == pytest.approx(100.0, abs=1e-6)
    assert got["uncertainty_ms"] == pytest.approx(1.0, abs=1e-6)
    assert got["at"] == pytest.approx(10.001)


def test_clock_log_records_failures_per_host(tmp_path: Path, start) -> None:
    node = start(_with_offset(write_configs(tmp_path, "pi1", stages=[], next_hops=[],
                                            input_size=4), OFFSET_S))
    log = clocks.ClockLog({"pi1": f"127.0.0.1:{node.port}", "pi9": "127.0.0.1:1"}, samples=3)
    log.measure("start")
    log.measure("end")
    doc = json.loads(log.write(tmp_path / "clocks.json").read_text())
    pi1 = doc["hosts"]["pi1"]
    assert pi1["start"]["samples"] == 3 and pi1["end"]["at"] >= pi1["start"]["at"]
    assert abs(pi1["end"]["offset_ms"] - 250.0) <= pi1["end"]["uncertainty_ms"] + 1e-3
    assert "error" in doc["hosts"]["pi9"]["start"] and "error" in doc["hosts"]["pi9"]["end"]


# analysis side -------------------------------------------------------------------------


def _shift_host(run_dir: Path, name: str, offset_s: float, drift_s: float = 0.0) -> None:
    """Rewrite one host's trace as its own clock would have stamped it: offset_s at the start
    of the run, growing linearly by drift_s over the trace."""
    path = run_dir / "traces" / f"{name}.csv"
    df = pd.read_csv(path, dtype={"detail": str}, keep_default_na=False)
    t0, t1 = df["t"].min(), df["t"].max()
    df["t"] = df["t"] + offset_s + drift_s * (df["t"] - t0) / (t1 - t0)
    df["t"] = df["t"].map(lambda t: f"{t:.6f}")
    df.to_csv(path, index=False)


def _clocks_json(run_dir: Path, entries: dict[str, dict]) -> None:
    (run_dir / "clocks.json").write_text(json.dumps({"reference": "controller",
                                                     "hosts": entries}))


def _entry(at0: float, off0_ms: float, at1: float, off1_ms: float, unc_ms: float = 0.2) -> dict:
    return {"start": {"offset_ms": off0_ms, "uncertainty_ms": unc_ms, "at": at0},
            "end": {"offset_ms": off1_ms, "uncertainty_ms": unc_ms, "at": at1}}


def test_correction_restores_per_hop_intervals_of_a_shifted_host(tmp_path: Path) -> None:
    truth = summarize(load_run(make_run(tmp_path, "truth")))
    run_dir = make_run(tmp_path, "shifted")
    _shift_host(run_dir, "B", OFFSET_S)
    trace = pd.read_csv(run_dir / "traces" / "B.csv")
    _clocks_json(run_dir, {"A": _entry(trace.t.min() - 1, 0.0, trace.t.max() + 1, 0.0),
                           "B": _entry(trace.t.min() - 1, 250.0, trace.t.max() + 1, 250.0)})

    raw = summarize(load_run(run_dir, correct=False))
    assert raw["hops"]["A->B"]["p50_ms"] == pytest.approx(2.0 + 250.0, abs=0.01)  # wrong
    assert raw["hops"]["B->sink"]["p50_ms"] == pytest.approx(14.0 - 250.0, abs=0.01)
    assert any("negative per-hop" in w for w in raw["warnings"]), raw["warnings"]

    fixed = summarize(load_run(run_dir))
    for hop in ("client->A", "A->B", "B->sink"):
        assert fixed["hops"][hop]["p50_ms"] == pytest.approx(truth["hops"][hop]["p50_ms"],
                                                             abs=0.01), hop
    assert truth["hops"]["A->B"]["p50_ms"] == pytest.approx(2.0, abs=0.01)
    assert fixed["hops"]["A->B"]["uncertainty_ms"] == pytest.approx(0.4)
    assert fixed["hops"]["B->sink"]["uncertainty_ms"] == pytest.approx(0.2)  # sink: 0
    # Same-node intervals never needed a correction; they stay as they were.
    assert fixed["nodes"]["B"]["measured_service_ms_mean"] == pytest.approx(
        truth["nodes"]["B"]["measured_service_ms_mean"], abs=0.01)
    assert fixed["clocks"]["hosts"]["B"]["offset_ms_start"] == 250.0
    assert fixed["clocks"]["hosts"]["B"]["drift_ppm"] == 0.0
    assert not any("clock" in w or "per-hop" in w for w in fixed["warnings"]), fixed["warnings"]


def test_drift_is_interpolated_between_start_and_end(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path)
    raw_b = pd.read_csv(run_dir / "traces" / "B.csv")
    t0, t1 = raw_b.t.min(), raw_b.t.max()
    _shift_host(run_dir, "B", 0.100, drift_s=0.020)  # 100 ms at B's first row, 120 at its last
    _clocks_json(run_dir, {"A": _entry(t0, 0.0, t1, 0.0),
                           "B": _entry(t0, 100.0, t1, 120.0)})
    s = summarize(load_run(run_dir))
    for hop, want in (("A->B", 2.0), ("B->sink", 14.0)):
        assert s["hops"][hop]["min_ms"] == pytest.approx(want, abs=0.05), s["hops"][hop]
        assert s["hops"][hop]["p99_ms"] == pytest.approx(want, abs=0.05), s["hops"][hop]
    assert s["clocks"]["hosts"]["B"]["drift_ppm"] == pytest.approx(
        20.0 / (t1 - t0) * 1000.0, rel=1e-3)


def test_remote_client_offset_corrects_end_to_end_latency(tmp_path: Path) -> None:
    truth = latencies_ms(load_run(make_run(tmp_path, "truth")))
    run_dir = make_run(tmp_path, "remote")
    client = pd.read_csv(run_dir / "client.csv")
    for col in ("intended_t", "sent_t"):  # the client's clock is 40 ms ahead
        client[col] = (client[col] + 0.040).map(lambda t: f"{t:.6f}")
    client.to_csv(run_dir / "client.csv", index=False)
    t0 = float(client["intended_t"].astype(float).min())
    (run_dir / "clocks.json").write_text(json.dumps({
        "hosts": {"A": _entry(t0, 0, t0 + 20, 0), "B": _entry(t0, 0, t0 + 20, 0)},
        "client": {"host": "pi3", **_entry(t0, 40.0, t0 + 20, 40.0, unc_ms=3.0)}}))
    raw = latencies_ms(load_run(run_dir, correct=False))
    assert raw.mean() == pytest.approx(truth.mean() - 40.0, abs=0.01)
    s = summarize(load_run(run_dir))
    assert s["latency_ms"]["mean"] == pytest.approx(truth.mean(), abs=0.01)
    assert s["hops"]["client->A"]["uncertainty_ms"] == pytest.approx(3.2)
    assert s["clocks"]["hosts"]["client"]["host"] == "pi3"
    assert any("exceeds 1 ms on per-hop" in w and "client->A" in w for w in s["warnings"]), \
        s["warnings"]


def test_wide_or_missing_clock_measurement_is_flagged(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path)
    t0 = 1_700_000_000.0
    _clocks_json(run_dir, {"A": _entry(t0, 0.0, t0 + 20, 0.0, unc_ms=1.5),
                           "B": {"start": {"error": "OSError: refused"},
                                 "end": {"error": "OSError: refused"}}})
    s = summarize(load_run(run_dir))
    assert s["hops"]["A->B"]["uncertainty_ms"] is None  # B unmeasured: no bound at all
    assert s["hops"]["client->A"]["uncertainty_ms"] == pytest.approx(1.5)
    assert not s["clocks"]["hosts"]["B"]["corrected"]
    assert s["clocks"]["hosts"]["B"]["errors"]
    text = " ".join(s["warnings"])
    assert "exceeds 1 ms on per-hop figures (client->A ±1.5 ms" in text, s["warnings"]
    assert "not measured for B" in text, s["warnings"]
