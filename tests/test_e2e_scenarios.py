"""Scenario actions on the emulated lab (issue 15): a partition between two hosts, written as
a scenario file and run through `fab experiment --scenario=FILE` as a user types it.

Lab test (pytest -m lab, root, the emulated lab up: see tests/test_e2e.py for the fixture).
One run of 8 s of load (0.5 s warm-up, 7.5 s measured).
"""

from __future__ import annotations

import subprocess
import textwrap

import numpy as np
import pytest
from lab_cli import fab, latest_run  # tests/ is on sys.path (rootdir)

from harness.analysis import load_run
from harness.analysis.derived import derive
from harness.inventory import load_inventory
from harness.paths import runs_dir

pytestmark = pytest.mark.lab

NS_PREFIX = "dnnlab-"  # playbooks/roles/lab/defaults/main.yml lab_ns_prefix
SCENARIO = """\
    description: pi1 and pi2 partitioned for 2 s, baseline at 10 frames/s
    strategy: baseline
    model: cao-dense
    profile: rpi3bplus
    rate_fps: 10
    warmup_s: 0.5
    duration_s: 7.5
    min_duration_s: 5
    min_frames: 50
    hosts: [pi1, pi2]
    actions:
      - {at: 3s, do: partition, hosts: [pi1, pi2], for: 2s}
    """
# `at` counts from when the fault injector starts, just before Locust, whose first frame goes
# out after its own start-up and a 0.25 s start delay (harness/locustfile.py start_delay_s):
# so a fault lands 0.5-2 s earlier in the load than its `at` says. At 3 s the partition is in the
# measured part however long Locust takes to start; every check below uses the window's
# recorded (absolute) times, never `at`.


def prohibited(host: str) -> str:
    """`ip route show type prohibit` inside a lab host's namespace (read only)."""
    return subprocess.run(["ip", "-n", NS_PREFIX + host, "-4", "route", "show", "type",
                           "prohibit"], capture_output=True, text=True, check=True).stdout


def test_a_partition_loses_frames_at_pi1_then_heals(provisioned_lab, tmp_path):
    """While pi1 and pi2 cannot reach each other, nothing gets through and pi1 drops what it
    cannot forward (forward_failed: the kept-alive connection times out, new ones are
    refused by the prohibit route; queue_full while its worker waits); after the heal
    every frame is delivered again; no prohibit route to the peer is left in either
    namespace; the report lists the partition's start and heal."""
    f = tmp_path / "partition.yml"
    f.write_text(textwrap.dedent(SCENARIO))
    fab("experiment", f"--scenario={f}")
    spec, summary = latest_run()
    assert spec["faults"] == ["partition:pi1+pi2@3s:2s"]

    windows = [w for w in summary.get("faults", []) if w["kind"] == "partition"]
    assert len(windows) == 1 and windows[0]["ok"], summary.get("faults")
    w = windows[0]
    assert w["host"] == "pi1+pi2" and 1.8 <= w["end"] - w["start"] <= 3.5, w
    assert any(x.startswith("fault injected: partition on pi1+pi2") for x in summary["warnings"])

    pi1_drops = summary["drops"].get("pi1", {})
    assert any(r.startswith("forward_failed") for r in pi1_drops), summary["drops"]
    assert summary["lost_unaccounted"] == 0, summary  # every lost frame has a drop record
    pi1 = summary["nodes"]["pi1"]
    assert pi1["received"] + pi1["dropped"] + pi1["rejected"] == summary["sent"], pi1

    d = derive(load_run(runs_dir() / spec["run_id"]))
    delivered = ~np.isnan(d.arrival)
    arrivals = d.arrival[delivered]
    # The routes are surely in place from 1 s after the window opens (two SSH commands)
    # until the heal starts, `for` = 2 s after it opened: nothing reaches the sink then.
    cut = (w["start"] + 1.0, w["start"] + 2.0)
    assert not ((arrivals > cut[0]) & (arrivals < cut[1])).any(), arrivals
    # Frames due while cut are lost, at pi1: some of them (pi1 keeps up to 5 queued while
    # its forward waits out its 2 s timeout, and those may go through after the heal).
    due_cut = (d.intended >= cut[0]) & (d.intended < cut[1])
    lost = int((due_cut & ~delivered).sum())
    assert due_cut.sum() >= 8 and lost >= 3, (due_cut.sum(), lost)
    assert sum(pi1_drops.values()) >= lost, summary["drops"]
    # After the heal (plus 1 s for pi1's queue and the forwarder's new connection), every
    # frame gets through.
    after = d.intended >= w["end"] + 1.0
    assert after.sum() >= 20 and delivered[after].all(), np.flatnonzero(after & ~delivered)

    hosts = load_inventory(spec["inventory"]).hosts
    assert hosts["pi2"].address not in prohibited("pi1")
    assert hosts["pi1"].address not in prohibited("pi2")
    assert "10.0.0.0/8" in prohibited("pi1")  # the lab's confinement routes are still there
