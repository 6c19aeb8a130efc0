"""The fab CLI as the end-to-end tests call it: exactly what a user types."""

from __future__ import annotations

import json
import socket
import subprocess
import warnings
from pathlib import Path

from harness.inventory import REPO, load_inventory
from harness.paths import reports_dir, runs_dir


def fab(*args: str, check: bool = True, timeout_s: float = 600) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(REPO / ".venv/bin/fab"), *args], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout_s)
    if check and proc.returncode != 0:
        raise AssertionError(f"fab {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def latest_run_dir() -> Path:
    """The newest run's folder in the tests' results root."""
    return (runs_dir() / "latest").resolve()


def latest_run() -> tuple[dict, dict]:
    """spec.json and summary.json of the newest run in the tests' results root."""
    run_dir = latest_run_dir()
    return (json.loads((run_dir / "spec.json").read_text()),
            json.loads((run_dir / "summary.json").read_text()))


def measured(*summaries: dict) -> None:
    """Say so (a pytest warning, in the summary) when the box's own fidelity monitor voided
    any of these runs; fail on any other reason a run was voided.

    A test that compares measured numbers with the model (or with another run) goes on to
    compare them either way: its tolerances hold on a box with one core busy (`make
    test-stress`), where the monitor voids many runs (idle CPU below 5 % while the other
    lane runs) though their numbers still agree. When a comparison then fails, the warning
    beside it says whether the box, not the code, set the pace. Skipping instead would fail
    under REQUIRE_LAB=1 (CI) on every busy box.
    """
    voided = [s.get("invalid") or "" for s in summaries]
    other = [v for v in voided if v and not v.startswith("emulation fidelity: ")]
    assert not other, other
    for s, v in zip(summaries, voided, strict=True):
        if v:
            warnings.warn(f"run {s.get('run_id')} was voided by the fidelity monitor (box "
                          f"busy), its numbers compared anyway: {v}", stacklevel=2)


def run_ids() -> set[str]:
    """Run folders in the tests' results root (conftest points TESTBED_RESULTS_DIR there)."""
    runs = runs_dir()
    return {p.name for p in runs.iterdir() if p.is_dir() and not p.is_symlink()} \
        if runs.exists() else set()


def report_of(run_id: str) -> str:
    return (reports_dir() / f"{run_id}.html").read_text()


def lab_namespaces() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith("dnnlab-")]


def sshd_answers(address: str) -> bool:
    """An SSH server greets on address:22 (what lab.yml's last task waits for)."""
    try:
        with socket.create_connection((address, 22), timeout=2) as sock:
            return sock.recv(64).startswith(b"SSH-")
    except OSError:
        return False


def lab_answers() -> bool:
    """The lab is up: each inventory/lab.yml host's namespace exists and its sshd greets."""
    hosts = load_inventory("inventory/lab.yml").hosts.values()
    if sorted(lab_namespaces()) != sorted(f"dnnlab-{h.name}" for h in hosts):
        return False
    return all(sshd_answers(h.address) for h in hosts)
