"""`python3 -m node_app --config /etc/node_app/node.json [--run RUN_JSON]`.

Exit codes: 0 after a clean stop (SIGTERM or SIGINT), 2 for a bad config,
stage file or profile, 1 if the port cannot be bound.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence

from node_app.config import ConfigError
from node_app.profile import ProfileError
from node_app.server import build_server
from node_app.stage import StageError


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

    def on_signal(signum: int, _frame: object) -> None:
        server.request_stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server.run()
    print(f"node_app: node={server.node.node} stopped, trace flushed", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
