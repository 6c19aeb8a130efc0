"""The fab CLI as the end-to-end tests call it: exactly what a user types."""

from __future__ import annotations

import json
import subprocess

from harness.inventory import REPO
from harness.paths import reports_dir, runs_dir


def fab(*args: str, check: bool = True, timeout_s: float = 600) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(REPO / ".venv/bin/fab"), *args], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout_s)
    if check and proc.returncode != 0:
        raise AssertionError(f"fab {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def latest_run() -> tuple[dict, dict]:
    """spec.json and summary.json of the newest run in the tests' results root."""
    run_dir = (runs_dir() / "latest").resolve()
    return (json.loads((run_dir / "spec.json").read_text()),
            json.loads((run_dir / "summary.json").read_text()))


def run_ids() -> set[str]:
    """Run folders in the tests' results root (conftest points TESTBED_RESULTS_DIR there)."""
    runs = runs_dir()
    return {p.name for p in runs.iterdir() if p.is_dir() and not p.is_symlink()} \
        if runs.exists() else set()


def report_of(run_id: str) -> str:
    return (reports_dir() / f"{run_id}.html").read_text()
