"""Scenario files: every shipped one is a valid run, and a wrong one fails before anything
starts with the file and the line of the mistake (harness/scenario.py)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from harness import scenario
from harness.fault_spec import parse_fault
from harness.predict import predict_spec
from harness.spec import RunSpec, SpecError


@pytest.mark.parametrize("name", scenario.shipped())
def test_every_shipped_scenario_validates(name: str) -> None:
    s = scenario.load(name)
    spec = s.spec()
    assert isinstance(spec, RunSpec) and spec.scenario == name
    assert s.text.get("description"), f"{name}: say what the scenario is for"
    carried = [a for a in s.actions if a.kind in scenario.FAULT_KIND]
    for action, fault in zip(carried, spec.faults, strict=True):
        assert parse_fault(fault).kind == scenario.FAULT_KIND[action.kind]
        assert parse_fault(fault).at_s == action.at_s


def test_the_shipped_set_includes_cao_fig2_and_actions_of_every_kind_faults_can_do() -> None:
    names = scenario.shipped()
    assert "cao-fig2" in names
    kinds = {a.kind for n in names for a in scenario.load(n).actions}
    assert kinds == set(scenario.ACTIONS)


def test_cao_fig2_is_the_seeds_case_b_drops_nine_of_ten() -> None:
    """B takes a tenth of the frames A passes it (A the rpi3bplus pi1, B the half-speed pi3
    of lab-hetero.yml, fed at 125 fps), so the model, pricing each node by its own profile
    in the spec document the run writes, predicts coverage near 0.1, drops at B."""
    from harness import strategies
    from harness.experiment import _spec_document
    from harness.inventory import Host, load_inventory

    spec = scenario.load("cao-fig2").spec()
    assert (spec.strategy, spec.model, spec.profile) == ("baseline", "cao-dense", "")
    assert spec.rate_fps == 125.0 and spec.hosts == ["pi1", "pi3"]
    inventory = load_inventory(spec.inventory)
    hosts = inventory.pick(spec.hosts)
    assert [h.profile for h in hosts] == ["rpi3bplus", "rpi3bplus_half_speed"]
    plan = strategies.get(spec.strategy).plan(
        spec, hosts, Host("sink", inventory.controller_address, "", "", "native", False))
    doc = _spec_document(spec, plan, inventory.path)
    for hop in (0.0, 1.0):
        pred = predict_spec(doc, hop_ms=hop)
        assert 0.08 <= pred["coverage"] <= 0.12, (hop, pred["coverage"])
        drops = {n: sum(r.values()) for n, r in pred["drops"].items()}
        assert drops["B"] > 20 * drops.get("A", 0), drops


def test_actions_become_the_faults_faults_py_carries_out(tmp_path: Path) -> None:
    f = _write(tmp_path, """\
        strategy: baseline
        hosts: [pi1, pi2]
        duration_s: 30
        actions:
          - {at: 2.5s, do: stall, host: pi2, for: 0.5s}
          - {at: 20, do: kill, host: pi2}
          - at: 0.00001s
            do: link
            host: pi1
            rate: 500kbit
        """)
    s = scenario.load(str(f))
    assert [a.line for a in s.actions] == [5, 6, 7]
    assert s.spec().faults == ["stall:pi2@2.5s:0.5s", "kill:pi2@20s", "link:pi1@0.00001s:500kbit"]
    assert s.spec().scenario == str(f.resolve())  # a path outside scenarios/: absolute


def test_command_line_options_override_the_file_and_faults_add_to_its_actions(
        tmp_path: Path) -> None:
    s = scenario.load("b-fails")
    spec = s.spec({"seed": 7, "rate_fps": 20, "faults": "link:pi1@1s:1mbit"})
    assert (spec.seed, spec.rate_fps, spec.strategy) == (7, 20.0, "cao3")
    assert spec.faults == ["stall:pi2@10s:5s", "kill:pi2@20s", "link:pi1@1s:1mbit"]
    with pytest.raises(SpecError) as err:  # the option is at fault: no file line
        s.spec({"rate_fps": "-1"})
    assert err.value.field == "rate_fps"


BAD = [
    ("unknown field", "strategy: baseline\nrate: 30\n", 2, "unknown field 'rate'",
     "did you mean rate_fps"),
    ("bad spec value", "strategy: baseline\n\nqueue_size: 0\n", 3, "queue_size", ">= 1"),
    ("unknown strategy", "strategy: nine\n", 1, "strategy", "nine"),
    ("bad time", "actions:\n  - {at: soon, do: kill, host: pi2}\n", 2, "at is a time",
     "'soon'"),
    ("negative time", "actions:\n  - {at: -3, do: kill, host: pi2}\n", 2, "at must be",
     ">= 0"),
    ("time after the load", "duration_s: 10\nwarmup_s: 2\nactions:\n"
     "  - {at: 5s, do: kill, host: pi2}\n  - {at: 12s, do: kill, host: pi2}\n", 5,
     "after the load ends", "12s"),
    ("unknown action", "actions:\n  - at: 1s\n    do: explode\n    host: pi2\n", 3,
     "unknown action 'explode'", "kill, stall, link, slow, partition, slowdown, rate"),
    ("partition of one host", "actions:\n  - {at: 1s, do: partition,\n"
     "     hosts: [pi1]}\n", 3, "hosts is a list of two", "['pi1']"),
    ("partition of a host with itself", "actions:\n"
     "  - {at: 1s, do: partition, hosts: [pi2, pi2]}\n", 2, "two different hosts", "pi2"),
    ("partition with a host not in the run", "hosts: [pi1, pi2]\nactions:\n"
     "  - {at: 1s, do: partition, hosts: [pi1, pi3], for: 2s}\n", 3,
     "partition: host 'pi3' is not in the scenario's hosts", ""),
    ("partition for no time", "actions:\n  - {at: 1s, do: partition, hosts: [pi1, pi2],"
     "\n     for: 0s}\n", 3, "for must be > 0 s", ""),
    ("one pair partitioned twice at once", "hosts: [pi1, pi2]\nactions:\n"
     "  - {at: 1s, do: partition, hosts: [pi1, pi2], for: 5s}\n"
     "  - {at: 3s, do: partition, hosts: [pi2, pi1]}\n", 4,
     "partition on line 4 and partition on line 3", "healing one would end the other"),
    ("slowdown with neither", "actions:\n  - {at: 1s, do: slowdown, host: pi2}\n", 2,
     "one of `factor:`", "got neither"),
    ("slowdown with both", "actions:\n  - {at: 1s, do: slowdown, host: pi2, factor: 2,\n"
     "     profile: rpi3bplus_half_speed}\n", 2, "one of `factor:`", "not both"),
    ("slowdown to an unknown profile", "hosts: [pi1, pi2]\nactions:\n"
     "  - {at: 1s, do: slowdown, host: pi2, profile: cray1}\n", 3,
     "slowdown of pi2 to profile cray1: unknown profile", "rpi3bplus"),
    ("slowdown to a faster profile", "profile: rpi3bplus\nhosts: [pi1, pi2]\nactions:\n"
     "  - {at: 1s, do: slowdown, host: pi2, profile: rpi4b}\n", 4,
     "a factor of 0.5197 on rpi3bplus", "[1, 1000]"),
    ("slowdown of a host without a cost model", "profile: native\nhosts: [pi1, pi2]\n"
     "actions:\n  - {at: 1s, do: slowdown, host: pi2, profile: rpi3b}\n", 4,
     "native prices stage L2 at None", "give `factor:`"),
    ("two slowdowns of one host", "hosts: [pi1, pi2]\nactions:\n"
     "  - {at: 1s, do: slowdown, host: pi2, factor: 2}\n"
     "  - {at: 3s, do: slow, host: pi2, factor: 3}\n", 4,
     "slow on line 4 and slowdown on line 3 slow the same host", "one slow factor"),
    ("rate without fps", "actions:\n  - {at: 1s, do: rate}\n", 2, "rate needs `fps:`", ""),
    ("rate of nothing", "actions:\n  - {at: 1s, do: rate, fps: 0}\n", 2,
     "fps is the offered rate", "got 0"),
    ("rate in the warm-up", "warmup_s: 5\nactions:\n  - {at: 3s, do: rate, fps: 60}\n", 3,
     "rate at 3s is not after the warm-up (5s)", "rate_fps"),
    ("rate at its time twice", "warmup_s: 2\nduration_s: 10\nactions:\n"
     "  - {at: 4s, do: rate, fps: 60}\n  - {at: 4s, do: rate, fps: 20}\n", 5,
     "rate at 4s is given twice", "line 4"),
    ("rate beside the file's rates", "rates: [10, 20]\nstep_s: 5\nactions:\n"
     "  - {at: 8s, do: rate, fps: 60}\n", 4, "rate at 8s and rates on line 1 both set the "
     "rate steps", "give one"),
    ("rate steps too fine", "warmup_s: 2\nduration_s: 60\nactions:\n"
     "  - {at: 2.001s, do: rate, fps: 1000}\n", 4, "60000 equal steps of 0.001s",
     "at most 1000"),
    ("rate steps of part frames", "warmup_s: 2\nduration_s: 20\nrate_fps: 30\nactions:\n"
     "  - {at: 12.5s, do: rate, fps: 25}\n", 5, "rate 25 fps at 12.5s gives 12.5 frames",
     "whole number of frames"),
    ("stall without for", "actions:\n  - {at: 1s, do: stall, host: pi2}\n", 2,
     "stall needs `for:`", ""),
    ("stray key", "actions:\n  - {at: 1s, do: kill, host: pi2,\n     for: 3s}\n", 3,
     "kill takes at, do, host", "'for'"),
    ("bad link rate", "actions:\n  - {at: 1s, do: link, host: pi2, rate: fast}\n", 2,
     "tc rate", "'fast'"),
    ("host not in the inventory", "actions:\n  - {at: 1s, do: kill, host: pi9}\n", 2,
     "'pi9' is not in inventory", "pi1"),
    ("host not in the run", "hosts: [pi1, pi2]\nactions:\n  - {at: 1s, do: kill, host: pi3}\n",
     3, "'pi3' is not in the scenario's hosts", ""),
    ("twice", "strategy: baseline\nseed: 1\nseed: 2\n", 3, "seed is given twice", "line 2"),
    ("not yaml", "strategy: baseline\nactions: [\n", 3, "not valid YAML", ""),
    ("not a mapping", "- strategy\n", 1, "a scenario is a mapping", ""),
    ("actions not a list", "actions:\n  kill: pi2\n", 2, "actions is a list", ""),
]


@pytest.mark.parametrize(("case", "body", "line", "words", "more"), BAD,
                         ids=[b[0] for b in BAD])
def test_a_bad_scenario_fails_naming_the_file_and_line(tmp_path: Path, case: str, body: str,
                                                       line: int, words: str,
                                                       more: str) -> None:
    f = tmp_path / "bad.yml"
    f.write_text(body)
    with pytest.raises(SpecError) as err:
        scenario.load(str(f))
    message = err.value.cli_message()
    assert message.startswith(f"--scenario: {f}:{line}: "), message
    assert words in message and more in message, message


def test_names_resolve_to_shipped_files_and_unknown_names_list_them() -> None:
    assert scenario.resolve("cao-fig2") == scenario.SCENARIOS_DIR / "cao-fig2.yml"
    with pytest.raises(SpecError) as err:
        scenario.resolve("no-such")
    assert "cao-fig2" in str(err.value) and err.value.field == "scenario"
    with pytest.raises(SpecError, match="no such file"):
        scenario.resolve("elsewhere/none.yml")


def _write(tmp_path: Path, text: str) -> Path:
    import textwrap

    f = tmp_path / "s.yml"
    f.write_text(textwrap.dedent(text))
    return f


def test_a_scenario_runs_report_puts_the_seeds_number_beside_ours(tmp_path: Path,
                                                                   monkeypatch) -> None:
    """spec.json carries the scenario's text (experiment._spec_document); the real tail of
    `fab experiment` puts the seed's figure in the summary, on the console and in the
    report, next to the measured coverage."""
    from test_analysis import make_run  # tests/ is on sys.path (pytest rootdir)

    from harness import experiment
    from harness.paths import RESULTS_ENV, reports_dir

    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    text = scenario.load("cao-fig2").text
    assert "9 of 10" in text["seed_reported"]
    run_dir = make_run(tmp_path / "runs", "f2", extra_spec={
        "queue_size": 5, "x": 10, "warmup_frames": 10, "measure_frames": 100,
        "scenario": "cao-fig2", "scenario_text": text, "rerun_of": "f1"})
    said: list[str] = []
    summary = experiment.finish_run(run_dir, say=said.append)
    assert summary["scenario"] == {"name": "cao-fig2", **text}
    assert summary["rerun_of"] == "f1"
    assert f"seed reported (scenario cao-fig2): {text['seed_reported']}" in said
    html = (reports_dir() / "f2.html").read_text()
    assert "seed reported" in html and "9 of 10" in html and "re-run of" in html


def test_rate_actions_become_equal_rate_steps_of_the_measured_part(tmp_path: Path) -> None:
    """Rate from 10 to 20 fps at 10 s and to 5 fps at 26 s, after a 2 s warm-up of a 30 s
    measured part: steps of gcd(8, 24, 30) = 2 s, each at the rate in force at its start;
    the warm-up runs at rate_fps, and the mean offered rate weighs each rate by its time."""
    f = _write(tmp_path, """\
        strategy: baseline
        rate_fps: 10
        duration_s: 30
        warmup_s: 2
        actions:
          - {at: 26s, do: rate, fps: 5}
          - {at: 10s, do: rate, fps: 20}
        """)
    spec = scenario.load(str(f)).spec()
    assert spec.step_s == 2.0 and spec.duration_s == 30.0 and spec.rate_fps == 10.0
    assert spec.rates == [10.0] * 4 + [20.0] * 8 + [5.0] * 3
    assert spec.faults == []  # a rate change is the schedule's, not a fault
    from harness.schedule import from_spec

    sched = from_spec(spec.to_dict())
    t = sched.offset_s
    assert sched.warmup_frames == 20  # 2 s at 10 fps
    assert len(t) == 20 + 8 * 10 + 16 * 20 + 6 * 5
    gaps = np.diff(t)
    for lo, hi, fps in ((2.0, 10.0, 10.0), (10.0, 26.0, 20.0), (26.0, 32.0, 5.0)):
        inside = (t[:-1] >= lo) & (t[1:] < hi)
        assert np.allclose(gaps[inside], 1.0 / fps), fps
    assert t[-1] < 32.0 and np.all(gaps > 0)


def test_a_rate_action_follows_the_command_lines_rate_and_duration(tmp_path: Path) -> None:
    """--rate and --duration change the first rate and the measured part the steps cut;
    --rates and --step set the steps themselves, so beside rate actions they are refused
    with both named (the option and the action's line)."""
    f = _write(tmp_path, """\
        strategy: baseline
        duration_s: 30
        warmup_s: 2
        actions:
          - {at: 12s, do: rate, fps: 40}
        """)
    s = scenario.load(str(f))
    spec = s.spec({"rate_fps": 20, "duration_s": 20})
    assert spec.rates == [20.0] + [40.0]  # steps of gcd(10, 20) = 10 s
    for option, value, flag in (("rates", [10.0, 20.0], "--rates=10,20"),
                                ("step_s", 5.0, "--step=5")):
        with pytest.raises(SpecError) as err:
            s.spec({option: value})
        message = err.value.cli_message()
        assert message.startswith(f"--scenario: {f}:5: rate at 12s and the command line's "
                                  f"{flag} both set the rate steps"), message


def test_a_stepped_run_of_rate_actions_is_bounded_and_predicted_as_any_stepped_run(
        tmp_path: Path) -> None:
    """The capacity bound is the plan's (profiles and nodes, not the rate), and the
    discrete-event model declines stepped runs, saying why, as for --rates."""
    from harness import strategies
    from harness.experiment import _spec_document
    from harness.inventory import Host, load_inventory
    from harness.predict import why_not

    f = _write(tmp_path, """\
        strategy: baseline
        model: cao-dense
        profile: rpi3bplus
        rate_fps: 10
        duration_s: 8
        warmup_s: 2
        hosts: [pi1, pi2]
        actions:
          - {at: 6s, do: rate, fps: 30}
        """)
    spec = scenario.load(str(f)).spec()
    inventory = load_inventory(spec.inventory)
    hosts = [dataclasses.replace(h, profile=spec.profile) for h in inventory.pick(spec.hosts)]
    plan = strategies.get(spec.strategy).plan(
        spec, hosts, Host("sink", inventory.controller_address, "", "", "native", False))
    doc = _spec_document(spec, plan, inventory.path)
    assert doc["capacity_fps"] == pytest.approx(25.0)  # B: 40 ms a frame
    assert doc["rates"] == [10.0, 30.0] and doc["step_s"] == 4.0
    assert "steps through rates [10.0, 30.0]" in why_not(doc)


def test_slowdown_is_the_slow_fault_with_a_factor_or_a_profiles(tmp_path: Path) -> None:
    """`factor:` is slow's; `profile:` is the target's stage times over the host's own, for
    the stages the node runs: pi2 (B, L2) from rpi3bplus (40 ms) to the half-speed B+
    (80 ms) is x2; from the inventory's profile when the file sets none."""
    f = _write(tmp_path, """\
        strategy: baseline
        model: cao-dense
        hosts: [pi1, pi2]
        actions:
          - {at: 5s, do: slowdown, host: pi1, factor: x1.5}
          - {at: 20s, do: slowdown, host: pi2, profile: rpi3bplus_half_speed}
        """)
    s = scenario.load(str(f))
    assert s.spec().faults == ["slow:pi1@5s:x1.5", "slow:pi2@20s:x2"]
    assert s.spec({"profile": "rpi3bplus"}).faults[1] == "slow:pi2@20s:x2"
    # Cao's strategy 1: A runs L1 and, helping, the whole model; rpi3b is rpi3bplus at
    # 1.2 GHz instead of 1.4, x1.1667 on every stage
    g = _write(tmp_path, """\
        strategy: "1"
        model: cao-dense
        profile: rpi3bplus
        hosts: [pi1, pi2]
        actions:
          - {at: 5s, do: slowdown, host: pi1, profile: rpi3b}
        """)
    assert scenario.load(str(g)).spec().faults == ["slow:pi1@5s:x1.1667"]


def test_a_profile_that_is_no_uniform_multiple_is_refused_naming_the_line(
        tmp_path: Path, monkeypatch) -> None:
    """A calibrated profile slower than rpi3bplus in L2 only (x1.5) and not in L1 (x1): one
    factor cannot make a node of it; a node that runs L2 alone can still get x1.5."""
    from harness import capacity

    folder = tmp_path / "profiles"
    folder.mkdir()
    entry = json.loads(capacity.PROFILES_FILE.read_text())["rpi3bplus"]
    entry["dense_ms"] = {"100x2000": 4.0, "2000x2000": 60.0}
    (folder / "l2-slow.json").write_text(json.dumps(entry))
    monkeypatch.setenv(capacity.PROFILES_DIR_ENV, str(folder))
    f = _write(tmp_path, """\
        strategy: "1"
        model: cao-dense
        profile: rpi3bplus
        hosts: [pi1, pi2]
        actions:
          - {at: 5s, do: slowdown, host: pi2, profile: l2-slow}
          - {at: 6s, do: slowdown, host: pi1, profile: l2-slow}
        """)
    with pytest.raises(SpecError) as err:
        scenario.load(str(f))
    message = err.value.cli_message()
    assert message.startswith(f"--scenario: {f}:7: slowdown of pi1 to profile l2-slow: not "
                              "one factor on rpi3bplus: its stages slow by L1 x1, "), message
    assert "give `factor:`" in message
    f.write_text(f.read_text().rsplit("  - {at: 6s", 1)[0])
    assert scenario.load(str(f)).spec().faults == ["slow:pi2@5s:x1.5"]


def test_a_partition_is_the_partition_fault_of_both_hosts(tmp_path: Path) -> None:
    f = _write(tmp_path, """\
        strategy: baseline
        hosts: [pi1, pi2]
        duration_s: 10
        actions:
          - {at: 2s, do: partition, hosts: [pi1, pi2], for: 2s}
          - {at: 8s, do: partition, hosts: [pi2, pi1]}
        """)
    s = scenario.load(str(f))
    assert [(a.host, a.peer, a.for_s) for a in s.actions] == [("pi1", "pi2", 2.0),
                                                              ("pi2", "pi1", None)]
    assert s.spec().faults == ["partition:pi1+pi2@2s:2s", "partition:pi2+pi1@8s"]
