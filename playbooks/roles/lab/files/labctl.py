#!/usr/bin/python3
"""Idempotent network/sshd steps of the emulated lab (called by the `lab` role).

Each subcommand checks the current state first and only acts on a difference. It prints one
JSON object: {"changed": bool, "actions": [...]} so that the role can report `changed`
truthfully (a second `lab up` reports changed=0).

Subcommands:
  bridge  --bridge dnnlab0 [--cidr 198.18.0.1/24] [--mtu 1450]
  vxlan   --dev dnnvx0 --bridge dnnlab0 --vni 4242 --local 198.19.0.2 --mtu 1450
          --remote 198.19.0.1 198.19.0.3 ...   (a lab across boxes: docs/lab.md)
  host    --ns dnnlab-pi1 --veth vl-pi1 --peer vp-pi1 --bridge dnnlab0 --cidr 198.18.0.11/24
          [--prohibit 10.0.0.0/8 ...]
  shape   --ns dnnlab-pi1 --veth vl-pi1 [--rate 100mbit]      (no --rate: remove shaping)
  sshd    --ns dnnlab-pi1 --pidfile F --start-script S [--restart]
  hosts   --bridge dnnlab0 --ns-prefix dnnlab- --veth-prefix vl- --peer-prefix vp-
          [--prohibit NET ...] [--mtu 1450] --host pi1 198.18.0.11/24 RATE ...  (host +
          shape for each; RATE - = no shaping)
  sshds   --ns-prefix dnnlab- --root .lab --timeout 30 --host pi1 198.18.0.11 RESTART ...
          [--memcg-root /sys/fs/cgroup/memory] [--no-greet]
          (sshd for each, RESTART 1/0, in its memory cgroup; then wait until each greets on
          port 22, unless --no-greet)
  greet   --timeout 30 --host pi1 198.18.0.11 ...    (wait until each greets on port 22)
  mkdirs  PATH:MODE ...                                       (mkdir -p, then chmod)
  files   --manifest .lab/files.json    (write each {path, mode, content} that differs; the
          output's "restart" lists hosts whose sshd config or start script changed)
  down    --ns dnnlab-pi1 ... --bridge dnnlab0 --veth-prefix vl- --ns-prefix dnnlab-
          [--memcg-root /sys/fs/cgroup/memory] [--vxlan dnnvx0]
          (also removes the hosts' memory cgroups and the VXLAN device)

`hosts` and `sshds` do for every lab host in one call what `host`, `shape` and `sshd` do for
one: a lab of N hosts is a few Ansible tasks, not a few per host (a task costs ~0.4 s).

A partition (harness/faults.py, `partition:pi1+pi2@10s`) is a `prohibit` route to a lab
address inside a host's namespace, deleted when it heals. A run that died before healing
leaves one behind: `host` (so every `lab up`) deletes prohibit routes to addresses inside the
lab's own subnet, and `down` deletes the namespaces and every route in them.

Memory (harness/memcap.py, `fab experiment --enforce-memory`): `sshds` makes one cgroup v1
memory cgroup per host, named as its namespace (/sys/fs/cgroup/memory/dnnlab-pi1), and moves
the host's sshd into it, so everything later started on the host over SSH is charged there.
It sets no limit: a run sets one and takes it off again. A machine without the v1 memory
controller gets no cgroups (the option is then refused by the harness). `down` removes a
host's cgroup once its namespace's processes are gone (a cgroup must be empty to go).

Safety: only touches namespaces/links whose names it is given (or that carry the lab's
prefixes), only kills PIDs that `ip netns pids` lists for the lab's namespaces, and only
creates or removes the memory cgroups named after those namespaces.
"""

import argparse
import ipaddress
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

ACTIONS = []
RESTART = []  # `files`: hosts whose sshd must restart to read a changed config or script


def run(*args, check=True):
    res = subprocess.run(list(args), capture_output=True, text=True)
    if check and res.returncode != 0:
        raise SystemExit(
            json.dumps({"failed": True, "msg": f"{' '.join(args)}: {res.stderr.strip()}",
                        "actions": ACTIONS})
        )
    return res


def act(*args):
    ACTIONS.append(" ".join(args))
    return run(*args)


def ip_json(*args):
    res = run("ip", "-j", *args, check=False)
    if res.returncode != 0 or not res.stdout.strip():
        return []
    return json.loads(res.stdout)


def netns_list():
    res = run("ip", "netns", "list", check=False)
    return [line.split()[0] for line in res.stdout.splitlines() if line.strip()]


def link(name, ns=None):
    pre = ["-n", ns] if ns else []
    info = ip_json(*pre, "-d", "link", "show", "dev", name)
    return info[0] if info else None


def ensure_up(name, ns=None):
    pre = ["-n", ns] if ns else []
    info = link(name, ns)
    if info is not None and "UP" not in info.get("flags", []):
        act("ip", *pre, "link", "set", "dev", name, "up")


def ensure_addr(name, cidr, ns=None):
    pre = ["-n", ns] if ns else []
    addr, prefix = cidr.split("/")
    have = ip_json(*pre, "-4", "addr", "show", "dev", name)
    for entry in have:
        for a in entry.get("addr_info", []):
            if a.get("local") == addr and str(a.get("prefixlen")) == prefix:
                return
    act("ip", *pre, "addr", "add", cidr, "dev", name)


def cmd_bridge(a):
    if link(a.bridge) is None:
        act("ip", "link", "add", "name", a.bridge, "type", "bridge")
    if a.cidr:  # a lab box's bridge has no address: only the controller's is on the lab
        ensure_addr(a.bridge, a.cidr)
    if a.mtu:
        ensure_mtu(a.bridge, a.mtu)
    ensure_up(a.bridge)


def ensure_mtu(name, mtu, ns=None):
    pre = ["-n", ns] if ns else []
    info = link(name, ns)
    if info is not None and info.get("mtu") != mtu:
        act("ip", *pre, "link", "set", "dev", name, "mtu", str(mtu))


def cmd_vxlan(a):
    """The VXLAN device that joins this box's lab bridge to the other boxes' (and the
    controller's): the kernel's own vxlan, unicast, one all-zeros FDB entry per remote
    (head-end replication of broadcasts such as ARP), MAC learning on. A device whose VNI,
    local address or port differ is made again; entries to remotes no longer listed go."""
    info = link(a.dev)
    data = (info or {}).get("linkinfo", {}).get("info_data", {})
    want = {"id": a.vni, "local": a.local, "port": a.port}
    if info is not None and {k: data.get(k) for k in want} != want:
        act("ip", "link", "del", "dev", a.dev)
        info = None
    if info is None:
        act("ip", "link", "add", a.dev, "type", "vxlan", "id", str(a.vni), "local", a.local,
            "dstport", str(a.port))
    ensure_mtu(a.dev, a.mtu)
    if link(a.dev).get("master") != a.bridge:
        act("ip", "link", "set", "dev", a.dev, "master", a.bridge)
    ensure_up(a.dev)
    have = {e.get("dst") for e in fdb_zero(a.dev)}
    for remote in a.remote:
        if remote not in have:
            act("bridge", "fdb", "append", ZERO_MAC, "dev", a.dev, "dst", remote)
    for stale in sorted(have - set(a.remote) - {None}):
        act("bridge", "fdb", "del", ZERO_MAC, "dev", a.dev, "dst", stale)


ZERO_MAC = "00:00:00:00:00:00"


def fdb_zero(dev):
    res = run("bridge", "-j", "fdb", "show", "dev", dev, check=False)
    entries = json.loads(res.stdout) if res.returncode == 0 and res.stdout.strip() else []
    return [e for e in entries if e.get("mac") == ZERO_MAC]


def cmd_host(a):
    if a.ns not in netns_list():
        act("ip", "netns", "add", a.ns)
    if link(a.veth) is None:
        # A half-made pair from an interrupted run would block the name: remove it.
        if link(a.peer) is not None:
            act("ip", "link", "del", "dev", a.peer)
        if link("eth0", a.ns) is not None:
            act("ip", "-n", a.ns, "link", "del", "dev", "eth0")
        act("ip", "link", "add", "name", a.veth, "type", "veth", "peer", "name", a.peer)
        act("ip", "link", "set", "dev", a.peer, "netns", a.ns)
        act("ip", "-n", a.ns, "link", "set", "dev", a.peer, "name", "eth0")
    info = link(a.veth)
    if info.get("master") != a.bridge:
        act("ip", "link", "set", "dev", a.veth, "master", a.bridge)
    if getattr(a, "mtu", None):  # a lab across boxes: every port fits the VXLAN's MTU
        ensure_mtu(a.veth, a.mtu)
        ensure_mtu("eth0", a.mtu, a.ns)
    ensure_up(a.veth)
    ensure_up("lo", a.ns)
    ensure_addr("eth0", a.cidr, a.ns)
    ensure_up("eth0", a.ns)
    # Confinement: no default route, prohibit the private ranges.
    for r in ip_json("-n", a.ns, "-4", "route", "show", "default"):
        act("ip", "-n", a.ns, "route", "del", "default", *(["via", r["gateway"]]
                                                           if r.get("gateway") else []))
    prohibited = ip_json("-n", a.ns, "-4", "route", "show", "type", "prohibit")
    have = {r.get("dst") for r in prohibited}
    for net in a.prohibit:
        if net not in have:
            act("ip", "-n", a.ns, "route", "replace", "prohibit", net)
    for dst in stray_partitions(prohibited, a.cidr):  # a run that died before it healed
        act("ip", "-n", a.ns, "route", "del", "prohibit", dst)


def stray_partitions(routes, cidr):
    """The prohibit routes (`ip -j route show type prohibit`) that cut a host off from lab
    addresses: those whose destination lies inside the lab subnet of `cidr` (a host's
    198.18.0.11/24). The confinement routes (private ranges) are outside it and stay."""
    lab = ipaddress.ip_interface(cidr).network
    out = []
    for r in routes:
        dst = r.get("dst", "")
        try:
            net = ipaddress.ip_network(dst if "/" in dst else f"{dst}/32", strict=False)
        except ValueError:
            continue  # `default` or a name: not a partition
        if net.subnet_of(lab):
            out.append(dst if "/" in dst else f"{dst}/32")
    return out


UNITS = {"bit": 1, "kbit": 10**3, "mbit": 10**6, "gbit": 10**9,
         "bps": 8, "kbps": 8 * 10**3, "mbps": 8 * 10**6, "gbps": 8 * 10**9}


def rate_bytes(rate):
    m = re.fullmatch(r"\s*([0-9.]+)\s*([a-zA-Z]*)\s*", rate)
    if not m or m.group(2).lower() not in UNITS:
        raise SystemExit(json.dumps({"failed": True, "msg": f"bad link_rate {rate!r} "
                                     "(use e.g. 100mbit, 500kbit, 1gbit)"}))
    return int(float(m.group(1)) * UNITS[m.group(2).lower()] / 8)


def shape_dev(dev, ns, rate):
    pre = ["-n", ns] if ns else []
    res = run("tc", *pre, "-j", "qdisc", "show", "dev", dev, "root", check=False)
    qdiscs = json.loads(res.stdout) if res.stdout.strip() else []
    root = next((q for q in qdiscs if q.get("root")), None)
    is_tbf = root is not None and root.get("kind") == "tbf"
    if rate is None:
        if is_tbf:
            act("tc", *pre, "qdisc", "del", "dev", dev, "root")
        return
    want = rate_bytes(rate)
    if is_tbf and abs(int(root.get("options", {}).get("rate", 0)) - want) <= want // 100:
        return
    burst = max(want // 250, 4096)  # ~4 ms of traffic, at least a few MTUs
    act("tc", *pre, "qdisc", "replace", "dev", dev, "root", "tbf", "rate", f"{want * 8}bit",
        "burst", str(burst), "latency", "50ms")


def cmd_shape(a):
    shape_dev(a.veth, None, a.rate)  # controller -> host direction
    shape_dev("eth0", a.ns, a.rate)  # host -> controller/other hosts direction


def pid_ok(pid, ns):
    if not alive(pid):
        return False
    res = run("ip", "netns", "identify", str(pid), check=False)
    return res.stdout.strip() == ns


def read_pid(pidfile):
    try:
        with open(pidfile) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def alive(pid):
    """True while the process exists and is not a zombie (PID 1 may reap late)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def wait_gone(pids, timeout):
    end = time.time() + timeout
    while time.time() < end:
        pids = [p for p in pids if alive(p)]
        if not pids:
            return []
        time.sleep(0.05)
    return pids


def cmd_sshd(a):
    pid = read_pid(a.pidfile)
    running = pid is not None and pid_ok(pid, a.ns)
    if running and not a.restart:
        return
    if running:
        ACTIONS.append(f"stop sshd {pid}")
        os.kill(pid, signal.SIGTERM)
        if wait_gone([pid], 5):
            os.kill(pid, signal.SIGKILL)
    if os.path.exists(a.pidfile):
        os.unlink(a.pidfile)
    act("ip", "netns", "exec", a.ns, "unshare", "--mount", "--uts", "/bin/sh", a.start_script)
    end = time.time() + 10
    while time.time() < end:
        pid = read_pid(a.pidfile)
        if pid is not None and pid_ok(pid, a.ns):
            return
        time.sleep(0.05)
    raise SystemExit(json.dumps({"failed": True, "msg": f"sshd in {a.ns} did not start "
                                 f"(no live PID in {a.pidfile}); see its log",
                                 "actions": ACTIONS}))


def cmd_hosts(a):
    for name, cidr, rate in a.host:
        ns = a.ns_prefix + name
        veth = a.veth_prefix + name
        cmd_host(argparse.Namespace(ns=ns, veth=veth, peer=a.peer_prefix + name,
                                    bridge=a.bridge, cidr=cidr, prohibit=a.prohibit,
                                    mtu=a.mtu))
        cmd_shape(argparse.Namespace(ns=ns, veth=veth, rate=None if rate == "-" else rate))


def greets(address, timeout=1.0):
    """An SSH server answers on address:22 with its banner."""
    try:
        with socket.create_connection((address, 22), timeout=timeout) as sock:
            sock.settimeout(timeout)
            return sock.recv(64).startswith(b"SSH-")
    except OSError:
        return False


MEMCG_ROOT = "/sys/fs/cgroup/memory"


def memcg_cgroup_of(pid):
    """The memory cgroup of a process, as /proc/PID/cgroup names it (`/dnnlab-pi1`)."""
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            for line in f:
                _n, controllers, path = line.rstrip("\n").split(":", 2)
                if "memory" in controllers.split(","):
                    return path
    except (OSError, ValueError):
        pass
    return None


def ensure_memcg(root, name, pid):
    """Cgroup `name` under the memory controller's `root` exists and holds `pid` (the host's
    sshd: its children, started over SSH, are then in it). No limit is set here. Nothing
    is done without the controller (no `root`)."""
    if not root or not os.path.isfile(os.path.join(root, "memory.limit_in_bytes")):
        return
    path = os.path.join(root, name)
    if not os.path.isdir(path):
        os.mkdir(path)
        ACTIONS.append(f"mkdir {path}")
    if memcg_cgroup_of(pid) != "/" + name:
        with open(os.path.join(path, "cgroup.procs"), "w") as f:
            f.write(str(pid))
        ACTIONS.append(f"move sshd {pid} into {path}")


def remove_memcg(root, name, timeout=3.0):
    """Remove cgroup `name` once its processes are gone (they were just killed: wait up to
    `timeout` s for them to exit). A cgroup still holding processes stops `down` with their
    PIDs, rather than leaving the lab half removed without a word."""
    path = os.path.join(root, name) if root else ""
    if not path or not os.path.isdir(path):
        return
    end = time.time() + timeout
    while True:
        try:
            os.rmdir(path)
            ACTIONS.append(f"rmdir {path}")
            return
        except OSError as exc:
            if time.time() > end:
                with open(os.path.join(path, "cgroup.procs")) as f:
                    pids = f.read().split()
                raise SystemExit(json.dumps({"failed": True, "actions": ACTIONS,
                                             "msg": f"cannot remove {path}: {exc} (pids in it: "
                                                    f"{' '.join(pids) or 'none'})"})) from None
            time.sleep(0.05)


def cmd_sshds(a):
    for name, _address, restart in a.host:
        folder = os.path.join(a.root, "hosts", name)
        pidfile = os.path.join(folder, "sshd.pid")
        cmd_sshd(argparse.Namespace(ns=a.ns_prefix + name, pidfile=pidfile,
                                    start_script=os.path.join(folder, "start.sh"),
                                    restart=restart == "1"))
        ensure_memcg(a.memcg_root, a.ns_prefix + name, read_pid(pidfile))
    if a.greet:
        wait_greets([(name, address) for name, address, _r in a.host], a.timeout)


def cmd_greet(a):
    """Wait until each host's sshd answers here: a lab box has no address on the lab's
    subnet, so the controller waits for the hosts the boxes started."""
    wait_greets([tuple(h) for h in a.host], a.timeout)


def wait_greets(waiting, timeout):
    end = time.time() + timeout
    while waiting and time.time() < end:
        waiting = [(n, addr) for n, addr in waiting if not greets(addr)]
        if waiting:
            time.sleep(0.1)
    if waiting:
        raise SystemExit(json.dumps({"failed": True, "actions": ACTIONS,
                                     "msg": f"sshd of {', '.join(n for n, _ in waiting)} does "
                                            f"not answer on port 22 after {timeout} s"}))


def cmd_down(a):
    existing = netns_list()
    names = set(a.ns) | {n for n in existing if n.startswith(a.ns_prefix)}
    for ns in sorted(names):
        if ns not in existing:
            continue
        pids = [int(p) for p in run("ip", "netns", "pids", ns, check=False).stdout.split()]
        pids = [p for p in pids if p != os.getpid()]
        for sig, wait in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
            for p in pids:
                try:
                    os.kill(p, sig)
                    ACTIONS.append(f"kill -{sig.name} {p} ({ns})")
                except ProcessLookupError:
                    pass
            pids = wait_gone(pids, wait)
            if not pids:
                break
        act("ip", "netns", "del", ns)
    for ns in sorted(names | set(memcg_names(a.memcg_root, a.ns_prefix))):
        remove_memcg(a.memcg_root, ns)
    for entry in ip_json("link", "show", "type", "veth"):
        name = entry.get("ifname", "")
        if name.startswith(a.veth_prefix) or name.startswith(a.peer_prefix):
            delete_veth(name)
    if a.vxlan and link(a.vxlan) is not None:
        act("ip", "link", "del", "dev", a.vxlan)
    if link(a.bridge) is not None:
        act("ip", "link", "del", "dev", a.bridge)


def memcg_names(root, prefix):
    """The lab's memory cgroups left from hosts no longer in the inventory (their names carry
    the namespace prefix); a cgroup of a test (`dnnlab-test-*`) is not the lab's."""
    try:
        return [n for n in os.listdir(root) if n.startswith(prefix)
                and not n.startswith(prefix + "test-") and os.path.isdir(os.path.join(root, n))]
    except (OSError, TypeError):
        return []


def delete_veth(name):
    """Delete a leftover veth. Deleting a namespace removes the peer of its veth
    asynchronously, so a veth listed a moment ago may be gone by now: that is success."""
    ACTIONS.append(f"ip link del dev {name}")
    res = run("ip", "link", "del", "dev", name, check=False)
    if res.returncode != 0 and link(name) is not None:
        raise SystemExit(json.dumps({"failed": True, "actions": ACTIONS,
                                     "msg": f"ip link del dev {name}: {res.stderr.strip()}"}))


def cmd_mkdirs(a):
    for spec in a.dirs:
        path, mode = spec.rsplit(":", 1)
        mode = int(mode, 8)
        if not os.path.isdir(path):
            os.makedirs(path, mode=mode, exist_ok=True)
            ACTIONS.append(f"mkdir {path}")
        if os.stat(path).st_mode & 0o7777 != mode:
            os.chmod(path, mode)
            ACTIONS.append(f"chmod {mode:o} {path}")


def cmd_files(a):
    """Write each manifest entry whose file is missing or differs (content or mode), by a
    rename so a reader never sees half a file; RESTART collects the hosts whose sshd
    configuration or start script changed (their sshd is restarted by `sshds`)."""
    with open(a.manifest, encoding="utf-8") as f:
        entries = json.load(f)
    for e in entries:
        path, mode, data = e["path"], int(e["mode"], 8), e["content"].encode()
        try:
            with open(path, "rb") as f:
                same = f.read() == data
        except FileNotFoundError:
            same = False
        if not same:
            tmp = f"{path}.labctl-tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
            ACTIONS.append(f"write {path}")
        if os.stat(path).st_mode & 0o7777 != mode:
            os.chmod(path, mode)
            ACTIONS.append(f"chmod {mode:o} {path}")
            same = False
        if not same and e.get("restart") and e["host"] not in RESTART:
            RESTART.append(e["host"])


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("bridge")
    b.add_argument("--bridge", required=True)
    b.add_argument("--cidr", default="", help="the bridge's address ('' for none)")
    b.add_argument("--mtu", type=int, default=0, help="0: leave the MTU as it is")
    v = sub.add_parser("vxlan")
    v.add_argument("--dev", required=True)
    v.add_argument("--bridge", required=True)
    v.add_argument("--vni", type=int, required=True)
    v.add_argument("--local", required=True, help="this box's address between the boxes")
    v.add_argument("--port", type=int, default=4789)
    v.add_argument("--mtu", type=int, required=True)
    v.add_argument("--remote", nargs="*", default=[], help="the other boxes' addresses")
    h = sub.add_parser("host")
    for opt in ("--ns", "--veth", "--peer", "--bridge", "--cidr"):
        h.add_argument(opt, required=True)
    h.add_argument("--prohibit", nargs="*", default=[])
    s = sub.add_parser("shape")
    s.add_argument("--ns", required=True)
    s.add_argument("--veth", required=True)
    s.add_argument("--rate", default=None)
    d = sub.add_parser("sshd")
    d.add_argument("--ns", required=True)
    d.add_argument("--pidfile", required=True)
    d.add_argument("--start-script", required=True)
    d.add_argument("--restart", action="store_true")
    hs = sub.add_parser("hosts")
    for opt in ("--bridge", "--ns-prefix", "--veth-prefix", "--peer-prefix"):
        hs.add_argument(opt, required=True)
    hs.add_argument("--prohibit", nargs="*", default=[])
    hs.add_argument("--host", nargs=3, action="append", required=True,
                    metavar=("NAME", "CIDR", "RATE"))
    hs.add_argument("--mtu", type=int, default=0, help="0: leave the MTU as it is")
    ds = sub.add_parser("sshds")
    ds.add_argument("--ns-prefix", required=True)
    ds.add_argument("--root", required=True)
    ds.add_argument("--timeout", type=float, default=30.0)
    ds.add_argument("--host", nargs=3, action="append", required=True,
                    metavar=("NAME", "ADDRESS", "RESTART"))
    ds.add_argument("--memcg-root", default=MEMCG_ROOT,
                    help="the cgroup v1 memory controller ('' for no memory cgroups)")
    ds.add_argument("--no-greet", dest="greet", action="store_false",
                    help="do not wait for the hosts here (a lab box: the controller does)")
    g = sub.add_parser("greet")
    g.add_argument("--timeout", type=float, default=30.0)
    g.add_argument("--host", nargs=2, action="append", required=True,
                   metavar=("NAME", "ADDRESS"))
    t = sub.add_parser("down")
    t.add_argument("--ns", nargs="*", default=[])
    t.add_argument("--bridge", required=True)
    t.add_argument("--ns-prefix", required=True)
    t.add_argument("--veth-prefix", required=True)
    t.add_argument("--peer-prefix", required=True)
    t.add_argument("--memcg-root", default=MEMCG_ROOT)
    t.add_argument("--vxlan", default="", help="the lab's VXLAN device, if any")
    m = sub.add_parser("mkdirs")
    m.add_argument("dirs", nargs="+", help="PATH:OCTALMODE")
    f = sub.add_parser("files")
    f.add_argument("--manifest", required=True,
                   help="JSON list of {path, mode, content, host, restart}")
    a = p.parse_args()
    {"bridge": cmd_bridge, "vxlan": cmd_vxlan, "host": cmd_host, "shape": cmd_shape,
     "sshd": cmd_sshd, "hosts": cmd_hosts, "sshds": cmd_sshds, "greet": cmd_greet,
     "down": cmd_down, "mkdirs": cmd_mkdirs, "files": cmd_files}[a.cmd](a)
    out = {"changed": bool(ACTIONS), "actions": ACTIONS}
    if a.cmd == "files":
        out["restart"] = RESTART
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
