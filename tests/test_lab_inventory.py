"""`fab lab-inventory --pis=N`: an inventory for N emulated Pis (issue 17, lab size).

No lab: the inventories are generated, read back with Ansible's parser (load_inventory) and
held against the lab role's own checks, read from the role's files; nothing is brought up.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import pytest
import yaml
from lab_cli import fab  # tests/ is on sys.path (pytest rootdir)

from harness.errors import SpecError
from harness.inventory import REPO, load_inventory
from harness.lab_inventory import LAB_NETWORK, MAX_PIS, host_address, parse_boxes, write_inventory

ROLE = REPO / "playbooks" / "roles" / "lab"
BENCHMARK_RANGE = ipaddress.ip_network("198.18.0.0/15")  # DESIGN.md: the lab's only range


def _role_checks() -> tuple[re.Pattern, re.Pattern, dict]:
    """The lab role's host-name and address regexes (tasks/main.yml's assert) and its
    defaults, so a change in the role shows up here rather than half-way through site.yml."""
    tasks = yaml.safe_load((ROLE / "tasks" / "main.yml").read_text())
    that = next(t for t in tasks if "each lab host" in t["name"])["ansible.builtin.assert"]["that"]
    name_re = next(re.search(r"lab_host is match\('(.*)'\)", c) for c in that
                   if c.startswith("lab_host is match"))
    addr_re = next(re.search(r"ansible_host is match\('(.*)'\)", c) for c in that
                   if "ansible_host is match" in c)
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    return re.compile(name_re.group(1)), re.compile(addr_re.group(1)), defaults


def _role_accepts(names_addresses: dict[str, str]) -> list[str]:
    """What the role's assert would reject (re.match, as Jinja's `match` test)."""
    name_re, addr_re, d = _role_checks()
    bad = []
    for name, addr in names_addresses.items():
        if not name_re.match(name):
            bad.append(f"{name}: name")
        if len(d["lab_veth_prefix"] + name) > 15 or len(d["lab_peer_prefix"] + name) > 15:
            bad.append(f"{name}: interface name too long")
        if not addr_re.match(addr):
            bad.append(f"{name}: address {addr}")
    if len(set(names_addresses.values())) != len(names_addresses):
        bad.append("duplicate addresses")
    return bad


@pytest.mark.parametrize("n", [1, 12, 48])
def test_inventory_for_n_pis_is_valid_and_the_role_accepts_it(tmp_path: Path, n: int) -> None:
    out = tmp_path / "inventory" / f"lab-{n}.yml"
    text = write_inventory(n, "rpi3b", str(out))
    assert out.read_text() == text
    inv = load_inventory(str(out))
    assert list(inv.hosts) == [f"pi{i}" for i in range(1, n + 1)]
    addresses = [h.address for h in inv.hosts.values()]
    assert len(set(addresses)) == n
    assert all(ipaddress.ip_address(a) in BENCHMARK_RANGE for a in addresses)
    assert all(h.emulated and h.profile == "rpi3b" and h.user == "root"
               for h in inv.hosts.values())
    # lab_dir (and the key) resolve to the repository's .lab wherever the file is written.
    assert {h.key_file for h in inv.hosts.values()} == {str(REPO / ".lab/ssh/id_ed25519")}
    assert _role_accepts({h.name: h.address for h in inv.hosts.values()}) == []


def test_same_form_as_lab_yml() -> None:
    """Six Pis give lab.yml's hosts, addresses and group vars (comments aside)."""
    generated = yaml.safe_load(write_inventory(6))
    shipped = yaml.safe_load((REPO / "inventory" / "lab.yml").read_text())
    lab = lambda doc: doc["all"]["children"]["cluster"]["children"]["lab"]  # noqa: E731
    assert lab(generated)["vars"] == lab(shipped)["vars"]
    assert lab(generated)["hosts"] == lab(shipped)["hosts"]


def test_address_plan_matches_the_role_up_to_its_limit() -> None:
    """Every address up to MAX_PIS passes the role's assert; the next is the /24's broadcast,
    which the role refuses."""
    _, addr_re, defaults = _role_checks()
    assert defaults["lab_prefixlen"] == LAB_NETWORK.prefixlen
    assert ipaddress.ip_address(defaults["lab_bridge_address"]) in LAB_NETWORK
    plan = {f"pi{i}": host_address(i) for i in range(1, MAX_PIS + 1)}
    assert _role_accepts(plan) == []
    assert host_address(MAX_PIS) == "198.18.0.254"
    assert host_address(MAX_PIS + 1) == str(LAB_NETWORK.broadcast_address)
    assert not addr_re.match(host_address(MAX_PIS + 1))


@pytest.mark.parametrize(("pis", "message"), [
    (0, "at least 1"), (-3, "at least 1"), ("abc", "a whole number"), ("4.5", "a whole number"),
    (MAX_PIS + 1, f"at most {MAX_PIS} emulated Pis"),
])
def test_bad_n_is_refused_naming_pis(tmp_path: Path, pis: object, message: str) -> None:
    out = tmp_path / "lab.yml"
    with pytest.raises(SpecError) as err:
        write_inventory(pis, out=str(out))
    assert err.value.cli_message().startswith("--pis: ") and message in str(err.value)
    assert not out.exists()


def test_unknown_profile_is_refused_naming_profile() -> None:
    with pytest.raises(SpecError) as err:
        write_inventory(3, "rpi9")
    assert err.value.cli_message().startswith("--profile: unknown profile 'rpi9'")


def test_fab_lab_inventory_prints_or_writes(tmp_path: Path) -> None:
    printed = fab("lab-inventory", "--pis=12", "--profile=rpi4b").stdout
    assert printed.count("ansible_host: 198.18.0.") == 12 and "device_profile: rpi4b" in printed
    out = tmp_path / "lab-2.yml"
    fab("lab-inventory", "--pis=2", f"--out={out}")
    assert list(load_inventory(str(out)).hosts) == ["pi1", "pi2"]
    bad = fab("lab-inventory", "--pis=245", check=False)
    assert bad.returncode == 2 and "--pis: at most 244" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_a_link_rate_shapes_every_host_and_a_bad_one_is_refused(tmp_path: Path) -> None:
    """`--link-rate=100mbit`: every host's link_rate, read back by the harness as the lab
    role will shape it (issue 12's 608 x 608 runs over 100 Mbit/s links)."""
    out = tmp_path / "lab-3-100mbit.yml"
    write_inventory(3, out=str(out), link_rate="100mbit")
    inv = load_inventory(str(out))
    assert {h.link_rate for h in inv.hosts.values()} == {"100mbit"}
    assert "--link-rate=100mbit" in out.read_text()  # the header says how it was made
    write_inventory(3, out=str(tmp_path / "plain.yml"))
    plain = load_inventory(str(tmp_path / "plain.yml"))
    assert {h.link_rate for h in plain.hosts.values()} == {""}
    with pytest.raises(SpecError) as err:
        write_inventory(3, out=str(tmp_path / "bad.yml"), link_rate="fast")
    assert err.value.cli_message().startswith("--link-rate: bad link_rate 'fast'")
    assert not (tmp_path / "bad.yml").exists()


def test_pis_spread_over_lab_boxes_in_contiguous_blocks(tmp_path: Path) -> None:
    """`--boxes=b1=...,b2=... --controller-vtep=...`: the lab across boxes (docs/lab.md) for
    N Pis without editing YAML; the form is inventory/lab-2boxes.yml's."""
    out = tmp_path / "lab-5-boxes.yml"
    write_inventory(5, out=str(out), boxes="b1=198.19.0.2,b2=198.19.0.3",
                    controller_vtep="198.19.0.1")
    doc = yaml.safe_load(out.read_text())["all"]["children"]
    assert doc["lab_boxes"]["vars"]["lab_controller_vtep"] == "198.19.0.1"
    assert {b: h["ansible_host"] for b, h in doc["lab_boxes"]["hosts"].items()} == {
        "b1": "198.19.0.2", "b2": "198.19.0.3"}
    placed = {h.name: h.lab_box for h in load_inventory(str(out)).hosts.values()}
    assert placed == {"pi1": "b1", "pi2": "b1", "pi3": "b1", "pi4": "b2", "pi5": "b2"}
    template = yaml.safe_load((REPO / "inventory" / "lab-2boxes.yml").read_text())
    assert set(doc["lab_boxes"]["vars"]) == set(template["all"]["children"]["lab_boxes"]["vars"])


@pytest.mark.parametrize(("boxes", "vtep", "message"), [
    ("b1=198.19.0.2", "", "--controller-vtep: the controller's address"),
    ("", "198.19.0.1", "--controller-vtep: only with --boxes"),
    ("B1=198.19.0.2", "198.19.0.1", "--boxes: NAME=ADDRESS"),
    ("b1=box-one", "198.19.0.1", "--boxes: b1: 'box-one' is not an IP address"),
    ("b1=198.19.0.2,b2=198.19.0.2", "198.19.0.1", "--boxes: names and addresses must be"),
    ("b1=198.19.0.2", "198.19.0.2", "--controller-vtep: 198.19.0.2 is also a box's address"),
])
def test_bad_boxes_are_refused_naming_the_option(tmp_path: Path, boxes: str, vtep: str,
                                                 message: str) -> None:
    with pytest.raises(SpecError) as err:
        write_inventory(2, out=str(tmp_path / "x.yml"), boxes=boxes, controller_vtep=vtep)
    assert err.value.cli_message().startswith(message), err.value.cli_message()
    assert not (tmp_path / "x.yml").exists()


@pytest.mark.parametrize("name", ["b1", "box-2", "0b", "B1", "-b", "b_1", "b.1", "b 1", ""])
def test_box_names_are_the_names_the_lab_role_takes_for_hosts(name: str) -> None:
    """`fab lab-inventory --boxes` takes a box name exactly when the lab role's host-name
    pattern does (a box's name becomes its folder, /srv/dnnlab/<box> by default)."""
    name_re, _addr_re, _defaults = _role_checks()
    role_takes = bool(name_re.match(name))
    try:
        parse_boxes(f"{name}=198.19.0.2", "198.19.0.1")
        taken = True
    except SpecError as exc:
        assert exc.field == "boxes", exc
        taken = False
    assert taken == role_takes, (name, taken, role_takes)
