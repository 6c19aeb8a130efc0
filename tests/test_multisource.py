"""`--sources=S` (issue 12): S data sources, each a camera with its own schedule and packet
ID range; where each source's frames enter (ftp's wst: device Di; wsh and bodp: the gateway);
what the spec refuses before anything starts; and the sweep's sources knob.

(tests/test_sources.py is about the seeds this project cites, not data sources.)
"""

from __future__ import annotations

import numpy as np
import pytest

from harness.schedule import (
    ID_STRIDE,
    MAX_SOURCES,
    build,
    first_id,
    frames,
    portion,
    share,
    source_of,
    sources_of_client,
)
from harness.spec import RunSpec, SpecError

PARAMS = {"arrival": "constant", "seed": 3, "rate_fps": 10.0, "warmup_s": 1.0,
          "duration_s": 4.0, "rates": [], "step_s": 0.0}


def test_one_source_is_exactly_the_single_schedule() -> None:
    for arrival in ("constant", "poisson"):
        params = {**PARAMS, "arrival": arrival}
        one, fr = build(**params), frames(params, 1)
        assert np.array_equal(fr.pid, one.ids)  # IDs 0, 1, 2, ... as ever
        assert np.array_equal(fr.offset_s, one.offset_s)  # bit for bit
        assert np.array_equal(fr.step, one.step) and not fr.source.any()
        assert np.array_equal(portion(fr, 1, 3), np.array(share(len(one), 1, 3)))


def test_each_source_has_its_own_schedule_and_id_range() -> None:
    fr = frames(PARAMS, 3)
    n = len(build(**PARAMS))
    assert len(fr) == 3 * n
    assert np.all(np.diff(fr.offset_s) >= 0)  # one send order, by intended time
    for s in range(3):
        mine = fr.source == s
        assert np.array_equal(fr.pid[mine], first_id(s) + np.arange(n))
        assert np.array_equal(source_of(fr.pid[mine], 3), np.full(n, s))
        # the single schedule, a third of a frame interval later per source (not in phase)
        np.testing.assert_allclose(fr.offset_s[mine], build(**PARAMS).offset_s + s / 3 / 10.0)
        assert np.array_equal(fr.step[mine], build(**PARAMS).step)
    assert first_id(2) == 2 * ID_STRIDE == 2_000_000 and len(set(fr.pid)) == len(fr)
    assert fr.offset_s.max() < build(**PARAMS).total_s  # every frame inside the run
    assert source_of(2_000_017, 3) == 2 and source_of(2_000_017, 1) == 0


def test_poisson_sources_are_independent_draws_of_the_run_seed() -> None:
    params = {**PARAMS, "arrival": "poisson", "rate_fps": 50.0}
    fr, again = frames(params, 2), frames(params, 2)
    assert np.array_equal(fr.offset_s, again.offset_s)  # reproducible
    a, b = (fr.offset_s[fr.source == s] for s in (0, 1))
    assert np.array_equal(a, build(**params).offset_s)  # source 0 is the single source
    assert len(a) != len(b) or not np.allclose(a, b)


def test_clients_send_whole_sources_round_robin() -> None:
    fr = frames(PARAMS, 3)
    parts = [portion(fr, i, 2) for i in range(2)]
    assert sorted(np.concatenate(parts).tolist()) == list(range(len(fr)))  # each row once
    assert set(fr.source[parts[0]]) == {0, 2} and set(fr.source[parts[1]]) == {1}
    assert sources_of_client(3, 0, 2) == [0, 2] and sources_of_client(1, 0, 2) == []
    with pytest.raises(ValueError, match="client index 2"):
        portion(fr, 2, 2)


def _spec(**kw) -> RunSpec:
    return RunSpec(**{"strategy": "ftp", "model": "yolov2-16", "grid": "2x2", "k": 2,
                      "sched": "wst", "rate_fps": 0.5, "duration_s": 10, **kw})


def test_spec_takes_sources_for_ftp_and_bodp_and_names_it_in_the_run_id() -> None:
    assert _spec(sources="2").sources == 2
    assert "-s2-" in _spec(sources=2, run_id="").run_id
    assert RunSpec(strategy="bodp", model="yolov2-16", k=3, sources=3).sources == 3
    assert _spec().sources == 1 and "-s" not in _spec().run_id.split("-k2")[1]


@pytest.mark.parametrize(("kw", "words"), [
    ({"strategy": "baseline", "model": "cao-dense", "sources": 2}, "baseline has one entry"),
    ({"strategy": "dp", "model": "cao-dense", "sources": 2}, "several sources are for ftp, bodp"),
    ({"sources": 3}, "3 sources need 3 devices"),
    ({"sources": 0}, f"1 .. {MAX_SOURCES}"),
    ({"sources": MAX_SOURCES + 1, "k": MAX_SOURCES + 1}, "id"),
    ({"sources": 2, "clients": "pi5,pi6,pi4"}, "3 clients"),
    ({"sources": "two"}, "must be an integer"),
])
def test_spec_refuses_bad_sources_by_the_option(kw: dict, words: str) -> None:
    with pytest.raises(SpecError, match=words) as err:
        _spec(**kw)
    assert err.value.field == "sources" and err.value.cli_message().startswith("--sources:")


def test_a_source_holds_at_most_its_id_range_of_frames() -> None:
    with pytest.raises(SpecError, match="at most 1000000") as err:
        _spec(sources=2, rate_fps=1000, duration_s=1000, warmup_s=1)
    assert err.value.field == "duration_s"
    _spec(sources=1, rate_fps=1000, duration_s=1000, warmup_s=1)  # one source: 24-bit IDs


def _plan(strategy: str, sched: str = "wsh", sources: int = 1, k: int = 3):
    from harness import strategies
    from harness.inventory import Host

    hosts = [Host(f"pi{i}", f"198.18.0.{10 + i}", "root", "", "rpi3bplus", True)
             for i in range(1, 2 + k)]
    sink = Host("sink", "198.18.0.1", "", "", "native", False)
    spec = RunSpec(strategy=strategy, model="yolov2-16", grid="2x2", k=k, sched=sched,
                   sources=sources)
    return spec, hosts, strategies.get(strategy).plan(spec, hosts, sink)


def test_each_source_posts_to_its_device_under_stealing_and_to_g_otherwise() -> None:
    from harness.experiment import _run_file
    from node_app.config import RunConfig

    for sched in ("wst", "wst-s"):
        spec, hosts, plan = _plan("ftp", sched, sources=2)
        assert plan.targets == [hosts[1].endpoint, hosts[2].endpoint]  # D0, D1; G is pi1
        client = "198.18.0.2"
        peers = {n.role: set(RunConfig.from_dict(_run_file(spec, plan, n, client)).peers)
                 for n in plan.workers}
        assert client in peers["D0"] and client in peers["D1"]
        assert client not in peers["D2"] and client not in peers["G"]
    assert _plan("ftp", "wst", sources=1)[2].targets == [_plan("ftp", "wst")[1][1].endpoint]
    for strategy, sched in (("ftp", "wsh"), ("bodp", "wsh")):
        _spec_, hosts, plan = _plan(strategy, sched, sources=3)
        assert plan.targets == [hosts[0].endpoint]  # G, the single source's one path


def test_load_config_carries_the_sources() -> None:
    from harness.load import load_config

    spec = _spec(sources=2)
    cfg = load_config(spec, ["a:1", "b:2"], 10, "out.csv")
    assert cfg["sources"] == 2 and cfg["targets"] == ["a:1", "b:2"]
    assert load_config(_spec(), ["a:1"], 10, "out.csv")["sources"] == 1


def test_sweep_runs_every_listed_source_count_up_to_each_k(monkeypatch) -> None:
    from harness.sweep import SweepSpec, _id_part, point_label

    sweep = SweepSpec(strategies=["ftp", "bodp", "baseline"], xs=[], devices=[1, 2, 3],
                      sources=["1", "2", "3"], scheds=["wst"],
                      run={"model": "yolov2-16", "grid": "2x2", "rate_fps": 0.5,
                           "duration_s": 10, "inventory": "inventory/lab.yml"})
    got = sorted((s.strategy, s.k, s.sources) for s in sweep.specs())
    want = sorted([(st, k, s) for st in ("ftp", "bodp") for k in (1, 2, 3)
                   for s in (1, 2, 3) if s <= k] + [("baseline", 2, 1)])
    assert got == want
    s3 = next(s for s in sweep.specs() if s.sources == 3 and s.strategy == "ftp")
    assert point_label(s3).endswith("wst S=3") and _id_part(s3).endswith("-wst-s3")
    with pytest.raises(SpecError, match="only ftp, bodp use it"):
        SweepSpec(strategies=["baseline"], xs=[], sources=["2"], run={})


@pytest.mark.parametrize(("task", "args", "message"), [
    ("experiment", ["--strategy=0", "--sources=2"],
     "--sources: baseline has one entry and one data source; several sources are for ftp, "
     "bodp, got 2"),
    ("experiment", ["--strategy=ftp", "--model=yolov2-16", "--devices=2", "--sources=3"],
     "--sources: 3 sources need 3 devices (source i is device Di), but --devices is 2"),
    ("sweep", ["--strategies=0", "--sources=1,2"], "--sources: only ftp, bodp use it"),
])
def test_fab_refuses_bad_sources_before_anything_starts(task, args, message) -> None:
    from lab_cli import fab, run_ids

    before = run_ids()
    proc = fab(task, *args, check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert "capacity bound" not in proc.stdout and "[1/" not in proc.stdout
    assert run_ids() == before


def test_fab_help_says_the_rate_is_per_source() -> None:
    from lab_cli import fab

    for task in ("experiment", "sweep"):
        text = " ".join(fab("--help", task).stdout.split())
        assert "--sources" in text and "per source" in text, text
