"""A lab across boxes without building one: the inventory's placement of hosts on boxes,
what the harness refuses for a host on another box, and the lab role's checks of a box
inventory, which fail before anything is made. The lab itself: tests/test_e2e_boxes.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness import emulated_boxes, memcap
from harness.capacity import profile_table
from harness.inventory import REPO, load_inventory
from harness.spec import SpecError

BOXES = REPO / "inventory" / "lab-2boxes.yml"


def test_hosts_are_placed_on_their_boxes_and_boxes_are_not_cluster_hosts() -> None:
    inv = load_inventory(str(BOXES))
    assert list(inv.hosts) == ["pi1", "pi2"]  # b1, b2 are not Pis: later plays skip them
    assert {h.name: h.lab_box for h in inv.hosts.values()} == {"pi1": "b1", "pi2": "b2"}
    assert not any(h.local_lab_host for h in inv.hosts.values())
    one_box = load_inventory("inventory/lab.yml")
    assert all(h.local_lab_host and h.lab_box == "" for h in one_box.hosts.values())


def test_memory_caps_are_refused_for_hosts_on_another_box() -> None:
    hosts = load_inventory(str(BOXES)).hosts.values()
    with pytest.raises(SpecError) as err:
        memcap.cap_plan("profile", None, hosts, profile_table())
    assert err.value.field == memcap.FIELD
    assert "pi1 (on b1), pi2 (on b2)" in str(err.value)


def test_emulated_boxes_are_numbered_on_the_underlay() -> None:
    assert [(b.name, b.ns, b.address) for b in emulated_boxes.boxes(2)] == [
        ("b1", "dnnbox-b1", "198.19.0.2"), ("b2", "dnnbox-b2", "198.19.0.3")]
    with pytest.raises(ValueError, match="--boxes"):
        emulated_boxes.boxes(0)


def _lab_playbook(tmp_path: Path, edit) -> subprocess.CompletedProcess:
    """playbooks/lab.yml on a copy of the two-box inventory changed by `edit`."""
    doc = yaml.safe_load(BOXES.read_text())
    edit(doc["all"]["children"])
    inv_dir = tmp_path / "inventory"
    inv_dir.mkdir()
    (inv_dir / "bad.yml").write_text(yaml.safe_dump(doc))
    lab = doc["all"]["children"]["cluster"]["children"]["lab"]["vars"]
    lab["lab_dir"] = str(tmp_path / ".lab")  # never the repository's lab folder
    (inv_dir / "bad.yml").write_text(yaml.safe_dump(doc))
    ansible = Path(sys.executable).parent / "ansible-playbook"
    return subprocess.run([str(ansible), "-i", str(inv_dir / "bad.yml"), "playbooks/lab.yml"],
                          cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
                               "ANSIBLE_NOCOLOR": "1"})


@pytest.mark.skipif(os.geteuid() != 0, reason="playbooks/lab.yml asks for sudo when not root")
def test_a_host_on_an_unknown_box_is_refused_before_anything_is_made(tmp_path) -> None:
    def unknown_box(groups):
        groups["cluster"]["children"]["lab"]["hosts"]["pi2"]["lab_box"] = "b9"

    proc = _lab_playbook(tmp_path, unknown_box)
    assert proc.returncode != 0
    assert "Lab host pi2: lab_box b9 is not in the inventory group lab_boxes (b1, b2)" \
        in proc.stdout, proc.stdout[-3000:]
    assert not (tmp_path / ".lab").exists()  # failed before the first folder


@pytest.mark.skipif(os.geteuid() != 0, reason="playbooks/lab.yml asks for sudo when not root")
def test_boxes_without_the_controllers_tunnel_address_are_refused(tmp_path) -> None:
    def no_vtep(groups):
        del groups["lab_boxes"]["vars"]["lab_controller_vtep"]

    proc = _lab_playbook(tmp_path, no_vtep)
    assert proc.returncode != 0
    assert "has no lab_controller_vtep" in proc.stdout, proc.stdout[-3000:]
    assert not (tmp_path / ".lab").exists()
