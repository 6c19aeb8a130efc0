"""Runs on mixed device profiles: every node priced by its own profile, end to end.

Issue 13: `--inventory=inventory/lab-hetero.yml --hosts=pi1,pi3 --strategy=0` put pi3's
half-speed L2 (80 ms) behind a prediction made as if both nodes were pi1's Pi 3 B+
(40 ms). The spec document here is the one experiment.py writes (`_spec_document`, from
the real inventory and the strategy's own plan), so what is tested is what a run records.
"""

from __future__ import annotations

import json

import pytest
from test_analysis import make_run  # tests/ is on sys.path (pytest rootdir)

from harness import experiment, strategies
from harness.capacity import stage_ms
from harness.inventory import REPO, Host, load_inventory
from harness.paths import RESULTS_ENV
from harness.predict import predict, predict_spec, why_not
from harness.spec import RunSpec

HOP = 0.7
HETERO = str(REPO / "inventory" / "lab-hetero.yml")
SINK = Host("sink", "198.18.0.1", "", "", "native", False)


def _doc(strategy: str, hosts: list[Host], rate: float = 20.0, **kw) -> dict:
    """spec.json as experiment.py writes it for these hosts."""
    spec = RunSpec(strategy=strategy, rate_fps=rate, duration_s=10.0, warmup_s=1.0,
                   inventory=HETERO, hosts=[h.name for h in hosts], run_id="t", **kw)
    plan = strategies.get(strategy).plan(spec, hosts, SINK)
    return experiment._spec_document(spec, plan, HETERO)


def _hetero(names: list[str]) -> list[Host]:
    return load_inventory(HETERO).pick(names)


def test_the_hetero_inventory_mixes_profiles_and_the_spec_joins_them():
    pi1, pi3 = _hetero(["pi1", "pi3"])
    assert (pi1.profile, pi3.profile) == ("rpi3bplus", "rpi3bplus_half_speed")
    doc = _doc("baseline", [pi1, pi3])
    assert doc["profile"] == "rpi3bplus,rpi3bplus_half_speed"  # a label, not a name
    assert doc["capacity_fps"] == pytest.approx(12.5)  # B: half-speed L2, 80 ms
    assert why_not(doc) is None


def test_baseline_on_mixed_profiles_prices_b_by_its_own_profile():
    """A (Pi 3 B+, L1 4 ms) -> B (half speed, L2 80 ms): 20 fps is above B's 12.5."""
    doc = _doc("baseline", _hetero(["pi1", "pi3"]))
    got = predict_spec(doc, HOP, "t")
    l1 = stage_ms("rpi3bplus", ["L1"])
    l2 = stage_ms("rpi3bplus_half_speed", ["L2"])
    assert (l1, l2) == (4.0, 80.0)
    want = predict("baseline", 20.0, 20, 200, 5, 10, l1, l2, 0.0, HOP)
    assert {k: got[k] for k in want} == want
    assert got["coverage"] < 0.7 and set(got["drops"]) == {"B"}
    assert got["delivered_fps"] == pytest.approx(1000.0 / (80.0 + HOP), rel=0.02)


def test_cao3_on_mixed_profiles_runs_each_replica_at_its_own_speed():
    """Alternating frames: B (whole model 88 ms, 11.4 fps) gets 15 of 30 fps and drops;
    A (44 ms, 22.7 fps) keeps up with its 15."""
    doc = _doc("cao3", _hetero(["pi1", "pi3"]), rate=30.0)
    got = predict_spec(doc, HOP, "t")
    assert set(got["drops"]) == {"B"}
    assert got["delivered_fps"] == pytest.approx(15.0 + 1000.0 / (88.0 + HOP), rel=0.03)
    assert doc["capacity_fps"] == pytest.approx(2 * 1000.0 / 88.0)


def test_cao1_switches_at_a_s_speed_and_b_serves_at_its_own():
    """Mixed nodes: the help policy's whole model and switches are A's, B's L2 is B's."""
    slow_a = _doc("cao1", _hetero(["pi3", "pi1"]))  # A half speed, B a Pi 3 B+
    fast_a = _doc("cao1", _hetero(["pi1", "pi3"]))  # A a Pi 3 B+, B half speed
    assert predict_spec(slow_a, HOP, "t") != predict_spec(fast_a, HOP, "t")
    half, full = "rpi3bplus_half_speed", "rpi3bplus"
    want = predict("cao1", 20.0, 20, 200, 5, 10, stage_ms(half, ["L1"]),
                   stage_ms(full, ["L2"]), whole_ms=stage_ms(half, ["L1L2"]),
                   switch_ms=2 * 850.8, switch_back_ms=2 * 50.4, hop_ms=HOP)
    got = predict_spec(slow_a, HOP, "t")
    assert {k: got[k] for k in want} == want


def test_a_joined_label_without_nodes_is_not_guessed():
    reason = why_not({"strategy": "baseline", "rate_fps": 20.0, "x": 1, "queue_size": 5,
                      "warmup_frames": 20, "measure_frames": 200,
                      "profile": "rpi3bplus,rpi3bplus_half_speed"})
    assert reason and "which node ran which profile is not known" in reason


def test_finish_run_on_a_mixed_run_writes_summary_ledger_and_report(tmp_path, monkeypatch):
    """The whole tail of `fab experiment` after the nodes stop, on a two-profile run."""
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    a = Host("A", "198.18.0.11", "", "", "rpi3bplus", True)
    b = Host("B", "198.18.0.12", "", "", "rpi3bplus_half_speed", True)
    doc = _doc("baseline", [a, b], rate=10.0)
    keep = ("strategy", "profile", "profiles", "capacity_fps", "capacity_note", "nodes",
            "queue_size", "x", "warmup_frames", "measure_frames", "rate_fps")
    run_dir = make_run(tmp_path / "runs", "mixed", extra_spec={k: doc[k] for k in keep})
    summary = experiment.finish_run(run_dir, say=lambda _m: None)

    pred = summary["predicted"]
    assert "skipped" not in pred
    # 10 fps is under B's 12.5: every frame through L1 (4 ms) + half-speed L2 (80 ms).
    assert pred["coverage"] == 1.0
    assert pred["latency_ms"]["p50"] == pytest.approx(4.0 + 80.0 + 2 * pred["hop_ms"])
    assert summary["capacity_fps"] == pytest.approx(12.5)
    assert summary["nodes"]["A"]["profile"] == "rpi3bplus"
    assert summary["nodes"]["B"]["profile"] == "rpi3bplus_half_speed"
    on_disk = json.loads((run_dir / "summary.json").read_text())
    assert on_disk["profile"] == "rpi3bplus,rpi3bplus_half_speed"

    from harness.ledger import list_runs

    rows = list_runs(tmp_path / "results.sqlite")
    assert list(rows["profile"]) == ["rpi3bplus,rpi3bplus_half_speed"]
    html = (tmp_path / "reports" / "mixed.html").read_text(encoding="utf-8")
    assert "rpi3bplus_half_speed" in html.split("<h2>Nodes</h2>")[1].split("</table>")[0]
    assert "predicted coverage" in html


def test_sweep_curves_of_a_mixed_sweep_use_the_runs_nodes(tmp_path, monkeypatch):
    """A sweep's dashed lines for a mixed inventory price each node as its runs did."""
    import pandas as pd

    from harness.paths import runs_dir
    from harness.sweep import SweepSpec, predicted_curves

    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    doc = _doc("baseline", _hetero(["pi1", "pi3"]))
    (runs_dir() / "r1").mkdir(parents=True)
    (runs_dir() / "r1" / "spec.json").write_text(json.dumps(doc))
    sweep = SweepSpec(strategies=["baseline"], xs=[1], repeats=1,
                      run={"rate_fps": 20.0, "duration_s": 10.0, "warmup_s": 1.0,
                           "inventory": HETERO, "hosts": ["pi1", "pi3"]})
    points = pd.DataFrame([{"run_id": "r1", "strategy": "baseline", "x": None,
                            "profile": doc["profile"], "predicted_hop_ms": HOP}])
    curves = predicted_curves(sweep, points)
    assert len(curves) == 1
    assert curves.iloc[0]["coverage"] == predict_spec(doc, HOP, "t")["coverage"] < 0.7


def test_no_run_on_disk_no_curve_rather_than_a_guess(tmp_path, monkeypatch):
    import pandas as pd

    from harness.sweep import SweepSpec, predicted_curves

    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    sweep = SweepSpec(strategies=["baseline"], xs=[1], repeats=1, run={"rate_fps": 20.0})
    points = pd.DataFrame([{"run_id": "gone", "strategy": "baseline", "x": None,
                            "profile": "rpi3bplus,rpi3bplus_half_speed",
                            "predicted_hop_ms": HOP}])
    assert predicted_curves(sweep, points).empty



# --- the mixed lab: six hosts of five kinds (inventory/lab-mixed.yml) ----------------------

MIXED = str(REPO / "inventory" / "lab-mixed.yml")


def _mixed(names: list[str]) -> list[Host]:
    return load_inventory(MIXED).pick(names)


def test_dp_bound_on_mixed_replicas_sums_each_replicas_own_rate():
    """dp K = 4 behind pi1 (Pi 3 B+, L1 at 250 fps): pi2, pi3 (Pi 4 B), pi4 (Zero 2 W),
    pi5 (Pi 5), each serving L2 at its own profile's rate; the bound is their sum."""
    hosts = _mixed(["pi1", "pi2", "pi3", "pi4", "pi5"])
    assert [h.profile for h in hosts] == ["rpi3bplus", "rpi4b", "rpi4b", "rpizero2w", "rpi5"]
    l2 = {p: stage_ms(p, ["L2"]) for p in ("rpi4b", "rpizero2w", "rpi5")}
    assert l2 == {"rpi4b": pytest.approx(20.789), "rpizero2w": pytest.approx(56.0),
                  "rpi5": pytest.approx(7.857, rel=1e-3)}
    replicas = 1000 / l2["rpi4b"] * 2 + 1000 / l2["rpizero2w"] + 1000 / l2["rpi5"]
    assert replicas == pytest.approx(241.3, abs=0.1)  # under A's 250: the replicas bound
    spec = RunSpec(strategy="dp", k=4, rate_fps=150.0, inventory=MIXED)
    plan = strategies.get("dp").plan(spec, hosts, SINK)
    assert plan.capacity_fps == pytest.approx(replicas)
    # Round robin over the same four would be bound by the slowest: 4 x 17.9 = 71.4 fps.
    assert plan.capacity_fps > 3 * 4 * 1000 / l2["rpizero2w"]
    # With pi6 (a Pi 3 B+) as a fifth replica the sum passes 250: A's L1 is the bound.
    five = strategies.get("dp").plan(RunSpec(strategy="dp", k=5, inventory=MIXED),
                                     _mixed([f"pi{i}" for i in range(1, 7)]), SINK)
    assert five.capacity_fps == pytest.approx(1000 / stage_ms("rpi3bplus", ["L1"]))


def test_dp_on_the_mixed_lab_is_predicted_with_each_replicas_own_speed():
    """150 fps over replicas worth 241 fps: the least-backlog router keeps every frame;
    as if all were A's Pi 3 B+ (4 x 25 = 100 fps) a third would be dropped."""
    doc = _doc("dp", _mixed(["pi1", "pi2", "pi3", "pi4", "pi5"]), rate=150.0, k=4)
    assert doc["profile"] == "rpi3bplus,rpi4b,rpi5,rpizero2w"
    got = predict_spec(doc, HOP, "t")
    assert got["coverage"] == 1.0 and got["drops"] == {}
    same = {**doc, "nodes": [{**n, "profile": "rpi3bplus"} for n in doc["nodes"]]}
    assert predict_spec(same, HOP, "t")["coverage"] < 0.75
