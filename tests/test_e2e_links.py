"""Issue 14's acceptance for links, on the emulated lab: "A link profile with 20 ms delay and 5
ms jitter between pi1 and pi2 adds 20 +/- 2 ms to the p50 of baseline latency at 10 fps."

The same baseline twice, 10 fps for 3 s (30 measure frames, 1 s warm-up; the minimum-run
rule lowered so the short runs are valid), without and with `--link=pi1-pi2:delay20-jitter5`
(harness/links.json: the synthetic 20 ms / 5 ms link). The lab's kernel has no netem
(LAB-NOTES, "Links and CPU"), so the probe says so and node_app's forwarder on pi1 emulates
the link: the summary and spec.json name mechanism `node_app`. At 10 fps the pipeline is far
below its ~24 fps bound, so nothing queues and the link's median wait (20 ms, a uniform draw
on [15, 25]) is what the p50 gains; the model predicts the same shift.
"""

from __future__ import annotations

import pytest
from lab_cli import fab, latest_run, measured, report_of  # tests/ is on sys.path (rootdir)

pytestmark = pytest.mark.lab

BASE = ("experiment", "--strategy=0", "--rate=10", "--duration=3", "--warmup=1",
        "--min-duration=1", "--min-frames=1", "--seed=3")
LINK = "pi1-pi2:delay20-jitter5"


def test_a_20ms_5ms_link_adds_20ms_to_the_baseline_p50(provisioned_lab):
    fab(*BASE, timeout_s=600)
    plain_spec, plain = latest_run()
    assert "link_emulation" not in plain and not plain_spec["net_links"]
    fab(*BASE, f"--link={LINK}", timeout_s=600)
    spec, linked = latest_run()
    assert spec["net_links"] == [LINK]
    # which mechanism ran, and why: the probe found no netem on pi1 (the lab's kernel)
    emulation = spec["link_emulation"]
    assert emulation["mechanism"] == "node_app"
    assert emulation["netem_probe"]["pi1"]["available"] is False, emulation["netem_probe"]
    (applied,) = emulation["links"]
    assert applied["kind"] == "delay20-jitter5" and applied["entry"]["delay_ms"] == 20.0
    assert [(e["from"], e["to"]) for e in applied["edges"]] == [("pi1", "pi2")]
    assert linked["link_emulation"]["mechanism"] == "node_app"
    waited = linked["link_emulation"]["waited"]["pi1"]
    assert waited["frames"] >= 30 and waited["lost"] == 0
    assert waited["mean_ms"] == pytest.approx(20.0, abs=1.5)
    assert "pi2" not in linked["link_emulation"]["waited"]  # only A -> B has the link
    # the model adds the link's mean delay to A's hop, so it still matches the run
    pred_added = (linked["predicted"]["latency_ms"]["p50"]
                  - plain["predicted"]["latency_ms"]["p50"])
    assert pred_added == pytest.approx(20.0, abs=1.0), linked["predicted"]
    assert linked["predicted"]["link_ms"] == {"A": 20.0}
    assert abs(linked["coverage"] - linked["predicted"]["coverage"]) <= 0.03
    html = report_of(spec["run_id"])
    assert "links (delay, jitter, loss) emulated by" in html
    assert f"node_app: {LINK} (node_app)" in html
    # the numbers (a warning names a run the box voided)
    measured(plain, linked)
    assert plain["coverage"] == linked["coverage"] == 1.0, (plain["drops"], linked["drops"])
    added = linked["latency_ms"]["p50"] - plain["latency_ms"]["p50"]
    assert added == pytest.approx(20.0, abs=2.0), (plain["latency_ms"], linked["latency_ms"])

