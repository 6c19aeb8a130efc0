"""Fault specs are read exactly as documented, and a bad one is refused before a run."""

from __future__ import annotations

import re
from dataclasses import asdict

import pytest

from harness.fault_spec import Fault, check_faults, parse_fault
from harness.faults import partition_routes, route_command
from harness.inventory import Host
from harness.spec import SpecError


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        ("kill:pi2@20s", Fault("kill", "pi2", 20.0)),
        ("stall:pi2@20s:5s", Fault("stall", "pi2", 20.0, duration_s=5.0)),
        ("stall:pi1@2.5s:0.5s", Fault("stall", "pi1", 2.5, duration_s=0.5)),
        ("link:pi2@20s:1mbit", Fault("link", "pi2", 20.0, rate="1mbit")),
        ("link:pi3@0s:500kbit", Fault("link", "pi3", 0.0, rate="500kbit")),
        ("slow:pi2@20s:x3", Fault("slow", "pi2", 20.0, factor=3.0)),
        ("slow:pi4@1.5s:x1.5", Fault("slow", "pi4", 1.5, factor=1.5)),
        ("partition:pi1+pi2@10s:5s", Fault("partition", "pi1", 10.0, duration_s=5.0,
                                           peer="pi2")),
        ("partition:pi2+pi1@0.5s", Fault("partition", "pi2", 0.5, peer="pi1")),
    ],
)
def test_documented_forms(text, fault):
    assert parse_fault(text) == fault
    assert fault.text() == text  # written back as read (scenario actions write them so)


@pytest.mark.parametrize(
    "text",
    ["kill:pi2", "kill:pi2@20", "kill:pi2@20s:5s", "stall:pi2@20s", "stall:pi2@20s:1mbit",
     "link:pi2@20s", "link:pi2@20s:5s", "explode:pi2@20s", "kill:@20s", "kill:pi2@-1s",
     "slow:pi2@20s", "slow:pi2@20s:3", "slow:pi2@20s:x0.5", "slow:pi2@20s:5s",
     "slow:pi2@20s:x", "stall:pi2@20s:x3", "partition:pi1@10s:5s", "partition:pi1+pi1@10s",
     "partition:pi1+pi2@10s:1mbit", "partition:pi1+pi2@10s:x2", "partition:pi1+pi2@10s:0s",
     "kill:pi1+pi2@10s", "partition:pi1+pi2+pi3@10s"],
)
def test_bad_forms_name_the_option(text):
    with pytest.raises(SpecError) as err:
        parse_fault(text)
    assert err.value.field == "fault"


@pytest.mark.parametrize(
    ("faults", "words"),
    [(["slow:pi2@5s:x2", "kill:pi1@6s", "slow:pi2@9s:x3"],
      "slow:pi2@5s:x2 and slow:pi2@9s:x3 both slow pi2"),
     (["partition:pi1+pi2@2s:5s", "partition:pi2+pi1@6s"],
      "partition:pi1+pi2@2s:5s and partition:pi2+pi1@6s partition pi1 and pi2 at the same"),
     (["partition:pi1+pi2@2s", "partition:pi1+pi2@30s:1s"], "at the same time")],
)
def test_faults_that_contradict_each_other_are_refused_naming_both(faults, words):
    """A node has one slow factor; healing one of two overlapping partitions of a pair would
    end the other. RunSpec checks its faults with check_faults, so --fault is refused too."""
    with pytest.raises(SpecError) as err:
        check_faults(faults)
    assert err.value.field == "fault" and words in err.value.problem
    from harness.spec import RunSpec

    with pytest.raises(SpecError, match="fault"):
        RunSpec(faults=",".join(faults))


def test_what_may_happen_together_is_allowed():
    """One slow per host, a pair partitioned twice one after the other, two pairs at once."""
    got = check_faults(["slow:pi1@1s:x2", "slow:pi2@1s:x2", "partition:pi1+pi2@2s:3s",
                        "partition:pi2+pi1@5s:1s", "partition:pi1+pi3@2s"])
    assert [f.hosts for f in got][2:] == [("pi1", "pi2"), ("pi2", "pi1"), ("pi1", "pi3")]


def _host(name: str, address: str, user: str = "root", emulated: bool = True) -> Host:
    return Host(name, address, user, "", "rpi3bplus", emulated)


def test_a_partition_prohibits_each_hosts_address_on_the_other():
    hosts = {"pi1": _host("pi1", "198.18.0.11"), "pi2": _host("pi2", "198.18.0.12"),
             "pi9": _host("pi9", "198.19.255.9", user="ubuntu", emulated=False)}
    routes = partition_routes(parse_fault("partition:pi1+pi2@2s:2s"), hosts)
    assert [(h.name, target) for h, target in routes] == [("pi1", "198.18.0.12/32"),
                                                          ("pi2", "198.18.0.11/32")]
    assert route_command(hosts["pi1"], "replace", "198.18.0.12/32") == \
        "ip route replace prohibit 198.18.0.12/32"
    # the top of 198.18.0.0/15 is still the benchmarking range; a non-root user needs sudo
    (_h, target), (pi9, _t) = partition_routes(parse_fault("partition:pi1+pi9@1s"), hosts)
    assert target == "198.19.255.9/32"
    assert route_command(pi9, "del", "198.18.0.11/32") == \
        "sudo -n ip route del prohibit 198.18.0.11/32"


@pytest.mark.parametrize("address", ["192.168.1.20", "198.20.0.1", "10.0.0.5", "pi2.local"])
def test_a_partition_never_cuts_an_address_outside_the_benchmarking_range(address):
    """A route that cut the controller off, or a real network, is never written: only
    198.18.0.0/15 (the lab's range) is partitioned; the run is refused before it starts."""
    hosts = {"pi1": _host("pi1", "198.18.0.11"), "pi2": _host("pi2", address, "ubuntu", False)}
    with pytest.raises(SpecError) as err:
        partition_routes(parse_fault("partition:pi1+pi2@2s"), hosts)
    assert err.value.field == "fault"
    assert f"pi2's address {address} is not in 198.18.0.0/15" in err.value.problem


def test_a_partitions_start_and_heal_are_in_the_summary_and_the_report(tmp_path, monkeypatch):
    """faults.json as FaultInjector writes it for `partition:A+B@3s:2s`: the real tail of a
    run (experiment.finish_run) puts the window in the summary, warns, and the report lists
    the partition with when it started and healed, seconds into the measured part."""
    import json

    from test_analysis import T0, make_run  # tests/ is on sys.path (pytest rootdir)

    from harness import experiment
    from harness.paths import RESULTS_ENV, reports_dir

    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    run_dir = make_run(tmp_path / "runs", "part", extra_spec={
        "queue_size": 5, "x": 10, "warmup_frames": 10, "measure_frames": 100,
        "faults": ["partition:A+B@3s:2s"]})
    window = {"kind": "partition", "host": "A+B", "start": T0 + 3.0, "end": T0 + 5.0,
              "ok": True, "detail": "prohibit 198.18.0.12/32 on A; prohibit 198.18.0.11/32 "
                                    "on B"}
    (run_dir / "faults.json").write_text(json.dumps({
        "faults": [asdict(parse_fault("partition:A+B@3s:2s"))], "windows": [window]}))
    summary = experiment.finish_run(run_dir, say=lambda _line: None)
    assert summary["faults"] == [window]
    assert any(w.startswith("fault injected: partition on A+B") for w in summary["warnings"])
    html = (reports_dir() / "part.html").read_text()
    assert summary["window"]["start"] == pytest.approx(T0 + 1.0)  # after the 1 s warm-up
    rows = [re.findall(r"<td[^>]*>(.*?)</td>", r) for r in re.findall(r"<tr>(.*?)</tr>", html)]
    assert ["partition", "A+B", "2", "4", "ok"] in rows, [r for r in rows if len(r) == 5]


def test_the_timeline_runs_steps_at_their_times_and_undoes_the_rest_at_stop():
    """The injector's clock (harness/faults.py Timeline), with steps that note when they ran:
    a fault at 0.1 s queues its undo for 0.3 s, which runs then; a partition without `for`
    queues its heal at inf, and a stall its resume at 5 s: both run at stop; a fault due
    after stop never runs. A 0.2 s undo wait does not hold back the fault due at 0.2 s."""
    import time

    from harness.faults import Timeline

    line = Timeline()
    ran: dict[str, float] = {}

    def note(name: str, then=None):
        def step():
            ran[name] = time.time() - line.t0
            if then:
                then()
        return step

    line.add(0.1, note("fault", lambda: line.add(0.3, note("undo"), undo=True)))
    line.add(0.15, note("open-partition", lambda: line.add(float("inf"), note("heal"),
                                                           undo=True)))
    line.add(0.2, note("stall", lambda: line.add(5.0, note("resume"), undo=True)))
    line.add(0.2, note("kill"))
    line.add(5.0, note("never"))
    line.start()
    time.sleep(0.6)
    line.stop()
    assert set(ran) == {"fault", "undo", "open-partition", "stall", "kill", "heal", "resume"}
    for name, at in (("fault", 0.1), ("open-partition", 0.15), ("stall", 0.2), ("kill", 0.2),
                     ("undo", 0.3)):
        assert at - 0.01 <= ran[name] <= at + 0.15, (name, ran)
    assert ran["heal"] >= 0.6 and ran["resume"] >= 0.6
    assert ran["resume"] <= ran["heal"]  # at stop too in time order: 5 s before inf


def test_a_step_with_no_time_of_its_own_waits_for_stop():
    """A partition without `for` heals at stop only: the timeline waits for it (an unbounded
    wait, not a timeout of inf seconds, which threading refuses) and runs it at stop."""
    import time

    from harness.faults import Timeline

    line, ran = Timeline(), []
    line.add(float("inf"), lambda: ran.append("heal"), undo=True)
    line.start()
    time.sleep(0.2)
    assert line.running and ran == []
    line.stop()
    assert ran == ["heal"] and not line.running
