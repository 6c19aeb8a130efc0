"""Shared test settings.

REQUIRE_LAB=1 (set by .ci/run) turns a skipped lab test into a failure, so CI can
never pass by silently skipping the end-to-end tests.

Every run a test starts (in this process or through `fab`) writes into a results root of
the session's own (TESTBED_RESULTS_DIR, harness/paths.py), never into the user's `runs/`,
`reports/` and `results.sqlite`; the session fails if those changed while it ran.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from lab_cli import lab_answers, lab_namespaces  # tests/ is on sys.path (rootdir)

from harness.paths import REPO, RESULTS_ENV

# Set at import, before any test imports harness or starts a subprocess: both read it.
_RESULTS = Path(tempfile.mkdtemp(prefix="testbed-test-results-"))
os.environ[RESULTS_ENV] = str(_RESULTS)


def _user_results() -> dict[str, float]:
    """What the user's own results look like: each run folder, report and the ledger
    with its modification time."""
    found = {}
    for sub in ("runs", "reports"):
        folder = REPO / sub
        if folder.exists():
            found.update({str(p): p.lstat().st_mtime for p in folder.iterdir()})
    ledger = REPO / "results.sqlite"
    if ledger.exists():
        found[str(ledger)] = ledger.stat().st_mtime
    return found


def pytest_configure(config):
    config._user_results_before = _user_results()
    print(f"test results root: {_RESULTS}")


def pytest_sessionfinish(session, exitstatus):
    before = getattr(session.config, "_user_results_before", None)
    if before is None:
        return
    after = _user_results()
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    if changed:
        session.exitstatus = 1
        print(f"\nFAILED: the tests changed the user's results (they must stay in "
              f"{_RESULTS}): {changed[:10]}")
    elif exitstatus == 0:
        shutil.rmtree(_RESULTS, ignore_errors=True)  # kept after a failure, to look into


# Modules that take the provisioned lab down, run last in this order: the lab across boxes
# (it needs the provisioned lab for its one-box run first, then replaces it), then
# tests/test_lab.py, which brings its own lab up and ends by taking it down. A lab test
# after either would have to provision the lab again.
_LAST = ("test_e2e_boxes", "test_lab")


def pytest_collection_modifyitems(config, items):
    """Fail on an empty collection; run the modules of _LAST last, in that order."""
    if not items:
        raise pytest.UsageError("no tests collected")
    items[:] = ([i for i in items if i.module.__name__ not in _LAST]
                + [i for m in _LAST for i in items if i.module.__name__ == m])


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if os.environ.get("REQUIRE_LAB") == "1" and rep.skipped and item.get_closest_marker("lab"):
        rep.outcome = "failed"
        rep.longrepr = f"lab test skipped but REQUIRE_LAB=1: {rep.longrepr}"


@pytest.fixture(scope="session")
def _lab_session():
    """Provisions the lab once per session (`ansible-playbook site.yml`). If the session
    brought the lab up it takes it down at the end; a lab that was already up (a
    developer's) is left as it was."""
    if os.geteuid() != 0:
        pytest.skip("the emulated lab needs root (network namespaces, sshd)")
    from harness.playbooks import ansible_playbook, lab_down

    was_up = bool(lab_namespaces())
    ansible_playbook("site.yml", capture=True)
    yield
    if not was_up:
        lab_down()
        assert not lab_namespaces(), "lab down left namespaces behind"


@pytest.fixture(scope="module")
def provisioned_lab(_lab_session):
    """The emulated lab, up and provisioned, for this module's tests: provisioned again if
    an earlier module took it down (tests/test_lab.py does, and runs last for that reason)."""
    if not lab_answers():
        from harness.playbooks import ansible_playbook

        ansible_playbook("site.yml", capture=True)
