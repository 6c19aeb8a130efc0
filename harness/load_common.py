"""What the one-client load (harness/load.py) and several clients (harness/load_dist.py)
share: where the repo and Locust are on a remote client, and the loop that waits for a run
while it shows the progress line.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from harness.inventory import REPO

# Where the repo and its venv are on a remote client. The lab shares the controller's
# filesystem, so the same paths work; a real Pi needs them installed there (docs/load.md).
REMOTE_REPO = os.environ.get("DNN_CLIENT_REPO", str(REPO))
REMOTE_PYTHON = os.environ.get("DNN_CLIENT_PYTHON", str(Path(REMOTE_REPO) / ".venv/bin/python"))
REMOTE_WORKDIR = "/tmp/dnn-load.XXXXXXXXXX"  # mktemp -d template on the client host


def watch(done, progress, total_s: float, out) -> None:
    """Until done() returns non-None: a progress line once a second (tty) or every 5 s.
    done() is checked ten times a second, so a run does not wait out a progress tick."""
    started = time.monotonic()
    tty = out.isatty()
    last_print = last_tick = 0.0
    while done() is None:
        time.sleep(0.1)
        elapsed = time.monotonic() - started
        if progress is None or elapsed - last_tick < 1.0:
            continue
        last_tick = elapsed
        line = progress(elapsed, total_s + 1)
        if tty:
            out.write("\r" + line)
            out.flush()
        elif elapsed - last_print >= 5:
            out.write(line + "\n")
            last_print = elapsed
    if tty and progress is not None:
        out.write("\n")
