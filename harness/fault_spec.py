"""What a fault is and how it is written: `kill:pi2@20s`, `stall:pi2@20s:5s`, `link:...`,
`slow:pi2@20s:x3`, `partition:pi1+pi2@10s:5s`.

Pure parsing, apart from the injector (harness/faults.py, which needs SSH), so a spec is
checked without Fabric installed and without touching a node.

    kill:<host>@<t>s              SIGKILL the node's server (no graceful trace flush)
    stall:<host>@<t>s:<d>s        SIGSTOP it, SIGCONT after d seconds
    link:<host>@<t>s:<rate>       shape the host's link to <rate> until the end
    slow:<host>@<t>s:x<F>         the node's profile times multiplied by F from then on
                                  (run.json slow_factor, applied on SIGUSR1; issue 13)
    partition:<a>+<b>@<t>s[:<d>s] no traffic between hosts a and b, both ways, for d seconds
                                  (without d: until the run ends); healed at the end either way

A set of faults is checked as a whole too (`check_faults`): one `slow` per host (a node holds
one slow_factor, so a second would silently repeat the first), and partitions of one pair of
hosts that do not overlap (healing the first would end the second early).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from harness.errors import SpecError

_FAULT = re.compile(
    r"^(?P<kind>kill|stall|link|slow|partition):(?P<host>[A-Za-z0-9_.-]+)"
    r"(?:\+(?P<peer>[A-Za-z0-9_.-]+))?@(?P<at>\d+(?:\.\d+)?)s"
    r"(?::(?P<arg>[0-9.]+(?:s|[kmg]?bit)|x[0-9.]+))?$"
)
_RATE = re.compile(r"^\d+(?:\.\d+)?[kmg]?bit$")


@dataclass(frozen=True)
class Fault:
    """One fault.

    kind: kill | stall | link | slow | partition.
    host: inventory host it hits (partition: the first of the two).
    at_s: seconds after the load starts.
    duration_s: stall length (stall), partition length (partition; None = until the end).
    rate: link rate for tc, e.g. "1mbit" (link only).
    factor: F of slow: the node's profile times are multiplied by it (slow only).
    """

    kind: str
    host: str
    at_s: float
    duration_s: float | None = None
    rate: str | None = None
    factor: float | None = None
    peer: str | None = None  # partition: the other host

    @property
    def hosts(self) -> tuple[str, ...]:
        """Every host the fault touches (a partition: both)."""
        return (self.host, self.peer) if self.peer else (self.host,)

    @property
    def end_s(self) -> float:
        """When the fault ends, seconds after the load starts (inf: at the end of the run)."""
        return self.at_s + self.duration_s if self.duration_s is not None else math.inf

    def text(self) -> str:
        """The fault as written (`partition:pi1+pi2@10s:5s`)."""
        head = f"{self.kind}:{'+'.join(self.hosts)}@{_plain(self.at_s)}s"
        if self.kind in ("stall", "partition") and self.duration_s is not None:
            return f"{head}:{_plain(self.duration_s)}s"
        if self.kind == "link":
            return f"{head}:{self.rate}"
        if self.kind == "slow":
            return f"{head}:x{_plain(self.factor or 1.0)}"
        return head


def _plain(seconds: float) -> str:
    """A number as the syntax reads it: digits and a point, never `1e-05`."""
    return f"{seconds:.6f}".rstrip("0").rstrip(".")


def check_faults(texts: list[str]) -> list[Fault]:
    """Parse every fault and check them together: one `slow` per host, and no two
    partitions of the same pair at once. SpecError("fault", ...) names both faults."""
    faults = [parse_fault(t) for t in texts]
    slow: dict[str, Fault] = {}
    for f in faults:
        if f.kind != "slow":
            continue
        if f.host in slow:
            raise SpecError("fault", f"{slow[f.host].text()} and {f.text()} both slow "
                            f"{f.host}: a node takes one slow factor a run (its run.json "
                            "slow_factor); give the one it should end at")
        slow[f.host] = f
    parts = sorted((f for f in faults if f.kind == "partition"), key=lambda f: f.at_s)
    for i, f in enumerate(parts):
        for g in parts[i + 1:]:
            if set(f.hosts) == set(g.hosts) and g.at_s < f.end_s:
                raise SpecError("fault", f"{f.text()} and {g.text()} partition "
                                f"{' and '.join(f.hosts)} at the same time; healing one "
                                "would end the other")
    return faults


def parse_fault(text: str) -> Fault:
    """`kill:pi2@20s`, `stall:pi2@20s:5s`, `link:pi2@20s:1mbit` -> Fault; else SpecError."""
    m = _FAULT.match(text.strip())
    if not m:
        raise SpecError("fault", f"cannot read {text!r}; use kill:HOST@20s, "
                        "stall:HOST@20s:5s, link:HOST@20s:1mbit, slow:HOST@20s:x3 or "
                        "partition:HOST+HOST@20s:5s")
    kind, arg = m["kind"], m["arg"]
    if kind == "partition":
        return _partition(text, m)
    if m["peer"]:
        raise SpecError("fault", f"{text!r}: only partition names two hosts (HOST+HOST)")
    if kind == "slow":
        try:
            factor = float(arg[1:]) if arg and arg.startswith("x") else 0.0
        except ValueError:
            factor = 0.0
        if not 1.0 <= factor <= 1000.0:
            raise SpecError("fault", f"{text!r}: slow needs a factor in [1, 1000], e.g. "
                            "slow:pi2@20s:x3")
        return Fault(kind, m["host"], float(m["at"]), factor=factor)
    if arg and arg.startswith("x"):
        raise SpecError("fault", f"{text!r}: only slow takes a factor (x<F>)")
    if kind == "kill":
        if arg:
            raise SpecError("fault", f"{text!r}: kill takes no argument after the time")
        return Fault(kind, m["host"], float(m["at"]))
    if kind == "stall":
        if not arg or not arg.endswith("s") or arg.endswith("bit"):
            raise SpecError("fault", f"{text!r}: stall needs a duration, e.g. stall:pi2@20s:5s")
        return Fault(kind, m["host"], float(m["at"]), duration_s=float(arg[:-1]))
    if not arg or not _RATE.match(arg):
        raise SpecError("fault", f"{text!r}: link needs a rate, e.g. link:pi2@20s:1mbit")
    return Fault(kind, m["host"], float(m["at"]), rate=arg)


def _partition(text: str, m: re.Match[str]) -> Fault:
    host, peer, arg = m["host"], m["peer"], m["arg"]
    if not peer:
        raise SpecError("fault", f"{text!r}: partition cuts two hosts apart, e.g. "
                        "partition:pi1+pi2@10s:5s")
    if peer == host:
        raise SpecError("fault", f"{text!r}: partition needs two different hosts")
    if arg and (not arg.endswith("s") or arg.endswith("bit")):
        raise SpecError("fault", f"{text!r}: partition takes a duration (10s) or nothing "
                        "(until the end), e.g. partition:pi1+pi2@10s:5s")
    duration = float(arg[:-1]) if arg else None
    if duration is not None and not duration > 0:
        raise SpecError("fault", f"{text!r}: a partition's duration must be > 0 s")
    return Fault("partition", host, float(m["at"]), duration_s=duration, peer=peer)
