"""Faults during a run on the lab: the run completes, the report says what happened, and
every surviving node's trace accounts for every frame it was sent."""

from __future__ import annotations

import pytest
from lab_cli import fab, latest_run, report_of, run_ids  # tests/ is on sys.path (rootdir)

pytestmark = pytest.mark.lab

RUN = ("--strategy=0", "--rate=20", "--duration=8", "--warmup=2", "--min-duration=8")


def accounted_at_pi1(summary: dict) -> None:
    """pi1 saw every frame the client sent: received or dropped, none vanished."""
    pi1 = summary["nodes"]["pi1"]
    assert pi1["received"] + pi1["dropped"] + pi1["rejected"] == summary["sent"], pi1


def fault_window(summary: dict, kind: str) -> dict:
    windows = [f for f in summary.get("faults", []) if f["kind"] == kind]
    assert len(windows) == 1 and windows[0]["ok"], summary.get("faults")
    assert any(w.startswith(f"fault injected: {kind} on pi2") for w in summary["warnings"])
    return windows[0]


def test_killed_node_is_reported_and_the_others_traces_kept(provisioned_lab):
    fab("experiment", *RUN, "--fault=kill:pi2@5s")
    spec, summary = latest_run()
    fault_window(summary, "kill")
    assert "pi2" in summary["traces_ending_early"], summary["trace_ends"]
    assert any(r.startswith("forward_failed") for r in summary["drops"].get("pi1", {})), \
        summary["drops"]
    # SIGKILL loses what pi2 held (its queue, <= 6 frames) and at most its last second of
    # unflushed events (20 frames at 20 fps): those frames vanish with the node, and the
    # summary says so instead of hiding them.
    assert summary["lost_unaccounted"] <= 26, summary["lost_unaccounted"]
    accounted_at_pi1(summary)
    assert summary["coverage"] < 0.7  # over half the measured window had no pi2


def test_stalled_node_makes_upstream_time_out_not_hang(provisioned_lab):
    fab("experiment", *RUN, "--fault=stall:pi2@4s:3s")
    spec, summary = latest_run()
    window = fault_window(summary, "stall")
    assert 2.5 <= window["end"] - window["start"] <= 5.0
    assert summary["drops"].get("pi1", {}).get("forward_failed:timeout", 0) >= 1, summary["drops"]
    assert summary["traces_ending_early"] == []  # pi2 came back and finished the run
    accounted_at_pi1(summary)
    # Every frame pi1 got through reached pi2's trace; a frame whose forward timed out may
    # still be read by pi2 once it resumes, so it can count on both sides.
    pi1, pi2 = summary["nodes"]["pi1"], summary["nodes"]["pi2"]
    assert pi1["forwarded"] <= pi2["received"] + pi2["dropped"]
    assert pi2["received"] + pi2["dropped"] <= pi1["forwarded"] + pi1["forward_failed"]


def test_slow_link_moves_the_bottleneck(provisioned_lab):
    fab("experiment", *RUN, "--fault=link:pi2@3s:1mbit")
    spec, summary = latest_run()
    fault_window(summary, "link")
    # 8 KB frames at 1 Mbit/s take ~65 ms each on the way to pi2: pi1 cannot keep 20 fps.
    assert summary["drops"].get("pi1", {}).get("queue_full", 0) > 0, summary["drops"]
    accounted_at_pi1(summary)


def wait_for(what: str, check, timeout_s: float = 180.0, every_s: float = 0.2):
    """Poll `check()` until it returns something truthy; fail naming `what` on timeout.

    The timeout only bounds a hang: the test waits for the event, however slow the box."""
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def test_ctrl_c_keeps_the_traces_and_writes_an_interrupted_report(provisioned_lab):
    """Ctrl-C in the middle of a run: the traces gathered so far are kept, the summary and
    the report say the run was interrupted.

    The run is scheduled for 120 s and the interrupt is sent once pi1's /stats shows 80
    frames of this run (the 40 warm-up frames and 2 s of measured ones): an event, so the
    signal lands mid-run on a loaded machine too, and the test ends in seconds."""
    import json
    import signal
    import subprocess

    from harness.inventory import REPO
    from harness.nodeapi import try_stats
    from harness.paths import runs_dir

    before = run_ids()
    proc = subprocess.Popen([str(REPO / ".venv/bin/fab"), "experiment", "--strategy=0",
                             "--rate=20", "--duration=120", "--warmup=2"], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        run_id = wait_for("the run's folder", lambda: next(iter(run_ids() - before), None))

        def pi1_took_80_frames() -> bool:
            stats = try_stats("198.18.0.11:12345") or {}
            return stats.get("run_id") == run_id and stats.get("received", 0) >= 80

        wait_for(f"pi1 to take 80 frames of {run_id}", pi1_took_80_frames)
        assert proc.poll() is None, "the run ended before it was interrupted"
        proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
        out, _ = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    run_dir = runs_dir() / run_id
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary.get("interrupted"), out
    assert any("interrupted" in w for w in summary["warnings"])
    assert {"pi1.csv", "pi2.csv", "sink.csv"} <= {p.name for p in (run_dir / "traces").iterdir()}
    assert 0 < summary["delivered"] < 120 * 20
    assert "interrupted" in report_of(run_id)
