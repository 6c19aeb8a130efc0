"""The harness's side of "safe by default on a real LAN" (issue 18), without the lab.

The sink's config files (harness/sink.py) and the remote commands of harness/cluster.py and
harness/load.py are built here and checked; the lab e2e tests run them for real.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness import cluster
from harness.inventory import Host
from harness.sink import Sink
from node_app.config import NodeConfig, RunConfig


def test_sink_node_json_is_private_and_the_sink_takes_frames_only_from_its_peers(
        tmp_path: Path) -> None:
    sink = Sink("198.18.0.1", "r1", tmp_path, input_size=8,
                peers=["198.18.0.12", "198.18.0.11"])
    (tmp_path / "sink").mkdir()
    stale = tmp_path / "sink" / "node.json"
    stale.write_text("{}")
    stale.chmod(0o644)  # a file left by an older harness: the mode must still end 0600
    config = sink.write_configs()
    assert stat.S_IMODE(os.stat(config).st_mode) == 0o600
    node = NodeConfig.load(config)
    assert node.strict_peers is True
    run = RunConfig.load(node.run_file)
    assert run.is_sink and run.peers == ("198.18.0.12", "198.18.0.11")
    assert json.loads(Path(node.run_file).read_text())["keep_outputs"] == Sink.KEEP_OUTPUTS


# Remote temporary files: mktemp, not fixed /tmp names -------------------------------------


class FakeConnection:
    """Stands in for a Fabric Connection: records commands and transfers; `mktemp` runs
    for real on this machine (the same command the remote host would run)."""

    def __init__(self, log: list[tuple[str, str]]) -> None:
        self.log = log

    def __enter__(self) -> FakeConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def run(self, command: str, **kw: object) -> SimpleNamespace:
        self.log.append(("run", command))
        out = ""
        if command.startswith("mktemp "):
            out = subprocess.run(command, shell=True, check=True, capture_output=True,
                                 text=True).stdout
        return SimpleNamespace(stdout=out, stderr="", exited=0, ok=True)

    def put(self, local: str, remote: str) -> None:
        self.log.append(("put", remote))

    def get(self, remote: str, local: str) -> None:
        self.log.append(("get", remote))
        Path(local).write_text("")


@pytest.fixture
def fake_ssh(monkeypatch) -> Iterator[list[tuple[str, str]]]:
    log: list[tuple[str, str]] = []
    monkeypatch.setattr(cluster, "connect", lambda host, **kw: FakeConnection(log))
    yield log


def test_start_nodes_stages_the_run_file_at_a_mktemp_path(fake_ssh, tmp_path: Path) -> None:
    host = Host("pi1", "198.18.0.11", "root", "", "zero", True)
    cluster.start_nodes({host: {"run_id": "r1"}})
    kinds = [k for k, _ in fake_ssh]
    assert kinds == ["run", "put", "run"], fake_ssh
    assert fake_ssh[0][1] == "mktemp /tmp/node_app-run.XXXXXXXXXX"
    staged = fake_ssh[1][1]
    assert re.fullmatch(r"/tmp/node_app-run\.[A-Za-z0-9]{10}", staged)
    assert stat.S_IMODE(os.stat(staged).st_mode) == 0o600  # mktemp really made it, private
    assert fake_ssh[2][1] == cluster.install_run_file_command(staged, "")
    os.unlink(staged)


def test_remote_load_works_in_a_mktemp_dir(fake_ssh, tmp_path: Path, monkeypatch) -> None:
    from harness import load

    monkeypatch.setattr(load, "build", lambda **kw: SimpleNamespace(total_s=0.0))
    monkeypatch.setattr(load, "load_config", lambda spec, targets, n, out, **_kw: {
        "schedule": {}, "out": out})
    host = Host("pi3", "198.18.0.13", "root", "", "zero", True)
    spec = SimpleNamespace(run_id="predictable-id")
    assert load.run_remote(host, spec, ["198.18.0.11:12345"], 8, tmp_path) == 0
    assert fake_ssh[0] == ("run", "mktemp -d /tmp/dnn-load.XXXXXXXXXX")
    remote = json.loads((tmp_path / "load.json").read_text())["out"].rsplit("/", 1)[0]
    assert re.fullmatch(r"/tmp/dnn-load\.[A-Za-z0-9]{10}", remote)
    assert stat.S_IMODE(os.stat(remote).st_mode) == 0o700
    assert ("put", f"{remote}/load.json") in fake_ssh
    assert ("run", f"rm -rf {remote}") == fake_ssh[-1]
    assert not any("predictable-id" in c for _k, c in fake_ssh)
    os.rmdir(remote)


@pytest.mark.parametrize("printed", ["/tmp/node_app-run.abc", "/tmp/x; rm -rf /",
                                     "/tmp/node_app-run.abcdefgh$(", "",
                                     "/etc/node_app-run.abcdefghij"])
def test_checked_mktemp_refuses_what_is_not_a_mktemp_path(printed: str) -> None:
    with pytest.raises(RuntimeError, match="mktemp printed"):
        cluster.checked_mktemp(printed, cluster.RUN_STAGING)


def test_install_command_removes_the_staged_file_also_when_install_fails(
        tmp_path: Path, monkeypatch) -> None:
    ctl = tmp_path / "ctl"
    ctl.write_text(f"#!/bin/sh\necho \"$1\" >> {tmp_path}/ctl.log\n")
    ctl.chmod(0o755)
    monkeypatch.setattr(cluster, "CTL", str(ctl))
    for run_file, ok in ((tmp_path / "run.json", True), (tmp_path / "no" / "run.json", False)):
        monkeypatch.setattr(cluster, "RUN_FILE", str(run_file))
        staged = tmp_path / "staged file"  # a space: the path must be quoted
        staged.write_text("{}")
        staged.chmod(0o600)
        res = subprocess.run(cluster.install_run_file_command(str(staged), ""), shell=True,
                             capture_output=True, text=True)
        assert not staged.exists()
        assert (res.returncode == 0) is ok, res.stderr
        if ok:
            assert stat.S_IMODE(os.stat(run_file).st_mode) == 0o644
    assert (tmp_path / "ctl.log").read_text() == "restart\n"  # only after a good install
