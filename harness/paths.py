"""Where runs, reports and the ledger live: one results root, the repository by default.

`TESTBED_RESULTS_DIR` moves all three (`runs/`, `reports/`, `results.sqlite`) under another
directory. The test suite sets it so that `make test` never adds runs to a user's
`reports/index.html`; a researcher can set it to keep one campaign's results apart.
The variable is read at each call, not at import, so a process that sets it before its
first run (or a test that sets it for a subprocess) gets what it asked for.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS_ENV = "TESTBED_RESULTS_DIR"


def results_root() -> Path:
    """The directory holding runs/, reports/ and results.sqlite (absolute)."""
    value = os.environ.get(RESULTS_ENV, "").strip()
    if not value:
        return REPO
    root = Path(value).expanduser()
    return root if root.is_absolute() else (Path.cwd() / root).resolve()


def runs_dir() -> Path:
    """`runs/<run-id>/` folders, `runs/latest` and `runs/sweeps/`."""
    return results_root() / "runs"


def reports_dir() -> Path:
    """HTML reports and `index.html`."""
    return results_root() / "reports"


def ledger_path() -> Path:
    """The SQLite ledger: one row per run."""
    return results_root() / "results.sqlite"
