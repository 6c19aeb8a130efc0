"""Scenario files: every shipped one is a valid run, and a wrong one fails before anything
starts with the file and the line of the mistake (harness/scenario.py)."""

from __future__ import annotations

from pathlib import Path

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
    for action, fault in zip(s.actions, spec.faults, strict=True):
        assert parse_fault(fault).kind == action.kind and parse_fault(fault).at_s == action.at_s


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
     "unknown action 'explode'", "kill, stall, link"),
    ("partition is refused", "actions:\n  - {at: 1s, do: partition, hosts: [pi1, pi2]}\n",
     2, "'partition' is not supported yet", "routes"),
    ("slowdown is refused", "strategy: baseline\nactions:\n"
     "  - {at: 1s, do: slowdown, host: pi2, profile: rpi3bplus_half_speed}\n", 3,
     "'slowdown' is not supported yet", "profile"),
    ("rate change is refused", "actions:\n  - {at: 1s, do: rate, fps: 60}\n", 2,
     "'rate' is not supported yet", "schedule"),
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
