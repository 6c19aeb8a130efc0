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
