"""harness/inventory.py: hosts and their vars as Ansible resolves them.

No lab, no root: the inventories are read, never contacted.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.capacity import profile_names
from harness.errors import SpecError
from harness.inventory import REPO, Host, load_inventory

# Nested templates (lab_dir -> key file, token file) in group_vars, a host_vars override.
HOSTS_YML = """\
all:
  children:
    cluster:
      children:
        lab:
          hosts:
            n1:
              ansible_host: 10.0.0.1
            n2:
              ansible_host: 10.0.0.2
"""
GROUP_VARS = """\
lab_dir: "{{ inventory_dir }}/x"
ansible_ssh_private_key_file: "{{ lab_dir }}/ssh/id"
ansible_user: "{{ lab_user }}"
lab_user: pi
device_profile: rpi3bplus
lab_emulated: "yes"
node_token_file: "{{ lab_dir }}/token"
"""


def _write(root: Path, hosts: str = HOSTS_YML, group_vars: str = GROUP_VARS) -> Path:
    (root / "group_vars").mkdir()
    (root / "host_vars").mkdir()
    (root / "group_vars" / "lab.yml").write_text(group_vars)
    (root / "host_vars" / "n2.yml").write_text('device_profile: "{{ \'zero\' }}"\n')
    inv = root / "hosts.yml"
    inv.write_text(hosts)
    return inv


def test_nested_templates_resolve_through_ansible(tmp_path: Path) -> None:
    inv_file = _write(tmp_path)
    inv = load_inventory(str(inv_file))
    assert list(inv.hosts) == ["n1", "n2"]
    n1, n2 = inv.pick(["n1", "n2"])
    assert n1 == Host("n1", "10.0.0.1", "pi", str(tmp_path / "x" / "ssh" / "id"), "rpi3bplus", True)
    assert n2.profile == "zero" and n2.key_file == n1.key_file
    assert type(n1.key_file) is str and type(n1.address) is str
    assert inv.controller_address == "198.18.0.1"


def test_false_strings_are_false_as_in_the_roles(tmp_path: Path) -> None:
    inv = load_inventory(
        str(_write(tmp_path, group_vars=GROUP_VARS.replace('"yes"', '"false"')))
    )
    assert [h.emulated for h in inv.hosts.values()] == [False, False]


# Hosts whose device_profile differs from the lab's default (rpi3bplus), per lab inventory.
LAB_PROFILES = {
    "lab.yml": {},
    "lab-hetero.yml": {"pi3": "rpi3bplus_half_speed"},
    "lab-mixed.yml": {"pi2": "rpi4b", "pi3": "rpi4b", "pi4": "rpizero2w", "pi5": "rpi5"},
}


@pytest.mark.parametrize("name", sorted(LAB_PROFILES))
def test_repo_lab_inventory_resolves_to_paths_under_the_repo(name: str) -> None:
    inv = load_inventory(f"inventory/{name}")
    assert list(inv.hosts) == [f"pi{i}" for i in range(1, 7)]
    for host in inv.hosts.values():
        assert host.key_file == str(REPO / ".lab" / "ssh" / "id_ed25519")
        assert Path(host.key_file).is_absolute()
        assert "{{" not in repr(host)
        assert host.user == "root" and host.emulated
        assert host.address.startswith("198.18.0.")
    profiles = {h.name: h.profile for h in inv.hosts.values()}
    assert profiles == {f"pi{i}": "rpi3bplus" for i in range(1, 7)} | LAB_PROFILES[name]
    assert set(profiles.values()) <= set(profile_names())  # every one is in profiles.json


def test_real_pi_example_inventory() -> None:
    inv = load_inventory(str(REPO / "inventory" / "pis.example.yml"))
    pi1 = inv.hosts["pi1"]
    assert (pi1.user, pi1.key_file, pi1.profile, pi1.emulated) == ("ubuntu", "", "native", False)


def test_host_without_ansible_host_names_file_and_field(tmp_path: Path) -> None:
    hosts = HOSTS_YML.replace("              ansible_host: 10.0.0.2\n", "")
    inv_file = _write(tmp_path, hosts=hosts)
    with pytest.raises(SpecError) as err:
        load_inventory(str(inv_file))
    assert err.value.field == "inventory"
    assert str(inv_file) in str(err.value) and "n2" in str(err.value)
    assert "ansible_host" in str(err.value)


def test_undefined_variable_names_file_host_and_field(tmp_path: Path) -> None:
    inv_file = _write(tmp_path, group_vars=GROUP_VARS.replace("lab_user: pi\n", ""))
    with pytest.raises(SpecError) as err:
        load_inventory(str(inv_file))
    msg = str(err.value)
    assert str(inv_file) in msg and "n1" in msg and "ansible_user" in msg and "lab_user" in msg


def test_missing_file_and_missing_cluster_group(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="does not exist"):
        load_inventory(str(tmp_path / "nope.yml"))
    inv_file = _write(tmp_path, hosts=HOSTS_YML.replace("cluster", "other"))
    with pytest.raises(SpecError, match="no group 'cluster'"):
        load_inventory(str(inv_file))


def test_pick_unknown_host_is_a_hosts_error() -> None:
    inv = load_inventory("inventory/lab.yml")
    with pytest.raises(SpecError) as err:
        inv.pick(["pi1", "pi9"])
    assert err.value.field == "hosts" and "pi9" in str(err.value)
    assert err.value.cli_message().startswith("--hosts: ")


def test_link_kind_comes_from_the_inventory_default_ethernet(tmp_path: Path) -> None:
    """`link: wifi` on a host prices its bytes as WiFi's; a host that says nothing is wired."""
    hosts = HOSTS_YML.replace("ansible_host: 10.0.0.2\n", "ansible_host: 10.0.0.2\n"
                              "              link: wifi\n")
    n1, n2 = load_inventory(str(_write(tmp_path, hosts=hosts))).pick(["n1", "n2"])
    assert (n1.link, n2.link) == ("ethernet", "wifi")


@pytest.mark.parametrize("value", ["wiif", "WiFi", "[]"])
def test_a_bad_link_fails_naming_file_host_and_field(tmp_path: Path, value: str) -> None:
    """A typo in `link:` fails when the inventory is read (the first thing a run does), so no
    run is priced with a link kind nobody asked for."""
    inv_file = _write(tmp_path, group_vars=GROUP_VARS + f"link: {value}\n")
    with pytest.raises(SpecError) as err:
        load_inventory(str(inv_file))
    msg = str(err.value)
    assert err.value.field == "inventory"
    assert str(inv_file) in msg and "host n1" in msg and "link:" in msg
    assert "not a link kind" in msg and "ethernet, wifi" in msg
