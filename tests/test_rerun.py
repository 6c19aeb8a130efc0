"""Exact re-runs (harness/rerun.py): the spec rebuilt from a spec.json is the RunSpec it was
written from, and what a spec cannot pin (the commit, the inventory's profiles) is warned
about. The spec.json here is the one experiment.py writes (`_spec_document` from the real
inventory and the strategy's own plan)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from harness import experiment, rerun, scenario, strategies
from harness.inventory import Host, load_inventory
from harness.paths import RESULTS_ENV
from harness.spec import RunSpec, SpecError

SINK = Host("sink", "198.18.0.1", "", "", "native", False)


def _written(spec: RunSpec) -> dict:
    """spec.json of a run of `spec`, through JSON as it lands on disk."""
    hosts = load_inventory(spec.inventory).pick(spec.hosts)
    if spec.profile:
        hosts = [dataclasses.replace(h, profile=spec.profile) for h in hosts]
    plan = strategies.get(spec.strategy).plan(spec, hosts, SINK)
    return json.loads(json.dumps(experiment._spec_document(spec, plan, spec.inventory)))


SPECS = [
    RunSpec(strategy="0", rate_fps=30, duration_s=20, hosts=["pi1", "pi2"], run_id="a"),
    RunSpec(strategy="2", x=50, rate_fps=30, duration_s=20, warmup_s=2, seed=7,
            queue_size=10, profile="rpi3bplus_half_speed", hosts=["pi1", "pi2"], run_id="b",
            faults="stall:pi2@5s:2s,link:pi1@1s:1mbit", arrival="poisson", arrival_seed=11),
    RunSpec(strategy="dp", k=3, rates="10,20", step_s=5, inventory="inventory/lab-hetero.yml",
            hosts=["pi1", "pi2", "pi3", "pi4"], run_id="c", min_frames=10, lag_threshold_ms=3),
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.run_id)
def test_the_spec_rebuilt_from_spec_json_is_the_original(spec: RunSpec) -> None:
    doc = _written(spec)
    assert rerun.spec_from_document(doc) == spec


def test_a_scenario_run_round_trips_with_its_actions() -> None:
    spec = scenario.load("b-fails").spec()
    spec.run_id = "s"
    rebuilt = rerun.spec_from_document(_written(spec))
    assert rebuilt == spec and rebuilt.scenario == "b-fails"
    assert rebuilt.faults == ["stall:pi2@10s:5s", "kill:pi2@20s"]
    assert _written(spec)["scenario_text"] == scenario.load("b-fails").text
    # A re-run of a scenario whose file has gone since still runs: the spec is in spec.json.
    gone = dataclasses.replace(spec, scenario="/no/such/scenario.yml")
    assert "cannot be read now" in _written(gone)["scenario_text"]["unavailable"]


def test_a_spec_json_from_before_run_spec_is_read_from_its_top_level() -> None:
    spec = SPECS[1]
    doc = _written(spec)
    del doc["run_spec"]
    assert doc["profile"] == "rpi3bplus_half_speed"  # one profile: the --profile it ran with
    assert rerun.spec_from_document(doc) == spec
    mixed = _written(SPECS[2])
    del mixed["run_spec"]
    assert "," in mixed["profile"]  # a label of the inventory's mix, not an option
    assert rerun.spec_from_document(mixed) == SPECS[2]


def test_an_adaptive_run_from_before_overlapped_sends_is_rerun_inline() -> None:
    """adaptive sends overlapped by default now; a run recorded before `send` existed sent
    inline, and its re-run does too. One recorded with `send` keeps it."""
    spec = RunSpec(strategy="adaptive", k=1, rate_fps=30, duration_s=10, hosts=["pi1", "pi2"],
                   run_id="d")
    assert spec.send == "overlap"
    doc = _written(spec)
    assert rerun.spec_from_document(doc).send == "overlap"
    del doc["run_spec"]["send"]
    assert rerun.spec_from_document(doc).send == "inline"


def test_a_spec_json_with_fields_this_code_lacks_is_refused() -> None:
    doc = _written(SPECS[0])
    doc["run_spec"]["warp"] = 9
    with pytest.raises(SpecError, match="warp"):
        rerun.spec_from_document(doc)


def test_a_changed_commit_is_a_warning() -> None:
    text = rerun.commit_warning("1111aaa", "2222bbb")
    assert text == ("warning: the run was made at commit 1111aaa, this checkout is at "
                    "2222bbb; numbers may differ for code reasons")
    assert rerun.commit_warning("1111aaa", "1111aaa") is None
    assert "uncommitted changes" in rerun.commit_warning("1111aaa-dirty", "1111aaa-dirty")
    assert "recorded no git commit" in rerun.commit_warning("", "1111aaa")
    assert "an unknown commit" in rerun.commit_warning("1111aaa", "")


def test_a_node_whose_inventory_profile_changed_is_a_warning() -> None:
    spec = SPECS[2]
    doc = _written(spec)
    assert rerun.profile_warnings(doc, spec) == []
    doc["nodes"][0]["profile"] = "rpi4b"
    name = doc["nodes"][0]["name"]
    now = load_inventory(spec.inventory).hosts[name].profile
    assert rerun.profile_warnings(doc, spec) == [
        f"warning: {name} ran as rpi4b; {spec.inventory} now says {now}"]


def test_find_a_run_a_group_or_nothing(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    run_dir = tmp_path / "runs" / "g-rep1"
    run_dir.mkdir(parents=True)
    (run_dir / "spec.json").write_text(json.dumps(_written(SPECS[0])))
    assert rerun.find("g-rep1") == (run_dir / "spec.json", None)
    group = {"group": "g", "repetitions": 3, "runs": [{"run_id": "g-rep1", "seed": 0}]}
    (tmp_path / "runs" / "repeats").mkdir()
    (tmp_path / "runs" / "repeats" / "g.json").write_text(json.dumps(group))
    assert rerun.find("g") == (run_dir / "spec.json", group)
    with pytest.raises(SpecError) as err:
        rerun.find("nope")
    assert err.value.cli_message().startswith("RUN_ID: no such run: nope")
    with pytest.raises(SpecError, match="give the run"):
        rerun.find("")
