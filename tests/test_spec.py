"""RunSpec and SweepSpec reject every bad value by the option's name, before anything starts.

The values here used to pass the spec: `inf` and `1e308` then crashed with a raw
OverflowError when the run counted its frames (`int(round(inf))`), a negative seed crashed the
frame generator, and mp with a K the model exports no slices for failed at node start.
"""

from __future__ import annotations

import pytest

from harness.inventory import REPO
from harness.models import cao_dense
from harness.spec import RunSpec, SpecError
from harness.sweep import SweepSpec
from node_app.validate import MAX_PACKET_ID


@pytest.mark.parametrize(("kw", "flag", "problem"), [
    ({"rate_fps": "inf"}, "--rate", "must be a finite number"),
    ({"rate_fps": "nan"}, "--rate", "must be a finite number"),
    ({"rate_fps": "1e999"}, "--rate", "must be a finite number"),
    ({"duration_s": "1e308"}, "--duration", "a run has at most 16777216"),
    ({"rate_fps": "1e308"}, "--duration", "--rate=1e+308"),  # finite, but frames overflow
    ({"duration_s": 10 ** 6}, "--duration", "a run has at most 16777216"),
    ({"rate_fps": "0.001"}, "--duration", "is no frame to measure"),
    ({"warmup_s": "inf"}, "--warmup", "must be a finite number"),
    ({"warmup_s": "1e308"}, "--warmup", "a run has at most 16777216"),
    ({"rates": "10,inf"}, "--rates", "every rate must be a finite number"),
    ({"rates": "10,20", "step_s": "inf"}, "--step", "must be a finite number"),
    ({"rates": "10,20", "step_s": 10 ** 6}, "--step", "a run has at most 16777216"),
    ({"strategy": "2", "x": "inf"}, "--x", "must be an integer"),
    ({"strategy": "2", "x": 10 ** 400}, "--x", "must be <= 16777216"),
    ({"queue_size": "inf"}, "--queue", "must be an integer"),
    ({"queue_size": "1e30"}, "--queue", "must be <= 16777216"),
    ({"k": "inf"}, "--k", "must be an integer"),
    ({"tasks": "-inf"}, "--tasks", "must be an integer"),
    ({"seed": "1e400"}, "--seed", "must be an integer"),
    ({"seed": -1}, "--seed", "must be an integer >= 0"),
    ({"arrival": "poisson", "arrival_seed": "-3"}, "--arrival-seed", "must be an integer >= 0"),
    ({"arrival_seed": "inf"}, "--arrival-seed", "must be an integer"),
    ({"min_duration_s": "inf"}, "--min-duration", "must be a finite number"),
    ({"min_frames": "inf"}, "--min-frames", "must be an integer"),
    ({"lag_threshold_ms": "inf"}, "--lag-threshold", "must be a finite number"),
    ({"strategy": "mp", "k": 7}, "--k", "only into K in 1, 2, 3, 4, 5, 6"),
    ({"strategy": "tasks", "tasks": 2001}, "--tasks", "must be <= 2000"),
])
def test_bad_value_names_the_option(kw: dict, flag: str, problem: str) -> None:
    with pytest.raises(SpecError) as err:
        RunSpec(**kw)
    message = err.value.cli_message()
    assert message.startswith(f"{flag}: ") and problem in message, message


def test_mp_accepts_exactly_the_exported_slice_counts() -> None:
    for k in range(1, 9):
        if k in cao_dense.SLICE_COUNTS:
            assert RunSpec(strategy="mp", k=k).k == k
        else:
            with pytest.raises(SpecError, match="only into K in"):
                RunSpec(strategy="mp", k=k)
    RunSpec(strategy="dp", k=5)  # replicas need no slices: any K the hosts allow


def test_largest_run_that_fits_the_packet_ids_passes() -> None:
    spec = RunSpec(rate_fps=(MAX_PACKET_ID + 1) / 100, duration_s=100, warmup_s=0)
    assert spec.total_frames == MAX_PACKET_ID + 1
    with pytest.raises(SpecError, match="a run has at most"):
        RunSpec(rate_fps=(MAX_PACKET_ID + 1) / 100, duration_s=100, warmup_s=1)
    assert RunSpec(x="1e3", strategy="2").x == 1000  # an integer written as a float is fine


def test_sweep_checks_every_point_before_the_first_run() -> None:
    # The template (baseline) is fine; the mp point with K=7 is not: it must fail now,
    # not after the baseline ran.
    with pytest.raises(SpecError) as err:
        SweepSpec(strategies=["0", "mp"], xs=[], ks=[2, 7])
    assert err.value.cli_message().startswith("--k: ")
    with pytest.raises(SpecError) as err:
        SweepSpec(strategies=["0"], xs=[], run={"rate_fps": "inf"})
    assert err.value.cli_message().startswith("--rate: ")
    assert len(SweepSpec(strategies=["0", "mp"], xs=[], ks=[2, 4]).specs()) == 3


# DeepThings' sweep: ftp at every K x grid x sched, bodp at every K (issue 12).
YOLO = {"model": "yolov2-16"}


def _lab_hosts() -> int:
    from harness.inventory import load_inventory

    return len(load_inventory("inventory/lab.yml").hosts)


def test_sweep_points_are_the_product_where_each_knob_applies() -> None:
    sweep = SweepSpec(strategies=["ftp", "bodp", "0"], xs=[], devices=[1, 2, 4],
                      grids=["3x3", "5X5"], scheds=["wsh", "wst"], run=YOLO)
    points = [(s.strategy, s.k if s.strategy != "baseline" else None,
               s.grid if s.strategy == "ftp" else None,
               s.sched if s.strategy == "ftp" else None) for s in sweep.specs()]
    ftp = {("ftp", k, g, sc) for k in (1, 2, 4) for g in ("3x3", "5x5") for sc in ("wsh", "wst")}
    assert sorted(p for p in points if p[0] == "ftp") == sorted(ftp)  # each once, 12 in all
    assert [p for p in points if p[0] == "bodp"] == [("bodp", k, None, None) for k in (1, 2, 4)]
    assert [p for p in points if p[0] == "baseline"] == [("baseline", None, None, None)]
    assert len(points) == 12 + 3 + 1
    assert all(s.model == "yolov2-16" for s in sweep.specs())
    # --devices is --k under the name ftp and bodp use; repeats multiply every point
    by_k = SweepSpec(strategies=["bodp"], xs=[], ks=[1, 2, 4], run=YOLO, repeats=2)
    assert [s.k for s in by_k.specs()] == [1, 1, 2, 2, 4, 4]
    # without lists, the template's single values
    one = SweepSpec(strategies=["ftp"], xs=[], run={**YOLO, "k": 3, "grid": "2x2",
                                                   "sched": "wst-s"}).specs()
    assert [(s.k, s.grid, s.sched) for s in one] == [(3, "2x2", "wst-s")]


@pytest.mark.parametrize(("kw", "flag", "problem"), [
    ({"devices": [1, 2, 6]}, "--devices", "ftp with K=6 needs 7 hosts, but "),
    ({"devices": [1, "two"]}, "--devices", "must be an integer, got 'two'"),
    ({"devices": [0, 2]}, "--devices", "every K must be >= 1"),
    ({"devices": [2], "ks": [2]}, "--devices", "give --devices or --k, not both"),
    ({"ks": [2, 6]}, "--k", "needs 7 hosts, but "),
    ({"grids": ["3x3", "20x20"]}, "--grid", "20x20 is finer than fused layer 16's output 10x10"),
    ({"grids": ["3by3"]}, "--grid", "must be NxM"),
    ({"scheds": ["wsh", "steal"]}, "--sched", "must be one of wsh, wst, wst-s, got 'steal'"),
    ({"run": {"model": "yolov2-16", "fused": 17}}, "--fused", "must be <= 16"),
    ({"run": {}}, "--model", "model cao-dense has no fused stage"),
    ({"strategies": ["bodp"], "grids": ["3x3"]}, "--grid", "only ftp uses it"),
    ({"strategies": ["bodp"], "scheds": ["wst"]}, "--sched", "only ftp uses it"),
    ({"strategies": ["0"], "devices": [2], "run": {}}, "--devices", "none of the strategies"),
])
def test_bad_sweep_point_names_the_option(kw: dict, flag: str, problem: str) -> None:
    args = {"strategies": ["ftp", "bodp"], "xs": [], "run": YOLO, **kw}
    with pytest.raises(SpecError) as err:
        SweepSpec(**args)
    message = err.value.cli_message()
    assert message.startswith(f"{flag}: ") and problem in message, message


def test_sweep_point_beyond_the_inventory_names_its_size() -> None:
    hosts = _lab_hosts()
    SweepSpec(strategies=["ftp", "bodp"], xs=[], devices=[1, hosts - 1], run=YOLO)  # fits
    with pytest.raises(SpecError) as err:
        SweepSpec(strategies=["bodp"], xs=[], devices=[1, hosts], run=YOLO)
    assert err.value.cli_message().startswith(
        f"--devices: bodp with K={hosts} needs {hosts + 1} hosts, but "
        f"{REPO / 'inventory/lab.yml'} has {hosts} (at most K={hosts - 1} fits); ")
    assert f"`fab lab-inventory --pis={hosts + 1} > inventory/lab-{hosts + 1}.yml`" \
        in err.value.cli_message()


def test_scaling_sweep_beyond_the_lab_names_k_and_the_lab_that_holds_it() -> None:
    """`fab sweep --strategies=dp,mp,tasks --k=1,...,6` on the 6-host lab: K = 6 needs A + 6
    = 7 hosts. The sweep fails while being built (nothing has run), naming --k, the hosts K = 6
    needs, the largest K that fits, and the `fab lab-inventory` command for a lab that holds
    the sweep's largest point (tests/test_cli.py: no run starts)."""
    hosts = _lab_hosts()
    assert hosts == 6
    ks = list(range(1, hosts + 1))
    with pytest.raises(SpecError) as err:
        SweepSpec(strategies=["dp", "mp", "tasks"], xs=[], ks=ks, run={"rate_fps": 120})
    message = err.value.cli_message()
    assert message.startswith(f"--k: dp with K={hosts} needs {hosts + 1} hosts, but "), message
    assert f"has {hosts} (at most K={hosts - 1} fits)" in message
    assert f"`fab lab-inventory --pis={hosts + 1} > inventory/lab-{hosts + 1}.yml`" in message
    assert f"--inventory=inventory/lab-{hosts + 1}.yml" in message
    # The fix names the largest point of the sweep, not the first one that fails: ftp at
    # K = 7 needs 8 hosts even though dp at K = 6 fails first.
    with pytest.raises(SpecError) as err:
        SweepSpec(strategies=["dp", "ftp"], xs=[], ks=[6, 7], run=YOLO)
    assert "--pis=8 " in err.value.cli_message() and "dp with K=6" in err.value.cli_message()


def test_scaling_sweep_fits_a_lab_made_by_lab_inventory(tmp_path) -> None:
    from harness.lab_inventory import write_inventory

    bigger = tmp_path / "lab-7.yml"
    write_inventory("7", "rpi3bplus", str(bigger))
    sweep = SweepSpec(strategies=["dp", "mp", "tasks"], xs=[], ks=[1, 2, 3, 4, 5, 6],
                      run={"rate_fps": 120, "inventory": str(bigger)})
    assert sorted({(s.strategy, s.k) for s in sweep.specs()}) == sorted(
        (s, k) for s in ("dp", "mp", "tasks") for k in range(1, 7))
    assert {s.rate_fps for s in sweep.specs()} == {120}
