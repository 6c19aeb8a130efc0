"""The testbed's own per-hop overhead, measured in a run's traces.

The discrete-event model needs the time a worker stays busy after computing a frame (the
forward: HTTP round trip to the next hop). A constant from an idle machine's bench is
wrong on a busy one, and on real Pis it is whatever their network gives; the run's own
traces hold the real figure: `forwarded` minus `finished` of the same packet on the
same node.
"""

from __future__ import annotations

import pandas as pd


def forward_ms(events: pd.DataFrame) -> float | None:
    """Median ms from `finished` to `forwarded` of one packet on one node, over every
    worker node of the run; None when the run forwarded nothing."""
    ev = events[events["event"].isin(["finished", "forwarded"])]
    if ev.empty:
        return None
    first = (ev.groupby(["node", "packet_id", "event"], observed=True)["t"].min()
             .unstack("event"))
    if "finished" not in first or "forwarded" not in first:
        return None
    gap = (first["forwarded"] - first["finished"]).dropna()
    gap = gap[gap >= 0]
    return round(float(gap.median()) * 1000.0, 3) if len(gap) else None
