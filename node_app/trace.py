"""Buffered CSV trace writer.

Request threads must not wait on disk I/O (it would add jitter to the very latencies being
measured), so events go into a list under a lock and a flusher thread appends them to the file
every FLUSH_INTERVAL_S; close() writes whatever is left. Format: docs/architecture.md.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

HEADER = "t,packet_id,node,event,detail\n"
FLUSH_INTERVAL_S = 0.5


def _csv_field(text: str) -> str:
    if any(c in text for c in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


class TraceWriter:
    """Appends `t,packet_id,node,event,detail` rows to `<trace_dir>/<run_id>.csv`."""

    def __init__(self, path: str | Path, node: str, interval_s: float = FLUSH_INTERVAL_S,
                 clock_offset_s: float = 0.0):
        self.path = Path(path)
        # node.json clock_offset_s (a test/emulation knob): added to every stamp, so the
        # trace and GET /clock show the same, deliberately wrong, clock.
        self.clock_offset_s = float(clock_offset_s)
        self.node = _csv_field(node)
        self._lock = threading.Lock()
        self._io_lock = threading.Lock()  # serialises flushes (flusher vs close)
        self._buf: list[str] = []
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", encoding="utf-8", newline="")
        if self._file.tell() == 0:
            self._file.write(HEADER)
            self._file.flush()
        self._stop = threading.Event()
        self._interval = interval_s
        self._thread = threading.Thread(target=self._run, name="trace-flusher", daemon=True)
        self._thread.start()

    def clock(self) -> float:
        """The trace clock now: Unix time in seconds plus the configured offset (GET /clock)."""
        return time.time() + self.clock_offset_s

    def write(self, packet_id: int, event: str, detail: str = "", t: float | None = None) -> None:
        """Record one event; `t` (a time.time() reading) lets a caller stamp the moment before
        a slow step. The configured clock offset is added either way."""
        stamp = (time.time() if t is None else t) + self.clock_offset_s
        line = f"{stamp:.6f},{packet_id},{self.node},{event},{_csv_field(detail)}\n"
        with self._lock:
            self._buf.append(line)

    def flush(self) -> int:
        """Write buffered rows to disk now; returns the number of rows written."""
        with self._io_lock:
            with self._lock:
                rows, self._buf = self._buf, []
            if rows and not self._file.closed:
                self._file.write("".join(rows))
                self._file.flush()
            return len(rows)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.flush()
            except OSError as e:  # disk full etc.: keep serving, say so once per interval
                print(f"node_app: trace flush failed: {e}", file=sys.stderr)

    def close(self) -> None:
        """Stop the flusher and write everything; safe to call twice.

        The last row is a `stopped` event: a trace without one belongs to a node that
        died (SIGKILL, power loss), which is how the analysis tells a dead node from
        one that was merely idle at the end of a run.
        """
        with self._io_lock:
            if not self._file.closed:
                self.write(-1, "stopped")
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        with self._io_lock:
            if self._file.closed:
                return
        self.flush()
        with self._io_lock:
            self._file.close()
