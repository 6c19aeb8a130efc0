"""Run the project's Ansible playbooks from the harness (lab up/down, provisioning).

Fabric tasks and tests call these instead of re-implementing what the playbooks
do, so the lab a test uses is the lab a user gets.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from harness.inventory import REPO


def ansible_playbook(playbook: str, *extra: str, inventory: str | None = None,
                     check: bool = True, capture: bool = False) -> subprocess.CompletedProcess:
    """Run `ansible-playbook` from the repo root with the repo's ansible.cfg."""
    binary = Path(sys.executable).parent / "ansible-playbook"
    cmd = [str(binary) if binary.exists() else "ansible-playbook", playbook, *extra]
    if inventory:
        cmd[1:1] = ["-i", inventory]
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
    proc = subprocess.run(cmd, cwd=REPO, env=env, text=True, capture_output=capture)
    if check and proc.returncode != 0:
        tail = (proc.stdout or "")[-2000:] if capture else ""
        raise RuntimeError(f"{' '.join(cmd)} failed with exit {proc.returncode}\n{tail}")
    return proc


def lab_up(inventory: str | None = None) -> None:
    ansible_playbook("playbooks/lab.yml", inventory=inventory)


def lab_down(inventory: str | None = None) -> None:
    ansible_playbook("playbooks/lab.yml", "-e", "lab_state=absent", inventory=inventory)


def provision(inventory: str | None = None) -> None:
    ansible_playbook("site.yml", inventory=inventory)
