"""--enforce-memory without the lab: the cgroup code on a real, throwaway memory cgroup of the
test's own (`dnnlab-test-<random>`, holding only a Python the test starts), the checks that
refuse the option before anything starts, and the summary and report of a run whose node
the OOM killer ended."""

from __future__ import annotations

import html as htmllib
import json
import os
import secrets
import subprocess
import sys

import pytest
from test_labctl import _labctl

from harness import memcap
from harness.capacity import profile_table
from harness.inventory import Host
from harness.spec import RunSpec, SpecError

ROOT = memcap.MEMCG_ROOT
HAS_MEMCG = (ROOT / "memory.limit_in_bytes").is_file() and os.access(ROOT, os.W_OK)
needs_memcg = pytest.mark.skipif(not HAS_MEMCG, reason="needs root and the cgroup v1 memory "
                                 "controller at /sys/fs/cgroup/memory (the lab's machine)")
MB = 1 << 20
# Waits for a line on stdin, then holds that many MB, touched (b"x" * n writes every page).
HOG = ("import sys\n"
       "for line in sys.stdin:\n"
       "    held = b'x' * (int(line) << 20)\n"
       "    print('holding', flush=True)\n")


def _lab_host(name: str, profile: str = "rpi3bplus", emulated: bool = True) -> Host:
    return Host(name, "198.18.0.11", "root", "", profile, emulated)


@pytest.fixture
def throwaway_cgroup():
    """A memory cgroup of this test's own, named as a lab host `test-<hex>` would have it;
    removed afterwards (its processes killed first, by PID: only the test's own)."""
    host = f"test-{secrets.token_hex(4)}"
    procs: list[subprocess.Popen] = []

    def hog() -> subprocess.Popen:
        p = subprocess.Popen([sys.executable, "-c", HOG], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
        procs.append(p)
        return p

    yield host, hog
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()
    path = memcap.cgroup_path(host)
    if path.is_dir():
        path.rmdir()


def _hold(p: subprocess.Popen, mb: int) -> str:
    """Ask the hog to hold `mb` MB; its answer, or '' when it died doing so."""
    assert p.stdin and p.stdout
    try:
        p.stdin.write(f"{mb}\n")
        p.stdin.flush()
    except BrokenPipeError:
        return ""
    return p.stdout.readline().strip()


@needs_memcg
def test_a_cap_ends_a_process_over_it_and_the_run_reads_the_kill_back(throwaway_cgroup,
                                                                     tmp_path) -> None:
    """labctl puts a process (there: the host's sshd) in the host's cgroup; the run caps it,
    a process holding more than the cap is OOM-killed, memory.json says so, the limit is off
    again after the run, and a process as big runs fine then; labctl down removes it."""
    host, hog = throwaway_cgroup
    labctl = _labctl()
    first = hog()
    labctl.ensure_memcg(str(ROOT), f"dnnlab-{host}", first.pid)
    assert labctl.memcg_cgroup_of(first.pid) == f"/dnnlab-{host}"
    labctl.ACTIONS.clear()
    labctl.ensure_memcg(str(ROOT), f"dnnlab-{host}", first.pid)
    assert labctl.ACTIONS == []  # a second lab up changes nothing

    caps = memcap.RunCaps([_lab_host(host)], {host: 64})
    caps.check()
    caps.apply()
    cg = memcap.MemCgroup(memcap.cgroup_path(host))
    assert cg.limit_bytes() == 64 * MB
    assert _hold(first, 16) == "holding"  # under the cap: fine
    assert not caps.oom_killed(host)
    assert _hold(first, 200) == ""  # over it: the kernel ends it
    assert first.wait(timeout=30) == -9
    assert caps.oom_killed(host) and memcap.start_tolerance(caps)(host)

    doc = caps.finish(tmp_path)
    assert json.loads((tmp_path / memcap.MEMORY_FILE).read_text()) == doc
    entry = doc["hosts"][host]
    assert doc["enforced"] and entry["cap_mb"] == 64 and entry["oom_kills"] == 1
    assert 16 * MB < entry["counters"]["max_usage_bytes"] <= 64 * MB
    assert entry["counters"]["failcnt"] > 0
    assert memcap.oom_reason(entry) == "killed by the kernel's OOM killer at the 64 MB cap"
    assert cg.limit_bytes() > 1 << 60  # no limit after the run

    second = hog()  # a run without the option: nothing caps the host any more
    labctl.ensure_memcg(str(ROOT), f"dnnlab-{host}", second.pid)
    after = memcap.RunCaps([_lab_host(host)], {})
    after.apply()
    assert _hold(second, 200) == "holding" and not after.oom_killed(host)
    assert after.finish()["hosts"][host]["cap_mb"] is None
    second.kill()
    second.wait()
    labctl.remove_memcg(str(ROOT), f"dnnlab-{host}")
    assert not memcap.cgroup_path(host).exists()


@needs_memcg
def test_a_cap_below_what_the_host_holds_names_the_host(throwaway_cgroup) -> None:
    """The kernel cannot take a limit under what the processes in it hold (EBUSY): the run
    fails naming the host and its usage, and finish() still takes the limit off."""
    host, hog = throwaway_cgroup
    p = hog()
    _labctl().ensure_memcg(str(ROOT), f"dnnlab-{host}", p.pid)
    assert _hold(p, 64) == "holding"
    caps = memcap.RunCaps([_lab_host(host)], {host: 8})
    with pytest.raises(RuntimeError, match=rf"cannot cap {host}'s memory .* at 8 MB.*holds"):
        caps.apply()
    assert memcap.MemCgroup(memcap.cgroup_path(host)).limit_bytes() > 1 << 60
    assert p.poll() is None  # refused, not killed


@needs_memcg
def test_an_empty_or_missing_cgroup_is_refused_before_anything_starts(throwaway_cgroup) -> None:
    host, _hog = throwaway_cgroup
    caps = memcap.RunCaps([_lab_host(host)], {host: 64})
    with pytest.raises(SpecError, match=rf"{host} has no memory cgroup.*fab lab-up"):
        caps.check()
    memcap.cgroup_path(host).mkdir()
    with pytest.raises(SpecError, match=rf"{host}'s memory cgroup .* holds no process"):
        caps.check()


def test_labctl_down_leaves_test_cgroups_to_their_tests(tmp_path) -> None:
    for name in ("dnnlab-pi7", "dnnlab-test-ab12", "other"):
        (tmp_path / name).mkdir()
    assert _labctl().memcg_names(str(tmp_path), "dnnlab-") == ["dnnlab-pi7"]


def test_caps_come_from_the_profiles_ram_or_the_number_given() -> None:
    profiles = profile_table()
    hosts = [_lab_host("pi1"), _lab_host("pi2", "rpi4b")]
    assert memcap.cap_plan("ram", None, hosts, profiles) == {"pi1": 1024, "pi2": 4096}
    assert memcap.cap_plan("44", 44, hosts, profiles) == {"pi1": 44, "pi2": 44}
    assert memcap.cap_plan("", None, hosts, profiles) == {}


def test_a_profile_without_ram_is_refused_naming_host_and_profile() -> None:
    hosts = [_lab_host("pi1"), _lab_host("pi2", "native")]
    with pytest.raises(SpecError, match=r"enforce_memory: host pi2's profile 'native' states "
                                        r"no RAM .*--enforce-memory=MB") as err:
        memcap.cap_plan("ram", None, hosts, profile_table())
    assert err.value.cli_message().startswith("--enforce-memory: host pi2")
    # A number needs no profile RAM.
    assert memcap.cap_plan("60", 60, hosts, profile_table()) == {"pi1": 60, "pi2": 60}


def test_real_pis_are_refused_with_the_reason() -> None:
    hosts = [_lab_host("pi1", emulated=False), _lab_host("pi2")]
    with pytest.raises(SpecError, match=r"pi1 is a real device with RAM of its own"):
        memcap.cap_plan("60", 60, hosts, profile_table())


@pytest.mark.parametrize(("given", "field", "cap"), [
    ("", "", None), (False, "", None), (True, "ram", None), ("yes", "ram", None),
    ("60", "60", 60), (60, "60", 60), (" 1e3 ", "1000", 1000)])
def test_spec_reads_the_option(given, field, cap) -> None:
    spec = RunSpec(enforce_memory=given)
    assert spec.enforce_memory == field and spec.memory_cap_mb == cap
    assert spec.to_dict()["enforce_memory"] == field


@pytest.mark.parametrize("given", ["0", "-5", "1.5", "lots"])
def test_spec_refuses_a_bad_cap(given) -> None:
    with pytest.raises(SpecError, match="enforce_memory: give it alone .* MB >= 1"):
        RunSpec(enforce_memory=given)


def _finished_run(tmp_path, monkeypatch, run_id: str, memory: dict, stats: dict,
                  **kw) -> tuple[dict, str]:
    """A run through the real tail of `fab experiment` (experiment.finish_run) whose run
    directory holds memory.json and node_stats.json as a lab run writes them."""
    from test_analysis import make_run

    from harness import experiment
    from harness.paths import RESULTS_ENV

    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    nodes = [{"name": "A", "role": "A", "stages": ["L1"], "address": "198.18.0.11:12345",
              "profile": "rpi3bplus"},
             {"name": "B", "role": "B", "stages": ["L2"], "address": "198.18.0.12:12345",
              "profile": "rpi3bplus"},
             {"name": "sink", "role": "sink", "stages": [], "address": "198.18.0.1:12345"}]
    run_dir = make_run(tmp_path / "runs", run_id, extra_spec={
        "queue_size": 5, "x": 10, "warmup_frames": 10, "measure_frames": 100,
        "nodes": nodes, "profiles": {"rpi3bplus": {"ram_mb": 1024}}}, **kw)
    (run_dir / memcap.MEMORY_FILE).write_text(json.dumps(memory))
    (run_dir / "node_stats.json").write_text(json.dumps(stats))
    summary = experiment.finish_run(run_dir, say=lambda _m: None)
    return summary, (tmp_path / "reports" / f"{run_id}.html").read_text(encoding="utf-8")


def _host(cap_mb, oom_kills: int, peak_mb: int) -> dict:
    return {"cap_mb": cap_mb, "oom_kills_before": 2, "oom_kills": oom_kills,
            "counters": {"max_usage_bytes": peak_mb * MB, "failcnt": 310 if oom_kills else 0}}


def test_a_node_the_oom_killer_ended_is_named_with_the_reason(tmp_path, monkeypatch) -> None:
    summary, page = _finished_run(
        tmp_path, monkeypatch, "oom", b_dies_at=6.0,
        memory={"enforced": True, "hosts": {"A": _host(44, 0, 36), "B": _host(44, 1, 44)}},
        stats={"A": {"rss_kb": 30_000, "rss_peak_kb": 40_000}, "B": None})
    html = htmllib.unescape(page)
    reason = "killed by the kernel's OOM killer at the 44 MB cap"
    dead = [w for w in summary["warnings"] if "node died or hung" in w]
    assert len(dead) == 1 and f": B ({reason})," in dead[0]  # the sink after it: no reason
    assert summary["memory"]["cgroups"]["hosts"]["B"]["oom_reason"] == reason
    assert summary["memory"]["cgroups"]["hosts"]["A"]["oom_reason"] is None
    assert not any("RSS" in w for w in summary["warnings"])  # A fits its 1024 MB
    assert summary["memory"]["nodes"]["A"]["rss_over_ram"] is False
    times = html.split("<h3>Time and load</h3>")[1].split("<h2>")[0]
    b_row = next(r for r in times.split("<tr>") if r.startswith('<td class="l">B</td>'))
    assert b_row.endswith(f'<td class="">-5.1: {reason}</td></tr>'), b_row
    assert reason in html.split("Lab hosts' memory")[1]
    assert 'class="banner"' in html and reason in html[:html.index("<h2>Summary</h2>")]


def test_a_node_over_its_devices_ram_is_flagged_without_a_cap(tmp_path, monkeypatch) -> None:
    summary, html = _finished_run(
        tmp_path, monkeypatch, "fat",
        memory={"enforced": False, "hosts": {"A": _host(None, 0, 1200), "B": _host(None, 0, 60)}},
        stats={"A": {"rss_kb": 1000 * 1024, "rss_peak_kb": 1100 * 1024},
               "B": {"rss_kb": 50_000, "rss_peak_kb": 60_000}})
    assert summary["memory"]["nodes"]["A"]["rss_over_ram"] is True
    assert ("node A: measured RSS 1100 MB exceeds its device's RAM (1024 MB): it would not "
            "fit on the device") in " ".join(summary["warnings"])
    assert summary["memory"]["nodes"]["B"]["rss_over_ram"] is False
    assert not any("OOM" in w for w in summary["warnings"])
    memory = html.split("<h2>Memory per device")[1]
    assert "OVER the device" in memory and "no limit" in memory


def test_a_node_killed_before_its_trace_began_is_missing_not_a_crash(tmp_path,
                                                                      monkeypatch) -> None:
    """A node OOM-killed while loading its stages wrote no trace; a collected empty file is
    read as no rows: B is a missing trace, with the reason, and A's numbers stand."""
    from test_analysis import make_run

    from harness.analysis import load_run, summarize

    run_dir = make_run(tmp_path, "empty", b_dies_at=0.0)
    (run_dir / "traces" / "B.csv").write_text("")
    summary = summarize(load_run(run_dir))
    assert "B" in summary["missing_traces"]
    assert summary["nodes"]["A"]["received"] > 0


def test_a_sweep_caps_every_point_it_runs() -> None:
    """`fab sweep --enforce-memory[=MB]` (fabfile.py passes it in the run template): every
    point's RunSpec carries the cap, checked like `fab experiment`'s."""
    from harness.sweep import SweepSpec

    for given, want in ((True, "ram"), ("300", "300"), ("", "")):
        sweep = SweepSpec(strategies=["0", "dp"], xs=[1], ks=["1", "2"], repeats=1,
                          run={"rate_fps": 20.0, "enforce_memory": given})
        points = sweep.specs()
        assert len(points) == 3 and {p.enforce_memory for p in points} == {want}, given
    with pytest.raises(SpecError, match="enforce_memory: give it alone"):
        SweepSpec(strategies=["0"], xs=[1], repeats=1,
                  run={"rate_fps": 20.0, "enforce_memory": "0"})
