"""The node's counters for GET /stats (the fields every role shares).

Role-specific /stats fields (`routed`, `slices_received`, ...) belong to the role
(node_app/role.py `Role.stats`), not here.
"""

from __future__ import annotations

import threading
import time

EWMA_ALPHA = 0.2


class Stats:
    """Counters for GET /stats; one lock, because handler threads and the worker update them."""

    def __init__(self, service_ms: float):
        self.lock = threading.Lock()
        self.started = time.monotonic()
        self.received = 0
        self.accepted = 0
        self.dropped: dict[str, int] = {}
        self.rejected: dict[str, int] = {}
        self.processed = 0
        self.forwarded = 0
        self.forward_failed = 0
        self.service_ms = service_ms
        self.switches = 0  # model switches completed (helping nodes only)
        self.helping = False
        self.bytes_out = 0  # payload bytes this node sent (frames, slices, tasks, results)
        # Feedback (node_app/feedback.py): frames the worker took off the node's queue, so an
        # upstream that knows what it sent knows what can still be waiting here; the service
        # EWMA per stage (key: the stages run together, joined by "+"); the share of the
        # work the upstream entry gives this node (its X-Share header; None: not told).
        self.taken = 0
        self.stage_ms: dict[str, float] = {}
        self.share: float | None = None
        self.overruns = 0  # frames whose real compute + overhead outlasted the profile time
        # run.json `links` (node_app/link.py): ms the forwarders waited for emulated links,
        # and frames they charged a retransmission timeout for
        self.link_delay_ms = 0.0
        self.link_lost = 0

    def count(self, table: dict[str, int], reason: str) -> None:
        with self.lock:
            table[reason] = table.get(reason, 0) + 1

    def observe_service(self, ms: float, stage: str = "") -> None:
        with self.lock:
            self.service_ms = EWMA_ALPHA * ms + (1.0 - EWMA_ALPHA) * self.service_ms
            self.processed += 1
            if stage:
                old = self.stage_ms.get(stage)
                self.stage_ms[stage] = ms if old is None else (
                    EWMA_ALPHA * ms + (1.0 - EWMA_ALPHA) * old)


def rss_kb() -> int:
    """This process's resident set (VmRSS, kB) for /stats, so a soak can watch for leaks; 0
    where there is no /proc."""
    return _status_kb("VmRSS:")


def rss_peak_kb() -> int:
    """The largest resident set this process has had (VmHWM, kB): what the device's RAM
    must hold, which the harness compares with the profile's ram_mb; 0 without /proc."""
    return _status_kb("VmHWM:")


def _status_kb(key: str) -> int:
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0
