"""Read one run directory (`runs/<run-id>/`) into a `Run`: spec, client log and traces.

This is the only module that knows the on-disk format (docs/results.md). An hour at a few
hundred frames/s is a million packets and several million trace rows, so the readers use
the C CSV parser with fixed dtypes and fall back to a tolerant parse only when a file is
damaged (a node killed mid-write leaves a torn last line; that must not lose the run).
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis.clocks import host_entries, to_controller

# Trace events node_app writes; listed first in the categorical so codes are the same in
# every run (a trace may still carry others, e.g. switch_started, appended after these).
EVENTS = ("received", "dropped", "rejected", "started", "finished", "forwarded", "forward_failed",
          "stopped")
# Events that account for a measure frame that will not reach the sink.
DROP_EVENTS = ("dropped", "forward_failed", "rejected")
TRACE_COLUMNS = ["t", "packet_id", "node", "event", "detail"]
TRACE_DTYPES = {
    "t": "float64",
    "packet_id": "int64",
    "node": "category",
    "event": "category",
    "detail": "object",
}
CLIENT_DTYPES = {
    "packet_id": "int64",
    "phase": "category",
    "intended_t": "float64",
    "sent_t": "float64",
    "status": "float64",
    "accepted": "category",
    "overloaded": "category",
    "queue_depth": "float64",
    "reply_ms": "float64",
    "target": "category",
}
# Spellings of "true" accepted in client.csv's boolean columns (1/0 and True/False occur).
TRUE_STRINGS = frozenset({"1", "1.0", "true", "True", "TRUE", "yes"})


@dataclass
class Run:
    """One run as loaded from `runs/<run-id>/`.

    spec: the resolved spec.json (extra keys kept as they are).
    client: client.csv; `accepted`/`overloaded` as bool, `status` as int (0 = client error).
    events: every trace concatenated; `node` and `event` categorical so grouping is cheap.
    clocks: clocks.json (harness/clocks.py), {} when the run has none. When present and
        `corrected`, `events.t` and the client's `intended_t`/`sent_t` are already on the
        controller's clock (harness/analysis/clocks.py).
    """

    run_dir: Path
    spec: dict[str, Any]
    client: pd.DataFrame
    events: pd.DataFrame
    trace_files: dict[str, Path] = field(default_factory=dict)
    clocks: dict[str, Any] = field(default_factory=dict)
    corrected: bool = False
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)



def _bool_column(col: pd.Series) -> pd.Series:
    """0/1 and True/False both mean what they say; map the few categories, not the rows."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        truth = np.asarray([str(c) in TRUE_STRINGS for c in col.cat.categories], dtype=bool)
        codes = col.cat.codes.to_numpy()
        out = np.zeros(len(col), dtype=bool)
        ok = codes >= 0
        out[ok] = truth[codes[ok]]
        return pd.Series(out, index=col.index)
    return col.astype(str).isin(TRUE_STRINGS)


def _read_client(path: Path) -> pd.DataFrame:
    """Read client.csv with fixed dtypes (fast path) or tolerantly if a row is damaged."""
    if not path.exists():
        return pd.DataFrame({c: pd.Series(dtype=d) for c, d in CLIENT_DTYPES.items()})
    try:
        df = pd.read_csv(path, dtype=CLIENT_DTYPES, engine="c")
    except (ValueError, TypeError):
        df = pd.read_csv(path, dtype=str, engine="c", on_bad_lines="skip")
        for col in ("packet_id", "intended_t", "sent_t", "status", "queue_depth", "reply_ms"):
            if col in df:
                df[col] = pd.to_numeric(df[col], errors="coerce")
        df = df[df["packet_id"].notna()].copy()
        df["packet_id"] = df["packet_id"].astype("int64")
        for col in ("phase", "accepted", "overloaded", "target"):
            if col in df:
                df[col] = df[col].astype("category")
    for col in ("accepted", "overloaded"):
        if col in df:
            df[col] = _bool_column(df[col])
    if "status" in df:
        df["status"] = df["status"].fillna(0).astype("int64")
    return df


def _read_trace(path: Path) -> pd.DataFrame:
    """Read one node trace. A node killed mid-write can leave a torn last line, so a
    failing fast parse falls back to a tolerant one that drops unparseable rows; an empty
    file (a node killed before it wrote its header) is a trace without rows."""
    if path.stat().st_size == 0:
        return pd.DataFrame({c: pd.Series(dtype=TRACE_DTYPES.get(c, object))
                             for c in TRACE_COLUMNS})
    try:
        df = pd.read_csv(path, dtype=TRACE_DTYPES, engine="c", usecols=TRACE_COLUMNS)
    except (ValueError, TypeError):
        df = pd.read_csv(path, dtype=str, engine="c", on_bad_lines="skip")
        df["t"] = pd.to_numeric(df["t"], errors="coerce")
        df["packet_id"] = pd.to_numeric(df["packet_id"], errors="coerce")
        df = df[df["t"].notna() & df["packet_id"].notna() & df["event"].notna()].copy()
        df["packet_id"] = df["packet_id"].astype("int64")
        df["node"] = df["node"].fillna(path.stem).astype("category")
        df["event"] = df["event"].astype("category")
        df["detail"] = df["detail"].astype(object)
    return df[TRACE_COLUMNS]


def _concat_events(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate traces keeping `node`/`event` categorical (pandas would fall back to
    object dtype if the category sets differed)."""
    nodes: list[str] = []
    events: list[str] = list(EVENTS)
    for f in frames:
        nodes += [str(c) for c in f["node"].cat.categories if str(c) not in nodes]
        events += [str(c) for c in f["event"].cat.categories if str(c) not in events]
    node_type = pd.CategoricalDtype(nodes)
    event_type = pd.CategoricalDtype(events)
    fixed = []
    for f in frames:
        f = f.copy(deep=False)
        f["node"] = f["node"].astype(node_type)
        f["event"] = f["event"].astype(event_type)
        fixed.append(f)
    if not fixed:
        return pd.DataFrame(
            {
                "t": pd.Series(dtype="float64"),
                "packet_id": pd.Series(dtype="int64"),
                "node": pd.Categorical([], dtype=node_type),
                "event": pd.Categorical([], dtype=event_type),
                "detail": pd.Series(dtype="object"),
            }
        )
    return pd.concat(fixed, ignore_index=True)


def correct_clocks(events: pd.DataFrame, client: pd.DataFrame, clocks: dict[str, Any]) -> None:
    """Put every host's stamps on the controller's clock, in place: each node's trace rows
    by its measured offset, and a remote load client's times by the client's."""
    if len(events):
        codes = events["node"].cat.codes.to_numpy()
        t = events["t"].to_numpy(float).copy()
        for code, name in enumerate(events["node"].cat.categories):
            entry = host_entries(clocks).get(str(name))
            if entry is not None:
                m = codes == code
                t[m] = to_controller(entry, t[m])
        events["t"] = t
    if clocks.get("client") and len(client):
        for col in ("intended_t", "sent_t"):
            client[col] = to_controller(clocks["client"], client[col].to_numpy(float))


def load_run(run_dir: str | Path, correct: bool = True) -> Run:
    """Load spec.json, client.csv and every traces/<node>.csv of one run directory.

    With clocks.json (harness/clocks.py) and `correct`, every stamp is put on the
    controller's clock first, so every cross-host interval below is corrected; `correct=False`
    leaves the raw stamps (to compare)."""
    run_dir = Path(run_dir)
    spec = json.loads((run_dir / "spec.json").read_text())
    clocks_file = run_dir / "clocks.json"
    clocks = json.loads(clocks_file.read_text()) if clocks_file.exists() else {}
    trace_files = {p.stem: p for p in sorted((run_dir / "traces").glob("*.csv"))}
    # The C parser releases the GIL while tokenising, so two threads use both cores.
    with ThreadPoolExecutor(max_workers=2) as pool:
        client_f = pool.submit(_read_client, run_dir / "client.csv")
        frames = list(pool.map(_read_trace, trace_files.values()))
        client = client_f.result()
    frames = [f for f in frames if len(f)]
    events = _concat_events(frames)
    if clocks and correct:
        correct_clocks(events, client, clocks)
    return Run(run_dir, spec, client, events, trace_files, clocks, bool(clocks and correct))
