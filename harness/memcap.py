"""A lab host's RAM: one cgroup v1 memory limit per emulated Pi (`fab experiment
--enforce-memory[=MB]`).

An emulated Pi shares the controller's RAM, so a model too big for a 1 GB Pi 3B runs in the
lab as if it fitted. With `--enforce-memory` each lab host of the run is capped at its
device profile's `ram_mb` (or at MB for every host), so an oversized stage fails as it
would on the Pi: the kernel's OOM killer ends the node, and the run reports it.

The cgroups are the lab's: `labctl sshds` (the lab role) creates
/sys/fs/cgroup/memory/<namespace> (`dnnlab-pi1`) for every lab host and puts the host's sshd
in it, so everything started on that host over SSH (node_app, a Locust client) is charged
there; `labctl down` removes them. Without a limit a cgroup only counts (its limit at the
maximum). The harness, on the controller where the lab lives, sets each run's limits
before the nodes start, reads what happened afterwards (`memory.json` in the run
directory: peak usage, how often the limit was hit, OOM kills) and puts every limit back
to the maximum after the run, also when it failed or was interrupted. A run without the
option resets them too, so a limit left by a run that was killed outright never caps the
next one.

Real Pis have their own RAM: the option is refused for them (a limit there would emulate
nothing). The usage counted is the whole host's (sshd and its sessions, page cache the
host read), as a Pi's RAM holds all of that too.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import SpecError
from harness.inventory import Host

MEMCG_ROOT = Path("/sys/fs/cgroup/memory")
# A lab host's cgroup is named as its namespace: the lab role's `lab_ns_prefix` + host name.
CGROUP_PREFIX = "dnnlab-"
MEMORY_FILE = "memory.json"
MB = 1 << 20  # a profile's ram_mb is in MiB (node_app/profile.py)
FIELD = "enforce_memory"


def cgroup_path(host: str, root: Path = MEMCG_ROOT) -> Path:
    return Path(root) / f"{CGROUP_PREFIX}{host}"


@dataclass(frozen=True)
class MemCgroup:
    """One cgroup v1 memory controller directory, read and written through its files."""

    path: Path

    def exists(self) -> bool:
        return (self.path / "memory.limit_in_bytes").is_file()

    def _read(self, name: str) -> str:
        return (self.path / name).read_text()

    def _write(self, name: str, value: str) -> None:
        # One write() per value, as the kernel expects (a buffered writer may split it).
        fd = os.open(self.path / name, os.O_WRONLY)
        try:
            os.write(fd, value.encode())
        finally:
            os.close(fd)

    def set_limit(self, nbytes: int) -> None:
        """Cap the cgroup. The kernel first reclaims page cache to get under a limit below
        the usage; EBUSY when it cannot (the processes in it hold more)."""
        self._write("memory.limit_in_bytes", str(int(nbytes)))

    def unlimit(self) -> None:
        self._write("memory.limit_in_bytes", "-1")

    def limit_bytes(self) -> int:
        return int(self._read("memory.limit_in_bytes"))

    def reset_counters(self) -> None:
        """Peak usage back to the current usage, failcnt to 0 (the OOM kill count cannot be
        reset: callers keep its value at the start and subtract it)."""
        self._write("memory.max_usage_in_bytes", "0")
        self._write("memory.failcnt", "0")

    def oom_kills(self) -> int:
        """Processes of this cgroup the OOM killer has ended (memory.oom_control oom_kill;
        0 on kernels that do not report it)."""
        for line in self._read("memory.oom_control").splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0

    def counters(self) -> dict[str, int]:
        return {"limit_bytes": self.limit_bytes(),
                "usage_bytes": int(self._read("memory.usage_in_bytes")),
                "max_usage_bytes": int(self._read("memory.max_usage_in_bytes")),
                "failcnt": int(self._read("memory.failcnt")),
                "oom_kills": self.oom_kills()}

    def procs(self) -> list[int]:
        return [int(p) for p in self._read("cgroup.procs").split()]


def cap_plan(enforce: str, cap_mb: int | None, hosts: Iterable[Host],
             profiles: Mapping[str, Any]) -> dict[str, int]:
    """Each host's cap in MB under `--enforce-memory` (`enforce` as RunSpec.enforce_memory,
    `cap_mb` its number or None for the profile's RAM); {} without it. Refused before
    anything starts: a real Pi (its RAM is real), a host whose profile states no `ram_mb`
    when no number was given."""
    if not enforce:
        return {}
    hosts = list(hosts)
    real = [h.name for h in hosts if not h.emulated]
    if real:
        one = len(real) == 1
        raise SpecError(FIELD, f"caps emulated lab hosts; {', '.join(real)} "
                        f"{'is a real device' if one else 'are real devices'} with RAM of "
                        f"{'its' if one else 'their'} own, which is the limit there: leave "
                        "the option out (docs/lab.md, Memory)")
    boxed = [f"{h.name} (on {h.lab_box})" for h in hosts if h.lab_box]
    if boxed:
        raise SpecError(FIELD, f"caps lab hosts of this machine; {', '.join(boxed)} "
                        "run on another lab box, whose memory cgroups the controller does not "
                        "manage: leave the option out, or place them on the controller "
                        "(docs/lab.md, A lab across boxes)")
    caps: dict[str, int] = {}
    for h in hosts:
        if cap_mb is not None:
            caps[h.name] = cap_mb
            continue
        entry = profiles.get(h.profile) or {}
        ram = entry.get("ram_mb") if isinstance(entry, dict) else None
        if not ram:
            raise SpecError(FIELD, f"host {h.name}'s profile {h.profile!r} states no RAM "
                            "(ram_mb), so there is nothing to cap it at; use a profile "
                            "with ram_mb or give the cap: --enforce-memory=MB")
        caps[h.name] = int(ram)
    return caps


@dataclass
class HostState:
    """What memory.json records per host: the cap (None = no limit) and the counters."""

    cap_mb: int | None
    oom_kills_before: int = 0
    counters: dict[str, int] = field(default_factory=dict)

    @property
    def oom_kills(self) -> int:
        return max(0, int(self.counters.get("oom_kills", 0)) - self.oom_kills_before)


class RunCaps:
    """The memory cgroups of one run's lab hosts: `check` before anything starts, `apply`
    before the nodes start, `finish` (always) after they stopped."""

    def __init__(self, hosts: Iterable[Host], caps: Mapping[str, int],
                 root: Path = MEMCG_ROOT) -> None:
        self.caps = dict(caps)
        self.cgroups = {h.name: MemCgroup(cgroup_path(h.name, root))
                        for h in hosts if h.emulated}
        self.state: dict[str, HostState] = {}

    @property
    def enforced(self) -> bool:
        return bool(self.caps)

    def check(self) -> None:
        """Every capped host has its cgroup, with the host's sshd in it (so node_app will
        be too): else the lab predates it or was not brought up by this code."""
        for name in self.caps:
            cg = self.cgroups[name]
            if not cg.exists():
                raise SpecError(FIELD, f"{name} has no memory cgroup ({cg.path}); bring the "
                                "lab up again (`fab lab-up`: labctl creates one per host) on a "
                                "machine with the cgroup v1 memory controller")
            if not cg.procs():
                raise SpecError(FIELD, f"{name}'s memory cgroup {cg.path} holds no process: "
                                "its sshd is not in it; `fab lab-up` puts it there")

    def apply(self) -> None:
        """Cap every capped host, take every other lab host's limit off, and start the
        counters afresh. A failure names the host and leaves the rest to `finish`."""
        for name, cg in self.cgroups.items():
            if not cg.exists():
                continue
            cap = self.caps.get(name)
            try:
                if cap is None:
                    cg.unlimit()
                else:
                    cg.set_limit(cap * MB)
                cg.reset_counters()
                self.state[name] = HostState(cap, oom_kills_before=cg.oom_kills())
            except OSError as exc:
                raise RuntimeError(f"cannot {'cap ' if cap else 'reset '}{name}'s memory "
                                   f"({cg.path}{f' at {cap} MB' if cap else ''}): {exc}; it "
                                   f"holds {cg.counters()['usage_bytes'] // MB} MB now"
                                   ) from exc

    def oom_killed(self, name: str) -> bool:
        """Has the OOM killer ended a process of this host's cgroup since `apply`?"""
        state, cg = self.state.get(name), self.cgroups.get(name)
        if state is None or cg is None:
            return False
        try:
            return cg.oom_kills() > state.oom_kills_before
        except OSError:
            return False

    def finish(self, run_dir: Path | None = None) -> dict[str, Any]:
        """Read each host's counters, write memory.json, take every limit off (each host
        even when another fails). The document written, {} when no host has a cgroup."""
        errors = []
        for name, state in self.state.items():
            cg = self.cgroups[name]
            try:
                state.counters = cg.counters()
            except OSError as exc:
                errors.append(f"{name}: cannot read its counters: {exc}")
            try:
                cg.unlimit()
            except OSError as exc:
                errors.append(f"{name}: limit not reset: {exc}")
        doc = self.document()
        if errors:
            doc["errors"] = errors
        if run_dir is not None and self.state:
            (Path(run_dir) / MEMORY_FILE).write_text(json.dumps(doc, indent=2))
        return doc

    def document(self) -> dict[str, Any]:
        return {"enforced": self.enforced,
                "hosts": {n: {**asdict(s), "oom_kills": s.oom_kills}
                          for n, s in self.state.items()}}


def start_tolerance(caps: RunCaps) -> Callable[[str], bool]:
    """For cluster.start_nodes: a node whose start failed because the OOM killer ended it
    under an enforced cap is the result being measured, not a broken run."""
    return lambda name: caps.enforced and caps.oom_killed(name)


def load(run_dir: Path) -> dict[str, Any]:
    """memory.json of a run, {} without one (no lab cgroups, or an older run)."""
    try:
        data = json.loads((Path(run_dir) / MEMORY_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def oom_reason(host: Mapping[str, Any]) -> str | None:
    """The words the summary and the report give a host whose processes the OOM killer
    ended (memory.json `hosts[name]`), None otherwise."""
    if not host or not host.get("oom_kills"):
        return None
    cap = host.get("cap_mb")
    at = f"at the {cap} MB cap" if cap else "with no cap set (the machine ran out of memory)"
    return f"killed by the kernel's OOM killer {at}"
