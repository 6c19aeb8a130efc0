"""What a fault is and how it is written: `kill:pi2@20s`, `stall:pi2@20s:5s`, `link:...`,
`slow:pi2@20s:x3`.

Pure parsing, apart from the injector (harness/faults.py, which needs SSH), so a spec is
checked without Fabric installed and without touching a node.

    kill:<host>@<t>s              SIGKILL the node's server (no graceful trace flush)
    stall:<host>@<t>s:<d>s        SIGSTOP it, SIGCONT after d seconds
    link:<host>@<t>s:<rate>       shape the host's link to <rate> until the end
    slow:<host>@<t>s:x<F>         the node's profile times multiplied by F from then on
                                  (run.json slow_factor, applied on SIGUSR1; issue 13)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.errors import SpecError

_FAULT = re.compile(
    r"^(?P<kind>kill|stall|link|slow):(?P<host>[A-Za-z0-9_.-]+)@(?P<at>\d+(?:\.\d+)?)s"
    r"(?::(?P<arg>[0-9.]+(?:s|[kmg]?bit)|x[0-9.]+))?$"
)
_RATE = re.compile(r"^\d+(?:\.\d+)?[kmg]?bit$")


@dataclass(frozen=True)
class Fault:
    """One fault.

    kind: kill | stall | link | slow.
    host: inventory host it hits.
    at_s: seconds after the load starts.
    duration_s: stall length (stall only).
    rate: link rate for tc, e.g. "1mbit" (link only).
    factor: F of slow: the node's profile times are multiplied by it (slow only).
    """

    kind: str
    host: str
    at_s: float
    duration_s: float | None = None
    rate: str | None = None
    factor: float | None = None


def parse_fault(text: str) -> Fault:
    """`kill:pi2@20s`, `stall:pi2@20s:5s`, `link:pi2@20s:1mbit` -> Fault; else SpecError."""
    m = _FAULT.match(text.strip())
    if not m:
        raise SpecError("fault", f"cannot read {text!r}; use kill:HOST@20s, "
                        "stall:HOST@20s:5s, link:HOST@20s:1mbit or slow:HOST@20s:x3")
    kind, arg = m["kind"], m["arg"]
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
