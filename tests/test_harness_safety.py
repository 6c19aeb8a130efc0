"""The harness's side of "safe by default on a real LAN" (issue 18), without the lab.

The sink's config files (harness/sink.py) and the remote commands of harness/cluster.py and
harness/load.py are built here and checked; the lab e2e tests run them for real.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from harness.sink import Sink
from node_app.config import NodeConfig, RunConfig


def test_sink_node_json_is_private_and_the_sink_takes_frames_only_from_its_peers(
        tmp_path: Path) -> None:
    sink = Sink("198.18.0.1", "r1", tmp_path, "t" * 32, input_size=8,
                peers=["198.18.0.12", "198.18.0.11"])
    (tmp_path / "sink").mkdir()
    stale = tmp_path / "sink" / "node.json"
    stale.write_text("{}")
    stale.chmod(0o644)  # a file left by an older harness: the mode must still end 0600
    config = sink.write_configs()
    assert stat.S_IMODE(os.stat(config).st_mode) == 0o600
    node = NodeConfig.load(config)
    assert node.strict_peers is True and node.token == "t" * 32
    run = RunConfig.load(node.run_file)
    assert run.is_sink and run.peers == ("198.18.0.12", "198.18.0.11")
    assert json.loads(Path(node.run_file).read_text())["keep_outputs"] == Sink.KEEP_OUTPUTS
