"""The shape of the code as checked contracts, and what it promises a new contributor.

- The import graph (import-linter contracts in pyproject.toml): harness -> node_app only,
  node_app on the stdlib and numpy, no cycles. A contract that could never fail would be
  worthless, so one test breaks it on purpose in a copy of the code.
- fabfile.py is a thin CLI: it imports harness and the CLI libraries, nothing else.
- Adding a strategy is one module: a toy strategy written into a temporary package is
  registered and run end to end in this process (plan, run files, real node_app servers
  on loopback, real HTTP, analysis) without touching any other file of the project.
"""

from __future__ import annotations

import ast
import csv
import http.client
import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=root, capture_output=True,
                          text=True, timeout=300, env={"PYTHONPATH": str(root),
                                                       "PATH": "/usr/bin:/bin"})


def test_import_contracts_hold():
    proc = lint_imports(REPO)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout


def test_a_harness_import_in_node_app_breaks_the_contract(tmp_path):
    for part in ("harness", "node_app"):
        shutil.copytree(REPO / part, tmp_path / part,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    stage = tmp_path / "node_app" / "stage.py"
    stage.write_text(stage.read_text() + "\nfrom harness import spec  # noqa\n")
    proc = lint_imports(tmp_path)
    assert proc.returncode != 0, proc.stdout[-3000:]
    assert "node_app runs on a Pi with the stdlib and numpy only BROKEN" in proc.stdout
    assert "node_app.stage -> harness.spec" in proc.stdout


def test_fabfile_is_a_thin_cli():
    tree = ast.parse((REPO / "fabfile.py").read_text())
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            roots.add(node.module.split(".")[0])
    assert roots <= {"__future__", "harness", "invoke", "fabric", "sys", "os", "pathlib",
                     "typing", "json"}, roots
    assert "node_app" not in roots


TOY = '''"""A toy strategy: one node runs the whole model and sends to the sink."""

from harness.capacity import node_fps
from harness.des import Node, Params, Sim, Sink, simulate
from harness.models import describe
from harness.strategies.plan import NodePlan, Plan

NAME = "solo"
ALIASES = ("solo", "one")
USES = ()
DEFAULT_HOSTS = 1


def plan(spec, hosts, sink):
    info = describe(spec.model)
    a = hosts[0]
    nodes = [NodePlan(a, "A", [info.whole], [sink.endpoint]), NodePlan(sink, "sink", [])]
    return Plan(nodes=nodes, targets=[a.endpoint], input_size=info.input_size,
                capacity_fps=node_fps(a.profile, [info.whole], spec.model))


def predict(p: Params):
    sim, sink, drops = Sim(), Sink(), {}
    a = Node(sim, "A", p.queue_size, p.whole_ms, p.hop_ms, sink, drops)
    return simulate(sim, sink, [a], [a], drops, p)
'''


@pytest.fixture
def toy_strategy(tmp_path, monkeypatch):
    """Write the toy module into a temporary package and register it (undone after)."""
    from harness import strategies

    pkg = tmp_path / "toy_strategies"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "solo.py").write_text(TOY)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(strategies, "IMPLEMENTED", dict(strategies.IMPLEMENTED))
    monkeypatch.setattr(strategies, "_ALIASES", dict(strategies._ALIASES))
    import importlib

    module = importlib.import_module("toy_strategies.solo")
    strategies.register(module)
    yield module
    sys.modules.pop("toy_strategies.solo", None)
    sys.modules.pop("toy_strategies", None)


@pytest.fixture(scope="module")
def stage_dir(tmp_path_factory) -> Path:
    from harness.model import export_stages

    out = tmp_path_factory.mktemp("stages")
    export_stages(out)
    return out


def _post(endpoint: str, pid: int, body: bytes) -> tuple[int, dict]:
    host, port = endpoint.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("POST", "/message", body=body, headers={"X-Packet-Id": str(pid)})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def test_a_new_strategy_is_one_module(toy_strategy, stage_dir, tmp_path):
    from harness.analysis import load_run, summarize
    from harness.experiment import _run_file
    from harness.frames import frame_bytes, frames
    from harness.inventory import Host
    from harness.model import DEFAULT_SEED
    from harness.model import predict as keras_predict
    from harness.predict import predict_spec
    from harness.spec import RunSpec
    from harness.strategies import get
    from node_app.server import build_server

    spec = RunSpec(strategy="one", rate_fps=20, duration_s=1.0, warmup_s=0.0, seed=5,
                   min_duration_s=0, min_frames=0, profile="zero")
    assert spec.strategy == "solo" and "-solo-" in spec.run_id
    a = Host("a", "127.0.0.11", "", "", "zero", True)
    sink = Host("sink", "127.0.0.10", "", "", "native", False)
    plan = get("solo").plan(spec, [a], sink)
    run_dir = tmp_path / "run"
    (run_dir / "traces").mkdir(parents=True)

    servers = []
    for node in plan.nodes:
        node_dir = tmp_path / node.host.name
        node_dir.mkdir()
        run = (_run_file(spec, plan, node) if node.role != "sink" else
               {"run_id": spec.run_id, "stages": [], "next_hops": [], "queue_size": 50,
                "max_body_bytes": 1 << 20, "input_size": 2000, "keep_outputs": 100,
                "outputs_file": str(node_dir / "outputs.npz"), **node.extra})
        (node_dir / "run.json").write_text(json.dumps(run))
        (node_dir / "node.json").write_text(json.dumps({
            "node": node.host.name, "bind": node.host.address, "port": 12345,
            "profile": node.host.profile, "stages_dir": str(stage_dir),
            "trace_dir": str(node_dir), "run_file": str(node_dir / "run.json"),
            # All on one loopback: requests come from 127.0.0.1, not the hosts' addresses.
            "strict_peers": False}))
        server = build_server(node_dir / "node.json")
        thread = threading.Thread(target=server.run, kwargs={"log": False}, daemon=True)
        thread.start()
        servers.append((node, server, thread))

    rows, t0 = [], time.time() + 0.2
    try:
        for pid in range(spec.total_frames):
            intended = t0 + pid / spec.rate_fps
            time.sleep(max(0.0, intended - time.time()))
            sent = time.time()
            status, reply = _post(plan.targets[0], pid, frame_bytes(pid, spec.seed))
            rows.append([pid, "measure", f"{intended:.6f}", f"{sent:.6f}", status,
                         reply.get("accepted"), reply.get("overloaded"),
                         reply.get("queue_depth"), f"{(time.time() - sent) * 1000:.3f}",
                         plan.targets[0]])
        deadline = time.monotonic() + 60  # wait for the event: every frame at the sink
        sink_server = servers[-1][1]
        while sink_server.stats_snapshot()["received"] < spec.total_frames:
            assert time.monotonic() < deadline, sink_server.stats_snapshot()
            time.sleep(0.05)
    finally:
        for _node, server, thread in servers:
            server.request_stop()
            thread.join(timeout=30)
    for node, server, _ in servers:
        shutil.copy(server.trace.path, run_dir / "traces" / f"{node.host.name}.csv")
    with open(run_dir / "client.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["packet_id", "phase", "intended_t", "sent_t", "status", "accepted",
                    "overloaded", "queue_depth", "reply_ms", "target"])
        w.writerows(rows)
    doc = {**spec.to_dict(), "warmup_frames": spec.warmup_frames,
           "measure_frames": spec.measure_frames, "capacity_fps": plan.capacity_fps,
           "targets": plan.targets,
           "nodes": [{"name": n.host.name, "role": n.role, "stages": n.stages,
                      "address": n.host.address, "next_hops": n.next_hops,
                      "profile": n.host.profile} for n in plan.nodes]}
    (run_dir / "spec.json").write_text(json.dumps(doc))

    summary = summarize(load_run(run_dir))
    assert summary["sent"] == summary["delivered"] == 20 and summary["coverage"] == 1.0
    assert summary["drops"] == {} and summary["lost_unaccounted"] == 0
    kept = np.load(tmp_path / "sink" / "outputs.npz")
    ids = sorted(int(k) for k in kept.files)
    assert ids == list(range(20))
    want = keras_predict(frames(ids, seed=spec.seed), seed=DEFAULT_SEED)
    np.testing.assert_allclose(np.stack([kept[str(i)] for i in ids]), want,
                               rtol=1e-4, atol=1e-4)
    predicted = predict_spec({**doc, "profile": "rpi3bplus"})
    assert predicted["coverage"] == 1.0  # 20 fps is under one Pi's 22.7 fps for the whole
