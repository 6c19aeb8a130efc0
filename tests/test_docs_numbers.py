"""Numbers in the docs that the code can recompute are recomputed: X* of the model.

docs/measurements.md gives the discrete-event model's X* (the first X at which Cao's strategy 2
beats the baseline) for two switch pricings and three per-hop overheads, with the command
(`python -m bench.xstar`) beside them; this test runs the same computation.
"""

from __future__ import annotations

import re

from bench.xstar import crossing
from harness.paths import REPO


def _row() -> tuple[list[float], list[list[int]]]:
    text = (REPO / "docs" / "measurements.md").read_text()
    line = next(ln for ln in text.splitlines() if ln.startswith("| X* of the model"))
    label, *cells = [c.strip() for c in line.strip("|").split("|")]
    hops = [float(h) for h in re.search(r"overhead ([\d./ ]+) ms", label).group(1).split("/")]
    values = [[int(v.strip(" *")) for v in cell.split("/")] for cell in cells]
    return hops, values


def test_model_xstar_in_measurements_matches_a_recomputation() -> None:
    hops, (flat_800, priced) = _row()
    assert len(hops) == len(flat_800) == len(priced) == 3
    for hop, want_flat, want_priced in zip(hops, flat_800, priced, strict=True):
        assert crossing(hop, 800.0, 800.0).xstar == want_flat, ("800/800", hop)
        assert crossing(hop).xstar == want_priced, ("priced", hop)



def test_model_xstar_by_queue_size_in_strategies_matches_a_recomputation() -> None:
    """docs/strategies.md's table of X* against the queue size (`bench.xstar --queue`)."""
    lines = (REPO / "docs" / "strategies.md").read_text().splitlines()
    head = next(i for i, ln in enumerate(lines) if ln.startswith("| X* of the model by queue"))
    label, *queues = [c.strip() for c in lines[head].strip("|").split("|")]
    hops = [float(h) for h in re.search(r"overhead ([\d./ ]+) ms", label).group(1).split("/")]
    sizes = [int(q.removeprefix("queue ")) for q in queues]
    flat, priced = ([[int(v) for v in cell.split("/")] for cell in
                     [c.strip() for c in lines[head + k].strip("|").split("|")][1:]]
                    for k in (2, 3))
    assert sizes == [1, 5, 10] and len(hops) == 3
    for q, want_flat, want_priced in zip(sizes, flat, priced, strict=True):
        for hop, f, p in zip(hops, want_flat, want_priced, strict=True):
            assert crossing(hop, 800.0, 800.0, queue=q).xstar == f, ("800/800", q, hop)
            assert crossing(hop, queue=q).xstar == p, ("priced", q, hop)
