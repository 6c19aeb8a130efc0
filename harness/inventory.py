"""The nodes of a run, read from the same Ansible inventory that provisioned them.

Ansible itself reads the inventory and templates its values (its Python API, in
process: DataLoader + InventoryManager + VariableManager + Templar), so group_vars,
host_vars and nested templates such as
`ansible_ssh_private_key_file: "{{ lab_dir }}/ssh/id"` with
`lab_dir: "{{ inventory_dir }}/../.lab"` resolve exactly as a play sees them, and
Fabric reaches the host with the key Ansible uses. (`ansible-inventory --list` is
not enough: it prints host vars untemplated.)
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import SpecError
from harness.links import DEFAULT_LINK, known_links

REPO = Path(__file__).resolve().parent.parent
NODE_PORT = 12345

# The parent group of every node, in the lab and real-Pi inventories alike.
CLUSTER_GROUP = "cluster"
# Where the sink listens when the inventory does not say (the lab bridge dnnlab0).
DEFAULT_CONTROLLER = "198.18.0.1"


@dataclass(frozen=True)
class Host:
    """One node as the controller reaches it.

    name: inventory hostname (also the node name in traces).
    address: IP address the node serves and is reached on.
    user: SSH user.
    key_file: SSH private key, or "" for the user's default keys.
    profile: device profile the node emulates (`native` = none).
    emulated: True for a lab namespace, False for a real Pi.
    link: the kind of link the host sends on (harness/links.json: `ethernet`, `wifi`), which
        prices its bytes in the run's energy; inventory var `link`, default ethernet.
    link_rate: the rate the lab shapes the host's link to (tc tbf, both directions: inventory
        var `link_rate`, e.g. "100mbit"; playbooks/roles/lab/files/labctl.py), "" = unshaped.
        spec.json records it per node, so the model prices a message's bytes at it.
        With `--link` on, netem's classes keep this rate (harness/netem.py).
    lab_box: the lab box an emulated host runs on (inventory var `lab_box`, docs/lab.md "A
        lab across boxes"), "" = the controller. Its namespace, veth and cgroup are on that
        box, out of the controller's reach; everything over SSH works as for any host.
    """

    name: str
    address: str
    user: str
    key_file: str
    profile: str
    emulated: bool
    link: str = DEFAULT_LINK
    link_rate: str = ""
    lab_box: str = ""

    @property
    def local_lab_host(self) -> bool:
        """An emulated host in a namespace of this machine (its veth and cgroup are here)."""
        return self.emulated and not self.lab_box

    @property
    def endpoint(self) -> str:
        return f"{self.address}:{NODE_PORT}"


@dataclass(frozen=True)
class Inventory:
    """The cluster hosts in inventory order, plus where the sink listens."""

    path: str
    hosts: dict[str, Host]
    controller_address: str

    def pick(self, names: list[str]) -> list[Host]:
        missing = [n for n in names if n not in self.hosts]
        if missing:
            known = ", ".join(self.hosts) or "none"
            raise SpecError("hosts", f"not in {self.path}: {', '.join(missing)} (known: {known})")
        return [self.hosts[n] for n in names]


def load_inventory(path: str) -> Inventory:
    """Resolve the `cluster` group of an Ansible inventory into Hosts.

    A relative path is taken from the repository root, as the Makefile and fab
    tasks pass it. Every error is a SpecError("inventory", ...) that names the
    inventory file (and the host and variable when one is at fault).
    """
    inv_path = Path(path)
    if not inv_path.is_absolute():
        inv_path = REPO / inv_path
    if not inv_path.exists():
        raise SpecError("inventory", f"{inv_path} does not exist")
    ansible = _AnsibleVars(inv_path)
    names = ansible.cluster_hosts()
    hosts = {}
    for name in names:
        address = ansible.get(name, "ansible_host")
        if address in (None, ""):
            raise SpecError("inventory", f"{inv_path}: host {name} has no ansible_host")
        hosts[name] = Host(
            name=name,
            address=str(address),
            user=str(ansible.get(name, "ansible_user", "root")),
            key_file=_path(ansible.get(name, "ansible_ssh_private_key_file", "")),
            profile=str(ansible.get(name, "device_profile", "native")),
            emulated=ansible.boolean(name, "lab_emulated", False),
            link=_link(inv_path, name, ansible.get(name, "link", DEFAULT_LINK)),
            link_rate=_link_rate(inv_path, name, ansible.get(name, "link_rate", "")),
            lab_box=str(ansible.get(name, "lab_box", "") or ""),
        )
    # The controller play reads these on localhost; the first node stands in for it
    # so that cluster-group vars count too (docs/provisioning.md).
    first = names[0]
    controller = str(ansible.get(first, "controller_address", DEFAULT_CONTROLLER))
    return Inventory(str(inv_path), hosts, controller)


def _link(inv_path: Path, host: str, value: Any) -> str:
    """A host's `link` var, checked against the known link kinds so that a typo fails the
    run before anything starts, naming the file, the host and the field."""
    known = known_links()
    if not isinstance(value, str) or value not in known:
        raise SpecError("inventory", f"{inv_path}: host {host}: link: {value!r} is not a link "
                        f"kind; known: {', '.join(known)} (harness/links.json)")
    return value


# tc's rate units, as labctl.py's UNITS (bits per second per unit; the `bps` family is bytes)
RATE_UNITS = {"bit": 1, "kbit": 10**3, "mbit": 10**6, "gbit": 10**9,
              "bps": 8, "kbps": 8 * 10**3, "mbps": 8 * 10**6, "gbps": 8 * 10**9}


def link_rate_bytes(rate: str) -> int:
    """Bytes per second of a tc rate ("100mbit", "500kbit", "1gbit", "2mbps"), computed as
    labctl.py's rate_bytes does for the qdisc it installs; ValueError for anything else."""
    m = re.fullmatch(r"\s*([0-9.]+)\s*([a-zA-Z]*)\s*", rate)
    if not m or m.group(2).lower() not in RATE_UNITS:
        raise ValueError(f"bad link_rate {rate!r} (use e.g. 100mbit, 500kbit, 1gbit)")
    value = int(float(m.group(1)) * RATE_UNITS[m.group(2).lower()] / 8)
    if value <= 0:
        raise ValueError(f"bad link_rate {rate!r}: not a positive rate")
    return value


def _link_rate(inv_path: Path, host: str, value: Any) -> str:
    """A host's `link_rate` var, checked as the lab will read it ("" = unshaped)."""
    if value in (None, ""):
        return ""
    try:
        link_rate_bytes(str(value))
    except ValueError as e:
        raise SpecError("inventory", f"{inv_path}: host {host}: link_rate: {e}") from None
    return str(value)


def _path(value: Any) -> str:
    """A file path from the inventory, as the ssh connection would open it.

    `~` is expanded (Ansible's ssh plugin does so for the key file; Fabric does not)
    and `inventory/../.lab` is folded to `.lab`, so logs and Fabric see one clean
    absolute path. "" (unset) stays "".
    """
    text = str(value or "")
    return os.path.normpath(os.path.expanduser(text)) if text else ""


class _AnsibleVars:
    """One inventory as Ansible sees it: hosts of a group and their templated vars.

    Only the variables asked for are templated (as a play templates a var when a
    task uses it), so an unrelated variable that needs play context, e.g. a lookup
    meant for a play, cannot break reading the hosts.
    """

    def __init__(self, inv_path: Path) -> None:
        _import_ansible()
        from ansible.errors import AnsibleError
        from ansible.inventory.manager import InventoryManager
        from ansible.parsing.dataloader import DataLoader
        from ansible.vars.manager import VariableManager

        self.path = inv_path
        self._loader = DataLoader()
        # playbook_dir as for a play run from the repository root (site.yml).
        self._loader.set_basedir(str(REPO))
        try:
            self._inventory = InventoryManager(loader=self._loader, sources=[str(inv_path)])
        except AnsibleError as exc:
            raise SpecError("inventory", f"{inv_path}: Ansible cannot read it: {exc}") from None
        self._vars = VariableManager(loader=self._loader, inventory=self._inventory)
        self._cache: dict[str, dict[str, Any]] = {}

    def cluster_hosts(self) -> list[str]:
        """Names of the hosts in group `cluster` (and its children), in inventory order."""
        if CLUSTER_GROUP not in self._inventory.groups:
            raise SpecError(
                "inventory",
                f"{self.path} has no group '{CLUSTER_GROUP}' (if Ansible could not parse "
                "the file, its warnings above say why)",
            )
        names = [h.name for h in self._inventory.get_hosts(CLUSTER_GROUP)]
        if not names:
            raise SpecError("inventory", f"{self.path} has no hosts in group '{CLUSTER_GROUP}'")
        return names

    def get(self, name: str, key: str, default: Any = None) -> Any:
        """Host `name`'s variable `key`, templated by Ansible (nested templates too).

        Missing -> `default` (untemplated). A value Ansible cannot template (an
        undefined variable, a bad expression) is a SpecError naming file, host and key.
        """
        from ansible.errors import AnsibleError
        from ansible.template import Templar

        variables = self._host_vars(name)
        if key not in variables:
            return default
        raw = variables[key]
        try:
            value = Templar(loader=self._loader, variables=variables).template(raw)
        except AnsibleError as exc:
            raise SpecError(
                "inventory", f"{self.path}: host {name}: {key}: cannot resolve {raw!r}: {exc}"
            ) from None
        return _plain(value)

    def boolean(self, name: str, key: str, default: bool) -> bool:
        """A yes/no variable read as the roles' `| bool` filter does ("false" is False)."""
        from ansible.module_utils.parsing.convert_bool import boolean

        value = self.get(name, key, default)
        try:
            return bool(boolean(value, strict=True))
        except TypeError:
            raise SpecError(
                "inventory", f"{self.path}: host {name}: {key}: not a boolean: {value!r}"
            ) from None

    def _host_vars(self, name: str) -> dict[str, Any]:
        """All vars of a host as a play would get them (magic vars like
        inventory_dir included), without play or role vars; computed once per host."""
        if name not in self._cache:
            host = self._inventory.get_host(name)
            self._cache[name] = self._vars.get_vars(host=host)
        return self._cache[name]


def _plain(value: Any) -> Any:
    """Ansible 2.19 returns tagged str/list/dict subclasses; hand out plain types."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return value


def _import_ansible() -> None:
    """Import Ansible's config with this repository's ansible.cfg, as harness/playbooks.py
    runs ansible-playbook with it (an ANSIBLE_CONFIG already set wins).

    Ansible reads its config once, when `ansible.constants` is first imported, so the
    variable is only needed for that import and is restored afterwards. Imported lazily:
    it costs ~0.3 s, and most users of this module only need Host.
    """
    if "ansible.constants" in sys.modules:
        return
    saved = os.environ.get("ANSIBLE_CONFIG")
    if saved is None:
        os.environ["ANSIBLE_CONFIG"] = str(REPO / "ansible.cfg")
    try:
        import ansible.constants  # noqa: F401  (reads the config)
    finally:
        if saved is None:
            os.environ.pop("ANSIBLE_CONFIG", None)
