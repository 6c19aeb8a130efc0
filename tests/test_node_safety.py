"""node_app under concurrent or hostile use (issue 18): the sink's kept outputs, bounded
tables keyed by what peers send, and a task helper that survives any gateway reply.

Nodes run in this process on 127.0.0.1 (test_node_app's fixtures); the misbehaving gateway
is a real HTTP server on 127.0.0.1 too.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import test_node_app
from test_node_app import write_configs  # tests/ is on sys.path (pytest rootdir)

from node_app.server import build_server

start = test_node_app.start  # the fixture that starts NodeServers in threads


def sink_server(tmp: Path, keep: int, **run: object):
    node_file = write_configs(tmp, "sink", stages=[], next_hops=[], input_size=1)
    run_file = Path(json.loads(node_file.read_text())["run_file"])
    run_file.write_text(json.dumps({**json.loads(run_file.read_text()), "keep_outputs": keep,
                                    "outputs_file": str(tmp / "outputs.npz"), **run}))
    return build_server(node_file, address=("127.0.0.1", 0))


def test_sink_keeps_outputs_safely_while_handler_threads_add_and_it_closes(
        tmp_path: Path) -> None:
    """Handler threads admit frames while close() writes the kept ones: close() must not see
    the dict change under it, and no more than keep_outputs frames are ever kept."""
    keep = 40_000
    server = sink_server(tmp_path, keep)
    role = server.role
    body = np.zeros(1, "<f4").tobytes()
    errors: list[BaseException] = []
    go = threading.Event()
    next_id = iter(range(10**7))
    lock = threading.Lock()

    def hammer() -> None:
        go.wait()
        try:
            while True:
                with lock:
                    pid = next(next_id)
                if pid >= 3 * keep:
                    return
                role.admit(pid, body)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    go.set()
    try:
        while len(role.kept) < keep // 2 and any(t.is_alive() for t in threads):
            pass
        role.close()  # while the threads still add
    finally:
        for t in threads:
            t.join(timeout=60)
        server.core.trace.close()
        server.server_close()
    assert not errors, errors
    assert len(role.kept) == keep
    with np.load(tmp_path / "outputs.npz") as saved:
        assert keep // 2 <= len(saved.files) <= keep
