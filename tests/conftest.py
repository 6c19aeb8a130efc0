"""Shared test settings.

REQUIRE_LAB=1 (set by .ci/run) turns a skipped lab test into a failure, so CI can
never pass by silently skipping the end-to-end tests.
"""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config, items):
    if not items:
        raise pytest.UsageError("no tests collected")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if os.environ.get("REQUIRE_LAB") == "1" and rep.skipped and item.get_closest_marker("lab"):
        rep.outcome = "failed"
        rep.longrepr = f"lab test skipped but REQUIRE_LAB=1: {rep.longrepr}"


def _lab_namespaces() -> list[str]:
    import subprocess

    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith("dnnlab-")]


@pytest.fixture(scope="session")
def provisioned_lab():
    """The emulated lab, up and provisioned by `ansible-playbook site.yml`, for the session.

    If the session brought the lab up it takes it down at the end; a lab that was
    already up (a developer's) is left as it was.
    """
    if os.geteuid() != 0:
        pytest.skip("the emulated lab needs root (network namespaces, sshd)")
    from harness.playbooks import ansible_playbook, lab_down

    was_up = bool(_lab_namespaces())
    ansible_playbook("site.yml", capture=True)
    yield
    if not was_up:
        lab_down()
        assert not _lab_namespaces(), "lab down left namespaces behind"
