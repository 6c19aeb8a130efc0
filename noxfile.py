"""node_app's own tests on the Pis' own Python and numpy (docs/testing.md).

A Pi runs node_app on its Ubuntu's python3 and python3-numpy, not on this machine's:

| session      | Ubuntu Server (Raspberry Pi) | Python | numpy  |
|--------------|------------------------------|--------|--------|
| `node-3.10`  | 22.04 LTS                    | 3.10   | 1.21.6 |
| `node-3.12`  | 24.04 LTS                    | 3.12   | 1.26.4 |

(The lab's nodes run this machine's Debian python3 + python3-numpy, covered by `make test`.)

Each session installs only numpy, pytest and hypothesis, copies `node_app/` alone into the
session's tmp folder (as the node_app role copies it to a Pi) and puts only that on
PYTHONPATH, then runs the test files that exercise node_app by itself, without
tests/conftest.py (`--noconftest`: it imports harness) and without the tests marked
`controller` (they build run files with harness). A test that reached for harness would fail
here with ModuleNotFoundError: harness is not importable. The fuzz test (10,000 requests,
about a minute per session here) is left to the main suite; the other malformed-request
tests of test_node_hardening.py (bad requests, slow loris, idle keep-alive) run here.

Run with `make test-node-pythons` (it finds the interpreters), or
`NODE_PYTHON_3_10=/path/python3.10 NODE_PYTHON_3_12=/path/python3.12 .venv/bin/nox`.
Virtualenvs are kept in .nox/ and reused.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nox

nox.options.error_on_missing_interpreters = True  # a missing Python fails, never skips
nox.options.reuse_venv = "yes"
nox.options.sessions = ["node-3.10", "node-3.12"]

REPO = Path(__file__).resolve().parent

# Test files that import only node_app, numpy, the stdlib, pytest, hypothesis and each other.
NODE_TESTS = [
    "tests/test_node_app.py",
    "tests/test_node_roles.py",
    "tests/test_node_hardening.py",
    "tests/test_parallel_node.py",
    "tests/test_strategies_node.py",
]

# Too slow to run three times (see the docstring); `make test` runs it on Debian's Python.
SLOW = ["tests/test_node_hardening.py::test_fuzz_live_node"]

# python version -> (Ubuntu release, numpy of that release)
PIS = {"3.10": ("22.04", "1.21.6"), "3.12": ("24.04", "1.26.4")}


def _node_tests(session: nox.Session, version: str) -> None:
    ubuntu, numpy = PIS[version]
    # Wheels only: a numpy built from source would take minutes and test another build.
    session.install("--only-binary=numpy", f"numpy=={numpy}", "pytest>=8,<10",
                    "hypothesis>=6.100,<7")
    session.run(
        "python", "-c",
        "import sys, numpy; v = '%d.%d' % sys.version_info[:2]; "
        f"assert (v, numpy.__version__) == ({version!r}, {numpy!r}), (v, numpy.__version__); "
        f"print('Ubuntu {ubuntu}: Python', sys.version.split()[0], 'numpy', numpy.__version__)",
        silent=False,
    )
    package = Path(session.create_tmp()) / "pi"
    shutil.rmtree(package, ignore_errors=True)
    shutil.copytree(REPO / "node_app", package / "node_app",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    session.run(
        "pytest", "--noconftest", "-p", "no:cacheprovider", "-m", "not controller and not lab",
        "-q", *(f"--deselect={t}" for t in SLOW), *NODE_TESTS, *session.posargs,
        env={"PYTHONPATH": str(package), "PYTHONDONTWRITEBYTECODE": "1"},
    )


@nox.session(name="node-3.10", python=os.environ.get("NODE_PYTHON_3_10", "3.10"))
def node_3_10(session: nox.Session) -> None:
    """Ubuntu 22.04 on a Pi: Python 3.10, numpy 1.21.6."""
    _node_tests(session, "3.10")


@nox.session(name="node-3.12", python=os.environ.get("NODE_PYTHON_3_12", "3.12"))
def node_3_12(session: nox.Session) -> None:
    """Ubuntu 24.04 on a Pi: Python 3.12, numpy 1.26.4."""
    _node_tests(session, "3.12")
