"""Two (or more) Linux "boxes" on this machine, to try a lab across boxes without them.

A lab across boxes (docs/lab.md, "A lab across boxes") places each emulated Pi on one of
several Linux machines, whose lab bridges VXLAN joins. To exercise exactly that code here,
each box is a network namespace with

- its own sshd (the lab role reaches the box over SSH, as it would a real one),
- its own /run (so the Pis' network namespaces it creates are its own: the controller's
  `ip netns` does not see them, as it would not see a real box's),
- one address on an "underlay" bridge in the controller's namespace, standing in for the
  LAN between real boxes: the controller is 198.19.0.1, box i is 198.19.0.(1 + i).

Everything stays in 198.18.0.0/15 (198.19.0.0/24 here, the lab's 198.18.0.0/24 on top),
with no default route and the private ranges prohibited in each box, as in a lab host.

    python -m harness.emulated_boxes up [--boxes=2]    # then inventory/lab-2boxes.yml
    python -m harness.emulated_boxes down              # after `fab lab-down --inventory=...`

`down` also takes down a lab a box still holds (its Pis' namespaces live in the box's
/run, reachable only through the box), then kills the PIDs in each box's namespace,
deletes the namespaces, the veths and the underlay bridge.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from harness.inventory import REPO

UNDERLAY_BRIDGE = "dnnul0"
UNDERLAY_NET = "198.19.0"  # .1 the controller, .2.. the boxes, /24
NS_PREFIX = "dnnbox-"
VETH_PREFIX = "vb-"  # controller side; the box side is created as vq-<box>, renamed eth0
PEER_PREFIX = "vq-"
STATE = Path("/srv/dnnboxes")  # each box's sshd config, pidfile, log and host key
# The lab role's default lab_box_dir parent: a box's lab hosts' install roots (on a real box,
# on that box; here on the shared disk, so `down` removes what a lab-down did not).
LAB_BOX_DIRS = Path("/srv/dnnlab")
LAB_KEY = REPO / ".lab" / "ssh" / "id_ed25519"
LABCTL = REPO / "playbooks" / "roles" / "lab" / "files" / "labctl.py"
PROHIBIT = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
MAX_BOXES = 9


@dataclass(frozen=True)
class Box:
    """One emulated box: `b1` is namespace dnnbox-b1 at 198.19.0.2."""

    name: str
    index: int

    @property
    def ns(self) -> str:
        return NS_PREFIX + self.name

    @property
    def address(self) -> str:
        return f"{UNDERLAY_NET}.{1 + self.index}"

    @property
    def folder(self) -> Path:
        return STATE / self.name


def boxes(n: int) -> list[Box]:
    if not 1 <= n <= MAX_BOXES:
        raise ValueError(f"--boxes: 1..{MAX_BOXES} emulated boxes, got {n}")
    return [Box(f"b{i}", i) for i in range(1, n + 1)]


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(args), capture_output=True, text=True, timeout=60)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {proc.stderr.strip()}")
    return proc


def _netns() -> list[str]:
    out = _run("ip", "netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def _sshd_config(box: Box) -> str:
    return "\n".join([
        f"# emulated lab box {box.name} (harness/emulated_boxes.py)",
        f"ListenAddress {box.address}:22",
        f"HostKey {box.folder}/ssh_host_ed25519_key",
        f"PidFile {box.folder}/sshd.pid",
        f"AuthorizedKeysFile {box.folder}/authorized_keys",
        "PermitRootLogin prohibit-password", "PubkeyAuthentication yes",
        "PasswordAuthentication no", "KbdInteractiveAuthentication no", "UsePAM no",
        "UseDNS no", "StrictModes no", "PrintMotd no", "MaxStartups 100", "MaxSessions 100",
        "Subsystem sftp internal-sftp", ""])


# The box's own /run: sshd's privilege-separation dir, and /run/netns for the namespaces
# the lab role creates on the box.
_START = ("mount --make-rprivate / && mount -t tmpfs -o mode=0755 box-run /run && "
          "mkdir -p /run/sshd /run/netns && hostname {name} && "
          "exec /usr/sbin/sshd -f {folder}/sshd_config -E {folder}/sshd.log")


def _labctl(*args: str, inside: int | None = None) -> dict:
    """One labctl.py step (the lab role's own network and process code: a box is built and
    removed as a lab host is), in this machine's namespaces or `inside` those (mount and
    network) of that PID; its JSON answer, or RuntimeError with labctl's message."""
    enter = ["nsenter", "-t", str(inside), "-m", "-n"] if inside is not None else []
    proc = _run(*enter, sys.executable or "/usr/bin/python3", str(LABCTL), *args, check=False)
    try:
        out = json.loads(proc.stdout or proc.stderr)
    except ValueError:
        out = {"failed": True, "msg": proc.stderr.strip() or proc.stdout.strip()}
    if proc.returncode != 0 or out.get("failed"):
        raise RuntimeError(f"labctl.py {args[0]}: {out.get('msg')}")
    return out


def up(n: int = 2) -> list[Box]:
    """Bring n boxes up (idempotent: a box whose sshd runs is left as it is)."""
    made = boxes(n)
    LAB_KEY.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not LAB_KEY.exists():  # the lab role makes the same key pair (`creates:` skips it then)
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "dnnlab", "-f", str(LAB_KEY))
    _labctl("bridge", "--bridge", UNDERLAY_BRIDGE, "--cidr", f"{UNDERLAY_NET}.1/24")
    for box in made:
        # namespace, veth pair into the underlay, address, no default route, prohibit routes
        _labctl("host", "--ns", box.ns, "--veth", VETH_PREFIX + box.name,
                "--peer", PEER_PREFIX + box.name, "--bridge", UNDERLAY_BRIDGE,
                "--cidr", f"{box.address}/24", "--prohibit", *PROHIBIT)
        if _sshd_pid(box) is not None:
            continue
        box.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = box.folder / "ssh_host_ed25519_key"
        if not key.exists():
            _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"dnnbox-{box.name}",
                 "-f", str(key))
        shutil.copyfile(LAB_KEY.with_suffix(".pub"), box.folder / "authorized_keys")
        (box.folder / "sshd_config").write_text(_sshd_config(box))
        _run("ip", "netns", "exec", box.ns, "unshare", "--mount", "--uts", "/bin/sh", "-c",
             _START.format(name=box.name, folder=box.folder))
    _labctl("greet", "--timeout", "20",
            *[a for box in made for a in ("--host", box.name, box.address)])
    return made


def _sshd_pid(box: Box) -> int | None:
    try:
        pid = int((box.folder / "sshd.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if Path(f"/proc/{pid}").exists() else None


def _lab_down_inside(box: Box) -> dict:
    """The lab role's own teardown (labctl down), run inside the box's mount and network
    namespaces: what a lab-down that never ran (a failed test) left on the box."""
    pid = _sshd_pid(box)
    if pid is None:
        return {"changed": False, "actions": []}
    return _labctl("down", "--bridge", "dnnlab0", "--ns-prefix", "dnnlab-", "--veth-prefix",
                   "vl-", "--peer-prefix", "vp-", "--vxlan", "dnnvx0", "--memcg-root", "",
                   inside=pid)


def down() -> list[str]:
    """Remove every emulated box (and any lab a box still holds); returns what it did."""
    did: list[str] = []
    names = sorted(n[len(NS_PREFIX):] for n in _netns() if n.startswith(NS_PREFIX))
    for name in names:
        box = Box(name, int(name[1:]) if name[1:].isdigit() else 0)
        did += _lab_down_inside(box).get("actions", [])
    # the boxes themselves, as labctl takes a lab down: their PIDs (TERM, then KILL), the
    # namespaces, the veths by prefix, the underlay bridge; no memory cgroups
    did += _labctl("down", "--bridge", UNDERLAY_BRIDGE, "--ns-prefix", NS_PREFIX,
                   "--veth-prefix", VETH_PREFIX, "--peer-prefix", PEER_PREFIX,
                   "--memcg-root", "")["actions"]
    for folder in [*(LAB_BOX_DIRS / n for n in names), STATE]:
        if folder.exists():
            shutil.rmtree(folder)
            did.append(f"rm -r {folder}")
    if LAB_BOX_DIRS.is_dir() and not any(LAB_BOX_DIRS.iterdir()):
        LAB_BOX_DIRS.rmdir()
        did.append(f"rmdir {LAB_BOX_DIRS}")
    return did


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m harness.emulated_boxes",
                                description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    u = sub.add_parser("up", help="bring the boxes up (then inventory/lab-2boxes.yml)")
    u.add_argument("--boxes", type=int, default=2)
    sub.add_parser("down", help="remove every emulated box and what it holds")
    a = p.parse_args(argv)
    if a.cmd == "up":
        for box in up(a.boxes):
            print(f"box {box.name}: namespace {box.ns}, sshd at {box.address}:22")
    else:
        for line in down():
            print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
