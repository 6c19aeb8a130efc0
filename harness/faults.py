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
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from dataclasses import asdict
from pathlib import Path

from harness.cluster import CTL, connect
from harness.errors import SpecError
from harness.fault_spec import Fault
from harness.inventory import Host


class FaultInjector:
    """Carries out faults on a timer thread while the load runs; undoes link shaping at stop."""

    def __init__(self, faults: list[Fault], hosts: dict[str, Host], record: Path) -> None:
        missing = [f.host for f in faults if f.host not in hosts]
        if missing:
            raise SpecError("fault", f"host(s) not in this run: {', '.join(missing)} "
                            f"(run hosts: {', '.join(hosts)})")
        self.faults = faults
        self.hosts = hosts
        self.record = record
        self.events: list[dict] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._shaped: list[Host] = []

    def start(self) -> None:
        if not self.faults:
            return
        self._t0 = time.time()
        self._thread = threading.Thread(target=self._run, name="faults", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop waiting for faults, resume stalled nodes, remove shaping, write faults.json."""
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=30)
        for host in self._shaped:
            self._unshape(host)
        if self.faults:
            self.record.write_text(json.dumps(
                {"faults": [asdict(f) for f in self.faults], "windows": self.events}, indent=2))

    def _run(self) -> None:
        for fault in sorted(self.faults, key=lambda f: f.at_s):
            if self._stop.wait(max(0.0, self._t0 + fault.at_s - time.time())):
                return
            window = {"kind": fault.kind, "host": fault.host, "start": time.time(), "end": None,
                      "ok": True, "detail": ""}
            try:
                self._apply(fault, window)
            except Exception as exc:  # noqa: BLE001 - reported in the run, never fatal to it
                window["ok"], window["detail"] = False, f"{type(exc).__name__}: {exc}"
            self.events.append(window)

    def _apply(self, fault: Fault, window: dict) -> None:
        host = self.hosts[fault.host]
        if fault.kind == "kill":
            self._signal(host, "KILL")
        elif fault.kind == "slow":
            self._signal(host, "USR1")
        elif fault.kind == "stall":
            self._signal(host, "STOP")
            try:
                self._stop.wait(fault.duration_s or 0)
            finally:
                self._signal(host, "CONT")
                window["end"] = time.time()
        else:
            self._shape(host, fault.rate or "1mbit")
            self._shaped.append(host)

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
        if host.emulated:  # the controller-side veth shapes traffic toward the lab host
            subprocess.run(["tc", *command.replace("dev eth0", f"dev vl-{host.name}").split()],
                           capture_output=True, timeout=15)

    def _shape(self, host: Host, rate: str) -> None:
        self._tc(host, f"qdisc replace dev eth0 root tbf rate {rate} burst 32kbit latency 400ms")

    def _unshape(self, host: Host) -> None:
        self._tc(host, "qdisc del dev eth0 root")
        for w in self.events:
            if w["host"] == host.name and w["kind"] == "link" and w["end"] is None:
                w["end"] = time.time()
