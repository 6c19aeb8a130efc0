"""The fab CLI as the end-to-end tests call it: exactly what a user types."""

from __future__ import annotations

import json
import subprocess

from harness.experiment import RUNS
from harness.inventory import REPO


def fab(*args: str, check: bool = True, timeout_s: float = 600) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(REPO / ".venv/bin/fab"), *args], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout_s)
    if check and proc.returncode != 0:
        raise AssertionError(f"fab {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def latest_run() -> tuple[dict, dict]:
    """spec.json and summary.json of runs/latest."""
    run_dir = (RUNS / "latest").resolve()
    return (json.loads((run_dir / "spec.json").read_text()),
            json.loads((run_dir / "summary.json").read_text()))
