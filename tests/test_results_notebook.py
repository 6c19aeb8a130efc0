"""docs/examples/results.ipynb runs, on a run the lab makes, and plots the report's numbers.

The run is a real one: `fab experiment` on the emulated lab (tests/lab_cli.py, as
tests/test_e2e.py), into the session's results root (conftest sets TESTBED_RESULTS_DIR, which
the notebook's kernel inherits). The notebook is executed with nbclient; its `numbers` cell
prints what its plots show, computed from `harness.results` frames, and that must equal the
summary.json the report was written from and the report's own frames-over-time series.
"""

from __future__ import annotations

import json
import os

import pytest
from lab_cli import fab, latest_run  # tests/ is on sys.path (pytest rootdir)

from harness.analysis import load_run, per_second_counts
from harness.inventory import REPO
from harness.paths import reports_dir, runs_dir

pytestmark = pytest.mark.lab
NOTEBOOK = REPO / "docs" / "examples" / "results.ipynb"


def test_example_notebook_plots_the_reports_numbers(provisioned_lab, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    fab("experiment", "--strategy=0", "--rate=10", "--duration=4", "--warmup=1",
        "--min-duration=4", "--min-frames=40")
    spec, summary = latest_run()

    nb = nbformat.read(NOTEBOOK, as_version=4)
    env_path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    monkeypatch.setenv("PYTHONPATH", env_path)  # the kernel is a subprocess: it imports harness
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(REPO)}}).execute()

    cell = next(c for c in nb.cells if "numbers" in c.get("metadata", {}).get("tags", []))
    text = "".join(o.get("text", "") for o in cell.outputs if o.get("name") == "stdout")
    numbers = json.loads(text.splitlines()[0])
    assert numbers["run_id"] == spec["run_id"]  # the newest run: the one just made
    assert numbers["delivered_fps"] == summary["delivered_fps"]
    assert numbers["coverage"] == summary["coverage"]
    assert numbers["latency_p50_ms"] == summary["latency_ms"]["p50"]
    assert numbers["latency_p99_ms"] == summary["latency_ms"]["p99"]
    plotted = per_second_counts(load_run(runs_dir() / spec["run_id"]))["delivered"].tolist()
    mine = numbers["delivered_per_second"]
    assert mine == plotted[:len(mine)] and not any(plotted[len(mine):]), (mine, plotted)
    # Both plots were drawn, and the report of that run carries the same headline.
    images = [o for c in nb.cells for o in c.get("outputs", [])
              if "image/png" in o.get("data", {})]
    assert len(images) == 2
    report = (reports_dir() / f"{spec['run_id']}.html").read_text(encoding="utf-8")
    assert f'data-field="delivered_fps" data-value="{json.dumps(summary["delivered_fps"])}"' \
        in report
