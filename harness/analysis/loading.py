"""Read one run directory (`runs/<run-id>/`) into a `Run`: spec, client log and traces.

This is the only module that knows the on-disk format (docs/results.md). An hour at a few
hundred frames/s is a million packets and several million trace rows, so the readers parse
with pyarrow's multithreaded CSV reader into fixed types (the whole load about twice as
fast as with pandas' C parser, conversion to pandas included: docs/measurements.md) and hand
pandas frames of exactly the dtypes and values the C parser gives. Whatever Arrow cannot
read exactly as pandas would (a torn last line, an integer column with a gap, non-UTF-8
bytes) goes to the C parser instead, which falls back to a tolerant parse when a file is
damaged (a node killed mid-write leaves a torn last line; that must not lose the run).
"""

from __future__ import annotations

import json
import mmap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

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
    # The node's JSON reply as received: text, NaN when there was none. Typed so a run in
    # which no frame got a reply does not read as float64, and so Arrow reads it as well.
    "reply": "object",
}
# What pandas' C parser reads as missing (pandas._libs.parsers.STR_NA_VALUES); Arrow's own
# list lacks "<NA>" and "None", so it is given this one to read the same cells as NaN.
NA_STRINGS = ("", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
              "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null")
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


def _arrow_type(dtype: str) -> pa.DataType:
    """The Arrow type that converts to `dtype` (one of TRACE_DTYPES / CLIENT_DTYPES)."""
    return {"float64": pa.float64(), "int64": pa.int64(), "object": pa.string(),
            "category": pa.dictionary(pa.int32(), pa.string())}[dtype]


def _has_quote(path: Path) -> bool:
    """Does the file hold a `"` anywhere? Only a quoted field can carry a newline, and Arrow
    splits a file into blocks at newlines unless told a value may contain one (slower)."""
    with path.open("rb") as fh:
        if not fh.seek(0, 2):
            return False
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            return mm.find(b'"') >= 0


def _arrow_table(path: Path, dtypes: dict[str, str], columns: list[str]) -> pa.Table | None:
    """`columns` of a CSV file parsed by Arrow into the types that convert to `dtypes`;
    None when Arrow cannot read it as `pd.read_csv(path, dtype=dtypes, engine="c",
    usecols=columns)` would (the caller then uses the C parser): a torn or odd row, a
    missing column, bad UTF-8, or a gap in an integer column (Arrow would make it float64,
    pandas refuses it, so such a file is damaged)."""
    try:
        table = pa_csv.read_csv(
            path,
            parse_options=pa_csv.ParseOptions(newlines_in_values=_has_quote(path)),
            convert_options=pa_csv.ConvertOptions(
                column_types={c: _arrow_type(dtypes[c]) for c in columns},
                include_columns=columns, null_values=list(NA_STRINGS),
                strings_can_be_null=True, quoted_strings_can_be_null=True),
        )
    except (pa.ArrowException, OSError):
        return None
    if any(table.column(c).null_count for c in columns if dtypes[c] == "int64"):
        return None
    return table


def _to_pandas(table: pa.Table, dtypes: dict[str, str],
               categories: dict[str, list[str]] | None = None) -> pd.DataFrame:
    """An Arrow table from `_arrow_table` as the frame the C parser gives: a category's values
    sorted (Arrow keeps them as they first occur), or in the order `categories` names, and
    NaN for a missing string (Arrow gives None)."""
    df = table.to_pandas()
    for c in table.column_names:
        if dtypes[c] == "category":
            cats = (categories or {}).get(c) or _observed(table.column(c))
            df[c] = df[c].cat.set_categories(pd.Index(cats, dtype=object))
        elif dtypes[c] == "object" and table.column(c).null_count:
            values = df[c].to_numpy(object)
            values[table.column(c).is_null().to_numpy(zero_copy_only=False)] = np.nan
            df[c] = values
    return df


def _observed(column: pa.ChunkedArray) -> list[str]:
    """The values of a dictionary column that occur, sorted (as the C parser's categories)."""
    return sorted(v for v in pc.unique(column).to_pylist() if v is not None)


def _csv_header(path: Path) -> list[str] | None:
    """Column names of a CSV file by Arrow's reading of its first line; None if unreadable."""
    try:
        with pa_csv.open_csv(path, read_options=pa_csv.ReadOptions(block_size=1 << 16),
                             convert_options=pa_csv.ConvertOptions(
                                 column_types={}, strings_can_be_null=True)) as reader:
            return list(reader.schema.names)
    except (pa.ArrowException, OSError):
        return None


def _read_client(path: Path) -> pd.DataFrame:
    """Read client.csv with fixed dtypes (Arrow, or the C parser's fast path) or tolerantly
    if a row is damaged."""
    if not path.exists():
        return pd.DataFrame({c: pd.Series(dtype=d) for c, d in CLIENT_DTYPES.items()})
    df = _arrow_client(path)
    return _finish_client(df if df is not None else _read_client_c(path))


def _finish_client(df: pd.DataFrame) -> pd.DataFrame:
    """`accepted`/`overloaded` as bool and `status` as int (0 = client error), in place."""
    for col in ("accepted", "overloaded"):
        if col in df:
            df[col] = _bool_column(df[col])
    if "status" in df:
        df["status"] = df["status"].fillna(0).astype("int64")
    return df


def _arrow_client(path: Path) -> pd.DataFrame | None:
    """client.csv's typed columns through Arrow; a column CLIENT_DTYPES does not type (none
    harness/locustfile.py writes) is left to the C parser, whose guess of its dtype is the
    one the frame has always had. None when Arrow cannot read the file as pandas would."""
    header = _csv_header(path)
    if header is None or len(set(header)) != len(header) or "packet_id" not in header:
        return None
    typed = [c for c in header if c in CLIENT_DTYPES]
    table = _arrow_table(path, CLIENT_DTYPES, typed)
    if table is None:
        return None
    df = _to_pandas(table, CLIENT_DTYPES)
    untyped = [c for c in header if c not in CLIENT_DTYPES]
    if untyped:
        try:
            rest = pd.read_csv(path, engine="c", usecols=untyped)
        except (ValueError, TypeError):  # then the whole file goes to the C parser
            return None
        if len(rest) != len(df):
            return None
        for c in untyped:
            df[c] = rest[c].to_numpy()
    return df[header]


def _read_client_c(path: Path) -> pd.DataFrame:
    """client.csv through pandas' C parser: fixed dtypes, or tolerantly if a row is damaged.
    Booleans and `status` are still as read (`_read_client` finishes them)."""
    try:
        return pd.read_csv(path, dtype=CLIENT_DTYPES, engine="c")
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
        return df


def _read_trace(path: Path) -> pd.DataFrame:
    """Read one node trace: Arrow when it can read the file exactly, else the C parser."""
    table = _arrow_table(path, TRACE_DTYPES, TRACE_COLUMNS)
    return _to_pandas(table, TRACE_DTYPES) if table is not None else _read_trace_c(path)


def _read_events(paths: list[Path]) -> pd.DataFrame:
    """Every trace as one frame, as `_concat_events` of each `_read_trace` gives it.

    When Arrow reads every file, the tables are joined in Arrow and converted once: no
    per-file frames to copy together, and each detail string becomes a Python object once."""
    tables = [_arrow_table(p, TRACE_DTYPES, TRACE_COLUMNS) for p in paths]
    if any(t is None for t in tables):
        frames = [_to_pandas(t, TRACE_DTYPES) if t is not None else _read_trace_c(p)
                  for t, p in zip(tables, paths, strict=True)]
        return _concat_events([f for f in frames if len(f)])
    tables = [t for t in tables if t is not None and t.num_rows]
    if not tables:
        return _concat_events([])
    nodes: list[str] = []
    events: list[str] = list(EVENTS)
    for t in tables:  # the union in _concat_events' order: file by file, each one sorted
        nodes += [v for v in _observed(t.column("node")) if v not in nodes]
        events += [v for v in _observed(t.column("event")) if v not in events]
    return _to_pandas(pa.concat_tables(tables), TRACE_DTYPES,
                      {"node": nodes, "event": events})


def _read_trace_c(path: Path) -> pd.DataFrame:
    """Read one node trace with pandas' C parser. A node killed mid-write can leave a torn
    last line, so a failing fast parse falls back to a tolerant one that drops unparseable
    rows."""
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
    object dtype if the category sets differed).

    Column by column in numpy: pd.concat tests an all-missing object column (the sink's
    `detail`) value by value in Python, which took most of a second at a million frames."""
    nodes: list[str] = []
    events: list[str] = list(EVENTS)
    for f in frames:
        nodes += [str(c) for c in f["node"].cat.categories if str(c) not in nodes]
        events += [str(c) for c in f["event"].cat.categories if str(c) not in events]
    node_type = pd.CategoricalDtype(nodes)
    event_type = pd.CategoricalDtype(events)
    if not frames:
        return pd.DataFrame(
            {
                "t": pd.Series(dtype="float64"),
                "packet_id": pd.Series(dtype="int64"),
                "node": pd.Categorical([], dtype=node_type),
                "event": pd.Categorical([], dtype=event_type),
                "detail": pd.Series(dtype="object"),
            }
        )

    def codes(col: str, union: list[str]) -> np.ndarray:
        """Each frame's codes of `col` renumbered into `union`; -1 (missing) stays -1."""
        out = []
        for f in frames:
            to_union = np.array([union.index(str(c)) for c in f[col].cat.categories] + [-1],
                                dtype=np.int64)
            out.append(to_union[f[col].cat.codes.to_numpy()])
        return np.concatenate(out)

    return pd.DataFrame({
        "t": np.concatenate([f["t"].to_numpy(np.float64) for f in frames]),
        "packet_id": np.concatenate([f["packet_id"].to_numpy(np.int64) for f in frames]),
        "node": pd.Categorical.from_codes(codes("node", nodes), dtype=node_type),
        "event": pd.Categorical.from_codes(codes("event", events), dtype=event_type),
        "detail": np.concatenate([f["detail"].to_numpy(object) for f in frames]),
    })


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
    # One file at a time: Arrow already parses each on every core, and a second reader
    # thread only made them compete (1.8-2.5 s against 1.2-1.8 s for the benchmark's run).
    client = _read_client(run_dir / "client.csv")
    events = _read_events(list(trace_files.values()))
    if clocks and correct:
        correct_clocks(events, client, clocks)
    return Run(run_dir, spec, client, events, trace_files, clocks, bool(clocks and correct))
