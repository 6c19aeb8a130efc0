"""Two load clients on two lab hosts through Locust's distributed mode (issue 17).

`--clients=pi5,pi6`: the Locust master on the controller (bound to 198.18.0.1), a worker on
pi5 and one on pi6 over SSH, each sending its interleaved half of one schedule to a
data-parallel run on pi1..pi3 with the `zero` profile. What the test holds is what a user
relies on: one schedule split between the workers (each id once, each worker its own ids),
both clocks measured and applied, one summary listing both workers, every kept output equal
to the model's. At 2 x 100 fps, a load the suite's busy box carries beside the other lane.

The issue's numbers (2 x 300 fps within 1 %, send lag p99 under 5 ms) are a speed target, so
they are a measurement (docs/measurements.md, "Several load clients"), not a test: in the full
suite beside the other lane, 600 fps on two shared cores had a send lag p99 of 142 ms.

Run (root, lab up or brought up by the session fixture):
    .venv/bin/python -m pytest -m lab tests/test_e2e_clients.py -v
"""

from __future__ import annotations

import pytest
from lab_cli import fab, latest_run, latest_run_dir  # tests/ is on sys.path (rootdir)

from harness.analysis import load_run

pytestmark = pytest.mark.lab

RATE = 200.0
CLIENTS = ("pi5", "pi6")
RUN = ("--strategy=dp", "--k=2", "--profile=zero", "--hosts=pi1,pi2,pi3",
       f"--clients={','.join(CLIENTS)}", f"--rate={RATE:g}", "--duration=5", "--warmup=1",
       "--queue=50", "--min-duration=4.9", "--min-frames=500")  # 1000 frames span 4.995 s


def test_two_workers_on_two_lab_hosts_send_one_schedule(provisioned_lab):
    proc = fab("experiment", *RUN)
    spec, summary = latest_run()
    assert spec["clients"] == list(CLIENTS) and spec["client"] == "controller"
    frames = int(RATE * 5)
    assert summary["sent"] == frames, summary
    # One summary, both workers listed, each with its half and its own send-lag figures.
    assert [c["worker"] for c in summary["clients"]] == list(CLIENTS), summary["clients"]
    for c in summary["clients"]:
        assert c["sent"] == frames // 2, c
        assert c["achieved_send_fps"] > 0 and set(c["send_lag_ms"]) >= {"p50", "p99"}, c
    # Each worker sent its interleaved share: pi5 the even ids, pi6 the odd ones.
    run = load_run(latest_run_dir())
    c = run.client
    assert sorted(c["packet_id"]) == list(range(len(c)))
    for i, name in enumerate(CLIENTS):
        ids = c[c["worker"].astype(str) == name]["packet_id"].to_numpy()
        assert len(ids) and (ids % 2 == i).all(), name
    # Both clients' clocks measured over SSH (one kernel: offsets within their bounds).
    for name in CLIENTS:
        clock = summary["clocks"]["hosts"][f"client {name}"]
        assert clock["host"] == name and clock["corrected"], clock
    assert summary["output_check"]["checked"] > 0
    assert summary["output_check"]["mismatched"] == 0, summary["output_check"]
    # Valid, or voided only by the box's own fidelity monitor (2 cores: nodes, sink, master
    # and two workers share them). Delivered within 1 % of the target when the box kept up.
    invalid = summary.get("invalid") or ""
    assert not invalid or invalid.startswith("emulation fidelity: "), invalid
    if summary["fidelity"]["ok"]:  # the box kept up: what was sent went through
        assert summary["coverage"] >= 0.99, summary
    assert "delivered" in proc.stdout

