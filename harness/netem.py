"""netem, where the kernel has it: detect it on a host and build the tc commands of a link.

The lab's kernel has no sch_netem (LAB-NOTES, "Links and CPU"), so there the run's links are
emulated by node_app (harness/link_plan.py, node_app/link.py); a Raspberry Pi's kernel ships
sch_netem as a module, so there the kernel can delay every packet itself. Both halves are
plain functions: `netem_available` reads a probe's output, `link_commands` returns the tc
argv lists, so both are tested without a kernel that has netem. `probe` and `apply` run them
on a host over SSH (harness/cluster.py's connection), as root or with `sudo -n`.

The probe adds a netem qdisc to the loopback device of a scratch network namespace
(`unshare --net`), so it changes nothing on the host whatever the answer; `modinfo` is not
used because a kernel may have netem built in, and this machine has no modinfo at all.

The qdisc tree on the sending host's interface, per peer it sends frames to over a link:

    root 1: htb, default class 1:1 (everything else, at the host's rate)
      class 1:1   htb rate R
      class 1:1N  htb rate R  -> qdisc N: netem delay D J loss L%   (peer N)
      filter u32 match ip dst <peer>/32 -> 1:1N

so the host's bandwidth shaping (tbf today, htb here) and the delay compose, and traffic to
hosts without a link is untouched. netem's jitter with no distribution table is uniform on
[D - J, D + J] (net/sched/sch_netem.c `tabledist`: "default uniform distribution"), the same
draw node_app's fallback makes.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from harness.links import Link

PROBE = ["unshare", "--net", "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"]
DEFAULT_DEV = "eth0"
UNSHAPED_RATE = "10gbit"  # htb needs a rate; far above any Pi link, so it shapes nothing
FIRST_MINOR = 10  # per-peer classes 1:10, 1:11, ...; 1:1 is the default class
# What tc says when the kernel lacks the qdisc (iproute2 with and without extended acks).
_NO_QDISC = ("specified qdisc kind is unknown", "qdisc kind is unknown",
             "no such file or directory", "unknown qdisc")


@dataclass(frozen=True)
class Verdict:
    """The probe's answer: netem usable on the host or not, and why (for spec.json)."""

    available: bool
    reason: str


def netem_available(returncode: int, output: str) -> Verdict:
    """Read the probe's exit code and output (stdout and stderr together).

    0: the qdisc was added, netem exists. A message that the qdisc kind is unknown (or its
    module file is missing): no netem. Anything else (no unshare, no permission) cannot
    tell, which is a no too: the fallback always works, a wrong yes would emulate nothing.
    """
    text = " ".join(output.split()).lower()
    if returncode == 0:
        return Verdict(True, "tc accepted a netem qdisc")
    if any(s in text for s in _NO_QDISC):
        return Verdict(False, f"the kernel has no netem qdisc (tc: {output.strip()[:120]})")
    return Verdict(False, f"the netem probe could not tell (exit {returncode}: "
                          f"{output.strip()[:120] or 'no output'}); using node_app")


def netem_args(link: Link) -> list[str]:
    """`netem delay Dms Jms loss L%` for a link kind (each part only when non-zero)."""
    args = ["netem"]
    if link.delay_ms or link.jitter_ms:
        args += ["delay", f"{link.delay_ms:g}ms"]
        if link.jitter_ms:
            args.append(f"{link.jitter_ms:g}ms")
    if link.loss_pct:
        args += ["loss", f"{link.loss_pct:g}%"]
    return args


def link_commands(peers: list[tuple[str, Link]], dev: str = DEFAULT_DEV,
                  rate: str = "") -> list[list[str]]:
    """The tc argv lists that give `dev` one netem class per (peer address, link kind);
    `rate` the host's own link rate (`link_rate`, e.g. 100mbit; "" unshaped)."""
    r = rate or UNSHAPED_RATE
    cmds = [["tc", "qdisc", "replace", "dev", dev, "root", "handle", "1:", "htb", "default",
             "1"],
            ["tc", "class", "add", "dev", dev, "parent", "1:", "classid", "1:1", "htb", "rate",
             r]]
    for i, (address, link) in enumerate(peers):
        minor = FIRST_MINOR + i
        cmds += [
            ["tc", "class", "add", "dev", dev, "parent", "1:", "classid", f"1:{minor}", "htb",
             "rate", r],
            ["tc", "qdisc", "add", "dev", dev, "parent", f"1:{minor}", "handle", f"{minor}:",
             *netem_args(link)],
            ["tc", "filter", "add", "dev", dev, "protocol", "ip", "parent", "1:", "prio", "1",
             "u32", "match", "ip", "dst", f"{address}/32", "flowid", f"1:{minor}"],
        ]
    return cmds


def clear_commands(dev: str = DEFAULT_DEV, rate: str = "") -> list[list[str]]:
    """Undo `link_commands`: drop the root qdisc (the kernel's default comes back) and, for
    a shaped host, put its tbf back as labctl's `shape` sets it."""
    cmds = [["tc", "qdisc", "del", "dev", dev, "root"]]
    if rate:
        burst = max(rate_bytes(rate) // 250, 4096)  # labctl's rule: ~4 ms, a few MTUs
        cmds.append(["tc", "qdisc", "replace", "dev", dev, "root", "tbf", "rate", rate,
                     "burst", str(burst), "latency", "50ms"])
    return cmds


_UNITS = {"bit": 1, "kbit": 10**3, "mbit": 10**6, "gbit": 10**9}


def rate_bytes(rate: str) -> int:
    """Bytes per second of a tc rate (`100mbit`), as labctl reads inventory `link_rate`."""
    text = rate.strip().lower()
    for unit in sorted(_UNITS, key=len, reverse=True):
        if text.endswith(unit) and text[:-len(unit)].replace(".", "", 1).isdigit():
            return int(float(text[:-len(unit)]) * _UNITS[unit] / 8)
    raise ValueError(f"bad link rate {rate!r} (use e.g. 100mbit, 500kbit, 1gbit)")


def shell(cmds: list[list[str]], sudo: str = "") -> str:
    """One shell line that runs every command in order and stops at the first failure."""
    return " && ".join(sudo + shlex.join(c) for c in cmds)


def probe(host) -> Verdict:  # host: harness.inventory.Host
    """Run the probe on `host` over SSH and read it."""
    from harness.cluster import _sudo, connect

    with connect(host) as c:
        res = c.run(_sudo(host) + shlex.join(PROBE), hide=True, warn=True, timeout=20)
    return netem_available(res.exited, f"{res.stdout}{res.stderr}")


def apply(host, peers: list[tuple[str, Link]], dev: str = DEFAULT_DEV,
          rate: str = "") -> None:
    """Install the link classes on `host`; RuntimeError with tc's words when it fails."""
    _run(host, link_commands(peers, dev, rate), "apply netem")


def clear(host, dev: str = DEFAULT_DEV, rate: str = "") -> None:
    _run(host, clear_commands(dev, rate), "remove netem")


def _run(host, cmds: list[list[str]], what: str) -> None:
    from harness.cluster import _sudo, connect

    with connect(host) as c:
        res = c.run(shell(cmds, _sudo(host)), hide=True, warn=True, timeout=30)
    if res.exited != 0:
        raise RuntimeError(f"{host.name}: cannot {what}: {(res.stderr or res.stdout).strip()}")
