"""playbooks/flash.yml renders cloud-init files that cloud-init itself accepts.

Runs on localhost only (no Pi, no network): the example inventory's addresses are never
contacted.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
CLOUD_INIT = shutil.which("cloud-init")
EXPECTED = {f"pi{i}": f"192.168.1.1{i}" for i in range(1, 5)}  # inventory/pis.example.yml
PUBKEY = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMa/Ll1RgEfFkHlsfZOgIqBiTGzTd5Xuq/0XUu2BLOi6"
          " test@flash")

pytestmark = pytest.mark.skipif(
    CLOUD_INIT is None,
    reason="cloud-init is not installed (apt-get install cloud-init) to validate the files",
)


def _ansible_playbook() -> str:
    local = Path(sys.executable).with_name("ansible-playbook")
    found = str(local) if local.exists() else shutil.which("ansible-playbook")
    if not found:
        pytest.skip("ansible-playbook not found")
    return found


@pytest.fixture(scope="module")
def flash_dir(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("flash")
    key = tmp / "id_test.pub"
    key.write_text(PUBKEY + "\n")
    out = tmp / "out"
    cmd = [_ansible_playbook(), "-i", "inventory/pis.example.yml", "playbooks/flash.yml",
           "-e", f"flash_out_dir={out}", "-e", f"flash_ssh_pubkey_file={key}"]
    res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return out


def _schema_supports_network_config() -> bool:
    res = subprocess.run([CLOUD_INIT, "schema", "--help"], capture_output=True, text=True)
    return "--schema-type" in res.stdout


def test_one_folder_per_pi(flash_dir):
    assert sorted(p.name for p in flash_dir.iterdir()) == sorted(EXPECTED)
    for host in EXPECTED:
        names = sorted(p.name for p in (flash_dir / host).iterdir())
        assert names == ["README.md", "network-config", "user-data"]


@pytest.mark.parametrize("host", sorted(EXPECTED))
def test_user_data_is_valid_cloud_config(flash_dir, host):
    path = flash_dir / host / "user-data"
    assert path.read_text().startswith("#cloud-config\n")
    res = subprocess.run([CLOUD_INIT, "schema", "-c", str(path)], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    data = yaml.safe_load(path.read_text())
    assert data["hostname"] == host
    assert data["ssh_pwauth"] is False
    (user,) = data["users"]
    assert user["name"] == "ubuntu" and user["lock_passwd"] is True
    assert user["ssh_authorized_keys"] == [PUBKEY]
    assert {"python3", "python3-numpy"} <= set(data["packages"])
    assert data["timezone"] == "Etc/UTC"


@pytest.mark.parametrize("host", sorted(EXPECTED))
def test_network_config_is_valid(flash_dir, host):
    path = flash_dir / host / "network-config"
    data = yaml.safe_load(path.read_text())
    # structure (network config version 2, static eth0)
    assert data["version"] == 2
    eth0 = data["ethernets"]["eth0"]
    assert eth0["dhcp4"] is False
    assert eth0["addresses"] == [f"{EXPECTED[host]}/24"]
    assert eth0["routes"] == [{"to": "0.0.0.0/0", "via": "192.168.1.1"}]
    assert eth0["nameservers"]["addresses"] == ["192.168.1.1"]
    if _schema_supports_network_config():
        res = subprocess.run([CLOUD_INIT, "schema", "-c", str(path),
                              "--schema-type", "network-config"], capture_output=True, text=True)
        assert res.returncode == 0, res.stdout + res.stderr
    else:
        # Older cloud-init (e.g. 22.4): no network schema; let its own v2 parser read the file
        # with the Python that cloud-init runs with.
        script = (
            "import sys, yaml\n"
            "from cloudinit.net.network_state import parse_net_config_data\n"
            "ns = parse_net_config_data(yaml.safe_load(open(sys.argv[1])), skip_broken=False)\n"
            "(iface,) = ns.iter_interfaces()\n"
            "(subnet,) = iface['subnets']\n"
            "print(iface['name'], subnet['address'], subnet['prefix'],"
            " subnet['routes'][0]['gateway'])\n")
        python = Path(CLOUD_INIT).read_text(errors="replace").splitlines()[0].removeprefix("#!")
        res = subprocess.run([python.strip(), "-c", script, str(path)],
                             capture_output=True, text=True)
        assert res.returncode == 0, res.stdout + res.stderr
        assert res.stdout.split() == ["eth0", EXPECTED[host], "24", "192.168.1.1"]


def test_readme_says_what_to_copy(flash_dir):
    text = (flash_dir / "pi3" / "README.md").read_text()
    assert "user-data" in text and "network-config" in text and "system-boot" in text
    assert "192.168.1.13" in text


# WiFi from an Ansible Vault -------------------------------------------------------------

WIFI_SSID = "Testbed Lab: 2.4 GHz"
WIFI_PASSPHRASE = "vaulted#Passphrase: 7f3c9e"  # YAML-special characters on purpose
VAULT_PASSWORD = "vault-password-for-the-test"


@pytest.fixture(scope="module")
def wifi_run(tmp_path_factory) -> tuple[Path, str]:
    """The example inventory with its group `pis` given WiFi in a vault-encrypted group_vars
    file (as docs/provisioning.md says), pi2 asking DHCP on wlan0; rendered with
    --vault-password-file. Returns the output folder and the playbook's output."""
    tmp = tmp_path_factory.mktemp("flash-wifi")
    key = tmp / "id_test.pub"
    key.write_text(PUBKEY + "\n")
    inventory = tmp / "inventory"
    (inventory / "group_vars" / "pis").mkdir(parents=True)
    (inventory / "host_vars").mkdir()
    shutil.copy(REPO / "inventory" / "pis.example.yml", inventory / "pis.yml")
    (inventory / "host_vars" / "pi2.yml").write_text("flash_wifi_dhcp4: true\n")
    password_file = tmp / "vault-password"
    password_file.write_text(VAULT_PASSWORD + "\n")
    vault = inventory / "group_vars" / "pis" / "vault.yml"
    vault.write_text(yaml.safe_dump({"flash_wifi_ssid": WIFI_SSID,
                                     "flash_wifi_passphrase": WIFI_PASSPHRASE,
                                     "flash_wifi_country": "de"}))
    vault_cmd = Path(_ansible_playbook()).with_name("ansible-vault")
    res = subprocess.run([str(vault_cmd), "encrypt", "--vault-password-file", str(password_file),
                          str(vault)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert vault.read_text().startswith("$ANSIBLE_VAULT;")
    assert WIFI_PASSPHRASE not in vault.read_text() and WIFI_SSID not in vault.read_text()
    out = tmp / "out"
    cmd = [_ansible_playbook(), "-i", str(inventory / "pis.yml"), "playbooks/flash.yml",
           "--vault-password-file", str(password_file), "--diff", "-v",
           "-e", f"flash_out_dir={out}", "-e", f"flash_ssh_pubkey_file={key}"]
    res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return out, res.stdout + res.stderr


def _validate_network_config(path: Path) -> str:
    """What the role runs: `cloud-init schema --schema-type network-config`, or on older
    cloud-init its v2 parser through the role's check script. Returns its output."""
    if _schema_supports_network_config():
        cmd = [CLOUD_INIT, "schema", "-c", str(path), "--schema-type", "network-config"]
    else:
        python = Path(CLOUD_INIT).read_text(errors="replace").splitlines()[0].removeprefix("#!")
        cmd = [python.strip(), str(REPO / "playbooks/roles/flash/files/check_network_config.py"),
               str(path)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


def test_wifi_from_the_vault_is_in_network_config_and_valid(wifi_run):
    out, _ = wifi_run
    static = {"dhcp4": False, "addresses": ["192.168.1.11/24"],
              "routes": [{"to": "0.0.0.0/0", "via": "192.168.1.1"}],
              "nameservers": {"addresses": ["192.168.1.1"]}}
    pi1 = yaml.safe_load((out / "pi1" / "network-config").read_text())
    # static address on wlan0, eth0 by DHCP (a cable still works)
    assert pi1["ethernets"] == {"eth0": {"dhcp4": True, "optional": True}}
    assert pi1["wifis"] == {"wlan0": {**static, "regulatory-domain": "DE",
                                      "access-points": {WIFI_SSID: {"password": WIFI_PASSPHRASE}}}}
    pi2 = yaml.safe_load((out / "pi2" / "network-config").read_text())
    # wlan0 by DHCP, eth0 keeps the static address
    assert pi2["ethernets"]["eth0"] == {**static, "addresses": ["192.168.1.12/24"],
                                        "optional": True}
    assert pi2["wifis"]["wlan0"]["dhcp4"] is True
    assert pi2["wifis"]["wlan0"]["access-points"] == {WIFI_SSID: {"password": WIFI_PASSPHRASE}}
    for host in EXPECTED:
        path = out / host / "network-config"
        assert path.stat().st_mode & 0o077 == 0  # the passphrase is in it: owner only
        output = _validate_network_config(path)
        assert WIFI_PASSPHRASE not in output


def test_wifi_passphrase_is_only_in_network_config(wifi_run):
    out, playbook_output = wifi_run
    holders = sorted(str(p.relative_to(out)) for p in out.rglob("*")
                     if p.is_file() and WIFI_PASSPHRASE.encode() in p.read_bytes())
    assert holders == [f"{host}/network-config" for host in sorted(EXPECTED)]
    assert WIFI_PASSPHRASE not in playbook_output  # not with -v, not with --diff
    readme = (out / "pi1" / "README.md").read_text()
    assert "wlan0" in readme and "regulatory domain DE" in readme
    assert WIFI_SSID not in readme


def test_wifi_check_rejects_a_bad_regulatory_domain(tmp_path, flash_dir):
    """The check the role runs on older cloud-init is not a rubber stamp."""
    if _schema_supports_network_config():
        pytest.skip("this cloud-init validates network-config itself")
    data = yaml.safe_load((flash_dir / "pi1" / "network-config").read_text())
    data["wifis"] = {"wlan0": {"dhcp4": True, "regulatory-domain": "Germany",
                               "access-points": {"x": {"password": "12345678"}}}}
    bad = tmp_path / "network-config"
    bad.write_text(yaml.safe_dump(data))
    with pytest.raises(AssertionError, match="regulatory-domain"):
        _validate_network_config(bad)
