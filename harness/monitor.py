"""The box's idle CPU, once a second while the load runs (the fidelity monitor, issue 17).

Every emulated Pi, the sink and Locust share this machine's cores, so an emulated device
keeps its profile time only while the box has CPU to spare. Mininet-HiFi's rule applies: an
emulator that ran out of CPU produced no result. A small daemon thread reads /proc/stat's
aggregate `cpu` line once a second and records the idle share of all cores over that
second ((idle + iowait) / all jiffies); the analysis (harness/analysis/fidelity.py) judges
the samples. The thread is bounded: it stops by itself after `max_s` even if nobody calls
stop(), so a run that dies cannot leave it behind.
"""

from __future__ import annotations

import csv
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

PROC_STAT = Path("/proc/stat")
IDLE_CPU_CSV = "idle_cpu.csv"  # in the run directory: t (epoch s, end of the second), idle


def read_cpu_times(path: Path = PROC_STAT) -> tuple[int, int]:
    """(idle jiffies, total jiffies) of all cores: idle + iowait, and the sum of the
    `cpu` line's fields (steal included; guest is already inside user)."""
    with open(path) as f:
        for line in f:
            if line.startswith("cpu "):
                values = [int(v) for v in line.split()[1:]]
                idle = values[3] + (values[4] if len(values) > 4 else 0)
                total = sum(values[:8])  # user..steal; guest, guest_nice are in user, nice
                return idle, total
    raise RuntimeError(f"{path} has no aggregate 'cpu' line")


@dataclass
class IdleCpuSampler:
    """Samples the idle CPU share every `interval_s` until stop() or `max_s` has passed.

    samples: (t, idle) with t = time.time() at the end of the interval (the clock the client
    and traces use) and idle in 0..1 of all cores together.
    """

    max_s: float
    interval_s: float = 1.0
    samples: list[tuple[float, float]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def start(self) -> IdleCpuSampler:
        self._thread = threading.Thread(target=self._loop, name="idle-cpu", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> list[tuple[float, float]]:
        """Stop (idempotent) and return the samples."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval_s + 1.0)
        return list(self.samples)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _loop(self) -> None:
        deadline = time.monotonic() + self.max_s
        idle0, total0 = read_cpu_times()
        while not self._stop.wait(self.interval_s):
            idle1, total1 = read_cpu_times()
            if total1 > total0:
                self.samples.append((time.time(), (idle1 - idle0) / (total1 - total0)))
            idle0, total0 = idle1, total1
            if time.monotonic() >= deadline:
                return

    def write(self, run_dir: Path) -> Path:
        path = Path(run_dir) / IDLE_CPU_CSV
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["t", "idle"])
            w.writerows((f"{t:.3f}", f"{idle:.4f}") for t, idle in self.samples)
        return path


def read_samples(run_dir: Path) -> list[tuple[float, float]] | None:
    """The run's idle CPU samples; None when the run has no idle_cpu.csv (a run recorded
    before the monitor existed, or one whose load never started)."""
    path = Path(run_dir) / IDLE_CPU_CSV
    try:
        with open(path, newline="") as f:
            return [(float(r["t"]), float(r["idle"])) for r in csv.DictReader(f)]
    except OSError:
        return None
