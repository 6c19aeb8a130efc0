"""Faults injected during a run: `fab experiment ... --fault=kill:pi2@20s`.

A testbed must show what a node failure does to the numbers, not only that the run
survives it. Each fault is carried out over the same SSH path as everything else,
at a time relative to the start of the load, and its real start and end times are
recorded in the run directory (`faults.json`) so every report can shade the window.

    kill:<host>@<t>s              SIGKILL the node's server (no graceful trace flush)
    stall:<host>@<t>s:<d>s        SIGSTOP it, SIGCONT after d seconds
    link:<host>@<t>s:<rate>       shape the host's link to <rate> (tc tbf, both directions
                                  in the lab; the node's egress on a real Pi) until the end
    slow:<host>@<t>s:x<F>         SIGUSR1: the node multiplies its profile times by F (its
                                  run.json slow_factor, written by harness/experiment.py)
                                  until the end; a device that slows down (thermal
                                  throttling, another load), which an adaptive split absorbs
    partition:<a>+<b>@<t>s[:<d>s] no traffic between a and b, both ways: on each of the two
                                  (over SSH, as for `link`) `ip route replace prohibit
                                  <other's address>/32`, deleted to heal after d seconds, or
                                  at the end of the run without d. No firewall: the lab has
                                  none (LAB-NOTES.md), and a route is undone by deleting it.
                                  Only lab addresses (198.18.0.0/15) are ever cut; real Pis:
                                  docs/experiments.md says what it would take.

Timed undo steps (a stall's SIGCONT, a partition's heal) are events on the same timeline as
the faults, so a 5 s stall does not hold back a kill due 1 s into it; whatever is still to be
undone when the run stops is undone then (a stalled node resumed, a partition healed).
"""

from __future__ import annotations

import heapq
import ipaddress
import json
import math
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness.cluster import CTL, connect
from harness.errors import SpecError
from harness.fault_spec import Fault
from harness.inventory import Host
from harness.lab_inventory import BENCHMARK_RANGE


@dataclass(order=True)
class _Step:
    """One thing to do at `at_s` (seconds after the start; inf = never by itself): apply a
    fault, or undo one (`undo`: also run at stop when its time has not come)."""

    at_s: float
    seq: int
    run: Callable[[], None] = field(compare=False)
    undo: bool = field(default=False, compare=False)


class Timeline:
    """Steps run in time order on one thread, each at its time after start(); a step may add
    later ones (a fault its undo). stop() ends the waiting and runs every undo step still to
    come, in time order, so nothing a fault did outlives the run. Steps must not raise."""

    def __init__(self) -> None:
        self._steps: list[_Step] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._seq = 0
        self.t0 = 0.0

    def add(self, at_s: float, run: Callable[[], None], undo: bool = False) -> None:
        with self._lock:
            self._seq += 1
            heapq.heappush(self._steps, _Step(at_s, self._seq, run, undo))

    def start(self) -> None:
        self.t0 = time.time()
        self._thread = threading.Thread(target=self._run, name="faults", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        """Is the timeline's thread still there (waiting for a step, or running one)?"""
        return self._thread is not None and self._thread.is_alive()

    def stop(self, join_s: float = 30.0) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=join_s)
        with self._lock:
            pending = sorted(s for s in self._steps if s.undo)
            self._steps = []
        for step in pending:
            step.run()

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._steps:
                    return
                step = self._steps[0]
            delay = None if math.isinf(step.at_s) else max(0.0, self.t0 + step.at_s - time.time())
            if self._stop.wait(delay):
                return
            with self._lock:
                if not self._steps or self._steps[0] is not step:
                    continue
                heapq.heappop(self._steps)
            step.run()


def partition_routes(fault: Fault, hosts: dict[str, Host]) -> list[tuple[Host, str]]:
    """(host to run it on, address to prohibit there) for both sides of a partition. Refuses
    (SpecError) an address outside 198.18.0.0/15: a route that cuts the controller off, or a
    real network, is never written."""
    pair = [hosts[name] for name in fault.hosts]
    for h in pair:
        try:
            inside = ipaddress.ip_address(h.address) in BENCHMARK_RANGE
        except ValueError:
            inside = False
        if not inside:
            raise SpecError("fault", f"{fault.text()}: {h.name}'s address {h.address} is not "
                            f"in {BENCHMARK_RANGE}; a partition cuts only lab addresses (real "
                            "Pis: docs/experiments.md, Partitions)")
    a, b = pair
    return [(a, f"{b.address}/32"), (b, f"{a.address}/32")]


def route_command(host: Host, verb: str, target: str) -> str:
    """`ip route replace|del prohibit <target>`, with sudo -n for a non-root user."""
    sudo = "" if host.user == "root" else "sudo -n "
    return f"{sudo}ip route {verb} prohibit {target}"


class FaultInjector:
    """Carries out faults on a timer thread while the load runs; at stop, undoes what is
    still in force (resumes a stalled node, heals a partition, removes link shaping)."""

    def __init__(self, faults: list[Fault], hosts: dict[str, Host], record: Path) -> None:
        missing = sorted({h for f in faults for h in f.hosts if h not in hosts})
        if missing:
            raise SpecError("fault", f"host(s) not in this run: {', '.join(missing)} "
                            f"(run hosts: {', '.join(hosts)})")
        self.faults = faults
        self.hosts = hosts
        self.record = record
        self.events: list[dict] = []
        self._routes = {f: partition_routes(f, hosts) for f in faults if f.kind == "partition"}
        self._timeline = Timeline()
        self._shaped: list[Host] = []

    def start(self) -> None:
        if not self.faults:
            return
        for fault in sorted(self.faults, key=lambda f: f.at_s):
            self._timeline.add(fault.at_s, lambda f=fault: self._begin(f))
        self._timeline.start()

    def stop(self) -> None:
        """Stop waiting for faults, undo what is in force, write faults.json."""
        self._timeline.stop()
        for host in self._shaped:
            self._unshape(host)
        if self.faults:
            self.record.write_text(json.dumps(
                {"faults": [asdict(f) for f in self.faults], "windows": self.events}, indent=2))

    def _begin(self, fault: Fault) -> None:
        window = {"kind": fault.kind, "host": "+".join(fault.hosts), "start": time.time(),
                  "end": None, "ok": True, "detail": ""}
        self.events.append(window)
        try:
            self._apply(fault, window)
        except Exception as exc:  # noqa: BLE001 - reported in the run, never fatal to it
            window["ok"], window["detail"] = False, f"{type(exc).__name__}: {exc}"

    def _apply(self, fault: Fault, window: dict) -> None:
        host = self.hosts[fault.host]
        if fault.kind == "kill":
            self._signal(host, "KILL")
        elif fault.kind == "slow":
            self._signal(host, "USR1")
        elif fault.kind == "stall":
            self._timeline.add(fault.end_s, lambda: self._end(
                window, lambda: self._signal(host, "CONT")), undo=True)
            self._signal(host, "STOP")
        elif fault.kind == "partition":
            routes = self._routes[fault]
            window["detail"] = "; ".join(f"prohibit {t} on {h.name}" for h, t in routes)
            # The heal is queued first: a side cut before the other failed is healed too.
            self._timeline.add(fault.end_s, lambda: self._end(
                window, lambda: self._heal(routes)), undo=True)
            for h, target in routes:
                self._ssh(h, route_command(h, "replace", target))
        else:
            self._shape(host, fault.rate or "1mbit")
            self._shaped.append(host)
            if host.emulated and host.lab_box:
                window["detail"] = (f"{host.name}'s sending only: its veth is on lab box "
                                    f"{host.lab_box}, out of the controller's reach")

    @staticmethod
    def _end(window: dict, undo: Callable[[], None]) -> None:
        """Undo a fault and close its window (its end is when the undo was done). A failed
        undo is written in the window, never raised: the run and the other undos go on."""
        try:
            undo()
        except Exception as exc:  # noqa: BLE001 - reported in the run, never fatal to it
            window["ok"] = False
            window["detail"] = (f"{window['detail']}; " if window["detail"] else "") + \
                f"undo failed: {type(exc).__name__}: {exc}"
        window["end"] = time.time()

    def _heal(self, routes: list[tuple[Host, str]]) -> None:
        """Delete both prohibit routes; a side that fails does not keep the other cut."""
        failed = []
        for h, target in routes:
            try:
                self._ssh(h, route_command(h, "del", target), warn=True)
            except Exception as exc:  # noqa: BLE001 - the other side is still healed
                failed.append(f"{h.name}: {type(exc).__name__}: {exc}")
        if failed:
            raise RuntimeError("heal failed on " + "; ".join(failed))

    @staticmethod
    def _ssh(host: Host, command: str, warn: bool = False) -> None:
        with connect(host) as c:
            c.run(command, hide=True, warn=warn, timeout=15)

    @staticmethod
    def _signal(host: Host, sig: str) -> None:
        sudo = "" if host.user == "root" else "sudo -n "
        with connect(host) as c:
            c.run(f"{sudo}{CTL} signal {sig}", hide=True, timeout=15)

    @staticmethod
    def _tc(host: Host, command: str) -> None:
        sudo = "" if host.user == "root" else "sudo -n "
        with connect(host) as c:
            c.run(f"{sudo}tc {command}", hide=True, warn=True, timeout=15)
        # The controller-side veth shapes traffic toward a lab host on this machine; a host on
        # a lab box has its veth on the box: only its own sending is shaped (docs/lab.md).
        if host.local_lab_host:
            subprocess.run(["tc", *command.replace("dev eth0", f"dev vl-{host.name}").split()],
                           capture_output=True, timeout=15)

    def _shape(self, host: Host, rate: str) -> None:
        self._tc(host, f"qdisc replace dev eth0 root tbf rate {rate} burst 32kbit latency 400ms")

    def _unshape(self, host: Host) -> None:
        self._tc(host, "qdisc del dev eth0 root")
        for w in self.events:
            if w["host"] == host.name and w["kind"] == "link" and w["end"] is None:
                w["end"] = time.time()
