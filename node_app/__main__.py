"""`python3 -m node_app --config /etc/node_app/node.json [--run RUN_JSON]`.

Exit codes: 0 after a clean stop (SIGTERM or SIGINT), 2 for a bad config,
stage file or profile, 1 if the port cannot be bound. SIGUSR1 is the `slow` fault
(harness/faults.py): the node's profile times are multiplied by run.json slow_factor.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence

from node_app.config import ConfigError
from node_app.profile import ProfileError
from node_app.server import NodeServer, build_server
from node_app.stage import StageError


def install_signals(server: NodeServer) -> None:
    """SIGTERM/SIGINT stop the node (trace flushed); SIGUSR1 slows it (the `slow` fault).
    Both only start a thread: a handler runs between bytecodes of the main thread, which
    must not be made to wait for a lock (the trace's) it might hold."""

    def on_stop(signum: int, _frame: object) -> None:
        server.request_stop()

    def on_slow(signum: int, _frame: object) -> None:
        threading.Thread(target=server.core.slow_down, name="slow", daemon=True).start()

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGUSR1, on_slow)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m node_app", description=__doc__)
    parser.add_argument("--config", required=True, help="path to node.json")
    parser.add_argument("--run", help="path to run.json (default: run_file from node.json)")
    args = parser.parse_args(argv)
    try:
        server = build_server(args.config, args.run)
    except (ConfigError, ProfileError, StageError) as e:
        print(f"node_app: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"node_app: error: cannot listen: {e}", file=sys.stderr)
        return 1

    install_signals(server)
    server.run()
    print(f"node_app: node={server.node.node} stopped, trace flushed", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
