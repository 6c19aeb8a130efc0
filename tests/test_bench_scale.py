"""bench/scale.py (issue 17's scale section) without a lab: the load point for N, the
inventory it writes, the numbers it reads off a summary, and the rules that decide the
largest honest N and when to stop. The section itself brings labs of up to 48 hosts up and
down, which only the integrator's quiet box does (`make bench-scale`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import yaml

from bench import scale
from bench.scale import (
    LoadPoint,
    RunMetrics,
    ScaleRow,
    honest,
    lab_leftovers,
    largest_honest_n,
    load_point,
    markdown_table,
    metrics_of,
    stop_reason,
    write_lab_inventory,
    write_section,
)
from harness.capacity import stage_ms
from harness.errors import SpecError
from harness.inventory import REPO, Host, load_inventory
from harness.lab_inventory import host_address
from harness.models import DEFAULT_MODEL, describe
from harness.paths import RESULTS_ENV, runs_dir
from harness.spec import RunSpec
from harness.strategies import dp


def _summary() -> dict:
    """A dp K=3 summary as analysis.summarize + resources.summarize write it (the fields
    the row reads), with one node over the limits and the sink without a service time."""
    def node(err, tail=None):
        pct = None if tail is None else {"difference": {"p50": 0.001, "p90": 0.002,
                                                        "p99": tail}}
        return {"service_error": err, "service_ms_percentiles": pct}

    return {
        "run_id": "20261128-120000-dp-k3-r80",
        "delivered_fps": 79.9,
        "coverage": 0.998,
        "nodes": {"pi1": node(0.004, 0.03), "pi2": node(-0.012), "pi3": node(0.031, -0.08),
                  "pi4": node(0.0), "sink": node(None)},
        "send_lag_ms": {"p50": 0.7, "p99": 1.41, "max": 3.2, "threshold": 2.0},
        "fidelity": {"idle_cpu_min": 0.213, "idle_cpu_p5": 0.25, "ok": True, "why": ""},
        "memory": {"nodes": {"pi1": {"rss_kb": 39000, "rss_peak_kb": 40960},
                             "pi2": {"rss_kb": 51200, "rss_peak_kb": 53248},
                             "pi3": {"rss_kb": 52224, "rss_peak_kb": None},
                             "pi4": {"rss_kb": None, "rss_peak_kb": None}}},
    }


def test_metrics_of_reads_the_row_off_a_summary() -> None:
    m = metrics_of(_summary())
    errors = [0.004, 0.012, 0.031, 0.0]  # |service_error| of the four lab nodes, not the sink
    assert m.service_error_p99 == pytest.approx(np.percentile(errors, 99), abs=1e-4)
    assert 0.030 < m.service_error_p99 < 0.031  # near the worst node, not the mean
    assert m.service_error_max == 0.031
    assert m.service_tail_error_max == 0.08  # |p99 difference| of pi3
    assert m.send_lag_p99_ms == 1.41
    assert m.idle_cpu_min == 0.213
    # Peak RSS where known (pi1 40 MB, pi2 52 MB), else the RSS (pi3 51 MB); pi4 has none.
    assert m.rss_max_mb == 52.0
    assert m.rss_median_mb == 51.0
    assert (m.delivered_fps, m.coverage) == (79.9, 0.998)
    assert m.valid and m.invalid == "" and not m.interrupted
    assert m.run_id == "20261128-120000-dp-k3-r80"


def test_metrics_of_an_invalid_run_keeps_the_monitors_reason() -> None:
    s = _summary()
    s["invalid"] = "emulation fidelity: idle CPU below 5% for 7 s of the measured window"
    s["interrupted"] = True
    m = metrics_of(s)
    assert not m.valid and m.interrupted
    assert m.invalid.startswith("emulation fidelity: idle CPU below 5%")
    assert m.invalid.endswith("; interrupted")


def test_metrics_of_a_summary_without_figures_gives_none_not_zero() -> None:
    m = metrics_of({"run_id": "r", "nodes": {"sink": {"service_error": None}}})
    assert m.service_error_p99 is None and m.service_error_max is None
    assert m.send_lag_p99_ms is None and m.idle_cpu_min is None
    assert m.rss_max_mb is None and m.rss_median_mb is None


def _row(n: int, err: float | None = 0.01, lag: float | None = 1.2, valid: bool = True,
         failed: str = "", leftovers: list[str] | None = None) -> ScaleRow:
    p = load_point(n)
    metrics = None if failed else RunMetrics(
        run_id=f"run-{n}", service_error_p99=err, service_error_max=err,
        service_tail_error_max=None, send_lag_p99_ms=lag, idle_cpu_min=0.3, rss_max_mb=52.0,
        rss_median_mb=51.0, delivered_fps=p.rate_fps, coverage=1.0, valid=valid,
        invalid="" if valid else "emulation fidelity: send lag p99 2.40 ms (more than 2 ms)")
    return ScaleRow(pis=n, k=p.k, profile="rpi3bplus", capacity_fps=p.capacity_fps,
                    rate_fps=p.rate_fps, duration_s=p.duration_s, lab_up_s=10.0, site_s=80.0,
                    metrics=metrics, failed=failed, leftovers=leftovers or [])


def test_honest_is_issue_17s_rule_with_strict_limits() -> None:
    assert honest(_row(6, err=0.0199, lag=1.99))
    assert not honest(_row(6, err=0.02))  # < 2 %, not <=
    assert not honest(_row(6, lag=2.0))  # < 2 ms
    assert not honest(_row(6, err=None))  # a figure that is missing proves nothing
    assert not honest(_row(6, lag=None))
    assert not honest(_row(6, valid=False))  # the monitor voided it: good numbers or not
    assert not honest(_row(6, failed="site.yml: exited 2"))


def test_largest_honest_n_is_the_top_of_the_unbroken_run_of_honest_sizes() -> None:
    assert largest_honest_n([_row(6), _row(12), _row(24), _row(48)]) == 48
    assert largest_honest_n([_row(6), _row(12), _row(24, err=0.025), _row(48, lag=3.0)]) == 12
    # Out of order in the list: decided by N.
    assert largest_honest_n([_row(24, lag=2.5), _row(6), _row(12)]) == 12
    # A lucky 24 after a failed 12 does not make 24 the answer.
    assert largest_honest_n([_row(6), _row(12, lag=2.1), _row(24)]) == 6
    assert largest_honest_n([_row(6, valid=False), _row(12)]) is None
    assert largest_honest_n([]) is None


def test_stop_rule() -> None:
    assert stop_reason([]) == ""
    assert stop_reason([_row(6, valid=False)]) == ""  # one invalid size: try the next
    assert stop_reason([_row(6), _row(12, valid=False)]) == ""
    assert stop_reason([_row(6, valid=False), _row(12)]) == ""
    why = stop_reason([_row(6), _row(12, valid=False), _row(24, valid=False)])
    assert "N = 12 and N = 24 were both invalid" in why
    why = stop_reason([_row(6), _row(12, failed="lab up: playbooks/lab.yml exited 2")])
    assert why == "N = 12: lab up: playbooks/lab.yml exited 2"
    why = stop_reason([_row(6, leftovers=["dnnlab-pi3", "dnnlab0"])])
    assert "teardown left dnnlab-pi3, dnnlab0" in why
    cut = _row(6, valid=False)
    cut.metrics.interrupted = True  # Ctrl-C during the run: run_experiment returns, we stop
    assert stop_reason([cut]) == "N = 6: the run was interrupted"


@pytest.mark.parametrize(("n", "k", "capacity", "rate", "duration"), [
    (6, 5, 125.0, 100.0, 60.0),  # 5 replicas x 25 fps bind
    (12, 11, 250.0, 200.0, 60.0),  # A's L1 (4 ms: 250 fps) binds from here on
    (24, 23, 250.0, 200.0, 60.0),
    (48, 47, 250.0, 200.0, 71.0),  # 300 frames per replica: 300 x 47 / 200 = 70.5 -> 71 s
])
def test_load_point_is_80_percent_of_dps_bound_on_rpi3bplus(n, k, capacity, rate,
                                                            duration) -> None:
    assert load_point(n) == LoadPoint(pis=n, k=k, capacity_fps=capacity, rate_fps=rate,
                                      duration_s=duration)


def test_load_point_follows_the_profiles_prices_and_the_duration_override() -> None:
    info = describe(DEFAULT_MODEL)
    l1 = stage_ms("rpi3b", [info.pipeline[0]])
    l2 = stage_ms("rpi3b", [info.split_stage])
    for n in (6, 12, 48):
        bound = min(1000.0 / l1, (n - 1) * 1000.0 / l2)
        p = load_point(n, "rpi3b", duration_s=30)
        assert p.capacity_fps == pytest.approx(bound, abs=1e-3)
        assert p.rate_fps == pytest.approx(0.8 * bound, abs=1e-3)
        assert p.duration_s == 30.0
        # Enough frames per replica for the monitor's service-time percentiles by default.
        d = load_point(n, "rpi3b").duration_s
        assert d >= 60.0 and p.rate_fps * d / p.k >= 1.5 * 200


def test_load_point_refuses_what_has_no_load_point() -> None:
    with pytest.raises(ValueError, match="at least one replica"):
        load_point(1)
    for profile in ("zero", "native"):  # inf and unknown bounds: no 80 % of them
        with pytest.raises(ValueError, match="no finite capacity bound"):
            load_point(6, profile)
    with pytest.raises(SpecError, match="pis"):
        load_point(245)  # beyond the lab role's /24 (harness/lab_inventory.py)


def test_the_inventory_for_n_is_the_harness_own_and_fits_dp_k_n_minus_1(tmp_path) -> None:
    path = write_lab_inventory(tmp_path / "scale-runs", 12)
    assert path == tmp_path / "scale-runs" / "inventory" / "lab-12.yml"
    inv = load_inventory(str(path))
    assert list(inv.hosts) == [f"pi{i}" for i in range(1, 13)]
    assert [h.address for h in inv.hosts.values()] == [host_address(i) for i in range(1, 13)]
    assert {h.profile for h in inv.hosts.values()} == {"rpi3bplus"}
    assert all(h.emulated for h in inv.hosts.values())
    # lab_dir points at the repository's .lab from wherever the file is (the lab role's keys).
    lab = yaml.safe_load(path.read_text())["all"]["children"]["cluster"]["children"]["lab"]
    lab_dir = lab["vars"]["lab_dir"].replace("{{ inventory_dir }}", str(path.parent))
    assert Path(os.path.normpath(lab_dir)) == REPO / ".lab"
    # dp with K = N - 1 takes every host of it; its plan's bound is the load point's.
    point = load_point(12)
    spec = RunSpec(strategy="dp", k=point.k, inventory=str(path))
    sink = Host("sink", inv.controller_address, "", "", "native", False)
    plan = dp.plan(spec, list(inv.hosts.values()), sink)
    assert [n.host.name for n in plan.workers] == list(inv.hosts)
    assert plan.capacity_fps == pytest.approx(point.capacity_fps)


def test_lab_leftovers_reads_ip_output() -> None:
    netns = "dnnlab-pi2 (id: 1)\ndnnlab-pi10\nother-ns (id: 3)\n"
    links = (
        "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT\n"
        "7: dnnlab0: <BROADCAST,MULTICAST,UP> mtu 1500 qdisc noqueue state UP mode DEFAULT\n"
        "9: vl-pi2@if2: <BROADCAST,MULTICAST,UP> mtu 1500 qdisc noqueue master dnnlab0 "
        "state UP mode DEFAULT\n"
        "11: docker0: <BROADCAST,MULTICAST> mtu 1500 qdisc noqueue state DOWN\n")
    assert lab_leftovers(netns, links) == ["dnnlab-pi2", "dnnlab-pi10", "dnnlab0", "vl-pi2"]
    assert lab_leftovers("other-ns\n", links.splitlines()[0]) == []


def test_table_and_section() -> None:
    rows = [_row(6), _row(12), _row(24, lag=2.4, valid=False),
            _row(48, failed="site.yml: exited 4")]
    table = markdown_table(rows, largest_honest_n(rows), "stopped for a reason")
    lines = table.splitlines()
    assert lines[0].startswith("| N | K | rate fps (bound) |")
    assert len([ln for ln in lines if ln.startswith("| ")]) == 1 + len(rows)
    assert "| 6 | 5 | 100 (125) | 60 |" in table
    assert "1.00 %" in table and "invalid: emulation fidelity" in table
    assert "failed: site.yml: exited 4" in table
    assert "Largest honest N (service-time error p99 < 2%, send lag p99 < 2 ms, run valid): 12" \
        in table
    assert lines[-1] == "Stopped early: stopped for a reason"
    doc = scale.section(rows, stopped="stopped for a reason")
    assert doc["largest_honest_n"] == 12
    assert [r["honest"] for r in doc["rows"]] == [True, True, False, False]
    assert [r["valid"] for r in doc["rows"]] == [True, True, False, False]
    json.dumps(doc)  # goes into results.json as is


def test_write_section_keeps_the_other_sections(tmp_path) -> None:
    out = tmp_path / "results.json"
    out.write_text(json.dumps({"load": {"x": 1}, "scale": {"old": True}}))
    write_section(scale.section([_row(6)]), out)
    data = json.loads(out.read_text())
    assert data["load"] == {"x": 1}
    assert data["scale"]["largest_honest_n"] == 6 and "old" not in data["scale"]


def test_results_root_is_set_for_the_run_and_restored(tmp_path) -> None:
    before = os.environ.get(RESULTS_ENV)
    with scale.results_root(tmp_path / "scale-runs"):
        assert runs_dir() == tmp_path / "scale-runs" / "runs"
    assert os.environ.get(RESULTS_ENV) == before


def test_parse_pis_sorts_dedupes_and_holds_the_lab_roles_limit() -> None:
    assert scale.parse_pis("24,6,48,12,6") == [6, 12, 24, 48]
    with pytest.raises(SpecError, match="at most 244"):
        scale.parse_pis("6,300")
    with pytest.raises(ValueError, match="at least one"):
        scale.parse_pis(" , ")
