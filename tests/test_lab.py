"""The emulated lab (playbooks/lab.yml): real SSH, per-host install roots, confinement,
idempotence and a clean teardown. Needs root; each test finds the lab up (brought up if it
is not), and the module takes it down at its end."""

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from lab_cli import lab_answers  # tests/ is on sys.path (pytest rootdir)

ROOT = Path(__file__).resolve().parent.parent
KEY = ROOT / ".lab" / "ssh" / "id_ed25519"
HOSTS = {f"pi{i}": f"198.18.0.{10 + i}" for i in range(1, 7)}

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the emulated lab needs root (netns, mounts)"),
    pytest.mark.skipif(not Path("/usr/sbin/sshd").exists(),
                       reason="openssh-server is not installed (/usr/sbin/sshd)"),
]


def ansible_playbook():
    local = Path(sys.executable).parent / "ansible-playbook"
    if local.exists():
        return str(local)
    venv = ROOT / ".venv" / "bin" / "ansible-playbook"
    return str(venv) if venv.exists() else (shutil.which("ansible-playbook") or "ansible-playbook")


def run_lab(*extra, check=True):
    proc = subprocess.run(
        [ansible_playbook(), "playbooks/lab.yml", *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"},
    )
    if check:
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return proc


def recap(output):
    """{'ok': n, 'changed': n, ...} of localhost from PLAY RECAP."""
    m = re.search(r"^localhost\s*:\s*(.*)$", output.split("PLAY RECAP")[-1], re.M)
    assert m, output[-2000:]
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(1))}


def ssh(host, command, check=True):
    proc = subprocess.run(
        ["ssh", "-i", str(KEY), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
         "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
         "-o", "ConnectTimeout=5", f"root@{HOSTS[host]}", command],
        capture_output=True, text=True, timeout=60,
    )
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def lab_leftovers():
    netns = [line.split()[0] for line in
             subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
             .stdout.splitlines() if line.startswith("dnnlab-")]
    links = re.findall(r"^\d+: ([^:@]+)", subprocess.run(
        ["ip", "-o", "link", "show"], capture_output=True, text=True).stdout, re.M)
    links = [n for n in links if n in ("dnnlab0", "dnnvx0") or n.startswith(("vl-", "vp-"))]
    return netns, links


@pytest.fixture(scope="module")
def lab_module():
    """Takes the lab down when the module ends, whatever its tests left."""
    yield
    run_lab("-e", "lab_state=absent", check=False)


@pytest.fixture
def lab(lab_module):
    """The lab, up: brought up by playbooks/lab.yml unless it already is (a test that
    takes it down leaves it down; the next test's fixture brings it back)."""
    if not lab_answers():
        run_lab()
    assert lab_answers(), "playbooks/lab.yml ran but the lab hosts do not answer over SSH"


def test_ssh_reaches_each_host_with_its_own_hostname(lab):
    for host in HOSTS:
        assert ssh(host, "hostname").stdout.strip() == host


def test_install_root_is_private_to_each_host(lab):
    name = f"lab-test-{uuid.uuid4().hex[:8]}"
    ssh("pi1", f"mkdir -p /opt/node_app && echo pi1 > /opt/node_app/{name}"
               f" && mkdir -p /etc/node_app && echo pi1 > /etc/node_app/{name}"
               f" && echo pi1 > /usr/local/bin/{name}")
    assert ssh("pi1", f"cat /opt/node_app/{name}").stdout.strip() == "pi1"
    for path in (f"/opt/node_app/{name}", f"/etc/node_app/{name}", f"/usr/local/bin/{name}"):
        assert ssh("pi2", f"test -e {path}", check=False).returncode == 1, path
        assert not Path(path).exists(), f"{path} leaked to the controller"


def test_useradd_on_a_host_leaves_the_controller_passwd_alone(lab):
    user = f"lt{uuid.uuid4().hex[:6]}"
    ssh("pi3", f"useradd {user} && id {user}")
    assert user not in Path("/etc/passwd").read_text()
    assert ssh("pi4", f"id {user}", check=False).returncode != 0


def test_private_run_and_root(lab):
    ssh("pi1", "echo 1 > /run/lab-test.pid && echo 1 > /root/lab-test")
    assert ssh("pi2", "test -e /run/lab-test.pid || test -e /root/lab-test",
               check=False).returncode == 1
    assert not Path("/run/lab-test.pid").exists() and not Path("/root/lab-test").exists()


CONNECT = """
import socket, sys, time
s = socket.socket(); s.settimeout(2); t = time.monotonic()
try:
    s.connect((sys.argv[1], int(sys.argv[2]))); print("connected", 0)
except OSError as e:
    print(e.errno, time.monotonic() - t)
"""


@pytest.mark.parametrize(("target", "port"), [("10.0.0.1", 80), ("8.8.8.8", 53),
                                              ("192.168.1.1", 80), ("172.16.0.1", 80)])
def test_hosts_cannot_reach_beyond_the_lab(lab, target, port):
    out = ssh("pi1", f"python3 -c '{CONNECT}' {target} {port}").stdout.split()
    assert out[0] != "connected"
    assert int(out[0]) in (1, 13, 101, 113), out  # EPERM/EACCES (prohibit), ENETUNREACH, ...
    assert float(out[1]) < 0.5


def test_hosts_reach_each_other_and_the_controller_by_name(lab):
    out = ssh("pi1", f"python3 -c '{CONNECT}' pi2 22").stdout.split()
    assert out[0] == "connected"
    assert ssh("pi2", "getent hosts controller").stdout.split()[0] == "198.18.0.1"
    assert ssh("pi2", "grep -c nameserver /etc/resolv.conf && cat /etc/resolv.conf"
               ).stdout.split()[-1] == "127.0.0.1"


def test_no_default_route_and_prohibit_routes(lab):
    routes = ssh("pi2", "ip route").stdout
    assert "default" not in routes
    for net in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"):
        assert f"prohibit {net}" in routes


def test_token_and_key(lab):
    token = ROOT / ".lab" / "token"
    assert re.fullmatch(r"[0-9a-f]{64}\n", token.read_text())
    assert token.stat().st_mode & 0o777 == 0o600


# A second lab.yml run changes nothing: tests/test_e2e.py runs site.yml a second time, and
# site.yml's first play is playbooks/lab.yml (its recap must show changed=0 for localhost).


def labctl(*args) -> dict:
    """The lab role's own step script, as lab.yml calls it; its JSON answer."""
    proc = subprocess.run([sys.executable, str(ROOT / "playbooks/roles/lab/files/labctl.py"),
                           *args], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout)


def test_link_shaping_both_directions(lab):
    run_lab("-e", "link_rate=50mbit")
    host_side = subprocess.run(["tc", "qdisc", "show", "dev", "vl-pi1", "root"],
                               capture_output=True, text=True).stdout
    inside = subprocess.run(["ip", "netns", "exec", "dnnlab-pi1", "tc", "qdisc", "show", "dev",
                             "eth0", "root"], capture_output=True, text=True).stdout
    assert "tbf" in host_side and "50Mbit" in host_side, host_side
    assert "tbf" in inside and "50Mbit" in inside, inside
    # The same rate again is no change (what a second lab.yml run with it would report).
    assert labctl("shape", "--ns", "dnnlab-pi1", "--veth", "vl-pi1", "--rate", "50mbit") == \
        {"changed": False, "actions": []}
    run_lab()  # link_rate unset again: shaping removed
    host_side = subprocess.run(["tc", "qdisc", "show", "dev", "vl-pi1", "root"],
                               capture_output=True, text=True).stdout
    assert "tbf" not in host_side


def test_down_leaves_nothing_and_is_idempotent(lab):
    # Independent of order: the fixture brought the lab up; this test takes it down and
    # leaves it down (the next test's fixture brings it back, the module's takes it down).
    assert lab_leftovers() != ([], []), "the lab should be up before the teardown"
    ssh("pi1", "sleep 300 </dev/null >/dev/null 2>&1 &")  # a process the teardown must kill
    run_lab("-e", "lab_state=absent")
    assert lab_leftovers() == ([], [])
    if Path("/etc/netns").exists():
        assert not list(Path("/etc/netns").glob("dnnlab-*"))
    assert not (ROOT / ".lab" / "hosts").exists()
    sshd_pids = subprocess.run(["pgrep", "-f", str(ROOT / ".lab" / "hosts")],
                               capture_output=True, text=True).stdout.split()
    assert sshd_pids == []
    assert recap(run_lab("-e", "lab_state=absent").stdout)["changed"] == 0

