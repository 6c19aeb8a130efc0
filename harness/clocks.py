"""Clocks across hosts: how far each host's clock is from the controller's, measured.

Every node stamps its trace with its own clock (time.time(), node_app/trace.py); the sink
and a local load client use the controller's. On real Pis those clocks disagree by
milliseconds or more (NTP on a Pi without an RTC may not even have synced yet), and any
interval between two hosts' stamps (a hop, the end-to-end latency with a remote client)
carries that error. So at the start and end of every run the controller does an NTP-style
exchange with each host:

    t0 = controller time, request sent; t1 = the host's clock; t2 = controller time, reply in
    offset = t1 - (t0 + t2) / 2        uncertainty = (t2 - t0) / 2

The host's reading t1 was taken somewhere between t0 and t2 (controller time), so the true
offset lies within +-uncertainty of the estimate however asymmetric the path; of N samples
the one with the smallest round trip gives the tightest bound. Nodes answer GET /clock (their
trace clock, node.json clock_offset_s included); a load client on a lab host, which runs no
server, is read over SSH (`date +%s.%N`: a far wider bound, reported as it is).

The result is runs/<id>/clocks.json; harness/analysis/clocks.py converts the stamps to the
controller's clock with it and summary.json carries the figures (docs/results.md).
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from node_app.config import parse_hostport

SAMPLES = 8  # exchanges per host and occasion; the minimum-round-trip one is kept
SSH_SAMPLES = 4

Sample = tuple[float, float, float]  # (t0, t1, t2): controller send, host clock, controller receive


def estimate(samples: Iterable[Sample]) -> dict:
    """Offset and uncertainty (ms) from the minimum-round-trip sample; `at` is the controller
    time the estimate refers to (the midpoint of that sample's round trip)."""
    samples = list(samples)
    if not samples:
        raise ValueError("no clock samples")
    t0, t1, t2 = min(samples, key=lambda s: s[2] - s[0])
    mid = (t0 + t2) / 2.0
    return {"offset_ms": round((t1 - mid) * 1000.0, 4),
            "uncertainty_ms": round((t2 - t0) * 500.0, 4),
            "rtt_ms": round((t2 - t0) * 1000.0, 4),
            "at": round(mid, 6), "samples": len(samples)}


def exchange(endpoint: str, n: int = SAMPLES, timeout_s: float = 1.0,
             clock: Callable[[], float] = time.time) -> dict:
    """N exchanges with a node's GET /clock over one keep-alive connection (the TCP
    handshake is not in any sample); raises OSError/ValueError when the node does not answer."""
    host, port = parse_hostport(endpoint)
    conn = http.client.HTTPConnection(host, port, timeout=timeout_s)
    samples: list[Sample] = []
    try:
        conn.connect()
        for _ in range(n):
            t0 = clock()
            conn.request("GET", "/clock")
            resp = conn.getresponse()
            body = resp.read()
            t2 = clock()
            if resp.status != 200:
                raise OSError(f"{endpoint}/clock: HTTP {resp.status} {body[:200]!r}")
            samples.append((t0, float(json.loads(body)["t"]), t2))
    finally:
        conn.close()
    return estimate(samples)


def ssh_exchange(host, n: int = SSH_SAMPLES, clock: Callable[[], float] = time.time) -> dict:
    """The same exchange with a host that runs no node (a remote load client) over SSH:
    `date +%s.%N` on one connection. The round trip is an SSH command's, milliseconds."""
    from harness.cluster import connect

    samples: list[Sample] = []
    with connect(host) as c:
        c.run("true", hide=True, timeout=10)  # open the session outside the samples
        for _ in range(n):
            t0 = clock()
            res = c.run("date +%s.%N", hide=True, timeout=10)
            t2 = clock()
            samples.append((t0, float(res.stdout.strip()), t2))
    return {**estimate(samples), "via": "ssh"}


class ClockLog:
    """The run's clock measurements: `measure("start"|"end", ...)`, then `write()`."""

    def __init__(self, nodes: dict[str, str], client=None, samples: int = SAMPLES,
                 clients: list | None = None) -> None:
        self.nodes = dict(nodes)  # node name -> endpoint
        self.client = client  # None (load client on the controller) or its inventory Host
        self.clients = list(clients or [])  # `--clients`: the workers' inventory Hosts
        self.samples = samples
        self.doc: dict = {
            "reference": "controller (sink and a local load client use its clock: offset 0)",
            "method": "NTP-style: offset = t1 - (t0 + t2) / 2 of the minimum-RTT sample, "
                      "uncertainty = (t2 - t0) / 2",
            "samples": samples,
            "hosts": {name: {"endpoint": ep} for name, ep in self.nodes.items()},
        }
        if client is not None:
            self.doc["client"] = {"host": client.name, "address": client.address}
        if self.clients:  # by worker name, the `worker` column of client.csv
            self.doc["clients"] = {h.name: {"host": h.name, "address": h.address}
                                   for h in self.clients}

    def measure(self, when: str, exchange_fn=exchange, ssh_fn=ssh_exchange) -> None:
        """Measure every node (and a remote client) now; a host that fails gets an `error`
        instead of a figure and the run goes on (its intervals stay uncorrected)."""
        for name, ep in self.nodes.items():
            try:
                self.doc["hosts"][name][when] = exchange_fn(ep, self.samples)
            except (OSError, ValueError, KeyError) as e:
                self.doc["hosts"][name][when] = {"error": f"{type(e).__name__}: {e}"}
        if self.client is not None:
            try:
                self.doc["client"][when] = ssh_fn(self.client)
            except Exception as e:  # noqa: BLE001 - SSH failures are many kinds; recorded
                self.doc["client"][when] = {"error": f"{type(e).__name__}: {e}"}
        for h in self.clients:
            try:
                self.doc["clients"][h.name][when] = ssh_fn(h)
            except Exception as e:  # noqa: BLE001 - as for the one client above
                self.doc["clients"][h.name][when] = {"error": f"{type(e).__name__}: {e}"}

    def client_offsets_s(self, when: str = "start") -> dict[str, float]:
        """Each `--clients` worker's clock minus the controller's, s, as measured `when`
        (0 where it failed): a worker adds it to the master's start time, so all of them
        send the one schedule on the controller's clock."""
        out = {}
        for name, entry in (self.doc.get("clients") or {}).items():
            m = entry.get(when) or {}
            out[name] = float(m["offset_ms"]) / 1000.0 if m.get("offset_ms") is not None else 0.0
        return out

    def write(self, path: Path) -> Path:
        path.write_text(json.dumps(self.doc, indent=2))
        return path
