"""CI (.ci/run) lints before it tests, and `make lint` installs the tools it calls.

No lab: `make` is replaced by a recorder on PATH, or run with -n (print, do not execute).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from harness.paths import REPO

FAKE_MAKE = """#!/bin/sh
echo "$* REQUIRE_LAB=${REQUIRE_LAB:-unset}" >> "$MAKE_LOG"
[ "$1" = "$FAIL_TARGET" ] && exit 3
exit 0
"""


def _ci(tmp_path: Path, fail: str = "") -> tuple[int, list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "make").write_text(FAKE_MAKE)
    (bin_dir / "make").chmod(0o755)
    log = tmp_path / "make.log"
    log.write_text("")
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "MAKE_LOG": str(log),
           "FAIL_TARGET": fail}
    env.pop("REQUIRE_LAB", None)
    proc = subprocess.run(["sh", str(REPO / ".ci" / "run")], env=env, capture_output=True,
                          text=True, timeout=60)
    return proc.returncode, log.read_text().splitlines()


def test_ci_runs_lint_then_the_tests_with_the_lab_required(tmp_path: Path) -> None:
    code, calls = _ci(tmp_path)
    assert code == 0
    assert calls == ["lint REQUIRE_LAB=1", "test REQUIRE_LAB=1"]


def test_a_lint_failure_fails_ci_before_the_tests(tmp_path: Path) -> None:
    code, calls = _ci(tmp_path, fail="lint")
    assert code != 0 and calls == ["lint REQUIRE_LAB=1"]


def test_make_lint_on_a_clean_clone_installs_the_dev_tools_first(tmp_path: Path) -> None:
    # A venv that does not exist yet, as in a clean clone: make must create it and install
    # the dev extras before calling the linters (-n: print the commands only).
    venv = tmp_path / "venv"
    out = subprocess.run(["make", "-n", "lint", f"VENV={venv}"], cwd=REPO, capture_output=True,
                         text=True, timeout=60, check=True).stdout.splitlines()
    install = next(i for i, line in enumerate(out) if "pip install" in line and ".[dev]" in line)
    tools = {"ruff": "ruff", "lint-imports": "import-linter", "ansible-lint": "ansible-lint"}
    for command in tools:
        assert any(line.startswith(f"{venv}/bin/{command}") for line in out[install + 1:]), out
    dev = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    names = {d.split(">")[0].split("<")[0].split("=")[0].strip().lower() for d in dev["dev"]}
    assert set(tools.values()) <= names
