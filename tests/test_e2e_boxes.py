"""Issue 17's lab across boxes, on this machine: two Linux "boxes" emulated as network
namespaces with their own sshd (harness/emulated_boxes.py), pi1 on one and pi2 on the
other, their lab bridges joined to the controller's by VXLAN (playbooks/roles/lab).

The same baseline runs first on the one-box lab, then across the two boxes: coverage must
agree within 0.02. Then `fab lab-down --inventory=...` must leave nothing behind on either
box (no namespace, bridge, VXLAN device, veth or sshd of a lab host) nor on the controller.

The module takes the session's one-box lab down to make room (the two labs share
addresses) and leaves the lab down; conftest runs it just before tests/test_lab.py, which
brings its own lab up.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from lab_cli import fab, latest_run, measured  # tests/ is on sys.path (rootdir)

from harness import emulated_boxes
from harness.inventory import REPO, load_inventory
from harness.playbooks import ansible_playbook, lab_down

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the emulated lab needs root (netns, mounts)"),
]

INVENTORY = "inventory/lab-2boxes.yml"
RUN = ("experiment", "--strategy=0", "--rate=30", "--duration=10", "--warmup=2", "--seed=3",
       "--hosts=pi1,pi2")
KEY = REPO / ".lab" / "ssh" / "id_ed25519"


def _ssh(address: str, command: str) -> str:
    proc = subprocess.run(
        ["ssh", "-i", str(KEY), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
         "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=5",
         f"root@{address}", command], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _links(listing: str) -> list[str]:
    return re.findall(r"^\d+: ([^:@]+)", listing, re.M)


def _leftovers_here() -> dict:
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    links = _links(subprocess.run(["ip", "-o", "link", "show"], capture_output=True,
                                  text=True).stdout)
    return {"netns": [n for n in netns.split() if n.startswith("dnnlab-")],
            "links": [n for n in links if n in ("dnnlab0", "dnnvx0")
                      or n.startswith(("vl-", "vp-"))]}


def _leftovers_on(address: str) -> dict:
    """What the box at `address` still holds of the lab, seen from inside it."""
    out = _ssh(address, "ip netns list; echo ---; ip -o link show")
    netns, links = out.split("---\n")
    return {"netns": [n for n in netns.split() if n.startswith("dnnlab-")],
            "links": [n for n in _links(links) if n not in ("lo", "eth0")]}


def _lab_host_processes() -> list[str]:
    """Processes of lab hosts placed on boxes (their sshd and start scripts name the box's
    lab folder, /srv/dnnlab/<box>): PIDs are global, so the controller sees them all."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if str(emulated_boxes.LAB_BOX_DIRS) + "/" in cmdline:
                found.append(f"{proc.name}: {cmdline}")
    return found


@pytest.fixture(scope="module")
def two_boxes(provisioned_lab):
    """The one-box lab's baseline first (the module needs the provisioned lab for it), then
    the two boxes; whatever happens, the boxes and their lab go at the end."""
    yield
    if _box_namespaces():  # the test stopped before its own teardown
        fab("lab-down", f"--inventory={INVENTORY}", check=False)
        emulated_boxes.down()


def _box_namespaces() -> list[str]:
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [n for n in names.split() if n.startswith(emulated_boxes.NS_PREFIX)]


def test_a_baseline_across_two_boxes_matches_one_box_and_lab_down_leaves_nothing(two_boxes):
    fab(*RUN)
    _spec, one = latest_run()

    # While the one-box lab is up, the two-box lab is refused before anything is made: its
    # hosts have the same names and addresses.
    refused = ansible_playbook("playbooks/lab.yml", inventory=INVENTORY, check=False,
                               capture=True)
    assert refused.returncode != 0
    assert "dnnlab-pi1, dnnlab-pi2 already exist on this machine" in " ".join(
        refused.stdout.split()), refused.stdout[-2000:]
    lab_down()  # the one-box lab: the two-box lab uses the same addresses
    boxes = emulated_boxes.up(2)
    ansible_playbook("site.yml", inventory=INVENTORY, capture=True)
    placed = {h.name: h.lab_box for h in load_inventory(INVENTORY).hosts.values()}
    assert placed == {"pi1": "b1", "pi2": "b2"}
    # The hosts live in the boxes (their namespaces are not the controller's); the
    # controller's bridge reaches them through its VXLAN device, MTU lowered for its header.
    assert _leftovers_here()["netns"] == []
    vxlan = json.loads(subprocess.run(["ip", "-j", "-d", "link", "show", "dev", "dnnvx0"],
                                      capture_output=True, text=True).stdout)[0]
    assert vxlan["master"] == "dnnlab0" and vxlan["mtu"] == 1450
    assert vxlan["linkinfo"]["info_data"]["id"] == 4242
    assert _ssh("198.18.0.11", "hostname").strip() == "pi1"
    assert _ssh("198.18.0.11", "cat /sys/class/net/eth0/mtu").strip() == "1450"

    fab(*RUN, f"--inventory={INVENTORY}")
    spec, two = latest_run()
    measured(one, two)
    assert {n["name"]: n.get("lab_box") for n in spec["nodes"]
            if n["name"] in placed} == placed
    assert abs(two["coverage"] - one["coverage"]) <= 0.02, (one["coverage"], two["coverage"])
    # each box's hosts had their clocks measured and corrected, as real Pis'
    clocks = two["clocks"]["hosts"]
    assert all(clocks[h]["corrected"] for h in placed), clocks

    fab("lab-down", f"--inventory={INVENTORY}")
    assert _leftovers_here() == {"netns": [], "links": []}
    for box in boxes:
        assert _leftovers_on(box.address) == {"netns": [], "links": []}, box.name
    assert _lab_host_processes() == []
    assert not any((emulated_boxes.LAB_BOX_DIRS / b.name).exists() for b in boxes)

    emulated_boxes.down()
    assert _box_namespaces() == []
    assert subprocess.run(["ip", "link", "show", "dev", emulated_boxes.UNDERLAY_BRIDGE],
                          capture_output=True).returncode != 0
