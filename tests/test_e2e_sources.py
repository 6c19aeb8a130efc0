"""Two data sources on the emulated lab (`--sources=2`, issue 12): FTP with work stealing,
each source's camera posting to its own device.

yolov2-16 (160 x 160) with a 2x2 grid on a gateway and two devices: the tiles of both
devices do 0.64 fps in all (docs/measurements.md: a lone source at 0.5 fps keeps up), so
two sources at 0.2 fps each (0.4 fps together) do not queue. 10 s: two frames per source,
each costing about 1.5 s of emulated time. Source 0's frames (ids 0, 1) enter at D0, source
1's (ids 1000000, 1000001) at D1; each device cuts its own frames and steals the other's
tiles when idle. Every frame of both sources must arrive, equal to the model's output, and
the summary must give each source its own numbers.
"""

from __future__ import annotations

import csv

import pytest
from lab_cli import fab, latest_run, latest_run_dir, report_of  # tests/ is on sys.path

pytestmark = pytest.mark.lab

RATE = 0.2  # per source
DURATION_S = 10
PER_SOURCE = int(RATE * DURATION_S)


def test_two_sources_each_at_its_own_device_deliver_every_frame(provisioned_lab):
    fab("experiment", "--strategy=ftp", "--model=yolov2-16", "--devices=2", "--grid=2x2",
        "--sched=wst", "--sources=2", f"--rate={RATE}", f"--duration={DURATION_S}",
        "--warmup=0", f"--min-duration={DURATION_S}", f"--min-frames={2 * PER_SOURCE}")
    spec, summary = latest_run()
    assert spec["sources"] == 2 and spec["sched"] == "wst"
    devices = {n["role"]: n["address"] for n in spec["nodes"]}
    assert [t.rpartition(":")[0] for t in spec["targets"]] == [devices["D0"], devices["D1"]]

    # every frame of both sources, equal to the model's output
    assert summary["sent"] == 2 * PER_SOURCE and summary["coverage"] == 1.0, summary
    check = summary["output_check"]
    assert check["checked"] >= 2 and check["mismatched"] == 0, check
    assert sum(summary["tasks_per_helper"].values()) == 4 * summary["sent"]
    assert summary["offered_fps"] == pytest.approx(2 * RATE)

    # each source its own row: its id range, its entry, all delivered, at its rate
    rows = summary["sources"]
    assert [(r["source"], r["first_id"]) for r in rows] == [(0, 0), (1, 1_000_000)]
    assert [r["target"].rpartition(":")[0] for r in rows] == [devices["D0"], devices["D1"]]
    for r in rows:
        assert (r["sent"], r["delivered"], r["coverage"]) == (PER_SOURCE, PER_SOURCE, 1.0), r
        assert r["delivered_fps"] == pytest.approx(RATE, rel=0.01), r
        lat = r["latency_ms"]
        assert 0 < lat["p50"] <= lat["p99"] <= lat["max"] < 10_000, r  # no queueing
    assert summary["max_source_latency_ms"] == max(r["latency_ms"]["p50"] for r in rows)
    assert summary["throughput_fps"] == pytest.approx(2 * RATE, rel=0.01)

    # the run page's table of sources, and the traces: each device cut its own frames
    html = report_of(summary["run_id"])
    assert "<h2>Data sources</h2>" in html and "1000000" in html
    traces = latest_run_dir() / "traces"
    names = {n["role"]: n["name"] for n in spec["nodes"]}
    for source, role in enumerate(("D0", "D1")):
        with open(traces / f"{names[role]}.csv", newline="") as fh:
            queued = sorted(int(r["packet_id"]) for r in csv.DictReader(fh)
                            if r["event"] == "tiles_queued")
        assert queued == [source * 1_000_000 + k for k in range(PER_SOURCE)], (role, queued)
