"""The nodes of a run, read from the same Ansible inventory that provisioned them.

Reading it through `ansible-inventory --list` (not by parsing YAML ourselves)
means group_vars, host_vars and templated values resolve exactly as they do for
the playbooks, so Fabric reaches the host Ansible set up.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import jinja2

from harness.errors import SpecError

REPO = Path(__file__).resolve().parent.parent
NODE_PORT = 12345


@dataclass(frozen=True)
class Host:
    """One node as the controller reaches it.

    name: inventory hostname (also the node name in traces).
    address: IP address the node serves and is reached on.
    user: SSH user.
    key_file: SSH private key, or "" for the user's default keys.
    profile: device profile the node emulates (`native` = none).
    emulated: True for a lab namespace, False for a real Pi.
    """

    name: str
    address: str
    user: str
    key_file: str
    profile: str
    emulated: bool

    @property
    def endpoint(self) -> str:
        return f"{self.address}:{NODE_PORT}"


@dataclass(frozen=True)
class Inventory:
    """The cluster hosts in inventory order, plus where the sink listens."""

    path: str
    hosts: dict[str, Host]
    controller_address: str
    token: str

    def pick(self, names: list[str]) -> list[Host]:
        missing = [n for n in names if n not in self.hosts]
        if missing:
            known = ", ".join(self.hosts) or "none"
            raise SpecError("hosts", f"not in {self.path}: {', '.join(missing)} (known: {known})")
        return [self.hosts[n] for n in names]


def load_inventory(path: str) -> Inventory:
    """Resolve the `cluster` group of an Ansible inventory into Hosts."""
    inv_path = Path(path)
    if not inv_path.is_absolute():
        inv_path = REPO / inv_path
    if not inv_path.exists():
        raise SpecError("inventory", f"{inv_path} does not exist")
    binary = Path(sys.executable).parent / "ansible-inventory"
    cmd = [str(binary) if binary.exists() else "ansible-inventory", "-i", str(inv_path), "--list"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=_ansible_env())
    if proc.returncode != 0:
        raise SpecError("inventory", f"ansible-inventory failed: {proc.stderr.strip()[-500:]}")
    data = json.loads(proc.stdout)
    hostvars = data.get("_meta", {}).get("hostvars", {})
    names = _group_hosts(data, "cluster")
    if not names:
        raise SpecError("inventory", f"{inv_path} has no hosts in group 'cluster'")
    hosts = {}
    for name in names:
        hv = _render(hostvars.get(name, {}), inv_path, name)
        address = hv.get("ansible_host")
        if not address:
            raise SpecError("inventory", f"host {name} has no ansible_host")
        hosts[name] = Host(
            name=name,
            address=str(address),
            user=str(hv.get("ansible_user", "root")),
            key_file=str(hv.get("ansible_ssh_private_key_file", "")),
            profile=str(hv.get("device_profile", "native")),
            emulated=bool(hv.get("lab_emulated", False)),
        )
    first = _render(hostvars.get(names[0], {}), inv_path, names[0])
    controller = str(first.get("controller_address", "198.18.0.1"))
    token_file = Path(str(first.get("node_token_file", REPO / ".lab" / "token")))
    token = token_file.read_text().strip() if token_file.exists() else ""
    return Inventory(str(inv_path), hosts, controller, token)


def _render(hostvars: dict, inv_path: Path, name: str) -> dict:
    """Resolve the Jinja in inventory values the way Ansible would for these keys.

    `ansible-inventory --list` prints values untemplated (e.g. the lab key path
    "{{ inventory_dir }}/../.lab/ssh/id_ed25519"); only the magic variables an
    inventory can use for paths are provided here.
    """
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    context = {"inventory_dir": str(inv_path.parent), "inventory_hostname": name,
               "inventory_file": str(inv_path), **hostvars}
    out = {}
    for key, value in hostvars.items():
        if isinstance(value, str) and "{{" in value:
            try:
                value = env.from_string(value).render(context)
            except jinja2.TemplateError as exc:
                raise SpecError(
                    "inventory", f"host {name}: {key}: cannot resolve {value!r}: {exc}"
                ) from None
        out[key] = value
    return out


def _group_hosts(data: dict, group: str) -> list[str]:
    """All hosts of a group and its children, in inventory order, no repeats."""
    seen: list[str] = []
    node = data.get(group, {})
    for host in node.get("hosts", []):
        if host not in seen:
            seen.append(host)
    for child in node.get("children", []):
        for host in _group_hosts(data, child):
            if host not in seen:
                seen.append(host)
    return seen


def _ansible_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("ANSIBLE_CONFIG", str(REPO / "ansible.cfg"))
    return env
